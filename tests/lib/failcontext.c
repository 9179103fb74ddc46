/* failcontext.c -- a test's fault injection, loaded with LD_PRELOAD into ws-worker: the
 * FAILCONTEXT_AT-th call of lws_create_context() in a process returns NULL, as lws does when it
 * cannot allocate or set up a context, and the others go to the real one (found with
 * dlsym(RTLD_NEXT)). What the worker must do then: log which context failed, destroy the ones it
 * made, and exit 1 (test_ws_gaps g33). FAILCONTEXT_AT unset or 0: no call fails. Built by
 * harness.preload_env() for the test, never installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

#include <libwebsockets.h>

typedef struct lws_context *(*create_fn)(const struct lws_context_creation_info *);

struct lws_context *lws_create_context(const struct lws_context_creation_info *info) {
    static create_fn next;
    static long n_calls;
    if (!next)
        next = (create_fn)dlsym(RTLD_NEXT, "lws_create_context");
    const char *at = getenv("FAILCONTEXT_AT");
    if (at && ++n_calls == atol(at))
        return NULL;
    return next(info);
}
