/* db.h -- the SQLite file both programs share: opening it, and every query tokenauth makes.
 *
 * A struct db is one connection with its prepared statements, made once per process (never per
 * request). Writers (login-fcgi) and readers (ws-worker, opened read-only) use WAL mode, a busy
 * timeout and foreign keys. Queries run only through prepared statements. Times are unix seconds;
 * Django's datetime text ("YYYY-MM-DD HH:MM:SS[.ffffff]", UTC) is converted inside SQL. */
#ifndef TOKENAUTH_DB_H
#define TOKENAUTH_DB_H

#include <stddef.h>
#include <stdint.h>

#include "dbstamp.h"
#include "token.h"

#define DB_OK 0
#define DB_ERR -1       /* anything else: see db_last_error() */
#define DB_BUSY -2      /* locked past the busy timeout: try again later (HTTP 503) */
#define DB_NOT_FOUND -3 /* no such user or token */
#define DB_EXPIRED -4   /* the token exists but is older than its lifetime */
#define DB_INACTIVE -5  /* the token's user is not active */
#define DB_NO_SCHEMA -6 /* the file lacks auth_user/authtoken_token: apply schema.sql */

#define DB_OPEN_READ_WRITE 0
#define DB_OPEN_READ_ONLY 1

#define DB_USERNAME_MAX 600            /* bytes with terminator: 150 characters of UTF-8 */
#define DB_EMAIL_MAX 1024              /* bytes with terminator: 254 characters of UTF-8 */
#define DB_PASSWORD_MAX 512            /* bytes with terminator: an encoded hash */
#define DB_KEY_MAX (TOKEN_KEY_LEN + 1) /* a token key and the terminator */

struct db;

/* A row of auth_user, as much as tokenauth needs. Longer values are truncated. */
struct db_user {
    int64_t id;
    char username[DB_USERNAME_MAX];
    char email[DB_EMAIL_MAX];
    char password[DB_PASSWORD_MAX]; /* Django's encoded hash */
    int is_active;
};

/* Opens path (mode DB_OPEN_READ_WRITE or DB_OPEN_READ_ONLY), sets WAL (read-write only), the busy
 * timeout and foreign keys, checks that the tables exist, and prepares the statements. Returns
 * the connection, or NULL with "what: why" in err (the schema missing says so, naming
 * schema.sql). The caller frees it with db_close(). */
struct db *db_open(const char *path, int mode, int busy_timeout_ms, char *err, size_t err_len);

/* Closes the connection; NULL is allowed. When the file was replaced (db_has_moved), closes
 * without the checkpoint and -wal removal SQLite does at the last close, since those files,
 * found by name, now belong to the new file. */
void db_close(struct db *db);

/* The message of the last failure on this connection (never NULL). */
const char *db_last_error(const struct db *db);

/* Groups the writes of one login into one transaction (one commit instead of several).
 * db_begin_write takes the write lock at once (BEGIN IMMEDIATE, waiting up to the busy timeout),
 * so a read-then-write inside cannot fail half-way on a lock. DB_OK, DB_BUSY or DB_ERR; DB_ERR
 * too, with nothing begun, when the file at the path is no longer the one this connection opened
 * (db_has_moved, checked with the lock held): close and open again. */
int db_begin_write(struct db *db);
/* Groups reads into one read transaction (one snapshot, and one WAL read lock instead of one per
 * query); ended with db_commit or db_rollback. Never hold one across slow work (a hash): it keeps
 * checkpoints from finishing. DB_OK or DB_ERR. */
int db_begin_read(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db); /* harmless when no transaction is open */

/* Looks a user up by exact username. Returns DB_OK, DB_NOT_FOUND, DB_BUSY or DB_ERR. */
int db_user_by_username(struct db *db, const char *username, struct db_user *out);

/* Looks a user up by id. Returns DB_OK, DB_NOT_FOUND, DB_BUSY or DB_ERR. */
int db_user_by_id(struct db *db, int64_t id, struct db_user *out);

/* Stores a new encoded password for the user (a rehash). DB_OK, DB_BUSY or DB_ERR. */
int db_user_set_password(struct db *db, int64_t user_id, const char *encoded);

/* Sets the user's last_login to now, as Django's update_last_login. DB_OK, DB_BUSY or DB_ERR. */
int db_user_touch_last_login(struct db *db, int64_t user_id);

/* The user's token into key_out (DB_KEY_MAX bytes) when it has one that is not expired (ttl_s 0:
 * tokens never expire). A read only. DB_OK, DB_NOT_FOUND (none), DB_EXPIRED (key_out holds the
 * expired key), DB_BUSY or DB_ERR. */
int db_token_get_valid(struct db *db, int64_t user_id, long ttl_s, char *key_out);

/* The user's token row as stored: the key into key_out (DB_KEY_MAX bytes) and its creation time
 * into *created_s, whatever its age. DB_OK, DB_NOT_FOUND, DB_BUSY or DB_ERR. */
int db_token_of_user(struct db *db, int64_t user_id, char *key_out, int64_t *created_s);

/* DRF's get_or_create: writes the user's token key to key_out (DB_KEY_MAX bytes), creating one
 * when the user has none, or replacing it when ttl_s > 0 and it is older than ttl_s seconds.
 * Reads first and writes only then (the SELECT, an INSERT only when missing). Returns DB_OK,
 * DB_BUSY or DB_ERR. */
int db_token_get_or_create(struct db *db, int64_t user_id, long ttl_s, char *key_out);

/* Deletes the token with this key (logout). DB_OK, DB_NOT_FOUND, DB_BUSY or DB_ERR. */
int db_token_delete(struct db *db, const char *key);

/* Whom a token authenticates: one indexed read joining the token to its user. */
struct db_token_owner {
    int64_t user_id;
    int64_t created_s;              /* when the token was made, unix seconds */
    int64_t expires_s;              /* created_s + ttl_s, or 0 when tokens do not expire */
    char username[DB_USERNAME_MAX]; /* the user's, read by the same query (for logs) */
    char email[DB_EMAIL_MAX];
};

/* Checks key: DB_OK (owner filled), DB_NOT_FOUND (no such token), DB_INACTIVE (its user is not
 * active), DB_EXPIRED (ttl_s > 0 and older than that), DB_BUSY or DB_ERR. */
int db_token_check(struct db *db, const char *key, long ttl_s, struct db_token_owner *out);

/* Throttling of failed logins. kind is "user+addr" (subject "<address> <username>"), "user"
 * (the username, across every address) or "addr" (the client address). */

/* How long (seconds) logins for this subject must still wait: 0 when fewer than max_failures
 * failures fell in the current window of window_s seconds. Writes *retry_after_s, and (unless
 * has_failures is NULL) whether any failure is recorded for the subject, so a successful login
 * clears only what is there; 1 when unknown (the check off or failed). max_failures 0 turns the
 * check off (no read). DB_OK, DB_BUSY or DB_ERR. */
int db_throttle_check(struct db *db, const char *kind, const char *subject, int max_failures,
                      long window_s, long *retry_after_s, int *has_failures);

/* A subject's row of tokenauth_login_failure as stored (the window is judged at use). */
struct db_throttle_row {
    int is_present;       /* 0: no failure on record (the other fields are 0) */
    int64_t n_failures;   /* failures counted in the window */
    int64_t window_start; /* unix seconds of the window's first failure */
};

/* Reads the subject's row into *out (is_present 0 when there is none). DB_OK, DB_BUSY or
 * DB_ERR. */
int db_throttle_read(struct db *db, const char *kind, const char *subject,
                     struct db_throttle_row *out);

/* Seconds a login must still wait for a subject with this row at now_s: 0 unless max_failures
 * (> 0) failures fell in a window of window_s seconds that is not over. */
long db_throttle_retry_after(const struct db_throttle_row *row, int max_failures, long window_s,
                             int64_t now_s);

/* Counts one failure for the subject, opening a new window when the last one is over. */
int db_throttle_record_failure(struct db *db, const char *kind, const char *subject, long window_s);

/* Forgets the subject's failures (a successful login clears its user+addr count). */
int db_throttle_clear(struct db *db, const char *kind, const char *subject);

/* One count the throttle keeps for a login, and its limit per window. */
struct db_throttle_subject {
    const char *kind;    /* "user+addr", "user" or "addr" */
    const char *subject; /* the key within kind */
    int max_failures;    /* failures per window before 429; 0: not counted */
};

/* The throttle's decision and its count as one step, inside the caller's write transaction
 * (db_begin_write), so that parallel failed attempts in other processes cannot all pass one
 * check: when every subject with a limit has fewer failures than its limit in the current window,
 * one failure is counted for each and *retry_after_s is 0; otherwise nothing is counted and
 * *retry_after_s is the longest wait. DB_OK, DB_BUSY or DB_ERR. */
int db_throttle_claim(struct db *db, const struct db_throttle_subject *subjects, size_t n_subjects,
                      long window_s, long *retry_after_s);

/* Inside a read transaction (db_begin_read, before any other query): starts its snapshot and
 * writes a number that differs from the one the previous call wrote whenever the file changed
 * in between, by a commit of any connection, this one included (PRAGMA data_version, then
 * SQLITE_FCNTL_DATA_VERSION, which counts this connection's commits too). Equal numbers mean
 * the same data, so what was read at one may be used at the other (login-fcgi's readcache.h).
 * DB_OK, DB_BUSY or DB_ERR. */
int db_read_version(struct db *db, uint64_t *version_out);

/* The stamp (dbstamp.h) of the file this connection opened and of its -wal, now: the name
 * SQLite resolved (sqlite3_db_filename: a symbolic link followed, as SQLite finds the -wal), the
 * times judged against now_real (CLOCK_REALTIME). Two stat() calls, no lock. */
void db_stamp_now(struct db *db, const struct timespec *now_real, struct db_stamp *out);

/* A stamp that proves the data: reads it while no commit can be half-done, with the data version
 * that goes with it. Takes the write lock without waiting (BEGIN IMMEDIATE, no busy timeout: a
 * writer publishes its -wal frames in the -shm index only after writing them, so a stamp read
 * between the two would show a commit a read transaction does not yet see), reads the stamp
 * (db_stamp_now), checks that the file at the path is still this connection's (db_has_moved),
 * reads the data version (db_read_version) and rolls back: nothing is written. From then on,
 * while a stamp read later is db_stamp_unchanged from *stamp_out, nobody has committed, so the
 * data is the data at *version_out. DB_OK; DB_BUSY when another connection holds the write lock
 * at this moment (nothing waited for: try at another request); DB_ERR, a replaced file included.
 * Not inside another transaction. */
int db_stamp_confirm(struct db *db, const struct timespec *now_real, struct db_stamp *stamp_out,
                     uint64_t *version_out);

/* SQLite's PRAGMA data_version: changes when another connection commits. Cheap, no disk read.
 * DB_OK or DB_ERR. */
int db_data_version(struct db *db, int64_t *version_out);

/* The revocation log: tokenauth_revocation(id, user_id, at), appended to by triggers (schema.sql)
 * whenever a token is deleted, re-keyed or inserted and whenever a user is deleted or made
 * inactive. It holds user ids, never a token: a reader re-checks that user's sessions. Ids only
 * grow (AUTOINCREMENT); the insert trigger keeps the newest DB_REVOCATION_KEEP rows (10,000: at a
 * 500 ms tick a worker falls behind only past 20,000 revocations/s). db_open in read-write mode
 * creates the table and the triggers when missing (the migration of a Django database);
 * read-only connections only read it. */
#define DB_REVOCATION_KEEP 10000
#define DB_REVOCATION_N_OBJECTS 7 /* the table, its trimming trigger, the five revoking ones */

/* PRAGMA schema_version: changes whenever a table or trigger is created or dropped. DB_OK,
 * DB_BUSY or DB_ERR. */
int db_schema_version(struct db *db, int64_t *version_out);

/* Whether the log table and its six triggers are all there: 1 yes, 0 no (an older
 * schema, or a Django migration that rebuilt a table and dropped its triggers), DB_BUSY, DB_ERR. */
int db_revocation_log_ready(struct db *db);

/* The smallest and largest id in the log (0, 0 when empty). DB_OK, DB_BUSY or DB_ERR. */
int db_revocation_bounds(struct db *db, int64_t *min_id, int64_t *max_id);

/* Reads up to max_rows rows with id > after_id, oldest first: their user ids into user_ids
 * (room for max_rows), their count into *n_rows, the id of the last into *last_id (unchanged
 * when none). DB_OK, DB_BUSY or DB_ERR. */
int db_revocation_since(struct db *db, int64_t after_id, size_t max_rows, int64_t *user_ids,
                        size_t *n_rows, int64_t *last_id);

/* Whether the file at the path this connection opened is another file now, or none (replaced
 * by a rename, deleted): SQLite's SQLITE_FCNTL_HAS_MOVED, one stat(). 1 moved, 0 not, DB_ERR. */
int db_has_moved(struct db *db);

/* Makes sure path is in WAL mode, so readers never wait for a writer: reads PRAGMA journal_mode
 * and, when it is not "wal", switches it once through a short-lived read-write connection.
 * Returns 0 (already WAL), 1 (switched now), or DB_ERR with "why" in err (e.g. no write access:
 * the fix is `sqlite3 FILE 'PRAGMA journal_mode=WAL'`). */
int db_ensure_wal(const char *path, int busy_timeout_ms, char *err, size_t err_len);

#endif
