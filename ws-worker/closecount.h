/* closecount.h -- what a session's close drops, counted (metrics.h): the answers and deliveries
 * still queued for it, by why it closed, and the closes because memory ran out.
 *
 * protocol.c calls it where a queue is given up: when a close drops the queue at once (every
 * close but an application's tokenauth.close, which writes it first), and when the connection
 * is gone with something still queued (the peer left, or a tokenauth.close's flush ran out of
 * time). The kinds: "revoked" (4401: token revoked or expired), "slow_consumer" (4008), "closed"
 * (anything else: shutdown, errors, the peer gone). Nothing here logs. */
#ifndef TOKENAUTH_CLOSECOUNT_H
#define TOKENAUTH_CLOSECOUNT_H

#include <stdint.h>

struct metrics_record;

#define CLOSECOUNT_REASON_NOMEM "out of memory" /* the close reason of every 1011 for memory */

/* Counts n_queued messages dropped by a close with code and reason (the close frame's), and the
 * close itself when it is 1011 for memory. code 0: the connection ended without a close of
 * ours. NULL metrics (metrics off) counts nothing. */
void closecount_add(struct metrics_record *metrics, int code, const char *reason,
                    uint32_t n_queued);

#endif
