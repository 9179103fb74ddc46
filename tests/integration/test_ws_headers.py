"""test_ws_headers.py -- oversized handshake heads (ws-worker/headerlimit.h, docs/websocket.md
*Request size*): what a client gets from ws-worker, and from each proxy of conf/ in front of it.

With TOKENAUTH_WS_MAX_HEADERS=4096 one header may have 3,072 bytes (the buffer less a quarter):
  x1  a Cookie one byte over gets 431 with a text body naming the header; one at the limit opens
  x2  a token, a parameter before token= and a Sec-WebSocket-Protocol entry over it: 431 before
      the token check (no failed handshake is counted: three 431s, then the address is served)
  x3  a plain GET whose target is over it: 431 (not 404)
  x4  the log names the header, never its value, and not lws' own line; /metrics counts each 431
      as tokenauth_ws_handshakes_refused_total{reason="header_too_long"}
  x5  what libwebsockets 4.1.6 closes itself, with no hook to answer first: the head over the
      buffer (unknown headers, which have no limit of their own) and more headers or query
      parameters than its table holds: closed at once without a byte, logged once, counted in
      tokenauth_ws_handshakes_refused_total{reason="headers_too_large"|"too_many_headers"},
      still serving; x5b: once each even when lws writes its line up to 9 times
  x6  the default (16384): a Cookie of 14,336 bytes opens, one of 14,337 gets 431
  x7  behind lighttpd, nginx and Apache (conf/, as test_webservers.py runs them): ws-worker's 431
      reaches the client; a head over the proxy's own limits gets the proxy's answer; a head
      ws-worker closes unanswered gets the proxy's 5xx. Never silence.

Raw sockets, so the exact status line and body are seen; no case depends on timing."""
import base64
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import hostile  # noqa: E402
from harness import case, check, check_eq, finish, run_cases, skip, wait_for  # noqa: E402
from test_ws_hostile import lines_of, log_of  # noqa: E402  (a worker's log, its events)
import test_ws_worker as tw  # noqa: E402

SMALL = {"TOKENAUTH_WS_MAX_HEADERS": "4096"}
LIMIT = 3072  # one header's limit with SMALL


def exchange(port, request, timeout=harness.HANG_S):
    """Sends request and reads until the server closes or a head and its body came. Returns
    (status or None, head, body): None when the server hung up without a byte."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data = b""
    try:
        s.sendall(request)
        while True:
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                n = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")]
                if b" 101 " in head.split(b"\r\n")[0] or (n and len(body) >= n[0]):
                    break
            d = s.recv(65536)
            if not d:
                break
            data += d
    except ConnectionResetError:
        pass
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    return status, head.decode("latin-1"), body.decode("latin-1")


def upgrade(path, headers=(), host="127.0.0.1", origin=hostile.ORIGIN):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n%s\r\n"
            % (path, host, base64.b64encode(os.urandom(16)).decode(), origin,
               "".join("%s: %s\r\n" % h for h in headers))).encode()


def cookie(n):
    """A Cookie header whose value has n bytes."""
    return [("Cookie", "a=" + "c" * (n - 2))]


def refused(metrics_port, reason):
    import test_metrics  # noqa: E402  (its parser of the text format)
    return test_metrics.refused(test_metrics.values(metrics_port), reason)


def test_one_header_too_long():
    db, ann, _ = tw.db_with_users()
    metrics_port = harness.free_port()
    env = dict(SMALL, TOKENAUTH_WS_AUTH_FAILURES="2",
               TOKENAUTH_WS_METRICS_PORT=str(metrics_port))
    p, port = tw.start_worker(db, env=env)
    harness.wait_port(metrics_port)
    case("x1. a Cookie of %d bytes: 431, a text body naming the header, then closed" % (LIMIT + 1))
    status, head, body = exchange(port, upgrade("/?token=" + ann, cookie(LIMIT + 1)))
    check_eq((status, body), (431, "header cookie over %d bytes\n" % LIMIT), head)
    check("Content-Type: text/plain; charset=utf-8" in head and "Connection: close" in head, head)
    case("x1. a Cookie of exactly %d bytes opens" % LIMIT)
    check_eq(exchange(port, upgrade("/?token=" + ann, cookie(LIMIT)))[0], 101, "status")

    case("x2. a token, a parameter before token= and a subprotocol entry over the limit: 431 "
         "before the token check")
    long_token = exchange(port, upgrade("/?token=" + "t" * (LIMIT + 1)))
    check_eq(long_token[:3:2], (431, "query parameter over %d bytes\n" % LIMIT), long_token[1])
    before = exchange(port, upgrade("/?x=%s&token=%s" % ("a" * (LIMIT + 1), ann)))
    check_eq(before[0], 431, before[1])
    proto = exchange(port, upgrade("/", [("Sec-WebSocket-Protocol",
                                          "tokenauth, tokenauth.token." + "t" * LIMIT)]))
    check_eq(proto[:3:2], (431, "header sec-websocket-protocol over %d bytes\n" % LIMIT),
             proto[1])
    case("x2. none of them counted as a failed handshake (TOKENAUTH_WS_AUTH_FAILURES=2)")
    check_eq(exchange(port, upgrade("/?token=" + ann))[0], 101, "a valid token after three 431s")
    check_eq(lines_of(port, "refuse"), [], "refuse lines")

    case("x3. a plain GET with a target over the limit: 431, not 404")
    status, head, body = exchange(port, ("GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                                         % ("p" * (LIMIT + 1))).encode())
    check_eq((status, body), (431, "request target over %d bytes\n" % LIMIT), head)

    case("x4. each 431 is logged by the header's name, without its value; lws' line is not")
    long_lines = lines_of(port, "header_too_long")
    check_eq(len(long_lines), 5, long_lines)
    check(all("ccc" not in line and "ttt" not in line for line in long_lines), long_lines)
    check(all(ann not in line for line in log_of(port).splitlines()), "the token in the log")
    check_eq([line for line in log_of(port).splitlines() if "exceeds limit" in line], [],
             "lws' own line")
    case("x4. /metrics counts them: handshakes_refused_total{reason=\"header_too_long\"} 5")
    check_eq(refused(metrics_port, "header_too_long"), 5, "counter")
    harness.stop(p)


def test_closed_by_lws():
    db, ann, _ = tw.db_with_users()
    metrics_port = harness.free_port()
    p, port = tw.start_worker(db, env=dict(SMALL, TOKENAUTH_WS_METRICS_PORT=str(metrics_port)))
    harness.wait_port(metrics_port)
    heads = [
        ("the head over the buffer: 6 unknown headers of 1,000 bytes", "headers_too_large",
         upgrade("/?token=" + ann, [("X-Junk-%d" % i, "v" * 1000) for i in range(6)])),
        ("one unknown header of 5,000 bytes", "headers_too_large",
         upgrade("/?token=" + ann, [("X-Big", "b" * 5000)])),
        ("150 Cookie lines", "too_many_headers",
         upgrade("/?token=" + ann, [("Cookie", "a=b")] * 150)),
        ("150 query parameters", "too_many_headers",
         upgrade("/?" + "&".join("a%d=1" % i for i in range(150)) + "&token=" + ann)),
    ]
    for what, event, request in heads:
        case("x5. %s: closed at once without a byte (lws 4.1.6), logged %s once, counted, "
             "still serving" % (what, event))
        before, counted = len(lines_of(port, event)), refused(metrics_port, event)
        check_eq(exchange(port, request), (None, "", ""), "answer")
        check(wait_for(lambda: len(lines_of(port, event)) == before + 1),
              lines_of(port, event))
        check_eq(refused(metrics_port, event), counted + 1,
                 "handshakes_refused_total{reason=\"%s\"}" % event)
        check_eq(exchange(port, upgrade("/?token=" + ann))[0], 101, "the next handshake")

    case("x5b. a head whose buffer runs out where an unknown header's name starts (lws logs it "
         "up to 9 times): each of 13 such requests logged once and counted once")
    before = len(lines_of(port, "headers_too_large"))
    counted = refused(metrics_port, "headers_too_large")
    for pad in range(13):  # 13 names of 13 bytes: one of them starts at the end of the buffer
        request = upgrade("/?token=" + ann,
                          [("X-A", "v" * (3700 + pad))] + [("Y%02d" % i, "1") for i in range(40)])
        check_eq(exchange(port, request), (None, "", ""), "answer %d" % pad)
    check(wait_for(lambda: len(lines_of(port, "headers_too_large")) >= before + 13),
          "lines")
    check_eq(len(lines_of(port, "headers_too_large")), before + 13, "headers_too_large lines")
    check_eq(refused(metrics_port, "headers_too_large"), counted + 13, "counted")
    check(p.poll() is None, "running")
    harness.stop(p)


def test_default_limit():
    db, ann, _ = tw.db_with_users()
    p, port = tw.start_worker(db)
    case("x6. by default (16384) a Cookie of 14,336 bytes opens, one of 14,337 gets 431")
    check_eq(exchange(port, upgrade("/?token=" + ann, cookie(14336)))[0], 101, "14,336")
    status, head, body = exchange(port, upgrade("/?token=" + ann, cookie(14337)))
    check_eq((status, body), (431, "header cookie over 14336 bytes\n"), head)
    harness.stop(p)


# What each proxy answers, ws-worker with SMALL behind it: (cookie of 3,500 bytes: ws-worker's
# 431 passed on), then the proxy's own limits (lighttpd: 8 KiB of head; nginx: 8 KiB buffers,
# 414 for the request line; Apache: 8,190 bytes a field, 100 fields), then heads ws-worker
# closes unanswered (lighttpd answers 500 for a backend that closed, nginx and Apache 502).
PROXIED = {
    "lighttpd": {"cookie 3500": 431, "cookie 20000": 431, "query 20000": 431,
                 "unknown 6x1000": 500, "150 Cookie lines": 101},
    "nginx": {"cookie 3500": 431, "cookie 20000": 400, "query 20000": 414,
              "unknown 6x1000": 502, "150 Cookie lines": 502},
    "apache": {"cookie 3500": 431, "cookie 20000": 400, "query 20000": 414,
               "unknown 6x1000": 502, "150 Cookie lines": 400},
}


def proxied_requests(port, token):
    origin, host = "http://127.0.0.1:%d" % port, "127.0.0.1:%d" % port

    def up(path, headers=()):
        return upgrade(path, headers, host, origin)
    return {
        "cookie 3500": up("/?token=" + token, cookie(3500)),
        "cookie 20000": up("/?token=" + token, cookie(20000)),
        "query 20000": up("/?x=%s&token=%s" % ("a" * 20000, token)),
        "unknown 6x1000": up("/?token=" + token, [("X-Junk-%d" % i, "v" * 1000)
                                                  for i in range(6)]),
        "150 Cookie lines": up("/?token=" + token, [("Cookie", "a=b")] * 150),
    }


def start_proxy(tws, name, stack):
    """Starts the server name of conf/ in front of stack's ws-worker (as test_webservers.py)."""
    v = stack.values()
    if name == "lighttpd":
        conf = tws.fill("lighttpd/tokenauth.conf", os.path.join(stack.run, "lighttpd.conf"), v)
        argv = tws.CLEAN_ENV + ["/usr/sbin/lighttpd", "-D", "-f", conf]
        return harness.start(argv, env=stack.env, log_name="ws-headers-lighttpd")
    stack.start_spawn_fcgi()
    if name == "apache":
        conf = tws.fill("apache/tokenauth.conf", os.path.join(stack.run, "apache.conf"), v)
        return harness.start(["/usr/sbin/apache2", "-f", conf, "-DTOKENAUTH_STANDALONE",
                              "-DFOREGROUND"], log_name="ws-headers-apache")
    conf = tws.fill("nginx/nginx.conf", os.path.join(stack.run, "nginx.conf"), v)
    tws.fill("nginx/tokenauth-site.conf", os.path.join(stack.run, "tokenauth-site.conf"), v)
    return harness.start(["/usr/sbin/nginx", "-p", stack.run, "-c", conf, "-e", "stderr",
                          "-g", "daemon off;"], log_name="ws-headers-nginx")


def proxy_cases(tws, name):
    stack = tws.Stack("headers-" + name)
    stack.env.update(SMALL)
    try:
        stack.start_ws_worker()
        server = start_proxy(tws, name, stack)
        stack.procs.append(server)
        harness.wait_port(stack.port)
        status, _, body = tws.http(stack.port, "/api/login/", "POST",
                                   b"username=suraj&password=123",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        token = json.loads(body)["token"]
        tw.KEYS_SEEN.add(token)
        for what, request in proxied_requests(stack.port, token).items():
            case("x7. %s: %s gets %d" % (name, what, PROXIED[name][what]))
            got = exchange(stack.port, request)
            check_eq(got[0], PROXIED[name][what], got[1])
    finally:
        stack.stop()


def test_proxies():
    import test_webservers as tws  # noqa: E402  (its Stack and conf/ filling)
    for name, path in (("lighttpd", "/usr/sbin/lighttpd"), ("nginx", "/usr/sbin/nginx"),
                       ("apache", "/usr/sbin/apache2")):
        if not os.path.exists(path) or (name != "lighttpd"
                                        and not os.path.exists("/usr/bin/spawn-fcgi")):
            case("x7. %s in front of ws-worker" % name)
            skip("%s or spawn-fcgi is not installed" % path)
            continue
        proxy_cases(tws, name)


if __name__ == "__main__":
    run_cases(test_one_header_too_long, test_closed_by_lws, test_default_limit, test_proxies)
    finish("ws_headers")
