/* db.c -- the SQLite file both programs share: opening it, and every query tokenauth makes.
 *
 * One struct db is one connection plus its statements, each prepared on first use and kept
 * (SQLITE_PREPARE_PERSISTENT), so a long-lived FastCGI process or ws-worker parses each query
 * once. Statements are looked up by a small enum, never built from strings.
 *
 * Settings at open: WAL journal (read-write connections turn it on; it is a property of the
 * file, so the read-only ws-worker connections get it too and never wait for a writer),
 * synchronous=NORMAL (safe with WAL: a power cut may lose the last commits, never corrupt), a
 * busy timeout, foreign keys on. The Django tables must exist: db_open refuses a file without
 * them and names schema.sql. Our own throttle table is created when missing, so a Django
 * db.sqlite3 works as it is.
 *
 * Times: Django stores datetimes as UTC text "YYYY-MM-DD HH:MM:SS[.ffffff]"; SQL converts with
 * strftime('%s', ...) and writes with strftime('%Y-%m-%d %H:%M:%f000', 'now'). */
#include "db.h"

#include "token.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW_TEXT "strftime('%Y-%m-%d %H:%M:%f000', 'now')"

enum stmt_id {
    SQL_USER_BY_USERNAME,
    SQL_USER_BY_ID,
    SQL_USER_SET_PASSWORD,
    SQL_USER_TOUCH_LAST_LOGIN,
    SQL_TOKEN_OF_USER,
    SQL_TOKEN_INSERT,
    SQL_TOKEN_REPLACE,
    SQL_TOKEN_DELETE,
    SQL_TOKEN_CHECK,
    SQL_THROTTLE_GET,
    SQL_THROTTLE_FAIL,
    SQL_THROTTLE_CLEAR,
    SQL_THROTTLE_EXPIRE,
    SQL_DATA_VERSION,
    SQL_SCHEMA_VERSION,
    SQL_REVOCATION_READY,
    SQL_REVOCATION_BOUNDS,
    SQL_REVOCATION_SINCE,
    SQL_BEGIN_READ,
    SQL_BEGIN_WRITE,
    SQL_COMMIT,
    SQL_ROLLBACK,
    N_SQL
};

static const char *const sql_text[N_SQL] = {
    [SQL_USER_BY_USERNAME] =
        "SELECT id, username, email, password, is_active FROM auth_user WHERE username = ?1",
    [SQL_USER_BY_ID] =
        "SELECT id, username, email, password, is_active FROM auth_user WHERE id = ?1",
    [SQL_USER_SET_PASSWORD] = "UPDATE auth_user SET password = ?2 WHERE id = ?1",
    [SQL_USER_TOUCH_LAST_LOGIN] = "UPDATE auth_user SET last_login = " NOW_TEXT " WHERE id = ?1",
    [SQL_TOKEN_OF_USER] = "SELECT key, CAST(strftime('%s', created) AS INTEGER)"
                          " FROM authtoken_token WHERE user_id = ?1",
    [SQL_TOKEN_INSERT] = "INSERT INTO authtoken_token (key, created, user_id)"
                         " VALUES (?2, " NOW_TEXT ", ?1)",
    [SQL_TOKEN_REPLACE] =
        "UPDATE authtoken_token SET key = ?2, created = " NOW_TEXT " WHERE user_id = ?1",
    [SQL_TOKEN_DELETE] = "DELETE FROM authtoken_token WHERE key = ?1",
    [SQL_TOKEN_CHECK] = "SELECT t.user_id, u.is_active, CAST(strftime('%s', t.created) AS INTEGER),"
                        " u.username, u.email"
                        " FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id"
                        " WHERE t.key = ?1",
    [SQL_THROTTLE_GET] = "SELECT n_failures, window_start FROM tokenauth_login_failure"
                         " WHERE kind = ?1 AND subject = ?2",
    /* ?3 is now, ?4 the window: a failure after the window's end opens a new one. */
    [SQL_THROTTLE_FAIL] =
        "INSERT INTO tokenauth_login_failure (kind, subject, n_failures, window_start)"
        " VALUES (?1, ?2, 1, ?3) ON CONFLICT (kind, subject) DO UPDATE SET"
        " n_failures = CASE WHEN ?3 - window_start >= ?4 THEN 1 ELSE n_failures + 1 END,"
        " window_start = CASE WHEN ?3 - window_start >= ?4 THEN ?3 ELSE window_start END",
    [SQL_THROTTLE_CLEAR] = "DELETE FROM tokenauth_login_failure WHERE kind = ?1 AND subject = ?2",
    [SQL_THROTTLE_EXPIRE] = "DELETE FROM tokenauth_login_failure WHERE window_start < ?1",
    [SQL_DATA_VERSION] = "PRAGMA data_version",
    [SQL_SCHEMA_VERSION] = "PRAGMA schema_version",
    [SQL_REVOCATION_READY] = "SELECT count(*) FROM sqlite_master WHERE (type = 'table' AND name = "
                             "'tokenauth_revocation')"
                             " OR (type = 'trigger' AND name IN ('tokenauth_revocation_trim',"
                             " 'tokenauth_revoke_token_delete', 'tokenauth_revoke_token_insert',"
                             " 'tokenauth_revoke_token_update', 'tokenauth_revoke_user_inactive',"
                             " 'tokenauth_revoke_user_delete'))",
    /* Two subqueries: SQLite answers a lone min() or max() of the rowid from the b-tree's ends. */
    [SQL_REVOCATION_BOUNDS] = "SELECT (SELECT coalesce(min(id), 0) FROM tokenauth_revocation),"
                              " (SELECT coalesce(max(id), 0) FROM tokenauth_revocation)",
    [SQL_REVOCATION_SINCE] = "SELECT id, user_id FROM tokenauth_revocation WHERE id > ?1"
                             " ORDER BY id LIMIT ?2",
    [SQL_BEGIN_READ] = "BEGIN DEFERRED",
    [SQL_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [SQL_COMMIT] = "COMMIT",
    [SQL_ROLLBACK] = "ROLLBACK",
};

/* Our one table, created on Django databases that lack it (schema.sql has the same text). */
static const char create_throttle_table[] =
    "CREATE TABLE IF NOT EXISTS \"tokenauth_login_failure\" (\"kind\" text NOT NULL,"
    " \"subject\" text NOT NULL, \"n_failures\" integer NOT NULL,"
    " \"window_start\" integer NOT NULL, PRIMARY KEY (\"kind\", \"subject\")) WITHOUT ROWID";

/* The revocation log and its triggers (schema.sql has the same text, with its reasons): every
 * deleted, re-keyed or inserted token (REPLACE INTO deletes without firing delete triggers),
 * every user deleted or made inactive, appends the user's id (never a token); the newest
 * DB_REVOCATION_KEEP (10,000) rows are kept, trimmed by the insert itself. */
static const char *const revocation_log_sql[] = {
    "CREATE TABLE IF NOT EXISTS \"tokenauth_revocation\" (\"id\" integer NOT NULL PRIMARY KEY"
    " AUTOINCREMENT, \"user_id\" integer NOT NULL, \"at\" integer NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS \"tokenauth_revocation_trim\" AFTER INSERT ON"
    " \"tokenauth_revocation\" BEGIN DELETE FROM \"tokenauth_revocation\""
    " WHERE \"id\" <= NEW.\"id\" - 10000; END",
    "CREATE TRIGGER IF NOT EXISTS \"tokenauth_revoke_token_delete\" AFTER DELETE ON"
    " \"authtoken_token\" BEGIN INSERT INTO \"tokenauth_revocation\" (\"user_id\", \"at\")"
    " VALUES (OLD.\"user_id\", CAST(strftime('%s', 'now') AS INTEGER)); END",
    "CREATE TRIGGER IF NOT EXISTS \"tokenauth_revoke_token_insert\" AFTER INSERT ON"
    " \"authtoken_token\" BEGIN INSERT INTO \"tokenauth_revocation\" (\"user_id\", \"at\")"
    " VALUES (NEW.\"user_id\", CAST(strftime('%s', 'now') AS INTEGER)); END",
    "CREATE TRIGGER IF NOT EXISTS \"tokenauth_revoke_token_update\" AFTER UPDATE OF \"key\","
    " \"user_id\" ON \"authtoken_token\" WHEN OLD.\"key\" IS NOT NEW.\"key\""
    " OR OLD.\"user_id\" IS NOT NEW.\"user_id\""
    " BEGIN INSERT INTO \"tokenauth_revocation\" (\"user_id\", \"at\")"
    " VALUES (OLD.\"user_id\", CAST(strftime('%s', 'now') AS INTEGER)); END",
    "CREATE TRIGGER IF NOT EXISTS \"tokenauth_revoke_user_inactive\" AFTER UPDATE OF"
    " \"is_active\" ON \"auth_user\" WHEN OLD.\"is_active\" AND NOT NEW.\"is_active\""
    " BEGIN INSERT INTO \"tokenauth_revocation\" (\"user_id\", \"at\")"
    " VALUES (OLD.\"id\", CAST(strftime('%s', 'now') AS INTEGER)); END",
    "CREATE TRIGGER IF NOT EXISTS \"tokenauth_revoke_user_delete\" AFTER DELETE ON"
    " \"auth_user\" BEGIN INSERT INTO \"tokenauth_revocation\" (\"user_id\", \"at\")"
    " VALUES (OLD.\"id\", CAST(strftime('%s', 'now') AS INTEGER)); END",
};

/* How many recorded failures between two sweeps of expired throttle rows. */
#define THROTTLE_SWEEP_EVERY 256

struct db {
    sqlite3 *conn;                /* the one connection, no mutex: one thread uses it */
    sqlite3_stmt *stmts[N_SQL];   /* prepared on first use */
    unsigned n_failures_recorded; /* counts toward the next throttle sweep */
    int busy_timeout_ms;          /* as opened; db_stamp_confirm sets 0 for a moment */
    int last_code;                /* SQLite's primary result code of the last failure */
    char error[256];              /* "what: why" of the last failure, for db_last_error */
};

/* Records the connection's last error as "what: SQLite's message"; returns the DB_* it maps to
 * (a lock held past the busy timeout is DB_BUSY, anything else DB_ERR). */
static int set_error(struct db *db, const char *what) {
    snprintf(db->error, sizeof db->error, "%s: %s", what, sqlite3_errmsg(db->conn));
    int code = sqlite3_errcode(db->conn) & 0xff;
    db->last_code = code;
    return code == SQLITE_BUSY || code == SQLITE_LOCKED ? DB_BUSY : DB_ERR;
}

/* The statement id, prepared if needed, reset and with no bindings left over. NULL on error. */
static sqlite3_stmt *stmt(struct db *db, enum stmt_id id) {
    if (!db->stmts[id]) {
        if (sqlite3_prepare_v3(db->conn, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT,
                               &db->stmts[id], NULL) != SQLITE_OK) {
            set_error(db, "prepare");
            return NULL;
        }
    }
    return db->stmts[id];
}

/* Readies a kept statement for its next use: reset, bindings cleared. */
static void done(sqlite3_stmt *s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Steps s once: DB_OK with a row to read, DB_NOT_FOUND when there is none, else the error
 * (DB_BUSY or DB_ERR, recorded with what). The caller reads the row, then calls done(). */
static int step_row(struct db *db, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    return rc == SQLITE_ROW ? DB_OK : rc == SQLITE_DONE ? DB_NOT_FOUND : set_error(db, what);
}

/* Steps a statement that returns no row we need, then resets it. DB_OK, DB_BUSY or DB_ERR. */
static int exec_stmt(struct db *db, sqlite3_stmt *s, const char *what) {
    int result = step_row(db, s, what);
    done(s);
    return result == DB_NOT_FOUND ? DB_OK : result;
}

/* Copies a text column into dst (dst_len bytes), truncated, "" for NULL. */
static void copy_text(char *dst, size_t dst_len, sqlite3_stmt *s, int col) {
    const unsigned char *text = sqlite3_column_text(s, col);
    size_t n = text ? (size_t)sqlite3_column_bytes(s, col) : 0;
    if (dst_len == 0)
        return;
    if (n >= dst_len)
        n = dst_len - 1;
    memcpy(dst, text ? (const char *)text : "", n);
    dst[n] = '\0';
}

static int64_t now_s(void) {
    return (int64_t)time(NULL);
}

/* Opens path with flags (never creating it) and the busy timeout. conn is set even on failure,
 * for its message. 0 or -1. */
static int open_plain(const char *path, int flags, int busy_timeout_ms, sqlite3 **conn) {
    if (sqlite3_open_v2(path, conn, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(*conn, busy_timeout_ms);
    return 0;
}

/* The pragmas of the file comment; -1 with err filled on failure. */
static int run_pragmas(struct db *db, int mode, char *err, size_t err_len) {
    const char *pragmas = mode == DB_OPEN_READ_ONLY
                              ? "PRAGMA foreign_keys = ON"
                              : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                                " PRAGMA foreign_keys = ON";
    char *msg = NULL;

    if (sqlite3_exec(db->conn, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_len, "setting up the connection: %s", msg ? msg : "unknown error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* The revocation log and its triggers, when missing: the migration of a Django database (or
 * one made by an older schema.sql), in one transaction, so a concurrent opener sees all or
 * nothing. Writes nothing when everything is there (CREATE ... IF NOT EXISTS). */
static int create_log(struct db *db, char *err, size_t err_len) {
    int n = 0;
    sqlite3_stmt *s = stmt(db, SQL_REVOCATION_READY);
    if (s && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int(s, 0);
    if (s)
        done(s);
    if (n == DB_REVOCATION_N_OBJECTS)
        return DB_OK; /* the common case: no write lock taken at all */
    char *msg = NULL;
    int rc = sqlite3_exec(db->conn, "BEGIN IMMEDIATE", NULL, NULL, &msg);
    size_t n_sql = sizeof revocation_log_sql / sizeof revocation_log_sql[0];
    for (size_t i = 0; rc == SQLITE_OK && i < n_sql; i++)
        rc = sqlite3_exec(db->conn, revocation_log_sql[i], NULL, NULL, &msg);
    if (rc == SQLITE_OK && sqlite3_exec(db->conn, "COMMIT", NULL, NULL, &msg) == SQLITE_OK)
        return DB_OK;
    snprintf(err, err_len, "creating the revocation log (tokenauth_revocation): %s",
             msg ? msg : sqlite3_errmsg(db->conn));
    sqlite3_free(msg);
    if (!sqlite3_get_autocommit(db->conn))
        sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
    return DB_ERR;
}

/* Refuses a file without Django's two tables (DB_NO_SCHEMA) and, read-write, creates our
 * throttle table when missing. DB_OK, or DB_NO_SCHEMA or DB_ERR with err filled. */
static int check_schema(struct db *db, int mode, char *err, size_t err_len) {
    sqlite3_stmt *s = NULL;
    int n_tables = 0;
    int has_row = sqlite3_prepare_v2(db->conn,
                                     "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                     " AND name IN ('auth_user', 'authtoken_token')",
                                     -1, &s, NULL) == SQLITE_OK &&
                  sqlite3_step(s) == SQLITE_ROW;
    if (has_row)
        n_tables = sqlite3_column_int(s, 0);
    else
        snprintf(err, err_len, "reading the schema: %s", sqlite3_errmsg(db->conn));
    sqlite3_finalize(s);
    if (!has_row)
        return DB_ERR;
    if (n_tables != 2) {
        snprintf(err, err_len,
                 "the database has no auth_user/authtoken_token tables: create them with "
                 "`sqlite3 FILE < schema.sql` (or Django's migrate)");
        return DB_NO_SCHEMA;
    }
    if (mode == DB_OPEN_READ_WRITE &&
        sqlite3_exec(db->conn, create_throttle_table, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "creating tokenauth_login_failure: %s", sqlite3_errmsg(db->conn));
        return DB_ERR;
    }
    return mode == DB_OPEN_READ_WRITE ? create_log(db, err, err_len) : DB_OK;
}

struct db *db_open(const char *path, int mode, int busy_timeout_ms, char *err, size_t err_len) {
    int flags = mode == DB_OPEN_READ_ONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    struct db *db = calloc(1, sizeof *db);

    if (err_len > 0)
        err[0] = '\0';
    if (!db) {
        snprintf(err, err_len, "opening %s: out of memory", path);
        return NULL;
    }
    /* Never create the file: a typo in TOKENAUTH_DB must not yield an empty database. */
    if (open_plain(path, flags, busy_timeout_ms, &db->conn) != 0) {
        snprintf(err, err_len, "opening %s: %s", path,
                 db->conn ? sqlite3_errmsg(db->conn) : "out of memory");
        goto fail;
    }
    db->busy_timeout_ms = busy_timeout_ms;
    sqlite3_extended_result_codes(db->conn, 1);
    if (run_pragmas(db, mode, err, err_len) != 0)
        goto fail;
    if (check_schema(db, mode, err, err_len) != DB_OK)
        goto fail;
    return db;
fail:
    db_close(db);
    return NULL;
}

void db_close(struct db *db) {
    if (!db)
        return;
    /* The -wal and -shm files are found by name, so after a rename over our file they serve
     * the new one: closing must not checkpoint into them or delete them. */
    int moved = 0;
    if (sqlite3_file_control(db->conn, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK &&
        moved)
        sqlite3_db_config(db->conn, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    for (int i = 0; i < N_SQL; i++)
        sqlite3_finalize(db->stmts[i]);
    sqlite3_close(db->conn);
    free(db);
}

const char *db_last_error(const struct db *db) {
    return db->error;
}

int db_begin_read(struct db *db) {
    sqlite3_stmt *s = stmt(db, SQL_BEGIN_READ);
    return s ? exec_stmt(db, s, "begin") : DB_ERR;
}

int db_begin_write(struct db *db) {
    sqlite3_stmt *s = stmt(db, SQL_BEGIN_WRITE);
    int rc = s ? exec_stmt(db, s, "begin") : DB_ERR;
    /* Checked with the write lock held: a file renamed over ours before we got it is seen now,
     * and no page of ours goes into a -wal that serves the new file. */
    if (rc == DB_OK && db_has_moved(db) != 0) {
        db_rollback(db);
        snprintf(db->error, sizeof db->error, "begin: the database file was replaced or deleted");
        return DB_ERR;
    }
    return rc;
}

int db_commit(struct db *db) {
    sqlite3_stmt *s = stmt(db, SQL_COMMIT);
    int rc = s ? exec_stmt(db, s, "commit") : DB_ERR;
    if (rc != DB_OK)
        db_rollback(db);
    return rc;
}

void db_rollback(struct db *db) {
    sqlite3_stmt *s = stmt(db, SQL_ROLLBACK);
    if (s && !sqlite3_get_autocommit(db->conn))
        exec_stmt(db, s, "rollback");
}

/* Steps a user query into out: DB_OK, DB_NOT_FOUND, DB_BUSY or DB_ERR. */
static int read_user(struct db *db, sqlite3_stmt *s, struct db_user *out) {
    int result = step_row(db, s, "reading auth_user");
    if (result == DB_OK) {
        out->id = sqlite3_column_int64(s, 0);
        copy_text(out->username, sizeof out->username, s, 1);
        copy_text(out->email, sizeof out->email, s, 2);
        copy_text(out->password, sizeof out->password, s, 3);
        out->is_active = sqlite3_column_int(s, 4) != 0;
    }
    done(s);
    return result;
}

int db_user_by_username(struct db *db, const char *username, struct db_user *out) {
    sqlite3_stmt *s = stmt(db, SQL_USER_BY_USERNAME);
    if (!s)
        return DB_ERR;
    sqlite3_bind_text(s, 1, username, -1, SQLITE_STATIC);
    return read_user(db, s, out);
}

int db_user_by_id(struct db *db, int64_t id, struct db_user *out) {
    sqlite3_stmt *s = stmt(db, SQL_USER_BY_ID);
    if (!s)
        return DB_ERR;
    sqlite3_bind_int64(s, 1, id);
    return read_user(db, s, out);
}

int db_user_set_password(struct db *db, int64_t user_id, const char *encoded) {
    sqlite3_stmt *s = stmt(db, SQL_USER_SET_PASSWORD);
    if (!s)
        return DB_ERR;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_text(s, 2, encoded, -1, SQLITE_STATIC);
    return exec_stmt(db, s, "storing a password");
}

int db_user_touch_last_login(struct db *db, int64_t user_id) {
    sqlite3_stmt *s = stmt(db, SQL_USER_TOUCH_LAST_LOGIN);
    if (!s)
        return DB_ERR;
    sqlite3_bind_int64(s, 1, user_id);
    return exec_stmt(db, s, "updating last_login");
}

int db_token_of_user(struct db *db, int64_t user_id, char *key_out, int64_t *created_s) {
    sqlite3_stmt *s = stmt(db, SQL_TOKEN_OF_USER);
    if (!s)
        return DB_ERR;
    sqlite3_bind_int64(s, 1, user_id);
    int result = step_row(db, s, "reading authtoken_token");
    if (result == DB_OK) {
        copy_text(key_out, DB_KEY_MAX, s, 0);
        *created_s = sqlite3_column_int64(s, 1);
    }
    done(s);
    return result;
}

/* Stores a fresh key for the user, as a new row or in place of an expired one. */
static int store_new_token(struct db *db, int64_t user_id, int is_replacing, char *key_out) {
    char key[TOKEN_KEY_LEN + 1];
    if (token_generate(key) != TOKEN_OK) {
        snprintf(db->error, sizeof db->error, "making a token: the random source failed");
        return DB_ERR;
    }
    sqlite3_stmt *s = stmt(db, is_replacing ? SQL_TOKEN_REPLACE : SQL_TOKEN_INSERT);
    if (!s)
        return DB_ERR;
    sqlite3_bind_int64(s, 1, user_id);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    int rc = exec_stmt(db, s, "storing a token");
    if (rc == DB_OK)
        memcpy(key_out, key, sizeof key);
    return rc;
}

int db_token_get_valid(struct db *db, int64_t user_id, long ttl_s, char *key_out) {
    int64_t created_s = 0;
    int rc = db_token_of_user(db, user_id, key_out, &created_s);
    if (rc == DB_OK && token_is_expired(token_expires_at(created_s, ttl_s), now_s()))
        return DB_EXPIRED;
    return rc;
}

int db_token_get_or_create(struct db *db, int64_t user_id, long ttl_s, char *key_out) {
    /* A read first: the common case (a token exists) writes nothing. */
    int rc = db_token_get_valid(db, user_id, ttl_s, key_out);
    if (rc == DB_OK || (rc != DB_EXPIRED && rc != DB_NOT_FOUND))
        return rc;
    if (rc == DB_EXPIRED)
        return store_new_token(db, user_id, 1, key_out);
    rc = store_new_token(db, user_id, 0, key_out);
    if (rc == DB_ERR && db->last_code == SQLITE_CONSTRAINT) {
        /* Another process made this user's token between our read and our insert: use it.
         * None there means the user itself is missing (the foreign key): keep that error. */
        int64_t created_s = 0;
        rc = db_token_of_user(db, user_id, key_out, &created_s);
        return rc == DB_NOT_FOUND ? DB_ERR : rc;
    }
    return rc;
}

int db_token_delete(struct db *db, const char *key) {
    sqlite3_stmt *s = stmt(db, SQL_TOKEN_DELETE);
    if (!s)
        return DB_ERR;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = exec_stmt(db, s, "deleting a token");
    if (rc == DB_OK && sqlite3_changes(db->conn) == 0)
        return DB_NOT_FOUND;
    return rc;
}

int db_token_check(struct db *db, const char *key, long ttl_s, struct db_token_owner *out) {
    sqlite3_stmt *s = stmt(db, SQL_TOKEN_CHECK);
    if (!s)
        return DB_ERR;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int result = step_row(db, s, "checking a token");
    if (result == DB_OK) {
        out->user_id = sqlite3_column_int64(s, 0);
        out->created_s = sqlite3_column_int64(s, 2);
        out->expires_s = token_expires_at(out->created_s, ttl_s);
        copy_text(out->username, sizeof out->username, s, 3);
        copy_text(out->email, sizeof out->email, s, 4);
        if (!sqlite3_column_int(s, 1))
            result = DB_INACTIVE;
        else if (token_is_expired(out->expires_s, now_s()))
            result = DB_EXPIRED;
    }
    done(s);
    return result;
}

/* The throttle statement id, prepared, with kind (?1) and subject (?2) bound; NULL on error. */
static sqlite3_stmt *throttle_stmt(struct db *db, enum stmt_id id, const char *kind,
                                   const char *subject) {
    sqlite3_stmt *s = stmt(db, id);
    if (s) {
        sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, subject, -1, SQLITE_STATIC);
    }
    return s;
}

int db_throttle_read(struct db *db, const char *kind, const char *subject,
                     struct db_throttle_row *out) {
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = throttle_stmt(db, SQL_THROTTLE_GET, kind, subject);
    if (!s)
        return DB_ERR;
    int result = step_row(db, s, "reading login failures");
    if (result == DB_OK) {
        out->is_present = 1;
        out->n_failures = sqlite3_column_int64(s, 0);
        out->window_start = sqlite3_column_int64(s, 1);
    }
    done(s);
    return result == DB_NOT_FOUND ? DB_OK : result;
}

long db_throttle_retry_after(const struct db_throttle_row *row, int max_failures, long window_s,
                             int64_t now) {
    int64_t window_end = row->window_start + window_s;
    if (max_failures <= 0 || !row->is_present || row->n_failures < max_failures ||
        now >= window_end)
        return 0;
    return (long)(window_end - now);
}

int db_throttle_check(struct db *db, const char *kind, const char *subject, int max_failures,
                      long window_s, long *retry_after_s, int *has_failures) {
    struct db_throttle_row row;
    *retry_after_s = 0;
    if (has_failures)
        *has_failures = 1; /* unknown until read: the caller must assume there are some */
    if (max_failures <= 0)
        return DB_OK;
    int result = db_throttle_read(db, kind, subject, &row);
    if (result != DB_OK)
        return result;
    if (has_failures)
        *has_failures = row.is_present;
    *retry_after_s = db_throttle_retry_after(&row, max_failures, window_s, now_s());
    return DB_OK;
}

int db_throttle_record_failure(struct db *db, const char *kind, const char *subject,
                               long window_s) {
    sqlite3_stmt *s = throttle_stmt(db, SQL_THROTTLE_FAIL, kind, subject);
    if (!s)
        return DB_ERR;
    int64_t now = now_s();
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int64(s, 4, window_s);
    int rc = exec_stmt(db, s, "recording a login failure");
    /* Rows whose window is long over are dead weight: sweep them now and then. */
    if (rc == DB_OK && ++db->n_failures_recorded % THROTTLE_SWEEP_EVERY == 0) {
        sqlite3_stmt *sweep = stmt(db, SQL_THROTTLE_EXPIRE);
        if (sweep) {
            sqlite3_bind_int64(sweep, 1, now - window_s);
            exec_stmt(db, sweep, "sweeping login failures");
        }
    }
    return rc;
}

int db_throttle_clear(struct db *db, const char *kind, const char *subject) {
    /* No read first to spare a write lock: the caller (a successful login) already holds one. */
    sqlite3_stmt *s = throttle_stmt(db, SQL_THROTTLE_CLEAR, kind, subject);
    if (!s)
        return DB_ERR;
    return exec_stmt(db, s, "clearing login failures");
}

int db_throttle_claim(struct db *db, const struct db_throttle_subject *subjects, size_t n_subjects,
                      long window_s, long *retry_after_s) {
    *retry_after_s = 0;
    for (size_t i = 0; i < n_subjects; i++) {
        long wait = 0;
        int rc = db_throttle_check(db, subjects[i].kind, subjects[i].subject,
                                   subjects[i].max_failures, window_s, &wait, NULL);
        if (rc != DB_OK)
            return rc;
        if (wait > *retry_after_s)
            *retry_after_s = wait;
    }
    if (*retry_after_s > 0)
        return DB_OK;
    for (size_t i = 0; i < n_subjects; i++) {
        if (subjects[i].max_failures <= 0)
            continue;
        int rc = db_throttle_record_failure(db, subjects[i].kind, subjects[i].subject, window_s);
        if (rc != DB_OK)
            return rc;
    }
    return DB_OK;
}

int db_read_version(struct db *db, uint64_t *version_out) {
    int64_t others = 0;
    unsigned int mine = 0;
    int rc = db_data_version(db, &others); /* reads a meta value: the snapshot begins here */
    if (rc != DB_OK)
        return rc;
    if (sqlite3_file_control(db->conn, "main", SQLITE_FCNTL_DATA_VERSION, &mine) != SQLITE_OK)
        return set_error(db, "reading the data version");
    *version_out = mine;
    return DB_OK;
}

void db_stamp_now(struct db *db, const struct timespec *now_real, struct db_stamp *out) {
    const char *path = sqlite3_db_filename(db->conn, "main");
    if (!path || !path[0]) {
        memset(out, 0, sizeof *out); /* a temporary database has no file: never trusted */
        return;
    }
    db_stamp_read(path, now_real, out);
}

/* The stamp and the version inside the write transaction db_stamp_confirm holds. */
static int stamp_locked(struct db *db, const struct timespec *now_real, struct db_stamp *stamp_out,
                        uint64_t *version_out) {
    db_stamp_now(db, now_real, stamp_out);
    int moved = db_has_moved(db);
    if (moved != 0) {
        if (moved > 0)
            snprintf(db->error, sizeof db->error,
                     "stamp: the database file was replaced or deleted");
        return DB_ERR;
    }
    return db_read_version(db, version_out);
}

int db_stamp_confirm(struct db *db, const struct timespec *now_real, struct db_stamp *stamp_out,
                     uint64_t *version_out) {
    sqlite3_stmt *s = stmt(db, SQL_BEGIN_WRITE);
    memset(stamp_out, 0, sizeof *stamp_out);
    if (!s)
        return DB_ERR;
    sqlite3_busy_timeout(db->conn, 0); /* a writer at work: not now, and no wait */
    int rc = exec_stmt(db, s, "stamp: begin");
    sqlite3_busy_timeout(db->conn, db->busy_timeout_ms);
    if (rc != DB_OK)
        return rc;
    rc = stamp_locked(db, now_real, stamp_out, version_out);
    db_rollback(db);
    if (rc != DB_OK)
        memset(stamp_out, 0, sizeof *stamp_out);
    return rc;
}

int db_data_version(struct db *db, int64_t *version_out) {
    sqlite3_stmt *s = stmt(db, SQL_DATA_VERSION);
    if (!s)
        return DB_ERR;
    int rc = sqlite3_step(s);
    int result = DB_OK;
    if (rc == SQLITE_ROW)
        *version_out = sqlite3_column_int64(s, 0);
    else
        result = set_error(db, "reading data_version");
    done(s);
    return result;
}

int db_schema_version(struct db *db, int64_t *version_out) {
    sqlite3_stmt *s = stmt(db, SQL_SCHEMA_VERSION);
    if (!s)
        return DB_ERR;
    int result = step_row(db, s, "reading schema_version");
    if (result == DB_OK)
        *version_out = sqlite3_column_int64(s, 0);
    done(s);
    return result == DB_NOT_FOUND ? DB_ERR : result;
}

int db_revocation_log_ready(struct db *db) {
    sqlite3_stmt *s = stmt(db, SQL_REVOCATION_READY);
    if (!s)
        return DB_ERR;
    int result = step_row(db, s, "looking for the revocation log");
    int n = result == DB_OK ? sqlite3_column_int(s, 0) : 0;
    done(s);
    if (result == DB_BUSY || result == DB_ERR)
        return result;
    return n == DB_REVOCATION_N_OBJECTS ? 1 : 0;
}

int db_revocation_bounds(struct db *db, int64_t *min_id, int64_t *max_id) {
    sqlite3_stmt *s = stmt(db, SQL_REVOCATION_BOUNDS);
    if (!s)
        return DB_ERR;
    int result = step_row(db, s, "reading the revocation log");
    if (result == DB_OK) {
        *min_id = sqlite3_column_int64(s, 0);
        *max_id = sqlite3_column_int64(s, 1);
    }
    done(s);
    return result == DB_NOT_FOUND ? DB_ERR : result;
}

int db_revocation_since(struct db *db, int64_t after_id, size_t max_rows, int64_t *user_ids,
                        size_t *n_rows, int64_t *last_id) {
    sqlite3_stmt *s = stmt(db, SQL_REVOCATION_SINCE);
    *n_rows = 0;
    if (!s)
        return DB_ERR;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max_rows);
    int result;
    while ((result = step_row(db, s, "reading the revocation log")) == DB_OK) {
        *last_id = sqlite3_column_int64(s, 0);
        user_ids[(*n_rows)++] = sqlite3_column_int64(s, 1);
    }
    done(s);
    return result == DB_NOT_FOUND ? DB_OK : result;
}

int db_has_moved(struct db *db) {
    int moved = 0;
    if (sqlite3_file_control(db->conn, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK) {
        set_error(db, "checking whether the file moved");
        return DB_ERR;
    }
    return moved ? 1 : 0;
}

/* The journal mode conn reports, or after setting it with sql; copied into mode (lower case). */
static int journal_mode(sqlite3 *conn, const char *sql, char *mode, size_t mode_len) {
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(conn, sql, -1, &s, NULL);
    mode[0] = '\0';
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        copy_text(mode, mode_len, s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_OK ? 0 : -1;
}

int db_ensure_wal(const char *path, int busy_timeout_ms, char *err, size_t err_len) {
    char mode[16];
    sqlite3 *conn = NULL;
    int result = DB_ERR;
    if (err_len > 0)
        err[0] = '\0';
    /* Read first: a file already in WAL needs no write access. */
    if (open_plain(path, SQLITE_OPEN_READONLY, busy_timeout_ms, &conn) != 0 ||
        journal_mode(conn, "PRAGMA journal_mode", mode, sizeof mode) != 0)
        goto fail;
    if (strcmp(mode, "wal") == 0) {
        sqlite3_close(conn);
        return 0;
    }
    sqlite3_close(conn);
    conn = NULL;
    if (open_plain(path, SQLITE_OPEN_READWRITE, busy_timeout_ms, &conn) != 0 ||
        journal_mode(conn, "PRAGMA journal_mode = WAL", mode, sizeof mode) != 0)
        goto fail;
    if (strcmp(mode, "wal") == 0)
        result = 1;
    else
        snprintf(err, err_len, "%s stays in journal_mode=%s", path, mode);
    sqlite3_close(conn);
    return result;
fail:
    snprintf(err, err_len, "%s: %s", path, conn ? sqlite3_errmsg(conn) : "out of memory");
    sqlite3_close(conn);
    return result;
}
