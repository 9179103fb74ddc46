"""asgi.py -- the ASGI application daphne serves for the benchmark: every WebSocket path goes to
consumers.BenchConsumer (no auth middleware: wsload's ?token= is ignored here). `manage.py
runworker tokenauth.inbox` (python3 -m django runworker) runs consumers.Inbox from the same
application, for ws-worker's forward channel."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # sets Django up before the consumer is imported

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from benchsite.consumers import BenchConsumer, Inbox  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": URLRouter([re_path(r"", BenchConsumer.as_asgi())]),
    "channel": ChannelNameRouter({"tokenauth.inbox": Inbox.as_asgi()}),
})
