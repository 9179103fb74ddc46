"""django_site.py -- a small Django Channels project for the integration tests, served by Debian's
daphne (python3-daphne, run as `python3 -m daphne`: Debian's `daphne` command is another
package) on a free loopback port, with either channels_redis layer.

The project (written into a temp folder by DjangoSite):
  ws/<group>/          a WebSocket consumer (RoomConsumer): connect() adds its channel to
                       <group> with group_add; a text frame {"say": X} makes it group_send
                       {"type": "chat.message", "text": X, "by": "consumer"} to its group; every
                       event it receives (chat.message, tokenauth.message) goes to its client as
                       one text frame, the event as JSON.
  /send/?group=G&text=T a plain Django view calling async_to_sync(group_send)(G, {"type":
                       "chat.message", "text": T, "by": "view"}); answers "sent".
CHANNEL_LAYERS comes from the constructor: backend "core" (RedisChannelLayer) or "pubsub"
(RedisPubSubChannelLayer), the host URLs, the prefix."""
import os
import subprocess
import urllib.parse
import urllib.request

import harness

PYTHON = "/usr/bin/python3"

SETTINGS = """
SECRET_KEY = "tokenauth-test-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES = {}
USE_TZ = True
ROOT_URLCONF = "djsite.urls"
ASGI_APPLICATION = "djsite.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": %r, "CONFIG": %r}}
"""

CONSUMERS = """
import json

from channels.generic.websocket import AsyncWebsocketConsumer


class RoomConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        msg = json.loads(text_data)
        await self.channel_layer.group_send(
            self.group, {"type": "chat.message", "text": msg["say"], "by": "consumer"})

    async def chat_message(self, event):
        await self.send(text_data=json.dumps(event))

    async def tokenauth_message(self, event):
        await self.send(text_data=json.dumps(event))
"""

VIEWS = """
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import HttpResponse


def send(request):
    async_to_sync(get_channel_layer().group_send)(
        request.GET["group"], {"type": "chat.message", "text": request.GET["text"], "by": "view"})
    return HttpResponse("sent")
"""

URLS = """
from django.urls import path

from djsite import views

urlpatterns = [path("send/", views.send)]
"""

ASGI = """
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from djsite.consumers import RoomConsumer  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": URLRouter([re_path(r"^ws/(?P<group>[A-Za-z0-9._-]+)/$",
                                    RoomConsumer.as_asgi())]),
})
"""

TEST_CLIENT = """
import django
django.setup()
from django.test import Client
r = Client().get("/send/", {"group": %r, "text": %r})
print(r.status_code, r.content.decode(), flush=True)
"""

BACKENDS = {"core": "channels_redis.core.RedisChannelLayer",
            "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer"}


def missing():
    """None when daphne, channels and channels_redis import with /usr/bin/python3, else why."""
    p = subprocess.run([PYTHON, "-c", "import daphne, channels, channels_redis"],
                       capture_output=True, text=True)
    return None if p.returncode == 0 else "daphne, channels or channels_redis missing: %s" % (
        p.stderr.strip().splitlines() or ["?"])[-1]


class DjangoSite:
    """The project in <TMP>/<name>/djsite, for the layer (a BACKENDS key) on urls (a list)."""

    def __init__(self, name, layer, urls, prefix="asgi"):
        self.folder = os.path.join(harness.TMP, name)
        package = os.path.join(self.folder, "djsite")
        os.makedirs(package, exist_ok=True)
        files = {"__init__.py": "", "consumers.py": CONSUMERS, "views.py": VIEWS,
                 "urls.py": URLS, "asgi.py": ASGI,
                 "settings.py": SETTINGS % (BACKENDS[layer], {"hosts": list(urls),
                                                              "prefix": prefix})}
        for file_name, text in files.items():
            with open(os.path.join(package, file_name), "w") as f:
                f.write(text)
        self.env = {"PYTHONPATH": self.folder, "DJANGO_SETTINGS_MODULE": "djsite.settings"}
        self.name = name
        self.proc = None
        self.port = None

    def start_daphne(self):
        """Starts daphne on a free loopback port and waits for it to listen."""
        self.port = harness.free_port()
        self.proc = harness.start([PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p",
                                   str(self.port), "djsite.asgi:application"],
                                  env=self.env, log_name="daphne-%s-%d" % (self.name, self.port),
                                  cwd=self.folder)
        harness.wait_port(self.port)

    def stop(self):
        if self.proc:
            harness.stop(self.proc)
            self.proc = None

    def ws_url(self, group):
        return "ws://127.0.0.1:%d/ws/%s/" % (self.port, group)

    def get_send(self, group, text):
        """The view through daphne: (status, body)."""
        url = "http://127.0.0.1:%d/send/?group=%s&text=%s" % (
            self.port, urllib.parse.quote(group), urllib.parse.quote(text))
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()

    def client_send(self, group, text):
        """The view through Django's test Client in a python3 of its own: (returncode, output)."""
        env = dict(os.environ, **self.env)
        p = subprocess.run([PYTHON, "-c", TEST_CLIENT % (group, text)], env=env,
                           capture_output=True, text=True, timeout=60, cwd=self.folder)
        return p.returncode, (p.stdout + p.stderr).strip()
