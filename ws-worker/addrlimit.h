/* addrlimit.h -- per client address limits of one ws-worker process: unfinished handshakes and
 * failed handshakes per window, in a table of fixed size.
 *
 * An address is kept as 16 bytes: IPv4 as an IPv4-mapped IPv6 address, IPv6 by its /64 prefix
 * (one client easily owns a whole /64, so counting single IPv6 addresses would limit nothing).
 * The table holds n_entries addresses, found by a keyed hash and ADDRLIMIT_PROBE slots of linear
 * probing; a new address takes a free slot among those, else the least recently seen one that
 * has no handshake in progress (one whose limit episode is running only when no other is idle).
 * When all ADDRLIMIT_PROBE slots hold handshakes in progress, the address is not tracked (the
 * caller lets it through): memory stays bounded whatever the number of addresses.
 *
 * Episodes: a pending episode begins with the first connection refused for too many unfinished
 * handshakes and ends once none was refused for ADDRLIMIT_QUIET_MS; an auth episode begins when
 * the failures of a window reach the limit and ends with the window. addrlimit_sweep() reports
 * the ends, with how many were refused, so each episode is logged twice at most. */
#ifndef TOKENAUTH_ADDRLIMIT_H
#define TOKENAUTH_ADDRLIMIT_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define ADDRLIMIT_PROBE 8        /* slots looked at for one address */
#define ADDRLIMIT_QUIET_MS 1000  /* a pending episode ends after this long without a refusal */
#define ADDRLIMIT_ADDR_TEXT 48   /* room for an address as text */
#define ADDRLIMIT_ERR_NOMEM -1   /* addrlimit_init: no memory for the table */
#define ADDRLIMIT_ERR_PENDING -2 /* addrlimit_begin: too many unfinished handshakes */

/* One tracked address. The caller reads the counters; addrlimit_* functions change them. */
struct addrlimit_entry {
    unsigned char addr[16];     /* the key, see above */
    uint8_t is_used;            /* holds an address */
    uint32_t n_pending;         /* handshakes in progress */
    uint32_t n_failures;        /* failed handshakes in the current window */
    uint32_t n_refused_pending; /* connections closed at once in this pending episode */
    uint32_t n_refused_auth;    /* handshakes answered 429 in this auth episode */
    int64_t window_start_ms;    /* the first failure of the window */
    int64_t last_seen_ms;       /* the last connection, for eviction */
    int64_t last_refused_ms;    /* the last refusal of the pending episode */
};

/* What the report function is told: an episode begins or is over (e's counters say how many
 * were refused). */
#define ADDRLIMIT_PENDING_BEGIN 1
#define ADDRLIMIT_PENDING_OVER 2
#define ADDRLIMIT_AUTH_BEGIN 3
#define ADDRLIMIT_AUTH_OVER 4
typedef void (*addrlimit_report_fn)(const struct addrlimit_entry *e, int kind, void *arg);

/* The table and its limits. */
struct addrlimit {
    struct addrlimit_entry *entries; /* n_entries of them */
    size_t n_entries;
    uint64_t seed;              /* of the hash, so nobody can pick addresses that collide */
    uint32_t max_pending;       /* handshakes in progress per address; 0 = no limit */
    uint32_t max_failures;      /* failures per window before refusing; 0 = off */
    int64_t window_ms;          /* the failure window */
    addrlimit_report_fn report; /* told of each episode's beginning and end; NULL = nobody */
    void *report_arg;           /* its last argument */
    size_t n_episodes;          /* episodes going on: addrlimit_sweep() has work only then */
};

/* Allocates a table of n_entries (at least ADDRLIMIT_PROBE) with these limits and seed; the
 * caller may then set t->report. Returns 0 or ADDRLIMIT_ERR_NOMEM (t is then empty and every
 * lookup returns NULL). */
int addrlimit_init(struct addrlimit *t, size_t n_entries, uint32_t max_pending,
                   uint32_t max_failures, long window_s, uint64_t seed);

/* Frees the table; t may be zeroed or already freed. */
void addrlimit_free(struct addrlimit *t);

/* Writes sa (AF_INET or AF_INET6) as a 16-byte key into key. Returns 0, or -1 for another
 * family. */
int addrlimit_key(const struct sockaddr *sa, unsigned char key[16]);

/* The entry of key, found or taken (see above), its last_seen_ms set to now_ms; NULL when the
 * address cannot be tracked now. The pointer stays valid while the entry has a handshake in
 * progress (only idle entries are reused). */
struct addrlimit_entry *addrlimit_get(struct addrlimit *t, const unsigned char key[16],
                                      int64_t now_ms);

/* A new connection of e: counts it in progress and returns 0, or returns ADDRLIMIT_ERR_PENDING
 * and counts a refusal (the first of an episode is reported). */
int addrlimit_begin(struct addrlimit *t, struct addrlimit_entry *e, int64_t now_ms);

/* The handshake of one connection counted by addrlimit_begin() is over. */
void addrlimit_end(struct addrlimit_entry *e);

/* Seconds until e may try a token again (Retry-After, at least 1), counting the refusal; 0 when
 * it may now (an auth episode whose window is over is reported over first). */
long addrlimit_auth_wait_s(struct addrlimit *t, struct addrlimit_entry *e, int64_t now_ms);

/* Counts a failed handshake of e; the one reaching the limit begins an episode (reported). */
void addrlimit_fail(struct addrlimit *t, struct addrlimit_entry *e, int64_t now_ms);

/* Ends (and reports) the episodes that are over at now_ms. Visits every entry while some
 * episode goes on (else returns at once: thousands of idle processes each walking 4,096 entries
 * a second cost a core): call it about once a second, not per connection. */
void addrlimit_sweep(struct addrlimit *t, int64_t now_ms);

/* The address of e as text ("127.0.0.2", "2001:db8::/64") into out. */
void addrlimit_format(const struct addrlimit_entry *e, char *out, size_t out_len);

#endif
