"""test_ws_drops.py -- every kind of message ws-worker drops (and logs) is a counter on its
/metrics (docs/metrics.md, *What ws-worker drops*), summed over the workers of the group.

  d1  core layer: garbage on the process key: tokenauth_ws_layer_messages_dropped_total
      {reason="format"} and {reason="unknown_channel"} as many as sent; a key of the wrong type:
      pop_refused
  d2  core layer, --workers 2: replies to a socket number never given on each worker's process
      key: socket_gone is the sum of both workers' drops
  d3  core layer: messages forwarded to a Django channel holding TOKENAUTH_CHANNEL_CAPACITY
      already: channel_full, one per message refused
  d4  pub/sub layer: garbage on a reply channel and an event too big for a socket (format), a
      reply to a closed socket
      (socket_gone); garbage and an over-long publication on a channel:
      tokenauth_ws_deliveries_dropped_total format and too_big
  d5  a slow consumer (4008): the delivery queued for it dropped,
      tokenauth_ws_queued_messages_dropped_total{reason="slow_consumer"} 1
  d6  a revoked token with deliveries queued: dropped as revoked; a client that goes away with
      deliveries queued: dropped as closed
  d7  memory running out (the optimised build under RLIMIT_AS: ASan reserves terabytes of
      address space): close 1011, tokenauth_ws_out_of_memory_closes_total 1, still serving

Counts are read when the drops are known to have happened (a message sent after them arrived,
or the counter reached the number sent); the checks compare values, never durations."""
import asyncio
import contextlib
import json
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import django_forward  # noqa: E402
import hostile  # noqa: E402
import rawws  # noqa: E402
from django_forward import ask, recv, run  # noqa: E402
from harness import case, check, check_eq, finish, run_cases, skip, wait_for  # noqa: E402
from redis_server import RedisServer, available  # noqa: E402
import test_metrics  # noqa: E402
import test_ws_worker as tw  # noqa: E402

INBOX = "tokenauth.inbox"
STATE = {}
LAYER = "tokenauth_ws_layer_messages_dropped_total"
QUEUE = "tokenauth_ws_queued_messages_dropped_total"


def setup():
    STATE["db"], STATE["ids"], STATE["keys"] = harness.users_db("drops.sqlite3",
                                                                ("ann", "cat", "dan", "eve"))
    tw.KEYS_SEEN.update(STATE["keys"].values())


def worker(name, redis, layer, workers=1, **env):
    """ws-worker on redis with its metrics endpoint; returns django_forward's dict plus
    "mport"."""
    mport = harness.free_port()
    env = dict(env, TOKENAUTH_WS_METRICS_PORT=str(mport))
    if workers == 1:
        w = django_forward.start_worker(STATE["db"], name, redis.url, layer, **env)
    else:
        w = start_group(name, redis, layer, workers, env)
    harness.wait_port(mport)
    w["mport"] = mport
    return w


@contextlib.contextmanager
def redis_and_worker(name, layer, workers=1, **env):
    """A redis-server and a ws-worker on it (worker() above), both named name, for the with
    block: (redis, worker); both are stopped after it."""
    redis = RedisServer(name)
    w = worker(name, redis, layer, workers, **env)
    try:
        yield redis, w
    finally:
        harness.stop(w["proc"])
        redis.stop()


def start_group(name, redis, layer, workers, env):
    port = harness.free_port()
    env = dict(env, TOKENAUTH_REDIS_URL=redis.url, TOKENAUTH_CHANNEL_LAYER=layer,
               TOKENAUTH_WS_PUBLIC_CHANNELS="news,room.*")
    log = "ws-worker-%s-%d" % (name, port)
    p = harness.start([django_forward.WORKER, "--db", STATE["db"], "--port", str(port),
                       "--workers", str(workers)], env=env, log_name=log)
    harness.wait_port(port)
    path = os.path.join(harness.OUT, log + ".log")
    wait_for(lambda: open(path).read().count("redis_up") >= workers)
    return {"proc": p, "port": port, "log": path}


def count(w, name, reason=None):
    labels = 'reason="%s"' % reason if reason else ""
    return test_metrics.metric(test_metrics.values(w["mport"]), name, labels) or 0


def reaches(w, name, reason, n):
    """Whether the counter reaches n (waiting for drops already under way), then its value."""
    wait_for(lambda: count(w, name, reason) >= n)
    return count(w, name, reason)


def process_key(redis, group):
    """The process keys of the workers with a member in group (core layer)."""
    c = redis.client()
    try:
        members = [m.decode() for m in c.zrange("asgi:group:" + group, 0, -1)]
    finally:
        c.close()
    return ["asgi" + m[:m.index("!") + 1] for m in members]


def zadd_all(redis, key, messages):
    import msgpack
    c = redis.client()
    for i, m in enumerate(messages):
        raw = m if isinstance(m, bytes) else b"%012d" % i + msgpack.packb(m, use_bin_type=True)
        c.zadd(key, {raw: time.time() + i * 1e-3})
    c.close()


def test_core_garbage():
    with redis_and_worker("drops-core", "core") as (redis, w):
        async def go():
            ann = await django_forward.connect(w, STATE["keys"]["ann"])
            check_eq(await ask(ann, {"command": "subscribe", "channel": "news"}),
                     {"subscribed": "news"})
            key = process_key(redis, "news")[0]
            member = key[len("asgi"):] + "tokenauth.news"
            case("d1. core: 3 undecodable messages and 1 for no channel of the process: format 3, "
                 "unknown_channel 1")
            zadd_all(redis, key, [b"x" * 12 + b"not msgpack at all", b"y" * 12 + b"\xc1",
                                  {"a": 1}, {"type": "a", "__asgi_channel__": ["nobody!x"]},
                                  {"type": "ok", "__asgi_channel__": [member]}])
            check_eq(await recv(ann), {"channel": "news", "data": {"type": "ok"}}, "the next")
            check_eq(count(w, LAYER, "format"), 3, "format")
            check_eq(count(w, LAYER, "unknown_channel"), 1, "unknown_channel")
            case("d1. core: a process key of the wrong type: pop_refused counted, then popping "
                 "resumes")
            c = redis.client()
            c.set(key, "not a sorted set")
            check(reaches(w, LAYER, "pop_refused", 1) >= 1, "pop_refused")
            c.delete(key)
            c.close()
            zadd_all(redis, key, [{"type": "after", "__asgi_channel__": [member]}])
            check_eq(await recv(ann), {"channel": "news", "data": {"type": "after"}}, "after")
            await ann.close()
        run(go())


def test_core_two_workers():
    with redis_and_worker("drops-core2", "core", workers=2,
                          TOKENAUTH_WS_FORWARD_CHANNEL=INBOX) as (redis, w):
        personal = "user.%d" % STATE["ids"]["ann"]

        async def go():
            held = []
            for _ in range(40):  # the kernel spreads connections over both workers
                held.append(await django_forward.connect(w, STATE["keys"]["ann"]))
                if len(process_key(redis, personal)) == 2:
                    break
            keys = process_key(redis, personal)
            case("d2. --workers 2: 3 replies to ws.999999 on one worker, 4 on the other: "
                 "socket_gone 7 on either worker's endpoint")
            check_eq(len(keys), 2, "sockets on both workers")
            for key, n in zip(keys, (3, 4)):
                gone = key[len("asgi"):] + "ws.999999"
                zadd_all(redis, key, [{"type": "tokenauth.send", "text": "x%d" % i,
                                       "__asgi_channel__": [gone]} for i in range(n)])
            check_eq(reaches(w, LAYER, "socket_gone", 7), 7, "socket_gone")
            for ws in held:
                await ws.close()
        run(go())


def test_core_channel_full():
    with redis_and_worker("drops-full", "core", TOKENAUTH_WS_FORWARD_CHANNEL=INBOX,
                          TOKENAUTH_CHANNEL_CAPACITY="5") as (redis, w):

        async def go():
            ann = await django_forward.connect(w, STATE["keys"]["ann"])
            case("d3. core: 8 messages forwarded to a Django channel of capacity 5 nobody reads: "
                 "channel_full 3")
            for i in range(8):
                await ann.send(json.dumps({"command": "chat.say", "n": i}))
            check_eq((await ask(ann, {"command": "whoami"}))["user"]["username"], "ann",
                     "still served")
            check_eq(reaches(w, LAYER, "channel_full", 3), 3, "channel_full")
            await ann.close()
        run(go())


def test_pubsub_layer():
    import msgpack
    from channels_redis.pubsub import RedisPubSubChannelLayer
    with redis_and_worker("drops-pubsub", "pubsub", TOKENAUTH_WS_FORWARD_CHANNEL=INBOX,
                          TOKENAUTH_WS_FORWARD_EVENTS="1") as (redis, w):
        async def go():
            lay = RedisPubSubChannelLayer(hosts=[redis.url])
            first = asyncio.ensure_future(lay.receive(INBOX))
            for _ in range(400):  # the layer subscribes in that task: the connect event needs it
                if redis.numsub(INBOX) >= 1:
                    break
                await asyncio.sleep(0.05)
            ann = await django_forward.connect(w, STATE["keys"]["ann"])
            reply_channel = (await asyncio.wait_for(first, harness.HANG_S))["reply_channel"]
            check_eq(await ask(ann, {"command": "subscribe", "channel": "news"}),
                     {"subscribed": "news"})
            case("d4. pub/sub layer: 2 undecodable messages on a reply channel and an event over "
                 "TOKENAUTH_WS_MAX_MESSAGE (dropped in silence before): format 3")
            redis.publish(reply_channel, b"not msgpack")
            redis.publish(reply_channel, msgpack.packb([1, 2]))
            redis.publish(reply_channel, msgpack.packb({"type": "chat.big", "blob": "z" * 70000}))
            redis.publish(reply_channel, msgpack.packb({"type": "tokenauth.send", "text": "ok"}))
            check_eq(await asyncio.wait_for(ann.recv(), harness.HANG_S), "ok", "the next")
            check_eq(count(w, LAYER, "format"), 3, "format")
            case("d4. a publication that does not convert and one over TOKENAUTH_WS_MAX_MESSAGE: "
                 "deliveries_dropped format 1, too_big 1")
            redis.publish("asgi__group__news", b"\xc1 not msgpack")
            redis.publish("asgi__group__news", msgpack.packb({"type": "a", "b": "z" * 70000}))
            redis.publish("asgi__group__news", msgpack.packb({"type": "after"}))
            check_eq(await recv(ann), {"channel": "news", "data": {"type": "after"}}, "the next")
            s = test_metrics.values(w["mport"])
            check_eq([s.get(("tokenauth_ws_deliveries_dropped_total", 'reason="%s"' % r))
                      for r in ("format", "too_big")], [1, 1], "deliveries dropped")
            case("d4. a reply to a closed socket: socket_gone 1")
            await ann.close()
            wait_for(lambda: "event=close " in open(w["log"]).read())
            redis.publish(reply_channel, msgpack.packb({"type": "tokenauth.send", "text": "late"}))
            check_eq(reaches(w, LAYER, "socket_gone", 1), 1, "socket_gone")
        run(go())


def non_reader(w, user, channel):
    """A raw client that subscribes to channel, then never reads (a 4 KiB receive buffer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", w["port"]))
    s.sendall(hostile.upgrade_request("/?token=" + STATE["keys"][user]))
    rawws.read_head(s)
    s.sendall(rawws.raw_frame(1, json.dumps({"command": "subscribe", "channel": channel}).encode()))
    op, payload = rawws.raw_read_frame(s)
    check_eq((op, json.loads(payload)), (1, {"subscribed": channel}), "subscribed")
    return s


def flood(redis, w, channel, until, limit=400):
    """Publishes deliveries of 60,000 bytes on channel until until() holds (checked after each
    batch of 10). Returns whether it did."""
    import msgpack
    payload = msgpack.packb({"type": "m", "data": "z" * 60000})
    for _ in range(limit):
        for _ in range(10):
            redis.publish("asgi__group__" + channel, payload)
        if until():
            return True
    return until()


def queued_bytes(w):
    return count(w, "tokenauth_ws_queued_bytes")


def queue_stays(w):
    """Whether more is queued than the kernel could still take off the queue: a queue a little
    over nothing drains into the socket's send buffer as the kernel grows it (up to tcp_wmem's
    maximum), and a close would then find nothing queued to count."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        kernel_sndbuf = int(f.read().split()[2])
    return queued_bytes(w) > kernel_sndbuf + (1 << 20)


def test_queues():
    redis = RedisServer("drops-queues")
    w = worker("drops-slow", redis, "pubsub", TOKENAUTH_WS_MAX_QUEUED="65536")
    case("d5. a slow consumer (TOKENAUTH_WS_MAX_QUEUED 65536, deliveries of 60 KB): closed "
         "4008 once, the one delivery it had queued dropped as slow_consumer")
    s = non_reader(w, "ann", "news")
    check(flood(redis, w, "news",
                lambda: count(w, "tokenauth_ws_slow_consumer_closes_total") == 1), "closed")
    check_eq(count(w, QUEUE, "slow_consumer"), 1, "dropped")
    s.close()
    harness.stop(w["proc"])

    w = worker("drops-revoke", redis, "pubsub", TOKENAUTH_WS_MAX_QUEUED="67108864",
               TOKENAUTH_WS_REVOCATION_CHECK_MS="100")
    case("d6. deliveries queued for a revoked token (4401): dropped as revoked")
    s = non_reader(w, "cat", "room.cat")
    check(flood(redis, w, "room.cat", lambda: queue_stays(w)), "a queue built up")
    harness.sql(STATE["db"], "DELETE FROM authtoken_token WHERE user_id = %d;"
                % STATE["ids"]["cat"])
    check(reaches(w, QUEUE, "revoked", 1) >= 1, "revoked: %d" % count(w, QUEUE, "revoked"))
    check_eq(count(w, "tokenauth_ws_revocations_total"), 1, "revocations")
    s.close()
    case("d6. deliveries queued for a client that went away: dropped as closed")
    s = non_reader(w, "dan", "room.dan")
    check(flood(redis, w, "room.dan", lambda: queue_stays(w)), "a queue built up")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # a reset: the server's next write fails
    check(reaches(w, QUEUE, "closed", 1) >= 1, "closed: %d" % count(w, QUEUE, "closed"))
    harness.stop(w["proc"])
    redis.stop()


def vm_size_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([line for line in f if line.startswith("VmSize")][0].split()[1])


def test_out_of_memory():
    import websockets
    optimised = os.path.join(os.path.dirname(harness.BIN), "ws-worker")
    case("d7. memory running out while a message is reassembled: 1011, "
         "out_of_memory_closes_total 1, the worker still serves")
    if os.path.basename(harness.BIN) != "asan" or not os.path.exists(optimised):
        skip("no optimised ws-worker next to %s (ASan cannot run under RLIMIT_AS)" % harness.BIN)
        return
    env = {"TOKENAUTH_WS_MAX_MESSAGE": "67108864"}
    probe_port = harness.free_port()
    probe = harness.start([optimised, "--db", STATE["db"], "--port", str(probe_port),
                           "--workers", "1"], env=env, log_name="drops-oom-probe")
    harness.wait_port(probe_port)
    limit = vm_size_kib(probe.pid) * 1024 + (32 << 20)  # room for 32 MiB more, not 60
    harness.stop(probe)
    mport, port = harness.free_port(), harness.free_port()
    env["TOKENAUTH_WS_METRICS_PORT"] = str(mport)
    p = harness.start([optimised, "--db", STATE["db"], "--port", str(port), "--workers", "1"],
                      env=env, log_name="drops-oom",
                      preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    harness.wait_port(port)
    harness.wait_port(mport)
    w = {"port": port, "mport": mport}

    async def go():
        ws = await websockets.connect("ws://127.0.0.1:%d/?token=%s" % (port, STATE["keys"]["eve"]),
                                      origin=tw.ORIGIN, max_size=None)

        async def pieces():
            for _ in range(60):
                yield "x" * (1 << 20)
        try:
            await ws.send(pieces())
            await asyncio.wait_for(ws.recv(), harness.HANG_S)
        except websockets.exceptions.ConnectionClosed:
            pass
        check(wait_for(lambda: "code=1011" in open(os.path.join(harness.OUT,
                                                                "drops-oom.log")).read()),
              "close 1011 logged")
        check_eq(count(w, "tokenauth_ws_out_of_memory_closes_total"), 1, "counter")
        again = await websockets.connect("ws://127.0.0.1:%d/?token=%s"
                                         % (port, STATE["keys"]["eve"]), origin=tw.ORIGIN)
        check_eq((await ask(again, {"command": "whoami"}))["user"]["username"], "eve", "served")
        await again.close()
    run(go())
    harness.stop(p)


if __name__ == "__main__":
    why = available("channels_redis.pubsub", "msgpack")
    setup()
    if why:
        case("drops with Redis")
        skip(why)
        run_cases(test_out_of_memory)
    else:
        run_cases(test_core_garbage, test_core_two_workers, test_core_channel_full,
                  test_pubsub_layer, test_queues, test_out_of_memory)
    finish("ws_drops")
