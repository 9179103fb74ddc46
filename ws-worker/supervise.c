/* supervise.c -- the parent of ws-worker's worker processes: start, replace, restart, stop.
 *
 * One slot per worker. The parent loops every SUPERVISE_POLL_MS (or sooner, when a signal or a
 * ready pipe wakes its poll): reaps the children that ended (waitpid WNOHANG), forks the slots
 * whose restart time has come, sends SIGTERM to a slot's old worker once the new one is ready,
 * and on the stop flag sends SIGTERM to everyone and waits for them. It never blocks on one child,
 * so a hung worker cannot stop the others from being replaced. Logs: worker_died (pid, status,
 * the delay before the next one), worker_restart (SIGHUP), and an error when none could start. */
#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "prog.h"

#define SLOTS_MAX SUPERVISE_SLOTS_MAX

/* One worker's place. */
struct slot {
    pid_t pid;             /* the current worker, 0 when none */
    pid_t old_pid;         /* the worker it replaces on SIGHUP, draining until it ends; 0 none */
    int ready_fd;          /* read end of the current worker's ready pipe, -1 once read */
    int64_t started_ms;    /* when the current worker was forked */
    int64_t restart_at_ms; /* when to fork a worker for an empty slot */
    int64_t backoff_ms;    /* the delay after the next quick death */
};

/* The parent's state. */
struct supervisor {
    struct slot slots[SLOTS_MAX];
    int n_slots;
    int is_stopping; /* SIGTERM sent to every worker */
    int has_started; /* some worker once told it listens */
    int failed;      /* a worker ended badly while stopping, or none could start */
    pid_t parent;    /* our pid, for the workers' getppid() check */
    /* the workers' records; NULL = metrics off */
    struct metrics_group *metrics;
};

/* In a fresh child: dies with the parent, keeps no pipe of the others, ignores SIGHUP. Returns
 * 0, or -1 when the parent is already gone. */
static int become_worker(struct supervisor *s, int own_fd) {
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && getppid() != s->parent)
        return -1;
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].ready_fd >= 0 && s->slots[i].ready_fd != own_fd)
            close(s->slots[i].ready_fd);
    signal(SIGHUP, SIG_IGN);
    return 0;
}

/* Forks slot's worker. Returns 0 in the parent (a failed fork retries after a back-off), 1 in
 * the child once its worker returned, with its status in *status. */
static int spawn(struct supervisor *s, struct slot *slot, supervise_worker_fn worker, void *arg,
                 int *status) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        fds[0] = fds[1] = -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (fds[0] >= 0)
            close(fds[0]);
        *status = become_worker(s, -1) == 0 ? worker(arg, fds[1]) : 0;
        return 1;
    }
    if (fds[1] >= 0)
        close(fds[1]);
    if (pid < 0) {
        log_msg(PROG, "error", "fork: %s (retrying in %d ms)", strerror(errno),
                SUPERVISE_BACKOFF_MAX_MS);
        if (fds[0] >= 0)
            close(fds[0]);
        slot->restart_at_ms = clock_monotonic_ms() + SUPERVISE_BACKOFF_MAX_MS;
        return 0;
    }
    slot->pid = pid;
    slot->ready_fd = fds[0];
    slot->started_ms = clock_monotonic_ms();
    return 0;
}

/* A worker ended: a draining one is simply gone; a current one is replaced after a back-off
 * (unless stopping). */
static void on_exit_of(struct supervisor *s, pid_t pid, int status) {
    int64_t now_ms = clock_monotonic_ms();
    metrics_group_release(s->metrics, pid);
    for (int i = 0; i < s->n_slots; i++) {
        struct slot *slot = &s->slots[i];
        if (slot->old_pid == pid) {
            slot->old_pid = 0;
            return;
        }
        if (slot->pid != pid)
            continue;
        slot->pid = 0;
        char byte; /* it may have said it listens just before it ended */
        if (slot->ready_fd >= 0 && read(slot->ready_fd, &byte, 1) == 1)
            s->has_started = 1;
        if (slot->ready_fd >= 0)
            close(slot->ready_fd);
        slot->ready_fd = -1;
        if (s->is_stopping) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                s->failed = 1;
            return;
        }
        int is_quick = now_ms - slot->started_ms < SUPERVISE_STABLE_MS;
        slot->backoff_ms = !is_quick           ? 0
                           : !slot->backoff_ms ? SUPERVISE_BACKOFF_MIN_MS
                           : slot->backoff_ms * 2 > SUPERVISE_BACKOFF_MAX_MS
                               ? SUPERVISE_BACKOFF_MAX_MS
                               : slot->backoff_ms * 2;
        slot->restart_at_ms = now_ms + slot->backoff_ms;
        metrics_add(metrics_group_parent(s->metrics), METRIC_WS_WORKER_RESTARTS, 1);
        log_msg(PROG, "worker_died", "pid %ld status %d after %lld ms: a new one in %lld ms",
                (long)pid, status, (long long)(now_ms - slot->started_ms),
                (long long)slot->backoff_ms);
        return;
    }
}

/* Reaps every child that ended. Returns how many children are left. */
static int reap(struct supervisor *s) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        on_exit_of(s, pid, status);
    int n_left = 0;
    for (int i = 0; i < s->n_slots; i++)
        n_left += (s->slots[i].pid > 0) + (s->slots[i].old_pid > 0);
    return n_left;
}

/* Sends SIGTERM to every worker, current and draining (once). */
static void stop_all(struct supervisor *s) {
    s->is_stopping = 1;
    for (int i = 0; i < s->n_slots; i++) {
        if (s->slots[i].pid > 0)
            kill(s->slots[i].pid, SIGTERM);
        if (s->slots[i].old_pid > 0)
            kill(s->slots[i].old_pid, SIGTERM);
    }
}

/* SIGHUP: every slot's worker becomes the old one, a new one is forked at once. */
static void begin_restart(struct supervisor *s) {
    log_msg(PROG, "worker_restart", "SIGHUP: new workers, the old ones stop once they listen");
    for (int i = 0; i < s->n_slots; i++) {
        struct slot *slot = &s->slots[i];
        if (slot->old_pid > 0) /* a restart still going on: that older one goes now */
            kill(slot->old_pid, SIGTERM);
        slot->old_pid = slot->pid;
        slot->pid = 0;
        if (slot->ready_fd >= 0)
            close(slot->ready_fd);
        slot->ready_fd = -1;
        slot->restart_at_ms = 0;
    }
}

/* Waits up to SUPERVISE_POLL_MS for a ready pipe; a slot whose new worker said it listens has
 * its old one stopped. */
static void watch_ready(struct supervisor *s) {
    struct pollfd pfds[SLOTS_MAX];
    int idx[SLOTS_MAX], n = 0;
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].ready_fd >= 0) {
            pfds[n] = (struct pollfd){.fd = s->slots[i].ready_fd, .events = POLLIN};
            idx[n++] = i;
        }
    if (poll(pfds, (nfds_t)n, SUPERVISE_POLL_MS) <= 0)
        return;
    for (int k = 0; k < n; k++) {
        if (!pfds[k].revents)
            continue;
        struct slot *slot = &s->slots[idx[k]];
        char byte;
        int is_ready = read(slot->ready_fd, &byte, 1) == 1;
        close(slot->ready_fd);
        slot->ready_fd = -1;
        if (!is_ready)
            continue; /* it died before listening: reap() sees to it */
        s->has_started = 1;
        if (slot->old_pid > 0)
            kill(slot->old_pid, SIGTERM);
    }
}

/* Forks the workers of empty slots whose time has come. Returns 1 in a child (its worker ran,
 * status in *status), else 0. */
static int spawn_due(struct supervisor *s, supervise_worker_fn worker, void *arg, int *status) {
    int64_t now_ms = clock_monotonic_ms();
    int n_starting = 0;
    for (int i = 0; i < s->n_slots; i++)
        n_starting += s->slots[i].ready_fd >= 0;
    for (int i = 0; i < s->n_slots && n_starting < SUPERVISE_STARTING_MAX; i++) {
        struct slot *slot = &s->slots[i];
        if (slot->pid != 0 || now_ms < slot->restart_at_ms)
            continue;
        if (spawn(s, slot, worker, arg, status))
            return 1;
        n_starting += slot->ready_fd >= 0;
    }
    return 0;
}

/* No worker ever listened and one already gave up: the port or the settings cannot work. */
static int cannot_start(const struct supervisor *s) {
    if (s->has_started)
        return 0;
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].backoff_ms)
            return 1;
    return 0;
}

/* Sends sig to every worker alive, the old ones of a restart too. */
static void signal_all(const struct supervisor *s, int sig) {
    for (int i = 0; i < s->n_slots; i++) {
        if (s->slots[i].pid > 0)
            kill(s->slots[i].pid, sig);
        if (s->slots[i].old_pid > 0)
            kill(s->slots[i].old_pid, sig);
    }
}

int supervise_run(int n_workers, supervise_worker_fn worker, void *arg,
                  const struct supervise_signals *sig, struct metrics_group *metrics) {
    static struct supervisor s;
    memset(&s, 0, sizeof s);
    s.metrics = metrics;
    s.n_slots = n_workers < 1 ? 1 : n_workers > SLOTS_MAX ? SLOTS_MAX : n_workers;
    s.parent = getpid();
    for (int i = 0; i < s.n_slots; i++)
        s.slots[i].ready_fd = -1;
    int status = 0;
    for (;;) {
        if (*sig->stop && !s.is_stopping)
            stop_all(&s);
        if (*sig->restart && !s.is_stopping) {
            *sig->restart = 0;
            begin_restart(&s);
        }
        int n_left = reap(&s);
        if (s.is_stopping && n_left == 0)
            break;
        if (!s.is_stopping && cannot_start(&s)) {
            log_msg(PROG, "error", "no worker could start (see above): stopping");
            s.failed = 1;
            stop_all(&s);
            continue;
        }
        if (!s.is_stopping && spawn_due(&s, worker, arg, &status))
            return status; /* in the child */
        if (!s.is_stopping && sig->should_notify && sig->should_notify(sig->notify_arg))
            signal_all(&s, sig->notify_signal);
        watch_ready(&s);
    }
    return s.failed ? 1 : 0;
}
