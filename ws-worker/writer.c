/* writer.c -- a session's queued replies onto its socket, in batches joined into one send;
 * deliveries written at the end of the Redis read that brought them (see writer.h).
 *
 * Why directly: at a few hundred publications per second to a thousand sockets, each socket
 * took one writable callback per publication, and lws' service of it (the POLLOUT flag set and
 * cleared in the poll table, the poll scan, the dispatch to the callback) cost more
 * instructions than the write itself. The due list is threaded through the sessions
 * (session.next_due), so marking one allocates nothing. */
#include "writer.h"

#include <stddef.h>

#include "metrics.h"
#include "replies.h"
#include "sendjoin.h"
#include "sessions.h"

int writer_can_join(size_t len, size_t room) {
    return len <= room && room - len >= SENDJOIN_HEADER_MAX;
}

/* The oldest message of pss (json, len bytes), framed and sent by lws_write itself (or, inside
 * a join, captured). Counts it in *n_sent and *n_bytes. WRITER_OK or WRITER_ERR_WRITE. */
static int write_one(struct writer *w, struct lws *wsi, struct session *pss, char *json, size_t len,
                     uint64_t *n_sent, uint64_t *n_bytes) {
    int n = lws_write(wsi, (unsigned char *)json, len, LWS_WRITE_TEXT);
    replies_drop_front(&pss->replies, w->pool);
    (*n_sent)++;
    *n_bytes += len;
    return n < (int)len ? WRITER_ERR_WRITE : WRITER_OK;
}

/* Messages of pss from the oldest, json (len bytes) first, while they fit, framed by lws one by
 * one with its sends captured (sendjoin.h), then handed back to lws as one raw write: one system
 * call for them all, and lws buffers whatever the kernel does not take, as for any write. */
static int write_joined(struct writer *w, struct lws *wsi, struct session *pss, char *json,
                        size_t len, uint64_t *n_sent, uint64_t *n_bytes) {
    unsigned char *joined = w->join + LWS_PRE;
    if (sendjoin_begin((int)lws_get_socket_fd(wsi), joined, WRITER_JOIN_BYTES) != SENDJOIN_OK)
        return write_one(w, wsi, pss, json, len, n_sent, n_bytes);
    int rc = WRITER_OK;
    do {
        rc = write_one(w, wsi, pss, json, len, n_sent, n_bytes);
    } while (rc == WRITER_OK && *n_sent < WRITER_BATCH &&
             (json = replies_front(&pss->replies, &len)) != NULL &&
             writer_can_join(len, sendjoin_room()));
    size_t joined_len;
    if (sendjoin_end(&joined_len) != SENDJOIN_OK) /* lws sent a frame in parts: order is lost */
        return WRITER_ERR_WRITE;
    if (rc == WRITER_OK && joined_len &&
        lws_write(wsi, joined, joined_len, LWS_WRITE_RAW) < (int)joined_len)
        rc = WRITER_ERR_WRITE;
    return rc;
}

int writer_write(struct writer *w, struct lws *wsi, struct session *pss) {
    int rc = WRITER_OK;
    uint64_t n_sent = 0, n_bytes = 0;
    size_t len;
    char *json;
    while (rc == WRITER_OK && n_sent < WRITER_BATCH && !lws_partial_buffered(wsi) &&
           (json = replies_front(&pss->replies, &len)) != NULL)
        rc = pss->replies.n >= 2 && writer_can_join(len, WRITER_JOIN_BYTES)
                 ? write_joined(w, wsi, pss, json, len, &n_sent, &n_bytes)
                 : write_one(w, wsi, pss, json, len, &n_sent, &n_bytes);
    metrics_add(w->metrics, METRIC_WS_MESSAGES_OUT, n_sent);
    metrics_add(w->metrics, METRIC_WS_BYTES_OUT, n_bytes);
    return rc;
}

void writer_due(struct writer *w, struct session *s) {
    if (s->is_due)
        return;
    s->is_due = 1;
    s->next_due = w->due;
    w->due = s;
}

/* Whether s may be written to now, outside its writable callback: not closing (the writable
 * callback decides what a closing session still writes), nothing of a frame held by lws. */
static int can_write_now(const struct session *s) {
    return s->wsi && !s->close_code && !s->is_peer_closing && !s->is_write_failed &&
           !lws_partial_buffered(s->wsi);
}

/* One due session: a batch written directly when it can be, a writable callback for the rest. */
static void flush_one(struct writer *w, struct session *s) {
    if (!s->replies.head || !s->wsi)
        return;
    if (can_write_now(s) && writer_write(w, s->wsi, s) != WRITER_OK)
        s->is_write_failed = 1; /* closed at its writable callback */
    if (s->replies.head || s->is_write_failed || s->close_code)
        lws_callback_on_writable(s->wsi);
}

/* While a due session's batch is framed and sent, what the next ones need comes in: next's
 * first queued reply or block (next's own lines were asked for one session earlier) and the
 * session after it. */
static void prefetch_next(const struct session *next) {
    if (!next)
        return;
    if (next->replies.head)
        __builtin_prefetch(next->replies.head);
    if (next->next_due)
        sessions_prefetch(next->next_due);
}

void writer_flush(struct writer *w) {
    if (w->due)
        sessions_prefetch(w->due);
    while (w->due) {
        struct session *s = w->due;
        w->due = s->next_due;
        prefetch_next(w->due);
        s->next_due = NULL;
        s->is_due = 0;
        flush_one(w, s);
    }
}

void writer_forget(struct writer *w, struct session *s) {
    if (!s->is_due)
        return;
    for (struct session **p = &w->due; *p; p = &(*p)->next_due)
        if (*p == s) {
            *p = s->next_due;
            break;
        }
    s->next_due = NULL;
    s->is_due = 0;
}
