"""test_login_hostile.py -- login-fcgi under hostile clients and operator mistakes.

  1. A client trickling its body straight at the FastCGI socket (what Apache's mod_proxy_fcgi
     relays as it arrives) gets 408 after TOKENAUTH_BODY_TIMEOUT_MS, while it is still trickling,
     and a normal login on the same single process is answered then; with
     TOKENAUTH_FCGI_CHILDREN=3, two such clients leave a child free (normal logins are answered
     before the tricklers' 408), and a child killed with SIGKILL is replaced.
 10. 30 parallel wrong passwords for one user over 3 FastCGI processes (lighttpd, max-procs 3)
     get exactly TOKENAUTH_THROTTLE_USER_FAILURES password checks (400), the rest 429; 30
     parallel attempts for 30 usernames from one address get exactly
     TOKENAUTH_THROTTLE_ADDR_FAILURES checks; the locked-out user gets 429 with the right password.
 11. Successful logins without failures on record, through one long-lived FastCGI process with
     the throttle on, leave the database file and its WAL byte for byte unchanged (no write
     lock, no commit); a wrong password then does change them (the check can see a write).
 12. Three processes keep what logins read (login-fcgi/readcache.h): a password changed, a
     token deleted, a user made inactive by another connection each take effect at the next
     login of every process (10. shows the same for the processes' own failure counts); so do
     they when the files were quiet long enough for the logins to skip their read transaction
     (the stamp confirmed), and after a checkpoint that empties the WAL or one that restarts it
     (the next commit written in place); TOKENAUTH_LOGIN_CACHE=0 works without it.
  9. The database restored under logins with the documented `.restore` passes PRAGMA
     integrity_check and serves the restored users at once; a file renamed over the database is
     noticed by a running login-fcgi (db_replaced), which serves the new file.

Every server is on loopback or a Unix socket in the test's folder; every wait is bounded."""
import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import (BIN, OUT, TMP, case, check, check_eq, finish,  # noqa: E402
                     free_port, make_db, run_cases, skip, start, stop, token_of, wait_port)
from fcgi_wire import params, record  # noqa: E402

LIGHTTPD = "/usr/sbin/lighttpd"
SPAWN_FCGI = "/usr/bin/spawn-fcgi"
LOGIN = os.path.join(BIN, "login-fcgi")
FORM = "application/x-www-form-urlencoded"


def fcgi_open(path, body_len, addr="127.0.0.1"):
    """A FastCGI connection with a login request begun: its parameters sent, no body yet."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    env = {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "/api/login/", "REQUEST_URI": "/api/login/",
           "CONTENT_TYPE": FORM, "CONTENT_LENGTH": str(body_len), "REMOTE_ADDR": addr,
           "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1"}
    s.sendall(record(1, struct.pack("!HB5x", 1, 0)) + record(4, params(env))
              + record(4, b""))
    return s


def fcgi_status(s):
    """Reads records until END_REQUEST; the Status of the response, or None."""
    return fcgi_response(s)[0]


def fcgi_response(s):
    """Reads records until END_REQUEST; (Status or None, the response's body)."""
    data = b""
    while True:
        head = b""
        while len(head) < 8:
            chunk = s.recv(8 - len(head))
            if not chunk:
                break
            head += chunk
        if len(head) < 8:
            break
        _, rtype, _, clen, plen = struct.unpack("!BBHHBx", head)
        content = b""
        while len(content) < clen + plen:
            chunk = s.recv(clen + plen - len(content))
            if not chunk:
                break
            content += chunk
        if rtype == 6:
            data += content[:clen]
        if rtype == 3:
            break
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.startswith(b"Status:"):
            return int(line.split()[1]), body
    return None, body


def fcgi_login(path, user, password):
    """A whole login at once: (status, seconds it took)."""
    body = ("username=%s&password=%s" % (user, password)).encode()
    t0 = time.monotonic()
    s = fcgi_open(path, len(body))
    s.sendall(record(5, body) + record(5, b""))
    status = fcgi_status(s)
    s.close()
    return status, time.monotonic() - t0


def fcgi_token(path, user, password):
    """A whole login: (status, the token answered or None)."""
    body = ("username=%s&password=%s" % (user, password)).encode()
    s = fcgi_open(path, len(body))
    s.sendall(record(5, body) + record(5, b""))
    status, answer = fcgi_response(s)
    s.close()
    try:
        return status, json.loads(answer).get("token")
    except ValueError:
        return status, None


class Trickler(threading.Thread):
    """A client sending its body one byte every 0.2 s for at most max_s seconds, until the
    server answers or drops it; .status is the answer (None if none)."""

    def __init__(self, path, max_s=8.0):
        super().__init__(daemon=True)
        self.path, self.max_s, self.status, self.started = path, max_s, None, threading.Event()
        self.answered_at = None  # time.monotonic() when the server's answer was seen
        self.cut_off = False  # the server answered while this client was still trickling

    def answered_after(self, t):
        """Whether the server had not answered this client by t (a time.monotonic())."""
        return self.answered_at is None or self.answered_at > t

    def run(self):
        body = b"username=ann&password=" + b"x" * 200
        s = fcgi_open(self.path, len(body))
        self.started.set()
        deadline = time.monotonic() + self.max_s
        try:
            for b in body:
                if time.monotonic() > deadline:
                    break
                s.sendall(record(5, bytes([b])))
                s.settimeout(0.2)
                try:
                    if s.recv(1, socket.MSG_PEEK):
                        self.answered_at, self.cut_off = time.monotonic(), True
                        break
                except socket.timeout:
                    pass
            s.settimeout(30)
            self.status = fcgi_status(s)
            self.answered_at = self.answered_at or time.monotonic()
        except OSError:
            pass
        s.close()


def spawn(name, db, env):
    """login-fcgi under spawn-fcgi -n on a Unix socket; (process, socket path)."""
    folder = os.path.join(TMP, name)
    os.makedirs(folder)
    sock = os.path.join(folder, "login.sock")
    e = {"TOKENAUTH_DB": db, "TOKENAUTH_PASSWORD_ITERATIONS": "1"}
    e.update(env)
    p = start([SPAWN_FCGI, "-n", "-s", sock, "--", LOGIN], env=e, log_name="hostile-" + name)
    deadline = time.time() + harness.HANG_S
    while time.time() < deadline:  # bound and listening: spawn-fcgi binds, then listens
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(sock)
            break
        except OSError:
            time.sleep(0.05)
    return p, sock


def log_of(name):
    with open(os.path.join(OUT, "hostile-%s.log" % name), errors="replace") as f:
        return f.read()


def test_slow_body_one_process():
    db = make_db("slow1.sqlite3", users=[("ann", "pw")])
    p, sock = spawn("slow1", db, {"TOKENAUTH_BODY_TIMEOUT_MS": "1000"})
    try:
        case("1: one process: a client trickling its body gets 408 after "
             "TOKENAUTH_BODY_TIMEOUT_MS, while still trickling, and a normal login meanwhile "
             "is answered")
        # The trickler would go on for 8 s: being cut off (408) before, it was held for the
        # timeout, not for as long as it trickles; the login waits that long at most. (No bound
        # on the login's time: on a loaded host an ASan login may take a second or more.)
        slow = Trickler(sock)
        slow.start()
        slow.started.wait(10)
        time.sleep(0.3)  # the trickler's request reaches the process first (or the case is moot)
        status, took = fcgi_login(sock, "ann", "pw")
        slow.join(harness.HANG_S)
        check(status == 200 and slow.cut_off and slow.status == 408,
              "login %s in %.2f s; trickler got %s, %s" % (
                  status, took, slow.status, "cut off" if slow.cut_off else "not cut off"))
        case("1: the 408 is logged as body_timeout")
        check("outcome=body_timeout status=408" in log_of("slow1"), log_of("slow1")[-2000:])
    finally:
        stop(p)


def is_login_fcgi(pid):
    try:
        return "login-fcgi" in harness.read_from("/proc/%d/cmdline" % pid, 0)
    except OSError:  # gone meanwhile
        return False


def test_slow_body_children():
    db = make_db("slow3.sqlite3", users=[("ann", "pw")])
    p, sock = spawn("slow3", db, {"TOKENAUTH_FCGI_CHILDREN": "3"})
    try:
        case("1: TOKENAUTH_FCGI_CHILDREN=3: three processes serve the one socket")
        harness.wait_for(lambda: len(harness.children_of(p.pid)) >= 3)
        kids = harness.children_of(p.pid)
        check_eq(len(kids), 3, "children")
        case("1: two clients trickling their bodies leave a child free: a normal login is "
             "answered before the tricklers' 408 (default TOKENAUTH_BODY_TIMEOUT_MS, 5 s), and "
             "the next ones too")
        slow = [Trickler(sock, 8.0) for _ in range(2)]
        for t in slow:
            t.start()
            t.started.wait(10)
        time.sleep(0.5)  # the tricklers' requests reach two children first (or the case is moot)
        results = [fcgi_login(sock, "ann", "pw")]
        answered = time.monotonic()  # the first: it found the free child
        results += [fcgi_login(sock, "ann", "pw") for _ in range(2)]
        for t in slow:
            t.join(harness.HANG_S)
        first = all(t.answered_after(answered) for t in slow)
        check(all(s == 200 for s, took in results) and first
              and [t.status for t in slow] == [408, 408],
              "logins %r, the first %s the tricklers' answers; tricklers got %r"
              % (results, "before" if first else "not before", [t.status for t in slow]))
        case("8: a child killed with SIGKILL is replaced, and logins go on")
        os.kill(kids[0], signal.SIGKILL)

        def replaced():
            now = harness.children_of(p.pid)
            return len(now) == 3 and kids[0] not in now \
                and "event=child_replaced" in log_of("slow3")
        ok = harness.wait_for(replaced)  # replaced at most one per second, later under load
        status, _ = fcgi_login(sock, "ann", "pw")
        check(ok and status == 200, "children %r (killed %d), login %s; log %s"
              % (harness.children_of(p.pid), kids[0], status, log_of("slow3")[-600:]))
        case("1: SIGTERM stops the supervisor and every child")
        kids = harness.children_of(p.pid)
        check_eq(stop(p), 0, "exit status")

        def left():  # still running as login-fcgi (not a pid reused meanwhile)
            return [k for k in kids if harness.alive(k) and is_login_fcgi(k)]
        check(harness.wait_for(lambda: not left()), left())
    finally:
        stop(p)


LIGHTTPD_CONF = """
server.document-root = "{dir}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{dir}/error.log"
server.modules = ("mod_fastcgi")
fastcgi.server = ("/api/" => ((
    "socket" => "{dir}/login.sock", "bin-path" => "{login}", "max-procs" => {procs},
    "check-local" => "disable", "bin-environment" => ({env}),
)))
"""


class Lighttpd:
    def __init__(self, name, db, procs, env=None):
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir)
        self.port = free_port()
        e = {"TOKENAUTH_DB": db, "TOKENAUTH_PASSWORD_ITERATIONS": "1",
             "TOKENAUTH_DB_BUSY_TIMEOUT_MS": "5000"}
        e.update(env or {})
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        conf = os.path.join(self.dir, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(LIGHTTPD_CONF.format(dir=self.dir, port=self.port, login=LOGIN, procs=procs,
                                         env=", ".join('"%s" => "%s"' % kv for kv in e.items())))
        self.name = "hostile-" + name
        self.proc = start([LIGHTTPD, "-D", "-f", conf], log_name=self.name)
        wait_port(self.port)

    def login(self, user, password):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("POST", "/api/login/", body="username=%s&password=%s" % (user, password),
                  headers={"Content-Type": FORM})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def log(self):
        with open(os.path.join(OUT, self.name + ".log"), errors="replace") as f:
            return f.read()


def parallel(n, fn):
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, range(n)))


def test_throttle_exact():
    db = make_db("exact.sqlite3", users=[("ann", "pw")])
    server = Lighttpd("exact", db, 3, {"TOKENAUTH_THROTTLE_ADDR_FAILURES": "10"})
    try:
        case("10: 30 parallel wrong passwords for one user over 3 processes: exactly 5 password "
             "checks (400), 25 refusals (429)")
        statuses = parallel(30, lambda i: server.login("ann", "wrong")[0])
        check(sorted(statuses) == [400] * 5 + [429] * 25, sorted(statuses))
        case("10: ... and the count on record is exactly 5")
        con = sqlite3.connect(db)
        rows = dict(((k, s), n) for k, s, n in con.execute(
            "SELECT kind, subject, n_failures FROM tokenauth_login_failure"))
        con.close()
        check_eq(rows.get(("user+addr", "127.0.0.1 ann")), 5, "user+addr count (%r)" % rows)
        case("10: ... and the lockout holds for the right password from that address")
        check_eq(server.login("ann", "pw")[0], 429, "status")
        con = sqlite3.connect(db)
        con.execute("DELETE FROM tokenauth_login_failure")
        con.commit()
        con.close()
        case("10: 30 parallel wrong logins for 30 usernames from one address: exactly "
             "TOKENAUTH_THROTTLE_ADDR_FAILURES (10) checks")
        statuses = parallel(30, lambda i: server.login("ghost%d" % i, "wrong")[0])
        check(sorted(statuses) == [400] * 10 + [429] * 20, sorted(statuses))
    finally:
        stop(server.proc)


def file_digests(db):
    """sha256 of the database file and its WAL, by another process: opening and closing the file
    here would drop the POSIX locks of this process's own SQLite connections."""
    return subprocess.run(["sha256sum", db, db + "-wal"], capture_output=True, text=True,
                          timeout=30).stdout


def test_quiet_success():
    db = make_db("quiet.sqlite3", users=[("ann", "pw"), ("bob", "pw")])
    p, sock = spawn("quiet", db, {})
    try:
        case("11: a first login (the connection opened, every statement prepared)")
        check_eq(fcgi_login(sock, "ann", "pw")[0], 200, "status")
        before = file_digests(db)
        case("11: 20 more successful logins of two users, throttle on: the database and its WAL "
             "unchanged, byte for byte")
        statuses = [fcgi_login(sock, ("ann", "bob")[i % 2], "pw")[0] for i in range(20)]
        check_eq(statuses, [200] * 20, "statuses")
        check_eq(file_digests(db), before, "sha256 of the database and its WAL")
        case("11: a wrong password is a write the same check sees")
        check_eq(fcgi_login(sock, "ann", "wrong")[0], 400, "status")
        check(file_digests(db) != before, "nothing changed")
    finally:
        stop(p)


class Logins(threading.Thread):
    """Logs in over and over (a right and a wrong password in turn) until stopped; keeps every
    status."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.statuses, self.halt = server, [], threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            i += 1
            try:
                self.statuses.append(self.server.login("ann", "pw" if i % 2 else "nope%d" % i)[0])
            except OSError as e:
                self.statuses.append(repr(e))


def integrity(path):
    return subprocess.run(["sqlite3", path, "PRAGMA integrity_check"], capture_output=True,
                          text=True, timeout=60).stdout.strip()


def test_restore():
    db = make_db("live.sqlite3", users=[("ann", "pw")])
    backup = make_db("backup.sqlite3", users=[("ann", "pw"), ("restored", "pw")])
    server = Lighttpd("restore", db, 2, {"TOKENAUTH_THROTTLE_USER_FAILURES": "0",
                                          "TOKENAUTH_THROTTLE_ADDR_FAILURES": "0",
                                          "TOKENAUTH_THROTTLE_USER_CEILING": "0"})
    try:
        case("9: the documented online restore (sqlite3 LIVE '.restore BACKUP') under logins: "
             "every login answered, PRAGMA integrity_check ok, the restored user logs in")
        logins = [Logins(server) for _ in range(2)]
        for t in logins:
            t.start()
        harness.wait_for(lambda: all(t.statuses for t in logins))  # logins under way
        r = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", db, ".restore %s" % backup],
                           capture_output=True, text=True, timeout=60)
        after = [len(t.statuses) for t in logins]  # and logins answered after the restore too
        harness.wait_for(lambda: all(len(t.statuses) > n for t, n in zip(logins, after)))
        for t in logins:
            t.halt.set()
            t.join(30)
        statuses = [s for t in logins for s in t.statuses]
        status, _ = server.login("restored", "pw")
        check(r.returncode == 0 and not r.stderr and statuses
              and set(statuses) <= {200, 400} and integrity(db) == "ok" and status == 200
              and token_of(db, "restored"),
              "restore %r %r; statuses %r; integrity %r; restored login %s"
              % (r.returncode, r.stderr, sorted(set(map(str, statuses))), integrity(db), status))
    finally:
        stop(server.proc)


def test_replaced_file():
    db = make_db("moved.sqlite3", users=[("ann", "pw")])
    p, sock = spawn("moved", db, {})
    try:
        status, _ = fcgi_login(sock, "ann", "pw")
        time.sleep(0.5)  # quiet files: the next logins skip their read transaction (stamp)
        statuses = {status, fcgi_login(sock, "ann", "pw")[0], fcgi_login(sock, "ann", "pw")[0]}
        status = 200 if statuses == {200} else statuses
        case("9: a file renamed over the database is noticed by a running login-fcgi before its "
             "next statement (db_replaced), which serves the new file")
        new = make_db("moved-new.sqlite3", users=[("ann", "pw"), ("fresh", "pw")])
        subprocess.run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE)"], check=True,
                       capture_output=True, timeout=30)
        os.rename(new, db)
        fresh, _ = fcgi_login(sock, "fresh", "pw")
        ann = fcgi_token(sock, "ann", "pw")
        check(status == 200 and fresh == 200 and token_of(db, "fresh")
              and ann == (200, token_of(db, "ann"))
              and "event=db_replaced" in log_of("moved") and integrity(db) == "ok",
              "before %s, after %s, ann %r, integrity %r; log %s"
              % (status, fresh, ann, integrity(db), log_of("moved")[-1500:]))
    finally:
        stop(p)


def change(db, statement, *args):
    """One statement committed by another connection (as Django or the sqlite3 prompt would)."""
    conn = sqlite3.connect(db, timeout=30)
    conn.execute(statement, args)
    conn.commit()
    conn.close()


def each_child(sock, user, password, n=12):
    """n logins in a row over the children sharing sock: the set of (status, token) answered."""
    return {fcgi_token(sock, user, password) for _ in range(n)}


def quiet(sock, user, password):
    """Leaves the files unwritten for longer than the stamp's settling time (DB_STAMP_SETTLE_MS,
    200 ms), then logs in over every child: each confirms a stamp and keeps the user, so the
    logins that follow skip their read transaction until a change. The answers."""
    time.sleep(0.5)
    return each_child(sock, user, password)


def django_hash(password):
    """Django's pbkdf2_sha256 of password at 1 iteration, with a fixed 22-character salt."""
    salt = "cachetestsalt012345678"
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1)
    return "pbkdf2_sha256$1$%s$%s" % (salt, base64.b64encode(key).decode())


def test_cache_sees_changes():
    db = make_db("cache.sqlite3", users=[("ann", "pw")])
    # Limits high enough never to answer 429 here, but on: the counts are read (and kept).
    limits = {"TOKENAUTH_THROTTLE_USER_FAILURES": "1000", "TOKENAUTH_THROTTLE_USER_CEILING": "1000",
              "TOKENAUTH_THROTTLE_ADDR_FAILURES": "1000", "TOKENAUTH_FCGI_CHILDREN": "3"}
    p, sock = spawn("cache", db, limits)
    try:
        token = token_of(db, "ann")
        case("12: three processes keep what logins read (readcache.h): repeated logins all "
             "answer the token on record")
        check_eq(each_child(sock, "ann", "pw"), {(200, token)}, "answers")
        case("12: a password changed by another connection takes effect at the next login of "
             "every process: the old one is refused, the new one accepted")
        change(db, "UPDATE auth_user SET password = ? WHERE username = 'ann'", django_hash("new"))
        check_eq(each_child(sock, "ann", "pw"), {(400, None)}, "the old password")
        check_eq(each_child(sock, "ann", "new"), {(200, token)}, "the new password")
        case("12: a token deleted by another connection: the next login of every process makes "
             "or reads the new one, never answers the deleted key")
        change(db, "DELETE FROM authtoken_token WHERE user_id = (SELECT id FROM auth_user"
                   " WHERE username = 'ann')")
        answers = each_child(sock, "ann", "new")
        check(answers == {(200, token_of(db, "ann"))} and token_of(db, "ann") != token,
              "answers %r, deleted %r" % (answers, token))
        token = token_of(db, "ann")
        case("12: quiet files, logins without a read transaction: a password changed then is "
             "seen at the next login of every process")
        warm = quiet(sock, "ann", "new")
        change(db, "UPDATE auth_user SET password = ? WHERE username = 'ann'", django_hash("pw"))
        check_eq((warm, each_child(sock, "ann", "new"), each_child(sock, "ann", "pw")),
                 ({(200, token)}, {(400, None)}, {(200, token)}), "answers")
        case("12: quiet files, then a checkpoint that empties the WAL (TRUNCATE) and a password "
             "change: seen at the next login")
        warm = quiet(sock, "ann", "pw")
        change(db, "PRAGMA wal_checkpoint(TRUNCATE)")
        change(db, "UPDATE auth_user SET password = ? WHERE username = 'ann'", django_hash("new"))
        check_eq((warm, each_child(sock, "ann", "pw"), each_child(sock, "ann", "new")),
                 ({(200, token)}, {(400, None)}, {(200, token)}), "answers")
        case("12: quiet files after a WAL restart (checkpoint RESTART), then a change written "
             "in place at the WAL's start: seen at the next login")
        for i in range(4):
            change(db, "UPDATE auth_user SET email = ? WHERE username = 'ann'", "grow%d@x" % i)
        change(db, "PRAGMA wal_checkpoint(RESTART)")
        warm = quiet(sock, "ann", "new")
        size = os.path.getsize(db + "-wal")
        change(db, "UPDATE auth_user SET password = ? WHERE username = 'ann'", django_hash("pw"))
        check_eq((warm, os.path.getsize(db + "-wal") == size, each_child(sock, "ann", "new"),
                  each_child(sock, "ann", "pw")),
                 ({(200, token)}, True, {(400, None)}, {(200, token)}), "answers, WAL size kept")
        case("12: a user made inactive by another connection is refused at once")
        quiet(sock, "ann", "pw")
        change(db, "UPDATE auth_user SET is_active = 0 WHERE username = 'ann'")
        check_eq(each_child(sock, "ann", "pw"), {(400, None)}, "inactive ann")
    finally:
        stop(p)
    db = make_db("nocache.sqlite3", users=[("ann", "pw")])
    p, sock = spawn("nocache", db, {"TOKENAUTH_LOGIN_CACHE": "0"})
    try:
        case("12: TOKENAUTH_LOGIN_CACHE=0 (no cache) logs in, and sees a password change")
        first = fcgi_token(sock, "ann", "pw")
        change(db, "UPDATE auth_user SET password = ? WHERE username = 'ann'", django_hash("new"))
        check_eq((first, fcgi_token(sock, "ann", "pw"), fcgi_token(sock, "ann", "new")),
                 ((200, token_of(db, "ann")), (400, None), (200, token_of(db, "ann"))), "answers")
    finally:
        stop(p)


missing = [p for p in (LIGHTTPD, SPAWN_FCGI) if not os.path.exists(p)]
if missing:
    case("hostile clients")
    skip("not installed: %s" % ", ".join(missing))
else:
    run_cases(test_slow_body_one_process, test_slow_body_children, test_throttle_exact,
              test_quiet_success, test_restore, test_replaced_file, test_cache_sees_changes)
finish("login_hostile")
