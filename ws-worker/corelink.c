/* corelink.c -- the core layer in ws-worker (corelink.h): memberships, BZPOPMIN on every host,
 * group_send and send, over one redislink per host.
 *
 * Each command's callback gets a small malloc'd note (struct pending) it frees; with a NULL
 * reply (the connection dropped, also at destroy) it touches nothing else, since the link may
 * be gone by then. The memberships the process holds are a list of group names (refreshed by a
 * timer); the drops are counters logged by drop(). Limits: the list is scanned linearly at each
 * join and leave (one entry per group in use by this process, not per socket). */
#include "corelink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "prog.h"

#define LOG_FD 2

struct corelink;

/* One host: its link, and whether its pop loop runs. */
struct host {
    struct corelink *cl;
    struct redislink *link;
    int is_up;      /* its link is up */
    int is_popping; /* a BZPOPMIN or ZPOPMIN is in flight */
    int is_batch;   /* it is a ZPOPMIN of CORELINK_POP_BATCH (a burst being drained) */
    lws_sorted_usec_list_t sul_pop; /* the next BZPOPMIN after Redis refused one */
};

/* A group the process is a member of. */
struct member {
    struct member *next;
    char group[CORELINK_CHANNEL_MAX];
};

struct corelink {
    struct lws_context *context;
    const struct redislink_events *events; /* the owner's */
    void *arg;
    corelink_socket_fn on_socket;
    void *socket_arg;
    struct corelayer_settings settings;
    char prefix[64];
    char process[CORELAYER_PROCESS_PART_LEN + 1];
    char process_key[BUS_KEY_MAX]; /* "<prefix>specific.P!" */
    char local_prefix[64];         /* "specific.P!" */
    size_t n_hosts;
    struct host hosts[CORELAYER_MAX_HOSTS];
    size_t next_send;       /* round robin of send() */
    int is_up;              /* every host up */
    int is_down_reported;   /* on_down called for this outage */
    struct member *members; /* groups joined */
    struct corelink_drops drops;
    struct metrics_record *metrics; /* where the drops are counted too; NULL = off */
    lws_sorted_usec_list_t sul_refresh;
};

/* What a command's callback needs; the channel name when it acks one. */
struct pending {
    struct corelink *cl;
    int is_join;
    char group[CORELINK_CHANNEL_MAX];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts a dropped message (in *counter and, metrics on, in m), logging the first of its kind
 * and every CORELINK_LOG_EVERY-th. */
static void drop(struct corelink *cl, long *counter, enum metric m, const char *reason,
                 const char *channel, size_t channel_len) {
    ++*counter;
    metrics_add(cl->metrics, m, 1);
    if (*counter != 1 && *counter % CORELINK_LOG_EVERY != 0)
        return;
    char name[CORELINK_CHANNEL_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(channel_len < 100 ? channel_len : 100), channel);
    struct log_line line;
    log_begin(&line, PROG, "core_message_dropped");
    log_str(&line, "reason", reason);
    if (name[0])
        log_str(&line, "channel", name);
    log_int(&line, "dropped", *counter);
    log_end(&line, LOG_FD);
}

/* Sends a command built from up to 8 text arguments. */
static int command(struct host *h, int on_sub, redisCallbackFn *fn, void *privdata, int argc,
                   const char **argv) {
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return redislink_command_argv(h->link, on_sub, fn, privdata, argc, argv, lens);
}

static void on_ignored(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac, (void)r, (void)privdata;
}

/* ZREMRANGEBYSCORE key 0 <now - age_s> on h, answer ignored. */
static int remove_older(struct host *h, const char *key, long age_s) {
    char max[32];
    snprintf(max, sizeof max, "%ld", (long)now_s() - age_s);
    const char *argv[] = {"ZREMRANGEBYSCORE", key, "0", max};
    return command(h, 0, on_ignored, NULL, 4, argv);
}

/* The message names one channel: the group's fan-out or a socket's. */
struct delivery {
    struct corelink *cl;
    const msgpack_sbuffer *event;
};

static void deliver_to(void *arg, const char *name, size_t len) {
    struct delivery *d = arg;
    struct corelink *cl = d->cl;
    size_t lp = strlen(cl->local_prefix), gl = sizeof CORELINK_GROUP_LOCAL - 1,
           sl = sizeof CORELINK_SOCKET_LOCAL - 1;
    char group[CORELINK_CHANNEL_MAX];
    if (len > lp + gl && len - lp - gl < sizeof group && memcmp(name, cl->local_prefix, lp) == 0 &&
        memcmp(name + lp, CORELINK_GROUP_LOCAL, gl) == 0) {
        snprintf(group, sizeof group, "%.*s", (int)(len - lp - gl), name + lp + gl);
        cl->events->on_message(cl->arg, group, d->event->data, d->event->size);
        return;
    }
    if (len > lp + sl && len - lp - sl < 21 && memcmp(name, cl->local_prefix, lp) == 0 &&
        memcmp(name + lp, CORELINK_SOCKET_LOCAL, sl) == 0 && cl->on_socket) {
        char digits[24], *end;
        snprintf(digits, sizeof digits, "%.*s", (int)(len - lp - sl), name + lp + sl);
        unsigned long long id = strtoull(digits, &end, 10);
        if (*end == '\0' && digits[0] >= '0' && digits[0] <= '9') {
            cl->on_socket(cl->socket_arg, (uint64_t)id, d->event->data, d->event->size);
            return;
        }
    }
    drop(cl, &cl->drops.unknown, METRIC_WS_LAYER_DROPPED_UNKNOWN_CHANNEL, "unknown_channel", name,
         len);
}

/* One message popped from the process key. */
static void handle_message(struct corelink *cl, const char *raw, size_t len) {
    msgpack_sbuffer event;
    msgpack_sbuffer_init(&event);
    struct delivery d = {cl, &event};
    int rc = corelayer_decode(raw, len, &event, deliver_to, &d);
    if (rc == CORELAYER_ERR_FORMAT)
        drop(cl, &cl->drops.format, METRIC_WS_LAYER_DROPPED_FORMAT, "format", "", 0);
    msgpack_sbuffer_destroy(&event);
}

static void pop(struct host *h, int is_batch);

static void pop_later(lws_sorted_usec_list_t *sul) {
    pop(lws_container_of(sul, struct host, sul_pop), 0);
}

/* The messages of a reply: BZPOPMIN's [key, member, score] or ZPOPMIN's [member, score, ...].
 * Returns how many. */
static size_t handle_reply(struct host *h, const redisReply *reply) {
    size_t first = h->is_batch ? 0 : 1, n = 0;
    if (reply->type != REDIS_REPLY_ARRAY || (!h->is_batch && reply->elements != 3))
        return 0;
    for (size_t i = first; i < reply->elements; i += 2)
        if (reply->element[i]->type == REDIS_REPLY_STRING) {
            handle_message(h->cl, reply->element[i]->str, reply->element[i]->len);
            n++;
        }
    return n;
}

static void on_pop(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    struct host *h = privdata;
    if (!reply)
        return; /* dropped: the host's link is down or gone; popping starts again at up */
    h->is_popping = 0;
    if (reply->type == REDIS_REPLY_ERROR) { /* the key is no sorted set (WRONGTYPE): wait */
        drop(h->cl, &h->cl->drops.refused, METRIC_WS_LAYER_DROPPED_POP_REFUSED, "pop_refused",
             h->cl->process_key, strlen(h->cl->process_key));
        lws_sul_schedule(h->cl->context, 0, &h->sul_pop, pop_later,
                         CORELINK_POP_RETRY_MS * LWS_US_PER_MS);
        return;
    }
    size_t n = handle_reply(h, reply);
    /* after a message, drain the burst without blocking; back to waiting once it is empty */
    pop(h, h->is_batch ? n == CORELINK_POP_BATCH : n > 0);
}

/* Issues the next pop of the process key on h: BZPOPMIN (waits up to CORELINK_POP_TIMEOUT_S),
 * or ZPOPMIN of CORELINK_POP_BATCH messages while a burst is drained. */
static void pop(struct host *h, int is_batch) {
    char number[16];
    if (h->is_popping || !h->is_up)
        return;
    snprintf(number, sizeof number, "%d", is_batch ? CORELINK_POP_BATCH : CORELINK_POP_TIMEOUT_S);
    const char *argv[] = {is_batch ? "ZPOPMIN" : "BZPOPMIN", h->cl->process_key, number};
    if (command(h, 1, on_pop, h, 3, argv) == REDISLINK_OK) {
        h->is_popping = 1;
        h->is_batch = is_batch;
    }
}

/* The hosts' link events. */
static void host_up(void *arg) {
    struct host *h = arg;
    struct corelink *cl = h->cl;
    h->is_up = 1;
    h->is_popping = 0;
    pop(h, 0);
    for (size_t i = 0; i < cl->n_hosts; i++)
        if (!cl->hosts[i].is_up)
            return;
    cl->is_up = 1;
    cl->is_down_reported = 0;
    cl->events->on_up(cl->arg);
}

static void host_down(void *arg, const char *why) {
    struct host *h = arg;
    struct corelink *cl = h->cl;
    h->is_up = 0;
    h->is_popping = 0;
    cl->is_up = 0;
    if (cl->is_down_reported)
        return;
    cl->is_down_reported = 1;
    char text[320];
    snprintf(text, sizeof text, "host %zu: %s", (size_t)(h - cl->hosts) + 1, why);
    cl->events->on_down(cl->arg, text);
}

static void host_ack(void *arg, const char *channel, int is_subscribe) {
    (void)arg, (void)channel, (void)is_subscribe; /* nothing is subscribed */
}

static void host_message(void *arg, const char *channel, const void *data, size_t len) {
    (void)arg, (void)channel, (void)data, (void)len;
}

static void host_read_done(void *arg) {
    struct corelink *cl = ((struct host *)arg)->cl;
    if (cl->events->on_read_done)
        cl->events->on_read_done(cl->arg);
}

static const struct redislink_events host_events = {host_up, host_down, host_ack, host_message,
                                                    host_read_done};

/* The membership refresh: ZADD and EXPIRE again every group joined. */
static int member_add(struct corelink *cl, const char *group, redisCallbackFn *fn, void *privdata);

static void refresh(lws_sorted_usec_list_t *sul) {
    struct corelink *cl = lws_container_of(sul, struct corelink, sul_refresh);
    if (cl->is_up)
        for (struct member *m = cl->members; m; m = m->next)
            member_add(cl, m->group, on_ignored, NULL);
    long every_s = cl->settings.group_expiry_s / 4 > 0 ? cl->settings.group_expiry_s / 4 : 1;
    lws_sul_schedule(cl->context, 0, &cl->sul_refresh, refresh, every_s * LWS_US_PER_SEC);
}

struct corelink *corelink_create(struct lws_context *context, struct lws_vhost *vh,
                                 const struct bus_url *hosts, size_t n_hosts,
                                 const struct corelayer_settings *settings, int timeout_ms,
                                 const struct redislink_events *events, void *arg) {
    struct corelink *cl = calloc(1, sizeof *cl);
    if (!cl || n_hosts == 0 || n_hosts > CORELAYER_MAX_HOSTS ||
        corelayer_process_part(cl->process) != CORELAYER_OK)
        goto fail;
    cl->context = context;
    cl->events = events;
    cl->arg = arg;
    cl->settings = *settings;
    snprintf(cl->prefix, sizeof cl->prefix, "%s", settings->prefix);
    cl->settings.prefix = cl->prefix;
    snprintf(cl->local_prefix, sizeof cl->local_prefix, "specific.%s!", cl->process);
    snprintf(cl->process_key, sizeof cl->process_key, "%s%s", cl->prefix, cl->local_prefix);
    for (size_t i = 0; i < n_hosts; i++) {
        cl->hosts[i].cl = cl;
        cl->hosts[i].link = redislink_create(context, vh, &hosts[i], cl->prefix, timeout_ms,
                                             &host_events, &cl->hosts[i]);
        if (!cl->hosts[i].link)
            goto fail;
        cl->n_hosts++;
    }
    refresh(&cl->sul_refresh);
    return cl;
fail:
    corelink_destroy(cl);
    return NULL;
}

void corelink_destroy(struct corelink *cl) {
    if (!cl)
        return;
    lws_sul_cancel(&cl->sul_refresh);
    for (size_t i = 0; i < cl->n_hosts; i++) {
        lws_sul_cancel(&cl->hosts[i].sul_pop);
        redislink_destroy(cl->hosts[i].link);
    }
    while (cl->members) {
        struct member *m = cl->members;
        cl->members = m->next;
        free(m);
    }
    free(cl);
}

void corelink_on_socket(struct corelink *cl, corelink_socket_fn fn, void *arg) {
    cl->on_socket = fn;
    cl->socket_arg = arg;
}

int corelink_is_up(const struct corelink *cl) {
    return cl && cl->is_up;
}

int corelink_is_starting(const struct corelink *cl) {
    for (size_t i = 0; cl && i < cl->n_hosts; i++)
        if (redislink_is_starting(cl->hosts[i].link))
            return 1;
    return 0;
}

const char *corelink_why_down(const struct corelink *cl) {
    for (size_t i = 0; i < cl->n_hosts; i++)
        if (!redislink_is_up(cl->hosts[i].link))
            return redislink_why_down(cl->hosts[i].link);
    return "";
}

/* The host of a group and its key. NULL when the key does not fit. */
static struct host *group_host(struct corelink *cl, const char *group, char *key, size_t key_len) {
    if (corelayer_group_key(cl->prefix, group, key, key_len) != CORELAYER_OK)
        return NULL;
    return &cl->hosts[corelayer_hash(group, strlen(group), cl->n_hosts)];
}

/* ZADD of the process' member of group, then EXPIRE; fn gets EXPIRE's answer. */
static int member_add(struct corelink *cl, const char *group, redisCallbackFn *fn, void *privdata) {
    char key[BUS_KEY_MAX], member[CORELINK_CHANNEL_MAX + 64], score[32], expiry[32];
    struct host *h = group_host(cl, group, key, sizeof key);
    if (!h)
        return CORELINK_ERR_INVALID;
    snprintf(member, sizeof member, "%s%s%s", cl->local_prefix, CORELINK_GROUP_LOCAL, group);
    snprintf(score, sizeof score, "%.6f", now_s());
    snprintf(expiry, sizeof expiry, "%ld", cl->settings.group_expiry_s);
    const char *zadd[] = {"ZADD", key, score, member};
    const char *expire[] = {"EXPIRE", key, expiry};
    if (command(h, 0, on_ignored, NULL, 4, zadd) != REDISLINK_OK ||
        command(h, 0, fn, privdata, 3, expire) != REDISLINK_OK)
        return CORELINK_ERR_DOWN;
    return CORELINK_OK;
}

static int member_remove(struct corelink *cl, const char *group, redisCallbackFn *fn,
                         void *privdata) {
    char key[BUS_KEY_MAX], member[CORELINK_CHANNEL_MAX + 64];
    struct host *h = group_host(cl, group, key, sizeof key);
    if (!h)
        return CORELINK_ERR_INVALID;
    snprintf(member, sizeof member, "%s%s%s", cl->local_prefix, CORELINK_GROUP_LOCAL, group);
    const char *zrem[] = {"ZREM", key, member};
    return command(h, 0, fn, privdata, 3, zrem) == REDISLINK_OK ? CORELINK_OK : CORELINK_ERR_DOWN;
}

static void on_member_reply(redisAsyncContext *ac, void *r, void *privdata) {
    struct pending *p = privdata;
    if (r)
        p->cl->events->on_ack(p->cl->arg, p->group, p->is_join);
    free(p);
}

/* Keeps the list of groups joined in step (for the refresh). */
static void members_update(struct corelink *cl, const char *group, int is_join) {
    struct member **at = &cl->members;
    while (*at && strcmp((*at)->group, group) != 0)
        at = &(*at)->next;
    if (is_join && !*at) {
        struct member *m = calloc(1, sizeof *m);
        if (!m)
            return; /* not refreshed: it expires after group_expiry at worst */
        snprintf(m->group, sizeof m->group, "%s", group);
        m->next = cl->members;
        cl->members = m;
    } else if (!is_join && *at) {
        struct member *m = *at;
        *at = m->next;
        free(m);
    }
}

int corelink_join(struct corelink *cl, const char *group, int is_join) {
    if (!cl->is_up)
        return CORELINK_ERR_DOWN;
    if (strlen(group) >= CORELINK_CHANNEL_MAX)
        return CORELINK_ERR_INVALID;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return CORELINK_ERR_NOMEM;
    p->cl = cl;
    p->is_join = is_join;
    snprintf(p->group, sizeof p->group, "%s", group);
    int rc = is_join ? member_add(cl, group, on_member_reply, p)
                     : member_remove(cl, group, on_member_reply, p);
    if (rc != CORELINK_OK) {
        free(p);
        return rc;
    }
    members_update(cl, group, is_join);
    return CORELINK_OK;
}

/* The ZREMRANGEBYSCOREs and the EVAL of a batch (a plan's, or send()'s single key). */
static void on_eval(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    struct corelink *cl = privdata;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        for (long long i = 0; i < reply->integer; i++)
            drop(cl, &cl->drops.full, METRIC_WS_LAYER_DROPPED_CHANNEL_FULL, "channel_full", "", 0);
}

static int send_batch(struct corelink *cl, const struct corelayer_batch *b) {
    struct host *h = &cl->hosts[b->host];
    for (size_t k = 0; k < b->n_keys; k++)
        remove_older(h, b->keys[k], cl->settings.expiry_s);
    const char **argv = NULL;
    size_t *argvlen = NULL;
    char *scratch = NULL;
    int argc = corelayer_batch_argv(b, &cl->settings, now_s(), &argv, &argvlen, &scratch);
    int rc = argc > 0 ? redislink_command_argv(h->link, 0, on_eval, cl, argc, argv, argvlen)
                      : CORELINK_ERR_NOMEM;
    free(argv);
    free(argvlen);
    free(scratch);
    return rc == REDISLINK_OK ? CORELINK_OK : rc == CORELINK_ERR_NOMEM ? rc : CORELINK_ERR_DOWN;
}

/* A group_send waiting for the group's members. */
struct group_send {
    struct corelink *cl;
    size_t len;
    char event[]; /* the msgpack map */
};

static void on_members(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    struct group_send *gs = privdata;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        size_t n = reply->elements;
        const char **names = calloc(n + 1, sizeof *names);
        size_t *lens = calloc(n + 1, sizeof *lens), used = 0;
        for (size_t i = 0; names && lens && i < n; i++)
            if (reply->element[i]->type == REDIS_REPLY_STRING) {
                names[used] = reply->element[i]->str;
                lens[used++] = reply->element[i]->len;
            }
        struct corelayer_plan plan;
        if (names && lens &&
            corelayer_plan_build(gs->cl->prefix, names, lens, used, gs->event, gs->len,
                                 gs->cl->n_hosts, &plan) == CORELAYER_OK)
            for (size_t i = 0; i < plan.n_batches; i++)
                send_batch(gs->cl, &plan.batches[i]);
        if (names && lens)
            corelayer_plan_free(&plan);
        free(names);
        free(lens);
    }
    free(gs);
}

int corelink_group_send(struct corelink *cl, const char *group, const void *event,
                        size_t event_len) {
    char key[BUS_KEY_MAX];
    if (!cl->is_up)
        return CORELINK_ERR_DOWN;
    struct host *h = group_host(cl, group, key, sizeof key);
    if (!h)
        return CORELINK_ERR_INVALID;
    struct group_send *gs = malloc(sizeof *gs + event_len);
    if (!gs)
        return CORELINK_ERR_NOMEM;
    gs->cl = cl;
    gs->len = event_len;
    memcpy(gs->event, event, event_len);
    remove_older(h, key, cl->settings.group_expiry_s);
    const char *argv[] = {"ZRANGE", key, "0", "-1"};
    if (command(h, 0, on_members, gs, 4, argv) != REDISLINK_OK) {
        free(gs);
        return CORELINK_ERR_DOWN;
    }
    return CORELINK_OK;
}

int corelink_send(struct corelink *cl, const char *channel, const void *event, size_t event_len) {
    char key[BUS_KEY_MAX];
    if (!cl->is_up)
        return CORELINK_ERR_DOWN;
    if (corelayer_queue_key(cl->prefix, channel, strlen(channel), key, sizeof key) != CORELAYER_OK)
        return CORELINK_ERR_INVALID;
    msgpack_sbuffer msg;
    msgpack_sbuffer_init(&msg);
    int rc = corelayer_encode(event, event_len, NULL, NULL, 0, 0, &msg);
    char *keys[] = {key};
    struct corelayer_batch b = {cl->next_send++ % cl->n_hosts, 1, keys, &msg};
    if (rc == CORELAYER_OK)
        rc = send_batch(cl, &b);
    else
        rc = rc == CORELAYER_ERR_FORMAT ? CORELINK_ERR_FORMAT : CORELINK_ERR_NOMEM;
    msgpack_sbuffer_destroy(&msg);
    return rc;
}

int corelink_socket_channel(const struct corelink *cl, uint64_t socket_id, char *out,
                            size_t out_len) {
    int n = snprintf(out, out_len, "%s%s%llu", cl->local_prefix, CORELINK_SOCKET_LOCAL,
                     (unsigned long long)socket_id);
    return n > 0 && (size_t)n < out_len ? CORELINK_OK : CORELINK_ERR_INVALID;
}

void corelink_drops(const struct corelink *cl, struct corelink_drops *out) {
    *out = cl->drops;
}

void corelink_set_metrics(struct corelink *cl, struct metrics_record *metrics) {
    if (cl)
        cl->metrics = metrics;
}

void corelink_drop_gone(struct corelink *cl, uint64_t socket_id) {
    char name[64];
    int n =
        snprintf(name, sizeof name, "%s%llu", CORELINK_SOCKET_LOCAL, (unsigned long long)socket_id);
    drop(cl, &cl->drops.gone, METRIC_WS_LAYER_DROPPED_SOCKET_GONE, "socket_gone", name, (size_t)n);
}

void corelink_drop_format(struct corelink *cl) {
    drop(cl, &cl->drops.format, METRIC_WS_LAYER_DROPPED_FORMAT, "format", "", 0);
}

/* The forward_layer functions: corelink's own, with forward.h's types. */
static int forward_send(void *arg, const char *channel, const void *event, size_t event_len) {
    int rc = corelink_send(arg, channel, event, event_len);
    return rc == CORELINK_OK          ? FORWARD_OK
           : rc == CORELINK_ERR_NOMEM ? FORWARD_ERR_NOMEM
                                      : FORWARD_ERR_UNAVAILABLE;
}

static void forward_socket_channel(const void *arg, uint64_t socket_id, char *out, size_t out_len) {
    corelink_socket_channel(arg, socket_id, out, out_len);
}

static void forward_drop_gone(void *arg, uint64_t socket_id) {
    corelink_drop_gone(arg, socket_id);
}

static void forward_drop_format(void *arg) {
    corelink_drop_format(arg);
}

const struct forward_layer corelink_forward_layer = {forward_send, forward_socket_channel,
                                                     forward_drop_gone, forward_drop_format};
