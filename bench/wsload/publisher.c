/* publisher.c -- wsload's publishing thread: windowed or fixed-rate PUBLISHes through bus.h,
 * publications counted taken by the receiving threads, and the NUMSUB wait before it starts.
 *
 * The receiving threads count deliveries per publication in a ring of PUBLISHER_RING atomic
 * counters (publication s in slot s % PUBLISHER_RING); the thread that brings a count to
 * per_publication resets the slot, counts the publication taken and wakes the publisher
 * through an eventfd. A slot is reused only once its publication was taken (window mode) or
 * after PUBLISHER_RING later publications (rate mode, which stops before that happens).
 * `published` is raised before the PUBLISH goes out, since Redis delivers to the subscribers
 * before it answers the publisher. Not done: AUTH and SELECT for the NUMSUB connection. */
#include "publisher.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>
#include <msgpack.h>

#include "bus.h"
#include "event.h"

#define REDIS_TIMEOUT_MS 5000
#define WAIT_SLICE_MS 100 /* the longest the thread sleeps before looking at the stop flag */
#define NUMSUB_BATCH 256  /* channels per PUBSUB NUMSUB */
#define NUMSUB_PAUSE_US 50000

struct publisher {
    struct publisher_opts o;
    struct bus_url url;
    struct bus_publisher *bus;
    char key[BUS_KEY_MAX]; /* the Redis key when there is one channel */
    pthread_t thread;
    bool has_thread;
    int wake_fd; /* eventfd written each time a publication is taken */
    atomic_bool stop;
    atomic_bool finished;
    atomic_uint_fast64_t published;
    atomic_uint_fast64_t taken;
    atomic_uint counts[PUBLISHER_RING]; /* deliveries of each outstanding publication */
    int64_t *round_sent_ns;             /* o.rounds entries */
    _Atomic int64_t *round_taken_ns;    /* o.rounds entries, 0 until taken */
    int status;                         /* PUBLISHER_OK or the error that stopped the thread */
    char err[512];
};

int64_t publisher_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Records the error that stops the thread; returns it. */
__attribute__((format(printf, 3, 4))) static int fail(struct publisher *p, int status,
                                                      const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    p->status = status;
    return status;
}

/* Parses url into out, refusing what publisher_wait_subscribed cannot do. */
static int url_parse(const char *url, struct bus_url *out, char *err, size_t err_len) {
    char why[256];
    if (bus_url_parse(url, out, why, sizeof why) != BUS_OK) {
        snprintf(err, err_len, "--redis: %s (redis://host:port or unix:///path)", why);
        return PUBLISHER_ERR_INVALID;
    }
    if (out->password[0] || out->username[0] || out->db != 0) {
        snprintf(err, err_len, "--redis: a password or a db is not supported by wsload");
        return PUBLISHER_ERR_INVALID;
    }
    return PUBLISHER_OK;
}

static redisContext *redis_connect(const struct bus_url *u) {
    struct timeval tv = {REDIS_TIMEOUT_MS / 1000, (REDIS_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = u->kind == BUS_URL_UNIX ? redisConnectUnixWithTimeout(u->path, tv)
                                              : redisConnectWithTimeout(u->host, u->port, tv);
    if (c && !c->err)
        redisSetTimeout(c, tv);
    return c;
}

/* Asks NUMSUB for channels[from .. from + n) and returns how many of them, counted from from,
 * have a subscriber before the first that has none; -1 on a Redis error (err filled). */
static long numsub_prefix(redisContext *c, const char *prefix, const char *const *channels,
                          size_t from, size_t n, char *err, size_t err_len) {
    char keys[NUMSUB_BATCH][BUS_KEY_MAX];
    const char *argv[NUMSUB_BATCH + 2] = {"PUBSUB", "NUMSUB"};
    for (size_t i = 0; i < n; i++) {
        bus_channel_key(prefix, channels[from + i], keys[i], sizeof keys[i]);
        argv[i + 2] = keys[i];
    }
    redisReply *r = redisCommandArgv(c, (int)n + 2, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * n) {
        snprintf(err, err_len, "PUBSUB NUMSUB: %s", r == NULL ? c->errstr : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    size_t ok = 0;
    while (ok < n && r->element[2 * ok + 1]->type == REDIS_REPLY_INTEGER &&
           r->element[2 * ok + 1]->integer > 0)
        ok++;
    freeReplyObject(r);
    return (long)ok;
}

int publisher_wait_subscribed(const char *redis_url, const char *prefix,
                              const char *const *channels, size_t n_channels, double timeout_s,
                              char *err, size_t err_len) {
    struct bus_url url;
    int rc = url_parse(redis_url, &url, err, err_len);
    if (rc != PUBLISHER_OK)
        return rc;
    redisContext *c = redis_connect(&url);
    if (c == NULL || c->err) {
        snprintf(err, err_len, "connect to redis: %s", c ? c->errstr : "out of memory");
        redisFree(c);
        return PUBLISHER_ERR_REDIS;
    }
    int64_t deadline = publisher_now_ns() + (int64_t)(timeout_s * 1e9);
    size_t done = 0; /* channels[0 .. done) have a subscriber */
    while (done < n_channels) {
        size_t n = n_channels - done < NUMSUB_BATCH ? n_channels - done : NUMSUB_BATCH;
        long ok = numsub_prefix(c, prefix, channels, done, n, err, err_len);
        if (ok < 0) {
            rc = PUBLISHER_ERR_REDIS;
            break;
        }
        done += (size_t)ok;
        if ((size_t)ok == n)
            continue;
        if (publisher_now_ns() > deadline) {
            snprintf(err, err_len, "channel %s has no subscriber in Redis after %.0f s",
                     channels[done], timeout_s);
            rc = PUBLISHER_ERR_STALLED;
            break;
        }
        usleep(NUMSUB_PAUSE_US);
    }
    redisFree(c);
    return rc;
}

/* Publishes publication seq stamped t_ns to every channel. PUBLISHER_OK or the error. */
static int publish_one(struct publisher *p, uint64_t seq, int64_t t_ns) {
    cJSON *data = cJSON_CreateObject();
    msgpack_sbuffer buf;
    long long receivers = 0;
    msgpack_sbuffer_init(&buf);
    if (data == NULL || !cJSON_AddNumberToObject(data, "t", (double)t_ns) ||
        !cJSON_AddNumberToObject(data, "s", (double)seq) ||
        event_pack_message(data, 0, NULL, &buf) != EVENT_OK) {
        cJSON_Delete(data);
        msgpack_sbuffer_destroy(&buf);
        return fail(p, PUBLISHER_ERR_NOMEM, "publication %llu: packing failed",
                    (unsigned long long)seq);
    }
    cJSON_Delete(data);
    int rc = p->o.n_channels == 1
                 ? bus_publish(p->bus, p->key, buf.data, buf.size, &receivers)
                 : bus_publish_channels(p->bus, p->o.prefix, p->o.channels, p->o.n_channels,
                                        buf.data, buf.size, &receivers);
    msgpack_sbuffer_destroy(&buf);
    if (rc != BUS_OK)
        return fail(p, PUBLISHER_ERR_REDIS, "%s", bus_publisher_error(p->bus));
    if (receivers < (long long)p->o.n_channels)
        return fail(p, PUBLISHER_ERR_STALLED,
                    "publication %llu reached %lld subscribers in Redis for %zu channels",
                    (unsigned long long)seq, receivers, p->o.n_channels);
    return PUBLISHER_OK;
}

/* Window mode: publishes the next publication now. */
static int publish_next(struct publisher *p) {
    uint64_t seq = atomic_load(&p->published);
    int64_t now = publisher_now_ns();
    if (seq < (uint64_t)p->o.rounds)
        p->round_sent_ns[seq] = now;
    atomic_store(&p->published, seq + 1);
    return publish_one(p, seq, now);
}

/* Waits up to WAIT_SLICE_MS for a publication to be taken; fails when none was for stall_s.
 * *last_taken and *last_progress_ns carry the progress seen so far. */
static int wait_taken(struct publisher *p, uint64_t *last_taken, int64_t *last_progress_ns) {
    struct pollfd pfd = {.fd = p->wake_fd, .events = POLLIN};
    uint64_t wakes;
    if (poll(&pfd, 1, WAIT_SLICE_MS) > 0 && read(p->wake_fd, &wakes, sizeof wakes) < 0 &&
        errno != EAGAIN)
        return fail(p, PUBLISHER_ERR_NOMEM, "eventfd: %s", strerror(errno));
    uint64_t taken = atomic_load(&p->taken);
    int64_t now = publisher_now_ns();
    if (taken != *last_taken) {
        *last_taken = taken;
        *last_progress_ns = now;
    } else if (now - *last_progress_ns > (int64_t)(p->o.stall_s * 1e9)) {
        return fail(p, PUBLISHER_ERR_STALLED,
                    "no publication taken by all %llu subscribers for %.0f s (%llu published, "
                    "%llu taken)",
                    (unsigned long long)p->o.per_publication, p->o.stall_s,
                    (unsigned long long)atomic_load(&p->published), (unsigned long long)taken);
    }
    return PUBLISHER_OK;
}

/* Window mode: keeps `window` publications outstanding until stopped or the rounds are done. */
static void run_window(struct publisher *p) {
    uint64_t last_taken = 0, rounds = (uint64_t)p->o.rounds;
    int64_t last_progress_ns = publisher_now_ns();
    while (!atomic_load(&p->stop)) {
        uint64_t published = atomic_load(&p->published), taken = atomic_load(&p->taken);
        if (rounds > 0 && taken >= rounds)
            return;
        bool may_publish = rounds == 0 || published < rounds;
        if (may_publish && published - taken < (uint64_t)p->o.window) {
            if (publish_next(p) != PUBLISHER_OK)
                return;
            continue;
        }
        if (wait_taken(p, &last_taken, &last_progress_ns) != PUBLISHER_OK)
            return;
    }
}

/* Sleeps until due_ns (CLOCK_MONOTONIC) or the stop flag, in slices. */
static void sleep_until(struct publisher *p, int64_t due_ns) {
    int64_t now;
    while (!atomic_load(&p->stop) && (now = publisher_now_ns()) < due_ns) {
        int64_t ns =
            due_ns - now < WAIT_SLICE_MS * 1000000LL ? due_ns - now : WAIT_SLICE_MS * 1000000LL;
        struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
        nanosleep(&ts, NULL);
    }
}

/* Rate mode: publication k is due at start + k / rate and stamped with that time. */
static void run_rate(struct publisher *p) {
    int64_t start_ns = publisher_now_ns();
    for (uint64_t k = 0; !atomic_load(&p->stop); k++) {
        int64_t due_ns = start_ns + (int64_t)((double)k * 1e9 / p->o.rate);
        sleep_until(p, due_ns);
        if (atomic_load(&p->stop))
            return;
        if (k - atomic_load(&p->taken) >= PUBLISHER_RING) {
            fail(p, PUBLISHER_ERR_STALLED,
                 "%d publications outstanding: the subscribers fell "
                 "behind the rate",
                 PUBLISHER_RING);
            return;
        }
        atomic_store(&p->published, k + 1);
        if (publish_one(p, k, due_ns) != PUBLISHER_OK)
            return;
    }
}

static void *publisher_main(void *arg) {
    struct publisher *p = arg;
    if (p->o.rate > 0)
        run_rate(p);
    else
        run_window(p);
    atomic_store(&p->finished, true);
    return NULL;
}

int publisher_delivered(struct publisher *p, uint64_t seq) {
    if (seq >= atomic_load(&p->published))
        return -1;
    unsigned n = atomic_fetch_add(&p->counts[seq % PUBLISHER_RING], 1) + 1;
    if (n != p->o.per_publication)
        return 0;
    atomic_store(&p->counts[seq % PUBLISHER_RING], 0);
    if (seq < (uint64_t)p->o.rounds)
        atomic_store(&p->round_taken_ns[seq], publisher_now_ns());
    atomic_fetch_add(&p->taken, 1);
    uint64_t one = 1;
    if (write(p->wake_fd, &one, sizeof one) < 0) {
        /* EAGAIN only, when the counter is full: the publisher is awake anyway */
    }
    return 0;
}

/* Checks the options; PUBLISHER_OK or PUBLISHER_ERR_INVALID with err filled. */
static int opts_check(const struct publisher_opts *o, char *err, size_t err_len) {
    const char *why = NULL;
    if (o->n_channels == 0 || o->channels == NULL)
        why = "no channel to publish to";
    else if (o->per_publication == 0 || o->per_publication > UINT32_MAX)
        why = "deliveries per publication out of range";
    else if (o->rate <= 0 && (o->window < 1 || o->window > PUBLISHER_MAX_WINDOW))
        why = "--window out of range";
    else if (o->rounds < 0 || o->rounds > PUBLISHER_MAX_ROUNDS)
        why = "--rounds out of range";
    else if (o->stall_s <= 0)
        why = "the stall timeout must be positive";
    if (why)
        snprintf(err, err_len, "publisher: %s", why);
    return why ? PUBLISHER_ERR_INVALID : PUBLISHER_OK;
}

struct publisher *publisher_new(const struct publisher_opts *o, char *err, size_t err_len) {
    if (opts_check(o, err, err_len) != PUBLISHER_OK)
        return NULL;
    struct publisher *p = calloc(1, sizeof *p);
    if (p == NULL)
        goto nomem;
    p->o = *o;
    p->wake_fd = -1;
    if (url_parse(o->redis_url, &p->url, err, err_len) != PUBLISHER_OK)
        goto fail;
    if (bus_channel_key(o->prefix, o->channels[0], p->key, sizeof p->key) != BUS_OK) {
        snprintf(err, err_len, "publisher: channel key too long or empty");
        goto fail;
    }
    size_t rounds = o->rounds > 0 ? (size_t)o->rounds : 1;
    p->round_sent_ns = calloc(rounds, sizeof *p->round_sent_ns);
    p->round_taken_ns = calloc(rounds, sizeof *p->round_taken_ns);
    p->bus = bus_publisher_new(&p->url, REDIS_TIMEOUT_MS);
    p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!p->round_sent_ns || !p->round_taken_ns || !p->bus || p->wake_fd < 0)
        goto nomem;
    return p;
nomem:
    snprintf(err, err_len, "publisher: out of memory or descriptors");
fail:
    publisher_free(p);
    return NULL;
}

int publisher_run(struct publisher *p) {
    if (pthread_create(&p->thread, NULL, publisher_main, p) != 0)
        return PUBLISHER_ERR_NOMEM;
    p->has_thread = true;
    return PUBLISHER_OK;
}

int publisher_finished(const struct publisher *p) {
    return atomic_load(&p->finished);
}

uint64_t publisher_published(const struct publisher *p) {
    return atomic_load(&p->published);
}

uint64_t publisher_taken(const struct publisher *p) {
    return atomic_load(&p->taken);
}

double publisher_round_s(const struct publisher *p, int r) {
    if (r < 0 || r >= p->o.rounds)
        return -1;
    int64_t taken = atomic_load(&p->round_taken_ns[r]);
    return taken == 0 ? -1 : (double)(taken - p->round_sent_ns[r]) / 1e9;
}

int publisher_stop(struct publisher *p, char *err, size_t err_len) {
    atomic_store(&p->stop, true);
    if (p->has_thread)
        pthread_join(p->thread, NULL);
    p->has_thread = false;
    if (p->status != PUBLISHER_OK)
        snprintf(err, err_len, "%s", p->err);
    return p->status;
}

void publisher_free(struct publisher *p) {
    if (p == NULL)
        return;
    if (p->has_thread)
        publisher_stop(p, p->err, sizeof p->err);
    bus_publisher_free(p->bus);
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    free(p->round_sent_ns);
    free((void *)p->round_taken_ns);
    free(p);
}
