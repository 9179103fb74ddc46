/* sendjoin.c -- send() as ws-worker's own, to join a batch's frames into one write (see
 * sendjoin.h). */
#include "sendjoin.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct capture {
    int fd; /* -1: no capture open */
    unsigned char *buf;
    size_t cap, len;
    int overflowed;
};

static struct capture capture = {.fd = -1};

typedef ssize_t (*send_fn)(int, const void *, size_t, int);

/* libc's send(), or what the next object interposes (ASan's check): found once. Without it
 * (impossible with glibc), the system call itself. */
static ssize_t next_send(int fd, const void *buf, size_t n, int flags) {
    static send_fn next;
    if (!next)
        next = (send_fn)dlsym(RTLD_NEXT, "send");
    if (next)
        return next(fd, buf, n, flags);
    return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

ssize_t send(int fd, const void *buf, size_t n, int flags) {
    if (fd != capture.fd || fd < 0)
        return next_send(fd, buf, n, flags);
    size_t take = n <= capture.cap - capture.len ? n : capture.cap - capture.len;
    if (take < n)
        capture.overflowed = 1;
    memcpy(capture.buf + capture.len, buf, take);
    capture.len += take;
    if (take == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)take;
}

int sendjoin_begin(int fd, unsigned char *buf, size_t cap) {
    if (capture.fd >= 0)
        return SENDJOIN_ERR_BUSY;
    capture = (struct capture){.fd = fd, .buf = buf, .cap = cap};
    return SENDJOIN_OK;
}

size_t sendjoin_room(void) {
    return capture.fd >= 0 ? capture.cap - capture.len : 0;
}

int sendjoin_end(size_t *len) {
    *len = capture.len;
    int rc = capture.overflowed ? SENDJOIN_ERR_OVERFLOW : SENDJOIN_OK;
    capture = (struct capture){.fd = -1};
    return rc;
}
