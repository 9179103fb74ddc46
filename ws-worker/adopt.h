/* adopt.h -- taking connections from our own listening socket into libwebsockets, within a cap.
 *
 * protocol.c adopts the listener (listen.h) into the lws loop as a raw file; each time it is
 * readable, adopt_accept() accepts what waits and hands each connection to lws. It counts the
 * connections handed over until lws destroys them (adopt_release()); past the cap, or out of
 * descriptors, it accepts and closes at once, so a flood cannot exhaust the process. One per
 * process, embedded in the per-vhost data. */
#ifndef TOKENAUTH_ADOPT_H
#define TOKENAUTH_ADOPT_H

#include <stddef.h>

struct lws;

#define ADOPT_BATCH 64 /* connections accepted per readable event, so sessions are not starved */

struct adopt_state {
    struct lws *listener; /* the adopted listening socket, once readable; not counted */
    size_t n_adopted;     /* connections handed to lws and not yet destroyed */
    size_t max_adopted;   /* past this many, new connections are closed at once */
    int spare_fd;         /* /dev/null, given up to accept-and-close at EMFILE; -1 if none */
    int is_refusing;      /* accepting and closing at once (logged once per episode) */
};

/* Sets the cap (the connection cap plus room for handshakes) and opens the spare descriptor.
 * Call once, at PROTOCOL_INIT; a missing spare descriptor only loses the EMFILE refusal. */
void adopt_init(struct adopt_state *a, size_t max_adopted);

/* LWS_CALLBACK_RAW_RX_FILE on the listener wsi: accepts up to ADOPT_BATCH waiting connections,
 * hands each to the listener's vhost, or closes it at once past the cap or at EMFILE/ENFILE.
 * Returns 0 (the listener stays open whatever happened). */
int adopt_accept(struct adopt_state *a, struct lws *listener);

/* LWS_CALLBACK_WSI_DESTROY of any wsi: one adopted connection fewer (the listener excepted). */
void adopt_release(struct adopt_state *a, const struct lws *wsi);

/* Closes the spare descriptor. */
void adopt_free(struct adopt_state *a);

#endif
