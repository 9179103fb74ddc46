/* readcache.h -- what a login read from the database, kept while the database is unchanged.
 *
 * A login reads, before the hash, the throttle's three counts, the user and the user's token
 * (routes.c). Most logins find what the previous login of the same username found: the cache
 * keeps those reads, tagged with the database's data version (db_read_version: it changes with
 * every commit to the file, by this connection, another login-fcgi process, Django or the
 * sqlite3 prompt). Each login's read transaction gives the cache the current version first
 * (readcache_sync); when it differs from the one the entries were read at, every entry is
 * dropped at once (a generation number), so an entry is only ever used at the very data it was
 * read from. Times (a token's expiry, a count's window) are stored as read and judged by the
 * caller at use.
 *
 * A login may also skip its read transaction (four system calls) when the entries it needs are
 * kept: the caller confirms, now and then, a stamp of the database's files at the entries'
 * version (db_stamp_confirm: read under the write lock, so no commit is half-done) and hands it
 * to readcache_trust; while a stamp read at a later login equals it (two stat() calls,
 * db_stamp_unchanged: settled times, the same file, size and times of the file and its -wal),
 * no one has committed, so the version is still the file's data (readcache_is_current). A new
 * version or a clear forgets the trusted stamp.
 *
 * Limits: a fixed number of slots (TOKENAUTH_LOGIN_CACHE users, twice that many counts), each
 * key hashed to two of them (a newer entry replaces an older one when both are taken); keys and
 * stored password hashes longer than READCACHE_TEXT_MAX - 1 bytes are not kept (read every time).
 * It holds what SQLite's page cache holds anyway (hashes and token keys of recent logins), never a
 * password. */
#ifndef TOKENAUTH_READCACHE_H
#define TOKENAUTH_READCACHE_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

#define READCACHE_TEXT_MAX 160 /* bytes with terminator of a key or a stored hash kept */

/* A user as a login read it: the row (or its absence) and its token. */
struct readcache_user {
    int user_rc;                       /* DB_OK or DB_NOT_FOUND */
    int64_t id;                        /* when user_rc is DB_OK */
    int is_active;                     /* auth_user.is_active */
    char password[READCACHE_TEXT_MAX]; /* Django's encoded hash */
    int token_rc;                      /* DB_OK, or DB_NOT_FOUND: no token row (or not read) */
    char key[DB_KEY_MAX];              /* the token when token_rc is DB_OK */
    int64_t token_created_s;           /* its creation time, unix seconds */
};

struct readcache;

/* A cache of n_users users and 2 * n_users throttle counts; NULL when out of memory or
 * n_users is 0 (no cache: every function below then does nothing and every get misses). */
struct readcache *readcache_new(size_t n_users);
void readcache_free(struct readcache *c); /* NULL allowed */

/* Tells the cache the data version of the read transaction now open: entries read at another
 * version are dropped. */
void readcache_sync(struct readcache *c, uint64_t version);

/* Drops every entry and forgets the version (the database connection was opened anew). */
void readcache_clear(struct readcache *c);

/* Trusts stamp as the files' stamp at data version `version` (both from db_stamp_confirm):
 * syncs to that version first (readcache_sync), then keeps the stamp. A stamp that is not
 * settled is not kept (db_stamp_unchanged would never accept it). */
void readcache_trust(struct readcache *c, uint64_t version, const struct db_stamp *stamp);

/* 1 when a stamp is trusted (readcache_trust, not forgotten since): reading one now may pay. */
int readcache_has_stamp(const struct readcache *c);

/* 1 when the kept entries are still the file's data with no read transaction: a stamp was
 * trusted at their version and now (read this moment, db_stamp_now) shows no change since
 * (db_stamp_unchanged). 0 otherwise: the caller reads the version in a read transaction. A
 * trusted stamp that now differs is forgotten (file times only move on, so it never matches
 * again; a checkpoint moves it without a new version): confirm another. */
int readcache_is_current(struct readcache *c, const struct db_stamp *now);

/* The user read for username at the current version into *out: 1, or 0 when not kept. */
int readcache_user_get(struct readcache *c, const char *username, struct readcache_user *out);
/* Keeps what was read for username at the current version (nothing when a text is too long). */
void readcache_user_put(struct readcache *c, const char *username, const struct readcache_user *u);

/* The throttle count (kind, subject) read at the current version into *out: 1, or 0 when not
 * kept. */
int readcache_count_get(struct readcache *c, const char *kind, const char *subject,
                        struct db_throttle_row *out);
void readcache_count_put(struct readcache *c, const char *kind, const char *subject,
                         const struct db_throttle_row *row);

#endif
