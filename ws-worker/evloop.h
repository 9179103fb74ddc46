/* evloop.h -- the event loop under libwebsockets: lws's own poll() loop, or libev's epoll.
 *
 * lws's own loop calls poll() over every descriptor of the process on each turn, so each turn
 * costs more the more sockets the process holds, idle or not. libev waits with epoll: a turn
 * costs what is ready, so a process can hold tens of thousands of idle sockets and still answer
 * the one that speaks at the cost of one. Debian's lws 4.1.6 reaches libev through its plugin
 * (package libwebsockets-evlib-ev), loaded at context creation. The loop is ours (an lws
 * "foreign loop"): we run one turn at a time, as with lws_service(), so main looks at its signal
 * flag after each turn and the 1001 shutdown works the same under both loops.
 *
 * libuv, lws's other epoll plugin, is not offered: under it a bench client saw no 4401 for a
 * wrong token (docs/websocket.md, "Event loop"). */
#ifndef TOKENAUTH_EVLOOP_H
#define TOKENAUTH_EVLOOP_H

#include <stddef.h>

struct lws_context;
struct lws_context_creation_info;

enum evloop_kind { EVLOOP_POLL, EVLOOP_LIBEV };

/* "auto" picks poll up to this many connections per process, libev above (docs/websocket.md,
 * "Event loop": below it poll's visit of every socket costs less than epoll's extra system
 * calls when lws switches a socket's write interest; above it the visit dominates). */
#define EVLOOP_AUTO_POLL_MAX 1024

#define EVLOOP_ERR_NAME -1   /* not auto, poll or libev */
#define EVLOOP_ERR_PLUGIN -2 /* lws's libev plugin cannot be loaded */
#define EVLOOP_ERR_CREATE -3 /* libev could not create a loop */

/* Reads name (TOKENAUTH_WS_EVENT_LIB: auto, poll or libev) into *kind for a process of at most
 * max_connections, and checks that lws can load the plugin it needs ("auto" falls back to poll
 * when it cannot). Returns 0, or EVLOOP_ERR_NAME / EVLOOP_ERR_PLUGIN with the reason (naming the
 * Debian package to install) in err. */
int evloop_parse(const char *name, int max_connections, enum evloop_kind *kind, char *err,
                 size_t err_len);

/* "poll" or "libev". */
const char *evloop_name(enum evloop_kind kind);

struct evloop;

/* Creates the loop of kind, in the process that will serve (after fork: an epoll set is not
 * shared across processes). *out is NULL for EVLOOP_POLL: lws's own loop needs nothing.
 * Returns 0, or EVLOOP_ERR_CREATE. */
int evloop_create(enum evloop_kind kind, struct evloop **out);

/* Sets info's option and foreign loop for loop (nothing for NULL). loop outlives the context. */
void evloop_configure(struct evloop *loop, struct lws_context_creation_info *info);

/* One turn: waits for events (or a timer, or lws_cancel_service()) and services them. Returns
 * 0, or -1 when lws failed. */
int evloop_turn(struct evloop *loop, struct lws_context *context);

/* Destroys context (may be NULL), then loop (may be NULL). */
void evloop_destroy(struct evloop *loop, struct lws_context *context);

#endif
