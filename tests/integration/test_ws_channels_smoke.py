"""test_ws_channels_smoke.py -- ws-worker's channels end to end with a real redis-server: subscribe,
a publication made by redis-cli (msgpack bytes from python3-msgpack, as channels_redis writes
them) and one by a client, both delivered; the errors of each command; Redis restarted: the
sockets stay open, get a gap notice per channel, and deliveries resume; redis_down and
redis_up logged once; a stopped (SIGSTOP) Redis noticed by the heartbeat; a socket that stops
reading closed 4008. The broader channel suite is test_channels.py.

Redis listens on a Unix socket in the test's temporary folder (--port 0: no TCP), without
persistence."""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import HANG_S, case, check, check_eq, finish, run_cases  # noqa: E402

import msgpack  # noqa: E402
import websockets  # noqa: E402

WORKER = os.path.join(harness.BIN, "ws-worker")
ORIGIN = "http://localhost:8000"
SOCK = os.path.join(harness.TMP, "redis.sock")
STATE = {}


def redis_publish(channel, event):
    """PUBLISH of msgpack(event) on the channels_redis key of channel, through redis-cli -x
    (the last argument read from stdin, binary-safe); returns Redis' count of receivers."""
    r = subprocess.run(["redis-cli", "-s", SOCK, "-x", "PUBLISH", "asgi__group__" + channel],
                       input=msgpack.packb(event), capture_output=True)
    return int(r.stdout.strip() or b"-1")


def setup():
    STATE["db"], STATE["ids"], STATE["keys"] = harness.users_db("channels.sqlite3",
                                                                ("ann", "carl"))
    STATE["redis"] = harness.redis_on_socket(SOCK, "redis-smoke")
    port = harness.free_port()
    log = "ws-worker-channels-%d" % port
    env = {"TOKENAUTH_REDIS_URL": "unix://" + SOCK,
           "TOKENAUTH_WS_PUBLIC_CHANNELS": "news,room.*",
           "TOKENAUTH_WS_PUBLISH_CHANNELS": "room.*",
           # A PING unanswered for 5 s is an outage (the stopped Redis of test_hung_redis): at
           # 1 s, a Redis or a worker not run for a second on a loaded host made a spurious one,
           # and redis_down is counted
           "TOKENAUTH_REDIS_TIMEOUT_MS": "5000",
           "TOKENAUTH_WS_MAX_QUEUED": "65536"}
    STATE["worker"] = harness.start([WORKER, "--db", STATE["db"], "--port", str(port),
                                     "--workers", "1"], env=env, log_name=log)
    STATE["log"] = os.path.join(harness.OUT, log + ".log")
    STATE["port"] = port
    harness.wait_port(port)


async def connect(user, **kw):
    return await websockets.connect("ws://127.0.0.1:%d/?token=%s" % (STATE["port"],
                                    STATE["keys"][user]), origin=ORIGIN, open_timeout=HANG_S,
                                    **kw)


async def ask(ws, msg):
    await ws.send(json.dumps(msg))
    return await recv(ws)


async def recv(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), HANG_S))


async def until(ws, predicate):
    """Reads messages until one satisfies predicate; returns it and those skipped."""
    skipped = []
    while True:
        m = await recv(ws)
        if predicate(m):
            return m, skipped
        skipped.append(m)


def run(coro):
    """Runs one case's coroutine, bounded (it waits for several things, each up to HANG_S)."""
    return asyncio.run(asyncio.wait_for(coro, 5 * HANG_S))


def wait_receivers(channel, n):
    """Redis counts subscribers per key: waits until a PUBLISH of nothing would reach n (a ping
    event no client keeps is sent; the worker answers only after Redis confirmed anyway)."""
    deadline = time.time() + HANG_S
    while time.time() < deadline:
        r = subprocess.run(["redis-cli", "-s", SOCK, "PUBSUB", "NUMSUB", "asgi__group__" + channel],
                           capture_output=True, text=True)
        lines = r.stdout.split()
        if len(lines) == 2 and int(lines[1]) == n:
            return True
        time.sleep(0.05)
    return False


def test_subscribe_and_deliver():
    async def go():
        ann = await connect("ann")
        me = "user.%d" % STATE["ids"]["ann"]
        case("channels: a socket starts in its personal channel")
        check_eq(await ask(ann, {"command": "subscriptions"}), {"subscriptions": [me]})
        case("channels: subscribe is answered once Redis confirmed")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "news"}),
                 {"subscribed": "news"})
        check_eq(redis_publish("news", {"type": "tokenauth.message", "data": {"x": [1, "é"]}}), 1,
                 "receivers (one per process, not per socket)")
        case("channels: a tokenauth.message from redis-cli is delivered as its data")
        check_eq(await recv(ann), {"channel": "news", "data": {"x": [1, "é"]}})
        case("channels: a Django group_send event is delivered whole")
        redis_publish("news", {"type": "chat.message", "text": "hi"})
        check_eq(await recv(ann), {"channel": "news", "data": {"type": "chat.message",
                                                               "text": "hi"}})
        case("channels: the personal channel receives")
        redis_publish(me, {"type": "tokenauth.message", "data": "for ann"})
        check_eq(await recv(ann), {"channel": me, "data": "for ann"})
        case("channels: a publication that does not convert is dropped, the socket stays")
        subprocess.run(["redis-cli", "-s", SOCK, "PUBLISH", "asgi__group__news", "not msgpack"],
                       capture_output=True)
        redis_publish("news", {"type": "tokenauth.message", "data": 2})
        check_eq(await recv(ann), {"channel": "news", "data": 2})
        await ann.close()
    run(go())


def test_client_publish():
    async def go():
        ann, carl = await connect("ann"), await connect("carl")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.1"}),
                 {"subscribed": "room.1"})
        case("channels: a client's publication is answered, then delivered with its author")
        check_eq(await ask(carl, {"command": "publish", "channel": "room.1", "data": {"t": "yo"}}),
                 {"published": "room.1"})
        check_eq(await recv(ann), {"channel": "room.1", "data": {"t": "yo"},
                                   "from": {"id": STATE["ids"]["carl"], "username": "carl"}})
        case("channels: a second subscriber in the same process is answered at once")
        check_eq(await ask(carl, {"command": "subscribe", "channel": "room.1"}),
                 {"subscribed": "room.1"})
        await ann.send(json.dumps({"command": "publish", "channel": "room.1", "data": 1}))
        got = [await recv(ann), await recv(ann)]
        check({"published": "room.1"} in got and
              {"channel": "room.1", "data": 1,
               "from": {"id": STATE["ids"]["ann"], "username": "ann"}} in got, got)
        check_eq(await recv(carl), {"channel": "room.1", "data": 1,
                                    "from": {"id": STATE["ids"]["ann"], "username": "ann"}})
        case("channels: unsubscribe, then the channel is left")
        check_eq(await ask(ann, {"command": "unsubscribe", "channel": "room.1"}),
                 {"unsubscribed": "room.1"})
        check_eq((await ask(ann, {"command": "subscriptions"}))["subscriptions"],
                 ["user.%d" % STATE["ids"]["ann"]])
        await ann.close()
        await carl.close()
        case("channels: the last socket leaving unsubscribes the process")
        check(wait_receivers("room.1", 0), "room.1 still subscribed in Redis")
    run(go())


def test_errors():
    async def go():
        ann = await connect("ann")
        other = "user.%d" % STATE["ids"]["carl"]
        cases = [
            ({"command": "subscribe", "channel": "secret"}, "forbidden"),
            ({"command": "subscribe", "channel": other}, "forbidden"),
            ({"command": "subscribe", "channel": "bad name"}, "invalid_channel"),
            ({"command": "unsubscribe", "channel": "news"}, "not_subscribed"),
            ({"command": "unsubscribe", "channel": "user.%d" % STATE["ids"]["ann"]}, "forbidden"),
            ({"command": "publish", "channel": "news", "data": 1}, "forbidden"),
        ]
        for msg, code in cases:
            case("channels: %s %s is refused with %s" % (msg["command"], msg["channel"], code))
            reply = await ask(ann, msg)
            check(reply.get("error") == code and reply.get("channel") == msg["channel"]
                  and reply.get("detail"), reply)
        case("channels: a command without a channel is invalid_channel")
        check_eq((await ask(ann, {"command": "subscribe"})).get("error"), "invalid_channel")
        await ann.close()
    run(go())


def test_redis_restart():
    async def go():
        ann = await connect("ann")
        me = "user.%d" % STATE["ids"]["ann"]
        check_eq(await ask(ann, {"command": "subscribe", "channel": "news"}),
                 {"subscribed": "news"})
        harness.stop(STATE["redis"])
        case("channels: Redis down, the socket stays open and subscribe answers unavailable")
        deadline = time.time() + HANG_S
        reply = None
        while time.time() < deadline:
            reply = await ask(ann, {"command": "subscribe", "channel": "room.2"})
            if reply.get("error") == "unavailable":
                break
            await asyncio.sleep(0.1)
        check(reply.get("error") == "unavailable" and "Redis" in reply.get("detail", ""), reply)
        reply = await ask(ann, {"command": "publish", "channel": "room.2", "data": 1})
        check_eq(reply.get("error"), "unavailable", "publish while down")
        await asyncio.sleep(1.5)  # several reconnection attempts fail meanwhile
        STATE["redis"] = harness.redis_on_socket(SOCK, "redis-smoke")
        case("channels: Redis back, a gap notice for each channel of the socket")
        seen = set()
        while len(seen) < 2:
            m = await recv(ann)
            if m.get("gap") is True:
                seen.add(m["channel"])
        check_eq(seen, {"news", me})
        case("channels: deliveries resume after the gap")
        check(wait_receivers("news", 1), "news not subscribed again")
        redis_publish("news", {"type": "tokenauth.message", "data": "back"})
        check_eq(await recv(ann), {"channel": "news", "data": "back"})
        await ann.close()
    run(go())
    case("channels: redis_down and redis_up are logged once for the outage")
    text = open(STATE["log"], errors="replace").read()
    check(text.count("event=redis_down") == 1 and text.count("event=redis_up") == 2, text[-3000:])


def test_hung_redis():
    async def go():
        ann = await connect("ann")
        check_eq(await ask(ann, {"command": "subscribe", "channel": "news"}),
                 {"subscribed": "news"})
        os.kill(STATE["redis"].pid, signal.SIGSTOP)
        try:
            case("channels: a stopped Redis is noticed by the heartbeat and counts as down")
            deadline = time.time() + HANG_S
            reply = {}
            while time.time() < deadline and reply.get("error") != "unavailable":
                reply = await ask(ann, {"command": "publish", "channel": "room.3", "data": 1})
                await asyncio.sleep(0.1)
            check("no answer to PING" in reply.get("detail", ""), reply)
        finally:
            os.kill(STATE["redis"].pid, signal.SIGCONT)
        case("channels: Redis answering again, the socket gets its gaps")
        seen = set()
        while len(seen) < 2:
            m = await recv(ann)
            if m.get("gap") is True:
                seen.add(m["channel"])
        check_eq(seen, {"news", "user.%d" % STATE["ids"]["ann"]})
        await ann.close()
    run(go())


def test_slow_consumer():
    async def go():
        # No pings from this client: one it cannot read the pong of (reading paused) would end
        # the connection itself after 40 s, which a loaded host may take to get here.
        ann = await connect("ann", ping_interval=None)
        check_eq(await ask(ann, {"command": "subscribe", "channel": "room.flood"}),
                 {"subscribed": "room.flood"})
        ann.transport.pause_reading()  # a client that stops reading
        packed = msgpack.packb({"type": "tokenauth.message", "data": "x" * 1000})
        key = b"asgi__group__room.flood"
        one = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(key), key, len(packed), packed)
        subprocess.run(["redis-cli", "-s", SOCK, "--pipe"], input=one * 20000,
                       capture_output=True)
        case("channels: a socket whose deliveries pile up is closed 4008 slow consumer")
        # The worker has closed it once it left its channel (the worker may still be reading
        # Redis' backlog); its close frame waits behind what the kernel holds, so it is sent
        # when the client reads again (the log's close line comes only once the connection is
        # gone, which the client's reading, or a timeout, ends).
        wait_receivers("room.flood", 0)
        ann.transport.resume_reading()
        code = reason = None
        try:
            while True:
                await asyncio.wait_for(ann.recv(), HANG_S)
        except websockets.exceptions.ConnectionClosed as e:
            code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)
        check_eq((code, reason), (4008, "slow consumer"))
        case("channels: the process goes on serving the others")
        carl = await connect("carl")
        check_eq(await ask(carl, {"command": "subscribe", "channel": "news"}),
                 {"subscribed": "news"})
        await carl.close()
    run(go())


def test_workers():
    """Two processes sharing the port: each subscribes once, each socket gets each publication
    once."""
    port = harness.free_port()
    db = os.path.join(harness.TMP, "channels.sqlite3")
    p = harness.start([WORKER, "--db", db, "--port", str(port), "--workers", "2"],
                      env={"TOKENAUTH_REDIS_URL": "unix://" + SOCK,
                           "TOKENAUTH_WS_PUBLIC_CHANNELS": "news,room.*"},
                      log_name="ws-worker-channels-2-%d" % port)
    harness.wait_port(port)

    async def go():
        sockets = []
        for i in range(12):  # the kernel spreads them over both processes
            ws = await websockets.connect("ws://127.0.0.1:%d/?token=%s" % (
                port, STATE["keys"]["ann" if i % 2 else "carl"]), origin=ORIGIN,
                open_timeout=HANG_S)
            check_eq(await ask(ws, {"command": "subscribe", "channel": "room.multi"}),
                     {"subscribed": "room.multi"})
            sockets.append(ws)
        case("channels: with --workers 2 Redis sees at most one subscriber per process")
        n = redis_publish("room.multi", {"type": "tokenauth.message", "data": "once"})
        check(1 <= n <= 2, n)
        case("channels: with --workers 2 each socket gets a publication exactly once")
        redis_publish("room.multi", {"type": "tokenauth.message", "data": "end"})
        ok = True
        for ws in sockets:
            got = [await recv(ws), await recv(ws)]
            ok = ok and got == [{"channel": "room.multi", "data": "once"},
                                {"channel": "room.multi", "data": "end"}]
            await ws.close()
        check(ok, "a socket got something else than once, end")
    run(go())
    harness.stop(p)


def test_revocation():
    """Last: it deletes carl's token."""
    async def go():
        carl = await connect("carl")
        check_eq(await ask(carl, {"command": "subscribe", "channel": "room.rev"}),
                 {"subscribed": "room.rev"})
        harness.sql(STATE["db"], "DELETE FROM authtoken_token WHERE key = '%s';"
                    % STATE["keys"]["carl"])
        case("channels: a revoked socket is closed 4401 and leaves its channels")
        code = reason = None
        try:
            while True:
                await asyncio.wait_for(carl.recv(), HANG_S)
        except websockets.exceptions.ConnectionClosed as e:
            code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (None, None)
        check_eq((code, reason), (4401, "token revoked"))
        check(wait_receivers("room.rev", 0), "room.rev still subscribed in Redis")
        check(wait_receivers("user.%d" % STATE["ids"]["carl"], 0), "user.N still subscribed")
    run(go())


def main():
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        harness.skip_suite("test_ws_channels_smoke", "channels smoke",
                           "redis-server or redis-cli missing")
    setup()
    run_cases(test_subscribe_and_deliver, test_client_publish, test_errors, test_redis_restart,
              test_hung_redis, test_slow_consumer, test_workers, test_revocation)
    finish("test_ws_channels_smoke")


main()
