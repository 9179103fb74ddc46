/* fuzz_event.c -- libFuzzer harness for shared/event.c. The input is used twice:
 *   - as a Redis message: event_delivery_json() must answer EVENT_OK or EVENT_ERR_FORMAT (never
 *     crash, leak or allocate far beyond the input's size), and on EVENT_OK the text after the
 *     headroom is terminated, json_len long, UTF-8, and parses as an object whose "channel" is
 *     the channel given and which has "data";
 *   - as JSON text, when it parses: event_pack_message() then event_delivery_json() must give
 *     back data that cJSON prints as it prints what was packed, unless packing refused it as
 *     EVENT_ERR_FORMAT (too deep, not UTF-8, not finite). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event.h"
#include "text.h"
#include "fuzz.h"

#define HEADROOM 16

/* Delivers packed on "fuzz.c" and checks the result; the parsed delivery (caller frees) or NULL. */
static cJSON *deliver(const void *packed, size_t len) {
    char *buf = (char *)"unset";
    size_t json_len = 0;
    int rc = event_delivery_json("fuzz.c", packed, len, HEADROOM, &buf, &json_len);
    REQUIRE(rc == EVENT_OK || rc == EVENT_ERR_FORMAT);
    if (rc != EVENT_OK) {
        REQUIRE(buf == NULL);
        return NULL;
    }
    const char *text = buf + HEADROOM;
    REQUIRE(text[json_len] == '\0' && strlen(text) == json_len && text_is_utf8(text, json_len));
    cJSON *delivery = cJSON_ParseWithLength(text, json_len);
    free(buf);
    REQUIRE(cJSON_IsObject(delivery));
    const cJSON *channel = cJSON_GetObjectItemCaseSensitive(delivery, "channel");
    REQUIRE(cJSON_IsString(channel) && strcmp(channel->valuestring, "fuzz.c") == 0);
    REQUIRE(cJSON_GetObjectItemCaseSensitive(delivery, "data") != NULL);
    return delivery;
}

/* Packs data as a publication of user 42 and delivers it: the data must come back unchanged. */
static void round_trip(const cJSON *data) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = event_pack_message(data, 42, "fuzzer", &sb);
    REQUIRE(rc == EVENT_OK || rc == EVENT_ERR_FORMAT);
    if (rc == EVENT_OK) {
        cJSON *delivery = deliver(sb.data, sb.size);
        REQUIRE(delivery != NULL);
        /* compared as cJSON prints both trees: duplicate keys defeat cJSON_Compare */
        char *sent = cJSON_PrintUnformatted(data);
        char *got = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(delivery, "data"));
        REQUIRE(!sent || !got || strcmp(sent, got) == 0);
        cJSON_free(sent);
        cJSON_free(got);
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(delivery, "from");
        REQUIRE(cJSON_GetObjectItemCaseSensitive(from, "id")->valuedouble == 42);
        cJSON_Delete(delivery);
    } else {
        REQUIRE(sb.size == 0);
    }
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON_Delete(deliver(data, size));
    cJSON *json = cJSON_ParseWithLength((const char *)data, size);
    if (json)
        round_trip(json);
    cJSON_Delete(json);
    return 0;
}
