/* adopt.c -- taking connections from our own listening socket into libwebsockets, within a cap.
 *
 * Each worker opens its own SO_REUSEPORT listener (listen.c), which libwebsockets 4.1 cannot do,
 * and watches it as a raw file. When it is readable, adopt_accept() accepts a bounded batch
 * (ADOPT_BATCH, so one busy listener cannot starve the sessions) and hands each connection to
 * lws_adopt_socket_vhost(), which treats it as if its own listener had accepted it. At most
 * max_adopted connections are adopted at once (counted until LWS_CALLBACK_WSI_DESTROY); past
 * that, connections are accepted and closed at once. Out of descriptors (EMFILE/ENFILE) the
 * spare descriptor is given up for the moment an accept-and-close takes, else the listener
 * would stay readable and the loop would spin. Each refusal episode is logged once
 * (refuse_flood), and its end too (refuse_flood_over).
 *
 * It does not read a byte of the connections (lws does) nor know about sessions; an EAGAIN
 * simply means a sibling worker took the connection. */
#include "adopt.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "log.h"
#include "prog.h"

/* Accepts one waiting connection and closes it at once; logged once per episode. */
static void refuse_one(struct adopt_state *a, int listen_fd, const char *why) {
    if (!a->is_refusing)
        log_msg(PROG, "refuse_flood", "%s: new connections are closed at once", why);
    a->is_refusing = 1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
}

void adopt_init(struct adopt_state *a, size_t max_adopted) {
    a->max_adopted = max_adopted;
    a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int adopt_accept(struct adopt_state *a, struct lws *listener) {
    int listen_fd = (int)lws_get_socket_fd(listener);
    a->listener = listener;
    for (int i = 0; i < ADOPT_BATCH; i++) {
        if (a->n_adopted >= a->max_adopted) {
            refuse_one(a, listen_fd, "too many pending connections");
            continue;
        }
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && a->spare_fd >= 0) {
            close(a->spare_fd);
            refuse_one(a, listen_fd, "out of file descriptors");
            a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            continue;
        }
        if (fd < 0)
            break; /* EAGAIN: all taken (maybe by a sibling worker) */
        if (a->is_refusing)
            log_msg(PROG, "refuse_flood_over", "accepting connections again");
        a->is_refusing = 0;
        if (lws_adopt_socket_vhost(lws_get_vhost(listener), fd))
            a->n_adopted++;
        else
            log_msg(PROG, "error", "could not adopt an accepted connection");
    }
    return 0;
}

void adopt_release(struct adopt_state *a, const struct lws *wsi) {
    if (wsi != a->listener && a->n_adopted > 0)
        a->n_adopted--;
}

void adopt_free(struct adopt_state *a) {
    if (a->spare_fd >= 0)
        close(a->spare_fd);
    a->spare_fd = -1;
}
