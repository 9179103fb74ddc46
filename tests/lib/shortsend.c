/* shortsend.c -- a test's fault injection and probe, loaded with LD_PRELOAD into ws-worker.
 * ws-worker's own send() (ws-worker/sendjoin.c) finds this one with dlsym(RTLD_NEXT), so it
 * sees every send() lws and ws-worker make:
 *   SHORTSEND_MAX=N  every send() of more than N bytes passes only N, as a kernel with a nearly
 *                    full send buffer would: lws' buffering of the rest runs on every write;
 *   SHORTSEND_LOG=F  one line per send() appended to F, its length: what a test counts to see
 *                    that a batch's frames left in one call.
 * Neither set: send() unchanged. Built by harness.preload_env() for the test that uses it
 * (test_ws_writer.py), never installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*send_fn)(int, const void *, size_t, int);

ssize_t send(int fd, const void *buf, size_t n, int flags) {
    static send_fn next;
    static size_t max;
    static int log_fd = -1;
    if (!next) {
        next = (send_fn)dlsym(RTLD_NEXT, "send");
        const char *env = getenv("SHORTSEND_MAX");
        max = env && atol(env) > 0 ? (size_t)atol(env) : 0;
        const char *log = getenv("SHORTSEND_LOG");
        if (log)
            log_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    }
    if (log_fd >= 0) {
        char line[32];
        int len = snprintf(line, sizeof line, "%zu\n", n);
        if (write(log_fd, line, (size_t)len) != len)
            log_fd = -1;
    }
    return next(fd, buf, max && n > max ? max : n, flags);
}
