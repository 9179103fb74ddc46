/* test_ws_sendjoin.c -- ws-worker/sendjoin.c: send() outside a capture is the system's, inside
 * one what is sent on the captured descriptor is appended (and only on it), the room shrinks,
 * a second capture is refused, a send past the room is cut short and reported at the end, and
 * after the end send() is the system's again. On a socketpair, so what reaches the peer is
 * read back. */
#include "test.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../ws-worker/sendjoin.h"

/* What the peer has to read now (non-blocking), as a string in out. */
static const char *peer_reads(int fd, char *out, size_t max) {
    ssize_t n = recv(fd, out, max - 1, MSG_DONTWAIT);
    out[n > 0 ? n : 0] = '\0';
    return out;
}

void test_ws_sendjoin(void) {
    int a[2], b[2];
    char got[64];
    unsigned char buf[16];
    size_t len = 99;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM, 0, b) != 0) {
        TEST("sendjoin: socketpair");
        CHECK(0);
        return;
    }

    TEST("sendjoin 1: without a capture send() reaches the peer, and there is no room");
    CHECK_INT((int)send(a[0], "abc", 3, 0), 3);
    CHECK_STR(peer_reads(a[1], got, sizeof got), "abc");
    CHECK_INT((int)sendjoin_room(), 0);

    TEST("sendjoin 2: inside a capture sends on its descriptor are joined, not sent");
    CHECK_INT(sendjoin_begin(a[0], buf, sizeof buf), SENDJOIN_OK);
    CHECK_INT((int)send(a[0], "hello", 5, MSG_NOSIGNAL), 5);
    CHECK_INT((int)send(a[0], "world", 5, 0), 5);
    CHECK_INT((int)sendjoin_room(), 6);
    CHECK_STR(peer_reads(a[1], got, sizeof got), "");

    TEST("sendjoin 3: another descriptor is sent to as usual during a capture");
    CHECK_INT((int)send(b[0], "other", 5, 0), 5);
    CHECK_STR(peer_reads(b[1], got, sizeof got), "other");

    TEST("sendjoin 4: a second capture is refused while one is open");
    CHECK_INT(sendjoin_begin(b[0], buf, sizeof buf), SENDJOIN_ERR_BUSY);

    TEST("sendjoin 5: the end gives what was joined, in order");
    CHECK_INT(sendjoin_end(&len), SENDJOIN_OK);
    CHECK_INT((int)len, 10);
    CHECK(memcmp(buf, "helloworld", 10) == 0);

    TEST("sendjoin 6: after the end send() on that descriptor reaches the peer again");
    CHECK_INT((int)send(a[0], "xyz", 3, 0), 3);
    CHECK_STR(peer_reads(a[1], got, sizeof got), "xyz");
    CHECK_INT((int)sendjoin_room(), 0);

    TEST("sendjoin 7: a send past the room is cut short, a full buffer says EAGAIN, the end "
         "reports the overflow");
    CHECK_INT(sendjoin_begin(a[0], buf, 8), SENDJOIN_OK);
    CHECK_INT((int)send(a[0], "0123456789", 10, 0), 8);
    errno = 0;
    CHECK_INT((int)send(a[0], "z", 1, 0), -1);
    CHECK_INT(errno, EAGAIN);
    CHECK_INT(sendjoin_end(&len), SENDJOIN_ERR_OVERFLOW);
    CHECK_INT((int)len, 8);
    CHECK(memcmp(buf, "01234567", 8) == 0);
    CHECK_STR(peer_reads(a[1], got, sizeof got), "");

    TEST("sendjoin 8: a new capture after an overflow starts clean");
    CHECK_INT(sendjoin_begin(a[0], buf, sizeof buf), SENDJOIN_OK);
    CHECK_INT((int)send(a[0], "ok", 2, 0), 2);
    CHECK_INT(sendjoin_end(&len), SENDJOIN_OK);
    CHECK_INT((int)len, 2);

    TEST("sendjoin 9: a send() error outside a capture is the system's");
    close(b[1]);
    errno = 0;
    CHECK_INT((int)send(b[0], "x", 1, MSG_NOSIGNAL), -1);
    CHECK_INT(errno, EPIPE);
    close(a[0]);
    close(a[1]);
    close(b[0]);
}
