/* test_event.c -- shared/event.c: messages made by Python's msgpack (channels_redis' packb)
 * delivered as JSON, tokenauth's own publications packed byte for byte as Python packs them,
 * round trips, exact huge integers, and every refusal: bin, ext, non-string keys, bad UTF-8,
 * NUL bytes, NaN, missing type, trailing bytes, depth and lying container counts. */
#include "test.h"

#include "event.h"

#include <stdlib.h>

/* Python: msgpack.packb({"type":"chat.message","text":"hi","n":3,"f":1.5,"l":[1,None,True]}) */
#define PY_DJANGO                                                                                  \
    "85a474797065ac636861742e6d657373616765a474657874a26869a16e03a166cb3ff8000000000000a16c9301c0" \
    "c3"
/* Python: {"type":"tokenauth.message","data":{"text":"h\u00e9llo \"q\"","n":-7},
 *          "from":{"id":42,"username":"ann"}} */
#define PY_TOKENAUTH                                                                               \
    "83a474797065b1746f6b656e617574682e6d657373616765a46461746182a474657874aa68c3a96c6c6f20227122" \
    "a16ef9a466726f6d82a269642aa8757365726e616d65a3616e6e"
/* Python: {"type":"big","u":2**64-1,"i":-2**63,"p":2**53+1} */
#define PY_HUGE                                                                                    \
    "84a474797065a3626967a175cfffffffffffffffffa169d38000000000000000a170cf0020000000000001"
/* Python: {"type":"tokenauth.message","data":{"a":[1,-2,1.5,"x",None,True,False,{}],
 *          "big":2**62},"from":{"id":42,"username":"ann"}} */
#define PY_PACKED                                                                                  \
    "83a474797065b1746f6b656e617574682e6d657373616765a46461746182a1619801fecb3ff8000000000000a178" \
    "c0c3c280a3626967cf4000000000000000a466726f6d82a269642aa8757365726e616d65a3616e6e"
/* Python: {"type":"tokenauth.message","data":"hi"} */
#define PY_NO_FROM "82a474797065b1746f6b656e617574682e6d657373616765a464617461a26869"

/* Hex text to bytes in out (size out_len); the byte count. */
static size_t unhex(const char *hex, unsigned char *out, size_t out_len) {
    size_t n = 0;
    for (; hex[0] && hex[1] && n < out_len; hex += 2) {
        char pair[3] = {hex[0], hex[1], '\0'};
        out[n++] = (unsigned char)strtoul(pair, NULL, 16);
    }
    return n;
}

/* The delivery of packed (len bytes) on channel, or NULL with *rc set; static storage. */
static const char *deliver_bytes(const char *channel, const unsigned char *packed, size_t len,
                                 int *rc) {
    static char text[4096];
    char *buf = (char *)"unset";
    size_t json_len = 0;
    *rc = event_delivery_json(channel, packed, len, 16, &buf, &json_len);
    if (*rc != EVENT_OK) {
        TEST_RECORD(buf == NULL, "buf not NULL after error %d", *rc);
        return NULL;
    }
    TEST_RECORD(strlen(buf + 16) == json_len && json_len < sizeof text, "json_len %zu, text \"%s\"",
                json_len, buf + 16);
    snprintf(text, sizeof text, "%s", buf + 16);
    free(buf);
    return text;
}

static const char *deliver_hex(const char *channel, const char *hex, int *rc) {
    unsigned char packed[1024];
    return deliver_bytes(channel, packed, unhex(hex, packed, sizeof packed), rc);
}

/* The result code of delivering hex on "c". */
static int deliver_rc(const char *hex) {
    int rc;
    deliver_hex("c", hex, &rc);
    return rc;
}

static void test_python_messages(void) {
    int rc;

    TEST("event: a Django group_send event is delivered whole as data");
    CHECK_STR(deliver_hex("lobby", PY_DJANGO, &rc),
              "{\"channel\":\"lobby\",\"data\":{\"type\":\"chat.message\",\"text\":\"hi\",\"n\":3,"
              "\"f\":1.5,\"l\":[1,null,true]}}");
    TEST("event: a tokenauth.message made by Python delivers its data and from");
    CHECK_STR(deliver_hex("news.sport", PY_TOKENAUTH, &rc),
              "{\"channel\":\"news.sport\",\"data\":{\"text\":\"h\xc3\xa9llo \\\"q\\\"\",\"n\":-7},"
              "\"from\":{\"id\":42,\"username\":\"ann\"}}");
    TEST("event: with no channel (a reply channel's message) it says via reply_channel");
    CHECK_STR(deliver_hex(NULL, PY_TOKENAUTH, &rc),
              "{\"via\":\"reply_channel\",\"data\":{\"text\":\"h\xc3\xa9llo \\\"q\\\"\","
              "\"n\":-7},\"from\":{\"id\":42,\"username\":\"ann\"}}");
    CHECK_STR(deliver_hex(NULL, "81a474797065a0", &rc),
              "{\"via\":\"reply_channel\",\"data\":{\"type\":\"\"}}");
    TEST("event: a tokenauth.message without from has no from");
    CHECK_STR(deliver_hex("c", PY_NO_FROM, &rc), "{\"channel\":\"c\",\"data\":\"hi\"}");
    TEST("event: integers beyond 2^53 are written exactly, the whole uint64 and int64 ranges");
    CHECK_STR(deliver_hex("c", PY_HUGE, &rc),
              "{\"channel\":\"c\",\"data\":{\"type\":\"big\",\"u\":18446744073709551615,"
              "\"i\":-9223372036854775808,\"p\":9007199254740993}}");
    TEST("event: a float32 and an empty type are delivered");
    CHECK_STR(deliver_hex("c", "82a474797065a178a166ca3fc00000", &rc),
              "{\"channel\":\"c\",\"data\":{\"type\":\"x\",\"f\":1.5}}");
    CHECK_STR(deliver_hex("c", "81a474797065a0", &rc),
              "{\"channel\":\"c\",\"data\":{\"type\":\"\"}}");
    TEST("event: control characters in strings are escaped");
    CHECK_STR(deliver_hex("c", "82a474797065a178a173a20a01", &rc),
              "{\"channel\":\"c\",\"data\":{\"type\":\"x\",\"s\":\"\\n\\u0001\"}}");
}

static void test_refusals(void) {
    TEST("event: bin and ext values are refused (Python bytes, ExtType)");
    CHECK_INT(deliver_rc("82a474797065a178a162c4020001"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a165d5056162"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a165c7020161"), EVENT_ERR_FORMAT);
    TEST("event: a key that is not a string is refused");
    CHECK_INT(deliver_rc("82a474797065a1780102"), EVENT_ERR_FORMAT);
    TEST("event: a missing or non-string type is refused");
    CHECK_INT(deliver_rc("81a474657874a178"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("81a47479706505"), EVENT_ERR_FORMAT);
    TEST("event: a tokenauth.message without data is refused");
    CHECK_INT(deliver_rc("81a474797065b1746f6b656e617574682e6d657373616765"), EVENT_ERR_FORMAT);
    TEST("event: a top level that is not a map is refused");
    CHECK_INT(deliver_rc("92a474797065a178"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("a474797065"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc(""), EVENT_ERR_FORMAT);
    TEST("event: bytes after the map, or a map cut short, are refused");
    CHECK_INT(deliver_rc(PY_DJANGO "c0"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("85a474797065ac636861742e6d657373616765a474657874a26869a16e03a166cb3ff8"),
              EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a173dbffff"), EVENT_ERR_FORMAT);
    TEST("event: strings that are not UTF-8, in values or keys, are refused");
    CHECK_INT(deliver_rc("82a474797065a178a173a2c328"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a2eda0a101"), EVENT_ERR_FORMAT);
    TEST("event: a string with a NUL byte is refused (cJSON cannot write \\u0000)");
    CHECK_INT(deliver_rc("82a474797065a178a173a3610062"), EVENT_ERR_FORMAT);
    TEST("event: NaN and infinities are refused (JSON has none)");
    CHECK_INT(deliver_rc("82a474797065a178a166cb7ff8000000000000"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a166cb7ff0000000000000"), EVENT_ERR_FORMAT);
    TEST("event: the unused byte 0xc1 is refused");
    CHECK_INT(deliver_rc("82a474797065a178a166c1"), EVENT_ERR_FORMAT);
}

/* {"type":"x","d": n nested arrays around nil}: n + 1 containers in all. */
static int deliver_nested(int n) {
    unsigned char packed[256];
    size_t len = unhex("82a474797065a178a164", packed, sizeof packed);
    for (int i = 0; i < n; i++)
        packed[len++] = 0x91;
    packed[len++] = 0xc0;
    int rc;
    deliver_bytes("c", packed, len, &rc);
    return rc;
}

static void test_limits(void) {
    TEST("event: nesting up to EVENT_MAX_DEPTH containers is delivered, one more is refused");
    CHECK_INT(deliver_nested(EVENT_MAX_DEPTH - 1), EVENT_OK);
    CHECK_INT(deliver_nested(EVENT_MAX_DEPTH), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_nested(100), EVENT_ERR_FORMAT);
    TEST("event: a container count larger than the bytes left is refused before allocating");
    CHECK_INT(deliver_rc("dd0fffffff"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("df7fffffff"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a161ddffffffff"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a161dc0003c0c0"), EVENT_ERR_FORMAT);
    CHECK_INT(deliver_rc("82a474797065a178a161dc0002c0c0"), EVENT_OK);
    TEST("event: the frame limit is TOKENAUTH_WS_MAX_MESSAGE, inclusive");
    CHECK_INT(event_delivery_fits(65536, 65536), 1);
    CHECK_INT(event_delivery_fits(65537, 65536), 0);
    CHECK_INT(event_delivery_fits(0, 128), 1);
}

/* Packs the JSON text data with a sender; the packed bytes as hex, or "" on error (*rc). */
static const char *pack_hex(const char *data_json, const char *username, int *rc) {
    static char hex[2048];
    msgpack_sbuffer sb;
    cJSON *data = cJSON_Parse(data_json);
    msgpack_sbuffer_init(&sb);
    *rc = event_pack_message(data, 42, username, &sb);
    hex[0] = '\0';
    for (size_t i = 0; *rc == EVENT_OK && i < sb.size && 2 * i + 2 < sizeof hex; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)sb.data[i]);
    if (*rc != EVENT_OK)
        TEST_RECORD(sb.size == 0, "%zu bytes left after error %d", sb.size, *rc);
    msgpack_sbuffer_destroy(&sb);
    cJSON_Delete(data);
    return hex;
}

/* Packs then delivers the JSON text data on "c"; the delivery, or NULL. */
static const char *round_trip(const char *data_json, const char *username) {
    int rc;
    const char *hex = pack_hex(data_json, username, &rc);
    TEST_RECORD(rc == EVENT_OK, "packing %s: %d", data_json, rc);
    return deliver_hex("c", hex, &rc);
}

static void test_pack(void) {
    int rc;

    TEST("event: a publication is packed byte for byte as Python's msgpack.packb packs it");
    CHECK_STR(pack_hex("{\"a\":[1,-2,1.5,\"x\",null,true,false,{}],\"big\":4611686018427387904}",
                       "ann", &rc),
              PY_PACKED);
    CHECK_STR(pack_hex("\"hi\"", NULL, &rc), PY_NO_FROM);
    TEST("event: pack then deliver gives the same JSON");
    CHECK_STR(round_trip("{\"text\":\"h\xc3\xa9llo\",\"l\":[1,2.25,null,true,{\"k\":[]}]}", "ann"),
              "{\"channel\":\"c\",\"data\":{\"text\":\"h\xc3\xa9llo\",\"l\":[1,2.25,null,true,"
              "{\"k\":[]}]},\"from\":{\"id\":42,\"username\":\"ann\"}}");
    CHECK_STR(round_trip("-9007199254740993e0", NULL),
              "{\"channel\":\"c\",\"data\":-9007199254740992}");
    CHECK_STR(round_trip("1e300", NULL), "{\"channel\":\"c\",\"data\":1e+300}");
    /* 2^63 - 1 is 2^63 once cJSON has it as a double: no int64, so a float64; -0.0 stays -0 */
    CHECK_STR(round_trip("[9223372036854775807, -0.0, 0.1]", NULL),
              "{\"channel\":\"c\",\"data\":[9.2233720368547758e+18,-0,0.1]}");
    TEST("event: data nested to the limit packs, one level more is refused");
    char deep[2 * EVENT_MAX_DEPTH + 1];
    memset(deep, '[', EVENT_MAX_DEPTH - 1);
    memset(deep + EVENT_MAX_DEPTH - 1, ']', EVENT_MAX_DEPTH - 1);
    deep[2 * EVENT_MAX_DEPTH - 2] = '\0';
    CHECK(round_trip(deep, "ann") != NULL);
    memset(deep, '[', EVENT_MAX_DEPTH);
    memset(deep + EVENT_MAX_DEPTH, ']', EVENT_MAX_DEPTH);
    deep[2 * EVENT_MAX_DEPTH] = '\0';
    pack_hex(deep, "ann", &rc);
    CHECK_INT(rc, EVENT_ERR_FORMAT);
    TEST("event: strings that are not UTF-8 are refused when packing, data or username");
    pack_hex("\"\xc3\x28\"", NULL, &rc);
    CHECK_INT(rc, EVENT_ERR_FORMAT);
    pack_hex("{\"\xff\":1}", NULL, &rc);
    CHECK_INT(rc, EVENT_ERR_FORMAT);
    pack_hex("1", "\xc3", &rc);
    CHECK_INT(rc, EVENT_ERR_FORMAT);
    TEST("event: an infinite number or a raw item is refused when packing");
    pack_hex("1e999", NULL, &rc);
    CHECK_INT(rc, EVENT_ERR_FORMAT);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_write(&sb, "ab", 2);
    cJSON *raw = cJSON_CreateRaw("1");
    CHECK_INT(event_pack_message(raw, 1, NULL, &sb), EVENT_ERR_FORMAT);
    TEST("event: a failed pack leaves what the buffer held before");
    CHECK_INT(sb.size, 2);
    cJSON_Delete(raw);
    msgpack_sbuffer_destroy(&sb);
}

void test_event(void) {
    test_python_messages();
    test_refusals();
    test_limits();
    test_pack();
}
