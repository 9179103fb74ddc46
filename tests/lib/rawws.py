"""rawws.py -- WebSocket frames by hand (RFC 6455), for the tests whose client must do what no
client library does: send a fragment, never read, or look at the bytes after a close frame.

  read_head(s)                   the server's answer to an upgrade request, up to its blank line
  raw_frame(opcode, payload)     one masked client frame (fin=False: a fragment to be continued)
  recv_exact(s, n)               exactly n bytes, EOFError if the peer closes first
  raw_read_frame(s)              the next server frame: (opcode, payload)
  raw_until_close(s)             frames up to the server's close frame: (its (code, reason),
                                 the text frames before it, their bytes)
  frames_until_eof(s)            every frame until the server closes the TCP connection

Frames from the server are read unmasked and whole; extensions (compression) are not spoken."""
import os
import struct


def read_head(s):
    """The server's answer to the upgrade request sent on s, byte by byte up to and including
    its blank line, so that no frame after it is taken; RuntimeError when s closes first."""
    head = b""
    while b"\r\n\r\n" not in head:
        d = s.recv(1)
        if not d:
            raise RuntimeError("closed during handshake: %r" % head)
        head += d
    return head


def raw_frame(opcode, payload, fin=True):
    mask = os.urandom(4)
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def recv_exact(s, n):
    out = bytearray()
    while len(out) < n:
        d = s.recv(min(n - len(out), 1 << 20))
        if not d:
            raise EOFError("connection closed")
        out += d
    return bytes(out)


def raw_read_frame(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)


def raw_until_close(s):
    """Reads frames up to a close frame: (close (code, reason) or None at EOF, text frames
    before it, bytes of those frames)."""
    texts, n_bytes = [], 0
    try:
        while True:
            op, payload = raw_read_frame(s)
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return (code, payload[2:].decode("utf-8", "replace")), texts, n_bytes
            if op == 1:
                n_bytes += len(payload)
                if len(texts) < 1000:
                    texts.append(payload)
    except (EOFError, OSError):
        return None, texts, n_bytes


def frames_until_eof(s):
    """Every frame (opcode, payload) until the peer closes the TCP connection."""
    frames = []
    try:
        while True:
            frames.append(raw_read_frame(s))
    except (EOFError, OSError):
        return frames
