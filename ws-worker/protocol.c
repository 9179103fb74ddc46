/* protocol.c -- the libwebsockets callback of ws-worker: one switch, one helper per event.
 *
 * The callback runs the life of the process's vhost and of each connection, in this order:
 *   PROTOCOL_INIT         the per-vhost data (settings, Origin list, database, accept state, the
 *                         revocation timer); PROTOCOL_DESTROY releases it
 *   RAW_RX_FILE           our own listener is readable: adopt.h accepts and hands over
 *   HTTP                  a plain request: 404, nothing is served here (431 for a header cut
 *                         at its limit, headerlimit.h)
 *   HTTP_CONFIRM_UPGRADE  a header cut at its limit gets 431 (headerlimit.h), before any
 *                         check reads it; an address past its failed-handshake limit gets 429
 *                         (adopt.h);
 *                         handshake.h checks the upgrade; refusals needing an HTTP status are
 *                         answered here, the last moment one can be
 *   FILTER_PROTOCOL_...   the result goes into the session (pss)
 *   ESTABLISHED           an accepted session joins the live list and its personal channel; a
 *                         refused one starts its close
 *   RECEIVE               a message (or a piece of one) runs a command, the reply is queued;
 *                         like RECEIVE_PONG, it tells keepalive.h the peer was heard from
 *   SERVER_WRITEABLE      a pending close, else a due ping, else queued replies and deliveries
 *                         (a bounded batch)
 *   CLOSED, WSI_DESTROY   the session's memory is released (what was still queued counted as
 *                         dropped, closecount.h), the close logged; the adopted
 *                         connection is no longer counted
 * The per-session data does not survive from CONFIRM_UPGRADE to the upgrade (lws binds the
 * protocol again), so the check's result waits in vhd->stash for FILTER_PROTOCOL_CONNECTION of
 * the same wsi, which checks again if the stash belongs to someone else.
 *
 * Messages: text only (binary closes 1003), at most cfg->ws_max_message_bytes (1009), valid
 * UTF-8 (1007). A message arriving whole in one callback is handled in place; a fragmented or
 * large one is reassembled in pss->msg, allocated only meanwhile. Replies (replies.h buffers,
 * built there by commands.h) and channel deliveries (pubsub.h, which owns the Redis link and the
 * channel table) queue in pss->replies and are written by writer.h in joined batches: at
 * SERVER_WRITEABLE, and deliveries directly at the end of the Redis read that brought them (a
 * closing session only at SERVER_WRITEABLE); a session starting its close
 * leaves every channel and drops its queue at once;
 * reading pauses while PROTOCOL_MAX_REPLIES answers to commands wait, and a message arriving
 * while PROTOCOL_MAX_WAITING wait closes the socket (1008).
 *
 * A tick every cfg->ws_revocation_check_ms (ticker.h: a timerfd, not an lws timer, which would
 * spin poll() for up to 1 ms before each firing) watches the database file (dbconn.h: a replaced
 * one is reopened and every session checked again, a missing one closes them with 1011) and runs
 * revocation_check(), then keepalive_sweep(): pings for the sessions silent for
 * cfg->ws_ping_interval_s, drops (no close frame) for those that then stayed silent
 * cfg->ws_ping_timeout_s more; it is armed sooner when a ping is due before the next check
 * (lws's own ping timer is off: main.c). Shutdown closes every live session with 1001 and
 * answers new handshakes with 503. Logs: one line per connect, refusal and close; never a token.
 * Connect, close and revoke lines are held in vhd->log and written together at most
 * PROTOCOL_LOG_FLUSH_MS later (the ticker is armed for then when a line is held; an idle process
 * wakes only for the checks), at shutdown and at PROTOCOL_DESTROY (one write(2) per line was 5% of
 * a handshake's CPU); a refusal writes the held lines, then itself, at once. The commands
 * themselves are commands.c's; this file does not parse JSON nor query the database directly,
 * except for the names of the connect log when they were not at hand. */
#include "protocol.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adopt.h"
#include "auth.h"
#include "clock.h"
#include "closecount.h"
#include "commands.h"
#include "config.h"
#include "db.h"
#include "dbconn.h"
#include "dbstamp.h"
#include "handshake.h"
#include "headerclose.h"
#include "headerlimit.h"
#include "keepalive.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "pubsub.h"
#include "redislink.h"
#include "prog.h"
#include "replies.h"
#include "revocation.h"
#include "sessions.h"
#include "text.h"
#include "ticker.h"
#include "writer.h"

/* Per-vhost data: what every session of this process shares. */
struct protocol_vhd {
    const struct config *cfg;            /* the settings, owned by main */
    struct lws_context *context;         /* for the timers */
    struct dbconn dbc;                   /* the read-only database connection */
    struct origin_list *hosts;           /* allowed Origin hosts */
    struct session_list live;            /* authenticated sessions */
    struct revocation_state revocation;  /* what the last revocation check saw */
    struct db_stamp db_stamp;            /* the files' stamp read before that check's query */
    int64_t db_read_ms;                  /* when that check read the database (monotonic) */
    struct keepalive keepalive;          /* which sessions to ping, which to drop */
    struct ticker ticker;                /* revocation checks and log flushes (ticker.h) */
    struct lws *ticker_wsi;              /* the ticker's fd adopted by lws, NULL until then */
    int64_t next_check_ms;               /* when the next revocation check is due */
    int64_t last_check_ms;               /* when the last one ran */
    int is_database_watched;             /* the parent tells of changes (protocol_watch_database) */
    lws_sorted_usec_list_t sul_shutdown; /* wakes the service loop while shutting down */
    struct lws *stash_wsi;               /* whose handshake result stash holds */
    struct handshake stash;              /* from CONFIRM_UPGRADE to FILTER_PROTOCOL_CONNECTION */
    struct handshake_owner owner;        /* the last accepted token's owner, for the connect log */
    struct reply_pool replies;           /* free reply buffers */
    struct writer writer;                /* queued replies onto the sockets (writer.h) */
    struct adopt_state adopt;            /* accepting from our listener, the cap, refusals */
    int is_shutting_down;                /* new handshakes get 503 */
    struct log_buffer log;               /* connect, close and revoke lines, held a moment */
    struct pubsub *pubsub;               /* the channels: Redis link, table, policy */
    struct metrics_record *metrics;      /* this worker's counters; NULL = metrics off */
};

/* The requests lws closes itself over their head, which only its log line tells of. The log emit
 * function takes no argument of ours (lws 4.1.6 has no per-context log), so this is the one
 * process-wide variable of the worker besides main's signal flags. */
static struct headerclose lws_closes;

/* Asks for the session to be closed with code. It leaves every channel at once, so nothing is
 * queued after the close. With keep_replies (an application's close) what is already queued is
 * written first, within PROTOCOL_CLOSE_FLUSH_S for a client that stops reading; else it is
 * dropped and the close frame goes out at the next writable callback. */
static void session_close_keeping(struct protocol_vhd *vhd, struct session *pss, int code,
                                  const char *reason, int keep_replies) {
    if (pss->close_code)
        return;
    pss->close_code = (uint16_t)code;
    pss->close_reason = reason;
    pss->is_flushing_before_close = keep_replies && pss->replies.head;
    closecount_add(vhd->metrics, code, reason, pss->is_flushing_before_close ? 0 : pss->replies.n);
    pubsub_session_close(vhd->pubsub, pss);
    keepalive_remove(&vhd->keepalive, &pss->keepalive);
    pss->is_ping_due = 0; /* no ping into a close */
    if (pss->is_flushing_before_close)
        lws_set_timeout(pss->wsi, PENDING_TIMEOUT_USER_OK, PROTOCOL_CLOSE_FLUSH_S);
    else
        replies_drain(&pss->replies, &vhd->replies);
    lws_callback_on_writable(pss->wsi);
}

static void session_close(struct protocol_vhd *vhd, struct session *pss, int code,
                          const char *reason) {
    session_close_keeping(vhd, pss, code, reason, 0);
}

/* pubsub.h's way to close a session (a slow consumer, an application's tokenauth.close). */
static void pubsub_close(void *arg, struct session *s, int code, const char *reason,
                         int keep_replies) {
    if (code == PUBSUB_CLOSE_SLOW_CONSUMER && !keep_replies && !s->close_code)
        metrics_add(((struct protocol_vhd *)arg)->metrics, METRIC_WS_SLOW_CONSUMERS, 1);
    session_close_keeping(arg, s, code, reason, keep_replies);
}

/* Holds a connect, close or revoke line; the ticker writes it out within
 * PROTOCOL_LOG_FLUSH_MS. */
static void log_held(struct protocol_vhd *vhd, struct log_line *line) {
    log_end_buffered(line, &vhd->log);
    ticker_arm(&vhd->ticker, clock_monotonic_ms() + PROTOCOL_LOG_FLUSH_MS);
}

static void revocation_close(struct session *s, int code, const char *reason, void *arg) {
    struct protocol_vhd *vhd = arg;
    struct log_line line;
    log_begin(&line, PROG, "revoke");
    log_int(&line, "user_id", s->user_id);
    log_str(&line, "reason", reason);
    log_held(vhd, &line);
    metrics_add(vhd->metrics, METRIC_WS_REVOCATIONS, 1);
    session_close(vhd, s, code, reason);
}

/* Once per revocation tick: a database file replaced or deleted makes the next revocation check
 * a full one. While no file is there, tokens cannot be verified: every live session is closed
 * with 1011 "database unavailable" (not 4401: the token may well be valid again once the file
 * is back, and the client should simply reconnect later). */
static void watch_db(struct protocol_vhd *vhd) {
    if (dbconn_reopen_if_moved(&vhd->dbc))
        vhd->revocation.has_version = 0;
    if (dbconn_get(&vhd->dbc) || !vhd->live.n || !dbconn_is_missing(&vhd->dbc))
        return;
    for (struct session *s = vhd->live.head; s; s = s->next)
        session_close(vhd, s, 1011, "database unavailable");
}

/* One line per revocation check that read the log or checked sessions against the database:
 * rows= log rows read, rechecked= token reads, full=1 with the reason when every session was
 * checked. A tick with nothing to do (the usual case) writes nothing. */
static void log_revocation_tick(struct protocol_vhd *vhd, const struct revocation_tick *t) {
    if (!t->n_rows && !t->n_rechecked && !t->full_reason)
        return;
    struct log_line line;
    log_begin(&line, PROG, "revocation_check");
    log_int(&line, "sessions", (long long)vhd->live.n);
    log_int(&line, "rows", (long long)t->n_rows);
    log_int(&line, "rechecked", (long long)t->n_rechecked);
    log_int(&line, "closed", (long long)t->n_closed);
    log_int(&line, "full", t->full_reason != NULL);
    if (t->full_reason)
        log_str(&line, "why", t->full_reason);
    log_held(vhd, &line);
}

/* Every cfg->ws_revocation_check_ms; the first one opens the database. The database part is
 * skipped while its files' stamp has not moved since the last check that read it (dbstamp.h:
 * two stat() calls instead of a read transaction), for at most DB_STAMP_TRUST_MAX_MS; expiry
 * is checked every time. The stamp is
 * read before the query, so a commit during the query moves it for the next check. */
static void revocation_tick(struct protocol_vhd *vhd) {
    watch_db(vhd);
    if (!vhd->live.n)
        return;
    struct timespec now_real;
    struct db_stamp stamp;
    clock_gettime(CLOCK_REALTIME, &now_real);
    db_stamp_read(vhd->cfg->db_path, &now_real, &stamp);
    int64_t now_ms = clock_monotonic_ms();
    int is_unchanged = vhd->revocation.has_version &&
                       db_stamp_may_skip(&vhd->db_stamp, &stamp, now_ms - vhd->db_read_ms);
    struct revocation_tick tick;
    int rc =
        revocation_check(&vhd->live, is_unchanged ? NULL : vhd->dbc.db, vhd->cfg->token_ttl_s,
                         (int64_t)now_real.tv_sec, &vhd->revocation, &tick, revocation_close, vhd);
    if (!is_unchanged) {
        vhd->db_stamp = rc >= 0 && vhd->dbc.db ? stamp : (struct db_stamp){0};
        vhd->db_read_ms = now_ms;
    }
    log_revocation_tick(vhd, &tick);
}

/* The gauges no event keeps: bytes queued (a walk over the live sessions) and channels. */
static void refresh_gauges(struct protocol_vhd *vhd) {
    if (!vhd->metrics)
        return;
    size_t n_bytes = 0;
    for (const struct session *s = vhd->live.head; s; s = s->next)
        n_bytes += s->replies.n_bytes;
    metrics_set(vhd->metrics, METRIC_WS_BYTES_QUEUED, n_bytes);
    metrics_set(vhd->metrics, METRIC_WS_CHANNELS, pubsub_n_channels(vhd->pubsub));
}

/* keepalive.h's callbacks: a silent session gets a ping at its next writable callback. */
static void keepalive_ping(struct keepalive_link *link, void *arg) {
    struct session *pss = lws_container_of(link, struct session, keepalive);
    (void)arg;
    pss->is_ping_due = 1;
    lws_callback_on_writable(pss->wsi);
}

/* A session that did not answer its ping is dropped without a close frame, as lws's own timer
 * did: the peer is gone or stuck, and a close frame would wait behind what it does not read. The
 * kill runs at the next service (not inside the sweep); LWS_CALLBACK_CLOSED then cleans up as
 * for any close. */
static void keepalive_drop(struct keepalive_link *link, void *arg) {
    struct session *pss = lws_container_of(link, struct session, keepalive);
    (void)arg;
    pss->is_ping_due = 0;
    pss->is_ping_timeout = 1;
    lws_set_timeout(pss->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* A session just accepted starts its silence count. The ticker is usually armed sooner (the
 * revocation period); this arms it only when that period is longer than the ping interval. */
static void keepalive_start(struct protocol_vhd *vhd, struct session *pss) {
    if (!vhd->keepalive.interval_ms)
        return;
    int64_t now_ms = clock_monotonic_ms();
    keepalive_add(&vhd->keepalive, &pss->keepalive, now_ms);
    if (ticker_arm(&vhd->ticker, now_ms + vhd->keepalive.interval_ms) != 0)
        log_msg(PROG, "error", "timerfd_settime: %s", strerror(errno));
}

/* After a revocation check: the next one in TOKENAUTH_WS_REVOCATION_CHECK_MS, or when the
 * parent watches the database, in PROTOCOL_WATCHED_CHECK_MS or at the earliest token expiry. */
static int64_t next_check_after(const struct protocol_vhd *vhd, int64_t now_ms) {
    int64_t period = vhd->cfg->ws_revocation_check_ms;
    if (!vhd->is_database_watched)
        return now_ms + period;
    int64_t due =
        now_ms + (period > PROTOCOL_WATCHED_CHECK_MS ? period : PROTOCOL_WATCHED_CHECK_MS);
    int64_t expiry_s = vhd->revocation.next_expiry_s;
    if (expiry_s) {
        int64_t in_ms = (expiry_s - (int64_t)time(NULL) + 1) * 1000; /* whole seconds: +1 */
        int64_t at = now_ms + (in_ms > period ? in_ms : period);
        if (at < due)
            due = at;
    }
    return due;
}

void protocol_watch_database(struct protocol_vhd *vhd) {
    vhd->is_database_watched = 1;
}

/* Brings the next revocation check forward to due, never sooner than a period after the last. */
static void check_by(struct protocol_vhd *vhd, int64_t due) {
    int64_t earliest = vhd->last_check_ms + vhd->cfg->ws_revocation_check_ms;
    if (due < earliest)
        due = earliest;
    if (due >= vhd->next_check_ms)
        return;
    vhd->next_check_ms = due;
    if (ticker_arm(&vhd->ticker, due) != 0)
        log_msg(PROG, "error", "timerfd_settime: %s", strerror(errno));
}

void protocol_database_changed(struct protocol_vhd *vhd) {
    check_by(vhd, clock_monotonic_ms());
}

/* When the ticker fires next: the revocation check, or the next ping or drop if sooner, yet not
 * sooner than PROTOCOL_KEEPALIVE_SLACK_MS from now, so that sockets whose due times are spread
 * out cost a few wake-ups a second, each sweep handling all those due meanwhile; sooner still
 * while a refusal episode is open (adopt_next_tick_ms). */
static int64_t next_tick_ms(const struct protocol_vhd *vhd, int64_t now_ms) {
    int64_t due = keepalive_next_due_ms(&vhd->keepalive);
    if (!due || due >= vhd->next_check_ms)
        due = vhd->next_check_ms;
    else if (due < now_ms + PROTOCOL_KEEPALIVE_SLACK_MS)
        due = now_ms + PROTOCOL_KEEPALIVE_SLACK_MS;
    if (due > vhd->next_check_ms)
        due = vhd->next_check_ms;
    int64_t episodes = adopt_next_tick_ms(&vhd->adopt);
    return episodes && episodes < due ? episodes : due;
}

/* A refusal episode may have begun: the ticker comes back for its end within about a second,
 * not at the next revocation check (10 s with --workers N: PROTOCOL_WATCHED_CHECK_MS). Does
 * nothing (no system call) when none is open or the ticker is due sooner. */
static void tick_for_episodes(struct protocol_vhd *vhd) {
    int64_t due = adopt_next_tick_ms(&vhd->adopt);
    if (due && ticker_arm(&vhd->ticker, due) != 0)
        log_msg(PROG, "error", "timerfd_settime: %s", strerror(errno));
}

/* Our listener is readable: connections are accepted (adopt.h), some maybe refused. */
static int on_accept(struct protocol_vhd *vhd, struct lws *listener) {
    int rc = adopt_accept(&vhd->adopt, listener);
    tick_for_episodes(vhd);
    return rc;
}

/* The ticker's fd is readable: the revocation check when due, the keepalive sweep, the held log
 * lines in one write, the address table's sweep and the gauges; then armed for the next check
 * or ping (a held line arms it earlier). */
static int on_tick(struct protocol_vhd *vhd) {
    if (!ticker_fired(&vhd->ticker))
        return 0;
    int64_t now_ms = clock_monotonic_ms();
    if (now_ms >= vhd->next_check_ms) {
        revocation_tick(vhd);
        vhd->last_check_ms = now_ms;
        vhd->next_check_ms = next_check_after(vhd, now_ms);
    }
    keepalive_sweep(&vhd->keepalive, now_ms, keepalive_ping, keepalive_drop, vhd);
    log_buffer_flush(&vhd->log);
    adopt_tick(&vhd->adopt);
    refresh_gauges(vhd);
    if (ticker_arm(&vhd->ticker, next_tick_ms(vhd, now_ms)) != 0)
        log_msg(PROG, "error", "timerfd_settime: %s", strerror(errno));
    return 0;
}

/* Starts a log line for event with the peer's address, the first field of connect and refuse. */
static void log_begin_peer(struct log_line *line, const char *event, struct lws *wsi) {
    char addr[64] = "";
    lws_get_peer_simple(wsi, addr, sizeof addr);
    log_begin(line, PROG, event);
    log_str(line, "addr", addr);
}

/* A refusal is written at once, in the same write as the lines held before it (they stay in
 * order): the peer address, the reason, the status or close code. */
static void log_refusal(struct protocol_vhd *vhd, struct lws *wsi, const struct handshake *hs) {
    struct log_line line;
    log_begin_peer(&line, "refuse", wsi);
    log_str(&line, "reason", hs->reason);
    if (hs->http_status)
        log_int(&line, "status", hs->http_status);
    else
        log_int(&line, "code", hs->close_code);
    log_end_buffered(&line, &vhd->log);
    metrics_add(vhd->metrics, metrics_refusal(hs->reason), 1);
    log_buffer_flush(&vhd->log);
}

static void shutdown_tick(lws_sorted_usec_list_t *sul) {
    struct protocol_vhd *vhd = lws_container_of(sul, struct protocol_vhd, sul_shutdown);
    lws_sul_schedule(vhd->context, 0, &vhd->sul_shutdown, shutdown_tick, 50 * LWS_US_PER_MS);
}

/* What lws keeps per vhost for this protocol: the per-vhost data, owned by the vhost of the
 * process's first context and shared by the others' (protocol_join). */
struct vhd_ref {
    struct protocol_vhd *vhd;
};

static struct protocol_vhd *vhd_of(struct lws_vhost *vh, const struct lws_protocols *protocol) {
    const struct vhd_ref *ref = vh ? lws_protocol_vh_priv_get(vh, protocol) : NULL;
    return ref ? ref->vhd : NULL;
}

/* The per-vhost data of the first context: settings, Origin list, database, accept state,
 * channels, the timer. Returns 0 or -1 (logged). */
static int vhd_init(struct protocol_vhd *vhd, struct lws *wsi, const struct config *cfg) {
    struct lws_vhost *vh = lws_get_vhost(wsi);
    vhd->context = lws_get_context(wsi);
    vhd->cfg = cfg;
    log_buffer_init(&vhd->log, 2);
    keepalive_init(&vhd->keepalive, (int64_t)vhd->cfg->ws_ping_interval_s * 1000,
                   (int64_t)vhd->cfg->ws_ping_timeout_s * 1000);
    dbconn_init(&vhd->dbc, vhd->cfg->db_path, vhd->cfg->db_busy_timeout_ms);
    /* Before anything can fail: PROTOCOL_DESTROY then finds a valid (or -1) spare fd. */
    const struct adopt_limits limits = {.max_pending_per_addr = vhd->cfg->ws_addr_handshakes,
                                        .max_auth_failures = vhd->cfg->ws_auth_failures,
                                        .auth_window_s = vhd->cfg->ws_auth_window_s,
                                        .n_addrs = vhd->cfg->ws_addr_table,
                                        .trust_forwarded = vhd->cfg->ws_trust_forwarded};
    if (adopt_init(&vhd->adopt, (size_t)vhd->cfg->ws_max_connections + PROTOCOL_PENDING_MAX,
                   &limits) != 0) {
        log_msg(PROG, "error", "no memory for TOKENAUTH_WS_ADDR_TABLE addresses");
        return -1;
    }
    adopt_add_vhost(&vhd->adopt, vh); /* the first of at most ADOPT_VHOSTS_MAX */
    char err[256];
    if (origin_list_parse(vhd->cfg->allowed_hosts, ORIGIN_HOSTS, &vhd->hosts, err, sizeof err)) {
        log_msg(PROG, "error", "TOKENAUTH_ALLOWED_HOSTS: %s", err);
        return -1;
    }
    vhd->pubsub = pubsub_create(vhd->context, vh, vhd->cfg, &vhd->replies, pubsub_close, vhd, err,
                                sizeof err);
    if (!vhd->pubsub) {
        log_msg(PROG, "error", "%s", err);
        return -1;
    }
    vhd->writer.pool = &vhd->replies;
    pubsub_set_writer(vhd->pubsub, &vhd->writer);
    if (ticker_open(&vhd->ticker) != 0) {
        log_msg(PROG, "error", "timerfd_create: %s", strerror(errno));
        return -1;
    }
    revocation_tick(vhd); /* the first one opens the database */
    vhd->next_check_ms = clock_monotonic_ms() + vhd->cfg->ws_revocation_check_ms;
    if (ticker_arm(&vhd->ticker, vhd->next_check_ms) != 0) {
        log_msg(PROG, "error", "timerfd_settime: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* LWS_CALLBACK_PROTOCOL_INIT: in the process's first context, new per-vhost data; in a further
 * one, the first one's, which then takes connections into this vhost too. */
static int on_protocol_init(struct lws *wsi) {
    struct lws_vhost *vh = lws_get_vhost(wsi);
    const struct protocol_context *pc = lws_context_user(lws_get_context(wsi));
    struct vhd_ref *ref = lws_protocol_vh_priv_zalloc(vh, lws_get_protocol(wsi), sizeof *ref);
    if (!ref)
        return -1;
    if (pc->primary) {
        ref->vhd = pc->primary;
        return adopt_add_vhost(&pc->primary->adopt, vh);
    }
    ref->vhd = calloc(1, sizeof *ref->vhd);
    if (!ref->vhd)
        return -1;
    if (vhd_init(ref->vhd, wsi, pc->cfg) != 0) {
        free(ref->vhd); /* lws frees ref and will not call PROTOCOL_DESTROY for it */
        return -1;
    }
    return 0;
}

/* LWS_CALLBACK_PROTOCOL_DESTROY of the first context: the timers stop, what the vhd owns is
 * released. A further context's (destroyed first, main.c) leaves the shared data alone. */
static void on_protocol_destroy(struct protocol_vhd *vhd, struct lws *wsi) {
    if (!vhd || vhd->context != lws_get_context(wsi))
        return;
    ticker_close(&vhd->ticker, vhd->ticker_wsi != NULL); /* lws closes an adopted one */
    lws_sul_cancel(&vhd->sul_shutdown);
    log_buffer_flush(&vhd->log);
    adopt_free(&vhd->adopt);
    dbconn_close(&vhd->dbc);
    origin_list_free(vhd->hosts);
    vhd->hosts = NULL;
    pubsub_destroy(vhd->pubsub); /* before the pool: its sessions' replies go back there */
    vhd->pubsub = NULL;
    replies_free(&vhd->replies);
    free(vhd);
}

/* 431 when one header of wsi's request passed its limit (headerlimit.h), before any other
 * check reads a cut value. Returns 0 when none did, 1 when the refusal was written (hang up
 * after it), -1 when it could not be. */
static int refuse_long_header(struct protocol_vhd *vhd, struct lws *wsi) {
    char why[96];
    int per_header = headerlimit_per_header(vhd->cfg->ws_max_header_bytes);
    if (headerlimit_find(wsi, per_header, why, sizeof why) == HEADERLIMIT_OK)
        return 0;
    log_msg(PROG, "header_too_long", "%s: answered 431", why);
    metrics_add(vhd->metrics, METRIC_WS_REFUSED_HEADER_TOO_LONG, 1);
    return handshake_answer_status(wsi, 431, why, 0) ? -1 : 1;
}

/* A plain HTTP request (no upgrade): nothing is served here. The connection stays counted as
 * an unfinished handshake of its address (adopt.h): kept alive, it could send half a request. */
static int on_http(struct protocol_vhd *vhd, struct lws *wsi) {
    if (vhd && refuse_long_header(vhd, wsi))
        return -1;
    if (lws_return_http_status(wsi, 404, NULL))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* The handshake checks against this process's settings and state. */
static void check(struct protocol_vhd *vhd, struct lws *wsi, struct handshake *hs) {
    const struct handshake_env env = {
        .cfg = vhd->cfg,
        .hosts = vhd->hosts,
        .n_live = vhd->live.n,
        .is_shutting_down = vhd->is_shutting_down,
        .dbc = &vhd->dbc,
        .owner = &vhd->owner,
    };
    handshake_check(&env, wsi, hs);
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: answers the refusals that need an HTTP status. */
static int on_confirm_upgrade(struct protocol_vhd *vhd, struct lws *wsi, const char *upgrade) {
    if (!upgrade || strcmp(upgrade, "websocket") != 0)
        return -1;
    int rc = refuse_long_header(vhd, wsi);
    if (rc) {
        adopt_handshake_over(&vhd->adopt, wsi, 0);
        vhd->stash_wsi = NULL;
        return rc < 0 ? -1 : 1;
    }
    long wait_s = adopt_auth_wait_s(&vhd->adopt, wsi);
    if (wait_s) { /* too many failed handshakes from this address: logged per episode */
        adopt_handshake_over(&vhd->adopt, wsi, 0);
        vhd->stash_wsi = NULL;
        metrics_add(vhd->metrics, METRIC_WS_REFUSED_THROTTLED, 1);
        return handshake_answer_status(wsi, 429, "too many failed handshakes", wait_s) ? -1 : 1;
    }
    check(vhd, wsi, &vhd->stash);
    adopt_handshake_over(&vhd->adopt, wsi,
                         vhd->stash.close_code == 4401 || vhd->stash.http_status == 401);
    tick_for_episodes(vhd); /* an auth episode begins with a failure */
    if (!vhd->stash.http_status) {
        vhd->stash_wsi = wsi;
        return 0;
    }
    log_refusal(vhd, wsi, &vhd->stash);
    vhd->stash_wsi = NULL;
    return handshake_answer_status(wsi, vhd->stash.http_status, vhd->stash.reason, 0) ? -1 : 1;
}

/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: the checked result goes into the session. */
static int on_filter(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss) {
    struct handshake hs;
    if (vhd->stash_wsi == wsi)
        hs = vhd->stash;
    else
        check(vhd, wsi, &hs);
    vhd->stash_wsi = NULL;
    if (hs.http_status) {
        log_refusal(vhd, wsi, &hs);
        return 1; /* too late for a status: lws hangs up */
    }
    pss->close_code = hs.close_code;
    pss->close_reason = hs.reason;
    pss->user_id = hs.user_id;
    pss->expires_s = hs.expires_s;
    pss->token_source = (uint8_t)hs.source;
    memcpy(pss->key, hs.key, sizeof pss->key);
    return 0;
}

static const char *source_name(int source) {
    return source == AUTH_SOURCE_QUERY      ? "query"
           : source == AUTH_SOURCE_PROTOCOL ? "protocol"
                                            : "header";
}

/* The names of the handshake just accepted, NULL when not known: they come with its token
 * check, which lws runs just before; only if another handshake came between (never seen) are
 * they read again, into scratch. */
struct connect_names {
    const char *username, *email;
};

static struct connect_names established_names(struct protocol_vhd *vhd, struct lws *wsi,
                                              const struct session *pss, struct db_user *scratch) {
    struct connect_names names = {NULL, NULL};
    if (vhd->owner.wsi == wsi) {
        names.username = vhd->owner.user.username;
        names.email = vhd->owner.user.email;
    } else if (vhd->dbc.db && db_user_by_id(vhd->dbc.db, pss->user_id, scratch) == DB_OK) {
        names.username = scratch->username;
        names.email = scratch->email;
    }
    vhd->owner.wsi = NULL;
    return names;
}

/* The connect line: who, from where, with the token found where. */
static void log_connect(struct protocol_vhd *vhd, struct lws *wsi, const struct session *pss,
                        const struct connect_names *names) {
    struct log_line line;
    log_begin_peer(&line, "connect", wsi);
    log_int(&line, "user_id", pss->user_id);
    log_str(&line, "user", names->username);
    log_str(&line, "email", names->email);
    log_str(&line, "via", source_name(pss->token_source));
    log_held(vhd, &line);
}

/* LWS_CALLBACK_ESTABLISHED: join the live list and log who it is, or start the refusal close. */
static void on_established(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss) {
    pss->wsi = wsi;
    if (pss->close_code) {
        struct handshake hs = {.close_code = pss->close_code, .reason = pss->close_reason};
        log_refusal(vhd, wsi, &hs);
        lws_callback_on_writable(wsi);
        return;
    }
    sessions_add(&vhd->live, pss);
    keepalive_start(vhd, pss);
    metrics_add(vhd->metrics, METRIC_WS_ACCEPTED, 1);
    metrics_add(vhd->metrics, METRIC_WS_CONNECTIONS, 1);
    revocation_watch_expiry(&vhd->revocation, pss->expires_s);
    if (vhd->is_database_watched && pss->expires_s) /* else the check runs often enough */
        check_by(vhd, clock_monotonic_ms() + (pss->expires_s - (int64_t)time(NULL) + 1) * 1000);
    struct db_user scratch;
    struct connect_names names = established_names(vhd, wsi, pss, &scratch);
    log_connect(vhd, wsi, pss, &names);
    if (pubsub_session_open(vhd->pubsub, pss, names.username) != PUBSUB_OK)
        session_close(vhd, pss, 1011, "out of memory");
}

/* Queues r, the answer to a command, and asks to write; reading pauses while
 * PROTOCOL_MAX_REPLIES answers wait (deliveries do not count). */
static void queue_reply(struct session *pss, struct reply *r) {
    replies_push(&pss->replies, r, 1);
    if (pss->replies.n_commands >= PROTOCOL_MAX_REPLIES && !pss->is_rx_paused) {
        pss->is_rx_paused = 1;
        lws_rx_flow_control(pss->wsi, 0);
    }
    lws_callback_on_writable(pss->wsi);
}

/* One complete message: check it, run the command, queue the reply. */
static void handle_message(struct protocol_vhd *vhd, struct session *pss, const char *msg,
                           size_t len) {
    metrics_add(vhd->metrics, METRIC_WS_MESSAGES_IN, 1);
    metrics_add(vhd->metrics, METRIC_WS_BYTES_IN, len);
    if (!text_is_utf8(msg, len)) {
        session_close(vhd, pss, 1007, "invalid utf-8");
        return;
    }
    struct command_ctx ctx = {.db = dbconn_get(&vhd->dbc),
                              .user_id = pss->user_id,
                              .replies = &vhd->replies,
                              .pubsub = vhd->pubsub,
                              .session = pss};
    struct reply *r = commands_handle(&ctx, msg, len);
    if (!r) {
        session_close(vhd, pss, 1011, "out of memory");
        return;
    }
    if (!r->len || pss->close_code) /* answered later (subscribe), or closing meanwhile */
        replies_put(&vhd->replies, r);
    else
        queue_reply(pss, r);
}

/* A piece of a message that does not arrive whole: kept in pss->msg until the final one. */
static void reassemble(struct protocol_vhd *vhd, struct session *pss, const char *in, size_t len,
                       int is_final) {
    char *grown = realloc(pss->msg, pss->msg_len + len + 1);
    if (!grown) {
        session_close(vhd, pss, 1011, "out of memory");
        return;
    }
    pss->msg = grown;
    if (len)
        memcpy(pss->msg + pss->msg_len, in, len);
    pss->msg_len += len;
    if (!is_final)
        return;
    handle_message(vhd, pss, pss->msg, pss->msg_len);
    free(pss->msg);
    pss->msg = NULL;
    pss->msg_len = 0;
}

/* LWS_CALLBACK_RECEIVE: one piece of a message; whole messages go to handle_message(). */
static void on_receive(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss,
                       const char *in, size_t len) {
    keepalive_heard(&vhd->keepalive, &pss->keepalive, clock_monotonic_ms());
    if (pss->close_code)
        return; /* closing (or never authenticated): the application does not run */
    if (lws_frame_is_binary(wsi)) {
        session_close(vhd, pss, 1003, "binary frames are not supported");
        return;
    }
    if (pss->replies.n_commands >= PROTOCOL_MAX_WAITING) {
        session_close(vhd, pss, 1008, "too many messages waiting");
        return;
    }
    size_t max = (size_t)vhd->cfg->ws_max_message_bytes;
    int is_final = lws_is_final_fragment(wsi);
    if (pss->msg_len + len > max) {
        session_close(vhd, pss, 1009, "message too big");
        return;
    }
    if (!pss->msg && is_final)
        handle_message(vhd, pss, in, len); /* the common case: no copy */
    else
        reassemble(vhd, pss, in, len, is_final);
}

/* The ping keepalive.h asked for, lws writing the frame's header into the headroom. Not empty:
 * the pong echoes the payload, and lws 4.1 does not pass an empty pong to the callback. 0, or -1
 * when the write failed. */
static int write_ping(struct lws *wsi, struct session *pss) {
    unsigned char frame[LWS_PRE + PROTOCOL_PING_PAYLOAD_LEN] = {0};
    memcpy(frame + LWS_PRE, PROTOCOL_PING_PAYLOAD, PROTOCOL_PING_PAYLOAD_LEN);
    pss->is_ping_due = 0;
    int n = lws_write(wsi, frame + LWS_PRE, PROTOCOL_PING_PAYLOAD_LEN, LWS_WRITE_PING);
    return n < PROTOCOL_PING_PAYLOAD_LEN ? -1 : 0;
}

/* LWS_CALLBACK_SERVER_WRITEABLE: a pending close first, else a due ping, else queued replies in
 * a batch (deliveries come in bursts; one callback per frame would cost a poll round each). */
static int on_writeable(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss) {
    if (pss->is_write_failed) /* a direct write failed (writer.h): the socket is unusable */
        return -1;
    if (pss->close_code && (!pss->is_flushing_before_close || !pss->replies.head)) {
        const char *why = pss->close_reason ? pss->close_reason : "";
        lws_close_reason(wsi, (enum lws_close_status)pss->close_code,
                         (unsigned char *)(uintptr_t)why, strlen(why));
        return -1;
    }
    if (pss->is_ping_due) {
        if (write_ping(wsi, pss) != 0)
            return -1;
        if (lws_partial_buffered(wsi)) { /* lws holds the ping: replies wait until it is out */
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    if (writer_write(&vhd->writer, wsi, pss) != WRITER_OK)
        return -1;
    if (pss->replies.head || pss->close_code)
        lws_callback_on_writable(wsi);
    if (!pss->replies.n_commands && pss->is_rx_paused) {
        pss->is_rx_paused = 0;
        lws_rx_flow_control(wsi, 1);
    }
    return 0;
}

/* LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: keep the peer's code (big-endian), for the close log. */
static void on_peer_close(struct session *pss, const unsigned char *in, size_t len) {
    pss->is_peer_closing = 1; /* from now on lws alone writes to it (writer.h) */
    if (len >= 2)
        pss->peer_close_code = (uint16_t)(in[0] << 8 | in[1]);
}

static void log_close(struct protocol_vhd *vhd, const struct session *pss, int was_live) {
    struct log_line line;
    log_begin(&line, PROG, "close");
    if (was_live)
        log_int(&line, "user_id", pss->user_id);
    log_int(&line, "code",
            pss->close_code        ? pss->close_code
            : pss->peer_close_code ? pss->peer_close_code
                                   : 1006);
    log_str(&line, "by", pss->close_code || pss->is_ping_timeout ? "server" : "peer");
    if (pss->is_ping_timeout)
        log_str(&line, "reason", "ping timeout");
    log_held(vhd, &line);
}

/* LWS_CALLBACK_CLOSED: leave the list, free what the session holds, log the close. */
static void on_closed(struct protocol_vhd *vhd, struct session *pss) {
    int was_live = pss->is_live;
    sessions_remove(&vhd->live, pss);
    keepalive_remove(&vhd->keepalive, &pss->keepalive);
    if (was_live)
        metrics_sub(vhd->metrics, METRIC_WS_CONNECTIONS, 1);
    pubsub_session_close(vhd->pubsub, pss);
    writer_forget(&vhd->writer, pss);
    free(pss->msg);
    pss->msg = NULL;
    closecount_add(vhd->metrics, 0, NULL, pss->replies.n); /* left by the peer, or unflushed */
    replies_drain(&pss->replies, &vhd->replies);
    if (pss->wsi) /* else refused before it was established: already logged */
        log_close(vhd, pss, was_live);
}

const struct lws_protocols protocol_list[] = {
    {
        .name = AUTH_PROTOCOL_NAME,
        .callback = protocol_callback,
        .per_session_data_size = sizeof(struct session),
        .rx_buffer_size = PROTOCOL_RX_BUFFER,
        .tx_packet_size = WRITER_JOIN_BYTES, /* a joined batch leaves in one send (writer.h) */
    },
    REDISLINK_PROTOCOL_ENTRY,
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

struct protocol_vhd *protocol_vhd_get(struct lws_context *context) {
    return vhd_of(lws_get_vhost_by_name(context, "default"), &protocol_list[0]);
}

int protocol_join(struct lws_context *context) {
    return lws_protocol_init(context) == 0 && protocol_vhd_get(context) ? 0 : -1;
}

int protocol_adopt_listener(struct lws_context *context, int listen_fd) {
    struct lws_vhost *vh = lws_get_vhost_by_name(context, "default");
    lws_sock_file_fd_type fd = {.filefd = listen_fd};
    /* PROTOCOL_INIT (which opens the ticker) would otherwise wait for the first service */
    if (!vh || lws_protocol_init(context) != 0)
        return -1;
    struct protocol_vhd *vhd = protocol_vhd_get(context);
    if (!vhd)
        return -1;
    lws_sock_file_fd_type tick_fd = {.filefd = vhd->ticker.fd};
    vhd->ticker_wsi =
        lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, tick_fd, AUTH_PROTOCOL_NAME, NULL);
    if (!vhd->ticker_wsi ||
        !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd, AUTH_PROTOCOL_NAME, NULL))
        return -1;
    return 0;
}

void protocol_begin_shutdown(struct protocol_vhd *vhd) {
    vhd->is_shutting_down = 1;
    log_buffer_flush(&vhd->log);
    for (struct session *s = vhd->live.head; s; s = s->next)
        session_close(vhd, s, 1001, "server shutting down");
    pubsub_stop(vhd->pubsub); /* after the sessions left: no redis_down for a planned stop */
    shutdown_tick(&vhd->sul_shutdown); /* keeps the loop waking to see its deadline */
}

void protocol_set_metrics(struct protocol_vhd *vhd, struct metrics_record *metrics) {
    if (!vhd)
        return;
    vhd->metrics = metrics;
    lws_closes.metrics = metrics;
    vhd->adopt.metrics = metrics;
    vhd->writer.metrics = metrics;
    pubsub_set_metrics(vhd->pubsub, metrics);
}

size_t protocol_n_sessions(const struct protocol_vhd *vhd) {
    return vhd ? vhd->live.n : 0;
}

int protocol_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len) {
    struct session *pss = user;
    struct protocol_vhd *vhd = vhd_of(lws_get_vhost(wsi), lws_get_protocol(wsi));

    headerclose_next(&lws_closes);
    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        return on_protocol_init(wsi);
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        on_protocol_destroy(vhd, wsi);
        break;
    case LWS_CALLBACK_RAW_RX_FILE: /* the ticker, or our listener: connections are waiting */
        if (vhd && wsi == vhd->ticker_wsi)
            return on_tick(vhd);
        return vhd ? on_accept(vhd, wsi) : 0;
    case LWS_CALLBACK_HTTP:
        return on_http(vhd, wsi);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return vhd ? on_confirm_upgrade(vhd, wsi, in) : -1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return vhd && pss ? on_filter(vhd, wsi, pss) : 1;
    case LWS_CALLBACK_ESTABLISHED:
        on_established(vhd, wsi, pss);
        break;
    case LWS_CALLBACK_RECEIVE:
        on_receive(vhd, wsi, pss, in, len);
        break;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (vhd && pss)
            keepalive_heard(&vhd->keepalive, &pss->keepalive, clock_monotonic_ms());
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return vhd ? on_writeable(vhd, wsi, pss) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        on_peer_close(pss, in, len);
        break;
    case LWS_CALLBACK_CLOSED:
        if (vhd && pss)
            on_closed(vhd, pss);
        break;
    case LWS_CALLBACK_WSI_DESTROY: /* any wsi, the listener too; the ticker is not adopt.h's */
        if (vhd && wsi != vhd->ticker_wsi)
            adopt_release(&vhd->adopt, wsi);
        break;
    default:
        break;
    }
    return 0;
}

void protocol_lws_log(int level, const char *line) {
    char clean[LOG_LINE_MAX / 2];
    size_t n = auth_redact_tokens(line, clean, sizeof clean);
    while (n && (clean[n - 1] == '\n' || clean[n - 1] == '\r'))
        clean[--n] = '\0';
    const char *msg = "", *event = headerlimit_lws_line(clean, &msg);
    if (!event)
        log_msg(PROG, level == LLL_ERR ? "lws_error" : "lws_warn", "%s", clean);
    else if (event[0] && headerclose_line(&lws_closes, event))
        log_msg(PROG, event, "%s", msg);
}
