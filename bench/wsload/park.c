/* park.c -- sockets held in a Unix socket's queue instead of the descriptor table (park.h).
 *
 * A SOCK_STREAM pair: each message is one byte carrying up to PARK_BATCH descriptors, and a
 * receive never goes past a message that carries descriptors, so each is taken back whole.
 * Not SOCK_SEQPACKET: its queue holds net.unix.max_dgram_qlen messages (10 on Debian), where a
 * stream's is bounded by bytes (the send buffer; a message takes about a kilobyte of it). Every
 * send and receive is non-blocking: the queue is this process's own, so a full one is an answer
 * (EAGAIN), not something to wait for. */
#include "park.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PARK_SNDBUF (8 << 20) /* bytes: room for 8,000 messages, 2,000,000 descriptors */

struct park {
    int in;  /* parked sockets are sent here */
    int out; /* and queue here until park_drain() */
};

struct park *park_new(void) {
    int sv[2];
    struct park *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        free(p);
        return NULL;
    }
    p->in = sv[0];
    p->out = sv[1];
    int sndbuf = PARK_SNDBUF; /* as much as net.core.wmem_max lets it have */
    setsockopt(p->in, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    return p;
}

/* One message of n (1 .. PARK_BATCH) descriptors into the queue. 0, or -1 with errno. */
static int send_batch(struct park *p, const int *fds, int n) {
    union {
        char buf[CMSG_SPACE(PARK_BATCH * sizeof(int))];
        struct cmsghdr align;
    } control;
    char byte = 'p';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int))};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
    return sendmsg(p->in, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int park_add(struct park *p, const int *fds, int n, int *why) {
    int done = 0;
    *why = 0;
    while (done < n) {
        int k = n - done < PARK_BATCH ? n - done : PARK_BATCH;
        if (send_batch(p, fds + done, k) < 0) {
            *why = errno;
            break;
        }
        for (int i = 0; i < k; i++)
            close(fds[done + i]); /* the queue holds the socket now */
        done += k;
    }
    return done;
}

/* How many of fds[0 .. n-1] are still open: neither end of stream nor an error pending. */
static int count_open(const int *fds, int n) {
    struct pollfd pf[PARK_BATCH];
    int open = 0;
    for (int i = 0; i < n; i++)
        pf[i] = (struct pollfd){.fd = fds[i], .events = POLLRDHUP};
    if (poll(pf, (nfds_t)n, 0) < 0)
        return 0;
    for (int i = 0; i < n; i++)
        open += (pf[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) == 0;
    return open;
}

/* Takes one message back: its descriptors into fds, their number into *n. 1, 0 when the queue
 * is empty, -1 with errno. */
static int receive_batch(struct park *p, int *fds, int *n) {
    union {
        char buf[CMSG_SPACE(PARK_BATCH * sizeof(int))];
        struct cmsghdr align;
    } control;
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t got = recvmsg(p->out, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    *n = 0;
    if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        *n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        memcpy(fds, CMSG_DATA(cm), (size_t)*n * sizeof(int));
    }
    if (msg.msg_flags & MSG_CTRUNC) { /* no room in the table: the kernel closed the rest */
        for (int i = 0; i < *n; i++)
            close(fds[i]);
        errno = EMFILE;
        return -1;
    }
    return 1;
}

int park_drain(struct park *p) {
    int fds[PARK_BATCH], n, rc, open = 0, err = 0;
    while ((rc = receive_batch(p, fds, &n)) > 0) {
        open += count_open(fds, n);
        for (int i = 0; i < n; i++)
            close(fds[i]);
    }
    if (rc < 0)
        err = errno;
    close(p->in);
    close(p->out);
    free(p);
    errno = err;
    return rc < 0 ? -1 : open;
}
