/* commands.h -- the application protocol: one JSON text message in, one JSON reply out.
 *
 * Commands (the "command" member of an object):
 *   {"command": "Say hello !", "data_string": X}
 *       -> {"command_response": "The command to say hello was received ", "data_string_bacK": X}
 *          X echoed as whatever JSON it is, null when absent (the tutorial's keys and text)
 *   {"command": "whoami"} -> {"user": {"id": 1, "username": "...", "email": "..."}}
 * Anything else gets {"error": "<code>", "detail": "<sentence>"} and the socket stays open:
 * invalid_json, not_an_object, missing_command, duplicate_command, unknown_command, unavailable
 * (database busy), not_found (the user vanished). The caller checks UTF-8 and size before.
 * Each reply is built once, in the replies.h buffer it will be written from (pooled, or one of
 * its own size when longer): hello writes its text there directly, the others are cJSON objects
 * printed there. Adding a command is one function and one row in the table of commands.c. */
#ifndef TOKENAUTH_COMMANDS_H
#define TOKENAUTH_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#define COMMANDS_HELLO_TEXT "The command to say hello was received "

struct db;
struct reply;
struct reply_pool;

/* Who is asking, and where replies are built. */
struct command_ctx {
    struct db *db; /* may be NULL: commands needing it answer "unavailable" */
    int64_t user_id;
    struct reply_pool *replies; /* the buffers replies are built in */
};

/* Handles one complete message (len bytes of valid UTF-8, not terminated). Returns its reply,
 * JSON not terminated in replies_json(), ready to queue (the caller owns it: replies_push() or
 * replies_put()); NULL when memory ran out. */
struct reply *commands_handle(const struct command_ctx *ctx, const char *msg, size_t len);

#endif
