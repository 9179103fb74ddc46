"""settings.py -- the Django side of the channels benchmarks (bench/run.sh, docs/bench.md).

The smallest Django project Channels runs in: no database, no apps of ours, one channel layer
on the Redis the bench started. BENCH_LAYER picks it:
  pubsub (default)  channels_redis' RedisPubSubChannelLayer, so a publication made by wsload
                    (PUBLISH asgi__group__<channel>, a msgpack map) reaches this server exactly
                    as it reaches ws-worker (bench/channels.sh);
  core              channels_redis' RedisChannelLayer, Django's default layer, which ws-worker
                    speaks with TOKENAUTH_CHANNEL_LAYER=core (bench/django_layer.sh): daphne's
                    consumers, bench/django/djpub.py's group_send and `manage.py runworker
                    tokenauth.inbox` all use it, with channels_redis' default capacity and
                    expiry.
BENCH_REDIS_URL: redis-py's form, as TOKENAUTH_REDIS_URL (unix:///path or
redis://127.0.0.1:port)."""
import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES = {}
USE_TZ = True
ASGI_APPLICATION = "benchsite.asgi.application"
_LAYERS = {"pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
           "core": "channels_redis.core.RedisChannelLayer"}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": _LAYERS[os.environ.get("BENCH_LAYER", "pubsub")],
        "CONFIG": {"hosts": [os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")],
                   "prefix": "asgi"},
    },
}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "root": {"level": "WARNING"}}
