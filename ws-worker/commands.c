/* commands.c -- the command table of the WebSocket protocol: parse, dispatch, build the reply.
 *
 * commands_handle() parses the message with cJSON, finds the row whose name equals "command"
 * exactly, and runs its function, which returns the reply built in a replies.h buffer (or NULL
 * when memory ran out). Errors are replies too: a bad message never closes the socket here;
 * closing is for protocol.c, which checks binary frames, size and UTF-8 before calling. Known
 * limit: cJSON keeps numbers as doubles, so an integer beyond 2^53 echoes rounded, as in
 * JavaScript; and cJSON ends a string at a \u0000 escape, so such a message is refused
 * (invalid_json) rather than echoed cut short.
 *
 * Replies are printed where they will be written from: print_into() appends a cJSON value with
 * cJSON_PrintPreallocated(), and when it does not fit moves the reply into a buffer of its own
 * twice as large and prints again (a long reply costs a few cut-short prints, never a copy of
 * the finished JSON). The hello reply, the one a busy client sends most, builds no reply object:
 * its fixed text, then the echoed value printed in place, so a hello costs the parse and no
 * allocation. */
#include "commands.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "forward.h"
#include "pubsub.h"
#include "replies.h"
#include "text.h"

typedef struct reply *(*command_fn)(const struct command_ctx *ctx, const cJSON *msg);

#define HELLO_HEAD "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":"

_Static_assert(sizeof HELLO_HEAD + 8 < REPLIES_ROOM, "a pooled buffer holds hello's fixed text");

/* Appends the JSON of item to r, moving r into a buffer of its own twice as large until it
 * fits, one byte left over for a closing character of the caller. Returns r, perhaps moved, or
 * NULL when memory ran out (r given back). */
static struct reply *print_into(struct reply_pool *pool, struct reply *r, const cJSON *item) {
    for (;;) {
        size_t left = r->room - r->len;
        /* cJSON wants 5 spare bytes to be sure a number fits; its terminator lands in them. */
        if (left > 6 && left - 1 <= INT_MAX &&
            cJSON_PrintPreallocated((cJSON *)(uintptr_t)item, replies_json(r) + r->len,
                                    (int)(left - 1), 0)) {
            r->len += strlen(replies_json(r) + r->len);
            return r;
        }
        if (r->room > INT_MAX) { /* cJSON cannot print that much into one buffer */
            replies_put(pool, r);
            return NULL;
        }
        r = replies_grow(pool, r, 2 * r->room);
        if (!r)
            return NULL;
    }
}

/* The reply holding obj printed (obj deleted), or NULL when memory ran out (obj may be NULL). */
static struct reply *reply_of(const struct command_ctx *ctx, cJSON *obj) {
    struct reply *r = obj ? replies_get(ctx->replies) : NULL;
    if (r)
        r = print_into(ctx->replies, r, obj);
    cJSON_Delete(obj);
    return r;
}

static struct reply *error_reply(const struct command_ctx *ctx, const char *code,
                                 const char *detail) {
    cJSON *r = cJSON_CreateObject();
    if (r && (!cJSON_AddStringToObject(r, "error", code) ||
              !cJSON_AddStringToObject(r, "detail", detail))) {
        cJSON_Delete(r);
        return NULL;
    }
    return reply_of(ctx, r);
}

/* The tutorial's hello: its keys and text, and data_string echoed whatever type it is, written
 * straight into the reply. */
static struct reply *command_hello(const struct command_ctx *ctx, const cJSON *msg) {
    static const char head[] = HELLO_HEAD;
    static const cJSON null_value = {.type = cJSON_NULL};
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data_string");
    struct reply *r = replies_get(ctx->replies);
    if (!r)
        return NULL;
    memcpy(replies_json(r), head, sizeof head - 1); /* fits: see the _Static_assert */
    r->len = sizeof head - 1;
    r = print_into(ctx->replies, r, data ? data : &null_value);
    if (r)
        replies_json(r)[r->len++] = '}'; /* print_into() left a byte for it */
    return r;
}

/* Who the socket belongs to, read fresh (a rename shows at once). Never the password hash. */
static struct reply *command_whoami(const struct command_ctx *ctx, const cJSON *msg) {
    struct db_user user;
    if (!ctx->db)
        return error_reply(ctx, "unavailable", "the database cannot be opened; try again later");
    int rc = db_user_by_id(ctx->db, ctx->user_id, &user);
    if (rc == DB_NOT_FOUND)
        return error_reply(ctx, "not_found", "this user no longer exists");
    if (rc != DB_OK)
        return error_reply(ctx, "unavailable", "the database is busy; try again later");
    cJSON *r = cJSON_CreateObject();
    cJSON *u = cJSON_AddObjectToObject(r, "user");
    if (!u || !cJSON_AddNumberToObject(u, "id", (double)user.id) ||
        !cJSON_AddStringToObject(u, "username", user.username) ||
        !cJSON_AddStringToObject(u, "email", user.email)) {
        cJSON_Delete(r);
        return NULL;
    }
    return reply_of(ctx, r);
}

/* A channel error: {"error": code, "channel": channel, "detail": detail}. */
static struct reply *channel_error(const struct command_ctx *ctx, const char *code,
                                   const char *channel, const char *detail) {
    cJSON *r = cJSON_CreateObject();
    if (r && (!cJSON_AddStringToObject(r, "error", code) ||
              (channel && !cJSON_AddStringToObject(r, "channel", channel)) ||
              !cJSON_AddStringToObject(r, "detail", detail))) {
        cJSON_Delete(r);
        return NULL;
    }
    return reply_of(ctx, r);
}

/* {key: value}. */
static struct reply *one_string(const struct command_ctx *ctx, const char *key, const char *value) {
    cJSON *r = cJSON_CreateObject();
    if (r && !cJSON_AddStringToObject(r, key, value)) {
        cJSON_Delete(r);
        return NULL;
    }
    return reply_of(ctx, r);
}

/* The error code of a pubsub.h result. */
static const char *pubsub_code(int rc) {
    switch (rc) {
    case PUBSUB_ERR_INVALID:
        return "invalid_channel";
    case PUBSUB_ERR_FORBIDDEN:
        return "forbidden";
    case PUBSUB_ERR_NOT_MEMBER:
        return "not_subscribed";
    case PUBSUB_ERR_TOO_MANY:
        return "too_many_subscriptions";
    case PUBSUB_ERR_TOO_BIG:
        return "too_big";
    case PUBSUB_ERR_DATA:
        return "invalid_data";
    default:
        return "unavailable";
    }
}

/* The "channel" string of msg, or NULL after building the error into *err. */
static const char *channel_of(const struct command_ctx *ctx, const cJSON *msg, struct reply **err) {
    const cJSON *channel = cJSON_GetObjectItemCaseSensitive(msg, "channel");
    *err = NULL;
    if (!cJSON_IsString(channel)) {
        *err =
            channel_error(ctx, "invalid_channel", NULL, "the command needs a \"channel\" string");
        return NULL;
    }
    if (!ctx->pubsub) {
        *err = channel_error(ctx, "unavailable", channel->valuestring,
                             "channels are not available in this process");
        return NULL;
    }
    return channel->valuestring;
}

/* Joins a channel; the answer waits for Redis unless the process is in the channel already. */
static struct reply *command_subscribe(const struct command_ctx *ctx, const cJSON *msg) {
    struct reply *err;
    const char *channel = channel_of(ctx, msg, &err);
    if (!channel)
        return err;
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(msg, "signature");
    if (sig && !cJSON_IsString(sig) && !cJSON_IsNull(sig))
        return channel_error(ctx, "forbidden", channel, "the signature must be a string");
    const char *detail = "";
    int rc = pubsub_subscribe(ctx->pubsub, ctx->session, channel,
                              cJSON_IsString(sig) ? sig->valuestring : NULL, &detail);
    if (rc == PUBSUB_OK)
        return one_string(ctx, "subscribed", channel);
    if (rc == PUBSUB_PENDING)
        return replies_get(ctx->replies); /* empty: answered once Redis confirms */
    if (rc == PUBSUB_ERR_NOMEM)
        return NULL;
    return channel_error(ctx, pubsub_code(rc), channel, detail);
}

static struct reply *command_unsubscribe(const struct command_ctx *ctx, const cJSON *msg) {
    struct reply *err;
    const char *channel = channel_of(ctx, msg, &err);
    if (!channel)
        return err;
    const char *detail = "";
    int rc = pubsub_unsubscribe(ctx->pubsub, ctx->session, channel, &detail);
    if (rc == PUBSUB_OK)
        return one_string(ctx, "unsubscribed", channel);
    return channel_error(ctx, pubsub_code(rc), channel, detail);
}

/* Publishes "data" as the session's user: the username is read fresh, as whoami does. */
static struct reply *command_publish(const struct command_ctx *ctx, const cJSON *msg) {
    static const cJSON null_value = {.type = cJSON_NULL};
    struct reply *err;
    const char *channel = channel_of(ctx, msg, &err);
    if (!channel)
        return err;
    const char *detail = "";
    int rc = pubsub_publish_check(ctx->pubsub, ctx->session, channel, &detail);
    if (rc != PUBSUB_OK)
        return channel_error(ctx, pubsub_code(rc), channel, detail);
    struct db_user user;
    if (!ctx->db || db_user_by_id(ctx->db, ctx->user_id, &user) != DB_OK)
        return channel_error(ctx, "unavailable", channel,
                             "the database is busy or unavailable; try again later");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data");
    rc = pubsub_publish(ctx->pubsub, ctx->session, user.username, channel,
                        data ? data : &null_value, &detail);
    if (rc == PUBSUB_OK)
        return one_string(ctx, "published", channel);
    if (rc == PUBSUB_ERR_NOMEM)
        return NULL;
    return channel_error(ctx, pubsub_code(rc), channel, detail);
}

/* The channels of this socket, personal one first, then in the order joined. */
static struct reply *command_subscriptions(const struct command_ctx *ctx, const cJSON *msg) {
    size_t n = ctx->pubsub && ctx->session ? pubsub_list(ctx->session, NULL, 0) : 0;
    const char **names = malloc((n ? n : 1) * sizeof *names);
    cJSON *r = cJSON_CreateObject();
    cJSON *list = names ? cJSON_AddArrayToObject(r, "subscriptions") : NULL;
    if (n)
        pubsub_list(ctx->session, names, n);
    for (size_t i = 0; list && i < n; i++)
        if (!cJSON_AddItemToArray(list, cJSON_CreateString(names[i])))
            list = NULL;
    free(names);
    if (!list) {
        cJSON_Delete(r);
        return NULL;
    }
    return reply_of(ctx, r);
}

/* The commands. To add one: write `static struct reply *command_x(ctx, msg)` above (build a
 * cJSON object and return reply_of() it), add a row here. */
static const struct command {
    const char *name; /* the exact "command" value */
    command_fn run;
} commands[] = {
    {"Say hello !", command_hello},   {"whoami", command_whoami},
    {"subscribe", command_subscribe}, {"unsubscribe", command_unsubscribe},
    {"publish", command_publish},     {"subscriptions", command_subscriptions},
};

/* The unknown_command error, naming every row of the table: `known commands: "a", "b"`. */
static struct reply *unknown_command(const struct command_ctx *ctx) {
    char detail[512];
    size_t n = (size_t)snprintf(detail, sizeof detail, "known commands:");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && n < sizeof detail; i++)
        n += (size_t)snprintf(detail + n, sizeof detail - n, "%s \"%s\"", i ? "," : "",
                              commands[i].name);
    return error_reply(ctx, "unknown_command", detail);
}

/* Whether root has more than one "command" key (cJSON keeps them all; Python's json would
 * take the last one, cJSON's lookup the first: refused rather than guessed). */
static int has_two_commands(const cJSON *root) {
    int n = 0;
    for (const cJSON *item = root->child; item; item = item->next)
        if (item->string && strcmp(item->string, "command") == 0 && ++n > 1)
            return 1;
    return 0;
}

/* msg parsed as exactly one JSON value, or NULL with *detail saying why it is invalid_json. */
static cJSON *parse(const char *msg, size_t len, const char **detail) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(msg, len, &end, 0);
    while (root && end < msg + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    *detail = "the message is not valid JSON";
    if (root && end != msg + len) { /* bytes after the value: another one, a NUL, garbage */
        cJSON_Delete(root);
        return NULL;
    }
    if (root && text_json_has_nul_escape(msg, len)) { /* cJSON would cut the string there */
        cJSON_Delete(root);
        *detail = "\\u0000 in a string is not supported";
        return NULL;
    }
    return root;
}

/* The reply to a parsed message: the row of its command, or the error saying why none. */
static struct reply *dispatch(const struct command_ctx *ctx, const cJSON *root) {
    if (!cJSON_IsObject(root))
        return error_reply(ctx, "not_an_object", "the message must be a JSON object");
    if (has_two_commands(root))
        return error_reply(ctx, "duplicate_command",
                           "the object has more than one \"command\" key");
    const cJSON *command = cJSON_GetObjectItemCaseSensitive(root, "command");
    if (!cJSON_IsString(command))
        return error_reply(ctx, "missing_command", "the object needs a \"command\" string");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, command->valuestring) == 0)
            return commands[i].run(ctx, root);
    return unknown_command(ctx);
}

/* Whether root is an object whose "command" is none of the table's (or absent). */
static int is_foreign(const cJSON *root) {
    const cJSON *command = cJSON_GetObjectItemCaseSensitive(root, "command");
    if (!cJSON_IsObject(root) || (command && !cJSON_IsString(command)))
        return 0;
    for (size_t i = 0; command && i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, command->valuestring) == 0)
            return 0;
    return 1;
}

/* Sends the message to the Django forward channel (forward.h): no answer from tokenauth. */
static struct reply *command_forward(const struct command_ctx *ctx, struct forward *fw,
                                     const char *msg, size_t len) {
    struct db_user user;
    if (!ctx->db || db_user_by_id(ctx->db, ctx->user_id, &user) != DB_OK)
        return error_reply(ctx, "unavailable", "the database is busy or unavailable; try again");
    int rc = forward_message(fw, ctx->session, user.username, msg, len);
    if (rc == FORWARD_ERR_NOMEM)
        return NULL;
    if (rc != FORWARD_OK)
        return error_reply(ctx, "unavailable", "Redis is unreachable; try again later");
    return replies_get(ctx->replies); /* empty: the application answers, if it does */
}

struct reply *commands_handle(const struct command_ctx *ctx, const char *msg, size_t len) {
    const char *detail;
    cJSON *root = parse(msg, len, &detail);
    if (!root)
        return error_reply(ctx, "invalid_json", detail);
    struct forward *fw = ctx->pubsub && ctx->session ? pubsub_forward(ctx->pubsub) : NULL;
    struct reply *r = forward_is_on(fw) && is_foreign(root) ? command_forward(ctx, fw, msg, len)
                                                            : dispatch(ctx, root);
    cJSON_Delete(root);
    return r;
}
