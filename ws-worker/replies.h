/* replies.h -- reply buffers (a per-process pool of fixed-size ones, big ones of their own) and
 * the per-session queue of messages waiting to be written.
 *
 * A reply is one allocation: struct reply, then LWS_PRE bytes of headroom for libwebsockets,
 * then the JSON (replies_json()), built there once and written from there. Most replies fit in
 * REPLIES_BUF_LEN bytes; those buffers come from a pool of up to REPLIES_POOL_MAX and go back to
 * it once written, so a round trip allocates nothing and an idle session holds no buffer. A
 * longer reply gets a buffer of its own: replies_grow() moves a reply being built into one, and
 * replies_put() frees it. What runs once per message (replies_get, replies_put, replies_push,
 * replies_push_shared, replies_front, replies_drop_front) is inline here.
 *
 * A channel delivery goes to many sessions at once: it is built once as a shared reply
 * (replies_shared(), a buffer of its own with a reference count) and each session queues a
 * hold on it (replies_push_shared()): no copy and no malloc per socket. libwebsockets writes
 * each frame's header into the LWS_PRE headroom in front of the JSON; for a given text message
 * that header is the same for every socket (the server does not mask, and ws-worker enables no
 * extension), so the sockets may share the buffer. The shared buffer is freed when its last
 * hold is given back.
 *
 * The holds of consecutive deliveries sit together in a block (a struct reply queued like any
 * other, is_block, followed by REPLIES_BLOCK_SLOTS pointers to shared replies): a delivery
 * stores one pointer into the session's last block, a fresh block (from the pool's own stack)
 * once that one is full or the last queued message is not a delivery. So the deliveries a
 * socket is given between two writes sit on one or two cache lines of its own, instead of one
 * cold struct each (the fan-out touched two per delivery: the new one and its predecessor's
 * link), and nothing is allocated per delivery.
 *
 * The queue (struct reply_queue, one per session) is a FIFO of messages: replies and the
 * deliveries in blocks. Two producers share it: answers to the client's commands (is_command),
 * which protocol.c counts for its read flow control, and deliveries the server pushes, bounded
 * by bytes rather than by count; so it keeps the count of each and the bytes of JSON queued,
 * counting every delivery of a block as a message. Not thread-safe: one pool per process (the
 * lws loop is single-threaded). */
#ifndef TOKENAUTH_REPLIES_H
#define TOKENAUTH_REPLIES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <libwebsockets.h>

#define REPLIES_BUF_LEN 512  /* bytes of a pooled buffer: struct reply, LWS_PRE, the JSON */
#define REPLIES_POOL_MAX 256 /* free pooled buffers a process keeps for reuse */
/* Deliveries a block holds: 200 bytes with its header, so a window of 32 publications leaves
 * one or two blocks per socket between two writes. */
#define REPLIES_BLOCK_SLOTS 20
/* Free blocks a process keeps for reuse (at most about 850 KiB): a burst of 32 publications to
 * 1,000 sockets holds 2,000 at once. */
#define REPLIES_BLOCKS_MAX 4096

/* A reply being built or queued, a shared reply, or a block of deliveries. */
struct reply {
    struct reply *next; /* the next in the queue, or in the pool */
    size_t len;         /* bytes of JSON so far (0 for a block) */
    size_t room;        /* bytes of JSON the buffer holds (0 for a block) */
    uint32_t n_refs;    /* a shared reply: holds on it, plus one while being built */
    uint8_t is_pooled;  /* a REPLIES_BUF_LEN buffer that goes back to the pool, not to free() */
    uint8_t is_command; /* queued as the answer to a command (else a delivery) */
    uint8_t is_block;   /* a block: slots first..n_slots-1 hold the deliveries still queued */
    uint8_t first;      /* a block: the oldest slot not yet written */
    uint8_t n_slots;    /* a block: slots filled, at most REPLIES_BLOCK_SLOTS */
};

/* Bytes of JSON a pooled buffer holds. */
#define REPLIES_ROOM (REPLIES_BUF_LEN - sizeof(struct reply) - LWS_PRE)

/* The free pooled buffers and blocks. Zero-initialise; release with replies_free(). */
struct reply_pool {
    struct reply *head;   /* a stack of free buffers */
    size_t n;             /* buffers in it, at most REPLIES_POOL_MAX */
    struct reply *blocks; /* a stack of free blocks */
    size_t n_blocks;      /* blocks in it, at most REPLIES_BLOCKS_MAX */
};

/* A session's messages waiting to be written, oldest first. Zero-initialise. */
struct reply_queue {
    struct reply *head;  /* the oldest reply or block, NULL when empty */
    struct reply *tail;  /* the newest, for appending */
    size_t n_bytes;      /* bytes of JSON queued, all kinds */
    uint32_t n;          /* messages queued, all kinds (each delivery of a block counts) */
    uint32_t n_commands; /* of which answers to commands */
};

/* Where the JSON of r (not a block) starts: LWS_PRE bytes after the struct, as lws_write()
 * needs. */
static inline char *replies_json(struct reply *r) {
    return (char *)(r + 1) + LWS_PRE;
}

/* The shared replies a block holds, by slot. */
static inline struct reply **replies_slots(struct reply *block) {
    return (struct reply **)(block + 1);
}

/* Gives back one hold on a shared reply: freed with the last one. */
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
        r->is_block = 0;
        r->room = REPLIES_ROOM;
    }
    if (r) {
        r->next = NULL;
        r->len = 0;
    }
    return r;
}

/* An empty block, from the pool when it has one; NULL when memory ran out. */
struct reply *replies_block(struct reply_pool *pool);

/* Gives a written or dropped reply, or an emptied block, back: to the pool while it has room,
 * else to free(). */
static inline void replies_put(struct reply_pool *pool, struct reply *r) {
    if (r->is_block && pool->n_blocks < REPLIES_BLOCKS_MAX) {
        r->next = pool->blocks;
        pool->blocks = r;
        pool->n_blocks++;
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

/* Appends r to q without counting it. */
static inline void replies_link(struct reply_queue *q, struct reply *r) {
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
}

/* Appends r (built, not queued, not shared) to q; is_command says whether it answers a
 * command. */
static inline void replies_push(struct reply_queue *q, struct reply *r, int is_command) {
    r->is_command = is_command ? 1 : 0;
    replies_link(q, r);
    q->n++;
    q->n_commands += r->is_command;
    q->n_bytes += r->len;
}

/* Appends a delivery of shared to q (one more hold on it), in q's last block when that is the
 * newest message and has a free slot, else in a new block: 0, or -1 when memory ran out
 * (nothing changed). */
static inline int replies_push_shared(struct reply_queue *q, struct reply_pool *pool,
                                      struct reply *shared) {
    struct reply *b = q->tail;
    if (!b || !b->is_block || b->n_slots == REPLIES_BLOCK_SLOTS) {
        if ((b = replies_block(pool)) == NULL)
            return -1;
        replies_link(q, b);
    }
    replies_slots(b)[b->n_slots++] = shared;
    shared->n_refs++;
    q->n++;
    q->n_bytes += shared->len;
    return 0;
}

/* The oldest message of q: its JSON, *len bytes, with LWS_PRE bytes of headroom before it (as
 * lws_write() needs), valid until replies_drop_front(); NULL when q is empty. */
static inline char *replies_front(struct reply_queue *q, size_t *len) {
    struct reply *r = q->head;
    if (!r)
        return NULL;
    if (r->is_block)
        r = replies_slots(r)[r->first];
    *len = r->len;
    return replies_json(r);
}

/* Takes the oldest message off q (written, or dropped) and gives back its buffer, or its hold
 * on a shared reply and, with a block's last delivery, the block. Nothing when q is empty. */
static inline void replies_drop_front(struct reply_queue *q, struct reply_pool *pool) {
    struct reply *r = q->head;
    if (!r)
        return;
    struct reply *msg = r->is_block ? replies_slots(r)[r->first] : r;
    q->n--;
    q->n_commands -= r->is_command;
    q->n_bytes -= msg->len;
    if (r->is_block) {
        replies_unshare(msg);
        if (++r->first < r->n_slots)
            return;
    }
    q->head = r->next;
    if (!q->head)
        q->tail = NULL;
    replies_put(pool, r);
}

/* Gives every queued message back to pool and empties q (a session closing). */
void replies_drain(struct reply_queue *q, struct reply_pool *pool);

/* Frees every buffer and block of the pool and empties it. */
void replies_free(struct reply_pool *pool);

#endif
