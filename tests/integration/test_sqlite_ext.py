"""test_sqlite_ext.py -- the tokenauth SQLite extension at the real sqlite3 shell.

Loads $TOKENAUTH_EXT with `.load` into Debian's sqlite3 and checks each SQL function
(make_password, check_password, new_token, sign_channel): results, NULL in / NULL out, the error for each
wrong type (naming the function), wrong argument counts, SQLITE_DIRECTONLY (refused inside a view
or a trigger), that the schema's trigger gives every user inserted at the prompt a token, and
that a hash which fails to compute is an error, not a 0."""
import base64
import hashlib
import hmac
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BIN, EXT, add_user, case, check, check_eq, finish, make_db,  # noqa: E402
                     run_cases, skip, sql, token_of)

LOAD = ".load %s\n" % os.path.splitext(EXT)[0]
HEX40 = re.compile(r"^[0-9a-f]{40}$")

# Made by Django 3.2 (python3-django) and committed: see tests/unit/test_password.c.
DJANGO_PBKDF2 = ("testing123", "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQS$"
                 "Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=")
DJANGO_ARGON2 = ("123", "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$"
                 "sKNTCZ+sivwablPAcYCQ2A")


def shell(script, db=":memory:", env=None, load=True):
    """Runs script through `sqlite3 -batch db` (with the extension loaded first); returns
    (exit code, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.pop("TOKENAUTH_PASSWORD_ITERATIONS", None)
    full_env.pop("TOKENAUTH_CHANNEL_SECRET", None)
    full_env.update(env or {})
    r = subprocess.run(["sqlite3", "-batch", db], input=(LOAD if load else "") + script + "\n",
                       capture_output=True, text=True, env=full_env)
    return r.returncode, r.stdout, r.stderr


def value(expr, **kw):
    """The single value of SELECT expr, NULL shown as 'NULL'; raises on any error."""
    rc, out, err = shell(".nullvalue NULL\nSELECT %s;" % expr, **kw)
    if rc != 0 or err:
        raise RuntimeError("sqlite3: %s" % err)
    return out.rstrip("\n")


def error_of(expr):
    """The error sqlite3 prints for SELECT expr ('' when there is none)."""
    rc, out, err = shell("SELECT %s;" % expr)
    return err.strip() if rc != 0 else ""


def test_load():
    case("1: .load finds sqlite3_tokenauth_init from the file name alone")
    rc, out, err = shell("SELECT 1;")
    check(rc == 0 and err == "" and out == "1\n", "rc=%d out=%r err=%r" % (rc, out, err))
    case("1: without .load the functions do not exist")
    rc, out, err = shell("SELECT new_token();", load=False)
    check(rc != 0 and "no such function: new_token" in err, err)


def test_make_password():
    case("2: make_password(plain, 3) writes pbkdf2_sha256$3$<22-char salt>$<44-char key>")
    enc = value("make_password('testing123', 3)")
    check(re.match(r"^pbkdf2_sha256\$3\$[A-Za-z0-9]{22}\$[A-Za-z0-9+/]{43}=$", enc), enc)
    case("2: two calls give two salts")
    a, b = value("make_password('x', 1)"), value("make_password('x', 1)")
    check(a != b and a.split("$")[2] != b.split("$")[2], "%s %s" % (a, b))
    case("3: make_password(plain) takes TOKENAUTH_PASSWORD_ITERATIONS from the environment")
    enc = value("make_password('x')", env={"TOKENAUTH_PASSWORD_ITERATIONS": "7"})
    check(enc.startswith("pbkdf2_sha256$7$"), enc)
    case("3: without it Django 5.2's 1000000")
    check(value("make_password('x')").startswith("pbkdf2_sha256$1000000$"))
    case("3: a bad value is an error naming the variable, as login-fcgi reports it")
    for bad in ("12abc", "0", "", " 7", "100000001", "-1"):
        rc, out, err = shell("SELECT make_password('x');",
                             env={"TOKENAUTH_PASSWORD_ITERATIONS": bad})
        check(rc != 0 and out == "" and
              ('make_password: TOKENAUTH_PASSWORD_ITERATIONS: "%s" is not a whole number from 1 '
               'to 100000000' % bad) in err, (bad, rc, out, err))
    case("3: with a bad value, an explicit count and the other functions still work")
    enc = value("make_password('x', 2)", env={"TOKENAUTH_PASSWORD_ITERATIONS": "12abc"})
    check(enc.startswith("pbkdf2_sha256$2$"), enc)
    check_eq(value("length(new_token())", env={"TOKENAUTH_PASSWORD_ITERATIONS": "12abc"}), "40")
    case("3: an explicit count wins over the environment")
    enc = value("make_password('x', 2)", env={"TOKENAUTH_PASSWORD_ITERATIONS": "7"})
    check(enc.startswith("pbkdf2_sha256$2$"), enc)
    case("4: non-ASCII and empty passwords round-trip through check_password")
    check_eq(value("check_password('pässwörd €', make_password('pässwörd €', 1))"), "1")
    check_eq(value("check_password('passwörd €', make_password('pässwörd €', 1))"), "0")
    check_eq(value("check_password('', make_password('', 1))"), "1")


def test_check_password():
    case("5: check_password on Django-made pbkdf2_sha256 and argon2id hashes")
    for plain, enc in (DJANGO_PBKDF2, DJANGO_ARGON2):
        check_eq(value("check_password('%s', '%s')" % (plain, enc)), "1", enc)
        check_eq(value("check_password('%sx', '%s')" % (plain, enc)), "0", enc)
    case("5: unusable, empty, unknown and malformed hashes answer 0, as Django's False")
    for enc in ("!wd8MwIAe9nc1f2dZ3LmHSB5YkOuHnba98c2Z4qUS", "", "md5$a$b", "pbkdf2_sha256$x$y$z",
                "argon2$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"):
        check_eq(value("check_password('x', '%s')" % enc), "0", enc)


def test_new_token():
    case("6: new_token() is 40 lowercase hex characters, new each call")
    a, b = value("new_token()"), value("new_token()")
    check(HEX40.match(a) and HEX40.match(b) and a != b, "%s %s" % (a, b))
    rc, out, err = shell("SELECT count(DISTINCT new_token()) FROM"
                         " (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                         " WHERE i < 1000) SELECT i FROM n);")
    check(rc == 0 and out == "1000\n", "%r %r" % (out, err))


def test_null():
    case("7: NULL in, NULL out")
    for expr in ("make_password(NULL)", "make_password(NULL, 5)", "make_password('x', NULL)",
                 "check_password(NULL, 'x')", "check_password('x', NULL)",
                 "check_password(NULL, NULL)"):
        check_eq(value(expr), "NULL", expr)


def test_wrong_types():
    case("8: a wrong type is an error naming the function and what it accepts")
    want = {
        "make_password(1)": "make_password accepts only text or NULL as the password",
        "make_password(1.5)": "make_password accepts only text or NULL as the password",
        "make_password(x'00')": "make_password accepts only text or NULL as the password",
        "make_password('x', 'ten')":
            "make_password accepts only an integer from 1 to 100000000 as iterations",
        "make_password('x', '10')":
            "make_password accepts only an integer from 1 to 100000000 as iterations",
        "make_password('x', 1.0)":
            "make_password accepts only an integer from 1 to 100000000 as iterations",
        "make_password('x', 0)":
            "make_password accepts only an integer from 1 to 100000000 as iterations",
        "make_password('x', -1)":
            "make_password accepts only an integer from 1 to 100000000 as iterations",
        "make_password('x', 100000001)":
            "make_password accepts only an integer from 1 to 100000000 as iterations",
        "check_password(1, 'x')": "check_password accepts only text or NULL arguments",
        "check_password('x', x'21')": "check_password accepts only text or NULL arguments",
        "make_password(CAST(x'31323300' AS TEXT))": "make_password: the password holds a NUL byte",
    }
    for expr, msg in want.items():
        err = error_of(expr)
        check(err.endswith(": " + msg), "%s: got %r, expected %r" % (expr, err, msg))
    case("7b: check_password takes plain whole: a NUL byte never matches the password cut there")
    for plain in ("x'31323300'", "x'3132330000'", "x'3100' || '23'"):
        expr = "check_password(CAST(%s AS TEXT), make_password('123', 1))" % plain
        check_eq(value(expr), "0", expr)
    check_eq(value("check_password('123', make_password('123', 1))"), "1", "the whole password")
    case("8: a wrong number of arguments is refused by SQLite")
    for expr, name in (("make_password()", "make_password"),
                       ("make_password('a', 1, 2)", "make_password"),
                       ("check_password('a')", "check_password"), ("new_token(1)", "new_token")):
        err = error_of(expr)
        check("wrong number of arguments to function %s()" % name in err, "%s: %r" % (expr, err))


def test_directonly():
    case("9: SQLITE_DIRECTONLY: refused inside a view stored in the database")
    db = make_db("directonly.sqlite3")
    rc, out, err = shell("CREATE VIEW v1 AS SELECT new_token() AS k;"
                         " CREATE VIEW v2 AS SELECT check_password('a', 'b') AS k;", db=db)
    check(rc == 0, err)
    rc, out, err = shell("SELECT k FROM v1;", db=db)
    check(rc != 0 and "unsafe use of new_token()" in err, err)
    rc, out, err = shell("SELECT k FROM v2;", db=db)
    check(rc != 0 and "unsafe use of check_password()" in err, err)
    case("9: (TEMP views are the session's own, so SQLite allows them there)")
    rc, out, err = shell("CREATE TEMP VIEW t AS SELECT new_token() AS k; SELECT length(k) FROM t;")
    check_eq(out, "40\n", err)
    case("9: SQLITE_DIRECTONLY: refused inside a trigger a database could plant")
    rc, out, err = shell("CREATE TRIGGER planted AFTER UPDATE ON auth_user BEGIN"
                         " UPDATE auth_user SET password = make_password('owned', 1)"
                         " WHERE id = NEW.id; END;", db=db, load=False)
    check(rc == 0, err)
    add_user(db, "ann", "pw")
    rc, out, err = shell("UPDATE auth_user SET is_staff = 1;", db=db)
    check(rc != 0 and "unsafe use of make_password()" in err, err)


def test_trigger():
    case("10: a user inserted at the prompt gets a token at once (the schema's trigger)")
    db = make_db("trigger.sqlite3")
    sql(db, "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) VALUES (make_password('s3cret', 1), 0,"
            " 'ann', '', '', 'ann@example.com', 0, 1, datetime('now'));", load_ext=True)
    key = token_of(db, "ann")
    check(key is not None and HEX40.match(key), key)
    case("10: its password checks at the prompt")
    out = sql(db, "SELECT check_password('s3cret', password), check_password('nope', password)"
                  " FROM auth_user WHERE username = 'ann';", load_ext=True)
    check_eq(out, "1|0\n")
    case("10: several users in one statement each get their own token")
    sql(db, "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined) SELECT make_password(u, 1), 0, u, '', '',"
            " '', 0, 1, datetime('now') FROM (SELECT 'bob' AS u UNION ALL SELECT 'cy');",
        load_ext=True)
    out = sql(db, "SELECT count(*), count(DISTINCT t.key) FROM auth_user u"
                  " JOIN authtoken_token t ON t.user_id = u.id;")
    check_eq(out, "3|3\n")
    case("10: Python's sqlite3 module loads the extension too (harness.add_user)")
    add_user(db, "dee", "pw", iterations=2)
    check(HEX40.match(token_of(db, "dee") or ""))
    out = sql(db, "SELECT substr(password, 1, 16) FROM auth_user WHERE username = 'dee';")
    check_eq(out, "pbkdf2_sha256$2$\n")


def test_hash_failure():
    case("11: check_password: a hash that fails (argon2 out of memory) is an error, never a 0")
    asan_ext = os.path.join(BIN, "tokenauth.so")  # the ASan+UBSan build: make asan
    runtime = [subprocess.run(["gcc", "-print-file-name=%s" % lib], capture_output=True,
                              text=True).stdout.strip() for lib in ("libasan.so", "libubsan.so")]
    if not os.path.exists(asan_ext) or not all(os.path.isabs(p) for p in runtime):
        skip("needs %s and gcc's libasan/libubsan to make an allocation fail" % asan_ext)
        return
    salt = base64.b64encode(b"0123456789abcdef").decode().rstrip("=")
    digest = base64.b64encode(b"x" * 32).decode().rstrip("=")
    encoded = "argon2$argon2id$v=19$m=1048576,t=1,p=1$%s$%s" % (salt, digest)  # 1 GiB
    # The sanitizer runtime, preloaded into the shell, refuses allocations over 256 MiB.
    env = dict(os.environ, LD_PRELOAD=":".join(runtime),
               ASAN_OPTIONS="max_allocation_size_mb=256:allocator_may_return_null=1:"
                            "detect_leaks=0")
    r = subprocess.run(["sqlite3", "-batch", ":memory:"], env=env, capture_output=True,
                       text=True, input=".load %s\nSELECT check_password('x', '%s');\n"
                       % (os.path.splitext(asan_ext)[0], encoded))
    check(r.returncode != 0 and r.stdout == "" and
          "check_password: out of memory or crypto library failure" in r.stderr,
          "rc=%d out=%r err=%r" % (r.returncode, r.stdout, r.stderr))


SECRET = "k3y-for-tests-k3y-for-tests-k3y!!"  # 33 characters


def python_signature(secret, user_id, channel):
    """The signature as docs/channels.md tells the application to make it."""
    return hmac.new(secret.encode(), f"{user_id}:{channel}".encode(), hashlib.sha256).hexdigest()


def sign_error(expr, secret=SECRET):
    """The error sqlite3 prints for SELECT expr with TOKENAUTH_CHANNEL_SECRET=secret."""
    rc, out, err = shell("SELECT %s;" % expr, env={"TOKENAUTH_CHANNEL_SECRET": secret})
    return err.strip() if rc != 0 else ""


def test_sign_channel():
    env = {"TOKENAUTH_CHANNEL_SECRET": SECRET}
    case("sign_channel: the signature is Python's hmac.new(secret, b'<id>:<channel>', sha256)")
    for user_id, channel in ((7, "news.sport"), (42, "room-1"), (9223372036854775807, "a" * 99)):
        check_eq(value("sign_channel(%d, '%s')" % (user_id, channel), env=env),
                 python_signature(SECRET, user_id, channel), "%d %s" % (user_id, channel))
    case("sign_channel: NULL in, NULL out")
    for expr in ("sign_channel(NULL, 'news')", "sign_channel(7, NULL)",
                 "sign_channel(NULL, NULL)"):
        check_eq(value(expr, env=env), "NULL", expr)
    case("sign_channel: without TOKENAUTH_CHANNEL_SECRET it is an error, not a signature")
    err = sign_error("sign_channel(7, 'news')", secret="")
    check(err.endswith(": sign_channel: TOKENAUTH_CHANNEL_SECRET is not set"), err)
    rc, out, err = shell("SELECT sign_channel(7, 'news');")
    check(rc != 0 and err.strip().endswith(": sign_channel: TOKENAUTH_CHANNEL_SECRET is not set"),
          err)
    case("sign_channel: a secret shorter than ws-worker accepts is an error, never shown")
    err = sign_error("sign_channel(7, 'news')", secret="short-s3cret")
    check(err.endswith(": sign_channel: TOKENAUTH_CHANNEL_SECRET is shorter than 32 characters,"
                       " which ws-worker refuses") and "short-s3cret" not in err, err)
    case("sign_channel: a bad user id or channel is an error naming the function and the rule")
    bad_id = "sign_channel accepts only a positive integer or NULL as the user id"
    bad_type = "sign_channel accepts only text or NULL as the channel"
    bad_name = "sign_channel: not a channel name: 1 to 99 ASCII letters, digits, '-', '_' or '.'"
    personal = "sign_channel: user. channels are personal: no signature ever grants them"
    want = {
        "sign_channel('7', 'news')": bad_id, "sign_channel(7.0, 'news')": bad_id,
        "sign_channel(0, 'news')": bad_id, "sign_channel(-7, 'news')": bad_id,
        "sign_channel(x'07', 'news')": bad_id,
        "sign_channel(7, 5)": bad_type, "sign_channel(7, x'6e657773')": bad_type,
        "sign_channel(7, '')": bad_name, "sign_channel(7, 'bad name')": bad_name,
        "sign_channel(7, '%s')" % ("a" * 100): bad_name,
        "sign_channel(7, 'news' || char(0) || 'x')": bad_name,
        "sign_channel(7, 'user.7')": personal, "sign_channel(7, 'user.x')": personal,
    }
    for expr, msg in want.items():
        err = sign_error(expr)
        check(err.endswith(": " + msg), "%s: got %r, expected %r" % (expr, err, msg))
    err = sign_error("sign_channel(7)")
    check("wrong number of arguments to function sign_channel()" in err, err)
    case("sign_channel: SQLITE_DIRECTONLY: refused inside a view stored in the database")
    db = make_db("sign_directonly.sqlite3")
    rc, out, err = shell("CREATE VIEW v AS SELECT sign_channel(7, 'news') AS s;", db=db, env=env)
    check(rc == 0, err)
    rc, out, err = shell("SELECT s FROM v;", db=db, env=env)
    check(rc != 0 and "unsafe use of sign_channel()" in err, err)

if not os.path.exists(EXT):
    case("the extension is built")
    skip("%s does not exist: build it with make" % EXT)
    finish("sqlite_ext")
run_cases(test_load, test_make_password, test_check_password, test_new_token, test_null,
          test_wrong_types, test_directonly, test_trigger, test_hash_failure, test_sign_channel)
finish("sqlite_ext")
