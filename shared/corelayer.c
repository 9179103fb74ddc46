/* corelayer.c -- the blocking group_send of the core layer (corelayer.h), for login-fcgi.
 *
 * One bus.h publisher per host (connected on first use, each command bounded by the timeout).
 * group_send follows channels_redis 4.0.0 step by step: on the group's host ZREMRANGEBYSCORE of
 * the memberships older than group_expiry and ZRANGE of the rest; the plan (corelayer_wire.c);
 * then on each host a ZREMRANGEBYSCORE of the expired messages of each key and one EVAL of the
 * group_send script. Keys over capacity are counted by Redis and not reported (as Python logs
 * them at info level only). No retry: at most once. */
#include "corelayer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

struct corelayer_sender {
    size_t n_hosts;
    struct bus_publisher *hosts[CORELAYER_MAX_HOSTS];
    struct corelayer_settings settings;
    char prefix[BUS_KEY_MAX];
    char error[320];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct corelayer_sender *corelayer_sender_new(const struct bus_url *hosts, size_t n_hosts,
                                              int timeout_ms, const struct corelayer_settings *s) {
    struct corelayer_sender *sender = calloc(1, sizeof *sender);
    if (!sender || n_hosts == 0 || n_hosts > CORELAYER_MAX_HOSTS)
        goto fail;
    sender->settings = *s;
    snprintf(sender->prefix, sizeof sender->prefix, "%s", s->prefix);
    sender->settings.prefix = sender->prefix;
    for (size_t i = 0; i < n_hosts; i++) {
        sender->hosts[i] = bus_publisher_new(&hosts[i], timeout_ms);
        if (!sender->hosts[i])
            goto fail;
        sender->n_hosts++;
    }
    return sender;
fail:
    corelayer_sender_free(sender);
    return NULL;
}

void corelayer_sender_free(struct corelayer_sender *sender) {
    if (!sender)
        return;
    for (size_t i = 0; i < sender->n_hosts; i++)
        bus_publisher_free(sender->hosts[i]);
    free(sender);
}

/* Runs a command on host i, reply freed unless wanted. CORELAYER_OK or _UNAVAILABLE/_NOMEM. */
static int command(struct corelayer_sender *sender, size_t i, int argc, const char **argv,
                   const size_t *argvlen, redisReply **wanted) {
    void *reply = NULL;
    int rc = bus_command_argv(sender->hosts[i], argc, argv, argvlen, &reply);
    if (rc != BUS_OK) {
        snprintf(sender->error, sizeof sender->error, "host %zu: %s", i + 1,
                 bus_publisher_error(sender->hosts[i]));
        return rc == BUS_ERR_NOMEM ? CORELAYER_ERR_NOMEM : CORELAYER_ERR_UNAVAILABLE;
    }
    if (wanted)
        *wanted = reply;
    else
        freeReplyObject(reply);
    return CORELAYER_OK;
}

/* ZREMRANGEBYSCORE key 0 <now - age_s> on host i. */
static int remove_older(struct corelayer_sender *sender, size_t i, const char *key, long age_s) {
    char max[32];
    snprintf(max, sizeof max, "%ld", (long)now_s() - age_s);
    const char *argv[] = {"ZREMRANGEBYSCORE", key, "0", max};
    size_t argvlen[] = {16, strlen(key), 1, strlen(max)};
    return command(sender, i, 4, argv, argvlen, NULL);
}

/* The ZREMRANGEBYSCOREs and the EVAL of one batch. */
static int send_batch(struct corelayer_sender *sender, const struct corelayer_batch *b) {
    int rc = CORELAYER_OK;
    for (size_t k = 0; rc == CORELAYER_OK && k < b->n_keys; k++)
        rc = remove_older(sender, b->host, b->keys[k], sender->settings.expiry_s);
    const char **argv = NULL;
    size_t *argvlen = NULL;
    char *scratch = NULL;
    int argc = rc == CORELAYER_OK
                   ? corelayer_batch_argv(b, &sender->settings, now_s(), &argv, &argvlen, &scratch)
                   : rc;
    if (argc > 0)
        rc = command(sender, b->host, argc, argv, argvlen, NULL);
    else if (rc == CORELAYER_OK)
        rc = CORELAYER_ERR_NOMEM;
    free(argv);
    free(argvlen);
    free(scratch);
    return rc;
}

/* The plan of event for the members in reply (ZRANGE's array), then its batches sent. */
static int send_plan(struct corelayer_sender *sender, const redisReply *members, const void *event,
                     size_t event_len) {
    size_t n = members->type == REDIS_REPLY_ARRAY ? members->elements : 0;
    const char **names = calloc(n + 1, sizeof *names);
    size_t *lens = calloc(n + 1, sizeof *lens);
    size_t used = 0;
    for (size_t i = 0; names && lens && i < n; i++)
        if (members->element[i]->type == REDIS_REPLY_STRING) {
            names[used] = members->element[i]->str;
            lens[used++] = members->element[i]->len;
        }
    struct corelayer_plan plan;
    int rc = names && lens ? corelayer_plan_build(sender->prefix, names, lens, used, event,
                                                  event_len, sender->n_hosts, &plan)
                           : CORELAYER_ERR_NOMEM;
    for (size_t i = 0; rc == CORELAYER_OK && i < plan.n_batches; i++)
        rc = send_batch(sender, &plan.batches[i]);
    if (names && lens)
        corelayer_plan_free(&plan);
    free(names);
    free(lens);
    return rc;
}

int corelayer_group_send(struct corelayer_sender *sender, const char *group, const void *event,
                         size_t event_len, long long *n_members) {
    char key[BUS_KEY_MAX];
    sender->error[0] = '\0';
    if (corelayer_group_key(sender->prefix, group, key, sizeof key) != CORELAYER_OK) {
        snprintf(sender->error, sizeof sender->error, "group key: over %d bytes", BUS_KEY_MAX - 1);
        return CORELAYER_ERR_INVALID;
    }
    size_t host = corelayer_hash(group, strlen(group), sender->n_hosts);
    int rc = remove_older(sender, host, key, sender->settings.group_expiry_s);
    redisReply *members = NULL;
    const char *argv[] = {"ZRANGE", key, "0", "-1"};
    size_t argvlen[] = {6, strlen(key), 1, 2};
    if (rc == CORELAYER_OK)
        rc = command(sender, host, 4, argv, argvlen, &members);
    if (rc == CORELAYER_OK) {
        if (n_members)
            *n_members = (long long)members->elements;
        rc = send_plan(sender, members, event, event_len);
        if (rc == CORELAYER_ERR_FORMAT)
            snprintf(sender->error, sizeof sender->error, "group_send: the event is not a map");
    }
    freeReplyObject(members);
    return rc;
}

int corelayer_group_send_many(struct corelayer_sender *sender, const char *const *groups,
                              size_t n_groups, const void *event, size_t event_len) {
    int rc = CORELAYER_OK;
    for (size_t i = 0; rc == CORELAYER_OK && i < n_groups; i++)
        rc = corelayer_group_send(sender, groups[i], event, event_len, NULL);
    return rc;
}

const char *corelayer_sender_error(const struct corelayer_sender *sender) {
    return sender->error;
}
