"""redis_server.py -- a private redis-server for one integration test: its own folder under
harness.TMP, no persistence (--save '' --appendonly no), listening on a Unix socket (default) or a
free loopback port, with an optional password. Started through harness.start, so it is stopped at
exit even when the test fails half-way.

    r = RedisServer("bus")          # Unix socket TMP/redis-bus/redis.sock
    r.start(); r.url                # "unix:///.../redis.sock", the TOKENAUTH_REDIS_URL form
    r.publish("asgi__group__news", msgpack.packb({...}))   # -> receivers, as PUBLISH answers
    r.numsub("asgi__group__news")   # PUBSUB NUMSUB through redis-cli
    r.kill(); r.start()             # kill -9, then again on the same socket or port

Commands go through python3-redis (Debian's /usr/bin/python3 has it) or redis-cli; no test
writes the Redis protocol by hand."""
import os
import signal
import subprocess
import time

import harness

import redis  # noqa: E402 (python3-redis)


class RedisServer:
    def __init__(self, name="redis", unix=True, password=None, extra_args=()):
        self.name = name
        self.dir = os.path.join(harness.TMP, "redis-" + name)
        os.makedirs(self.dir, exist_ok=True)
        self.socket = os.path.join(self.dir, "redis.sock") if unix else None
        self.port = None if unix else harness.free_port()
        self.password = password
        self.extra_args = list(extra_args)
        self.proc = None
        self._client = None

    @property
    def url(self):
        """The address in TOKENAUTH_REDIS_URL's form (redis-py's from_url reads it too)."""
        if self.socket:
            return "unix://" + self.socket
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d" % (auth, self.port)

    def argv(self):
        argv = ["redis-server", "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no", "--loglevel", "warning"]
        if self.socket:
            argv += ["--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700"]
        else:
            argv += ["--port", str(self.port), "--bind", "127.0.0.1"]
        if self.password:
            argv += ["--requirepass", self.password]
        return argv + self.extra_args

    def start(self, timeout=10.0):
        """Starts (or restarts, same socket or port) and waits until it answers PING."""
        self.proc = harness.start(self.argv(), log_name="redis-" + self.name)
        self._client = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server %s exited with %s" % (self.name,
                                                                       self.proc.returncode))
            try:
                if self.client().ping():
                    return self
            except redis.exceptions.RedisError:
                self._client = None
            time.sleep(0.05)
        raise RuntimeError("redis-server %s does not answer after %.0fs" % (self.name, timeout))

    def client(self):
        if self._client is None:
            if self.socket:
                self._client = redis.Redis(unix_socket_path=self.socket, password=self.password,
                                           socket_timeout=10)
            else:
                self._client = redis.Redis(host="127.0.0.1", port=self.port,
                                           password=self.password, socket_timeout=10)
        return self._client

    def publish(self, channel, payload):
        """PUBLISH payload (bytes, sent as is); returns how many subscribers received it."""
        return self.client().publish(channel, payload)

    def cli(self, *args):
        """Runs redis-cli against this server; returns its stdout lines."""
        where = ["-s", self.socket] if self.socket else ["-h", "127.0.0.1", "-p", str(self.port)]
        if self.password:
            where += ["-a", self.password, "--no-auth-warning"]
        r = subprocess.run(["redis-cli"] + where + [str(a) for a in args], capture_output=True,
                           text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError("redis-cli %s: %s" % (" ".join(map(str, args)), r.stderr))
        return r.stdout.splitlines()

    def numsub(self, channel):
        """Subscribers of one pub/sub channel, from redis-cli PUBSUB NUMSUB."""
        out = self.cli("PUBSUB", "NUMSUB", channel)
        return int(out[1])

    def kill(self):
        """kill -9: no chance to close a connection cleanly."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._client = None

    def stop(self):
        if self.proc:
            harness.stop(self.proc)
        self._client = None
