/* test_ws_replies.c -- ws-worker/replies.c: pooled and own buffers, growing one, copying JSON
 * in, the per-session queue's order, counts and bytes, shared replies, and the blocks that hold
 * a socket's deliveries (filling, leaving the queue, their pool and its bound). */
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

/* The oldest message of q as text ("" when q is empty). */
static const char *front_text(struct reply_queue *q, char *out, size_t max) {
    size_t len = 0;
    const char *json = replies_front(q, &len);
    if (!json || len >= max)
        len = 0;
    memcpy(out, json ? json : "", len);
    out[len] = '\0';
    return out;
}

static void test_queue(struct reply_pool *pool) {
    struct reply_queue q = {0};
    static const char *const texts[] = {"[1]", "[22]", "[333]"};
    char text[32];

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
    CHECK_STR(front_text(&q, text, sizeof text), "[1]");
    replies_drop_front(&q, pool);
    CHECK_INT(q.n_commands, 1);
    CHECK_INT(q.n_bytes, 4 + 5);
    CHECK_STR(front_text(&q, text, sizeof text), "[22]");
    replies_drop_front(&q, pool);
    CHECK_INT(q.n_commands, 1);

    TEST("replies: draining empties the queue and its counts; an empty one has no front");
    replies_drain(&q, pool);
    CHECK(q.head == NULL && q.tail == NULL);
    CHECK_INT(q.n, 0);
    CHECK_INT(q.n_commands, 0);
    CHECK_INT(q.n_bytes, 0);
    size_t len = 99;
    CHECK(replies_front(&q, &len) == NULL && len == 99);
    replies_drop_front(&q, pool); /* does nothing */
    CHECK(q.head == NULL && q.n == 0);

    TEST("replies: more than 255 replies queue without overflowing the counts");
    for (size_t i = 0; i < 300; i++) {
        struct reply *r = replies_from_text(pool, "[]", 2);
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
    char text[32];
    TEST("replies: a shared reply queued on two sockets writes its own JSON and counts its length");
    struct reply *shared = replies_shared("{\"x\":1}", 7);
    CHECK(shared && shared->n_refs == 1 && shared->len == 7);
    if (!shared)
        return;
    CHECK_INT(replies_push_shared(&a, pool, shared), 0);
    CHECK_INT(replies_push_shared(&b, pool, shared), 0);
    CHECK_INT(shared->n_refs, 3);
    CHECK_INT(a.n, 1);
    CHECK_INT(a.n_bytes, 7);
    CHECK_INT(a.n_commands, 0);
    size_t len = 0;
    CHECK(replies_front(&b, &len) == replies_json(shared) && len == 7);

    TEST("replies: a shared reply lives until its last hold is given back");
    replies_unshare(shared); /* the builder's hold */
    replies_drain(&a, pool);
    CHECK_INT(shared->n_refs, 1);
    CHECK_STR(front_text(&b, text, sizeof text), "{\"x\":1}");
    replies_drain(&b, pool); /* frees shared (ASan checks) */
    CHECK(b.head == NULL && b.n == 0 && b.n_bytes == 0);
}

/* Queues n deliveries of shared on q; returns how many were queued. */
static size_t push_n(struct reply_queue *q, struct reply_pool *pool, struct reply *shared,
                     size_t n) {
    size_t i = 0;
    while (i < n && replies_push_shared(q, pool, shared) == 0)
        i++;
    return i;
}

static void test_blocks(void) {
    struct reply_pool pool = {0};
    struct reply_queue q = {0};
    char text[32];
    struct reply *shared = replies_shared("[7]", 3);
    CHECK(shared != NULL);
    if (!shared)
        return;

    TEST("replies: consecutive deliveries share a block until it is full, then take a new one");
    CHECK_INT(push_n(&q, &pool, shared, REPLIES_BLOCK_SLOTS), REPLIES_BLOCK_SLOTS);
    CHECK(q.head == q.tail && q.head->is_block && q.head->n_slots == REPLIES_BLOCK_SLOTS);
    CHECK_INT(push_n(&q, &pool, shared, 1), 1);
    CHECK(q.head != q.tail && q.tail->is_block && q.tail->n_slots == 1);
    CHECK_INT(q.n, REPLIES_BLOCK_SLOTS + 1);
    CHECK_INT(q.n_bytes, 3 * (REPLIES_BLOCK_SLOTS + 1));
    CHECK_INT(shared->n_refs, REPLIES_BLOCK_SLOTS + 2);

    TEST("replies: a block leaves the queue, and goes to the pool, with its last delivery");
    for (size_t i = 0; i < REPLIES_BLOCK_SLOTS - 1; i++)
        replies_drop_front(&q, &pool);
    CHECK(q.head != q.tail && q.head->first == REPLIES_BLOCK_SLOTS - 1);
    CHECK_INT(pool.n_blocks, 0);
    replies_drop_front(&q, &pool);
    CHECK(q.head == q.tail && q.head->n_slots == 1);
    CHECK_INT(pool.n_blocks, 1);
    CHECK_INT(q.n, 1);
    CHECK_INT(shared->n_refs, 2);

    TEST("replies: a block taken from the pool comes back empty");
    replies_drain(&q, &pool);
    CHECK_INT(pool.n_blocks, 2);
    CHECK_INT(push_n(&q, &pool, shared, 1), 1);
    CHECK(q.head && q.head->is_block && q.head->first == 0 && q.head->n_slots == 1);
    CHECK_INT(pool.n_blocks, 1);

    TEST("replies: an answer between deliveries keeps the order; later deliveries take a new "
         "block");
    struct reply *answer = replies_from_text(&pool, "[\"a\"]", 5);
    CHECK(answer != NULL);
    if (answer)
        replies_push(&q, answer, 1);
    CHECK_INT(push_n(&q, &pool, shared, 2), 2);
    CHECK(q.tail->is_block && q.tail->n_slots == 2 && q.head->n_slots == 1);
    CHECK_INT(q.n, 4);
    CHECK_INT(q.n_commands, 1);
    CHECK_STR(front_text(&q, text, sizeof text), "[7]");
    replies_drop_front(&q, &pool);
    CHECK_STR(front_text(&q, text, sizeof text), "[\"a\"]");
    replies_drop_front(&q, &pool);
    CHECK_INT(q.n_commands, 0);
    CHECK_STR(front_text(&q, text, sizeof text), "[7]");
    replies_drain(&q, &pool);
    CHECK_INT(shared->n_refs, 1);

    TEST("replies: the pool keeps at most REPLIES_BLOCKS_MAX free blocks");
    CHECK_INT(push_n(&q, &pool, shared, (REPLIES_BLOCKS_MAX + 1) * REPLIES_BLOCK_SLOTS),
              (REPLIES_BLOCKS_MAX + 1) * REPLIES_BLOCK_SLOTS);
    CHECK_INT(pool.n_blocks, 0);
    replies_drain(&q, &pool);
    CHECK_INT(pool.n_blocks, REPLIES_BLOCKS_MAX);
    CHECK_INT(shared->n_refs, 1);

    replies_unshare(shared);
    replies_free(&pool);
    CHECK(pool.blocks == NULL && pool.n_blocks == 0);
}

void test_ws_replies(void) {
    struct reply_pool pool = {0};
    test_buffers(&pool);
    test_queue(&pool);
    test_shared(&pool);
    test_blocks();
    replies_free(&pool);
    TEST("replies: freeing the pool empties it");
    CHECK(pool.head == NULL && pool.blocks == NULL);
    CHECK_INT(pool.n, 0);
    CHECK_INT(pool.n_blocks, 0);
}
