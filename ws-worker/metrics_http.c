/* metrics_http.c -- ws-worker's Prometheus endpoint: GET /metrics on 127.0.0.1:port.
 *
 * The listener is a raw file of the protocol METRICS_HTTP_PROTOCOL_NAME in the vhost "metrics";
 * when it is readable, a few connections are accepted and adopted into the same vhost as HTTP
 * (lws_adopt_socket_vhost), whose first protocol is this one. LWS_CALLBACK_HTTP builds the whole
 * answer at once (a few KB: metrics_format into a buffer with LWS_PRE headroom), writes the
 * headers, and the body follows at HTTP_WRITEABLE in one lws_write (lws keeps what the socket
 * does not take). Keep-alive works as lws' HTTP server does. Nothing here blocks: the file of
 * login-fcgi is a local mmap. */
#include "metrics_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "prog.h"

#define ACCEPT_BATCH 8
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Per scrape connection: the answer waiting for HTTP_WRITEABLE. */
struct metrics_pss {
    unsigned char *buf; /* LWS_PRE bytes, then the body */
    size_t len;         /* bytes of body */
};

/* The listener is readable: accepts a batch, adopts each (or closes it past the limit). */
static int accept_some(struct metrics_http *mh, struct lws *listener) {
    int listen_fd = (int)lws_get_socket_fd(listener);
    mh->listener = listener;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break; /* EAGAIN (or a sibling worker took it) */
        if (mh->n_open >= METRICS_HTTP_MAX_OPEN) {
            close(fd);
            continue;
        }
        if (lws_adopt_socket_vhost(lws_get_vhost(listener), fd))
            mh->n_open++; /* else lws closed it */
    }
    return 0;
}

/* The login-fcgi part: its counts, or a comment saying why there are none. */
static void format_file(const char *path, char *out, size_t out_len) {
    struct metrics_record *r;
    char err[512];
    uint64_t values[METRIC_N];
    if (metrics_file_open(path, 0, &r, err, sizeof err) != METRICS_OK) {
        snprintf(out, out_len, "# %s\n", err);
        return;
    }
    for (int m = 0; m < METRIC_N; m++)
        values[m] = atomic_load_explicit(&r->v[m], memory_order_relaxed);
    metrics_file_close(r);
    if (metrics_format(values, METRIC_LOGIN_FIRST, METRIC_N, out, out_len) < 0)
        snprintf(out, out_len, "# login-fcgi metrics: too long\n");
}

/* The whole body into pss (LWS_PRE headroom). Returns 0, or -1 out of memory. */
static int build(const struct metrics_http *mh, struct metrics_pss *pss) {
    size_t room = 2 * METRICS_TEXT_MAX;
    pss->buf = malloc(LWS_PRE + room);
    if (!pss->buf)
        return -1;
    char *text = (char *)pss->buf + LWS_PRE;
    uint64_t values[METRIC_N];
    metrics_group_sum(mh->group, values);
    long n = metrics_format(values, METRIC_WS_FIRST, METRIC_LOGIN_FIRST, text, METRICS_TEXT_MAX);
    pss->len = n > 0 ? (size_t)n : 0;
    if (mh->file_path && mh->file_path[0])
        format_file(mh->file_path, text + pss->len, room - pss->len);
    pss->len += strlen(text + pss->len);
    return 0;
}

/* LWS_CALLBACK_HTTP: GET /metrics gets the headers now and the body when writable. */
static int on_http(struct lws *wsi, struct metrics_http *mh, struct metrics_pss *pss,
                   const char *uri) {
    if (!uri || strcmp(uri, "/metrics") != 0 || lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    free(pss->buf);
    pss->buf = NULL;
    if (build(mh, pss) != 0)
        return -1;
    unsigned char head[LWS_PRE + 512], *p = head + LWS_PRE, *end = head + sizeof head;
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, CONTENT_TYPE, pss->len, &p, end) ||
        lws_finalize_write_http_header(wsi, head + LWS_PRE, &p, end))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

/* LWS_CALLBACK_HTTP_WRITEABLE: the body, in one write. */
static int on_writeable(struct lws *wsi, struct metrics_pss *pss) {
    if (!pss->buf)
        return 0;
    int n = lws_write(wsi, pss->buf + LWS_PRE, pss->len, LWS_WRITE_HTTP_FINAL);
    free(pss->buf);
    pss->buf = NULL;
    if (n < (int)pss->len)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int metrics_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                            size_t len) {
    struct metrics_http *mh = lws_get_vhost_user(lws_get_vhost(wsi));
    struct metrics_pss *pss = user;
    switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
        return mh ? accept_some(mh, wsi) : -1;
    case LWS_CALLBACK_HTTP:
        return mh && pss ? on_http(wsi, mh, pss, in) : -1;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return pss ? on_writeable(wsi, pss) : -1;
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss) {
            free(pss->buf);
            pss->buf = NULL;
        }
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        if (mh && wsi != mh->listener && mh->n_open > 0)
            mh->n_open--;
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols metrics_protocols[] = {
    {
        .name = METRICS_HTTP_PROTOCOL_NAME,
        .callback = metrics_callback,
        .per_session_data_size = sizeof(struct metrics_pss),
    },
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int metrics_http_start(struct lws_context *context, struct metrics_http *mh, int listen_fd) {
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = metrics_protocols;
    info.vhost_name = "metrics";
    info.user = mh;
    struct lws_vhost *vh = lws_create_vhost(context, &info);
    lws_sock_file_fd_type fd = {.filefd = listen_fd};
    if (!vh || !lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd,
                                           METRICS_HTTP_PROTOCOL_NAME, NULL))
        return -1;
    return 0;
}
