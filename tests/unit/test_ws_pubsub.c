/* test_ws_pubsub.c -- ws-worker/pubsub.c and the channel commands of commands.c, without Redis
 * (TOKENAUTH_REDIS_URL empty): the personal channel, every refusal, and "unavailable" naming the
 * setting. The Redis side is test_ws_channels_smoke.py's; the table is test_subscriptions.c's. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "../../ws-worker/commands.h"
#include "../../ws-worker/pubsub.h"
#include "../../ws-worker/replies.h"
#include "../../ws-worker/sessions.h"
#include "config.h"

static struct reply_pool pool;
static char reply_text[1024];

static void on_close(void *arg, struct session *s, int code, const char *reason) {
    s->close_code = (uint16_t)code;
}

/* The reply of msg from session s, "" when it comes later, as protocol.c runs it. */
static const char *run(struct pubsub *ps, struct session *s, const char *msg) {
    struct command_ctx ctx = {.user_id = s->user_id, .replies = &pool, .pubsub = ps, .session = s};
    struct reply *r = commands_handle(&ctx, msg, strlen(msg));
    if (!r)
        return "(nomem)";
    snprintf(reply_text, sizeof reply_text, "%.*s", (int)r->len, replies_json(r));
    replies_put(&pool, r);
    return reply_text;
}

void test_ws_pubsub(void) {
    static struct config cfg;
    char err[256];
    config_defaults(&cfg);
    strcpy(cfg.ws_public_channels, "news");
    strcpy(cfg.ws_publish_channels, "news");
    TEST("pubsub: without a Redis URL the channels start, with no link");
    struct pubsub *ps = pubsub_create(NULL, NULL, &cfg, &pool, on_close, NULL, err, sizeof err);
    CHECK(ps != NULL);
    if (!ps)
        return;
    struct session s = {.user_id = 7};
    CHECK_INT(pubsub_session_open(ps, &s, NULL), PUBSUB_OK);

    TEST("pubsub: a socket lists its personal channel");
    CHECK_STR(run(ps, &s, "{\"command\":\"subscriptions\"}"), "{\"subscriptions\":[\"user.7\"]}");

    TEST("pubsub: subscribe and publish say the channels are off, naming the setting");
    CHECK_STR(run(ps, &s, "{\"command\":\"subscribe\",\"channel\":\"news\"}"),
              "{\"error\":\"unavailable\",\"channel\":\"news\",\"detail\":\"channels are off: "
              "TOKENAUTH_REDIS_URL is empty\"}");
    CHECK(strstr(run(ps, &s, "{\"command\":\"publish\",\"channel\":\"news\",\"data\":1}"),
                 "\"error\":\"unavailable\"") != NULL);

    TEST("pubsub: the policy answers before Redis is asked");
    CHECK(strstr(run(ps, &s, "{\"command\":\"subscribe\",\"channel\":\"other\"}"),
                 "\"error\":\"forbidden\",\"channel\":\"other\"") != NULL);
    CHECK(strstr(run(ps, &s, "{\"command\":\"subscribe\",\"channel\":\"user.8\"}"),
                 "\"error\":\"forbidden\"") != NULL);
    CHECK(strstr(run(ps, &s, "{\"command\":\"subscribe\",\"channel\":\"a b\"}"),
                 "\"error\":\"invalid_channel\"") != NULL);
    CHECK(strstr(run(ps, &s, "{\"command\":\"publish\",\"channel\":\"other\"}"),
                 "\"error\":\"forbidden\"") != NULL);
    CHECK(strstr(run(ps, &s, "{\"command\":\"subscribe\",\"channel\":\"news\",\"signature\":1}"),
                 "\"error\":\"forbidden\"") != NULL);

    TEST("pubsub: the personal channel is subscribed already and cannot be left");
    CHECK_STR(run(ps, &s, "{\"command\":\"subscribe\",\"channel\":\"user.7\"}"),
              "{\"subscribed\":\"user.7\"}");
    CHECK(strstr(run(ps, &s, "{\"command\":\"unsubscribe\",\"channel\":\"user.7\"}"),
                 "\"error\":\"forbidden\",\"channel\":\"user.7\"") != NULL);

    TEST("pubsub: unsubscribe of a channel the socket is not in, or of no channel");
    CHECK(strstr(run(ps, &s, "{\"command\":\"unsubscribe\",\"channel\":\"news\"}"),
                 "\"error\":\"not_subscribed\",\"channel\":\"news\"") != NULL);
    CHECK(strstr(run(ps, &s, "{\"command\":\"unsubscribe\",\"channel\":\"\"}"),
                 "\"error\":\"invalid_channel\"") != NULL);
    CHECK(strstr(run(ps, &s, "{\"command\":\"unsubscribe\"}"), "\"error\":\"invalid_channel\"") !=
          NULL);

    TEST("pubsub: without a pubsub (a test, the fuzzer) channel commands are unavailable");
    CHECK(strstr(run(NULL, &s, "{\"command\":\"subscribe\",\"channel\":\"news\"}"),
                 "\"error\":\"unavailable\"") != NULL);
    CHECK_STR(run(NULL, &s, "{\"command\":\"subscriptions\"}"), "{\"subscriptions\":[]}");

    TEST("pubsub: a closing session leaves every channel");
    pubsub_session_close(ps, &s);
    CHECK(s.subs == NULL);
    CHECK_STR(run(ps, &s, "{\"command\":\"subscriptions\"}"), "{\"subscriptions\":[]}");

    TEST("pubsub: a bad Redis URL or pattern list is refused at creation");
    strcpy(cfg.redis_url, "http://x");
    CHECK(pubsub_create(NULL, NULL, &cfg, &pool, on_close, NULL, err, sizeof err) == NULL);
    CHECK(strncmp(err, "TOKENAUTH_REDIS_URL: ", 21) == 0);
    cfg.redis_url[0] = '\0';
    strcpy(cfg.ws_public_channels, "bad name");
    CHECK(pubsub_create(NULL, NULL, &cfg, &pool, on_close, NULL, err, sizeof err) == NULL);
    CHECK(strncmp(err, "channels: public channels: ", 27) == 0);
    pubsub_destroy(ps);
    replies_free(&pool);
}
