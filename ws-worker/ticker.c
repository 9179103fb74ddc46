/* ticker.c -- see ticker.h. */
#include "ticker.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>

int ticker_open(struct ticker *t) {
    t->due_ms = 0;
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return t->fd < 0 ? -1 : 0;
}

int ticker_arm(struct ticker *t, int64_t due_ms) {
    if (t->due_ms && t->due_ms <= due_ms)
        return 0;
    if (due_ms < 1)
        due_ms = 1; /* an all-zero it_value would disarm it */
    struct itimerspec when = {.it_value = {.tv_sec = (time_t)(due_ms / 1000),
                                           .tv_nsec = (long)(due_ms % 1000) * 1000000L}};
    if (timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &when, NULL) != 0)
        return -1;
    t->due_ms = due_ms;
    return 0;
}

int ticker_fired(struct ticker *t) {
    uint64_t expirations = 0;
    ssize_t n = read(t->fd, &expirations, sizeof expirations);
    if (n != (ssize_t)sizeof expirations)
        return 0; /* EAGAIN: not due yet */
    t->due_ms = 0;
    return 1;
}

void ticker_close(struct ticker *t, int owned_elsewhere) {
    if (t->fd >= 0 && !owned_elsewhere)
        close(t->fd);
    t->fd = -1;
    t->due_ms = 0;
}
