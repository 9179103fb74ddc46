/* test_ws_revocation.c -- ws-worker/revocation.c with the revocation log of shared/db.c: what
 * the triggers write, the trim, and how many sessions each change makes the worker check again
 * (counts, never time). */
#include "test.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "../../ws-worker/revocation.h"
#include "../../ws-worker/sessions.h"

#define N_USERS 100
#define PER_USER 10

static int n_closed;
static void on_close(struct session *s, int code, const char *reason, void *arg) {
    n_closed++;
    s->close_code = (uint16_t)code;
}

/* Runs SQL on its own connection, as another process would; 0 or -1. */
static int sql(const char *path, const char *text) {
    sqlite3 *c = NULL;
    int rc = sqlite3_open(path, &c) == SQLITE_OK ? sqlite3_exec(c, text, NULL, NULL, NULL) : -1;
    sqlite3_close(c);
    return rc == SQLITE_OK ? 0 : -1;
}

static long long sql_int(const char *path, const char *query) {
    sqlite3 *c = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_open(path, &c) == SQLITE_OK &&
        sqlite3_prepare_v2(c, query, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(c);
    return v;
}

/* N_USERS users, named u1.., each with the trigger's token. */
static const char *make_users(const char *name) {
    const char *path = test_make_db(name);
    if (path && sql(path, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE"
                          " i < 100) INSERT INTO auth_user (password, is_superuser, username,"
                          " first_name, last_name, email, is_staff, is_active, date_joined)"
                          " SELECT '!', 0, 'u' || i, '', '', '', 0, 1, '2020-01-01' FROM n") != 0)
        return NULL;
    return path;
}

/* N_USERS * PER_USER sessions, interleaved (u1, u2, ..., u1, u2, ...) so that no two
 * neighbours share a key and every check is a database read. */
static void make_sessions(const char *path, struct session *ss, struct session_list *list) {
    sqlite3 *c = NULL;
    sqlite3_stmt *s = NULL;
    sqlite3_open(path, &c);
    sqlite3_prepare_v2(c, "SELECT user_id, key FROM authtoken_token ORDER BY user_id", -1, &s,
                       NULL);
    for (int u = 0; u < N_USERS && sqlite3_step(s) == SQLITE_ROW; u++) {
        for (int k = 0; k < PER_USER; k++) {
            struct session *x = &ss[k * N_USERS + u];
            x->user_id = sqlite3_column_int64(s, 0);
            snprintf(x->key, sizeof x->key, "%s", (const char *)sqlite3_column_text(s, 1));
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(c);
    for (int i = 0; i < N_USERS * PER_USER; i++)
        sessions_add(list, &ss[i]);
}

static void test_log_rows(const char *path) {
    TEST("revocation: the triggers log deletes, re-keys, inserts, deactivations and user "
         "deletes, by user id");
    /* every user's first token (the user trigger's insert) is a row too */
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_revocation"), N_USERS);
    sql(path, "DELETE FROM tokenauth_revocation");
    sql(path, "UPDATE auth_user SET last_login = '2026-01-01', is_active = 1;"
              " UPDATE authtoken_token SET created = created");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_revocation"), 0);
    sql(path, "DELETE FROM authtoken_token WHERE user_id = 3");
    sql(path, "UPDATE authtoken_token SET key = lower(hex(randomblob(20))) WHERE user_id = 4");
    sql(path, "UPDATE auth_user SET is_active = 0 WHERE id = 5");
    sql(path, "UPDATE auth_user SET is_active = 0 WHERE id = 5"); /* already off: no row */
    sql(path, "DELETE FROM auth_user WHERE id = 6");
    /* docs/admin.md's rotate recipe: REPLACE deletes without firing delete triggers */
    sql(path, "REPLACE INTO authtoken_token (key, created, user_id) VALUES"
              " (lower(hex(randomblob(20))), '2026-01-01', 7)");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_revocation"), 5);
    CHECK_INT(sql_int(path, "SELECT sum(user_id) FROM tokenauth_revocation"), 3 + 4 + 5 + 6 + 7);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_revocation WHERE typeof(user_id) ="
                            " 'integer' AND at > 0"),
              5);
}

static void test_named(const char *path) {
    static struct session ss[N_USERS * PER_USER];
    struct session_list list = {0};
    struct revocation_state st = {0};
    struct revocation_tick tick;
    char err[256];
    memset(ss, 0, sizeof ss);
    make_sessions(path, ss, &list);
    struct db *db = db_open(path, DB_OPEN_READ_ONLY, 100, err, sizeof err);
    CHECK(db != NULL);
    if (!db)
        return;

    TEST("revocation: the first check reads every session");
    n_closed = 0;
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK_INT(tick.n_rechecked, N_USERS * PER_USER);
    CHECK(tick.full_reason != NULL);
    CHECK_INT(st.has_cursor, 1);

    TEST("revocation: writes that revoke nothing cost no session check");
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK_INT(tick.n_rechecked, 0);
    sql(path, "UPDATE auth_user SET last_login = '2026-02-02'");
    sql(path, "DELETE FROM tokenauth_login_failure");
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK_INT(tick.n_rechecked, 0);
    CHECK_INT(tick.n_rows, 0);
    CHECK(tick.full_reason == NULL);

    TEST("revocation: a deleted token: its user's sessions checked and closed, no other");
    sql(path, "DELETE FROM authtoken_token WHERE user_id = 7");
    n_closed = 0;
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), PER_USER);
    CHECK_INT(tick.n_rows, 1);
    CHECK_INT(tick.n_rechecked, 1);
    CHECK(tick.full_reason == NULL);
    CHECK_INT(n_closed, PER_USER);

    TEST("revocation: three revocations, one of them of a user already closed");
    sql(path, "UPDATE auth_user SET is_active = 0 WHERE id IN (8, 9);"
              " INSERT INTO tokenauth_revocation (user_id, at) VALUES (7, 0)");
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 2 * PER_USER);
    CHECK_INT(tick.n_rows, 3);
    CHECK_INT(tick.n_rechecked, 2 * PER_USER); /* interleaved: the last-key memo does not help */

    TEST("revocation: more rows than a batch are all read, in batches");
    sql(path, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)"
              " INSERT INTO tokenauth_revocation (user_id, at) SELECT 1000 + i, 0 FROM n");
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK_INT(tick.n_rows, 600);
    CHECK_INT(tick.n_rechecked, 0);

    TEST("revocation: the trim keeps the newest rows; a reader left behind checks everything");
    int64_t before = st.last_id;
    sql(path, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10005)"
              " INSERT INTO tokenauth_revocation (user_id, at) SELECT 5000 + i, 0 FROM n");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_revocation"), DB_REVOCATION_KEEP);
    CHECK_INT(sql_int(path, "SELECT min(id) FROM tokenauth_revocation") > before + 1, 1);
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK(tick.full_reason && strstr(tick.full_reason, "trimmed"));
    CHECK_INT(tick.n_rechecked, (N_USERS - 3) * PER_USER); /* 7, 8 and 9 are closed */
    sql(path, "DELETE FROM authtoken_token WHERE user_id = 10");
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), PER_USER);
    CHECK_INT(tick.n_rechecked, 1);
    CHECK(tick.full_reason == NULL);

    TEST("revocation: without the log (an older schema) each change checks every session");
    sql(path, "DROP TRIGGER tokenauth_revoke_token_delete");
    CHECK_INT(db_revocation_log_ready(db), 0);
    sql(path, "UPDATE auth_user SET last_login = '2026-03-03'");
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK(tick.full_reason && strstr(tick.full_reason, "no revocation log"));
    CHECK_INT(tick.n_rechecked, (N_USERS - 4) * PER_USER);
    sql(path, "DELETE FROM authtoken_token WHERE user_id = 11"); /* no row: found anyway */
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), PER_USER);
    CHECK(tick.full_reason != NULL);

    TEST("revocation: a read-write open restores the log; named checks resume after one full");
    struct db *rw = db_open(path, DB_OPEN_READ_WRITE, 100, err, sizeof err);
    CHECK(rw != NULL);
    db_close(rw);
    CHECK_INT(db_revocation_log_ready(db), 1);
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK(tick.full_reason && strstr(tick.full_reason, "appeared"));
    sql(path, "DELETE FROM authtoken_token WHERE user_id = 12");
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), PER_USER);
    CHECK_INT(tick.n_rechecked, 1);
    CHECK(tick.full_reason == NULL);
    db_close(db);
}

static void test_expiry(void) {
    struct session a = {0}, b = {0}, c = {0};
    struct session_list list = {0};
    struct revocation_state st = {0};
    struct revocation_tick tick;
    a.expires_s = 200;
    b.expires_s = 100;
    sessions_add(&list, &a);
    sessions_add(&list, &b);
    sessions_add(&list, &c); /* never expires */
    revocation_watch_expiry(&st, a.expires_s);
    revocation_watch_expiry(&st, b.expires_s);
    revocation_watch_expiry(&st, c.expires_s);

    TEST("revocation: expiry: due sessions close at their time, the next one is remembered");
    CHECK_INT(st.next_expiry_s, 100);
    CHECK_INT(revocation_check(&list, NULL, 0, 99, &st, &tick, on_close, NULL), 0);
    CHECK_INT(revocation_check(&list, NULL, 0, 100, &st, &tick, on_close, NULL), 1);
    CHECK_INT(b.close_code, REVOCATION_CLOSE_CODE);
    CHECK_INT(st.next_expiry_s, 200);
    CHECK_INT(revocation_check(&list, NULL, 0, 250, &st, &tick, on_close, NULL), 1);
    CHECK_INT(st.next_expiry_s, 0);
    CHECK_INT(c.close_code, 0);
}

void test_ws_revocation(void) {
    static char rows_db[4096];
    const char *path = make_users("ws_revlog.sqlite3");
    TEST("revocation: a database with users");
    if (!path) {
        SKIP("no sqlite3 shell to make a database");
        return;
    }
    snprintf(rows_db, sizeof rows_db, "%s", path);
    test_log_rows(rows_db);
    path = make_users("ws_revnamed.sqlite3");
    CHECK(path != NULL);
    if (path)
        test_named(path);
    test_expiry();
}
