/* forward.h -- the sockets of one ws-worker process as Django channels (core layer only):
 * client messages forwarded to a Django consumer, and each socket's reply channel.
 *
 * Every socket gets a number N and a reply channel "specific.P!ws.N" (corelink.h) while it is
 * open. With TOKENAUTH_WS_FORWARD_CHANNEL set, a client message that is a JSON object whose
 * "command" is none of tokenauth's (or absent) is not answered by tokenauth but sent with the
 * layer's send() to that channel as
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
 *   any other event (a group_send to a group the socket was added to with group_add):
 *                                                 {"via": "reply_channel", "data": <the
 *                                                 event>}, as event.h delivers it for no
 *                                                 channel: the layer's message names the reply
 *                                                 channel, never the group it came from.
 * A message for a closed socket is dropped and counted (corelink_drop_gone); one that is not
 * one of those (no "type", a "text" that is not a UTF-8 string or is over
 * TOKENAUTH_WS_MAX_MESSAGE) is dropped and counted as format. Close reasons are kept in a table of
 * FORWARD_MAX_REASONS per process (an application has a few): past it a close carries "closed by
 * the application". */
#ifndef TOKENAUTH_FORWARD_H
#define TOKENAUTH_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "pubsub.h"

#define FORWARD_OK 0
#define FORWARD_ERR_UNAVAILABLE -1 /* Redis is down */
#define FORWARD_ERR_NOMEM -2
#define FORWARD_MAX_REASONS 64
#define FORWARD_REASON_MAX 124 /* bytes of a close reason, terminator included (RFC 6455) */

struct config;
struct corelink;
struct forward;
struct reply_pool;
struct session;

/* The forwarding of a process over core (kept), or NULL when memory ran out. */
struct forward *forward_create(const struct config *cfg, struct corelink *core,
                               struct reply_pool *pool, pubsub_close_fn close_session,
                               void *close_arg);
void forward_destroy(struct forward *f);

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
