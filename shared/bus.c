/* bus.c -- the blocking Redis publisher of login-fcgi (bus.h; the URL parser and channel keys
 * are bus_url.c).
 *
 * It speaks Redis only through hiredis (redisCommand for the few setup commands,
 * redisAppendCommand + redisGetReply for the pipeline; "%b" keeps keys and messages binary).
 * It never retries a command: a publication is sent at most once, and a failure is reported
 * so the HTTP client can decide. Not done: TLS, Sentinel, Cluster, RESP3. */
#include "bus.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#define BATCH_COMMANDS 256    /* PUBLISH commands sent before their replies are read */
#define BATCH_BYTES (1 << 20) /* or fewer when their messages add up to this many bytes */

struct bus_publisher {
    struct bus_url url; /* where Redis is */
    int timeout_ms;     /* connect and command timeout */
    redisContext *ctx;  /* NULL when not connected */
    char error[256];    /* why the last call failed, "" before any failure */
};

struct bus_publisher *bus_publisher_new(const struct bus_url *url, int timeout_ms) {
    struct bus_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->url = *url;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    return p;
}

/* Closes the connection, if any. */
static void drop(struct bus_publisher *p) {
    if (p->ctx)
        redisFree(p->ctx);
    p->ctx = NULL;
}

void bus_publisher_free(struct bus_publisher *p) {
    if (!p)
        return;
    drop(p);
    free(p);
}

/* Drops the connection and records why: "what: why". Returns code. */
static int failure(struct bus_publisher *p, int code, const char *what, const char *why) {
    snprintf(p->error, sizeof p->error, "%s: %s", what, why);
    drop(p);
    return code;
}

/* The failure of a call that returned no reply: the context's error, a timeout said so. */
static int io_failure(struct bus_publisher *p, const char *what) {
    const redisContext *c = p->ctx;
    char why[160];
    if (c->err == REDIS_ERR_OOM)
        return failure(p, BUS_ERR_NOMEM, what, "out of memory");
    if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
        snprintf(why, sizeof why, "no answer within %d ms", p->timeout_ms);
    else
        snprintf(why, sizeof why, "%s", c->errstr[0] ? c->errstr : "connection lost");
    return failure(p, BUS_ERR_UNAVAILABLE, what, why);
}

/* Checks a reply of what: BUS_OK with *integer (may be NULL) set from an integer reply, or a
 * failure (connection dropped). Frees the reply. */
static int take_reply(struct bus_publisher *p, redisReply *reply, const char *what,
                      long long *integer) {
    if (!reply)
        return io_failure(p, what);
    int rc = BUS_OK;
    if (reply->type == REDIS_REPLY_ERROR)
        rc = failure(p, BUS_ERR_REFUSED, what, reply->str);
    else if (integer)
        *integer = reply->type == REDIS_REPLY_INTEGER ? reply->integer : 0;
    freeReplyObject(reply);
    return rc;
}

/* 1 when an idle connection has something to read or an error: Redis sends nothing
 * unasked on a connection that subscribes to nothing, so that is its close (or garbage). */
static int connection_is_closed(const redisContext *c) {
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) != 0;
}

/* Connects, authenticates and selects the db. BUS_OK or a failure (nothing left open). */
static int publisher_connect(struct bus_publisher *p) {
    struct timeval tv = {p->timeout_ms / 1000, (p->timeout_ms % 1000) * 1000};
    const struct bus_url *u = &p->url;
    p->ctx = u->kind == BUS_URL_UNIX ? redisConnectUnixWithTimeout(u->path, tv)
                                     : redisConnectWithTimeout(u->host, u->port, tv);
    if (!p->ctx)
        return failure(p, BUS_ERR_NOMEM, "connect to redis", "out of memory");
    if (p->ctx->err)
        return io_failure(p, "connect to redis");
    if (redisSetTimeout(p->ctx, tv) != REDIS_OK)
        return io_failure(p, "connect to redis");
    int rc = BUS_OK;
    if (u->password[0] && u->username[0])
        rc = take_reply(p, redisCommand(p->ctx, "AUTH %s %s", u->username, u->password), "AUTH",
                        NULL);
    else if (u->password[0])
        rc = take_reply(p, redisCommand(p->ctx, "AUTH %s", u->password), "AUTH", NULL);
    if (rc == BUS_OK && u->db != 0)
        rc = take_reply(p, redisCommand(p->ctx, "SELECT %d", u->db), "SELECT", NULL);
    return rc;
}

/* A usable connection: the open one when Redis has not closed it, else a new one. */
static int publisher_ready(struct bus_publisher *p) {
    p->error[0] = '\0';
    if (p->ctx && connection_is_closed(p->ctx))
        drop(p);
    return p->ctx ? BUS_OK : publisher_connect(p);
}

/* Queues PUBLISH key msg in the context's output buffer (nothing sent yet). */
static int append_publish(struct bus_publisher *p, const char *key, const void *msg, size_t len) {
    if (redisAppendCommand(p->ctx, "PUBLISH %b %b", key, strlen(key), msg, len) != REDIS_OK)
        return failure(p, BUS_ERR_NOMEM, "PUBLISH", "out of memory");
    return BUS_OK;
}

/* Sends what is queued and reads n PUBLISH replies, adding their counts to *total. */
static int read_replies(struct bus_publisher *p, size_t n, long long *total) {
    for (size_t i = 0; i < n; i++) {
        void *reply = NULL;
        long long count = 0;
        if (redisGetReply(p->ctx, &reply) != REDIS_OK)
            return io_failure(p, "PUBLISH");
        int rc = take_reply(p, reply, "PUBLISH", &count);
        if (rc != BUS_OK)
            return rc;
        *total += count;
    }
    return BUS_OK;
}

int bus_publish(struct bus_publisher *p, const char *key, const void *msg, size_t len,
                long long *n_receivers) {
    long long total = 0;
    int rc = publisher_ready(p);
    if (rc == BUS_OK)
        rc = append_publish(p, key, msg, len);
    if (rc == BUS_OK)
        rc = read_replies(p, 1, &total);
    if (rc == BUS_OK && n_receivers)
        *n_receivers = total;
    return rc;
}

int bus_publish_channels(struct bus_publisher *p, const char *prefix, const char *const *channels,
                         size_t n_channels, const void *msg, size_t len, long long *n_receivers) {
    char key[BUS_KEY_MAX];
    for (size_t i = 0; i < n_channels; i++)
        if (bus_channel_key(prefix, channels[i], key, sizeof key) != BUS_OK) {
            snprintf(p->error, sizeof p->error, "channel key: over %d bytes", BUS_KEY_MAX - 1);
            return BUS_ERR_INVALID;
        }
    long long total = 0;
    int rc = publisher_ready(p);
    size_t i = 0;
    while (rc == BUS_OK && i < n_channels) {
        size_t batch = 0, bytes = 0;
        for (; rc == BUS_OK && i < n_channels && batch < BATCH_COMMANDS && bytes < BATCH_BYTES;
             i++, batch++) {
            bus_channel_key(prefix, channels[i], key, sizeof key);
            rc = append_publish(p, key, msg, len);
            bytes += len + strlen(key);
        }
        if (rc == BUS_OK)
            rc = read_replies(p, batch, &total);
    }
    if (rc == BUS_OK && n_receivers)
        *n_receivers = total;
    return rc;
}

int bus_command_argv(struct bus_publisher *p, int argc, const char **argv, const size_t *argvlen,
                     void **reply) {
    *reply = NULL;
    int rc = publisher_ready(p);
    if (rc != BUS_OK)
        return rc;
    redisReply *r = redisCommandArgv(p->ctx, argc, argv, argvlen);
    if (!r)
        return io_failure(p, argv[0]);
    if (r->type == REDIS_REPLY_ERROR) {
        rc = failure(p, BUS_ERR_REFUSED, argv[0], r->str);
        freeReplyObject(r);
        return rc;
    }
    *reply = r;
    return BUS_OK;
}

const char *bus_publisher_error(const struct bus_publisher *p) {
    return p->error;
}
