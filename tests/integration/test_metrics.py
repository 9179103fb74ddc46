"""test_metrics.py -- the metrics endpoint (docs/metrics.md): ws-worker's GET /metrics on
127.0.0.1:TOKENAUTH_WS_METRICS_PORT with the whole process group's totals, and login-fcgi's counts
through TOKENAUTH_METRICS_FILE (shown there and by `login-fcgi --metrics`).

  m1-m2   bound to 127.0.0.1 only; every line parses as the text format 0.0.4; other paths 404
  m3-m6   handshakes accepted and refused by reason, messages, connections open, a revocation:
          the numbers are what the test did, summed over two workers
  m7      a worker killed -9 is counted as a restart, and its counts stay in the totals
  m8-m10  login-fcgi requests by outcome and status, in the file, on the endpoint, --metrics
  m11-m14 operator mistakes: the metrics port taken, --metrics without a file or with a missing
          one, a file that is no metrics file (requests still served)
  m17     the connection cap (1013) and the failed-handshake throttle (429) by their reasons
  m15-m16 channels with a real redis-server: Redis up, subscribes, publishes, deliveries, channels;
          Redis stopped: up 0, one outage (skipped without redis-server)

Counts are compared as differences between two scrapes, so nothing depends on timing."""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import redis_server  # noqa: E402
from harness import case, check, check_eq, finish, run_cases  # noqa: E402
import test_ws_worker as tw  # noqa: E402

LOGIN = os.path.join(harness.BIN, "login-fcgi")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? (-?[0-9]+(\.[0-9]+)?)$')


def parse(text):
    """The samples of a Prometheus text exposition: {(name, labels): value}; raises ValueError on
    a line that is neither a comment nor name{labels} value, or a sample whose family has no
    # TYPE line before it."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        if not m or m.group(1) not in typed:
            raise ValueError("not a sample line: %r" % line)
        samples[(m.group(1), m.group(3) or "")] = int(m.group(5))
    return samples


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def values(port):
    """The parsed samples. A connection reset is tried again: the kernel resets connections
    still queued on the listener of a worker that was just killed (m7), as a real scrape would
    see once."""
    for _ in range(5):
        try:
            return parse(scrape(port)[2])
        except (ConnectionError, urllib.error.URLError):
            time.sleep(0.1)
    return parse(scrape(port)[2])


def refused(s, reason):
    return s[("tokenauth_ws_handshakes_refused_total", 'reason="%s"' % reason)]


def metric(s, name, labels=""):
    return s.get((name, labels))


def listeners(port):
    """The local addresses listening on port, from /proc/net/tcp and tcp6 (hex)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                addr, hexport = fields[1].split(":")
                if int(hexport, 16) == port and fields[3] == "0A":
                    found.append(addr)
    return found


def cgi_login(db, metrics_file, username, password):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    body = ("username=%s&password=%s" % (username, password)).encode()
    env.update({"TOKENAUTH_DB": db, "TOKENAUTH_PASSWORD_ITERATIONS": "1",
                "TOKENAUTH_METRICS_FILE": metrics_file, "GATEWAY_INTERFACE": "CGI/1.1",
                "REQUEST_METHOD": "POST", "SCRIPT_NAME": "/api/login/",
                "REQUEST_URI": "/api/login/", "REMOTE_ADDR": "127.0.0.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "CONTENT_TYPE": "application/x-www-form-urlencoded",
                "CONTENT_LENGTH": str(len(body))})
    p = subprocess.run([LOGIN], input=body, env=env, capture_output=True, timeout=60)
    return p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


def login_metrics(metrics_file, env_file=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    if env_file:
        env["TOKENAUTH_METRICS_FILE"] = metrics_file
    return subprocess.run([LOGIN, "--metrics"], env=env, capture_output=True, text=True,
                          timeout=60)


STATE = {}


def setup():
    db, ann, bob = tw.db_with_users()
    harness.add_user(db, "cat", "pw")
    cat = harness.token_of(db, "cat")
    mport = harness.free_port()
    mfile = os.path.join(harness.TMP, "login-metrics.bin")
    p, port = tw.start_worker(db, workers=2, env={
        "TOKENAUTH_WS_METRICS_PORT": str(mport), "TOKENAUTH_METRICS_FILE": mfile,
        "TOKENAUTH_WS_REVOCATION_CHECK_MS": "200"})
    harness.wait_port(mport)
    STATE.update(db=db, ann=ann, bob=bob, cat=cat, p=p, port=port, mport=mport, mfile=mfile)


def test_endpoint():
    mport = STATE["mport"]
    case("m1. the metrics port listens on 127.0.0.1 only (each worker: SO_REUSEPORT)")
    addrs = listeners(mport)
    check(addrs and all(a == "0100007F" for a in addrs), "listeners %r" % addrs)
    case("m2. GET /metrics is 200 text/plain version 0.0.4, every line parses; others 404")
    status, ctype, text = scrape(mport)
    check_eq(status, 200, "status")
    check(ctype.startswith("text/plain; version=0.0.4"), ctype)
    s = parse(text)
    for name in ("tokenauth_ws_connections", "tokenauth_ws_handshakes_accepted_total",
                 "tokenauth_ws_revocations_total", "tokenauth_ws_worker_restarts_total",
                 "tokenauth_ws_messages_received_total", "tokenauth_ws_redis_up"):
        check((name, "") in s, "missing " + name)
    check(text.count("# TYPE tokenauth_ws_handshakes_refused_total counter") == 1, "one TYPE")
    try:
        scrape(mport, "/other")
        check(False, "no 404")
    except urllib.error.HTTPError as e:
        check_eq(e.code, 404, "status")


def test_handshakes():
    port, mport, ann, bob = STATE["port"], STATE["mport"], STATE["ann"], STATE["bob"]
    before = values(mport)
    case("m3. three accepted handshakes, each saying whoami: 3 accepted, 3 in, 3 out")
    for _ in range(3):
        check_eq(tw.handshake_outcome(port, "/?token=" + ann)[0], "open", "opened")
    case("m4. refusals counted by reason: missing, invalid (x2), origin, path")
    check_eq(tw.handshake_outcome(port, "/"), ("closed", 4401, "missing token"), "missing")
    check_eq(tw.handshake_outcome(port, "/?token=" + bob)[:2], ("closed", 4401), "inactive")
    check_eq(tw.handshake_outcome(port, "/?token=" + "x" * 40)[:2], ("closed", 4401), "bad")
    check_eq(tw.handshake_outcome(port, "/?token=" + ann, origin="http://evil.example"),
             ("http", 403), "origin")
    check_eq(tw.handshake_outcome(port, "/elsewhere?token=" + ann), ("http", 404), "path")
    after = values(mport)

    def delta(name, labels=""):
        return after[(name, labels)] - before[(name, labels)]
    case("m3. (the numbers)")
    check_eq(delta("tokenauth_ws_handshakes_accepted_total"), 3, "accepted")
    check_eq(delta("tokenauth_ws_messages_received_total"), 3, "messages in")
    check_eq(delta("tokenauth_ws_messages_sent_total"), 3, "messages out")
    check(delta("tokenauth_ws_received_bytes_total") == 3 * len('{"command": "whoami"}'),
          "bytes in")
    case("m4. (the numbers)")
    check_eq(refused(after, "missing_token") - refused(before, "missing_token"), 1, "missing")
    check_eq(refused(after, "invalid_token") - refused(before, "invalid_token"), 2, "invalid")
    check_eq(refused(after, "origin") - refused(before, "origin"), 1, "origin")
    check_eq(refused(after, "path") - refused(before, "path"), 1, "path")
    check_eq(refused(after, "capacity") - refused(before, "capacity"), 0, "capacity")
    check_eq(metric(after, "tokenauth_ws_connections"), 0, "all closed again")


def test_connections_and_revocation():
    port, mport, ann, cat, db = (STATE[k] for k in ("port", "mport", "ann", "cat", "db"))
    before = values(mport)

    async def go():
        case("m5. two sessions open: tokenauth_ws_connections is 2, then 0 once closed")
        a = await tw.session(port, "/?token=" + ann)
        b = await tw.session(port, "/?token=" + ann)
        await tw.ask(a, {"command": "whoami"})
        await tw.ask(b, {"command": "whoami"})
        check_eq(metric(values(mport), "tokenauth_ws_connections"), 2, "open")
        await a.close()
        await b.close()
        case("m6. a revoked token: its socket closes 4401, tokenauth_ws_revocations_total + 1")
        c = await tw.session(port, "/?token=" + cat)
        await tw.ask(c, {"command": "whoami"})
        harness.sql(db, "DELETE FROM authtoken_token WHERE key = '%s'" % cat)
        code, reason, _ = await tw.close_of(c)
        check_eq((code, reason), (4401, "token revoked"), "close")
    tw.run(go())
    check(harness.wait_for(lambda: metric(values(mport), "tokenauth_ws_connections") == 0), "closed")
    after = values(mport)
    check_eq(after[("tokenauth_ws_revocations_total", "")] -
             before[("tokenauth_ws_revocations_total", "")], 1, "revocations")
    check_eq(after[("tokenauth_ws_handshakes_accepted_total", "")] -
             before[("tokenauth_ws_handshakes_accepted_total", "")], 3, "accepted")


def test_worker_restart():
    p, port, mport, ann = STATE["p"], STATE["port"], STATE["mport"], STATE["ann"]
    case("m7. kill -9 of a worker: one restart counted, the totals keep its counts")
    before = values(mport)
    kids = tw_children(p.pid)
    check_eq(len(kids), 2, "two workers")
    os.kill(kids[0], signal.SIGKILL)
    check(harness.wait_for(lambda: metric(values(mport), "tokenauth_ws_worker_restarts_total") ==
                   before[("tokenauth_ws_worker_restarts_total", "")] + 1), "restart counted")
    check(harness.wait_for(lambda: len(tw_children(p.pid)) == 2 and kids[0] not in tw_children(p.pid)),
          "replaced")
    after = values(mport)
    for name in ("tokenauth_ws_handshakes_accepted_total", "tokenauth_ws_messages_received_total",
                 "tokenauth_ws_revocations_total"):
        check_eq(after[(name, "")], before[(name, "")], name + " kept")
    check_eq(tw.handshake_outcome(port, "/?token=" + ann)[0], "open", "still served")


def tw_children(pid):
    r = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return sorted(int(k) for k in r.stdout.split())


def test_login_counts():
    db, mport, mfile = STATE["db"], STATE["mport"], STATE["mfile"]
    harness.add_user(db, "dan", "right pw")
    case("m8. three CGI logins (2 ok, 1 bad password) are counted in the file")
    out = [cgi_login(db, mfile, "dan", "right%20pw")[0] for _ in range(2)]
    out.append(cgi_login(db, mfile, "dan", "wrong")[0])
    check(all(o.startswith("Status: 200") for o in out[:2]) and out[2].startswith("Status: 400"),
          repr(out))
    case("m9. ws-worker's /metrics shows them: outcome ok 2, bad_credentials 1, 2xx 2, 400 1")
    s = values(mport)
    check_eq(metric(s, "tokenauth_login_requests_total", 'outcome="ok"'), 2, "ok")
    check_eq(metric(s, "tokenauth_login_requests_total", 'outcome="bad_credentials"'), 1, "bad")
    check_eq(metric(s, "tokenauth_login_responses_total", 'status="2xx"'), 2, "2xx")
    check_eq(metric(s, "tokenauth_login_responses_total", 'status="400"'), 1, "400")
    case("m10. login-fcgi --metrics prints the same, in the same format")
    r = login_metrics(mfile)
    check_eq(r.returncode, 0, "exit " + r.stderr)
    lm = parse(r.stdout)
    check_eq(lm, {k: v for k, v in s.items() if k[0].startswith("tokenauth_login_")}, "same")


def test_mistakes():
    db = STATE["db"]
    case("m11. the metrics port taken: ws-worker says so, naming the setting, and exits 1")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    mport = taken.getsockname()[1]
    port = harness.free_port()
    p = harness.start([tw.WORKER, "--db", db, "--port", str(port), "--workers", "1"],
                      env={"TOKENAUTH_WS_METRICS_PORT": str(mport)}, log_name="metrics-taken")
    try:
        rc = p.wait(20)
    except subprocess.TimeoutExpired:
        rc = None
        harness.stop(p)
    taken.close()
    check_eq(rc, 1, "exit status")
    with open(os.path.join(harness.OUT, "metrics-taken.log"), errors="replace") as f:
        log = f.read()
    check("TOKENAUTH_WS_METRICS_PORT" in log and "Address already in use" in log, log)
    case("m12. login-fcgi --metrics without TOKENAUTH_METRICS_FILE: exit 2, says why")
    r = login_metrics("", env_file=False)
    check(r.returncode == 2 and "TOKENAUTH_METRICS_FILE is empty" in r.stderr, r.stderr)
    case("m13. login-fcgi --metrics of a missing file: exit 1, names it")
    missing = os.path.join(harness.TMP, "nowhere.bin")
    r = login_metrics(missing)
    check(r.returncode == 1 and missing in r.stderr and "No such file" in r.stderr, r.stderr)
    case("m14. a file that is no metrics file: the login is served, metrics_off logged once")
    junk = os.path.join(harness.TMP, "junk.bin")
    with open(junk, "wb") as f:
        f.write(b"not metrics " * 100)
    out, err = cgi_login(db, junk, "nobody", "x")
    check(out.startswith("Status: 400") and "event=metrics_off" in err and
          "not a metrics file" in err, err)
    with open(junk, "rb") as f:
        check_eq(f.read(), b"not metrics " * 100, "left as it was")


def test_redis():
    why = redis_server.available()
    if why:
        harness.skip(why)
        return
    db, ann = STATE["db"], STATE["ann"]
    r = redis_server.RedisServer("metrics-redis")
    mport = harness.free_port()
    p, port = tw.start_worker(db, workers=1, env={
        "TOKENAUTH_WS_METRICS_PORT": str(mport), "TOKENAUTH_REDIS_URL": r.url,
        "TOKENAUTH_WS_PUBLIC_CHANNELS": "room.*", "TOKENAUTH_WS_PUBLISH_CHANNELS": "room.*"})
    harness.wait_port(mport)
    case("m15. Redis up: 1 worker up; a subscribe, a publish and its delivery are counted")
    check(harness.wait_for(lambda: metric(values(mport), "tokenauth_ws_redis_up") == 1), "redis up")

    async def go():
        a = await tw.session(port, "/?token=" + ann)
        check_eq(await tw.ask(a, {"command": "subscribe", "channel": "room.1"}),
                 {"subscribed": "room.1"}, "subscribed")
        check_eq(await tw.ask(a, {"command": "publish", "channel": "room.1", "data": 1}),
                 {"published": "room.1"}, "published")
        got = json.loads(await asyncio.wait_for(a.recv(), harness.HANG_S))
        check_eq(got.get("data"), 1, "delivered")
        s = values(mport)
        check_eq(metric(s, "tokenauth_ws_subscribes_total"), 1, "subscribes")
        check_eq(metric(s, "tokenauth_ws_publishes_total"), 1, "publishes")
        check_eq(metric(s, "tokenauth_ws_deliveries_total"), 1, "deliveries")
        check(harness.wait_for(lambda: metric(values(mport), "tokenauth_ws_channels") == 2),
              "channels: room.1 and the personal one")
        await a.close()
    tw.run(go())
    case("m16. Redis stopped: redis_up 0, one outage counted")
    r.stop()
    check(harness.wait_for(lambda: metric(values(mport), "tokenauth_ws_redis_up") == 0), "down")
    check_eq(metric(values(mport), "tokenauth_ws_redis_outages_total"), 1, "outages")
    harness.stop(p)


def test_cap_and_throttle():
    db, ann = STATE["db"], STATE["ann"]
    mport = harness.free_port()
    p, port = tw.start_worker(db, "--max-connections", "1", workers=1, env={
        "TOKENAUTH_WS_METRICS_PORT": str(mport), "TOKENAUTH_WS_AUTH_FAILURES": "2"})
    harness.wait_port(mport)
    case("m17. past the cap: capacity 1; past 2 failed tokens: throttled 1 (429)")

    held, head = tw.raw_connect(port, "/?token=" + ann)  # a session holding the one place
    check(head.startswith("HTTP/1.1 101"), head)
    check_eq(tw.handshake_outcome(port, "/?token=" + ann)[:2], ("closed", 1013), "cap")
    held.close()
    # the worker has seen it go (else the next handshake may be taken before its close is read,
    # and refused for capacity again)
    harness.wait_for(lambda: metric(values(mport), "tokenauth_ws_connections") == 0)
    for _ in range(2):
        check_eq(tw.handshake_outcome(port, "/?token=" + "y" * 40)[:2], ("closed", 4401), "bad")
    check_eq(tw.handshake_outcome(port, "/?token=" + "y" * 40), ("http", 429), "throttled")
    s = values(mport)
    check_eq(refused(s, "capacity"), 1, "capacity")
    check_eq(refused(s, "invalid_token"), 2, "invalid")
    check_eq(refused(s, "throttled"), 1, "throttled")
    check_eq(metric(s, "tokenauth_ws_handshakes_accepted_total"), 1, "accepted")
    harness.stop(p)


if __name__ == "__main__":
    setup()
    run_cases(test_endpoint, test_handshakes, test_connections_and_revocation,
              test_worker_restart, test_login_counts, test_mistakes, test_cap_and_throttle,
              test_redis)
    harness.stop(STATE["p"])
    finish("metrics")
