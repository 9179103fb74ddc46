/* replychan.h -- the sockets' reply channels and Django's send() with
 * TOKENAUTH_CHANNEL_LAYER=pubsub (channels_redis' RedisPubSubChannelLayer conventions).
 *
 * That layer's send(channel, msg) PUBLISHes the msgpack map, nothing added, on the Redis channel
 * named exactly channel (no prefix added: the prefix is part of new_channel()'s names), and
 * receive(channel) SUBSCRIBEs to it. So a process gets a process part P (REPLYCHAN_PROCESS_LEN
 * random hex characters) at start, and socket N the reply channel
 *   <prefix>specific.tokenauthP.N
 * shaped as new_channel()'s "<prefix>specific.<uuid hex>" and valid for Django (letters,
 * digits, '.', under 100 characters: the prefix must leave room, checked at create). The
 * process holds ONE pattern subscription for all of them, PSUBSCRIBE
 * "<prefix>specific.tokenauthP.*" on the link's subscriber connection (not one SUBSCRIBE per
 * socket), made again each time the link comes up (replychan_link_up). A publication on it goes
 * to on_socket(N, msg); one whose name has no socket number, or whose data is not one msgpack
 * map within event.h's bounds, is dropped and counted as format; on_socket reports a message for
 * a socket that is gone through replychan_drop_gone. Each kind of drop is logged once per
 * episode (reply_dropped, with the reason; reply_dropped_end with the count once a message goes
 * through again). replychan_send is Django's send(): PUBLISH of the map on the name as given,
 * at most once.
 *
 * Not possible with this layer: a server-side group_add of a reply channel (channels_redis'
 * pub/sub group_add refuses a channel that is not its own process'); docs/django.md says what
 * to do instead. */
#ifndef TOKENAUTH_REPLYCHAN_H
#define TOKENAUTH_REPLYCHAN_H

#include <stddef.h>
#include <stdint.h>

#define REPLYCHAN_OK 0
#define REPLYCHAN_ERR_DOWN -1    /* no link, or it is down */
#define REPLYCHAN_ERR_INVALID -2 /* a name that does not fit, or no socket number */
#define REPLYCHAN_ERR_BUSY -3    /* the link has too much unsent already */

#define REPLYCHAN_LOCAL "specific.tokenauth" /* after the prefix, before the process part */
#define REPLYCHAN_PROCESS_LEN 16             /* hex characters of the process part */
#define REPLYCHAN_NAME_MAX 100               /* Django: a name is shorter than 100 characters */
#define REPLYCHAN_NUMBER_ROOM 12             /* digits of socket numbers the prefix must leave */

struct redislink;
struct replychan;

/* A message for socket_id (event_len bytes: one msgpack map within event.h's bounds). */
typedef void (*replychan_socket_fn)(void *arg, uint64_t socket_id, const void *event,
                                    size_t event_len);

/* Whether reply channels under prefix fit Django's names: REPLYCHAN_OK, or REPLYCHAN_ERR_INVALID
 * with err ("TOKENAUTH_CHANNEL_PREFIX: ...") filled. */
int replychan_prefix_check(const char *prefix, char *err, size_t err_len);

/* The reply channels of one process on link (kept; NULL: none, sends answer down) under prefix
 * (copied), or NULL with err ("what: why") filled: a prefix too long for Django's names, or no
 * memory or random bytes. */
struct replychan *replychan_create(struct redislink *link, const char *prefix, char *err,
                                   size_t err_len);

/* Frees it; destroy the link first (its pending callbacks get no replychan). NULL is fine. */
void replychan_destroy(struct replychan *rc);

/* Where messages for sockets go (NULL: dropped as gone). */
void replychan_on_socket(struct replychan *rc, replychan_socket_fn fn, void *arg);

/* The link came up: PSUBSCRIBE of the pattern. REPLYCHAN_OK, REPLYCHAN_ERR_DOWN. NULL is fine. */
int replychan_link_up(struct replychan *rc);

/* The pattern subscribed to, "<prefix>specific.tokenauthP.*" (glob characters of the prefix
 * escaped). */
const char *replychan_pattern(const struct replychan *rc);

/* Writes the reply channel of socket_id into out. REPLYCHAN_OK or REPLYCHAN_ERR_INVALID. */
int replychan_socket_channel(const struct replychan *rc, uint64_t socket_id, char *out,
                             size_t out_len);

/* Django's send() of event (event_len bytes of msgpack) to channel. REPLYCHAN_OK (handed to
 * the link), REPLYCHAN_ERR_DOWN, REPLYCHAN_ERR_BUSY. */
int replychan_send(struct replychan *rc, const char *channel, const void *event, size_t event_len);

/* A publication that matched the pattern (what the subscriber callback gets, here for tests):
 * channel (channel_len bytes) and data (len bytes), checked, then handed to on_socket. */
void replychan_message(struct replychan *rc, const char *channel, size_t channel_len,
                       const void *data, size_t len);

/* Counts the process' drops since it started. */
struct replychan_drops {
    long format, gone;
};
void replychan_drops(const struct replychan *rc, struct replychan_drops *out);

/* Counts the drops in metrics too (metrics.h, tokenauth_ws_layer_messages_dropped_total by
 * reason), NULL = not. NULL rc is fine. */
struct metrics_record;
void replychan_set_metrics(struct replychan *rc, struct metrics_record *metrics);

/* A message for a socket that is gone, or one its receiver refused: counted and logged. */
void replychan_drop_gone(struct replychan *rc, uint64_t socket_id);
void replychan_drop_format(struct replychan *rc);

/* The pub/sub layer as forward.h sees it; its arg is the struct replychan. */
struct forward_layer;
extern const struct forward_layer replychan_forward_layer;

#endif
