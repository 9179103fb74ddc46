/* clock.h -- milliseconds on the monotonic clock, for deadlines and retry times that wall-clock
 * changes must not move. Header only: one inline function. */
#ifndef TOKENAUTH_CLOCK_H
#define TOKENAUTH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
