/* writer.h -- writing a session's queued replies to its socket: from lws' writable callback, or
 * at once from the delivery path.
 *
 * A session's replies (replies.h: answers to its commands, channel deliveries) leave its queue
 * in batches of at most WRITER_BATCH frames, each framed by lws_write() (lws does the framing).
 * Two or more queued frames that fit WRITER_JOIN_BYTES are joined: lws frames them one by one
 * while sendjoin.h captures what it would have sent, and the joined frames go back to lws as one
 * raw write, so a batch costs one send() instead of one per frame (a system call costs more
 * than the rest of a delivery on this kind of VM). A frame too large to join is written by
 * lws_write alone, as is a lone frame. A batch stops early when lws had to buffer part of a
 * write (the kernel took it only in part): lws then asks for a writable callback itself and
 * sends the rest first. The sockets have TCP_NODELAY (listen.h): each write is whole messages.
 *
 * Deliveries from Redis do not wait for a writable callback: while one read from Redis is
 * handled, each session given a delivery is marked due (writer_due), and at the end of that
 * read (writer_flush) every due session is written to directly, when it can be: not closing,
 * nothing buffered in lws. So a read carrying several publications writes each socket once,
 * in one batch, and a socket costs no poll round and no POLLOUT toggling. A session whose queue
 * is not empty after that (more than a batch, a frame buffered by lws) or that could not be
 * written gets a writable callback, as any reply does. Order is kept: both ways write the same
 * queue from its head, and a direct write never runs while lws still holds part of a frame.
 *
 * Not done here: closing (protocol.c's writable callback sends the close frame and decides
 * what a closing session may still write; a closing session is never written to directly).
 * A write that fails outside the writable callback cannot close the connection there: the
 * session is marked (is_write_failed) and protocol.c closes it at its writable callback. */
#ifndef TOKENAUTH_WRITER_H
#define TOKENAUTH_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#define WRITER_OK 0
#define WRITER_ERR_WRITE -1 /* lws_write failed: the connection is unusable */

#define WRITER_BATCH 32         /* frames written per batch (joined into one send when they fit) */
#define WRITER_JOIN_BYTES 16384 /* a joined batch at most; lws sends up to this in one call */

struct metrics_record;
struct reply_pool;
struct session;

/* The writing state of one process. Zero-initialise, then set pool (and metrics, or NULL). */
struct writer {
    struct reply_pool *pool;        /* where written replies go back */
    struct metrics_record *metrics; /* messages and bytes sent; NULL = not counted */
    struct session *due;            /* sessions to write at writer_flush, newest first */
    unsigned char join[LWS_PRE + WRITER_JOIN_BYTES]; /* a batch's frames, joined */
};

/* Writes up to WRITER_BATCH queued replies of pss to wsi (from the writable callback, or
 * directly). WRITER_OK, or WRITER_ERR_WRITE: the caller closes the connection. */
int writer_write(struct writer *w, struct lws *wsi, struct session *pss);

/* s (established) was given a delivery during a read from Redis: it is written at the next
 * writer_flush. */
void writer_due(struct writer *w, struct session *s);

/* The read from Redis is over: every due session that can be written to directly is written to
 * (one batch), the others, and those with replies left, get a writable callback. */
void writer_flush(struct writer *w);

/* s is going away (LWS_CALLBACK_CLOSED): it leaves the due list. */
void writer_forget(struct writer *w, struct session *s);

/* Whether a frame of len bytes of JSON can join a batch whose buffer has room bytes left (its
 * header included). */
int writer_can_join(size_t len, size_t room);

#endif
