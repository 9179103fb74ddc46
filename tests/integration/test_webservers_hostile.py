"""test_webservers_hostile.py -- the deployment configurations of conf/ under hostile clients and
a killed login-fcgi, behind lighttpd, Apache and nginx (each started as test_webservers.py does:
lighttpd spawns login-fcgi itself, Apache and nginx reach it through spawn-fcgi with
TOKENAUTH_FCGI_CHILDREN=4, as conf/systemd/tokenauth-login.service runs it).

  1. Two clients trickle their login bodies (1 byte every 0.2 s, at most 10 s); meanwhile normal
     logins are answered, the first before either trickler is (Apache relays the body:
     login-fcgi's 408 after TOKENAUTH_BODY_TIMEOUT_MS, 5 s) or gives up.
  8. With every login-fcgi process killed (kill -9) and none yet back, a login gets the API's
     JSON ({"detail": ...}, application/json, 503; lighttpd: 500 for a login in flight when its
     process died, as lighttpd has no way to change its status), not the server's HTML; then
     the processes
     are back as configured (lighttpd respawns its own; login-fcgi replaces a killed child; a
     killed supervisor is started again, as systemd's Restart= does) and logins succeed."""
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import add_user, case, check, finish, run_cases, skip, start, wait_port  # noqa: E402
import test_webservers as tw  # noqa: E402

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def login(port, password="123"):
    t0 = time.monotonic()
    status, headers, body = tw.http(port, "/api/login/", "POST",
                                    ("username=suraj&password=%s" % password).encode(), FORM)
    return status, headers, body, time.monotonic() - t0


class Trickler(threading.Thread):
    """An HTTP client sending its login body one byte every 0.2 s for at most max_s seconds;
    ended_at is the time.monotonic() it was answered or gave up."""

    def __init__(self, port, max_s=10.0):
        super().__init__(daemon=True)
        self.port, self.max_s, self.reply, self.ended_at = port, max_s, b"", None

    def run(self):
        body = b"username=suraj&password=" + b"x" * 100
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"POST /api/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                  b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body))
        deadline = time.monotonic() + self.max_s
        try:
            for b in body:
                if time.monotonic() > deadline:
                    break
                s.sendall(bytes([b]))
                s.settimeout(0.2)
                try:
                    data = s.recv(4096)
                    self.reply += data
                    if not data or self.reply:
                        break
                except socket.timeout:
                    pass
        except OSError:
            pass
        self.ended_at = time.monotonic()
        s.close()


def slow_clients(name, port):
    # Answered before either trickler ends, not within a number of seconds: on a loaded host a
    # login through ASan binaries may take a second or more.
    case("%s: two clients trickle their bodies; normal logins are answered meanwhile" % name)
    slow = [Trickler(port) for _ in range(2)]
    for t in slow:
        t.start()
    time.sleep(0.5)  # the tricklers' requests reach the server first (or the case is moot)
    results = [login(port)[::3]]
    answered = time.monotonic()  # the first: a process was free for it
    results += [login(port)[::3] for _ in range(2)]
    for t in slow:
        t.join(harness.HANG_S)
    first = all(t.ended_at is None or t.ended_at > answered for t in slow)
    check(all(status == 200 for status, took in results) and first,
          "logins (status, seconds): %r, the first %s the tricklers ended"
          % (results, "before" if first else "not before"))


def is_api_json(status, headers, body, statuses=(503,)):
    try:
        detail = json.loads(body).get("detail")
    except ValueError:
        detail = None
    return status in statuses and headers.get("Content-Type", "").startswith("application/json") \
        and isinstance(detail, str)


def back_again(port, timeout=harness.HANG_S):
    """Logs in until it succeeds or timeout passes; the last status."""
    deadline = time.time() + timeout
    status = None
    while time.time() < deadline:
        status = login(port)[0]
        if status == 200:
            break
        time.sleep(0.2)
    return status


def killed(name, port, kill_all, restart):
    """kill_all() kills every login-fcgi process and returns how many; restart() brings the
    service back when the server does not."""
    case("%s: with every login-fcgi killed (kill -9), a login gets the API's JSON 503" % name)
    n = kill_all()
    status, headers, body, _ = login(port)
    check(n > 0 and is_api_json(status, headers, body),
          "killed %d; got %s %s %r" % (n, status, headers.get("Content-Type"), body))
    restart()
    case("%s: login-fcgi is back as configured, and logins succeed" % name)
    check(back_again(port) == 200, "no successful login within %.0f s" % harness.HANG_S)


def cpu_ticks(server_pid):
    """CPU time (clock ticks) the processes under server_pid used so far."""
    ticks = 0
    for pid in tw.children_of(server_pid):
        if pid != server_pid:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError):
                pass
    return ticks


def kill_pids(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(pids)


def test_lighttpd():
    stack = tw.Stack("lighttpd")
    try:
        conf = tw.fill("lighttpd/tokenauth.conf", os.path.join(stack.run, "lighttpd.conf"),
                       stack.values())
        server = start(tw.CLEAN_ENV + ["/usr/sbin/lighttpd", "-D", "-f", conf], env=stack.env,
                       log_name="webservers-hostile-lighttpd")
        stack.procs.append(server)
        wait_port(stack.port)
        slow_clients("lighttpd", stack.port)

        # lighttpd starts its processes again at the next request: they are killed while a
        # login is in flight (a hash of 5,000,000 iterations keeps it there for a while).
        add_user(stack.db, "slowhash", "pw", iterations=5000000)
        # lighttpd answers a backend that died mid-request with 500 (its status; without
        # mod_magnet it cannot be changed), an unreachable one with 503: the body is the API's.
        case("lighttpd: every login-fcgi killed (kill -9) while a login is made: that login "
             "gets the API's JSON (500 or 503), not lighttpd's HTML")
        reply = {}
        busy = cpu_ticks(server.pid)
        t = threading.Thread(target=lambda: reply.update(
            r=tw.http(stack.port, "/api/login/", "POST", b"username=slowhash&password=pw",
                      FORM)))
        t.start()
        # In flight: a login-fcgi is hashing (its CPU time grows), not a guessed half second.
        harness.wait_for(lambda: cpu_ticks(server.pid) > busy + 20)
        n = kill_pids([p for p in tw.children_of(server.pid) if p != server.pid])
        t.join(30)
        status, headers, body = reply.get("r", (None, {}, b""))
        check(n > 0 and is_api_json(status, headers, body, (500, 503)),
              "killed %d; got %s %s %r" % (n, status, headers.get("Content-Type"), body))
        case("lighttpd: login-fcgi is back (lighttpd spawns it again), and logins succeed")
        check(back_again(stack.port) == 200, "no successful login within %.0f s" % harness.HANG_S)
    finally:
        stack.stop()


def spawn_stack(name):
    stack = tw.Stack(name)
    stack.env["TOKENAUTH_FCGI_CHILDREN"] = "4"
    return stack


def spawn_cases(name, stack):
    """Slow clients, a killed child, then a killed service, for a server on spawn-fcgi."""
    slow_clients(name, stack.port)
    fcgi = stack.procs[0]

    case("%s: a login-fcgi child killed with SIGKILL is replaced by login-fcgi" % name)
    harness.wait_for(lambda: len(tw.children_of(fcgi.pid)) > 4)  # all four forked
    kids = [p for p in tw.children_of(fcgi.pid) if p != fcgi.pid]
    kill_pids(kids[:1])
    check(len(kids) == 4 and back_again(stack.port) == 200, "children %r" % kids)

    def kill_all():
        pids = tw.children_of(fcgi.pid)
        n = kill_pids(pids)
        fcgi.wait(harness.HANG_S)
        harness.wait_for(lambda: not any(harness.alive(p) for p in pids))  # none left to accept
        return n

    def restart():  # what systemd's Restart=on-failure does
        stack.procs.remove(fcgi)
        sock = os.path.join(stack.run, "login-fcgi.sock")
        if os.path.exists(sock):
            os.remove(sock)
        stack.start_spawn_fcgi()
    killed(name, stack.port, kill_all, restart)


def test_apache():
    stack = spawn_stack("apache")
    try:
        stack.start_spawn_fcgi()
        conf = tw.fill("apache/tokenauth.conf", os.path.join(stack.run, "apache.conf"),
                       stack.values())
        server = start(["/usr/sbin/apache2", "-f", conf, "-DTOKENAUTH_STANDALONE",
                        "-DFOREGROUND"], log_name="webservers-hostile-apache")
        stack.procs.append(server)
        wait_port(stack.port)
        spawn_cases("apache", stack)
    finally:
        stack.stop()


def test_nginx():
    stack = spawn_stack("nginx")
    try:
        stack.start_spawn_fcgi()
        conf = tw.fill("nginx/nginx.conf", os.path.join(stack.run, "nginx.conf"), stack.values())
        tw.fill("nginx/tokenauth-site.conf", os.path.join(stack.run, "tokenauth-site.conf"),
                stack.values())
        server = start(["/usr/sbin/nginx", "-p", stack.run, "-c", conf, "-e", "stderr",
                        "-g", "daemon off;"], log_name="webservers-hostile-nginx")
        stack.procs.append(server)
        wait_port(stack.port)
        spawn_cases("nginx", stack)
    finally:
        stack.stop()


if __name__ == "__main__":
    missing = [p for p in ("/usr/sbin/lighttpd", "/usr/sbin/apache2", "/usr/sbin/nginx",
                           "/usr/bin/spawn-fcgi") if not os.path.exists(p)]
    if missing:
        case("web servers")
        skip("not installed: %s" % ", ".join(missing))
    else:
        run_cases(test_lighttpd, test_apache, test_nginx)
    finish("webservers_hostile")
