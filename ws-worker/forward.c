/* forward.c -- sockets as Django channels (forward.h): their numbers, the messages forwarded to
 * TOKENAUTH_WS_FORWARD_CHANNEL, and what arrives on their reply channels.
 *
 * The sockets are found by number in a chained hash table of FORWARD_BUCKETS buckets (numbers
 * are never reused within a process, so a reply meant for a closed socket cannot reach a new
 * one). Messages to Django are packed with msgpack-c straight from the values at hand; events
 * from Django are unpacked after event_bounds_ok, as every message from Redis. */
#include "forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "config.h"
#include "event.h"
#include "replies.h"
#include "sessions.h"
#include "text.h"

#define FORWARD_BUCKETS 1024
#define GENERIC_REASON "closed by the application"

/* A socket with a reply channel. */
struct node {
    struct node *next;
    uint64_t id;
    struct session *s;
    char *username; /* for its connect and disconnect events (copied at open), or NULL */
};

struct forward {
    const struct config *cfg;
    const struct forward_layer *layer; /* the channel layer in use */
    void *layer_arg;
    struct reply_pool *pool;
    pubsub_close_fn close_session;
    void *close_arg;
    forward_join_fn join; /* tokenauth.subscribe and .unsubscribe, NULL = none */
    void *join_arg;
    uint64_t next_id; /* the next socket's number, from 1 */
    struct node *buckets[FORWARD_BUCKETS];
    size_t n_reasons;
    char reasons[FORWARD_MAX_REASONS][FORWARD_REASON_MAX]; /* close reasons seen */
};

static struct node **slot(struct forward *f, uint64_t id) {
    struct node **at = &f->buckets[id % FORWARD_BUCKETS];
    while (*at && (*at)->id != id)
        at = &(*at)->next;
    return at;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t len) {
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void pack_key(msgpack_packer *pk, const char *key) {
    pack_str(pk, key, strlen(key));
}

/* "user" and "reply_channel" of s, the fields every event to Django has. */
static void pack_socket(struct forward *f, msgpack_packer *pk, const struct session *s,
                        const char *username) {
    char channel[FORWARD_CHANNEL_MAX];
    f->layer->socket_channel(f->layer_arg, s->core_id, channel, sizeof channel);
    pack_key(pk, "user");
    msgpack_pack_map(pk, username ? 2 : 1);
    pack_key(pk, "id");
    msgpack_pack_int64(pk, s->user_id);
    if (username) {
        pack_key(pk, "username");
        pack_key(pk, username);
    }
    pack_key(pk, "reply_channel");
    pack_key(pk, channel);
}

/* Sends a connect or disconnect event when asked to; username may be NULL (not known). */
static void send_event(struct forward *f, const struct session *s, const char *username,
                       const char *type) {
    if (!f->cfg->ws_forward_events || !f->cfg->ws_forward_channel[0])
        return;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pack_key(&pk, "type");
    pack_key(&pk, type);
    pack_socket(f, &pk, s, username);
    f->layer->send(f->layer_arg, f->cfg->ws_forward_channel, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
}

/* Queues the len bytes of text (JSON or not: the application's) on s. */
static void queue_text(struct forward *f, struct session *s, const char *text, size_t len) {
    if (s->replies.n_bytes + len > (size_t)f->cfg->ws_max_queued_bytes) {
        f->close_session(f->close_arg, s, PUBSUB_CLOSE_SLOW_CONSUMER, "slow consumer", 0);
        return;
    }
    struct reply *r = replies_from_text(f->pool, text, len);
    if (!r) {
        f->close_session(f->close_arg, s, 1011, "out of memory", 0);
        return;
    }
    int was_empty = s->replies.head == NULL;
    replies_push(&s->replies, r, 0);
    if (was_empty && s->wsi)
        lws_callback_on_writable(s->wsi);
}

/* A close reason kept for the process (lws reads it when the close frame goes out). */
static const char *reason_of(struct forward *f, const char *text, size_t len) {
    if (len >= FORWARD_REASON_MAX)
        len = FORWARD_REASON_MAX - 1;
    for (int cut = 0; cut < 3 && len > 0 && !text_is_utf8(text, len); cut++)
        len--; /* cut inside a character: back to its start */
    if (!text_is_utf8(text, len))
        return GENERIC_REASON;
    for (size_t i = 0; i < f->n_reasons; i++)
        if (strlen(f->reasons[i]) == len && memcmp(f->reasons[i], text, len) == 0)
            return f->reasons[i];
    if (f->n_reasons == FORWARD_MAX_REASONS || memchr(text, '\0', len))
        return GENERIC_REASON;
    memcpy(f->reasons[f->n_reasons], text, len);
    f->reasons[f->n_reasons][len] = '\0';
    return f->reasons[f->n_reasons++];
}

/* The value of key in map, or NULL. */
static const msgpack_object *field(const msgpack_object_map *map, const char *key) {
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->size; i++)
        if (map->ptr[i].key.type == MSGPACK_OBJECT_STR && map->ptr[i].key.via.str.size == n &&
            memcmp(map->ptr[i].key.via.str.ptr, key, n) == 0)
            return &map->ptr[i].val;
    return NULL;
}

static int is_str(const msgpack_object *o, const char *value) {
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(value) &&
           memcmp(o->via.str.ptr, value, o->via.str.size) == 0;
}

/* tokenauth.close: the code (4000-4999, else 4000) and the reason. */
static void close_from(struct forward *f, struct session *s, const msgpack_object_map *map) {
    const msgpack_object *code = field(map, "code"), *reason = field(map, "reason");
    int c = code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER && code->via.u64 >= 4000 &&
                    code->via.u64 <= 4999
                ? (int)code->via.u64
                : 4000;
    const char *r = reason && reason->type == MSGPACK_OBJECT_STR
                        ? reason_of(f, reason->via.str.ptr, reason->via.str.size)
                        : "";
    f->close_session(f->close_arg, s, c, r, 1);
}

/* tokenauth.subscribe (is_join 1) and tokenauth.unsubscribe: 0, or -1 (dropped). */
static int join_from(struct forward *f, struct session *s, const msgpack_object_map *map,
                     int is_join) {
    const msgpack_object *channel = field(map, "channel");
    char name[FORWARD_CHANNEL_MAX];
    if (!f->join || !channel || channel->type != MSGPACK_OBJECT_STR ||
        channel->via.str.size >= sizeof name ||
        memchr(channel->via.str.ptr, '\0', channel->via.str.size))
        return -1;
    memcpy(name, channel->via.str.ptr, channel->via.str.size);
    name[channel->via.str.size] = '\0';
    return f->join(f->join_arg, s, name, is_join) == 0 ? 0 : -1;
}

/* Any other event: delivered as event.h does for no channel ("via": "reply_channel"): the
 * layer's message names the reply channel, not the group. 0, or -1 (dropped: it does not
 * convert, or is over TOKENAUTH_WS_MAX_MESSAGE, as a tokenauth.send's text would be). */
static int deliver_event(struct forward *f, struct session *s, const void *event, size_t len) {
    char *buf = NULL;
    size_t json_len = 0;
    int rc = event_delivery_json(NULL, event, len, 0, &buf, &json_len);
    int fits = rc == EVENT_OK && event_delivery_fits(json_len, f->cfg->ws_max_message_bytes);
    if (fits)
        queue_text(f, s, buf, json_len);
    free(buf);
    return fits ? 0 : -1;
}

void forward_deliver(void *forward, uint64_t id, const void *event, size_t len) {
    struct forward *f = forward;
    struct node *n = *slot(f, id);
    if (!n || n->s->close_code) {
        f->layer->drop_gone(f->layer_arg, id);
        return;
    }
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    if (!event_bounds_ok(event, len) ||
        msgpack_unpack_next(&u, event, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        f->layer->drop_format(f->layer_arg); /* core's corelayer_decode made it; pub/sub's not */
        return;
    }
    const msgpack_object_map *map = &u.data.via.map;
    const msgpack_object *type = field(map, "type"), *text = field(map, "text");
    if (is_str(type, "tokenauth.send") && text && text->type == MSGPACK_OBJECT_STR &&
        text->via.str.size <= (size_t)f->cfg->ws_max_message_bytes &&
        text_is_utf8(text->via.str.ptr, text->via.str.size)) /* a text frame must be UTF-8 */
        queue_text(f, n->s, text->via.str.ptr, text->via.str.size);
    else if (is_str(type, "tokenauth.close"))
        close_from(f, n->s, map);
    else if (is_str(type, "tokenauth.subscribe") || is_str(type, "tokenauth.unsubscribe")) {
        if (join_from(f, n->s, map, is_str(type, "tokenauth.subscribe")) != 0)
            f->layer->drop_format(f->layer_arg);
    } else if (is_str(type, "tokenauth.send") || deliver_event(f, n->s, event, len) != 0)
        f->layer->drop_format(f->layer_arg);
    msgpack_unpacked_destroy(&u);
}

struct forward *forward_create(const struct config *cfg, const struct forward_layer *layer,
                               void *layer_arg, struct reply_pool *pool,
                               pubsub_close_fn close_session, void *close_arg) {
    struct forward *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->cfg = cfg;
    f->layer = layer;
    f->layer_arg = layer_arg;
    f->pool = pool;
    f->close_session = close_session;
    f->close_arg = close_arg;
    f->next_id = 1;
    return f;
}

void forward_destroy(struct forward *f) {
    if (!f)
        return;
    for (size_t i = 0; i < FORWARD_BUCKETS; i++)
        while (f->buckets[i]) {
            struct node *n = f->buckets[i];
            f->buckets[i] = n->next;
            n->s->core_id = 0;
            free(n->username);
            free(n);
        }
    free(f);
}

void forward_on_join(struct forward *f, forward_join_fn fn, void *arg) {
    f->join = fn;
    f->join_arg = arg;
}

int forward_session_open(struct forward *f, struct session *s, const char *username) {
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return FORWARD_ERR_NOMEM;
    if (username && f->cfg->ws_forward_events && !(n->username = strdup(username))) {
        free(n);
        return FORWARD_ERR_NOMEM;
    }
    n->id = f->next_id++;
    n->s = s;
    s->core_id = n->id;
    struct node **at = &f->buckets[n->id % FORWARD_BUCKETS];
    n->next = *at;
    *at = n;
    send_event(f, s, n->username, "tokenauth.connect");
    return FORWARD_OK;
}

void forward_session_close(struct forward *f, struct session *s) {
    if (!f || !s->core_id)
        return;
    struct node **at = slot(f, s->core_id), *n = *at;
    send_event(f, s, n ? n->username : NULL, "tokenauth.disconnect");
    if (n) {
        *at = n->next;
        free(n->username);
        free(n);
    }
    s->core_id = 0;
}

int forward_is_on(const struct forward *f) {
    return f && f->cfg->ws_forward_channel[0];
}

int forward_message(struct forward *f, const struct session *s, const char *username,
                    const char *msg, size_t len) {
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_key(&pk, "type");
    pack_key(&pk, "tokenauth.receive");
    pack_key(&pk, "text");
    pack_str(&pk, msg, len);
    pack_socket(f, &pk, s, username);
    int rc = buf.data ? f->layer->send(f->layer_arg, f->cfg->ws_forward_channel, buf.data, buf.size)
                      : FORWARD_ERR_NOMEM;
    msgpack_sbuffer_destroy(&buf);
    return rc;
}
