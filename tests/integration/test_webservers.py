"""test_webservers.py -- the whole stack behind each real web server: lighttpd, Apache 2.4, nginx.

For each server this starts ws-worker on a free loopback port, login-fcgi (spawned by lighttpd
itself; through spawn-fcgi on a Unix socket for Apache and nginx, as a deployment would), and the
server on another free loopback port with its configuration from conf/, placeholders filled with
sed as scripts/run.sh does. Then the same scenario runs through the server's one origin:

  1. the static client is served (/, /app.js, with their content types), other files are not;
  2. a wrong password gets 400 and the tutorial's message;
  3. a login gets a token;
  4. a WebSocket with the token as a subprotocol entry (the browser form) and one with ?token=
     (the tutorial's form) both open through the proxy, and hello round trips;
  5. a cross-site Origin is refused at the handshake (403): the proxy passes Origin through;
  6. logout with "Authorization: Token <key>" gets 204 (the server passes Authorization on);
  7. the server then closes both sockets with 4401 within a few seconds;
  7b. POST /api/publish/ reaches login-fcgi with its "Authorization: Bearer" header: a wrong key
     gets 401, the right one 200 (each stack has a redis-server of its own);
  8. no log file of the server, login-fcgi or ws-worker holds the token;
  9. the FastCGI socket is a Unix socket, and every TCP socket the stack listens on is on
     127.0.0.1 (login-fcgi listens on none).

The servers run as root here, so Apache and nginx serve from worker processes as www-data:
the test copies www/ into its temporary folder and makes that folder readable, as a deployment
would make /usr/local/share/tokenauth readable. Logs of each server are copied to
tests/out/webservers-<server>/ for a look after a failure.

Then `make run`'s script, scripts/run.sh, as a person runs it: under a pseudo-terminal, so Ctrl-C
is the terminal's own SIGINT to the foreground process group. It must print the URL and the demo
credentials, keep its state in RUN_DIR, answer the tutorial's URLs on localhost, run its own
redis-server on a Unix socket in RUN_DIR (no TCP port), make the channel secret and the publish
key there (64 hex, mode 0600, never printed nor written to a log or config), print a curl line
that publishes to suraj's personal channel (run as printed: 200, and suraj's socket receives
it), leave no process behind after Ctrl-C (redis-server and its socket included), reuse its
database and secrets on the next start, refuse a second run on the same state folder, and take
its services down with it when it is SIGKILLed. With TOKENAUTH_WS_MAX_CONNECTIONS=5000, make
run's lighttpd carries 5,000 authenticated sockets (wsload --mode idle through its proxy) and
still answers a login, the page and one more socket (its hello, or ws-worker's 1013). The systemd units of
conf/systemd/ pass `systemd-analyze verify` with their placeholders filled."""
import asyncio
import json
import os
import pty
import re
import resource
import select
import signal
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BIN, EXT, HANG_S, OUT, ROOT, TMP, TOOLS, add_user, case, check,  # noqa: E402
                     check_eq, finish, free_port, make_db, run_cases, skip, start, stop,
                     wait_port)
import redis_server  # noqa: E402

import websockets  # noqa: E402  (Debian's python3-websockets)

ITERATIONS = "1000"  # fast hashes; the users below are made with the same count (no re-hash)
PUBLISH_KEY = "test-publish-key-0123456789abcdef0123456789"  # 32+ characters, for the stacks
HELLO = {"command": "Say hello !", "data_string": "This is the data string !"}
HELLO_REPLY = {"command_response": "The command to say hello was received ",
               "data_string_bacK": "This is the data string !"}
# The variables of the test harness are no tokenauth settings: keep them from the services.
CLEAN_ENV = ["env", "-u", "TOKENAUTH_BIN", "-u", "TOKENAUTH_EXT", "-u", "TOKENAUTH_TOOLS",
             "-u", "TOKENAUTH_TEST_OUT"]


def fill(template, out_path, values):
    """Copies a conf/ template with its @NAME@ placeholders filled (what sed does in run.sh)."""
    with open(os.path.join(ROOT, "conf", template)) as f:
        text = f.read()
    for name, value in values.items():
        text = text.replace("@%s@" % name, str(value))
    if re.search(r"@[A-Z_]+@", text):
        raise RuntimeError("%s: a placeholder is left unfilled" % template)
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


def http(port, path, method="GET", data=None, headers=None):
    """One request to 127.0.0.1:port; returns (status, headers, body bytes)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=HANG_S) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def children_of(pid):
    """pid and all its descendants, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                pass
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def tcp_listeners(pids):
    """(address, port) of every listening TCP socket that one of pids holds."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            pass
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                    continue
                addr_hex, port_hex = cols[1].split(":")
                if v6:
                    addr = "[%s]" % addr_hex  # any IPv6 listener fails the check, as wanted
                else:
                    addr = ".".join(str(int(addr_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))
                found.append((addr, int(port_hex, 16)))
    return found


class Stack:
    """One run: a database, ws-worker, and a folder readable by the servers' workers."""

    def __init__(self, server):
        self.server = server
        self.run = os.path.join(TMP, server)
        os.makedirs(self.run)
        os.chmod(TMP, 0o755)
        os.chmod(self.run, 0o755)
        self.site = os.path.join(TMP, "site")
        if not os.path.isdir(self.site):
            shutil.copytree(os.path.join(ROOT, "www"), os.path.join(self.site, "www"))
            os.chmod(self.site, 0o755)
        self.db = make_db("%s.sqlite3" % server)
        add_user(self.db, "suraj", "123", iterations=int(ITERATIONS))
        self.port = free_port()
        self.ws_port = free_port()
        while self.ws_port == self.port:
            self.ws_port = free_port()
        self.procs = []
        self.env = {"TOKENAUTH_PASSWORD_ITERATIONS": ITERATIONS}
        # A Redis of the stack's own, so POST /api/publish/ can succeed through the server.
        self.redis = None
        self.no_redis = redis_server.available()
        if not self.no_redis:
            self.redis = redis_server.RedisServer("redis-%s" % server)
            self.env.update({"TOKENAUTH_REDIS_URL": self.redis.url,
                             "TOKENAUTH_PUBLISH_KEY": PUBLISH_KEY})

    def start_ws_worker(self):
        p = start(CLEAN_ENV + [os.path.join(BIN, "ws-worker"), "--bind", "127.0.0.1",
                               "--port", str(self.ws_port), "--db", self.db, "--workers", "1"],
                  env=self.env, log_name="webservers-%s-ws-worker" % self.server)
        self.procs.append(p)
        wait_port(self.ws_port)
        return p

    def start_spawn_fcgi(self):
        """login-fcgi on a Unix socket, as spawn-fcgi (or systemd) would run it in production:
        the socket belongs to www-data, mode 0660, and -n keeps spawn-fcgi in the foreground (it
        becomes login-fcgi)."""
        sock = os.path.join(self.run, "login-fcgi.sock")
        env = dict(self.env, TOKENAUTH_DB=self.db)
        # As root the servers' workers are www-data; otherwise they are this user.
        owner = ["-U", "www-data", "-G", "www-data"] if os.geteuid() == 0 else []
        p = start(CLEAN_ENV + ["/usr/bin/spawn-fcgi", "-n", "-s", sock, "-M", "0660"] + owner
                  + ["--", os.path.join(BIN, "login-fcgi")],
                  env=env, log_name="webservers-%s-login-fcgi" % self.server)
        self.procs.append(p)
        # listening, not only there: spawn-fcgi binds, then listens, and a web server takes a
        # refused connection for a dead backend
        deadline = time.time() + HANG_S
        while time.time() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(sock)
                break
            except OSError:
                pass
            if p.poll() is not None:
                raise RuntimeError("spawn-fcgi exited with %s" % p.returncode)
            time.sleep(0.05)
        return sock

    def values(self):
        return {"PORT": self.port, "WS_PORT": self.ws_port, "ROOT": self.site, "RUN": self.run,
                "BIN": BIN, "DB": self.db, "MAX_CONNECTIONS": 1024, "MAX_FDS": 2304}

    def keep_logs(self):
        dest = os.path.join(OUT, "webservers-%s" % self.server)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest, exist_ok=True)
        for name in os.listdir(self.run):
            if name.endswith(".log") or name.endswith(".conf"):
                shutil.copy(os.path.join(self.run, name), dest)

    def stop(self):
        for p in reversed(self.procs):
            stop(p)
        if self.redis:
            self.redis.stop()
        self.keep_logs()


async def open_socket(port, token, form):
    origin = "http://127.0.0.1:%d" % port
    if form == "subprotocol":
        return await websockets.connect("ws://127.0.0.1:%d/" % port, origin=origin,
                                        subprotocols=["tokenauth", "tokenauth.token." + token],
                                        open_timeout=HANG_S)
    return await websockets.connect("ws://127.0.0.1:%d/?token=%s" % (port, token),
                                    origin=origin, open_timeout=HANG_S)


async def socket_part(stack, name, token):
    """Steps 4 to 7, with both sockets open across the logout."""
    port = stack.port
    sockets = {}
    for form in ("subprotocol", "query"):
        case("%s: WebSocket with the token as %s opens through the proxy" % (name, form))
        ws = await open_socket(port, token, form)
        sockets[form] = ws
        if form == "subprotocol":
            check_eq(ws.subprotocol, "tokenauth", "selected subprotocol")
        else:
            check(True)
        case("%s: hello round trip over the %s socket" % (name, form))
        await ws.send(json.dumps(HELLO))
        reply = json.loads(await asyncio.wait_for(ws.recv(), HANG_S))
        check_eq(reply, HELLO_REPLY, "hello reply")

    case("%s: a cross-site Origin is refused at the handshake with 403" % name)
    try:
        ws = await websockets.connect("ws://127.0.0.1:%d/" % port,
                                      origin="http://evil.example",
                                      subprotocols=["tokenauth", "tokenauth.token." + token],
                                      open_timeout=HANG_S)
        await ws.close()
        check(False, "the handshake succeeded")
    except websockets.exceptions.InvalidStatusCode as e:
        check_eq(e.status_code, 403, "handshake status")

    case("%s: logout with Authorization: Token passes through the server (204)" % name)
    status, _, body = await asyncio.to_thread(
        http, port, "/api/logout/", "POST", b"", {"Authorization": "Token " + token})
    check_eq(status, 204, "logout status (body %r)" % body)

    for form, ws in sockets.items():
        case("%s: the server closes the %s socket with 4401 after logout" % (name, form))
        try:
            await asyncio.wait_for(ws.wait_closed(), HANG_S)
            check_eq((ws.close_code, ws.close_reason), (4401, "token revoked"), "close")
        except asyncio.TimeoutError:
            check(False, "still open %.0f s after logout" % HANG_S)
            await ws.close()


def publish_part(stack, name):
    """POST /api/publish/ reaches login-fcgi through the server, Authorization: Bearer included:
    a wrong key gets login-fcgi's 401, the right one 200 (published to the stack's Redis)."""
    publication = json.dumps({"channel": "chat.lobby", "data": "hello"}).encode()
    for key, want in (("not-the-key-" + "x" * 32, 401), (PUBLISH_KEY, 200)):
        case("%s: POST /api/publish/ with %s key gets %d from login-fcgi"
             % (name, "the" if want == 200 else "a wrong", want))
        if stack.no_redis:
            skip(stack.no_redis)
            continue
        status, headers, body = http(stack.port, "/api/publish/", "POST", publication,
                                     {"Authorization": "Bearer " + key,
                                      "Content-Type": "application/json"})
        check(status == want and headers.get("Content-Type", "").startswith("application/json"),
              "%s %s %r" % (status, headers.get("Content-Type"), body))


def scenario(stack, name, login_pids):
    port = stack.port
    case("%s: the static client is served on /" % name)
    status, headers, body = http(port, "/")
    check(status == 200 and b"<title>tokenauth demo</title>" in body
          and headers.get("Content-Type", "").startswith("text/html"),
          "GET / -> %s %s" % (status, headers.get("Content-Type")))
    case("%s: app.js is served as JavaScript" % name)
    status, headers, _ = http(port, "/app.js")
    check(status == 200 and "javascript" in headers.get("Content-Type", ""),
          "GET /app.js -> %s %s" % (status, headers.get("Content-Type")))
    case("%s: a path that is no file gets 404" % name)
    check_eq(http(port, "/nothing-here.txt")[0], 404, "status")

    case("%s: a wrong password gets 400 and the tutorial's message" % name)
    status, _, body = http(port, "/api/login/", "POST", b"username=suraj&password=wrong",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    check(status == 400 and b"There is no user with this username and password !" in body,
          "%s %r" % (status, body))

    case("%s: a login gets a 40-hex token" % name)
    status, _, body = http(port, "/api/login/", "POST", b"username=suraj&password=123",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(body).get("token", "") if status == 200 else ""
    if not check(len(token) == 40 and all(c in "0123456789abcdef" for c in token),
                 "%s %r" % (status, body)):
        return

    asyncio.run(socket_part(stack, name, token))
    publish_part(stack, name)

    case("%s: no log of the stack holds the token (the ?token= URL included) or the publish key"
         % name)
    logs = [os.path.join(stack.run, n) for n in os.listdir(stack.run) if n.endswith(".log")]
    logs += [os.path.join(OUT, n) for n in os.listdir(OUT)
             if n.startswith("webservers-%s" % name) and n.endswith(".log")]
    leaks = [path for path in logs for secret in (token, PUBLISH_KEY)
             if secret in open(path, errors="replace").read()]
    check(logs and not leaks, "the token is in %r (logs %r)" % (leaks, logs))

    case("%s: the FastCGI socket is a Unix socket" % name)
    sock = os.path.join(stack.run, "login-fcgi.sock")
    socks = [os.path.join(stack.run, n) for n in os.listdir(stack.run)
             if n.startswith("login-fcgi.sock")]
    check(socks and all(stat.S_ISSOCK(os.stat(s).st_mode) for s in socks),
          "no socket at %s*: %r" % (sock, os.listdir(stack.run)))
    case("%s: login-fcgi listens on no TCP port, the rest only on 127.0.0.1" % name)
    login = [pid for p in login_pids() for pid in children_of(p)]
    everything = [pid for p in stack.procs for pid in children_of(p.pid)]
    check(login and not tcp_listeners(login)
          and all(addr == "127.0.0.1" for addr, _ in tcp_listeners(everything)),
          "login-fcgi pids %r listen on %r; all listen on %r"
          % (login, tcp_listeners(login), tcp_listeners(everything)))


def lighttpd_login_pids(server):
    """login-fcgi processes lighttpd spawned: its children."""
    return lambda: [p for p in children_of(server.pid) if p != server.pid]


def test_lighttpd():
    stack = Stack("lighttpd")
    try:
        stack.start_ws_worker()
        conf = fill("lighttpd/tokenauth.conf", os.path.join(stack.run, "lighttpd.conf"),
                    stack.values())
        server = start(CLEAN_ENV + ["/usr/sbin/lighttpd", "-D", "-f", conf], env=stack.env,
                       log_name="webservers-lighttpd")
        stack.procs.append(server)
        wait_port(stack.port)
        scenario(stack, "lighttpd", lighttpd_login_pids(server))
    finally:
        stack.stop()


def test_apache():
    stack = Stack("apache")
    try:
        stack.start_ws_worker()
        stack.start_spawn_fcgi()
        conf = fill("apache/tokenauth.conf", os.path.join(stack.run, "apache.conf"),
                    stack.values())
        case("apache: the configuration passes apache2 -t")
        r = subprocess.run(["/usr/sbin/apache2", "-f", conf, "-DTOKENAUTH_STANDALONE", "-t"],
                           capture_output=True, text=True)
        check(r.returncode == 0, r.stderr)
        server = start(["/usr/sbin/apache2", "-f", conf, "-DTOKENAUTH_STANDALONE",
                        "-DFOREGROUND"], log_name="webservers-apache")
        stack.procs.append(server)
        wait_port(stack.port)
        login = stack.procs[1]
        scenario(stack, "apache", lambda: [login.pid])
    finally:
        stack.stop()


def test_nginx():
    stack = Stack("nginx")
    try:
        stack.start_ws_worker()
        stack.start_spawn_fcgi()
        conf = fill("nginx/nginx.conf", os.path.join(stack.run, "nginx.conf"), stack.values())
        fill("nginx/tokenauth-site.conf", os.path.join(stack.run, "tokenauth-site.conf"),
             stack.values())
        case("nginx: the configuration passes nginx -t")
        r = subprocess.run(["/usr/sbin/nginx", "-p", stack.run, "-c", conf, "-e", "stderr",
                            "-t"], capture_output=True, text=True)
        check(r.returncode == 0, r.stderr)
        server = start(["/usr/sbin/nginx", "-p", stack.run, "-c", conf, "-e", "stderr",
                        "-g", "daemon off;"], log_name="webservers-nginx")
        stack.procs.append(server)
        wait_port(stack.port)
        login = stack.procs[1]
        scenario(stack, "nginx", lambda: [login.pid])
    finally:
        stack.stop()


def pids_naming(text):
    """Pids of live (not zombie) processes whose command line or environment contains text
    (login-fcgi, spawned by lighttpd without arguments, names the state folder only in its
    TOKENAUTH_DB)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/environ" % entry, "rb") as f:
                cmdline += " " + f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % entry) as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if text in cmdline and not zombie:
            found.append(entry)
    return found


def wait_gone(text, timeout=HANG_S):
    """Waits until no process names text; returns the pids still there."""
    deadline = time.time() + timeout
    while pids_naming(text) and time.time() < deadline:
        time.sleep(0.1)
    return pids_naming(text)


class Terminal:
    """scripts/run.sh on a pseudo-terminal of its own: it is the session leader and the
    foreground process group, so writing ^C to the terminal is a real Ctrl-C."""

    def __init__(self, env):
        self.output = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a fresh session with the pty as its terminal
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.chdir(ROOT)
                os.execvpe("bash", ["bash", "scripts/run.sh"], env)
            finally:
                os._exit(127)
        self.status = None

    def read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                data = os.read(self.fd, 4096)
            except OSError:  # EIO: the other side is closed
                data = b""
            self.output += data
            return data
        return None

    def expect(self, text, timeout=60.0):
        """Reads until text is in the output; False on the deadline or at the end."""
        deadline = time.time() + timeout
        while text not in self.output.decode(errors="replace"):
            left = deadline - time.time()
            if left <= 0 or self.read(left) == b"":
                return False
        return True

    def wait(self, timeout=HANG_S):
        """The exit status, or None if still running after timeout."""
        deadline = time.time() + timeout
        while self.status is None and time.time() < deadline:
            self.read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status

    def close(self):
        if self.wait(0) is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(10)
        os.close(self.fd)
        os.makedirs(OUT, exist_ok=True)
        with open(os.path.join(OUT, "webservers-run-sh.log"), "ab") as f:
            f.write(self.output)


async def tutorial_socket(port, token):
    """The tutorial's own socket URL, ws://localhost:port/?token=..., with a hello."""
    async with websockets.connect("ws://localhost:%d/?token=%s" % (port, token),
                                  origin="http://localhost:%d" % port, open_timeout=HANG_S) as ws:
        await ws.send(json.dumps(HELLO))
        return json.loads(await asyncio.wait_for(ws.recv(), HANG_S))


def test_make_run():
    run_dir = os.path.join(TMP, "make-run")
    try:
        make_run_cases(run_dir)
    finally:  # whatever failed, nothing of these runs outlives the test
        for pid in pids_naming(run_dir + "/"):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def make_run_cases(run_dir):
    db = os.path.join(run_dir, "tokenauth.sqlite3")
    redis_sock = os.path.join(run_dir, "redis.sock")
    port, ws_port = free_port(), free_port()
    while ws_port == port:
        ws_port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TOKENAUTH_") or k == "TOKENAUTH_PASSWORD_ITERATIONS"}
    env.update({"PORT": str(port), "WS_PORT": str(ws_port), "RUN_DIR": run_dir,
                "BIN_DIR": BIN, "EXT": EXT, "TOKENAUTH_PASSWORD_ITERATIONS": ITERATIONS})

    case("make run: the default state folder .run/ is ignored by git")
    r = subprocess.run(["git", "-C", ROOT, "check-ignore", "-q", ".run/tokenauth.sqlite3"])
    check_eq(r.returncode, 0, "git check-ignore .run/tokenauth.sqlite3")

    term = Terminal(env)
    try:
        case("make run: prints the URL and the demo credentials, marked demo only")
        up = term.expect("Press Ctrl-C to stop.")
        text = term.output.decode(errors="replace")
        check(up and "http://127.0.0.1:%d/" % port in text and "testuserone / testing123" in text
              and "suraj / 123" in text and "demo only" in text, text)
        if not up:
            return
        case("make run: the demo database is created in the state folder")
        check("created the demo database %s" % db in text and os.path.isfile(db), text)

        case("make run: POST http://localhost:PORT/api/login/ with the tutorial's user")
        status, _, body = http(port, "/api/login/", "POST",
                               b"username=testuserone&password=testing123",
                               {"Content-Type": "application/x-www-form-urlencoded"})
        token = json.loads(body).get("token", "") if status == 200 else ""
        check(len(token) == 40, "%s %r" % (status, body))

        case("make run: ws://localhost:PORT/?token=... says hello")
        check_eq(asyncio.run(tutorial_socket(port, token)), HELLO_REPLY, "reply")

        make_run_channel_cases(run_dir, port, text)

        case("make run: a second run on the same state folder is refused, the first lives on")
        other = dict(env, PORT=str(free_port()), WS_PORT=str(free_port()))
        r = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=other,
                           capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and "already running" in r.stderr
              and http(port, "/")[0] == 200, "exit %s: %s" % (r.returncode, r.stderr))

        case("make run: Ctrl-C stops it, redis-server too, and no process of it is left")
        os.write(term.fd, b"\x03")
        status = term.wait()
        left = wait_gone(run_dir + "/")
        check(status is not None and not left and not os.path.exists(redis_sock),
              "exit status %r; still running: %r; socket left: %s"
              % (status, left, os.path.exists(redis_sock)))
    finally:
        term.close()
    secrets = [read_file(os.path.join(run_dir, n)) for n in ("channel-secret", "publish-key")]

    term = Terminal(env)
    try:
        case("make run: a second start reuses the database (same token, no new database)")
        up = term.expect("Press Ctrl-C to stop.")
        text = term.output.decode(errors="replace")
        status, _, body = http(port, "/api/login/", "POST",
                               b"username=testuserone&password=testing123",
                               {"Content-Type": "application/x-www-form-urlencoded"})
        again = json.loads(body).get("token", "") if status == 200 else ""
        check(up and "created the demo database" not in text and again == token,
              "token %r then %r; %s" % (token, again, text))

        case("make run: a second start keeps the channel secret and the publish key")
        kept = [read_file(os.path.join(run_dir, n)) for n in ("channel-secret", "publish-key")]
        check(up and kept == secrets and "created %s/publish-key" % run_dir not in text,
              "the files changed, or were made again: %s" % text)

        case("make run: SIGKILLed, it takes lighttpd, login-fcgi, ws-worker and redis-server "
             "down with it")
        had_redis = bool(redis_pids(redis_sock))
        os.kill(term.pid, signal.SIGKILL)
        left = wait_gone(run_dir + "/")
        check(had_redis and not left, "redis was running: %s; still running after %.0f s: %r"
              % (had_redis, HANG_S, [(pid, cmdline_of(pid)) for pid in left]))
    finally:
        term.close()

    case("make run: services an earlier, killed run left are stopped at the next start")
    # A stand-in for a left-over service: a process whose command line names the state folder,
    # listed in services.pid under a run.sh pid that no longer exists.
    stray = subprocess.Popen(["bash", "-c", 'exec -a "stray %s/x" sleep 300' % run_dir],
                             start_new_session=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with open(os.path.join(run_dir, "services.pid"), "w") as f:
        f.write("%d\n%d\n" % (dead.pid, stray.pid))
    term = Terminal(env)
    try:
        up = term.expect("Press Ctrl-C to stop.")
        try:
            stray.wait(HANG_S)
        except subprocess.TimeoutExpired:
            stray.kill()
            stray.wait()
        check(up and stray.returncode == -signal.SIGTERM,
              "stray exit %r; %s" % (stray.returncode, term.output.decode(errors="replace")))
        os.write(term.fd, b"\x03")
        term.wait()
    finally:
        term.close()


def redis_pids(sock):
    """Pids of the redis-server serving sock (the others name it only in their environment)."""
    found = []
    for pid in pids_naming(sock):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() == "redis-server":
                    found.append(int(pid))
        except OSError:
            pass
    return found


def cmdline_of(pid):
    """The command line of pid, for a failure's detail."""
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "(gone)"


def read_file(path):
    with open(path) as f:
        return f.read()


def printed_curl(text):
    """The curl command of make run's banner: its lines from "curl" to the publish URL."""
    m = re.search(r"^ *(curl .*?/api/publish/)$", text.replace("\r", ""), re.S | re.M)
    return m.group(1) if m else ""


async def personal_delivery(port, token, publish):
    """Opens a socket as the token's user, runs publish(), and returns the first message
    that is a delivery (has "channel" and "data"), or None after 10 s."""
    async with websockets.connect("ws://localhost:%d/" % port, origin="http://localhost:%d" % port,
                                  subprotocols=["tokenauth", "tokenauth.token." + token],
                                  open_timeout=HANG_S) as ws:
        # The subscriptions reply says the personal channel is joined before anything is sent.
        await ws.send(json.dumps({"command": "subscriptions"}))
        await asyncio.wait_for(ws.recv(), HANG_S)
        await asyncio.get_running_loop().run_in_executor(None, publish)
        deadline = time.time() + HANG_S
        while time.time() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.time()))
            if "channel" in msg and "data" in msg:
                return msg
    return None


def make_run_channel_cases(run_dir, port, text):
    """Under make run: redis-server on its socket, the secrets in their files, the banner's
    curl line publishing to suraj's personal channel."""
    redis_sock = os.path.join(run_dir, "redis.sock")
    case("make run: redis-server runs on a Unix socket in the state folder, no TCP port")
    pids = redis_pids(redis_sock)
    mode = stat.S_IMODE(os.stat(redis_sock).st_mode) if os.path.exists(redis_sock) else None
    check(len(pids) == 1 and mode == 0o700 and not tcp_listeners(pids),
          "pids %r, socket mode %r, TCP %r" % (pids, mode, tcp_listeners(pids)))

    case("make run: the channel secret and the publish key: 64 hex, mode 0600, never printed")
    bad = []
    for name in ("channel-secret", "publish-key"):
        path = os.path.join(run_dir, name)
        value = read_file(path) if os.path.exists(path) else ""
        if not re.fullmatch(r"[0-9a-f]{64}", value) or \
                stat.S_IMODE(os.stat(path).st_mode) != 0o600 or value in text:
            bad.append(name)
        logs = [n for n in os.listdir(run_dir) if n.endswith(".log") or n.endswith(".conf")]
        bad += ["%s in %s" % (name, n) for n in logs
                if value and value in read_file(os.path.join(run_dir, n))]
    check(not bad, "wrong: %r" % bad)

    case("make run: the printed curl line publishes to suraj's personal channel (200)")
    command = printed_curl(text)
    status, _, body = http(port, "/api/login/", "POST", b"username=suraj&password=123",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(body).get("token", "") if status == 200 else ""
    result = {}

    def publish():
        result["run"] = subprocess.run(["bash", "-c", command + " -o /dev/null -w '%{http_code}'"],
                                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    try:
        got = asyncio.run(personal_delivery(port, token, publish)) if command and token else None
    except Exception as e:  # noqa: BLE001  (reported as the case's failure)
        got = repr(e)
    run = result.get("run")
    check(run is not None and run.stdout == "200" and isinstance(got, dict)
          and got.get("channel", "").startswith("user.") and "from" not in got,
          "command %r; curl %r; delivery %r" % (command, run and (run.stdout, run.stderr), got))


CROWD = 5000  # sockets held through make run's lighttpd, past the 1,365 that once took it down


async def one_more_socket(port, token):
    """A socket past the crowd: its hello reply, or the close code it got instead."""
    try:
        async with websockets.connect("ws://localhost:%d/?token=%s" % (port, token),
                                      origin="http://localhost:%d" % port,
                                      open_timeout=HANG_S) as ws:
            await ws.send(json.dumps(HELLO))
            return json.loads(await asyncio.wait_for(ws.recv(), HANG_S))
    except websockets.exceptions.ConnectionClosed as e:
        return "close %s" % (e.rcvd.code if e.rcvd else None)


def test_make_run_crowd():
    """make run with TOKENAUTH_WS_MAX_CONNECTIONS=5000: wsload holds 5,000 authenticated
    sockets through lighttpd's proxy, and the site still answers: a login, the page, and one
    more socket (served, or refused with 1013 by ws-worker, never silence from lighttpd)."""
    run_dir = os.path.join(TMP, "make-run-crowd")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    case("make run, %d sockets: lighttpd carries them, logins and the page still answer" % CROWD)
    if hard != resource.RLIM_INFINITY and hard < 3 * CROWD + 2000:
        skip("descriptor hard limit %d is too low for lighttpd and wsload" % hard)
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by run.sh and wsload
    port, ws_port = free_port(), free_port()
    while ws_port == port:
        ws_port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TOKENAUTH_") or k == "TOKENAUTH_PASSWORD_ITERATIONS"}
    env.update({"PORT": str(port), "WS_PORT": str(ws_port), "RUN_DIR": run_dir,
                "BIN_DIR": BIN, "EXT": EXT, "TOKENAUTH_PASSWORD_ITERATIONS": ITERATIONS,
                "TOKENAUTH_WS_MAX_CONNECTIONS": str(CROWD)})
    term = Terminal(env)
    load = None
    try:
        if not term.expect("Press Ctrl-C to stop."):
            check(False, term.output.decode(errors="replace"))
            return
        conf = read_file(os.path.join(run_dir, "lighttpd.conf"))
        cap = re.search(r"^server\.max-connections = (\d+)", conf, re.M)
        check(cap and int(cap.group(1)) > CROWD + 512, "lighttpd.conf: %s" % (cap and cap.group(0)))
        login = {"Content-Type": "application/x-www-form-urlencoded"}
        status, _, body = http(port, "/api/login/", "POST",
                               b"username=testuserone&password=testing123", login)
        token = json.loads(body).get("token", "") if status == 200 else ""
        if not check(len(token) == 40, "%s %r" % (status, body)):
            return
        load = subprocess.Popen([os.path.join(TOOLS, "wsload"), "--mode", "idle", "--port",
                                 str(port), "--token", token, "--origin",
                                 "http://localhost:%d" % port, "-c", str(CROWD), "-d", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # Its one line once all are open (5,000 in about 15 s on a loaded 2-core machine, more
        # on a busier one), or after its own 120 s with how many are: that bounds the case.
        ready, _, _ = select.select([load.stdout], [], [], 120 + HANG_S)
        line = load.stdout.readline() if ready else "no line from wsload"
        if not check("%d of %d connections open" % (CROWD, CROWD) in line, line):
            return
        status, _, body = http(port, "/api/login/", "POST",
                               b"username=suraj&password=123", login)
        check(status == 200 and len(json.loads(body).get("token", "")) == 40,
              "login under the crowd: %s %r" % (status, body))
        status, _, body = http(port, "/")
        check(status == 200 and b"<html" in body.lower(), "page under the crowd: %s" % status)
        reply = asyncio.run(one_more_socket(port, token))
        check(reply in (HELLO_REPLY, "close 1013"), "one more socket: %r" % (reply,))
    finally:
        if load:
            load.send_signal(signal.SIGINT)
            try:
                load.wait(20)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait()
        os.write(term.fd, b"\x03")
        term.wait()
        term.close()
        for pid in pids_naming(run_dir + "/"):
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_systemd_units():
    """The units with their placeholders filled pass systemd-analyze verify (syntax, known
    settings, an executable ExecStart)."""
    units = ["tokenauth-ws.service", "tokenauth-login.socket", "tokenauth-login.service"]
    folder = os.path.join(TMP, "systemd")
    os.makedirs(folder)
    for unit in units:
        fill(os.path.join("systemd", unit), os.path.join(folder, unit),
             {"BIN": BIN, "WS_PORT": 8001})
    case("systemd: the units pass systemd-analyze verify")
    if not os.access("/usr/bin/systemd-analyze", os.X_OK):
        check(False, "no /usr/bin/systemd-analyze (Debian package systemd)")
        return
    r = subprocess.run(["/usr/bin/systemd-analyze", "verify", "--man=no"]
                       + [os.path.join(folder, u) for u in units],
                       capture_output=True, text=True, cwd=folder)
    check(r.returncode == 0 and not r.stderr.strip(), "exit %d: %s" % (r.returncode, r.stderr))


if __name__ == "__main__":
    for program in ("ws-worker", "login-fcgi"):
        case("%s is built" % program)
        check(os.access(os.path.join(BIN, program), os.X_OK), "missing %s/%s" % (BIN, program))
    run_cases(test_lighttpd, test_apache, test_nginx, test_make_run, test_make_run_crowd,
              test_systemd_units)
    finish("webservers")
