/* replychan.c -- reply channels and send() over channels_redis' pub/sub layer (replychan.h):
 * the names, the one pattern subscription, the checks of what arrives on it.
 *
 * The commands go through redislink_command_argv: PUBLISH on the publisher with the name as
 * given (redislink_publish would add "<prefix>__group__", the group convention), PSUBSCRIBE on
 * the subscriber. hiredis files a pattern's callback under the pattern, so every pmessage and
 * the confirmation come to on_pattern_reply; when the connection goes, hiredis calls it once
 * more with no reply and forgets it, hence replychan_link_up after each reconnect. A message is
 * checked before anyone unpacks it: a socket number after the process' part, and event.h's
 * bounds on a single map. */
#include "replychan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>

#include "corelayer.h"
#include "event.h"
#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "prog.h"
#include "redislink.h"

#define LOG_FD 2

/* Drops of one kind: counted for good, logged once per episode. */
struct drops {
    const char *reason; /* for the log */
    enum metric metric; /* where it is counted too */
    long n;             /* since the process started */
    long n_episode;     /* since the episode began */
    int is_logged;      /* the episode's first drop was logged */
};

struct replychan {
    struct redislink *link;        /* NULL: no Redis */
    replychan_socket_fn on_socket; /* where messages for sockets go */
    void *on_socket_arg;
    char local[REPLYCHAN_NAME_MAX];       /* "<prefix>specific.tokenauthP." */
    char pattern[2 * REPLYCHAN_NAME_MAX]; /* local, glob characters escaped, then "*" */
    struct drops format, gone;
    int has_dropped;                /* a drop while a message was being handed over */
    struct metrics_record *metrics; /* NULL = off */
};

static void drop(struct replychan *rc, struct drops *d, const char *channel, size_t len) {
    d->n++;
    d->n_episode++;
    metrics_add(rc->metrics, d->metric, 1);
    rc->has_dropped = 1;
    if (d->is_logged)
        return;
    d->is_logged = 1;
    char name[REPLYCHAN_NAME_MAX];
    snprintf(name, sizeof name, "%.*s", (int)(len < 99 ? len : 99), channel);
    struct log_line line;
    log_begin(&line, PROG, "reply_dropped");
    log_str(&line, "reason", d->reason);
    if (name[0])
        log_str(&line, "channel", name);
    log_end(&line, LOG_FD);
}

/* A message went through: the episodes of drops end. */
static void drops_end(struct drops *d) {
    if (d->is_logged) {
        struct log_line line;
        log_begin(&line, PROG, "reply_dropped_end");
        log_str(&line, "reason", d->reason);
        log_int(&line, "dropped", d->n_episode);
        log_end(&line, LOG_FD);
    }
    d->is_logged = 0;
    d->n_episode = 0;
}

/* The socket number after local in name, or 0 when there is none (numbers start at 1). */
static uint64_t socket_of(const struct replychan *rc, const char *name, size_t len) {
    size_t local_len = strlen(rc->local);
    if (len <= local_len || len - local_len > 20 || memcmp(name, rc->local, local_len) != 0)
        return 0;
    uint64_t id = 0;
    for (size_t i = local_len; i < len; i++) {
        uint64_t digit = (uint64_t)(name[i] - '0');
        if (name[i] < '0' || name[i] > '9' || id > (UINT64_MAX - digit) / 10)
            return 0;
        id = id * 10 + digit;
    }
    return id;
}

/* 1 when the len bytes at data are one msgpack map msgpack-c unpacks within event.h's bounds. */
static int is_map(const void *data, size_t len) {
    const unsigned char *b = data;
    return len > 0 && event_bounds_ok(data, len) &&
           ((b[0] >= 0x80 && b[0] <= 0x8f) || b[0] == 0xde || b[0] == 0xdf);
}

/* Every reply to the PSUBSCRIBE: its confirmation, then the pmessages. */
static void on_pattern_reply(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    (void)ac;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "pmessage") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING ||
        reply->element[3]->type != REDIS_REPLY_STRING)
        return; /* the connection is going (no reply), or the confirmation */
    replychan_message(privdata, reply->element[2]->str, reply->element[2]->len,
                      reply->element[3]->str, reply->element[3]->len);
}

static void on_published(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac, (void)r, (void)privdata; /* at most once: the count of receivers is not needed */
}

/* Copies local into pattern with Redis' glob characters escaped, then "*". */
static void make_pattern(struct replychan *rc) {
    size_t at = 0;
    for (const char *c = rc->local; *c; c++) {
        if (strchr("*?[]\\^", *c))
            rc->pattern[at++] = '\\';
        rc->pattern[at++] = *c;
    }
    rc->pattern[at++] = '*';
    rc->pattern[at] = '\0';
}

int replychan_prefix_check(const char *prefix, char *err, size_t err_len) {
    size_t room = REPLYCHAN_NAME_MAX - 1 - sizeof REPLYCHAN_LOCAL - REPLYCHAN_PROCESS_LEN -
                  REPLYCHAN_NUMBER_ROOM; /* sizeof counts the "." before the number */
    if (strlen(prefix) <= room)
        return REPLYCHAN_OK;
    snprintf(err, err_len,
             "TOKENAUTH_CHANNEL_PREFIX: \"%.100s\" is too long for the pubsub layer's reply "
             "channels (at most %zu characters)",
             prefix, room);
    return REPLYCHAN_ERR_INVALID;
}

struct replychan *replychan_create(struct redislink *link, const char *prefix, char *err,
                                   size_t err_len) {
    char process[CORELAYER_PROCESS_PART_LEN + 1];
    if (replychan_prefix_check(prefix, err, err_len) != REPLYCHAN_OK)
        return NULL;
    struct replychan *rc = calloc(1, sizeof *rc);
    if (!rc || corelayer_process_part(process) != CORELAYER_OK) {
        free(rc);
        snprintf(err, err_len, "reply channels: out of memory or random bytes");
        return NULL;
    }
    rc->link = link;
    snprintf(rc->local, sizeof rc->local, "%s%s%.*s.", prefix, REPLYCHAN_LOCAL,
             REPLYCHAN_PROCESS_LEN, process);
    make_pattern(rc);
    rc->format.reason = "format";
    rc->format.metric = METRIC_WS_LAYER_DROPPED_FORMAT;
    rc->gone.reason = "socket_gone";
    rc->gone.metric = METRIC_WS_LAYER_DROPPED_SOCKET_GONE;
    return rc;
}

void replychan_destroy(struct replychan *rc) {
    free(rc);
}

void replychan_set_metrics(struct replychan *rc, struct metrics_record *metrics) {
    if (rc)
        rc->metrics = metrics;
}

void replychan_on_socket(struct replychan *rc, replychan_socket_fn fn, void *arg) {
    rc->on_socket = fn;
    rc->on_socket_arg = arg;
}

int replychan_link_up(struct replychan *rc) {
    if (!rc || !rc->link)
        return REPLYCHAN_ERR_DOWN;
    const char *argv[] = {"PSUBSCRIBE", rc->pattern};
    size_t lens[] = {strlen(argv[0]), strlen(argv[1])};
    return redislink_command_argv(rc->link, 1, on_pattern_reply, rc, 2, argv, lens) == REDISLINK_OK
               ? REPLYCHAN_OK
               : REPLYCHAN_ERR_DOWN;
}

const char *replychan_pattern(const struct replychan *rc) {
    return rc->pattern;
}

int replychan_socket_channel(const struct replychan *rc, uint64_t socket_id, char *out,
                             size_t out_len) {
    int n = snprintf(out, out_len, "%s%llu", rc->local, (unsigned long long)socket_id);
    return n > 0 && (size_t)n < out_len && n < REPLYCHAN_NAME_MAX ? REPLYCHAN_OK
                                                                  : REPLYCHAN_ERR_INVALID;
}

int replychan_send(struct replychan *rc, const char *channel, const void *event, size_t event_len) {
    if (!rc->link)
        return REPLYCHAN_ERR_DOWN;
    const char *argv[] = {"PUBLISH", channel, event};
    size_t lens[] = {7, strlen(channel), event_len};
    int rc_link = redislink_command_argv(rc->link, 0, on_published, NULL, 3, argv, lens);
    return rc_link == REDISLINK_OK         ? REPLYCHAN_OK
           : rc_link == REDISLINK_ERR_BUSY ? REPLYCHAN_ERR_BUSY
                                           : REPLYCHAN_ERR_DOWN;
}

void replychan_message(struct replychan *rc, const char *channel, size_t channel_len,
                       const void *data, size_t len) {
    uint64_t id = socket_of(rc, channel, channel_len);
    if (!id || !is_map(data, len)) {
        drop(rc, &rc->format, channel, channel_len);
        return;
    }
    if (!rc->on_socket) {
        replychan_drop_gone(rc, id);
        return;
    }
    rc->has_dropped = 0;
    rc->on_socket(rc->on_socket_arg, id, data, len);
    if (!rc->has_dropped) {
        drops_end(&rc->format);
        drops_end(&rc->gone);
    }
}

void replychan_drops(const struct replychan *rc, struct replychan_drops *out) {
    out->format = rc->format.n;
    out->gone = rc->gone.n;
}

void replychan_drop_gone(struct replychan *rc, uint64_t socket_id) {
    char name[REPLYCHAN_NAME_MAX + 24];
    int n = snprintf(name, sizeof name, "%s%llu", rc->local, (unsigned long long)socket_id);
    drop(rc, &rc->gone, name, n > 0 ? (size_t)n : 0);
}

void replychan_drop_format(struct replychan *rc) {
    drop(rc, &rc->format, "", 0);
}

/* The forward_layer functions: replychan's own, with forward.h's types. */
static int forward_send(void *arg, const char *channel, const void *event, size_t event_len) {
    return replychan_send(arg, channel, event, event_len) == REPLYCHAN_OK ? FORWARD_OK
                                                                          : FORWARD_ERR_UNAVAILABLE;
}

static void forward_socket_channel(const void *arg, uint64_t socket_id, char *out, size_t out_len) {
    replychan_socket_channel(arg, socket_id, out, out_len);
}

static void forward_drop_gone(void *arg, uint64_t socket_id) {
    replychan_drop_gone(arg, socket_id);
}

static void forward_drop_format(void *arg) {
    replychan_drop_format(arg);
}

const struct forward_layer replychan_forward_layer = {forward_send, forward_socket_channel,
                                                      forward_drop_gone, forward_drop_format};
