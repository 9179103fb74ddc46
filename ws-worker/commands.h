/* commands.h -- the application protocol: one JSON text message in, one JSON reply out.
 *
 * Commands (the "command" member of an object):
 *   {"command": "Say hello !", "data_string": X}
 *       -> {"command_response": "The command to say hello was received ", "data_string_bacK": X}
 *          X echoed as whatever JSON it is, null when absent (the tutorial's keys and text)
 *   {"command": "whoami"} -> {"user": {"id": 1, "username": "...", "email": "..."}}
 *   {"command": "subscribe", "channel": C, "signature": S} -> {"subscribed": C}, once Redis
 *       confirmed (the reply is then queued later by pubsub.h; S optional)
 *   {"command": "unsubscribe", "channel": C} -> {"unsubscribed": C}
 *   {"command": "publish", "channel": C, "data": X} -> {"published": C} (X null when absent;
 *       the delivery carries "from": the session's user, set here)
 *   {"command": "subscriptions"} -> {"subscriptions": ["user.1", ...]} (the order joined)
 * Channel errors name the channel: {"error": "<code>", "channel": C, "detail": "..."} with
 * forbidden, invalid_channel, not_subscribed, too_many_subscriptions, unavailable
 * (docs/channels.md). Anything else gets {"error": "<code>", "detail": "<sentence>"} and the socket
 * stays open: invalid_json, not_an_object, missing_command, duplicate_command, unknown_command,
 * unavailable (database busy), not_found (the user vanished). The caller checks UTF-8 and size
 * before. Each reply is built once, in the replies.h buffer it will be written from (pooled, or one
 * of its own size when longer): hello writes its text there directly, the others are cJSON objects
 * printed there. Adding a command is one function and one row in the table of commands.c. */
#ifndef TOKENAUTH_COMMANDS_H
#define TOKENAUTH_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#define COMMANDS_HELLO_TEXT "The command to say hello was received "

struct db;
struct reply;
struct reply_pool;
struct pubsub;
struct session;

/* Who is asking, and where replies are built. */
struct command_ctx {
    struct db *db; /* may be NULL: commands needing it answer "unavailable" */
    int64_t user_id;
    struct reply_pool *replies; /* the buffers replies are built in */
    struct pubsub *pubsub;      /* the process's channels; NULL: channel commands unavailable */
    struct session *session;    /* who asks, for the channel commands */
};

/* Handles one complete message (len bytes of valid UTF-8, not terminated). Returns its reply,
 * JSON not terminated in replies_json(), ready to queue (the caller owns it: replies_push() or
 * replies_put()); an empty one (len 0) when the answer comes later (a subscribe waiting for
 * Redis): give it back; NULL when memory ran out. */
struct reply *commands_handle(const struct command_ctx *ctx, const char *msg, size_t len);

#endif
