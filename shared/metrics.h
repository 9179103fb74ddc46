/* metrics.h -- counters an operator scrapes: ws-worker's process group and login-fcgi's file,
 * in the Prometheus text exposition format 0.0.4.
 *
 * Every number is one slot of enum metric, a 64-bit atomic in a record (struct metrics_record).
 * Writers only add (counters) or add/store (gauges) with relaxed atomics: no lock, and a reader
 * sums the records whenever it likes.
 *   ws-worker   a group (metrics_group_create): one anonymous shared mapping made by the parent
 *               before it forks, so every worker sees it. Record 0 is the parent's (worker
 *               restarts); each worker claims a free record by its pid at start and the parent
 *               releases it when it reaps the worker: its gauges are zeroed, its counters stay
 *               (so totals never go back). Any worker can answer a scrape with the group's sum.
 *   login-fcgi  a file (metrics_file_open): one record mapped shared from a file, which every
 *               process the web server spawns adds into; ws-worker maps it read-only to show it.
 * Limits: a group has a fixed number of records (the caller sizes it: several per worker slot,
 * since a SIGHUP restart overlaps old and new workers); a worker finding none free shares the
 * last one, whose gauges may then drift after a death. A file made by another build (another
 * layout) is refused, never misread. */
#ifndef TOKENAUTH_METRICS_H
#define TOKENAUTH_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define METRICS_OK 0
#define METRICS_ERR_SYS -1    /* a system call failed (err says which and why) */
#define METRICS_ERR_FORMAT -2 /* the file holds something else: another build, or not ours */
#define METRICS_ERR_SPACE -3  /* the output buffer is too small */

#define METRICS_TEXT_MAX 32768 /* bytes that always hold metrics_format()'s whole output */

/* Every number kept. The ws-worker ones come first (METRIC_WS_FIRST..METRIC_LOGIN_FIRST), then
 * login-fcgi's; metrics.c's table gives each its name, type, label and help. */
enum metric {
    METRIC_WS_CONNECTIONS,  /* gauge: authenticated sessions open */
    METRIC_WS_BYTES_QUEUED, /* gauge: bytes of replies and deliveries waiting to be written */
    METRIC_WS_CHANNELS,     /* gauge: channels with members, summed over workers */
    METRIC_WS_REDIS_UP,     /* gauge: workers whose Redis link is up */
    METRIC_WS_ACCEPTED,     /* handshakes accepted */
    METRIC_WS_REFUSED_MISSING_TOKEN, /* handshakes refused, by reason: */
    METRIC_WS_REFUSED_INVALID_TOKEN,
    METRIC_WS_REFUSED_EXPIRED_TOKEN,
    METRIC_WS_REFUSED_ORIGIN,
    METRIC_WS_REFUSED_PATH,
    METRIC_WS_REFUSED_CAPACITY,          /* the connection cap: 1013 */
    METRIC_WS_REFUSED_DATABASE,          /* no database: 1011 or 503 */
    METRIC_WS_REFUSED_SHUTTING_DOWN,     /* 503 while stopping */
    METRIC_WS_REFUSED_THROTTLED,         /* 429: too many failed handshakes from the address */
    METRIC_WS_REFUSED_HANDSHAKE_FLOOD,   /* closed at accept: the address holds too many */
    METRIC_WS_REFUSED_OVERLOAD,          /* closed at accept: past the cap, or out of descriptors */
    METRIC_WS_REFUSED_HEADER_TOO_LONG,   /* 431: one header over its limit (headerlimit.h) */
    METRIC_WS_REFUSED_HEADERS_TOO_LARGE, /* closed by lws unanswered: the head over its buffer */
    METRIC_WS_REFUSED_TOO_MANY_HEADERS,  /* closed by lws unanswered: its fragment table full */
    METRIC_WS_REFUSED_OTHER,
    METRIC_WS_REVOCATIONS,          /* sessions closed because their token was revoked or expired */
    METRIC_WS_MESSAGES_IN,          /* complete messages received */
    METRIC_WS_MESSAGES_OUT,         /* messages written: answers and deliveries */
    METRIC_WS_BYTES_IN,             /* bytes of received messages */
    METRIC_WS_BYTES_OUT,            /* bytes of written messages */
    METRIC_WS_SUBSCRIBES,           /* subscribe commands accepted */
    METRIC_WS_PUBLISHES,            /* publications handed to Redis from sockets */
    METRIC_WS_DELIVERIES,           /* channel messages queued to sessions */
    METRIC_WS_SLOW_CONSUMERS,       /* sessions closed 4008: their queue overflowed */
    METRIC_WS_DROPPED_FORMAT,       /* publications that do not convert: undeliverable */
    METRIC_WS_DROPPED_TOO_BIG,      /* deliveries over the message limit: undeliverable */
    METRIC_WS_LAYER_DROPPED_FORMAT, /* messages with Django's channel layer dropped, by reason: */
    METRIC_WS_LAYER_DROPPED_UNKNOWN_CHANNEL,
    METRIC_WS_LAYER_DROPPED_SOCKET_GONE,
    METRIC_WS_LAYER_DROPPED_CHANNEL_FULL,
    METRIC_WS_LAYER_DROPPED_POP_REFUSED,
    METRIC_WS_QUEUE_DROPPED_REVOKED, /* queued messages dropped at a close, by its kind: */
    METRIC_WS_QUEUE_DROPPED_SLOW_CONSUMER,
    METRIC_WS_QUEUE_DROPPED_CLOSED,
    METRIC_WS_OUT_OF_MEMORY,   /* sessions closed 1011 because memory ran out */
    METRIC_WS_REDIS_OUTAGES,   /* times a worker's Redis link went down */
    METRIC_WS_WORKER_RESTARTS, /* workers that died and were replaced (the parent's) */
    METRIC_LOGIN_FIRST,        /* login-fcgi: requests by outcome, then by status */
    METRIC_LOGIN_OK = METRIC_LOGIN_FIRST,
    METRIC_LOGIN_BAD_CREDENTIALS,
    METRIC_LOGIN_THROTTLED,
    METRIC_LOGIN_MALFORMED,
    METRIC_LOGIN_MISSING_FIELD,
    METRIC_LOGIN_TOO_LARGE,
    METRIC_LOGIN_UNSUPPORTED_TYPE,
    METRIC_LOGIN_METHOD_NOT_ALLOWED,
    METRIC_LOGIN_PREFLIGHT,
    METRIC_LOGIN_HASH_ERROR,
    METRIC_LOGIN_DB_BUSY,
    METRIC_LOGIN_DB_UNAVAILABLE,
    METRIC_LOGIN_LOGOUT,
    METRIC_LOGIN_BAD_TOKEN,
    METRIC_LOGIN_EXPIRED_TOKEN,
    METRIC_LOGIN_BAD_KEY,
    METRIC_LOGIN_PUBLISHED,
    METRIC_LOGIN_CHANNELS_OFF,
    METRIC_LOGIN_REDIS_UNAVAILABLE,
    METRIC_LOGIN_NOT_FOUND,
    METRIC_LOGIN_OTHER,
    METRIC_STATUS_FIRST, /* responses by HTTP status */
    METRIC_STATUS_2XX = METRIC_STATUS_FIRST,
    METRIC_STATUS_400,
    METRIC_STATUS_401,
    METRIC_STATUS_404,
    METRIC_STATUS_405,
    METRIC_STATUS_408,
    METRIC_STATUS_413,
    METRIC_STATUS_415,
    METRIC_STATUS_429,
    METRIC_STATUS_503,
    METRIC_STATUS_OTHER,
    METRIC_N
};

#define METRIC_WS_FIRST METRIC_WS_CONNECTIONS

/* One process's numbers (or a file's). */
struct metrics_record {
    atomic_int pid;               /* the worker holding it; 0 = free */
    _Atomic uint64_t v[METRIC_N]; /* indexed by enum metric */
};

/* Adds n to m in r; NULL r (metrics off) does nothing. */
static inline void metrics_add(struct metrics_record *r, enum metric m, uint64_t n) {
    if (r)
        atomic_fetch_add_explicit(&r->v[m], n, memory_order_relaxed);
}

/* Takes n from gauge m in r. */
static inline void metrics_sub(struct metrics_record *r, enum metric m, uint64_t n) {
    if (r)
        atomic_fetch_sub_explicit(&r->v[m], n, memory_order_relaxed);
}

/* Sets gauge m in r to n. */
static inline void metrics_set(struct metrics_record *r, enum metric m, uint64_t n) {
    if (r)
        atomic_store_explicit(&r->v[m], n, memory_order_relaxed);
}

struct metrics_group;

/* A group of n_records (2 or more) records shared with the children forked after it, or NULL
 * (mmap failed: err says why). Free with metrics_group_destroy() in each process. */
struct metrics_group *metrics_group_create(size_t n_records, char *err, size_t err_len);
void metrics_group_destroy(struct metrics_group *g);

/* Record 0: the parent's. NULL g gives NULL. */
struct metrics_record *metrics_group_parent(struct metrics_group *g);

/* A free record for the worker pid (its gauges start at 0), or the last one when none is free.
 * NULL g gives NULL. */
struct metrics_record *metrics_group_claim(struct metrics_group *g, pid_t pid);

/* pid ended: its record's gauges are zeroed and the record freed (its counters stay). */
void metrics_group_release(struct metrics_group *g, pid_t pid);

/* The sum of every record into values[METRIC_N] (gauges as signed sums). */
void metrics_group_sum(const struct metrics_group *g, uint64_t values[METRIC_N]);

/* Maps path (created 0600 when missing with is_writer, sized and stamped) into *out: shared and
 * writable with is_writer, else read-only. METRICS_OK, METRICS_ERR_SYS or METRICS_ERR_FORMAT,
 * with err filled ("metrics file PATH: why"). Release with metrics_file_close(). */
int metrics_file_open(const char *path, int is_writer, struct metrics_record **out, char *err,
                      size_t err_len);
void metrics_file_close(struct metrics_record *r);

/* The record slot of a login-fcgi outcome word ("ok", "throttled"... as routes.c logs it) and
 * of an HTTP status. */
enum metric metrics_login_outcome(const char *what);
enum metric metrics_status(int status);

/* Counts one login-fcgi request: its outcome and its status. NULL r does nothing. */
void metrics_login_record(struct metrics_record *r, const char *what, int status);

/* The refusal slot of a handshake refusal reason (handshake.h's static texts). */
enum metric metrics_refusal(const char *reason);

/* Writes the metrics first..last-1 of values as Prometheus text (# HELP, # TYPE, then
 * name{label="value"} number lines) to out, terminated. Returns the bytes written (without the
 * terminator), or METRICS_ERR_SPACE when out_len is too small (METRICS_TEXT_MAX always does). */
long metrics_format(const uint64_t values[METRIC_N], enum metric first, enum metric last, char *out,
                    size_t out_len);

#endif
