"""consumers.py -- the tutorial's AsyncWebsocketConsumer, speaking tokenauth's channel protocol
so the same load generator (bench/wsload.c) drives both servers:

  {"command": "subscribe", "channel": C}  ->  group_add(C), then {"subscribed": C}
  a tokenauth.message event on C          ->  {"channel": C, "data": <its data>}
  {"command": "Say hello !", ...}         ->  {"command_response": "hello"} (wsload's proof
                                              that a connection is open)
  {"command": "bench.echo", ...} = M      ->  {"echo": M} (echo(), the round trip of
                                              bench/django_layer.sh)

Inbox is the same echo behind ws-worker: a consumer of the forward channel tokenauth.inbox
(`manage.py runworker tokenauth.inbox`, core layer) that answers each forwarded message on its
socket's reply_channel, as docs/django.md shows.

An event does not say which group it came through; the bench subscribes each socket to one
channel, so a delivery names the socket's last subscription. Anything else gets
{"error": "..."}."""
import json
import re

from channels.consumer import AsyncConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

GROUP_NAME = re.compile(r"^[A-Za-z0-9._-]{1,99}$")  # Django Channels' own rule


def echo(text):
    """The consumer logic both servers run for the round-trip benchmark: the answer to a
    message, as text."""
    return json.dumps({"echo": json.loads(text)})


class BenchConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.groups_joined = []
        await self.accept()

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            msg = json.loads(text_data or "")
        except ValueError:
            msg = None
        command = msg.get("command") if isinstance(msg, dict) else None
        if command == "subscribe":
            await self.subscribe(msg.get("channel"))
        elif command == "bench.echo":
            await self.send(text_data=echo(text_data))
        elif command == "Say hello !":
            await self.send(text_data=json.dumps({"command_response": "hello"}))
        else:
            await self.send(text_data=json.dumps({"error": "unknown command"}))

    async def subscribe(self, channel):
        if not isinstance(channel, str) or not GROUP_NAME.match(channel):
            await self.send(text_data=json.dumps({"error": "invalid_channel"}))
            return
        if channel not in self.groups_joined:
            await self.channel_layer.group_add(channel, self.channel_name)
            self.groups_joined.append(channel)
        await self.send(text_data=json.dumps({"subscribed": channel}))

    async def tokenauth_message(self, event):
        channel = self.groups_joined[-1] if self.groups_joined else ""
        await self.send(text_data=json.dumps({"channel": channel, "data": event.get("data")}))


class Inbox(AsyncConsumer):
    """The forward channel's consumer: a client message ws-worker did not answer itself."""

    async def tokenauth_receive(self, event):
        await self.channel_layer.send(event["reply_channel"],
                                      {"type": "tokenauth.send", "text": echo(event["text"])})
