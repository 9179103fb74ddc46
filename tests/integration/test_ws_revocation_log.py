"""test_ws_revocation_log.py -- revocation by the change log at scale (issue "Scale the hot
paths"): many live sockets, a steady stream of logins, and the number of sessions ws-worker
checks again against the database, counted from its revocation_check log lines (rows=,
rechecked=, full=). Counts, never time.

20,000 authenticated sockets (TOKENAUTH_TEST_SOCKETS, lowered to what the descriptor limit
allows) held by wsload --mode idle, one process per holder user, against the optimised
ws-worker with two worker processes; logins and logouts through the optimised login-fcgi as
CGI. Every revocation case of test_ws_worker.py and test_ws_gaps.py still runs there: this
suite only adds the counts."""
import os
import re
import resource
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import TOOLS, case, check, check_eq, finish, run_cases, wait_for  # noqa: E402

BUILD_DIR = os.path.dirname(TOOLS)
WORKER = os.path.join(BUILD_DIR, "ws-worker")
LOGIN = os.path.join(BUILD_DIR, "login-fcgi")
WSLOAD = os.path.join(TOOLS, "wsload")
N_HOLDERS = 10   # users holding the sockets, one wsload each
N_CHURNERS = 20  # users who only log in and out
TICK_MS = 200
RESERVE = 400    # descriptors ws-worker needs beyond its cap


def log_lines(port, since=0):
    with open(os.path.join(harness.OUT, "ws-worker-%d.log" % port), errors="replace") as f:
        return f.read().splitlines()[since:]


def ticks(lines):
    """The revocation_check lines as dicts of their numbers (and why)."""
    out = []
    for line in lines:
        if "event=revocation_check" in line:
            d = {k: int(v) for k, v in re.findall(r" (rows|rechecked|closed|full|sessions)=(\d+)",
                                                  line)}
            d["line"] = line
            out.append(d)
    return out


def rows_read(port, start):
    """Log rows read by the workers' ticks since line start."""
    return sum(t.get("rows", 0) for t in ticks(log_lines(port, start)))


def wait_ticks(n=4):
    time.sleep(n * TICK_MS / 1000.0)


def cgi(path, body=b"", env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    e.update({"TOKENAUTH_DB": DB[0], "TOKENAUTH_PASSWORD_ITERATIONS": "1",
              "TOKENAUTH_UPDATE_LAST_LOGIN": "1", "GATEWAY_INTERFACE": "CGI/1.1",
              "REQUEST_METHOD": "POST", "SCRIPT_NAME": path, "REQUEST_URI": path,
              "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/x-www-form-urlencoded",
              "CONTENT_LENGTH": str(len(body))})
    e.update(env or {})
    r = subprocess.run([LOGIN], input=body, env=e, capture_output=True, timeout=60)
    return r.stdout.decode("latin-1")


DB = [None]


def n_sockets():
    """What the descriptor limits allow: each of two workers may get them all but its reserve."""
    want = int(os.environ.get("TOKENAUTH_TEST_SOCKETS", "20000"))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return want, want
    return min(want, 2 * (hard - RESERVE)), hard - RESERVE


def hold(port, key, n):
    """One wsload holding n authenticated idle sockets; returns it once they are all open."""
    p = subprocess.Popen([WSLOAD, "--mode", "idle", "-c", str(n), "-d", "0", "--concurrency",
                          "256", "-t", "1", "--port", str(port), "--token", key],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         start_new_session=True)
    harness._procs.append(p)
    line = p.stdout.readline()
    return p, line


def test_counts():
    if not all(os.access(x, os.X_OK) for x in (WORKER, LOGIN, WSLOAD)):
        harness.skip("the optimised build (make all) is missing")
        return
    total, cap = n_sockets()
    per = total // N_HOLDERS
    users = [("h%d" % i, "pw") for i in range(N_HOLDERS)] + \
        [("c%d" % i, "pw") for i in range(N_CHURNERS)]
    DB[0] = db = harness.make_db("revlog.sqlite3", users=users)
    holders = [harness.token_of(db, "h%d" % i) for i in range(N_HOLDERS)]
    port = harness.free_port()
    p = harness.start([WORKER, "--db", db, "--port", str(port), "--workers", "2",
                       "--max-connections", str(cap)],
                      # no pings, a long handshake timeout: on a busy shared machine opening
                      # the sockets takes minutes, and idle ones must not be dropped meanwhile
                      env={"TOKENAUTH_WS_REVOCATION_CHECK_MS": str(TICK_MS),
                           "TOKENAUTH_WS_PING_INTERVAL": "0",
                           "TOKENAUTH_WS_HANDSHAKE_TIMEOUT": "120"},
                      log_name="ws-worker-%d" % port)
    harness.wait_port(port)

    case("r1. %d authenticated sockets open, %d for each of %d users" % (per * N_HOLDERS, per,
                                                                        N_HOLDERS))
    loads = []
    for key in holders:
        lp, line = hold(port, key, per)
        loads.append(lp)
        check("%d of %d connections open" % (per, per) in line, line)
    wait_ticks()
    start = len(log_lines(port))
    check_eq(len([line for line in log_lines(port) if "event=close " in line]), 0, "closes")

    case("r2. a steady stream of logins (each writing last_login): no session checked again")
    n_logins = 0
    for round_ in range(3):
        for i in range(N_CHURNERS):
            out = cgi("/api/login/", b"username=c%d&password=pw" % i)
            n_logins += out.startswith("Status: 200")
        wait_ticks(1)
    check_eq(n_logins, 3 * N_CHURNERS, "logins")
    check(harness.sql(db, "SELECT count(*) FROM auth_user WHERE last_login IS NOT NULL")
          .strip() == str(N_CHURNERS), "the logins wrote")
    wait_ticks()
    seen = ticks(log_lines(port, start))
    check_eq(sum(t.get("rechecked", 0) for t in seen), 0, "rechecked during logins")
    check_eq([t["line"] for t in seen if t.get("full")], [], "full checks")
    start += len(log_lines(port, start))

    case("r3. %d logouts of users without sockets: %d log rows read by each worker, no session "
         "checked" % (N_CHURNERS, N_CHURNERS))
    for i in range(N_CHURNERS):
        key = harness.token_of(db, "c%d" % i)
        out = cgi("/api/logout/", env={"HTTP_AUTHORIZATION": "Token " + key})
        check(out.startswith("Status: 204"), out)
    # each worker reads the rows at a tick of its own, later on a loaded host: wait for both,
    # then a few ticks more, in which a row read twice would show
    wait_for(lambda: rows_read(port, start) >= 2 * N_CHURNERS)
    wait_ticks()
    seen = ticks(log_lines(port, start))
    check_eq(sum(t.get("rows", 0) for t in seen), 2 * N_CHURNERS, "rows read (two workers)")
    check_eq(sum(t.get("rechecked", 0) for t in seen), 0, "rechecked")
    check_eq([t["line"] for t in seen if t.get("full")], [], "full checks")
    start += len(log_lines(port, start))

    case("r4. deleting one holder's token at the sqlite3 prompt closes its %d sockets, and only "
         "those; the sessions checked are that user's, not the %d" % (per, per * N_HOLDERS))
    victim = harness.sql(db, "SELECT id FROM auth_user WHERE username = 'h0'").strip()
    harness.sql(db, "DELETE FROM authtoken_token WHERE key = '%s'" % holders[0])
    deadline = time.monotonic() + harness.HANG_S
    revoked = []
    while time.monotonic() < deadline:
        revoked = [line for line in log_lines(port, start) if "event=revoke " in line]
        if len(revoked) >= per:
            break
        time.sleep(0.2)
    wait_for(lambda: rows_read(port, start) >= 2)
    wait_ticks()
    revoked = [line for line in log_lines(port, start) if "event=revoke " in line]
    check_eq(len(revoked), per, "sockets revoked")
    check(all(("user_id=%s " % victim) in line for line in revoked), revoked[:3])
    seen = ticks(log_lines(port, start))
    rechecked = sum(t.get("rechecked", 0) for t in seen)
    check(1 <= rechecked <= per, "rechecked=%d for %d sockets of the user" % (rechecked, per))
    check_eq(sum(t.get("rows", 0) for t in seen), 2, "one row read by each worker")
    check_eq([t["line"] for t in seen if t.get("full")], [], "full checks")
    for lp in loads:
        lp.send_signal(signal.SIGTERM)
    for lp in loads:
        harness.stop(lp)
    harness.stop(p)


if __name__ == "__main__":
    run_cases(test_counts)
    finish("test_ws_revocation_log")
