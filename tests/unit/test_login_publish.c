/* test_login_publish.c -- login-fcgi/publish.c: the publish key check, the body of a
 * publication and its packing. */
#include "test.h"

#include "../../login-fcgi/publish.h"

#define KEY "0123456789abcdef0123456789abcdef"

/* Parses text, expecting a refusal; returns its body printed (static), or "(accepted)". */
static const char *refusal(const char *text, size_t max) {
    static char out[512];
    struct publish_body b;
    cJSON *error = NULL;
    if (publish_parse(text, strlen(text), max, &b, &error) != PUBLISH_ERR_INVALID) {
        publish_body_free(&b);
        return "(accepted)";
    }
    if (!error || !cJSON_PrintPreallocated(error, out, sizeof out, 0))
        snprintf(out, sizeof out, "(no body)");
    cJSON_Delete(error);
    return out;
}

static void test_key(void) {
    TEST("publish: Bearer with the configured key is accepted, the scheme in any case");
    CHECK_INT(publish_key_check(KEY, "Bearer " KEY), PUBLISH_KEY_OK);
    CHECK_INT(publish_key_check(KEY, "bearer   " KEY "  "), PUBLISH_KEY_OK);
    TEST("publish: no header, or an empty one, is a missing key");
    CHECK_INT(publish_key_check(KEY, NULL), PUBLISH_KEY_MISSING);
    CHECK_INT(publish_key_check(KEY, ""), PUBLISH_KEY_MISSING);
    TEST("publish: another scheme, no key, or two words is not a Bearer header");
    CHECK_INT(publish_key_check(KEY, "Token " KEY), PUBLISH_KEY_NOT_BEARER);
    CHECK_INT(publish_key_check(KEY, "Bearer"), PUBLISH_KEY_NOT_BEARER);
    CHECK_INT(publish_key_check(KEY, "Bearer  "), PUBLISH_KEY_NOT_BEARER);
    CHECK_INT(publish_key_check(KEY, "Bearer " KEY " extra"), PUBLISH_KEY_NOT_BEARER);
    TEST("publish: a key that differs, is a prefix or is longer is wrong");
    CHECK_INT(publish_key_check(KEY, "Bearer 0123456789abcdef0123456789abcdeF"), PUBLISH_KEY_WRONG);
    CHECK_INT(publish_key_check(KEY, "Bearer 0123456789abcdef"), PUBLISH_KEY_WRONG);
    CHECK_INT(publish_key_check(KEY, "Bearer " KEY "0"), PUBLISH_KEY_WRONG);
}

static void test_bodies(void) {
    struct publish_body b;
    cJSON *error = NULL;
    const char *one = "{\"channel\": \"news\", \"data\": {\"x\": 1}, \"other\": 2}";
    TEST("publish: one channel, data an object, other keys ignored");
    CHECK_INT(publish_parse(one, strlen(one), 1000, &b, &error), PUBLISH_OK);
    CHECK_INT(b.n_channels, 1);
    CHECK_STR(b.channels[0], "news");
    CHECK(cJSON_IsObject(b.data));
    CHECK(error == NULL);
    publish_body_free(&b);
    const char *list = "{\"channels\": [\"a\", \"b.c\", \"user.7\"], \"data\": null}";
    TEST("publish: a list of channels, data null is still data");
    CHECK_INT(publish_parse(list, strlen(list), 3, &b, &error), PUBLISH_OK);
    CHECK_INT(b.n_channels, 3);
    CHECK_STR(b.channels[2], "user.7");
    CHECK(cJSON_IsNull(b.data));
    publish_body_free(&b);
    publish_body_free(NULL);
}

static void test_refusals(void) {
    TEST("publish: both keys, or neither, is a non-field error");
    CHECK_STR(refusal("{\"channel\":\"a\",\"channels\":[\"b\"],\"data\":1}", 10),
              "{\"non_field_errors\":[\"Give either \\\"channel\\\" or \\\"channels\\\", not "
              "both.\"]}");
    CHECK_STR(refusal("{\"data\":1}", 10),
              "{\"non_field_errors\":[\"Give \\\"channel\\\" or \\\"channels\\\".\"]}");
    TEST("publish: a bad name in the list names its index, not its text");
    CHECK_STR(refusal("{\"channels\":[\"a\",\"b\",\"bad name\"],\"data\":1}", 10),
              "{\"channels\":{\"2\":[\"Not a valid channel name: 1 to 99 letters, digits, "
              "'.', '_' or '-'.\"]}}");
    CHECK_STR(refusal("{\"channels\":[\"a\",7],\"data\":1}", 10),
              "{\"channels\":{\"1\":[\"Not a valid string.\"]}}");
    TEST("publish: more channels than the limit, an empty list, a list that is not one");
    CHECK_STR(refusal("{\"channels\":[\"a\",\"b\",\"c\"],\"data\":1}", 2),
              "{\"channels\":[\"Ensure this field has no more than 2 elements.\"]}");
    CHECK_STR(refusal("{\"channels\":[],\"data\":1}", 2),
              "{\"channels\":[\"This list may not be empty.\"]}");
    CHECK_STR(refusal("{\"channels\":{},\"data\":1}", 2),
              "{\"channels\":[\"Expected a list of channel names.\"]}");
    TEST("publish: data missing");
    CHECK_STR(refusal("{\"channel\":\"a\"}", 2), "{\"data\":[\"This field is required.\"]}");
    TEST("publish: not JSON, not an object, text after it, not UTF-8, a \\u0000 escape");
    CHECK_STR(refusal("{", 2), "{\"detail\":\"Malformed request: JSON parse error: invalid "
                               "JSON.\"}");
    CHECK_STR(refusal("[]", 2),
              "{\"detail\":\"Malformed request: JSON parse error: not an object.\"}");
    CHECK_STR(refusal("{} x", 2),
              "{\"detail\":\"Malformed request: JSON parse error: text after the value.\"}");
    CHECK_STR(refusal("{\"channel\":\"a\",\"data\":\"\xff\"}", 2),
              "{\"detail\":\"Malformed request: JSON parse error: not UTF-8.\"}");
    CHECK_STR(refusal("{\"channel\":\"a\",\"data\":\"\\u0000\"}", 2),
              "{\"detail\":\"Malformed request: JSON parse error: \\\\u0000 in a string.\"}");
}

static void test_pack(void) {
    struct publish_body b;
    cJSON *error = NULL;
    const char *text = "{\"channels\": [\"a\", \"longer\"], \"data\": \"0123456789\"}";
    msgpack_sbuffer out;
    TEST("publish: the message packs once, a fitting delivery is accepted");
    CHECK_INT(publish_parse(text, strlen(text), 10, &b, &error), PUBLISH_OK);
    msgpack_sbuffer_init(&out);
    CHECK_INT(publish_pack(&b, 65536, &out, &error), PUBLISH_OK);
    CHECK(out.size > 0);
    msgpack_sbuffer_destroy(&out);
    TEST("publish: a delivery over the WebSocket message limit is refused on data");
    msgpack_sbuffer_init(&out);
    CHECK_INT(publish_pack(&b, 30, &out, &error), PUBLISH_ERR_INVALID);
    CHECK(error && cJSON_GetObjectItem(error, "data"));
    cJSON_Delete(error);
    msgpack_sbuffer_destroy(&out);
    publish_body_free(&b);
}

void test_login_publish(void) {
    test_key();
    test_bodies();
    test_refusals();
    test_pack();
}
