/* adopt.c -- taking connections from our own listening socket into libwebsockets, within a cap.
 *
 * Each worker opens its own SO_REUSEPORT listener (listen.c), which libwebsockets 4.1 cannot do,
 * and watches it as a raw file. When it is readable, adopt_accept() accepts a bounded batch
 * (ADOPT_BATCH, so one busy listener cannot starve the sessions) and hands each connection to
 * lws_adopt_socket_vhost(), which treats it as if its own listener had accepted it. At most
 * max_adopted connections are adopted at once (counted until LWS_CALLBACK_WSI_DESTROY); past
 * that, connections are accepted and closed at once. Out of descriptors (EMFILE/ENFILE) the
 * spare descriptor is given up for the moment an accept-and-close takes, else the listener
 * would stay readable and the loop would spin. Each refusal episode is logged once
 * (refuse_flood), and its end too (refuse_flood_over, with how many were refused): when a
 * connection is accepted again, or ADDRLIMIT_QUIET_MS after the last refusal (adopt_tick()).
 *
 * Per client address (addrlimit.h): a connection counts as a handshake in progress from its
 * accept until adopt_handshake_over() (its upgrade request was read and checked) or its end; the
 * table entry rides on the wsi as lws' opaque user data meanwhile. An address already holding
 * max_pending_per_addr of them has its new connections closed at once, so it cannot hold every
 * lws header buffer (the pool is sized for the whole cap, main.c) nor the room for handshakes.
 * Failed token checks are counted per window; adopt_auth_wait_s() then answers for
 * handshake-time refusals; behind a proxy on this host (a loopback peer) they count under the
 * client address the proxy put last in X-Forwarded-For, when trust_forwarded. Episodes are logged
 * at their start (handshake_flood, auth_throttle) and end (..._over, with how many were refused),
 * never per connection.
 *
 * It does not read a byte of the connections (lws does) nor know about sessions; an EAGAIN
 * simply means a sibling worker took the connection. */
#include "adopt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "prog.h"

#define SWEEP_MS 1000 /* how often addrlimit_sweep() runs */

/* Accepts one waiting connection and closes it at once; logged once per episode. */
static void refuse_one(struct adopt_state *a, int listen_fd, const char *why) {
    if (!a->is_refusing)
        log_msg(PROG, "refuse_flood", "%s: new connections are closed at once", why);
    a->is_refusing = 1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        metrics_add(a->metrics, METRIC_WS_REFUSED_OVERLOAD, 1);
        a->n_refused++;
        a->last_refused_ms = clock_monotonic_ms();
    }
}

/* The refuse_flood episode, if one is open, is over: logged with its count. */
static void end_refusing(struct adopt_state *a, const char *msg) {
    if (!a->is_refusing)
        return;
    struct log_line line;
    log_begin(&line, PROG, "refuse_flood_over");
    log_int(&line, "refused", a->n_refused);
    log_str(&line, "msg", msg);
    log_end(&line, 2);
    a->is_refusing = 0;
    a->n_refused = 0;
}

/* The addrlimit report function: one line at each episode's start and end. */
static void report_episode(const struct addrlimit_entry *e, int kind, void *arg) {
    const struct addrlimit *t = arg;
    char addr[ADDRLIMIT_ADDR_TEXT];
    addrlimit_format(e, addr, sizeof addr);
    struct log_line line;
    static const char *const events[] = {"", "handshake_flood", "handshake_flood_over",
                                         "auth_throttle", "auth_throttle_over"};
    log_begin(&line, PROG, events[kind]);
    log_str(&line, "addr", addr);
    if (kind == ADDRLIMIT_PENDING_BEGIN) {
        log_int(&line, "pending", e->n_pending);
        log_str(&line, "msg", "TOKENAUTH_WS_ADDR_HANDSHAKES reached: new connections closed");
    } else if (kind == ADDRLIMIT_PENDING_OVER) {
        log_int(&line, "refused", e->n_refused_pending);
    } else if (kind == ADDRLIMIT_AUTH_BEGIN) {
        log_int(&line, "failures", e->n_failures);
        log_int(&line, "window_s", t->window_ms / 1000);
        log_str(&line, "msg", "TOKENAUTH_WS_AUTH_FAILURES reached: handshakes get 429");
    } else {
        log_int(&line, "refused", e->n_refused_auth);
    }
    log_end(&line, 2);
}

int adopt_init(struct adopt_state *a, size_t max_adopted, const struct adopt_limits *limits) {
    a->max_adopted = max_adopted;
    a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
        seed = (uint64_t)clock_monotonic_us() ^ (uint64_t)getpid() << 32;
    if (addrlimit_init(&a->addrs, (size_t)limits->n_addrs, (uint32_t)limits->max_pending_per_addr,
                       (uint32_t)limits->max_auth_failures, limits->auth_window_s, seed) != 0)
        return -1;
    a->trust_forwarded = limits->trust_forwarded;
    a->addrs.report = report_episode;
    a->addrs.report_arg = &a->addrs;
    return 0;
}

int adopt_add_vhost(struct adopt_state *a, struct lws_vhost *vh) {
    if (a->n_vhosts == ADOPT_VHOSTS_MAX)
        return -1;
    a->vhosts[a->n_vhosts++] = (struct adopt_vhost){.vhost = vh};
    return 0;
}

struct adopt_vhost *adopt_pick_vhost(struct adopt_state *a) {
    struct adopt_vhost *best = a->n_vhosts ? &a->vhosts[0] : NULL;
    for (size_t i = 1; i < a->n_vhosts; i++)
        if (a->vhosts[i].n_adopted < best->n_adopted)
            best = &a->vhosts[i];
    return best;
}

/* The added vhost wsi belongs to, or NULL. */
static struct adopt_vhost *vhost_of(struct adopt_state *a, struct lws *wsi) {
    struct lws_vhost *vh = lws_get_vhost(wsi);
    for (size_t i = 0; i < a->n_vhosts; i++)
        if (a->vhosts[i].vhost == vh)
            return &a->vhosts[i];
    return NULL;
}

/* Hands fd (accepted from sa) to lws, unless its address holds too many handshakes. */
static void adopt_one(struct adopt_state *a, struct lws *listener, int fd,
                      const struct sockaddr *sa) {
    unsigned char key[16];
    int64_t now_ms = clock_monotonic_ms();
    struct addrlimit_entry *e =
        addrlimit_key(sa, key) == 0 ? addrlimit_get(&a->addrs, key, now_ms) : NULL;
    if (e && addrlimit_begin(&a->addrs, e, now_ms) != 0) {
        close(fd);
        metrics_add(a->metrics, METRIC_WS_REFUSED_HANDSHAKE_FLOOD, 1);
        return;
    }
    struct adopt_vhost *target = adopt_pick_vhost(a);
    struct lws *wsi = lws_adopt_socket_vhost(target ? target->vhost : lws_get_vhost(listener), fd);
    if (!wsi) {
        log_msg(PROG, "error", "could not adopt an accepted connection");
        if (e)
            addrlimit_end(e);
        return;
    }
    a->n_adopted++;
    if (target)
        target->n_adopted++;
    lws_set_opaque_user_data(wsi, e);
}

int adopt_accept(struct adopt_state *a, struct lws *listener) {
    int listen_fd = (int)lws_get_socket_fd(listener);
    a->listener = listener;
    for (int i = 0; i < ADOPT_BATCH; i++) {
        if (a->n_adopted >= a->max_adopted) {
            refuse_one(a, listen_fd, "too many pending connections");
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t ss_len = sizeof ss;
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &ss_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && a->spare_fd >= 0) {
            close(a->spare_fd);
            refuse_one(a, listen_fd, "out of file descriptors");
            a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            continue;
        }
        if (fd < 0)
            break; /* EAGAIN: all taken (maybe by a sibling worker) */
        end_refusing(a, "accepting connections again");
        adopt_one(a, listener, fd, (const struct sockaddr *)&ss);
    }
    return 0;
}

/* Whether key is a loopback address (127.0.0.0/8, or ::1 whose /64 is all zero): a proxy on
 * this host. */
static int is_loopback(const unsigned char key[16]) {
    static const unsigned char mapped_127[13] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127};
    static const unsigned char zero[16];
    return memcmp(key, mapped_127, 13) == 0 || memcmp(key, zero, 16) == 0;
}

/* The key of the last address in wsi's X-Forwarded-For (the one the nearest proxy added) into
 * key. Returns 0, or -1 when there is none or it is no plain IPv4/IPv6 address. */
static int forwarded_key(struct lws *wsi, unsigned char key[16]) {
    char buf[1024];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) <= 0 ||
        lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_X_FORWARDED_FOR) < 0)
        return -1;
    char *last = strrchr(buf, ',');
    last = last ? last + 1 : buf;
    last += strspn(last, " \t");
    last[strcspn(last, " \t")] = '\0';
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    if (inet_pton(AF_INET, last, &in.sin_addr) == 1)
        return addrlimit_key((const struct sockaddr *)&in, key);
    if (inet_pton(AF_INET6, last, &in6.sin6_addr) == 1)
        return addrlimit_key((const struct sockaddr *)&in6, key);
    return -1;
}

/* The entry failed token checks of wsi count under: its peer's, or with trust_forwarded and a
 * loopback peer, the forwarded client's. NULL when untracked. */
static struct addrlimit_entry *auth_entry(struct adopt_state *a, struct lws *wsi, int64_t now_ms) {
    struct addrlimit_entry *e = lws_get_opaque_user_data(wsi);
    unsigned char key[16];
    if (e && a->trust_forwarded && is_loopback(e->addr) && forwarded_key(wsi, key) == 0)
        return addrlimit_get(&a->addrs, key, now_ms);
    return e;
}

long adopt_auth_wait_s(struct adopt_state *a, struct lws *wsi) {
    int64_t now_ms = clock_monotonic_ms();
    struct addrlimit_entry *e = auth_entry(a, wsi, now_ms);
    return e ? addrlimit_auth_wait_s(&a->addrs, e, now_ms) : 0;
}

void adopt_handshake_over(struct adopt_state *a, struct lws *wsi, int is_auth_failure) {
    struct addrlimit_entry *e = lws_get_opaque_user_data(wsi);
    if (!e)
        return;
    int64_t now_ms = clock_monotonic_ms();
    struct addrlimit_entry *failed = is_auth_failure ? auth_entry(a, wsi, now_ms) : NULL;
    if (failed)
        addrlimit_fail(&a->addrs, failed, now_ms);
    addrlimit_end(e);
    lws_set_opaque_user_data(wsi, NULL);
}

void adopt_tick(struct adopt_state *a) {
    int64_t now_ms = clock_monotonic_ms();
    if (now_ms - a->last_sweep_ms < SWEEP_MS)
        return;
    a->last_sweep_ms = now_ms;
    addrlimit_sweep(&a->addrs, now_ms);
    if (now_ms - a->last_refused_ms >= ADDRLIMIT_QUIET_MS)
        end_refusing(a, "no connection refused for a second");
}

int64_t adopt_next_tick_ms(const struct adopt_state *a) {
    return a->addrs.n_episodes || a->is_refusing ? a->last_sweep_ms + SWEEP_MS : 0;
}

void adopt_release(struct adopt_state *a, struct lws *wsi) {
    if (wsi == a->listener)
        return;
    adopt_handshake_over(a, wsi, 0);
    if (a->n_adopted > 0)
        a->n_adopted--;
    struct adopt_vhost *v = vhost_of(a, wsi);
    if (v && v->n_adopted > 0)
        v->n_adopted--;
}

void adopt_free(struct adopt_state *a) {
    end_refusing(a, "the process ends");
    if (a->spare_fd >= 0)
        close(a->spare_fd);
    a->spare_fd = -1;
    if (a->addrs.entries)
        addrlimit_sweep(&a->addrs, INT64_MAX); /* the episodes going on end with the process */
    addrlimit_free(&a->addrs);
}
