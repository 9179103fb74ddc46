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
    while (pool->refs) {
        struct reply *r = pool->refs;
        pool->refs = r->next;
        free(r);
    }
    pool->n_refs = 0;
}
