/* keepalive.h -- which sockets to ping and which to drop: a socket silent for the interval gets
 * a ping; one that then stays silent for the timeout is dropped. O(1) per event, O(due) per
 * sweep, never O(sockets held).
 *
 * Each socket carries a struct keepalive_link (intrusive: no allocation). The links sit in one
 * of two lists of struct keepalive: quiet, in the order the peer was last heard from, and
 * pinged, in the order the pings were asked for. Every socket has the same interval (and the
 * same timeout), so appending at the tail keeps each list sorted by due time for free: hearing
 * from a peer (any frame: a message, a piece of one, a pong) moves its link to the quiet tail,
 * and a sweep only looks at the two heads, popping those that are due. Why not libwebsockets'
 * own timer (the retry policy's secs_since_valid_ping): lws 4.1 keeps it in its sorted timer
 * list, where each insert (every handshake, every pong) walks every socket of the process.
 *
 * The sweep's caller decides how often it runs; a ping or a drop is late by at most that period
 * (keepalive_next_due_ms() says when the next one is due). Nothing here knows lws: the caller's
 * callbacks send the ping and close the socket. Single-threaded, like the lws loop. */
#ifndef TOKENAUTH_KEEPALIVE_H
#define TOKENAUTH_KEEPALIVE_H

#include <stddef.h>
#include <stdint.h>

/* Where a link is. */
#define KEEPALIVE_OFF 0    /* in no list: not watched (off, closing, dropped, never added) */
#define KEEPALIVE_QUIET 1  /* waiting for its interval of silence */
#define KEEPALIVE_PINGED 2 /* pinged, waiting for anything from the peer */

/* One socket's place in the lists; zero-initialised (lws zeroes the session) means OFF. */
struct keepalive_link {
    struct keepalive_link *prev, *next; /* neighbours in its list */
    int64_t since_ms;                   /* quiet: last heard from; pinged: when pinged */
    uint8_t state;                      /* KEEPALIVE_OFF, _QUIET or _PINGED */
};

/* A list of links, oldest first. */
struct keepalive_list {
    struct keepalive_link *head, *tail;
    size_t n; /* links in it */
};

/* The process's watch. Set up with keepalive_init(); holds no memory of its own. */
struct keepalive {
    struct keepalive_list quiet;  /* by time last heard from, oldest first */
    struct keepalive_list pinged; /* by time pinged, oldest first */
    int64_t interval_ms;          /* silence before a ping; 0 = keepalive off */
    int64_t timeout_ms;           /* after a ping, silence before the drop */
    size_t n_examined;            /* links a sweep looked at, due or not (for tests) */
};

/* Called by keepalive_sweep() for a due link, already moved (ping) or taken out (drop): the
 * callback may call keepalive_remove() or keepalive_heard() on it. */
typedef void (*keepalive_fn)(struct keepalive_link *link, void *arg);

/* Empty lists; interval_ms 0 turns keepalive off (every call then does nothing). */
void keepalive_init(struct keepalive *ka, int64_t interval_ms, int64_t timeout_ms);

/* Starts watching link (OFF: a new socket) as heard from at now_ms. O(1). Does nothing when
 * keepalive is off or the link is already watched. */
void keepalive_add(struct keepalive *ka, struct keepalive_link *link, int64_t now_ms);

/* The peer of link was heard from at now_ms (any frame): it goes to the quiet tail, pinged or
 * not. O(1). Does nothing for an OFF link. */
void keepalive_heard(struct keepalive *ka, struct keepalive_link *link, int64_t now_ms);

/* Stops watching link (a socket closing); OFF afterwards. O(1); an OFF link is left alone. */
void keepalive_remove(struct keepalive *ka, struct keepalive_link *link);

/* Pops what is due at now_ms: each pinged link silent for timeout_ms is taken out (OFF) and
 * handed to on_drop; each quiet link silent for interval_ms moves to the pinged tail and is
 * handed to on_ping. Returns how many links were due. Looks at no link that is not due, beyond
 * one head per list. */
size_t keepalive_sweep(struct keepalive *ka, int64_t now_ms, keepalive_fn on_ping,
                       keepalive_fn on_drop, void *arg);

/* When the next ping or drop is due (monotonic ms), or 0 when nothing is watched. O(1). */
int64_t keepalive_next_due_ms(const struct keepalive *ka);

#endif
