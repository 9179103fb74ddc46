/* redislink.c -- two hiredis async connections on the libwebsockets loop: connect, heartbeat,
 * back-off, and the pub/sub replies handed to the owner.
 *
 * Why this way: Debian's lws 4.1.6 has no external-poll hooks, and the loop must never wait on
 * Redis. hiredis' async API only needs an event library's five hooks (ac->ev), so lws plays
 * that library: the connection's socket is dup()ed and the copy adopted with
 * lws_adopt_descriptor_vhost(LWS_ADOPT_RAW_FILE_DESC) under our own protocol entry. lws polls
 * it with the sessions' sockets; LWS_CALLBACK_RAW_RX_FILE runs redisAsyncHandleRead,
 * LWS_CALLBACK_RAW_WRITEABLE_FILE redisAsyncHandleWrite, and hiredis' addWrite is
 * lws_callback_on_writable() (lws 4.1.6's raw-file role, roles/raw-file/ops-raw-file.c, turns
 * POLLOUT into that callback). A copy of the descriptor, not hiredis' own, so each library
 * closes the one it owns. No thread, no lock: a helper thread with a blocking connection was
 * the fallback, not needed.
 *
 * Two details of lws 4.1.6 shape the code. Its raw-file role clears POLLOUT after the writeable
 * callback, so a write request made by hiredis during that callback (a partial write) would be
 * lost: it is remembered and made again from a timer at the next turn of the loop (sul_rearm).
 * And POLLIN is always watched: hiredis' addRead/delRead are no-ops.
 *
 * Health: each connection must answer a first PING before the link is up (a stopped Redis
 * still accepts connections into its backlog). Once up, the publisher sends a PING every
 * timeout_ms / 3 and the link is down when one stays unanswered for timeout_ms (hiredis 0.14
 * handles PING badly in subscribed mode, so the subscriber is not pinged; both connections go
 * down together anyway). A password in the URL means AUTH first on both, a db SELECT on the
 * publisher (pub/sub ignores databases). Not done: TLS, Sentinel, Cluster. The URL reaching
 * here holds an address, never a name: pubsub.c resolves names once at start, since hiredis
 * would call getaddrinfo() at every connect, inside the loop. */
#include "redislink.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "clock.h"

/* One of the two connections. */
struct conn {
    struct redislink *link; /* the owner */
    redisAsyncContext *ac;  /* NULL when not connected */
    struct lws *wsi;        /* the adopted copy of ac's descriptor, NULL when none */
    int is_ready;           /* answered the first PING */
    int is_in_writeable;    /* inside its writeable callback (lws clears POLLOUT after it) */
    int wants_write;        /* hiredis asked to write during that callback */
};

struct redislink {
    struct lws_context *context;
    struct lws_vhost *vh;
    struct bus_url url; /* where Redis is */
    char prefix[128];   /* of channel keys */
    int timeout_ms;     /* connect and PING deadline */
    const struct redislink_events *events;
    void *arg;
    struct conn sub, pub;             /* the subscriber and the publisher */
    int state;                        /* LINK_WAITING, LINK_CONNECTING or LINK_UP */
    int is_down_reported;             /* on_down called for this outage */
    int has_started;                  /* the first attempt ended, up or down */
    int retry_ms;                     /* the next back-off */
    int64_t ping_sent_ms;             /* when the unanswered PING left, 0 = none */
    char why_down[256];               /* the reason of this outage */
    lws_sorted_usec_list_t sul_retry; /* the next connect */
    lws_sorted_usec_list_t sul_beat;  /* connect deadline, then the heartbeat */
    lws_sorted_usec_list_t sul_rearm; /* write requests lost to lws' POLLOUT clearing */
};

#define LINK_WAITING 0    /* down, the next connect scheduled */
#define LINK_CONNECTING 1 /* connections opened, not both ready yet */
#define LINK_UP 2         /* both ready, no failure since */

static void fail(struct redislink *link, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void schedule(struct redislink *link, lws_sorted_usec_list_t *sul, sul_cb_t cb, int ms) {
    lws_sul_schedule(link->context, 0, sul, cb, ms > 0 ? (lws_usec_t)ms * LWS_US_PER_MS : 1);
}

/* Write requests lws dropped (made during a writeable callback), made again. */
static void rearm(lws_sorted_usec_list_t *sul) {
    struct redislink *link = lws_container_of(sul, struct redislink, sul_rearm);
    struct conn *conns[] = {&link->sub, &link->pub};
    for (size_t i = 0; i < 2; i++)
        if (conns[i]->wants_write && conns[i]->wsi) {
            conns[i]->wants_write = 0;
            lws_callback_on_writable(conns[i]->wsi);
        }
}

/* hiredis' event hooks: ac->ev.data is the struct conn. */
static void ev_add_write(void *data) {
    struct conn *c = data;
    if (c->is_in_writeable) {
        c->wants_write = 1;
        schedule(c->link, &c->link->sul_rearm, rearm, 0);
    } else if (c->wsi) {
        lws_callback_on_writable(c->wsi);
    }
}

static void ev_del_write(void *data) {
    ((struct conn *)data)->wants_write = 0;
}

static void ev_noop(void *data) {
    (void)data;
}

/* hiredis frees ac: its wsi goes too (at the loop's next turn, never from inside a callback of
 * its own). Called again by hiredis after conn_drop() did it: nothing left to do then. */
static void ev_cleanup(void *data) {
    struct conn *c = data;
    c->ac = NULL;
    c->is_ready = 0;
    c->wants_write = 0;
    if (c->wsi) {
        lws_set_opaque_user_data(c->wsi, NULL);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        c->wsi = NULL;
    }
}

/* Drops one connection; hiredis runs the pending callbacks with NULL replies first. */
static void conn_drop(struct conn *c) {
    redisAsyncContext *ac = c->ac;
    if (ac) {
        ac->onDisconnect = NULL; /* this is ours, not news */
        redisAsyncFree(ac);      /* deferred by hiredis when inside one of its callbacks */
    }
    ev_cleanup(c);
}

static void retry(lws_sorted_usec_list_t *sul);

/* The link is down: both connections dropped, on_down once per outage, a retry scheduled. */
static void fail(struct redislink *link, const char *fmt, ...) {
    if (link->state == LINK_WAITING)
        return; /* already down, a retry scheduled */
    int was_up = link->state == LINK_UP;
    link->state = LINK_WAITING;
    link->ping_sent_ms = 0;
    if (!link->is_down_reported || was_up) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(link->why_down, sizeof link->why_down, fmt, ap);
        va_end(ap);
    }
    lws_sul_cancel(&link->sul_beat);
    conn_drop(&link->sub);
    conn_drop(&link->pub);
    link->has_started = 1;
    if (!link->is_down_reported) {
        link->is_down_reported = 1;
        link->events->on_down(link->arg, link->why_down);
    }
    schedule(link, &link->sul_retry, retry, link->retry_ms);
    link->retry_ms =
        link->retry_ms * 2 > REDISLINK_RETRY_MAX_MS ? REDISLINK_RETRY_MAX_MS : link->retry_ms * 2;
}

static void beat(lws_sorted_usec_list_t *sul);

static struct conn *conn_of(redisAsyncContext *ac) {
    return ac->ev.data;
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
    struct conn *c = ac->ev.data;
    c->ac = NULL; /* hiredis is freeing it */
    fail(c->link, "%s: %s", c == &c->link->sub ? "subscriber" : "publisher",
         ac->err ? ac->errstr : "connection closed by Redis");
}

static void on_connect(const redisAsyncContext *ac, int status) {
    struct conn *c = ac->ev.data;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees it after this callback */
        fail(c->link, "connect: %s", ac->errstr);
    }
}

/* The answer to a PING: the first one makes a connection ready, later ones end a heartbeat. */
static void on_pong(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    if (!reply)
        return; /* the connection is being dropped */
    struct conn *c = conn_of(ac);
    struct redislink *link = c->link;
    if (reply->type == REDIS_REPLY_ERROR) {
        fail(link, "PING: %s", reply->str);
        return;
    }
    link->ping_sent_ms = c == &link->pub ? 0 : link->ping_sent_ms;
    if (c->is_ready)
        return;
    c->is_ready = 1;
    if (!link->sub.is_ready || !link->pub.is_ready)
        return;
    link->state = LINK_UP;
    link->has_started = 1;
    link->is_down_reported = 0;
    link->why_down[0] = '\0';
    link->retry_ms = REDISLINK_RETRY_MIN_MS;
    schedule(link, &link->sul_beat, beat, link->timeout_ms / 3);
    link->events->on_up(link->arg);
}

/* AUTH and SELECT: an error ends this attempt. */
static void on_setup_reply(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        fail(conn_of(ac)->link, "%s: %.200s", (const char *)privdata, reply->str);
}

/* Every reply of the subscriber once subscribed: confirmations and publications. */
static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata) {
    redisReply *reply = r;
    struct redislink *link = privdata;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    const char *channel = bus_channel_from_key(link->prefix, reply->element[1]->str);
    if (!channel)
        return;
    if (strcmp(kind, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING)
        link->events->on_message(link->arg, channel, reply->element[2]->str,
                                 reply->element[2]->len);
    else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "unsubscribe") == 0)
        link->events->on_ack(link->arg, channel, kind[0] == 's');
}

static void on_publish_reply(redisAsyncContext *ac, void *r, void *privdata) {
    (void)ac, (void)r, (void)privdata; /* at most once: nothing to do with the count */
}

/* Opens one connection and adopts a copy of its descriptor. 0, or -1 with the link failed. */
static int conn_open(struct redislink *link, struct conn *c) {
    const struct bus_url *u = &link->url;
    redisAsyncContext *ac = u->kind == BUS_URL_UNIX ? redisAsyncConnectUnix(u->path)
                                                    : redisAsyncConnect(u->host, u->port);
    if (!ac || ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        fail(link, "connect: %s", why);
        return -1;
    }
    c->ac = ac;
    ac->ev.data = c;
    ac->ev.addRead = ev_noop;
    ac->ev.delRead = ev_noop;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    lws_sock_file_fd_type fd = {.filefd = dup(ac->c.fd)};
    if (fd.filefd >= 0)
        c->wsi = lws_adopt_descriptor_vhost(link->vh, LWS_ADOPT_RAW_FILE_DESC, fd,
                                            REDISLINK_PROTOCOL_NAME, NULL);
    if (!c->wsi) {
        if (fd.filefd >= 0)
            close(fd.filefd);
        fail(link, "connect: cannot watch the socket (descriptors exhausted?)");
        return -1;
    }
    lws_set_opaque_user_data(c->wsi, c);
    redisAsyncSetConnectCallback(ac, on_connect); /* asks to write: completes the connect */
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return 0;
}

/* The first commands of a connection: AUTH, SELECT, then the PING that makes it ready. */
static int conn_setup(struct redislink *link, struct conn *c) {
    const struct bus_url *u = &link->url;
    int rc = REDIS_OK;
    if (u->password[0] && u->username[0])
        rc = redisAsyncCommand(c->ac, on_setup_reply, "AUTH", "AUTH %s %s", u->username,
                               u->password);
    else if (u->password[0])
        rc = redisAsyncCommand(c->ac, on_setup_reply, "AUTH", "AUTH %s", u->password);
    if (rc == REDIS_OK && u->db) /* the subscriber too: the core layer pops from it */
        rc = redisAsyncCommand(c->ac, on_setup_reply, "SELECT", "SELECT %d", u->db);
    if (rc == REDIS_OK)
        rc = redisAsyncCommand(c->ac, on_pong, NULL, "PING");
    return rc == REDIS_OK ? 0 : -1;
}

/* The connect deadline, then every timeout_ms / 3 a heartbeat on the publisher. */
static void beat(lws_sorted_usec_list_t *sul) {
    struct redislink *link = lws_container_of(sul, struct redislink, sul_beat);
    int64_t now = clock_monotonic_ms();
    if (link->state != LINK_UP) {
        fail(link, "no answer within %d ms of connecting", link->timeout_ms);
        return;
    }
    if (link->ping_sent_ms && now - link->ping_sent_ms >= link->timeout_ms) {
        fail(link, "no answer to PING within %d ms", link->timeout_ms);
        return;
    }
    if (!link->ping_sent_ms) {
        if (redisAsyncCommand(link->pub.ac, on_pong, NULL, "PING") != REDIS_OK) {
            fail(link, "PING: the connection is closing");
            return;
        }
        link->ping_sent_ms = now;
    }
    schedule(link, &link->sul_beat, beat, link->timeout_ms / 3);
}

static void retry(lws_sorted_usec_list_t *sul) {
    struct redislink *link = lws_container_of(sul, struct redislink, sul_retry);
    link->state = LINK_CONNECTING;
    if (conn_open(link, &link->sub) || conn_open(link, &link->pub))
        return;
    if (conn_setup(link, &link->sub) || conn_setup(link, &link->pub)) {
        fail(link, "connect: the connection closed at once");
        return;
    }
    schedule(link, &link->sul_beat, beat, link->timeout_ms);
}

/* The lws callback of the link's wsis: hiredis reads and writes. */
int redislink_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len) {
    struct conn *c = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        if (!c || !c->ac)
            return -1; /* a copy whose connection is gone: close it */
        redisAsyncHandleRead(c->ac);
        if (c->link->events->on_read_done) /* a read can carry many publications */
            c->link->events->on_read_done(c->link->arg);
        break;
    case LWS_CALLBACK_RAW_WRITEABLE_FILE:
        if (!c || !c->ac)
            return 0;
        c->is_in_writeable = 1;
        redisAsyncHandleWrite(c->ac);
        c->is_in_writeable = 0;
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (c && c->wsi == wsi) { /* lws closed it (hang-up): the connection is lost */
            c->wsi = NULL;
            fail(c->link, "%s: hang-up", c == &c->link->sub ? "subscriber" : "publisher");
        }
        break;
    default:
        break;
    }
    return 0;
}

struct redislink *redislink_create(struct lws_context *context, struct lws_vhost *vh,
                                   const struct bus_url *url, const char *prefix, int timeout_ms,
                                   const struct redislink_events *events, void *arg) {
    struct redislink *link = calloc(1, sizeof *link);
    if (!link)
        return NULL;
    link->vh = vh;
    link->context = context;
    link->url = *url;
    snprintf(link->prefix, sizeof link->prefix, "%s", prefix);
    link->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    link->events = events;
    link->arg = arg;
    link->sub.link = link->pub.link = link;
    link->retry_ms = REDISLINK_RETRY_MIN_MS;
    snprintf(link->why_down, sizeof link->why_down, "not connected yet");
    link->state = LINK_CONNECTING; /* so that a failure of the first attempt counts */
    schedule(link, &link->sul_retry, retry, 0);
    return link;
}

void redislink_destroy(struct redislink *link) {
    if (!link)
        return;
    lws_sul_cancel(&link->sul_retry);
    lws_sul_cancel(&link->sul_beat);
    lws_sul_cancel(&link->sul_rearm);
    link->is_down_reported = 1; /* no event from here on */
    link->state = LINK_WAITING;
    conn_drop(&link->sub);
    conn_drop(&link->pub);
    lws_sul_cancel(&link->sul_retry);
    free(link);
}

int redislink_is_up(const struct redislink *link) {
    return link && link->state == LINK_UP;
}

int redislink_is_starting(const struct redislink *link) {
    return link && !link->has_started;
}

const char *redislink_why_down(const struct redislink *link) {
    return link->state == LINK_UP ? "" : link->why_down;
}

int redislink_subscribe(struct redislink *link, const char *channel, int is_subscribe) {
    char key[BUS_KEY_MAX];
    if (link->state != LINK_UP)
        return REDISLINK_ERR_DOWN;
    if (bus_channel_key(link->prefix, channel, key, sizeof key) != BUS_OK)
        return REDISLINK_ERR_INVALID;
    int rc = redisAsyncCommand(link->sub.ac, on_sub_reply, link,
                               is_subscribe ? "SUBSCRIBE %s" : "UNSUBSCRIBE %s", key);
    return rc == REDIS_OK ? REDISLINK_OK : REDISLINK_ERR_DOWN;
}

int redislink_publish(struct redislink *link, const char *channel, const void *data, size_t len) {
    char key[BUS_KEY_MAX];
    if (link->state != LINK_UP)
        return REDISLINK_ERR_DOWN;
    if (bus_channel_key(link->prefix, channel, key, sizeof key) != BUS_OK)
        return REDISLINK_ERR_INVALID;
    if (sdslen(link->pub.ac->c.obuf) + len > REDISLINK_MAX_UNSENT)
        return REDISLINK_ERR_BUSY;
    int rc =
        redisAsyncCommand(link->pub.ac, on_publish_reply, NULL, "PUBLISH %s %b", key, data, len);
    return rc == REDIS_OK ? REDISLINK_OK : REDISLINK_ERR_DOWN;
}

int redislink_command_argv(struct redislink *link, int on_subscriber, redisCallbackFn *fn,
                           void *privdata, int argc, const char **argv, const size_t *argvlen) {
    struct conn *c = on_subscriber ? &link->sub : &link->pub;
    if (link->state != LINK_UP || !c->ac)
        return REDISLINK_ERR_DOWN;
    size_t len = 0;
    for (int i = 0; i < argc; i++)
        len += argvlen[i];
    if (sdslen(c->ac->c.obuf) + len > REDISLINK_MAX_UNSENT)
        return REDISLINK_ERR_BUSY;
    int rc = redisAsyncCommandArgv(c->ac, fn, privdata, argc, argv, argvlen);
    return rc == REDIS_OK ? REDISLINK_OK : REDISLINK_ERR_DOWN;
}
