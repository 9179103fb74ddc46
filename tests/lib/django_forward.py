"""django_forward.py -- what the tests of Django forwarding share: a ws-worker on a layer, a
WebSocket client's few moves, and a `manage.py runworker` Django project in the run's folder.

    w = start_worker(db, "fwd", redis.url, "pubsub", TOKENAUTH_WS_FORWARD_CHANNEL="tokenauth.inbox")
    ws = await connect(w, token)
    answer = await ask(ws, {"command": "whoami"})
    code = await close_code(ws)            # (code, reason) once the server closes it
    rw = start_runworker("tokenauth.inbox", APP_SOURCE, backend, [redis.url])

start_worker waits for the worker's redis_up line (pub/sub messages published before it are
lost). The Django project is one module of consumers (app source, `application` in it) and a
settings module naming the layer's backend and hosts."""
import asyncio
import json
import os

import harness

WORKER = os.path.join(harness.BIN, "ws-worker")
ORIGIN = "http://localhost:8000"


def start_worker(db, name, url, layer, **more):
    """A one-process ws-worker on url with TOKENAUTH_CHANNEL_LAYER=layer and the settings in
    more; returns {"proc", "port", "log"} once Redis is up for it."""
    port = harness.free_port()
    # Redis' heartbeat timeout 10 s, not 1: a Redis or a worker not run for a second on a loaded
    # host is no outage (the cases' outages stop Redis: its connection closes).
    env = {"TOKENAUTH_REDIS_URL": url, "TOKENAUTH_CHANNEL_LAYER": layer,
           "TOKENAUTH_WS_PUBLIC_CHANNELS": "news,room.*", "TOKENAUTH_REDIS_TIMEOUT_MS": "10000"}
    env.update(more)
    log = "ws-worker-%s-%d" % (name, port)
    p = harness.start([WORKER, "--db", db, "--port", str(port), "--workers", "1"], env=env,
                      log_name=log)
    harness.wait_port(port)
    path = os.path.join(harness.OUT, log + ".log")
    harness.wait_for(lambda: "redis_up" in open(path).read())
    return {"proc": p, "port": port, "log": path}


def log_of(w):
    with open(w["log"]) as f:
        return f.read()


async def connect(w, token):
    import websockets
    return await websockets.connect("ws://127.0.0.1:%d/?token=%s" % (w["port"], token),
                                    origin=ORIGIN, open_timeout=harness.HANG_S)


async def recv(ws, timeout=harness.HANG_S):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def ask(ws, msg):
    await ws.send(json.dumps(msg))
    return await recv(ws)


async def close_code(ws, timeout=harness.HANG_S):
    """(code, reason) of the server's close frame, or None when a message came instead."""
    import websockets
    try:
        await asyncio.wait_for(ws.recv(), timeout)
        return None
    except websockets.exceptions.ConnectionClosed as e:
        return (e.rcvd.code, e.rcvd.reason) if e.rcvd else None


def run(coro, timeout=5 * harness.HANG_S):
    return asyncio.run(asyncio.wait_for(coro, timeout))


SETTINGS = """
SECRET_KEY = "test-only"
INSTALLED_APPS = ["channels"]
ASGI_APPLICATION = "inboxapp.application"
CHANNEL_LAYERS = {"default": {"BACKEND": %r, "CONFIG": {"hosts": %r}}}
"""


def start_runworker(channel, app_source, backend, hosts, name="runworker"):
    """`python3 -m django runworker channel` on a project whose inboxapp module is app_source
    and whose default layer is backend on hosts; returns the process (stopped at exit)."""
    d = os.path.join(harness.TMP, "django-" + name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "inboxapp.py"), "w") as f:
        f.write(app_source)
    with open(os.path.join(d, "appsettings.py"), "w") as f:
        f.write(SETTINGS % (backend, list(hosts)))
    env = dict(os.environ, PYTHONPATH=d, DJANGO_SETTINGS_MODULE="appsettings")
    return harness.start(["/usr/bin/python3", "-m", "django", "runworker", channel], env=env,
                         log_name=name)
