"""fcgi_wire.py -- FastCGI records by hand, for the tests and bench/login_profile.py that talk to
login-fcgi's socket without a web server (a slow body, a request stream under callgrind).

    record(rtype, content[, req_id])   one record: header, content, padding to 8 bytes
    params(env)                        a PARAMS record's content: name-value pairs, each length
                                       in 1 byte under 128, else 4 bytes with the top bit set
"""
import struct


def record(rtype, content, req_id=1):
    pad = (8 - len(content) % 8) % 8
    return struct.pack("!BBHHBx", 1, rtype, req_id, len(content), pad) + content + b"\0" * pad


def params(env):
    out = b""
    for k, v in env.items():
        k, v = k.encode(), v.encode()
        for n in (len(k), len(v)):
            out += struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
        out += k + v
    return out
