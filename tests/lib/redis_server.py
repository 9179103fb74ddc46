"""redis_server.py -- a real redis-server (Debian's) for the integration tests.

RedisServer(name) starts one on a Unix socket in the run's temporary folder (harness.TMP), with
no TCP port and no persistence, through harness.start, so it is stopped at exit even when a test
fails; .stop() and .start() stop and restart it on the same socket (a Redis restart as a client
sees it). .url is the TOKENAUTH_REDIS_URL, .client() a python3-redis client. Tests skip when
redis-server or python3-redis is missing (available())."""
import os
import socket
import time

from harness import TMP, start, stop

REDIS = "/usr/bin/redis-server"


def available():
    """None when redis-server and python3-redis are here, else why not."""
    if not os.path.exists(REDIS):
        return "%s is missing (Debian package redis-server)" % REDIS
    try:
        import redis  # noqa: F401
    except ImportError:
        return "python3-redis is missing"
    return None


class RedisServer:
    """One redis-server on <TMP>/<name>/redis.sock; requirepass when password is given."""

    def __init__(self, name="redis", password=None):
        self.name = name
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.password = password
        self.url = "unix://%s%s" % (":%s@" % password if password else "", self.sock)
        self.proc = None
        self.start()

    def start(self, timeout=10.0):
        """Starts the server and waits until it answers PING."""
        argv = [REDIS, "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", self.dir]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = start(argv, log_name="redis-" + self.name)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited with %s" % self.proc.returncode)
            if self._answers():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server does not answer on %s after %.0fs" % (self.sock, timeout))

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
        if os.path.exists(self.sock):
            os.remove(self.sock)

    def client(self):
        import redis
        return redis.Redis(unix_socket_path=self.sock, password=self.password,
                           socket_timeout=10)

    def wait_subscribers(self, channel, n=1, timeout=10.0):
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
