"""test_login_cgi.py -- login-fcgi run as plain CGI (environment + stdin, one request, exit):
every status of the login service, token get-or-create, rehash, throttling, CORS, the log line,
configuration errors, and that logout takes every Authorization header a ws-worker socket takes
(ws-worker started as test_ws_worker.py does)."""
import base64
import json
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import test_ws_worker as tw  # noqa: E402
from login import run_cgi  # noqa: E402
from harness import (BIN, ROOT, TMP, case, check, check_eq, finish, make_db,  # noqa: E402
                     run_cases, skip, token_of)

LOGIN = os.path.join(BIN, "login-fcgi")
USER_NOT_FOUND = {"user_not_found": "There is no user with this username and password !"}
FORM = "application/x-www-form-urlencoded"
THROTTLE_OFF = {"TOKENAUTH_THROTTLE_USER_FAILURES": "0", "TOKENAUTH_THROTTLE_USER_CEILING": "0",
                "TOKENAUTH_THROTTLE_ADDR_FAILURES": "0"}

DB = make_db("cgi.sqlite3", users=[("ann", "s3cret pw"), ("bob", "hunter2"),
                                   ("off", "pw", {"is_active": False})])


def cgi(method="POST", path="/api/login/", body=b"", ctype=FORM, env=None, db=None,
        length=None):
    """Runs login-fcgi once as CGI and parses what it printed."""
    if isinstance(body, str):
        body = body.encode()
    settings = {"TOKENAUTH_DB": db or DB, "TOKENAUTH_PASSWORD_ITERATIONS": "1",
                "TOKENAUTH_DB_BUSY_TIMEOUT_MS": "100"}
    return run_cgi(LOGIN, dict(settings, **(env or {})), body, method, path, ctype, length)


def login(username, password, **kw):
    return cgi(body="username=%s&password=%s" % (username, password), **kw)


def common(r):
    """Every response: no-store, JSON when there is a body, exit 0, a log line."""
    ok = r.rc == 0 and r.headers.get("cache-control") == "no-store"
    if r.body:
        ok = ok and r.headers.get("content-type") == "application/json" and \
            isinstance(r.json, (dict, list))
    return ok and "event=request" in r.stderr


def expect(r, status, body=None):
    check(r.status == status and common(r) and (body is None or r.json == body),
          "expected %s %r, got %r" % (status, body, r))


def test_login_form_json_multipart():
    tok = token_of(DB, "ann")
    case("200: form body gives the user's token (made by the trigger)")
    expect(login("ann", "s3cret+pw"), 200, {"token": tok})
    case("200: JSON body")
    expect(cgi(body=json.dumps({"username": "ann", "password": "s3cret pw"}),
               ctype="application/json; charset=utf-8"), 200, {"token": tok})
    case("200: multipart/form-data body (a browser FormData)")
    b = ("--BOUND\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nann\r\n"
         "--BOUND\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\ns3cret pw\r\n"
         "--BOUND--\r\n")
    expect(cgi(body=b, ctype="multipart/form-data; boundary=BOUND"), 200, {"token": tok})
    case("200: /api/login without the slash")
    expect(login("ann", "s3cret+pw", path="/api/login"), 200, {"token": tok})
    case("200: routed by REQUEST_URI when SCRIPT_NAME is the program")
    expect(login("ann", "s3cret+pw", env={"SCRIPT_NAME": "/cgi-bin/login-fcgi",
                                          "REQUEST_URI": "/api/login/?x=1"}), 200, {"token": tok})
    case("200: last value wins on duplicate fields")
    expect(cgi(body="username=bob&password=x&username=ann&password=s3cret+pw"), 200,
           {"token": tok})
    case("the token reaches the client, never the log")
    r = login("ann", "s3cret+pw")
    check(tok not in r.stderr and "s3cret" not in r.stderr and "outcome=ok" in r.stderr and
          "user=ann" in r.stderr and "status=200" in r.stderr, r.stderr)
    case("last_login is left alone by default, as DRF's obtain_auth_token does")
    con = sqlite3.connect(DB)
    check(con.execute("SELECT last_login FROM auth_user WHERE username='ann'").fetchone()[0]
          is None)
    case("a login with nothing to change writes nothing (data_version of another connection), "
         "with the throttle on (it only reads the counts) and off")
    before = con.execute("PRAGMA data_version").fetchone()[0]
    expect(login("ann", "s3cret+pw"), 200, {"token": tok})
    expect(login("ann", "s3cret+pw", env=THROTTLE_OFF), 200, {"token": tok})
    check_eq(con.execute("PRAGMA data_version").fetchone()[0], before, "data_version")
    case("a success after failures of that username from that address clears them (a write); "
         "the next success writes nothing again")
    bob = token_of(DB, "bob")
    expect(login("bob", "wrong"), 400, USER_NOT_FOUND)
    check_eq(failures(DB, "user+addr", "127.0.0.1 bob"), 1, "bob's failures from here")
    before = con.execute("PRAGMA data_version").fetchone()[0]
    expect(login("bob", "hunter2"), 200, {"token": bob})
    check_eq(failures(DB, "user+addr", "127.0.0.1 bob"), 0, "bob's failures from here")
    check(con.execute("PRAGMA data_version").fetchone()[0] != before, "nothing written")
    before = con.execute("PRAGMA data_version").fetchone()[0]
    expect(login("bob", "hunter2"), 200, {"token": bob})
    check_eq(con.execute("PRAGMA data_version").fetchone()[0], before, "data_version")
    case("TOKENAUTH_UPDATE_LAST_LOGIN=1: last_login is set, as Django's login() does")
    expect(login("ann", "s3cret+pw", env={"TOKENAUTH_UPDATE_LAST_LOGIN": "1"}), 200,
           {"token": tok})
    check(con.execute("SELECT last_login FROM auth_user WHERE username='ann'").fetchone()[0])
    con.close()


def test_bad_credentials():
    case("400: wrong password")
    expect(login("bob", "wrong"), 400, USER_NOT_FOUND)
    case("400: unknown user")
    expect(login("nobody", "x"), 400, USER_NOT_FOUND)
    case("400: inactive user with the right password")
    expect(login("off", "pw"), 400, USER_NOT_FOUND)
    case("the log names the outcome, not the password")
    r = login("bob", "wrongpass1")
    check("outcome=bad_credentials" in r.stderr and "wrongpass1" not in r.stderr, r.stderr)
    db = make_db("hashes.sqlite3", users=[("bang", "pw"), ("bcrypt", "pw"), ("broken", "pw")])
    con = sqlite3.connect(db)
    for username, encoded in (("bang", "!unusablePasswordSuffix0123456789abcdef"),
                              ("bcrypt", "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuv"),
                              ("broken", "pbkdf2_sha256$x$salt$hash")):
        con.execute("UPDATE auth_user SET password = ? WHERE username = ?", (encoded, username))
    con.commit()
    con.close()
    for username, what in (("bang", "an unusable password (\"!...\")"),
                           ("bcrypt", "an unknown hash format"), ("broken", "a malformed hash")):
        case("400: a user with %s, counted as a failure, the hash left alone" % what)
        before = stored_password(db, username)
        r = login(username, "pw", db=db)
        expect(r, 400, USER_NOT_FOUND)
        check("outcome=bad_credentials" in r.stderr, r.stderr)
        check_eq(failures(db, "user", username), 1, "failures of " + username)
        check_eq(stored_password(db, username), before, "stored hash")


def stored_password(db, username):
    con = sqlite3.connect(db)
    row = con.execute("SELECT password FROM auth_user WHERE username = ?", (username,)).fetchone()
    con.close()
    return row[0] if row else None


def failures(db, kind, subject):
    con = sqlite3.connect(db)
    row = con.execute("SELECT n_failures FROM tokenauth_login_failure WHERE kind = ? AND"
                      " subject = ?", (kind, subject)).fetchone()
    con.close()
    return row[0] if row else 0


def test_missing_and_malformed():
    case("400: missing password names it")
    expect(cgi(body="username=ann"), 400, {"password": ["This field is required."]})
    case("400: both missing, empty POST without a content type")
    expect(cgi(ctype=None), 400, {"username": ["This field is required."],
                                  "password": ["This field is required."]})
    case("400: blank username")
    expect(cgi(body="username=&password=x"), 400, {"username": ["This field may not be blank."]})
    for what, body, ctype in [
            ("bad percent-escape", "username=%zz&password=x", FORM),
            ("bad UTF-8 in a form", "username=%ff&password=x", FORM),
            ("invalid JSON", "{\"username\": ", "application/json"),
            ("JSON not an object", "[1, 2]", "application/json"),
            ("bad UTF-8 in JSON", b"{\"username\": \"\xff\", \"password\": \"x\"}",
             "application/json"),
            ("multipart without a boundary", "--x\r\n", "multipart/form-data"),
            ("unterminated multipart", "--B\r\nContent-Disposition: form-data; name=username"
             "\r\n\r\nann", "multipart/form-data; boundary=B")]:
        case("400: malformed body: " + what)
        r = cgi(body=body, ctype=ctype)
        expect(r, 400)
        check("detail" in (r.json or {}), r)
    case("400: non-string JSON value")
    expect(cgi(body='{"username": ["ann"], "password": "x"}', ctype="application/json"), 400,
           {"username": ["Not a valid string."]})
    nul = {"password": ["Null characters are not allowed."]}
    case("400: a NUL in a form password is refused whole, never cut (123%00 is not 123)")
    expect(cgi(body="username=ann&password=s3cret+pw%00"), 400, nul)
    expect(cgi(body="username=ann&password=%00"), 400, nul)
    case("400: a NUL in a form username is refused")
    expect(cgi(body="username=ann%00&password=s3cret+pw"), 400,
           {"username": ["Null characters are not allowed."]})
    case("400: a NUL in a multipart password is refused")
    b = ("--B\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nann\r\n"
         "--B\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\ns3cret pw\0\r\n"
         "--B--\r\n")
    expect(cgi(body=b, ctype="multipart/form-data; boundary=B"), 400, nul)
    case("400: a JSON \\u0000 in the password is refused")
    r = cgi(body='{"username": "ann", "password": "s3cret pw\\u0000"}', ctype="application/json")
    expect(r, 400)
    check("token" not in (r.json or {}) and "detail" in (r.json or {}), r)
    case("a refused NUL is no password check: nothing counted for the throttle")
    check_eq(failures(DB, "user", "ann"), 0, "ann's failures")
    case("400: body shorter than its Content-Length")
    expect(cgi(body="username=a", length=100), 400)
    case("400: bad Content-Length")
    expect(cgi(body="", env={"CONTENT_LENGTH": "ten"}), 400)


def test_other_statuses():
    case("415: text/plain")
    r = cgi(body="username=ann&password=s3cret+pw", ctype="text/plain")
    expect(r, 415)
    case("415: a charset other than UTF-8")
    expect(cgi(body="username=ann", ctype=FORM + "; charset=latin-1"), 415)
    case("405: GET, with Allow")
    r = cgi(method="GET", ctype=None)
    expect(r, 405)
    check_eq(r.headers.get("allow"), "POST, OPTIONS", "Allow")
    case("405: PUT on logout")
    expect(cgi(method="PUT", path="/api/logout/"), 405)
    case("404: unknown path, any method")
    expect(cgi(path="/api/other/"), 404, {"detail": "Not found."})
    expect(cgi(method="GET", path="/"), 404)
    case("413: declared length over the limit, body not read")
    expect(cgi(body="username=ann", length=16385), 413)
    case("413: configured limit")
    expect(cgi(body="username=ann&password=" + "x" * 200, env={"TOKENAUTH_MAX_BODY": "100"}),
           413)
    case("413: no Content-Length, a body over the limit (read up to the limit + 1 only)")
    expect(cgi(body="username=ann&password=" + "x" * 200,
               env={"TOKENAUTH_MAX_BODY": "100", "CONTENT_LENGTH": None}), 413)
    case("200: no Content-Length, a body under the limit read to its end")
    expect(cgi(body="username=ann&password=s3cret+pw", env={"CONTENT_LENGTH": None}), 200)
    case("415: a body without a Content-Type")
    expect(cgi(body="username=ann&password=s3cret+pw", ctype=None), 415)
    case("200: a body exactly at the limit")
    body = "username=ann&password=s3cret+pw&pad="
    body += "x" * (100 - len(body))
    expect(cgi(body=body, env={"TOKENAUTH_MAX_BODY": "100"}), 200)


def test_unavailable():
    case("503: missing database file, with Retry-After")
    r = login("ann", "x", db=os.path.join(TMP, "missing.sqlite3"))
    expect(r, 503)
    check(r.headers.get("retry-after", "").isdigit(), r)
    check(not os.path.exists(os.path.join(TMP, "missing.sqlite3")), "the file was created")
    case("503: missing database file, logout")
    expect(cgi(path="/api/logout/", env={"HTTP_AUTHORIZATION": "Token " + "a" * 40},
               db=os.path.join(TMP, "missing.sqlite3")), 503)
    case("503: a file without the schema")
    empty = os.path.join(TMP, "empty.sqlite3")
    sqlite3.connect(empty).close()
    expect(login("ann", "x", db=empty), 503)
    case("503: database locked past the busy timeout (BEGIN EXCLUSIVE elsewhere)")
    db = make_db("locked.sqlite3", users=[("ann", "pw")])
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        r = login("ann", "pw", db=db, env={"TOKENAUTH_UPDATE_LAST_LOGIN": "1"})
        expect(r, 503)
        check(r.headers.get("retry-after", "").isdigit(), r)
        case("200: locked, a login with nothing to write only reads (WAL readers never wait), "
             "with the throttle on (it reads the counts) and off")
        expect(login("ann", "pw", db=db), 200, {"token": token_of(db, "ann")})
        expect(login("ann", "pw", db=db, env=THROTTLE_OFF), 200, {"token": token_of(db, "ann")})
        case("503: locked, wrong password (the failure cannot be counted)")
        expect(login("ann", "nope", db=db), 503)
        case("503: locked, logout")
        expect(cgi(path="/api/logout/", env={"HTTP_AUTHORIZATION": "Token " + token_of(db, "ann")},
                   db=db), 503)
    finally:
        con.execute("ROLLBACK")
        con.close()
    case("after the lock: the login works")
    expect(login("ann", "pw", db=db), 200)


def is_asan(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def test_hash_failure():
    case("503: the hash itself fails (argon2 cannot get its memory): Retry-After, not counted")
    if not is_asan(LOGIN):
        skip("%s is not an ASan build: its allocations cannot be made to fail" % LOGIN)
        return
    db = make_db("hashfail.sqlite3", users=[("big", "pw")])
    salt = base64.b64encode(b"0123456789abcdef").decode().rstrip("=")
    digest = base64.b64encode(b"x" * 32).decode().rstrip("=")
    encoded = "argon2$argon2id$v=19$m=1048576,t=1,p=1$%s$%s" % (salt, digest)  # 1 GiB
    con = sqlite3.connect(db)
    con.execute("UPDATE auth_user SET password = ? WHERE username = 'big'", (encoded,))
    con.commit()
    con.close()
    # ASan refuses allocations over 256 MiB and returns NULL: argon2 fails with a memory error.
    limit = {"ASAN_OPTIONS": "max_allocation_size_mb=256:allocator_may_return_null=1"}
    r = login("big", "pw", db=db, env=limit)
    expect(r, 503, {"detail": "Service temporarily unavailable, try again later."})
    check(r.headers.get("retry-after", "").isdigit(), r)
    check("outcome=hash_error" in r.stderr and "status=503" in r.stderr, r.stderr)
    check_eq(failures(db, "user", "big"), 0, "failures counted for big")
    check_eq(failures(db, "addr", "127.0.0.1"), 0, "failures counted for the address")
    check_eq(stored_password(db, "big"), encoded, "stored hash")


def test_logout_and_tokens():
    db = make_db("tokens.sqlite3", users=[("ann", "pw"), ("cat", "pw")])
    first = login("ann", "pw", db=db).json["token"]
    case("get-or-create: the same token twice")
    expect(login("ann", "pw", db=db), 200, {"token": first})
    case("a user without a token row gets one (the tutorial 500s)")
    con = sqlite3.connect(db)
    con.execute("DELETE FROM authtoken_token")
    con.commit()
    r = login("ann", "pw", db=db)
    expect(r, 200)
    made = r.json["token"]
    check(len(made) == 40 and made == token_of(db, "ann") and made != first, r)
    case("204: logout deletes the token")
    r = cgi(path="/api/logout/", ctype=None, env={"HTTP_AUTHORIZATION": "Token " + made}, db=db)
    check(r.status == 204 and r.body == b"" and r.headers.get("cache-control") == "no-store", r)
    check(token_of(db, "ann") is None, "token still there")
    check(made not in r.stderr and "outcome=logout" in r.stderr, r.stderr)
    case("401: the same token again")
    r = cgi(path="/api/logout", ctype=None, env={"HTTP_AUTHORIZATION": "Token " + made}, db=db)
    expect(r, 401, {"detail": "Invalid token."})
    check_eq(r.headers.get("www-authenticate"), "Token", "WWW-Authenticate")
    case("401: no Authorization, another scheme, a malformed key")
    for auth in (None, "Basic " + base64.b64encode(b"ann:pw").decode(), "Token a b", "Token !!!",
                 "Bearer", "Tokenizer " + made):
        r = cgi(path="/api/logout/", ctype=None, env={"HTTP_AUTHORIZATION": auth}, db=db)
        expect(r, 401)
        check_eq(r.headers.get("www-authenticate"), "Token", "WWW-Authenticate")
    case("a new token after logout")
    r = login("ann", "pw", db=db)
    expect(r, 200)
    check(r.json["token"] not in (made, first), r)
    case("expired token (TOKENAUTH_TOKEN_TTL) replaced at the next login")
    old = token_of(db, "cat")
    con.execute("UPDATE authtoken_token SET created = '2000-01-01 00:00:00' WHERE key = ?",
                (old,))
    con.commit()
    r = login("cat", "pw", db=db, env={"TOKENAUTH_TOKEN_TTL": "3600"})
    expect(r, 200)
    check(r.json["token"] != old and r.json["token"] == token_of(db, "cat"), r)
    case("an unexpired token is kept with a TTL")
    expect(login("cat", "pw", db=db, env={"TOKENAUTH_TOKEN_TTL": "3600"}), 200,
           {"token": r.json["token"]})
    case("401: logout with an expired token is refused, as everywhere")
    fresh = r.json["token"]
    con.execute("UPDATE authtoken_token SET created = '2000-01-01 00:00:00' WHERE key = ?",
                (fresh,))
    con.commit()
    r = cgi(path="/api/logout/", ctype=None, db=db,
            env={"HTTP_AUTHORIZATION": "Token " + fresh, "TOKENAUTH_TOKEN_TTL": "3600"})
    expect(r, 401, {"detail": "Token has expired."})
    check("outcome=expired_token" in r.stderr and fresh not in r.stderr, r.stderr)
    case("401: logout with an inactive user's token is refused")
    con.execute("UPDATE authtoken_token SET created = strftime('%Y-%m-%d %H:%M:%f', 'now')")
    con.execute("UPDATE auth_user SET is_active = 0 WHERE username = 'cat'")
    con.commit()
    r = cgi(path="/api/logout/", ctype=None, db=db,
            env={"HTTP_AUTHORIZATION": "Token " + fresh})
    expect(r, 401, {"detail": "User inactive or deleted."})
    check_eq(token_of(db, "cat"), fresh, "the refused token is left in place")
    con.close()


def test_revocation_log_migration():
    case("an older database without the revocation log: the login works, and the log and its "
         "triggers are created (the migration), Django's tables untouched")
    db = make_db("oldschema.sqlite3", users=[("ann", "pw")])
    con = sqlite3.connect(db)
    con.executescript("DROP TRIGGER tokenauth_revoke_token_delete;"
                      " DROP TRIGGER tokenauth_revoke_user_delete;"
                      " DROP TABLE tokenauth_revocation;")
    django_sql = con.execute("SELECT group_concat(sql) FROM sqlite_master WHERE tbl_name IN"
                             " ('auth_user', 'authtoken_token') AND type != 'trigger'").fetchone()
    con.close()
    tok = token_of(db, "ann")
    expect(login("ann", "pw", db=db), 200, {"token": tok})
    con = sqlite3.connect(db)
    check_eq(con.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'tokenauth_revo%'")
             .fetchone()[0], 7, "the log table and its six triggers")
    check_eq(con.execute("SELECT group_concat(sql) FROM sqlite_master WHERE tbl_name IN"
                         " ('auth_user', 'authtoken_token') AND type != 'trigger'").fetchone(),
             django_sql, "Django's tables")
    case("a logout is then logged by user id, never by token")
    r = cgi(path="/api/logout/", env={"HTTP_AUTHORIZATION": "Token " + tok}, db=db)
    expect(r, 204)
    row = con.execute("SELECT r.user_id = u.id FROM tokenauth_revocation r, auth_user u"
                      " WHERE u.username = 'ann' ORDER BY r.id DESC LIMIT 1").fetchone()
    check_eq(row, (1,), "the last row names ann")
    dump = "\n".join(str(x) for x in con.execute("SELECT * FROM tokenauth_revocation"))
    check(tok not in dump, dump)
    con.close()


def test_rehash():
    db = make_db("rehash.sqlite3", users=[("ann", "pw")])
    con = sqlite3.connect(db)
    case("rehash: a hash at another iteration count is replaced on login")
    before = con.execute("SELECT password FROM auth_user").fetchone()[0]
    expect(login("ann", "pw", db=db, env={"TOKENAUTH_PASSWORD_ITERATIONS": "3"}), 200)
    after = con.execute("SELECT password FROM auth_user").fetchone()[0]
    check(before.startswith("pbkdf2_sha256$1$") and after.startswith("pbkdf2_sha256$3$"),
          (before, after))
    case("rehash: the new hash logs in, and is kept when current")
    expect(login("ann", "pw", db=db, env={"TOKENAUTH_PASSWORD_ITERATIONS": "3"}), 200)
    check_eq(con.execute("SELECT password FROM auth_user").fetchone()[0], after, "hash")
    case("rehash: a failed login does not rehash")
    expect(login("ann", "bad", db=db, env={"TOKENAUTH_PASSWORD_ITERATIONS": "5"}), 400)
    check_eq(con.execute("SELECT password FROM auth_user").fetchone()[0], after, "hash")
    con.close()


def test_throttle():
    db = make_db("throttle.sqlite3", users=[("ann", "pw"), ("bob", "pw"), ("cat", "pw"),
                                            ("dan", "pw")])
    env = {"TOKENAUTH_THROTTLE_USER_FAILURES": "3", "TOKENAUTH_THROTTLE_ADDR_FAILURES": "5",
           "REMOTE_ADDR": "10.0.0.1"}
    case("throttle: failures below the user limit, then a success clears them")
    for _ in range(2):
        expect(login("ann", "bad", db=db, env=env), 400)
    expect(login("ann", "pw", db=db, env=env), 200)
    for _ in range(2):
        expect(login("ann", "bad", db=db, env=dict(env, REMOTE_ADDR="10.0.0.2")), 400)
    expect(login("ann", "pw", db=db, env=dict(env, REMOTE_ADDR="10.0.0.3")), 200)
    case("throttle: user limit from one address: 429 with Retry-After there, even with the "
         "right password")
    for _ in range(3):
        expect(login("bob", "bad", db=db, env=dict(env, REMOTE_ADDR="10.0.1.1")), 400)
    r = login("bob", "pw", db=db, env=dict(env, REMOTE_ADDR="10.0.1.1"))
    expect(r, 429)
    check(r.headers.get("retry-after", "0").isdigit() and int(r.headers["retry-after"]) > 0, r)
    check("outcome=throttled" in r.stderr, r.stderr)
    case("throttle: lockout is no attack: the user still logs in from an address that has not "
         "failed")
    expect(login("bob", "pw", db=db, env=dict(env, REMOTE_ADDR="10.0.2.1")), 200)
    expect(login("bob", "pw", db=db, env=dict(env, REMOTE_ADDR="10.0.1.1")), 429)
    case("throttle: the per-user ceiling across addresses (TOKENAUTH_THROTTLE_USER_CEILING) stops "
         "a distributed attack")
    ceiling = dict(env, TOKENAUTH_THROTTLE_USER_CEILING="4")
    for i in range(4):
        expect(login("dan", "bad", db=db, env=dict(ceiling, REMOTE_ADDR="10.0.3.%d" % i)), 400)
    r = login("dan", "pw", db=db, env=dict(ceiling, REMOTE_ADDR="10.0.4.1"))
    expect(r, 429)
    check_eq(failures(db, "user", "dan"), 4, "dan's count across addresses")
    case("throttle: a success counts nothing: many logins never lock a user out")
    for _ in range(6):
        expect(login("cat", "pw", db=db, env=dict(env, REMOTE_ADDR="10.0.5.1")), 200)
    check_eq([failures(db, k, v) for k, v in (("user", "cat"), ("addr", "10.0.5.1"),
                                              ("user+addr", "10.0.5.1 cat"))], [0, 0, 0], "counts")
    case("throttle: other users are not affected")
    expect(login("cat", "pw", db=db, env=dict(env, REMOTE_ADDR="10.0.2.1")), 200)
    case("throttle: address limit across usernames")
    addr = dict(env, REMOTE_ADDR="10.9.9.9")
    for i in range(5):
        expect(login("ghost%d" % i, "bad", db=db, env=addr), 400)
    expect(login("cat", "pw", db=db, env=addr), 429)
    case("throttle: counts shared through the database, cleared by an admin")
    sqlite3.connect(db).execute("DELETE FROM tokenauth_login_failure").connection.commit()
    expect(login("bob", "pw", db=db, env=addr), 200)
    case("throttle: limit 0 turns it off")
    off = dict(env, TOKENAUTH_THROTTLE_USER_FAILURES="0", TOKENAUTH_THROTTLE_ADDR_FAILURES="0",
               TOKENAUTH_THROTTLE_USER_CEILING="0")
    for _ in range(4):
        expect(login("cat", "bad", db=db, env=off), 400)
    expect(login("cat", "pw", db=db, env=off), 200)


def test_cors():
    env = {"TOKENAUTH_CORS_ORIGINS": "http://app.example, http://localhost:8000",
           "HTTP_ORIGIN": "http://app.example"}
    case("preflight: 204 with the Access-Control headers and Vary: Origin")
    r = cgi(method="OPTIONS", ctype=None, env=dict(
        env, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"))
    check(r.status == 204 and r.body == b"" and
          r.headers.get("access-control-allow-origin") == "http://app.example" and
          "POST" in r.headers.get("access-control-allow-methods", "") and
          r.headers.get("access-control-allow-headers") == "Content-Type, Authorization" and
          r.headers.get("access-control-max-age", "").isdigit() and
          r.headers.get("vary") == "Origin", r)
    case("preflight on logout")
    r = cgi(method="OPTIONS", path="/api/logout/", ctype=None, env=env)
    check(r.status == 204 and r.headers.get("access-control-allow-origin"), r)
    case("preflight from an origin not listed: no grant")
    r = cgi(method="OPTIONS", ctype=None, env=dict(env, HTTP_ORIGIN="http://evil.example"))
    check(r.status == 204 and "access-control-allow-origin" not in r.headers and
          "access-control-allow-methods" not in r.headers and r.headers.get("vary") == "Origin",
          r)
    case("actual response carries Access-Control-Allow-Origin when allowed")
    r = login("ann", "s3cret+pw", env=env)
    check(r.status == 200 and r.headers.get("access-control-allow-origin") ==
          "http://app.example", r)
    r = login("ann", "bad", env=env)
    check(r.status == 400 and r.headers.get("access-control-allow-origin"), r)
    case("no CORS configured: no grant")
    r = login("ann", "s3cret+pw", env={"HTTP_ORIGIN": "http://app.example"})
    check(r.status == 200 and "access-control-allow-origin" not in r.headers, r)
    case("wildcard: Access-Control-Allow-Origin: *")
    r = cgi(method="OPTIONS", ctype=None, env={"TOKENAUTH_CORS_ORIGINS": "*",
                                               "HTTP_ORIGIN": "null"})
    check(r.status == 204 and r.headers.get("access-control-allow-origin") == "*", r)


def test_config_errors():
    case("bad config: non-zero exit, a message naming the setting, no response")
    r = cgi(env={"TOKENAUTH_PASSWORD_ITERATIONS": "lots"})
    check(r.rc != 0 and "TOKENAUTH_PASSWORD_ITERATIONS" in r.stderr and r.status is None, r)
    case("bad config: every bad setting in one run")
    r = cgi(env={"TOKENAUTH_MAX_BODY": "-1", "TOKENAUTH_TOKEN_TTL": "x"})
    check(r.rc != 0 and "TOKENAUTH_MAX_BODY" in r.stderr and "TOKENAUTH_TOKEN_TTL" in r.stderr, r)
    case("bad CORS list is a config error")
    r = cgi(env={"TOKENAUTH_CORS_ORIGINS": "not an origin"})
    check(r.rc != 0 and "TOKENAUTH_CORS_ORIGINS" in r.stderr and r.status is None, r)
    case("unknown TOKENAUTH_ name: a warning, still serves")
    r = login("ann", "s3cret+pw", env={"TOKENAUTH_NO_SUCH": "1"})
    check(r.status == 200 and "TOKENAUTH_NO_SUCH" in r.stderr, r)
    case("--check validates only")
    # Without the suite's own TOKENAUTH_BIN..., each an "unknown setting" warning.
    e = {k: v for k, v in os.environ.items() if not k.startswith("TOKENAUTH_")}
    e["TOKENAUTH_DB"] = DB
    p = subprocess.run([LOGIN, "--check"], env=e, capture_output=True, timeout=30)
    check(p.returncode == 0 and p.stdout == b"" and p.stderr == b"login-fcgi: settings are valid\n",
          p)
    p = subprocess.run([LOGIN, "--check"], env=dict(e, TOKENAUTH_THROTTLE_WINDOW="soon"),
                       capture_output=True, timeout=30)
    check_eq((p.returncode, p.stdout, p.stderr.decode()),
             (2, b"", 'login-fcgi: TOKENAUTH_THROTTLE_WINDOW: "soon" is not a whole number from 1 '
              'to 31536000\nlogin-fcgi: invalid settings, not started (see --help)\n'),
             "a bad setting, worded as ws-worker words it")
    case("a bad flag: usage and non-zero exit")
    p = subprocess.run([LOGIN, "--nope"], env=e, capture_output=True, timeout=30)
    check(p.returncode != 0 and b"usage" in p.stderr, p)
    case("--help: usage and every setting with its default, exit 0")
    p = subprocess.run([LOGIN, "--help"], env=e, capture_output=True, timeout=30)
    check(p.returncode == 0 and p.stdout.startswith(b"usage: login-fcgi") and
          b"TOKENAUTH_DB " in p.stdout, p)
    case("README's configuration table lists every setting of --help, with its default")
    described = help_settings(p.stdout.decode())
    documented = readme_settings()
    check(len(described) >= 10 and "TOKENAUTH_PASSWORD_ITERATIONS" in described, described)
    check_eq(sorted(documented), sorted(described), "variables in README vs --help")
    for name in sorted(set(described) & set(documented)):
        check_eq(documented[name], described[name], "README default of " + name)


def help_settings(text):
    """{variable: default} from `login-fcgi --help` (config_describe's lines)."""
    found = {}
    for m in re.finditer(r'^  (TOKENAUTH_[A-Z0-9_]+) +default "([^"]*)":', text, re.M):
        found[m.group(1)] = m.group(2)
    return found


def readme_settings():
    """{variable: default} from the table of README's config section; "empty" is ""."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("<!-- section:config -->")[1].split("<!-- /section:config -->")[0]
    found = {}
    for m in re.finditer(r"^\| `(TOKENAUTH_[A-Z0-9_]+)` \| ([^|]*) \|", section, re.M):
        default = m.group(2).strip()
        found[m.group(1)] = "" if default == "empty" else default.strip("`")
    return found


def test_log_redaction():
    case("the log redacts query strings")
    r = login("ann", "s3cret+pw", env={"REQUEST_URI": "/api/login/?token=abcdef123"})
    check(r.status == 200 and "abcdef123" not in r.stderr and "REDACTED" in r.stderr, r.stderr)
    case("the log line: time, address, username, outcome, status, duration; nothing secret")
    tok = token_of(DB, "ann")
    for password, outcome, status in (("s3cret+pw", "ok", 200), ("Wr0ngSecret", "bad_credentials",
                                                                  400)):
        r = login("ann", password, env={"REMOTE_ADDR": "192.0.2.7"})
        lines = r.stderr.splitlines()
        check_eq(len(lines), 1, "log lines")
        fields = dict(kv.split("=", 1) for kv in lines[0].split(" ") if "=" in kv)
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fields.get("ts", "")),
              lines[0])
        check(fields.get("prog") == "login-fcgi" and fields.get("event") == "request" and
              fields.get("addr") == "192.0.2.7" and fields.get("user") == "ann" and
              fields.get("outcome") == outcome and fields.get("status") == str(status) and
              re.fullmatch(r"\d+\.\d\d", fields.get("ms", "")), lines[0])
        check(tok not in r.stderr and "s3cret" not in r.stderr and "Wr0ng" not in r.stderr,
              r.stderr)
    case("a hostile username cannot forge a log line")
    r = login("evil%0Aevent%3Dforged", "x")
    check(r.status == 400 and r.stderr.count("\n") == 1, r.stderr)


def test_logout_takes_socket_headers():
    db = make_db("headers.sqlite3", users=[("ann", "pw")])
    p, port = tw.start_worker(db)
    try:
        for form in ("Token %s", "Bearer %s", "bearer %s", "Bearer\t%s", "TOKEN \t %s \t"):
            case("logout accepts %r as the socket does" % form)
            key = login("ann", "pw", db=db).json["token"]
            auth = form % key
            r = tw.handshake_outcome(port, extra_headers={"Authorization": auth})
            check(r[0] == "open" and '"username": "ann"' in json.dumps(r[1]), (form, r))
            r = cgi(path="/api/logout/", ctype=None, env={"HTTP_AUTHORIZATION": auth}, db=db)
            check(r.status == 204 and token_of(db, "ann") is None, (form, r))
    finally:
        harness.stop(p)


run_cases(test_login_form_json_multipart, test_bad_credentials, test_missing_and_malformed,
          test_other_statuses, test_unavailable, test_hash_failure, test_logout_and_tokens,
          test_revocation_log_migration, test_rehash, test_throttle, test_cors,
          test_config_errors, test_log_redaction, test_logout_takes_socket_headers)
finish("login_cgi")
