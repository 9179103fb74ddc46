/* handshake.h -- the checks a WebSocket upgrade must pass, and how a refusal is answered.
 *
 * In order, stopping at the first failure, so nothing reaches the database before the cheap
 * checks pass (an address past TOKENAUTH_WS_AUTH_FAILURES got 429 before all of them, adopt.h):
 *   shutting down    HTTP 503
 *   path "/"         else HTTP 404
 *   Origin           TOKENAUTH_ALLOWED_HOSTS (origin.h), else HTTP 403
 *   connection cap   live sessions < cfg->ws_max_connections, else close 1013 (HTTP 503)
 *   token            auth.h from query, subprotocol, Authorization, else 4401 (HTTP 401)
 *   db_token_check   exists, active user, not expired, else 4401 (HTTP 401); no db 1011 (503)
 * Token and cap failures by default accept the socket and close it at once with the code and a
 * reason browsers can read; with cfg->ws_refuse_handshake they get the HTTP status instead. */
#ifndef TOKENAUTH_HANDSHAKE_H
#define TOKENAUTH_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "db.h"

struct config;
struct dbconn;
struct lws;
struct origin_list;

/* The outcome of the checks. */
struct handshake {
    int http_status;     /* non-zero: refuse the upgrade with this HTTP status */
    uint16_t close_code; /* non-zero: accept, then close at once with this code */
    const char *reason;  /* why, static text for the close frame and the log */
    int source;          /* AUTH_SOURCE_* of the token */
    int64_t user_id;     /* the token's user, when accepted */
    int64_t expires_s;   /* the token's expiry, 0 = never */
    char key[AUTH_KEY_MAX];
};

/* The owner of the last token the database accepted (names for the connect log), and whose
 * handshake it was; kept apart from struct handshake so the names are never copied. */
struct handshake_owner {
    struct lws *wsi;            /* whose token owner is in user; NULL when none */
    struct db_token_owner user; /* filled by db_token_check */
};

/* What the checks read about the process, gathered by the caller for one call. */
struct handshake_env {
    const struct config *cfg;        /* settings: cap, refuse_handshake, token_ttl_s */
    const struct origin_list *hosts; /* allowed Origin hosts */
    size_t n_live;                   /* live sessions now, for the cap */
    int is_shutting_down;            /* refuse everything with 503 */
    struct dbconn *dbc;              /* opened here if needed, only for the token lookup */
    struct handshake_owner *owner;   /* written by the token lookup */
};

/* Runs every check on wsi's request headers (at LWS_CALLBACK_HTTP_CONFIRM_UPGRADE or later);
 * the result in hs, all of it written. */
void handshake_check(const struct handshake_env *env, struct lws *wsi, struct handshake *hs);

/* Writes a whole HTTP/1.1 refusal (401, 403, 404, 429, 431 or 503) with reason as a text body and,
 * when retry_after_s > 0, a Retry-After header (503 always has one, 1 s by default). Returns 0,
 * or -1 to hang up. */
int handshake_answer_status(struct lws *wsi, int status, const char *reason, long retry_after_s);

#endif
