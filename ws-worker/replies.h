/* replies.h -- reply buffers (a per-process pool of fixed-size ones, big ones of their own) and
 * the per-session queue of replies waiting to be written.
 *
 * A reply is one allocation: struct reply, then LWS_PRE bytes of headroom for libwebsockets,
 * then the JSON (replies_json()), built there once and written from there. Most replies fit in
 * REPLIES_BUF_LEN bytes; those buffers come from a pool of up to REPLIES_POOL_MAX and go back to
 * it once written, so a round trip allocates nothing and an idle session holds no buffer. A
 * longer reply gets a buffer of its own: replies_grow() moves a reply being built into one, and
 * replies_put() frees it. replies_get(), replies_put(), replies_ref(), replies_push() and
 * replies_pop() run once per message, so they are inline here.
 *
 * A channel delivery goes to many sessions at once: it is built once as a shared reply
 * (replies_shared(), a buffer of its own with a reference count) and each session queues a
 * reference to it (replies_ref(), a bare struct reply from a second pool, no buffer): no copy
 * and no malloc per socket. libwebsockets writes each frame's header into the LWS_PRE
 * headroom in front of the JSON; for a given text message that header is the same for every
 * socket (the server does not mask, and ws-worker enables no extension), so the sockets may
 * share the buffer. The shared buffer is freed when its last reference is given back.
 *
 * The queue (struct reply_queue, one per session) is a FIFO of built replies. Two producers
 * share it: answers to the client's commands (is_command), which protocol.c counts for its read
 * flow control, and deliveries the server pushes, bounded by bytes rather than by count; so it
 * keeps the count of each and the bytes of JSON queued. Not thread-safe: one pool per process
 * (the lws loop is single-threaded). */
#ifndef TOKENAUTH_REPLIES_H
#define TOKENAUTH_REPLIES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <libwebsockets.h>

#define REPLIES_BUF_LEN 512  /* bytes of a pooled buffer: struct reply, LWS_PRE, the JSON */
#define REPLIES_POOL_MAX 256 /* free pooled buffers a process keeps for reuse */
/* Free references a process keeps for reuse, 48 bytes each (at most 3 MiB, and 512 KiB for the
 * stack of their addresses): a burst of 32 publications to 1,000 sockets holds 32,000 at once. */
#define REPLIES_REFS_MAX 65536
/* How far down the stack of free references replies_ref() prefetches: a fan-out takes one per
 * socket, some 60 instructions apart, too close to hide a miss one ahead. */
#define REPLIES_REFS_AHEAD 8

/* A reply being built, or waiting in a queue to be written. */
struct reply {
    struct reply *next;   /* the next in the queue, or in the pool */
    struct reply *shared; /* a reference: the shared reply whose JSON it writes; else NULL */
    size_t len;           /* bytes of JSON so far */
    size_t room;          /* bytes of JSON the buffer holds (0 for a reference) */
    uint32_t n_refs;      /* a shared reply: references to it, plus one while being built */
    uint8_t is_pooled;    /* a REPLIES_BUF_LEN buffer that goes back to the pool, not to free() */
    uint8_t is_command;   /* queued as the answer to a command (else a delivery) */
};

/* Bytes of JSON a pooled buffer holds. */
#define REPLIES_ROOM (REPLIES_BUF_LEN - sizeof(struct reply) - LWS_PRE)

/* The free pooled buffers. Zero-initialise; release with replies_free(). */
struct reply_pool {
    struct reply *head;  /* a stack of free buffers */
    size_t n;            /* buffers in it, at most REPLIES_POOL_MAX */
    struct reply **refs; /* a stack of free references, by address: taking one reads none */
    size_t n_refs;       /* references in it, at most REPLIES_REFS_MAX */
    size_t refs_cap;     /* room in refs */
};

/* A session's replies waiting to be written, oldest first. Zero-initialise. */
struct reply_queue {
    struct reply *head;  /* the next to write, NULL when empty */
    struct reply *tail;  /* the newest, for appending */
    size_t n_bytes;      /* bytes of JSON queued, all kinds */
    uint32_t n;          /* replies queued, all kinds */
    uint32_t n_commands; /* of which answers to commands */
};

/* Where the JSON of r starts (LWS_PRE bytes after the struct, as lws_write() needs); for a
 * reference, the shared reply's. */
static inline char *replies_json(struct reply *r) {
    return (char *)((r->shared ? r->shared : r) + 1) + LWS_PRE;
}

/* Gives back one reference to a shared reply: freed with the last one. */
static inline void replies_unshare(struct reply *shared) {
    if (--shared->n_refs == 0)
        free(shared);
}

/* An empty pooled buffer (REPLIES_ROOM bytes of JSON), from the pool when it has one; NULL when
 * memory ran out. Given back with replies_put() or queued with replies_push(). */
static inline struct reply *replies_get(struct reply_pool *pool) {
    struct reply *r = pool->head;
    if (r) {
        pool->head = r->next;
        pool->n--;
    } else if ((r = malloc(REPLIES_BUF_LEN)) != NULL) {
        r->is_pooled = 1;
        r->room = REPLIES_ROOM;
        r->shared = NULL;
    }
    if (r) {
        r->next = NULL;
        r->len = 0;
    }
    return r;
}

/* More room in pool's stack of free references (doubled, up to REPLIES_REFS_MAX): 0, or -1
 * when it is at the maximum or memory ran out (the stack is unchanged). */
int replies_refs_grow(struct reply_pool *pool);

/* Gives a written or dropped reply back: to the pool while it has room, else to free(). */
static inline void replies_put(struct reply_pool *pool, struct reply *r) {
    if (r->shared) {
        replies_unshare(r->shared);
        if (pool->n_refs < pool->refs_cap || replies_refs_grow(pool) == 0) {
            pool->refs[pool->n_refs++] = r;
            return;
        }
        free(r);
    } else if (r->is_pooled && pool->n < REPLIES_POOL_MAX) {
        r->next = pool->head;
        pool->head = r;
        pool->n++;
    } else {
        free(r);
    }
}

/* An empty buffer of its own for room bytes of JSON, or NULL when memory ran out. Given back
 * with replies_put(), which frees it. */
struct reply *replies_alloc(size_t room);

/* r (being built, not queued) with room for at least room bytes of JSON: r itself when it has
 * them, else a buffer of its own holding r's len bytes, r given back to pool. NULL when memory
 * ran out (r given back too). */
struct reply *replies_grow(struct reply_pool *pool, struct reply *r, size_t room);

/* A reply holding a copy of json (len bytes of JSON text, not terminated): a pooled buffer when
 * it fits, else one of its own size. NULL when memory ran out. For producers whose JSON is
 * already built (deliveries); commands build theirs in place. */
struct reply *replies_from_text(struct reply_pool *pool, const char *json, size_t len);

/* A shared reply holding a copy of json (len bytes of JSON, not terminated), held once by the
 * caller (given back with replies_unshare()), or NULL when memory ran out. */
struct reply *replies_shared(const char *json, size_t len);

/* A reference to shared (one more hold on it), from the pool when it has one, to queue with
 * replies_push() and give back with replies_put(); NULL when memory ran out. */
static inline struct reply *replies_ref(struct reply_pool *pool, struct reply *shared) {
    struct reply *r;
    if (pool->n_refs) {
        r = pool->refs[--pool->n_refs];
        if (pool->n_refs >= REPLIES_REFS_AHEAD) /* a later member's: its line comes in meanwhile */
            __builtin_prefetch(pool->refs[pool->n_refs - REPLIES_REFS_AHEAD], 1);
    } else if ((r = malloc(sizeof *r)) == NULL) {
        return NULL;
    }
    r->next = NULL;
    r->shared = shared;
    r->len = shared->len;
    r->room = 0;
    r->is_pooled = 0;
    shared->n_refs++;
    return r;
}

/* Appends r (built, not queued) to q; is_command says whether it answers a command. */
static inline void replies_push(struct reply_queue *q, struct reply *r, int is_command) {
    r->next = NULL;
    r->is_command = is_command ? 1 : 0;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->n++;
    q->n_commands += r->is_command;
    q->n_bytes += r->len;
}

/* Takes the oldest reply off q (the caller writes it, then replies_put()), or NULL when empty. */
static inline struct reply *replies_pop(struct reply_queue *q) {
    struct reply *r = q->head;
    if (!r)
        return NULL;
    q->head = r->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    q->n_commands -= r->is_command;
    q->n_bytes -= r->len;
    r->next = NULL;
    return r;
}

/* Gives every queued reply back to pool and empties q (a session closing). */
void replies_drain(struct reply_queue *q, struct reply_pool *pool);

/* Frees every buffer and reference of the pool and empties it. */
void replies_free(struct reply_pool *pool);

#endif
