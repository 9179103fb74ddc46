/* test_ws_addrlimit.c -- ws-worker/addrlimit.c: address keys, the pending limit, failures per
 * window with Retry-After, episodes reported once at each end, and a table that stays bounded
 * (eviction of idle entries, refusal to evict entries with handshakes in progress). */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "../../ws-worker/addrlimit.h"

/* What the report function saw. */
struct seen {
    int n[5];     /* reports per kind */
    long refused; /* the count of the last *_OVER report */
};

static void on_report(const struct addrlimit_entry *e, int kind, void *arg) {
    struct seen *seen = arg;
    seen->n[kind]++;
    if (kind == ADDRLIMIT_PENDING_OVER)
        seen->refused = e->n_refused_pending;
    if (kind == ADDRLIMIT_AUTH_OVER)
        seen->refused = e->n_refused_auth;
}

static void key_v4(const char *text, unsigned char key[16]) {
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, text, &in.sin_addr);
    addrlimit_key((struct sockaddr *)&in, key);
}

static void test_keys(void) {
    unsigned char a[16], b[16];
    char text[ADDRLIMIT_ADDR_TEXT];
    struct addrlimit_entry e = {0};

    TEST("addrlimit: an IPv4 address is kept and shown as itself");
    key_v4("127.0.0.2", e.addr);
    addrlimit_format(&e, text, sizeof text);
    CHECK_STR(text, "127.0.0.2");

    TEST("addrlimit: IPv6 addresses of one /64 share a key, shown as the /64");
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8:1:2::1", &in6.sin6_addr);
    CHECK_INT(addrlimit_key((struct sockaddr *)&in6, a), 0);
    inet_pton(AF_INET6, "2001:db8:1:2:ffff::9", &in6.sin6_addr);
    addrlimit_key((struct sockaddr *)&in6, b);
    CHECK(memcmp(a, b, 16) == 0);
    memcpy(e.addr, a, 16);
    addrlimit_format(&e, text, sizeof text);
    CHECK_STR(text, "2001:db8:1:2::/64");

    TEST("addrlimit: another family has no key");
    struct sockaddr other = {.sa_family = AF_UNIX};
    CHECK_INT(addrlimit_key(&other, a), -1);
}

static void test_pending(void) {
    struct addrlimit t;
    struct seen seen = {0};
    unsigned char key[16];
    CHECK_INT(addrlimit_init(&t, 64, 2, 0, 60, 1), 0);
    t.report = on_report;
    t.report_arg = &seen;
    key_v4("127.0.0.2", key);

    TEST("addrlimit: past max_pending a connection is refused; the episode is reported once");
    struct addrlimit_entry *e = addrlimit_get(&t, key, 0);
    CHECK(e != NULL);
    if (!e)
        return;
    CHECK_INT(addrlimit_begin(&t, e, 0), 0);
    CHECK_INT(addrlimit_begin(&t, e, 0), 0);
    CHECK_INT(addrlimit_begin(&t, e, 1), ADDRLIMIT_ERR_PENDING);
    CHECK_INT(addrlimit_begin(&t, e, 2), ADDRLIMIT_ERR_PENDING);
    CHECK_INT(seen.n[ADDRLIMIT_PENDING_BEGIN], 1);

    TEST("addrlimit: a finished handshake makes room; the same entry is found again");
    addrlimit_end(e);
    CHECK(addrlimit_get(&t, key, 3) == e);
    CHECK_INT(addrlimit_begin(&t, e, 3), 0);

    TEST("addrlimit: the episode ends after ADDRLIMIT_QUIET_MS without refusal, with its count");
    addrlimit_sweep(&t, 2 + ADDRLIMIT_QUIET_MS - 1);
    CHECK_INT(seen.n[ADDRLIMIT_PENDING_OVER], 0);
    addrlimit_sweep(&t, 2 + ADDRLIMIT_QUIET_MS);
    CHECK_INT(seen.n[ADDRLIMIT_PENDING_OVER], 1);
    CHECK_INT(seen.refused, 2);
    addrlimit_free(&t);
}

static void test_failures(void) {
    struct addrlimit t;
    struct seen seen = {0};
    unsigned char key[16];
    CHECK_INT(addrlimit_init(&t, 64, 0, 3, 10, 2), 0);
    t.report = on_report;
    t.report_arg = &seen;
    key_v4("127.0.0.3", key);
    struct addrlimit_entry *e = addrlimit_get(&t, key, 1000);
    if (!e)
        return;

    TEST("addrlimit: below max_failures nothing waits; reaching it begins one episode");
    addrlimit_fail(&t, e, 1000);
    addrlimit_fail(&t, e, 2000);
    CHECK_INT(addrlimit_auth_wait_s(&t, e, 2000), 0);
    addrlimit_fail(&t, e, 3000);
    CHECK_INT(seen.n[ADDRLIMIT_AUTH_BEGIN], 1);

    TEST("addrlimit: Retry-After is the rest of the window, rounded up");
    CHECK_INT(addrlimit_auth_wait_s(&t, e, 3000), 8);
    CHECK_INT(addrlimit_auth_wait_s(&t, e, 10999), 1);

    TEST("addrlimit: the window over, the next attempt ends the episode with its count");
    CHECK_INT(addrlimit_auth_wait_s(&t, e, 11000), 0);
    CHECK_INT(seen.n[ADDRLIMIT_AUTH_OVER], 1);
    CHECK_INT(seen.refused, 2);

    TEST("addrlimit: failures spread over windows never reach the limit");
    addrlimit_fail(&t, e, 20000);
    addrlimit_fail(&t, e, 21000);
    addrlimit_fail(&t, e, 31000);
    CHECK_INT(addrlimit_auth_wait_s(&t, e, 31000), 0);

    TEST("addrlimit: max_failures 0 is off");
    t.max_failures = 0;
    for (int i = 0; i < 10; i++)
        addrlimit_fail(&t, e, 40000);
    CHECK_INT(addrlimit_auth_wait_s(&t, e, 40000), 0);
    addrlimit_free(&t);
}

static void test_bounded(void) {
    struct addrlimit t;
    struct seen seen = {0};
    unsigned char key[16], blocked[16];
    char text[32];
    CHECK_INT(addrlimit_init(&t, ADDRLIMIT_PROBE, 1, 1, 600, 3), 0);
    t.report = on_report;
    t.report_arg = &seen;

    TEST("addrlimit: a table of ADDRLIMIT_PROBE entries takes 1,000 idle addresses");
    int n_tracked = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof text, "10.0.%d.%d", i / 250, i % 250 + 1);
        key_v4(text, key);
        n_tracked += addrlimit_get(&t, key, i) != NULL;
    }
    CHECK_INT(n_tracked, 1000);
    CHECK_INT(t.n_entries, ADDRLIMIT_PROBE);

    TEST("addrlimit: an address in an auth episode outlives idle ones");
    key_v4("127.0.0.3", blocked);
    addrlimit_fail(&t, addrlimit_get(&t, blocked, 2000), 2000);
    for (int i = 0; i < 100; i++) {
        snprintf(text, sizeof text, "10.1.0.%d", i + 1);
        key_v4(text, key);
        addrlimit_get(&t, key, 3000 + i);
    }
    struct addrlimit_entry *e = addrlimit_get(&t, blocked, 4000);
    CHECK(e && addrlimit_auth_wait_s(&t, e, 4000) > 0);

    TEST("addrlimit: entries with handshakes in progress are never taken: NULL instead");
    for (int i = 0; i < ADDRLIMIT_PROBE; i++) {
        snprintf(text, sizeof text, "10.2.0.%d", i + 1);
        key_v4(text, key);
        struct addrlimit_entry *busy = addrlimit_get(&t, key, 5000);
        CHECK(busy && addrlimit_begin(&t, busy, 5000) == 0);
    }
    key_v4("10.3.0.1", key);
    CHECK(addrlimit_get(&t, key, 6000) == NULL);
    CHECK_INT(seen.n[ADDRLIMIT_AUTH_OVER], 1); /* 127.0.0.3 was forgotten: its episode ended */
    addrlimit_free(&t);

    TEST("addrlimit: a table that could not be allocated tracks nothing");
    struct addrlimit empty = {0};
    CHECK(addrlimit_get(&empty, key, 0) == NULL);
    addrlimit_free(&empty);
}

void test_ws_addrlimit(void) {
    test_keys();
    test_pending();
    test_failures();
    test_bounded();
}
