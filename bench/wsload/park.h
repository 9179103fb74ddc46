/* park.h -- holds sockets for wsload without keeping them in its descriptor table.
 *
 * Why: the clients of bench/many.sh share the host with the server they measure, which a real
 * deployment's clients do not. On the VM the figures come from, the host's init (PID 1) lists
 * every process's open descriptors about once a second, and its CPU grows with their number:
 * 960,000 descriptors in 60 idle processes cost it 255 ms of CPU a second. A million held puts
 * two million in tables, the server's and the clients'; the clients' share of that is the
 * bench's own cost, which would otherwise be charged to the server's rate with them held.
 *
 * How: a parked socket is sent (SCM_RIGHTS) into the queue of a Unix socket pair that this
 * process holds and does not read until it unparks them, and then closed here. The kernel keeps
 * every parked socket open, connected and counted in its memory, with its TCP state untouched;
 * only its descriptor is gone. Unparking receives them back, tells which are still open (the
 * server has not closed or reset them) and closes them. A parked socket cannot answer a ping:
 * park only where the server sends none.
 *
 * The kernel bounds the descriptors in flight per user by the sender's RLIMIT_NOFILE unless it
 * has CAP_SYS_ADMIN or CAP_SYS_RESOURCE (ETOOMANYREFS), and a queue by its send buffer (EAGAIN);
 * a socket park_add() could not send stays in the caller's table (its count says how many). */
#ifndef TOKENAUTH_BENCH_PARK_H
#define TOKENAUTH_BENCH_PARK_H

#define PARK_BATCH 250 /* descriptors per message: the kernel takes at most 253 (SCM_MAX_FD) */

struct park;

/* A new, empty park, or NULL with errno set. */
struct park *park_new(void);

/* Parks fds[0 .. n-1]. Returns how many were parked (from the first, in order), each of them
 * closed here; the rest are untouched and still the caller's. *why gets the errno that stopped
 * it, 0 when all were parked. */
int park_add(struct park *p, const int *fds, int n, int *why);

/* Takes every parked socket back, counts those still open (no end of stream, no error pending,
 * whatever the server sent meanwhile left unread), closes all of them and frees the park.
 * Returns that count, or -1 with errno set when the queue could not be read (the park is freed
 * all the same). */
int park_drain(struct park *p);

#endif
