/* publish.c -- the publish key check and the body of POST /api/publish/ (the contract is in
 * publish.h).
 *
 * The key is never copied, logged or echoed: only its digest is compared. The body is parsed
 * by cJSON after the UTF-8 and \u0000 checks both programs make (text.h); the messages of a
 * refusal are DRF's where DRF has one ("This field is required.", "Not a valid string.",
 * "This list may not be empty.", "Ensure this field has no more than N elements."). */
#include "publish.h"

#include "channel.h"
#include "event.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define NOT_A_NAME "Not a valid channel name: 1 to 99 letters, digits, '.', '_' or '-'."

/* SHA-256 of s into out; 0, or -1 when the crypto library fails. */
static int digest(const char *s, size_t len, unsigned char out[32]) {
    unsigned int n = 0;
    return EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32 ? 0 : -1;
}

int publish_key_check(const char *configured, const char *authorization) {
    if (!authorization || !*authorization)
        return PUBLISH_KEY_MISSING;
    const char *p = authorization;
    while (*p == ' ')
        p++;
    if (strncasecmp(p, "Bearer ", 7) != 0)
        return PUBLISH_KEY_NOT_BEARER;
    p += 7;
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, " \t");
    const char *rest = p + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (n == 0 || *rest)
        return PUBLISH_KEY_NOT_BEARER;
    unsigned char given[32], wanted[32];
    if (digest(p, n, given) < 0 || digest(configured, strlen(configured), wanted) < 0)
        return PUBLISH_KEY_WRONG;
    return CRYPTO_memcmp(given, wanted, sizeof given) == 0 ? PUBLISH_KEY_OK : PUBLISH_KEY_WRONG;
}

/* {name: [message]}, or {name: {"<index>": [message]}} when index >= 0. NULL: out of memory. */
static cJSON *field_error(const char *name, long index, const char *message) {
    cJSON *body = cJSON_CreateObject();
    cJSON *holder = body;
    char key[24];
    if (body && index >= 0) {
        snprintf(key, sizeof key, "%ld", index);
        holder = cJSON_AddObjectToObject(body, name);
        name = key;
    }
    cJSON *list = holder ? cJSON_AddArrayToObject(holder, name) : NULL;
    cJSON *text = list ? cJSON_CreateString(message) : NULL;
    if (!text || !cJSON_AddItemToArray(list, text)) {
        cJSON_Delete(text);
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

/* Sets *error to body (the 400's body, NULL when it could not be made) and refuses. */
static int refuse(cJSON **error, cJSON *body) {
    *error = body;
    return PUBLISH_ERR_INVALID;
}

/* Refuses with {"detail": "Malformed request: <why>."}. */
static int malformed(cJSON **error, const char *why) {
    char text[128];
    snprintf(text, sizeof text, "Malformed request: %s.", why);
    cJSON *body = cJSON_CreateObject();
    if (body && !cJSON_AddStringToObject(body, "detail", text)) {
        cJSON_Delete(body);
        body = NULL;
    }
    return refuse(error, body);
}

/* Parses the text into *root, a JSON object: PUBLISH_OK or a refusal. */
static int parse_json(const char *body, size_t len, cJSON **root, cJSON **error) {
    if (!text_is_utf8(body, len))
        return malformed(error, "JSON parse error: not UTF-8");
    if (text_json_has_nul_escape(body, len))
        return malformed(error, "JSON parse error: \\u0000 in a string");
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!*root)
        return malformed(error, "JSON parse error: invalid JSON");
    while (end && end < body + len && strchr(" \t\r\n", *end) && *end)
        end++;
    if (end != body + len)
        return malformed(error, "JSON parse error: text after the value");
    if (!cJSON_IsObject(*root))
        return malformed(error, "JSON parse error: not an object");
    return PUBLISH_OK;
}

/* The list's size, or "channel" alone as one: a refusal when the count is not 1 to max. */
static int channel_count(const cJSON *one, const cJSON *list, size_t max, size_t *n,
                         cJSON **error) {
    if (one && list)
        return refuse(error, field_error("non_field_errors", -1,
                                         "Give either \"channel\" or \"channels\", not both."));
    if (!one && !list)
        return refuse(error,
                      field_error("non_field_errors", -1, "Give \"channel\" or \"channels\"."));
    if (list && !cJSON_IsArray(list))
        return refuse(error, field_error("channels", -1, "Expected a list of channel names."));
    *n = one ? 1 : (size_t)cJSON_GetArraySize(list);
    if (*n == 0)
        return refuse(error, field_error("channels", -1, "This list may not be empty."));
    if (*n > max) {
        char text[96];
        snprintf(text, sizeof text, "Ensure this field has no more than %zu elements.", max);
        return refuse(error, field_error("channels", -1, text));
    }
    return PUBLISH_OK;
}

/* Fills out's channels from "channel" (one name) or "channels" (a list). */
static int take_channels(const cJSON *one, const cJSON *list, size_t max, struct publish_body *out,
                         cJSON **error) {
    size_t n;
    int rc = channel_count(one, list, max, &n, error);
    if (rc != PUBLISH_OK)
        return rc;
    out->channels = calloc(n, sizeof *out->channels);
    if (!out->channels)
        return PUBLISH_ERR_NOMEM;
    const char *field = one ? "channel" : "channels";
    const cJSON *item = one ? one : list->child;
    for (long i = 0; item; item = one ? NULL : item->next, i++) {
        if (!cJSON_IsString(item))
            return refuse(error, field_error(field, one ? -1 : i, "Not a valid string."));
        if (!channel_name_is_valid(item->valuestring))
            return refuse(error, field_error(field, one ? -1 : i, NOT_A_NAME));
        out->channels[out->n_channels++] = item->valuestring;
    }
    return PUBLISH_OK;
}

int publish_parse(const char *body, size_t len, size_t max_channels, struct publish_body *out,
                  cJSON **error) {
    memset(out, 0, sizeof *out);
    *error = NULL;
    int rc = parse_json(body, len, &out->root, error);
    if (rc == PUBLISH_OK)
        rc = take_channels(cJSON_GetObjectItemCaseSensitive(out->root, "channel"),
                           cJSON_GetObjectItemCaseSensitive(out->root, "channels"), max_channels,
                           out, error);
    if (rc == PUBLISH_OK) {
        out->data = cJSON_GetObjectItemCaseSensitive(out->root, "data");
        if (!out->data)
            rc = refuse(error, field_error("data", -1, "This field is required."));
    }
    if (rc != PUBLISH_OK)
        publish_body_free(out);
    return rc;
}

/* The longest channel name of b: the largest delivery a client would get. */
static const char *longest_channel(const struct publish_body *b) {
    const char *longest = b->channels[0];
    for (size_t i = 1; i < b->n_channels; i++)
        if (strlen(b->channels[i]) > strlen(longest))
            longest = b->channels[i];
    return longest;
}

int publish_pack(const struct publish_body *b, long max_message_bytes, msgpack_sbuffer *out,
                 cJSON **error) {
    *error = NULL;
    int rc = event_pack_message(b->data, 0, NULL, out);
    if (rc == EVENT_ERR_FORMAT) {
        char text[128];
        snprintf(text, sizeof text,
                 "Cannot be published: nested deeper than %d, or a number out of range.",
                 EVENT_MAX_DEPTH - 1);
        return refuse(error, field_error("data", -1, text));
    }
    if (rc != EVENT_OK)
        return PUBLISH_ERR_NOMEM;
    char *delivery = NULL;
    size_t json_len = 0;
    rc = event_delivery_json(longest_channel(b), out->data, out->size, 0, &delivery, &json_len);
    free(delivery);
    if (rc == EVENT_ERR_NOMEM)
        return PUBLISH_ERR_NOMEM;
    if (rc != EVENT_OK || !event_delivery_fits(json_len, max_message_bytes)) {
        char text[160];
        snprintf(text, sizeof text,
                 "Too large: a WebSocket client would get %zu bytes, over "
                 "TOKENAUTH_WS_MAX_MESSAGE (%ld).",
                 json_len, max_message_bytes);
        return refuse(error, field_error("data", -1, text));
    }
    return PUBLISH_OK;
}

void publish_body_free(struct publish_body *b) {
    if (!b)
        return;
    cJSON_Delete(b->root);
    free(b->channels);
    memset(b, 0, sizeof *b);
}
