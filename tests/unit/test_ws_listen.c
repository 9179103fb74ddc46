/* test_ws_listen.c -- ws-worker/listen.c: a listener on a free loopback port, whose accepted
 * sockets inherit TCP_NODELAY (writer.h writes whole messages); a name instead of a numeric
 * address is refused with the reason. */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../ws-worker/listen.h"

static int nodelay_of(int fd) {
    int on = 0;
    socklen_t len = sizeof on;
    return getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 ? on : -1;
}

/* A client connected to fd's port, or -1. */
static int connect_to(int listener) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || getsockname(listener, (struct sockaddr *)&sa, &len) != 0 ||
        connect(fd, (struct sockaddr *)&sa, len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

void test_ws_listen(void) {
    char err[256] = "";

    TEST("listen 1: a listener on 127.0.0.1, and the socket it accepts has TCP_NODELAY");
    int fd = listen_open("127.0.0.1", 0, err, sizeof err);
    CHECK(fd >= 0);
    if (fd >= 0) {
        int client = connect_to(fd);
        int accepted = client >= 0 ? accept(fd, NULL, NULL) : -1;
        CHECK(accepted >= 0);
        CHECK_INT(nodelay_of(accepted), 1);
        if (accepted >= 0)
            close(accepted);
        if (client >= 0)
            close(client);
        close(fd);
    }

    TEST("listen 2: a host name is refused, with the address and what is expected");
    CHECK_INT(listen_open("localhost", 0, err, sizeof err), -1);
    CHECK(strstr(err, "\"localhost\"") != NULL);
    CHECK(strstr(err, "numeric") != NULL);
}
