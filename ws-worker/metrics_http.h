/* metrics_http.h -- ws-worker's Prometheus endpoint: GET /metrics on 127.0.0.1:port.
 *
 * Each worker opens its own SO_REUSEPORT listener on 127.0.0.1 (listen.h), adopts it into a
 * vhost of its own ("metrics", no listener of lws', its one protocol below) and hands each
 * connection to lws as HTTP, as adopt.h does for the WebSocket port. Whichever worker the kernel
 * picks answers with the whole group's sum (metrics.h's shared records), then login-fcgi's
 * counts when TOKENAUTH_METRICS_FILE names a file that is there (mapped read-only for the
 * scrape). Any other path is 404. At most METRICS_HTTP_MAX_OPEN scrape connections at once per
 * worker: past that a connection is closed at once, so a local flood costs the loop nothing. */
#ifndef TOKENAUTH_METRICS_HTTP_H
#define TOKENAUTH_METRICS_HTTP_H

#include <libwebsockets.h>

#define METRICS_HTTP_BIND "127.0.0.1" /* never another address: the numbers are the operator's */
#define METRICS_HTTP_MAX_OPEN 16
#define METRICS_HTTP_PROTOCOL_NAME "tokenauth-metrics"

struct metrics_group;

/* The endpoint's state, owned by the caller (alive as long as the context). Zero it, then fill
 * group and file_path. */
struct metrics_http {
    struct metrics_group *group; /* what is summed */
    const char *file_path;       /* TOKENAUTH_METRICS_FILE, "" = none */
    struct lws *listener;        /* the adopted listening socket */
    int n_open;                  /* scrape connections open */
};

/* Creates the "metrics" vhost in context and adopts listen_fd (a listening socket on
 * METRICS_HTTP_BIND) into it. Returns 0, or -1 when lws refused (listen_fd is then the
 * caller's to close). */
int metrics_http_start(struct lws_context *context, struct metrics_http *mh, int listen_fd);

#endif
