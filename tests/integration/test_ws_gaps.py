"""test_ws_gaps.py -- ws-worker cases for the gaps an audit found (issue 3): a replaced or
deleted database file, a flood of silent connections at the descriptor limit, long query
parameters, trailing bytes after a message, a Django file in journal_mode=delete, --check, and
more edge cases of the handshake and the message size limit.

Same helpers as test_ws_worker.py (imported): the real $TOKENAUTH_BIN/ws-worker on a free
loopback port, a temporary database, python3-websockets and raw sockets as clients."""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import (case, check, check_eq, finish, run_cases,  # noqa: E402
                     wait_for)
import test_ws_worker as tw  # noqa: E402

WORKER = tw.WORKER
FAST = {"TOKENAUTH_WS_REVOCATION_CHECK_MS": "200"}


def log_of(port):
    with open(os.path.join(harness.OUT, "ws-worker-%d.log" % port), errors="replace") as f:
        return f.read()


def opens(port, key):
    """Whether a handshake with key opens a socket that answers (False on any error)."""
    try:
        return tw.handshake_outcome(port, "/?token=" + key)[0] == "open"
    except Exception:
        return False


def serves_then_stop(p, port, key, what="serves"):
    """Checks that a socket with key opens on port (what: the check's detail), then stops p."""
    check(opens(port, key), what)
    harness.stop(p)


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

    case("g22. \\u0000 inside a JSON string: invalid_json (cJSON would cut the string), open")

    async def nul_escape():
        ws = await tw.session(port, "/?token=" + ann)
        replies = [await tw.ask(ws, m) for m in (
            {"command": "Say hello !", "data_string": "a\x00b"},  # json.dumps writes \u0000
            '{"command": "whoami", "x": ["\\u0000"]}')]
        escaped = await tw.ask(ws, '{"command": "Say hello !", "data_string": "\\\\u0000"}')
        await ws.close()
        return replies, escaped
    replies, escaped = tw.run(nul_escape())
    check_eq(replies, [{"error": "invalid_json",
                        "detail": "\\u0000 in a string is not supported"}] * 2, "replies")
    check_eq(escaped.get("data_string_bacK"), "\\u0000", "an escaped backslash is fine")
    harness.stop(p)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_fd_flood():
    db, ann, _ = tw.db_with_users()
    case("g8. more silent connections than descriptors: no busy loop, served after the flood")
    p, port = tw.start_worker(db, nofile=(120, 120))
    socks = []
    for _ in range(200):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    # the refusals begun (the work of accepting what fits is done): the CPU measure starts
    check(wait_for(lambda: "event=refuse_flood" in log_of(port)), "the refusal is logged")
    c0 = cpu_seconds(p.pid)
    time.sleep(3)
    used = cpu_seconds(p.pid) - c0
    check(used < 1.0, "worker CPU over 3 s: %.2f s" % used)
    check(p.poll() is None, "still running")
    for s in socks:
        s.close()
    check(wait_for(lambda: opens(port, ann)),
          "a good client connects once the flood is gone")
    harness.stop(p)

    case("g9. pending handshakes are capped: past cap + reserve, new connections close at once")
    p, port = tw.start_worker(db, "--max-connections", "4")
    socks = [socket.create_connection(("127.0.0.1", port), timeout=harness.HANG_S)
             for _ in range(300)]
    socks[-1].settimeout(harness.HANG_S)
    try:
        data = socks[-1].recv(10)
    except OSError:
        data = "still open"
    check_eq(data, b"", "the last one is closed by the worker")
    # counted once the worker has come to the last one, so all 300 were before it
    n_fds = len(os.listdir("/proc/%d/fd" % p.pid))
    check(n_fds < 4 + 256 + 40, "descriptors held: %d" % n_fds)
    for s in socks:
        s.close()
    check(wait_for(lambda: opens(port, ann)),
          "a good client connects once the flood is gone")
    harness.stop(p)

    case("g9b. no per-address limit (TOKENAUTH_WS_ADDR_HANDSHAKES=0): the refusal episode past "
         "4 + 256 ends a second after its last refusal, while the room is still full, logged "
         "once with its count")
    p, port = tw.start_worker(db, "--max-connections", "4",
                              env={"TOKENAUTH_WS_ADDR_HANDSHAKES": "0"})
    began = time.monotonic()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=harness.HANG_S)
             for _ in range(300)]
    connect_s = time.monotonic() - began

    def over():
        return [line for line in log_of(port).splitlines() if "event=refuse_flood_over" in line]
    check(wait_for(lambda: sum(int(line.split("refused=")[1].split()[0]) for line in over())
                   >= 40), "over line")
    # One episode, unless this test was kept from connecting for a second or more (a loaded
    # host): each pause that long ends one, so at most one per second the connects took.
    check(1 <= len(over()) <= int(connect_s) + 1 and
          sum(int(line.split("refused=")[1].split()[0]) for line in over()) == 40,
          (connect_s, over()))
    check_eq(log_of(port).count("event=refuse_flood "), len(over()),
             "refuse_flood lines (one per over line)")
    for s in socks:
        s.close()
    harness.stop(p)


def soft_nofile(pid):
    """The soft "Max open files" limit of a running process."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def auto_split(total, per):
    """main.c's --workers 0 rule: (processes, cap of each) for total connections, per at most."""
    n = max(os.cpu_count() or 1, -(-(total + total // 4) // per))
    share = -(-total // n)
    return n, share + share // 4 + 16


def start_split(db, total, event_lib, nofile):
    """ws-worker --workers 0 --max-connections total, TOKENAUTH_WS_EVENT_LIB event_lib, under
    nofile = (soft, hard) descriptor limits; returns (process, port)."""
    return tw.start_worker(db, "--max-connections", str(total), workers=0, nofile=nofile,
                           env={"TOKENAUTH_WS_EVENT_LIB": event_lib})


def test_default_cap():
    db, ann, _ = tw.db_with_users()
    case("g23. the default cap is 1,024 per process; the descriptor limit is the cap + 320")
    for flags, cap in [([], 1024), (["--max-connections", "5000"], 5000)]:
        p, port = tw.start_worker(db, *flags, nofile=(1024, 20000))
        # the listen line follows the listener by a moment: the port may answer first
        check(wait_for(lambda: "at most %d connections" % cap in log_of(port)),
              (flags, log_of(port)[-300:]))
        check_eq(soft_nofile(p.pid), cap + 320, "soft descriptor limit with %s" % flags)
        serves_then_stop(p, port, ann, "serves with %s" % flags)
    case("g24. a hard limit below the default cap: the cap shrinks to fit, the worker starts")
    p, port = tw.start_worker(db, nofile=(700, 700))
    check(wait_for(lambda: "at most 380 connections" in log_of(port)), log_of(port)[-300:])
    check_eq(soft_nofile(p.pid), 700, "soft descriptor limit")
    serves_then_stop(p, port, ann)
    case("g25. --workers 0 with 20,000 connections: enough processes of at most 2,048 + a "
         "quarter + 16 each, each within its own descriptor limit, on libev (auto)")
    n, cap = auto_split(20000, 2048)
    p, port = start_split(db, 20000, "auto", nofile=(1024, 20000))
    listening = "event=listen msg=\"ws://127.0.0.1:%d/ pid" % port
    check(wait_for(lambda: log_of(port).count(listening) == n, 60), log_of(port)[-600:])
    check_eq(log_of(port).count("libev loop, at most %d connections, " % cap), n,
             "each worker's loop and cap")
    check("%d processes of at most %d connections each, libev loop" % (n, cap) in log_of(port),
          log_of(port)[-600:])
    children = [int(c) for c in open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()]
    check_eq(len(children), n, "worker processes")
    check_eq(sorted({soft_nofile(c) for c in children}), [cap + 320], "each one's limit")
    serves_then_stop(p, port, ann)
    case("g26. --workers 0 under a hard limit of 700: 380 + 320 fit in it, so more processes, "
         "each small enough for poll (auto)")
    n, _ = auto_split(5000, 380)
    p, port = start_split(db, 5000, "auto", nofile=(700, 700))
    check(wait_for(lambda: "%d processes of at most" % n in log_of(port), 60), log_of(port)[-600:])
    check(wait_for(lambda: "poll loop, at most" in log_of(port)), log_of(port)[-300:])
    serves_then_stop(p, port, ann)
    case("g27. TOKENAUTH_WS_EVENT_LIB=poll with --workers 0: at most 256 + a quarter + 16 per "
         "process, poll's size")
    n, cap = auto_split(5000, 256)
    p, port = start_split(db, 5000, "poll", nofile=(1024, 20000))
    check(wait_for(lambda: "%d processes of at most %d connections each, poll loop" % (n, cap)
                   in log_of(port), 60), log_of(port)[-600:])
    serves_then_stop(p, port, ann)


def test_event_loop():
    db, ann, _ = tw.db_with_users()
    case("g28. the event loop: auto is poll at the default cap, libev above 1,024; libev forced "
         "serves at any cap")
    for env, flags, loop in [({}, [], "poll"), ({}, ["--max-connections", "2000"], "libev"),
                             ({"TOKENAUTH_WS_EVENT_LIB": "libev"}, [], "libev"),
                             ({"TOKENAUTH_WS_EVENT_LIB": "poll"}, ["--max-connections", "2000"],
                              "poll")]:
        env = dict({"TOKENAUTH_WS_EVENT_LIB": "auto"}, **env)
        p, port = tw.start_worker(db, *flags, env=env)
        check(wait_for(lambda: "%s loop, at most" % loop in log_of(port)), (env, flags))
        serves_then_stop(p, port, ann, ("serves", env, flags))
    case("g29. an unknown event loop is refused at start and by --check, naming what is accepted")
    for argv in ([WORKER, "--db", db, "--check"], [WORKER, "--db", db, "--port", "1"]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, TOKENAUTH_WS_EVENT_LIB="epoll"))
        check(r.returncode == 2 and "expected auto, poll or libev" in r.stderr,
              (r.returncode, r.stderr[-300:]))



def contexts_line(port):
    """The number of lws contexts the worker on port logged it runs, or None."""
    m = re.search(r"at most \d+ connections, (\d+) lws contexts?\"", log_of(port))
    return int(m.group(1)) if m else None


def test_contexts():
    db = harness.make_db("contexts.sqlite3", users=[("ann", "pw", {}), ("cy", "pw", {})])
    ann, cy = harness.token_of(db, "ann"), harness.token_of(db, "cy")
    tw.KEYS_SEEN.update([ann, cy])
    case("g31. TOKENAUTH_WS_CONTEXT_SIZE=10, 40 connections on libev: 4 lws contexts on the one "
         "loop; 40 sockets of two users open and answer; deleting one user's token closes all of "
         "theirs with 4401 and the other's still answer; SIGTERM closes those with 1001 and the "
         "worker exits 0")
    p, port = tw.start_worker(db, "--max-connections", "40",
                              env=dict(FAST, TOKENAUTH_WS_EVENT_LIB="libev",
                                       TOKENAUTH_WS_CONTEXT_SIZE="10"))
    check(wait_for(lambda: contexts_line(port) == 4), log_of(port)[-400:])

    async def go():
        socks = [await tw.session(port, "/?token=" + (ann if i % 2 else cy)) for i in range(40)]
        names = [(await tw.ask(ws, {"command": "whoami"})).get("user", {}).get("username")
                 for ws in socks]
        harness.sql(db, "DELETE FROM authtoken_token WHERE key = '%s'" % ann)
        revoked = [(await tw.close_of(ws))[:1] for ws in socks[1::2]]
        still = [(await tw.ask(ws, {"command": "whoami"})).get("user", {}).get("username")
                 for ws in socks[0::2]]
        os.killpg(p.pid, signal.SIGTERM)
        stopped = [(await tw.close_of(ws))[:1] for ws in socks[0::2]]
        return names, revoked, still, stopped
    names, revoked, still, stopped = asyncio.run(go())
    check_eq(names, ["cy", "ann"] * 20, "who each socket is")
    check_eq(revoked, [(4401,)] * 20, "close codes of the revoked user's sockets")
    check_eq(still, ["cy"] * 20, "the other user's sockets after the revocation")
    check_eq(stopped, [(1001,)] * 20, "close codes at SIGTERM")
    rc = harness.exit_status(p)
    check_eq(rc, 0, "exit status")
    case("g32. how many lws contexts: one under poll and with TOKENAUTH_WS_CONTEXT_SIZE=0, at "
         "most 16 however small the size; a size that is not a number from 0 is refused at start "
         "naming the setting")
    for env, want in [({"TOKENAUTH_WS_EVENT_LIB": "poll", "TOKENAUTH_WS_CONTEXT_SIZE": "10"}, 1),
                      ({"TOKENAUTH_WS_EVENT_LIB": "libev", "TOKENAUTH_WS_CONTEXT_SIZE": "0"}, 1),
                      ({"TOKENAUTH_WS_EVENT_LIB": "libev", "TOKENAUTH_WS_CONTEXT_SIZE": "1"}, 16)]:
        p, port = tw.start_worker(db, "--max-connections", "40", env=env)
        check(wait_for(lambda: contexts_line(port) == want), (env, log_of(port)[-400:]))
        serves_then_stop(p, port, cy, ("serves", env))
    for bad in ["-1", "many"]:
        r = subprocess.run([WORKER, "--db", db, "--port", "1"], capture_output=True, text=True,
                           timeout=10, env=dict(os.environ, TOKENAUTH_WS_CONTEXT_SIZE=bad))
        check(r.returncode == 2 and "TOKENAUTH_WS_CONTEXT_SIZE" in r.stderr,
              (bad, r.returncode, r.stderr[-300:]))


def test_context_failure():
    db = harness.make_db("contexts-fail.sqlite3", users=[("ann", "pw", {})])
    case("g33. lws refuses to make the third of 4 contexts: the worker logs which one, destroys "
         "the two it made and exits 1, with nothing for the sanitizers to report")
    port = harness.free_port()
    env = dict(harness.preload_env("failcontext"), FAILCONTEXT_AT="3",
               TOKENAUTH_WS_EVENT_LIB="libev", TOKENAUTH_WS_CONTEXT_SIZE="10")
    p = harness.start([WORKER, "--db", db, "--port", str(port), "--workers", "1",
                       "--max-connections", "40"], env=env, log_name="ws-worker-%d" % port)
    rc = harness.exit_status(p)
    log = log_of(port)
    check_eq(rc, 1, "exit status")
    check("cannot start lws context 3 of 4" in log, log[-600:])
    check(not re.search(r"AddressSanitizer|LeakSanitizer|runtime error", log), log[-1200:])
    check(" event=listen " not in log, "no listen line")


def huge_page_mappings(pid):
    """The process's anonymous mappings the kernel may back with huge pages (THPeligible: 1)."""
    with open("/proc/%d/smaps" % pid) as f:
        return len(re.findall(r"^THPeligible:\s+1$", f.read(), re.M))


def test_packed_connections():
    db, ann, _ = tw.db_with_users()
    case("g30. connection objects packed (TOKENAUTH_WS_PACKED_CONNECTIONS, default 1) or on the "
         "heap (0): 300 sockets open together, half close, 150 more open, every one answers")

    async def churn(port):
        first = [await tw.session(port, "/?token=" + ann) for _ in range(300)]
        for ws in first[::2]:
            await ws.close()
        more = [await tw.session(port, "/?token=" + ann) for _ in range(150)]
        alive = first[1::2] + more
        answers = [await tw.ask(ws, {"command": "whoami"}) for ws in alive]
        for ws in alive:
            await ws.close()
        return sum(1 for r in answers if r.get("user", {}).get("username") == "ann")

    thp = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    eligible = {}
    for packed in ("1", "0"):
        p, port = tw.start_worker(db, "--max-connections", "2000",
                                  env={"TOKENAUTH_WS_PACKED_CONNECTIONS": packed})
        check_eq(asyncio.run(churn(port)), 300, "answers with packing %s" % packed)
        eligible[packed] = huge_page_mappings(p.pid)
        harness.stop(p)
    if "[never]" not in thp:  # a host with huge pages off still serves, from 4 KiB pages
        check(eligible["1"] > eligible["0"], ("a mapping advised for huge pages", eligible))


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


def hello_of_size(n):
    """A hello message of exactly n bytes (ASCII), and the data_string it carries."""
    head, tail = '{"command":"Say hello !","data_string":"', '"}'
    data = "x" * (n - len(head) - len(tail))
    return head + data + tail, data


def test_size_limit_edges():
    db, ann, _ = tw.db_with_users()
    p, port = tw.start_worker(db)
    limit = 65536  # TOKENAUTH_WS_MAX_MESSAGE's default
    exact, data = hello_of_size(limit)
    over, _ = hello_of_size(limit + 1)
    check_eq((len(exact.encode()), len(over.encode())), (limit, limit + 1), "message sizes")

    case("g12. a message of exactly TOKENAUTH_WS_MAX_MESSAGE bytes is answered, whole or in parts")

    async def exact_size():
        ws = await tw.session(port, "/?token=" + ann, max_size=None)
        whole = await tw.ask(ws, exact)
        k = len(exact) // 3
        await ws.send([exact[:k], exact[k:2 * k], exact[2 * k:]])
        parts = json.loads(await asyncio.wait_for(ws.recv(), harness.HANG_S))
        after = await tw.ask(ws, {"command": "whoami"})
        await ws.close()
        return whole, parts, after
    whole, parts, after = tw.run(exact_size())
    check_eq(whole, {"command_response": tw.HELLO, "data_string_bacK": data}, "whole")
    check_eq(parts, {"command_response": tw.HELLO, "data_string_bacK": data}, "fragmented")
    check_eq(after.get("user", {}).get("username"), "ann", "the socket stays open")

    case("g13. one byte more closes with 1009, whole or in parts")

    async def one_more(fragmented):
        ws = await tw.session(port, "/?token=" + ann)
        k = len(over) // 2
        return await tw.close_of(ws, [over[:k], over[k:]] if fragmented else over)
    for fragmented in (False, True):
        code, reason, replies = tw.run(one_more(fragmented))
        check_eq((code, reason, replies), (1009, "message too big", []),
                 "fragmented" if fragmented else "whole")
    s, _ = tw.raw_connect(port, "/?token=" + ann)
    s.sendall(tw.raw_frame(1, exact.encode()[:1000], fin=False) +
              tw.raw_frame(0, exact.encode()[1000:] + b" "))
    check_eq(tw.raw_close_code(s), (1009, "message too big"), "raw frames, last one over by 1")
    s.close()
    harness.stop(p)


def test_rotation_and_sigint():
    db, ann, _ = tw.db_with_users()
    p, port = tw.start_worker(db, env=FAST)
    case("g14. rotating the key at the sqlite3 prompt closes the open socket with 4401")
    new_key = os.urandom(20).hex()
    tw.KEYS_SEEN.add(new_key)

    async def rotated():
        ws = await tw.session(port, "/?token=" + ann)
        before = await tw.ask(ws, {"command": "whoami"})
        harness.sql(db, "UPDATE authtoken_token SET key = '%s' WHERE user_id = "
                    "(SELECT id FROM auth_user WHERE username = 'ann')" % new_key)
        return before, await tw.close_of(ws)
    before, (code, reason, _) = tw.run(rotated())
    check_eq(before.get("user", {}).get("username"), "ann", "served before the rotation")
    check_eq((code, reason), (4401, "token revoked"), "close after the UPDATE")
    check_eq(tw.handshake_outcome(port, "/?token=" + ann)[:3], ("closed", 4401, "invalid token"),
             "the old key is refused")
    r = tw.handshake_outcome(port, "/?token=" + new_key)
    check(r[0] == "open" and r[1]["user"]["username"] == "ann", r)
    harness.stop(p)

    case("g15. SIGINT with open sockets: each gets 1001 and the process exits 0")
    p, port = tw.start_worker(db)

    async def interrupted():
        socks = [await tw.session(port, "/?token=" + new_key) for _ in range(3)]
        await tw.ask(socks[-1], {"command": "whoami"})
        os.killpg(p.pid, signal.SIGINT)
        return [(await tw.close_of(ws))[:2] for ws in socks]
    check_eq(tw.run(interrupted()), [(1001, "server shutting down")] * 3, "close codes")
    rc = harness.exit_status(p, 10)
    check_eq(rc, 0, "exit status")


def db_syscalls(trace_file, db):
    """Lines of an strace -y log where a descriptor of the database (or its -wal/-shm) is used:
    every read, lock or stat SQLite makes goes through one. The revocation tick's stat() by path
    is not one (it names the path, not a descriptor)."""
    with open(trace_file, errors="replace") as f:
        return [line for line in f if "<" + db in line]


def test_refusals_before_db():
    case("g16. 403 and 404 with the database present: no database descriptor is used")
    if not shutil.which("strace"):
        harness.skip("strace is not installed")
        return
    db, ann, _ = tw.db_with_users()
    p, port = tw.start_worker(db)
    check(tw.handshake_outcome(port, "/?token=" + ann)[0] == "open", "the database is read")
    trace = os.path.join(harness.TMP, "strace-%d.txt" % port)
    st = subprocess.Popen(["strace", "-f", "-y", "-e", "trace=%desc,%file", "-o", trace,
                           "-p", str(p.pid)], stderr=subprocess.PIPE, text=True)
    attached = False
    for line in st.stderr:  # "strace: Process N attached": from here on, every call is seen
        if "attached" in line:
            attached = True
            break
    if not attached:
        st.wait()
        harness.skip("strace cannot attach (ptrace not permitted)")
        return
    outcomes = [tw.handshake_outcome(port, "/?token=" + ann, "http://evil.example"),
                tw.handshake_outcome(port, "/nope?token=" + ann),
                tw.handshake_outcome(port, "/?token=" + ann, None)]
    check_eq(outcomes, [("http", 403), ("http", 404), ("http", 403)], "answers")
    # Each refusal writes one log line after its answer: wait until the trace holds all three
    # writes, so that it surely covers the three handshakes before it is read.
    log_writes = lambda: sum(1 for line in open(trace, errors="replace")
                             if line.split(None, 1)[-1].startswith("write(")
                             and "ws-worker-%d.log>" % port in line)
    check(wait_for(lambda: log_writes() >= 3), "the trace holds the three refusals")
    used = db_syscalls(trace, db)
    check_eq(used, [], "database calls during the refused handshakes")
    case("g17. the same trace sees a token check (the method does detect database work)")
    check_eq(tw.handshake_outcome(port, "/?token=" + ann)[0], "open", "a good token")
    check(wait_for(lambda: db_syscalls(trace, db)), "database calls seen for the token check")
    st.terminate()
    st.wait()
    harness.stop(p)


def test_allowed_host_forms():
    db, ann, _ = tw.db_with_users()
    q = "/?token=" + ann
    case("g18. scheme://host:port patterns: the scheme and the port must match too")
    p, port = tw.start_worker(db, "--allowed-hosts",
                              "http://localhost:8000, [::1], .example.com")
    for origin, want in [("http://localhost:8000", "open"), ("http://LOCALHOST:8000", "open"),
                         ("http://localhost:8001", "http"), ("http://localhost", "http"),
                         ("https://localhost:8000", "http"), ("ws://localhost:8000", "http")]:
        r = tw.handshake_outcome(port, q, origin)
        check_eq(r[:2] if want == "http" else r[0], ("http", 403) if want == "http" else want,
                 origin)
    case("g19. [::1] matches an IPv6 loopback Origin with any port")
    for origin in ["http://[::1]:8000", "https://[::1]", "http://[0:0:0:0:0:0:0:1]:8000"]:
        want = "open" if "[::1]" in origin else ("http", 403)
        r = tw.handshake_outcome(port, q, origin)
        check_eq(r[0] if want == "open" else r[:2], want, origin)
    case("g20. .example.com: the domain and its subdomains, not look-alikes")
    for origin, want in [("http://sub.example.com", "open"), ("https://example.com:444", "open"),
                         ("http://evil-example.com", "http"), ("http://example.com.evil", "http"),
                         ("http://sub.example.co", "http")]:
        r = tw.handshake_outcome(port, q, origin)
        check_eq(r[:2] if want == "http" else r[0], ("http", 403) if want == "http" else want,
                 origin)
    harness.stop(p)
    case("g21. a host:port pattern without a scheme: the worker refuses to start, clearly")
    for argv, env in [(["--allowed-hosts", "localhost:8000"], None),
                      ([], {"TOKENAUTH_ALLOWED_HOSTS": "localhost, example.com:8000"})]:
        r = subprocess.run([WORKER, "--db", db, "--port", str(harness.free_port()),
                            "--workers", "1"] + argv, capture_output=True, text=True,
                           timeout=10, env=dict(os.environ, **(env or {})))
        check(r.returncode != 0 and "ALLOWED_HOSTS" in r.stderr and "scheme" in r.stderr
              and ":8000" in r.stderr, (argv, env, r.returncode, r.stderr[-300:]))


if __name__ == "__main__":
    os.makedirs(harness.OUT, exist_ok=True)
    run_cases(test_db_replaced, test_journal_mode, test_long_params_and_trailing,
              test_fd_flood, test_default_cap, test_event_loop, test_contexts,
              test_context_failure,
              test_packed_connections,
              test_check, test_size_limit_edges,
              test_rotation_and_sigint,
              test_refusals_before_db, test_allowed_host_forms)
    finish("ws-worker-gaps")
