/* event.c -- channel events: the channels_redis message map to and from the JSON a client gets.
 *
 * Packing walks the cJSON tree into a msgpack_packer writing to the caller's sbuffer. Decoding
 * runs in three steps: a bounds walk over the bytes (below), msgpack-c's msgpack_unpack_next
 * into a zone, then a cJSON tree printed by cJSON, which escapes every string. Integers enter
 * that tree as raw number text printed here, because cJSON keeps numbers as doubles and would
 * round those beyond 2^53.
 *
 * Why the bounds walk: msgpack-c allocates a container's elements from the count in its header
 * before it reads them, so five bytes (0xdd and a 32-bit count) ask for gigabytes, and it
 * reports nesting past its fixed stack of 32 as out of memory. The walk reads only the headers:
 * every count must fit in the bytes left (each element takes at least one), nesting must stay
 * within EVENT_MAX_DEPTH, bin and ext are refused, and one object must end exactly at the end.
 * What passes can be unpacked in memory proportional to its size, and a failure of msgpack-c
 * afterwards is a real one.
 *
 * Not done: duplicate keys (Python never makes them) are passed on as they come; a float32 is
 * widened to double and printed as such (1.1f becomes 1.100000023841858). */
#include "event.h"

#include "text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The size of what follows a msgpack header byte, read by header_of(). */
struct header {
    size_t len;     /* bytes of the header itself */
    size_t payload; /* bytes of a scalar's or a str's body after the header */
    size_t n_items; /* objects a container holds (a map: keys and values) */
    int is_container;
};

/* Big-endian unsigned integer of n bytes (1, 2 or 4) at p. */
static size_t read_be(const unsigned char *p, size_t n) {
    size_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Describes the object starting at p (avail bytes, at least 1) in *h. -1 for bin, ext, the
 * unused 0xc1 or a header cut short. */
static int header_of(const unsigned char *p, size_t avail, struct header *h) {
    static const unsigned char fixed_len[] = {
        /* 0xca..0xd3: float32, float64, uint8..64, int8..64 */
        5, 9, 2, 3, 5, 9, 2, 3, 5, 9};
    unsigned char b = p[0];
    memset(h, 0, sizeof *h);
    h->len = 1;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b >= 0xca && b <= 0xd3) {
        h->len = fixed_len[b - 0xca];
        return h->len <= avail ? 0 : -1;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        h->payload = b & 0x1f;
        return 0;
    }
    if (b <= 0x9f) { /* fixmap 0x80..0x8f, fixarray 0x90..0x9f */
        h->is_container = 1;
        h->n_items = (size_t)(b & 0x0f) << (b <= 0x8f);
        return 0;
    }
    size_t count_len = b == 0xd9 ? 1 : (b == 0xda || b == 0xdc || b == 0xde) ? 2 : 4;
    if (b < 0xd9 || 1 + count_len > avail)
        return -1; /* bin 0xc4..0xc6, ext 0xc7..0xc9 and 0xd4..0xd8, 0xc1 */
    h->len = 1 + count_len;
    size_t count = read_be(p + 1, count_len);
    if (b <= 0xdb)
        h->payload = count;
    else
        h->is_container = 1, h->n_items = count << (b >= 0xde);
    return 0;
}

/* The bounds walk: 0 when the len bytes at p are one msgpack object msgpack-c can unpack in
 * memory proportional to len, nesting within EVENT_MAX_DEPTH, without bin or ext; else -1. */
static int bounds_ok(const unsigned char *p, size_t len) {
    size_t pending[EVENT_MAX_DEPTH + 1]; /* objects still to read at each open level */
    int depth = 0;
    size_t pos = 0;
    struct header h;

    pending[0] = 1;
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        if (pos >= len || header_of(p + pos, len - pos, &h) != 0)
            return -1;
        pos += h.len;
        if (h.payload > len - pos)
            return -1;
        pos += h.payload;
        if (!h.is_container)
            continue;
        if (depth == EVENT_MAX_DEPTH || h.n_items > len - pos)
            return -1;
        pending[++depth] = h.n_items;
    }
    return pos == len ? 0 : -1;
}

static int to_json(const msgpack_object *o, cJSON **out);

/* A NUL-terminated copy of a str that is UTF-8 without NUL bytes, or NULL with *rc set. */
static char *str_copy(const msgpack_object *o, int *rc) {
    const msgpack_object_str *s = &o->via.str;
    *rc = EVENT_ERR_FORMAT;
    if (o->type != MSGPACK_OBJECT_STR)
        return NULL;
    if (s->size > 0 && (memchr(s->ptr, '\0', s->size) || !text_is_utf8(s->ptr, s->size)))
        return NULL; /* an empty str has a NULL ptr, which memchr and memcpy must not see */
    char *copy = malloc((size_t)s->size + 1);
    *rc = copy ? EVENT_OK : EVENT_ERR_NOMEM;
    if (copy && s->size > 0)
        memcpy(copy, s->ptr, s->size);
    if (copy)
        copy[s->size] = '\0';
    return copy;
}

/* An integer as exact number text (cJSON would hold it as a double). */
static cJSON *integer_json(const msgpack_object *o) {
    char text[32];
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(text, sizeof text, "%" PRIu64, o->via.u64);
    else
        snprintf(text, sizeof text, "%" PRId64, o->via.i64);
    return cJSON_CreateRaw(text);
}

static int array_json(const msgpack_object_array *a, cJSON *array) {
    for (uint32_t i = 0; i < a->size; i++) {
        cJSON *item;
        int rc = to_json(&a->ptr[i], &item);
        if (rc != EVENT_OK)
            return rc;
        cJSON_AddItemToArray(array, item);
    }
    return EVENT_OK;
}

static int map_json(const msgpack_object_map *m, cJSON *object) {
    for (uint32_t i = 0; i < m->size; i++) {
        int rc;
        cJSON *value;
        char *key = str_copy(&m->ptr[i].key, &rc);
        if (!key)
            return rc;
        rc = to_json(&m->ptr[i].val, &value);
        if (rc == EVENT_OK && !cJSON_AddItemToObject(object, key, value)) { /* copies key */
            cJSON_Delete(value);
            rc = EVENT_ERR_NOMEM;
        }
        free(key);
        if (rc != EVENT_OK)
            return rc;
    }
    return EVENT_OK;
}

/* A scalar as a cJSON item (*out NULL when it is no scalar this module maps). */
static int scalar_json(const msgpack_object *o, cJSON **out) {
    int rc = EVENT_OK;
    char *s;
    *out = NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        *out = cJSON_CreateNull();
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        *out = cJSON_CreateBool(o->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = integer_json(o);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return EVENT_ERR_FORMAT;
        *out = cJSON_CreateNumber(o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        if (!(s = str_copy(o, &rc)))
            return rc;
        *out = cJSON_CreateString(s);
        free(s);
        break;
    default:
        return EVENT_ERR_FORMAT; /* bin and ext: the bounds walk refuses them already */
    }
    return *out ? EVENT_OK : EVENT_ERR_NOMEM;
}

/* Converts o into a new cJSON tree in *out (NULL on error). The bounds walk limits the depth of
 * this recursion to EVENT_MAX_DEPTH. */
static int to_json(const msgpack_object *o, cJSON **out) {
    int rc;
    if (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)
        return scalar_json(o, out);
    cJSON *container = o->type == MSGPACK_OBJECT_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!container)
        return *out = NULL, EVENT_ERR_NOMEM;
    rc = o->type == MSGPACK_OBJECT_MAP ? map_json(&o->via.map, container)
                                       : array_json(&o->via.array, container);
    if (rc != EVENT_OK) {
        cJSON_Delete(container);
        container = NULL;
    }
    *out = container;
    return rc;
}

/* 1 when event is one this module delivers: a string "type", and "data" for tokenauth's. */
static int event_is_deliverable(const cJSON *event) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
    if (!cJSON_IsString(type))
        return 0;
    return strcmp(type->valuestring, EVENT_TYPE_MESSAGE) != 0 ||
           cJSON_GetObjectItemCaseSensitive(event, "data") != NULL;
}

/* Moves the member name of from (if any) into to; 0, or -1 when out of memory. */
static int move_member(cJSON *from, const char *name, cJSON *to) {
    cJSON *item = cJSON_DetachItemFromObjectCaseSensitive(from, name);
    if (item && !cJSON_AddItemToObject(to, name, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* Builds the delivery object from event, a deliverable one (consumed: moved into it or freed);
 * channel NULL: "via": "reply_channel" in place of the channel's name. */
static int delivery_object(const char *channel, cJSON *event, cJSON **out) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
    cJSON *delivery = cJSON_CreateObject();
    const char *key = channel ? "channel" : "via", *value = channel ? channel : "reply_channel";
    int failed = !delivery || !cJSON_AddStringToObject(delivery, key, value);

    if (!failed && strcmp(type->valuestring, EVENT_TYPE_MESSAGE) != 0) {
        failed = !cJSON_AddItemToObject(delivery, "data", event);
        if (!failed)
            event = NULL; /* now owned by delivery */
    } else if (!failed) {
        failed =
            move_member(event, "data", delivery) != 0 || move_member(event, "from", delivery) != 0;
    }
    cJSON_Delete(event);
    if (failed) {
        cJSON_Delete(delivery);
        delivery = NULL;
    }
    *out = delivery;
    return failed ? EVENT_ERR_NOMEM : EVENT_OK;
}

/* Prints tree into a new buffer after headroom bytes. */
static int print_with_headroom(const cJSON *tree, size_t headroom, char **buf, size_t *json_len) {
    char *text = cJSON_PrintUnformatted(tree);
    if (!text)
        return EVENT_ERR_NOMEM;
    size_t len = strlen(text);
    *buf = malloc(headroom + len + 1);
    if (*buf) {
        memcpy(*buf + headroom, text, len + 1);
        *json_len = len;
    }
    cJSON_free(text);
    return *buf ? EVENT_OK : EVENT_ERR_NOMEM;
}

int event_delivery_json(const char *channel, const void *packed, size_t packed_len, size_t headroom,
                        char **buf, size_t *json_len) {
    msgpack_unpacked unpacked;
    size_t offset = 0;
    cJSON *event = NULL, *delivery = NULL;
    int rc = EVENT_ERR_FORMAT;

    *buf = NULL;
    if (bounds_ok(packed, packed_len) != 0)
        return EVENT_ERR_FORMAT;
    msgpack_unpacked_init(&unpacked);
    switch (msgpack_unpack_next(&unpacked, packed, packed_len, &offset)) {
    case MSGPACK_UNPACK_SUCCESS:
        if (offset == packed_len && unpacked.data.type == MSGPACK_OBJECT_MAP)
            rc = to_json(&unpacked.data, &event);
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        rc = EVENT_ERR_NOMEM;
        break;
    default:
        break;
    }
    msgpack_unpacked_destroy(&unpacked);
    if (rc == EVENT_OK && !event_is_deliverable(event))
        rc = EVENT_ERR_FORMAT;
    if (rc == EVENT_OK)
        rc = delivery_object(channel, event, &delivery);
    else
        cJSON_Delete(event);
    if (rc == EVENT_OK)
        rc = print_with_headroom(delivery, headroom, buf, json_len);
    cJSON_Delete(delivery);
    return rc;
}

static int pack_json(msgpack_packer *pk, const cJSON *item, int depth);

static int pack_str(msgpack_packer *pk, const char *s) {
    size_t len = strlen(s);
    if (!text_is_utf8(s, len))
        return EVENT_ERR_FORMAT;
    return msgpack_pack_str_with_body(pk, s, len) == 0 ? EVENT_OK : EVENT_ERR_NOMEM;
}

static int pack_number(msgpack_packer *pk, double d) {
    int ok;
    if (!isfinite(d))
        return EVENT_ERR_FORMAT;
    /* 2^63 is exactly representable; every double below it in magnitude converts safely.
     * -0.0 stays a float, so that it comes back as -0. */
    if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        !(d == 0 && signbit(d)))
        ok = msgpack_pack_int64(pk, (int64_t)d) == 0;
    else
        ok = msgpack_pack_double(pk, d) == 0;
    return ok ? EVENT_OK : EVENT_ERR_NOMEM;
}

/* Packs the children of an object (with their keys) or an array. */
static int pack_children(msgpack_packer *pk, const cJSON *item, int depth) {
    int n = cJSON_GetArraySize(item), rc;
    rc = (cJSON_IsObject(item) ? msgpack_pack_map(pk, (size_t)n)
                               : msgpack_pack_array(pk, (size_t)n));
    if (rc != 0)
        return EVENT_ERR_NOMEM;
    for (const cJSON *child = item->child; child; child = child->next) {
        if (cJSON_IsObject(item) && (rc = pack_str(pk, child->string)) != EVENT_OK)
            return rc;
        if ((rc = pack_json(pk, child, depth + 1)) != EVENT_OK)
            return rc;
    }
    return EVENT_OK;
}

/* Packs item, a container at nesting level depth + 1 (the event's map being level 1). */
static int pack_json(msgpack_packer *pk, const cJSON *item, int depth) {
    if (cJSON_IsObject(item) || cJSON_IsArray(item))
        return depth >= EVENT_MAX_DEPTH ? EVENT_ERR_FORMAT : pack_children(pk, item, depth);
    if (cJSON_IsString(item))
        return pack_str(pk, item->valuestring);
    if (cJSON_IsNumber(item))
        return pack_number(pk, item->valuedouble);
    if (cJSON_IsBool(item))
        return (cJSON_IsTrue(item) ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) == 0
                   ? EVENT_OK
                   : EVENT_ERR_NOMEM;
    if (cJSON_IsNull(item))
        return msgpack_pack_nil(pk) == 0 ? EVENT_OK : EVENT_ERR_NOMEM;
    return EVENT_ERR_FORMAT; /* raw or invalid items */
}

/* The "from" map: {"id": from_id, "username": from_username}. */
static int pack_from(msgpack_packer *pk, int64_t from_id, const char *from_username) {
    if (pack_str(pk, "from") != EVENT_OK || msgpack_pack_map(pk, 2) != 0 ||
        pack_str(pk, "id") != EVENT_OK || msgpack_pack_int64(pk, from_id) != 0 ||
        pack_str(pk, "username") != EVENT_OK)
        return EVENT_ERR_NOMEM;
    return pack_str(pk, from_username);
}

int event_pack_message(const cJSON *data, int64_t from_id, const char *from_username,
                       msgpack_sbuffer *out) {
    msgpack_packer pk;
    size_t size_before = out->size;
    int rc = EVENT_ERR_NOMEM;

    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    if (msgpack_pack_map(&pk, from_username ? 3 : 2) == 0 && pack_str(&pk, "type") == EVENT_OK &&
        pack_str(&pk, EVENT_TYPE_MESSAGE) == EVENT_OK && pack_str(&pk, "data") == EVENT_OK)
        rc = pack_json(&pk, data, 1);
    if (rc == EVENT_OK && from_username)
        rc = pack_from(&pk, from_id, from_username);
    if (rc != EVENT_OK)
        out->size = size_before; /* drop what was written */
    return rc;
}

int event_bounds_ok(const void *packed, size_t len) {
    return bounds_ok(packed, len) == 0;
}

int event_delivery_fits(size_t json_len, long max_message_bytes) {
    return max_message_bytes >= 0 && json_len <= (size_t)max_message_bytes;
}
