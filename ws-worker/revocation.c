/* revocation.c -- finding the live sessions that must be closed with 4401.
 *
 * Two passes share one walk of the list: expiry (free: expires_s was read at the handshake) and,
 * only when PRAGMA data_version moved, a fresh db_token_check() of each session's key. Sessions
 * sharing a key with the previous one in the list reuse its answer (a client opening many
 * sockets with one token sits in a run, since the list adds at the head). Not done: batching
 * keys into one query (an IN list of thousands of keys would not be a prepared statement of fixed
 * shape); at 10,000 sockets a change costs about 10,000 indexed reads, a few milliseconds. */
#include "revocation.h"

#include <string.h>

#include "db.h"
#include "token.h"

/* Checks one session against the database: the reason to close it, or NULL to keep it. The
 * answer for the previous key is kept in last_key/last_reason. *rc_out gets a db failure. */
static const char *recheck(struct db *db, struct session *s, long ttl_s, char *last_key,
                           const char **last_reason, int *rc_out) {
    if (last_key[0] && strcmp(last_key, s->key) == 0)
        return *last_reason;
    struct db_token_owner owner;
    int rc = db_token_check(db, s->key, ttl_s, &owner);
    const char *reason = NULL;
    if (rc == DB_NOT_FOUND || rc == DB_INACTIVE)
        reason = REVOCATION_REASON_REVOKED;
    else if (rc == DB_EXPIRED)
        reason = REVOCATION_REASON_EXPIRED;
    else if (rc == DB_OK && owner.user_id != s->user_id)
        reason = REVOCATION_REASON_REVOKED; /* the key now belongs to someone else */
    else if (rc != DB_OK) {
        *rc_out = rc;
        return NULL;
    }
    memcpy(last_key, s->key, AUTH_KEY_MAX);
    *last_reason = reason;
    return reason;
}

int revocation_check(struct session_list *list, struct db *db, long ttl_s, int64_t now_s,
                     struct revocation_state *st, revocation_close_fn close_fn, void *arg) {
    int64_t version = 0;
    int changed = 0, n_closed = 0, db_rc = DB_OK;
    if (db) {
        db_rc = db_data_version(db, &version);
        changed = db_rc == DB_OK && (!st->has_version || version != st->data_version);
    }
    char last_key[AUTH_KEY_MAX] = "";
    const char *last_reason = NULL;
    struct session *next;
    for (struct session *s = list->head; s; s = next) {
        next = s->next; /* close_fn must not unlink, but stay safe if it does */
        if (s->close_code)
            continue;
        const char *reason = NULL;
        if (token_is_expired(s->expires_s, now_s))
            reason = REVOCATION_REASON_EXPIRED;
        else if (changed && db_rc == DB_OK)
            reason = recheck(db, s, ttl_s, last_key, &last_reason, &db_rc);
        if (reason) {
            close_fn(s, REVOCATION_CLOSE_CODE, reason, arg);
            n_closed++;
        }
    }
    if (changed && db_rc == DB_OK) {
        st->data_version = version;
        st->has_version = 1;
    }
    return db_rc == DB_OK ? n_closed : db_rc;
}
