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
 * This file is the loop and nothing else; what a request means is routes.c. */
#include "config.h"
#include "metrics.h"
#include "response.h"
#include "routes.h"

#include <fcgiapp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

extern char **environ;

#define EXIT_CONFIG 2
#define PROG "login-fcgi"

/* Body readers for routes_handle: the FastCGI stream, or stdin in CGI mode. */
static long read_fcgi(void *ctx, char *buf, size_t len) {
    /* FCGX_GetStr counts in int: ask for at most 64 KiB a call, the caller loops. */
    return FCGX_GetStr(buf, len > 65536 ? 65536 : (int)len, (FCGX_Stream *)ctx);
}

static long read_stdin(void *ctx, char *buf, size_t len) {
    size_t n = fread(buf, 1, len, (FILE *)ctx);
    return n > 0 ? (long)n : (ferror((FILE *)ctx) ? -1 : 0);
}

static int serve_fastcgi(struct routes *s, struct response *r, char *out) {
    FCGX_Request req;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
        fprintf(stderr, PROG ": FastCGI: cannot initialise libfcgi\n");
        return 1;
    }
    while (FCGX_Accept_r(&req) >= 0) {
        routes_handle(s, req.envp, read_fcgi, req.in, r);
        size_t n = response_serialize(r, out, RESPONSE_OUT_MAX);
        FCGX_PutStr(out, (int)n, req.out);
        FCGX_Finish_r(&req);
    }
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
    rc = FCGX_IsCGI() ? serve_cgi(s, &r, out) : serve_fastcgi(s, &r, out);
    routes_destroy(s);
    return rc;
}
