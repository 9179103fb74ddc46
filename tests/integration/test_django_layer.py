"""test_django_layer.py -- TOKENAUTH_CHANNEL_LAYER=core against Debian's channels_redis
RedisChannelLayer (Django's default layer) and a real redis-server: Django's group_send (from
this script, and from a Django view requested through daphne and through Django's test Client)
reaches a tokenauth socket; a Django consumer (layer.receive in this script, and a WebSocket
consumer served by daphne, tests/lib/django_site.py) and a socket in one group get each other's
publications (POST /api/publish/, client publish, the consumer's group_send); one membership
per process, refreshed within a short group_expiry and removed with the last socket; garbage on
the process key (not msgpack, wrong types, huge headers, a key of the wrong type) is dropped and
logged; two Redis hosts: every delivery arrives; the forward channel and reply channels
(tokenauth.send, tokenauth.close, server-side group_add and its "via": "reply_channel"
deliveries, events with the username, garbage on a reply channel, replies to a closed socket
dropped and counted),
also with a real `manage.py runworker`; a Redis restart; a host list with the pubsub layer."""
import asyncio
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import BIN, case, check, check_eq, finish, run_cases, skip, wait_for  # noqa: E402
import django_forward  # noqa: E402
from django_forward import ask, recv, run, start_runworker  # noqa: E402
from redis_server import RedisServer, available  # noqa: E402
import django_site  # noqa: E402
from django_site import DjangoSite  # noqa: E402

WORKER = os.path.join(BIN, "ws-worker")
LOGIN = os.path.join(BIN, "login-fcgi")
KEY = "pk-" + "5e1d0c7b9a" * 4
STATE = {}


def layer_of(urls, **kw):
    from channels_redis.core import RedisChannelLayer
    return RedisChannelLayer(hosts=list(urls), **kw)


def start_worker(name, urls, **more):
    more.setdefault("TOKENAUTH_WS_PUBLISH_CHANNELS", "room.*")
    return django_forward.start_worker(STATE["db"], name, ",".join(urls), "core", **more)


def setup():
    STATE["db"], STATE["ids"], STATE["keys"] = harness.users_db("django_layer.sqlite3",
                                                                ("ann", "bob"))
    STATE["redis"] = RedisServer("redis-core")
    STATE["urls"] = [STATE["redis"].url]
    STATE["w"] = start_worker("core", STATE["urls"])


async def connect(user, w=None):
    return await django_forward.connect(w or STATE["w"], STATE["keys"][user])


def members(group, redis=None):
    c = (redis or STATE["redis"]).client()
    try:
        return [m.decode() for m in c.zrange("asgi:group:" + group, 0, -1)]
    finally:
        c.close()


def publish_cgi(channel, data, urls=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    body = json.dumps({"channel": channel, "data": data}).encode()
    env.update({"TOKENAUTH_DB": STATE["db"], "TOKENAUTH_PUBLISH_KEY": KEY,
                "TOKENAUTH_REDIS_URL": ",".join(urls or STATE["urls"]),
                "TOKENAUTH_CHANNEL_LAYER": "core", "GATEWAY_INTERFACE": "CGI/1.1",
                "REQUEST_METHOD": "POST", "SCRIPT_NAME": "/api/publish/",
                "REQUEST_URI": "/api/publish/", "REMOTE_ADDR": "127.0.0.1",
                "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": "Bearer " + KEY})
    p = subprocess.run([LOGIN], input=body, env=env, capture_output=True, timeout=60)
    return p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def test_group_send_reaches_socket():
    async def go():
        ann = await connect("ann")
        bob = await connect("bob")
        case("core: subscribe is answered once the membership is in Redis")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "news"}),
                 {"subscribed": "news"})
        check_eq(await ask(bob, {"command": "subscribe", "channel": "news"}),
                 {"subscribed": "news"})
        case("core: one member per process and channel, not one per socket")
        m = members("news")
        check(len(m) == 1 and m[0].startswith("specific.") and
              m[0].endswith("!tokenauth.news"), "members %r" % m)
        case("core: Django's group_send from a plain script reaches both sockets")
        layer = layer_of(STATE["urls"])
        await layer.group_send("news", {"type": "news.update", "text": "héllo"})
        want = {"channel": "news", "data": {"type": "news.update", "text": "héllo"}}
        check_eq(await recv(ann), want)
        check_eq(await recv(bob), want)
        case("core: the member stays while a socket is in the channel, goes with the last")
        check_eq(await ask(ann, {"command": "unsubscribe", "channel": "news"}),
                 {"unsubscribed": "news"})
        check_eq(len(members("news")), 1)
        await bob.close()
        check(wait_for(lambda: members("news") == []), "members %r" % members("news"))
        await ann.close()
    run(go())


def test_publications_both_ways():
    async def go():
        layer = layer_of(STATE["urls"])
        consumer = await layer.new_channel()
        await layer.group_add("room.a", consumer)
        ann = await connect("ann")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.a"}),
                 {"subscribed": "room.a"})
        case("core: a client publish reaches the Django consumer and the socket")
        r = await ask(ann, {"command": "publish", "channel": "room.a", "data": {"n": 1}})
        check_eq(r, {"published": "room.a"})
        got = await asyncio.wait_for(layer.receive(consumer), harness.HANG_S)
        check_eq(got, {"type": "tokenauth.message", "data": {"n": 1},
                       "from": {"id": STATE["ids"]["ann"], "username": "ann"}})
        check_eq((await recv(ann))["data"], {"n": 1})
        case("core: POST /api/publish/ reaches the Django consumer and the socket")
        out, err = publish_cgi("room.a", [1, "two"])
        check("Status: 200" in out, "login-fcgi said %r %r" % (out, err))
        got = await asyncio.wait_for(layer.receive(consumer), harness.HANG_S)
        check_eq(got, {"type": "tokenauth.message", "data": [1, "two"]})
        check_eq(await recv(ann), {"channel": "room.a", "data": [1, "two"]})
        case("core: Django's group_send reaches the socket, and the consumer too")
        await layer.group_send("room.a", {"type": "chat.message", "text": "x"})
        check_eq(await recv(ann), {"channel": "room.a", "data": {"type": "chat.message",
                                                                 "text": "x"}})
        check_eq(await asyncio.wait_for(layer.receive(consumer), harness.HANG_S),
                 {"type": "chat.message", "text": "x"})
        await ann.close()
    run(go())


def test_burst():
    async def go():
        ann = await connect("ann")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.burst"}),
                 {"subscribed": "room.burst"})
        case("core: a burst of 300 group_sends arrives whole and in order")
        layer = layer_of(STATE["urls"], capacity=1000)
        for i in range(300):
            await layer.group_send("room.burst", {"type": "n", "i": i})
        got = [(await recv(ann))["data"]["i"] for _ in range(300)]
        check_eq(got, list(range(300)))
        await ann.close()
    run(go())


def test_garbage_dropped():
    async def go():
        ann = await connect("ann")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "news"}),
                 {"subscribed": "news"})
        member = members("news")[0]
        key = "asgi" + member[:member.index("!") + 1]
        import msgpack
        c = STATE["redis"].client()
        junk = [b"short", b"x" * 12 + b"not msgpack at all",
                b"x" * 12 + msgpack.packb([1, 2]),
                b"x" * 12 + msgpack.packb({"type": "a", "__asgi_channel__": 7}),
                b"x" * 12 + msgpack.packb({"type": "a", "__asgi_channel__": ["nobody!x"]}),
                b"x" * 12 + msgpack.packb({"type": "a", 1: 2, "__asgi_channel__": [member]}),
                b"y" * 12 + msgpack.packb({"type": "big", "blob": "z" * 200000,
                                           "__asgi_channel__": [member]}),
                b"z" * 12 + b"\xdf\xff\xff\xff\xff"]
        for i, j in enumerate(junk):
            c.zadd(key, {j: time.time() + i * 1e-3})
        c.zadd(key, {b"w" * 12 + msgpack.packb({"type": "ok", "__asgi_channel__": [member]}):
                     time.time() + 1})
        c.close()
        case("core: garbage on the process key is dropped; the next message arrives")
        check_eq(await recv(ann), {"channel": "news", "data": {"type": "ok"}})
        case("core: the drops are logged")
        log = open(STATE["w"]["log"]).read()
        check("core_message_dropped" in log and "reason=format" in log and
              "reason=unknown_channel" in log, "log lacks the drops")
        case("core: a process key of the wrong type is logged, then popping resumes")
        c = STATE["redis"].client()
        c.delete(key)
        c.set(key, "not a sorted set")
        check(wait_for(lambda: "reason=pop_refused" in open(STATE["w"]["log"]).read()),
              "no pop_refused line")
        c.delete(key)
        c.close()
        await layer_of(STATE["urls"]).group_send("news", {"type": "after"})
        check_eq(await recv(ann), {"channel": "news", "data": {"type": "after"}})
        check(STATE["w"]["proc"].poll() is None, "ws-worker died")
        await ann.close()
    run(go())


def test_refresh():
    EXPIRY_S = 8

    async def go():
        # 8 s, refreshed every 2 s (a quarter): a worker that does not run for a few seconds on
        # a loaded host still refreshes in time (at 4 s, the least, 3 s late lost it).
        w = start_worker("refresh", STATE["urls"], TOKENAUTH_CHANNEL_GROUP_EXPIRY=str(EXPIRY_S))
        ann = await connect("ann", w)
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.refresh"}),
                 {"subscribed": "room.refresh"})
        c = STATE["redis"].client()
        first = c.zrange("asgi:group:room.refresh", 0, -1, withscores=True)
        case("core: a membership is refreshed within group_expiry (%d s here)" % EXPIRY_S)

        def now():  # the membership as it is: gone once it expired unrefreshed
            return c.zrange("asgi:group:room.refresh", 0, -1, withscores=True)
        # Refreshed before it expired: its score went up while the group still existed.
        wait_for(lambda: not now() or now()[0][1] > first[0][1])
        got = now()
        check(got and got[0][1] > first[0][1], "score %r, then %r" % (first, got))
        ttl = c.ttl("asgi:group:room.refresh")
        check(0 < ttl <= EXPIRY_S, "ttl %r" % ttl)
        c.close()
        case("core: a group_send after group_expiry has passed still arrives")
        await asyncio.sleep(EXPIRY_S + 1)  # a time that must pass, not a wait for something
        await layer_of(STATE["urls"], group_expiry=EXPIRY_S).group_send("room.refresh",
                                                                        {"type": "late"})
        check_eq(await recv(ann), {"channel": "room.refresh", "data": {"type": "late"}})
        await ann.close()
        harness.stop(w["proc"])
    run(go())


def test_two_hosts():
    async def go():
        second = RedisServer("redis-core2")
        urls = [STATE["redis"].url, second.url]
        w = start_worker("hosts", urls)
        layer = layer_of(urls)
        ann = await connect("ann", w)
        from channels_redis.utils import _consistent_hash
        names = ["room.h%d" % i for i in range(200)]
        groups = ([g for g in names if _consistent_hash(g, 2) == 0][:4] +
                  [g for g in names if _consistent_hash(g, 2) == 1][:4])
        for g in groups:
            check_eq(await ask(ann, {"command": "subscribe", "channel": g}), {"subscribed": g})
        case("core: two hosts: each group is on the host channels_redis' hash picks")
        where = [1 if members(g, second) else 0 for g in groups]
        check_eq(where, [_consistent_hash(g, 2) for g in groups])
        consumer = await layer.new_channel()
        for g in groups:
            await layer.group_add(g, consumer)
        case("core: two hosts: every Django group_send arrives")
        for g in groups:
            await layer.group_send(g, {"type": "t", "g": g})
        got = [await recv(ann) for _ in groups]
        check_eq(sorted(m["data"]["g"] for m in got), sorted(groups))
        case("core: two hosts: every /api/publish/ arrives, at the socket and the consumer")
        for g in groups:
            out, err = publish_cgi(g, g, urls)
            check("Status: 200" in out, "%r %r" % (out, err))
        got = [await recv(ann) for _ in groups]
        check_eq(sorted(m["data"] for m in got), sorted(groups))
        seen = []
        for _ in range(2 * len(groups)):
            seen.append(await asyncio.wait_for(layer.receive(consumer), harness.HANG_S))
        check_eq(len(seen), 16)
        case("core: two hosts: Django's send() to reply channels arrives whichever host it picks")
        member = members(groups[0], STATE["redis"]) or members(groups[0], second)
        process = member[0][:member[0].index("!") + 1]
        others = [await connect("bob", w) for _ in range(3)]
        sockets = [ann] + others
        for i in range(4):
            await layer.send("%sws.%d" % (process, i + 1), {"type": "tokenauth.send",
                                                            "text": "to %d" % (i + 1)})
        got = [await asyncio.wait_for(s.recv(), harness.HANG_S) for s in sockets]
        check_eq(got, ["to 1", "to 2", "to 3", "to 4"])
        for s in others:
            await s.close()
        await ann.close()
        harness.stop(w["proc"])
    run(go())


WORKER_APP = """
import json
from channels.consumer import AsyncConsumer
from channels.routing import ChannelNameRouter, ProtocolTypeRouter


class Inbox(AsyncConsumer):
    async def tokenauth_receive(self, event):
        msg = json.loads(event["text"])
        answer = {"echo": msg, "user": event["user"]["username"]}
        await self.channel_layer.send(event["reply_channel"],
                                      {"type": "tokenauth.send", "text": json.dumps(answer)})
        if msg.get("command") == "join":
            await self.channel_layer.group_add(msg["group"], event["reply_channel"])
            await self.channel_layer.send(event["reply_channel"],
                                          {"type": "tokenauth.send", "text": "joined"})
        if msg.get("command") == "bye":
            await self.channel_layer.send(event["reply_channel"],
                                          {"type": "tokenauth.close", "code": 4100,
                                           "reason": "as asked"})


application = ProtocolTypeRouter(
    {"channel": ChannelNameRouter({"tokenauth.inbox": Inbox.as_asgi()})})
"""



def test_daphne():
    why = django_site.missing()
    if why:
        case("daphne: a consumer served by daphne and a tokenauth socket share a group")
        skip(why)
        return
    site = DjangoSite("djsite-core", "core", STATE["urls"])
    site.start_daphne()
    try:
        run(daphne_both_ways(site))
    finally:
        site.stop()


async def daphne_both_ways(site):
    import websockets
    dj = await websockets.connect(site.ws_url("room.dj"), open_timeout=harness.HANG_S)
    ann = await connect("ann")
    me = {"id": STATE["ids"]["ann"], "username": "ann"}
    check_eq(await ask(ann, {"command": "subscribe", "channel": "room.dj"}),
             {"subscribed": "room.dj"})

    async def daphne_got():
        return json.loads(await asyncio.wait_for(dj.recv(), harness.HANG_S))

    case("daphne (core): POST /api/publish/ reaches the daphne consumer's client and the socket")
    out, err = publish_cgi("room.dj", {"n": 1})
    check("Status: 200" in out, "login-fcgi said %r %r" % (out, err))
    check_eq(await daphne_got(), {"type": "tokenauth.message", "data": {"n": 1}})
    check_eq(await recv(ann), {"channel": "room.dj", "data": {"n": 1}})
    case("daphne (core): a client publish on the tokenauth socket reaches the daphne consumer")
    check_eq(await ask(ann, {"command": "publish", "channel": "room.dj", "data": "two"}),
             {"published": "room.dj"})
    check_eq(await daphne_got(), {"type": "tokenauth.message", "data": "two", "from": me})
    check_eq(await recv(ann), {"channel": "room.dj", "data": "two", "from": me})
    case("daphne (core): a group_send from a Django script reaches the socket and the consumer")
    event = {"type": "chat.message", "text": "script", "by": "script"}
    await layer_of(STATE["urls"]).group_send("room.dj", event)
    check_eq(await recv(ann), {"channel": "room.dj", "data": event})
    check_eq(await daphne_got(), event)
    case("daphne (core): the daphne consumer's group_send to its group reaches the socket")
    await dj.send(json.dumps({"say": "from daphne"}))
    event = {"type": "chat.message", "text": "from daphne", "by": "consumer"}
    check_eq(await recv(ann), {"channel": "room.dj", "data": event})
    check_eq(await daphne_got(), event)
    case("view (core): group_send in a Django view requested through daphne reaches the socket")
    check_eq(await asyncio.to_thread(site.get_send, "room.dj", "from a view"), (200, "sent"))
    event = {"type": "chat.message", "text": "from a view", "by": "view"}
    check_eq(await recv(ann), {"channel": "room.dj", "data": event})
    check_eq(await daphne_got(), event)
    case("view (core): the same view through Django's test Client reaches the socket")
    check_eq(await asyncio.to_thread(site.client_send, "room.dj", "test client"), (0, "200 sent"))
    check_eq(await recv(ann), {"channel": "room.dj", "data": {
        "type": "chat.message", "text": "test client", "by": "view"}})
    await dj.close()
    await ann.close()


def test_runworker():
    async def go():
        rw = start_runworker("tokenauth.inbox", WORKER_APP,
                             "channels_redis.core.RedisChannelLayer", STATE["urls"])
        w = start_worker("runworker", STATE["urls"], TOKENAUTH_WS_FORWARD_CHANNEL="tokenauth.inbox")
        try:
            await talk(w)
        finally:
            harness.stop(w["proc"])
            harness.stop(rw)

    async def talk(w):
        import websockets
        ann = await connect("ann", w)
        case("runworker: a Django consumer run by manage.py runworker answers the client")
        await ann.send(json.dumps({"command": "echo", "n": 5}))
        check_eq(json.loads(await asyncio.wait_for(ann.recv(), harness.HANG_S)),
                 {"echo": {"command": "echo", "n": 5}, "user": "ann"})
        case("runworker: the consumer's group_add subscribes the socket; group_send reaches it")
        await ann.send(json.dumps({"command": "join", "group": "room.django"}))
        await asyncio.wait_for(ann.recv(), harness.HANG_S)
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "joined")
        await layer_of(STATE["urls"]).group_send("room.django", {"type": "tokenauth.send",
                                                                 "text": "hello room"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "hello room")
        case("runworker: tokenauth.close from the consumer closes the socket with its code")
        await ann.send(json.dumps({"command": "bye"}))
        await asyncio.wait_for(ann.recv(), harness.HANG_S)
        try:
            await asyncio.wait_for(ann.recv(), harness.HANG_S)
            code = None
        except websockets.exceptions.ConnectionClosed as e:
            code = (e.rcvd.code, e.rcvd.reason) if e.rcvd else None
        check_eq(code, (4100, "as asked"))
    run(go())


def test_redis_restart():
    async def go():
        w = start_worker("restart", STATE["urls"], TOKENAUTH_WS_FORWARD_CHANNEL="tokenauth.inbox")
        ann = await connect("ann", w)
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.r"}),
                 {"subscribed": "room.r"})
        case("core: Redis restarted (memberships lost): the socket gets a gap notice")
        STATE["redis"].stop()
        case("forward: while Redis is down a forwarded message answers unavailable")
        check(wait_for(lambda: "redis_down" in open(w["log"]).read()), "no redis_down")
        r = await ask(ann, {"command": "chat.say"})
        check_eq(r.get("error"), "unavailable")
        STATE["redis"].start()
        m, skipped = None, []
        while m is None or m.get("channel") != "room.r":
            m = await recv(ann, 20)
            skipped.append(m)
        check_eq(m, {"channel": "room.r", "gap": True})
        case("core: the membership is back in Redis and group_send arrives again")
        check(wait_for(lambda: len(members("room.r")) == 1), "members %r" % members("room.r"))
        await layer_of(STATE["urls"]).group_send("room.r", {"type": "again"})
        m = await recv(ann)
        while m.get("gap"):  # the personal channel's
            m = await recv(ann)
        check_eq(m, {"channel": "room.r", "data": {"type": "again"}})
        await ann.close()
        harness.stop(w["proc"])
    run(go())


def test_config_errors():
    case("core: a list of hosts with the pubsub layer stops the start, saying why")
    p = subprocess.run([WORKER, "--db", STATE["db"], "--port", "1"], capture_output=True,
                       text=True, timeout=30,
                       env=dict(os.environ, TOKENAUTH_REDIS_URL="redis://a:1,redis://b:2"))
    check(p.returncode != 0 and "a list of hosts needs TOKENAUTH_CHANNEL_LAYER=core" in p.stderr,
          "rc %r stderr %r" % (p.returncode, p.stderr))


def test_forward_and_reply():
    async def go():
        import websockets
        w = start_worker("forward", STATE["urls"], TOKENAUTH_WS_FORWARD_CHANNEL="tokenauth.inbox",
                         TOKENAUTH_WS_FORWARD_EVENTS="1")
        layer = layer_of(STATE["urls"])
        inbox = "tokenauth.inbox"
        ann = await connect("ann", w)
        me = {"id": STATE["ids"]["ann"], "username": "ann"}
        case("forward: a connect event with the user's id and username reaches the forward "
             "channel")
        ev = await asyncio.wait_for(layer.receive(inbox), harness.HANG_S)
        reply_channel = ev.get("reply_channel", "")
        check_eq((ev.get("type"), ev.get("user")), ("tokenauth.connect", me))
        check(reply_channel.startswith("specific.") and "!ws." in reply_channel, ev)
        case("forward: a message that is no tokenauth command goes to the Django channel")
        text = '{"command": "chat.say", "words": ["é", 1]}'
        await ann.send(text)
        got = await asyncio.wait_for(layer.receive(inbox), harness.HANG_S)
        check_eq(got, {"type": "tokenauth.receive", "text": text, "user": me,
                       "reply_channel": reply_channel})
        case("forward: tokenauth's own commands are still answered by tokenauth")
        r = await ask(ann, {"command": "whoami"})
        check_eq(r["user"]["username"], "ann")
        case("forward: tokenauth.send on the reply channel reaches the client as its text")
        await layer.send(reply_channel, {"type": "tokenauth.send", "text": "pong é"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "pong é")
        case("forward: group_add of the reply channel subscribes the socket server-side")
        await layer.group_add("room.srv", reply_channel)
        await layer.group_send("room.srv", {"type": "tokenauth.send", "text": "to the group"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "to the group")
        await layer.group_send("room.srv", {"type": "chat.note", "n": 2})
        case("forward: any other event on it names no channel: it says via reply_channel")
        check_eq(await recv(ann), {"via": "reply_channel", "data": {"type": "chat.note", "n": 2}})
        case("forward: a tokenauth publication to that group comes the same way, with from")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.srv"}),
                 {"subscribed": "room.srv"})
        r = await ask(ann, {"command": "publish", "channel": "room.srv", "data": "both"})
        check_eq(r, {"published": "room.srv"})
        got = sorted([await recv(ann), await recv(ann)], key=lambda m: "via" in m)
        check_eq(got, [{"channel": "room.srv", "data": "both", "from": me},
                       {"via": "reply_channel", "data": "both", "from": me}])
        check_eq(await ask(ann, {"command": "unsubscribe", "channel": "room.srv"}),
                 {"unsubscribed": "room.srv"})
        case("forward: a tokenauth.send over TOKENAUTH_WS_MAX_MESSAGE is dropped, the next arrives")
        await layer.send(reply_channel, {"type": "tokenauth.send", "text": "x" * 70000})
        await layer.send(reply_channel, {"type": "tokenauth.send", "text": "after"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "after")
        case("forward: garbage on a reply channel (wrong types, bin, no type) is dropped as format")
        process = reply_channel[:reply_channel.index("!") + 1]
        import msgpack
        c = STATE["redis"].client()
        for i, junk in enumerate([{"type": "tokenauth.send", "text": 5},
                                  {"type": "tokenauth.send"},
                                  {"type": "tokenauth.send", "text": b"\xff\xfe"},
                                  {"type": 7, "text": "x"}, {"text": "no type"},
                                  {"type": "chat.note", "blob": b"bin"}]):
            junk["__asgi_channel__"] = [reply_channel]
            c.zadd("asgi" + process, {b"%012d" % i + msgpack.packb(junk, use_bin_type=True):
                                      time.time() + i * 1e-3})
        c.close()
        await layer.send(reply_channel, {"type": "tokenauth.send", "text": "still here"})
        check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "still here")
        check(w["proc"].poll() is None, "ws-worker died")  # and none of the garbage arrived
        case("forward: a close code outside 4000-4999 closes with 4000")
        bob = await connect("bob", w)
        ev = await asyncio.wait_for(layer.receive(inbox), harness.HANG_S)
        check_eq(ev.get("user"), {"id": STATE["ids"]["bob"], "username": "bob"})
        await layer.send(ev["reply_channel"], {"type": "tokenauth.close", "code": 1000})
        try:
            await asyncio.wait_for(bob.recv(), harness.HANG_S)
            code = None
        except websockets.exceptions.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
        check_eq(code, 4000)
        ev = await asyncio.wait_for(layer.receive(inbox), harness.HANG_S)
        check_eq((ev.get("type"), ev.get("user")),
                 ("tokenauth.disconnect", {"id": STATE["ids"]["bob"], "username": "bob"}))
        case("forward: tokenauth.close closes the socket with the code and reason, after the "
             "messages sent before it (one burst on the process queue)")
        for n in range(5):
            await layer.send(reply_channel, {"type": "tokenauth.send", "text": "last %d" % n})
        await layer.send(reply_channel, {"type": "tokenauth.close", "code": 4321,
                                         "reason": "bye now " + "é" * 100})
        got = []
        try:
            while True:
                got.append(await asyncio.wait_for(ann.recv(), harness.HANG_S))
        except websockets.exceptions.ConnectionClosed as e:
            code = (e.rcvd.code, e.rcvd.reason) if e.rcvd else None
        except asyncio.TimeoutError:
            code = None
        check_eq(got, ["last %d" % n for n in range(5)])
        check_eq(code, (4321, "bye now " + "é" * 57))  # 123 bytes at most, whole characters
        case("forward: a disconnect event follows")
        ev = await asyncio.wait_for(layer.receive(inbox), harness.HANG_S)
        check_eq((ev.get("type"), ev.get("user"), ev.get("reply_channel")),
                 ("tokenauth.disconnect", me, reply_channel))
        case("forward: a reply to a closed socket is dropped, counted and logged")
        await layer.send(reply_channel, {"type": "tokenauth.send", "text": "late"})
        check(wait_for(lambda: "reason=socket_gone" in open(w["log"]).read()),
              "no socket_gone line")
        case("forward: replies to a number never given are dropped as socket_gone and counted "
             "(logged again at the 1000th)")
        roomy = layer_of(STATE["urls"], capacity=2000)  # the sender's check: no ChannelFull
        for _ in range(999):
            await roomy.send(process + "ws.999999", {"type": "tokenauth.send", "text": "nobody"})
        check(wait_for(lambda: re.search(r"reason=socket_gone .*dropped=1000\b",
                                         open(w["log"]).read())), "no dropped=1000 line")
        drops = [m.group(1) for m in re.finditer(r"reason=socket_gone .*dropped=(\d+)",
                                                 open(w["log"]).read())]
        check_eq(drops, ["1", "1000"])
        check(w["proc"].poll() is None, "ws-worker died")
        harness.stop(w["proc"])
    run(go())


def main():
    why = available("channels_redis.core", "websockets")
    if why:
        harness.skip_suite("test_django_layer", "django layer", why)
    setup()
    run_cases(test_group_send_reaches_socket, test_publications_both_ways, test_burst,
              test_garbage_dropped,
              test_refresh, test_two_hosts, test_forward_and_reply, test_daphne, test_runworker,
              test_redis_restart,
              test_config_errors)
    finish("test_django_layer")


main()
