/* fuzz_ws_message.c -- libFuzzer harness for the WebSocket message handler: UTF-8 check, then
 * commands_handle() on whatever passes, as protocol.c does. No database (whoami answers
 * "unavailable"), so every other path runs at full speed. The reply must be a JSON object, and
 * an error reply ("invalid_json") whenever the input is not exactly one JSON value: when bytes
 * other than JSON whitespace follow the value, or a \u0000 escape would have cut a string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../ws-worker/commands.h"
#include "../ws-worker/replies.h"
#include "text.h"

/* 1 when msg parses as a JSON value followed by something other than JSON whitespace. */
static int has_trailing_garbage(const char *msg, size_t size) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(msg, size, &end, 0);
    if (!root)
        return 0;
    cJSON_Delete(root);
    while (end < msg + size && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    return end != msg + size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *msg = (const char *)data;
    if (!text_is_utf8(msg, size))
        return 0;
    struct reply_pool pool = {0};
    struct command_ctx ctx = {.db = NULL, .user_id = 1, .replies = &pool};
    struct reply *r = commands_handle(&ctx, msg, size);
    if (!r)
        return 0;
    cJSON *parsed = cJSON_ParseWithLength(replies_json(r), r->len);
    if (!parsed || !cJSON_IsObject(parsed))
        abort(); /* a reply that is not a JSON object is a bug */
    if (has_trailing_garbage(msg, size) || text_json_has_nul_escape(msg, size)) {
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(parsed, "error");
        if (!cJSON_IsString(error) || strcmp(error->valuestring, "invalid_json") != 0)
            abort(); /* trailing bytes or a \u0000 escape answered as if it were a command */
    }
    cJSON_Delete(parsed);
    replies_put(&pool, r);
    replies_free(&pool);
    return 0;
}
