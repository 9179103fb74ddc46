/* addrlimit.c -- per client address limits of one ws-worker process, in a table of fixed size.
 *
 * A keyed FNV-1a hash of the 16-byte key picks the first slot, ADDRLIMIT_PROBE slots from there
 * are the address's candidates (no deletion, so no tombstones: a lookup always reads all of
 * them). Nothing here blocks, logs or allocates after addrlimit_init(); adopt.c calls it and
 * logs the episodes. */
#include "addrlimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static size_t slot_of(const struct addrlimit *t, const unsigned char key[16]) {
    uint64_t h = 1469598103934665603ULL ^ t->seed;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ULL;
    return (size_t)(h % t->n_entries);
}

/* Every episode's beginning and end passes here, so it keeps the count of those going on. */
static void report(struct addrlimit *t, const struct addrlimit_entry *e, int kind) {
    if (kind == ADDRLIMIT_PENDING_BEGIN || kind == ADDRLIMIT_AUTH_BEGIN)
        t->n_episodes++;
    else if (t->n_episodes > 0)
        t->n_episodes--;
    if (t->report)
        t->report(e, kind, t->report_arg);
}

/* Whether e's failures reached the limit (an auth episode, until its window ends). */
static int is_auth_limited(const struct addrlimit *t, const struct addrlimit_entry *e) {
    return t->max_failures && e->n_failures >= t->max_failures;
}

/* Whether e has an episode going on (its reuse would lose the end of a logged episode). */
static int in_episode(const struct addrlimit *t, const struct addrlimit_entry *e) {
    return e->n_refused_pending || is_auth_limited(t, e);
}

/* Ends e's episodes that are over at now_ms (all of them when now_ms is INT64_MAX). */
static void end_episodes(struct addrlimit *t, struct addrlimit_entry *e, int64_t now_ms) {
    if (e->n_refused_pending && now_ms - e->last_refused_ms >= ADDRLIMIT_QUIET_MS) {
        report(t, e, ADDRLIMIT_PENDING_OVER);
        e->n_refused_pending = 0;
    }
    if (is_auth_limited(t, e) && now_ms >= e->window_start_ms + t->window_ms) {
        report(t, e, ADDRLIMIT_AUTH_OVER);
        e->n_failures = 0;
        e->n_refused_auth = 0;
    }
}

/* Among the candidates of a new address: a free slot, else the least recently seen idle entry,
 * preferring one without an episode; NULL when all hold handshakes in progress. */
static struct addrlimit_entry *victim(struct addrlimit *t, size_t first) {
    struct addrlimit_entry *best = NULL;
    for (size_t i = 0; i < ADDRLIMIT_PROBE; i++) {
        struct addrlimit_entry *e = &t->entries[(first + i) % t->n_entries];
        if (!e->is_used)
            return e;
        if (e->n_pending)
            continue;
        int e_rank = in_episode(t, e), best_rank = best ? in_episode(t, best) : 0;
        if (!best || best_rank > e_rank ||
            (best_rank == e_rank && e->last_seen_ms < best->last_seen_ms))
            best = e;
    }
    return best;
}

int addrlimit_init(struct addrlimit *t, size_t n_entries, uint32_t max_pending,
                   uint32_t max_failures, long window_s, uint64_t seed) {
    memset(t, 0, sizeof *t);
    if (n_entries < ADDRLIMIT_PROBE)
        n_entries = ADDRLIMIT_PROBE;
    t->entries = calloc(n_entries, sizeof *t->entries);
    if (!t->entries)
        return ADDRLIMIT_ERR_NOMEM;
    t->n_entries = n_entries;
    t->seed = seed;
    t->max_pending = max_pending;
    t->max_failures = max_failures;
    t->window_ms = (int64_t)window_s * 1000;
    return 0;
}

void addrlimit_free(struct addrlimit *t) {
    free(t->entries);
    t->entries = NULL;
    t->n_entries = 0;
}

int addrlimit_key(const struct sockaddr *sa, unsigned char key[16]) {
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    memcpy(key, &in6->sin6_addr, 16);
    if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
        memset(key + 8, 0, 8); /* the /64 */
    return 0;
}

struct addrlimit_entry *addrlimit_get(struct addrlimit *t, const unsigned char key[16],
                                      int64_t now_ms) {
    if (!t->entries)
        return NULL;
    size_t first = slot_of(t, key);
    for (size_t i = 0; i < ADDRLIMIT_PROBE; i++) {
        struct addrlimit_entry *e = &t->entries[(first + i) % t->n_entries];
        if (e->is_used && memcmp(e->addr, key, 16) == 0) {
            e->last_seen_ms = now_ms;
            return e;
        }
    }
    struct addrlimit_entry *e = victim(t, first);
    if (!e)
        return NULL;
    if (e->is_used)
        end_episodes(t, e, INT64_MAX); /* forgotten: its episodes end now */
    memset(e, 0, sizeof *e);
    memcpy(e->addr, key, 16);
    e->is_used = 1;
    e->last_seen_ms = now_ms;
    return e;
}

int addrlimit_begin(struct addrlimit *t, struct addrlimit_entry *e, int64_t now_ms) {
    if (t->max_pending && e->n_pending >= t->max_pending) {
        if (++e->n_refused_pending == 1)
            report(t, e, ADDRLIMIT_PENDING_BEGIN);
        e->last_refused_ms = now_ms;
        return ADDRLIMIT_ERR_PENDING;
    }
    e->n_pending++;
    return 0;
}

void addrlimit_end(struct addrlimit_entry *e) {
    if (e->n_pending)
        e->n_pending--;
}

long addrlimit_auth_wait_s(struct addrlimit *t, struct addrlimit_entry *e, int64_t now_ms) {
    end_episodes(t, e, now_ms);
    if (!is_auth_limited(t, e))
        return 0;
    e->n_refused_auth++;
    int64_t left_ms = e->window_start_ms + t->window_ms - now_ms;
    return (long)((left_ms + 999) / 1000);
}

void addrlimit_fail(struct addrlimit *t, struct addrlimit_entry *e, int64_t now_ms) {
    if (!t->max_failures)
        return;
    end_episodes(t, e, now_ms);
    if (!e->n_failures || now_ms >= e->window_start_ms + t->window_ms) {
        e->n_failures = 0;
        e->window_start_ms = now_ms;
    }
    if (++e->n_failures == t->max_failures)
        report(t, e, ADDRLIMIT_AUTH_BEGIN);
}

void addrlimit_sweep(struct addrlimit *t, int64_t now_ms) {
    if (!t->n_episodes) /* the usual case: no walk over a table that is mostly out of cache */
        return;
    for (size_t i = 0; i < t->n_entries; i++)
        if (t->entries[i].is_used)
            end_episodes(t, &t->entries[i], now_ms);
}

void addrlimit_format(const struct addrlimit_entry *e, char *out, size_t out_len) {
    char text[INET6_ADDRSTRLEN] = "?";
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(e->addr, mapped, 12) == 0) {
        inet_ntop(AF_INET, e->addr + 12, text, sizeof text);
        snprintf(out, out_len, "%s", text);
    } else {
        inet_ntop(AF_INET6, e->addr, text, sizeof text);
        snprintf(out, out_len, "%s/64", text);
    }
}
