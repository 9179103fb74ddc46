/* wsload.c -- a WebSocket load generator for ws-worker: handshakes/s, hello round trips/s, and
 * thousands of idle authenticated connections.
 *
 * Plain non-blocking sockets and one epoll loop per thread; the client side of RFC 6455 is
 * written by hand, only as far as a load generator needs it: the HTTP upgrade request (token in
 * the query string, an Authorization header or a Sec-WebSocket-Protocol entry), a check of the
 * "101" status and of Sec-WebSocket-Accept (computed once: every connection sends the same
 * Sec-WebSocket-Key, which the protocol allows), masked text frames built once at start (one
 * fixed masking key, also allowed), and the server's unmasked frames: text replies, ping
 * (answered with pong), close.
 *
 * Modes:
 *   handshakes  --connections N loops of connect -> upgrade -> 101 -> close, for --duration s.
 *               --close ws (the default): the client sends a close frame (1000) and, once the
 *               server's close frame has arrived, closes TCP at once with a FIN, as a browser
 *               does (close frames went both ways, so RFC 6455 7.1.1 lets the client close).
 *               --close ws-rst: the same closing handshake, then an abortive TCP close (RST):
 *               7.1.1 allows the client to close "at any time" after both close frames, and a
 *               reset spares both kernels the FIN exchange and the TIME_WAIT socket, which is
 *               what a load generator should not be measuring. --close rst: an abortive close
 *               right after the 101, no closing handshake.
 *               ws-worker checks the token before it answers 101; with ws and ws-rst the
 *               server's close frame must also carry 1000 (a 4401 there counts as an error), so
 *               every counted handshake was an authenticated one. The request is sent right
 *               after connect() when the loopback handshake has already finished.
 *   roundtrips  N connections each send {"command": "Say hello !", ...} (or --message TEXT)
 *               and wait for the reply (containing --reply TEXT, "command_response" by
 *               default), --depth messages in flight (1 by default), for --duration s once all
 *               are open.
 *   idle        opens N connections, each proven authenticated by one hello round trip (a bad
 *               token is accepted and then closed with 4401, so a 101 alone proves nothing),
 *               prints "wsload: idle: N of N connections open" and holds them until SIGINT,
 *               SIGTERM or --duration s (0: until a signal), answering pings. With
 *               --subscriptions K each connection subscribes to K channels instead, proven by
 *               K {"subscribed": ...} answers: --channel C itself when K is 1, else C.0 ..
 *               C.<K-1> (shared by all connections) or, with --distinct, C.<i>.0 ..
 *               C.<i>.<K-1> for connection i (channels of their own). With --park, once
 *               all are open each thread moves its connections out of the descriptor table
 *               into a Unix socket's queue (bench/wsload/park.h: the host's init lists every
 *               process's descriptors, at a cost that grows with their number, which clients
 *               on other machines would not add); they are held all the same, cannot answer
 *               pings, and at the end count as open only if the server has not closed them.
 *   fanout      N connections each send {"command": "subscribe", "channel": C} and wait for
 *               {"subscribed": C}; once Redis (--redis URL) counts a subscriber on C, a
 *               publisher thread (bench/wsload/publisher.h) PUBLISHes {"t": <ns>, "s": <seq>}
 *               to C for --duration s, with --window W publications not yet taken by all N
 *               (as fast as they are taken), or --rate R publications per second. Counts
 *               deliveries {"channel": C, "data": {...}} at the clients, and the latency from
 *               publishing to delivery (CLOCK_MONOTONIC: publisher and clients share the
 *               process). With --external no publisher thread: another process publishes
 *               (bench/django/djpub.py, Django's group_send) with the same data, stamped by
 *               the same clock (CLOCK_MONOTONIC is one per machine); the measured period starts
 *               at the first delivery, and every delivery with a "t" and an "s" counts.
 *   personal    N connections, connection i with the token of line i of --tokens FILE
 *               ("<user id> <token>" lines), each proven by a hello; once Redis counts a
 *               subscriber on every personal channel "user.<id>", --rounds times: one
 *               publication to each of the N personal channels (pipelined), timed until all N
 *               were delivered. rate= is N / the fastest round; every round is printed.
 *
 * Output: a "wsload: t=<s> rate=<n>/s ..." line each second on stderr, and one summary line on
 * stdout: "wsload: mode=... connections=... duration_s=... total=... rate=.../s errors=...";
 * fanout and personal add published=, taken=, p50_us= and p99_us= (latency of the deliveries
 * of the whole run), personal rounds_rate=. A delivery that is not one of this run's
 * publications (a gap notice, say) counts as an error. The token is never printed.
 *
 * With --nap-us N a thread whose loop turn did not fill its event array sleeps N us before the
 * next epoll_wait instead of blocking in it: on loopback the server's send() runs the
 * receiver's side, including waking a thread asleep in epoll_wait, so a load generator that
 * sleeps there makes the server pay one wake-up per segment it sends, which a server with
 * remote clients never pays. Napping, the thread finds what arrived meanwhile in one turn;
 * latency, taken when the bytes are read, can only look longer by up to N us.
 *
 * It raises RLIMIT_NOFILE to what it needs, and with --sources K binds connections to
 * 127.0.0.1 .. 127.0.0.K in turn (IP_BIND_ADDRESS_NO_PORT; from 127.0.0.B with --source-base B,
 * so that a measuring run shares no source with held sockets) when one address's ephemeral ports
 * would run short. Known limits: a message is written with one send() (small frames on an
 * uncongested socket; a short write counts as an error), and a server frame must fit in the
 * connection's buffer (WSLOAD_IN_MAX bytes). IPv4 only. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "wsload/latency.h"
#include "wsload/park.h"
#include "wsload/publisher.h"

#define WSLOAD_IN_MAX 4096  /* bytes buffered per connection: a response head or a frame */
#define WSLOAD_REQ_MAX 8192 /* bytes of the upgrade request */
#define WSLOAD_MAX_THREADS 64
#define WSLOAD_EVENTS 512              /* epoll events taken per wait */
#define WSLOAD_OPEN_TIMEOUT_S 120      /* roundtrips and idle: --open-timeout's default */
#define WSLOAD_SUBSCRIBED_TIMEOUT_S 30 /* fanout, personal: for Redis to count the subscribers */
#define WSLOAD_STALL_S 10 /* fanout, personal: no publication taken for so long is an error */
#define WSLOAD_MAX_SUBSCRIPTIONS 1000 /* --subscriptions */
#define WSLOAD_MESSAGE_MAX 200        /* bytes of --message */
#define WSLOAD_FIRST_DELIVERY_S 60    /* fanout --external: for the other process to publish */

enum mode { MODE_HANDSHAKES, MODE_ROUNDTRIPS, MODE_IDLE, MODE_FANOUT, MODE_PERSONAL };
enum auth { AUTH_QUERY, AUTH_HEADER, AUTH_PROTOCOL };
/* handshakes: how each connection ends (--close ws, ws-rst, rst; see the file comment). */
enum close_mode { CLOSE_WS, CLOSE_WS_RST, CLOSE_RST };
/* A slot's life: CONNECTING -> HANDSHAKE (request sent) -> OPEN (101 seen) -> PROVEN (first
 * hello answered); handshakes mode goes from HANDSHAKE to CLOSING instead. Until PROVEN (or
 * CLOSING) the slot counts as pending. DEAD slots are not reopened. */
enum state {
    ST_FREE,
    ST_CONNECTING,
    ST_HANDSHAKE,
    ST_OPEN,
    ST_PROVEN,
    ST_CLOSING,
    ST_DEAD,
    ST_PARKED /* idle --park: in the thread's park, fd -1 */
};

/* Command-line settings, shared read-only by every thread. */
struct opts {
    enum mode mode;
    const char *host; /* numeric IPv4 address of the server */
    int port;
    const char *token;
    const char *origin;   /* "" sends no Origin header */
    const char *path;     /* request path, "/" */
    const char *protocol; /* extra Sec-WebSocket-Protocol value, or NULL */
    enum auth auth;
    int n_conns;
    double duration_s; /* 0 in idle mode: until a signal */
    int n_threads;
    int n_sources;   /* source addresses 127.0.0.B .. 127.0.0.B+n_sources-1; 1 and B 1: no bind */
    int source_base; /* B: the first source address's last byte */
    int open_timeout_s; /* roundtrips, idle: give up waiting for all to open after so long */
    int retries;        /* roundtrips, idle: new tries of a slot whose connection failed */
    int depth;          /* hello messages in flight per connection */
    int concurrency;    /* handshakes in flight at once while opening (roundtrips, idle) */
    enum close_mode close;
    const char *channel; /* fanout: the channel; idle: the base of --subscriptions' names */
    int n_subscriptions; /* channels each connection subscribes to before it counts as open */
    bool distinct;       /* idle: channels of each connection's own */
    const char *redis;   /* fanout, personal: Redis URL of the publisher */
    const char *prefix;  /* channels_redis' prefix */
    int window;          /* publications outstanding */
    double rate;         /* > 0: publications per second instead of the window */
    const char *tokens;  /* personal: file of "<user id> <token>" lines */
    int rounds;          /* personal: publications to every personal channel */
    bool external;       /* fanout: another process publishes; no publisher thread */
    const char *message; /* the message of roundtrips and of the proof (the hello) */
    const char *reply;   /* what every answer to it contains */
    bool park;           /* idle: hold the open connections out of the descriptor table */
    int nap_us;          /* sleep after a loop turn that found little to read; 0 = never */
};

/* What every thread shares: the prebuilt bytes and the stop flag. */
struct shared {
    const struct opts *o;
    struct sockaddr_in server;
    char request[WSLOAD_REQ_MAX]; /* the upgrade request, identical for every connection */
    size_t request_len;
    char key[32];             /* the Sec-WebSocket-Key every connection sends */
    char accept[64];          /* the Sec-WebSocket-Accept value the server must send */
    unsigned char hello[256]; /* the masked hello frame */
    size_t hello_len;
    unsigned char close_frame[8]; /* masked close frame, code 1000 */
    atomic_bool stop;
    atomic_bool park_now;                  /* idle --park: every connection is open; park them */
    char **tokens;                         /* personal: connection i's token, NULL otherwise */
    char **personal;                       /* personal: connection i's channel "user.<id>" */
    _Atomic(struct publisher *) publisher; /* fanout, personal: set before it publishes */
};

/* One connection slot. */
struct conn {
    int fd;
    enum state state;
    int n_inflight; /* hello messages sent and not yet answered */
    int source;     /* index of the source address */
    int index;      /* the connection's number, 0 .. N-1 */
    int tries_left; /* roundtrips, idle: --retries not yet used by this slot */
    size_t in_len;
    /* WSLOAD_IN_MAX bytes, allocated at the first byte received; idle mode frees it while a
     * held connection has nothing buffered, so a million held sockets do not each keep 4 KiB */
    unsigned char *in;
};

/* One thread: its epoll set, its slots and its counters (read by main while running). */
struct worker {
    pthread_t thread;
    struct shared *sh;
    int epfd;
    struct conn *conns;
    int n_conns;
    int next_to_open; /* roundtrips/idle: next slot to connect */
    int n_pending;    /* handshakes in flight */
    int max_pending;
    atomic_ulong n_done;    /* handshakes, or round trips (those before measure() included) */
    atomic_ulong n_open;    /* connections open and proven (roundtrips, idle) */
    atomic_ulong n_failed;  /* connections that failed or were closed by the server */
    atomic_ulong n_retried; /* roundtrips, idle: failed connections tried again (--retries) */
    atomic_ulong n_errors;  /* protocol errors: bad status, bad accept, bad reply, short write */
    atomic_int last_close;  /* last close code the server sent, 0 when none */
    atomic_int last_errno;
    struct latency *latency; /* fanout, personal: publication to delivery */
    struct park *park;       /* idle --park: this thread's parked connections, or NULL */
    atomic_int park_errno;   /* why a connection could not be parked (0: all were) */
    atomic_ulong n_parked;
    atomic_bool park_done; /* parking was tried (once) */
    int64_t rx_ns;         /* fanout, personal: when the bytes being parsed were read */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
    got_signal = sig;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Base64 of 16 random bytes as the key, and the Accept value the server must answer with:
 * base64(SHA-1(key + RFC 6455 GUID)). */
static int make_key_and_accept(char *key, size_t key_len, char *accept, size_t accept_len) {
    unsigned char raw[16], digest[SHA_DIGEST_LENGTH];
    char cat[128];
    if (key_len < 25 || accept_len < 29 || RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    SHA1((const unsigned char *)cat, strlen(cat), digest);
    EVP_EncodeBlock((unsigned char *)accept, digest, sizeof digest);
    return 0;
}

/* Builds a masked client frame (opcode, payload) into out; returns its length or -1. */
static long frame_build(int opcode, const unsigned char *payload, size_t len, unsigned char *out,
                        size_t out_len) {
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t head = len < 126 ? 2 : 4;
    if (len > 0xffff || head + 4 + len > out_len)
        return -1;
    out[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        out[1] = (unsigned char)(0x80 | len);
    } else {
        out[1] = 0x80 | 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
    }
    memcpy(out + head, mask, 4);
    for (size_t i = 0; i < len; i++)
        out[head + 4 + i] = payload[i] ^ mask[i % 4];
    return (long)(head + 4 + len);
}

/* Writes the upgrade request presenting token, with the Sec-WebSocket-Key key, to out.
 * Returns its length, or -1 when it does not fit. */
static long request_build(const struct opts *o, const char *key, const char *token, char *out,
                          size_t out_len) {
    int n = snprintf(
        out, out_len,
        "GET %s%s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
        "Sec-WebSocket-Version: 13\r\n%s%s%s%s%s%s%s%s%s\r\n",
        o->path, o->auth == AUTH_QUERY ? "?token=" : "", o->auth == AUTH_QUERY ? token : "",
        o->host, o->port, key, *o->origin ? "Origin: " : "", o->origin, *o->origin ? "\r\n" : "",
        o->auth == AUTH_HEADER ? "Authorization: Token " : "", o->auth == AUTH_HEADER ? token : "",
        o->auth == AUTH_HEADER ? "\r\n" : "", o->protocol ? "Sec-WebSocket-Protocol: " : "",
        o->protocol ? o->protocol : "", o->protocol ? "\r\n" : "");
    return n < 0 || (size_t)n >= out_len ? -1 : n;
}

/* Fills the request and the frames every connection sends. */
static int shared_prepare(struct shared *sh, const struct opts *o) {
    const char *hello = o->message;
    const unsigned char code[2] = {0x03, 0xe8}; /* 1000 */
    memset(&sh->server, 0, sizeof sh->server);
    sh->server.sin_family = AF_INET;
    sh->server.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &sh->server.sin_addr) != 1) {
        fprintf(stderr, "wsload: --host: not a numeric IPv4 address (got \"%s\")\n", o->host);
        return -1;
    }
    if (make_key_and_accept(sh->key, sizeof sh->key, sh->accept, sizeof sh->accept) < 0)
        return -1;
    long n = request_build(o, sh->key, o->token, sh->request, sizeof sh->request);
    if (n < 0)
        return -1;
    sh->request_len = (size_t)n;
    long len =
        frame_build(1, (const unsigned char *)hello, strlen(hello), sh->hello, sizeof sh->hello);
    if (len < 0 || frame_build(8, code, 2, sh->close_frame, sizeof sh->close_frame) < 0)
        return -1;
    sh->hello_len = (size_t)len;
    return 0;
}

/* Closes the slot's socket (abortively when rst) and marks it free. */
static void conn_drop(struct worker *w, struct conn *c, bool rst) {
    if (c->fd >= 0) {
        if (rst) {
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c->fd); /* also leaves the epoll set */
    }
    if (c->state == ST_CONNECTING || c->state == ST_HANDSHAKE || c->state == ST_OPEN)
        w->n_pending--;
    if (c->state == ST_PROVEN)
        atomic_fetch_sub(&w->n_open, 1);
    c->fd = -1;
    c->state = ST_FREE;
    c->in_len = 0;
    c->n_inflight = 0;
}

/* Sends all of buf at once; a short write is counted as an error. 0 or -1. */
static int conn_send(struct worker *w, struct conn *c, const void *buf, size_t len) {
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n == (ssize_t)len)
        return 0;
    atomic_store(&w->last_errno, n < 0 ? errno : 0);
    atomic_fetch_add(&w->n_errors, 1);
    return -1;
}

/* The upgrade request of the slot: the shared one, or in personal mode one with the slot's own
 * token, built into buf. Sets *len; NULL when it does not fit. */
static const char *conn_request(struct worker *w, struct conn *c, char *buf, size_t buf_len,
                                size_t *len) {
    if (w->sh->tokens == NULL) {
        *len = w->sh->request_len;
        return w->sh->request;
    }
    long n = request_build(w->sh->o, w->sh->key, w->sh->tokens[c->index], buf, buf_len);
    *len = n < 0 ? 0 : (size_t)n;
    return n < 0 ? NULL : buf;
}

/* Starts a non-blocking connect for the slot. 0, or -1 with the failure counted. */
static int conn_start(struct worker *w, struct conn *c) {
    const struct opts *o = w->sh->o;
    int one = 1;
    char buf[WSLOAD_REQ_MAX];
    size_t request_len;
    const char *request = conn_request(w, c, buf, sizeof buf, &request_len);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    /* Handshakes send one request, then one close frame after the 101 acknowledged it: Nagle
     * never holds either back, so they skip the option. */
    if (o->mode != MODE_HANDSHAKES)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o->n_sources > 1 || o->source_base > 1) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr =
            htonl(0x7f000000u + (uint32_t)o->source_base + (uint32_t)(c->source % o->n_sources));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
            goto fail;
    }
    if (connect(fd, (struct sockaddr *)&w->sh->server, sizeof w->sh->server) < 0 &&
        errno != EINPROGRESS)
        goto fail;
    /* On loopback the TCP handshake has usually finished inside connect(): then the request
     * goes at once and the slot waits only for the answer (no EPOLLOUT wake, no SO_ERROR). */
    if (request == NULL)
        goto fail;
    ssize_t sent = send(fd, request, request_len, MSG_NOSIGNAL);
    if (sent >= 0 && sent != (ssize_t)request_len) {
        atomic_fetch_add(&w->n_errors, 1); /* a short write of a few hundred bytes */
        goto fail;
    }
    if (sent < 0 && errno != EAGAIN && errno != ENOTCONN && errno != EINPROGRESS)
        goto fail;
    struct epoll_event ev = {.events = sent < 0 ? EPOLLOUT | EPOLLIN : EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        goto fail;
    c->fd = fd;
    c->state = sent < 0 ? ST_CONNECTING : ST_HANDSHAKE;
    c->in_len = 0;
    w->n_pending++;
    return 0;
fail:
    atomic_store(&w->last_errno, errno);
    atomic_fetch_add(&w->n_failed, 1);
    if (fd >= 0)
        close(fd);
    c->state = ST_DEAD;
    return -1;
}

/* Roundtrips and idle: connects further slots while fewer than max_pending are in flight. */
static void worker_open_more(struct worker *w) {
    while (w->next_to_open < w->n_conns && w->n_pending < w->max_pending) {
        struct conn *c = &w->conns[w->next_to_open++];
        conn_start(w, c);
    }
}

/* Handshakes: the slot's connection is over (abortively when rst); its loop starts the next
 * one, from the next source address. */
static void conn_restart(struct worker *w, struct conn *c, bool rst) {
    conn_drop(w, c, rst);
    c->source++;
    conn_start(w, c);
}

/* A connection failed or the server closed it: counted, dropped, and replaced in handshakes
 * mode (the loop goes on). In roundtrips and idle mode the slot is tried again while it has
 * --retries left (as a client reconnects: under load a few connections are reset while
 * opening), counted apart; then it stays dead. */
static void conn_fail(struct worker *w, struct conn *c) {
    if (w->sh->o->mode != MODE_HANDSHAKES && c->tries_left > 0 && c->state != ST_PROVEN) {
        c->tries_left--;
        atomic_fetch_add(&w->n_retried, 1);
        conn_restart(w, c, true);
        return;
    }
    atomic_fetch_add(&w->n_failed, 1);
    if (w->sh->o->mode == MODE_HANDSHAKES) {
        conn_restart(w, c, true);
    } else {
        conn_drop(w, c, true);
        c->state = ST_DEAD;
        worker_open_more(w);
    }
}

/* The connect finished: check it and send the upgrade request. */
static void on_connected(struct worker *w, struct conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        atomic_store(&w->last_errno, err);
        conn_fail(w, c);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    char buf[WSLOAD_REQ_MAX];
    size_t request_len;
    const char *request = conn_request(w, c, buf, sizeof buf, &request_len);
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = ST_HANDSHAKE;
    if (request == NULL || conn_send(w, c, request, request_len) < 0)
        conn_fail(w, c);
}

/* Sends hello messages until depth are in flight. 0 or -1. */
static int conn_fill(struct worker *w, struct conn *c, int depth) {
    while (c->n_inflight < depth) {
        if (conn_send(w, c, w->sh->hello, w->sh->hello_len) < 0)
            return -1;
        c->n_inflight++;
    }
    return 0;
}

/* Writes the name of subscription k of connection index (see the file comment). */
static void subscription_name(const struct opts *o, int index, int k, char *out, size_t out_len) {
    if (o->distinct)
        snprintf(out, out_len, "%s.%d.%d", o->channel, index, k);
    else if (o->n_subscriptions > 1)
        snprintf(out, out_len, "%s.%d", o->channel, k);
    else
        snprintf(out, out_len, "%s", o->channel);
}

/* Sends the connection's subscribe commands, each awaited as in flight. 0 or -1. */
static int conn_subscribe(struct worker *w, struct conn *c) {
    const struct opts *o = w->sh->o;
    for (int k = 0; k < o->n_subscriptions; k++) {
        char name[128], json[192];
        unsigned char frame[256];
        subscription_name(o, c->index, k, name, sizeof name);
        int n = snprintf(json, sizeof json, "{\"command\":\"subscribe\",\"channel\":\"%s\"}", name);
        long len = frame_build(1, (const unsigned char *)json, (size_t)n, frame, sizeof frame);
        if (len < 0 || conn_send(w, c, frame, (size_t)len) < 0)
            return -1;
        c->n_inflight++;
    }
    return 0;
}

/* After the 101, what proves the connection: its subscriptions, or one hello (roundtrips:
 * depth of them, which keep it busy). 0 or -1. */
static int conn_setup(struct worker *w, struct conn *c) {
    const struct opts *o = w->sh->o;
    if (o->n_subscriptions > 0)
        return conn_subscribe(w, c);
    return conn_fill(w, c, o->mode == MODE_ROUNDTRIPS ? o->depth : 1);
}

/* The response head is complete in c->in (head_len bytes): check it, then go on by mode.
 * Returns 0 to keep the connection, -1 when it was dropped. */
static int on_response_head(struct worker *w, struct conn *c, size_t head_len) {
    const struct opts *o = w->sh->o;
    bool ok = head_len > 12 && memcmp(c->in, "HTTP/1.1 101", 12) == 0 &&
              memmem(c->in, head_len, w->sh->accept, strlen(w->sh->accept)) != NULL;
    if (!ok) {
        atomic_fetch_add(&w->n_errors, 1);
        conn_fail(w, c);
        return -1;
    }
    memmove(c->in, c->in + head_len, c->in_len - head_len);
    c->in_len -= head_len;
    if (o->mode == MODE_HANDSHAKES) {
        w->n_pending--;
        atomic_fetch_add(&w->n_done, 1);
        if (o->close == CLOSE_RST ||
            conn_send(w, c, w->sh->close_frame, sizeof w->sh->close_frame) < 0) {
            conn_restart(w, c, true);
            return -1;
        }
        c->state = ST_CLOSING;
        return 0;
    }
    c->state = ST_OPEN;
    if (conn_setup(w, c) < 0) {
        conn_fail(w, c);
        return -1;
    }
    return 0;
}

/* A hello reply in roundtrips mode. 0, or -1 when the connection was dropped. */
static int on_hello_reply(struct worker *w, struct conn *c, const unsigned char *p, size_t len) {
    const struct opts *o = w->sh->o;
    bool is_hello = memmem(p, len, o->reply, strlen(o->reply)) != NULL;
    if (!is_hello)
        atomic_fetch_add(&w->n_errors, 1);
    c->n_inflight--;
    if (c->state == ST_OPEN) { /* the first reply proves the connection authenticated */
        c->state = ST_PROVEN;
        w->n_pending--;
        atomic_fetch_add(&w->n_open, 1);
        worker_open_more(w);
    }
    if (o->mode == MODE_IDLE)
        return 0;
    /* counted from the start: measure() takes the difference over its own period */
    atomic_fetch_add_explicit(&w->n_done, 1, memory_order_relaxed);
    if (conn_fill(w, c, o->depth) < 0) {
        conn_fail(w, c);
        return -1;
    }
    return 0;
}

/* A reply to the connection's setup: the last awaited one proves it authenticated. An error
 * reply fails it; anything else (a gap notice for a personal channel joined before Redis was
 * up) is passed over. 0, or -1 when the connection was dropped. */
static int on_setup_reply(struct worker *w, struct conn *c, const unsigned char *p, size_t len) {
    const char *expect = w->sh->o->n_subscriptions > 0 ? "{\"subscribed\"" : w->sh->o->reply;
    if (memmem(p, len, expect, strlen(expect)) == NULL) {
        if (memmem(p, len, "\"error\"", 7) == NULL)
            return 0;
        atomic_fetch_add(&w->n_errors, 1);
        conn_fail(w, c);
        return -1;
    }
    if (--c->n_inflight > 0)
        return 0;
    c->state = ST_PROVEN;
    w->n_pending--;
    atomic_fetch_add(&w->n_open, 1);
    worker_open_more(w);
    return 0;
}

/* The first key (klen bytes) in p[0 .. len), or NULL: a plain loop over a frame of a few
 * dozen bytes. glibc's memmem, which prepares a search per call, and memchr + memcmp per
 * candidate cost more than the rest of a delivery (1,100 and 870 of about 1,300 instructions
 * per delivery, by callgrind). */
static const unsigned char *find_key(const unsigned char *p, size_t len, const char *key,
                                     size_t klen) {
    for (size_t i = 0; i + klen <= len; i++) {
        size_t j = 0;
        while (j < klen && p[i + j] == (unsigned char)key[j])
            j++;
        if (j == klen)
            return p + i;
    }
    return NULL;
}

#define KEY(k) k, sizeof k - 1 /* a string literal and its length, for find_key() */

/* The unsigned integer right after key (blanks skipped) in *p[0 .. *len), or -1: the one piece
 * of JSON parsing a delivery needs. On success *p and *len move past the number, so the next
 * key is looked for from there. */
static int64_t json_uint_after(const unsigned char **p, size_t *len, const char *key, size_t klen) {
    const unsigned char *k = find_key(*p, *len, key, klen);
    if (k == NULL)
        return -1;
    size_t i = (size_t)(k - *p) + klen, start;
    int64_t v = 0;
    while (i < *len && (*p)[i] == ' ')
        i++;
    for (start = i; i < *len && (*p)[i] >= '0' && (*p)[i] <= '9' && v < INT64_MAX / 10; i++)
        v = v * 10 + ((*p)[i] - '0');
    if (i == start)
        return -1;
    *p += i;
    *len -= i;
    return v;
}

/* A delivery {"channel": C, "data": {"t": T, "s": S}}: counted, and its latency taken at the
 * time its bytes were read (w->rx_ns). One that is not a publication of this run (a gap
 * notice) counts as an error; with --external, whose publications wsload does not know, one
 * without T and S. The publisher hears of it last: the delivery that completes its last round
 * ends the measure, which must find it counted. Always 0. */
static int on_delivery(struct worker *w, const unsigned char *p, size_t len) {
    struct publisher *pub = atomic_load_explicit(&w->sh->publisher, memory_order_acquire);
    const unsigned char *data = find_key(p, len, KEY("\"data\"")), *q = data;
    size_t rest = data ? len - (size_t)(data - p) : 0, n = rest;
    int64_t t = data ? json_uint_after(&q, &n, KEY("\"t\":")) : -1;
    int64_t seq = t >= 0 ? json_uint_after(&q, &n, KEY("\"s\":")) : -1;
    if (t >= 0 && seq < 0) /* "s" before "t": not how the publisher packs it, still valid */
        seq = json_uint_after(&data, &rest, KEY("\"s\":"));
    bool is_external = w->sh->o->external;
    bool known =
        is_external || (pub != NULL && seq >= 0 && (uint64_t)seq < publisher_published(pub));
    if (t < 0 || seq < 0 || !known) {
        atomic_fetch_add(&w->n_errors, 1);
        return 0;
    }
    latency_add(w->latency, w->rx_ns - t);
    atomic_fetch_add(&w->n_done, 1);
    if (!is_external)
        publisher_delivered(pub, (uint64_t)seq); /* published, as checked: cannot fail */
    return 0;
}

/* One text message on an open connection, by mode. 0, or -1 when the connection was
 * dropped. */
static int on_text(struct worker *w, struct conn *c, const unsigned char *p, size_t len) {
    enum mode mode = w->sh->o->mode;
    if (mode == MODE_ROUNDTRIPS)
        return on_hello_reply(w, c, p, len);
    if (c->state == ST_OPEN)
        return on_setup_reply(w, c, p, len);
    if (mode == MODE_FANOUT || mode == MODE_PERSONAL)
        return on_delivery(w, p, len);
    return 0; /* idle: what comes to a held connection is not looked at */
}

/* Answers a ping with a pong carrying the same payload. 0 or -1. */
static int on_ping(struct worker *w, struct conn *c, const unsigned char *p, size_t len) {
    unsigned char frame[256];
    long n = frame_build(10, p, len < 125 ? len : 125, frame, sizeof frame);
    return n < 0 ? -1 : conn_send(w, c, frame, (size_t)n);
}

/* Parses as many whole server frames as c->in holds. 0, or -1 when the connection was dropped
 * (a close frame, a protocol error). */
static int parse_frames(struct worker *w, struct conn *c) {
    const struct opts *o = w->sh->o;
    size_t off = 0;
    while (c->in_len - off >= 2) {
        unsigned char *f = c->in + off;
        size_t avail = c->in_len - off, head = 2, len = f[1] & 0x7f;
        int opcode = f[0] & 0x0f;
        if (len == 126) {
            if (avail < 4)
                break;
            head = 4, len = (size_t)f[2] << 8 | f[3];
        } else if (len == 127) {
            if (avail < 10)
                break;
            head = 10, len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
        }
        if (head + len > WSLOAD_IN_MAX || (f[1] & 0x80)) {
            atomic_fetch_add(&w->n_errors, 1);
            conn_fail(w, c);
            return -1;
        }
        if (avail < head + len)
            break;
        off += head + len;
        if (c->state == ST_CLOSING) {
            /* handshakes: the server answers our close 1000 with 1000; any other code (4401:
             * the token was refused after all) means the handshake was not authenticated.
             * Close frames went both ways now, so the client closes TCP at once (RFC 6455
             * 7.1.1) instead of waiting for the server's FIN, and the loop goes on. */
            if (opcode != 8)
                continue;
            int code = len >= 2 ? f[head] << 8 | f[head + 1] : 1005;
            if (code != 1000) {
                atomic_store(&w->last_close, code);
                atomic_fetch_add(&w->n_errors, 1);
            }
            conn_restart(w, c, o->close == CLOSE_WS_RST);
            return -1;
        }
        if (opcode == 8) {
            atomic_store(&w->last_close, len >= 2 ? f[head] << 8 | f[head + 1] : 1005);
            conn_fail(w, c);
            return -1;
        }
        int rc = 0;
        if (opcode == 1 || opcode == 0)
            rc = on_text(w, c, f + head, len);
        else if (opcode == 9)
            rc = on_ping(w, c, f + head, len);
        if (rc < 0)
            return -1;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

/* Data (or EOF) on a connection in handshake, open or closing state. */
static void on_readable(struct worker *w, struct conn *c) {
    if (c->in == NULL && (c->in = malloc(WSLOAD_IN_MAX)) == NULL) {
        atomic_store(&w->last_errno, ENOMEM);
        conn_fail(w, c);
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, WSLOAD_IN_MAX - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (c->state == ST_CLOSING) { /* the server closed after our close frame: done */
            conn_restart(w, c, false);
            return;
        }
        atomic_store(&w->last_errno, n < 0 ? errno : 0);
        conn_fail(w, c);
        return;
    }
    c->in_len += (size_t)n;
    enum mode mode = w->sh->o->mode;
    if (mode == MODE_FANOUT || mode == MODE_PERSONAL) /* once per read: its frames came then */
        w->rx_ns = publisher_now_ns();
    if (c->state == ST_HANDSHAKE) {
        unsigned char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (end == NULL) {
            if (c->in_len == WSLOAD_IN_MAX) {
                atomic_fetch_add(&w->n_errors, 1);
                conn_fail(w, c);
            }
            return;
        }
        if (on_response_head(w, c, (size_t)(end + 4 - c->in)) < 0)
            return;
    }
    if (parse_frames(w, c) == 0 && w->sh->o->mode == MODE_IDLE && c->state == ST_PROVEN &&
        c->in_len == 0) {
        free(c->in);
        c->in = NULL;
    }
}

/* Parks the n proven slots (their fds in fds): out of the epoll set and into the thread's
 * park; one the park refused goes back into the set. Returns how many were parked. */
static int park_slots(struct worker *w, struct conn **slots, const int *fds, int n) {
    int why;
    for (int i = 0; i < n; i++)
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, fds[i], NULL); /* a parked file lives on: leave now */
    int parked = park_add(w->park, fds, n, &why);
    for (int i = 0; i < n; i++) {
        struct conn *c = slots[i];
        if (i >= parked) {
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
            continue;
        }
        c->fd = -1;
        c->state = ST_PARKED;
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
    }
    if (why != 0)
        atomic_store(&w->park_errno, why);
    atomic_fetch_add(&w->n_parked, (unsigned long)parked); /* still counted in n_open */
    return parked;
}

/* Moves this thread's proven connections into its park, PARK_BATCH at a time, until one is
 * refused; those left stay watched here. */
static void park_proven(struct worker *w) {
    struct conn *slots[PARK_BATCH];
    int fds[PARK_BATCH], n = 0;
    for (int i = 0; i <= w->n_conns; i++) {
        if (n == PARK_BATCH || (i == w->n_conns && n > 0)) {
            if (park_slots(w, slots, fds, n) < n)
                return;
            n = 0;
        }
        if (i < w->n_conns && w->conns[i].state == ST_PROVEN && w->conns[i].fd >= 0) {
            slots[n] = &w->conns[i];
            fds[n++] = w->conns[i].fd;
        }
    }
}

/* Idle --park, once every connection is open: parks this thread's connections in a park of its
 * own. park_done is set last: the main thread reads the counts once every thread has set it. */
static void worker_park(struct worker *w) {
    if ((w->park = park_new()) == NULL)
        atomic_store(&w->park_errno, errno);
    else
        park_proven(w);
    atomic_store(&w->park_done, true);
}

/* Idle --park, at the end (threads stopped): takes the parked connections back; those the
 * server has closed meanwhile no longer count as open but as failed. */
static void worker_unpark(struct worker *w) {
    if (w->park == NULL)
        return;
    unsigned long parked = atomic_load(&w->n_parked);
    int open = park_drain(w->park);
    w->park = NULL;
    if (open < 0) {
        fprintf(stderr, "wsload: taking the parked connections back: %s\n", strerror(errno));
        atomic_fetch_add(&w->n_errors, 1);
        open = 0;
    }
    atomic_fetch_sub(&w->n_open, parked - (unsigned long)open);
    atomic_fetch_add(&w->n_failed, parked - (unsigned long)open);
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct epoll_event evs[WSLOAD_EVENTS];
    const int o_nap_us = w->sh->o->nap_us;
    /* How long a wait may last before the stop flag is looked at. Idle mode holds thousands of
     * sockets in each of dozens of processes beside the server being measured: at 20 wake-ups
     * a second each, those processes took 60 ms of CPU a second from it at a million held. */
    const int wait_ms = w->sh->o->mode == MODE_IDLE ? 1000 : 50;
    if (w->sh->o->mode == MODE_HANDSHAKES) {
        for (int i = 0; i < w->n_conns; i++)
            conn_start(w, &w->conns[i]);
    } else {
        worker_open_more(w);
    }
    while (!atomic_load_explicit(&w->sh->stop, memory_order_relaxed)) {
        int n = epoll_wait(w->epfd, evs, WSLOAD_EVENTS, wait_ms);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->state == ST_CONNECTING)
                on_connected(w, c);
            else
                on_readable(w, c);
        }
        /* Asleep in epoll_wait, this thread would be woken by every TCP segment the server
         * sends, and on loopback the server pays for that wake-up in its own send(); napping
         * instead, it takes what arrived meanwhile in one turn. Latency is taken when the
         * bytes are read, so the nap can only make it look longer. */
        if (o_nap_us > 0 && n > 0 && n < WSLOAD_EVENTS)
            usleep((useconds_t)o_nap_us);
        if (!w->park_done && atomic_load_explicit(&w->sh->park_now, memory_order_relaxed))
            worker_park(w);
    }
    return NULL;
}

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: wsload --mode handshakes|roundtrips|idle|fanout|personal --port P "
        "--token KEY [options]\n"
        "  --host ADDR          server IPv4 address (127.0.0.1)\n"
        "  --port N             server port (8001)\n"
        "  --token KEY          the token (never printed)\n"
        "  --auth query|header|protocol  where the token goes (query: /?token=KEY)\n"
        "  --protocol VALUE     Sec-WebSocket-Protocol header (with --auth protocol: the\n"
        "                       whole value, as ws-worker documents it)\n"
        "  --origin ORIGIN      Origin header (http://localhost); \"\" sends none\n"
        "  --path PATH          request path (/)\n"
        "  -c, --connections N  connections, or concurrent handshake loops (100)\n"
        "  -d, --duration S     seconds to measure (10); idle: seconds to hold, 0 = until "
        "a signal\n"
        "  -t, --threads N      threads, each with its own epoll loop (1)\n"
        "  --depth N            roundtrips: messages in flight per connection (1)\n"
        "  --concurrency N      handshakes in flight while opening (256)\n"
        "  --sources K          spread connections over 127.0.0.1..127.0.0.K (1)\n"
        "  --source-base B      the first source address is 127.0.0.B instead (1)\n"
        "  --open-timeout S     roundtrips, idle: give up when not all are open after S s (120)\n"
        "  --retries N          roundtrips, idle: try a connection that failed while opening\n"
        "                       again, up to N times (0); counted as retried=\n"
        "  --close ws|ws-rst|rst  handshakes: close frame each way then FIN (ws) or\n"
        "                       RST (ws-rst), or RST right after the 101 (rst)\n"
        "  --channel NAME       fanout: the channel; idle: base of the subscriptions' "
        "names (bench)\n"
        "  --subscriptions K    idle: channels each connection subscribes to (0)\n"
        "  --distinct           idle: NAME.<i>.<k>, channels of each connection's own\n"
        "  --park               idle: once all are open, hold them out of the descriptor\n"
        "                       table (no pings answered; see bench/wsload/park.h)\n"
        "  --redis URL          fanout, personal: Redis to publish through\n"
        "                       (redis://127.0.0.1:6379 or unix:///path)\n"
        "  --prefix P           channels_redis' prefix of the Redis keys (asgi)\n"
        "  --window W           fanout: publications not yet taken by all, at most (64)\n"
        "  --rate R             fanout: R publications per second instead of a window\n"
        "  --nap-us N           sleep N us after a loop turn that did not fill the event\n"
        "                       array, instead of waiting in epoll_wait (0: never)\n"
        "  --tokens FILE        personal: \"<user id> <token>\" lines, one per "
        "connection\n"
        "  --rounds R           personal: publications to every personal channel (3)\n"
        "  --external           fanout: another process publishes {\"t\": <CLOCK_MONOTONIC\n"
        "                       ns>, \"s\": <n>}; measured from the first delivery\n"
        "  --message TEXT       roundtrips: the message sent (and the proof of idle,\n"
        "                       roundtrips): the hello command\n"
        "  --reply TEXT         what every answer to it contains (\"command_response\")\n");
}

static int parse_int(const char *name, const char *s, int min, int max, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "wsload: %s: expected an integer from %d to %d (got \"%s\")\n", name, min,
                max, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* The options of the channel modes, checked together; fanout's one subscription set. 0 or -1
 * with the reason printed. */
static int check_channel_opts(struct opts *o) {
    const char *why = NULL;
    bool publishes = o->mode == MODE_FANOUT || o->mode == MODE_PERSONAL;
    if (o->mode == MODE_FANOUT)
        o->n_subscriptions = 1;
    if (!channel_name_is_valid(o->channel) || strlen(o->channel) > 80)
        why = "--channel: expected 1 to 80 letters, digits, '.', '_' or '-'";
    else if (o->n_subscriptions > 0 && o->mode != MODE_IDLE && o->mode != MODE_FANOUT)
        why = "--subscriptions is for idle mode";
    else if (o->distinct && (o->mode != MODE_IDLE || o->n_subscriptions == 0))
        why = "--distinct needs idle mode and --subscriptions";
    else if (o->external && o->mode != MODE_FANOUT)
        why = "--external is for fanout mode";
    else if (o->park && o->mode != MODE_IDLE)
        why = "--park is for idle mode";
    else if (publishes && !o->external && o->redis == NULL)
        why = "fanout and personal modes need --redis URL (or, fanout, --external)";
    else if (strlen(o->message) > WSLOAD_MESSAGE_MAX || *o->reply == '\0')
        why = "--message: at most 200 bytes; --reply: not empty";
    else if (o->mode == MODE_PERSONAL && o->tokens == NULL)
        why = "personal mode needs --tokens FILE";
    else if (o->rate > 0 && o->mode != MODE_FANOUT)
        why = "--rate is for fanout mode";
    if (why)
        fprintf(stderr, "wsload: %s\n", why);
    return why ? -1 : 0;
}

static int parse_opts(int argc, char **argv, struct opts *o) {
    static const struct option longs[] = {
        {"mode", 1, 0, 'm'},         {"host", 1, 0, 'H'},
        {"port", 1, 0, 'p'},         {"token", 1, 0, 'T'},
        {"auth", 1, 0, 'a'},         {"protocol", 1, 0, 'P'},
        {"origin", 1, 0, 'o'},       {"path", 1, 0, 'u'},
        {"connections", 1, 0, 'c'},  {"duration", 1, 0, 'd'},
        {"threads", 1, 0, 't'},      {"depth", 1, 0, 'D'},
        {"sources", 1, 0, 's'},      {"source-base", 1, 0, 'B'},
        {"open-timeout", 1, 0, 'O'}, {"retries", 1, 0, 'y'},
        {"concurrency", 1, 0, 'C'},  {"close", 1, 0, 'x'},
        {"channel", 1, 0, 'N'},      {"subscriptions", 1, 0, 'K'},
        {"distinct", 0, 0, 'I'},     {"redis", 1, 0, 'R'},
        {"prefix", 1, 0, 'F'},       {"window", 1, 0, 'W'},
        {"rate", 1, 0, 'r'},         {"nap-us", 1, 0, 'Z'},
        {"tokens", 1, 0, 'k'},       {"rounds", 1, 0, 'n'},
        {"external", 0, 0, 'E'},     {"message", 1, 0, 'M'},
        {"reply", 1, 0, 'Y'},        {"help", 0, 0, 'h'},
        {"park", 0, 0, 'L'},         {0, 0, 0, 0},
    };
    int opt, bad = 0;
    *o = (struct opts){.mode = MODE_ROUNDTRIPS,
                       .host = "127.0.0.1",
                       .port = 8001,
                       .token = "",
                       .origin = "http://localhost",
                       .path = "/",
                       .n_conns = 100,
                       .duration_s = 10,
                       .n_threads = 1,
                       .n_sources = 1,
                       .source_base = 1,
                       .open_timeout_s = WSLOAD_OPEN_TIMEOUT_S,
                       .depth = 1,
                       .concurrency = 256,
                       .channel = "bench",
                       .prefix = "asgi",
                       .window = 64,
                       .rounds = 3,
                       .message = "{\"command\": \"Say hello !\", \"data_string\": \"bench\"}",
                       .reply = "\"command_response\""};
    while ((opt = getopt_long(argc, argv, "c:d:t:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (strcmp(optarg, "handshakes") == 0)
                o->mode = MODE_HANDSHAKES;
            else if (strcmp(optarg, "roundtrips") == 0)
                o->mode = MODE_ROUNDTRIPS;
            else if (strcmp(optarg, "idle") == 0)
                o->mode = MODE_IDLE;
            else if (strcmp(optarg, "fanout") == 0)
                o->mode = MODE_FANOUT;
            else if (strcmp(optarg, "personal") == 0)
                o->mode = MODE_PERSONAL;
            else
                bad = fprintf(stderr,
                              "wsload: --mode: expected handshakes, roundtrips, idle, fanout or "
                              "personal (got \"%s\")\n",
                              optarg);
            break;
        case 'a':
            if (strcmp(optarg, "query") == 0)
                o->auth = AUTH_QUERY;
            else if (strcmp(optarg, "header") == 0)
                o->auth = AUTH_HEADER;
            else if (strcmp(optarg, "protocol") == 0)
                o->auth = AUTH_PROTOCOL;
            else
                bad = fprintf(stderr, "wsload: --auth: expected query, header or protocol\n");
            break;
        case 'x':
            if (strcmp(optarg, "ws") == 0)
                o->close = CLOSE_WS;
            else if (strcmp(optarg, "ws-rst") == 0)
                o->close = CLOSE_WS_RST;
            else if (strcmp(optarg, "rst") == 0)
                o->close = CLOSE_RST;
            else
                bad = fprintf(stderr, "wsload: --close: expected ws, ws-rst or rst\n");
            break;
        case 'd': {
            char *end;
            o->duration_s = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || o->duration_s < 0 || o->duration_s > 86400)
                bad = fprintf(stderr, "wsload: --duration: expected seconds from 0 to 86400\n");
            break;
        }
        case 'H':
            o->host = optarg;
            break;
        case 'T':
            o->token = optarg;
            break;
        case 'P':
            o->protocol = optarg;
            break;
        case 'o':
            o->origin = optarg;
            break;
        case 'u':
            o->path = optarg;
            break;
        case 'p':
            bad |= parse_int("--port", optarg, 1, 65535, &o->port);
            break;
        case 'c':
            bad |= parse_int("--connections", optarg, 1, 1000000, &o->n_conns);
            break;
        case 't':
            bad |= parse_int("--threads", optarg, 1, WSLOAD_MAX_THREADS, &o->n_threads);
            break;
        case 'D':
            bad |= parse_int("--depth", optarg, 1, 64, &o->depth);
            break;
        case 'O':
            bad |= parse_int("--open-timeout", optarg, 1, 86400, &o->open_timeout_s);
            break;
        case 'y':
            bad |= parse_int("--retries", optarg, 0, 100, &o->retries);
            break;
        case 'B':
            bad |= parse_int("--source-base", optarg, 1, 254, &o->source_base);
            break;
        case 's':
            bad |= parse_int("--sources", optarg, 1, 254, &o->n_sources);
            break;
        case 'C':
            bad |= parse_int("--concurrency", optarg, 1, 100000, &o->concurrency);
            break;
        case 'N':
            o->channel = optarg;
            break;
        case 'K':
            bad |= parse_int("--subscriptions", optarg, 0, WSLOAD_MAX_SUBSCRIPTIONS,
                             &o->n_subscriptions);
            break;
        case 'I':
            o->distinct = true;
            break;
        case 'L':
            o->park = true;
            break;
        case 'R':
            o->redis = optarg;
            break;
        case 'F':
            o->prefix = optarg;
            break;
        case 'W':
            bad |= parse_int("--window", optarg, 1, PUBLISHER_MAX_WINDOW, &o->window);
            break;
        case 'r': {
            char *end;
            o->rate = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(o->rate > 0 && o->rate <= 1e6))
                bad = fprintf(stderr, "wsload: --rate: expected publications per second, more "
                                      "than 0 and at most 1000000\n");
            break;
        }
        case 'Z':
            bad |= parse_int("--nap-us", optarg, 0, 100000, &o->nap_us);
            break;
        case 'k':
            o->tokens = optarg;
            break;
        case 'E':
            o->external = true;
            break;
        case 'M':
            o->message = optarg;
            break;
        case 'Y':
            o->reply = optarg;
            break;
        case 'n':
            bad |= parse_int("--rounds", optarg, 1, PUBLISHER_MAX_ROUNDS, &o->rounds);
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            bad = 1;
        }
    }
    if (optind < argc)
        bad = fprintf(stderr, "wsload: unexpected argument \"%s\"\n", argv[optind]);
    if (o->auth == AUTH_PROTOCOL && o->protocol == NULL)
        bad = fprintf(stderr, "wsload: --auth protocol needs --protocol VALUE\n");
    if (o->duration_s == 0 && o->mode != MODE_IDLE)
        bad = fprintf(stderr, "wsload: --duration 0 is only for idle mode\n");
    if (o->source_base + o->n_sources - 1 > 254)
        bad = fprintf(stderr, "wsload: --source-base + --sources - 1 must be at most 254\n");
    if (o->n_threads > o->n_conns)
        o->n_threads = o->n_conns;
    return bad || check_channel_opts(o) < 0 ? -1 : 0;
}

/* The last close code any thread saw, and an errno, for the summary. */
static int last_of(struct worker *ws, int n, bool want_close) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        int x = want_close ? atomic_load(&ws[i].last_close) : atomic_load(&ws[i].last_errno);
        if (x != 0)
            v = x;
    }
    return v;
}

/* Raises the open-file limit to what n connections need. 0 or -1. */
static int raise_fd_limit(int n) {
    struct rlimit rl;
    rlim_t want = (rlim_t)n + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= want)
        return 0;
    rl.rlim_cur = want;
    if (rl.rlim_max < want)
        rl.rlim_max = want; /* allowed for root only */
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        fprintf(stderr, "wsload: setrlimit RLIMIT_NOFILE %lu: %s\n", (unsigned long)want,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Sums one counter over the workers. */
static unsigned long total(struct worker *ws, int n, size_t offset) {
    unsigned long sum = 0;
    for (int i = 0; i < n; i++)
        sum += atomic_load((atomic_ulong *)((char *)&ws[i] + offset));
    return sum;
}
#define TOTAL(ws, n, field) total(ws, n, offsetof(struct worker, field))

/* Splits the connections over the threads and starts them. 0 or -1. */
static int workers_start(struct worker *ws, struct shared *sh, struct conn *conns) {
    const struct opts *o = sh->o;
    int first = 0;
    for (int i = 0; i < o->n_threads; i++) {
        struct worker *w = &ws[i];
        w->sh = sh;
        w->n_conns = o->n_conns / o->n_threads + (i < o->n_conns % o->n_threads);
        w->conns = conns + first;
        w->max_pending = o->concurrency / o->n_threads > 0 ? o->concurrency / o->n_threads : 1;
        for (int j = 0; j < w->n_conns; j++)
            w->conns[j] = (struct conn){
                .fd = -1, .source = first + j, .index = first + j, .tries_left = o->retries};
        first += w->n_conns;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->latency = calloc(1, sizeof *w->latency);
        if (w->latency == NULL) {
            fprintf(stderr, "wsload: out of memory\n");
            return -1;
        }
        if (w->epfd < 0 || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "wsload: starting thread %d: %s\n", i, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Roundtrips and idle: waits until every connection is open or has failed. 0, or -1 on a
 * signal or the timeout. */
static int wait_all_open(struct worker *ws, const struct opts *o) {
    double deadline = now_s() + o->open_timeout_s;
    while (!got_signal && now_s() < deadline) {
        unsigned long open = TOTAL(ws, o->n_threads, n_open);
        unsigned long failed = TOTAL(ws, o->n_threads, n_failed);
        if (open + failed >= (unsigned long)o->n_conns)
            return 0;
        usleep(20000);
    }
    return -1;
}

/* Runs the measured period, printing a line each second; a publisher that finished (its
 * rounds, or an error) ends it early. Returns the seconds measured and writes the count done
 * meanwhile. */
static double measure(struct worker *ws, const struct opts *o, const struct publisher *pub,
                      unsigned long *done_out) {
    double start = now_s(), next = start + 1, end = start + o->duration_s;
    unsigned long first = TOTAL(ws, o->n_threads, n_done), last = first;
    int second = 0;
    while (!got_signal && (o->duration_s == 0 || now_s() < end) &&
           !(pub && publisher_finished(pub))) {
        /* idle mode only holds, and prints once a second: wake up only for that */
        usleep(o->mode == MODE_IDLE ? 1000000 : 10000);
        if (now_s() < next)
            continue;
        unsigned long done = TOTAL(ws, o->n_threads, n_done);
        fprintf(stderr, "wsload: t=%d rate=%lu/s open=%lu failed=%lu errors=%lu\n", ++second,
                done - last, TOTAL(ws, o->n_threads, n_open), TOTAL(ws, o->n_threads, n_failed),
                TOTAL(ws, o->n_threads, n_errors));
        last = done;
        next += 1;
    }
    *done_out = TOTAL(ws, o->n_threads, n_done) - first;
    return now_s() - start;
}

/* CPU seconds (user + system) this process has used so far, all threads. */
static double cpu_s(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static const char *mode_name(enum mode m) {
    static const char *const names[] = {"handshakes", "roundtrips", "idle", "fanout", "personal"};
    return names[m];
}

/* Personal mode: reads "<user id> <token>" lines from path, one per connection, into
 * sh->tokens and sh->personal ("user.<id>"). 0, or -1 with the reason printed (never a
 * token). */
static int tokens_load(struct shared *sh, const char *path, int n) {
    FILE *f = fopen(path, "r");
    char line[512];
    int i = 0;
    if (f == NULL) {
        fprintf(stderr, "wsload: --tokens %s: %s\n", path, strerror(errno));
        return -1;
    }
    sh->tokens = calloc((size_t)n, sizeof *sh->tokens);
    sh->personal = calloc((size_t)n, sizeof *sh->personal);
    while (sh->tokens && sh->personal && i < n && fgets(line, sizeof line, f)) {
        char token[256], name[CHANNEL_PERSONAL_NAME_SIZE];
        long long id;
        if (sscanf(line, "%lld %255s", &id, token) != 2 ||
            channel_personal_name(id, name, sizeof name) != CHANNEL_OK) {
            fprintf(stderr, "wsload: --tokens %s: line %d: expected \"<user id> <token>\"\n", path,
                    i + 1);
            break;
        }
        sh->tokens[i] = strdup(token);
        sh->personal[i] = strdup(name);
        if (sh->tokens[i] == NULL || sh->personal[i] == NULL)
            break;
        i++;
    }
    fclose(f);
    if (i < n && sh->tokens && sh->personal)
        fprintf(stderr, "wsload: --tokens %s: %d lines usable, %d connections\n", path, i, n);
    return i == n ? 0 : -1;
}

/* Fanout and personal: waits until Redis counts the subscribers, then starts the publisher
 * (given to the receiving threads first). NULL with the reason printed. */
static struct publisher *publishing_start(struct shared *sh, const struct opts *o) {
    bool fanout = o->mode == MODE_FANOUT;
    struct publisher_opts po = {.redis_url = o->redis,
                                .prefix = o->prefix,
                                .channels =
                                    fanout ? &o->channel : (const char *const *)sh->personal,
                                .n_channels = fanout ? 1 : (size_t)o->n_conns,
                                .per_publication = (uint64_t)o->n_conns,
                                .window = fanout ? o->window : 1,
                                .rate = fanout ? o->rate : 0,
                                .rounds = fanout ? 0 : o->rounds,
                                .stall_s = WSLOAD_STALL_S};
    char err[512];
    struct publisher *pub = NULL;
    if (publisher_wait_subscribed(o->redis, o->prefix, po.channels, po.n_channels,
                                  WSLOAD_SUBSCRIBED_TIMEOUT_S, err, sizeof err) != PUBLISHER_OK ||
        (pub = publisher_new(&po, err, sizeof err)) == NULL) {
        fprintf(stderr, "wsload: %s\n", err);
        return NULL;
    }
    atomic_store_explicit(&sh->publisher, pub, memory_order_release);
    if (publisher_run(pub) != PUBLISHER_OK) {
        fprintf(stderr, "wsload: starting the publisher: %s\n", strerror(errno));
        return NULL; /* freed by the caller through sh->publisher */
    }
    return pub;
}

/* Fanout --external: waits for the first delivery of the other process' publications, so
 * that its start (a Python interpreter importing Django) is not measured. 0, or -1 on a
 * signal or the timeout. */
static int wait_first_delivery(struct worker *ws, const struct opts *o) {
    double deadline = now_s() + WSLOAD_FIRST_DELIVERY_S;
    while (!got_signal && now_s() < deadline) {
        if (TOTAL(ws, o->n_threads, n_done) > 0 || TOTAL(ws, o->n_threads, n_errors) > 0)
            return 0;
        usleep(1000);
    }
    fprintf(stderr, "wsload: no delivery within %d s\n", WSLOAD_FIRST_DELIVERY_S);
    return -1;
}

/* The latency percentiles of every thread's deliveries, as " p50_us=N p99_us=N", into out. */
static size_t latency_summary(struct worker *ws, const struct opts *o, char *out, size_t out_len) {
    static struct latency all; /* 80 KB: not on the stack */
    memset(&all, 0, sizeof all);
    for (int i = 0; i < o->n_threads; i++)
        latency_merge(&all, ws[i].latency);
    int n = snprintf(out, out_len, " p50_us=%.0f p99_us=%.0f",
                     (double)latency_percentile_ns(&all, 0.5) / 1e3,
                     (double)latency_percentile_ns(&all, 0.99) / 1e3);
    return n < 0 ? 0 : (size_t)n;
}

/* Fanout and personal: the publisher's part of the summary line into out: publications,
 * latency percentiles of every thread's deliveries, and personal mode's rounds (*rate set to
 * N / the fastest). */
static void publishing_summary(struct worker *ws, const struct opts *o, const struct publisher *pub,
                               double *rate, char *out, size_t out_len) {
    size_t n = (size_t)snprintf(out, out_len, " published=%llu taken=%llu",
                                (unsigned long long)publisher_published(pub),
                                (unsigned long long)publisher_taken(pub));
    n += latency_summary(ws, o, out + n, n < out_len ? out_len - n : 0);
    if (o->mode != MODE_PERSONAL)
        return;
    double best = -1;
    n += (size_t)snprintf(out + n, n < out_len ? out_len - n : 0, " rounds_rate=");
    for (int r = 0; r < o->rounds; r++) {
        double secs = publisher_round_s(pub, r), per_s = secs > 0 ? o->n_conns / secs : 0;
        best = per_s > best ? per_s : best;
        n +=
            (size_t)snprintf(out + n, n < out_len ? out_len - n : 0, "%s%.0f", r ? "," : "", per_s);
    }
    *rate = best > 0 ? best : 0;
}

/* The summary line of a measured run (see the file comment). */
static void print_summary(struct worker *ws, const struct opts *o, const struct publisher *pub,
                          double secs, unsigned long done, double cpu) {
    char extra[2048] = "";
    double rate = secs > 0 ? done / secs : 0;
    if (pub)
        publishing_summary(ws, o, pub, &rate, extra, sizeof extra);
    else if (o->external)
        latency_summary(ws, o, extra, sizeof extra);
    printf("wsload: mode=%s connections=%d threads=%d depth=%d duration_s=%.2f total=%lu "
           "rate=%.0f/s cpu_s=%.2f open=%lu failed=%lu retried=%lu errors=%lu last_close=%d "
           "last_errno=%d%s\n",
           mode_name(o->mode), o->n_conns, o->n_threads, o->depth, secs, done, rate, cpu,
           TOTAL(ws, o->n_threads, n_open), TOTAL(ws, o->n_threads, n_failed),
           TOTAL(ws, o->n_threads, n_retried), TOTAL(ws, o->n_threads, n_errors),
           last_of(ws, o->n_threads, true), last_of(ws, o->n_threads, false), extra);
}

/* Idle --park: has every thread park its connections, and says how many it could. */
static void park_all(struct worker *ws, struct shared *sh, const struct opts *o) {
    int all_tried = 0, why = 0;
    atomic_store(&sh->park_now, true);
    while (!got_signal && !all_tried) {
        usleep(20000); /* each thread looks at park_now at least once a second */
        all_tried = 1;
        for (int i = 0; i < o->n_threads; i++)
            all_tried &= atomic_load(&ws[i].park_done);
    }
    for (int i = 0; i < o->n_threads; i++)
        if (atomic_load(&ws[i].park_errno) != 0)
            why = atomic_load(&ws[i].park_errno);
    printf("wsload: idle: %lu of %d connections parked out of the descriptor table%s%s\n",
           TOTAL(ws, o->n_threads, n_parked), o->n_conns, why ? ", the rest held as usual: " : "",
           why ? strerror(why) : "");
    fflush(stdout);
}

/* Opens the connections, measures, stops the threads. Returns the exit status. */
static int run(struct worker *ws, struct shared *sh, const struct opts *o) {
    double secs = 0, cpu = 0;
    unsigned long done = 0;
    bool measured = false,
         publishes = (o->mode == MODE_FANOUT && !o->external) || o->mode == MODE_PERSONAL;
    struct publisher *pub = NULL;
    int rc = 1;
    char err[512];
    if (o->mode != MODE_HANDSHAKES) {
        int ok = wait_all_open(ws, o);
        unsigned long open = TOTAL(ws, o->n_threads, n_open);
        printf("wsload: %s: %lu of %d connections open (retried %lu)\n", mode_name(o->mode), open,
               o->n_conns, TOTAL(ws, o->n_threads, n_retried));
        fflush(stdout);
        if (ok < 0 || open < (unsigned long)o->n_conns)
            goto out;
    }
    if (o->park)
        park_all(ws, sh, o);
    if (publishes && (pub = publishing_start(sh, o)) == NULL)
        goto out;
    if (o->external && wait_first_delivery(ws, o) < 0)
        goto out;
    measured = true;
    double cpu_start = cpu_s();
    secs = measure(ws, o, pub, &done);
    cpu = cpu_s() - cpu_start;
    rc = TOTAL(ws, o->n_threads, n_errors) > 0 ? 1 : 0;
    if (pub && publisher_stop(pub, err, sizeof err) != PUBLISHER_OK) {
        fprintf(stderr, "wsload: publisher: %s\n", err);
        rc = 1;
    }
out:
    atomic_store(&sh->stop, true);
    for (int i = 0; i < o->n_threads; i++)
        if (ws[i].sh)
            pthread_join(ws[i].thread, NULL);
    for (int i = 0; i < o->n_threads; i++)
        worker_unpark(&ws[i]);
    if (measured)
        print_summary(ws, o, pub, secs, done, cpu);
    else
        printf("wsload: mode=%s aborted: failed=%lu errors=%lu last_close=%d last_errno=%d (%s)\n",
               mode_name(o->mode), TOTAL(ws, o->n_threads, n_failed),
               TOTAL(ws, o->n_threads, n_errors), last_of(ws, o->n_threads, true),
               last_of(ws, o->n_threads, false), strerror(last_of(ws, o->n_threads, false)));
    publisher_free(atomic_load(&sh->publisher));
    return rc;
}

int main(int argc, char **argv) {
    struct opts o;
    static struct shared sh;
    struct worker ws[WSLOAD_MAX_THREADS];
    struct conn *conns;
    int parsed = parse_opts(argc, argv, &o);
    if (parsed != 0) {
        if (parsed < 0)
            usage(stderr);
        return parsed < 0 ? 2 : 0;
    }
    if (raise_fd_limit(o.n_conns) < 0 || shared_prepare(&sh, &o) < 0)
        return 1;
    if (o.mode == MODE_PERSONAL && tokens_load(&sh, o.tokens, o.n_conns) < 0)
        return 2;
    sh.o = &o;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    memset(ws, 0, sizeof ws);
    conns = calloc((size_t)o.n_conns, sizeof *conns);
    if (conns == NULL || workers_start(ws, &sh, conns) < 0)
        return 1;
    int rc = run(ws, &sh, &o);
    for (int i = 0; i < o.n_threads; i++)
        free(ws[i].latency);
    for (int i = 0; i < o.n_conns; i++)
        free(conns[i].in);
    free(conns);
    return rc;
}
