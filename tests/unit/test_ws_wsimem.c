/* test_ws_wsimem.c -- ws-worker/wsimem.c: connection objects packed in the region, everything
 * else and the overflow on malloc, realloc semantics on both, a reinstall refused while busy, the
 * lowest free slot taken first whatever the order of the frees. */
#include "test.h"

#include <string.h>

#include "../../ws-worker/wsimem.h"

#define WSI "new server wsi" /* the reason lws 4.1 gives for a connection */

static void test_install(void) {
    TEST("wsimem: no slots, or absurdly many, is refused");
    CHECK_INT(wsimem_install(0), WSIMEM_ERR_ARG);
    CHECK_INT(wsimem_install((size_t)1 << 30), WSIMEM_ERR_ARG);
}

static void test_slots(void) {
    struct wsimem_stats st;
    CHECK_INT(wsimem_install(3), WSIMEM_OK);

    TEST("wsimem: connections take adjacent slots of one cache-aligned size, zeroable");
    unsigned char *a = wsimem_realloc(NULL, 1000, WSI);
    unsigned char *b = wsimem_realloc(NULL, 1000, WSI);
    CHECK(a != NULL && b != NULL);
    CHECK_INT((int)(b - a), 1024);
    memset(a, 0xab, 1000);
    memset(b, 0xcd, 1000);
    CHECK_INT(a[999], 0xab);
    wsimem_stats(&st);
    CHECK_INT((int)st.slot_size, 1024);
    CHECK_INT((int)st.in_use, 2);
    CHECK_INT((int)((unsigned long)a % 64), 0);

    TEST("wsimem: another reason, or another size, goes to malloc");
    void *other = wsimem_realloc(NULL, 1000, "user space");
    void *odd = wsimem_realloc(NULL, 2000, WSI);
    CHECK(other != NULL && odd != NULL);
    CHECK(!((unsigned char *)other >= a && (unsigned char *)other < a + 3 * 1024));
    wsimem_stats(&st);
    CHECK_INT((int)st.in_use, 2);
    CHECK_INT((int)st.overflowed, 1);

    TEST("wsimem: a freed slot is the next one taken; past the slots, malloc");
    CHECK(wsimem_realloc(b, 0, "free") == NULL);
    CHECK(wsimem_realloc(NULL, 1000, WSI) == b);
    void *c = wsimem_realloc(NULL, 1000, WSI);
    void *d = wsimem_realloc(NULL, 1000, WSI);
    CHECK(c == a + 2048);
    CHECK(d != NULL && d != a + 3072);
    wsimem_stats(&st);
    CHECK_INT((int)st.in_use, 3);
    CHECK_INT((int)st.overflowed, 2);

    TEST("wsimem: while connections live, a reinstall is refused");
    CHECK_INT(wsimem_install(3), WSIMEM_ERR_BUSY);

    TEST("wsimem: realloc within the slot keeps it; beyond it moves to malloc with the bytes");
    CHECK(wsimem_realloc(a, 500, "shrink") == a);
    unsigned char *moved = wsimem_realloc(a, 5000, "grow");
    CHECK(moved != NULL && moved != a);
    CHECK_INT(moved[0], 0xab);
    CHECK_INT(moved[999], 0xab);
    wsimem_stats(&st);
    CHECK_INT((int)st.in_use, 2);

    TEST("wsimem: malloc'd blocks are resized and freed by the same hook");
    other = wsimem_realloc(other, 4000, "grow");
    CHECK(other != NULL);
    CHECK(wsimem_realloc(other, 0, "free") == NULL);
    CHECK(wsimem_realloc(odd, 0, "free") == NULL);
    CHECK(wsimem_realloc(moved, 0, "free") == NULL);
    CHECK(wsimem_realloc(d, 0, "free") == NULL);
    CHECK(wsimem_realloc(b, 0, "free") == NULL);
    CHECK(wsimem_realloc(c, 0, "free") == NULL);
    CHECK(wsimem_realloc(NULL, 0, "nothing") == NULL);
    wsimem_stats(&st);
    CHECK_INT((int)st.in_use, 0);

    TEST("wsimem: once empty, a reinstall starts a new region");
    CHECK_INT(wsimem_install(2), WSIMEM_OK);
    wsimem_stats(&st);
    CHECK_INT((int)st.slot_size, 0);
    CHECK_INT((int)st.slots, 2);
}

/* The kernel gives the lowest free descriptor, and lws's close-time scan walks connections in
 * descriptor order: the region gives the lowest free slot, so that after any churn the slots
 * follow the descriptors again (wsimem.h). 130 slots span three words of the bitmap. */
static void test_lowest_first(void) {
    enum { SLOTS = 130 };
    unsigned char *s[SLOTS];
    struct wsimem_stats st;
    CHECK_INT(wsimem_install(SLOTS), WSIMEM_OK);

    TEST("wsimem: slots are taken lowest first, across the words of the bitmap");
    int is_in_order = 1;
    for (int i = 0; i < SLOTS; i++) {
        s[i] = wsimem_realloc(NULL, 100, WSI);
        is_in_order &= s[i] == s[0] + i * 128;
    }
    CHECK(is_in_order);
    void *past = wsimem_realloc(NULL, 100, WSI);
    wsimem_stats(&st);
    CHECK_INT((int)st.in_use, SLOTS);
    CHECK_INT((int)st.overflowed, 1);

    TEST("wsimem: after frees in any order, the lowest free slot is the next one taken");
    int freed[] = {129, 70, 3, 64, 127};
    for (size_t i = 0; i < sizeof freed / sizeof *freed; i++)
        CHECK(wsimem_realloc(s[freed[i]], 0, "free") == NULL);
    int expected[] = {3, 64, 70, 127, 129};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        CHECK(wsimem_realloc(NULL, 100, WSI) == s[expected[i]]);
    void *past_again = wsimem_realloc(NULL, 100, WSI);
    wsimem_stats(&st);
    CHECK_INT((int)st.overflowed, 2);

    TEST("wsimem: all freed, the region starts from its first slot again");
    for (int i = SLOTS - 1; i >= 0; i--)
        CHECK(wsimem_realloc(s[i], 0, "free") == NULL);
    unsigned char *first = wsimem_realloc(NULL, 100, WSI);
    CHECK(first == s[0]);
    CHECK(wsimem_realloc(first, 0, "free") == NULL);
    CHECK(wsimem_realloc(past, 0, "free") == NULL);
    CHECK(wsimem_realloc(past_again, 0, "free") == NULL);
    wsimem_stats(&st);
    CHECK_INT((int)st.in_use, 0);
}

void test_ws_wsimem(void) {
    test_install();
    test_slots();
    test_lowest_first();
}
