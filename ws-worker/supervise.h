/* supervise.h -- the parent of ws-worker's worker processes: starts them, replaces one that
 * dies, restarts them all on SIGHUP, stops them on SIGTERM/SIGINT.
 *
 * Like nginx's master, the parent serves nothing: each worker opens its own SO_REUSEPORT
 * listener (listen.h), so a worker that dies takes only its own connections with it and a new
 * one simply binds the port again. A worker that dies is forked again after a back-off: at once
 * when it had run SUPERVISE_STABLE_MS, else after SUPERVISE_BACKOFF_MIN_MS, doubling on each
 * quick death up to SUPERVISE_BACKOFF_MAX_MS; each death is logged with the delay chosen.
 * Only when no worker has ever started (the port is taken, the settings cannot work) does the
 * parent give up on its own, with status 1, instead of retrying for ever.
 *
 * SIGHUP restarts gracefully: a new worker is forked for each slot, and the old one gets SIGTERM
 * (its sessions are closed with 1001, new connections go to the others) only once its
 * successor tells it listens, through a pipe: the port never goes unserved.
 *
 * Each worker gets SIGTERM from the kernel when the parent dies, whatever kills it
 * (PR_SET_PDEATHSIG, then getppid() checked for the parent dying in between): no orphan ever
 * holds the port. Workers ignore SIGHUP (a terminal hangup reaches the whole group: the parent
 * restarts them, they do not die of it). */
#ifndef TOKENAUTH_SUPERVISE_H
#define TOKENAUTH_SUPERVISE_H

#include <signal.h>

#define SUPERVISE_STABLE_MS 10000      /* a worker that lived this long restarts at once */
#define SUPERVISE_BACKOFF_MIN_MS 100   /* the first delay after a quick death */
#define SUPERVISE_BACKOFF_MAX_MS 30000 /* the longest delay, for a worker dying again and again */
#define SUPERVISE_POLL_MS 100          /* how often the parent looks at its children */
#define SUPERVISE_SLOTS_MAX 8192       /* workers at most (--workers 0 may start thousands) */
/* Workers forked and not yet listening, at most: each holds a ready pipe in the parent, and
 * each new child closes the parent's others, so thousands at once would cost both the
 * parent's descriptors and quadratic closes. */
#define SUPERVISE_STARTING_MAX 64

/* A worker: serves until stopped and returns its exit status. ready_fd (-1 when nobody waits)
 * gets one byte, then is closed by the worker, once it listens. */
typedef int (*supervise_worker_fn)(void *arg, int ready_fd);

/* The flags main's signal handlers set: stop (SIGTERM/SIGINT) and restart (SIGHUP, reset here
 * once acted on). */
struct supervise_signals {
    volatile sig_atomic_t *stop;
    volatile sig_atomic_t *restart;
    /* Optional (NULL: none): asked on every turn of the parent (about every SUPERVISE_POLL_MS);
     * when it returns 1, every worker gets notify_signal. main uses it to tell the workers the
     * database changed, so that they need not each look twice a second. The workers must have
     * a handler for notify_signal from the start: install it before supervise_run(), so each
     * child inherits it at the fork. */
    int (*should_notify)(void *arg);
    void *notify_arg;
    int notify_signal;
};

struct metrics_group;

/* Runs n_workers (1 to SUPERVISE_SLOTS_MAX) workers until *sig->stop, as above. In the parent,
 * returns its exit status once every worker is gone: 0 when all stopped cleanly, 1 otherwise. In a
 * worker, returns the worker's status (the caller's main returns it). With metrics (NULL = none),
 * each worker that ended has its record released and each replaced one counts a restart. */
int supervise_run(int n_workers, supervise_worker_fn worker, void *arg,
                  const struct supervise_signals *sig, struct metrics_group *metrics);

#endif
