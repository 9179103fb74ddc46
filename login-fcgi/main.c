/* main.c -- login-fcgi: the login service, as a FastCGI responder or a plain CGI program.
 *
 * Started with a listening socket on fd 0 (lighttpd's mod_fastcgi bin-path, spawn-fcgi, a
 * systemd socket, mod_fcgid), it serves requests one after another for as long as it lives,
 * keeping its database connection. Started any other way (fd 0 is no socket), it is CGI: one
 * request from the environment and stdin, the response on stdout, exit. The configuration is
 * read once, from the TOKENAUTH_* environment, before either: a bad value prints every problem
 * to stderr and exits 2. `login-fcgi --check` only validates the configuration; `--help` lists
 * every setting with its default; `--metrics` prints the counts of TOKENAUTH_METRICS_FILE
 * (metrics.h) in the Prometheus text format.
 *
 * A FastCGI request's body must arrive within TOKENAUTH_BODY_TIMEOUT_MS of its first read, or
 * the answer is 408: libfcgi's streams block, so before each read that needs the socket (none
 * when libfcgi has bytes buffered) SO_RCVTIMEO is set to the time left, and one record at most
 * is read between two looks at the clock. A client trickling its body (a web server that streams
 * it, as Apache's mod_proxy_fcgi does, or a client on the socket itself) so holds a process for
 * that long at most.
 *
 * With TOKENAUTH_FCGI_CHILDREN above 1 (FastCGI only), this process forks that many children
 * that share the listening socket, each with its own database connection, and replaces any that
 * dies (a crash, kill -9), at most one per second; SIGTERM or SIGINT stops them all. So one
 * socket made by spawn-fcgi or systemd is served by several processes, and a killed one comes
 * back, as lighttpd's max-procs does for the processes it spawns.
 *
 * This file is the loop and nothing else; what a request means is routes.c. */
#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "response.h"
#include "routes.h"

#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

extern char **environ;

/* Set by SIGTERM/SIGINT in the supervisor of TOKENAUTH_FCGI_CHILDREN. */
static volatile sig_atomic_t stop_signal;

/* The FastCGI body reader's state: the request, and when its body must be in. */
struct fcgi_body {
    FCGX_Request *req;
    int64_t deadline_ms; /* clock_monotonic_ms() */
};

#define EXIT_CONFIG 2
#define PROG "login-fcgi"

/* Sets how long one read on fd may wait (0: forever). 0 or -1. */
static int set_read_timeout(int fd, int64_t ms) {
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Body readers for routes_handle: the FastCGI stream, or stdin in CGI mode. The FastCGI one
 * takes what libfcgi has buffered, or else lets it fill its buffer once (one byte asked for)
 * with the time left as the socket's read timeout. */
static long read_fcgi(void *ctx, char *buf, size_t len) {
    struct fcgi_body *b = ctx;
    FCGX_Stream *in = b->req->in;
    size_t buffered = in->stop > in->rdNext ? (size_t)(in->stop - in->rdNext) : 0;
    if (buffered == 0 && !in->isClosed) {
        int64_t left_ms = b->deadline_ms - clock_monotonic_ms();
        if (left_ms <= 0 || set_read_timeout(b->req->ipcFd, left_ms) != 0)
            return ROUTES_READ_TIMEOUT;
        len = 1;
    } else if (len > buffered) {
        len = buffered;
    }
    /* FCGX_GetStr counts in int: ask for at most 64 KiB a call, the caller loops. */
    int n = FCGX_GetStr(buf, len > 65536 ? 65536 : (int)len, in);
    int err = FCGX_GetError(in);
    if (n <= 0 && (err == EAGAIN || err == EWOULDBLOCK))
        return ROUTES_READ_TIMEOUT;
    return n;
}

static long read_stdin(void *ctx, char *buf, size_t len) {
    size_t n = fread(buf, 1, len, (FILE *)ctx);
    return n > 0 ? (long)n : (ferror((FILE *)ctx) ? -1 : 0);
}

static int serve_fastcgi(struct routes *s, int body_timeout_ms, struct response *r, char *out) {
    FCGX_Request req;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
        fprintf(stderr, PROG ": FastCGI: cannot initialise libfcgi\n");
        return 1;
    }
    while (FCGX_Accept_r(&req) >= 0) {
        struct fcgi_body body = {&req, clock_monotonic_ms() + body_timeout_ms};
        routes_handle(s, req.envp, read_fcgi, &body, r);
        /* A kept connection waits for its next request; one libfcgi closes needs no reset (a
         * system call fewer per request behind lighttpd, which does not keep them). */
        if (req.keepConnection)
            set_read_timeout(req.ipcFd, 0);
        size_t n = response_serialize(r, out, RESPONSE_OUT_MAX);
        FCGX_PutStr(out, (int)n, req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}

static void on_stop_signal(int sig) {
    stop_signal = sig;
}

/* One child of the supervisor: its own database connection, then the accept loop. It ends with
 * the supervisor. Never returns. */
static void child_main(const struct config *cfg, struct response *r, char *out) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct routes *s = NULL;
    char err[512];
    if (routes_create(cfg, &s, err, sizeof err) != ROUTES_OK) {
        config_report_write(stderr, PROG, err);
        _exit(EXIT_CONFIG);
    }
    int rc = serve_fastcgi(s, cfg->body_timeout_ms, r, out);
    routes_destroy(s);
    _exit(rc);
}

/* Forks one child, its pid into *pid; 0, or -1 when fork failed. */
static int start_child(const struct config *cfg, struct response *r, char *out, pid_t *pid) {
    *pid = fork();
    if (*pid == 0)
        child_main(cfg, r, out);
    return *pid > 0 ? 0 : -1;
}

/* Replaces the child that ended (pid, status) in pids; waits a second first when the last
 * replacement was under a second ago, so a child that cannot start does not spin. */
static void replace_child(const struct config *cfg, struct response *r, char *out, pid_t *pids,
                          pid_t pid, int status, int64_t *last_ms) {
    for (int i = 0; i < cfg->fcgi_children; i++) {
        if (pids[i] != pid)
            continue;
        log_msg(PROG, "child_replaced", "child %d ended (%s %d): starting another", (int)pid,
                WIFSIGNALED(status) ? "signal" : "exit",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        if (clock_monotonic_ms() - *last_ms < 1000)
            sleep(1);
        *last_ms = clock_monotonic_ms();
        if (!stop_signal && start_child(cfg, r, out, &pids[i]) != 0)
            pids[i] = 0;
    }
}

/* TOKENAUTH_FCGI_CHILDREN > 1: keeps that many children serving fd 0 until SIGTERM or SIGINT,
 * then stops them. */
static int supervise(const struct config *cfg, struct response *r, char *out) {
    static pid_t pids[256];
    struct sigaction sa = {.sa_handler = on_stop_signal}; /* no SA_RESTART: wake waitpid */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int64_t last_ms = 0;
    while (!stop_signal) {
        for (int i = 0; i < cfg->fcgi_children; i++) /* at first, and a slot whose fork failed */
            if (pids[i] == 0 && start_child(cfg, r, out, &pids[i]) != 0)
                pids[i] = 0;
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid > 0)
            replace_child(cfg, r, out, pids, pid, status, &last_ms);
        else if (errno == ECHILD)
            sleep(1); /* every fork failed: try again in replace_child's pace */
    }
    for (int i = 0; i < cfg->fcgi_children; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    return 0;
}

static int serve_cgi(struct routes *s, struct response *r, char *out) {
    routes_handle(s, environ, read_stdin, stdin, r);
    size_t n = response_serialize(r, out, RESPONSE_OUT_MAX);
    return fwrite(out, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
}

/* The usage line and every setting with its default (config_describe), on out. */
static void print_help(FILE *out) {
    static char settings[8192];
    config_describe(settings, sizeof settings);
    fprintf(out,
            "usage: login-fcgi [--check | --metrics | --help]\n"
            "  a FastCGI responder (a listening socket on fd 0) or a CGI program (otherwise)\n"
            "  --check   validate the settings and exit\n"
            "  --metrics print the counts of TOKENAUTH_METRICS_FILE (Prometheus text) and exit\n"
            "  --help    this text\n"
            "settings (environment variables, see README):\n%s",
            settings);
}

/* A web server that spawned us and died without stopping us (SIGKILL, a crash) would leave us
 * holding its socket forever: ask the kernel for SIGTERM when the parent goes. Returns -1 when
 * the parent is already gone (the signal would never come). Opt-in, since spawn-fcgi's parent
 * exits on purpose right after spawning. */
static int exit_with_parent(void) {
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        return 0; /* not fatal: we only lose the clean-up */
    return getppid() != parent || parent == 1 ? -1 : 0;
}

/* --metrics: the counts of cfg's metrics file on stdout. Returns the exit status: 0, 1 when the
 * file cannot be read, EXIT_CONFIG when no file is set. */
static int print_metrics(const struct config *cfg) {
    static char text[METRICS_TEXT_MAX];
    char err[512];
    struct metrics_record *r;
    uint64_t values[METRIC_N];
    if (!cfg->metrics_file[0]) {
        fprintf(stderr, PROG ": --metrics: TOKENAUTH_METRICS_FILE is empty: nothing is counted\n");
        return EXIT_CONFIG;
    }
    if (metrics_file_open(cfg->metrics_file, 0, &r, err, sizeof err) != METRICS_OK) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    for (int m = 0; m < METRIC_N; m++)
        values[m] = atomic_load_explicit(&r->v[m], memory_order_relaxed);
    metrics_file_close(r);
    long n = metrics_format(values, METRIC_LOGIN_FIRST, METRIC_N, text, sizeof text);
    return n >= 0 && fwrite(text, 1, (size_t)n, stdout) == (size_t)n && fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    int check_only = argc == 2 && strcmp(argv[1], "--check") == 0;
    int metrics_only = argc == 2 && strcmp(argv[1], "--metrics") == 0;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        print_help(stdout);
        return 0;
    }
    if (argc > 1 && !check_only && !metrics_only) {
        print_help(stderr);
        return EXIT_CONFIG;
    }
    static struct config cfg;
    static char report[16384];
    int rc = config_load(&cfg, environ, report, sizeof report);
    config_report_write(stderr, PROG, report);
    if (metrics_only && rc == CONFIG_OK)
        return print_metrics(&cfg);
    struct routes *s = NULL;
    char err[512];
    if (rc == CONFIG_OK && routes_create(&cfg, &s, err, sizeof err) != ROUTES_OK) {
        config_report_write(stderr, PROG, err);
        rc = CONFIG_ERR_INVALID;
    }
    if (rc != CONFIG_OK) {
        config_report_write(stderr, PROG, CONFIG_NOT_STARTED);
        return EXIT_CONFIG;
    }
    if (check_only) {
        routes_destroy(s);
        config_report_write(stderr, PROG, CONFIG_CHECK_OK);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a death */
    if (!FCGX_IsCGI() && cfg.fcgi_exit_with_parent && exit_with_parent() != 0) {
        routes_destroy(s);
        return 0;
    }
    static struct response r;
    static char out[RESPONSE_OUT_MAX];
    if (!FCGX_IsCGI() && cfg.fcgi_children > 1) {
        routes_destroy(s); /* each child opens its own: a SQLite connection never crosses fork */
        return supervise(&cfg, &r, out);
    }
    rc = FCGX_IsCGI() ? serve_cgi(s, &r, out) : serve_fastcgi(s, cfg.body_timeout_ms, &r, out);
    routes_destroy(s);
    return rc;
}
