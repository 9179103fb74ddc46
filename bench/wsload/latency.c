/* latency.c -- wsload's latency histogram: fixed buckets, percentiles by a cumulative walk.
 *
 * Bucket i < LATENCY_FINE_MAX_NS / LATENCY_FINE_NS holds [i, i + 1) * LATENCY_FINE_NS; the
 * coarse buckets follow; the last holds everything from LATENCY_MAX_NS on. */
#include "latency.h"

#include <math.h>

#define N_FINE (LATENCY_FINE_MAX_NS / LATENCY_FINE_NS)

static int64_t bucket_of(int64_t ns) {
    if (ns < 0)
        ns = 0;
    if (ns < LATENCY_FINE_MAX_NS)
        return ns / LATENCY_FINE_NS;
    if (ns < LATENCY_MAX_NS)
        return N_FINE + (ns - LATENCY_FINE_MAX_NS) / LATENCY_COARSE_NS;
    return LATENCY_BUCKETS - 1;
}

/* The upper edge of bucket i in ns. */
static int64_t upper_edge_ns(int64_t i) {
    if (i < N_FINE)
        return (i + 1) * LATENCY_FINE_NS;
    if (i < LATENCY_BUCKETS - 1)
        return LATENCY_FINE_MAX_NS + (i - N_FINE + 1) * LATENCY_COARSE_NS;
    return LATENCY_MAX_NS;
}

void latency_add(struct latency *l, int64_t ns) {
    l->counts[bucket_of(ns)]++;
    l->n++;
}

void latency_merge(struct latency *into, const struct latency *from) {
    for (int64_t i = 0; i < LATENCY_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->n += from->n;
}

int64_t latency_percentile_ns(const struct latency *l, double q) {
    if (l->n == 0)
        return -1;
    /* the rank of the sample sought, 1-based: ceil(q * n), at least 1 */
    uint64_t rank = (uint64_t)ceil(q * (double)l->n), seen = 0;
    if (rank < 1)
        rank = 1;
    for (int64_t i = 0; i < LATENCY_BUCKETS; i++) {
        seen += l->counts[i];
        if (seen >= rank)
            return upper_edge_ns(i);
    }
    return LATENCY_MAX_NS;
}
