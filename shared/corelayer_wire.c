/* corelayer_wire.c -- the core layer's names, keys, sharding, messages and group_send plan
 * (corelayer.h), without any Redis client: both programs and the unit tests use it.
 *
 * Messages are msgpack-c objects: the event map is unpacked once and packed again with
 * "__asgi_channel__" added (encode) or left out (decode), so every value travels unchanged.
 * Random bytes come from libcrypto (RAND_bytes): they only make messages distinct members of
 * a sorted set, as Python's random.getrandbits does. */
#include "corelayer.h"

#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <openssl/rand.h>

size_t corelayer_hash(const char *name, size_t len, size_t n_hosts) {
    if (n_hosts <= 1)
        return 0;
    unsigned long crc = crc32(0L, (const unsigned char *)name, (unsigned)len) & 0xfff;
    /* Python: int(bigval / (4096 / float(ring_size))), in doubles as there */
    size_t index = (size_t)((double)crc / (4096.0 / (double)n_hosts));
    return index < n_hosts ? index : n_hosts - 1;
}

int corelayer_group_key(const char *prefix, const char *group, char *out, size_t out_len) {
    int n = snprintf(out, out_len, "%s:group:%s", prefix, group);
    return n > 0 && (size_t)n < out_len ? CORELAYER_OK : CORELAYER_ERR_INVALID;
}

int corelayer_queue_key(const char *prefix, const char *name, size_t name_len, char *out,
                        size_t out_len) {
    const char *bang = memchr(name, '!', name_len);
    size_t used = bang ? (size_t)(bang - name) + 1 : name_len;
    int n = snprintf(out, out_len, "%s%.*s", prefix, (int)used, name);
    return n > 0 && (size_t)n < out_len ? CORELAYER_OK : CORELAYER_ERR_INVALID;
}

int corelayer_process_part(char out[CORELAYER_PROCESS_PART_LEN + 1]) {
    unsigned char bytes[CORELAYER_PROCESS_PART_LEN / 2];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return CORELAYER_ERR_NOMEM;
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return CORELAYER_OK;
}

/* Unpacks exactly one map from data into *u. 0, or -1 (not one map, bytes after it, or what
 * event_bounds_ok refuses: bin and ext values too, which Django's events never hold). */
static int unpack_map(const void *data, size_t len, msgpack_unpacked *u) {
    size_t off = 0;
    if (!event_bounds_ok(data, len))
        return -1; /* msgpack-c would allocate what a header claims: 5 bytes ask for gigabytes */
    msgpack_unpacked_init(u);
    if (msgpack_unpack_next(u, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        u->data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(u);
        return -1;
    }
    return 0;
}

static int is_channel_field(const msgpack_object *key) {
    size_t n = sizeof CORELAYER_CHANNEL_FIELD - 1;
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == n &&
           memcmp(key->via.str.ptr, CORELAYER_CHANNEL_FIELD, n) == 0;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t len) {
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

int corelayer_encode(const void *event, size_t event_len, const char *const *names,
                     const size_t *name_lens, size_t n_names, int is_list, msgpack_sbuffer *out) {
    msgpack_unpacked u;
    unsigned char random[CORELAYER_RANDOM_LEN];
    if (unpack_map(event, event_len, &u) != 0)
        return CORELAYER_ERR_FORMAT;
    if (RAND_bytes(random, sizeof random) != 1) {
        msgpack_unpacked_destroy(&u);
        return CORELAYER_ERR_NOMEM;
    }
    size_t before = out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int rc = msgpack_sbuffer_write(out, (const char *)random, sizeof random);
    const msgpack_object_map *map = &u.data.via.map;
    int has_field = is_list || n_names > 0; /* send() to a named channel adds none */
    rc |= msgpack_pack_map(&pk, map->size + (has_field ? 1 : 0));
    for (uint32_t i = 0; i < map->size; i++)
        rc |= msgpack_pack_object(&pk, map->ptr[i].key) | msgpack_pack_object(&pk, map->ptr[i].val);
    if (has_field)
        pack_str(&pk, CORELAYER_CHANNEL_FIELD, sizeof CORELAYER_CHANNEL_FIELD - 1);
    if (is_list)
        rc |= msgpack_pack_array(&pk, n_names);
    for (size_t i = 0; i < n_names && (is_list || i == 0); i++)
        pack_str(&pk, names[i], name_lens[i]);
    msgpack_unpacked_destroy(&u);
    if (rc != 0) {
        out->size = before;
        return CORELAYER_ERR_NOMEM;
    }
    return CORELAYER_OK;
}

/* Whether a "__asgi_channel__" value is a string or a list of strings. */
static int names_are_valid(const msgpack_object *v) {
    if (v->type == MSGPACK_OBJECT_STR)
        return 1;
    if (v->type != MSGPACK_OBJECT_ARRAY)
        return 0;
    for (uint32_t i = 0; i < v->via.array.size; i++)
        if (v->via.array.ptr[i].type != MSGPACK_OBJECT_STR)
            return 0;
    return 1;
}

/* The "__asgi_channel__" value of map, NULL when absent; *has_bad_key set when a key is not a
 * string or "__asgi_channel__" comes twice. */
static const msgpack_object *find_names(const msgpack_object_map *map, int *has_bad_key) {
    const msgpack_object *names = NULL;
    *has_bad_key = 0;
    for (uint32_t i = 0; i < map->size; i++) {
        if (map->ptr[i].key.type != MSGPACK_OBJECT_STR)
            *has_bad_key = 1;
        else if (is_channel_field(&map->ptr[i].key)) {
            *has_bad_key |= names != NULL; /* twice: refused, Python never writes that */
            names = &map->ptr[i].val;
        }
    }
    return names;
}

int corelayer_decode(const void *raw, size_t raw_len, msgpack_sbuffer *event_out,
                     corelayer_name_fn each_name, void *arg) {
    msgpack_unpacked u;
    if (raw_len <= CORELAYER_RANDOM_LEN ||
        unpack_map((const char *)raw + CORELAYER_RANDOM_LEN, raw_len - CORELAYER_RANDOM_LEN, &u))
        return CORELAYER_ERR_FORMAT;
    const msgpack_object_map *map = &u.data.via.map;
    int has_bad_key;
    const msgpack_object *names = find_names(map, &has_bad_key);
    if (!names || has_bad_key || !names_are_valid(names)) {
        msgpack_unpacked_destroy(&u);
        return CORELAYER_ERR_FORMAT;
    }
    size_t before = event_out->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, event_out, msgpack_sbuffer_write);
    int rc = msgpack_pack_map(&pk, map->size - 1);
    for (uint32_t i = 0; i < map->size; i++)
        if (!is_channel_field(&map->ptr[i].key))
            rc |= msgpack_pack_object(&pk, map->ptr[i].key) |
                  msgpack_pack_object(&pk, map->ptr[i].val);
    if (rc != 0) {
        event_out->size = before;
        msgpack_unpacked_destroy(&u);
        return CORELAYER_ERR_NOMEM;
    }
    if (names->type == MSGPACK_OBJECT_STR)
        each_name(arg, names->via.str.ptr, names->via.str.size);
    else
        for (uint32_t i = 0; i < names->via.array.size; i++)
            each_name(arg, names->via.array.ptr[i].via.str.ptr,
                      names->via.array.ptr[i].via.str.size);
    msgpack_unpacked_destroy(&u);
    return CORELAYER_OK;
}

/* A queue key of the plan being built and its members. */
struct bucket {
    char key[BUS_KEY_MAX];
    size_t host;
    size_t n;       /* members */
    size_t *member; /* their indexes */
};

/* The bucket of key among n (appended when new): its index, or -1 when memory ran out. */
static long bucket_of(struct bucket **b, size_t *n, const char *key, size_t host,
                      size_t n_members) {
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*b)[i].key, key) == 0)
            return (long)i;
    struct bucket *nb = realloc(*b, (*n + 1) * sizeof **b);
    if (!nb)
        return -1;
    *b = nb;
    struct bucket *e = &nb[*n];
    snprintf(e->key, sizeof e->key, "%s", key);
    e->host = host;
    e->n = 0;
    e->member = malloc(n_members * sizeof *e->member);
    if (!e->member)
        return -1;
    return (long)(*n)++;
}

/* Puts each member in the bucket of its queue key. 0 or CORELAYER_ERR_NOMEM. */
static int bucket_members(const char *prefix, const char *const *members, const size_t *lens,
                          size_t n_members, size_t n_hosts, struct bucket **b, size_t *n_b) {
    char key[BUS_KEY_MAX];
    for (size_t i = 0; i < n_members; i++) {
        if (corelayer_queue_key(prefix, members[i], lens[i], key, sizeof key) != CORELAYER_OK)
            continue;
        const char *local = key + strlen(prefix);
        long k = bucket_of(b, n_b, key, corelayer_hash(local, strlen(local), n_hosts), n_members);
        if (k < 0)
            return CORELAYER_ERR_NOMEM;
        (*b)[k].member[(*b)[k].n++] = i;
    }
    return CORELAYER_OK;
}

/* The batch of host in plan (appended when new), or NULL when memory ran out. */
static struct corelayer_batch *batch_of(struct corelayer_plan *plan, size_t host, size_t max) {
    for (size_t i = 0; i < plan->n_batches; i++)
        if (plan->batches[i].host == host)
            return &plan->batches[i];
    struct corelayer_batch *b = &plan->batches[plan->n_batches];
    memset(b, 0, sizeof *b);
    b->host = host;
    b->keys = calloc(max, sizeof *b->keys);
    b->msgs = calloc(max, sizeof *b->msgs);
    if (!b->keys || !b->msgs) {
        free(b->keys);
        free(b->msgs);
        return NULL;
    }
    plan->n_batches++;
    return b;
}

/* Adds bucket e's message to its host's batch. */
static int plan_add(struct corelayer_plan *plan, const struct bucket *e, size_t n_buckets,
                    const char *const *members, const size_t *lens, const void *event,
                    size_t event_len) {
    struct corelayer_batch *b = batch_of(plan, e->host, n_buckets);
    const char **names = malloc(e->n * sizeof *names);
    size_t *name_lens = malloc(e->n * sizeof *name_lens);
    char *key = strdup(e->key);
    int rc = b && names && name_lens && key ? CORELAYER_OK : CORELAYER_ERR_NOMEM;
    for (size_t i = 0; rc == CORELAYER_OK && i < e->n; i++) {
        names[i] = members[e->member[i]];
        name_lens[i] = lens[e->member[i]];
    }
    if (rc == CORELAYER_OK) {
        msgpack_sbuffer_init(&b->msgs[b->n_keys]);
        rc = corelayer_encode(event, event_len, names, name_lens, e->n, 1, &b->msgs[b->n_keys]);
        b->keys[b->n_keys++] = key;
        key = NULL;
    }
    free(key);
    free(names);
    free(name_lens);
    return rc;
}

int corelayer_plan_build(const char *prefix, const char *const *members, const size_t *member_lens,
                         size_t n_members, const void *event, size_t event_len, size_t n_hosts,
                         struct corelayer_plan *plan) {
    struct bucket *b = NULL;
    size_t n_b = 0;
    memset(plan, 0, sizeof *plan);
    plan->n_members = n_members;
    int rc = bucket_members(prefix, members, member_lens, n_members, n_hosts, &b, &n_b);
    if (rc == CORELAYER_OK && n_b) {
        plan->batches = calloc(n_hosts, sizeof *plan->batches);
        rc = plan->batches ? CORELAYER_OK : CORELAYER_ERR_NOMEM;
    }
    for (size_t i = 0; rc == CORELAYER_OK && i < n_b; i++)
        rc = plan_add(plan, &b[i], n_b, members, member_lens, event, event_len);
    for (size_t i = 0; i < n_b; i++)
        free(b[i].member);
    free(b);
    return rc;
}

void corelayer_plan_free(struct corelayer_plan *plan) {
    for (size_t i = 0; i < plan->n_batches; i++) {
        struct corelayer_batch *b = &plan->batches[i];
        for (size_t k = 0; k < b->n_keys; k++) {
            free(b->keys[k]);
            msgpack_sbuffer_destroy(&b->msgs[k]);
        }
        free(b->keys);
        free(b->msgs);
    }
    free(plan->batches);
    memset(plan, 0, sizeof *plan);
}

/* Room for one number written by batch_argv. */
#define NUMBER_ROOM 32

int corelayer_batch_argv(const struct corelayer_batch *batch, const struct corelayer_settings *s,
                         double now_s, const char ***argv, size_t **argvlen, char **scratch) {
    size_t argc = 3 + 3 * batch->n_keys + 2;
    *argv = malloc(argc * sizeof **argv);
    *argvlen = malloc(argc * sizeof **argvlen);
    *scratch = malloc(4 * NUMBER_ROOM);
    if (!*argv || !*argvlen || !*scratch)
        return CORELAYER_ERR_NOMEM;
    char *nkeys = *scratch, *now = nkeys + NUMBER_ROOM, *expiry = now + NUMBER_ROOM;
    char *capacity = expiry + NUMBER_ROOM;
    snprintf(nkeys, NUMBER_ROOM, "%zu", batch->n_keys);
    snprintf(now, NUMBER_ROOM, "%.6f", now_s);
    snprintf(expiry, NUMBER_ROOM, "%ld", s->expiry_s);
    snprintf(capacity, NUMBER_ROOM, "%ld", s->capacity);
    size_t k = 0, n = batch->n_keys;
    (*argv)[k++] = "EVAL";
    (*argv)[k++] = CORELAYER_GROUP_SEND_LUA;
    (*argv)[k++] = nkeys;
    for (size_t i = 0; i < n; i++) {
        (*argv)[k + i] = batch->keys[i];
        (*argv)[k + n + i] = batch->msgs[i].data;
        (*argvlen)[k + n + i] = batch->msgs[i].size;
        (*argv)[k + 2 * n + i] = capacity;
    }
    (*argv)[k + 3 * n] = now;
    (*argv)[k + 3 * n + 1] = expiry;
    for (size_t i = 0; i < argc; i++)
        if (i < k + n || i >= k + 2 * n)
            (*argvlen)[i] = strlen((*argv)[i]);
    return (int)argc;
}
