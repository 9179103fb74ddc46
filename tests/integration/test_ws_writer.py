"""test_ws_writer.py -- ws-worker's write path (ws-worker/writer.c) end to end: deliveries are
written at the end of the Redis read that brought them, in batches, and what lws or the kernel
does not take at once waits for a writable callback.

Every case starts its own redis-server and ws-worker (test_channels.py's helpers); clients are
raw sockets, so that the bytes on the wire (every frame whole, in order) are what is checked.

Cases:
  1. a burst of publications in one Redis write (three batches' worth), with a command answered
     meanwhile: every delivery arrives once, whole and in publication order, and the answer too
  2. frames larger than what the kernel takes at once, to a client that reads only later: every
     frame arrives whole and in order (lws buffered the part the kernel refused; the rest of
     the queue waited for it)
  3. a client that resets its connection while deliveries flow: the worker closes it and keeps
     serving the others
  4. a client that stops reading is still closed with 4008 "slow consumer", and nothing of
     another socket's deliveries is lost
  5. deliveries and a tokenauth.close for the socket in one Redis write: every delivery
     first, then the close frame with the application's code
  6. joined batches (ws-worker/sendjoin.h: a batch's frames in one send), more bytes than the
     socket's send buffer holds, to a client that reads only later: small frames, frames of
     either side of the join's size and past it, interleaved, then one batch a read from Redis;
     every frame whole and in order
  7. the same deliveries with every send() cut to 1,000 bytes (tests/lib/shortsend.c, loaded
     with LD_PRELOAD: what a nearly full send buffer does): every joined batch and large frame
     is sent in parts, and every frame arrives whole and in order, a command answered between
  8. 100 small deliveries in one Redis write leave in a few send() calls, not one a frame
     (counted by the same shim): the join is in effect, not only correct
(Revocation -- 4401 and nothing after it -- is covered by test_channels.py 5a, with the same
write path.)"""
import json
import os
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import harness  # noqa: E402
from harness import case, check, check_eq, finish, run_cases  # noqa: E402
from redis_server import RedisServer  # noqa: E402
import test_channels as tc  # noqa: E402

SLOW_CONSUMER = (4008, "slow consumer")


def publish_burst(r, channel, items):
    """PUBLISHes every item (JSON-able data) on channel in one pipelined write to Redis."""
    c = r.client()
    try:
        p = c.pipeline(transaction=False)
        for data in items:
            p.publish(tc.group(channel), tc.pack({"type": "tokenauth.message", "data": data}))
        p.execute()
    finally:
        c.close()


def read_texts_until(s, pred, limit=10000):
    """Text frames (parsed JSON) up to and including the first for which pred is true."""
    got = []
    while len(got) < limit:
        op, payload = tc.raw_read_frame(s)
        if op == 8:
            raise EOFError("close frame %r after %d texts" % (payload[:40], len(got)))
        if op != 1:
            continue
        got.append(json.loads(payload))
        if pred(got[-1]):
            return got
    raise RuntimeError("no end after %d texts" % len(got))


def close_answering(s):
    """Checks that ann's raw socket s still answers a command, then closes it."""
    check_eq(tc.raw_cmd(s, {"command": "whoami"}).get("user", {}).get("username"), "ann",
             "the socket still answers")
    s.close()


def is_marker(m, channel="room.burst"):
    return m.get("channel") == channel and m.get("data") == "end"


def start(name, env=None):
    """A Redis server, the suite's users and a one-process worker on it, once it reaches Redis:
    (redis, users, worker)."""
    r = RedisServer(name)
    u = tc.Users()
    # No keepalive pings: the cases hold sockets that neither read nor answer for as long as a
    # loaded host takes, and a silent one would be dropped (1006) 40 s in, which is not what
    # they check.
    w = tc.start_worker(u, r.url, env=dict({"TOKENAUTH_WS_PING_INTERVAL": "0"}, **(env or {})))
    check(tc.ready(w, u), "the worker reaches Redis")
    return r, u, w


def stop(r, w):
    """Stops the worker, then Redis; returns the worker's exit status."""
    status = harness.stop(w.proc)
    r.stop()
    return status


def test_burst_in_order():
    r, u, w = start("writer-burst")
    s = tc.raw_connect(w, u.key["ann"])
    check_eq(tc.raw_cmd(s, tc.sub("room.burst")), {"subscribed": "room.burst"}, "subscribe")
    case("1. 100 publications in one write to Redis, a command meanwhile: all, in order")
    s.sendall(tc.raw_frame(1, json.dumps({"command": "whoami"}).encode()))
    publish_burst(r, "room.burst", list(range(100)) + ["end"])
    got = read_texts_until(s, is_marker)
    seqs = [m["data"] for m in got if m.get("channel") == "room.burst" and m.get("data") != "end"]
    check_eq(seqs, list(range(100)), "deliveries in publication order")
    answers = [m for m in got if "user" in m]
    if not answers:  # the answer may come after the burst
        answers = read_texts_until(s, lambda m: "user" in m)[-1:]
    check_eq([a.get("user", {}).get("username") for a in answers], ["ann"], "whoami answered once")
    s.close()
    stop(r, w)


def test_partial_frames():
    r, u, w = start("writer-partial")

    async def go():
        witness = await tc.connect(w, u, "bob", "witness")
        check_eq(await witness.cmd(tc.sub("room.tick")), {"subscribed": "room.tick"}, "witness")
        s = tc.raw_connect(w, u.key["ann"], rcvbuf=4096)
        check_eq(tc.raw_cmd(s, tc.sub("room.big")), {"subscribed": "room.big"}, "subscribe")
        case("2. 16 frames of 40 kB to a client not reading yet: each whole, in order")
        big = ["%d:%s" % (i, "y" * 40000) for i in range(16)]
        publish_burst(r, "room.big", big + ["end"])
        publish_burst(r, "room.tick", ["read"])
        await witness.delivery("room.tick")  # the worker has written what it could
        got = read_texts_until(s, lambda m: is_marker(m, "room.big"))
        check_eq([m.get("data") for m in got[:-1]], big, "the 16 frames, whole and in order")
        close_answering(s)
        await witness.close()
    tc.run(go())
    stop(r, w)


def test_reset_while_delivering():
    r, u, w = start("writer-reset")

    async def go():
        witness = await tc.connect(w, u, "bob", "witness")
        check_eq(await witness.cmd(tc.sub("room.burst")), {"subscribed": "room.burst"}, "witness")
        case("3. sockets reset by their peer while deliveries flow: closed, the others served")
        for round_ in range(3):
            resets = []
            for _ in range(5):
                s = tc.raw_connect(w, u.key["ann"])
                check_eq(tc.raw_cmd(s, tc.sub("room.burst")), {"subscribed": "room.burst"}, "ann")
                resets.append(s)
            # Stopped meanwhile, the worker sees the resets and the publications in one poll:
            # the Redis socket, watched first, makes it write to the reset sockets.
            os.kill(w.proc.pid, signal.SIGSTOP)
            for s in resets:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            publish_burst(r, "room.burst", ["x" * 2000] * 50 + ["end%d" % round_])
            os.kill(w.proc.pid, signal.SIGCONT)
            got = await witness.until_marker("room.burst", "end%d" % round_)
            check_eq(len(got), 51, "the witness got every delivery")
        closes = "event=close user_id=%d " % u.id["ann"]
        check(tc.wait_for(lambda: w.log().count(closes) == 15), "15 close lines for the resets: "
              "%d" % w.log().count(closes))
        check(w.proc.poll() is None, "the worker runs")
        who = await witness.cmd({"command": "whoami"})
        check_eq(who.get("user", {}).get("username"), "bob", "whoami")
        await witness.close()
    tc.run(go())
    check_eq(stop(r, w), 0, "exit status")


def test_slow_consumer():
    r, u, w = start("writer-slow", env={"TOKENAUTH_WS_MAX_QUEUED": "65536"})

    async def go():
        witness = await tc.connect(w, u, "bob", "witness")
        check_eq(await witness.cmd(tc.sub("room.flood")), {"subscribed": "room.flood"}, "witness")
        s = tc.raw_connect(w, u.key["ann"], rcvbuf=4096)
        check_eq(tc.raw_cmd(s, tc.sub("room.flood")), {"subscribed": "room.flood"}, "slow")
        case("4. a client that stops reading: closed with %d %r; the other gets everything"
             % SLOW_CONSUMER)
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            kernel_sndbuf = int(f.read().split()[2])
        n = (kernel_sndbuf + 4 * 65536) // 40000 + 10
        seen = []
        for i in range(n):  # the witness reads each one, so only the other falls behind
            publish_burst(r, "room.flood", ["%d:%s" % (i, "z" * 40000)])
            seen.append((await witness.delivery("room.flood")).get("data", "")[:6])
        check_eq(seen, [("%d:%s" % (i, "z" * 6))[:6] for i in range(n)], "the witness got all")
        close, texts, _ = tc.raw_until_close(s)
        check_eq(close, SLOW_CONSUMER, "close frame after %d texts" % len(texts))
        whole = all(t.startswith(b'{"channel":"room.flood"') for t in texts)
        check(whole, "the frames before the close are whole deliveries")
        s.close()
        await witness.close()
    tc.run(go())
    check_eq(stop(r, w), 0, "exit status")


def test_close_flush():
    r, u, w = start("writer-close", env={"TOKENAUTH_CHANNEL_LAYER": "pubsub",
                                         "TOKENAUTH_WS_FORWARD_CHANNEL": "tokenauth.inbox",
                                         "TOKENAUTH_WS_FORWARD_EVENTS": "1"})
    c = r.client()
    ps = c.pubsub()
    ps.psubscribe("*")
    deadline = time.monotonic() + harness.HANG_S
    while time.monotonic() < deadline:  # Redis has the pattern before the socket connects
        m = ps.get_message(timeout=1.0)
        if m and m.get("type") == "psubscribe":
            break
    s = tc.raw_connect(w, u.key["ann"])
    reply_channel, deadline = None, time.monotonic() + harness.HANG_S
    while reply_channel is None and time.monotonic() < deadline:
        m = ps.get_message(timeout=1.0)
        if m and m.get("type") == "pmessage":
            ev = tc.msgpack.unpackb(m["data"], raw=False)
            who = ev.get("user", {}).get("username")
            if ev.get("type") == "tokenauth.connect" and who == "ann":
                reply_channel = ev.get("reply_channel")
    ps.close()
    if not check(isinstance(reply_channel, str), "the connect event names the reply channel"):
        s.close()
        stop(r, w)
        return
    check_eq(tc.raw_cmd(s, tc.sub("room.bye")), {"subscribed": "room.bye"}, "subscribe")
    case("5. 50 deliveries and a tokenauth.close in one write to Redis: all 50, then the close")
    p = c.pipeline(transaction=False)
    for i in range(50):
        p.publish(tc.group("room.bye"), tc.pack({"type": "tokenauth.message", "data": i}))
    p.publish(reply_channel, tc.msgpack.packb({"type": "tokenauth.close", "code": 4100,
                                               "reason": "done"}))
    p.execute()
    c.close()
    close, texts, _ = tc.raw_until_close(s)
    check_eq([json.loads(t).get("data") for t in texts], list(range(50)), "deliveries first")
    check_eq(close, (4100, "done"), "then the close frame")
    check_eq(tc.frames_until_eof(s), [], "nothing after the close frame")
    s.close()
    check_eq(stop(r, w), 0, "exit status")


def test_joined_partial():
    # More than the kernel's send buffer takes (it grows to about 4 MiB on loopback), then one
    # batch per read from Redis, each written at once. Loopback rarely cuts a write short here
    # (case 7 forces that). The queue limit is raised so that what waits is not a slow consumer.
    r, u, w = start("writer-joined", env={"TOKENAUTH_WS_MAX_QUEUED": str(64 << 20)})

    async def go():
        witness = await tc.connect(w, u, "bob", "witness")
        check_eq(await witness.cmd(tc.sub("room.tick")), {"subscribed": "room.tick"}, "witness")
        s = tc.raw_connect(w, u.key["ann"], rcvbuf=4096)
        check_eq(tc.raw_cmd(s, tc.sub("room.join")), {"subscribed": "room.join"}, "subscribe")

        async def published(items):  # in one write to Redis, and handled by the worker
            publish_burst(r, "room.join", items)
            publish_burst(r, "room.tick", ["read"])
            await witness.delivery("room.tick")

        case("6. joined batches, more than the send buffer holds, to a client not reading yet: "
             "each frame whole, in order")
        sizes = [10, 200, 5000, 16300, 16400, 20000, 3, 12000, 4500]  # around 16 KiB, the join's
        items = ["%d:%s" % (i, "z" * sizes[i % len(sizes)]) for i in range(600)]
        for k in range(0, len(items), 60):
            await published(items[k:k + 60])
        for k in range(150):  # 16 KiB batches, one a read, into a socket nearly full
            small = ["%d.%d:%s" % (k, j, "q" * 400) for j in range(40)]
            items += small
            await published(small)
        publish_burst(r, "room.join", ["end"])
        got = read_texts_until(s, lambda m: is_marker(m, "room.join"), limit=len(items) + 10)
        check_eq(len(got) - 1, len(items), "every frame arrived")
        check([m.get("data") for m in got[:-1]] == items, "each whole, in publication order")
        close_answering(s)
        await witness.close()
    tc.run(go())
    stop(r, w)


def start_shimmed(name, channel, env):
    """start() with tests/lib/shortsend.c preloaded into the worker (env: the shim's settings and
    any other), and ann's raw socket subscribed to channel: (redis, worker, socket)."""
    full = harness.preload_env("shortsend")  # cuts every send() short, or counts them
    full.update(env)
    r, u, w = start(name, env=full)
    s = tc.raw_connect(w, u.key["ann"])
    check_eq(tc.raw_cmd(s, tc.sub(channel)), {"subscribed": channel}, "subscribe")
    return r, w, s


def test_joined_cut_short():
    # The queue limit raised: sent 1,000 bytes at a time, the burst waits in the queue.
    r, w, s = start_shimmed("writer-short", "room.short",
                            {"SHORTSEND_MAX": "1000", "TOKENAUTH_WS_MAX_QUEUED": str(64 << 20)})
    case("7. every send() cut to 1,000 bytes: joined batches and large frames sent in parts, "
         "each frame whole, in order, a command answered between")
    sizes = [10, 300, 900, 1100, 5000, 16300, 16400, 40000, 3]
    items = ["%d:%s" % (i, "s" * sizes[i % len(sizes)]) for i in range(200)]
    s.sendall(tc.raw_frame(1, json.dumps({"command": "whoami"}).encode()))
    for k in range(0, len(items), 50):
        publish_burst(r, "room.short", items[k:k + 50])
    publish_burst(r, "room.short", ["end"])
    got = read_texts_until(s, lambda m: is_marker(m, "room.short"), limit=len(items) + 10)
    data = [m.get("data") for m in got if m.get("channel") == "room.short"]
    check_eq(len(data) - 1, len(items), "every frame arrived")
    check(data[:-1] == items, "each whole, in publication order")
    answers = [m for m in got if "user" in m] or read_texts_until(s, lambda m: "user" in m)[-1:]
    check_eq([a.get("user", {}).get("username") for a in answers], ["ann"], "whoami answered once")
    s.close()
    stop(r, w)


def test_joined_counted():
    log = os.path.join(harness.OUT, "writer-sends.log")
    if os.path.exists(log):
        os.remove(log)
    r, w, s = start_shimmed("writer-count", "room.count", {"SHORTSEND_LOG": log})
    case("8. 100 small deliveries in one write to Redis leave in a few send() calls, not one a "
         "frame")
    with open(log) as f:
        before = len(f.readlines())  # the handshake's and the subscribe answer's
    publish_burst(r, "room.count", list(range(100)) + ["end"])
    got = read_texts_until(s, lambda m: is_marker(m, "room.count"))
    check_eq([m["data"] for m in got[:-1]], list(range(100)), "all 100, in order")
    with open(log) as f:
        sends = len(f.readlines()) - before
    check(0 < sends <= 20, "101 frames in %d send() calls (one a frame would be 101)" % sends)
    s.close()
    stop(r, w)


if __name__ == "__main__":
    os.makedirs(harness.OUT, exist_ok=True)
    t0 = time.monotonic()
    run_cases(test_burst_in_order, test_partial_frames, test_reset_while_delivering,
              test_slow_consumer, test_close_flush, test_joined_partial,
              test_joined_cut_short, test_joined_counted)
    print("# %.1f s" % (time.monotonic() - t0))
    finish("ws_writer")
