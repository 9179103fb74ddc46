/* test_db.c -- shared/db.c: opening (missing file, no schema, not a database, read-only, a
 * Django database without our throttle table), user lookups and writes, token get-or-create,
 * delete and check, throttling windows, data_version, DB_BUSY and transactions, the switch to
 * WAL and noticing a file moved away. A second connection, opened here with sqlite3 directly,
 * plays the other process (or the sqlite3 prompt) and looks at what db.c wrote. */
#include "test.h"

#include "db.h"
#include "token.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NO_SCHEMA_MESSAGE                                                                          \
    "the database has no auth_user/authtoken_token tables: create them with "                      \
    "`sqlite3 FILE < schema.sql` (or Django's migrate)"

/* Django 3.2's own DDL for its two tables, without our trigger or throttle table. */
#define DJANGO_TABLES                                                                              \
    "CREATE TABLE \"auth_user\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \"password\" " \
    "varchar(128) NOT NULL, \"last_login\" datetime NULL, \"is_superuser\" bool NOT NULL, "        \
    "\"username\" varchar(150) NOT NULL UNIQUE, \"last_name\" varchar(150) NOT NULL, \"email\" "   \
    "varchar(254) NOT NULL, \"is_staff\" bool NOT NULL, \"is_active\" bool NOT NULL, "             \
    "\"date_joined\" datetime NOT NULL, \"first_name\" varchar(150) NOT NULL);"                    \
    "CREATE TABLE \"authtoken_token\" (\"key\" varchar(40) NOT NULL PRIMARY KEY, \"created\" "     \
    "datetime NOT NULL, \"user_id\" integer NOT NULL UNIQUE REFERENCES \"auth_user\" (\"id\") "    \
    "DEFERRABLE INITIALLY DEFERRED);"

/* A path in the test folder (static buffer: copy it to keep it). */
static const char *tmp_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    return path;
}

/* A fresh database from schema.sql, its path copied into path. 0, or -1 (and a failed check). */
static int fresh_db(const char *name, char *path, size_t path_len) {
    const char *made = test_make_db(name);
    TEST_RECORD(made != NULL, "test_make_db(\"%s\") failed", name);
    if (!made)
        return -1;
    snprintf(path, path_len, "%s", made);
    return 0;
}

/* Runs sql on its own connection to path (the "other process"). SQLite's result code. */
static int sql(const char *path, const char *text) {
    sqlite3 *conn = NULL;
    char *msg = NULL;
    int rc = sqlite3_open(path, &conn);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(conn, 2000);
        rc = sqlite3_exec(conn, text, NULL, NULL, &msg);
    }
    TEST_RECORD(rc == SQLITE_OK, "sql \"%s\": %s", text, msg ? msg : sqlite3_errmsg(conn));
    sqlite3_free(msg);
    sqlite3_close(conn);
    return rc;
}

/* The first column of the first row of query on path, as text ("(null)" when NULL or none). */
static const char *sql_text(const char *path, const char *query) {
    static char out[1024];
    sqlite3 *conn = NULL;
    sqlite3_stmt *s = NULL;
    snprintf(out, sizeof out, "(null)");
    if (sqlite3_open(path, &conn) == SQLITE_OK &&
        sqlite3_prepare_v2(conn, query, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(conn);
    return out;
}

static long long sql_int(const char *path, const char *query) {
    return atoll(sql_text(path, query));
}

/* Inserts a user (the schema's trigger gives it a token) and returns its id, or -1. */
static int64_t add_user(const char *path, const char *username, const char *email, int is_active) {
    char text[1024];
    snprintf(text, sizeof text,
             "INSERT INTO auth_user (password, last_login, is_superuser, username, last_name,"
             " email, is_staff, is_active, date_joined, first_name) VALUES"
             " ('pbkdf2_sha256$1$salt$hash', NULL, 0, '%s', '', '%s', 0, %d,"
             " '2024-01-01 00:00:00', '')",
             username, email, is_active);
    if (sql(path, text) != SQLITE_OK)
        return -1;
    snprintf(text, sizeof text, "SELECT id FROM auth_user WHERE username = '%s'", username);
    return sql_int(path, text);
}

/* The token key of user id in the database, or "(null)". */
static const char *key_of(const char *path, int64_t id) {
    char query[128];
    snprintf(query, sizeof query, "SELECT key FROM authtoken_token WHERE user_id = %lld",
             (long long)id);
    return sql_text(path, query);
}

/* 1 when s is 40 lowercase hex digits. */
static int is_key(const char *s) {
    if (strlen(s) != TOKEN_KEY_LEN)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static void test_open(void) {
    char err[512], path[256];
    struct db *db;

    TEST("db: a missing file opened read-write: NULL, a message naming it, and no file made");
    snprintf(path, sizeof path, "%s", tmp_path("missing.sqlite3"));
    db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    CHECK(db == NULL);
    char expected[512];
    snprintf(expected, sizeof expected, "opening %s: unable to open database file", path);
    CHECK_STR(err, expected);
    CHECK(access(path, F_OK) != 0);

    TEST("db: a missing file opened read-only: NULL, the same message, and no file made");
    db = db_open(path, DB_OPEN_READ_ONLY, 1000, err, sizeof err);
    CHECK(db == NULL);
    CHECK_STR(err, expected);
    CHECK(access(path, F_OK) != 0);

    TEST("db: an empty file (a database without tables): DB_NO_SCHEMA's message naming schema.sql");
    snprintf(path, sizeof path, "%s", tmp_path("empty.sqlite3"));
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    CHECK(db == NULL);
    CHECK_STR(err, NO_SCHEMA_MESSAGE);
    CHECK(strstr(err, "schema.sql") != NULL);

    TEST("db: only one of the two Django tables: refused the same way, read-only too");
    sql(path, "CREATE TABLE auth_user (id integer PRIMARY KEY)");
    db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    CHECK(db == NULL);
    CHECK_STR(err, NO_SCHEMA_MESSAGE);
    db = db_open(path, DB_OPEN_READ_ONLY, 1000, err, sizeof err);
    CHECK(db == NULL);
    CHECK_STR(err, NO_SCHEMA_MESSAGE);

    TEST("db: a file that is not a database, opened read-write: the connection set-up fails");
    snprintf(path, sizeof path, "%s", tmp_path("text.sqlite3"));
    f = fopen(path, "w");
    if (f) {
        for (int i = 0; i < 200; i++)
            fputs("this is not an SQLite database\n", f);
        fclose(f);
    }
    db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    CHECK(db == NULL);
    CHECK_STR(err, "setting up the connection: file is not a database");

    TEST("db: a file that is not a database, opened read-only: reading the schema fails");
    db = db_open(path, DB_OPEN_READ_ONLY, 1000, err, sizeof err);
    CHECK(db == NULL);
    CHECK_STR(err, "reading the schema: file is not a database");

    TEST("db: a good database opens, and err is emptied");
    if (fresh_db("open.sqlite3", path, sizeof path) != 0)
        return;
    strcpy(err, "junk");
    db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    CHECK(db != NULL);
    CHECK_STR(err, "");
    CHECK_STR(sql_text(path, "PRAGMA journal_mode"), "wal");

    TEST("db: a read-only connection opens beside it and reads");
    struct db *ro = db_open(path, DB_OPEN_READ_ONLY, 1000, err, sizeof err);
    CHECK(ro != NULL);
    int64_t id = add_user(path, "reader", "r@example.com", 1);
    struct db_user user;
    if (ro) {
        CHECK_INT(db_user_by_username(ro, "reader", &user), DB_OK);
        CHECK_INT(user.id, id);

        TEST("db: a read-only connection cannot write: DB_ERR with SQLite's reason");
        CHECK_INT(db_user_set_password(ro, id, "x"), DB_ERR);
        CHECK_STR(db_last_error(ro), "storing a password: attempt to write a readonly database");
    }
    db_close(ro);
    db_close(db);

    TEST("db: a read-only open of a database whose writers have all gone");
    ro = db_open(path, DB_OPEN_READ_ONLY, 1000, err, sizeof err);
    CHECK(ro != NULL);
    if (!ro)
        fprintf(stderr, "  %s\n", err);
    if (ro)
        CHECK_INT(db_user_by_username(ro, "reader", &user), DB_OK);
    db_close(ro);

    TEST("db: db_close(NULL) is harmless");
    db_close(NULL);
    CHECK(1);

    TEST("db: a small err buffer is cut and terminated");
    char small[8];
    CHECK(db_open(tmp_path("missing.sqlite3"), DB_OPEN_READ_WRITE, 1000, small, sizeof small) ==
          NULL);
    CHECK_STR(small, "opening");
}

static void test_django_db(void) {
    char err[512], path[256];

    TEST("db: a Django database (no trigger, no throttle table) starts in rollback-journal mode");
    snprintf(path, sizeof path, "%s", tmp_path("django.sqlite3"));
    if (sql(path, DJANGO_TABLES) != SQLITE_OK)
        return;
    CHECK_STR(sql_text(path, "PRAGMA journal_mode"), "delete");

    TEST(
        "db: a Django database opened read-only: no throttle table made, its queries fail cleanly");
    struct db *ro = db_open(path, DB_OPEN_READ_ONLY, 1000, err, sizeof err);
    CHECK(ro != NULL);
    if (ro) {
        long retry_after_s = -1;
        CHECK_INT(db_throttle_check(ro, "user", "ann", 5, 900, &retry_after_s, NULL), DB_ERR);
        CHECK_STR(db_last_error(ro), "prepare: no such table: tokenauth_login_failure");
        CHECK_INT(db_throttle_record_failure(ro, "user", "ann", 900), DB_ERR);
        CHECK_INT(db_throttle_clear(ro, "user", "ann"), DB_ERR);
    }
    db_close(ro);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name ="
                            " 'tokenauth_login_failure'"),
              0);

    struct db *db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    TEST("db: a Django database opened read-write: WAL is turned on and the throttle table made");
    CHECK(db != NULL);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name ="
                            " 'tokenauth_login_failure'"),
              1);
    CHECK_STR(sql_text(path, "PRAGMA journal_mode"), "wal");

    TEST("db: in a Django database (no trigger) a new user has no token");
    int64_t id = add_user(path, "django", "d@example.com", 1);
    CHECK_STR(key_of(path, id), "(null)");
    char key[DB_KEY_MAX];
    if (db) {
        CHECK_INT(db_token_get_or_create(db, id, 0, key), DB_OK);
        CHECK(is_key(key));
        CHECK_STR(key_of(path, id), key);
        struct db_token_owner owner;
        CHECK_INT(db_token_check(db, key, 0, &owner), DB_OK);
        CHECK_INT(owner.user_id, id);
    }
    db_close(db);

    TEST("db: an index already named like our table: creating it fails with SQLite's reason");
    snprintf(path, sizeof path, "%s", tmp_path("django2.sqlite3"));
    if (sql(path, DJANGO_TABLES "CREATE INDEX tokenauth_login_failure ON auth_user (email);") !=
        SQLITE_OK)
        return;
    db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    CHECK(db == NULL);
    CHECK_STR(err, "creating tokenauth_login_failure: there is already an index named "
                   "tokenauth_login_failure");
    db_close(db);
}

static void test_users(struct db *db, const char *path) {
    struct db_user user;

    int64_t ann = add_user(path, "ann", "ann@example.com", 1);
    int64_t bob = add_user(path, "bob", "bob@example.com", 0);

    TEST("db: a user looked up by username has every field filled");
    memset(&user, 0x5a, sizeof user);
    CHECK_INT(db_user_by_username(db, "ann", &user), DB_OK);
    CHECK_INT(user.id, ann);
    CHECK_STR(user.username, "ann");
    CHECK_STR(user.email, "ann@example.com");
    CHECK_STR(user.password, "pbkdf2_sha256$1$salt$hash");
    CHECK_INT(user.is_active, 1);

    TEST("db: an inactive user is found, with is_active 0");
    CHECK_INT(db_user_by_username(db, "bob", &user), DB_OK);
    CHECK_INT(user.id, bob);
    CHECK_INT(user.is_active, 0);

    TEST("db: usernames match exactly: other case, prefixes, LIKE patterns find nobody");
    CHECK_INT(db_user_by_username(db, "ANN", &user), DB_NOT_FOUND);
    CHECK_INT(db_user_by_username(db, "an", &user), DB_NOT_FOUND);
    CHECK_INT(db_user_by_username(db, "a%", &user), DB_NOT_FOUND);
    CHECK_INT(db_user_by_username(db, "", &user), DB_NOT_FOUND);
    CHECK_INT(db_user_by_username(db, "ann' OR '1'='1", &user), DB_NOT_FOUND);

    TEST("db: a user looked up by id has every field filled");
    CHECK_INT(db_user_by_id(db, bob, &user), DB_OK);
    CHECK_STR(user.username, "bob");
    CHECK_STR(user.email, "bob@example.com");
    CHECK_INT(db_user_by_id(db, 999999, &user), DB_NOT_FOUND);
    CHECK_INT(db_user_by_id(db, -1, &user), DB_NOT_FOUND);

    TEST("db: a username longer than the buffer is truncated, terminated");
    char long_name[DB_USERNAME_MAX + 100];
    memset(long_name, 'u', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    int64_t long_id = add_user(path, long_name, "", 1);
    CHECK_INT(db_user_by_id(db, long_id, &user), DB_OK);
    CHECK_INT(strlen(user.username), DB_USERNAME_MAX - 1);
    CHECK_STR(user.email, "");

    TEST("db: a UTF-8 username is found by its exact bytes");
    int64_t andre = add_user(path, "Andr\xc3\xa9", "a@example.com", 1);
    CHECK_INT(db_user_by_username(db, "Andr\xc3\xa9", &user), DB_OK);
    CHECK_INT(user.id, andre);
    CHECK_INT(db_user_by_username(db, "Andre", &user), DB_NOT_FOUND);

    TEST("db: set_password stores the new hash");
    CHECK_INT(db_user_set_password(db, ann, "pbkdf2_sha256$1000000$newsalt$newhash"), DB_OK);
    CHECK_STR(sql_text(path, "SELECT password FROM auth_user WHERE username = 'ann'"),
              "pbkdf2_sha256$1000000$newsalt$newhash");
    CHECK_INT(db_user_by_username(db, "ann", &user), DB_OK);
    CHECK_STR(user.password, "pbkdf2_sha256$1000000$newsalt$newhash");
    CHECK_STR(sql_text(path, "SELECT password FROM auth_user WHERE username = 'bob'"),
              "pbkdf2_sha256$1$salt$hash");

    TEST("db: set_password of a user that does not exist changes nothing");
    CHECK_INT(db_user_set_password(db, 999999, "x"), DB_OK);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM auth_user WHERE password = 'x'"), 0);

    TEST("db: touch_last_login writes Django's datetime text (UTC, microseconds), for now");
    CHECK_STR(sql_text(path, "SELECT last_login IS NULL FROM auth_user WHERE username = 'ann'"),
              "1");
    CHECK_INT(db_user_touch_last_login(db, ann), DB_OK);
    const char *text = sql_text(path, "SELECT last_login FROM auth_user WHERE username = 'ann'");
    CHECK_INT(strlen(text), 26);
    CHECK_STR(sql_text(path, "SELECT last_login GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
                             " [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]000'"
                             " FROM auth_user WHERE username = 'ann'"),
              "1");
    long long when = sql_int(path, "SELECT strftime('%s', last_login) FROM auth_user"
                                   " WHERE username = 'ann'");
    long long now = (long long)time(NULL);
    CHECK(when >= now - 60 && when <= now + 1);
    CHECK_STR(sql_text(path, "SELECT last_login IS NULL FROM auth_user WHERE username = 'bob'"),
              "1");
}

static void test_tokens(struct db *db, const char *path) {
    char key[DB_KEY_MAX], again[DB_KEY_MAX], trigger_key[DB_KEY_MAX + 10];
    struct db_token_owner owner;

    int64_t cat = add_user(path, "cat", "cat@example.com", 1);

    TEST("db: the trigger's token is the one get-or-create returns");
    snprintf(trigger_key, sizeof trigger_key, "%s", key_of(path, cat));
    CHECK(is_key(trigger_key));
    CHECK_INT(db_token_get_or_create(db, cat, 0, key), DB_OK);
    CHECK_STR(key, trigger_key);

    TEST("db: get-or-create asked again returns the same token");
    CHECK_INT(db_token_get_or_create(db, cat, 0, again), DB_OK);
    CHECK_STR(again, key);

    TEST("db: get-or-create without a token row creates one and stores it");
    sql(path, "DELETE FROM authtoken_token");
    CHECK_INT(db_token_get_or_create(db, cat, 0, key), DB_OK);
    CHECK(is_key(key));
    CHECK(strcmp(key, trigger_key) != 0);
    CHECK_STR(key_of(path, cat), key);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM authtoken_token"), 1);
    CHECK_STR(sql_text(path, "SELECT created GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
                             " [0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]'"
                             " FROM authtoken_token"),
              "1");

    TEST("db: an old token with no lifetime (ttl 0) is kept");
    sql(path, "UPDATE authtoken_token SET created = '2000-01-01 00:00:00.000000'");
    CHECK_INT(db_token_get_or_create(db, cat, 0, again), DB_OK);
    CHECK_STR(again, key);

    TEST("db: an old token within its lifetime is kept");
    sql(path, "UPDATE authtoken_token SET created = strftime('%Y-%m-%d %H:%M:%f000', 'now',"
              " '-100 seconds')");
    CHECK_INT(db_token_get_or_create(db, cat, 3600, again), DB_OK);
    CHECK_STR(again, key);

    TEST("db: get_valid reads a valid token and tells an expired one and none apart, writing "
         "nothing");
    CHECK_INT(db_token_get_valid(db, cat, 3600, again), DB_OK);
    CHECK_STR(again, key);
    sql(path, "UPDATE authtoken_token SET created = '2000-01-01 00:00:00.000000'");
    CHECK_INT(db_token_get_valid(db, cat, 3600, again), DB_EXPIRED);
    CHECK_INT(db_token_get_valid(db, cat, 0, again), DB_OK);
    CHECK_INT(db_token_get_valid(db, 999999, 0, again), DB_NOT_FOUND);
    CHECK_STR(key_of(path, cat), key);

    TEST("db: an expired token is replaced by a new one, created now");
    sql(path, "UPDATE authtoken_token SET created = '2000-01-01 00:00:00.000000'");
    CHECK_INT(db_token_get_or_create(db, cat, 3600, again), DB_OK);
    CHECK(is_key(again));
    CHECK(strcmp(again, key) != 0);
    CHECK_STR(key_of(path, cat), again);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM authtoken_token"), 1);
    long long created = sql_int(path, "SELECT strftime('%s', created) FROM authtoken_token");
    CHECK(created > (long long)time(NULL) - 60);
    CHECK_INT(db_token_check(db, key, 3600, &owner), DB_NOT_FOUND);
    CHECK_INT(db_token_check(db, again, 3600, &owner), DB_OK);
    memcpy(key, again, sizeof key);

    TEST("db: a token for a user that does not exist: DB_ERR (the foreign key), nothing stored");
    CHECK_INT(db_token_get_or_create(db, 999999, 0, again), DB_ERR);
    CHECK_STR(db_last_error(db), "storing a token: FOREIGN KEY constraint failed");
    CHECK_INT(sql_int(path, "SELECT count(*) FROM authtoken_token"), 1);

    TEST("db: token_check: the owner, when it was made, no expiry without a ttl");
    sql(path, "UPDATE authtoken_token SET created = '2001-09-09 01:46:40.000000'");
    memset(&owner, 0x5a, sizeof owner);
    CHECK_INT(db_token_check(db, key, 0, &owner), DB_OK);
    CHECK_INT(owner.user_id, cat);
    CHECK_INT(owner.created_s, 1000000000);
    CHECK_INT(owner.expires_s, 0);

    TEST("db: with a ttl, expires_s is created + ttl; past it the token is DB_EXPIRED");
    CHECK_INT(db_token_check(db, key, 60, &owner), DB_EXPIRED);
    CHECK_INT(owner.user_id, cat);
    CHECK_INT(owner.expires_s, 1000000060);

    TEST("db: a ttl reaching beyond now: still valid");
    CHECK_INT(db_token_check(db, key, 3153600000L, &owner), DB_OK);
    CHECK_INT(owner.expires_s, 1000000000LL + 3153600000LL);

    TEST("db: Django's datetime without microseconds reads the same");
    sql(path, "UPDATE authtoken_token SET created = '2001-09-09 01:46:40'");
    CHECK_INT(db_token_check(db, key, 0, &owner), DB_OK);
    CHECK_INT(owner.created_s, 1000000000);

    TEST("db: an unknown key, another case of the key, an empty key: DB_NOT_FOUND");
    CHECK_INT(db_token_check(db, "0123456789abcdef0123456789abcdef01234567", 0, &owner),
              DB_NOT_FOUND);
    char upper[DB_KEY_MAX];
    for (size_t i = 0; i < sizeof upper; i++)
        upper[i] = (key[i] >= 'a' && key[i] <= 'f') ? (char)(key[i] - 32) : key[i];
    CHECK_INT(db_token_check(db, upper, 0, &owner), strcmp(upper, key) == 0 ? DB_OK : DB_NOT_FOUND);
    CHECK_INT(db_token_check(db, "", 0, &owner), DB_NOT_FOUND);

    TEST("db: an inactive user's token: DB_INACTIVE, before expiry is considered");
    sql(path, "UPDATE auth_user SET is_active = 0 WHERE username = 'cat'");
    CHECK_INT(db_token_check(db, key, 0, &owner), DB_INACTIVE);
    CHECK_INT(db_token_check(db, key, 60, &owner), DB_INACTIVE);
    sql(path, "UPDATE auth_user SET is_active = 1 WHERE username = 'cat'");
    CHECK_INT(db_token_check(db, key, 0, &owner), DB_OK);

    TEST("db: token delete: DB_OK, then DB_NOT_FOUND the second time; the check then fails");
    CHECK_INT(db_token_delete(db, key), DB_OK);
    CHECK_STR(key_of(path, cat), "(null)");
    CHECK_INT(db_token_delete(db, key), DB_NOT_FOUND);
    CHECK_INT(db_token_check(db, key, 0, &owner), DB_NOT_FOUND);

    TEST("db: deleting a key that never existed is DB_NOT_FOUND");
    CHECK_INT(db_token_delete(db, "nope"), DB_NOT_FOUND);

    TEST("db: after delete, get-or-create makes a new token");
    CHECK_INT(db_token_get_or_create(db, cat, 0, again), DB_OK);
    CHECK(is_key(again) && strcmp(again, key) != 0);
}

/* Sets the window start of a throttle row to now - age seconds, from the other connection. */
static void age_window(const char *path, const char *subject, long age_s) {
    char text[256];
    snprintf(text, sizeof text,
             "UPDATE tokenauth_login_failure SET window_start = CAST(strftime('%%s', 'now') AS"
             " INTEGER) - %ld WHERE subject = '%s'",
             age_s, subject);
    sql(path, text);
}

static void test_throttle(struct db *db, const char *path) {
    long retry_after_s = -1;

    TEST("db: throttle, nothing recorded: no wait");
    CHECK_INT(db_throttle_check(db, "user", "dan", 3, 100, &retry_after_s, NULL), DB_OK);
    CHECK_INT(retry_after_s, 0);

    TEST("db: throttle, has_failures: 0 with nothing recorded, 1 when the check is off");
    int has_failures = -1;
    CHECK_INT(db_throttle_check(db, "user", "dan", 3, 100, &retry_after_s, &has_failures), DB_OK);
    CHECK_INT(has_failures, 0);
    CHECK_INT(db_throttle_check(db, "user", "dan", 0, 100, &retry_after_s, &has_failures), DB_OK);
    CHECK_INT(has_failures, 1);

    TEST("db: throttle, fewer failures than the limit: no wait");
    CHECK_INT(db_throttle_record_failure(db, "user", "dan", 100), DB_OK);
    CHECK_INT(db_throttle_record_failure(db, "user", "dan", 100), DB_OK);
    retry_after_s = -1;
    CHECK_INT(db_throttle_check(db, "user", "dan", 3, 100, &retry_after_s, NULL), DB_OK);
    CHECK_INT(retry_after_s, 0);
    CHECK_INT(sql_int(path, "SELECT n_failures FROM tokenauth_login_failure WHERE subject = 'dan'"),
              2);
    CHECK_INT(db_throttle_check(db, "user", "dan", 3, 100, &retry_after_s, &has_failures), DB_OK);
    CHECK_INT(has_failures, 1);

    TEST("db: throttle, at the limit: wait until the window ends");
    CHECK_INT(db_throttle_record_failure(db, "user", "dan", 100), DB_OK);
    CHECK_INT(db_throttle_check(db, "user", "dan", 3, 100, &retry_after_s, NULL), DB_OK);
    CHECK(retry_after_s >= 1 && retry_after_s <= 100);
    age_window(path, "dan", 95);
    CHECK_INT(db_throttle_check(db, "user", "dan", 3, 100, &retry_after_s, NULL), DB_OK);
    CHECK(retry_after_s >= 1 && retry_after_s <= 5);

    TEST("db: throttle, max_failures 0 turns the check off");
    retry_after_s = -1;
    CHECK_INT(db_throttle_check(db, "user", "dan", 0, 100, &retry_after_s, NULL), DB_OK);
    CHECK_INT(retry_after_s, 0);

    TEST("db: throttle, kinds and subjects are counted apart");
    CHECK_INT(db_throttle_check(db, "addr", "dan", 3, 100, &retry_after_s, NULL), DB_OK);
    CHECK_INT(retry_after_s, 0);
    CHECK_INT(db_throttle_check(db, "user", "Dan", 3, 100, &retry_after_s, NULL), DB_OK);
    CHECK_INT(retry_after_s, 0);

    TEST("db: throttle, once the window is over: no wait, and the next failure opens a new window "
         "at 1");
    age_window(path, "dan", 100);
    CHECK_INT(db_throttle_check(db, "user", "dan", 3, 100, &retry_after_s, NULL), DB_OK);
    CHECK_INT(retry_after_s, 0);
    CHECK_INT(db_throttle_record_failure(db, "user", "dan", 100), DB_OK);
    CHECK_INT(sql_int(path, "SELECT n_failures FROM tokenauth_login_failure WHERE subject = 'dan'"),
              1);
    CHECK(sql_int(path, "SELECT CAST(strftime('%s', 'now') AS INTEGER) - window_start FROM"
                        " tokenauth_login_failure WHERE subject = 'dan'") <= 1);

    TEST("db: throttle, a failure inside the window adds to it without moving its start");
    age_window(path, "dan", 50);
    CHECK_INT(db_throttle_record_failure(db, "user", "dan", 100), DB_OK);
    CHECK_INT(sql_int(path, "SELECT n_failures FROM tokenauth_login_failure WHERE subject = 'dan'"),
              2);
    CHECK(sql_int(path, "SELECT CAST(strftime('%s', 'now') AS INTEGER) - window_start FROM"
                        " tokenauth_login_failure WHERE subject = 'dan'") >= 50);

    TEST("db: throttle clear forgets the subject, and only it");
    CHECK_INT(db_throttle_record_failure(db, "addr", "127.0.0.1", 100), DB_OK);
    CHECK_INT(db_throttle_clear(db, "user", "dan"), DB_OK);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_login_failure WHERE subject = 'dan'"),
              0);
    CHECK_INT(sql_int(path, "SELECT n_failures FROM tokenauth_login_failure WHERE kind = 'addr'"),
              1);

    TEST("db: throttle clear of a subject with nothing recorded is fine");
    CHECK_INT(db_throttle_clear(db, "user", "nobody"), DB_OK);

    TEST("db: throttle claim counts one failure for each subject with a limit, none for the rest");
    const struct db_throttle_subject subjects[3] = {
        {"user+addr", "10.0.0.1 eve", 2}, {"user", "eve", 3}, {"addr", "10.0.0.1", 0}};
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_throttle_claim(db, subjects, 3, 100, &retry_after_s), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);
    CHECK_INT(retry_after_s, 0);
    CHECK_INT(sql_int(path, "SELECT n_failures FROM tokenauth_login_failure WHERE kind = "
                            "'user+addr' AND subject = '10.0.0.1 eve'"),
              1);
    CHECK_INT(sql_int(path, "SELECT n_failures FROM tokenauth_login_failure WHERE kind = 'user'"
                            " AND subject = 'eve'"),
              1);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_login_failure WHERE subject = "
                            "'10.0.0.1'"),
              0);

    TEST("db: throttle claim at one subject's limit counts nothing and says how long to wait");
    CHECK_INT(db_throttle_claim(db, subjects, 3, 100, &retry_after_s), DB_OK);
    CHECK_INT(retry_after_s, 0);
    CHECK_INT(db_throttle_claim(db, subjects, 3, 100, &retry_after_s), DB_OK);
    CHECK(retry_after_s >= 1 && retry_after_s <= 100);
    CHECK_INT(sql_int(path, "SELECT n_failures FROM tokenauth_login_failure WHERE kind = 'user'"
                            " AND subject = 'eve'"),
              2);

    TEST("db: throttle rows whose window is long over are swept as failures are recorded");
    sql(path, "INSERT INTO tokenauth_login_failure VALUES ('user', 'stale', 9, 0)");
    for (int i = 0; i < 256; i++)
        CHECK_INT(db_throttle_record_failure(db, "addr", "10.0.0.1", 100), DB_OK);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_login_failure WHERE subject ="
                            " 'stale'"),
              0);
    CHECK_INT(sql_int(path, "SELECT count(*) FROM tokenauth_login_failure WHERE kind = 'addr'"), 2);
}

static void test_concurrency(const char *path) {
    char err[512];
    struct db *db = db_open(path, DB_OPEN_READ_WRITE, 20, err, sizeof err);
    struct db *ro = db_open(path, DB_OPEN_READ_ONLY, 20, err, sizeof err);
    int64_t v1 = -1, v2 = -1;
    struct db_user user;

    TEST("db: a writer and a reader open on one file");
    CHECK(db != NULL && ro != NULL);
    if (!db || !ro)
        goto out;
    int64_t eve = add_user(path, "eve", "eve@example.com", 1);

    TEST("db: data_version is stable while nobody commits");
    CHECK_INT(db_data_version(ro, &v1), DB_OK);
    CHECK_INT(db_data_version(ro, &v2), DB_OK);
    CHECK_INT(v2, v1);

    TEST("db: data_version changes when another connection commits");
    sql(path, "DELETE FROM authtoken_token WHERE user_id = (SELECT id FROM auth_user"
              " WHERE username = 'eve')");
    CHECK_INT(db_data_version(ro, &v2), DB_OK);
    CHECK(v2 != v1);

    TEST("db: data_version changes when our other connection (db.c's writer) commits");
    v1 = v2;
    CHECK_INT(db_user_touch_last_login(db, eve), DB_OK);
    CHECK_INT(db_data_version(ro, &v2), DB_OK);
    CHECK(v2 != v1);

    TEST("db: a transaction rolled back keeps the old value");
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_user_set_password(db, eve, "rolled-back"), DB_OK);
    db_rollback(db);
    CHECK_INT(db_user_by_id(db, eve, &user), DB_OK);
    CHECK_STR(user.password, "pbkdf2_sha256$1$salt$hash");

    TEST("db: a transaction committed is seen by others");
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_user_set_password(db, eve, "committed"), DB_OK);
    char key[DB_KEY_MAX];
    CHECK_INT(db_token_get_or_create(db, eve, 0, key), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);
    CHECK_STR(sql_text(path, "SELECT password FROM auth_user WHERE username = 'eve'"), "committed");
    CHECK_STR(sql_text(path, "SELECT key FROM authtoken_token t JOIN auth_user u ON"
                             " u.id = t.user_id WHERE username = 'eve'"),
              key);

    TEST("db: commit with no transaction: DB_ERR with SQLite's reason");
    CHECK_INT(db_commit(db), DB_ERR);
    CHECK_STR(db_last_error(db), "commit: cannot commit - no transaction is active");

    TEST("db: rollback with no transaction is harmless");
    db_rollback(db);
    CHECK_INT(db_user_by_id(db, eve, &user), DB_OK);

    TEST("db: begin inside a transaction: DB_ERR, the first stays open until rolled back");
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_begin_write(db), DB_ERR);
    CHECK_STR(db_last_error(db), "begin: cannot start a transaction within a transaction");
    db_rollback(db);
    CHECK_INT(db_begin_write(db), DB_OK);
    db_rollback(db);

    TEST("db: another connection holding the write lock: DB_BUSY after the busy timeout");
    sqlite3 *other = NULL;
    CHECK_INT(sqlite3_open(path, &other), SQLITE_OK);
    CHECK_INT(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(db_begin_write(db), DB_BUSY);
    CHECK_STR(db_last_error(db), "begin: database is locked");
    CHECK_INT(db_user_set_password(db, eve, "x"), DB_BUSY);
    CHECK_STR(db_last_error(db), "storing a password: database is locked");
    CHECK_INT(db_user_touch_last_login(db, eve), DB_BUSY);
    CHECK_INT(db_token_delete(db, key), DB_BUSY);
    CHECK_INT(db_throttle_record_failure(db, "user", "eve", 100), DB_BUSY);
    int64_t frank = -1;

    TEST("db: readers are not blocked by the writer (WAL)");
    CHECK_INT(db_user_by_username(db, "eve", &user), DB_OK);
    struct db_token_owner owner;
    CHECK_INT(db_token_check(ro, key, 0, &owner), DB_OK);
    long retry_after_s;
    CHECK_INT(db_throttle_check(db, "user", "eve", 3, 100, &retry_after_s, NULL), DB_OK);

    TEST("db: after the lock is released, writes work again");
    CHECK_INT(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_user_set_password(db, eve, "after"), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);

    TEST("db: get-or-create needing a write while locked: DB_BUSY");
    frank = add_user(path, "frank", "f@example.com", 1);
    sql(path, "DELETE FROM authtoken_token WHERE user_id = (SELECT id FROM auth_user"
              " WHERE username = 'frank')");
    other = NULL;
    CHECK_INT(sqlite3_open(path, &other), SQLITE_OK);
    CHECK_INT(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(db_token_get_or_create(db, frank, 0, key), DB_BUSY);
    CHECK_STR(db_last_error(db), "storing a token: database is locked");
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    CHECK_INT(db_token_get_or_create(db, frank, 0, key), DB_OK);
out:
    db_close(ro);
    db_close(db);
}

/* The data version a read transaction of db sees now (each step checked). */
static uint64_t read_version_now(struct db *db) {
    uint64_t version = 0;
    CHECK_INT(db_begin_read(db), DB_OK);
    CHECK_INT(db_read_version(db, &version), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);
    return version;
}

/* db_read_version, db_throttle_read/db_throttle_retry_after, db_token_of_user: what
 * login-fcgi's read cache stands on. */
static void test_read_version(const char *path) {
    char err[512], key[DB_KEY_MAX];
    struct db *db = db_open(path, DB_OPEN_READ_WRITE, 20, err, sizeof err);
    uint64_t v1 = 0, v2 = 0;
    int64_t created = 0;
    TEST("db: read_version: a connection opens");
    CHECK(db != NULL);
    if (!db)
        return;
    int64_t gus = add_user(path, "gus", "g@example.com", 1);
    TEST("db: read_version is the same in two read transactions with no commit between");
    v1 = read_version_now(db);
    v2 = read_version_now(db);
    CHECK(v1 == v2);
    TEST("db: read_version changes after another connection's commit (the sqlite3 prompt)");
    sql(path, "UPDATE auth_user SET password = 'changed' WHERE username = 'gus'");
    v2 = read_version_now(db);
    CHECK(v1 != v2);
    TEST("db: read_version changes after this connection's own commit");
    v1 = v2;
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_throttle_record_failure(db, "user", "gus", 100), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);
    v2 = read_version_now(db);
    CHECK(v1 != v2);
    TEST("db: read_version stays after a rolled-back write");
    v1 = v2;
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_user_set_password(db, gus, "rolled back"), DB_OK);
    db_rollback(db);
    v2 = read_version_now(db);
    CHECK(v1 == v2);
    TEST("db: throttle_read: a row as stored, and none for another subject");
    struct db_throttle_row row;
    CHECK_INT(db_throttle_read(db, "user", "gus", &row), DB_OK);
    CHECK(row.is_present && row.n_failures == 1 && row.window_start > 0);
    CHECK_INT(db_throttle_read(db, "addr", "gus", &row), DB_OK);
    CHECK(!row.is_present && row.n_failures == 0);
    TEST("db: throttle_retry_after: full and in its window waits; below the limit, past the "
         "window, no row or no limit does not");
    struct db_throttle_row full = {1, 5, 1000};
    CHECK_INT(db_throttle_retry_after(&full, 5, 60, 1010), 50);
    CHECK_INT(db_throttle_retry_after(&full, 6, 60, 1010), 0);
    CHECK_INT(db_throttle_retry_after(&full, 5, 60, 1060), 0);
    CHECK_INT(db_throttle_retry_after(&full, 0, 60, 1010), 0);
    full.is_present = 0;
    CHECK_INT(db_throttle_retry_after(&full, 5, 60, 1010), 0);
    TEST("db: token_of_user: the key and its creation time, however old; none for no row");
    CHECK_INT(db_token_of_user(db, gus, key, &created), DB_OK);
    CHECK_INT(strlen(key), TOKEN_KEY_LEN);
    CHECK(created > 0);
    sql(path, "DELETE FROM authtoken_token WHERE user_id = (SELECT id FROM auth_user"
              " WHERE username = 'gus')");
    CHECK_INT(db_token_of_user(db, gus, key, &created), DB_NOT_FOUND);
    db_close(db);
}

/* A clock 10 s ahead of now: every stamp read in these tests has settled, so what they show is
 * what the stamp compares, never the settling rule (test_dbstamp.c tests that). */
static struct timespec ahead(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 10;
    return t;
}

/* A stamp confirmed now on db, and one read right after it by db_stamp_now: 1 when unchanged. */
static int confirm_then_same(struct db *db, struct db_stamp *confirmed, uint64_t *version) {
    struct timespec now = ahead();
    struct db_stamp later;
    if (db_stamp_confirm(db, &now, confirmed, version) != DB_OK)
        return -1;
    db_stamp_now(db, &now, &later);
    return db_stamp_unchanged(confirmed, &later);
}

/* db_stamp_confirm and db_stamp_now: what login-fcgi's read cache trusts instead of a read
 * transaction. */
static void test_stamp_confirm(void) {
    char err[512], path[256], link_path[300], wal[300];
    uint64_t version = 0, read = 1;
    struct db_stamp a, b;
    struct timespec now;
    if (fresh_db("stamp.sqlite3", path, sizeof path) != 0)
        return;
    snprintf(wal, sizeof wal, "%s-wal", path);
    snprintf(link_path, sizeof link_path, "%s", tmp_path("stamp-link.sqlite3"));
    unlink(link_path);
    TEST("db: stamp: a connection opens through a symbolic link to the file");
    CHECK_INT(symlink(path, link_path), 0);
    struct db *db = db_open(link_path, DB_OPEN_READ_WRITE, 60000, err, sizeof err);
    TEST_RECORD(db != NULL, "db_open: %s", err);
    if (!db)
        return;
    add_user(path, "sam", "s@example.com", 1);

    TEST("db: stamp_confirm on a quiet file: DB_OK, a settled stamp of the file and its -wal, "
         "the version a read transaction then reads, and equal to a stamp read after it");
    CHECK_INT(confirm_then_same(db, &a, &version), 1);
    CHECK(a.is_valid && a.is_settled && a.db.exists && a.wal.exists);
    read = read_version_now(db); /* its begin checks that none was left open */
    CHECK(read == version);

    TEST("db: stamp: the -wal stamped is the real file's (SQLite resolves the link): a commit "
         "through the real path moves it");
    sql(path, "UPDATE auth_user SET email = 'moved@example.com' WHERE username = 'sam'");
    now = ahead();
    db_stamp_now(db, &now, &b);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);

    TEST("db: stamp_confirm with another connection holding the write lock: DB_BUSY at once "
         "(not after the 60 s busy timeout), no stamp, and no transaction left open");
    sqlite3 *other = NULL;
    CHECK_INT(sqlite3_open(path, &other), SQLITE_OK);
    CHECK_INT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    now = ahead();
    CHECK_INT(db_stamp_confirm(db, &now, &a, &version), DB_BUSY);
    CHECK_INT(a.is_valid, 0);
    CHECK_INT(db_begin_read(db), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);

    TEST("db: stamp: a checkpoint into the file moves it (nothing changed: the next login reads)");
    CHECK_INT(confirm_then_same(db, &a, &version), 1);
    sql(path, "PRAGMA wal_checkpoint(PASSIVE)");
    now = ahead();
    db_stamp_now(db, &now, &b);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);

    TEST("db: stamp: a commit after a WAL restart, written in place (the -wal's size the same), "
         "moves it by its time");
    for (int i = 0; i < 4; i++)
        sql(path, "UPDATE auth_user SET email = 'grow' || random() WHERE username = 'sam'");
    sql(path, "PRAGMA wal_checkpoint(RESTART)");
    struct timespec past[2] = {{1000000000, 0}, {1000000000, 0}};
    CHECK_INT(utimensat(AT_FDCWD, wal, past, 0), 0); /* whatever the clock's tick */
    CHECK_INT(confirm_then_same(db, &a, &version), 1);
    sql(path, "UPDATE auth_user SET email = 'in place' WHERE username = 'sam'");
    now = ahead();
    db_stamp_now(db, &now, &b);
    CHECK(a.wal.size == b.wal.size && a.wal.size > 0);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);

    TEST("db: stamp_confirm after this connection's own commit: a new version and stamp");
    uint64_t before = version;
    CHECK_INT(confirm_then_same(db, &a, &version), 1);
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_throttle_record_failure(db, "user", "sam", 100), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);
    now = ahead();
    db_stamp_now(db, &now, &b);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);
    CHECK_INT(confirm_then_same(db, &b, &version), 1);
    CHECK(version != before);

    TEST("db: stamp_confirm on a file renamed over: DB_ERR naming it, no stamp");
    char other_path[256];
    if (fresh_db("stamp-new.sqlite3", other_path, sizeof other_path) == 0) {
        CHECK_INT(rename(other_path, path), 0);
        now = ahead();
        CHECK_INT(db_stamp_confirm(db, &now, &a, &version), DB_ERR);
        CHECK_STR(db_last_error(db), "stamp: the database file was replaced or deleted");
        CHECK_INT(a.is_valid, 0);
        db_stamp_now(db, &now, &a);
        CHECK_INT(db_stamp_unchanged(&b, &a), 0);
    }
    db_close(db);
    unlink(link_path);
}

/* db_ensure_wal and db_has_moved: the file-level checks ws-worker makes. */
static void test_file_checks(void) {
    char err[512], path[256], expected[512];

    TEST("db: ensure_wal switches a file in rollback-journal mode to WAL once: 1, then 0");
    if (fresh_db("journal.sqlite3", path, sizeof path) != 0)
        return;
    sql(path, "PRAGMA journal_mode = DELETE");
    CHECK_STR(sql_text(path, "PRAGMA journal_mode"), "delete");
    CHECK_INT(db_ensure_wal(path, 1000, err, sizeof err), 1);
    CHECK_STR(err, "");
    CHECK_STR(sql_text(path, "PRAGMA journal_mode"), "wal");
    CHECK_INT(db_ensure_wal(path, 1000, err, sizeof err), 0);

    TEST("db: ensure_wal of a missing file: DB_ERR naming the path, and no file made");
    const char *missing = tmp_path("no-such.sqlite3");
    snprintf(expected, sizeof expected, "%s: unable to open database file", missing);
    CHECK_INT(db_ensure_wal(missing, 1000, err, sizeof err), DB_ERR);
    CHECK_STR(err, expected);
    CHECK(access(missing, F_OK) != 0);

    TEST("db: ensure_wal of a database that cannot be WAL (in memory): DB_ERR with its mode");
    CHECK_INT(db_ensure_wal(":memory:", 1000, err, sizeof err), DB_ERR);
    CHECK_STR(err, ":memory: stays in journal_mode=memory");

    TEST("db: has_moved: 0 while the file is there, 1 once it is renamed away");
    struct db *db = db_open(path, DB_OPEN_READ_ONLY, 1000, err, sizeof err);
    TEST_RECORD(db != NULL, "db_open: %s", err);
    if (!db)
        return;
    CHECK_INT(db_has_moved(db), 0);
    char moved_path[256];
    snprintf(moved_path, sizeof moved_path, "%s", tmp_path("journal-moved.sqlite3"));
    CHECK_INT(rename(path, moved_path), 0);
    CHECK_INT(db_has_moved(db), 1);
    db_close(db);

    TEST("db: begin_write on a file renamed over: DB_ERR, nothing begun, and the new file's -wal "
         "is left alone at close");
    char other[256];
    if (fresh_db("replaced.sqlite3", path, sizeof path) != 0 ||
        fresh_db("replacement.sqlite3", other, sizeof other) != 0)
        return;
    db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    TEST_RECORD(db != NULL, "db_open: %s", err);
    if (!db)
        return;
    CHECK_INT(db_begin_write(db), DB_OK);
    CHECK_INT(db_commit(db), DB_OK);
    CHECK_INT(rename(other, path), 0);
    CHECK_INT(db_begin_write(db), DB_ERR);
    CHECK_STR(db_last_error(db), "begin: the database file was replaced or deleted");
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    db_close(db);
    CHECK_INT(access(wal, F_OK), 0); /* the name serves the new file: not deleted */
    CHECK_STR(sql_text(path, "PRAGMA integrity_check"), "ok");
}

void test_db(void) {
    char err[512], path[256];

    test_open();
    test_django_db();
    if (fresh_db("main.sqlite3", path, sizeof path) != 0)
        return;
    struct db *db = db_open(path, DB_OPEN_READ_WRITE, 1000, err, sizeof err);
    TEST("db: a fresh database from schema.sql opens read-write");
    TEST_RECORD(db != NULL, "db_open: %s", err);
    if (db) {
        test_users(db, path);
        test_tokens(db, path);
        test_throttle(db, path);
    }
    db_close(db);
    test_concurrency(path);
    test_read_version(path);
    test_stamp_confirm();
    test_file_checks();
}
