/* listen.c -- open a SO_REUSEPORT listening socket for one ws-worker process.
 *
 * Numeric addresses only (getaddrinfo with AI_NUMERICHOST): a name could resolve differently in
 * each worker. IPv6 sockets are IPV6_V6ONLY so "::1" and "127.0.0.1" workers never collide. */
#include "listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int listen_resolve(const char *addr, int port, struct addrinfo **out) {
    struct addrinfo hints;
    char port_text[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(port_text, sizeof port_text, "%d", port);
    *out = NULL;
    return getaddrinfo(addr, port_text, &hints, out);
}

int listen_open(const char *addr, int port, char *err, size_t err_len) {
    struct addrinfo *ai = NULL;
    int rc = listen_resolve(addr, port, &ai);
    if (rc != 0) {
        snprintf(err, err_len, "bind address \"%s\": %s (expected a numeric IPv4 or IPv6 address)",
                 addr, gai_strerror(rc));
        return -1;
    }
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const char *what = "socket";
    if (fd < 0)
        goto fail;
    what = "setsockopt SO_REUSEADDR/SO_REUSEPORT";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        goto fail;
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    /* Inherited by every accepted socket: a frame (or a joined batch, writer.h) is a whole
     * message, and Nagle's algorithm would only hold it back until the previous one is acked. */
    what = "setsockopt TCP_NODELAY";
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        goto fail;
    what = "bind";
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        goto fail;
    what = "listen";
    if (listen(fd, LISTEN_BACKLOG) != 0)
        goto fail;
    freeaddrinfo(ai);
    return fd;
fail:
    snprintf(err, err_len, "%s %s port %d: %s", what, addr, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}
