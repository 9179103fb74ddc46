/* protocol.h -- the "tokenauth" WebSocket protocol of libwebsockets: sessions, messages,
 * revocation timer and shutdown, over handshake.h, dbconn.h, replies.h and adopt.h.
 *
 * main.c puts protocol_list in the context creation info, and a struct protocol_context (alive
 * as long as the context) as the context user pointer; cfg->ws_max_connections must be resolved
 * (not 0) by then. Everything else happens in the callback.
 *
 * A process may run several lws contexts on one event loop (TOKENAUTH_WS_CONTEXT_SIZE, main.c):
 * the first owns the per-vhost data (sessions, database, revocation, channels, the cap, the
 * listener and the ticker); each further one, created with that data as its primary, shares it,
 * and only holds a part of the connections (adopt_add_vhost). */
#ifndef TOKENAUTH_PROTOCOL_H
#define TOKENAUTH_PROTOCOL_H

#include <stddef.h>

#include <libwebsockets.h>

#define PROTOCOL_RX_BUFFER 1024   /* bytes lws allocates per connection for received data */
#define PROTOCOL_MAX_REPLIES 32   /* queued command replies per session before reading pauses */
#define PROTOCOL_MAX_WAITING 255  /* queued command replies at which a message closes 1008 */
#define PROTOCOL_SHUTDOWN_MS 1000 /* how long shutdown waits for peers to answer close */
#define PROTOCOL_PENDING_MAX 256  /* connections beyond the cap (handshakes, refusals) adopted */
#define PROTOCOL_LOG_FLUSH_MS 250 /* connect/close log lines are written at most this late */
#define PROTOCOL_CLOSE_FLUSH_S 5  /* an application's close waits this long for queued replies */
#define PROTOCOL_KEEPALIVE_SLACK_MS 250   /* pings and drops wake the process at most this often */
#define PROTOCOL_PING_PAYLOAD "tokenauth" /* what our pings carry (and pongs echo) */
/* A worker whose parent watches the database (protocol_watch_database) still checks on its own
 * this often, or every TOKENAUTH_WS_REVOCATION_CHECK_MS when that is longer */
#define PROTOCOL_WATCHED_CHECK_MS 10000
#define PROTOCOL_PING_PAYLOAD_LEN 9

/* The protocol table: "tokenauth", redislink.h's entry for the Redis connections, then the
 * terminator. */
extern const struct lws_protocols protocol_list[];

struct protocol_vhd;
struct config;

/* The user data of every lws context of a worker (info.user). */
struct protocol_context {
    const struct config *cfg;     /* the settings, alive as long as the context */
    struct protocol_vhd *primary; /* NULL for the process's first context; for a further one,
                                     the first one's per-vhost data, which it then shares */
};

/* The per-vhost data of the context's default vhost (its primary's for a further context), or
 * NULL before PROTOCOL_INIT. */
struct protocol_vhd *protocol_vhd_get(struct lws_context *context);

/* Starts a further context (its protocol_context names the primary) at once: PROTOCOL_INIT joins
 * it to the primary's data, and accepted connections may go to it from then on. Destroy it
 * before the primary's context. Returns 0, or -1 when lws refused or ADOPT_VHOSTS_MAX contexts
 * share the data already. */
int protocol_join(struct lws_context *context);

/* Watches listen_fd (a listening socket, see listen.h) in the lws loop and adopts every
 * connection it accepts into the default vhost. Returns 0, or -1 when lws refused it. */
int protocol_adopt_listener(struct lws_context *context, int listen_fd);

/* Starts a shutdown: new handshakes get HTTP 503, every live session is closed with 1001. */
void protocol_begin_shutdown(struct protocol_vhd *vhd);

struct metrics_record;

/* Where this worker counts (metrics.h), from now on; NULL = metrics off. Call once the context
 * exists, before the listener is adopted. */
void protocol_set_metrics(struct protocol_vhd *vhd, struct metrics_record *metrics);

/* From now on the parent watches the database files (main.c) and calls
 * protocol_database_changed() through a signal when they move: the revocation check then runs
 * on that news (or a token's expiry, or every PROTOCOL_WATCHED_CHECK_MS) instead of every
 * TOKENAUTH_WS_REVOCATION_CHECK_MS, so hundreds of idle processes do not each wake twice a
 * second for nothing. */
void protocol_watch_database(struct protocol_vhd *vhd);

/* The database may have changed: the revocation check runs now, or once
 * TOKENAUTH_WS_REVOCATION_CHECK_MS has passed since the last one (a burst of writes costs one
 * check per period, as without a watcher). */
void protocol_database_changed(struct protocol_vhd *vhd);

/* Live (authenticated, not yet closed) sessions of this process. */
size_t protocol_n_sessions(const struct protocol_vhd *vhd);

/* The lws callback (exposed for the fuzzer and tests; lws calls it through protocol_list). */
int protocol_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len);

/* The lws log emit function: redacts tokens (auth_redact_tokens) and writes a log.h line; a
 * request lws closed over its head is logged and counted once (headerclose.h). */
void protocol_lws_log(int level, const char *line);

#endif
