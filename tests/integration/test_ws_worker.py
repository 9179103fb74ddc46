"""test_ws_worker.py -- ws-worker against real clients: python3-websockets 10.4 (Debian) for what
a well-behaved client does, and raw sockets for what no library will send (bad UTF-8, a stalled
handshake, an unanswered ping).

Every case starts the real $TOKENAUTH_BIN/ws-worker on a free loopback port with a temporary
database made by harness.make_db, and checks close codes, reasons and HTTP statuses exactly."""
import asyncio
import calendar
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import case, check, check_eq, finish, run_cases  # noqa: E402
import hostile  # noqa: E402
from rawws import raw_frame, raw_read_frame, raw_until_close, read_head  # noqa: E402

import websockets  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatusCode  # noqa: E402

WORKER = os.path.join(harness.BIN, "ws-worker")
ORIGIN = "http://localhost:8000"
HELLO = "The command to say hello was received "
KEYS_SEEN = set()  # every token used, to check none reaches a log file
_n_workers = [0]


def db_with_users():
    """A fresh database with ann (active) and bob (inactive); returns (path, ann_key, bob_key)."""
    _n_workers[0] += 1
    path = harness.make_db("db%d.sqlite3" % _n_workers[0], users=[
        ("ann", "pw", {"email": "ann@example.com"}),
        ("bob", "pw", {"is_active": False}),
    ])
    keys = harness.token_of(path, "ann"), harness.token_of(path, "bob")
    KEYS_SEEN.update(keys)
    return (path,) + keys


def start_worker(db, *flags, env=None, workers=1, nofile=None):
    """Starts ws-worker on a free port, under nofile = (soft, hard) descriptor limits when
    given; returns (process, port)."""
    port = harness.free_port()
    argv = [WORKER, "--db", db, "--port", str(port), "--workers", str(workers)] + list(flags)
    limit = None if nofile is None else (
        lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile))
    p = harness.start(argv, env=env, log_name="ws-worker-%d" % port, preexec_fn=limit)
    harness.wait_port(port)
    return p, port


def listening(port):
    """Pids of the workers of the one on port that logged they listen (their lws context is up
    and serving)."""
    with open(os.path.join(harness.OUT, "ws-worker-%d.log" % port), errors="replace") as f:
        return {int(line.split(" pid ")[1].split(",")[0]) for line in f
                if " event=listen " in line and " pid " in line}


def log_time(line):
    """The wall-clock time (time.time()) of a log line, from its ts= (milliseconds)."""
    stamp = line.split("ts=", 1)[1].split()[0]
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float(stamp[19:-1])


def run(coro):
    """Runs a coroutine, bounded: it may wait for several things, each up to HANG_S."""
    return asyncio.run(asyncio.wait_for(coro, 5 * harness.HANG_S))


async def session(port, path="/", origin=ORIGIN, **kw):
    return await websockets.connect("ws://127.0.0.1:%d%s" % (port, path), origin=origin,
                                    open_timeout=harness.HANG_S, **kw)


async def ask(ws, msg):
    await ws.send(msg if isinstance(msg, str) else json.dumps(msg))
    return json.loads(await asyncio.wait_for(ws.recv(), harness.HANG_S))


async def close_of(ws, send_first=None):
    """Waits until the server closes ws; returns (code, reason, replies received meanwhile)."""
    replies = []
    try:
        if send_first is not None:
            await ws.send(send_first)
        while True:
            replies.append(await asyncio.wait_for(ws.recv(), harness.HANG_S))
    except ConnectionClosed as e:
        return (e.rcvd.code if e.rcvd else None), (e.rcvd.reason if e.rcvd else None), replies


def handshake_outcome(port, path="/", origin=ORIGIN, **kw):
    """Opens a socket and says hello: ("open", reply), ("closed", code, reason, replies) or
    ("http", status)."""
    async def go():
        try:
            ws = await session(port, path, origin, **kw)
        except InvalidStatusCode as e:
            return ("http", e.status_code)
        try:
            await ws.send(json.dumps({"command": "whoami"}))
            reply = await asyncio.wait_for(ws.recv(), harness.HANG_S)
            await ws.close()
            return ("open", json.loads(reply), ws.subprotocol)
        except ConnectionClosed as e:
            return ("closed", e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else None)
    return run(go())


# --- raw sockets: frames no client library sends ---------------------------------------------

def raw_connect(port, path="/", headers=()):
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.HANG_S)
    s.sendall(hostile.upgrade_request(path, headers))
    return s, read_head(s).decode("latin-1")


def raw_close_code(s):
    """Reads frames until a close frame; returns (code, reason) or None at EOF."""
    return raw_until_close(s)[0]


# --- the cases ------------------------------------------------------------------------------

def test_protocol():
    db, ann, _ = db_with_users()
    p, port = start_worker(db)

    async def go():
        ws = await session(port, "/?token=" + ann)
        case("1. hello echoes data_string of every JSON type with the tutorial's keys and text")
        for value in ["This is the data string !", 42, 1.5, True, None, [1, "x"], {"a": {"b": 2}}]:
            r = await ask(ws, {"command": "Say hello !", "data_string": value})
            check_eq(r, {"command_response": HELLO, "data_string_bacK": value}, repr(value))
        case("2. hello without data_string echoes null (the tutorial crashes)")
        await ws.send(json.dumps({"command": "Say hello !"}))
        raw = await ws.recv()
        check_eq(raw, '{"command_response":"%s","data_string_bacK":null}' % HELLO, "reply text")
        case("3. whoami names the token's user")
        r = await ask(ws, {"command": "whoami"})
        check_eq(r["user"]["username"], "ann", "username")
        check_eq(r["user"]["email"], "ann@example.com", "email")
        check(isinstance(r["user"]["id"], int), r)
        case("4. invalid JSON, non-objects, missing and unknown commands get errors, socket open")
        for msg, code in [("{not json", "invalid_json"), ("[1,2]", "not_an_object"),
                          ('"hi"', "not_an_object"), ("{}", "missing_command"),
                          ('{"command": 5}', "missing_command"),
                          ('{"command": "rm -rf"}', "unknown_command")]:
            r = await ask(ws, msg)
            check(r.get("error") == code and isinstance(r.get("detail"), str), (msg, r))
        r = await ask(ws, {"command": "whoami"})
        check_eq(r["user"]["username"], "ann", "still answering after errors")
        case("5. a fragmented message is reassembled")
        await ws.send(['{"command": "Say hello !", ', '"data_string": "pi', 'eces"}'])
        r = json.loads(await ws.recv())
        check_eq(r["data_string_bacK"], "pieces", "reassembled")
        case("6. a message just under the 64 KiB limit is answered")
        big = "x" * (65536 - 60)
        r = await ask(ws, {"command": "Say hello !", "data_string": big})
        check_eq(r["data_string_bacK"], big, "big echo")
        case("7. pipelined messages are answered in order")
        for i in range(100):
            await ws.send(json.dumps({"command": "Say hello !", "data_string": i}))
        got = [json.loads(await ws.recv())["data_string_bacK"] for _ in range(100)]
        check_eq(got, list(range(100)), "order")
        case("8. a message over the limit closes 1009")
        code, reason, _ = await close_of(ws, "y" * 70000)
        check_eq(code, 1009, "close code")
        ws = await session(port, "/?token=" + ann)
        case("9. a binary frame closes 1003")
        code, reason, _ = await close_of(ws, b'{"command": "whoami"}')
        check_eq(code, 1003, "close code")
    run(go())

    case("10. invalid UTF-8 in a text frame closes 1007")
    s, head = raw_connect(port, "/?token=" + ann)
    s.sendall(raw_frame(1, b'{"command": "\xc3\x28"}'))
    check_eq(raw_close_code(s), (1007, "invalid utf-8"), "close")
    s.close()
    case("11. invalid UTF-8 split across fragments closes 1007; a char split is fine")
    s, head = raw_connect(port, "/?token=" + ann)
    s.sendall(raw_frame(1, b'{"command": "Say hello !", "data_string": "\xe2\x82', fin=False)
              + raw_frame(0, b'\xac"}'))
    op, payload = raw_read_frame(s)
    check_eq(json.loads(payload)["data_string_bacK"], "\u20ac", "euro sign reassembled")
    s.sendall(raw_frame(1, b'{"a": "\xed\xa0', fin=False) + raw_frame(0, b'\x80"}'))
    check_eq(raw_close_code(s), (1007, "invalid utf-8"), "surrogate refused")
    s.close()
    case("12. a fragmented message over the limit closes 1009")
    s, head = raw_connect(port, "/?token=" + ann)
    s.sendall(raw_frame(1, b"z" * 40000, fin=False) + raw_frame(0, b"z" * 40000))
    check_eq(raw_close_code(s), (1009, "message too big"), "close")
    s.close()
    check_eq(harness.stop(p), 0, "exit status after SIGTERM")


def test_auth_sources():
    db, ann, bob = db_with_users()
    p, port = start_worker(db)
    case("13. token in the query string")
    r = handshake_outcome(port, "/?token=" + ann)
    check(r[0] == "open" and r[1]["user"]["username"] == "ann", r)
    case("14. token percent-encoded, other parameters ignored")
    enc = "".join("%%%02X" % ord(c) for c in ann)
    r = handshake_outcome(port, "/?a=1&token=" + enc + "&b=%20")
    check(r[0] == "open", r)
    case("15. the same token twice is fine")
    check(handshake_outcome(port, "/?token=%s&token=%s" % (ann, ann))[0] == "open", "open")
    case("16. token as a Sec-WebSocket-Protocol entry; tokenauth is selected, the key not echoed")
    r = handshake_outcome(port, subprotocols=["tokenauth", "tokenauth.token." + ann])
    check(r[0] == "open" and r[2] == "tokenauth", r)
    s, head = raw_connect(port, headers=[("Sec-WebSocket-Protocol",
                                          "tokenauth, tokenauth.token." + ann)])
    check("101" in head.split("\r\n")[0] and ann not in head, head)
    s.close()
    case("17. token in Authorization: Token and Bearer")
    for scheme in ("Token", "Bearer", "token"):
        r = handshake_outcome(port, extra_headers={"Authorization": "%s %s" % (scheme, ann)})
        check(r[0] == "open", (scheme, r))
    case("18. missing token: 4401 missing token, no command answered")
    check_eq(handshake_outcome(port), ("closed", 4401, "missing token"), "outcome")
    check_eq(handshake_outcome(port, extra_headers={"Authorization": "Basic eDp5"}),
             ("closed", 4401, "missing token"), "other scheme")
    case("19. malformed, empty, unknown, conflicting: 4401 invalid token")
    bad = ["/?token=", "/?token", "/?token=abc!def", "/?token=" + "a" * 41,
           "/?token=" + "0" * 40, "/?token=%s&token=%s" % (ann, "1" * 40)]
    for path in bad:
        check_eq(handshake_outcome(port, path), ("closed", 4401, "invalid token"), path[:30])
    r = handshake_outcome(port, "/?token=" + ann, extra_headers={"Authorization": "Token " + bob})
    check_eq(r, ("closed", 4401, "invalid token"), "query and header disagree")
    r = handshake_outcome(port, subprotocols=["tokenauth", "tokenauth.token.x", "tokenauth.token.y"])
    check_eq(r, ("closed", 4401, "invalid token"), "two protocol entries disagree")
    case("20. an inactive user's token: 4401 invalid token (the tutorial accepts it)")
    check_eq(handshake_outcome(port, "/?token=" + bob), ("closed", 4401, "invalid token"), "bob")
    case("21. the application never runs for a refused token: no reply before the close")

    async def go():
        ws = await session(port, "/?token=nope")
        return await close_of(ws, json.dumps({"command": "whoami"}))
    code, reason, replies = run(go())
    check(code == 4401 and replies == [], (code, reason, replies))
    harness.stop(p)

    case("22. --refuse-handshake answers HTTP 401 instead")
    p, port = start_worker(db, "--refuse-handshake")
    check_eq(handshake_outcome(port), ("http", 401), "missing")
    check_eq(handshake_outcome(port, "/?token=" + bob), ("http", 401), "inactive")
    check(handshake_outcome(port, "/?token=" + ann)[0] == "open", "a good token still opens")
    harness.stop(p)
    p, port = start_worker(db, env={"TOKENAUTH_WS_REFUSE_HANDSHAKE": "1"})
    check_eq(handshake_outcome(port, "/?token=x"), ("http", 401), "from the environment")
    harness.stop(p)


def test_expiry():
    db, ann, _ = db_with_users()
    case("23. an expired token (TOKENAUTH_TOKEN_TTL): 4401 token expired")
    harness.sql(db, "UPDATE authtoken_token SET created = '2000-01-01 00:00:00'")
    p, port = start_worker(db, env={"TOKENAUTH_TOKEN_TTL": "60"})
    check_eq(handshake_outcome(port, "/?token=" + ann), ("closed", 4401, "token expired"), "old")
    harness.stop(p)
    case("24. a live socket is closed with 4401 token expired when its token expires")
    p, port = start_worker(db, env={"TOKENAUTH_TOKEN_TTL": "5",
                                    "TOKENAUTH_WS_REVOCATION_CHECK_MS": "100"})
    # The token made now, once the worker runs (its start may take seconds on a loaded host),
    # with 5 s to live: time for the socket to open and be answered first.
    harness.sql(db, "UPDATE authtoken_token SET created = strftime('%Y-%m-%d %H:%M:%f', 'now')")

    async def go():
        ws = await session(port, "/?token=" + ann)
        r = await ask(ws, {"command": "whoami"})
        return r, await close_of(ws)
    r, (code, reason, _) = run(go())
    check(r["user"]["username"] == "ann" and (code, reason) == (4401, "token expired"),
          (r, code, reason))
    harness.stop(p)


def test_revocation():
    db, ann, _ = db_with_users()
    harness.add_user(db, "cat", "pw")
    cat = harness.token_of(db, "cat")
    KEYS_SEEN.add(cat)
    p, port = start_worker(db, env={"TOKENAUTH_WS_REVOCATION_CHECK_MS": "200"})

    async def open_two(key):
        a = await session(port, "/?token=" + key)
        b = await session(port, subprotocols=["tokenauth", "tokenauth.token." + key])
        await ask(a, {"command": "whoami"})
        return a, b

    async def go():
        case("25. DELETE FROM authtoken_token at the sqlite3 prompt closes every socket of it")
        a, b = await open_two(ann)
        c = await session(port, "/?token=" + cat)
        harness.sql(db, "DELETE FROM authtoken_token WHERE key = '%s'" % ann)
        for ws in (a, b):
            code, reason, _ = await close_of(ws)
            check_eq((code, reason), (4401, "token revoked"), "close")
        case("26. other users' sockets stay open")
        r = await ask(c, {"command": "whoami"})
        check_eq(r["user"]["username"], "cat", "cat still served")
        case("27. deactivating the user closes its sockets with 4401 token revoked")
        harness.sql(db, "UPDATE auth_user SET is_active = 0 WHERE username = 'cat'")
        code, reason, _ = await close_of(c)
        check_eq((code, reason), (4401, "token revoked"), "close")
        case("28. the deleted token can no longer open a socket")
        return await (await session(port, "/?token=" + ann)).wait_closed() or None
    run(go())
    check_eq(handshake_outcome(port, "/?token=" + ann), ("closed", 4401, "invalid token"), "gone")
    harness.stop(p)


def test_origin_and_path():
    db, ann, _ = db_with_users()
    p, port = start_worker(db)
    q = "/?token=" + ann
    case("29. default allowed hosts: localhost, 127.0.0.1, [::1], any port")
    for origin in ["http://localhost:8000", "http://127.0.0.1", "https://[::1]:9000",
                   "http://LOCALHOST"]:
        check(handshake_outcome(port, q, origin)[0] == "open", origin)
    case("30. another Origin, or none, gets HTTP 403")
    for origin in ["http://evil.example", "http://localhost.evil.example", "null", None]:
        check_eq(handshake_outcome(port, q, origin), ("http", 403), origin)
    case("31. an unknown path gets HTTP 404")
    for path in ["/ws?token=" + ann, "/x/", "/index.html"]:
        check_eq(handshake_outcome(port, path), ("http", 404), path[:10])
    harness.stop(p)
    case("32. .example.com matches the domain and its subdomains only")
    p, port = start_worker(db, "--allowed-hosts", ".example.com, localhost")
    for origin, want in [("http://example.com", "open"), ("https://a.b.example.com:1", "open"),
                         ("http://badexample.com", "http"), ("http://localhost", "open")]:
        check_eq(handshake_outcome(port, q, origin)[0], want, origin)
    harness.stop(p)
    case("33. * allows any Origin, and none")
    p, port = start_worker(db, env={"TOKENAUTH_ALLOWED_HOSTS": "*"})
    for origin in ["http://anything.test", None]:
        check(handshake_outcome(port, q, origin)[0] == "open", origin)
    harness.stop(p)
    case("34. Origin and path are refused before any database work (no database at all)")
    p, port = start_worker(os.path.join(harness.TMP, "absent.sqlite3"))
    check_eq(handshake_outcome(port, q, "http://evil.example"), ("http", 403), "origin")
    check_eq(handshake_outcome(port, "/nope"), ("http", 404), "path")
    r = handshake_outcome(port, q)
    check_eq(r, ("closed", 1011, "database unavailable"), "the token check needs the db")
    harness.stop(p)


def test_lifecycle():
    db, ann, _ = db_with_users()
    case("35. SIGTERM: every open socket gets 1001 and the process exits 0 quickly")
    p, port = start_worker(db)

    async def go():
        socks = [await session(port, "/?token=" + ann) for _ in range(3)]
        await ask(socks[0], {"command": "whoami"})
        t0 = time.monotonic()
        os.killpg(p.pid, signal.SIGTERM)
        codes = [(await close_of(ws))[:2] for ws in socks]
        return codes, t0
    codes, t0 = run(go())
    check_eq(codes, [(1001, "server shutting down")] * 3, "close codes")
    rc = harness.exit_status(p, 4)
    check_eq(rc, 0, "exit status")

    case("36. the connection cap closes the next socket with 1013")
    p, port = start_worker(db, "--max-connections", "2")

    async def cap():
        a = await session(port, "/?token=" + ann)
        b = await session(port, "/?token=" + ann)
        c = await session(port, "/?token=" + ann)
        code, reason, _ = await close_of(c)
        r = await ask(a, {"command": "whoami"})
        await b.close()
        # b's place is free once the worker has seen its close, later on a loaded host: until
        # then a new socket is refused like c, and is tried again
        loop = asyncio.get_running_loop()
        deadline = loop.time() + harness.HANG_S
        while True:
            d = await session(port, "/?token=" + ann)
            try:
                r2 = await ask(d, {"command": "whoami"})
                return code, reason, r, r2
            except ConnectionClosed as e:
                if not e.rcvd or e.rcvd.code != 1013 or loop.time() > deadline:
                    raise
            await asyncio.sleep(0.1)
    code, reason, r, r2 = run(cap())
    check_eq((code, reason), (1013, "too many connections"), "third socket")
    check(r["user"]["username"] == "ann" and r2["user"]["username"] == "ann", (r, r2))
    harness.stop(p)

    case("37. a stalled handshake is dropped (slowloris)")
    p, port = start_worker(db, env={"TOKENAUTH_WS_HANDSHAKE_TIMEOUT": "1"})
    s = socket.create_connection(("127.0.0.1", port), timeout=harness.HANG_S)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    try:
        data = s.recv(100)
    except socket.timeout:
        data = "no close"
    except ConnectionResetError:
        data = b""  # closed by the worker, with a reset
    check(data == b"", "recv gave %r" % (data,))
    s.close()
    harness.stop(p)

    case("38. an idle peer gets pings and is dropped when it stops answering")
    p, port = start_worker(db, env={"TOKENAUTH_WS_PING_INTERVAL": "1",
                                    "TOKENAUTH_WS_PING_TIMEOUT": "1"})
    s, head = raw_connect(port, "/?token=" + ann)
    s.settimeout(15)
    ops = []
    try:
        while True:
            op, _ = raw_read_frame(s)
            ops.append(op)
    except (EOFError, OSError):
        pass
    check(9 in ops, "frames seen: %r" % ops)
    s.close()
    harness.stop(p)

    case("39. --workers 2: two processes share the port; SIGTERM stops them all")
    p, port = start_worker(db, workers=2)
    harness.wait_for(lambda: len(harness.children_of(p.pid)) == 2)
    kids = [str(k) for k in harness.children_of(p.pid)]
    check_eq(len(kids), 2, "children")
    outcomes = [handshake_outcome(port, "/?token=" + ann)[0] for _ in range(8)]
    check_eq(outcomes, ["open"] * 8, "served")
    check_eq(harness.stop(p), 0, "exit status")
    alive = [k for k in kids if os.path.exists("/proc/%s" % k)]
    check_eq(alive, [], "children gone")

    case("40. starts while the database is locked, serves once it is free")
    lock = subprocess.Popen(["sqlite3", db], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    lock.stdin.write("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; "
                     "UPDATE auth_user SET email = email; SELECT 'locked';\n")
    lock.stdin.flush()
    while lock.stdout.readline().strip() not in ("locked", ""):  # the lock is held from here
        pass
    p, port = start_worker(db)
    check(p.poll() is None, "running")
    lock.stdin.write("COMMIT;\n.quit\n")
    lock.stdin.close()
    lock.wait()
    deadline = time.time() + harness.HANG_S
    r = None
    while time.time() < deadline:
        r = handshake_outcome(port, "/?token=" + ann)
        if r[0] == "open":
            break
        time.sleep(0.3)
    check(r and r[0] == "open", r)
    harness.stop(p)


def test_flags():
    case("41. --help describes the flags and settings, exit 0")
    r = subprocess.run([WORKER, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--allowed-hosts" in r.stdout and "TOKENAUTH_WS_PORT" in r.stdout,
          r.stdout[:300])
    for flag, setting in [("--db PATH", "TOKENAUTH_DB"),
                          ("--max-message N", "TOKENAUTH_WS_MAX_MESSAGE"),
                          ("--refuse-handshake", "TOKENAUTH_WS_REFUSE_HANDSHAKE")]:
        line = next((l for l in r.stdout.splitlines() if l.strip().startswith(flag)), "")
        check(line.endswith("(%s)" % setting), (flag, line))
    case("42. bad flags and values: a clear message and a non-zero exit")
    for argv, word in [(["--port", "0"], "TOKENAUTH_WS_PORT"), (["--port", "abc"], "abc"),
                       (["--workers", "-1"], "TOKENAUTH_WS_WORKERS"), (["--bogus"], "bogus"),
                       (["--allowed-hosts", "a b,"], "ALLOWED_HOSTS"), (["extra"], "extra")]:
        r = subprocess.run([WORKER] + argv, capture_output=True, text=True, timeout=10)
        check(r.returncode != 0 and word in r.stderr, (argv, r.returncode, r.stderr))
    r = subprocess.run([WORKER, "--port", "1"], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, TOKENAUTH_WS_MAX_MESSAGE="x"))
    check(r.returncode != 0 and "TOKENAUTH_WS_MAX_MESSAGE" in r.stderr, r.stderr)
    case("43. --check validates and exits 0, with login-fcgi's wording")
    # Without the suite's own TOKENAUTH_BIN..., each an "unknown setting" warning.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    r = subprocess.run([WORKER, "--check"], capture_output=True, text=True, timeout=10, env=env)
    check_eq(r.returncode, 0, "exit")
    check(r.stdout == "" and r.stderr.endswith("ws-worker: settings are valid\n"), r.stderr)
    r = subprocess.run([WORKER, "--check"], capture_output=True, text=True, timeout=10,
                       env=dict(env, TOKENAUTH_THROTTLE_WINDOW="soon"))
    check_eq((r.returncode, r.stdout, r.stderr),
             (2, "", 'ws-worker: TOKENAUTH_THROTTLE_WINDOW: "soon" is not a whole number from 1 '
              'to 31536000\nws-worker: invalid settings, not started (see --help)\n'),
             "a bad setting, worded as login-fcgi words it")
    case("44. a port already taken: non-zero exit")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    r = subprocess.run([WORKER, "--workers", "1", "--port", str(s.getsockname()[1])],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode != 0, (r.returncode, r.stderr[-300:]))
    s.close()


def test_logs_have_no_token():
    case("45. no token appears in any log line, lws' own included")
    leaks = []
    for name in os.listdir(harness.OUT):
        if name.startswith("ws-worker-"):
            text = open(os.path.join(harness.OUT, name), errors="replace").read()
            leaks += [(name, k) for k in KEYS_SEEN if k and k in text]
    check(KEYS_SEEN and not leaks, leaks[:5])
    case("46. connect lines name the user and email; close lines carry the code")
    text = "".join(open(os.path.join(harness.OUT, n), errors="replace").read()
                   for n in os.listdir(harness.OUT) if n.startswith("ws-worker-"))
    check("event=connect" in text and "user=ann" in text and "email=ann@example.com" in text,
          "connect line")
    check("event=close" in text and "code=4401" in text and "event=refuse" in text, "close line")


if __name__ == "__main__":
    os.makedirs(harness.OUT, exist_ok=True)
    for name in os.listdir(harness.OUT):
        if name.startswith("ws-worker-"):
            os.remove(os.path.join(harness.OUT, name))
    run_cases(test_protocol, test_auth_sources, test_expiry, test_revocation,
              test_origin_and_path, test_lifecycle, test_flags, test_logs_have_no_token)
    finish("ws-worker")
