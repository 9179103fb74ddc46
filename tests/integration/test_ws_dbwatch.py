"""test_ws_dbwatch.py -- with several worker processes the parent watches the database files
and tells the workers of a change (SIGUSR1), instead of each worker checking twice a second
(docs/websocket.md, "Revocation with many processes"). The workers then check on their own only
every PROTOCOL_WATCHED_CHECK_MS (10 s) and at a token's expiry, so every case here waits well
under 10 s: a revocation that arrives proves the news (or the expiry timer) came, not the
fallback. When the sockets were closed is read from the worker's log (the ts= of its revoke
lines, written when it decides), not from when this test saw the close, so that a loaded host
delays the measure by the worker's lateness only.

Same helpers as test_ws_worker.py (imported): the real $TOKENAUTH_BIN/ws-worker, a temporary
database, python3-websockets as the client."""
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import case, check, check_eq, finish, run_cases, wait_for  # noqa: E402
import test_ws_worker as tw  # noqa: E402

FAST = {"TOKENAUTH_WS_REVOCATION_CHECK_MS": "200"}
# Under the 10 s a worker waits on its own, and generous: the parent's look (every 200 ms), its
# signal and the worker's check may each wait for a turn on a loaded host. A worker with only
# the fallback would close a socket within 6 s of a write in 60% of cases, so a run with 8
# sockets on 2 workers still tells them apart most of the time.
BOUND_S = 6


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


def first_checks(port):
    """How many workers logged their first (full) check of the database."""
    with open(os.path.join(harness.OUT, "ws-worker-%d.log" % port), errors="replace") as f:
        return sum('why="first check of this database file"' in line for line in f)


def close_delays(port, since, n):
    """Seconds from since (a time.time()) to the worker's first n revoke lines (a session closed
    4401, logged as it is decided) after it, once there are n of them (None for each missing)."""
    def delays():
        found = []
        with open(os.path.join(harness.OUT, "ws-worker-%d.log" % port), errors="replace") as f:
            for line in f:
                if " event=revoke " in line:
                    at = tw.log_time(line)
                    if at >= since - 0.001:  # the log's ts= has milliseconds
                        found.append(at - since)
        return found
    wait_for(lambda: len(delays()) >= n)  # held lines are written a moment later
    got = delays()[:n]
    return got + [None] * (n - len(got))


def revoked_in_time(closes, delays):
    """(code, reason, closed within BOUND_S on the worker's clock) of each socket."""
    return [(c[0], c[1], d is not None and d < BOUND_S) if c else None
            for c, d in zip(closes, delays)]


async def closed_within(ws, seconds):
    """(code, reason) of the server's close within seconds, or None."""
    try:
        code, reason, _ = await asyncio.wait_for(tw.close_of(ws), seconds)
        return code, reason
    except asyncio.TimeoutError:
        return None


async def open_on_every_worker(port, key, n):
    """n sockets of key (SO_REUSEPORT spreads them over the workers)."""
    out = []
    for _ in range(n):
        ws = await tw.session(port, "/?token=" + key)
        await tw.ask(ws, {"command": "whoami"})
        out.append(ws)
    return out


def test_revocation_news():
    db, ann, _ = tw.db_with_users()
    harness.add_user(db, "cat", "pw")
    cat = harness.token_of(db, "cat")
    tw.KEYS_SEEN.add(cat)
    p, port = tw.start_worker(db, env=FAST, workers=2)
    check(wait_for(lambda: len(children(p.pid)) == 2), "two workers")

    async def go():
        case("w1. --workers 2: a DELETE at the sqlite3 prompt closes the token's sockets on "
             "every worker within %d s (the parent's news, not a worker's own 10 s check)"
             % BOUND_S)
        socks = await open_on_every_worker(port, ann, 8)
        other = await tw.session(port, "/?token=" + cat)
        # past each worker's first check (a full one): else that check could be what closes
        wait_for(lambda: first_checks(port) >= 2)
        since = time.time()
        harness.sql(db, "DELETE FROM authtoken_token WHERE key = '%s'" % ann)
        closes = [await closed_within(ws, harness.HANG_S) for ws in socks]
        for got in revoked_in_time(closes, close_delays(port, since, len(socks))):
            check_eq(got, (4401, "token revoked", True), "close, within %d s" % BOUND_S)
        case("w2. other users' sockets stay open")
        r = await tw.ask(other, {"command": "whoami"})
        check_eq(r["user"]["username"], "cat", "cat still served")
        case("w3. a worker killed with SIGKILL is replaced, and its successor hears the news too")
        before = children(p.pid)
        os.kill(before[0], signal.SIGKILL)
        check(wait_for(lambda: len(children(p.pid)) == 2 and children(p.pid) != before),
              "replaced")
        # the successor's lws context is up (it logged that it listens), or the sockets all go
        # to the survivor and the successor hears nothing
        wait_for(lambda: set(children(p.pid)) <= tw.listening(port))
        socks = await open_on_every_worker(port, cat, 8)
        wait_for(lambda: first_checks(port) >= 3)  # the successor's too
        since = time.time()
        harness.sql(db, "UPDATE auth_user SET is_active = 0 WHERE username = 'cat'")
        closes = [await closed_within(ws, harness.HANG_S) for ws in socks]
        for got in revoked_in_time(closes, close_delays(port, since, len(socks))):
            check_eq(got, (4401, "token revoked", True), "close, within %d s" % BOUND_S)
    tw.run(go())
    harness.stop(p)


def test_expiry_without_news():
    db, ann, _ = tw.db_with_users()
    case("w4. --workers 2: a token's expiry (TOKENAUTH_TOKEN_TTL) closes its socket on time, "
         "with no database change to tell of")
    p, port = tw.start_worker(db, env=dict(FAST, TOKENAUTH_TOKEN_TTL="3"), workers=2)
    since = time.time()
    # No wait for the write's news: one that comes after the socket opened has it checked while
    # its token is still good, and the socket must open (and be answered) within the 3 s.
    harness.sql(db, "UPDATE authtoken_token SET created = "  # to the millisecond: all of 3 s
                "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now') WHERE key = '%s'" % ann)

    async def go():
        ws = await tw.session(port, "/?token=" + ann)
        await tw.ask(ws, {"command": "whoami"})
        close = await closed_within(ws, harness.HANG_S)
        delay = close_delays(port, since, 1)[0]
        check_eq(close and (close[0], close[1], delay is not None and delay < 3 + BOUND_S),
                 (4401, "token expired", True), "close, within %d s" % (3 + BOUND_S))
    tw.run(go())
    harness.stop(p)


def test_signal_alone():
    db, ann, _ = tw.db_with_users()
    case("w5. SIGUSR1 to a lone worker (--workers 1, no parent) or to a supervised one: it "
         "checks, and goes on serving")
    p, port = tw.start_worker(db, env=FAST)
    os.kill(p.pid, signal.SIGUSR1)
    check(tw.handshake_outcome(port, "/?token=" + ann)[0] == "open", "lone worker serves")
    harness.stop(p)
    p, port = tw.start_worker(db, env=FAST, workers=2)
    check(wait_for(lambda: len(children(p.pid)) == 2), "two workers")
    kids = children(p.pid)
    for k in kids:
        os.kill(k, signal.SIGUSR1)
    time.sleep(0.5)
    check_eq(children(p.pid), kids, "no worker died of it")
    check(tw.handshake_outcome(port, "/?token=" + ann)[0] == "open", "served")
    harness.stop(p)


if __name__ == "__main__":
    os.makedirs(harness.OUT, exist_ok=True)
    run_cases(test_revocation_news, test_expiry_without_news, test_signal_alone)
    finish("ws-worker-dbwatch")
