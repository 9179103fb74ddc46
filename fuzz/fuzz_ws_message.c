/* fuzz_ws_message.c -- libFuzzer harness for the WebSocket message handler: UTF-8 check, then
 * commands_handle() on whatever passes, as protocol.c does. No database (whoami answers
 * "unavailable"), so every other path runs at full speed. The reply must be valid JSON. */
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "../ws-worker/commands.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *msg = (const char *)data;
    if (!text_is_utf8(msg, size))
        return 0;
    struct command_ctx ctx = {.db = NULL, .user_id = 1};
    char *reply = NULL;
    size_t n = 0;
    if (commands_handle(&ctx, msg, size, 16, &reply, &n) != COMMANDS_OK)
        return 0;
    cJSON *parsed = cJSON_ParseWithLength(reply + 16, n);
    if (!parsed || !cJSON_IsObject(parsed))
        abort(); /* a reply that is not a JSON object is a bug */
    cJSON_Delete(parsed);
    free(reply);
    return 0;
}
