"""settings.py -- the Django side of the channels benchmark (bench/run.sh, docs/bench.md).

The smallest Django project Channels runs in: no database, no apps of ours, one channel layer,
channels_redis' RedisPubSubChannelLayer on the Redis the bench started, so a publication made
by wsload (PUBLISH asgi__group__<channel>, a msgpack map) reaches this server exactly as it
reaches ws-worker. BENCH_REDIS_URL: redis-py's form, as TOKENAUTH_REDIS_URL
(unix:///path or redis://127.0.0.1:port)."""
import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES = {}
USE_TZ = True
ASGI_APPLICATION = "benchsite.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")],
                   "prefix": "asgi"},
    },
}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "root": {"level": "WARNING"}}
