/* fuzz_ws_replychan.c -- libFuzzer harness for ws-worker/replychan.c and forward.c's delivery:
 * the input is a publication on the pub/sub layer's reply-channel pattern, "<suffix>\n<data>"
 * (no newline: the data alone, on socket 1's channel), where suffix follows the process part
 * ("1", "x", "99999999999999999999", ...) and data is what Django's send() would PUBLISH. It must
 * never crash or leak, a message is dropped at most once, and what reaches the open socket is
 * one reply within the message limit (tokenauth.send's text, or the event as JSON). The layer
 * and the forwarding live across inputs (as in a process: drops are logged once per episode);
 * each input gets a new socket. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "../ws-worker/forward.h"
#include "../ws-worker/replies.h"
#include "../ws-worker/replychan.h"
#include "../ws-worker/sessions.h"

#include "fuzz.h"

/* tokenauth.subscribe's target: a terminated name shorter than the forward's buffer. */
static int on_join(void *arg, struct session *s, const char *channel, int is_join) {
    REQUIRE(strlen(channel) < FORWARD_CHANNEL_MAX && (is_join == 0 || is_join == 1));
    return channel[0] == 'a' ? 0 : -1;
}

static void on_close(void *arg, struct session *s, int code, const char *reason) {
    REQUIRE(code >= 1000 && code <= 4999 && reason != NULL);
    s->close_code = (uint16_t)code;
}

#define MAX_MESSAGE 4096

static struct config cfg;
static struct reply_pool pool;
static struct replychan *rc;
static struct forward *f;

static void start(void) {
    char err[256];
    config_defaults(&cfg);
    cfg.ws_max_message_bytes = MAX_MESSAGE;
    rc = replychan_create(NULL, "asgi", err, sizeof err);
    f = forward_create(&cfg, &replychan_forward_layer, rc, &pool, on_close, NULL);
    REQUIRE(rc && f);
    replychan_on_socket(rc, forward_deliver, f);
    forward_on_join(f, on_join, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct session s = {0};
    struct replychan_drops before, drops;
    char name[REPLYCHAN_NAME_MAX + 64];
    if (!rc)
        start();
    REQUIRE(forward_session_open(f, &s, NULL) == FORWARD_OK);
    replychan_drops(rc, &before);

    const uint8_t *nl = memchr(data, '\n', size);
    size_t suffix_len = nl ? (size_t)(nl - data) : 1;
    const uint8_t *body = nl ? nl + 1 : data;
    size_t body_len = nl ? size - suffix_len - 1 : size;
    replychan_socket_channel(rc, 0, name, sizeof name);
    size_t local_len = strlen(name) - 1; /* without the "0" */
    int n =
        snprintf(name + local_len, sizeof name - local_len, "%llu", (unsigned long long)s.core_id);
    if (nl && suffix_len < sizeof name - local_len)
        memcpy(name + local_len, data, suffix_len);
    size_t name_len =
        nl && suffix_len < sizeof name - local_len ? local_len + suffix_len : local_len + (size_t)n;

    replychan_message(rc, name, name_len, body, body_len);
    replychan_drops(rc, &drops);
    REQUIRE(drops.format + drops.gone - before.format - before.gone <= 1);
    REQUIRE(s.replies.n <= 1);
    REQUIRE(!s.replies.head || s.replies.head->len <= MAX_MESSAGE);
    forward_session_close(f, &s);
    replies_drain(&s.replies, &pool);
    return 0;
}
