/* replies.h -- reply buffers: the per-process pool of fixed-size ones, and big ones of their own.
 *
 * A reply is one allocation: struct reply, then LWS_PRE bytes of headroom for libwebsockets,
 * then the JSON (replies_json()). Most replies fit in REPLIES_BUF_LEN bytes; those buffers come
 * from a pool of up to REPLIES_POOL_MAX and go back to it once written, so a round trip
 * allocates nothing and an idle session holds no buffer. A longer reply gets a buffer of its
 * own size from replies_alloc(), which replies_put() frees. replies_get() and replies_put() run
 * once per message, so they are inline here. Not thread-safe: one pool per process (the lws
 * loop is single-threaded). */
#ifndef TOKENAUTH_REPLIES_H
#define TOKENAUTH_REPLIES_H

#include <stddef.h>
#include <stdlib.h>

#include <libwebsockets.h>

#define REPLIES_BUF_LEN 512  /* bytes of a pooled buffer: struct reply, LWS_PRE, the JSON */
#define REPLIES_POOL_MAX 256 /* free pooled buffers a process keeps for reuse */

/* A reply waiting to be written (queued in a session, see sessions.h). */
struct reply {
    struct reply *next; /* the next in the session's queue, or in the pool */
    size_t len;         /* bytes of JSON */
    int is_pooled;      /* a REPLIES_BUF_LEN buffer that goes back to the pool, not to free() */
};

/* Bytes of JSON a pooled buffer holds. */
#define REPLIES_ROOM (REPLIES_BUF_LEN - sizeof(struct reply) - LWS_PRE)

/* The free pooled buffers. Zero-initialise; release with replies_free(). */
struct reply_pool {
    struct reply *head; /* a stack of free buffers */
    size_t n;           /* buffers in it, at most REPLIES_POOL_MAX */
};

/* Where the JSON of r starts (LWS_PRE bytes after the struct, as lws_write() needs). */
static inline char *replies_json(struct reply *r) {
    return (char *)(r + 1) + LWS_PRE;
}

/* A pooled buffer (REPLIES_ROOM bytes of JSON), from the pool when it has one; NULL when memory
 * ran out. The caller sets next and len, and gives it back with replies_put(). */
static inline struct reply *replies_get(struct reply_pool *pool) {
    struct reply *r = pool->head;
    if (r) {
        pool->head = r->next;
        pool->n--;
    } else if ((r = malloc(REPLIES_BUF_LEN)) != NULL) {
        r->is_pooled = 1;
    }
    return r;
}

/* Gives a written or dropped reply back: to the pool while it has room, else to free(). */
static inline void replies_put(struct reply_pool *pool, struct reply *r) {
    if (r->is_pooled && pool->n < REPLIES_POOL_MAX) {
        r->next = pool->head;
        pool->head = r;
        pool->n++;
    } else {
        free(r);
    }
}

/* A buffer of its own for a reply of json_len bytes (too long for a pooled one), or NULL when
 * memory ran out. Given back with replies_put(), which frees it. */
struct reply *replies_alloc(size_t json_len);

/* Frees every buffer of the pool and empties it. */
void replies_free(struct reply_pool *pool);

#endif
