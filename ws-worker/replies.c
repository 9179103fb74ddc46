/* replies.c -- reply buffers: the out-of-line half of replies.h.
 *
 * The pool itself (replies_get, replies_put) is inline in replies.h, being on the message path;
 * here are the rare calls: a buffer sized for one long reply, and emptying the pool at
 * PROTOCOL_DESTROY. Buffers hold JSON as commands.c made it; nothing here reads it. */
#include "replies.h"

struct reply *replies_alloc(size_t json_len) {
    struct reply *r = malloc(sizeof *r + LWS_PRE + json_len);
    if (r)
        r->is_pooled = 0;
    return r;
}

void replies_free(struct reply_pool *pool) {
    while (pool->head) {
        struct reply *r = pool->head;
        pool->head = r->next;
        free(r);
    }
    pool->n = 0;
}
