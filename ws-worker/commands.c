/* commands.c -- the command table of the WebSocket protocol, and the UTF-8 check before it.
 *
 * commands_handle() parses the message with cJSON, finds the row whose name equals "command"
 * exactly, and runs its function, which returns the reply object (or NULL when memory ran out).
 * Errors are reply objects too: a bad message never closes the socket here; closing is for
 * protocol.c (binary, oversized, invalid UTF-8). Values echoed back (hello's data_string) are
 * moved from the parsed message into the reply, not copied. Known limit: cJSON keeps numbers as
 * doubles, so an integer beyond 2^53 echoes rounded, as in JavaScript. */
#include "commands.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"

typedef cJSON *(*command_fn)(const struct command_ctx *ctx, cJSON *msg);

static cJSON *error_reply(const char *code, const char *detail) {
    cJSON *r = cJSON_CreateObject();
    if (r && (!cJSON_AddStringToObject(r, "error", code) ||
              !cJSON_AddStringToObject(r, "detail", detail))) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* The tutorial's hello: its keys and text, and data_string echoed whatever type it is. */
static cJSON *command_hello(const struct command_ctx *ctx, cJSON *msg) {
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(msg, "data_string");
    if (!data)
        data = cJSON_CreateNull();
    cJSON *r = cJSON_CreateObject();
    if (!data || !r || !cJSON_AddStringToObject(r, "command_response", COMMANDS_HELLO_TEXT)) {
        cJSON_Delete(data);
        cJSON_Delete(r);
        return NULL;
    }
    cJSON_AddItemToObject(r, "data_string_bacK", data);
    return r;
}

/* Who the socket belongs to, read fresh (a rename shows at once). Never the password hash. */
static cJSON *command_whoami(const struct command_ctx *ctx, cJSON *msg) {
    struct db_user user;
    if (!ctx->db)
        return error_reply("unavailable", "the database cannot be opened; try again later");
    int rc = db_user_by_id(ctx->db, ctx->user_id, &user);
    if (rc == DB_NOT_FOUND)
        return error_reply("not_found", "this user no longer exists");
    if (rc != DB_OK)
        return error_reply("unavailable", "the database is busy; try again later");
    cJSON *r = cJSON_CreateObject();
    cJSON *u = cJSON_AddObjectToObject(r, "user");
    if (!u || !cJSON_AddNumberToObject(u, "id", (double)user.id) ||
        !cJSON_AddStringToObject(u, "username", user.username) ||
        !cJSON_AddStringToObject(u, "email", user.email)) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* The commands. To add one: write `static cJSON *command_x(ctx, msg)` above, add a row here. */
static const struct command {
    const char *name; /* the exact "command" value */
    command_fn run;
} commands[] = {
    {"Say hello !", command_hello},
    {"whoami", command_whoami},
};

static cJSON *dispatch(const struct command_ctx *ctx, const char *msg, size_t len) {
    cJSON *root = cJSON_ParseWithLength(msg, len);
    if (!root)
        return error_reply("invalid_json", "the message is not valid JSON");
    cJSON *reply = NULL;
    const cJSON *command = cJSON_GetObjectItemCaseSensitive(root, "command");
    if (!cJSON_IsObject(root)) {
        reply = error_reply("not_an_object", "the message must be a JSON object");
    } else if (!cJSON_IsString(command)) {
        reply = error_reply("missing_command", "the object needs a \"command\" string");
    } else {
        for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !reply; i++)
            if (strcmp(commands[i].name, command->valuestring) == 0)
                reply = commands[i].run(ctx, root);
        if (!reply)
            reply = error_reply("unknown_command", "known commands: \"Say hello !\", \"whoami\"");
    }
    cJSON_Delete(root);
    return reply;
}

int commands_handle(const struct command_ctx *ctx, const char *msg, size_t len, size_t headroom,
                    char **reply, size_t *reply_len) {
    cJSON *r = dispatch(ctx, msg, len);
    char *text = r ? cJSON_PrintUnformatted(r) : NULL;
    cJSON_Delete(r);
    if (!text)
        return COMMANDS_ERR_NOMEM;
    size_t n = strlen(text);
    char *buf = malloc(headroom + n);
    if (buf)
        memcpy(buf + headroom, text, n);
    cJSON_free(text);
    if (!buf)
        return COMMANDS_ERR_NOMEM;
    *reply = buf;
    *reply_len = n;
    return COMMANDS_OK;
}
