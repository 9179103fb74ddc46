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
  8. no log file of the server, login-fcgi or ws-worker holds the token;
  9. the FastCGI socket is a Unix socket, and every TCP socket the stack listens on is on
     127.0.0.1 (login-fcgi listens on none).

The servers run as root here, so Apache and nginx serve from worker processes as www-data:
the test copies www/ into its temporary folder and makes that folder readable, as a deployment
would make /usr/local/share/tokenauth readable. Logs of each server are copied to
tests/out/webservers-<server>/ for a look after a failure."""
import asyncio
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BIN, OUT, ROOT, TMP, add_user, case, check, check_eq, finish,  # noqa: E402
                     free_port, make_db, run_cases, start, stop, wait_port)

import websockets  # noqa: E402  (Debian's python3-websockets)

ITERATIONS = "1000"  # fast hashes; the users below are made with the same count (no re-hash)
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
        with urllib.request.urlopen(req, timeout=20) as r:
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
        for _ in range(100):
            if os.path.exists(sock):
                break
            if p.poll() is not None:
                raise RuntimeError("spawn-fcgi exited with %s" % p.returncode)
            time.sleep(0.05)
        return sock

    def values(self):
        return {"PORT": self.port, "WS_PORT": self.ws_port, "ROOT": self.site, "RUN": self.run,
                "BIN": BIN, "DB": self.db}

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
        self.keep_logs()


async def open_socket(port, token, form):
    origin = "http://127.0.0.1:%d" % port
    if form == "subprotocol":
        return await websockets.connect("ws://127.0.0.1:%d/" % port, origin=origin,
                                        subprotocols=["tokenauth", "tokenauth.token." + token],
                                        open_timeout=15)
    return await websockets.connect("ws://127.0.0.1:%d/?token=%s" % (port, token),
                                    origin=origin, open_timeout=15)


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
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        check_eq(reply, HELLO_REPLY, "hello reply")

    case("%s: a cross-site Origin is refused at the handshake with 403" % name)
    try:
        ws = await websockets.connect("ws://127.0.0.1:%d/" % port,
                                      origin="http://evil.example",
                                      subprotocols=["tokenauth", "tokenauth.token." + token],
                                      open_timeout=15)
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
            await asyncio.wait_for(ws.wait_closed(), 5)
            check_eq((ws.close_code, ws.close_reason), (4401, "token revoked"), "close")
        except asyncio.TimeoutError:
            check(False, "still open 5 s after logout")
            await ws.close()


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

    case("%s: no log of the stack holds the token (the ?token= URL included)" % name)
    logs = [os.path.join(stack.run, n) for n in os.listdir(stack.run) if n.endswith(".log")]
    logs += [os.path.join(OUT, n) for n in os.listdir(OUT)
             if n.startswith("webservers-%s" % name) and n.endswith(".log")]
    leaks = [path for path in logs if token in open(path, errors="replace").read()]
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


if __name__ == "__main__":
    for program in ("ws-worker", "login-fcgi"):
        case("%s is built" % program)
        check(os.access(os.path.join(BIN, program), os.X_OK), "missing %s/%s" % (BIN, program))
    run_cases(test_lighttpd, test_apache, test_nginx)
    finish("webservers")
