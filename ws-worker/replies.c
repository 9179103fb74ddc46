/* replies.c -- reply buffers and the per-session reply queue: the out-of-line half of replies.h.
 *
 * The pool itself (replies_get, replies_put), references and the queue (replies_ref,
 * replies_push, replies_pop) are inline in replies.h, being on the message path; here are a
 * buffer sized for one long reply, growing a reply being built into one, copying finished JSON
 * into a reply, draining a queue, and emptying the pool at PROTOCOL_DESTROY. Buffers hold
 * JSON as their producer made it; nothing here reads it. A shared reply and its references:
 * see replies.h. The queue is a singly-linked FIFO
 * through struct reply's next: push and pop are O(1) and allocate nothing. */
#include "replies.h"

#include <string.h>

struct reply *replies_alloc(size_t room) {
    struct reply *r = malloc(sizeof *r + LWS_PRE + room);
    if (r) {
        r->next = NULL;
        r->shared = NULL;
        r->len = 0;
        r->room = room;
        r->n_refs = 0;
        r->is_pooled = 0;
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

int replies_refs_grow(struct reply_pool *pool) {
    if (pool->refs_cap >= REPLIES_REFS_MAX)
        return -1;
    size_t cap = pool->refs_cap ? pool->refs_cap * 2 : 256;
    if (cap > REPLIES_REFS_MAX)
        cap = REPLIES_REFS_MAX;
    struct reply **refs = realloc(pool->refs, cap * sizeof *refs);
    if (!refs)
        return -1;
    pool->refs = refs;
    pool->refs_cap = cap;
    return 0;
}

void replies_drain(struct reply_queue *q, struct reply_pool *pool) {
    struct reply *r;
    while ((r = replies_pop(q)) != NULL)
        replies_put(pool, r);
}

void replies_free(struct reply_pool *pool) {
    while (pool->head) {
        struct reply *r = pool->head;
        pool->head = r->next;
        free(r);
    }
    pool->n = 0;
    for (size_t i = 0; i < pool->n_refs; i++)
        free(pool->refs[i]);
    free(pool->refs);
    pool->refs = NULL;
    pool->n_refs = 0;
    pool->refs_cap = 0;
}
