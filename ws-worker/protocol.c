/* protocol.c -- the libwebsockets callback of ws-worker: one switch, one helper per event.
 *
 * A handshake runs these checks in order, stopping at the first failure, so nothing reaches the
 * database before the cheap checks pass:
 *   path "/"         else HTTP 404
 *   Origin           TOKENAUTH_ALLOWED_HOSTS (origin.h), else HTTP 403
 *   connection cap   live sessions < cfg->ws_max_connections, else close 1013 (HTTP 503)
 *   token            auth.h from query, subprotocol, Authorization, else 4401 (HTTP 401)
 *   db_token_check   exists, active user, not expired, else 4401 (HTTP 401)
 * The checks run at LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, the last moment an HTTP status can still
 * be answered; the per-session data does not survive from there to the upgrade (lws binds the
 * protocol again), so the result waits in vhd->stash for FILTER_PROTOCOL_CONNECTION of the same
 * wsi, which recomputes it if the stash belongs to someone else. Token failures by default
 * accept the socket and close it at once with 4401 and a reason browsers can read; with
 * cfg->ws_refuse_handshake they answer the HTTP status in parentheses instead.
 *
 * Messages: text only (binary closes 1003), at most cfg->ws_max_message_bytes (1009), valid
 * UTF-8 (1007). A message arriving whole in one callback is handled in place; a fragmented or
 * large one is reassembled in pss->msg, allocated only meanwhile. Replies queue in pss->replies
 * and are written one per SERVER_WRITEABLE; reading pauses while PROTOCOL_MAX_REPLIES wait.
 * Reply buffers come from a per-process pool (PROTOCOL_REPLY_POOL buffers of PROTOCOL_REPLY_BUF
 * bytes) and go back to it once written, so a round trip allocates nothing and an idle session
 * holds no buffer; only a reply too long for one is allocated for itself.
 *
 * A timer every cfg->ws_revocation_check_ms runs revocation_check(). Shutdown closes every live
 * session with 1001. Logs: one line per connect, refusal and close; never a token. */
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "commands.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "origin.h"
#include "revocation.h"
#include "sessions.h"
#include "text.h"

#define PROG "ws-worker"
#define DB_BUSY_TIMEOUT_MAX_MS 50 /* the loop must not stall long on a locked file */
#define DB_RETRY_MS 1000          /* between attempts to open an unavailable database */

/* The outcome of the handshake checks. */
struct handshake {
    int http_status;     /* non-zero: refuse the upgrade with this HTTP status */
    uint16_t close_code; /* non-zero: accept, then close at once with this code */
    const char *reason;  /* why, for the close frame and the log */
    int source;          /* AUTH_SOURCE_* of the token */
    int64_t user_id;     /* the token's user, when accepted */
    int64_t expires_s;   /* the token's expiry, 0 = never */
    char key[AUTH_KEY_MAX];
};

/* Per-vhost data: what every session of this process shares. */
struct protocol_vhd {
    const struct config *cfg; /* the settings, owned by main */
    struct lws_context *context;
    struct db *db;             /* read-only connection, opened lazily; NULL until then */
    int64_t db_next_try_ms;    /* monotonic ms before which no new open is tried */
    struct origin_list *hosts; /* allowed Origin hosts */
    struct session_list live;  /* authenticated sessions */
    struct revocation_state revocation;
    lws_sorted_usec_list_t sul;          /* the revocation timer */
    lws_sorted_usec_list_t sul_shutdown; /* wakes the service loop while shutting down */
    struct lws *stash_wsi;               /* whose handshake result stash holds */
    struct handshake stash;
    struct lws *owner_wsi;       /* whose token owner is in owner (names for the connect log) */
    struct db_token_owner owner; /* the last accepted token's owner, from db_token_check */
    struct reply *pool;          /* free reply buffers of PROTOCOL_REPLY_BUF bytes */
    size_t n_pool;
    int is_shutting_down;
    struct lws *listener; /* the adopted listening socket */
    size_t n_adopted;     /* connections handed to lws and not yet destroyed */
    int spare_fd;         /* /dev/null, given up to accept-and-close at EMFILE; -1 if none */
    int is_refusing;      /* accepting and closing at once (logged once per episode) */
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The read-only connection, opened at the first need and retried at most every DB_RETRY_MS, so
 * the worker starts while the file is briefly locked or not there yet. At each (re)open the file
 * is put in WAL mode if it is not (a Django db.sqlite3 starts in journal_mode=delete, where a
 * reader waits while login-fcgi writes): once, through a short-lived read-write connection. */
static struct db *vhd_db(struct protocol_vhd *vhd) {
    if (vhd->db || now_ms() < vhd->db_next_try_ms)
        return vhd->db;
    char err[256];
    int busy_ms = vhd->cfg->db_busy_timeout_ms;
    if (busy_ms > DB_BUSY_TIMEOUT_MAX_MS)
        busy_ms = DB_BUSY_TIMEOUT_MAX_MS;
    vhd->db = db_open(vhd->cfg->db_path, DB_OPEN_READ_ONLY, busy_ms, err, sizeof err);
    if (!vhd->db) {
        vhd->db_next_try_ms = now_ms() + DB_RETRY_MS;
        log_msg(PROG, "db_unavailable", "%s", err);
        return NULL;
    }
    int wal = db_ensure_wal(vhd->cfg->db_path, busy_ms, err, sizeof err);
    if (wal == 1)
        log_msg(PROG, "db_wal", "switched the database to journal_mode=WAL (readers never wait)");
    else if (wal < 0)
        log_msg(PROG, "db_not_wal",
                "%s: not in WAL mode, handshakes may wait while login-fcgi writes; fix: "
                "sqlite3 FILE 'PRAGMA journal_mode=WAL'",
                err);
    return vhd->db;
}

static void session_close(struct session *pss, int code, const char *reason);

/* Once per revocation tick: a database file replaced (a rename over it) or deleted is noticed
 * here, with one stat(). The old connection is closed and the new file opened, and every live
 * session is checked again against it. While no file is there, tokens cannot be verified:
 * every live session is closed with 1011 "database unavailable" (not 4401: the token may well
 * be valid again once the file is back, and the client should simply reconnect later). */
static void vhd_db_watch(struct protocol_vhd *vhd) {
    if (vhd->db && db_has_moved(vhd->db) == 1) {
        log_msg(PROG, "db_replaced",
                "the database file was replaced or deleted: reopening it, every live session is "
                "checked again");
        db_close(vhd->db);
        vhd->db = NULL;
        vhd->db_next_try_ms = 0;
        vhd->revocation.has_version = 0; /* the next check is a full one */
    }
    struct stat st;
    if (vhd_db(vhd) || !vhd->live.n || stat(vhd->cfg->db_path, &st) == 0)
        return;
    for (struct session *s = vhd->live.head; s; s = s->next)
        session_close(s, 1011, "database unavailable");
}

static void log_refusal(struct lws *wsi, const struct handshake *hs) {
    struct log_line line;
    char addr[64] = "";
    lws_get_peer_simple(wsi, addr, sizeof addr);
    log_begin(&line, PROG, "refuse");
    log_str(&line, "addr", addr);
    log_str(&line, "reason", hs->reason);
    if (hs->http_status)
        log_int(&line, "status", hs->http_status);
    else
        log_int(&line, "code", hs->close_code);
    log_end(&line, 2);
}

/* A token failure: a close code by default, an HTTP status when so configured. */
static void fail(const struct protocol_vhd *vhd, struct handshake *hs, int http_status,
                 int close_code, const char *reason) {
    hs->reason = reason;
    if (vhd->cfg->ws_refuse_handshake)
        hs->http_status = http_status;
    else
        hs->close_code = (uint16_t)close_code;
}

/* Feeds every place a token may be to t. */
static void gather_token(struct lws *wsi, struct auth_token *t) {
    char buf[512];
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n >= 0) {
            auth_add_query_arg(t, buf, (size_t)n);
            continue;
        }
        /* No such fragment, or one too long for buf: read that one whole (a rare case, so an
         * allocation), so a long other parameter does not hide the token after it and a long
         * token makes the result invalid rather than vanishing. */
        int len = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        char *big = len > 0 ? malloc((size_t)len + 1) : NULL;
        if (len > 0 && !big) {
            t->is_invalid = 1;
            break;
        }
        n = big ? lws_hdr_copy_fragment(wsi, big, len + 1, WSI_TOKEN_HTTP_URI_ARGS, i) : -1;
        if (n >= 0)
            auth_add_query_arg(t, big, (size_t)n);
        free(big);
        if (n < 0)
            break;
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) > 0) {
        int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL);
        if (n < 0)
            t->is_invalid = 1;
        else
            auth_add_protocols(t, buf, (size_t)n);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
        int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION);
        if (n < 0)
            t->is_invalid = 1;
        else
            auth_add_authorization(t, buf, (size_t)n);
    }
}

/* The token checks, after path, Origin and cap passed. */
static void check_token(struct protocol_vhd *vhd, struct lws *wsi, struct handshake *hs) {
    struct auth_token t;
    auth_init(&t);
    gather_token(wsi, &t);
    int rc = auth_result(&t);
    if (rc != AUTH_OK) {
        fail(vhd, hs, 401, 4401, rc == AUTH_ERR_MISSING ? "missing token" : "invalid token");
        return;
    }
    struct db *db = vhd_db(vhd);
    struct db_token_owner *owner = &vhd->owner;
    vhd->owner_wsi = NULL;
    rc = db ? db_token_check(db, t.key, vhd->cfg->token_ttl_s, owner) : DB_ERR;
    if (rc == DB_EXPIRED) {
        fail(vhd, hs, 401, 4401, "token expired");
    } else if (rc == DB_NOT_FOUND || rc == DB_INACTIVE) {
        fail(vhd, hs, 401, 4401, "invalid token");
    } else if (rc != DB_OK) {
        fail(vhd, hs, 503, 1011, "database unavailable");
    } else {
        vhd->owner_wsi = wsi;
        hs->user_id = owner->user_id;
        hs->expires_s = owner->expires_s;
        hs->source = t.source;
        memcpy(hs->key, t.key, sizeof hs->key);
    }
}

/* Every handshake check, in order; the result in hs. */
static void check_handshake(struct protocol_vhd *vhd, struct lws *wsi, struct handshake *hs) {
    char buf[512];
    memset(hs, 0, sizeof *hs);
    if (vhd->is_shutting_down) {
        hs->http_status = 503;
        hs->reason = "shutting down";
        return;
    }
    int n = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_GET_URI);
    if (n != 1 || buf[0] != '/') {
        hs->http_status = 404;
        hs->reason = "unknown path";
        return;
    }
    const char *origin = NULL;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0)
        origin = lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_ORIGIN) < 0 ? "" : buf;
    if (!origin_host_allowed(vhd->hosts, origin)) {
        hs->http_status = 403;
        hs->reason = "origin not allowed";
        return;
    }
    if (vhd->live.n >= (size_t)vhd->cfg->ws_max_connections) {
        fail(vhd, hs, 503, 1013, "too many connections");
        return;
    }
    check_token(vhd, wsi, hs);
}

/* Writes a whole HTTP/1.1 refusal with the reason as a text body. lws_return_http_status()
 * would answer "HTTP/1.0" here (the request version is not parsed yet at this callback), which
 * strict clients such as python-websockets refuse to read. Returns 0, or -1 to hang up. */
static int answer_status(struct lws *wsi, int status, const char *reason) {
    const char *text = status == 401   ? "Unauthorized"
                       : status == 403 ? "Forbidden"
                       : status == 404 ? "Not Found"
                                       : "Service Unavailable";
    unsigned char buf[LWS_PRE + 512];
    char *start = (char *)buf + LWS_PRE;
    int n = snprintf(start, sizeof buf - LWS_PRE,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s"
                     "Connection: close\r\n\r\n%s\n",
                     status, text, strlen(reason) + 1,
                     status == 401 ? "WWW-Authenticate: Token\r\n" : "",
                     status == 503 ? "Retry-After: 1\r\n" : "", reason);
    if (n < 0 || (size_t)n >= sizeof buf - LWS_PRE)
        return -1;
    return lws_write(wsi, (unsigned char *)start, (size_t)n, LWS_WRITE_HTTP_HEADERS) == n ? 0 : -1;
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: answers the refusals that need an HTTP status. */
static int on_confirm_upgrade(struct protocol_vhd *vhd, struct lws *wsi, const char *upgrade) {
    if (!upgrade || strcmp(upgrade, "websocket") != 0)
        return -1;
    check_handshake(vhd, wsi, &vhd->stash);
    if (!vhd->stash.http_status) {
        vhd->stash_wsi = wsi;
        return 0;
    }
    log_refusal(wsi, &vhd->stash);
    vhd->stash_wsi = NULL;
    return answer_status(wsi, vhd->stash.http_status, vhd->stash.reason) ? -1 : 1;
}

/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: the checked result goes into the session. */
static int on_filter(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss) {
    struct handshake hs;
    if (vhd->stash_wsi == wsi)
        hs = vhd->stash;
    else
        check_handshake(vhd, wsi, &hs);
    vhd->stash_wsi = NULL;
    if (hs.http_status) {
        log_refusal(wsi, &hs);
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

/* LWS_CALLBACK_ESTABLISHED: join the live list and log who it is, or start the 4401 close. */
static void on_established(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss) {
    pss->wsi = wsi;
    if (pss->close_code) {
        struct handshake hs = {.close_code = pss->close_code, .reason = pss->close_reason};
        log_refusal(wsi, &hs);
        lws_callback_on_writable(wsi);
        return;
    }
    sessions_add(&vhd->live, pss);
    /* The names come with the token check of this handshake, which lws runs just before; only
     * if another handshake came between (never seen) are they read again. */
    const char *username = NULL, *email = NULL;
    struct db_user user;
    if (vhd->owner_wsi == wsi) {
        username = vhd->owner.username;
        email = vhd->owner.email;
    } else if (vhd->db && db_user_by_id(vhd->db, pss->user_id, &user) == DB_OK) {
        username = user.username;
        email = user.email;
    }
    vhd->owner_wsi = NULL;
    struct log_line line;
    char addr[64] = "";
    lws_get_peer_simple(wsi, addr, sizeof addr);
    log_begin(&line, PROG, "connect");
    log_str(&line, "addr", addr);
    log_int(&line, "user_id", pss->user_id);
    log_str(&line, "user", username);
    log_str(&line, "email", email);
    log_str(&line, "via", source_name(pss->token_source));
    log_end(&line, 2);
}

/* Asks for the session to be closed with code at its next writable callback. */
static void session_close(struct session *pss, int code, const char *reason) {
    if (pss->close_code)
        return;
    pss->close_code = (uint16_t)code;
    pss->close_reason = reason;
    lws_callback_on_writable(pss->wsi);
}

static void revocation_close(struct session *s, int code, const char *reason, void *arg) {
    struct log_line line;
    log_begin(&line, PROG, "revoke");
    log_int(&line, "user_id", s->user_id);
    log_str(&line, "reason", reason);
    log_end(&line, 2);
    session_close(s, code, reason);
}

/* A PROTOCOL_REPLY_BUF reply buffer, from the pool when it has one; NULL when memory ran out. */
static struct reply *reply_get(struct protocol_vhd *vhd) {
    struct reply *r = vhd->pool;
    if (r) {
        vhd->pool = r->next;
        vhd->n_pool--;
    } else if ((r = malloc(PROTOCOL_REPLY_BUF)) != NULL) {
        r->is_pooled = 1;
    }
    return r;
}

/* Gives a written or dropped reply back: to the pool while it has room, else to free(). */
static void reply_put(struct protocol_vhd *vhd, struct reply *r) {
    if (r->is_pooled && vhd->n_pool < PROTOCOL_REPLY_POOL) {
        r->next = vhd->pool;
        vhd->pool = r;
        vhd->n_pool++;
    } else {
        free(r);
    }
}

/* One complete message: check it, run the command, queue the reply. */
static void handle_message(struct protocol_vhd *vhd, struct session *pss, const char *msg,
                           size_t len) {
    if (!text_is_utf8(msg, len)) {
        session_close(pss, 1007, "invalid utf-8");
        return;
    }
    struct command_ctx ctx = {.db = vhd_db(vhd), .user_id = pss->user_id};
    const size_t room = PROTOCOL_REPLY_BUF - sizeof(struct reply) - LWS_PRE;
    struct reply *r = reply_get(vhd);
    char *big = NULL;
    size_t n;
    if (!r || commands_handle_into(&ctx, msg, len, (char *)(r + 1) + LWS_PRE, room, &big, &n) !=
                  COMMANDS_OK) {
        if (r)
            reply_put(vhd, r);
        session_close(pss, 1011, "out of memory");
        return;
    }
    if (big) { /* longer than a pooled buffer: one of its own size */
        struct reply *own = malloc(sizeof *own + LWS_PRE + n);
        if (own) {
            own->is_pooled = 0;
            memcpy((char *)(own + 1) + LWS_PRE, big, n);
        }
        free(big);
        reply_put(vhd, r);
        if (!own) {
            session_close(pss, 1011, "out of memory");
            return;
        }
        r = own;
    }
    r->next = NULL;
    r->len = n;
    if (pss->replies_tail)
        pss->replies_tail->next = r;
    else
        pss->replies = r;
    pss->replies_tail = r;
    if (++pss->n_replies >= PROTOCOL_MAX_REPLIES && !pss->is_rx_paused) {
        pss->is_rx_paused = 1;
        lws_rx_flow_control(pss->wsi, 0);
    }
    lws_callback_on_writable(pss->wsi);
}

/* LWS_CALLBACK_RECEIVE: one piece of a message; whole messages go to handle_message(). */
static void on_receive(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss,
                       const char *in, size_t len) {
    if (pss->close_code)
        return; /* closing (or never authenticated): the application does not run */
    if (lws_frame_is_binary(wsi)) {
        session_close(pss, 1003, "binary frames are not supported");
        return;
    }
    if (pss->n_replies >= UINT8_MAX) {
        session_close(pss, 1008, "too many messages waiting");
        return;
    }
    size_t max = (size_t)vhd->cfg->ws_max_message_bytes;
    int is_final = lws_is_final_fragment(wsi);
    if (pss->msg_len + len > max) {
        session_close(pss, 1009, "message too big");
        return;
    }
    if (!pss->msg && is_final) {
        handle_message(vhd, pss, in, len); /* the common case: no copy */
        return;
    }
    char *grown = realloc(pss->msg, pss->msg_len + len + 1);
    if (!grown) {
        session_close(pss, 1011, "out of memory");
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

/* LWS_CALLBACK_SERVER_WRITEABLE: a pending close first, else one queued reply. */
static int on_writeable(struct protocol_vhd *vhd, struct lws *wsi, struct session *pss) {
    if (pss->close_code) {
        const char *why = pss->close_reason ? pss->close_reason : "";
        lws_close_reason(wsi, (enum lws_close_status)pss->close_code,
                         (unsigned char *)(uintptr_t)why, strlen(why));
        return -1;
    }
    struct reply *r = pss->replies;
    if (!r)
        return 0;
    pss->replies = r->next;
    if (!pss->replies)
        pss->replies_tail = NULL;
    pss->n_replies--;
    size_t len = r->len;
    int n = lws_write(wsi, (unsigned char *)(r + 1) + LWS_PRE, len, LWS_WRITE_TEXT);
    reply_put(vhd, r);
    if (n < (int)len)
        return -1;
    if (pss->replies)
        lws_callback_on_writable(wsi);
    else if (pss->is_rx_paused) {
        pss->is_rx_paused = 0;
        lws_rx_flow_control(wsi, 1);
    }
    return 0;
}

/* LWS_CALLBACK_CLOSED: leave the list, free what the session holds, log the close. */
static void on_closed(struct protocol_vhd *vhd, struct session *pss) {
    int was_live = pss->is_live;
    sessions_remove(&vhd->live, pss);
    free(pss->msg);
    pss->msg = NULL;
    while (pss->replies) {
        struct reply *r = pss->replies;
        pss->replies = r->next;
        reply_put(vhd, r);
    }
    pss->replies_tail = NULL;
    if (!pss->wsi)
        return; /* refused before it was established: already logged */
    struct log_line line;
    log_begin(&line, PROG, "close");
    if (was_live)
        log_int(&line, "user_id", pss->user_id);
    log_int(&line, "code",
            pss->close_code        ? pss->close_code
            : pss->peer_close_code ? pss->peer_close_code
                                   : 1006);
    log_str(&line, "by", pss->close_code ? "server" : "peer");
    log_end(&line, 2);
}

static void revocation_timer(lws_sorted_usec_list_t *sul) {
    struct protocol_vhd *vhd = lws_container_of(sul, struct protocol_vhd, sul);
    vhd_db_watch(vhd);
    if (vhd->live.n)
        revocation_check(&vhd->live, vhd->db, vhd->cfg->token_ttl_s, (int64_t)time(NULL),
                         &vhd->revocation, revocation_close, NULL);
    lws_sul_schedule(vhd->context, 0, &vhd->sul, revocation_timer,
                     (lws_usec_t)vhd->cfg->ws_revocation_check_ms * LWS_US_PER_MS);
}

/* LWS_CALLBACK_PROTOCOL_INIT: the per-vhost data, the Origin list, the timer. */
static int on_protocol_init(struct lws *wsi) {
    struct lws_vhost *vh = lws_get_vhost(wsi);
    struct protocol_vhd *vhd =
        lws_protocol_vh_priv_zalloc(vh, lws_get_protocol(wsi), sizeof(struct protocol_vhd));
    if (!vhd)
        return -1;
    vhd->context = lws_get_context(wsi);
    vhd->cfg = lws_context_user(vhd->context);
    char err[256];
    if (origin_list_parse(vhd->cfg->allowed_hosts, ORIGIN_HOSTS, &vhd->hosts, err, sizeof err)) {
        log_msg(PROG, "error", "TOKENAUTH_ALLOWED_HOSTS: %s", err);
        return -1;
    }
    vhd->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    vhd_db(vhd);
    revocation_timer(&vhd->sul);
    return 0;
}

static void on_protocol_destroy(struct protocol_vhd *vhd) {
    if (!vhd)
        return;
    lws_sul_cancel(&vhd->sul);
    lws_sul_cancel(&vhd->sul_shutdown);
    if (vhd->spare_fd >= 0)
        close(vhd->spare_fd);
    vhd->spare_fd = -1;
    db_close(vhd->db);
    vhd->db = NULL;
    origin_list_free(vhd->hosts);
    vhd->hosts = NULL;
    while (vhd->pool) {
        struct reply *r = vhd->pool;
        vhd->pool = r->next;
        free(r);
    }
    vhd->n_pool = 0;
}

/* Accepts one waiting connection and closes it at once: past the cap of adopted connections,
 * or at EMFILE, where the spare descriptor is given up for the moment it takes (otherwise the
 * listener stays readable and the loop spins). Logged once per episode. */
static void refuse_one(struct protocol_vhd *vhd, int listen_fd, const char *why) {
    if (!vhd->is_refusing)
        log_msg(PROG, "refuse_flood", "%s: new connections are closed at once", why);
    vhd->is_refusing = 1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
}

/* LWS_CALLBACK_RAW_RX_FILE on the adopted listening socket: accept what is waiting (a bounded
 * batch, so one busy listener cannot starve the sessions) and hand each connection to lws, which
 * treats it as if its own listener had accepted it. At most cfg->ws_max_connections +
 * PROTOCOL_PENDING_MAX connections are adopted at once (counted until LWS_CALLBACK_WSI_DESTROY);
 * past that, or out of descriptors, connections are accepted and closed at once. */
static int on_accept(struct protocol_vhd *vhd, struct lws *wsi) {
    int listen_fd = (int)lws_get_socket_fd(wsi);
    const size_t max = (size_t)vhd->cfg->ws_max_connections + PROTOCOL_PENDING_MAX;
    vhd->listener = wsi; /* not counted in n_adopted */
    for (int i = 0; i < 64; i++) {
        if (vhd->n_adopted >= max) {
            refuse_one(vhd, listen_fd, "too many pending connections");
            continue;
        }
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && vhd->spare_fd >= 0) {
            close(vhd->spare_fd);
            refuse_one(vhd, listen_fd, "out of file descriptors");
            vhd->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            continue;
        }
        if (fd < 0)
            break; /* EAGAIN: all taken (maybe by a sibling worker) */
        if (vhd->is_refusing)
            log_msg(PROG, "refuse_flood_over", "accepting connections again");
        vhd->is_refusing = 0;
        if (lws_adopt_socket_vhost(lws_get_vhost(wsi), fd))
            vhd->n_adopted++;
        else
            log_msg(PROG, "error", "could not adopt an accepted connection");
    }
    return 0;
}

/* A plain HTTP request (no upgrade): nothing is served here. */
static int on_http(struct lws *wsi) {
    if (lws_return_http_status(wsi, 404, NULL))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int protocol_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len) {
    struct session *pss = user;
    struct protocol_vhd *vhd = lws_protocol_vh_priv_get(lws_get_vhost(wsi), lws_get_protocol(wsi));

    switch (reason) {
    case LWS_CALLBACK_PROTOCOL_INIT:
        return on_protocol_init(wsi);
    case LWS_CALLBACK_PROTOCOL_DESTROY:
        on_protocol_destroy(vhd);
        break;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return vhd ? on_confirm_upgrade(vhd, wsi, in) : -1;
    case LWS_CALLBACK_RAW_RX_FILE:
        return vhd ? on_accept(vhd, wsi) : 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (vhd && wsi != vhd->listener && vhd->n_adopted > 0)
            vhd->n_adopted--;
        break;
    case LWS_CALLBACK_HTTP:
        return on_http(wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return vhd && pss ? on_filter(vhd, wsi, pss) : 1;
    case LWS_CALLBACK_ESTABLISHED:
        on_established(vhd, wsi, pss);
        break;
    case LWS_CALLBACK_RECEIVE:
        on_receive(vhd, wsi, pss, in, len);
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return vhd ? on_writeable(vhd, wsi, pss) : -1;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2)
            pss->peer_close_code =
                (uint16_t)(((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1]);
        break;
    case LWS_CALLBACK_CLOSED:
        if (vhd && pss)
            on_closed(vhd, pss);
        break;
    default:
        break;
    }
    return 0;
}

const struct lws_protocols protocol_list[] = {
    {
        .name = AUTH_PROTOCOL_NAME,
        .callback = protocol_callback,
        .per_session_data_size = sizeof(struct session),
        .rx_buffer_size = PROTOCOL_RX_BUFFER,
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

struct protocol_vhd *protocol_vhd_get(struct lws_context *context) {
    struct lws_vhost *vh = lws_get_vhost_by_name(context, "default");
    if (!vh)
        return NULL;
    return lws_protocol_vh_priv_get(vh, &protocol_list[0]);
}

int protocol_adopt_listener(struct lws_context *context, int listen_fd) {
    struct lws_vhost *vh = lws_get_vhost_by_name(context, "default");
    lws_sock_file_fd_type fd = {.filefd = listen_fd};
    if (!vh ||
        !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd, AUTH_PROTOCOL_NAME, NULL))
        return -1;
    return 0;
}

static void shutdown_tick(lws_sorted_usec_list_t *sul) {
    struct protocol_vhd *vhd = lws_container_of(sul, struct protocol_vhd, sul_shutdown);
    lws_sul_schedule(vhd->context, 0, &vhd->sul_shutdown, shutdown_tick, 50 * LWS_US_PER_MS);
}

void protocol_begin_shutdown(struct protocol_vhd *vhd) {
    vhd->is_shutting_down = 1;
    for (struct session *s = vhd->live.head; s; s = s->next)
        session_close(s, 1001, "server shutting down");
    shutdown_tick(&vhd->sul_shutdown); /* keeps the loop waking to see its deadline */
}

size_t protocol_n_sessions(const struct protocol_vhd *vhd) {
    return vhd ? vhd->live.n : 0;
}

void protocol_lws_log(int level, const char *line) {
    char clean[LOG_LINE_MAX / 2];
    size_t n = auth_redact_tokens(line, clean, sizeof clean);
    while (n && (clean[n - 1] == '\n' || clean[n - 1] == '\r'))
        clean[--n] = '\0';
    log_msg(PROG, level == LLL_ERR ? "lws_error" : "lws_warn", "%s", clean);
}
