"""test_django_pubsub_forward.py -- forwarding and reply channels with
TOKENAUTH_CHANNEL_LAYER=pubsub, against Debian's channels_redis RedisPubSubChannelLayer and a
real redis-server: connect/disconnect events and forwarded messages reach a Django channel by
PUBLISH; tokenauth.send and tokenauth.close on a socket's reply channel (a valid Django channel
name, one PSUBSCRIBE per process, not one SUBSCRIBE per socket); garbage on the pattern dropped
and logged once per episode; a reply to a closed socket dropped and counted; the layer's refusal
of a server-side group_add and what works instead; a real `manage.py runworker` consumer; a
Redis restart (the pattern subscription comes back); tokenauth.subscribe / .unsubscribe on a
reply channel (the stand-in for group_add), on both layers."""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from django_forward import (WORKER, ask, close_code, connect, log_of, recv, run,  # noqa: E402
                            start_runworker, start_worker)
from harness import case, check, check_eq, finish, run_cases, wait_for  # noqa: E402
from redis_server import RedisServer, available  # noqa: E402

BACKEND = "channels_redis.pubsub.RedisPubSubChannelLayer"
INBOX = "tokenauth.inbox"
STATE = {}


def setup():
    STATE["db"], STATE["ids"], STATE["keys"] = harness.users_db("django_pubsub.sqlite3",
                                                                ("ann", "bob"))
    STATE["redis"] = RedisServer("redis-pubsub-forward")


def worker(name, **more):
    return start_worker(STATE["db"], name, STATE["redis"].url, "pubsub", **more)


def layer():
    from channels_redis.pubsub import RedisPubSubChannelLayer
    return RedisPubSubChannelLayer(hosts=[STATE["redis"].url])


async def listen(lay, channel):
    """Subscribes lay to channel (pub/sub keeps nothing for absent listeners) and returns the
    task that gets its first message."""
    first = asyncio.ensure_future(lay.receive(channel))
    for _ in range(200):
        if STATE["redis"].numsub(channel) >= 1:
            break
        await asyncio.sleep(0.05)
    return first


def numpat():
    c = STATE["redis"].client()
    try:
        return c.pubsub_numpat()
    finally:
        c.close()


def check_user(ev, user):
    """The event's user: its id and username."""
    check_eq(ev.get("user"), {"id": STATE["ids"][user], "username": user})


def valid_django_channel(name):
    from channels.layers import BaseChannelLayer
    try:
        return BaseChannelLayer().valid_channel_name(name)
    except TypeError:
        return False


def test_forward_and_reply():
    async def go():
        w = worker("forward", TOKENAUTH_WS_FORWARD_CHANNEL=INBOX, TOKENAUTH_WS_FORWARD_EVENTS="1")
        lay = layer()
        first = await listen(lay, INBOX)
        ann = await connect(w, STATE["keys"]["ann"])
        case("pubsub forward: a connect event with the user is published on the forward channel")
        ev = await asyncio.wait_for(first, harness.HANG_S)
        reply_channel = ev.get("reply_channel", "")
        check_eq(ev.get("type"), "tokenauth.connect")
        check_user(ev, "ann")
        case("pubsub forward: the reply channel is <prefix>specific.tokenauth..., valid for Django")
        check(reply_channel.startswith("asgispecific.tokenauth") and
              valid_django_channel(reply_channel), reply_channel)
        case("pubsub forward: one pattern subscription for the process, no channel per socket")
        check_eq(numpat(), 1)
        check_eq(STATE["redis"].numsub(reply_channel), 0)
        case("pubsub forward: a message that is no tokenauth command goes to the Django channel")
        text = '{"command": "chat.say", "words": ["é", 1]}'
        await ann.send(text)
        got = await asyncio.wait_for(lay.receive(INBOX), harness.HANG_S)
        check_eq(got, {"type": "tokenauth.receive", "text": text,
                       "user": {"id": STATE["ids"]["ann"], "username": "ann"},
                       "reply_channel": reply_channel})
        case("pubsub forward: tokenauth's own commands are still answered by tokenauth")
        check_eq((await ask(ann, {"command": "whoami"}))["user"]["username"], "ann")
        case("pubsub forward: tokenauth.send on the reply channel reaches the client as its text")
        await lay.send(reply_channel, {"type": "tokenauth.send", "text": "pong é"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "pong é")
        case("pubsub forward: any other event on the reply channel reaches the client via it")
        await lay.send(reply_channel, {"type": "chat.note", "n": 1})
        check_eq(await recv(ann), {"via": "reply_channel", "data": {"type": "chat.note", "n": 1}})
        case("pubsub forward: a tokenauth.send over TOKENAUTH_WS_MAX_MESSAGE is dropped")
        await lay.send(reply_channel, {"type": "tokenauth.send", "text": "x" * 70000})
        await lay.send(reply_channel, {"type": "tokenauth.send", "text": "after"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "after")
        await garbage(w, ann, reply_channel)
        await no_group_add(w, lay, ann, reply_channel)
        await closes(w, lay, ann, reply_channel)
        check(w["proc"].poll() is None, "ws-worker died")
        harness.stop(w["proc"])

    async def garbage(w, ann, reply_channel):
        import msgpack
        case("pubsub forward: garbage on the pattern is dropped, logged once; the next arrives")
        base = reply_channel[:reply_channel.rindex(".") + 1]
        redis = STATE["redis"]
        before = len(log_of(w))
        redis.publish(reply_channel, b"not msgpack")
        redis.publish(reply_channel, msgpack.packb([1, 2]))
        redis.publish(base + "x", msgpack.packb({"type": "tokenauth.send", "text": "no"}))
        redis.publish(reply_channel, msgpack.packb({"type": "tokenauth.send", "text": "ok"}))
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "ok")
        log = log_of(w)[before:]
        check_eq(log.count("event=reply_dropped reason=format"), 1)
        check("event=reply_dropped_end reason=format dropped=3" in log, "no end line")

    async def no_group_add(w, lay, ann, reply_channel):
        case("pubsub forward: the layer refuses group_add of a reply channel (not its process')")
        try:
            await lay.group_add("room.srv", reply_channel)
            refused = False
        except RuntimeError:
            refused = True
        check(refused, "group_add accepted a foreign channel")
        case("pubsub forward: instead the socket subscribes, and group_send reaches it")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.srv"}),
                 {"subscribed": "room.srv"})
        await lay.group_send("room.srv", {"type": "chat.note", "n": 2})
        check_eq(await recv(ann), {"channel": "room.srv", "data": {"type": "chat.note", "n": 2}})
        case("pubsub forward: or Django's group_send to the user's personal channel reaches it")
        personal = "user.%d" % STATE["ids"]["ann"]
        await lay.group_send(personal, {"type": "chat.note", "n": 3})
        check_eq(await recv(ann), {"channel": personal, "data": {"type": "chat.note", "n": 3}})
        case("pubsub forward: tokenauth.subscribe on the reply channel subscribes the socket")
        await lay.send(reply_channel, {"type": "tokenauth.subscribe", "channel": "app.only"})
        check_eq(await recv(ann), {"subscribed": "app.only"})  # outside the public list
        await lay.group_send("app.only", {"type": "chat.note", "n": 4})
        check_eq(await recv(ann), {"channel": "app.only", "data": {"type": "chat.note", "n": 4}})
        check_eq(await ask(ann, {"command": "subscriptions"}),
                 {"subscriptions": ["user.%d" % STATE["ids"]["ann"], "room.srv", "app.only"]})
        case("pubsub forward: tokenauth.unsubscribe on the reply channel unsubscribes it")
        await lay.send(reply_channel, {"type": "tokenauth.unsubscribe", "channel": "app.only"})
        check_eq(await recv(ann), {"unsubscribed": "app.only"})
        check(wait_for(lambda: STATE["redis"].numsub("asgi__group__app.only") == 0),
              "still subscribed in Redis")
        case("pubsub forward: a tokenauth.subscribe of an invalid name is dropped as format")
        before = len(log_of(w))
        await lay.send(reply_channel, {"type": "tokenauth.subscribe", "channel": "no spaces"})
        await lay.send(reply_channel, {"type": "tokenauth.send", "text": "still here"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "still here")
        check("event=reply_dropped reason=format" in log_of(w)[before:], "no format line")

    async def closes(w, lay, ann, reply_channel):
        case("pubsub forward: a close code outside 4000-4999 closes with 4000")
        bob = await connect(w, STATE["keys"]["bob"])
        ev = await asyncio.wait_for(lay.receive(INBOX), harness.HANG_S)
        check_user(ev, "bob")
        await lay.send(ev["reply_channel"], {"type": "tokenauth.close", "code": 1000})
        check_eq(await close_code(bob), (4000, ""))
        ev = await asyncio.wait_for(lay.receive(INBOX), harness.HANG_S)
        check_eq(ev.get("type"), "tokenauth.disconnect")
        case("pubsub forward: tokenauth.close closes the socket with the code and reason")
        await lay.send(reply_channel, {"type": "tokenauth.close", "code": 4321,
                                       "reason": "bye now " + "é" * 100})
        check_eq(await close_code(ann), (4321, "bye now " + "é" * 57))
        case("pubsub forward: a disconnect event with the user and the reply channel follows")
        ev = await asyncio.wait_for(lay.receive(INBOX), harness.HANG_S)
        check_eq((ev.get("type"), ev.get("reply_channel")), ("tokenauth.disconnect",
                                                            reply_channel))
        check_user(ev, "ann")
        case("pubsub forward: a reply to a closed socket is dropped, counted and logged")
        await lay.send(reply_channel, {"type": "tokenauth.send", "text": "late"})
        check(wait_for(lambda: "event=reply_dropped reason=socket_gone" in log_of(w)),
              "no socket_gone line")
    run(go())


WORKER_APP = """
import json
from channels.consumer import AsyncConsumer
from channels.routing import ChannelNameRouter, ProtocolTypeRouter


class Inbox(AsyncConsumer):
    async def tokenauth_receive(self, event):
        msg = json.loads(event["text"])
        if msg.get("command") == "bye":  # replies sent before a close are written before it
            for n in range(3):
                await self.channel_layer.send(event["reply_channel"],
                                              {"type": "tokenauth.send", "text": "bye %d" % n})
            await self.channel_layer.send(event["reply_channel"],
                                          {"type": "tokenauth.close", "code": 4100,
                                           "reason": "as asked"})
            return
        answer = {"echo": msg, "user": event["user"]["username"]}
        await self.channel_layer.send(event["reply_channel"],
                                      {"type": "tokenauth.send", "text": json.dumps(answer)})


application = ProtocolTypeRouter(
    {"channel": ChannelNameRouter({"tokenauth.inbox": Inbox.as_asgi()})})
"""


def test_runworker():
    async def go():
        rw = start_runworker(INBOX, WORKER_APP, BACKEND, [STATE["redis"].url],
                             name="runworker-pubsub")
        w = worker("runworker", TOKENAUTH_WS_FORWARD_CHANNEL=INBOX)
        try:
            case("runworker (pubsub): the consumer subscribes to the forward channel")
            STATE["redis"].wait_subscribers(INBOX, 1, 60)  # raises when it never does
            await talk(w)
        finally:
            harness.stop(w["proc"])
            harness.stop(rw)

    async def talk(w):
        ann = await connect(w, STATE["keys"]["ann"])
        case("runworker (pubsub): a consumer run by manage.py runworker answers the client")
        await ann.send(json.dumps({"command": "echo", "n": 5}))
        check_eq(json.loads(await asyncio.wait_for(ann.recv(), harness.HANG_S)),
                 {"echo": {"command": "echo", "n": 5}, "user": "ann"})
        case("runworker (pubsub): tokenauth.close from the consumer closes with its code, after "
             "the messages it sent before")
        await ann.send(json.dumps({"command": "bye"}))
        import websockets
        got, code = [], None
        try:
            while len(got) < 10:
                got.append(await asyncio.wait_for(ann.recv(), harness.HANG_S))
        except websockets.exceptions.ConnectionClosed as e:
            code = (e.rcvd.code, e.rcvd.reason) if e.rcvd else None
        check_eq((got, code), (["bye 0", "bye 1", "bye 2"], (4100, "as asked")))
    run(go())


def test_redis_restart():
    async def go():
        w = worker("restart", TOKENAUTH_WS_FORWARD_CHANNEL=INBOX, TOKENAUTH_WS_FORWARD_EVENTS="1")
        lay = layer()
        first = await listen(lay, INBOX)
        ann = await connect(w, STATE["keys"]["ann"])
        reply_channel = (await asyncio.wait_for(first, harness.HANG_S))["reply_channel"]
        await lay.flush()  # its receiver would log the outage
        case("pubsub restart: while Redis is down a forwarded message answers unavailable")
        STATE["redis"].stop()
        check(wait_for(lambda: "redis_down" in log_of(w)), "no redis_down")
        r = await ask(ann, {"command": "chat.say"})
        check_eq(r.get("error"), "unavailable")
        STATE["redis"].start()
        case("pubsub restart: the pattern subscription is restored")
        check(wait_for(lambda: numpat() == 1), "PUBSUB NUMPAT %r" % numpat())
        case("pubsub restart: tokenauth.send on the reply channel arrives again")
        lay2 = layer()
        await lay2.send(reply_channel, {"type": "tokenauth.send", "text": "back"})
        m = await asyncio.wait_for(ann.recv(), harness.HANG_S)
        while m != "back" and '"gap"' in m:  # the personal channel's gap notice
            m = await asyncio.wait_for(ann.recv(), harness.HANG_S)
        check_eq(m, "back")
        await ann.close()
        harness.stop(w["proc"])
    run(go())


def test_core_subscribe():
    async def go():
        from channels_redis.core import RedisChannelLayer
        w = start_worker(STATE["db"], "core-subscribe", STATE["redis"].url, "core",
                         TOKENAUTH_WS_FORWARD_CHANNEL=INBOX, TOKENAUTH_WS_FORWARD_EVENTS="1")
        lay = RedisChannelLayer(hosts=[STATE["redis"].url])
        ann = await connect(w, STATE["keys"]["ann"])
        ev = await asyncio.wait_for(lay.receive(INBOX), harness.HANG_S)
        case("core: tokenauth.subscribe on the reply channel subscribes the socket too")
        await lay.send(ev["reply_channel"], {"type": "tokenauth.subscribe", "channel": "app.core"})
        check_eq(await recv(ann), {"subscribed": "app.core"})
        await lay.group_send("app.core", {"type": "chat.note", "n": 5})
        check_eq(await recv(ann), {"channel": "app.core", "data": {"type": "chat.note", "n": 5}})
        await lay.send(ev["reply_channel"], {"type": "tokenauth.unsubscribe",
                                             "channel": "app.core"})
        check_eq(await recv(ann), {"unsubscribed": "app.core"})
        await ann.close()
        harness.stop(w["proc"])
    run(go())


def test_config_errors():
    import subprocess
    case("pubsub forward: a prefix too long for reply channels stops the start, saying why")
    env = dict(os.environ, TOKENAUTH_REDIS_URL=STATE["redis"].url,
               TOKENAUTH_CHANNEL_PREFIX="p" * 60)
    p = subprocess.run([WORKER, "--db", STATE["db"], "--port", "1"],
                       capture_output=True, text=True, timeout=30, env=env)
    check(p.returncode != 0 and "TOKENAUTH_CHANNEL_PREFIX" in p.stderr and
          "too long for the pubsub layer's reply channels" in p.stderr,
          "rc %r stderr %r" % (p.returncode, p.stderr))


def main():
    why = available("channels_redis.pubsub", "django", "websockets")
    if why:
        harness.skip_suite("test_django_pubsub_forward", "django pubsub forward", why)
    setup()
    run_cases(test_forward_and_reply, test_runworker, test_redis_restart, test_core_subscribe,
              test_config_errors)
    finish("test_django_pubsub_forward")


main()
