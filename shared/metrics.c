/* metrics.c -- counters an operator scrapes: the records, the group, the file, the text format.
 *
 * One table (defs[]) names every slot of enum metric: its metric family, type, label and help.
 * Slots of one family are consecutive, so the formatter writes # HELP and # TYPE once, at the
 * first of them, then one sample line per slot (Prometheus text exposition format 0.0.4). The
 * group is an anonymous MAP_SHARED mapping (inherited across fork); the file is a header (magic,
 * layout version, slot count) and one record, mapped MAP_SHARED. Atomic 64-bit operations on
 * shared memory need them lock-free, which a static assertion checks. Nothing here prints or
 * logs: errors go back in the caller's buffer. */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "shared counters need lock-free 64-bit atomics");

#define FILE_MAGIC 0x544f4b4d45545231ULL /* "TOKMETR1" */
#define FILE_LAYOUT ((uint64_t)METRIC_N << 32 | (uint64_t)sizeof(struct metrics_record))

enum metric_type { GAUGE, COUNTER };

/* One slot's description. */
struct metric_def {
    const char *name; /* the family */
    enum metric_type type;
    const char *label; /* the label's name, NULL for none */
    const char *value; /* the label's value */
    const char *help;  /* the family's help, on its first slot */
};

#define WS_REFUSED(v)                                                                              \
    {                                                                                              \
        "tokenauth_ws_handshakes_refused_total", COUNTER, "reason", v,                             \
            "WebSocket handshakes refused, by reason"                                              \
    }
#define LOGIN(v)                                                                                   \
    {                                                                                              \
        "tokenauth_login_requests_total", COUNTER, "outcome", v,                                   \
            "login-fcgi requests (login, logout, publish), by outcome"                             \
    }
#define STATUS(v)                                                                                  \
    {                                                                                              \
        "tokenauth_login_responses_total", COUNTER, "status", v,                                   \
            "login-fcgi responses, by HTTP status"                                                 \
    }
#define DROPPED(v)                                                                                 \
    {                                                                                              \
        "tokenauth_ws_deliveries_dropped_total", COUNTER, "reason", v,                             \
            "channel messages no session could get (undeliverable), by reason"                     \
    }
#define LAYER_DROPPED(v)                                                                           \
    {                                                                                              \
        "tokenauth_ws_layer_messages_dropped_total", COUNTER, "reason", v,                         \
            "messages between the sockets and Django's channel layer dropped, by reason"           \
    }
#define QUEUE_DROPPED(v)                                                                           \
    {                                                                                              \
        "tokenauth_ws_queued_messages_dropped_total", COUNTER, "reason", v,                        \
            "answers and deliveries dropped unwritten because their session closed, by why"        \
    }

static const struct metric_def defs[METRIC_N] = {
    [METRIC_WS_CONNECTIONS] = {"tokenauth_ws_connections", GAUGE, NULL, NULL,
                               "authenticated WebSocket sessions open"},
    [METRIC_WS_BYTES_QUEUED] = {"tokenauth_ws_queued_bytes", GAUGE, NULL, NULL,
                                "bytes of answers and deliveries waiting to be written"},
    [METRIC_WS_CHANNELS] = {"tokenauth_ws_channels", GAUGE, NULL, NULL,
                            "channels with members, summed over the workers"},
    [METRIC_WS_REDIS_UP] = {"tokenauth_ws_redis_up", GAUGE, NULL, NULL,
                            "workers whose Redis link is up"},
    [METRIC_WS_ACCEPTED] = {"tokenauth_ws_handshakes_accepted_total", COUNTER, NULL, NULL,
                            "WebSocket handshakes accepted (a session opened)"},
    [METRIC_WS_REFUSED_MISSING_TOKEN] = WS_REFUSED("missing_token"),
    [METRIC_WS_REFUSED_INVALID_TOKEN] = WS_REFUSED("invalid_token"),
    [METRIC_WS_REFUSED_EXPIRED_TOKEN] = WS_REFUSED("expired_token"),
    [METRIC_WS_REFUSED_ORIGIN] = WS_REFUSED("origin"),
    [METRIC_WS_REFUSED_PATH] = WS_REFUSED("path"),
    [METRIC_WS_REFUSED_CAPACITY] = WS_REFUSED("capacity"),
    [METRIC_WS_REFUSED_DATABASE] = WS_REFUSED("database"),
    [METRIC_WS_REFUSED_SHUTTING_DOWN] = WS_REFUSED("shutting_down"),
    [METRIC_WS_REFUSED_THROTTLED] = WS_REFUSED("throttled"),
    [METRIC_WS_REFUSED_HANDSHAKE_FLOOD] = WS_REFUSED("handshake_flood"),
    [METRIC_WS_REFUSED_OVERLOAD] = WS_REFUSED("overload"),
    [METRIC_WS_REFUSED_HEADER_TOO_LONG] = WS_REFUSED("header_too_long"),
    [METRIC_WS_REFUSED_HEADERS_TOO_LARGE] = WS_REFUSED("headers_too_large"),
    [METRIC_WS_REFUSED_TOO_MANY_HEADERS] = WS_REFUSED("too_many_headers"),
    [METRIC_WS_REFUSED_OTHER] = WS_REFUSED("other"),
    [METRIC_WS_REVOCATIONS] = {"tokenauth_ws_revocations_total", COUNTER, NULL, NULL,
                               "sessions closed 4401: token revoked or expired"},
    [METRIC_WS_MESSAGES_IN] = {"tokenauth_ws_messages_received_total", COUNTER, NULL, NULL,
                               "complete messages received from clients"},
    [METRIC_WS_MESSAGES_OUT] = {"tokenauth_ws_messages_sent_total", COUNTER, NULL, NULL,
                                "messages written to clients (answers and deliveries)"},
    [METRIC_WS_BYTES_IN] = {"tokenauth_ws_received_bytes_total", COUNTER, NULL, NULL,
                            "bytes of messages received"},
    [METRIC_WS_BYTES_OUT] = {"tokenauth_ws_sent_bytes_total", COUNTER, NULL, NULL,
                             "bytes of messages written"},
    [METRIC_WS_SUBSCRIBES] = {"tokenauth_ws_subscribes_total", COUNTER, NULL, NULL,
                              "subscribe commands accepted"},
    [METRIC_WS_PUBLISHES] = {"tokenauth_ws_publishes_total", COUNTER, NULL, NULL,
                             "publications handed to Redis from WebSockets"},
    [METRIC_WS_DELIVERIES] = {"tokenauth_ws_deliveries_total", COUNTER, NULL, NULL,
                              "channel messages queued to sessions"},
    [METRIC_WS_SLOW_CONSUMERS] =
        {"tokenauth_ws_slow_consumer_closes_total", COUNTER, NULL, NULL,
         "sessions closed 4008: their queue passed TOKENAUTH_WS_MAX_QUEUED"},
    [METRIC_WS_DROPPED_FORMAT] = DROPPED("format"),
    [METRIC_WS_DROPPED_TOO_BIG] = DROPPED("too_big"),
    [METRIC_WS_LAYER_DROPPED_FORMAT] = LAYER_DROPPED("format"),
    [METRIC_WS_LAYER_DROPPED_UNKNOWN_CHANNEL] = LAYER_DROPPED("unknown_channel"),
    [METRIC_WS_LAYER_DROPPED_SOCKET_GONE] = LAYER_DROPPED("socket_gone"),
    [METRIC_WS_LAYER_DROPPED_CHANNEL_FULL] = LAYER_DROPPED("channel_full"),
    [METRIC_WS_LAYER_DROPPED_POP_REFUSED] = LAYER_DROPPED("pop_refused"),
    [METRIC_WS_QUEUE_DROPPED_REVOKED] = QUEUE_DROPPED("revoked"),
    [METRIC_WS_QUEUE_DROPPED_SLOW_CONSUMER] = QUEUE_DROPPED("slow_consumer"),
    [METRIC_WS_QUEUE_DROPPED_CLOSED] = QUEUE_DROPPED("closed"),
    [METRIC_WS_OUT_OF_MEMORY] = {"tokenauth_ws_out_of_memory_closes_total", COUNTER, NULL, NULL,
                                 "sessions closed 1011 because memory ran out"},
    [METRIC_WS_REDIS_OUTAGES] = {"tokenauth_ws_redis_outages_total", COUNTER, NULL, NULL,
                                 "times a worker's Redis link went down"},
    [METRIC_WS_WORKER_RESTARTS] = {"tokenauth_ws_worker_restarts_total", COUNTER, NULL, NULL,
                                   "workers that died and were replaced by the parent"},
    [METRIC_LOGIN_OK] = LOGIN("ok"),
    [METRIC_LOGIN_BAD_CREDENTIALS] = LOGIN("bad_credentials"),
    [METRIC_LOGIN_THROTTLED] = LOGIN("throttled"),
    [METRIC_LOGIN_MALFORMED] = LOGIN("malformed"),
    [METRIC_LOGIN_MISSING_FIELD] = LOGIN("missing_field"),
    [METRIC_LOGIN_TOO_LARGE] = LOGIN("too_large"),
    [METRIC_LOGIN_UNSUPPORTED_TYPE] = LOGIN("unsupported_type"),
    [METRIC_LOGIN_METHOD_NOT_ALLOWED] = LOGIN("method_not_allowed"),
    [METRIC_LOGIN_PREFLIGHT] = LOGIN("preflight"),
    [METRIC_LOGIN_HASH_ERROR] = LOGIN("hash_error"),
    [METRIC_LOGIN_DB_BUSY] = LOGIN("db_busy"),
    [METRIC_LOGIN_DB_UNAVAILABLE] = LOGIN("db_unavailable"),
    [METRIC_LOGIN_LOGOUT] = LOGIN("logout"),
    [METRIC_LOGIN_BAD_TOKEN] = LOGIN("bad_token"),
    [METRIC_LOGIN_EXPIRED_TOKEN] = LOGIN("expired_token"),
    [METRIC_LOGIN_BAD_KEY] = LOGIN("bad_key"),
    [METRIC_LOGIN_PUBLISHED] = LOGIN("published"),
    [METRIC_LOGIN_CHANNELS_OFF] = LOGIN("channels_off"),
    [METRIC_LOGIN_REDIS_UNAVAILABLE] = LOGIN("redis_unavailable"),
    [METRIC_LOGIN_NOT_FOUND] = LOGIN("not_found"),
    [METRIC_LOGIN_OTHER] = LOGIN("other"),
    [METRIC_STATUS_2XX] = STATUS("2xx"),
    [METRIC_STATUS_400] = STATUS("400"),
    [METRIC_STATUS_401] = STATUS("401"),
    [METRIC_STATUS_404] = STATUS("404"),
    [METRIC_STATUS_405] = STATUS("405"),
    [METRIC_STATUS_408] = STATUS("408"),
    [METRIC_STATUS_413] = STATUS("413"),
    [METRIC_STATUS_415] = STATUS("415"),
    [METRIC_STATUS_429] = STATUS("429"),
    [METRIC_STATUS_503] = STATUS("503"),
    [METRIC_STATUS_OTHER] = STATUS("other"),
};

/* The group: its size, then the records. */
struct metrics_group {
    size_t n_records;
    size_t map_len;
    struct metrics_record records[];
};

/* The file: a header, then one record. */
struct metrics_file {
    uint64_t magic;  /* FILE_MAGIC once stamped; 0 in a fresh file */
    uint64_t layout; /* FILE_LAYOUT of the build that stamped it */
    struct metrics_record record;
};

struct metrics_group *metrics_group_create(size_t n_records, char *err, size_t err_len) {
    if (n_records < 2)
        n_records = 2;
    size_t len = sizeof(struct metrics_group) + n_records * sizeof(struct metrics_record);
    struct metrics_group *g =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED) {
        snprintf(err, err_len, "metrics: mmap of %zu bytes: %s", len, strerror(errno));
        return NULL;
    }
    g->n_records = n_records; /* the mapping is zero-filled: every record free and at 0 */
    g->map_len = len;
    atomic_store(&g->records[0].pid, (int)getpid());
    return g;
}

void metrics_group_destroy(struct metrics_group *g) {
    if (g)
        munmap(g, g->map_len);
}

struct metrics_record *metrics_group_parent(struct metrics_group *g) {
    return g ? &g->records[0] : NULL;
}

/* Zeroes the gauges of r (the slots of type GAUGE). */
static void zero_gauges(struct metrics_record *r) {
    for (int m = 0; m < METRIC_N; m++)
        if (defs[m].type == GAUGE)
            atomic_store_explicit(&r->v[m], 0, memory_order_relaxed);
}

struct metrics_record *metrics_group_claim(struct metrics_group *g, pid_t pid) {
    if (!g)
        return NULL;
    for (size_t i = 1; i < g->n_records; i++) {
        int free_pid = 0;
        if (atomic_compare_exchange_strong(&g->records[i].pid, &free_pid, (int)pid))
            return &g->records[i];
    }
    return &g->records[g->n_records - 1]; /* shared: see the header's limits */
}

void metrics_group_release(struct metrics_group *g, pid_t pid) {
    if (!g || pid <= 0)
        return;
    for (size_t i = 1; i < g->n_records; i++) {
        if (atomic_load(&g->records[i].pid) != (int)pid)
            continue;
        zero_gauges(&g->records[i]); /* before the record can be claimed again */
        atomic_store(&g->records[i].pid, 0);
        return;
    }
}

void metrics_group_sum(const struct metrics_group *g, uint64_t values[METRIC_N]) {
    memset(values, 0, METRIC_N * sizeof values[0]);
    for (size_t i = 0; g && i < g->n_records; i++)
        for (int m = 0; m < METRIC_N; m++)
            values[m] += atomic_load_explicit(&g->records[i].v[m], memory_order_relaxed);
}

/* A fresh (all zero) file gets its header; a stamped one must be of our layout. */
static int stamp(struct metrics_file *f) {
    uint64_t none = 0;
    _Atomic uint64_t *magic = (_Atomic uint64_t *)&f->magic;
    if (atomic_load(magic) == 0) {
        f->layout = FILE_LAYOUT; /* two processes stamping at once write the same values */
        atomic_compare_exchange_strong(magic, &none, FILE_MAGIC);
    }
    return atomic_load(magic) == FILE_MAGIC && f->layout == FILE_LAYOUT ? 0 : -1;
}

int metrics_file_open(const char *path, int is_writer, struct metrics_record **out, char *err,
                      size_t err_len) {
    *out = NULL;
    const char *what = "open";
    int fd = open(path, is_writer ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDONLY | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0)
        goto fail;
    what = "fstat";
    if (fstat(fd, &st) != 0)
        goto fail;
    what = "ftruncate"; /* a fresh file grows to its size, zero-filled; never shrinks */
    if ((size_t)st.st_size < sizeof(struct metrics_file)) {
        if (!is_writer || ftruncate(fd, sizeof(struct metrics_file)) != 0) {
            errno = is_writer ? errno : EINVAL;
            goto fail;
        }
    }
    what = "mmap";
    struct metrics_file *f =
        mmap(NULL, sizeof *f, PROT_READ | (is_writer ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (f == MAP_FAILED)
        goto fail;
    close(fd);
    if ((is_writer && stamp(f) != 0) ||
        (!is_writer && (f->magic != FILE_MAGIC || f->layout != FILE_LAYOUT))) {
        munmap(f, sizeof *f);
        snprintf(err, err_len, "metrics file %s: not a metrics file of this build", path);
        return METRICS_ERR_FORMAT;
    }
    *out = &f->record;
    return METRICS_OK;
fail:
    snprintf(err, err_len, "metrics file %s: %s: %s", path, what,
             errno == EINVAL && !is_writer ? "too short to be a metrics file" : strerror(errno));
    if (fd >= 0)
        close(fd);
    return METRICS_ERR_SYS;
}

void metrics_file_close(struct metrics_record *r) {
    if (r)
        munmap((char *)r - offsetof(struct metrics_file, record), sizeof(struct metrics_file));
}

enum metric metrics_login_outcome(const char *what) {
    for (int m = METRIC_LOGIN_FIRST; m < METRIC_LOGIN_OTHER; m++)
        if (what && strcmp(defs[m].value, what) == 0)
            return (enum metric)m;
    return METRIC_LOGIN_OTHER;
}

enum metric metrics_status(int status) {
    static const int listed[] = {400, 401, 404, 405, 408, 413, 415, 429, 503};
    if (status >= 200 && status < 300)
        return METRIC_STATUS_2XX;
    for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
        if (listed[i] == status)
            return (enum metric)(METRIC_STATUS_400 + (int)i);
    return METRIC_STATUS_OTHER;
}

void metrics_login_record(struct metrics_record *r, const char *what, int status) {
    metrics_add(r, metrics_login_outcome(what), 1);
    metrics_add(r, metrics_status(status), 1);
}

enum metric metrics_refusal(const char *reason) {
    static const struct {
        const char *reason; /* handshake.h's text */
        enum metric m;
    } map[] = {
        {"missing token", METRIC_WS_REFUSED_MISSING_TOKEN},
        {"invalid token", METRIC_WS_REFUSED_INVALID_TOKEN},
        {"token expired", METRIC_WS_REFUSED_EXPIRED_TOKEN},
        {"origin not allowed", METRIC_WS_REFUSED_ORIGIN},
        {"unknown path", METRIC_WS_REFUSED_PATH},
        {"too many connections", METRIC_WS_REFUSED_CAPACITY},
        {"database unavailable", METRIC_WS_REFUSED_DATABASE},
        {"shutting down", METRIC_WS_REFUSED_SHUTTING_DOWN},
    };
    for (size_t i = 0; reason && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].reason, reason) == 0)
            return map[i].m;
    return METRIC_WS_REFUSED_OTHER;
}

/* Appends the printf output to out at *used; -1 when it does not fit. */
static int append(char *out, size_t out_len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int append(char *out, size_t out_len, size_t *used, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, out_len - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= out_len - *used)
        return -1;
    *used += (size_t)n;
    return 0;
}

/* One slot: the family's header when it starts here, then its sample line. */
static int format_one(const uint64_t values[METRIC_N], int m, int is_first, char *out,
                      size_t out_len, size_t *used) {
    const struct metric_def *d = &defs[m];
    if ((is_first || strcmp(defs[m - 1].name, d->name) != 0) &&
        append(out, out_len, used, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
               d->type == GAUGE ? "gauge" : "counter") != 0)
        return -1;
    if (d->type == GAUGE) /* a sum of increments and decrements: signed */
        return d->label ? append(out, out_len, used, "%s{%s=\"%s\"} %lld\n", d->name, d->label,
                                 d->value, (long long)values[m])
                        : append(out, out_len, used, "%s %lld\n", d->name, (long long)values[m]);
    return d->label
               ? append(out, out_len, used, "%s{%s=\"%s\"} %llu\n", d->name, d->label, d->value,
                        (unsigned long long)values[m])
               : append(out, out_len, used, "%s %llu\n", d->name, (unsigned long long)values[m]);
}

long metrics_format(const uint64_t values[METRIC_N], enum metric first, enum metric last, char *out,
                    size_t out_len) {
    size_t used = 0;
    if (out_len == 0)
        return METRICS_ERR_SPACE;
    out[0] = '\0';
    for (int m = first; m < (int)last && m < METRIC_N; m++)
        if (format_one(values, m, m == (int)first, out, out_len, &used) != 0)
            return METRICS_ERR_SPACE;
    return (long)used;
}
