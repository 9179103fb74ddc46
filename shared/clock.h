/* clock.h -- the monotonic clock, for deadlines, retry times and durations that wall-clock
 * changes must not move. Header only: microseconds for durations that are logged with a
 * fraction (login-fcgi's ms=1.20), and milliseconds from them for everything else. */
#ifndef TOKENAUTH_CLOCK_H
#define TOKENAUTH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t clock_monotonic_ms(void) {
    return clock_monotonic_us() / 1000;
}

#endif
