/* pubsub.c -- channels in one ws-worker process: glue between redislink.h (Redis),
 * subscriptions.h (who is in which channel), channel.h (who may) and the sessions' queues.
 *
 * The table's requests go to the link (SUBSCRIBE/UNSUBSCRIBE) and to the sessions (notices and
 * deliveries, queued as replies.h buffers); the link's events go to the table. A delivery is
 * converted once per publication (event_delivery_json, in the table) into one shared reply, and
 * each member's queue gets a hold on it (replies.h: a pointer in the queue's last block, no copy
 * and no malloc per socket; a copy per socket was a third of the worker's instructions per
 * delivery, in malloc and free); a session asks lws for a writable callback only when its queue was
 * empty, since a non-empty queue has asked already (protocol.c keeps asking while it holds
 * replies).
 *
 * Memory stays bounded whatever the publish rate: a session's queue never holds more than
 * cfg->ws_max_queued_bytes of deliveries (past that it is closed, 4008, and its queue freed),
 * the link refuses to queue more than REDISLINK_MAX_UNSENT bytes of publications, and Redis'
 * own client-output-buffer-limit guards the subscriber connection. Logs: redis_down (once per
 * outage, with the reason), redis_up, and per kind of dropped publication delivery_dropped at
 * the start of an episode, delivery_dropped_end with the count when one goes through again. */
#include "pubsub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "bus.h"
#include "channel.h"
#include "config.h"
#include "corelink.h"
#include "event.h"
#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "prog.h"
#include "redislink.h"
#include "replies.h"
#include "replychan.h"
#include "sessions.h"
#include "subscriptions.h"
#include "writer.h"

#define LOG_FD 2
/* Bytes a queued message counts besides its JSON toward cfg->ws_max_queued_bytes (a buffer's
 * struct reply, LWS_PRE and malloc's header when each message had its own buffer): documented
 * in docs/channels.md, so a fixed number rather than what the buffers now take. */
#define DELIVERY_OVERHEAD 64

/* Publications dropped for one reason, and whether the drop was logged. */
struct drops {
    const char *reason; /* for the log */
    long n;             /* dropped since the episode began */
    int is_logged;      /* the episode's first drop was logged */
};

struct pubsub {
    const struct config *cfg;
    struct reply_pool *pool;       /* the buffers of deliveries and notices */
    pubsub_close_fn close_session; /* the owner's way to close a session */
    void *close_arg;
    struct channel_policy policy; /* who may subscribe and publish */
    struct subs_table *table;     /* the channels */
    struct redislink *link;       /* NULL when TOKENAUTH_REDIS_URL is empty */
    struct corelink *core;        /* instead of link with TOKENAUTH_CHANNEL_LAYER=core */
    struct replychan *replies;    /* the sockets' reply channels on link (pub/sub layer) */
    struct forward *forward;      /* the sockets as Django channels, on core or link */
    struct drops bad_format;      /* publications that do not convert */
    struct drops too_big;         /* deliveries over the message limit */
    char detail[320];             /* an error detail built for the client */
    int is_stopped;               /* shutting down: no link any more */
    struct writer *writer;        /* deliveries written at the read's end; NULL = at writable */
    /* where the channel numbers are counted; NULL = off */
    struct metrics_record *metrics;
};

/* s was given something to send: a queue that was empty asks lws for a writable callback (a
 * non-empty one has asked already). */
static void ask_writable(struct session *s, int was_empty) {
    if (was_empty && s->wsi)
        lws_callback_on_writable(s->wsi);
}

/* Queues r on s; asks for a writable callback when the queue was empty. */
static void push(struct session *s, struct reply *r, int is_command) {
    int was_empty = s->replies.head == NULL;
    replies_push(&s->replies, r, is_command);
    ask_writable(s, was_empty);
}

/* Queues obj (deleted here; may be NULL) printed as JSON. 0, or -1 when memory ran out. The
 * notice takes a buffer of its own size unless the pool has one free: Redis confirms
 * subscriptions in bursts (thousands of sockets joining), and thousands of pooled 512-byte
 * buffers, freed among long-lived channel entries, stayed in the process' RSS. */
static int push_json(struct pubsub *ps, struct session *s, cJSON *obj, int is_command) {
    char text[REPLIES_ROOM];
    int ok = obj && cJSON_PrintPreallocated(obj, text, (int)sizeof text, 0);
    cJSON_Delete(obj);
    size_t len = ok ? strlen(text) : 0; /* a notice always fits: names are short */
    struct reply *r = !ok ? NULL : ps->pool->head ? replies_get(ps->pool) : replies_alloc(len);
    if (!r)
        return -1;
    memcpy(replies_json(r), text, len);
    r->len = len;
    push(s, r, is_command);
    return 0;
}

static void log_event(const char *event, const char *key, const char *value, long n) {
    struct log_line line;
    log_begin(&line, PROG, event);
    if (key)
        log_str(&line, key, value);
    if (n >= 0)
        log_int(&line, "dropped", n);
    log_end(&line, LOG_FD);
}

static void drop(struct drops *d, const char *channel) {
    d->n++;
    if (d->is_logged)
        return;
    d->is_logged = 1;
    struct log_line line;
    log_begin(&line, PROG, "delivery_dropped");
    log_str(&line, "reason", d->reason);
    log_str(&line, "channel", channel);
    log_end(&line, LOG_FD);
}

static void drops_end(struct drops *d) {
    if (d->is_logged)
        log_event("delivery_dropped_end", "reason", d->reason, d->n);
    d->is_logged = 0;
    d->n = 0;
}

/* The table's requests (struct subs_ops). */
static int table_send(void *arg, const char *channel, int is_subscribe) {
    struct pubsub *ps = arg;
    if (ps->core)
        return corelink_join(ps->core, channel, is_subscribe) == CORELINK_OK ? 0 : -1;
    return ps->link && redislink_subscribe(ps->link, channel, is_subscribe) == REDISLINK_OK ? 0
                                                                                            : -1;
}

static void table_notify(void *arg, struct session *s, enum subs_notice notice,
                         const char *channel) {
    struct pubsub *ps = arg;
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    if (notice == SUBS_NOTICE_SUBSCRIBED) {
        ok = ok && cJSON_AddStringToObject(o, "subscribed", channel);
    } else if (notice == SUBS_NOTICE_GAP) {
        ok =
            ok && cJSON_AddStringToObject(o, "channel", channel) && cJSON_AddTrueToObject(o, "gap");
    } else {
        ok = ok && cJSON_AddStringToObject(o, "error", "unavailable") &&
             cJSON_AddStringToObject(o, "channel", channel) &&
             cJSON_AddStringToObject(o, "detail",
                                     "Redis went away before confirming the "
                                     "subscription; try again later");
    }
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    if (push_json(ps, s, o, notice != SUBS_NOTICE_GAP) != 0)
        ps->close_session(ps->close_arg, s, 1011, "out of memory", 0);
}

static void table_deliver(void *arg, struct session *s, void *delivery) {
    struct pubsub *ps = arg;
    struct reply *shared = delivery;
    /* Each queued reply counts its buffer's overhead too, so a flood of tiny deliveries cannot
     * hold many times the limit (command answers, a few at most, count as deliveries do). A
     * shared delivery counts in full in every queue holding it: the limit is what the socket
     * owes, whatever the sharing saves. */
    size_t queued = s->replies.n_bytes + (size_t)s->replies.n * DELIVERY_OVERHEAD;
    if (queued + shared->len + DELIVERY_OVERHEAD > (size_t)ps->cfg->ws_max_queued_bytes) {
        ps->close_session(ps->close_arg, s, PUBSUB_CLOSE_SLOW_CONSUMER, "slow consumer", 0);
        return;
    }
    int was_empty = s->replies.head == NULL;
    if (replies_push_shared(&s->replies, ps->pool, shared) != 0) {
        ps->close_session(ps->close_arg, s, 1011, "out of memory", 0);
        return;
    }
    if (ps->writer)
        writer_due(ps->writer, s); /* written at the end of this read from Redis */
    else
        ask_writable(s, was_empty);
}

/* The delivery JSON of a publication, built once into a shared reply (replies.h) that every
 * member's queue holds. */
static int table_convert(void *arg, const char *channel, const void *packed, size_t packed_len,
                         void **delivery, size_t *json_len) {
    char *json = NULL;
    if (event_delivery_json(channel, packed, packed_len, 0, &json, json_len) != EVENT_OK)
        return -1;
    *delivery = replies_shared(json, *json_len);
    free(json);
    return *delivery ? 0 : -1;
}

static void table_release(void *arg, void *delivery) {
    replies_unshare(delivery);
}

static const struct subs_ops table_ops = {table_send, table_notify, table_convert, table_deliver,
                                          table_release};

/* tokenauth.subscribe and tokenauth.unsubscribe from the application (forward_join_fn): the
 * client's subscribe and unsubscribe without the policy, answered to the client the same way
 * (the answer of a join Redis has yet to confirm comes from the table, as a command's). */
static int forward_join(void *arg, struct session *s, const char *channel, int is_join) {
    struct pubsub *ps = arg;
    if (!channel_name_is_valid(channel))
        return -1;
    int rc = is_join ? subs_join(ps->table, s, channel, 0) : subs_leave(ps->table, s, channel);
    if (rc == SUBS_PENDING)
        return 0;
    if (rc != SUBS_OK)
        return -1;
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, is_join ? "subscribed" : "unsubscribed", channel)) {
        cJSON_Delete(o);
        o = NULL;
    }
    if (push_json(ps, s, o, 0) != 0)
        ps->close_session(ps->close_arg, s, 1011, "out of memory", 0);
    return 0;
}

/* The link's events (struct redislink_events). */
static void link_up(void *arg) {
    struct pubsub *ps = arg;
    log_event("redis_up", NULL, NULL, -1);
    metrics_set(ps->metrics, METRIC_WS_REDIS_UP, 1);
    subs_link_up(ps->table);
    replychan_link_up(ps->replies);
}

static void link_down(void *arg, const char *why) {
    struct pubsub *ps = arg;
    log_event("redis_down", "reason", why, -1);
    metrics_set(ps->metrics, METRIC_WS_REDIS_UP, 0);
    metrics_add(ps->metrics, METRIC_WS_REDIS_OUTAGES, 1);
    subs_link_down(ps->table);
}

static void link_ack(void *arg, const char *channel, int is_subscribe) {
    subs_ack(((struct pubsub *)arg)->table, channel, is_subscribe);
}

static void link_message(void *arg, const char *channel, const void *data, size_t len) {
    struct pubsub *ps = arg;
    int rc = subs_deliver(ps->table, channel, data, len);
    if (rc == SUBS_ERR_FORMAT) {
        metrics_add(ps->metrics, METRIC_WS_DROPPED_FORMAT, 1);
        drop(&ps->bad_format, channel);
    } else if (rc == SUBS_ERR_TOO_BIG) {
        metrics_add(ps->metrics, METRIC_WS_DROPPED_TOO_BIG, 1);
        drop(&ps->too_big, channel);
    } else if (rc > 0) {
        metrics_add(ps->metrics, METRIC_WS_DELIVERIES, (uint64_t)rc);
        drops_end(&ps->bad_format);
        drops_end(&ps->too_big);
    }
}

/* One read from Redis was handled: the deliveries it brought are written. */
static void link_read_done(void *arg) {
    struct pubsub *ps = arg;
    if (ps->writer)
        writer_flush(ps->writer);
}

static const struct redislink_events link_events = {link_up, link_down, link_ack, link_message,
                                                    link_read_done};

/* Resolves a host name here, at start, where waiting is allowed: hiredis would otherwise call
 * getaddrinfo() at every reconnect, inside the loop, and a slow DNS would stall every socket.
 * The address is kept for the process's life (a restart, SIGHUP included, resolves again).
 * 0, or -1 with err filled. */
static int resolve_once(struct bus_url *url, char *err, size_t err_len) {
    char why[300];
    if (bus_url_resolve(url, why, sizeof why) == BUS_OK)
        return 0;
    snprintf(err, err_len, "TOKENAUTH_REDIS_URL: %s", why);
    return -1;
}

/* The core layer's link over the hosts of cfg->redis_url. 0, or -1 with err filled. */
static int open_core(struct pubsub *ps, struct lws_context *context, struct lws_vhost *vh,
                     char *err, size_t err_len) {
    const struct config *cfg = ps->cfg;
    struct bus_url hosts[CORELAYER_MAX_HOSTS];
    size_t n_hosts;
    char why[256];
    if (corelayer_hosts_parse(cfg->redis_url, hosts, CORELAYER_MAX_HOSTS, &n_hosts, why,
                              sizeof why) != CORELAYER_OK) {
        snprintf(err, err_len, "TOKENAUTH_REDIS_URL: %s", why);
        return -1;
    }
    for (size_t i = 0; i < n_hosts; i++)
        if (resolve_once(&hosts[i], err, err_len) < 0)
            return -1;
    struct corelayer_settings settings = {cfg->channel_prefix, cfg->channel_capacity,
                                          cfg->channel_expiry_s, cfg->channel_group_expiry_s};
    ps->core = corelink_create(context, vh, hosts, n_hosts, &settings, cfg->redis_timeout_ms,
                               &link_events, ps);
    ps->forward = ps->core ? forward_create(cfg, &corelink_forward_layer, ps->core, ps->pool,
                                            ps->close_session, ps->close_arg)
                           : NULL;
    if (!ps->forward) {
        snprintf(err, err_len, "channels: out of memory");
        return -1;
    }
    corelink_on_socket(ps->core, forward_deliver, ps->forward);
    forward_on_join(ps->forward, forward_join, ps);
    return 0;
}

/* The reply channels of the pub/sub layer on ps->link. 0, or -1 with err filled. */
static int open_replies(struct pubsub *ps, char *err, size_t err_len) {
    ps->replies = replychan_create(ps->link, ps->cfg->channel_prefix, err, err_len);
    if (!ps->replies)
        return -1;
    ps->forward = forward_create(ps->cfg, &replychan_forward_layer, ps->replies, ps->pool,
                                 ps->close_session, ps->close_arg);
    if (!ps->forward) {
        snprintf(err, err_len, "channels: out of memory");
        return -1;
    }
    replychan_on_socket(ps->replies, forward_deliver, ps->forward);
    forward_on_join(ps->forward, forward_join, ps);
    return 0;
}

/* The link of cfg->redis_url, or NULL with err filled; *link stays NULL when the URL is empty. */
static int open_link(struct pubsub *ps, struct lws_context *context, struct lws_vhost *vh,
                     char *err, size_t err_len) {
    const struct config *cfg = ps->cfg;
    if (!cfg->redis_url[0])
        return 0;
    if (strcmp(cfg->channel_layer, "core") == 0)
        return open_core(ps, context, vh, err, err_len);
    if (strchr(cfg->redis_url, ',')) {
        snprintf(err, err_len,
                 "TOKENAUTH_REDIS_URL: a list of hosts needs "
                 "TOKENAUTH_CHANNEL_LAYER=core");
        return -1;
    }
    struct bus_url url;
    char why[256];
    if (bus_url_parse(cfg->redis_url, &url, why, sizeof why) != BUS_OK) {
        snprintf(err, err_len, "TOKENAUTH_REDIS_URL: %s", why);
        return -1;
    }
    if (resolve_once(&url, err, err_len) < 0)
        return -1;
    ps->link = redislink_create(context, vh, &url, cfg->channel_prefix, cfg->redis_timeout_ms,
                                &link_events, ps);
    if (!ps->link) {
        snprintf(err, err_len, "channels: out of memory");
        return -1;
    }
    return open_replies(ps, err, err_len);
}

struct pubsub *pubsub_create(struct lws_context *context, struct lws_vhost *vh,
                             const struct config *cfg, struct reply_pool *pool,
                             pubsub_close_fn close_session, void *close_arg, char *err,
                             size_t err_len) {
    struct pubsub *ps = calloc(1, sizeof *ps);
    char why[256];
    if (!ps) {
        snprintf(err, err_len, "channels: out of memory");
        return NULL;
    }
    ps->cfg = cfg;
    ps->pool = pool;
    ps->close_session = close_session;
    ps->close_arg = close_arg;
    ps->bad_format.reason = "format";
    ps->too_big.reason = "too_big";
    if (channel_policy_parse(&ps->policy, cfg->ws_public_channels, cfg->ws_publish_channels,
                             cfg->channel_secret, why, sizeof why) != CHANNEL_OK) {
        snprintf(err, err_len, "channels: %s", why);
        goto fail;
    }
    ps->table = subs_create(&table_ops, ps, (size_t)cfg->ws_max_subscriptions,
                            (size_t)cfg->ws_max_message_bytes);
    if (!ps->table) {
        snprintf(err, err_len, "channels: out of memory");
        goto fail;
    }
    if (open_link(ps, context, vh, err, err_len) == 0)
        return ps;
fail:
    pubsub_destroy(ps);
    return NULL;
}

void pubsub_stop(struct pubsub *ps) {
    if (!ps)
        return;
    redislink_destroy(ps->link);
    ps->link = NULL;
    forward_destroy(ps->forward);
    ps->forward = NULL;
    replychan_destroy(ps->replies); /* after its link: hiredis' last callbacks are gone */
    ps->replies = NULL;
    corelink_destroy(ps->core);
    ps->core = NULL;
    ps->is_stopped = 1;
}

void pubsub_destroy(struct pubsub *ps) {
    if (!ps)
        return;
    redislink_destroy(ps->link);
    forward_destroy(ps->forward);
    replychan_destroy(ps->replies);
    corelink_destroy(ps->core);
    subs_destroy(ps->table);
    channel_policy_free(&ps->policy);
    free(ps);
}

int pubsub_session_open(struct pubsub *ps, struct session *s, const char *username) {
    char name[CHANNEL_PERSONAL_NAME_SIZE];
    if (ps->forward && forward_session_open(ps->forward, s, username) != FORWARD_OK)
        return PUBSUB_ERR_NOMEM;
    if (channel_personal_name(s->user_id, name, sizeof name) != CHANNEL_OK)
        return PUBSUB_OK; /* no personal channel for a user id <= 0 (never from auth_user) */
    return subs_join(ps->table, s, name, 1) >= 0 ? PUBSUB_OK : PUBSUB_ERR_NOMEM;
}

void pubsub_session_close(struct pubsub *ps, struct session *s) {
    if (ps) {
        forward_session_close(ps->forward, s);
        subs_leave_all(ps->table, s);
    }
}

/* PUBSUB_ERR_UNAVAILABLE with the reason in *detail. */
static int unavailable(struct pubsub *ps, const char **detail) {
    if (ps->is_stopped)
        *detail = "the server is shutting down";
    else if (!ps->link && !ps->core)
        *detail = "channels are off: TOKENAUTH_REDIS_URL is empty";
    else {
        snprintf(ps->detail, sizeof ps->detail, "Redis is unreachable (%s); try again later",
                 ps->core ? corelink_why_down(ps->core) : redislink_why_down(ps->link));
        *detail = ps->detail;
    }
    return PUBSUB_ERR_UNAVAILABLE;
}

/* Whether the link in use (pub/sub or core) is up. */
static int link_is_up(const struct pubsub *ps) {
    return ps->core ? corelink_is_up(ps->core) : redislink_is_up(ps->link);
}

/* The core layer's group_send, its result as redislink_publish's. */
static int core_publish(struct corelink *core, const char *channel, const msgpack_sbuffer *p) {
    int rc = corelink_group_send(core, channel, p->data, p->size);
    return rc == CORELINK_OK         ? REDISLINK_OK
           : rc == CORELINK_ERR_DOWN ? REDISLINK_ERR_DOWN
                                     : REDISLINK_ERR_INVALID;
}

static int from_channel_rc(int rc) {
    return rc == CHANNEL_ERR_INVALID ? PUBSUB_ERR_INVALID : PUBSUB_ERR_FORBIDDEN;
}

int pubsub_subscribe(struct pubsub *ps, struct session *s, const char *channel,
                     const char *signature, const char **detail) {
    int rc = channel_may_subscribe(&ps->policy, s->user_id, channel, signature, detail);
    if (rc != CHANNEL_OK)
        return from_channel_rc(rc);
    /* While the first connection is under way a join waits for it (answered either way), so
     * clients arriving with a fresh process are not refused. */
    if (!subs_is_member(ps->table, s, channel) && !link_is_up(ps) &&
        !redislink_is_starting(ps->link) && !corelink_is_starting(ps->core))
        return unavailable(ps, detail);
    rc = subs_join(ps->table, s, channel, 0);
    if (rc == SUBS_OK || rc == SUBS_PENDING)
        metrics_add(ps->metrics, METRIC_WS_SUBSCRIBES, 1);
    if (rc == SUBS_OK || rc == SUBS_PENDING)
        return rc == SUBS_OK ? PUBSUB_OK : PUBSUB_PENDING;
    if (rc == SUBS_ERR_TOO_MANY) {
        snprintf(ps->detail, sizeof ps->detail,
                 "a socket may be in %d channels besides its personal one "
                 "(TOKENAUTH_WS_MAX_SUBSCRIPTIONS)",
                 ps->cfg->ws_max_subscriptions);
        *detail = ps->detail;
        return PUBSUB_ERR_TOO_MANY;
    }
    *detail = "out of memory";
    return PUBSUB_ERR_NOMEM;
}

int pubsub_unsubscribe(struct pubsub *ps, struct session *s, const char *channel,
                       const char **detail) {
    if (!channel_name_is_valid(channel)) {
        *detail = "a channel name is 1 to 99 letters, digits, '-', '_' or '.'";
        return PUBSUB_ERR_INVALID;
    }
    int rc = subs_leave(ps->table, s, channel);
    if (rc == SUBS_ERR_NOT_MEMBER) {
        *detail = "this socket is not subscribed to the channel";
        return PUBSUB_ERR_NOT_MEMBER;
    }
    if (rc == SUBS_ERR_PERSONAL) {
        *detail = "the personal channel stays subscribed as long as the socket is open";
        return PUBSUB_ERR_FORBIDDEN;
    }
    return PUBSUB_OK;
}

/* Whether the delivery of packed (its JSON as a client would get it) fits the message limit. */
static int check_size(struct pubsub *ps, const char *channel, const msgpack_sbuffer *packed,
                      const char **detail) {
    char *buf = NULL;
    size_t json_len = 0;
    int rc = event_delivery_json(channel, packed->data, packed->size, 0, &buf, &json_len);
    free(buf);
    if (rc == EVENT_ERR_NOMEM) {
        *detail = "out of memory";
        return PUBSUB_ERR_NOMEM;
    }
    if (rc != EVENT_OK) {
        *detail = "data cannot travel as a channel message";
        return PUBSUB_ERR_DATA;
    }
    if (!event_delivery_fits(json_len, ps->cfg->ws_max_message_bytes)) {
        snprintf(ps->detail, sizeof ps->detail,
                 "the delivery would be %zu bytes, over the %ld of TOKENAUTH_WS_MAX_MESSAGE",
                 json_len, ps->cfg->ws_max_message_bytes);
        *detail = ps->detail;
        return PUBSUB_ERR_TOO_BIG;
    }
    return PUBSUB_OK;
}

int pubsub_publish_check(struct pubsub *ps, const struct session *s, const char *channel,
                         const char **detail) {
    int rc = channel_may_publish(&ps->policy, s->user_id, channel, detail);
    if (rc != CHANNEL_OK)
        return from_channel_rc(rc);
    return link_is_up(ps) ? PUBSUB_OK : unavailable(ps, detail);
}

int pubsub_publish(struct pubsub *ps, struct session *s, const char *from_username,
                   const char *channel, const cJSON *data, const char **detail) {
    int rc = pubsub_publish_check(ps, s, channel, detail);
    if (rc != PUBSUB_OK)
        return rc;
    msgpack_sbuffer packed;
    msgpack_sbuffer_init(&packed);
    rc = event_pack_message(data, s->user_id, from_username, &packed);
    if (rc == EVENT_ERR_FORMAT) {
        *detail = "data cannot travel: nested too deep, or a string that is not UTF-8";
        rc = PUBSUB_ERR_DATA;
    } else if (rc != EVENT_OK) {
        *detail = "out of memory";
        rc = PUBSUB_ERR_NOMEM;
    } else if ((rc = check_size(ps, channel, &packed, detail)) == PUBSUB_OK) {
        rc = ps->core ? core_publish(ps->core, channel, &packed)
                      : redislink_publish(ps->link, channel, packed.data, packed.size);
        if (rc == REDISLINK_ERR_BUSY)
            *detail = "Redis is not keeping up with publications; try again later";
        else if (rc != REDISLINK_OK)
            unavailable(ps, detail);
        rc = rc == REDISLINK_OK ? PUBSUB_OK : PUBSUB_ERR_UNAVAILABLE;
        if (rc == PUBSUB_OK)
            metrics_add(ps->metrics, METRIC_WS_PUBLISHES, 1);
    }
    msgpack_sbuffer_destroy(&packed);
    return rc;
}

struct forward *pubsub_forward(const struct pubsub *ps) {
    return ps ? ps->forward : NULL;
}

void pubsub_set_metrics(struct pubsub *ps, struct metrics_record *metrics) {
    if (!ps)
        return;
    ps->metrics = metrics;
    corelink_set_metrics(ps->core, metrics); /* the channel layer's drops */
    replychan_set_metrics(ps->replies, metrics);
}

void pubsub_set_writer(struct pubsub *ps, struct writer *writer) {
    if (ps)
        ps->writer = writer;
}

size_t pubsub_n_channels(const struct pubsub *ps) {
    return ps ? subs_n_channels(ps->table) : 0;
}

size_t pubsub_list(const struct session *s, const char **names, size_t max) {
    return subs_list(s, names, max);
}
