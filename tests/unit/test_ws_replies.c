/* test_ws_replies.c -- ws-worker/replies.c: pooled and own buffers, growing one, copying JSON
 * in, the per-session queue's order, counts and bytes, shared replies and the stack of free
 * references. */
#include "test.h"

#include "../../ws-worker/replies.h"

static void test_buffers(struct reply_pool *pool) {
    char big[REPLIES_ROOM + 100];
    memset(big, 'x', sizeof big);

    TEST("replies: JSON that fits is copied into a pooled buffer, longer JSON into its own size");
    struct reply *r = replies_from_text(pool, "{}", 2);
    CHECK(r && r->is_pooled && r->len == 2 && memcmp(replies_json(r), "{}", 2) == 0);
    if (r)
        replies_put(pool, r);
    r = replies_from_text(pool, big, REPLIES_ROOM);
    CHECK(r && r->is_pooled && r->len == REPLIES_ROOM);
    if (r)
        replies_put(pool, r);
    r = replies_from_text(pool, big, sizeof big);
    CHECK(r && !r->is_pooled && r->len == sizeof big && r->room == sizeof big);
    CHECK(r && memcmp(replies_json(r), big, sizeof big) == 0);
    if (r)
        replies_put(pool, r);

    TEST("replies: a pooled buffer comes back empty from the pool");
    size_t n_free = pool->n;
    r = replies_get(pool);
    CHECK(r && r->len == 0 && r->room == REPLIES_ROOM && r->next == NULL);
    CHECK_INT(pool->n, n_free - 1);

    TEST("replies: growing keeps the JSON so far and gives the pooled buffer back");
    memcpy(replies_json(r), "{\"a\":", 5);
    r->len = 5;
    CHECK(replies_grow(pool, r, REPLIES_ROOM) == r);
    r = replies_grow(pool, r, 3 * REPLIES_ROOM);
    CHECK(r && !r->is_pooled && r->room == 3 * REPLIES_ROOM && r->len == 5);
    CHECK(r && memcmp(replies_json(r), "{\"a\":", 5) == 0);
    CHECK_INT(pool->n, n_free);
    if (r)
        replies_put(pool, r);
}

static void test_queue(struct reply_pool *pool) {
    struct reply_queue q = {0};
    static const char *const texts[] = {"[1]", "[22]", "[333]"};

    TEST("replies: the queue is first in, first out, counting replies, answers and bytes");
    for (size_t i = 0; i < 3; i++) {
        struct reply *r = replies_from_text(pool, texts[i], strlen(texts[i]));
        CHECK(r != NULL);
        if (r)
            replies_push(&q, r, i != 1); /* the second one a delivery */
    }
    CHECK_INT(q.n, 3);
    CHECK_INT(q.n_commands, 2);
    CHECK_INT(q.n_bytes, 3 + 4 + 5);
    struct reply *r = replies_pop(&q);
    CHECK(r && r->len == 3 && memcmp(replies_json(r), "[1]", 3) == 0);
    CHECK_INT(q.n_commands, 1);
    CHECK_INT(q.n_bytes, 4 + 5);
    replies_put(pool, r);
    r = replies_pop(&q);
    CHECK(r && r->len == 4 && !r->is_command);
    CHECK_INT(q.n_commands, 1);
    replies_put(pool, r);

    TEST("replies: draining empties the queue and its counts, popping an empty one gives NULL");
    replies_drain(&q, pool);
    CHECK(q.head == NULL && q.tail == NULL);
    CHECK_INT(q.n, 0);
    CHECK_INT(q.n_commands, 0);
    CHECK_INT(q.n_bytes, 0);
    CHECK(replies_pop(&q) == NULL);

    TEST("replies: more than 255 replies queue without overflowing the counts");
    for (size_t i = 0; i < 300; i++) {
        r = replies_from_text(pool, "[]", 2);
        if (r)
            replies_push(&q, r, 1);
    }
    CHECK_INT(q.n, 300);
    CHECK_INT(q.n_commands, 300);
    CHECK_INT(q.n_bytes, 600);
    replies_drain(&q, pool);
    CHECK_INT(q.n, 0);
    CHECK_INT(pool->n, REPLIES_POOL_MAX);
}

static void test_shared(struct reply_pool *pool) {
    struct reply_queue a = {0}, b = {0};
    TEST("replies: a shared reply's references write its JSON and count its length");
    struct reply *shared = replies_shared("{\"x\":1}", 7);
    CHECK(shared && shared->n_refs == 1 && shared->len == 7);
    struct reply *ra = replies_ref(pool, shared), *rb = replies_ref(pool, shared);
    CHECK(ra && rb && shared->n_refs == 3);
    CHECK(ra && ra->len == 7 && replies_json(ra) == replies_json(shared));
    replies_push(&a, ra, 0);
    replies_push(&b, rb, 0);
    CHECK_INT(a.n_bytes, 7);
    CHECK_INT(b.n_bytes, 7);

    TEST("replies: a shared reply lives until its last reference is given back");
    replies_unshare(shared); /* the builder's hold */
    replies_drain(&a, pool);
    CHECK_INT(shared->n_refs, 1);
    CHECK(memcmp(replies_json(b.head), "{\"x\":1}", 7) == 0);
    replies_drain(&b, pool); /* frees shared (ASan checks) */

    TEST("replies: references given back go to the reference pool");
    CHECK_INT(pool->n_refs, 2);
    shared = replies_shared("[]", 2);
    ra = shared ? replies_ref(pool, shared) : NULL;
    CHECK(ra && ra->shared == shared && ra->len == 2);
    CHECK_INT(pool->n_refs, 1);
    if (ra)
        replies_put(pool, ra);
    if (shared)
        replies_unshare(shared);
}

static void test_refs_stack(void) {
    struct reply_pool pool = {0};
    TEST("replies: the stack of free references grows by doubling up to REPLIES_REFS_MAX");
    CHECK_INT(replies_refs_grow(&pool), 0);
    CHECK_INT(pool.refs_cap, 256);
    CHECK_INT(replies_refs_grow(&pool), 0);
    CHECK_INT(pool.refs_cap, 512);
    while (pool.refs_cap < REPLIES_REFS_MAX)
        CHECK_INT(replies_refs_grow(&pool), 0);
    CHECK_INT(pool.refs_cap, REPLIES_REFS_MAX);

    TEST("replies: at REPLIES_REFS_MAX the stack does not grow, and stays as it was");
    struct reply **refs = pool.refs;
    CHECK_INT(replies_refs_grow(&pool), -1);
    CHECK(pool.refs == refs && pool.refs_cap == REPLIES_REFS_MAX);

    TEST("replies: references come back off the stack newest first");
    struct reply *shared = replies_shared("1", 1);
    struct reply *a = shared ? replies_ref(&pool, shared) : NULL;
    struct reply *b = shared ? replies_ref(&pool, shared) : NULL;
    CHECK(a && b);
    if (a && b) {
        replies_put(&pool, a);
        replies_put(&pool, b);
        CHECK_INT(pool.n_refs, 2);
        struct reply *c = replies_ref(&pool, shared);
        CHECK(c == b);
        replies_put(&pool, c);
    }
    if (shared)
        replies_unshare(shared);
    replies_free(&pool);
    CHECK(pool.refs == NULL && pool.n_refs == 0 && pool.refs_cap == 0);
}

void test_ws_replies(void) {
    struct reply_pool pool = {0};
    test_buffers(&pool);
    test_queue(&pool);
    test_shared(&pool);
    test_refs_stack();
    replies_free(&pool);
    TEST("replies: freeing the pool empties it");
    CHECK(pool.head == NULL && pool.refs == NULL);
    CHECK_INT(pool.n, 0);
    CHECK_INT(pool.n_refs, 0);
}
