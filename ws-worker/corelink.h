/* corelink.h -- one ws-worker process as a peer of Django's default channel layer
 * (channels_redis' RedisChannelLayer, TOKENAUTH_CHANNEL_LAYER=core; the wire is corelayer.h).
 *
 * The process gets a process part P at start. It joins a group G as ONE member,
 * "specific.P!tokenauth.G", whatever the number of its sockets in G (ZADD on the group's host
 * when the first socket joins, ZREM when the last leaves; every membership is ZADDed again
 * every group_expiry / 4 seconds, so Django's group_send never expires it). Everything sent to
 * the process lands in the sorted set "<prefix>specific.P!", popped with BZPOPMIN on a
 * connection of its own on every host (a blocking command on an async connection: the loop
 * never waits; re-issued every CORELINK_POP_TIMEOUT_S, as channels_redis' brpop_timeout);
 * after a message, ZPOPMIN of CORELINK_POP_BATCH at a time drains a burst in few round trips
 * (the queue holds capacity messages at most: a process that drains slowly loses the rest).
 * A message for "tokenauth.G" goes to on_message(G, event) once, which fans it out in memory;
 * one for "ws.<N>" (a socket's reply channel, corelink_socket_channel) to on_socket. Messages
 * that do not decode, or name a channel this process does not have, are dropped, counted and
 * logged (the first of each kind, then every CORELINK_LOG_EVERY-th).
 *
 * The same redislink_events as the pub/sub link (redislink.h), so pubsub.c drives either: the
 * link is up when every host is, down (once per outage) when one is not; on_ack confirms a
 * join or a leave once Redis did it. Hosts: one redislink each (its subscriber connection pops,
 * its publisher runs the rest and the heartbeat). Delivery is at most once: no $inflight backup
 * queue as channels_redis keeps (a message popped by a process that dies is lost). */
#ifndef TOKENAUTH_CORELINK_H
#define TOKENAUTH_CORELINK_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "corelayer.h"
#include "redislink.h"

#define CORELINK_OK 0
#define CORELINK_ERR_DOWN -1    /* the host needed is not connected */
#define CORELINK_ERR_INVALID -2 /* a name whose key does not fit */
#define CORELINK_ERR_NOMEM -3
#define CORELINK_ERR_FORMAT -4 /* an event that is not a msgpack map */

#define CORELINK_POP_TIMEOUT_S 5
#define CORELINK_POP_BATCH 64      /* messages one ZPOPMIN takes while a burst is drained */
#define CORELINK_POP_RETRY_MS 1000 /* after Redis refused a BZPOPMIN (the key is no sorted set) */
#define CORELINK_LOG_EVERY 1000
#define CORELINK_GROUP_LOCAL "tokenauth." /* local part of the process' group members */
#define CORELINK_SOCKET_LOCAL "ws."       /* local part of a socket's reply channel */
#define CORELINK_CHANNEL_MAX 128          /* bytes of a full channel name, terminator included */

struct corelink;

/* A message for socket id (event: event_len bytes, a msgpack map without __asgi_channel__). */
typedef void (*corelink_socket_fn)(void *arg, uint64_t socket_id, const void *event,
                                   size_t event_len);

/* A link over n_hosts hosts (copied) with the layer's settings (strings copied); events (kept)
 * get arg. It starts connecting at the loop's next turn. NULL when memory ran out. */
struct corelink *corelink_create(struct lws_context *context, struct lws_vhost *vh,
                                 const struct bus_url *hosts, size_t n_hosts,
                                 const struct corelayer_settings *settings, int timeout_ms,
                                 const struct redislink_events *events, void *arg);

/* Drops every connection (no events) and frees the link. NULL is fine. */
void corelink_destroy(struct corelink *cl);

/* Where messages for sockets go (NULL: dropped, counted). */
void corelink_on_socket(struct corelink *cl, corelink_socket_fn fn, void *arg);

int corelink_is_up(const struct corelink *cl);
int corelink_is_starting(const struct corelink *cl);
const char *corelink_why_down(const struct corelink *cl);

/* Adds (is_join 1) or removes the process' member of group; on_ack follows once Redis did it.
 * CORELINK_OK, CORELINK_ERR_DOWN, CORELINK_ERR_INVALID, CORELINK_ERR_NOMEM. */
int corelink_join(struct corelink *cl, const char *group, int is_join);

/* Django's group_send of event (msgpack map) to group, asynchronously, at most once.
 * CORELINK_OK (handed over), CORELINK_ERR_DOWN, CORELINK_ERR_INVALID, CORELINK_ERR_NOMEM. */
int corelink_group_send(struct corelink *cl, const char *group, const void *event,
                        size_t event_len);

/* Django's send of event to a named channel ("tokenauth.inbox"), on the hosts in turn; a
 * channel holding capacity messages drops it (counted, logged). Returns as group_send, and
 * CORELINK_ERR_FORMAT. */
int corelink_send(struct corelink *cl, const char *channel, const void *event, size_t event_len);

/* Writes the reply channel of socket id, "specific.P!ws.<id>", into out. CORELINK_OK or
 * CORELINK_ERR_INVALID (does not fit). */
int corelink_socket_channel(const struct corelink *cl, uint64_t socket_id, char *out,
                            size_t out_len);

/* Counts the process drops: messages that did not decode, for no channel of the process, for a
 * socket that is gone, or refused by a full queue. */
struct corelink_drops {
    long format, unknown, gone, full, refused; /* refused: BZPOPMIN errors */
};
void corelink_drops(const struct corelink *cl, struct corelink_drops *out);

/* Counts the drops in metrics too (metrics.h, tokenauth_ws_layer_messages_dropped_total by
 * reason), NULL = not. NULL cl is fine. */
struct metrics_record;
void corelink_set_metrics(struct corelink *cl, struct metrics_record *metrics);

/* A message for a socket that is not one it takes: counted and logged as format. */
void corelink_drop_format(struct corelink *cl);

/* A message for a socket that is gone: counted and logged like the others. */
void corelink_drop_gone(struct corelink *cl, uint64_t socket_id);

/* The core layer as forward.h sees it (send, socket_channel, the drops); its arg is the
 * struct corelink. */
struct forward_layer;
extern const struct forward_layer corelink_forward_layer;

#endif
