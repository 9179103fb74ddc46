/* commands.c -- the command table of the WebSocket protocol, and the UTF-8 check before it.
 *
 * commands_handle_into() parses the message with cJSON, finds the row whose name equals "command"
 * exactly, and runs its function, which returns the reply object (or NULL when memory ran out).
 * Errors are reply objects too: a bad message never closes the socket here; closing is for
 * protocol.c (binary, oversized, invalid UTF-8). Values echoed back (hello's data_string) are
 * moved from the parsed message into the reply, not copied. Known limit: cJSON keeps numbers as
 * doubles, so an integer beyond 2^53 echoes rounded, as in JavaScript; and cJSON ends a string
 * at a \u0000 escape, so such a message is refused (invalid_json) rather than echoed cut short.
 *
 * The hello reply, the one a busy client sends most, is written straight into the caller's
 * buffer: its fixed text, then the echoed value printed with cJSON_PrintPreallocated(), so a
 * hello costs the parse and no reply objects or allocations. The bytes are the same as
 * cJSON_PrintUnformatted() of the reply object would give (the unit tests compare both). */
#include "commands.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "text.h"

typedef cJSON *(*command_fn)(const struct command_ctx *ctx, cJSON *msg);

#define HELLO_HEAD "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":"

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

/* The unknown_command error, naming every row of the table: `known commands: "a", "b"`. */
static cJSON *unknown_command(void) {
    char detail[512];
    size_t n = (size_t)snprintf(detail, sizeof detail, "known commands:");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && n < sizeof detail; i++)
        n += (size_t)snprintf(detail + n, sizeof detail - n, "%s \"%s\"", i ? "," : "",
                              commands[i].name);
    return error_reply("unknown_command", detail);
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

/* The hello reply written into out (out_len bytes) without building it: its length, or 0 when
 * it does not fit (the caller then builds it with cJSON). */
static size_t hello_into(const cJSON *msg, char *out, size_t out_len) {
    static const char head[] = HELLO_HEAD;
    const size_t head_len = sizeof head - 1;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(msg, "data_string");
    if (out_len < head_len + 6) /* "null" and "}" and cJSON's terminator */
        return 0;
    memcpy(out, head, head_len);
    size_t n = head_len;
    if (!data) {
        memcpy(out + n, "null", 4);
        n += 4;
    } else {
        /* cJSON wants 5 spare bytes to be sure a number fits; its terminator lands in them. */
        if (!cJSON_PrintPreallocated((cJSON *)(uintptr_t)data, out + n, (int)(out_len - n - 1), 0))
            return 0;
        n += strlen(out + n);
        if (n + 1 > out_len)
            return 0;
    }
    out[n++] = '}';
    return n;
}

/* Parses msg and answers it: the reply object, or NULL after writing a hello reply into out
 * (*out_n bytes; 0 when nothing was written). */
static cJSON *dispatch(const struct command_ctx *ctx, const char *msg, size_t len, char *out,
                       size_t out_len, size_t *out_n) {
    *out_n = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(msg, len, &end, 0);
    while (root && end < msg + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (root && end != msg + len) { /* bytes after the value: another one, a NUL, garbage */
        cJSON_Delete(root);
        root = NULL;
    }
    if (!root)
        return error_reply("invalid_json", "the message is not valid JSON");
    if (text_json_has_nul_escape(msg, len)) { /* cJSON would cut the string there */
        cJSON_Delete(root);
        return error_reply("invalid_json", "\\u0000 in a string is not supported");
    }
    if (cJSON_IsObject(root) && has_two_commands(root)) {
        cJSON_Delete(root);
        return error_reply("duplicate_command", "the object has more than one \"command\" key");
    }
    cJSON *reply = NULL;
    const cJSON *command = cJSON_GetObjectItemCaseSensitive(root, "command");
    if (cJSON_IsObject(root) && cJSON_IsString(command) &&
        strcmp(command->valuestring, commands[0].name) == 0 &&
        (*out_n = hello_into(root, out, out_len)) > 0) {
        cJSON_Delete(root);
        return NULL; /* the fast hello: same bytes as commands[0].run() would give */
    }
    if (!cJSON_IsObject(root)) {
        reply = error_reply("not_an_object", "the message must be a JSON object");
    } else if (!cJSON_IsString(command)) {
        reply = error_reply("missing_command", "the object needs a \"command\" string");
    } else {
        for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !reply; i++)
            if (strcmp(commands[i].name, command->valuestring) == 0)
                reply = commands[i].run(ctx, root);
        if (!reply)
            reply = unknown_command();
    }
    cJSON_Delete(root);
    return reply;
}

int commands_handle_into(const struct command_ctx *ctx, const char *msg, size_t len, char *out,
                         size_t out_len, char **big, size_t *reply_len) {
    size_t n = 0;
    *big = NULL;
    cJSON *r = dispatch(ctx, msg, len, out, out_len, &n);
    if (!r) {
        *reply_len = n;
        return n > 0 ? COMMANDS_OK : COMMANDS_ERR_NOMEM;
    }
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    if (!text)
        return COMMANDS_ERR_NOMEM;
    n = strlen(text);
    if (n <= out_len) {
        memcpy(out, text, n);
        cJSON_free(text);
    } else {
        *big = text; /* cJSON_free() is free() with the default hooks */
    }
    *reply_len = n;
    return COMMANDS_OK;
}
