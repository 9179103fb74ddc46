/* test_ws_evloop.c -- ws-worker/evloop.c: TOKENAUTH_WS_EVENT_LIB names, auto's choice by the
 * process's cap, the plugin check, and a loop created and destroyed without a context. */
#include "test.h"

#include "../../ws-worker/evloop.h"

static void test_parse(void) {
    char err[512];
    enum evloop_kind kind = EVLOOP_LIBEV;

    TEST("evloop: poll needs no plugin, whatever the cap");
    CHECK_INT(evloop_parse("poll", 100000, &kind, err, sizeof err), 0);
    CHECK_INT(kind, EVLOOP_POLL);
    CHECK_STR(evloop_name(kind), "poll");

    TEST("evloop: libev loads its lws plugin (installed by install-deps.sh), whatever the cap");
    CHECK_INT(evloop_parse("libev", 10, &kind, err, sizeof err), 0);
    CHECK_INT(kind, EVLOOP_LIBEV);
    CHECK_STR(evloop_name(kind), "libev");

    TEST("evloop: auto is poll up to EVLOOP_AUTO_POLL_MAX connections, libev above");
    CHECK_INT(evloop_parse("auto", EVLOOP_AUTO_POLL_MAX, &kind, err, sizeof err), 0);
    CHECK_INT(kind, EVLOOP_POLL);
    CHECK_INT(evloop_parse("auto", 0, &kind, err, sizeof err), 0);
    CHECK_INT(kind, EVLOOP_POLL);
    CHECK_INT(evloop_parse("auto", EVLOOP_AUTO_POLL_MAX + 1, &kind, err, sizeof err), 0);
    CHECK_INT(kind, EVLOOP_LIBEV);

    TEST("evloop: another name is refused, naming the setting and what is accepted");
    CHECK_INT(evloop_parse("epoll", 0, &kind, err, sizeof err), EVLOOP_ERR_NAME);
    CHECK_STR(err, "TOKENAUTH_WS_EVENT_LIB \"epoll\": expected auto, poll or libev");
    CHECK_INT(evloop_parse("", 0, &kind, err, sizeof err), EVLOOP_ERR_NAME);
    CHECK_INT(evloop_parse("LIBEV", 0, &kind, err, sizeof err), EVLOOP_ERR_NAME);
    CHECK_INT(evloop_parse("libuv", 0, &kind, err, sizeof err), EVLOOP_ERR_NAME);
}

static void test_create(void) {
    struct evloop *loop = (struct evloop *)1;

    TEST("evloop: poll creates nothing");
    CHECK_INT(evloop_create(EVLOOP_POLL, &loop), 0);
    CHECK(loop == NULL);
    evloop_destroy(NULL, NULL);

    TEST("evloop: a libev loop is created and destroyed");
    CHECK_INT(evloop_create(EVLOOP_LIBEV, &loop), 0);
    CHECK(loop != NULL);
    evloop_destroy(loop, NULL);
}

void test_ws_evloop(void) {
    test_parse();
    test_create();
}
