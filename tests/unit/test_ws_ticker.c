/* test_ws_ticker.c -- ws-worker/ticker.c: the timerfd is readable at its due time and not before,
 * an earlier due time wins, a fired one is disarmed, and the errors are reported. */
#include "test.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "../../shared/clock.h"
#include "../../ws-worker/ticker.h"

/* Whether the ticker's fd becomes readable within ms. */
static int readable_within(const struct ticker *t, int ms) {
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void test_arming(struct ticker *t) {
    TEST("ticker: opened disarmed; nothing to read before it is armed");
    CHECK(t->fd >= 0);
    CHECK(t->due_ms == 0);
    CHECK_INT(ticker_fired(t), 0);

    TEST("ticker: an earlier due time replaces a later one, a later one keeps the earlier");
    int64_t now = clock_monotonic_ms();
    CHECK_INT(ticker_arm(t, now + 5000), 0);
    CHECK(t->due_ms == now + 5000);
    CHECK_INT(ticker_arm(t, now + 40), 0);
    CHECK(t->due_ms == now + 40);
    CHECK_INT(ticker_arm(t, now + 3000), 0);
    CHECK(t->due_ms == now + 40);

    TEST("ticker: readable at its due time, not before; reading it disarms it");
    /* Not readable yet, unless this process was kept waiting past the due time meanwhile (a
     * loaded host does that for 40 ms): then the clock says it is due. */
    CHECK(!readable_within(t, 0) || clock_monotonic_ms() >= now + 40);
    CHECK(readable_within(t, 2000));
    CHECK(clock_monotonic_ms() >= now + 40);
    CHECK_INT(ticker_fired(t), 1);
    CHECK(t->due_ms == 0);
    CHECK_INT(ticker_fired(t), 0);

    TEST("ticker: a due time already past (or 0) fires at once");
    CHECK_INT(ticker_arm(t, clock_monotonic_ms() - 1000), 0);
    CHECK(readable_within(t, 1000));
    CHECK_INT(ticker_fired(t), 1);
    CHECK_INT(ticker_arm(t, 0), 0);
    CHECK(t->due_ms == 1);
    CHECK(readable_within(t, 1000));
    CHECK_INT(ticker_fired(t), 1);
}

void test_ws_ticker(void) {
    struct ticker t;
    CHECK_INT(ticker_open(&t), 0);
    test_arming(&t);

    TEST("ticker: closing one lws owns leaves its fd open; closing our own closes it");
    int fd = t.fd;
    ticker_close(&t, 1);
    CHECK(t.fd == -1);
    CHECK(fcntl(fd, F_GETFD) >= 0);
    t.fd = fd;
    ticker_close(&t, 0);
    CHECK(fcntl(fd, F_GETFD) == -1);

    TEST("ticker: arming a closed one fails and keeps no due time");
    struct ticker bad = {.fd = -1, .due_ms = 0};
    CHECK_INT(ticker_arm(&bad, clock_monotonic_ms() + 10), -1);
    CHECK(bad.due_ms == 0);
    CHECK_INT(ticker_fired(&bad), 0);
}
