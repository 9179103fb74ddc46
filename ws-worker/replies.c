/* replies.c -- reply buffers and the per-session reply queue: the out-of-line half of replies.h.
 *
 * The pool itself (replies_get, replies_put) and the queue (replies_push, replies_push_shared,
 * replies_front, replies_drop_front) are inline in replies.h, being on the message path; here
 * are a block taken when the pool has none (once per REPLIES_BLOCK_SLOTS deliveries at most), a
 * buffer sized for one long reply, growing a reply being built into one, copying finished JSON
 * into a reply, draining a queue, and emptying the pool at PROTOCOL_DESTROY. Buffers hold JSON
 * as their producer made it; nothing here reads it. A shared reply and the blocks holding it:
 * see replies.h. The queue is a singly-linked FIFO through struct reply's next: push and drop
 * are O(1), and allocate nothing once the pool holds a block. */
#include "replies.h"

#include <string.h>

/* The header of a block (sizeof(struct reply) bytes, then the slots) is 8-byte aligned. */
_Static_assert(sizeof(struct reply) % sizeof(struct reply *) == 0, "slots follow the header");

struct reply *replies_block(struct reply_pool *pool) {
    struct reply *b = pool->blocks;
    if (b) {
        pool->blocks = b->next;
        pool->n_blocks--;
    } else if ((b = malloc(sizeof *b + REPLIES_BLOCK_SLOTS * sizeof(struct reply *))) != NULL) {
        b->len = 0;
        b->room = 0;
        b->n_refs = 0;
        b->is_pooled = 0;
        b->is_command = 0;
        b->is_block = 1;
    }
    if (b) {
        b->next = NULL;
        b->first = 0;
        b->n_slots = 0;
    }
    return b;
}

struct reply *replies_alloc(size_t room) {
    struct reply *r = malloc(sizeof *r + LWS_PRE + room);
    if (r) {
        r->next = NULL;
        r->len = 0;
        r->room = room;
        r->n_refs = 0;
        r->is_pooled = 0;
        r->is_block = 0;
    }
    return r;
}

struct reply *replies_grow(struct reply_pool *pool, struct reply *r, size_t room) {
    if (room <= r->room)
        return r;
    struct reply *own = replies_alloc(room);
    if (own) {
        memcpy(replies_json(own), replies_json(r), r->len);
        own->len = r->len;
    }
    replies_put(pool, r);
    return own;
}

struct reply *replies_from_text(struct reply_pool *pool, const char *json, size_t len) {
    struct reply *r = len <= REPLIES_ROOM ? replies_get(pool) : replies_alloc(len);
    if (r) {
        memcpy(replies_json(r), json, len);
        r->len = len;
    }
    return r;
}

struct reply *replies_shared(const char *json, size_t len) {
    struct reply *r = replies_alloc(len);
    if (r) {
        memcpy(replies_json(r), json, len);
        r->len = len;
        r->n_refs = 1;
    }
    return r;
}

void replies_drain(struct reply_queue *q, struct reply_pool *pool) {
    while (q->head)
        replies_drop_front(q, pool);
}

void replies_free(struct reply_pool *pool) {
    while (pool->head) {
        struct reply *r = pool->head;
        pool->head = r->next;
        free(r);
    }
    pool->n = 0;
    while (pool->blocks) {
        struct reply *b = pool->blocks;
        pool->blocks = b->next;
        free(b);
    }
    pool->n_blocks = 0;
}
