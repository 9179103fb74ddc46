"""hostile.py -- clients that misbehave on purpose, for test_ws_hostile.py and the figures in
docs/websocket.md (run as a script: see --help).

Every client binds its socket to a chosen loopback source address (127.0.0.2, 127.0.0.3...) so
one machine plays several distinct client addresses. Only loopback is used.

  raw_handshake(port, path, src)   one complete upgrade request; returns (status, head, seconds)
  HalfOpen(port, n, src)           a thread keeping n upgrade requests open and never finished,
                                   re-opening each as soon as the server drops it
"""
import argparse
import base64
import os
import selectors
import socket
import threading
import time

ORIGIN = "http://localhost:8000"
# How long a connect or an answer may take before it counts as none: harness.HANG_S (not
# imported: harness makes a temporary folder, and this file is a command too).
HANG_S = 60.0


def connect_from(src, port, timeout=HANG_S):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def upgrade_request(path, headers=()):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n%s\r\n"
            % (path, base64.b64encode(os.urandom(16)).decode(), ORIGIN,
               "".join("%s: %s\r\n" % h for h in headers))).encode()


def raw_handshake(port, path="/", src="127.0.0.1", headers=(), timeout=HANG_S):
    """Sends one whole upgrade request from src; returns (status, head, seconds): status is the
    HTTP status (101 when upgraded), or None when the server hung up without an answer."""
    t0 = time.monotonic()
    s = connect_from(src, port, timeout)
    try:
        s.sendall(upgrade_request(path, headers))
        head = b""
        while b"\r\n\r\n" not in head:
            d = s.recv(4096)
            if not d:
                break
            head += d
    except OSError:
        head = b""
    finally:
        s.close()
    text = head.decode("latin-1")
    parts = text.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return status, text, time.monotonic() - t0


class HalfOpen(threading.Thread):
    """Keeps n connections from src, each holding the first line of an upgrade request and
    nothing more; one the server closes is opened again at once. opened and dropped count."""

    def __init__(self, port, n, src="127.0.0.2"):
        super().__init__(daemon=True)
        self.port, self.n, self.src = port, n, src
        self.opened = self.dropped = 0
        self.halt = threading.Event()
        self.sel = selectors.DefaultSelector()

    def _open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((self.src, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return
        self.sel.register(s, selectors.EVENT_WRITE, "connecting")
        self.opened += 1

    def _event(self, key, mask):
        s = key.fileobj
        if key.data == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            try:
                if err:
                    raise OSError(err)
                s.send(b"GET /?half=open HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                self.sel.modify(s, selectors.EVENT_READ, "held")
                return
            except OSError:
                pass
        else:
            try:
                if s.recv(4096):
                    return  # an answer: wait for the close
            except BlockingIOError:
                return
            except OSError:
                pass
        self.sel.unregister(s)
        s.close()
        self.dropped += 1
        self._open()

    def run(self):
        for _ in range(self.n):
            self._open()
        while not self.halt.is_set():
            for key, mask in self.sel.select(0.2):
                self._event(key, mask)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()

    def stop(self):
        self.halt.set()
        self.join(10)


def main():
    ap = argparse.ArgumentParser(description="half-open handshakes or token guesses against a "
                                 "running ws-worker on 127.0.0.1, with timings of real users")
    ap.add_argument("port", type=int)
    ap.add_argument("--half-open", type=int, default=0, help="connections held from 127.0.0.2")
    ap.add_argument("--guess", type=float, default=0, help="seconds of token guessing from "
                    "127.0.0.3, as fast as one client goes")
    ap.add_argument("--token", default="", help="a valid token for the real users (127.0.0.1)")
    ap.add_argument("--users", type=int, default=20, help="real handshakes to time")
    a = ap.parse_args()
    flood = None
    if a.half_open:
        flood = HalfOpen(a.port, a.half_open)
        flood.start()
        time.sleep(3)
    if a.guess:
        n, statuses, t_end = 0, {}, time.monotonic() + a.guess
        while time.monotonic() < t_end:
            st = raw_handshake(a.port, "/?token=%s" % os.urandom(20).hex(), "127.0.0.3")[0]
            statuses[st] = statuses.get(st, 0) + 1
            n += 1
        print("guesses: %d in %.0f s = %.0f/s, answers %r" % (n, a.guess, n / a.guess, statuses))
    times, refused = [], 0
    for _ in range(a.users):
        st, _, sec = raw_handshake(a.port, "/?token=" + a.token, timeout=30)
        if st == 101:
            times.append(sec)
        else:
            refused += 1
    times.sort()
    if times:
        print("real handshakes: %d ok, %d not; median %.3f s, max %.3f s"
              % (len(times), refused, times[len(times) // 2], times[-1]))
    else:
        print("real handshakes: none got in (%d tried)" % refused)
    if flood:
        print("half-open: %d opened, %d dropped by the server" % (flood.opened, flood.dropped))
        flood.stop()


if __name__ == "__main__":
    main()
