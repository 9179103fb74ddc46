"""test_publish.py -- POST /api/publish/ against a real redis-server: login-fcgi as CGI for every
status, then as a long-lived FastCGI process behind lighttpd across Redis restarts, and Django
interop (channels_redis' RedisPubSubChannelLayer receives what we publish)."""
import asyncio
import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BIN, HANG_S, OUT, TMP, case, check, check_eq, children_of,  # noqa: E402
                     finish, free_port, make_db, read_from, run_cases, skip, start, wait_port)
from login import run_cgi  # noqa: E402
from redis_server import RedisServer, available, silent_socket  # noqa: E402

LOGIN = os.path.join(BIN, "login-fcgi")
LIGHTTPD = "/usr/sbin/lighttpd"
KEY = "pk-" + "7f3a9c1e5b" * 4  # 43 characters, never to be seen in a log
JSON_TYPE = "application/json"
NEWS = "asgi__group__news"
DB = make_db("publish.sqlite3")


def settings(redis_url, key=KEY, **more):
    # Redis' answers may take seconds on a loaded host: a timeout is set where a case is about it
    env = {"TOKENAUTH_DB": DB, "TOKENAUTH_PUBLISH_KEY": key, "TOKENAUTH_REDIS_URL": redis_url,
           "TOKENAUTH_REDIS_TIMEOUT_MS": "10000"}
    env.update(more)
    return env


def cgi(cfg, body=b"", method="POST", path="/api/publish/", ctype=JSON_TYPE,
        auth="Bearer " + KEY, length=None, extra=None):
    """Runs login-fcgi once as CGI with the settings cfg and parses what it printed."""
    if not isinstance(body, bytes):
        body = (body if isinstance(body, str) else json.dumps(body)).encode()
    env = dict(cfg, HTTP_ORIGIN="http://app.example", TOKENAUTH_CORS_ORIGINS="*")
    if auth is not None:
        env["HTTP_AUTHORIZATION"] = auth
    env.update(extra or {})
    return run_cgi(LOGIN, env, body, method, path, ctype, length)


def expect(r, status, body=None, what=""):
    """The status, the body when given, no-store, no CORS, one log line, never the key."""
    ok = (r.status == status and r.rc == 0 and r.headers.get("cache-control") == "no-store"
          and "access-control-allow-origin" not in r.headers and "event=request" in r.stderr
          and KEY not in r.stderr and (body is None or r.json == body))
    return check(ok, "%sexpected %s %r, got %r" % (what, status, body, r))


def subscriber(redis, *channels):
    """A python3-redis pubsub subscribed to channels, the subscriptions confirmed."""
    ps = redis.client().pubsub(ignore_subscribe_messages=True)
    ps.subscribe(*channels)
    for ch in channels:
        redis.wait_subscribers(ch)
    return ps


def next_message(ps, timeout=HANG_S):
    """The next published message on ps, or None after timeout seconds without one."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = ps.get_message(timeout=0.5)
        if m and m["type"] in ("message", "pmessage"):
            return m
    return None


def test_published_message(redis):
    import msgpack
    ps = subscriber(redis, NEWS)
    cfg = settings(redis.url)
    case("200: one channel, the message on asgi__group__news is channels_redis' msgpack map")
    data = {"x": 1, "text": "h\u00e9llo", "list": [1, 2.5, None, True], "big": 2 ** 40}
    r = cgi(cfg, {"channel": "news", "data": data})
    expect(r, 200, {"published": 1})
    m = next_message(ps)
    want = {"type": "tokenauth.message", "data": data}
    check(m is not None and msgpack.unpackb(m["data"]) == want, "got %r" % (m,))
    case("200: the bytes are exactly msgpack.packb of the event (no prefix, str not bin)")
    check(m is not None and m["data"] == msgpack.packb(want), "got %r" % (m,))
    case("200: /api/publish without the slash, data any JSON value (a string, null)")
    expect(cgi(cfg, {"channel": "news", "data": "plain"}, path="/api/publish"), 200,
           {"published": 1})
    m = next_message(ps)
    check(m and msgpack.unpackb(m["data"]) == {"type": "tokenauth.message", "data": "plain"}, m)
    expect(cgi(cfg, {"channel": "news", "data": None}), 200, {"published": 1})
    m = next_message(ps)
    check(m and msgpack.unpackb(m["data"]) == {"type": "tokenauth.message", "data": None}, m)
    case("the log line: channel count and status, never the key or the data")
    r = cgi(cfg, {"channel": "news", "data": {"secret_marker": "zz-data-zz"}})
    check("channels=1" in r.stderr and "status=200" in r.stderr and "outcome=published" in
          r.stderr and "zz-data-zz" not in r.stderr and KEY not in r.stderr, r.stderr)
    next_message(ps)
    ps.close()


def test_many_channels(redis):
    import msgpack
    cfg = settings(redis.url)
    ps = redis.client().pubsub(ignore_subscribe_messages=True)
    ps.psubscribe("asgi__group__c.*")
    c = redis.client()
    deadline = time.time() + HANG_S
    while c.pubsub_numpat() < 1 and time.time() < deadline:
        time.sleep(0.02)
    case("200: 1,000 channels, each gets the message once (pipelined)")
    names = ["c.%d" % i for i in range(1000)]
    r = cgi(cfg, {"channels": names, "data": {"n": 7}})
    expect(r, 200, {"published": 1000})
    got = []
    for _ in range(1000):
        m = next_message(ps)
        if not m:
            break
        got.append((m["channel"].decode(), msgpack.unpackb(m["data"])))
    check(sorted(ch for ch, _ in got) == sorted("asgi__group__" + n for n in names) and
          all(d == {"type": "tokenauth.message", "data": {"n": 7}} for _, d in got),
          "got %d messages" % len(got))
    check("channels=1000" in r.stderr, r.stderr)
    case("200: channels counted even with no subscriber, a custom prefix used")
    ps2 = subscriber(redis, "app__group__a")
    expect(cgi(settings(redis.url, TOKENAUTH_CHANNEL_PREFIX="app"),
               {"channels": ["a", "b"], "data": 1}), 200, {"published": 2})
    m = next_message(ps2)
    check(m and m["channel"] == b"app__group__a", m)
    ps.close()
    ps2.close()
    c.close()


def test_bad_bodies(redis):
    cfg = settings(redis.url)
    name_msg = "Not a valid channel name: 1 to 99 letters, digits, '.', '_' or '-'."
    cases = [
        ("400: a bad channel name", {"channel": "no spaces", "data": 1},
         {"channel": [name_msg]}),
        ("400: a bad name in the list says which", {"channels": ["ok", "x" * 100], "data": 1},
         {"channels": {"1": [name_msg]}}),
        ("400: a channel that is not a string", {"channel": 5, "data": 1},
         {"channel": ["Not a valid string."]}),
        ("400: both channel and channels", {"channel": "a", "channels": ["b"], "data": 1},
         {"non_field_errors": ["Give either \"channel\" or \"channels\", not both."]}),
        ("400: neither channel nor channels", {"data": 1},
         {"non_field_errors": ["Give \"channel\" or \"channels\"."]}),
        ("400: an empty list", {"channels": [], "data": 1},
         {"channels": ["This list may not be empty."]}),
        ("400: channels not a list", {"channels": "a", "data": 1},
         {"channels": ["Expected a list of channel names."]}),
        ("400: 1,001 channels", {"channels": ["c%d" % i for i in range(1001)], "data": 1},
         {"channels": ["Ensure this field has no more than 1000 elements."]}),
        ("400: data missing", {"channel": "news"}, {"data": ["This field is required."]}),
        ("400: not JSON", "{\"channel\": ", {"detail":
                                              "Malformed request: JSON parse error: invalid JSON."}),
        ("400: JSON but not an object", [1, 2],
         {"detail": "Malformed request: JSON parse error: not an object."}),
        ("400: data nested too deep to travel",
         '{"channel": "a", "data": ' + "[" * 40 + "]" * 40 + "}",
         {"data": ["Cannot be published: nested deeper than 31, or a number out of range."]}),
    ]
    for what, body, expected in cases:
        case(what)
        r = cgi(cfg, body, extra={"TOKENAUTH_MAX_BODY": "65536"})
        expect(r, 400, expected)
    case("400: data whose WebSocket delivery would exceed TOKENAUTH_WS_MAX_MESSAGE")
    r = cgi(settings(redis.url, TOKENAUTH_WS_MAX_MESSAGE="200"),
            {"channel": "a", "data": "y" * 300})
    check(r.status == 400 and "TOKENAUTH_WS_MAX_MESSAGE" in json.dumps(r.json), r)
    case("400: a body shorter than its Content-Length")
    expect(cgi(cfg, b'{"channel":"a","data":1}', length=100), 400)


def test_refusals(redis):
    cfg = settings(redis.url)
    good = {"channel": "news", "data": 1}
    for what, auth, detail in [
            ("401: a wrong key", "Bearer " + "x" * 43, "Invalid publish key."),
            ("401: the key with one character more", "Bearer " + KEY + "z",
             "Invalid publish key."),
            ("401: no Authorization header", None,
             "Authentication credentials were not provided."),
            ("401: the key under the Token scheme", "Token " + KEY,
             "Invalid Authorization header: expected \"Bearer <publish key>\"."),
            ("401: Bearer without a key", "Bearer ",
             "Invalid Authorization header: expected \"Bearer <publish key>\".")]:
        case(what)
        r = cgi(cfg, good, auth=auth)
        expect(r, 401, {"detail": detail})
        check(r.headers.get("www-authenticate") == "Bearer" and "outcome=bad_key" in r.stderr, r)
    case("200: the Bearer scheme in any case")
    expect(cgi(cfg, good, auth="bearer  " + KEY), 200, {"published": 1})
    case("404: no publish key configured, even with a key sent")
    r = cgi(settings(redis.url, key=""), good)
    check(r.status == 404 and r.json == {"detail": "Not found."}, r)
    case("405: GET and OPTIONS, with Allow: POST (after the key)")
    for m in ("GET", "OPTIONS", "PUT"):
        r = cgi(cfg, b"", method=m, ctype=None)
        expect(r, 405, {"detail": "Method \"%s\" not allowed." % m})
        check(r.headers.get("allow") == "POST", r)
    case("405 comes after the key: a GET without it is 401")
    expect(cgi(cfg, b"", method="GET", ctype=None, auth=None), 401)
    case("415: a form body, and no Content-Type")
    expect(cgi(cfg, "channel=news&data=1", ctype="application/x-www-form-urlencoded"), 415,
           {"detail": "Unsupported media type \"application/x-www-form-urlencoded\" in request."})
    expect(cgi(cfg, good, ctype=None), 415)
    case("413: a Content-Length over TOKENAUTH_MAX_BODY, refused before reading")
    r = cgi(dict(cfg, TOKENAUTH_MAX_BODY="1024"), b"", length=4096)
    expect(r, 413, {"detail": "Request body too large."})
    case("413: a body over the limit without a usable length")
    expect(cgi(dict(cfg, TOKENAUTH_MAX_BODY="64"), {"channel": "news", "data": "z" * 100},
               extra={"CONTENT_LENGTH": ""}), 413)


def test_unavailable(redis):
    good = {"channel": "news", "data": 1}
    case("503: TOKENAUTH_REDIS_URL empty, with Retry-After and the reason")
    r = cgi(settings(""), good)
    expect(r, 503, {"detail": "Channels are off: TOKENAUTH_REDIS_URL is not set."})
    check(r.headers.get("retry-after") == "2" and "outcome=channels_off" in r.stderr, r)
    case("503: nothing listens on the socket, with Retry-After; the log says why")
    r = cgi(settings("unix://" + os.path.join(TMP, "nothing.sock")), good)
    expect(r, 503)
    check(r.headers.get("retry-after") == "2" and "outcome=redis_unavailable" in r.stderr and
          "connect to redis" in r.stderr, r)
    case("503 without hanging: a Redis that accepts and never answers, the timeout ends it")
    path = os.path.join(TMP, "silent.sock")
    s = silent_socket(path)
    try:
        r = cgi(settings("unix://" + path, TOKENAUTH_REDIS_TIMEOUT_MS="300"), good)
    finally:
        s.close()
    expect(r, 503)
    check("no answer within 300 ms" in r.stderr, r.stderr)
    case("503: a wrong Redis password; the log has Redis' reason, never the password")
    locked = RedisServer("locked", password="redis-pw-9q8w7e")
    r = cgi(settings("unix://:wrong-pw-5t4r@" + locked.sock), good)
    expect(r, 503)
    check("AUTH" in r.stderr and "wrong-pw-5t4r" not in r.stderr, r.stderr)
    case("200: the right Redis password, in the URL")
    expect(cgi(settings(locked.url), good), 200, {"published": 1})
    case("200: db=3 in the URL selects that db (PUBLISH ignores dbs, SELECT must pass)")
    expect(cgi(settings(redis.url + "?db=3"), good), 200, {"published": 1})
    case("503: a db Redis does not have")
    r = cgi(settings(redis.url + "?db=99"), good)
    expect(r, 503)
    check("SELECT" in r.stderr, r.stderr)
    locked.stop()
    case("a bad TOKENAUTH_REDIS_URL stops the program at start, naming the setting, no password")
    r = cgi(settings("redis://:pw-zz9@host:99999"), good)
    check(r.rc == 2 and "TOKENAUTH_REDIS_URL" in r.stderr and "pw-zz9" not in r.stderr, r)


class Lighttpd:
    """lighttpd spawning one login-fcgi (max-procs 1) for /api/."""

    def __init__(self, env):
        self.dir = os.path.join(TMP, "lighttpd")
        os.makedirs(self.dir)
        self.port = free_port()
        env = dict(env)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        conf = os.path.join(self.dir, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write("""server.document-root = "%s"
server.bind = "127.0.0.1"
server.port = %d
server.errorlog = "%s/error.log"
server.modules = ("mod_fastcgi")
fastcgi.server = ("/api/" => ((
    "socket" => "%s/login.sock", "bin-path" => "%s", "max-procs" => 1,
    "bin-environment" => (%s), "check-local" => "disable")))
""" % (self.dir, self.port, self.dir, self.dir, LOGIN,
                ", ".join('"%s" => "%s"' % kv for kv in env.items())))
        self.log = os.path.join(OUT, "lighttpd-publish.log")
        self.log_from = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.proc = start([LIGHTTPD, "-D", "-f", conf], log_name="lighttpd-publish")
        wait_port(self.port)

    def publish(self, body, auth="Bearer " + KEY):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("POST", "/api/publish/", body=json.dumps(body).encode(),
                  headers={"Content-Type": JSON_TYPE, "Authorization": auth})
        r = c.getresponse()
        r.data = r.read()
        c.close()
        return r

    def children(self):
        return children_of(self.proc.pid)

    def stderr(self):
        return read_from(self.log, self.log_from)


def test_fastcgi_restarts(redis):
    if not os.path.exists(LIGHTTPD):
        case("fastcgi")
        skip("lighttpd is not installed")
        return
    s = Lighttpd(settings(redis.url))
    good = {"channel": "news", "data": {"via": "fastcgi"}}
    ps = subscriber(redis, NEWS)

    def status(r):
        return (r.status, r.data)
    case("fastcgi 200: one process publishes over its kept connection")
    r1, r2 = s.publish(good), s.publish(good)
    kids = s.children()
    check(r1.status == 200 and r2.status == 200 and len(kids) == 1,
          (status(r1), status(r2), kids))
    check(next_message(ps) is not None and next_message(ps) is not None)
    ps.close()
    case("fastcgi 200 right after a Redis restart: the closed connection is noticed before use")
    redis.stop()
    redis.start()
    ps = subscriber(redis, NEWS)
    r = s.publish(good)
    check(r.status == 200 and next_message(ps) is not None, status(r))
    ps.close()
    case("fastcgi 503 with Retry-After while Redis is stopped")
    redis.stop()
    r = s.publish(good)
    check(r.status == 503 and r.getheader("Retry-After") == "2", status(r))
    case("fastcgi 200 again once Redis is back, in the same process")
    redis.start()
    ps = subscriber(redis, NEWS)
    r = s.publish(good)
    check(r.status == 200 and next_message(ps) is not None and s.children() == kids,
          (status(r), kids, s.children()))
    ps.close()
    case("fastcgi: the key is in no log")
    s.publish(good, auth="Bearer wrong")
    check(KEY not in s.stderr() and "outcome=bad_key" in s.stderr(), s.stderr()[-2000:])


def test_django_layer(redis):
    case("django: RedisPubSubChannelLayer.receive gets a tokenauth.message published by us")
    try:
        from channels_redis.pubsub import RedisPubSubChannelLayer
    except ImportError as e:
        skip("python3-channels-redis is missing: %s" % e)
        return

    async def scenario():
        layer = RedisPubSubChannelLayer(hosts=[{"address": redis.url}])
        channel = await layer.new_channel()
        await layer.group_add("news", channel)
        await asyncio.get_running_loop().run_in_executor(None, redis.wait_subscribers, NEWS)
        r = await asyncio.get_running_loop().run_in_executor(
            None, lambda: cgi(settings(redis.url), {"channel": "news", "data": {"x": 1}}))
        try:
            msg = await asyncio.wait_for(layer.receive(channel), HANG_S)
        finally:
            await layer.flush()
        return r, msg

    r, msg = asyncio.run(scenario())
    expect(r, 200, {"published": 1})
    check_eq(msg, {"type": "tokenauth.message", "data": {"x": 1}}, "received")


def with_redis(f):
    """f as a case of run_cases, called with the suite's Redis."""
    def run():
        f(REDIS)
    run.__name__ = f.__name__
    return run


why = available()
if why:
    case("redis")
    skip(why)
else:
    REDIS = RedisServer()
    run_cases(*(with_redis(f) for f in (
        test_published_message, test_many_channels, test_bad_bodies, test_refusals,
        test_unavailable, test_django_layer, test_fastcgi_restarts)))
finish("publish")
