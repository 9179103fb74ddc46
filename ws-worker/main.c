/* main.c -- ws-worker: flags, configuration, signals, --workers processes, the lws loop.
 *
 * Settings come from the TOKENAUTH_* environment (config.h); flags (one table, flags[]: the
 * getopt options, the setting each sets and --help come from it) override them through
 * config_set(), so one validation path reports every bad value in one run. With --workers N > 1
 * the parent (supervise.h) forks N children that each bind the same port (SO_REUSEPORT,
 * listen.h: the kernel spreads connections), replaces one that dies, restarts them on SIGHUP,
 * forwards SIGTERM/SIGINT to them and waits; with one worker the process serves itself and
 * ignores SIGHUP. On SIGTERM/SIGINT a worker closes every socket with 1001, waits up to
 * PROTOCOL_SHUTDOWN_MS for the peers, and exits. With TOKENAUTH_WS_METRICS_PORT, the records of
 * metrics.h are mapped before any fork (METRICS_RECORDS_PER_WORKER per worker: a SIGHUP restart
 * overlaps old and new ones) and every worker also serves GET /metrics (metrics_http.h). */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "adopt.h"
#include "bus.h"
#include "channel.h"
#include "clock.h"
#include "config.h"
#include "corelayer.h"
#include "db.h"
#include "dbstamp.h"
#include "evloop.h"
#include "headerlimit.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "origin.h"
#include "prog.h"
#include "protocol.h"
#include "replychan.h"
#include "supervise.h"
#include "wsimem.h"

#define WORKERS_MAX 1024 /* as TOKENAUTH_WS_WORKERS allows; one per core by default */
#define AUTO_WORKERS_MAX SUPERVISE_SLOTS_MAX   /* --workers 0 with a --max-connections */
#define FD_RESERVE (PROTOCOL_PENDING_MAX + 64) /* beyond the cap: handshakes, db, listener */
/* Per process when --max-connections is 0. Kept modest on purpose: Debian's libwebsockets 4.1.6
 * is built with _DEBUG and scans its whole fd table (cap + FD_RESERVE slots) on every close, so
 * each slot is paid on every connection, not only when used. 1,024 slots keep the table inside
 * the L1 cache; a deployment that needs more per process raises it. */
#define DEFAULT_MAX_CONNECTIONS 1024

/* --workers 0 with a --max-connections: the connections to hold are spread over enough
 * processes that none holds more than about AUTO_CAP_PER_WORKER, and each process may take its
 * share plus a quarter plus a few: SO_REUSEPORT spreads connections by a hash of the addresses,
 * not evenly. Why these sizes (measured, docs/websocket.md, "Sizing the workers"): under libev
 * (epoll) an idle socket costs its process nothing per wake-up, but Debian's lws scans its fd
 * table on every accept and close (_DEBUG), reading each held connection: about 4 ns a held
 * socket per handshake, so 2,048 keep that near a tenth of a handshake (and a process of 2,048
 * splits them over contexts of TOKENAUTH_WS_CONTEXT_SIZE, each scanned alone: contexts_for()).
 * Under poll each held socket costs every wake-up 0.2-0.4 us, hence 256 when poll is forced. */
#define AUTO_CAP_PER_WORKER 2048
#define AUTO_CAP_PER_WORKER_POLL 256
#define AUTO_SPREAD_SLACK 16

#define METRICS_RECORDS_PER_WORKER 4

/* What each worker gets from main. */
struct worker_args {
    const struct config *cfg;      /* the settings */
    enum evloop_kind loop;         /* TOKENAUTH_WS_EVENT_LIB for this cap, chosen at start */
    struct metrics_group *metrics; /* the shared counters; NULL when the endpoint is off */
    int is_supervised;             /* the parent watches the database for it (database_moved) */
};

extern char **environ;

static volatile sig_atomic_t stop_signal, restart_signal, db_changed_signal;
/* The worker's context, for SIGUSR1's handler to end the loop's wait: a signal arriving just
 * before the wait begins would otherwise wait for the next event. */
static struct lws_context *volatile signal_context;

static void on_signal(int sig) {
    if (sig == SIGHUP) {
        restart_signal = 1;
    } else if (sig == SIGUSR1) {
        db_changed_signal = 1;
        if (signal_context)
            lws_cancel_service(signal_context); /* an eventfd write: safe in a handler */
    } else {
        stop_signal = sig;
    }
}

/* The parent's watch of the database files for the workers (supervise.h's should_notify): every
 * TOKENAUTH_WS_REVOCATION_CHECK_MS, two stat() calls; a move (or a stamp too fresh to trust,
 * dbstamp.h) tells every worker with SIGUSR1. One process looks, instead of each worker twice a
 * second: hundreds of idle workers' wake-ups took most of this host's CPU. */
struct db_watch {
    const char *path;
    int period_ms;
    int64_t next_ms;
    struct db_stamp last;
};

static int database_moved(void *arg) {
    struct db_watch *w = arg;
    int64_t now_ms = clock_monotonic_ms();
    if (now_ms < w->next_ms)
        return 0;
    w->next_ms = now_ms + w->period_ms;
    struct timespec now_real;
    struct db_stamp stamp;
    clock_gettime(CLOCK_REALTIME, &now_real);
    db_stamp_read(w->path, &now_real, &stamp);
    int has_moved = !db_stamp_unchanged(&w->last, &stamp);
    w->last = stamp;
    return has_moved;
}

/* A command-line flag: one that sets a TOKENAUTH_* setting, or an action (--help, --check). */
struct flag {
    const char *name;    /* the long option, without "--" */
    const char *arg;     /* the argument's name in --help, NULL when it takes none */
    const char *setting; /* the TOKENAUTH_* name it sets through config_set(), NULL for an action */
    const char *value;   /* what a flag without argument sets the setting to */
    int action;          /* for an action, what parse_flags() returns (FLAG_HELP, FLAG_CHECK) */
    const char *help;    /* its line in --help (the setting's name is added after it) */
};

#define FLAG_HELP 1
#define FLAG_CHECK 2

/* Every flag: getopt_long's options, what each sets and the --help text come from here. */
static const struct flag flags[] = {
    {"db", "PATH", "TOKENAUTH_DB", NULL, 0, "the SQLite database"},
    {"port", "N", "TOKENAUTH_WS_PORT", NULL, 0, "port to listen on, default 8001"},
    {"bind", "ADDR", "TOKENAUTH_WS_BIND", NULL, 0, "address to listen on, default 127.0.0.1"},
    {"workers", "N", "TOKENAUTH_WS_WORKERS", NULL, 0,
     "processes sharing the port, 0 = one per core"},
    {"allowed-hosts", "LIST", "TOKENAUTH_ALLOWED_HOSTS", NULL, 0, "Origin hosts allowed"},
    {"max-connections", "N", "TOKENAUTH_WS_MAX_CONNECTIONS", NULL, 0,
     "per process, 0 = 1024 (less if the fd hard limit is lower); with --workers 0, the total "
     "(workers sized to hold it)"},
    {"max-message", "N", "TOKENAUTH_WS_MAX_MESSAGE", NULL, 0, "bytes per message"},
    {"refuse-handshake", NULL, "TOKENAUTH_WS_REFUSE_HANDSHAKE", "1", 0,
     "answer token failures with HTTP 401, not close 4401"},
    {"check", NULL, NULL, NULL, FLAG_CHECK,
     "validate the settings as a start would, try the database (a warning if it cannot be "
     "opened), exit"},
    {"help", NULL, NULL, NULL, FLAG_HELP, "this text and every setting"},
};

#define N_FLAGS (sizeof flags / sizeof flags[0])

static void usage(FILE *out) {
    fprintf(out, "usage: " PROG " [options]\n");
    for (size_t i = 0; i < N_FLAGS; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", flags[i].name, flags[i].arg ? " " : "",
                 flags[i].arg ? flags[i].arg : "");
        fprintf(out, "  %-22s%s", left, flags[i].help);
        if (flags[i].setting)
            fprintf(out, " (%s)", flags[i].setting);
        fputc('\n', out);
    }
}

/* Applies one setting flag (with arg when it takes one) to cfg. Returns 0, or -1 with
 * the error written to stderr. */
static int apply_flag(struct config *cfg, const struct flag *flag, const char *arg) {
    char err[512];
    if (config_set(cfg, flag->setting, flag->arg ? arg : flag->value, err, sizeof err) == CONFIG_OK)
        return 0;
    fprintf(stderr, PROG ": %s\n", err);
    return -1;
}

/* Applies the flags to cfg. Returns 0, FLAG_HELP, FLAG_CHECK, or -1 with the errors written to
 * stderr (every bad flag, not only the first). */
static int parse_flags(int argc, char **argv, struct config *cfg) {
    struct option options[N_FLAGS + 1];
    memset(options, 0, sizeof options);
    for (size_t i = 0; i < N_FLAGS; i++) {
        options[i].name = flags[i].name;
        options[i].has_arg = flags[i].arg ? required_argument : no_argument;
        options[i].val = 1; /* which one comes back in the index */
    }
    int result = 0, index = 0, opt;
    while ((opt = getopt_long(argc, argv, "", options, &index)) != -1) {
        if (opt != 1) {
            result = -1; /* getopt_long has said what was wrong */
        } else if (flags[index].action) {
            if (result >= 0)
                result = flags[index].action;
        } else if (apply_flag(cfg, &flags[index], optarg) != 0) {
            result = -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument \"%s\": see --help\n", argv[optind]);
        result = -1;
    }
    return result;
}

/* Sets the soft descriptor limit to what max_connections sessions need plus FD_RESERVE (the
 * database, the listener, lws's pipe, and connections being refused past the cap), within the
 * hard limit. Not the hard maximum: libwebsockets sizes its tables from the soft limit, and a
 * limit no connection cap needs only costs memory. Returns the cap that fits (0 asks for
 * DEFAULT_MAX_CONNECTIONS). */
static int fit_fd_limit(int max_connections) {
    struct rlimit rl;
    long cap = max_connections > 0 ? max_connections : DEFAULT_MAX_CONNECTIONS;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return max_connections > 0 ? max_connections : 1024 - FD_RESERVE;
    if (rl.rlim_max != RLIM_INFINITY && (rlim_t)cap + FD_RESERVE > rl.rlim_max)
        cap = rl.rlim_max > 2 * FD_RESERVE ? (long)rl.rlim_max - FD_RESERVE : FD_RESERVE;
    rl.rlim_cur = (rlim_t)cap + FD_RESERVE;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)cap + FD_RESERVE)
        cap = rl.rlim_cur > 2 * FD_RESERVE ? (long)rl.rlim_cur - FD_RESERVE : FD_RESERVE;
    return (int)cap;
}

/* --workers 0: how many processes, and (in *max_connections) the cap of each. Without a
 * connection count (0): one per core, each with the default cap. With one, it is the total to
 * hold: max(cores, 1.25 * total / per), where per (AUTO_CAP_PER_WORKER, or _POLL under a forced
 * poll loop) is less when the descriptor hard limit (minus FD_RESERVE) is lower, at most
 * AUTO_WORKERS_MAX; each process gets its share plus a quarter plus AUTO_SPREAD_SLACK (fit_fd_limit
 * then keeps it within the limit). */
static int auto_workers(int *max_connections, long per) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = cores < 1 ? 1 : cores > WORKERS_MAX ? WORKERS_MAX : cores;
    long total = *max_connections;
    if (total <= 0)
        return (int)n;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
        (rlim_t)per + FD_RESERVE > rl.rlim_max)
        per = rl.rlim_max > 2 * FD_RESERVE ? (long)rl.rlim_max - FD_RESERVE : FD_RESERVE;
    long needed = (total + total / 4 + per - 1) / per; /* room for the quarter too */
    if (needed > n)
        n = needed > AUTO_WORKERS_MAX ? AUTO_WORKERS_MAX : needed;
    long share = (total + n - 1) / n;
    long cap = share + share / 4 + AUTO_SPREAD_SLACK;
    *max_connections = cap > INT_MAX ? INT_MAX : (int)cap;
    return (int)n;
}

/* The bind address as listen_open() will read it (numeric only), so --check and the start
 * refuse the same values. Returns 0, or -1 with the reason on stderr. */
static int check_bind(const char *addr) {
    struct addrinfo *ai = NULL;
    int rc = listen_resolve(addr, 0, &ai);
    freeaddrinfo(ai);
    if (rc == 0)
        return 0;
    fprintf(stderr,
            PROG ": TOKENAUTH_WS_BIND \"%s\": %s (expected a numeric IPv4 or IPv6 address)\n", addr,
            gai_strerror(rc));
    return -1;
}

/* SIGTERM/SIGINT stop; SIGHUP restarts the workers when there is a parent (has_parent), else
 * is ignored: a lone worker has nothing to restart it with. */
static void install_signals(void (*handler)(int), int has_parent) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* before any fork: a worker never dies of the parent's news */
    if (has_parent)
        sigaction(SIGHUP, &sa, NULL);
    else
        signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}

/* libwebsockets' own ping timer, off: a zero secs_since_valid_hangup makes lws schedule none
 * (_lws_validity_confirmed_role returns early). lws keeps that timer in its sorted timer list,
 * where each insert (every handshake, every pong) walked every socket of the process;
 * protocol.c pings through keepalive.h instead (TOKENAUTH_WS_PING_INTERVAL and _TIMEOUT). */
static const lws_retry_bo_t lws_validity_off = {.secs_since_valid_ping = 0,
                                                .secs_since_valid_hangup = 0};

/* An lws context of one worker, without a listener of its own (ours is adopted after), or
 * NULL (lws has logged why). limits is filled here; it and pc must outlive the context. */
static struct lws_context *create_context(const struct protocol_context *pc, struct evloop *loop,
                                          struct lws_token_limits *limits) {
    const struct config *cfg = pc->cfg;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* our own listener, adopted by the caller */
    info.protocols = protocol_list;
    info.user = (void *)(uintptr_t)pc;
    info.timeout_secs = (unsigned int)cfg->ws_handshake_timeout_s;
    info.timeout_secs_ah_idle = (unsigned int)cfg->ws_handshake_timeout_s;
    /* fd_limit_per_thread stays 0: lws then sizes its tables from the soft limit fit_fd_limit()
     * set, and finds a connection by indexing them with its fd. Any explicit value makes lws 4.1
     * scan its whole table on every accept and close. */
    /* One header buffer for every connection the cap admits, so none ever waits for one (lws
     * allocates them as connections need them, not up front); per address, adopt.c bounds how
     * many a client can hold with unfinished requests. */
    info.max_http_header_pool2 = (unsigned int)(cfg->ws_max_connections + PROTOCOL_PENDING_MAX);
    info.max_http_header_data2 = (unsigned int)cfg->ws_max_header_bytes;
    headerlimit_fill(limits, cfg->ws_max_header_bytes); /* a long header gets 431 */
    info.token_limits = limits;
    info.pt_serv_buf_size = 8192;
    info.retry_and_idle_policy = &lws_validity_off;
    info.vhost_name = "default";
    evloop_configure(loop, &info);
    return lws_create_context(&info);
}

/* Services the context until a signal (or an lws failure); after a signal, closes every
 * session with 1001 and services on until they are gone or PROTOCOL_SHUTDOWN_MS passed. */
static void serve(struct lws_context *context, struct evloop *loop) {
    struct protocol_vhd *vhd = protocol_vhd_get(context);
    while (!stop_signal) {
        if (evloop_turn(loop, context) < 0)
            break;
        if (db_changed_signal && vhd) {
            db_changed_signal = 0;
            protocol_database_changed(vhd);
        }
    }
    if (!stop_signal || !vhd)
        return;
    protocol_begin_shutdown(vhd);
    int64_t deadline = clock_monotonic_ms() + PROTOCOL_SHUTDOWN_MS;
    while (protocol_n_sessions(vhd) > 0 && clock_monotonic_ms() < deadline)
        if (evloop_turn(loop, context) < 0)
            break;
}

/* The metrics endpoint of one worker, when there is one: its record claimed, its listener on
 * METRICS_HTTP_BIND adopted. Returns 0, or -1 (logged) when the port cannot be had. */
static int start_metrics(struct lws_context *context, const struct worker_args *args,
                         struct metrics_http *mh) {
    const struct config *cfg = args->cfg;
    char err[512];
    if (!args->metrics)
        return 0;
    /* lws runs PROTOCOL_INIT at the first service; the per-vhost data must exist now. */
    if (lws_protocol_init(context) != 0 || !protocol_vhd_get(context))
        return -1;
    protocol_set_metrics(protocol_vhd_get(context), metrics_group_claim(args->metrics, getpid()));
    int fd = listen_open(METRICS_HTTP_BIND, cfg->ws_metrics_port, err, sizeof err);
    if (fd < 0) {
        log_msg(PROG, "error", "TOKENAUTH_WS_METRICS_PORT: %s", err);
        return -1;
    }
    mh->group = args->metrics;
    mh->file_path = cfg->metrics_file;
    if (metrics_http_start(context, mh, fd) != 0) {
        log_msg(PROG, "error", "cannot serve the metrics endpoint (see the lws lines above)");
        close(fd);
        return -1;
    }
    return 0;
}

/* The lws contexts of one worker: the first owns the listener and the per-vhost data, the
 * others share it (protocol.h) and each hold a part of the connections. */
struct worker_contexts {
    struct protocol_context user[ADOPT_VHOSTS_MAX];
    struct lws_context *context[ADOPT_VHOSTS_MAX];
    int n; /* further contexts started: context[1] .. context[n - 1] */
};

/* How many lws contexts a worker runs: one under lws's poll loop (each context would poll on
 * its own) or when TOKENAUTH_WS_CONTEXT_SIZE is 0, else enough that none holds more than that
 * many connections, at most ADOPT_VHOSTS_MAX. Why: Debian's lws reads every connection of a
 * context on each close (docs/websocket.md, "Sizing the workers"). */
static int contexts_for(const struct config *cfg, enum evloop_kind loop) {
    long size = cfg->ws_context_size;
    if (loop != EVLOOP_LIBEV || size <= 0)
        return 1;
    long n = (cfg->ws_max_connections + size - 1) / size;
    return n < 1 ? 1 : n > ADOPT_VHOSTS_MAX ? ADOPT_VHOSTS_MAX : (int)n;
}

/* Starts the further contexts of w, up to want in all, sharing the first one's data. Returns 0,
 * or -1 (logged) when one could not start; those started are in w->n. */
static int start_further_contexts(struct worker_contexts *w, int want, struct evloop *loop,
                                  struct lws_token_limits *limits) {
    struct protocol_vhd *primary = protocol_vhd_get(w->context[0]);
    for (w->n = 1; w->n < want; w->n++) {
        w->user[w->n] = (struct protocol_context){.cfg = w->user[0].cfg, .primary = primary};
        w->context[w->n] = create_context(&w->user[w->n], loop, limits);
        if (!w->context[w->n] || protocol_join(w->context[w->n]) != 0) {
            log_msg(PROG, "error", "cannot start lws context %d of %d (see the lws lines above)",
                    w->n + 1, want);
            w->n += w->context[w->n] != NULL;
            return -1;
        }
    }
    return 0;
}

/* Destroys the further contexts of w, last first, before the first one goes (whose data they
 * share); their connections close as they go. */
static void destroy_further_contexts(struct worker_contexts *w) {
    for (; w->n > 1; w->n--)
        lws_context_destroy(w->context[w->n - 1]);
}

/* The worker listens: the log line, and a byte on ready_fd (-1: none) for the parent. */
static void announce_listening(const struct config *cfg, enum evloop_kind loop, int n_contexts,
                               int ready_fd) {
    log_msg(PROG, "listen",
            "ws://%s:%d/ pid %ld, %s loop, at most %d connections, %d lws context%s", cfg->ws_bind,
            cfg->ws_port, (long)getpid(), evloop_name(loop), cfg->ws_max_connections, n_contexts,
            n_contexts == 1 ? "" : "s");
    if (ready_fd >= 0) {
        if (write(ready_fd, "r", 1) != 1)
            log_msg(PROG, "error", "cannot tell the parent this worker listens");
        close(ready_fd);
    }
}

/* One worker: the lws contexts, served until a signal, then the 1001 shutdown; ready_fd (-1:
 * none) gets a byte once it listens. Returns the exit status: 0 after a signal, 1 when it could
 * not start or lws failed. */
static int run_worker(void *arg, int ready_fd) {
    const struct worker_args *args = arg;
    const struct config *cfg = args->cfg;
    struct metrics_http mh = {0};
    char err[512];
    struct evloop *loop = NULL;
    struct lws_context *context = NULL;
    struct lws_token_limits limits; /* read by lws for the contexts' life */
    struct worker_contexts w = {.user[0] = {.cfg = cfg}, .n = 1};
    int n_contexts = contexts_for(cfg, args->loop);
    int listen_fd = listen_open(cfg->ws_bind, cfg->ws_port, err, sizeof err);
    if (listen_fd < 0) {
        log_msg(PROG, "error", "%s", err);
        goto fail;
    }
    if (evloop_create(args->loop, &loop) != 0) { /* an epoll set per process: after fork */
        log_msg(PROG, "error", "cannot create the %s event loop", evloop_name(args->loop));
        goto fail;
    }
    /* lws's connection objects in huge pages (wsimem.h), sized for the cap and what is beyond it */
    if (cfg->ws_packed_connections &&
        wsimem_install((size_t)cfg->ws_max_connections + FD_RESERVE) != WSIMEM_OK)
        log_msg(PROG, "warning", "connection objects not packed: they stay on the heap");
    context = w.context[0] = create_context(&w.user[0], loop, &limits);
    if (context && start_metrics(context, args, &mh) != 0)
        goto fail;
    if (!context || protocol_adopt_listener(context, listen_fd) != 0) {
        log_msg(PROG, "error", "cannot start libwebsockets (see the lws lines above)");
        goto fail;
    }
    if (start_further_contexts(&w, n_contexts, loop, &limits) != 0)
        goto fail;
    if (args->is_supervised && protocol_vhd_get(context))
        protocol_watch_database(protocol_vhd_get(context));
    signal_context = context;
    announce_listening(cfg, args->loop, n_contexts, ready_fd);
    serve(context, loop);
    signal_context = NULL;
    destroy_further_contexts(&w);
    evloop_destroy(loop, context); /* closes listen_fd with its adopted wsi */
    log_msg(PROG, "exit", "pid %ld", (long)getpid());
    return stop_signal ? 0 : 1;
fail:
    destroy_further_contexts(&w);
    evloop_destroy(loop, context);
    if (listen_fd >= 0)
        close(listen_fd);
    if (ready_fd >= 0)
        close(ready_fd);
    return 1;
}

/* --help: the flags, then every setting with its default. */
static void print_help(void) {
    char describe[16384];
    usage(stdout);
    config_describe(describe, sizeof describe);
    printf("\nsettings (environment):\n%s", describe);
}

/* Every host name of a valid TOKENAUTH_REDIS_URL resolves now, as each worker will resolve it
 * when it starts (pubsub.c: never inside the loop). Returns 0, or -1 with the reason on stderr. */
static int check_redis_names(const char *urls) {
    struct bus_url hosts[CORELAYER_MAX_HOSTS];
    size_t n_hosts = 0;
    char err[512];
    if (corelayer_hosts_parse(urls, hosts, CORELAYER_MAX_HOSTS, &n_hosts, err, sizeof err) !=
        CORELAYER_OK)
        return -1; /* corelayer_hosts_check has said why */
    for (size_t i = 0; i < n_hosts; i++) {
        if (bus_url_resolve(&hosts[i], err, sizeof err) != BUS_OK) {
            fprintf(stderr, PROG ": TOKENAUTH_REDIS_URL: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* The channel settings as pubsub.h will read them: the Redis URL and the pattern lists. Returns
 * 0, or -1 with the reasons on stderr. */
static int check_channels(const struct config *cfg) {
    char err[512];
    struct channel_policy policy;
    int rc = 0;
    int is_core = strcmp(cfg->channel_layer, "core") == 0;
    if (cfg->redis_url[0] &&
        corelayer_hosts_check(cfg->redis_url, is_core, err, sizeof err) != CORELAYER_OK) {
        fprintf(stderr, PROG ": TOKENAUTH_REDIS_URL: %s\n", err);
        rc = -1;
    } else if (cfg->redis_url[0] && check_redis_names(cfg->redis_url) != 0) {
        rc = -1;
    }
    if (cfg->redis_url[0] && !is_core &&
        replychan_prefix_check(cfg->channel_prefix, err, sizeof err) != REPLYCHAN_OK) {
        fprintf(stderr, PROG ": %s\n", err);
        rc = -1;
    }
    if (channel_policy_parse(&policy, cfg->ws_public_channels, cfg->ws_publish_channels,
                             cfg->channel_secret, err, sizeof err) != CHANNEL_OK) {
        fprintf(stderr, PROG ": %s\n", err);
        rc = -1;
    }
    channel_policy_free(&policy);
    return rc;
}

/* The checks config_load() cannot make: channels, the Origin list parses, the bind address is
 * numeric. Returns 0, or -1 with every reason on stderr. */
static int check_settings(const struct config *cfg) {
    int rc = check_channels(cfg);
    struct origin_list *hosts = NULL;
    char err[512];
    if (origin_list_parse(cfg->allowed_hosts, ORIGIN_HOSTS, &hosts, err, sizeof err) != ORIGIN_OK) {
        fprintf(stderr, PROG ": TOKENAUTH_ALLOWED_HOSTS: %s\n", err);
        rc = -1;
    }
    origin_list_free(hosts);
    if (check_bind(cfg->ws_bind) != 0)
        rc = -1;
    enum evloop_kind kind;
    if (evloop_parse(cfg->ws_event_lib, 0, &kind, err, sizeof err) != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        rc = -1;
    }
    return rc;
}

/* --check, once the settings are valid: tries the database and says so. Returns 0. */
static int check_only(const struct config *cfg) {
    /* The worker starts without its database (it retries), so a missing one only warns. */
    char err[512];
    struct db *db = db_open(cfg->db_path, DB_OPEN_READ_ONLY, 100, err, sizeof err);
    if (!db)
        fprintf(stderr, PROG ": warning: %s (the worker would start and retry)\n", err);
    db_close(db);
    config_report_write(stderr, PROG, CONFIG_CHECK_OK);
    return 0;
}

int main(int argc, char **argv) {
    static struct config cfg;
    char report[8192];
    int rc = config_load(&cfg, environ, report, sizeof report);
    config_report_write(stderr, PROG, report);
    int flag_result = parse_flags(argc, argv, &cfg);
    if (flag_result == FLAG_HELP) {
        print_help();
        return 0;
    }
    if (check_settings(&cfg) != 0)
        rc = CONFIG_ERR_INVALID;
    if (rc != CONFIG_OK || flag_result < 0) {
        config_report_write(stderr, PROG, CONFIG_NOT_STARTED);
        return 2;
    }
    if (flag_result == FLAG_CHECK)
        return check_only(&cfg);

    int n_workers = cfg.ws_workers, total = cfg.ws_max_connections;
    int is_poll = strcmp(cfg.ws_event_lib, "poll") == 0;
    if (n_workers == 0)
        n_workers = auto_workers(&cfg.ws_max_connections,
                                 is_poll ? AUTO_CAP_PER_WORKER_POLL : AUTO_CAP_PER_WORKER);
    cfg.ws_max_connections = fit_fd_limit(cfg.ws_max_connections);
    struct worker_args args = {.cfg = &cfg};
    char err[512];
    (void)evloop_parse(cfg.ws_event_lib, cfg.ws_max_connections, &args.loop, err, sizeof err);
    if (cfg.ws_workers == 0 && total > 0)
        log_msg(PROG, "workers",
                "--workers 0 and %d connections: %d processes of at most %d connections each, "
                "%s loop",
                total, n_workers, cfg.ws_max_connections, evloop_name(args.loop));
    lws_set_log_level(LLL_ERR | LLL_WARN, protocol_lws_log);
    install_signals(on_signal, n_workers > 1);
    if (cfg.ws_metrics_port > 0) {
        args.metrics = metrics_group_create(1 + (size_t)n_workers * METRICS_RECORDS_PER_WORKER, err,
                                            sizeof err);
        if (!args.metrics) {
            fprintf(stderr, PROG ": %s\n", err);
            return 1;
        }
    }
    struct db_watch watch = {.path = cfg.db_path, .period_ms = cfg.ws_revocation_check_ms};
    args.is_supervised = n_workers > 1;
    if (n_workers == 1)
        rc = run_worker(&args, -1);
    else
        rc = supervise_run(n_workers, run_worker, &args,
                           &(const struct supervise_signals){.stop = &stop_signal,
                                                             .restart = &restart_signal,
                                                             .should_notify = database_moved,
                                                             .notify_arg = &watch,
                                                             .notify_signal = SIGUSR1},
                           args.metrics);
    metrics_group_destroy(args.metrics);
    return rc;
}
