/* sessions.h -- one struct per WebSocket connection, and this process's list of live ones.
 *
 * struct session is libwebsockets' per-session data (pss): lws allocates it zeroed for each
 * connection and frees it; protocol.c frees what it puts in it. It is kept small because idle
 * connections are counted in the thousands: fixed fields, a key copy, and pointers to memory
 * that exists only while needed (a message being reassembled, replies waiting to be written).
 * The list holds the authenticated sessions, for the connection cap, revocation and shutdown. */
#ifndef TOKENAUTH_SESSIONS_H
#define TOKENAUTH_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "keepalive.h"
#include "replies.h"

struct lws;
struct subs_member; /* a channel it is in, see subscriptions.h */

/* Per-session data (pss). The fields a channel delivery reads and writes (queueing it, marking
 * the session due, the direct write) come first, within 64 bytes: the fan-out loop prefetches
 * them for a thousand cold sessions per publication (subscriptions.c). */
struct session {
    struct lws *wsi;                  /* the connection, set once established */
    struct reply_queue replies;       /* waiting to be written: answers and deliveries */
    struct session *next_due;         /* the next in writer.h's due list, while is_due */
    uint16_t close_code;              /* non-zero: close with it at the next writable callback */
    uint8_t is_due;                   /* in writer.h's due list: written at the read's end */
    uint8_t is_peer_closing;          /* the peer sent a close frame: written only by lws */
    uint8_t is_write_failed;          /* a direct write failed: closed at its writable callback */
    struct session *prev, *next;      /* links in the live list, while is_live */
    struct keepalive_link keepalive;  /* its place in the ping lists (keepalive.h) */
    struct subs_member *subs;         /* its channels (subscriptions.h), newest first */
    char *msg;                        /* the message being reassembled, or NULL */
    size_t msg_len;                   /* bytes in msg */
    int64_t user_id;                  /* auth_user.id the token belongs to */
    uint64_t core_id;                 /* its reply channel's number (forward.h), 0 = none */
    int64_t expires_s;                /* when the token expires (unix seconds), 0 = never */
    const char *close_reason;         /* static text for the close frame */
    uint16_t peer_close_code;         /* what the peer's close frame said, for the log */
    uint32_t n_subs;                  /* channels in subs, the personal one aside */
    uint8_t is_live;                  /* in the live list */
    uint8_t is_rx_paused;             /* reading stopped until command replies drain */
    uint8_t is_flushing_before_close; /* close_code waits until the queued replies are out */
    uint8_t token_source;             /* AUTH_SOURCE_* the token came from, for the log */
    uint8_t is_ping_due;              /* a ping goes out at the next writable callback */
    uint8_t is_ping_timeout;          /* dropped for not answering one, for the close log */
    char key[AUTH_KEY_MAX];           /* the token, for revocation checks; never logged */
};

/* Asks for the cache lines of s's delivery fields (the first 64 bytes, on two lines unless lws'
 * allocation happens to be 64-byte aligned) to come in while other work goes on. */
static inline void sessions_prefetch(const struct session *s) {
    __builtin_prefetch(s, 1);
    __builtin_prefetch((const char *)s + offsetof(struct session, prev) - 1, 1);
}

/* The live sessions of this process. Zero-initialise. */
struct session_list {
    struct session *head;
    size_t n; /* sessions in the list */
};

/* Adds s (not yet in any list) at the head. */
void sessions_add(struct session_list *list, struct session *s);

/* Removes s if it is in the list; otherwise does nothing. */
void sessions_remove(struct session_list *list, struct session *s);

#endif
