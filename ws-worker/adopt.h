/* adopt.h -- taking connections from our own listening socket into libwebsockets, within a cap.
 *
 * protocol.c adopts the listener (listen.h) into the lws loop as a raw file; each time it is
 * readable, adopt_accept() accepts what waits and hands each connection to lws. It counts the
 * connections handed over until lws destroys them (adopt_release()); past the cap, or out of
 * descriptors, it accepts and closes at once, so a flood cannot exhaust the process. Per client
 * address (addrlimit.h) it bounds the handshakes in progress (one address holding thousands of
 * unfinished requests cannot take every header buffer) and the failed token checks per window
 * (past them, HTTP 429 before the database). One per process, embedded in the per-vhost data. */
#ifndef TOKENAUTH_ADOPT_H
#define TOKENAUTH_ADOPT_H

#include <stddef.h>
#include <stdint.h>

#include "addrlimit.h"

struct lws;
struct metrics_record;

#define ADOPT_BATCH 64 /* connections accepted per readable event, so sessions are not starved */

#define ADOPT_VHOSTS_MAX 16 /* lws contexts (one vhost each) a process spreads connections over */

/* A vhost connections are handed to, and how many of them it has now. */
struct adopt_vhost {
    struct lws_vhost *vhost;
    size_t n_adopted;
};

struct adopt_state {
    struct lws *listener; /* the adopted listening socket, once readable; not counted */
    size_t n_adopted;     /* connections handed to lws and not yet destroyed */
    struct adopt_vhost vhosts[ADOPT_VHOSTS_MAX]; /* where they go (adopt_add_vhost) */
    size_t n_vhosts;                             /* 0: the listener's own vhost */
    size_t max_adopted;      /* past this many, new connections are closed at once */
    int spare_fd;            /* /dev/null, given up to accept-and-close at EMFILE; -1 if none */
    int is_refusing;         /* accepting and closing at once (logged once per episode) */
    uint32_t n_refused;      /* connections closed at once in this refuse_flood episode */
    int64_t last_refused_ms; /* the last of them: the episode ends ADDRLIMIT_QUIET_MS later */
    struct addrlimit addrs;  /* per client address: unfinished handshakes, failed tokens */
    int64_t last_sweep_ms;   /* when addrs' episodes were last looked at */
    int trust_forwarded;     /* as struct adopt_limits says */
    struct metrics_record *metrics; /* refusals at accept are counted here; NULL = off */
};

/* The per address limits (the settings TOKENAUTH_WS_ADDR_HANDSHAKES, _AUTH_FAILURES,
 * _AUTH_WINDOW and _ADDR_TABLE). */
struct adopt_limits {
    int max_pending_per_addr; /* unfinished handshakes per address; 0 = no limit */
    int max_auth_failures;    /* failed handshakes per window; 0 = off */
    int auth_window_s;        /* that window */
    int n_addrs;              /* addresses tracked */
    int trust_forwarded;      /* a loopback peer's failures count under its X-Forwarded-For */
};

/* Sets the cap (the connection cap plus room for handshakes) and the per address limits, opens
 * the spare descriptor. Call once, at PROTOCOL_INIT; a missing spare descriptor only loses the
 * EMFILE refusal. Returns 0, or -1 when the address table could not be allocated (adopt_free()
 * is still right). */
int adopt_init(struct adopt_state *a, size_t max_adopted, const struct adopt_limits *limits);

/* Adds vh to the vhosts accepted connections are spread over: each goes to the one holding the
 * fewest. Several lws contexts of one process on one loop each hold a part of its connections,
 * and Debian's lws scans a context's whole connection table on every close (docs/websocket.md,
 * "Sizing the workers"). Returns 0, or -1 when ADOPT_VHOSTS_MAX are there already. */
int adopt_add_vhost(struct adopt_state *a, struct lws_vhost *vh);

/* The added vhost holding the fewest connections (the first added of those tied), where the
 * next accepted connection goes; NULL when none was added. */
struct adopt_vhost *adopt_pick_vhost(struct adopt_state *a);

/* LWS_CALLBACK_RAW_RX_FILE on the listener wsi: accepts up to ADOPT_BATCH waiting connections,
 * hands each to the vhost of adopt_add_vhost() holding the fewest (with none added, the
 * listener's), or closes it at once past the cap, at EMFILE/ENFILE, or
 * when its address holds max_pending_per_addr unfinished handshakes already. Returns 0 (the
 * listener stays open whatever happened). */
int adopt_accept(struct adopt_state *a, struct lws *listener);

/* Before the token check of wsi's handshake: 0 when it may go on, else the seconds its address
 * must wait (too many failed handshakes: answer 429 with Retry-After). */
long adopt_auth_wait_s(struct adopt_state *a, struct lws *wsi);

/* wsi's upgrade request has been read and checked: its handshake no longer counts for its
 * address (a plain HTTP request keeps counting until the connection ends: on keep-alive it could
 * send half a request next); is_auth_failure counts a failed token check too. Once per wsi;
 * later calls do nothing. */
void adopt_handshake_over(struct adopt_state *a, struct lws *wsi, int is_auth_failure);

/* About once a second (a timer): ends and logs the episodes that are over (the address limits',
 * and the refuse_flood one once ADDRLIMIT_QUIET_MS passed without a refusal). */
void adopt_tick(struct adopt_state *a);

/* When adopt_tick() next has work: about a second after its last sweep while an episode is
 * open (its end is then logged within about a second of its due time), 0 when none is, so an
 * idle process is not woken for it. */
int64_t adopt_next_tick_ms(const struct adopt_state *a);

/* LWS_CALLBACK_WSI_DESTROY of any wsi: one adopted connection fewer (the listener excepted). */
void adopt_release(struct adopt_state *a, struct lws *wsi);

/* Closes the spare descriptor, frees the address table. */
void adopt_free(struct adopt_state *a);

#endif
