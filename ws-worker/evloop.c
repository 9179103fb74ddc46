/* evloop.c -- the event loop under libwebsockets: lws's own poll() loop, or libev's epoll.
 *
 * For libev the loop is created here and handed to lws as a foreign loop; a turn is
 * ev_run(EVRUN_ONCE), the counterpart of lws_service(). Whether lws's plugin loads is checked
 * with dlopen() at start, by the file name lws 4.1 itself opens, so a missing package is named
 * once, before any worker starts, rather than lost in an lws log line of every worker. */
#include "evloop.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include <libwebsockets.h>

#define LIBEV_PLUGIN "libwebsockets-evlib_ev.so"
#define LIBEV_PACKAGE "libwebsockets-evlib-ev"

struct evloop {
    struct ev_loop *ev; /* EVFLAG_NOSIGMASK: main's signal handlers keep working */
    void *foreign[1];   /* info.foreign_loops: lws reads it in lws_create_context() */
};

static int plugin_check(const char *name, char *err, size_t err_len) {
    void *handle = dlopen(LIBEV_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (handle) {
        dlclose(handle);
        return 0;
    }
    snprintf(err, err_len,
             "TOKENAUTH_WS_EVENT_LIB \"%s\": cannot load the libwebsockets plugin " LIBEV_PLUGIN
             " (install the Debian package " LIBEV_PACKAGE "): %s",
             name, dlerror());
    return EVLOOP_ERR_PLUGIN;
}

int evloop_parse(const char *name, int max_connections, enum evloop_kind *kind, char *err,
                 size_t err_len) {
    *kind = EVLOOP_POLL;
    if (strcmp(name, "poll") == 0)
        return 0;
    if (strcmp(name, "auto") == 0) {
        if (max_connections > EVLOOP_AUTO_POLL_MAX && plugin_check(name, err, err_len) == 0)
            *kind = EVLOOP_LIBEV;
        return 0;
    }
    if (strcmp(name, "libev") == 0) {
        *kind = EVLOOP_LIBEV;
        return plugin_check(name, err, err_len);
    }
    snprintf(err, err_len, "TOKENAUTH_WS_EVENT_LIB \"%s\": expected auto, poll or libev", name);
    return EVLOOP_ERR_NAME;
}

const char *evloop_name(enum evloop_kind kind) {
    return kind == EVLOOP_LIBEV ? "libev" : "poll";
}

int evloop_create(enum evloop_kind kind, struct evloop **out) {
    *out = NULL;
    if (kind == EVLOOP_POLL)
        return 0;
    struct evloop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return EVLOOP_ERR_CREATE;
    loop->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!loop->ev) {
        free(loop);
        return EVLOOP_ERR_CREATE;
    }
    *out = loop;
    return 0;
}

void evloop_configure(struct evloop *loop, struct lws_context_creation_info *info) {
    if (!loop)
        return;
    info->options |= LWS_SERVER_OPTION_LIBEV;
    loop->foreign[0] = loop->ev;
    info->foreign_loops = loop->foreign;
}

int evloop_turn(struct evloop *loop, struct lws_context *context) {
    if (!loop)
        return lws_service(context, 0) < 0 ? -1 : 0;
    ev_run(loop->ev, EVRUN_ONCE);
    return 0;
}

void evloop_destroy(struct evloop *loop, struct lws_context *context) {
    lws_context_destroy(context);
    if (!loop)
        return;
    ev_loop_destroy(loop->ev);
    free(loop);
}
