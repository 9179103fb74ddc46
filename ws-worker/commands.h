/* commands.h -- the application protocol: one JSON text message in, one JSON reply out.
 *
 * Commands (the "command" member of an object):
 *   {"command": "Say hello !", "data_string": X}
 *       -> {"command_response": "The command to say hello was received ", "data_string_bacK": X}
 *          X echoed as whatever JSON it is, null when absent (the tutorial's keys and text)
 *   {"command": "whoami"} -> {"user": {"id": 1, "username": "...", "email": "..."}}
 * Anything else gets {"error": "<code>", "detail": "<sentence>"} and the socket stays open:
 * invalid_json, not_an_object, missing_command, unknown_command, unavailable (database busy),
 * not_found (the user vanished). The caller checks UTF-8 and size before; replies are built with
 * cJSON only. Adding a command is one function and one row in the table of commands.c. */
#ifndef TOKENAUTH_COMMANDS_H
#define TOKENAUTH_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

#define COMMANDS_OK 0
#define COMMANDS_ERR_NOMEM -1

#define COMMANDS_HELLO_TEXT "The command to say hello was received "

struct db;

/* Who is asking: the session's user, and the read-only connection for commands that look. */
struct command_ctx {
    struct db *db; /* may be NULL: commands needing it answer "unavailable" */
    int64_t user_id;
};

/* Handles one complete message (len bytes of valid UTF-8, not terminated). The reply is JSON, not
 * terminated: written into out (out_len bytes) with *big set to NULL when it fits, else in *big
 * (malloc'd, the caller frees it). *reply_len is the reply's length either way. COMMANDS_OK, or
 * COMMANDS_ERR_NOMEM when memory ran out (no reply). */
int commands_handle_into(const struct command_ctx *ctx, const char *msg, size_t len, char *out,
                         size_t out_len, char **big, size_t *reply_len);

#endif
