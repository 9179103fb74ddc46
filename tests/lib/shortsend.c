/* shortsend.c -- a test's fault injection, loaded with LD_PRELOAD into ws-worker: every send()
 * of more than SHORTSEND_MAX bytes (the environment; 1000 when unset) passes only that many, as
 * a kernel with a nearly full send buffer would. ws-worker's own send() (ws-worker/sendjoin.c)
 * finds this one with dlsym(RTLD_NEXT), so lws' frames and ws-worker's joined batches are both
 * cut short, and lws' buffering of the rest is exercised on every write. Built by the test
 * that uses it (test_ws_writer.py), never installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef ssize_t (*send_fn)(int, const void *, size_t, int);

ssize_t send(int fd, const void *buf, size_t n, int flags) {
    static send_fn next;
    static size_t max;
    if (!next) {
        next = (send_fn)dlsym(RTLD_NEXT, "send");
        const char *env = getenv("SHORTSEND_MAX");
        max = env && atol(env) > 0 ? (size_t)atol(env) : 1000;
    }
    return next(fd, buf, n > max ? max : n, flags);
}
