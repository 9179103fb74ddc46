/* test_ws_headerlimit.c -- ws-worker/headerlimit.c: the limit of one header for each buffer
 * size, the limits handed to lws, and which lws log lines are about the head's limits.
 * (headerlimit_find() reads a parsed request: tests/integration/test_ws_headers.py.) */
#include "test.h"

#include "../../ws-worker/headerlimit.h"

static void test_per_header(void) {
    TEST("headerlimit: one header may take the buffer less a quarter, the quarter at most 2048");
    CHECK_INT(headerlimit_per_header(1024), 768);
    CHECK_INT(headerlimit_per_header(4096), 3072);
    CHECK_INT(headerlimit_per_header(8192), 6144);
    CHECK_INT(headerlimit_per_header(16384), 14336);
    CHECK_INT(headerlimit_per_header(65535), 63487);
}

static void test_fill(void) {
    TEST("headerlimit: lws gets one byte more than the limit for every header");
    struct lws_token_limits limits;
    headerlimit_fill(&limits, 4096);
    int n_right = 0;
    for (int i = 0; i < WSI_TOKEN_COUNT; i++)
        n_right += limits.token_limit[i] == 3073;
    CHECK_INT(n_right, WSI_TOKEN_COUNT);
    headerlimit_fill(&limits, 65535);
    CHECK_INT(limits.token_limit[WSI_TOKEN_HTTP_COOKIE], 63488);
}

static void test_lws_lines(void) {
    const char *msg = NULL;
    TEST("headerlimit: lws' buffer overflow is headers_too_large, said as closed unanswered");
    CHECK_STR(headerlimit_lws_line("Ran out of header data space", &msg), "headers_too_large");
    CHECK_STR(msg, "a request over TOKENAUTH_WS_MAX_HEADERS bytes was closed without an answer "
                   "(libwebsockets 4.1 allows none)");
    TEST("headerlimit: both of lws' full fragment table lines are too_many_headers");
    CHECK_STR(headerlimit_lws_line("More hdr frags than we can deal with", &msg),
              "too_many_headers");
    CHECK_STR(headerlimit_lws_line("More hdr frags than we can deal with, dropping", &msg),
              "too_many_headers");
    TEST("headerlimit: lws' note of a cut header is \"\" (logged by name elsewhere)");
    CHECK_STR(headerlimit_lws_line("header 26 exceeds limit 3073", &msg), "");
    TEST("headerlimit: any other line is none of ours");
    CHECK(headerlimit_lws_line("header 26 is fine", &msg) == NULL);
    CHECK(headerlimit_lws_line("Ran out of header data space!", &msg) == NULL);
    CHECK(headerlimit_lws_line("", &msg) == NULL);
}

void test_ws_headerlimit(void) {
    test_per_header();
    test_fill();
    test_lws_lines();
}
