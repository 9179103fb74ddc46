/* event.c -- PROVISIONAL stand-in for branch channel's event.c; replaced at merge. */
#include "event.h"

#include <string.h>

static int pack_str(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static int pack_json(msgpack_packer *pk, const cJSON *j) {
    if (cJSON_IsNull(j))
        return msgpack_pack_nil(pk);
    if (cJSON_IsTrue(j))
        return msgpack_pack_true(pk);
    if (cJSON_IsFalse(j))
        return msgpack_pack_false(pk);
    if (cJSON_IsString(j))
        return pack_str(pk, j->valuestring);
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == (double)(int64_t)d && d > -9e15 && d < 9e15)
            return msgpack_pack_int64(pk, (int64_t)d);
        return msgpack_pack_double(pk, d);
    }
    int n = cJSON_GetArraySize(j), rc;
    rc = cJSON_IsArray(j) ? msgpack_pack_array(pk, (size_t)n) : msgpack_pack_map(pk, (size_t)n);
    for (const cJSON *c = j->child; c && rc == 0; c = c->next) {
        if (cJSON_IsObject(j))
            rc = pack_str(pk, c->string);
        if (rc == 0)
            rc = pack_json(pk, c);
    }
    return rc;
}

int event_pack_message(const cJSON *data, int64_t from_id, const char *from_username,
                       msgpack_sbuffer *out) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = msgpack_pack_map(&pk, from_username ? 3 : 2);
    rc = rc || pack_str(&pk, "type") || pack_str(&pk, "tokenauth.message");
    rc = rc || pack_str(&pk, "data") || pack_json(&pk, data);
    if (from_username)
        rc = rc || pack_str(&pk, "from") || msgpack_pack_map(&pk, 2) || pack_str(&pk, "id") ||
             msgpack_pack_int64(&pk, from_id) || pack_str(&pk, "username") ||
             pack_str(&pk, from_username);
    return rc ? -1 : 0;
}
