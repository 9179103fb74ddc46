/* replies.c -- reply buffers and the per-session reply queue: the out-of-line half of replies.h.
 *
 * The pool itself (replies_get, replies_put) is inline in replies.h, being on the message path;
 * here are a buffer sized for one long reply, growing a reply being built into one, copying
 * finished JSON into a reply, the queue, and emptying the pool at PROTOCOL_DESTROY. Buffers hold
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

struct reply *replies_ref(struct reply_pool *pool, struct reply *shared) {
    struct reply *r = pool->refs;
    if (r) {
        pool->refs = r->next;
        pool->n_refs--;
        if (pool->refs) /* the next member's reference: its line comes in meanwhile */
            __builtin_prefetch(pool->refs, 1);
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

void replies_push(struct reply_queue *q, struct reply *r, int is_command) {
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

struct reply *replies_pop(struct reply_queue *q) {
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
