/* handshake.c -- the checks a WebSocket upgrade must pass, and how a refusal is answered.
 *
 * handshake_check() reads the request through lws' header accessors: the URI (only "/" is
 * served), Origin (origin_host_allowed), then every place a token may be, fed to auth.h: each
 * query argument (percent-decoded by lws), Sec-WebSocket-Protocol and Authorization. Only a
 * well-formed token reaches the database: one indexed read, db_token_check(), over the
 * connection of dbconn.h (opened at that first need). Header copies go to a stack buffer of 512
 * bytes; a longer query argument is read whole into an allocation of its own (rare), so it
 * neither hides a token after it nor lets a long token vanish.
 *
 * handshake_answer_status() writes the refusal itself: lws_return_http_status() would answer
 * "HTTP/1.0" at LWS_CALLBACK_HTTP_CONFIRM_UPGRADE (the request version is not parsed yet there),
 * which strict clients such as python-websockets refuse to read. 401 carries
 * "WWW-Authenticate: Token" (as DRF), 503 "Retry-After: 1", 429 the Retry-After it is given.
 *
 * No state of its own: where the result waits between CONFIRM_UPGRADE and FILTER_PROTOCOL_
 * CONNECTION, and what a session does with it, is protocol.c's. Never logs a token. */
#include "handshake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "config.h"
#include "dbconn.h"
#include "origin.h"

/* A failure that the settings may turn into an HTTP status: a close code by default. */
static void fail(const struct handshake_env *env, struct handshake *hs, int http_status,
                 int close_code, const char *reason) {
    hs->reason = reason;
    if (env->cfg->ws_refuse_handshake)
        hs->http_status = http_status;
    else
        hs->close_code = (uint16_t)close_code;
}

/* Feeds every query argument to t; one too long for buf is read whole. */
static void gather_query(struct lws *wsi, struct auth_token *t, char *buf, size_t buf_len) {
    for (int i = 0;; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, (int)buf_len, WSI_TOKEN_HTTP_URI_ARGS, i);
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
}

/* Feeds every place a token may be to t. */
static void gather_token(struct lws *wsi, struct auth_token *t) {
    char buf[512];
    gather_query(wsi, t, buf, sizeof buf);
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
static void check_token(const struct handshake_env *env, struct lws *wsi, struct handshake *hs) {
    struct auth_token t;
    auth_init(&t);
    gather_token(wsi, &t);
    int rc = auth_result(&t);
    if (rc != AUTH_OK) {
        fail(env, hs, 401, 4401, rc == AUTH_ERR_MISSING ? "missing token" : "invalid token");
        return;
    }
    struct db *db = dbconn_get(env->dbc);
    struct handshake_owner *owner = env->owner;
    owner->wsi = NULL;
    rc = db ? db_token_check(db, t.key, env->cfg->token_ttl_s, &owner->user) : DB_ERR;
    if (rc == DB_EXPIRED) {
        fail(env, hs, 401, 4401, "token expired");
    } else if (rc == DB_NOT_FOUND || rc == DB_INACTIVE) {
        fail(env, hs, 401, 4401, "invalid token");
    } else if (rc != DB_OK) {
        fail(env, hs, 503, 1011, "database unavailable");
    } else {
        owner->wsi = wsi;
        hs->user_id = owner->user.user_id;
        hs->expires_s = owner->user.expires_s;
        hs->source = t.source;
        memcpy(hs->key, t.key, sizeof hs->key);
    }
}

void handshake_check(const struct handshake_env *env, struct lws *wsi, struct handshake *hs) {
    char buf[512];
    memset(hs, 0, sizeof *hs);
    if (env->is_shutting_down) {
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
    if (!origin_host_allowed(env->hosts, origin)) {
        hs->http_status = 403;
        hs->reason = "origin not allowed";
        return;
    }
    if (env->n_live >= (size_t)env->cfg->ws_max_connections) {
        fail(env, hs, 503, 1013, "too many connections");
        return;
    }
    check_token(env, wsi, hs);
}

/* The reason phrase of the statuses handshake_answer_status() writes. */
static const char *status_text(int status) {
    switch (status) {
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

int handshake_answer_status(struct lws *wsi, int status, const char *reason, long retry_after_s) {
    char retry[48] = "";
    if (status == 503 && !retry_after_s)
        retry_after_s = 1;
    if (retry_after_s > 0)
        snprintf(retry, sizeof retry, "Retry-After: %ld\r\n", retry_after_s);
    unsigned char buf[LWS_PRE + 512];
    char *start = (char *)buf + LWS_PRE;
    int n = snprintf(start, sizeof buf - LWS_PRE,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s"
                     "Connection: close\r\n\r\n%s\n",
                     status, status_text(status), strlen(reason) + 1,
                     status == 401 ? "WWW-Authenticate: Token\r\n" : "", retry, reason);
    if (n < 0 || (size_t)n >= sizeof buf - LWS_PRE)
        return -1;
    return lws_write(wsi, (unsigned char *)start, (size_t)n, LWS_WRITE_HTTP_HEADERS) == n ? 0 : -1;
}
