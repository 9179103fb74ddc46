/* forward.h -- the sockets of one ws-worker process as Django channels, over either layer:
 * client messages forwarded to a Django consumer, and each socket's reply channel.
 *
 * Every socket gets a number N and a reply channel while it is open, named by the layer in use
 * (struct forward_layer): "specific.P!ws.N" with core (corelink.h), "<prefix>specific.
 * tokenauthP.N" with pub/sub (replychan.h). With TOKENAUTH_WS_FORWARD_CHANNEL set, a client message
 * that is a JSON object whose "command" is none of tokenauth's (or absent) is not answered by
 * tokenauth but sent with the layer's send() to that channel as
 *   {"type": "tokenauth.receive", "text": <the message as received>,
 *    "user": {"id": N, "username": "..."}, "reply_channel": <the socket's reply channel>}
 * and, with TOKENAUTH_WS_FORWARD_EVENTS, {"type": "tokenauth.connect"} / {"type":
 * "tokenauth.disconnect"} with "user": {"id": N, "username": "..."} and "reply_channel" when a
 * socket opens and closes (the username as it was when the socket opened, kept for the
 * disconnect so it names the user even after a rename or a deletion closed it). The reply
 * channel accepts
 *   {"type": "tokenauth.send", "text": T}        T sent to the client as one text frame;
 *   {"type": "tokenauth.close", "code": C, "reason": R}   the socket closed with C (4000-4999,
 *                                                 else 4000) and R (at most 123 bytes, cut
 *                                                 at a character's start);
 *   {"type": "tokenauth.subscribe" | "tokenauth.unsubscribe", "channel": C}
 *                                                 the socket joins or leaves tokenauth channel
 *                                                 C as if the client had asked, the policy
 *                                                 aside (forward_on_join; pub/sub's stand-in
 *                                                 for a server-side group_add);
 *   any other event (core: a group_send to a group the socket was added to with group_add):
 *                                                 {"via": "reply_channel", "data": <the
 *                                                 event>}, as event.h delivers it for no
 *                                                 channel: the layer's message names the reply
 *                                                 channel, never the group it came from.
 * A message for a closed socket is dropped and counted (the layer's drop_gone); one that is not
 * one of those (not a msgpack map, no "type", a "text" that is not a UTF-8 string or is over
 * TOKENAUTH_WS_MAX_MESSAGE) is dropped and counted as format (drop_format). Close reasons are
 * kept in a table of FORWARD_MAX_REASONS per process (an application has a few): past it a close
 * carries "closed by the application". */
#ifndef TOKENAUTH_FORWARD_H
#define TOKENAUTH_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "pubsub.h"

#define FORWARD_OK 0
#define FORWARD_ERR_UNAVAILABLE -1 /* Redis is down */
#define FORWARD_ERR_NOMEM -2
#define FORWARD_MAX_REASONS 64
#define FORWARD_REASON_MAX 124  /* bytes of a close reason, terminator included (RFC 6455) */
#define FORWARD_CHANNEL_MAX 128 /* bytes of a reply channel's name, terminator included */

struct config;
struct forward;
struct reply_pool;
struct session;

/* What forwarding needs of the channel layer in use; arg is forward_create()'s layer_arg.
 * corelink.h and replychan.h each provide one. */
struct forward_layer {
    /* Django's send() of event (a msgpack map, event_len bytes) to channel: FORWARD_OK,
     * FORWARD_ERR_UNAVAILABLE or FORWARD_ERR_NOMEM. */
    int (*send)(void *arg, const char *channel, const void *event, size_t event_len);
    /* Writes the reply channel of socket_id into out (FORWARD_CHANNEL_MAX bytes). */
    void (*socket_channel)(const void *arg, uint64_t socket_id, char *out, size_t out_len);
    /* Count and log a message for a socket that is gone, and a malformed one. */
    void (*drop_gone)(void *arg, uint64_t socket_id);
    void (*drop_format)(void *arg);
};

/* The forwarding of a process over a layer (layer and layer_arg kept), or NULL when memory ran
 * out. The layer hands the messages for reply channels to forward_deliver. */
struct forward *forward_create(const struct config *cfg, const struct forward_layer *layer,
                               void *layer_arg, struct reply_pool *pool,
                               pubsub_close_fn close_session, void *close_arg);
void forward_destroy(struct forward *f);

/* A message on the reply channel of socket_id (the layers' socket callback; forward is the
 * struct forward): event_len bytes, expected to be one msgpack map. */
void forward_deliver(void *forward, uint64_t socket_id, const void *event, size_t event_len);

/* How tokenauth.subscribe and tokenauth.unsubscribe act on s (pubsub.c: the channel table);
 * returns 0, or negative when refused (an invalid name, too many channels, not a member, the
 * personal channel), which drops the message as format. */
typedef int (*forward_join_fn)(void *arg, struct session *s, const char *channel, int is_join);

/* Where tokenauth.subscribe and tokenauth.unsubscribe go (NULL: dropped as format). */
void forward_on_join(struct forward *f, forward_join_fn fn, void *arg);

/* A socket opened: it gets its number and reply channel (and a connect event when asked).
 * username (copied; NULL when not known) goes in its connect and disconnect events.
 * FORWARD_OK or FORWARD_ERR_NOMEM. */
int forward_session_open(struct forward *f, struct session *s, const char *username);

/* A socket closes (called again later: nothing more happens). NULL f is fine. */
void forward_session_close(struct forward *f, struct session *s);

/* 1 when client messages are forwarded (TOKENAUTH_WS_FORWARD_CHANNEL set), else 0. */
int forward_is_on(const struct forward *f);

/* Sends the len bytes of msg (the client's text) from s, whose user is username, to the
 * forward channel. FORWARD_OK, FORWARD_ERR_UNAVAILABLE, FORWARD_ERR_NOMEM. */
int forward_message(struct forward *f, const struct session *s, const char *username,
                    const char *msg, size_t len);

#endif
