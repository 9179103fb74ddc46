/* publisher.h -- the publishing side of wsload's fanout and personal modes: a thread that
 * PUBLISHes through Redis, in the wire format of channels_redis' RedisPubSubChannelLayer, and
 * the count of deliveries that tells it when a publication was taken.
 *
 * Publication s carries the data {"t": <ns>, "s": s}: t is the CLOCK_MONOTONIC time it was
 * sent (or, at a fixed rate, scheduled: a publisher falling behind shows as latency), as a
 * whole number of ns (exact in a double, as cJSON holds it, for 104 days of uptime); s counts
 * from 0. It goes packed by event.h (msgpack {"type": "tokenauth.message", "data": ...}) to
 * the key "<prefix>__group__<channel>" of each channel of the options, with bus.h's blocking
 * publisher: one PUBLISH for one channel, a pipeline for several. The wsload threads that
 * receive the deliveries call publisher_delivered(s) for each; once per_publication of them
 * arrived, publication s is taken.
 *
 * Two ways to publish:
 *   window  at most `window` publications published and not yet taken: as fast as the
 *           subscribers take them. With rounds > 0 it stops after that many publications,
 *           each timed from its sending to its taking (window 1 makes rounds sequential).
 *   rate    `rate` publications per second on a fixed schedule, whatever is taken.
 * A publication that Redis delivered to no subscriber, a Redis error, or no publication taken
 * for stall_s seconds while some are outstanding stops the thread with an error.
 *
 * Limits: at most PUBLISHER_RING publications outstanding (the window is capped below it; a
 * fixed rate that falls that far behind stops with PUBLISHER_ERR_STALLED), PUBLISHER_MAX_ROUNDS
 * rounds. The URL forms are bus.h's; a password or a db other than 0 is refused here, since
 * publisher_wait_subscribed asks Redis directly. */
#ifndef TOKENAUTH_BENCH_PUBLISHER_H
#define TOKENAUTH_BENCH_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#define PUBLISHER_OK 0
#define PUBLISHER_ERR_INVALID -1 /* bad options or URL: err says which */
#define PUBLISHER_ERR_REDIS -2   /* Redis could not be reached or answered with an error */
#define PUBLISHER_ERR_STALLED -3 /* nothing taken for stall_s, or no subscriber at all */
#define PUBLISHER_ERR_NOMEM -4

#define PUBLISHER_RING 65536 /* publications outstanding at most */
#define PUBLISHER_MAX_WINDOW 4096
#define PUBLISHER_MAX_ROUNDS 1000

struct publisher_opts {
    const char *redis_url;       /* bus.h's forms, without password or db */
    const char *prefix;          /* channels_redis' prefix, "asgi" */
    const char *const *channels; /* where each publication goes; not copied */
    size_t n_channels;
    uint64_t per_publication; /* deliveries that make one publication taken */
    int window;               /* window mode: publications outstanding at most */
    double rate;              /* > 0: publications per second, window ignored */
    int rounds;               /* > 0: stop after this many publications (window mode) */
    double stall_s;           /* seconds without a publication taken before giving up */
};

struct publisher;

/* Waits until Redis counts at least one subscriber on the key of every channel (PUBSUB
 * NUMSUB, in batches), for at most timeout_s. PUBLISHER_OK, PUBLISHER_ERR_STALLED when some
 * channel still has none, PUBLISHER_ERR_INVALID or PUBLISHER_ERR_REDIS; err ("what: why") on
 * error. */
int publisher_wait_subscribed(const char *redis_url, const char *prefix,
                              const char *const *channels, size_t n_channels, double timeout_s,
                              char *err, size_t err_len);

/* A publisher for the options (o->channels is not copied), not started yet, so that the
 * receiving threads can be given it first. NULL with err filled on bad options or no memory. */
struct publisher *publisher_new(const struct publisher_opts *o, char *err, size_t err_len);

/* Starts the publishing thread (Redis is reached from it: its failures show in
 * publisher_stop). PUBLISHER_OK or PUBLISHER_ERR_NOMEM. */
int publisher_run(struct publisher *p);

/* A delivery of publication seq arrived (any thread). 0, or -1 when no such publication was
 * published (the caller counts it as an error). */
int publisher_delivered(struct publisher *p, uint64_t seq);

/* 1 once the thread has finished (its rounds, or an error), else 0. */
int publisher_finished(const struct publisher *p);

/* Publications published, and taken, so far. */
uint64_t publisher_published(const struct publisher *p);
uint64_t publisher_taken(const struct publisher *p);

/* Seconds from sending round r (0-based, r < rounds) to its taking; -1 if not taken. */
double publisher_round_s(const struct publisher *p, int r);

/* Stops the thread and waits for it. Returns PUBLISHER_OK, or the error that stopped it with
 * err filled. p stays readable until publisher_free. */
int publisher_stop(struct publisher *p, char *err, size_t err_len);

/* Frees a stopped publisher; NULL is fine. */
void publisher_free(struct publisher *p);

/* CLOCK_MONOTONIC now, in ns: the clock of "t". */
int64_t publisher_now_ns(void);

#endif
