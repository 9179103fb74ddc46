/* dbconn.c -- the worker's read-only database connection: opened lazily, retried, watched.
 *
 * The worker starts while the file is briefly locked or not there yet: the connection is opened
 * at the first need and, while that fails, tried again at most every DBCONN_RETRY_MS (each
 * failure is logged as db_unavailable). At each (re)open the file is put in WAL mode if it is
 * not (a Django db.sqlite3 starts in journal_mode=delete, where a reader waits while login-fcgi
 * writes): once, through a short-lived read-write connection (db_ensure_wal). Reads wait at most
 * DBCONN_BUSY_TIMEOUT_MAX_MS for a lock, so the event loop never stalls long.
 *
 * A file replaced by a rename or deleted is noticed by dbconn_reopen_if_moved() (SQLite's
 * SQLITE_FCNTL_HAS_MOVED, one stat()), which drops the old connection. What the sessions do
 * about it (a full revocation check, 1011 while no file is there) is protocol.c's business: this
 * module knows nothing of sessions, runs no query and never writes the file except for the WAL
 * switch. */
#include "dbconn.h"

#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "prog.h"

/* After each open: switch the file to WAL mode if it is not, and say what happened. */
static void ensure_wal(const struct dbconn *c) {
    char err[256];
    int wal = db_ensure_wal(c->path, c->busy_timeout_ms, err, sizeof err);
    if (wal == 1)
        log_msg(PROG, "db_wal", "switched the database to journal_mode=WAL (readers never wait)");
    else if (wal < 0)
        log_msg(PROG, "db_not_wal",
                "%s: not in WAL mode, handshakes may wait while login-fcgi writes; fix: "
                "sqlite3 FILE 'PRAGMA journal_mode=WAL'",
                err);
}

void dbconn_init(struct dbconn *c, const char *path, int busy_timeout_ms) {
    c->db = NULL;
    c->path = path;
    c->busy_timeout_ms =
        busy_timeout_ms > DBCONN_BUSY_TIMEOUT_MAX_MS ? DBCONN_BUSY_TIMEOUT_MAX_MS : busy_timeout_ms;
    c->next_try_ms = 0;
}

void dbconn_close(struct dbconn *c) {
    db_close(c->db);
    c->db = NULL;
}

struct db *dbconn_open(struct dbconn *c) {
    if (c->db || clock_monotonic_ms() < c->next_try_ms)
        return c->db;
    char err[256];
    c->db = db_open(c->path, DB_OPEN_READ_ONLY, c->busy_timeout_ms, err, sizeof err);
    if (!c->db) {
        c->next_try_ms = clock_monotonic_ms() + DBCONN_RETRY_MS;
        log_msg(PROG, "db_unavailable", "%s", err);
        return NULL;
    }
    ensure_wal(c);
    return c->db;
}

int dbconn_reopen_if_moved(struct dbconn *c) {
    if (!c->db || db_has_moved(c->db) != 1)
        return 0;
    log_msg(PROG, "db_replaced",
            "the database file was replaced or deleted: reopening it, every live session is "
            "checked again");
    dbconn_close(c);
    c->next_try_ms = 0; /* the new file is tried at once */
    return 1;
}

int dbconn_is_missing(const struct dbconn *c) {
    struct stat st;
    return stat(c->path, &st) != 0;
}
