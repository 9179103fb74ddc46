"""test_admin_recipes.py -- every admin recipe of docs/admin.md, run through the real sqlite3 shell.

Extracts each ```sql block preceded by `<!-- recipe: <name> -->` from docs/admin.md, and runs them
in that order against one fresh database made from schema.sql, each in its own `sqlite3` session
(a person pastes them one at a time), with the load recipe first and `build/tokenauth` pointed at
$TOKENAUTH_EXT. After each one a check of its own looks at the database (and at what the shell
printed). A recipe without a check, or a check without its recipe, fails: docs/admin.md and this
test cannot drift apart."""
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BIN, EXT, ROOT, case, check, check_eq, finish, make_db,  # noqa: E402
                     run_cases, skip)

RECIPE = re.compile(r"<!-- recipe: ([a-z0-9-]+) -->\s*\n```sql\n(.*?)```", re.S)
HEX40 = re.compile(r"[0-9a-f]{40}")
USER = "ann"
# Recipes hash at TOKENAUTH_PASSWORD_ITERATIONS: a small count keeps the test quick.
ITERATIONS = "1000"


def recipes():
    with open(os.path.join(ROOT, "docs", "admin.md")) as f:
        text = f.read()
    section = text.split("<!-- section:admin -->", 1)[-1].split("<!-- /section:admin -->", 1)[0]
    return RECIPE.findall(section)


def run(db, load, script):
    """One sqlite3 session: the load recipe, then script. Returns (rc, stdout, stderr)."""
    load = load.replace(".load build/tokenauth", ".load %s" % os.path.splitext(EXT)[0])
    env = dict(os.environ, TOKENAUTH_PASSWORD_ITERATIONS=ITERATIONS)
    r = subprocess.run(["sqlite3", "-batch", db], input=load + script, capture_output=True,
                       text=True, env=env, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


class State:
    db = None
    out = ""
    keys = []  # every token key ann had, in order


def row(query, *args):
    con = sqlite3.connect(State.db)
    con.enable_load_extension(True)
    con.load_extension(os.path.splitext(EXT)[0])
    r = con.execute(query, args).fetchone()
    con.close()
    return r


def user_row():
    return row("SELECT id, is_active, is_staff, is_superuser, email, password, date_joined"
               " FROM auth_user WHERE username = ?", USER)


def token_key():
    r = row("SELECT t.key FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id"
            " WHERE u.username = ?", USER)
    return r[0] if r else None


def check_load():
    r = row("SELECT 1")  # the recipe itself ran without error (checked by the caller)
    check_eq(r, (1,))


def check_create_user():
    u = user_row()
    check(u is not None, "no user %s" % USER)
    check_eq(u[1:5], (1, 0, 0, "ann@example.com"), "is_active, is_staff, is_superuser, email")
    check(u[5].startswith("pbkdf2_sha256$%s$" % ITERATIONS), u[5])
    check(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$", u[6]), "date_joined %r" % u[6])
    check_eq(row("SELECT check_password('change-me-now', ?)", u[5]), (1,), "the password")
    key = token_key()
    check(key is not None and HEX40.fullmatch(key), "token %r" % key)
    check_eq(State.out.strip(), key, "the key it printed")
    State.keys.append(key)
    login_fcgi = os.path.join(BIN, "login-fcgi")
    if not os.path.exists(login_fcgi):
        skip("%s is not built: the login with the new user is not tried" % login_fcgi)
        return
    body = "username=ann&password=change-me-now"
    env = dict(os.environ, REQUEST_METHOD="POST", CONTENT_TYPE="application/x-www-form-urlencoded",
               CONTENT_LENGTH=str(len(body)), REQUEST_URI="/api/login/", SCRIPT_NAME="/api/login/",
               REMOTE_ADDR="127.0.0.1", GATEWAY_INTERFACE="CGI/1.1", TOKENAUTH_DB=State.db,
               TOKENAUTH_PASSWORD_ITERATIONS=ITERATIONS)
    r = subprocess.run([login_fcgi], input=body.encode(), env=env, capture_output=True, timeout=60)
    out = r.stdout.decode()
    check(out.startswith("Status: 200") and ('"token":"%s"' % key) in out.replace(" ", ""),
          "the new user logs in at once with the trigger's token: %r" % out)


def check_list_users():
    check(USER in State.out and State.keys[-1] in State.out and "last_login" in State.out,
          State.out)


def check_set_password():
    pw = user_row()[5]
    check_eq(row("SELECT check_password('a-better-secret', ?), check_password('change-me-now', ?)",
                 pw, pw), (1, 0), "new and old password")


def check_check_password():
    check_eq(State.out.strip(), "1")


def check_deactivate():
    check_eq(user_row()[1], 0, "is_active")
    check_eq(token_key(), State.keys[-1], "the token is kept")


def check_reactivate():
    check_eq(user_row()[1], 1, "is_active")


def check_revoke_token():
    check_eq(token_key(), None, "the token")
    check(user_row() is not None, "the user stays")


def check_rotate_token():
    key = token_key()
    check(key is not None and HEX40.fullmatch(key) and key not in State.keys, key)
    check_eq(State.out.strip(), key, "the key it printed")
    State.keys.append(key)
    # Rotating again replaces the key that now exists: still one row, a new key.
    rc, out, err = run(State.db, LOAD[0], dict(recipes())["rotate-token"])
    again = token_key()
    check(rc == 0 and again not in State.keys, err)
    check_eq(row("SELECT count(*) FROM authtoken_token")[0], 1, "token rows")
    State.keys.append(again)


def check_clear_throttle():
    check_eq(row("SELECT count(*) FROM tokenauth_login_failure WHERE subject = ? OR subject ="
                 " '192.0.2.7 ' || ?", USER, USER)[0], 0, "failures of ann, from anywhere")
    check_eq(row("SELECT n_failures FROM tokenauth_login_failure WHERE kind = 'addr' AND"
                 " subject = '192.0.2.1'"), (9,), "other rows kept")


def before_clear_throttle():
    con = sqlite3.connect(State.db)
    con.execute("INSERT OR REPLACE INTO tokenauth_login_failure VALUES ('user', ?, 5, 0)",
                (USER,))
    con.execute("INSERT OR REPLACE INTO tokenauth_login_failure VALUES ('user+addr',"
                " '192.0.2.7 ' || ?, 5, 0)", (USER,))
    con.execute("INSERT INTO tokenauth_login_failure VALUES ('addr', '192.0.2.1', 9, 0)")
    con.commit()
    con.close()


def check_delete_user():
    check_eq(user_row(), None, "the user")
    check_eq(row("SELECT count(*) FROM authtoken_token")[0], 0, "token rows")


CHECKS = {
    "load": check_load, "create-user": check_create_user, "list-users": check_list_users,
    "set-password": check_set_password, "check-password": check_check_password,
    "deactivate": check_deactivate, "reactivate": check_reactivate,
    "revoke-token": check_revoke_token, "rotate-token": check_rotate_token,
    "clear-throttle": check_clear_throttle, "delete-user": check_delete_user,
}
BEFORE = {"clear-throttle": before_clear_throttle}
LOAD = [""]


def test_recipes():
    found = recipes()
    names = [n for n, _ in found]
    case("docs/admin.md has every recipe the test knows, each once, the load recipe first")
    check_eq(sorted(names), sorted(CHECKS), "recipe names")
    check(names[:1] == ["load"], names)
    if not names or names[0] != "load":
        return
    LOAD[0] = found[0][1]
    State.db = make_db("admin.sqlite3")
    for name, script in found:
        case("recipe %s: runs at the sqlite3 prompt and does what docs/admin.md says" % name)
        if name not in CHECKS:
            check(False, "no check for recipe %r: add one to %s" % (name, __file__))
            continue
        if name in BEFORE:
            BEFORE[name]()
        rc, State.out, err = run(State.db, LOAD[0], "" if name == "load" else script)
        if check(rc == 0 and err == "", "rc=%d stderr=%r" % (rc, err)):
            CHECKS[name]()


if not os.path.exists(EXT):
    case("the extension is built")
    skip("%s does not exist: build it with make" % EXT)
else:
    run_cases(test_recipes)
finish("admin_recipes")
