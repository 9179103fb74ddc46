/* revocation.h -- closing live sockets whose token was deleted, expired or lost its user.
 *
 * protocol.c calls revocation_check() from a timer (TOKENAUTH_WS_REVOCATION_CHECK_MS). While the
 * database does not change it costs one PRAGMA data_version (no disk read) and one comparison
 * per session (expiry); when it changed, every live session's token is checked again with
 * db_token_check(), one indexed read per distinct key. */
#ifndef TOKENAUTH_REVOCATION_H
#define TOKENAUTH_REVOCATION_H

#include <stdint.h>

#include "sessions.h"

struct db;

#define REVOCATION_REASON_REVOKED "token revoked"
#define REVOCATION_REASON_EXPIRED "token expired"
#define REVOCATION_CLOSE_CODE 4401

/* Called for each session to close, with the close code and its reason (static text). */
typedef void (*revocation_close_fn)(struct session *s, int code, const char *reason, void *arg);

/* What the last check saw: zero-initialise before the first. */
struct revocation_state {
    int64_t data_version; /* PRAGMA data_version at the last complete check */
    int has_version;      /* data_version is meaningful */
};

/* Closes (through close_fn) every live session of list whose token expired at now_s, and, when
 * the database changed since the last complete check (db may be NULL: no database check), every
 * one whose token is gone or whose user is inactive. Sessions already closing are skipped. A busy
 * or failing database leaves st unchanged, so the next call checks again. Returns the number of
 * sessions closed, or a negative DB_* error when the database could not be read. */
int revocation_check(struct session_list *list, struct db *db, long ttl_s, int64_t now_s,
                     struct revocation_state *st, revocation_close_fn close_fn, void *arg);

#endif
