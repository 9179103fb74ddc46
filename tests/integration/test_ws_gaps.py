"""test_ws_gaps.py -- ws-worker cases for the gaps an audit found (issue 3): a replaced or
deleted database file, a flood of silent connections at the descriptor limit, long query
parameters, trailing bytes after a message, a Django file in journal_mode=delete, --check, and
more edge cases of the handshake and the message size limit.

Same helpers as test_ws_worker.py (imported): the real $TOKENAUTH_BIN/ws-worker on a free
loopback port, a temporary database, python3-websockets and raw sockets as clients."""
import asyncio
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import case, check, check_eq, finish, run_cases  # noqa: E402
import test_ws_worker as tw  # noqa: E402

WORKER = tw.WORKER
FAST = {"TOKENAUTH_WS_REVOCATION_CHECK_MS": "200"}


def log_of(port):
    with open(os.path.join(harness.OUT, "ws-worker-%d.log" % port), errors="replace") as f:
        return f.read()


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def opens(port, key):
    """Whether a handshake with key opens a socket that answers (False on any error)."""
    try:
        return tw.handshake_outcome(port, "/?token=" + key)[0] == "open"
    except Exception:
        return False


def test_db_replaced():
    db, ann, _ = tw.db_with_users()
    case("g1. a database file replaced by a copy lacking the token: the socket gets 4401")
    p, port = tw.start_worker(db, env=FAST)
    copy = db + ".new"

    async def replaced():
        ws = await tw.session(port, "/?token=" + ann)
        await tw.ask(ws, {"command": "whoami"})
        subprocess.run(["sqlite3", db, ".backup '%s'" % copy], check=True)
        harness.sql(copy, "DELETE FROM authtoken_token")
        os.replace(copy, db)
        return await tw.close_of(ws)
    code, reason, _ = tw.run(replaced())
    check_eq((code, reason), (4401, "token revoked"), "close after os.replace")
    check(wait_for(lambda: "event=db_replaced" in log_of(port)), "db_replaced logged")
    check_eq(tw.handshake_outcome(port, "/?token=" + ann)[:3], ("closed", 4401, "invalid token"),
             "a new handshake reads the new file")

    case("g2. a database file deleted: live sockets close with 1011, new ones too; back: served")
    harness.sql(db, "INSERT INTO authtoken_token (key, created, user_id) VALUES ('%s', "
                "strftime('%%Y-%%m-%%d %%H:%%M:%%f000', 'now'), 1)" % ("a" * 40))
    tw.KEYS_SEEN.add("a" * 40)
    time.sleep(0.5)
    saved = db + ".saved"
    subprocess.run(["sqlite3", db, ".backup '%s'" % saved], check=True)

    async def deleted():
        ws = await tw.session(port, "/?token=" + "a" * 40)
        await tw.ask(ws, {"command": "whoami"})
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        return await tw.close_of(ws)
    code, reason, _ = tw.run(deleted())
    check_eq((code, reason), (1011, "database unavailable"), "close after rm")
    check_eq(tw.handshake_outcome(port, "/?token=" + "a" * 40)[:3],
             ("closed", 1011, "database unavailable"), "handshake while missing")
    os.replace(saved, db)
    check(wait_for(lambda: opens(port, "a" * 40)),
          "served again once the file is back")
    harness.stop(p)


def test_journal_mode():
    case("g3. a database in journal_mode=delete is switched to WAL when ws-worker opens it")
    db, ann, _ = tw.db_with_users()
    subprocess.run(["sqlite3", db, "PRAGMA journal_mode=DELETE"], check=True,
                   capture_output=True)
    mode = lambda: subprocess.run(["sqlite3", db, "PRAGMA journal_mode"], capture_output=True,
                                  text=True).stdout.strip()
    check_eq(mode(), "delete", "before")
    p, port = tw.start_worker(db)
    check(wait_for(lambda: "event=db_wal" in log_of(port)), "db_wal logged")
    check_eq(mode(), "wal", "after")
    check_eq(tw.handshake_outcome(port, "/?token=" + ann)[0], "open", "served")
    harness.stop(p)
    case("g4. a delete-mode file ws-worker cannot write: served, with a warning naming the fix")
    db, ann, _ = tw.db_with_users()
    subprocess.run(["sqlite3", db, "PRAGMA journal_mode=DELETE"], check=True,
                   capture_output=True)
    if os.geteuid() == 0:
        harness.skip("root writes read-only files")
    else:
        os.chmod(db, 0o444)
        p, port = tw.start_worker(db)
        check(wait_for(lambda: "journal_mode=WAL" in log_of(port)), "warning logged")
        check_eq(tw.handshake_outcome(port, "/?token=" + ann)[0], "open", "served")
        harness.stop(p)


def test_long_params_and_trailing():
    db, ann, _ = tw.db_with_users()
    p, port = tw.start_worker(db)
    case("g5. a query parameter over 511 bytes before the token does not hide it")
    r = tw.handshake_outcome(port, "/?x=%s&token=%s" % ("a" * 600, ann))
    check_eq(r[0], "open", r)
    case("g6. a second, over-long token parameter makes the token invalid (4401)")
    r = tw.handshake_outcome(port, "/?token=%s&token=%s" % (ann, "b" * 600))
    check_eq(r[:3], ("closed", 4401, "invalid token"), "conflicting long copy")
    r = tw.handshake_outcome(port, "/?token=%s" % ("b" * 600))
    check_eq(r[:3], ("closed", 4401, "invalid token"), "a long token alone")

    case("g7. bytes after the JSON object: invalid_json, the socket stays open")

    async def trailing():
        ws = await tw.session(port, "/?token=" + ann)
        replies = [await tw.ask(ws, m) for m in ('{"command":"whoami"} x',
                                                 '{"command":"whoami"}{"command":"whoami"}',
                                                 '{"command":"whoami"}\u0000')]
        last = await tw.ask(ws, '{"command":"whoami"} \n')
        await ws.close()
        return replies, last
    replies, last = tw.run(trailing())
    check_eq([r.get("error") for r in replies], ["invalid_json"] * 3, replies)
    check_eq(last.get("user", {}).get("username"), "ann", "trailing whitespace is fine")
    harness.stop(p)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_fd_flood():
    db, ann, _ = tw.db_with_users()
    case("g8. more silent connections than descriptors: no busy loop, served after the flood")

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120))
    port = harness.free_port()
    p = harness.start([WORKER, "--db", db, "--port", str(port), "--workers", "1"],
                      log_name="ws-worker-%d" % port, preexec_fn=low_limit)
    harness.wait_port(port)
    socks = []
    for _ in range(200):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    time.sleep(0.5)
    c0 = cpu_seconds(p.pid)
    time.sleep(3)
    used = cpu_seconds(p.pid) - c0
    check(used < 1.0, "worker CPU over 3 s: %.2f s" % used)
    check(p.poll() is None, "still running")
    check("event=refuse_flood" in log_of(port), "the refusal is logged")
    for s in socks:
        s.close()
    check(wait_for(lambda: opens(port, ann)),
          "a good client connects once the flood is gone")
    harness.stop(p)

    case("g9. pending handshakes are capped: past cap + reserve, new connections close at once")
    p, port = tw.start_worker(db, "--max-connections", "4")
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(300)]
    time.sleep(0.5)
    n_fds = len(os.listdir("/proc/%d/fd" % p.pid))
    check(n_fds < 4 + 256 + 40, "descriptors held: %d" % n_fds)
    socks[-1].settimeout(5)
    try:
        data = socks[-1].recv(10)
    except OSError:
        data = "still open"
    check_eq(data, b"", "the last one is closed by the worker")
    for s in socks:
        s.close()
    check(wait_for(lambda: opens(port, ann)),
          "a good client connects once the flood is gone")
    harness.stop(p)


def test_check():
    db, _, _ = tw.db_with_users()
    case("g10. --check refuses what the start refuses: a bind address that is a name")
    r = subprocess.run([WORKER, "--db", db, "--bind", "localhost", "--check"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode != 0 and "TOKENAUTH_WS_BIND" in r.stderr, (r.returncode, r.stderr[-300:]))
    r = subprocess.run([WORKER, "--db", db, "--bind", "::1", "--check"], capture_output=True,
                       text=True, timeout=10)
    check_eq(r.returncode, 0, "a numeric IPv6 address is fine")
    case("g11. --check with a missing database: valid (the worker starts and retries), warned")
    r = subprocess.run([WORKER, "--db", db + ".missing", "--check"], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode == 0 and "warning" in r.stderr and ".missing" in r.stderr,
          (r.returncode, r.stderr[-300:]))
    check(not os.path.exists(db + ".missing"), "not created")


if __name__ == "__main__":
    os.makedirs(harness.OUT, exist_ok=True)
    run_cases(test_db_replaced, test_journal_mode, test_long_params_and_trailing,
              test_fd_flood, test_check)
    finish("ws-worker-gaps")
