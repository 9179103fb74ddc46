/* test_keepalive.c -- ws-worker/keepalive.c: the lists keep their order, hearing from a peer
 * moves it, due links are pinged then dropped, removal works in every state, interval 0 turns it
 * off, and a sweep looks at the due links only (counted, not timed: the clock is a parameter). */
#include "test.h"

#include "../../ws-worker/keepalive.h"

#define N_LINKS 1000

/* What the callbacks saw: the links handed over, in order. */
struct seen {
    struct keepalive_link *pinged[N_LINKS], *dropped[N_LINKS];
    size_t n_pinged, n_dropped;
};

static void on_ping(struct keepalive_link *link, void *arg) {
    struct seen *s = arg;
    s->pinged[s->n_pinged++] = link;
}

static void on_drop(struct keepalive_link *link, void *arg) {
    struct seen *s = arg;
    s->dropped[s->n_dropped++] = link;
}

static size_t sweep(struct keepalive *ka, int64_t now_ms, struct seen *s) {
    return keepalive_sweep(ka, now_ms, on_ping, on_drop, s);
}

static void test_order(void) {
    struct keepalive ka;
    struct keepalive_link a = {0}, b = {0}, c = {0};
    struct seen s = {0};
    keepalive_init(&ka, 30000, 10000);

    TEST("1. keepalive: added links wait in the quiet list in the order they came");
    keepalive_add(&ka, &a, 1000);
    keepalive_add(&ka, &b, 2000);
    keepalive_add(&ka, &c, 3000);
    CHECK_INT(ka.quiet.n, 3);
    CHECK(ka.quiet.head == &a && ka.quiet.tail == &c);
    CHECK_INT(a.state, KEEPALIVE_QUIET);
    CHECK_INT(keepalive_next_due_ms(&ka), 31000);

    TEST("2. keepalive: adding a watched link again changes nothing");
    keepalive_add(&ka, &a, 5000);
    CHECK_INT(ka.quiet.n, 3);
    CHECK_INT(a.since_ms, 1000);

    TEST("3. keepalive: hearing from the oldest moves it last; the next due is the new head");
    keepalive_heard(&ka, &a, 4000);
    CHECK(ka.quiet.head == &b && ka.quiet.tail == &a && b.next == &c && c.next == &a);
    CHECK_INT(keepalive_next_due_ms(&ka), 32000);

    TEST("4. keepalive: hearing from the last link only updates its time");
    keepalive_heard(&ka, &a, 4500);
    CHECK(ka.quiet.tail == &a && a.prev == &c);
    CHECK_INT(a.since_ms, 4500);

    TEST("5. keepalive: nothing is due before the interval; nothing is handed over");
    CHECK_INT(sweep(&ka, 31999, &s), 0);
    CHECK_INT(s.n_pinged + s.n_dropped, 0);
}

static void test_ping_and_drop(void) {
    struct keepalive ka;
    struct keepalive_link a = {0}, b = {0}, c = {0};
    struct seen s = {0};
    keepalive_init(&ka, 30000, 10000);
    keepalive_add(&ka, &a, 0);
    keepalive_add(&ka, &b, 1000);
    keepalive_add(&ka, &c, 2000);

    TEST("6. keepalive: the links silent for the interval are pinged, oldest first, once");
    CHECK_INT(sweep(&ka, 31000, &s), 2);
    CHECK_INT(s.n_pinged, 2);
    CHECK(s.pinged[0] == &a && s.pinged[1] == &b);
    CHECK_INT(a.state, KEEPALIVE_PINGED);
    CHECK_INT(ka.pinged.n, 2);
    CHECK_INT(ka.quiet.n, 1);
    CHECK_INT(sweep(&ka, 31000, &s), 0);
    CHECK_INT(keepalive_next_due_ms(&ka), 32000); /* c's ping comes before a's drop */

    TEST("7. keepalive: a pinged peer that answers goes back to the quiet tail");
    keepalive_heard(&ka, &b, 35000);
    CHECK_INT(b.state, KEEPALIVE_QUIET);
    CHECK(ka.quiet.tail == &b && ka.pinged.n == 1 && ka.pinged.head == &a);

    TEST("8. keepalive: a pinged link silent for the timeout is taken out and dropped");
    CHECK_INT(sweep(&ka, 40999, &s), 1); /* c pinged at 40999; a due at 41000 */
    CHECK(s.pinged[2] == &c);
    CHECK_INT(s.n_dropped, 0);
    CHECK_INT(sweep(&ka, 41000, &s), 1);
    CHECK_INT(s.n_dropped, 1);
    CHECK(s.dropped[0] == &a);
    CHECK_INT(a.state, KEEPALIVE_OFF);
    CHECK(a.prev == NULL && a.next == NULL);
    CHECK(ka.pinged.head == &c);

    TEST("9. keepalive: a dropped link is not heard again nor removed twice");
    keepalive_heard(&ka, &a, 42000);
    keepalive_remove(&ka, &a);
    CHECK_INT(a.state, KEEPALIVE_OFF);
    CHECK_INT(ka.quiet.n + ka.pinged.n, 2);

    TEST("10. keepalive: pinged and quiet at the same sweep: the new ping is not judged yet");
    struct keepalive kb;
    struct keepalive_link d = {0};
    struct seen t = {0};
    keepalive_init(&kb, 1000, 1);
    keepalive_add(&kb, &d, 0);
    CHECK_INT(sweep(&kb, 5000, &t), 1);
    CHECK_INT(t.n_pinged, 1);
    CHECK_INT(t.n_dropped, 0);
    CHECK_INT(sweep(&kb, 5001, &t), 1);
    CHECK_INT(t.n_dropped, 1);
    CHECK_INT(keepalive_next_due_ms(&kb), 0);
}

static void test_remove(void) {
    struct keepalive ka;
    struct keepalive_link a = {0}, b = {0}, c = {0}, p = {0}, q = {0};
    struct seen s = {0};
    keepalive_init(&ka, 1000, 1000);
    keepalive_add(&ka, &p, 0);
    keepalive_add(&ka, &q, 0);
    CHECK_INT(sweep(&ka, 1000, &s), 2);
    keepalive_add(&ka, &a, 1000);
    keepalive_add(&ka, &b, 1000);
    keepalive_add(&ka, &c, 1000);

    TEST("11. keepalive: removing the middle, the head and the tail of the quiet list");
    keepalive_remove(&ka, &b);
    CHECK(ka.quiet.head == &a && a.next == &c && c.prev == &a);
    keepalive_remove(&ka, &a);
    CHECK(ka.quiet.head == &c && c.prev == NULL);
    keepalive_remove(&ka, &c);
    CHECK(ka.quiet.head == NULL && ka.quiet.tail == NULL && ka.quiet.n == 0);
    CHECK_INT(b.state + a.state + c.state, KEEPALIVE_OFF);

    TEST("12. keepalive: removing pinged links; the lists are then empty");
    keepalive_remove(&ka, &q);
    CHECK(ka.pinged.head == &p && ka.pinged.tail == &p);
    keepalive_remove(&ka, &p);
    CHECK(ka.pinged.head == NULL && ka.pinged.tail == NULL && ka.pinged.n == 0);
    CHECK_INT(keepalive_next_due_ms(&ka), 0);
    CHECK_INT(sweep(&ka, 100000, &s), 0);

    TEST("13. keepalive: a removed link can be watched again (a fresh add)");
    keepalive_add(&ka, &a, 200000);
    CHECK(ka.quiet.head == &a && a.state == KEEPALIVE_QUIET);

    TEST("14. keepalive: a link never added is left alone by heard and remove");
    struct keepalive_link never = {0};
    keepalive_heard(&ka, &never, 1);
    keepalive_remove(&ka, &never);
    CHECK_INT(never.state, KEEPALIVE_OFF);
    CHECK_INT(ka.quiet.n, 1);
}

static void test_off(void) {
    struct keepalive ka;
    struct keepalive_link a = {0};
    struct seen s = {0};

    TEST("15. keepalive: interval 0 watches nothing and never pings");
    keepalive_init(&ka, 0, 10000);
    keepalive_add(&ka, &a, 0);
    keepalive_heard(&ka, &a, 1);
    CHECK_INT(a.state, KEEPALIVE_OFF);
    CHECK_INT(ka.quiet.n, 0);
    CHECK_INT(sweep(&ka, INT64_MAX / 2, &s), 0);
    CHECK_INT(keepalive_next_due_ms(&ka), 0);
    CHECK_INT(ka.n_examined, 0);

    TEST("16. keepalive: a negative interval is off too");
    keepalive_init(&ka, -5, 10);
    CHECK_INT(ka.interval_ms, 0);
}

static void test_sweep_cost(void) {
    static struct keepalive_link links[N_LINKS];
    static struct seen s;
    struct keepalive ka;
    keepalive_init(&ka, 30000, 10000);
    for (int i = 0; i < N_LINKS; i++)
        keepalive_add(&ka, &links[i], i); /* one a millisecond */

    TEST("17. keepalive: a sweep with 3 of 1000 due looks at those 3 and one more head");
    ka.n_examined = 0;
    CHECK_INT(sweep(&ka, 30002, &s), 3);
    CHECK_INT(ka.n_examined, 4);

    TEST("18. keepalive: a sweep with nothing due looks at one head per list");
    ka.n_examined = 0;
    CHECK_INT(sweep(&ka, 30002, &s), 0);
    CHECK_INT(ka.n_examined, 2);

    TEST("19. keepalive: hearing from 500 peers touches no other link and keeps the order");
    for (int i = 0; i < 500; i++)
        keepalive_heard(&ka, &links[999 - i], 31000 + i);
    CHECK(ka.quiet.head == &links[3] && ka.quiet.tail == &links[500]);
    ka.n_examined = 0;
    CHECK_INT(sweep(&ka, 30499, &s), 497); /* links 3..499 (0..2 are pinged already) */
    CHECK_INT(ka.n_examined, 497 + 2);
    CHECK(ka.quiet.head == &links[999]);
}

void test_keepalive(void) {
    test_order();
    test_ping_and_drop();
    test_remove();
    test_off();
    test_sweep_cost();
}
