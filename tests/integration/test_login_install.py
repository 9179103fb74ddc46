"""test_login_install.py -- `make install` with DESTDIR and PREFIX, and the installed programs at
work.

Runs `make install` of the build under test ($TOKENAUTH_BIN is <BUILD>/asan, so BUILD is its
parent) into a temporary DESTDIR with PREFIX=/opt/tokenauth, checks what lands where (and that
nothing lands outside DESTDIR/PREFIX), runs it a second time (idempotent), then makes a database
from the installed schema.sql, a user with the installed tokenauth.so, and logs in through the
installed login-fcgi as CGI. Also checks the default PREFIX (/usr/local) with `make -n`."""
import os
import re
import sqlite3
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import BIN, ROOT, TMP, case, check, check_eq, finish, run_cases  # noqa: E402

PREFIX = "/opt/tokenauth"
DEST = os.path.join(TMP, "dest")
HOME = DEST + PREFIX
EXPECTED = {  # path under PREFIX: mode
    "bin/login-fcgi": 0o755,
    "bin/ws-worker": 0o755,
    "lib/tokenauth/tokenauth.so": 0o644,
    "share/tokenauth/schema.sql": 0o644,
    "share/tokenauth/www/index.html": None,
    "share/tokenauth/www/app.js": None,
    "share/tokenauth/conf/lighttpd": None,
}


def build_dir():
    """The BUILD folder of the binaries under test, relative to ROOT."""
    b = os.path.normpath(BIN)
    if os.path.basename(b) == "asan":
        b = os.path.dirname(b)
    return os.path.relpath(b, ROOT)


def make(*args):
    """Runs make in ROOT, outside any make that started us (no inherited jobserver)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "BUILD=" + build_dir()] + list(args), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def all_files(top):
    found = []
    for d, _, files in os.walk(top):
        found += [os.path.join(d, f) for f in files]
    return found


def test_install():
    case("make install DESTDIR=... PREFIX=/opt/tokenauth succeeds")
    r = make("install", "DESTDIR=" + DEST, "PREFIX=" + PREFIX)
    if not check(r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]):
        return
    for path, mode in sorted(EXPECTED.items()):
        case("installed: %s%s" % (path, "" if mode is None else " mode %o" % mode))
        full = os.path.join(HOME, path)
        check(os.path.exists(full), full)
        if mode is not None and os.path.exists(full):
            check_eq(stat.S_IMODE(os.stat(full).st_mode), mode, full)
    case("nothing lands outside DESTDIR/PREFIX")
    outside = [f for f in all_files(DEST) if not f.startswith(HOME + "/")]
    check(outside == [], outside)
    case("the installed binaries are the optimised build, not the sanitized one")
    with open(os.path.join(HOME, "bin", "login-fcgi"), "rb") as f:
        check(b"__asan_init" not in f.read(), "bin/login-fcgi has ASan in it")
    case("make install again: succeeds and changes no layout (no www/www)")
    before = sorted(all_files(DEST))
    r = make("install", "DESTDIR=" + DEST, "PREFIX=" + PREFIX)
    check(r.returncode == 0 and sorted(all_files(DEST)) == before, r.stderr[-2000:])


def test_installed_programs_work():
    login = os.path.join(HOME, "bin", "login-fcgi")
    if not os.path.exists(login):
        case("the installed programs work")
        check(False, "not installed: see the first case")
        return
    case("installed: login-fcgi --check and ws-worker --help exit 0")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    db = os.path.join(TMP, "installed.sqlite3")
    p = subprocess.run([login, "--check"], env=dict(env, TOKENAUTH_DB=db), capture_output=True,
                       timeout=30)
    check(p.returncode == 0, p)
    p = subprocess.run([os.path.join(HOME, "bin", "ws-worker"), "--help"], env=env,
                       capture_output=True, timeout=30)
    check(p.returncode == 0, p)
    case("installed: schema.sql and tokenauth.so make a user with a token")
    with open(os.path.join(HOME, "share", "tokenauth", "schema.sql")) as f:
        subprocess.run(["sqlite3", db], stdin=f, stdout=subprocess.DEVNULL, check=True)
    ext = os.path.join(HOME, "lib", "tokenauth", "tokenauth")
    script = (".load %s\nINSERT INTO auth_user (password, is_superuser, username, first_name,"
              " last_name, email, is_staff, is_active, date_joined) VALUES"
              " (make_password('pw', 1), 0, 'inst', '', '', '', 0, 1, '2026-01-01');\n"
              "SELECT key FROM authtoken_token;\n" % ext)
    p = subprocess.run(["sqlite3", "-batch", db], input=script, capture_output=True, text=True,
                       timeout=30)
    key = p.stdout.strip()
    check(p.returncode == 0 and p.stderr == "" and re.fullmatch(r"[0-9a-f]{40}", key), p)
    case("installed: login-fcgi as CGI logs the user in with that token")
    body = b"username=inst&password=pw"
    cgi = dict(env, TOKENAUTH_DB=db, GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="POST",
               SCRIPT_NAME="/api/login/", CONTENT_TYPE="application/x-www-form-urlencoded",
               CONTENT_LENGTH=str(len(body)), REMOTE_ADDR="127.0.0.1",
               TOKENAUTH_UPDATE_LAST_LOGIN="1")
    p = subprocess.run([login], input=body, env=cgi, capture_output=True, timeout=60)
    out = p.stdout.decode("latin-1")
    check(p.returncode == 0 and out.startswith("Status: 200") and
          out.endswith('{"token":"%s"}' % key), out + p.stderr.decode("latin-1"))
    con = sqlite3.connect(db)
    check(con.execute("SELECT last_login FROM auth_user WHERE username = 'inst'").fetchone()[0],
          "last_login not set")
    con.close()


def test_default_prefix():
    case("make -n install: PREFIX defaults to /usr/local, under DESTDIR")
    r = make("-n", "install", "DESTDIR=/nonexistent-destdir")
    check(r.returncode == 0 and "/nonexistent-destdir/usr/local/bin" in r.stdout and
          "/nonexistent-destdir/usr/local/lib/tokenauth" in r.stdout, r.stdout + r.stderr)


run_cases(test_install, test_installed_programs_work, test_default_prefix)
finish("login_install")
