"""consumers.py -- the tutorial's AsyncWebsocketConsumer, speaking tokenauth's channel protocol
so the same load generator (bench/wsload.c) drives both servers:

  {"command": "subscribe", "channel": C}  ->  group_add(C), then {"subscribed": C}
  a tokenauth.message event on C          ->  {"channel": C, "data": <its data>}
  {"command": "Say hello !", ...}         ->  {"command_response": "hello"} (wsload's proof
                                              that a connection is open)

An event does not say which group it came through; the bench subscribes each socket to one
channel, so a delivery names the socket's last subscription. Anything else gets
{"error": "..."}."""
import json
import re

from channels.generic.websocket import AsyncWebsocketConsumer

GROUP_NAME = re.compile(r"^[A-Za-z0-9._-]{1,99}$")  # Django Channels' own rule


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
