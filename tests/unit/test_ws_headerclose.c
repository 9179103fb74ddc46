/* test_ws_headerclose.c -- ws-worker/headerclose.c: lws' lines about a request it closed over its
 * head, counted and logged once per request, by reason. */
#include "test.h"

#include "../../shared/metrics.h"
#include "../../ws-worker/headerclose.h"

static int value(struct metrics_record *r, enum metric m) {
    return (int)atomic_load(&r->v[m]);
}

void test_ws_headerclose(void) {
    static struct metrics_record r; /* zeroed */
    struct headerclose c = {.metrics = &r};
    TEST("headerclose: 1. the first line of a request is counted and to be logged");
    CHECK_INT(headerclose_line(&c, "headers_too_large"), 1);
    CHECK_INT(value(&r, METRIC_WS_REFUSED_HEADERS_TOO_LARGE), 1);

    TEST("headerclose: 2. the 8 more lws may write for the same request are neither");
    int n_more = 0;
    for (int i = 0; i < 8; i++)
        n_more += headerclose_line(&c, "headers_too_large");
    CHECK_INT(n_more, 0);
    CHECK_INT(value(&r, METRIC_WS_REFUSED_HEADERS_TOO_LARGE), 1);

    TEST("headerclose: 3. after a callback of ours, a line is another request's");
    headerclose_next(&c);
    CHECK_INT(headerclose_line(&c, "headers_too_large"), 1);
    CHECK_INT(value(&r, METRIC_WS_REFUSED_HEADERS_TOO_LARGE), 2);

    TEST("headerclose: 4. too_many_headers has its own reason");
    headerclose_next(&c);
    CHECK_INT(headerclose_line(&c, "too_many_headers"), 1);
    CHECK_INT(value(&r, METRIC_WS_REFUSED_TOO_MANY_HEADERS), 1);
    CHECK_INT(value(&r, METRIC_WS_REFUSED_HEADERS_TOO_LARGE), 2);

    TEST("headerclose: 5. metrics off (NULL): still told to log once per request");
    struct headerclose off = {0};
    CHECK_INT(headerclose_line(&off, "too_many_headers"), 1);
    CHECK_INT(headerclose_line(&off, "too_many_headers"), 0);
}
