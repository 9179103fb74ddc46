"""test_login_lighttpd.py -- login-fcgi as a long-lived FastCGI process behind a real lighttpd
(mod_fastcgi spawning it with bin-path, max-procs 1 and 2), and behind lighttpd with an
external spawn-fcgi process: every status through HTTP, one process serving many requests, the
Authorization header reaching logout, and a database that appears after the start."""
import http.client
import json
import os
import signal
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BIN, OUT, TMP, alive, case, check, check_eq, children_of,  # noqa: E402
                     finish, free_port, make_db, read_from, run_cases, skip, start, stop,
                     token_of, wait_for, wait_port)

LIGHTTPD = "/usr/sbin/lighttpd"
LOGIN = os.path.join(BIN, "login-fcgi")
USER_NOT_FOUND = {"user_not_found": "There is no user with this username and password !"}
FORM = "application/x-www-form-urlencoded"

CONF = """
server.document-root = "{dir}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{dir}/error.log"
server.modules = ("mod_fastcgi")
fastcgi.server = (
    "/api/" => ((
        "socket" => "{dir}/login.sock",
        {spawn}
        "check-local" => "disable",
    )),
)
"""
SPAWN = """"bin-path" => "{login}",
        "max-procs" => {procs},
        "bin-environment" => ({env}),"""


def listens(path):
    """Whether something accepts connections on the Unix socket at path."""
    try:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(path)
        return True
    except OSError:
        return False


class Server:
    """A lighttpd on a free loopback port in its own folder."""

    def __init__(self, name, db, procs=1, env=None, external=False):
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir)
        self.port = free_port()
        env = dict({"TOKENAUTH_DB": db, "TOKENAUTH_PASSWORD_ITERATIONS": "1",
                    "TOKENAUTH_DB_BUSY_TIMEOUT_MS": "200"}, **(env or {}))
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        self.env = env
        spawn = "" if external else SPAWN.format(
            login=LOGIN, procs=procs,
            env=", ".join('"%s" => "%s"' % kv for kv in env.items()))
        conf = os.path.join(self.dir, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(dir=self.dir, port=self.port, spawn=spawn))
        self.fcgi = None
        if external:  # spawn-fcgi holds the socket, lighttpd only connects to it
            self.fcgi = start(["/usr/bin/spawn-fcgi", "-n", "-s", self.dir + "/login.sock",
                               "--", LOGIN], env=env, log_name="login-spawn-fcgi")
            # listening, not only there: spawn-fcgi binds, then listens, and lighttpd takes a
            # refused connection for a dead backend (503)
            wait_for(lambda: listens(self.dir + "/login.sock"))
        self.log = os.path.join(OUT, "lighttpd-%s.log" % name)
        self.log_from = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.proc = start([LIGHTTPD, "-D", "-f", conf], log_name="lighttpd-" + name)
        wait_port(self.port)

    def request(self, method, path, body=b"", headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        if isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body if body or method == "POST" else None,
                  headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if not conn:
            c.close()
        r.data = data
        try:
            r.json = json.loads(data) if data else None
        except ValueError:
            r.json = "not json: %r" % data
        return r

    def login(self, user, password, conn=None, **kw):
        return self.request("POST", kw.get("path", "/api/login/"),
                            "username=%s&password=%s" % (user, password),
                            {"Content-Type": FORM}, conn)

    def children(self, at_least=0):
        """Pids of the processes lighttpd spawned, once there are at_least of them (lighttpd
        spawns them after its port opens, so a test that counts them waits)."""
        wait_for(lambda: len(children_of(self.proc.pid)) >= at_least)
        return children_of(self.proc.pid)

    def stderr(self):
        """What lighttpd and its children wrote to stderr in this run (login-fcgi's log)."""
        return read_from(self.log, self.log_from)


def expect(r, status, body=None):
    ok = r.status == status and r.getheader("Cache-Control") == "no-store"
    if r.data:
        ok = ok and r.getheader("Content-Type") == "application/json"
    check(ok and (body is None or r.json == body),
          "expected %s %r, got %s %r %r" % (status, body, r.status, r.getheaders(), r.data))


def test_statuses():
    db = make_db("http.sqlite3", users=[("ann", "pw"), ("bob", "pw"),
                                       ("off", "pw", {"is_active": False})])
    s = Server("one", db, env={"TOKENAUTH_CORS_ORIGINS": "http://app.example",
                               "TOKENAUTH_THROTTLE_USER_FAILURES": "3"})
    tok = token_of(db, "ann")
    case("http 200: form, with and without the slash")
    expect(s.login("ann", "pw"), 200, {"token": tok})
    expect(s.login("ann", "pw", path="/api/login"), 200, {"token": tok})
    case("http 200: JSON")
    expect(s.request("POST", "/api/login/", json.dumps({"username": "ann", "password": "pw"}),
                     {"Content-Type": "application/json"}), 200, {"token": tok})
    case("http 200: multipart")
    b = ("--b1\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nann\r\n--b1\r\n"
         "Content-Disposition: form-data; name=\"password\"\r\n\r\npw\r\n--b1--\r\n")
    expect(s.request("POST", "/api/login/", b, {"Content-Type":
                                                "multipart/form-data; boundary=b1"}),
           200, {"token": tok})
    case("http 200: query string ignored")
    expect(s.login("ann", "pw", path="/api/login/?next=x"), 200, {"token": tok})
    case("http 400: bad credentials, inactive, missing field, malformed")
    expect(s.login("ann", "nope"), 400, USER_NOT_FOUND)
    expect(s.login("off", "pw"), 400, USER_NOT_FOUND)
    expect(s.request("POST", "/api/login/", "username=ann", {"Content-Type": FORM}), 400,
           {"password": ["This field is required."]})
    expect(s.request("POST", "/api/login/", "{nope", {"Content-Type": "application/json"}), 400)
    case("http 404, 405, 415")
    expect(s.request("POST", "/api/elsewhere/", "x", {"Content-Type": FORM}), 404)
    r = s.request("GET", "/api/login/")
    expect(r, 405)
    check_eq(r.getheader("Allow"), "POST, OPTIONS", "Allow")
    expect(s.request("POST", "/api/login/", "x", {"Content-Type": "text/plain"}), 415)
    case("http 413: over 16 KiB, and a megabyte")
    expect(s.request("POST", "/api/login/", "username=ann&password=" + "x" * 17000,
                     {"Content-Type": FORM}), 413)
    expect(s.request("POST", "/api/login/", "x" * (1 << 20), {"Content-Type": FORM}), 413)
    case("http 429 after the user limit")
    for _ in range(3):
        expect(s.login("bob", "bad"), 400)
    r = s.login("bob", "pw")
    expect(r, 429)
    check(r.getheader("Retry-After", "").isdigit(), r.getheaders())
    case("http: Authorization reaches logout (204), then 401")
    auth = {"Authorization": "Token " + tok}
    r = s.request("POST", "/api/logout/", "", auth)
    check(r.status == 204 and r.data == b"", (r.status, r.data))
    check(token_of(db, "ann") is None, "token not deleted")
    r = s.request("POST", "/api/logout", "", auth)
    expect(r, 401)
    check_eq(r.getheader("WWW-Authenticate"), "Token", "WWW-Authenticate")
    case("http: a new token after logout")
    r = s.login("ann", "pw")
    expect(r, 200)
    check(r.json["token"] != tok, r.json)
    case("http: CORS preflight")
    r = s.request("OPTIONS", "/api/login/", "", {"Origin": "http://app.example",
                                                 "Access-Control-Request-Method": "POST"})
    check(r.status == 204 and r.getheader("Access-Control-Allow-Origin") ==
          "http://app.example" and r.getheader("Vary") == "Origin" and
          r.getheader("Access-Control-Allow-Headers") == "Content-Type, Authorization",
          (r.status, r.getheaders()))
    case("http 503: database locked, a failed login (it must be counted)")
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        r = s.login("ann", "wrong")
        expect(r, 503)
        check(r.getheader("Retry-After", "").isdigit(), r.getheaders())
        case("http 200: database locked, a right password all the same (no failures of ann from "
             "here, a token on record: the login only reads, and WAL readers never wait)")
        expect(s.login("ann", "pw"), 200)
    finally:
        con.execute("ROLLBACK")
        con.close()
    expect(s.login("ann", "pw"), 200)
    case("http: one long-lived process served every request")
    kids = s.children()
    check(len(kids) == 1, "children of lighttpd: %r" % kids)
    case("http: a request log line per request on stderr, no secrets")
    log = s.stderr()
    check(log.count("event=request") >= 20 and tok not in log and "password=" not in log,
          log[-2000:])
    stop(s.proc)


def test_reuse_and_keepalive():
    db = make_db("reuse.sqlite3", users=[("ann", "pw")])
    s = Server("reuse", db, procs=1)
    case("long-lived: 50 logins over one keep-alive connection, one process")
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    # lighttpd may still be spawning its child when the port opens: count it after the first
    # answer, which that child gave.
    statuses = [s.login("ann", "pw", conn=conn).status]
    before = s.children(at_least=1)
    statuses += [s.login("ann", "pw", conn=conn).status for _ in range(49)]
    conn.close()
    check(statuses == [200] * 50, statuses)
    check(len(before) == 1 and s.children() == before, (before, s.children()))
    stop(s.proc)


def test_db_appears_later():
    path = os.path.join(TMP, "later.sqlite3")
    s = Server("later", path, procs=1)
    case("missing database: the process starts and answers 503 with Retry-After")
    r = s.login("ann", "pw")
    expect(r, 503)
    check(r.getheader("Retry-After", "").isdigit(), r.getheaders())
    kids = s.children()
    case("the database appears: the same process opens it on the next request")
    made = make_db("later.sqlite3", users=[("ann", "pw")])
    check_eq(made, path, "path")
    r = s.login("ann", "pw")
    expect(r, 200, {"token": token_of(path, "ann")})
    check(kids and s.children() == kids, (kids, s.children()))
    stop(s.proc)


def test_two_procs():
    db = make_db("two.sqlite3", users=[("u%d" % i, "pw") for i in range(10)])
    s = Server("two", db, procs=2)
    case("max-procs 2: every login answered, each with its user's token")
    ok = True
    for i in range(30):
        r = s.login("u%d" % (i % 10), "pw")
        ok = ok and r.status == 200 and r.json == {"token": token_of(db, "u%d" % (i % 10))}
    check(ok, "a login failed")
    case("max-procs 2: two processes spawned")
    check(len(s.children(at_least=2)) == 2, s.children())
    stop(s.proc)


def test_spawn_fcgi():
    if not os.path.exists("/usr/bin/spawn-fcgi"):
        case("spawn-fcgi")
        skip("spawn-fcgi is not installed")
        return
    db = make_db("spawn.sqlite3", users=[("ann", "pw")])
    s = Server("spawn", db, external=True)
    case("spawn-fcgi: login, logout with Authorization, 404")
    r = s.login("ann", "pw")
    expect(r, 200, {"token": token_of(db, "ann")})
    r2 = s.request("POST", "/api/logout/", "", {"Authorization": "Token " + r.json["token"]})
    check_eq(r2.status, 204, "logout")
    expect(s.request("GET", "/api/x"), 404)
    case("spawn-fcgi: the process is still the same one")
    check(s.fcgi.poll() is None, "login-fcgi exited")
    stop(s.proc)
    stop(s.fcgi)


def test_exit_with_parent():
    db = make_db("parent.sqlite3", users=[("ann", "pw")])
    for setting, should_go in (("1", True), ("0", False)):
        s = Server("parent-" + setting, db, procs=2,
                   env={"TOKENAUTH_FCGI_EXIT_WITH_PARENT": setting})
        case("TOKENAUTH_FCGI_EXIT_WITH_PARENT=%s: lighttpd SIGKILLed, login-fcgi %s"
             % (setting, "ends with it" if should_go else "is left running"))
        expect(s.login("ann", "pw"), 200)
        kids = s.children(at_least=2)
        os.kill(s.proc.pid, signal.SIGKILL)  # lighttpd alone, not its process group
        s.proc.wait()
        if should_go:
            wait_for(lambda: not any(alive(k) for k in kids))
        else:  # a while for them to be gone, were they to go
            time.sleep(0.5)
        left = [k for k in kids if alive(k)]
        check(len(kids) == 2 and (not left if should_go else left == kids), (kids, left))
        for k in left:
            os.kill(k, signal.SIGKILL)


if not os.path.exists(LIGHTTPD):
    case("lighttpd")
    skip("lighttpd is not installed")
else:
    run_cases(test_statuses, test_reuse_and_keepalive, test_db_appears_later, test_two_procs,
              test_spawn_fcgi, test_exit_with_parent)
finish("login_lighttpd")
