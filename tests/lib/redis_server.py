"""redis_server.py -- a real redis-server (Debian's) for the integration tests.

RedisServer(name) starts one on a Unix socket in the run's temporary folder (harness.TMP), with
no TCP port and no persistence (--save '' --appendonly no), through harness.start, so it is
stopped at exit even when a test fails; .stop() and .start() stop and restart it on the same
socket (a Redis restart as a client sees it), .kill() is kill -9 (the socket file stays, as after
a crash). With unix=False it listens on a free 127.0.0.1 port instead. .url is the
TOKENAUTH_REDIS_URL (redis-py's from_url reads it too), .client() a new python3-redis client,
.publish() sends bytes as they are, .numsub() asks PUBSUB NUMSUB, .cli() runs redis-cli. Tests skip when
redis-server, python3-redis or a module the test names is missing (available()).

    r = RedisServer("bus")                       # started
    r.publish("asgi__group__news", msgpack.packb({"type": "x"}))   # -> receivers
    r.numsub("asgi__group__news")                # PUBSUB NUMSUB
    r.kill(); r.start()                          # crash and come back on the same socket"""
import importlib
import os
import signal
import socket
import subprocess
import time

from harness import HANG_S, TMP, free_port, start, stop

REDIS = "/usr/bin/redis-server"


def available(*modules):
    """None when redis-server, python3-redis and each of modules (names to import, such as
    "channels_redis.core") are here, else why not: the first thing missing."""
    if not os.path.exists(REDIS):
        return "%s is missing (Debian package redis-server)" % REDIS
    try:
        import redis  # noqa: F401
    except ImportError:
        return "python3-redis is missing"
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            return str(e)
    return None


class RedisServer:
    """One redis-server on <TMP>/<name>/redis.sock (or a free loopback port with unix=False);
    requirepass when password is given."""

    def __init__(self, name="redis", password=None, unix=True, extra_args=()):
        self.name = name
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock") if unix else None
        self.port = None if unix else free_port()
        self.password = password
        auth = ":%s@" % password if password else ""
        if unix:
            self.url = "unix://%s%s" % (auth, self.sock)
        else:
            self.url = "redis://%s127.0.0.1:%d" % (auth, self.port)
        self.extra_args = list(extra_args)
        self.proc = None
        self._publisher = None
        self.start()

    def start(self, timeout=HANG_S):
        """Starts the server (again, on the same socket or port) and waits until it answers
        PING."""
        argv = [REDIS, "--save", "", "--appendonly", "no", "--dir", self.dir]
        if self.sock:
            argv += ["--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700"]
        else:
            argv += ["--port", str(self.port), "--bind", "127.0.0.1"]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = start(argv + self.extra_args, log_name="redis-" + self.name)
        self._publisher = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %s" % self.proc.returncode)
            if self._answers():
                return self
            time.sleep(0.02)
        raise RuntimeError("redis-server %s does not answer after %.0fs" % (self.name, timeout))

    def _answers(self):
        try:
            c = self.client()
            c.ping()
            c.close()
            return True
        except Exception:  # not up yet: refused, missing socket, loading
            return False

    def stop(self):
        """Stops the server; its socket file goes with it."""
        if self.proc:
            stop(self.proc)
            self.proc = None
        self._publisher = None
        if self.sock and os.path.exists(self.sock):
            os.remove(self.sock)

    def kill(self):
        """kill -9: no chance to close a connection cleanly; the socket file stays."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        self._publisher = None

    def client(self):
        import redis
        if self.sock:
            return redis.Redis(unix_socket_path=self.sock, password=self.password,
                               socket_timeout=10)
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=10)

    def publish(self, channel, payload):
        """PUBLISH payload (bytes, sent as they are) through one kept connection, so that
        successive publications keep their order; returns how many subscribers got it."""
        if self._publisher is None:
            self._publisher = self.client()
        return self._publisher.publish(channel, payload)

    def cli(self, *args):
        """Runs redis-cli against this server; returns its stdout lines."""
        where = ["-s", self.sock] if self.sock else ["-h", "127.0.0.1", "-p", str(self.port)]
        if self.password:
            where += ["-a", self.password, "--no-auth-warning"]
        r = subprocess.run(["redis-cli"] + where + [str(a) for a in args], capture_output=True,
                           text=True, timeout=HANG_S)
        if r.returncode != 0:
            raise RuntimeError("redis-cli %s: %s" % (" ".join(map(str, args)), r.stderr))
        return r.stdout.splitlines()

    def numsub(self, channel):
        """Subscribers of one pub/sub channel (PUBSUB NUMSUB)."""
        if self._publisher is None:
            self._publisher = self.client()
        return dict(self._publisher.pubsub_numsub(channel)).get(channel.encode(), 0)

    def wait_subscribers(self, channel, n=1, timeout=HANG_S):
        """Waits until channel has n subscribers (PUBSUB NUMSUB), so a publication cannot
        overtake a subscription still on its way."""
        c = self.client()
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                if dict(c.pubsub_numsub(channel)).get(channel.encode(), 0) >= n:
                    return
                time.sleep(0.02)
        finally:
            c.close()
        raise RuntimeError("%s has no %d subscribers after %.0fs" % (channel, n, timeout))


def silent_socket(path):
    """A Unix socket that accepts connections (through the backlog) and never answers: a Redis
    that hangs. Returns the listening socket; close it to end."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(16)
    return s
