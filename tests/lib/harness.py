"""harness.py -- what every integration test shares: counting, temporary folders, databases,
free loopback ports, starting the real programs and stopping them.

A test file calls case("what is checked") ... check(cond, detail) for each behaviour, and
finish() at the end, which prints "<suite>: N passed, N failed, N skipped" (tests/run.sh adds
those up) and exits non-zero on failure. Programs come from $TOKENAUTH_BIN (default build/asan),
the sqlite3 extension from $TOKENAUTH_EXT. Every process started through start() is stopped, and
the temporary folder removed, at exit, even when the test fails half-way."""
import atexit
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TOKENAUTH_BIN", os.path.join(ROOT, "build", "asan"))
EXT = os.environ.get("TOKENAUTH_EXT", os.path.join(ROOT, "build", "tokenauth.so"))
TOOLS = os.environ.get("TOKENAUTH_TOOLS", os.path.join(ROOT, "build", "tools"))
OUT = os.environ.get("TOKENAUTH_TEST_OUT", os.path.join(ROOT, "tests", "out"))

# The deadline of every wait for a condition: it only bounds a hang. A host running other suites
# and benchmarks beside this one (load average in the hundreds on 2 cores) may take many seconds
# to start a program or answer a connection; a correct run returns as soon as the condition
# holds, so a long bound costs nothing when all is well.
HANG_S = 60.0

_counts = {"passed": 0, "failed": 0, "skipped": 0}
_case = ["(unnamed)"]
_procs = []
TMP = tempfile.mkdtemp(prefix="tokenauth-it-")


def _cleanup():
    for p in reversed(_procs):
        stop(p)
    if os.environ.get("TOKENAUTH_KEEP_TMP"):
        print("# kept", TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)


def case(name):
    """Names the behaviour the next checks test."""
    _case[0] = name


def check(cond, detail=""):
    """Counts one result for the current case; prints the detail when it fails."""
    if cond:
        _counts["passed"] += 1
        print("ok - %s" % _case[0])
    else:
        _counts["failed"] += 1
        print("not ok - %s" % _case[0])
        print("  %s" % str(detail).replace("\n", "\n  "))
    sys.stdout.flush()
    return bool(cond)


def check_eq(actual, expected, what=""):
    return check(actual == expected, "%s: got %r, expected %r" % (what, actual, expected))


def skip(why):
    _counts["skipped"] += 1
    print("skip - %s: %s" % (_case[0], why))


def skip_suite(suite, what, why):
    """Counts the case what as skipped for why and ends the suite there (finish): for a suite
    that cannot run at all."""
    case(what)
    skip(why)
    finish(suite)


def run_cases(*funcs):
    """Runs each test function; an exception fails that case instead of the whole file."""
    for f in funcs:
        case(f.__name__)
        try:
            f()
        except Exception:  # a crash in one case must not hide the others
            check(False, traceback.format_exc())


def finish(suite):
    print("%s: %d passed, %d failed, %d skipped"
          % (suite, _counts["passed"], _counts["failed"], _counts["skipped"]))
    sys.stdout.flush()
    sys.exit(0 if _counts["failed"] == 0 else 1)


def free_port(host="127.0.0.1"):
    """A port free on host (a loopback address) right now (the kernel picks it)."""
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=HANG_S, host="127.0.0.1"):
    """Waits until something accepts on host:port; raises on the deadline."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing accepts on %s:%d after %.0fs" % (host, port, timeout))


def wait_for(pred, timeout=HANG_S):
    """Polls pred until it is true or timeout seconds pass; returns its last answer. Wait on
    the state a case is about with this, never with a sleep of a guessed length."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid):
    """Pids of pid's children, sorted (read from /proc: no pgrep needed)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    kids.append(int(entry))
            except OSError:
                pass
    return sorted(kids)


def read_from(path, offset):
    """What was written to the file at path after offset bytes (a log, since a test began)."""
    with open(path, errors="replace") as f:
        f.seek(offset)
        return f.read()


def redis_on_socket(sock, log_name):
    """redis-server on the Unix socket sock (no TCP, no persistence), once it answers PING;
    stopped at exit like every start()ed program."""
    p = start(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
               "--appendonly", "no", "--dir", os.path.dirname(sock)], log_name=log_name)
    deadline = time.time() + HANG_S
    while time.time() < deadline:
        r = subprocess.run(["redis-cli", "-s", sock, "PING"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            return p
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer on %s" % sock)

def make_db(name="db.sqlite3", users=()):
    """A new database from schema.sql with users [(username, password, extra dict)]; passwords are
    hashed by the extension at 1 iteration (fast tests). Returns its path."""
    path = os.path.join(TMP, name)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    subprocess.run(["sqlite3", path], stdin=open(os.path.join(ROOT, "schema.sql")),
                   stdout=subprocess.DEVNULL, check=True)
    for u in users:
        add_user(path, *u)
    return path


def users_db(name, usernames):
    """make_db(name) with each of usernames (password "pw"); returns (its path, {username: id},
    {username: token})."""
    path = make_db(name, users=[(u, "pw", {}) for u in usernames])
    ids = {u: int(sql(path, "SELECT id FROM auth_user WHERE username='%s';" % u))
           for u in usernames}
    return path, ids, {u: token_of(path, u) for u in usernames}


def sql(path, statement, load_ext=False):
    """Runs statements through the sqlite3 shell, as an admin would; returns its stdout."""
    script = (".load %s\n" % os.path.splitext(EXT)[0] if load_ext else "") + statement + "\n"
    r = subprocess.run(["sqlite3", "-batch", path], input=script, capture_output=True, text=True)
    if r.returncode != 0 or r.stderr:
        raise RuntimeError("sqlite3 failed: %s" % r.stderr)
    return r.stdout


def add_user(path, username, password, extra=None, iterations=1):
    extra = extra or {}
    con = sqlite3.connect(path)
    con.enable_load_extension(True)
    con.load_extension(os.path.splitext(EXT)[0])
    con.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,"
        " is_staff, is_active, date_joined) VALUES (make_password(?, ?), 0, ?, '', '', ?, 0, ?,"
        " strftime('%Y-%m-%d %H:%M:%f', 'now'))",
        (password, iterations, username, extra.get("email", username + "@example.com"),
         1 if extra.get("is_active", True) else 0))
    con.commit()
    con.close()


def token_of(path, username):
    con = sqlite3.connect(path)
    row = con.execute("SELECT t.key FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id"
                      " WHERE u.username = ?", (username,)).fetchone()
    con.close()
    return row[0] if row else None


def exit_status(p, timeout=HANG_S):
    """p's exit status once it ends within timeout seconds, else "still running" (what a check
    then reports; the process is stopped at exit like every other started here)."""
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        return "still running"


def preload_env(shim):
    """The environment that loads the fault-injection shim tests/lib/<shim>.c into a program
    (LD_PRELOAD): the shim built into OUT as <shim>.so, and the sanitizer build told not to insist
    that its runtime comes first."""
    lib = os.path.join(OUT, shim + ".so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", lib,
                    os.path.join(ROOT, "tests", "lib", shim + ".c"), "-ldl"], check=True)
    return {"LD_PRELOAD": lib,
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}


def start(argv, env=None, log_name=None, **kw):
    """Starts a program in its own process group, output to OUT/<log_name>.log; stopped at
    exit."""
    os.makedirs(OUT, exist_ok=True)
    log = open(os.path.join(OUT, (log_name or os.path.basename(argv[0])) + ".log"), "ab")
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.Popen(argv, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, **kw)
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=5.0):
    """Stops a started program and its group; returns its exit code."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return p.returncode
