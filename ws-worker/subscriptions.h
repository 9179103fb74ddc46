/* subscriptions.h -- the per-process channel table: which sessions are in which channel, and
 * what this process has asked Redis for.
 *
 * One entry per channel any session of the process is in (a hash table by name), holding its
 * members; each session holds the list of its memberships (struct session's subs). The table
 * keeps the Redis subscription of a channel in step with its members, one operation in flight
 * per channel: the first member makes it send SUBSCRIBE, the last one leaving UNSUBSCRIBE
 * (reference counting), and it answers a join only once Redis has confirmed the SUBSCRIBE
 * (subs_ack), at once when the channel is already confirmed. A publication arriving from Redis
 * (subs_deliver) is converted to JSON once and handed to each confirmed member.
 *
 * The table knows neither Redis nor libwebsockets: struct subs_ops carries its requests out
 * (SUBSCRIBE/UNSUBSCRIBE, notices and deliveries to a session), so tests drive it with fakes.
 * A callback may close the session it was called for (subs_leave_all of that session), never
 * another one. Single-threaded, like the lws loop that owns it.
 *
 * Limits: max_per_session memberships per session besides its personal one (joined with
 * is_personal: it never counts, cannot be left, and outlives Redis outages). Memory: a channel
 * with its first member is one allocation of 73 bytes plus the name (96 with malloc's header
 * for a name of up to 16 characters), each further member 48 (64 with malloc's), and 4 bytes
 * per channel of buckets; hiredis keeps about 140 more per channel subscribed (the key, its
 * callback, a dict entry and bucket). */
#ifndef TOKENAUTH_SUBSCRIPTIONS_H
#define TOKENAUTH_SUBSCRIPTIONS_H

#include <stddef.h>

#define SUBS_OK 0
#define SUBS_PENDING 1         /* joined; SUBS_NOTICE_SUBSCRIBED (or UNAVAILABLE) follows */
#define SUBS_ERR_NOMEM -1      /* memory ran out: nothing changed */
#define SUBS_ERR_TOO_MANY -2   /* the session is in max_per_session channels already */
#define SUBS_ERR_NOT_MEMBER -3 /* leaving a channel the session is not in */
#define SUBS_ERR_PERSONAL -4   /* leaving the session's personal channel */
#define SUBS_ERR_FORMAT -5     /* a publication that does not convert: dropped */
#define SUBS_ERR_TOO_BIG -6    /* a delivery over max_message_bytes: dropped */

struct session;
struct subs_table;

/* What the table tells a session besides deliveries. */
enum subs_notice {
    SUBS_NOTICE_SUBSCRIBED,  /* {"subscribed": C}: Redis confirmed the join */
    SUBS_NOTICE_UNAVAILABLE, /* Redis went away before confirming: the join is undone */
    SUBS_NOTICE_GAP,         /* {"channel": C, "gap": true}: publications may have been missed */
};

/* The table's requests to the outside; arg is subs_create()'s. */
struct subs_ops {
    /* Sends SUBSCRIBE (is_subscribe 1) or UNSUBSCRIBE of channel; its confirmation comes back
     * through subs_ack(). 0, or negative when Redis is down (the table tries again at
     * subs_link_up()). */
    int (*send)(void *arg, const char *channel, int is_subscribe);
    /* Queues a notice about channel to s. */
    void (*notify)(void *arg, struct session *s, enum subs_notice notice, const char *channel);
    /* Converts a publication (packed_len bytes of msgpack) into the delivery for channel, as
     * event_delivery_json() does: 0 with *delivery set (the owner's handle of it, shared by
     * every member) and *json_len its bytes of JSON, or negative when it does not convert. */
    int (*convert)(void *arg, const char *channel, const void *packed, size_t packed_len,
                   void **delivery, size_t *json_len);
    /* Queues delivery (from convert) to s; may close s. */
    void (*deliver)(void *arg, struct session *s, void *delivery);
    /* The table is done with delivery (the sessions' queues may still hold it). */
    void (*release)(void *arg, void *delivery);
};

/* An empty table, or NULL when memory ran out. ops is kept (it must outlive the table). */
struct subs_table *subs_create(const struct subs_ops *ops, void *arg, size_t max_per_session,
                               size_t max_message_bytes);

/* Frees the table and every membership (sessions' subs become NULL); sends nothing. NULL is
 * fine. */
void subs_destroy(struct subs_table *t);

/* Puts s in channel. SUBS_OK when the channel is confirmed (the caller answers at once; also
 * when s already was in it), SUBS_PENDING when the answer comes as a notice, or SUBS_ERR_NOMEM,
 * SUBS_ERR_TOO_MANY. A personal join is never answered (SUBS_PENDING, no notice); made while
 * Redis is down (after it was up, or failed at first), it gets a gap notice once Redis is back
 * and confirmed it. */
int subs_join(struct subs_table *t, struct session *s, const char *channel, int is_personal);

/* Takes s out of channel: SUBS_OK, SUBS_ERR_NOT_MEMBER or SUBS_ERR_PERSONAL. Joins of s still
 * waiting for their confirmation are answered SUBS_NOTICE_SUBSCRIBED first (the leave follows
 * them), so that each command gets its answer in order. */
int subs_leave(struct subs_table *t, struct session *s, const char *channel);

/* Takes s out of every channel, personal one included (a session closing). */
void subs_leave_all(struct subs_table *t, struct session *s);

/* Whether s is in channel (confirmed or waiting). */
int subs_is_member(const struct subs_table *t, const struct session *s, const char *channel);

/* Up to max channel names of s, in the order joined (valid until s leaves them); returns how
 * many s is in (may exceed max). */
size_t subs_list(const struct session *s, const char **names, size_t max);

/* Redis confirmed the SUBSCRIBE (is_subscribe 1) or UNSUBSCRIBE of channel. Waiting members
 * get SUBS_NOTICE_SUBSCRIBED; after a reconnection the others get SUBS_NOTICE_GAP. */
void subs_ack(struct subs_table *t, const char *channel, int is_subscribe);

/* Redis went away: nothing is subscribed any more. Waiting joins get SUBS_NOTICE_UNAVAILABLE
 * and are undone (personal ones stay); the memberships already confirmed stay. */
void subs_link_down(struct subs_table *t);

/* Redis is up: SUBSCRIBE every channel with members. After an outage (not at the first
 * connection) each of their members gets SUBS_NOTICE_GAP once it is confirmed. */
void subs_link_up(struct subs_table *t);

/* A publication on channel (packed_len bytes of msgpack): converted once, handed to every
 * confirmed member. The number of sessions it went to (0 when the channel has none), or
 * SUBS_ERR_FORMAT, SUBS_ERR_TOO_BIG (dropped; the caller counts and logs). */
int subs_deliver(struct subs_table *t, const char *channel, const void *packed, size_t packed_len);

/* Channels in the table (with members, or waiting for Redis to confirm leaving). */
size_t subs_n_channels(const struct subs_table *t);

#endif
