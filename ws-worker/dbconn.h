/* dbconn.h -- the worker's read-only database connection: opened lazily, retried, watched.
 *
 * One per process, embedded in protocol.c's per-vhost data. dbconn_get() is on the handshake
 * and message paths, so its fast case (already open) is inline here; opening, the WAL switch and
 * the watch for a replaced file live in dbconn.c. The fields are dbconn.c's: callers read db
 * (the open connection or NULL) and set nothing. */
#ifndef TOKENAUTH_DBCONN_H
#define TOKENAUTH_DBCONN_H

#include <stdint.h>

struct db;

#define DBCONN_BUSY_TIMEOUT_MAX_MS 50 /* the loop must not stall long on a locked file */
#define DBCONN_RETRY_MS 1000          /* between attempts to open an unavailable database */

struct dbconn {
    struct db *db;       /* read-only connection, opened lazily; NULL until then */
    const char *path;    /* the file, owned by the caller (the config) */
    int busy_timeout_ms; /* the setting, at most DBCONN_BUSY_TIMEOUT_MAX_MS */
    int64_t next_try_ms; /* monotonic ms before which no new open is tried */
};

/* Fills c for path (kept, not copied: it must outlive c) with the configured busy timeout,
 * capped at DBCONN_BUSY_TIMEOUT_MAX_MS. Opens nothing. */
void dbconn_init(struct dbconn *c, const char *path, int busy_timeout_ms);

/* Closes the connection if open; c may be used again (the next dbconn_get opens anew). */
void dbconn_close(struct dbconn *c);

/* The slow case of dbconn_get(): tries to open now unless the last failure was less than
 * DBCONN_RETRY_MS ago. Returns the connection or NULL; logs each failed open. */
struct db *dbconn_open(struct dbconn *c);

/* The connection, opened at the first need (and then switched to WAL mode if it is not), or
 * NULL while the file cannot be opened. Owned by c. */
static inline struct db *dbconn_get(struct dbconn *c) {
    return c->db ? c->db : dbconn_open(c);
}

/* Once per revocation tick: when the open file was replaced (a rename over it) or deleted,
 * closes the connection so that the next dbconn_get() opens the new file. Returns 1 then (the
 * caller checks every live session again), else 0. One stat(). */
int dbconn_reopen_if_moved(struct dbconn *c);

/* Whether no file is at the path now (one stat()): 1 missing, 0 there. */
int dbconn_is_missing(const struct dbconn *c);

#endif
