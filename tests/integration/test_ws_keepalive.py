"""test_ws_keepalive.py -- ws-worker's pings (ws-worker/keepalive.c): a silent socket gets a ping,
one that does not answer is dropped (no close frame, a close line with reason="ping timeout"),
and one that answers, or keeps sending messages, stays; TOKENAUTH_WS_PING_INTERVAL=0 sends none.

With an interval of 1 s and a timeout of 5 s, a peer that never answers is dropped some seconds
in; the others are checked to be alive after that, by the answer to a message, once the
answering one has answered pings since (behaviour, not timing). The timeout is what a peer has
to answer in: 5 s, not 1, because the peers here are Python threads, which a loaded host may not
run for a second or more (a pong 1.5 s late is a drop at 1 s; a worker stopped for 2.5 s is not:
it reads the pongs that came meanwhile before it sweeps)."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import case, check, check_eq, finish, run_cases  # noqa: E402
from test_ws_worker import (db_with_users, raw_connect, raw_frame, raw_read_frame,  # noqa: E402
                            start_worker)

INTERVAL_S, TIMEOUT_S = 1, 5
FAST = {"TOKENAUTH_WS_PING_INTERVAL": str(INTERVAL_S),
        "TOKENAUTH_WS_PING_TIMEOUT": str(TIMEOUT_S)}
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 1, 8, 9, 10


class Peer(threading.Thread):
    """A raw WebSocket client reading every frame in a thread. answer_pings: reply to each ping
    with a pong; chat_every: seconds between the messages it sends (None: sends none). Records
    the opcodes received and whether (and how) the server ended the connection."""

    def __init__(self, port, key, answer_pings=False, chat_every=None):
        super().__init__(daemon=True)
        self.sock, self.head = raw_connect(port, "/?token=" + key)
        self.sock.settimeout(30)
        self.answer_pings, self.chat_every = answer_pings, chat_every
        self.connected_at = time.monotonic()  # the server watches it from its handshake on
        self.ops, self.replies, self.ended = [], [], None
        self.lock = threading.Lock()
        self.stopping = False
        self.start()
        if chat_every:
            threading.Thread(target=self.chat, daemon=True).start()

    def send(self, frame):
        with self.lock:
            self.sock.sendall(frame)

    def chat(self):
        while not self.stopping and self.ended is None:
            try:
                self.send(raw_frame(OP_TEXT, json.dumps({"command": "whoami"}).encode()))
            except OSError:
                return
            time.sleep(self.chat_every)

    def run(self):
        try:
            while True:
                op, payload = raw_read_frame(self.sock)
                self.ops.append(op)
                if op == OP_PING and self.answer_pings:
                    self.send(raw_frame(OP_PONG, payload))
                elif op == OP_TEXT:
                    self.replies.append(json.loads(payload))
                elif op == OP_CLOSE:
                    self.ended = "close frame"
                    return
        except (EOFError, OSError) as e:
            self.ended = self.ended or ("stopped" if self.stopping else type(e).__name__)

    def pings(self):
        return self.ops.count(OP_PING)

    def ask_whoami(self, timeout=harness.HANG_S):
        """Sends a command and waits for its answer: True when it came."""
        n = len(self.replies)
        self.send(raw_frame(OP_TEXT, json.dumps({"command": "whoami"}).encode()))
        return harness.wait_for(lambda: len(self.replies) > n or self.ended, timeout) and \
            len(self.replies) > n

    def close(self):
        self.stopping = True
        self.sock.close()


def log_text(port):
    return open(os.path.join(harness.OUT, "ws-worker-%d.log" % port), errors="replace").read()


def test_dropped_and_kept():
    db, ann, _ = db_with_users()
    p, port = start_worker(db, env=FAST)
    silent = Peer(port, ann)
    answering = Peer(port, ann, answer_pings=True)
    chatty = Peer(port, ann, chat_every=0.2)

    case("1. a peer that never answers gets a ping after its silence, then is dropped")
    check(harness.wait_for(lambda: silent.ended is not None), "still open")
    pings_then = answering.pings()
    check_eq(silent.ops[:1], [OP_PING], "first frame")
    check(OP_CLOSE not in silent.ops, "frames %r" % silent.ops)
    check(silent.ended in ("EOFError", "ConnectionResetError"), silent.ended)

    case("2. its close is logged by the server with the reason, once, no token")
    check(harness.wait_for(lambda: 'reason="ping timeout"' in log_text(port)), "no line")
    lines = [line for line in log_text(port).splitlines() if "ping timeout" in line]
    check_eq(len(lines), 1, "lines")
    check(lines and "event=close" in lines[0] and "code=1006" in lines[0] and
          "by=server" in lines[0] and ann not in lines[0], lines)

    case("3. meanwhile a peer answering pings and one sending messages are still served")
    # Two more pings to the answering peer: the server heard its pongs since the silent one was
    # dropped (a pinged peer gets no other ping until heard from), and time for the chatty one,
    # had its messages not counted, to be dropped too (it connected last).
    harness.wait_for(lambda: answering.pings() >= pings_then + 2 and
                     time.monotonic() - chatty.connected_at > INTERVAL_S + TIMEOUT_S + 1
                     or answering.ended is not None)
    check(answering.ended is None and answering.ask_whoami(), answering.ended)
    check(answering.pings() >= pings_then + 2, "answering peer saw %r" % answering.ops)
    check(chatty.ended is None and chatty.ask_whoami(), chatty.ended)
    check(len(chatty.replies) > 5, len(chatty.replies))

    case("4. at shutdown only the two live peers get 1001: the dropped one left the live list")
    check_eq(harness.stop(p), 0, "exit status")
    text = log_text(port)
    check_eq(text.count("code=1001"), 2, "shutdown closes")
    for peer in (silent, answering, chatty):
        peer.close()


def test_cap_slot_freed():
    db, ann, _ = db_with_users()
    p, port = start_worker(db, "--max-connections", "1", env=FAST)

    case("5. with a cap of one, a dropped silent peer frees its slot for the next")
    silent = Peer(port, ann)
    check(harness.wait_for(lambda: silent.ended is not None), "still open")
    nxt = Peer(port, ann, answer_pings=True)
    check(nxt.ask_whoami(), "no answer: %r %r" % (nxt.ended, nxt.replies))
    silent.close()
    nxt.close()
    harness.stop(p)


def test_interval_zero():
    db, ann, _ = db_with_users()
    p, port = start_worker(db, env={"TOKENAUTH_WS_PING_INTERVAL": "0",
                                    "TOKENAUTH_WS_PING_TIMEOUT": "1"})

    case("6. TOKENAUTH_WS_PING_INTERVAL=0: a silent peer gets no ping and stays")
    silent = Peer(port, ann)
    time.sleep(3)
    check_eq(silent.ops, [], "frames")
    check(silent.ended is None and silent.ask_whoami(), silent.ended)
    silent.close()
    harness.stop(p)


if __name__ == "__main__":
    run_cases(test_dropped_and_kept, test_cap_slot_freed, test_interval_zero)
    finish("ws-keepalive")
