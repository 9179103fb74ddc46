/* redislink.h -- ws-worker's two Redis connections, driven by the libwebsockets loop.
 *
 * One process, two hiredis async connections to TOKENAUTH_REDIS_URL: the subscriber (SUBSCRIBE,
 * UNSUBSCRIBE; it receives the publications) and the publisher (PUBLISH, and the heartbeat
 * PING). Neither ever blocks the loop: hiredis' sockets are watched by lws as raw-file wsis of
 * the protocol REDISLINK_PROTOCOL_NAME (put redislink_protocol in the vhost's protocol list).
 *
 * The link is up once both connections answered a PING; then on_up is called. It is down after
 * any error, a closed connection, or a PING left unanswered for timeout_ms (a hung Redis): both
 * connections are dropped, on_down is called once for the episode, and it connects again with
 * a back-off (REDISLINK_RETRY_MIN_MS doubling to REDISLINK_RETRY_MAX_MS). Channel names are the
 * clients' ones: the link adds and strips "<prefix>__group__" (bus.h). */
#ifndef TOKENAUTH_REDISLINK_H
#define TOKENAUTH_REDISLINK_H

#include <stddef.h>

#include <hiredis/async.h>
#include <libwebsockets.h>

#include "bus.h"

#define REDISLINK_OK 0
#define REDISLINK_ERR_DOWN -1    /* not connected (or no longer): try again once up */
#define REDISLINK_ERR_INVALID -2 /* a channel whose key does not fit BUS_KEY_MAX */
#define REDISLINK_ERR_BUSY -3    /* REDISLINK_MAX_UNSENT bytes wait already: Redis is slow */
#define REDISLINK_ERR_NOMEM -4

#define REDISLINK_PROTOCOL_NAME "tokenauth-redis"
#define REDISLINK_RETRY_MIN_MS 100
#define REDISLINK_RETRY_MAX_MS 2000
#define REDISLINK_MAX_UNSENT (8 * 1024 * 1024) /* bytes of commands waiting to be sent */

/* What the link tells its owner; arg is redislink_create()'s. Called from the lws loop. */
struct redislink_events {
    void (*on_up)(void *arg);                    /* ready: nothing subscribed yet */
    void (*on_down)(void *arg, const char *why); /* once per outage; why has no secret */
    void (*on_ack)(void *arg, const char *channel, int is_subscribe); /* Redis confirmed */
    void (*on_message)(void *arg, const char *channel, const void *data, size_t len);
    void (*on_read_done)(void *arg); /* after each read: its replies were handled; may be NULL */
};

struct redislink;

/* The lws callback of the link's wsis (raw files: hiredis reads and writes). */
int redislink_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);

/* The protocol entry of the link's wsis, for the vhost's protocol list. */
#define REDISLINK_PROTOCOL_ENTRY                                                                   \
    { .name = REDISLINK_PROTOCOL_NAME, .callback = redislink_callback }

/* A link to url (copied) for channels under prefix (copied), in vhost vh; it starts connecting
 * at the loop's next turn (context owns vh). timeout_ms bounds a connect and a PING. NULL when
 * memory ran out. */
struct redislink *redislink_create(struct lws_context *context, struct lws_vhost *vh,
                                   const struct bus_url *url, const char *prefix, int timeout_ms,
                                   const struct redislink_events *events, void *arg);

/* Drops the connections (no events called) and frees the link. NULL is fine. */
void redislink_destroy(struct redislink *link);

/* 1 while up, else 0. */
int redislink_is_up(const struct redislink *link);

/* 1 until the first connection attempt has ended (up or down), else 0. */
int redislink_is_starting(const struct redislink *link);

/* Why the link is down ("" while up, or before the first attempt ended). */
const char *redislink_why_down(const struct redislink *link);

/* Sends SUBSCRIBE (is_subscribe 1) or UNSUBSCRIBE of channel; Redis' confirmation comes through
 * on_ack. REDISLINK_OK, REDISLINK_ERR_DOWN, REDISLINK_ERR_INVALID. */
int redislink_subscribe(struct redislink *link, const char *channel, int is_subscribe);

/* Sends PUBLISH of data (len bytes) on channel; no answer is reported. REDISLINK_OK, or
 * REDISLINK_ERR_DOWN, REDISLINK_ERR_INVALID, REDISLINK_ERR_BUSY. */
int redislink_publish(struct redislink *link, const char *channel, const void *data, size_t len);

/* Sends one command (argc binary arguments) on the publisher (on_subscriber 0) or on the
 * subscriber connection (1: the core layer's BZPOPMIN, corelink.h, on a link that subscribes to
 * nothing). fn gets Redis' reply, or a NULL reply when the connection is dropped first.
 * REDISLINK_OK, REDISLINK_ERR_DOWN, REDISLINK_ERR_BUSY. */
int redislink_command_argv(struct redislink *link, int on_subscriber, redisCallbackFn *fn,
                           void *privdata, int argc, const char **argv, const size_t *argvlen);

#endif
