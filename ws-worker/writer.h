/* writer.h -- writing a session's queued replies to its socket: from lws' writable callback, or
 * at once from the delivery path.
 *
 * A session's replies (replies.h: answers to its commands, channel deliveries) leave its queue
 * in batches of at most WRITER_BATCH frames, one lws_write() each (lws does the framing), with
 * the socket corked (TCP_CORK) while a batch of two or more is written so that it leaves as one
 * TCP segment. A batch stops early when lws had to buffer a frame (the kernel took it only in
 * part): lws then asks for a writable callback itself and sends the rest first.
 *
 * The cork is left on between batches while they keep coming two or more at a time: the end of
 * such a batch sends what the cork holds with TCP_NODELAY (on Linux it pushes the pending
 * segments of a corked socket and leaves the cork on), one system call per batch instead of
 * two. A batch of one frame or none ends it (uncorking sends the rest), so a socket fed one
 * frame at a time is never corked. Whatever lws writes by itself onto a corked socket goes out
 * no later than the next thing of ours that runs for it: a pong (lws leaves POLLOUT on, so the
 * writable callback follows, and writer_write with nothing queued uncorks), the rest of a frame
 * lws buffered (the same), a close frame (the protocol callback calls writer_uncork before it
 * returns -1 or when the peer's close frame arrives), a close (the kernel sends what is held
 * with the FIN).
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

#include <stdint.h>

#include <libwebsockets.h>

#define WRITER_OK 0
#define WRITER_ERR_WRITE -1 /* lws_write failed: the connection is unusable */

#define WRITER_BATCH 32 /* frames written per batch (one TCP segment when small) */
#define WRITER_JOIN_BYTES 16384 /* a joined batch's frames at most (lws sends it in one call) */

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

/* The socket of s (on wsi) stops being corked, which sends what the cork holds: before lws
 * writes by itself (a close frame). Does nothing when it is not corked. */
void writer_uncork(struct lws *wsi, struct session *s);

/* What a batch does with the cork, decided from whether the socket was left corked. */
enum writer_cork {
    WRITER_CORK_KEEP, /* nothing */
    WRITER_CORK_ON,   /* before the batch: cork */
    WRITER_CORK_PUSH, /* after it: send what the cork holds and leave it on */
    WRITER_CORK_OFF,  /* after it: uncork (and so send what it holds) */
};

/* Before a batch: WRITER_CORK_ON when is_batch (two or more frames queued) finds the socket
 * uncorked, else WRITER_CORK_KEEP. */
enum writer_cork writer_cork_before(int is_corked, int is_batch);

/* After a batch of n_sent frames: WRITER_CORK_PUSH when corked and n_sent >= 2,
 * WRITER_CORK_OFF when corked and fewer, WRITER_CORK_KEEP when not corked. */
enum writer_cork writer_cork_after(int is_corked, uint64_t n_sent);

#endif
