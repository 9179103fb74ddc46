/* revocation.c -- finding the live sessions that must be closed with 4401.
 *
 * Three parts, each paid only when there is something to do (revocation.h says when):
 *   expiry     a walk of the list when the earliest expires_s is reached; no database read;
 *   named      the revocation log's new rows give user ids; they are sorted, and each live
 *              session's user id is looked up among them (a binary search in memory); only the
 *              sessions found are checked again with db_token_check();
 *   full       every live session checked again, when the log cannot say who changed.
 * A session's check closes it when its token is gone, expired, re-keyed, moved to another user
 * or its user inactive. Sessions sharing a key with the previous one checked reuse its answer
 * (a client opening many sockets with one token sits in a run, since the list adds at the head).
 *
 * The cursor (the last log row handled) moves only after the sessions it names were checked
 * without a database error, so a busy tick is repeated, never skipped. Rows are read before the
 * sessions are checked, and data_version before the rows: a revocation committed meanwhile moves
 * data_version again and is read at the next tick. Not done: an index of sessions by user id (the
 * in-memory pass over the list costs about a microsecond per thousand sessions per batch). */
#include "revocation.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "token.h"

/* One call's context: where to report, and the answer for the last key checked. */
struct pass {
    struct db *db;
    long ttl_s;
    struct revocation_tick *tick;
    revocation_close_fn close_fn;
    void *arg;
    char last_key[AUTH_KEY_MAX]; /* the key last checked against the database, "" for none */
    const char *last_reason;     /* its answer: a close reason or NULL */
    int db_rc;                   /* the first database failure, DB_OK while none */
};

static void close_session(struct pass *p, struct session *s, const char *reason) {
    p->close_fn(s, REVOCATION_CLOSE_CODE, reason, p->arg);
    p->tick->n_closed++;
}

/* Checks one session against the database: the reason to close it, or NULL to keep it (or on a
 * database failure, recorded in p->db_rc). */
static const char *recheck(struct pass *p, struct session *s) {
    if (p->last_key[0] && strcmp(p->last_key, s->key) == 0)
        return p->last_reason;
    struct db_token_owner owner;
    int rc = db_token_check(p->db, s->key, p->ttl_s, &owner);
    p->tick->n_rechecked++;
    const char *reason = NULL;
    if (rc == DB_NOT_FOUND || rc == DB_INACTIVE)
        reason = REVOCATION_REASON_REVOKED;
    else if (rc == DB_EXPIRED)
        reason = REVOCATION_REASON_EXPIRED;
    else if (rc == DB_OK && owner.user_id != s->user_id)
        reason = REVOCATION_REASON_REVOKED; /* the key now belongs to someone else */
    else if (rc != DB_OK) {
        p->db_rc = rc;
        return NULL;
    }
    memcpy(p->last_key, s->key, AUTH_KEY_MAX);
    p->last_reason = reason;
    return reason;
}

/* Closes the sessions whose token expired, when the earliest expiry is due; finds the next. */
static void expire(struct session_list *list, struct revocation_state *st, int64_t now_s,
                   struct pass *p) {
    if (!st->next_expiry_s || !token_is_expired(st->next_expiry_s, now_s))
        return;
    int64_t next = 0;
    for (struct session *s = list->head; s; s = s->next) {
        if (s->close_code || !s->expires_s)
            continue;
        if (token_is_expired(s->expires_s, now_s))
            close_session(p, s, REVOCATION_REASON_EXPIRED);
        else if (!next || s->expires_s < next)
            next = s->expires_s;
    }
    st->next_expiry_s = next;
}

/* Checks every live session again (stops at the first database failure). */
static void check_all(struct session_list *list, struct pass *p) {
    struct session *next;
    for (struct session *s = list->head; s && p->db_rc == DB_OK; s = next) {
        next = s->next; /* close_fn must not unlink, but stay safe if it does */
        if (s->close_code)
            continue;
        const char *reason = recheck(p, s);
        if (reason)
            close_session(p, s, reason);
    }
}

static int compare_ids(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Checks again the live sessions of the n_ids users in ids (sorted here). */
static void check_users(struct session_list *list, int64_t *ids, size_t n_ids, struct pass *p) {
    qsort(ids, n_ids, sizeof ids[0], compare_ids);
    struct session *next;
    for (struct session *s = list->head; s && p->db_rc == DB_OK; s = next) {
        next = s->next;
        if (s->close_code || !bsearch(&s->user_id, ids, n_ids, sizeof ids[0], compare_ids))
            continue;
        const char *reason = recheck(p, s);
        if (reason)
            close_session(p, s, reason);
    }
}

/* Decides, when the schema changed (or at first), whether the log is there to be trusted. */
static int find_log(struct revocation_state *st, struct pass *p) {
    int64_t version;
    int rc = db_schema_version(p->db, &version);
    if (rc != DB_OK || (st->has_schema_version && version == st->schema_version))
        return rc;
    int ready = db_revocation_log_ready(p->db);
    if (ready < 0)
        return ready;
    if (!ready || !st->has_log)
        st->has_cursor = 0; /* no log, or a new one: start again from a full check */
    st->has_log = ready;
    st->schema_version = version;
    st->has_schema_version = 1;
    return DB_OK;
}

/* Every session, then the cursor at the log's end as it was before the check began. */
static void check_all_from_log(struct session_list *list, struct revocation_state *st,
                               struct pass *p) {
    int64_t min_id = 0, max_id = 0;
    if (st->has_log && (p->db_rc = db_revocation_bounds(p->db, &min_id, &max_id)) != DB_OK)
        return;
    check_all(list, p);
    if (p->db_rc == DB_OK && st->has_log) {
        st->last_id = max_id;
        st->has_cursor = 1;
    }
}

/* The log's rows after the cursor, a batch at a time, and the sessions they name. */
static void check_named(struct session_list *list, struct revocation_state *st, struct pass *p) {
    int64_t min_id = 0, max_id = 0;
    if ((p->db_rc = db_revocation_bounds(p->db, &min_id, &max_id)) != DB_OK ||
        max_id <= st->last_id)
        return; /* nothing new: the change was no revocation (a login, a new user...) */
    if (min_id > st->last_id + 1) {
        p->tick->full_reason = "the log was trimmed past the last row seen";
        check_all_from_log(list, st, p);
        return;
    }
    int64_t ids[REVOCATION_BATCH];
    size_t n = REVOCATION_BATCH;
    while (n == REVOCATION_BATCH && p->db_rc == DB_OK) {
        int64_t last = st->last_id;
        p->db_rc = db_revocation_since(p->db, st->last_id, REVOCATION_BATCH, ids, &n, &last);
        if (p->db_rc != DB_OK)
            return;
        p->tick->n_rows += n;
        check_users(list, ids, n, p);
        if (p->db_rc == DB_OK)
            st->last_id = last;
    }
}

/* The database part: nothing while data_version stays, else the log or a full check. */
static void check_db(struct session_list *list, struct revocation_state *st, struct pass *p) {
    int64_t version = 0;
    p->db_rc = db_data_version(p->db, &version);
    if (p->db_rc != DB_OK || (st->has_version && version == st->data_version))
        return;
    if (!st->has_version) {
        st->has_cursor = 0;         /* the first check, or a replaced file: ids start anew, */
        st->has_schema_version = 0; /* and the log must be looked for in this file */
    }
    if ((p->db_rc = find_log(st, p)) != DB_OK)
        return;
    if (st->has_log && st->has_cursor) {
        check_named(list, st, p);
    } else {
        p->tick->full_reason = !st->has_log
                                   ? "no revocation log (an older schema): login-fcgi creates it "
                                     "when it opens the file, or apply schema.sql"
                               : st->has_version ? "the revocation log appeared"
                                                 : "first check of this database file";
        check_all_from_log(list, st, p);
    }
    if (p->db_rc == DB_OK) {
        st->data_version = version;
        st->has_version = 1;
    }
}

void revocation_watch_expiry(struct revocation_state *st, int64_t expires_s) {
    if (expires_s && (!st->next_expiry_s || expires_s < st->next_expiry_s))
        st->next_expiry_s = expires_s;
}

int revocation_check(struct session_list *list, struct db *db, long ttl_s, int64_t now_s,
                     struct revocation_state *st, struct revocation_tick *tick,
                     revocation_close_fn close_fn, void *arg) {
    *tick = (struct revocation_tick){0};
    struct pass p = {.db = db, .ttl_s = ttl_s, .tick = tick, .close_fn = close_fn, .arg = arg};
    expire(list, st, now_s, &p);
    if (db)
        check_db(list, st, &p);
    return p.db_rc == DB_OK ? (int)tick->n_closed : p.db_rc;
}
