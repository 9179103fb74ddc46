/* writer.c -- a session's queued replies onto its socket, in batches; deliveries written at the
 * end of the Redis read that brought them (see writer.h).
 *
 * Why directly: at a few hundred publications per second to a thousand sockets, each socket
 * took one writable callback per publication, and lws' service of it (the POLLOUT flag set and
 * cleared in the poll table, the poll scan, the dispatch to the callback) cost more
 * instructions than the write itself. The due list is threaded through the sessions
 * (session.next_due), so marking one allocates nothing. */
#include "writer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

#include "metrics.h"
#include "replies.h"
#include "sessions.h"

/* Sets a TCP option of the socket to on; 0, or -1 when it is not a TCP socket (a test's Unix
 * socket) or the call failed. TCP_CORK holds the partial segments of a batch, so its frames
 * leave as one TCP segment instead of one each (on loopback every segment also runs the
 * receiver's side in the sender's system call); TCP_NODELAY set pushes what the cork holds. */
static int set_tcp(struct lws *wsi, int option, int on) {
    int fd = (int)lws_get_socket_fd(wsi);
    return fd >= 0 && setsockopt(fd, IPPROTO_TCP, option, &on, sizeof on) == 0 ? 0 : -1;
}

enum writer_cork writer_cork_before(int is_corked, int is_batch) {
    return is_batch && !is_corked ? WRITER_CORK_ON : WRITER_CORK_KEEP;
}

enum writer_cork writer_cork_after(int is_corked, uint64_t n_sent) {
    if (!is_corked)
        return WRITER_CORK_KEEP;
    return n_sent >= 2 ? WRITER_CORK_PUSH : WRITER_CORK_OFF;
}

/* The batch is over: what the cork holds leaves now, the cork staying on only after a batch of
 * two or more. */
static void end_batch(struct lws *wsi, struct session *pss, uint64_t n_sent) {
    enum writer_cork step = writer_cork_after(pss->is_corked, n_sent);
    if (step == WRITER_CORK_PUSH)
        (void)set_tcp(wsi, TCP_NODELAY, 1);
    else if (step == WRITER_CORK_OFF)
        writer_uncork(wsi, pss);
}

int writer_write(struct writer *w, struct lws *wsi, struct session *pss) {
    struct reply_queue *q = &pss->replies;
    if (writer_cork_before(pss->is_corked, q->n >= 2) == WRITER_CORK_ON)
        pss->is_corked = set_tcp(wsi, TCP_CORK, 1) == 0;
    int rc = WRITER_OK;
    uint64_t n_sent = 0, n_bytes = 0;
    size_t len;
    char *json;
    while (n_sent < WRITER_BATCH && (json = replies_front(q, &len)) != NULL) {
        int n = lws_write(wsi, (unsigned char *)json, len, LWS_WRITE_TEXT);
        replies_drop_front(q, w->pool);
        if (n < (int)len) {
            rc = WRITER_ERR_WRITE;
            break;
        }
        n_sent++;
        n_bytes += len;
        if (lws_partial_buffered(wsi))
            break;
    }
    end_batch(wsi, pss, n_sent);
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

/* While a due session's batch is sent (a system call per frame), what the next ones need comes
 * in: next's first queued reply or block (next's own lines were asked for one session earlier)
 * and the session after it. */
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

void writer_uncork(struct lws *wsi, struct session *s) {
    if (!s->is_corked)
        return;
    s->is_corked = 0;
    (void)set_tcp(wsi, TCP_CORK, 0);
}
