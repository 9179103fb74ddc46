/* ticker.h -- the worker's own timer: a timerfd that lws polls like any socket (protocol.c
 * adopts it as a raw file), armed for the earliest moment some periodic work is due.
 *
 * Why not lws's timers (lws_sul_schedule): libwebsockets 4.1's poll loop turns the time left
 * until the next one into whole milliseconds by truncating, so poll() returns up to 1 ms early
 * and lws then calls poll(..., 0) again and again until the timer is due. Each firing thus
 * spun about 1 ms of CPU; two timers (the revocation check every 500 ms, the log flush every
 * 250 ms) cost an idle process about 6 ms of CPU a second, and the 1,000+ processes of
 * --workers 0 with a large --max-connections more than both cores (docs/websocket.md,
 * *Sizing the workers*). A timerfd wakes poll() at its due time, never before.
 * Limits: one due time at a time (the earliest asked for); millisecond resolution. */
#ifndef TOKENAUTH_TICKER_H
#define TOKENAUTH_TICKER_H

#include <stdint.h>

struct ticker {
    int fd;         /* the timerfd, -1 when none */
    int64_t due_ms; /* when it is armed for (clock.h's monotonic ms), 0 when disarmed */
};

/* Creates the timerfd (non-blocking, close-on-exec), disarmed. Returns 0, or -1 with errno. */
int ticker_open(struct ticker *t);

/* Arms it for due_ms unless it is already armed for that moment or earlier. Returns 0, or -1
 * with errno (timerfd_settime failed; the earlier due time stays). */
int ticker_arm(struct ticker *t, int64_t due_ms);

/* After poll() said the fd is readable: consumes the expiry and disarms it. Returns 1 when it
 * had expired, 0 when not (a spurious wake-up). */
int ticker_fired(struct ticker *t);

/* Closes the fd unless it was handed to lws (which closes it with its wsi): call with
 * owned_elsewhere 1 then. */
void ticker_close(struct ticker *t, int owned_elsewhere);

#endif
