"""test_ws_dbwatch.py -- with several worker processes the parent watches the database files
and tells the workers of a change (SIGUSR1), instead of each worker checking twice a second
(docs/websocket.md, "Revocation with many processes"). The workers then check on their own only
every PROTOCOL_WATCHED_CHECK_MS (10 s) and at a token's expiry, so every case here waits well
under 10 s: a revocation that arrives proves the news (or the expiry timer) came, not the
fallback.

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
BOUND_S = 4  # well under the 10 s a worker waits on its own


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(c) for c in f.read().split()]


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
        await asyncio.sleep(1)  # past the first checks of the workers' start
        harness.sql(db, "DELETE FROM authtoken_token WHERE key = '%s'" % ann)
        for ws in socks:
            check_eq(await closed_within(ws, BOUND_S), (4401, "token revoked"), "close")
        case("w2. other users' sockets stay open")
        r = await tw.ask(other, {"command": "whoami"})
        check_eq(r["user"]["username"], "cat", "cat still served")
        case("w3. a worker killed with SIGKILL is replaced, and its successor hears the news too")
        before = children(p.pid)
        os.kill(before[0], signal.SIGKILL)
        check(wait_for(lambda: len(children(p.pid)) == 2 and children(p.pid) != before, 20),
              "replaced")
        time.sleep(1)
        socks = await open_on_every_worker(port, cat, 8)
        await asyncio.sleep(1)
        harness.sql(db, "UPDATE auth_user SET is_active = 0 WHERE username = 'cat'")
        for ws in socks:
            check_eq(await closed_within(ws, BOUND_S), (4401, "token revoked"), "close")
    tw.run(go())
    harness.stop(p)


def test_expiry_without_news():
    db, ann, _ = tw.db_with_users()
    case("w4. --workers 2: a token's expiry (TOKENAUTH_TOKEN_TTL) closes its socket on time, "
         "with no database change to tell of")
    p, port = tw.start_worker(db, env=dict(FAST, TOKENAUTH_TOKEN_TTL="3"), workers=2)
    harness.sql(db, "UPDATE authtoken_token SET created = datetime('now') WHERE key = '%s'" % ann)
    time.sleep(1)  # the write's news comes and goes before the socket opens

    async def go():
        ws = await tw.session(port, "/?token=" + ann)
        await tw.ask(ws, {"command": "whoami"})
        check_eq(await closed_within(ws, 3 + BOUND_S), (4401, "token expired"), "close")
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
