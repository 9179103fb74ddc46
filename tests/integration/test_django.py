"""test_django.py -- Django interoperability, both ways, with Debian's python3-django and
python3-djangorestframework.

A minimal Django project (settings module in the temporary folder: auth, contenttypes,
rest_framework, rest_framework.authtoken) is migrated into a fresh SQLite file, then:
  1. the auth_user and authtoken_token that Django made equal ours from schema.sql, compared
     through PRAGMA table_info, index_list/index_info and foreign_key_list (not text), plus
     AUTOINCREMENT and the deferred foreign key, checked by behaviour;
  2. users made by Django (create_user; a Token made by DRF, or none) log in through
     $TOKENAUTH_BIN/login-fcgi in CGI mode on Django's own file, unchanged: the token is DRF's,
     a new one is visible to DRF, last_login is readable by Django;
  3. a hash made by tokenauth (make_password of the extension) passes Django's check_password
     and authenticate(), also for a user inserted at the sqlite3 prompt;
  4. a rehash on login (pbkdf2 at other counts, pbkdf2_sha1, argon2) leaves a hash Django accepts.
Django runs in subprocesses of Debian's /usr/bin/python3."""
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BIN, EXT, ROOT, TMP, case, check, check_eq, finish,  # noqa: E402
                     make_db, run_cases, skip, sql)

PYTHON = "/usr/bin/python3"
DJANGO_DB = os.path.join(TMP, "django.sqlite3")
DJANGO_ITERATIONS = 260000  # Django 3.2's pbkdf2_sha256 default (Debian 12)

SETTINGS = """
SECRET_KEY = "tokenauth-test-only"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "rest_framework",
                  "rest_framework.authtoken"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %r}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""


def django_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = TMP
    env["DJANGO_SETTINGS_MODULE"] = "tokenauth_test_settings"
    return env


def django(code):
    """Runs code after django.setup() in a fresh /usr/bin/python3; the code sets `result`, which
    comes back through JSON."""
    script = ("import json, django\ndjango.setup()\nresult = None\n" + code +
              "\nprint(json.dumps(result))\n")
    r = subprocess.run([PYTHON, "-c", script], env=django_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("django failed:\n%s" % r.stderr)
    return json.loads(r.stdout.strip().splitlines()[-1])


def django_check(username, password):
    """(check_password, authenticate() found the user) as Django sees them, without saving."""
    return tuple(django(
        "from django.contrib.auth import authenticate\n"
        "from django.contrib.auth.models import User\n"
        "from unittest import mock\n"
        "u = User.objects.get(username=%r)\n"
        # Django's check_password re-hashes outdated hashes through save(): keep the file as is.
        "with mock.patch.object(User, 'save'):\n"
        "    result = [u.check_password(%r), authenticate(username=%r, password=%r) is not None]\n"
        % (username, password, username, password)))


def stored_password(username):
    con = sqlite3.connect(DJANGO_DB)
    row = con.execute("SELECT password FROM auth_user WHERE username = ?", (username,)).fetchone()
    con.close()
    return row[0] if row else None


def login(username, password, iterations=DJANGO_ITERATIONS):
    """POSTs a form login to login-fcgi in CGI mode on Django's file; returns (status, json)."""
    body = "username=%s&password=%s" % (username, password)
    env = dict(os.environ)
    env.update({"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
                "CONTENT_LENGTH": str(len(body)), "REQUEST_URI": "/api/login/",
                "SCRIPT_NAME": "/api/login/", "REMOTE_ADDR": "127.0.0.1",
                "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
                "TOKENAUTH_DB": DJANGO_DB, "TOKENAUTH_PASSWORD_ITERATIONS": str(iterations),
                "TOKENAUTH_UPDATE_LAST_LOGIN": "1"})  # case 2 reads last_login from Django
    r = subprocess.run([os.path.join(BIN, "login-fcgi")], input=body.encode(), env=env,
                       capture_output=True, timeout=60)
    head, _, payload = r.stdout.decode().partition("\r\n\r\n")
    if not _:
        head, _, payload = r.stdout.decode().partition("\n\n")
    status = head.splitlines()[0] if head else "(no output) %s" % r.stderr.decode()[-500:]
    try:
        data = json.loads(payload)
    except ValueError:
        data = payload
    return status, data


def table_shape(path, table):
    """What PRAGMAs say about a table: columns, indexes (with their columns) and foreign keys."""
    con = sqlite3.connect(path)
    columns = con.execute("PRAGMA table_info(%s)" % table).fetchall()
    indexes = []
    for _seq, name, unique, origin, partial in con.execute("PRAGMA index_list(%s)" % table):
        cols = [r[2] for r in con.execute("PRAGMA index_info(%s)" % name)]
        indexes.append((unique, origin, partial, tuple(cols)))  # names differ by design
    fks = [r[1:] for r in con.execute("PRAGMA foreign_key_list(%s)" % table)]
    autoinc = con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'"
                          ).fetchone()[0]
    con.close()
    return {"columns": columns, "indexes": sorted(indexes), "foreign_keys": fks,
            "sqlite_sequence": autoinc}


def deferred_fk_works(path):
    """A token may name a user created later in the same transaction (DEFERRABLE INITIALLY
    DEFERRED), and a dangling one is refused at commit."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("BEGIN")
    con.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES"
                " ('deferred0000000000000000000000000000000', '2024-01-01 00:00:00', 9999)")
    con.execute("INSERT INTO auth_user (id, password, is_superuser, username, first_name,"
                " last_name, email, is_staff, is_active, date_joined) VALUES (9999, '!', 0,"
                " 'deferred-fk', '', '', '', 0, 1, '2024-01-01 00:00:00')")
    con.execute("COMMIT")
    ok = True
    con.execute("BEGIN")
    con.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES"
                " ('dangling0000000000000000000000000000000', '2024-01-01 00:00:00', 12345)")
    try:
        con.execute("COMMIT")
        ok = False
    except sqlite3.IntegrityError:
        con.execute("ROLLBACK")
    con.execute("DELETE FROM authtoken_token WHERE user_id = 9999")
    con.execute("DELETE FROM auth_user WHERE id = 9999")
    con.close()
    return ok


def test_schema_matches():
    ours = make_db("ours.sqlite3")
    for table in ("auth_user", "authtoken_token"):
        case("1: %s made by Django's migrate equals schema.sql's (PRAGMAs)" % table)
        theirs, mine = table_shape(DJANGO_DB, table), table_shape(ours, table)
        for part in ("columns", "indexes", "foreign_keys", "sqlite_sequence"):
            check_eq(mine[part], theirs[part], "%s %s" % (table, part))
    case("1: the token's foreign key is deferred in both")
    check(deferred_fk_works(DJANGO_DB), "Django's file")
    check(deferred_fk_works(ours), "schema.sql's file")
    case("1: schema.sql's own objects carry the tokenauth_ prefix, which no Django table uses")
    con = sqlite3.connect(ours)
    own = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE name NOT IN"
                                     " ('auth_user', 'authtoken_token', 'sqlite_sequence')"
                                     " AND name NOT LIKE 'sqlite_autoindex_%'")]
    con.close()
    tables = django("from django.apps import apps\n"
                    "result = sorted({m._meta.db_table for m in apps.get_models()} |\n"
                    "                {'django_migrations'})\n")
    check(own and all(n.startswith("tokenauth_") for n in own), own)
    check(len(tables) > 5 and not any(t.startswith("tokenauth_") for t in tables), tables)


def test_django_user_logs_in():
    case("2: a user made by Django with a DRF Token logs in with that token")
    drf_key = django(
        "from django.contrib.auth.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        "u = User.objects.create_user('dj', 'dj@example.com', 'django-pass')\n"
        "result = Token.objects.create(user=u).key\n")
    status, data = login("dj", "django-pass")
    check_eq(status, "Status: 200 OK", "status")
    check_eq(data, {"token": drf_key}, "body")
    case("2: Django's hash at Django's count is kept as it is")
    check(stored_password("dj").startswith("pbkdf2_sha256$%d$" % DJANGO_ITERATIONS),
          stored_password("dj"))
    case("2: the wrong password is refused with the tutorial's message")
    status, data = login("dj", "wrong-pass")
    check_eq(status, "Status: 400 Bad Request", "status")
    check_eq(data, {"user_not_found": "There is no user with this username and password !"})
    case("2: a Django user without a token gets one that DRF sees, and Django reads last_login")
    django("from django.contrib.auth.models import User\n"
           "User.objects.create_user('notoken', 'n@example.com', 'pass-2')\n")
    status, data = login("notoken", "pass-2")
    check_eq(status, "Status: 200 OK", "status")
    seen = django(
        "from rest_framework.authtoken.models import Token\n"
        "t = Token.objects.select_related('user').get(key=%r)\n"
        "result = [t.user.username, t.user.last_login is not None, t.created is not None]\n"
        % (data.get("token") if isinstance(data, dict) else ""))
    check_eq(seen, ["notoken", True, True], "DRF's view of the new token")
    case("2: a second login returns the same token (get-or-create)")
    status, again = login("notoken", "pass-2")
    check_eq(again, data)
    case("2: an inactive Django user cannot log in")
    django("from django.contrib.auth.models import User\n"
           "User.objects.create_user('gone', 'g@example.com', 'pass-3', is_active=False)\n")
    status, data = login("gone", "pass-3")
    check_eq(status, "Status: 400 Bad Request", "status")


def test_tokenauth_hash_in_django():
    case("3: a hash made by the extension passes Django's check_password and authenticate()")
    django("from django.contrib.auth.models import User\n"
           "User.objects.create_user('ext', 'e@example.com', 'first-pass')\n")
    sql(DJANGO_DB, "UPDATE auth_user SET password = make_password('ext-pass', 1000)"
                   " WHERE username = 'ext';", load_ext=True)
    check(stored_password("ext").startswith("pbkdf2_sha256$1000$"), stored_password("ext"))
    check_eq(django_check("ext", "ext-pass"), (True, True), "right password")
    check_eq(django_check("ext", "first-pass"), (False, False), "old password")
    case("3: a user inserted at the sqlite3 prompt is a Django user who can authenticate")
    sql(DJANGO_DB, "INSERT INTO auth_user (password, is_superuser, username, first_name,"
                   " last_name, email, is_staff, is_active, date_joined) VALUES"
                   " (make_password('prompt-pass'), 0, 'prompt', '', '', 'p@example.com', 0, 1,"
                   " strftime('%Y-%m-%d %H:%M:%f', 'now'));", load_ext=True)
    check(stored_password("prompt").startswith("pbkdf2_sha256$1000000$"),
          stored_password("prompt"))
    check_eq(django_check("prompt", "prompt-pass"), (True, True), "check, authenticate")
    seen = django("from django.contrib.auth.models import User\n"
                  "u = User.objects.get(username='prompt')\n"
                  "result = [u.email, u.is_active, u.date_joined is not None]\n")
    check_eq(seen, ["p@example.com", True, True], "Django reads the row")


def test_rehash_on_login():
    have_argon2 = subprocess.run([PYTHON, "-c", "import argon2"],
                                 capture_output=True).returncode == 0
    makers = [("re256", "pbkdf2_sha256", "make_password('re-pass', hasher=PBKDF2PasswordHasher())"),
              ("resha1", "pbkdf2_sha1", "make_password('re-pass', hasher='pbkdf2_sha1')")]
    if have_argon2:
        makers.append(("reargon", "argon2", "make_password('re-pass', hasher='argon2')"))
    for username, algorithm, maker in makers:
        case("4: a Django %s hash is re-hashed at login into one Django accepts" % algorithm)
        django("from django.contrib.auth.models import User\n"
               "from django.contrib.auth.hashers import make_password, PBKDF2PasswordHasher\n"
               "u = User.objects.create_user(%r, '', 'x')\n"
               "u.password = %s\n"
               "u.save()\n" % (username, maker))
        before = stored_password(username)
        check(before.startswith(algorithm + "$"), before)
        status, data = login(username, "re-pass", iterations=2000)
        check_eq(status, "Status: 200 OK", "status")
        after = stored_password(username)
        check(after.startswith("pbkdf2_sha256$2000$") and after != before, after)
        check_eq(django_check(username, "re-pass"), (True, True), "Django after the rehash")
        check_eq(django_check(username, "re-pass-not"), (False, False), "wrong password")
    if not have_argon2:
        case("4: a Django argon2 hash is re-hashed at login")
        skip("python3-argon2 is not installed (scripts/install-deps.sh test)")
    case("4: a failed login does not re-hash")
    before = stored_password("re256")
    login("re256", "wrong", iterations=3000)
    check_eq(stored_password("re256"), before)


def main():
    os.environ.pop("TOKENAUTH_PASSWORD_ITERATIONS", None)  # the extension's default is asserted
    case("Debian's Django, DRF, login-fcgi and the extension are there")
    r = subprocess.run([PYTHON, "-c", "import django, rest_framework"], capture_output=True)
    if r.returncode != 0:
        skip("python3-django / python3-djangorestframework missing: scripts/install-deps.sh test")
        return
    for path in (os.path.join(BIN, "login-fcgi"), EXT):
        if not os.path.exists(path):
            check(False, "%s does not exist: build it with make" % path)
            return
    with open(os.path.join(TMP, "tokenauth_test_settings.py"), "w") as f:
        f.write(SETTINGS % DJANGO_DB)
    case("Django's migrate makes the database")
    r = subprocess.run([PYTHON, "-m", "django", "migrate", "-v", "0"], env=django_env(),
                       capture_output=True, text=True, cwd=ROOT)
    if not check(r.returncode == 0, r.stderr):
        return
    run_cases(test_schema_matches, test_django_user_logs_in, test_tokenauth_hash_in_django,
              test_rehash_on_login)


main()
finish("django")
