/* latency.h -- a latency histogram for wsload: add samples, merge histograms, read percentiles.
 *
 * Fixed buckets, no allocation: 10 µs wide up to 100 ms, 1 ms wide from there to 10 s, and one
 * bucket for everything slower. A percentile is reported as the upper edge of its bucket, so
 * it is never optimistic by more than the bucket width. One histogram per thread (no locking);
 * merge them once the threads are done. */
#ifndef TOKENAUTH_BENCH_LATENCY_H
#define TOKENAUTH_BENCH_LATENCY_H

#include <stdint.h>

#define LATENCY_FINE_NS 10000LL /* width of a bucket below LATENCY_FINE_MAX_NS */
#define LATENCY_FINE_MAX_NS 100000000LL
#define LATENCY_COARSE_NS 1000000LL /* width of a bucket from there to LATENCY_MAX_NS */
#define LATENCY_MAX_NS 10000000000LL
#define LATENCY_BUCKETS                                                                            \
    (LATENCY_FINE_MAX_NS / LATENCY_FINE_NS +                                                       \
     (LATENCY_MAX_NS - LATENCY_FINE_MAX_NS) / LATENCY_COARSE_NS + 1)

struct latency {
    uint32_t counts[LATENCY_BUCKETS]; /* samples per bucket */
    uint64_t n;                       /* samples in all */
};

/* Counts one sample of ns nanoseconds (a negative one as 0). */
void latency_add(struct latency *l, int64_t ns);

/* Adds every sample of from to into. */
void latency_merge(struct latency *into, const struct latency *from);

/* The latency in ns below which a fraction q (0 < q <= 1) of the samples fall (the upper edge
 * of that bucket; LATENCY_MAX_NS for the overflow bucket); -1 when there are no samples. */
int64_t latency_percentile_ns(const struct latency *l, double q);

#endif
