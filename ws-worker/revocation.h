/* revocation.h -- closing live sockets whose token was deleted, expired or lost its user.
 *
 * protocol.c calls revocation_check() from a timer (TOKENAUTH_WS_REVOCATION_CHECK_MS). Its cost
 * follows the changes, not the sessions:
 *   - expiry is time-based: each session carries its token's expires_s from the handshake; the
 *     state keeps the earliest one, and only when it is reached are the sessions walked (no
 *     database read);
 *   - while the database does not change it costs one PRAGMA data_version (no disk read);
 *   - when it changed, the revocation log (db.h: tokenauth_revocation, filled by triggers) is
 *     read from the row after the last one seen; only the sessions of the users it names are
 *     checked again with db_token_check() (one indexed read per distinct key); the others are
 *     passed over by comparing user ids in memory;
 *   - a full check of every session (the old way) happens only when the log cannot be trusted:
 *     the first check, a replaced database file (the caller clears has_version), a database
 *     without the log or one of its triggers (an older schema: every change then costs a full
 *     check, as before), or a log trimmed past the last row seen. */
#ifndef TOKENAUTH_REVOCATION_H
#define TOKENAUTH_REVOCATION_H

#include <stddef.h>
#include <stdint.h>

#include "sessions.h"

struct db;

#define REVOCATION_REASON_REVOKED "token revoked"
#define REVOCATION_REASON_EXPIRED "token expired"
#define REVOCATION_CLOSE_CODE 4401
#define REVOCATION_BATCH 256 /* log rows read per query; more are read in further batches */

/* Called for each session to close, with the close code and its reason (static text). */
typedef void (*revocation_close_fn)(struct session *s, int code, const char *reason, void *arg);

/* What the last check saw: zero-initialise before the first. The caller sets has_version to 0
 * to force a full check (a replaced file). */
struct revocation_state {
    int64_t data_version;   /* PRAGMA data_version at the last complete check */
    int has_version;        /* data_version is meaningful; 0: the next check is a full one */
    int64_t schema_version; /* PRAGMA schema_version when has_log was decided */
    int has_schema_version; /* schema_version is meaningful */
    int has_log;            /* the revocation log and its triggers are there */
    int64_t last_id;        /* the last log row handled */
    int has_cursor;         /* last_id is meaningful (for this file) */
    int64_t next_expiry_s;  /* the earliest expires_s of a live session, 0 = none */
};

/* What one call did, for the caller's log line and for tests (counts, not time). */
struct revocation_tick {
    size_t n_rows;           /* log rows read */
    size_t n_rechecked;      /* db_token_check() calls made */
    size_t n_closed;         /* sessions closed (expired or revoked) */
    const char *full_reason; /* why every session was checked, NULL when only the named ones */
};

/* Tells the state about a session joining the live list with this expiry (0 = never), so the
 * expiry walk happens when it is due. O(1). */
void revocation_watch_expiry(struct revocation_state *st, int64_t expires_s);

/* Closes (through close_fn) every live session of list whose token expired at now_s, and, when
 * the database changed since the last complete check (db may be NULL: no database check), every
 * one named by new rows of the revocation log (or every one, see above) whose token is gone or
 * whose user is inactive. Sessions already closing are skipped. A busy or failing database
 * leaves the database part of st unchanged, so the next call checks again. Fills *tick. Returns
 * the number of sessions closed, or a negative DB_* error when the database could not be read. */
int revocation_check(struct session_list *list, struct db *db, long ttl_s, int64_t now_s,
                     struct revocation_state *st, struct revocation_tick *tick,
                     revocation_close_fn close_fn, void *arg);

#endif
