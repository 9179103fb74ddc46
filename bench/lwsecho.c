/* lwsecho.c -- a bare libwebsockets server, the yardstick for ws-worker's benchmark figures.
 *
 * One process, one thread, the same libwebsockets as ws-worker, and no work of its own: every
 * handshake is accepted without any check, and every text message is answered with a fixed
 * hello reply (what ws-worker answers, with a few more spaces), written from SERVER_WRITEABLE
 * as ws-worker does.
 * bench/run.sh measures it next to `ws-worker --workers 1`, under the same conditions, so the
 * table separates what ws-worker costs from what libwebsockets, the kernel and a busy machine
 * cost. Not a server for anything else: no Origin check, no token, no limits.
 *
 * Usage: lwsecho PORT   (binds 127.0.0.1; SIGINT or SIGTERM stops it) */
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define LWSECHO_REPLY                                                                              \
    "{\"command_response\": \"The command to say hello was received \", "                          \
    "\"data_string_bacK\": \"bench\"}"

/* Per-session: how many replies are owed. */
struct pss_echo {
    int n_owed;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) {
    got_signal = sig;
}

static int callback_echo(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
    struct pss_echo *pss = user;
    unsigned char buf[LWS_PRE + sizeof LWSECHO_REPLY];
    switch (reason) {
    case LWS_CALLBACK_RECEIVE:
        if (lws_is_final_fragment(wsi)) {
            pss->n_owed++;
            lws_callback_on_writable(wsi);
        }
        break;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (pss->n_owed == 0)
            break;
        memcpy(buf + LWS_PRE, LWSECHO_REPLY, sizeof LWSECHO_REPLY - 1);
        if (lws_write(wsi, buf + LWS_PRE, sizeof LWSECHO_REPLY - 1, LWS_WRITE_TEXT) <
            (int)sizeof LWSECHO_REPLY - 1)
            return -1;
        if (--pss->n_owed > 0)
            lws_callback_on_writable(wsi);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"echo", callback_echo, sizeof(struct pss_echo), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

int main(int argc, char **argv) {
    struct lws_context_creation_info info;
    struct lws_context *context;
    int port = argc == 2 ? atoi(argv[1]) : 0;
    if (port <= 0 || port > 65535) {
        lwsl_err("usage: lwsecho PORT\n");
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    context = lws_create_context(&info);
    if (context == NULL)
        return 1;
    while (!got_signal && lws_service(context, 0) >= 0)
        ;
    lws_context_destroy(context);
    return 0;
}
