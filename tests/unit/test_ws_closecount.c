/* test_ws_closecount.c -- ws-worker/closecount.c: which counter a close's dropped queue and a
 * close for memory go to. */
#include "test.h"

#include <string.h>

#include "../../shared/metrics.h"
#include "../../ws-worker/closecount.h"

static uint64_t value(struct metrics_record *r, enum metric m) {
    return atomic_load(&r->v[m]);
}

void test_ws_closecount(void) {
    static struct metrics_record r; /* zeroed */
    TEST("closecount: a 4401 close drops its queue as revoked, a 4008 as slow_consumer");
    closecount_add(&r, 4401, "token revoked", 3);
    closecount_add(&r, 4008, "slow consumer", 5);
    CHECK_INT((int)value(&r, METRIC_WS_QUEUE_DROPPED_REVOKED), 3);
    CHECK_INT((int)value(&r, METRIC_WS_QUEUE_DROPPED_SLOW_CONSUMER), 5);

    TEST("closecount: any other close, and a connection gone (code 0), as closed");
    closecount_add(&r, 1001, "going away", 2);
    closecount_add(&r, 0, NULL, 4);
    CHECK_INT((int)value(&r, METRIC_WS_QUEUE_DROPPED_CLOSED), 6);

    TEST("closecount: 1011 out of memory counts the close, whatever was queued");
    closecount_add(&r, 1011, CLOSECOUNT_REASON_NOMEM, 0);
    closecount_add(&r, 1011, "out of memory", 1);
    CHECK_INT((int)value(&r, METRIC_WS_OUT_OF_MEMORY), 2);
    CHECK_INT((int)value(&r, METRIC_WS_QUEUE_DROPPED_CLOSED), 7);

    TEST("closecount: 1011 for the database is no memory close; an empty queue counts nothing");
    closecount_add(&r, 1011, "database unavailable", 0);
    closecount_add(&r, 4401, "token expired", 0);
    CHECK_INT((int)value(&r, METRIC_WS_OUT_OF_MEMORY), 2);
    CHECK_INT((int)value(&r, METRIC_WS_QUEUE_DROPPED_REVOKED), 3);

    TEST("closecount: metrics off (NULL) is fine");
    closecount_add(NULL, 1011, "out of memory", 9);
    CHECK_INT((int)value(&r, METRIC_WS_OUT_OF_MEMORY), 2);
}
