/* fuzz_ws_channels.c -- libFuzzer harness for the channel commands of ws-worker (subscribe,
 * unsubscribe, publish, subscriptions): commands_handle() with a real pubsub.h, as protocol.c
 * runs it, without Redis (TOKENAUTH_REDIS_URL empty, so every authorized join or publication
 * answers "unavailable") and without a database.
 *
 * Each input is one message from a session of user 1 that joined its personal channel; a new
 * pubsub per input, so that no input depends on another. Beyond "the reply is a JSON object"
 * (fuzz_ws_message.c's invariant), the answer must agree with channel.h's decisions, computed
 * here independently from the same settings:
 *   subscribe   invalid name -> invalid_channel; refused -> forbidden; own personal channel ->
 *               {"subscribed": C} (a member since the session opened); otherwise unavailable;
 *   unsubscribe invalid name -> invalid_channel; own personal channel -> forbidden; otherwise
 *               not_subscribed (nothing else can have been joined);
 *   publish     invalid name -> invalid_channel; refused -> forbidden; otherwise unavailable;
 * every message is answered at once (with no Redis nothing waits), and a channel error names the
 * channel the client sent. A disagreement aborts: the glue between
 * commands.c, pubsub.c and channel.c authorized something channel.c refuses, or the reverse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../ws-worker/commands.h"
#include "../ws-worker/pubsub.h"
#include "../ws-worker/replies.h"
#include "../ws-worker/sessions.h"
#include "channel.h"
#include "config.h"
#include "text.h"

#define PUBLIC_OK "news, room.*, user.*"
#define PUBLISH "room.*, chat"
#define SECRET "fuzz-channel-secret-0123456789-abcdef"
#define USER_ID 1

static void on_close(void *arg, struct session *s, int code, const char *reason) {
    s->close_code = (uint16_t)code;
}

/* The error code the reply to msg must carry, "subscribed" for {"subscribed": C}, or NULL when
 * the message is not a channel command this harness predicts. */
static const char *expected_code(const struct channel_policy *policy, const cJSON *msg) {
    int n_commands = 0;
    for (const cJSON *item = msg->child; item; item = item->next)
        n_commands += item->string && strcmp(item->string, "command") == 0;
    if (n_commands != 1)
        return NULL; /* duplicate_command or missing_command: not a channel command */
    const cJSON *command = cJSON_GetObjectItemCaseSensitive(msg, "command");
    const cJSON *channel = cJSON_GetObjectItemCaseSensitive(msg, "channel");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(msg, "signature");
    if (!cJSON_IsString(command) || !cJSON_IsString(channel))
        return NULL;
    const char *name = channel->valuestring;
    int64_t id;
    int is_own = channel_personal_id(name, &id) && id == USER_ID;
    if (strcmp(command->valuestring, "subscribe") == 0) {
        if (sig && !cJSON_IsString(sig) && !cJSON_IsNull(sig))
            return "forbidden";
        int rc = channel_may_subscribe(policy, USER_ID, name,
                                       cJSON_IsString(sig) ? sig->valuestring : NULL, NULL);
        if (rc == CHANNEL_ERR_INVALID)
            return "invalid_channel";
        if (rc != CHANNEL_OK)
            return "forbidden";
        return is_own ? "subscribed" : "unavailable";
    }
    if (strcmp(command->valuestring, "unsubscribe") == 0) {
        if (!channel_name_is_valid(name))
            return "invalid_channel";
        return is_own ? "forbidden" : "not_subscribed";
    }
    if (strcmp(command->valuestring, "publish") == 0) {
        int rc = channel_may_publish(policy, USER_ID, name, NULL);
        if (rc == CHANNEL_ERR_INVALID)
            return "invalid_channel";
        return rc == CHANNEL_OK ? "unavailable" : "forbidden";
    }
    return NULL;
}

/* msg parsed when it is exactly one JSON value (JSON whitespace around it), as commands.c
 * accepts it; else NULL. */
static cJSON *parse_whole(const char *msg, size_t size) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(msg, size, &end, 0);
    while (root && end < msg + size &&
           (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (root && (end != msg + size || text_json_has_nul_escape(msg, size))) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* 1 when the string member name of object is text. */
static int member_is(const cJSON *object, const char *name, const char *text) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) && strcmp(item->valuestring, text) == 0;
}

/* Aborts unless reply (reply_len bytes of JSON) is what msg must get. */
static void check_reply(const struct channel_policy *policy, const char *msg, size_t size,
                        const char *reply, size_t reply_len) {
    if (reply_len == 0)
        abort(); /* no answer, although with no Redis nothing can wait */
    cJSON *parsed = cJSON_ParseWithLength(reply, reply_len);
    if (!cJSON_IsObject(parsed))
        abort(); /* a reply that is not a JSON object */
    cJSON *root = parse_whole(msg, size);
    const char *want = cJSON_IsObject(root) ? expected_code(policy, root) : NULL;
    if (want) {
        const char *sent = cJSON_GetObjectItemCaseSensitive(root, "channel")->valuestring;
        if (strcmp(want, "subscribed") == 0 ? !member_is(parsed, "subscribed", sent)
                                            : !member_is(parsed, "error", want))
            abort(); /* the glue disagrees with channel.h's decision */
        if (strcmp(want, "subscribed") != 0 && !member_is(parsed, "channel", sent))
            abort(); /* a channel error that does not name the channel sent */
    }
    cJSON_Delete(root);
    cJSON_Delete(parsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *msg = (const char *)data;
    if (!text_is_utf8(msg, size))
        return 0;
    static struct config cfg; /* large: kept off the stack, filled anew for each input */
    config_defaults(&cfg);
    strcpy(cfg.ws_public_channels, PUBLIC_OK);
    strcpy(cfg.ws_publish_channels, PUBLISH);
    strcpy(cfg.channel_secret, SECRET);
    cfg.ws_max_subscriptions = 3;
    struct reply_pool pool = {0};
    struct channel_policy policy = {0};
    char err[256];
    struct pubsub *ps = pubsub_create(NULL, NULL, &cfg, &pool, on_close, NULL, err, sizeof err);
    if (!ps ||
        channel_policy_parse(&policy, PUBLIC_OK, PUBLISH, SECRET, err, sizeof err) != CHANNEL_OK)
        abort(); /* the settings above are valid */
    struct session s = {.user_id = USER_ID};
    if (pubsub_session_open(ps, &s, NULL) != PUBSUB_OK)
        abort();
    struct command_ctx ctx = {
        .db = NULL, .user_id = USER_ID, .replies = &pool, .pubsub = ps, .session = &s};
    struct reply *r = commands_handle(&ctx, msg, size);
    if (r) {
        check_reply(&policy, msg, size, replies_json(r), r->len);
        replies_put(&pool, r);
    }
    pubsub_session_close(ps, &s);
    replies_drain(&s.replies, &pool); /* notices queued on the session, if any */
    pubsub_destroy(ps);
    channel_policy_free(&policy);
    replies_free(&pool);
    return 0;
}
