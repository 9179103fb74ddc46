/* pubsub.h -- channels in one ws-worker process: the Redis link, the channel table, the policy,
 * and the sessions' queues they fill.
 *
 * protocol.c creates one per process (PROTOCOL_INIT) and tells it when a session opens (it joins
 * its personal channel "user.<id>") and when one starts closing (it leaves every channel at
 * once: nothing is delivered after the close frame). commands.c calls the four commands. What
 * comes from Redis (publications, confirmations, outages) ends as replies queued on sessions
 * (replies.h, is_command 0):
 *   {"subscribed": C}                 a join Redis confirmed
 *   {"channel": C, "data": X, ...}    a publication (event.h's delivery JSON)
 *   {"channel": C, "gap": true}       after an outage: publications may have been missed
 *   {"error": "unavailable", "channel": C, "detail": "..."}   a join Redis never confirmed
 * A session whose queued deliveries (JSON plus each buffer's overhead) pass
 * cfg->ws_max_queued_bytes is closed with
 * PUBSUB_CLOSE_SLOW_CONSUMER "slow consumer"; its queue is freed at once. A delivery longer than
 * cfg->ws_max_message_bytes, or a publication that does not convert, is dropped, counted, and
 * logged once per episode (until a delivery goes through again). With TOKENAUTH_REDIS_URL
 * empty there is no link: sessions still join their personal channel (listed, never fed), and
 * subscribe and publish answer unavailable. With TOKENAUTH_CHANNEL_LAYER=core the link is
 * corelink.h's (the same events; publications are group_sends). With a link of either layer
 * every socket gets a reply channel (forward.h; pub/sub: replychan.h). */
#ifndef TOKENAUTH_PUBSUB_H
#define TOKENAUTH_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <libwebsockets.h>

#define PUBSUB_OK 0
#define PUBSUB_PENDING 1          /* subscribe: the answer is queued once Redis confirms */
#define PUBSUB_ERR_INVALID -1     /* not a channel name */
#define PUBSUB_ERR_FORBIDDEN -2   /* the policy says no (or leaving the personal channel) */
#define PUBSUB_ERR_NOT_MEMBER -3  /* unsubscribe of a channel the session is not in */
#define PUBSUB_ERR_TOO_MANY -4    /* cfg->ws_max_subscriptions reached */
#define PUBSUB_ERR_UNAVAILABLE -5 /* no Redis (down, or not configured) */
#define PUBSUB_ERR_TOO_BIG -6     /* publish: the delivery would exceed the message limit */
#define PUBSUB_ERR_NOMEM -7
#define PUBSUB_ERR_DATA                                                                            \
    -8 /* publish: data cannot travel (nested deeper than msgpack-c's limit)                       \
        */

#define PUBSUB_CLOSE_SLOW_CONSUMER 4008 /* close code of a session whose queue overflowed */

struct config;
struct pubsub;
struct reply_pool;
struct session;

/* How the owner closes a session (sets its close code, then calls pubsub_session_close). With
 * keep_replies (an application's close: tokenauth.close) what was queued for the socket before
 * the close is written first, as a Channels consumer's send-then-close would; without (a slow
 * consumer, no memory) the queue is dropped at once. Nothing is queued after either. */
typedef void (*pubsub_close_fn)(void *arg, struct session *s, int code, const char *reason,
                                int keep_replies);

/* The channels of this process, or NULL with err ("what: why") filled: a bad
 * TOKENAUTH_REDIS_URL or pattern list, or no memory. cfg and pool must outlive it; the link
 * (when a URL is set) starts connecting at the loop's next turn, on vhost vh. */
struct pubsub *pubsub_create(struct lws_context *context, struct lws_vhost *vh,
                             const struct config *cfg, struct reply_pool *pool,
                             pubsub_close_fn close_session, void *close_arg, char *err,
                             size_t err_len);

/* The process is shutting down: the Redis link is dropped without a redis_down log; subscribe
 * and publish answer unavailable from now on. NULL is fine. */
void pubsub_stop(struct pubsub *ps);

/* Drops the Redis link and frees everything (sessions' memberships too). NULL is fine. */
void pubsub_destroy(struct pubsub *ps);

/* A session was established: it joins its personal channel (and gets its reply channel;
 * username, NULL when not known, is for the forward events). PUBSUB_OK or PUBSUB_ERR_NOMEM. */
int pubsub_session_open(struct pubsub *ps, struct session *s, const char *username);

/* A session starts closing (or is gone): it leaves every channel. NULL ps is fine. */
void pubsub_session_close(struct pubsub *ps, struct session *s);

/* The commands. *detail is set on every error (static text, or valid until the next call).
 * subscribe: PUBSUB_OK (answer now), PUBSUB_PENDING (answer queued later), or an error.
 * signature may be NULL. */
int pubsub_subscribe(struct pubsub *ps, struct session *s, const char *channel,
                     const char *signature, const char **detail);
int pubsub_unsubscribe(struct pubsub *ps, struct session *s, const char *channel,
                       const char **detail);

/* Whether s may publish on channel now (the policy, then Redis): PUBSUB_OK or an error, before
 * the caller does the work a publication needs (reading the username). */
int pubsub_publish_check(struct pubsub *ps, const struct session *s, const char *channel,
                         const char **detail);

/* Publishes data on channel from the session's user (from_username, set in "from" by the
 * server). PUBSUB_OK once handed to Redis (at most once: no retry), or an error. */
int pubsub_publish(struct pubsub *ps, struct session *s, const char *from_username,
                   const char *channel, const cJSON *data, const char **detail);

/* The sockets as Django channels (forward.h), NULL when TOKENAUTH_REDIS_URL is empty. */
struct forward *pubsub_forward(const struct pubsub *ps);

/* Where the channel numbers are counted (metrics.h), NULL = nowhere. NULL ps is fine. */
struct metrics_record;
void pubsub_set_metrics(struct pubsub *ps, struct metrics_record *metrics);

/* Who writes deliveries (writer.h): from now on they are written at the end of the read from
 * Redis that brought them, instead of at each socket's writable callback (NULL: back to that).
 * NULL ps is fine. */
struct writer;
void pubsub_set_writer(struct pubsub *ps, struct writer *writer);

/* Channels with members in this process (0 for NULL ps). */
size_t pubsub_n_channels(const struct pubsub *ps);

/* Up to max channel names of s in the order joined; returns how many s is in. */
size_t pubsub_list(const struct session *s, const char **names, size_t max);

#endif
