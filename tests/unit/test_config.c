/* test_config.c -- shared/config.c: defaults, each type of setting, ranges, the one-run report of
 * every bad value with its exact message, unknown TOKENAUTH_* warnings, config_set() and
 * config_describe(), and config_report_write(), the one way both programs print them. */
#include "test.h"

#include "config.h"

#include <stddef.h>
#include <stdlib.h>

/* A numeric setting: its variable, where it lives, whether it is a long, its accepted range. */
struct number {
    const char *name;
    size_t offset;
    int is_long;
    long min, max;
};

#define INT_FIELD(f) offsetof(struct config, f), 0
#define LONG_FIELD(f) offsetof(struct config, f), 1

static const struct number numbers[] = {
    {"TOKENAUTH_DB_BUSY_TIMEOUT_MS", INT_FIELD(db_busy_timeout_ms), 0, 600000},
    {"TOKENAUTH_PASSWORD_ITERATIONS", LONG_FIELD(password_iterations), 1, 100000000},
    {"TOKENAUTH_TOKEN_TTL", LONG_FIELD(token_ttl_s), 0, 3153600000L},
    {"TOKENAUTH_THROTTLE_USER_FAILURES", INT_FIELD(throttle_user_failures), 0, 1000000},
    {"TOKENAUTH_THROTTLE_USER_CEILING", INT_FIELD(throttle_user_ceiling), 0, 1000000},
    {"TOKENAUTH_THROTTLE_ADDR_FAILURES", INT_FIELD(throttle_addr_failures), 0, 1000000},
    {"TOKENAUTH_THROTTLE_WINDOW", LONG_FIELD(throttle_window_s), 1, 31536000},
    {"TOKENAUTH_MAX_BODY", LONG_FIELD(max_body_bytes), 64, 16777216},
    {"TOKENAUTH_BODY_TIMEOUT_MS", INT_FIELD(body_timeout_ms), 100, 600000},
    {"TOKENAUTH_FCGI_CHILDREN", INT_FIELD(fcgi_children), 1, 256},
    {"TOKENAUTH_LOGIN_CACHE", INT_FIELD(login_cache_users), 0, 1000000},
    {"TOKENAUTH_WS_PORT", INT_FIELD(ws_port), 1, 65535},
    {"TOKENAUTH_WS_WORKERS", INT_FIELD(ws_workers), 0, 1024},
    {"TOKENAUTH_WS_MAX_MESSAGE", LONG_FIELD(ws_max_message_bytes), 128, 67108864},
    {"TOKENAUTH_WS_MAX_CONNECTIONS", INT_FIELD(ws_max_connections), 0, 10000000},
    {"TOKENAUTH_WS_REVOCATION_CHECK_MS", LONG_FIELD(ws_revocation_check_ms), 10, 60000},
    {"TOKENAUTH_WS_PING_INTERVAL", INT_FIELD(ws_ping_interval_s), 0, 86400},
    {"TOKENAUTH_WS_PING_TIMEOUT", INT_FIELD(ws_ping_timeout_s), 1, 86400},
    {"TOKENAUTH_WS_HANDSHAKE_TIMEOUT", INT_FIELD(ws_handshake_timeout_s), 1, 3600},
    {"TOKENAUTH_WS_MAX_SUBSCRIPTIONS", INT_FIELD(ws_max_subscriptions), 0, 100000},
    {"TOKENAUTH_WS_MAX_QUEUED", LONG_FIELD(ws_max_queued_bytes), 1024, 1073741824},
    {"TOKENAUTH_REDIS_TIMEOUT_MS", INT_FIELD(redis_timeout_ms), 1, 600000},
    {"TOKENAUTH_PUBLISH_MAX_CHANNELS", INT_FIELD(publish_max_channels), 1, 100000},
    {"TOKENAUTH_WS_ADDR_HANDSHAKES", INT_FIELD(ws_addr_handshakes), 0, 1000000},
    {"TOKENAUTH_WS_AUTH_FAILURES", INT_FIELD(ws_auth_failures), 0, 1000000},
    {"TOKENAUTH_WS_AUTH_WINDOW", INT_FIELD(ws_auth_window_s), 1, 86400},
    {"TOKENAUTH_WS_ADDR_TABLE", INT_FIELD(ws_addr_table), 64, 1048576},
    {"TOKENAUTH_WS_MAX_HEADERS", INT_FIELD(ws_max_header_bytes), 1024, 65535},
};

#define N_NUMBERS (sizeof numbers / sizeof numbers[0])

static long number_value(const struct config *cfg, const struct number *n) {
    const char *field = (const char *)cfg + n->offset;
    if (n->is_long) {
        long v;
        memcpy(&v, field, sizeof v);
        return v;
    }
    int v;
    memcpy(&v, field, sizeof v);
    return v;
}

/* The message config gives for a bad number. */
static const char *number_message(const struct number *n, const char *value) {
    static char msg[256];
    snprintf(msg, sizeof msg, "%s: \"%s\" is not a whole number from %ld to %ld", n->name, value,
             n->min, n->max);
    return msg;
}

static void test_defaults(void) {
    struct config cfg;

    TEST("config: config_defaults sets every documented default");
    memset(&cfg, 0x5a, sizeof cfg);
    config_defaults(&cfg);
    CHECK_STR(cfg.db_path, "tokenauth.sqlite3");
    CHECK_INT(cfg.db_busy_timeout_ms, 5000);
    CHECK_INT(cfg.password_iterations, 1000000);
    CHECK_INT(cfg.token_ttl_s, 0);
    CHECK_STR(cfg.cors_origins, "");
    CHECK_INT(cfg.throttle_user_failures, 5);
    CHECK_INT(cfg.throttle_addr_failures, 50);
    CHECK_INT(cfg.throttle_window_s, 900);
    CHECK_INT(cfg.max_body_bytes, 16384);
    CHECK_INT(cfg.login_cache_users, 1024);
    CHECK_STR(cfg.allowed_hosts, "localhost,127.0.0.1,[::1]");
    CHECK_STR(cfg.ws_bind, "127.0.0.1");
    CHECK_INT(cfg.ws_port, 8001);
    CHECK_INT(cfg.ws_workers, 0);
    CHECK_INT(cfg.ws_max_message_bytes, 65536);
    CHECK_INT(cfg.ws_max_connections, 0);
    CHECK_INT(cfg.ws_revocation_check_ms, 500);
    CHECK_INT(cfg.ws_ping_interval_s, 30);
    CHECK_INT(cfg.ws_ping_timeout_s, 10);
    CHECK_INT(cfg.ws_handshake_timeout_s, 5);
    CHECK_INT(cfg.ws_refuse_handshake, 0);
    CHECK_STR(cfg.redis_url, "");
    CHECK_STR(cfg.channel_prefix, "asgi");
    CHECK_STR(cfg.channel_secret, "");
    CHECK_STR(cfg.ws_public_channels, "");
    CHECK_STR(cfg.ws_publish_channels, "");
    CHECK_INT(cfg.ws_max_subscriptions, 100);
    CHECK_INT(cfg.ws_max_queued_bytes, 1048576);
    CHECK_STR(cfg.publish_key, "");
    CHECK_INT(cfg.ws_addr_handshakes, 256);
    CHECK_INT(cfg.ws_auth_failures, 20);
    CHECK_INT(cfg.ws_auth_window_s, 60);
    CHECK_INT(cfg.ws_trust_forwarded, 1);
    CHECK_INT(cfg.ws_addr_table, 4096);
    CHECK_INT(cfg.ws_max_header_bytes, 16384);

    TEST("config: config_load with no environment: defaults, an empty report, CONFIG_OK");
    char report[512] = "junk";
    char *empty[] = {NULL};
    struct config loaded;
    CHECK_INT(config_load(&loaded, empty, report, sizeof report), CONFIG_OK);
    CHECK_STR(report, "");
    CHECK(memcmp(&loaded, &cfg, sizeof cfg) == 0);

    TEST("config: config_load with a NULL envp behaves as an empty one");
    strcpy(report, "junk");
    CHECK_INT(config_load(&loaded, NULL, report, sizeof report), CONFIG_OK);
    CHECK_STR(report, "");
    CHECK_INT(loaded.ws_port, 8001);

    TEST("config: variables of other programs, and entries without '=', are ignored silently");
    char *other[] = {"PATH=/usr/bin", "HOME=/root", "TOKENAUTH_WS_PORT", "XTOKENAUTH_DB=x", NULL};
    CHECK_INT(config_load(&loaded, other, report, sizeof report), CONFIG_OK);
    CHECK_STR(report, "");
    CHECK(memcmp(&loaded, &cfg, sizeof cfg) == 0);
}

static void test_types(void) {
    struct config cfg;
    char report[1024];

    TEST("config: every type is read: text, int, long and boolean");
    char *env[] = {"TOKENAUTH_DB=/var/lib/tokenauth/db.sqlite3",
                   "TOKENAUTH_CORS_ORIGINS=http://localhost:8000,null",
                   "TOKENAUTH_WS_PORT=9001",
                   "TOKENAUTH_TOKEN_TTL=86400",
                   "TOKENAUTH_WS_REFUSE_HANDSHAKE=yes",
                   "TOKENAUTH_ALLOWED_HOSTS=*",
                   "TOKENAUTH_WS_BIND=::",
                   NULL};
    CHECK_INT(config_load(&cfg, env, report, sizeof report), CONFIG_OK);
    CHECK_STR(report, "");
    CHECK_STR(cfg.db_path, "/var/lib/tokenauth/db.sqlite3");
    CHECK_STR(cfg.cors_origins, "http://localhost:8000,null");
    CHECK_INT(cfg.ws_port, 9001);
    CHECK_INT(cfg.token_ttl_s, 86400);
    CHECK_INT(cfg.ws_refuse_handshake, 1);
    CHECK_STR(cfg.allowed_hosts, "*");
    CHECK_STR(cfg.ws_bind, "::");
    CHECK_INT(cfg.password_iterations, 1000000); /* untouched settings keep their default */

    TEST("config: booleans: 1/0, true/false, yes/no, on/off in any case");
    static const char *const yes[] = {"1", "true", "TRUE", "yes", "Yes", "on", "ON"};
    static const char *const no[] = {"0", "false", "False", "no", "NO", "off", "Off"};
    char err[256];
    config_defaults(&cfg);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        cfg.ws_refuse_handshake = 0;
        CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_REFUSE_HANDSHAKE", yes[i], err, sizeof err),
                  CONFIG_OK);
        CHECK_INT(cfg.ws_refuse_handshake, 1);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        cfg.ws_refuse_handshake = 1;
        CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_REFUSE_HANDSHAKE", no[i], err, sizeof err),
                  CONFIG_OK);
        CHECK_INT(cfg.ws_refuse_handshake, 0);
    }

    TEST("config: a bad boolean names the variable, the value and the spellings accepted");
    static const char *const bad_bools[] = {"maybe", "", "2", "y", " on", "true "};
    for (size_t i = 0; i < sizeof bad_bools / sizeof bad_bools[0]; i++) {
        char expected[256];
        snprintf(expected, sizeof expected,
                 "TOKENAUTH_WS_REFUSE_HANDSHAKE: \"%s\" is not a boolean, expected 1/0, "
                 "true/false, yes/no or on/off",
                 bad_bools[i]);
        CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_REFUSE_HANDSHAKE", bad_bools[i], err, sizeof err),
                  CONFIG_ERR_INVALID);
        CHECK_STR(err, expected);
    }

    TEST("config: an empty text is allowed (an empty CORS list means no CORS)");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_CORS_ORIGINS", "", err, sizeof err), CONFIG_OK);
    CHECK_STR(cfg.cors_origins, "");

    TEST("config: text that just fits its field is kept whole");
    char text[CONFIG_TEXT_MAX + 1];
    memset(text, 'h', sizeof text);
    text[255] = '\0';
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_BIND", text, err, sizeof err), CONFIG_OK);
    CHECK_INT(strlen(cfg.ws_bind), 255);
    text[255] = 'h';
    text[CONFIG_TEXT_MAX - 1] = '\0';
    CHECK_INT(config_set(&cfg, "TOKENAUTH_DB", text, err, sizeof err), CONFIG_OK);
    CHECK_INT(strlen(cfg.db_path), CONFIG_TEXT_MAX - 1);

    TEST("config: text one byte too long is refused with its length and the limit");
    text[CONFIG_TEXT_MAX - 1] = 'h';
    text[CONFIG_TEXT_MAX] = '\0';
    CHECK_INT(config_set(&cfg, "TOKENAUTH_DB", text, err, sizeof err), CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_DB: value is 4096 bytes long, expected at most 4095");
    text[256] = '\0';
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_BIND", text, err, sizeof err), CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_WS_BIND: value is 256 bytes long, expected at most 255");
}

static void test_ranges(void) {
    struct config cfg;
    char err[256], value[32];

    config_defaults(&cfg);
    for (size_t i = 0; i < N_NUMBERS; i++) {
        const struct number *n = &numbers[i];

        TEST("config: each number accepts its minimum and its maximum");
        snprintf(value, sizeof value, "%ld", n->min);
        CHECK_INT(config_set(&cfg, n->name, value, err, sizeof err), CONFIG_OK);
        CHECK_INT(number_value(&cfg, n), n->min);
        snprintf(value, sizeof value, "%ld", n->max);
        CHECK_INT(config_set(&cfg, n->name, value, err, sizeof err), CONFIG_OK);
        CHECK_INT(number_value(&cfg, n), n->max);

        TEST("config: one below the minimum and one above the maximum are refused, exactly worded");
        snprintf(value, sizeof value, "%ld", n->min - 1);
        CHECK_INT(config_set(&cfg, n->name, value, err, sizeof err), CONFIG_ERR_INVALID);
        CHECK_STR(err, number_message(n, value));
        snprintf(value, sizeof value, "%ld", n->max + 1);
        CHECK_INT(config_set(&cfg, n->name, value, err, sizeof err), CONFIG_ERR_INVALID);
        CHECK_STR(err, number_message(n, value));
        CHECK_INT(number_value(&cfg, n), n->max); /* unchanged by the failures */
    }

    TEST("config: not numbers: empty, letters, trailing junk, decimals, hex, spaces, overflow");
    static const char *const bad[] = {"",
                                      "abc",
                                      "80x",
                                      "8.5",
                                      "0x50",
                                      " 80",
                                      "80 ",
                                      "\t80",
                                      "1e3",
                                      "--80",
                                      "99999999999999999999999"};
    const struct number *port = &numbers[11];
    CHECK_STR(port->name, "TOKENAUTH_WS_PORT");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_PORT", bad[i], err, sizeof err),
                  CONFIG_ERR_INVALID);
        CHECK_STR(err, number_message(port, bad[i]));
    }

    TEST("config: a leading + is a whole number as strtol reads it");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_PORT", "+8080", err, sizeof err), CONFIG_OK);
    CHECK_INT(cfg.ws_port, 8080);

    TEST("config: a long setting takes values beyond 32 bits");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_TOKEN_TTL", "3000000000", err, sizeof err), CONFIG_OK);
    CHECK_INT(cfg.token_ttl_s, 3000000000L);
}

static void test_report(void) {
    struct config cfg;
    char report[2048];

    TEST("config: every bad value is reported in one run, one line each, in environment order");
    char *env[] = {"TOKENAUTH_WS_PORT=0",
                   "TOKENAUTH_DB=/tmp/x.sqlite3",
                   "TOKENAUTH_PASSWORD_ITERATIONS=lots",
                   "TOKENAUTH_WS_REFUSE_HANDSHAKE=maybe",
                   "TOKENAUTH_THROTTLE_WINDOW=-1",
                   NULL};
    CHECK_INT(config_load(&cfg, env, report, sizeof report), CONFIG_ERR_INVALID);
    CHECK_STR(report, "TOKENAUTH_WS_PORT: \"0\" is not a whole number from 1 to 65535\n"
                      "TOKENAUTH_PASSWORD_ITERATIONS: \"lots\" is not a whole number from 1 to "
                      "100000000\n"
                      "TOKENAUTH_WS_REFUSE_HANDSHAKE: \"maybe\" is not a boolean, expected 1/0, "
                      "true/false, yes/no or on/off\n"
                      "TOKENAUTH_THROTTLE_WINDOW: \"-1\" is not a whole number from 1 to "
                      "31536000\n");

    TEST("config: bad settings keep their defaults; good ones in the same run are applied");
    CHECK_INT(cfg.ws_port, 8001);
    CHECK_INT(cfg.password_iterations, 1000000);
    CHECK_INT(cfg.ws_refuse_handshake, 0);
    CHECK_INT(cfg.throttle_window_s, 900);
    CHECK_STR(cfg.db_path, "/tmp/x.sqlite3");

    TEST("config: an unknown TOKENAUTH_* name is a warning, and alone does not fail the load");
    char *typo[] = {"TOKENAUTH_PORT=8001", "TOKENAUTH_TOKEN_TTL=60", "TOKENAUTH_=1", NULL};
    CHECK_INT(config_load(&cfg, typo, report, sizeof report), CONFIG_OK);
    CHECK_STR(report, "warning: TOKENAUTH_PORT is not a tokenauth setting (ignored)\n"
                      "warning: TOKENAUTH_ is not a tokenauth setting (ignored)\n");
    CHECK_INT(cfg.token_ttl_s, 60);

    TEST("config: names are case-sensitive, as environment variables are");
    char *lower[] = {"TOKENAUTH_ws_port=1", NULL};
    CHECK_INT(config_load(&cfg, lower, report, sizeof report), CONFIG_OK);
    CHECK_STR(report, "warning: TOKENAUTH_ws_port is not a tokenauth setting (ignored)\n");
    CHECK_INT(cfg.ws_port, 8001);

    TEST("config: warnings and errors together: CONFIG_ERR_INVALID, both reported");
    char *both[] = {"TOKENAUTH_DBPATH=x", "TOKENAUTH_MAX_BODY=1", NULL};
    CHECK_INT(config_load(&cfg, both, report, sizeof report), CONFIG_ERR_INVALID);
    CHECK_STR(report, "warning: TOKENAUTH_DBPATH is not a tokenauth setting (ignored)\n"
                      "TOKENAUTH_MAX_BODY: \"1\" is not a whole number from 64 to 16777216\n");

    TEST("config: the last of duplicate entries wins");
    char *dup[] = {"TOKENAUTH_WS_PORT=9000", "TOKENAUTH_WS_PORT=9001", NULL};
    CHECK_INT(config_load(&cfg, dup, report, sizeof report), CONFIG_OK);
    CHECK_INT(cfg.ws_port, 9001);

    TEST("config: a report buffer too small is cut and stays terminated");
    char small[24];
    memset(small, 'x', sizeof small);
    CHECK_INT(config_load(&cfg, env, small, sizeof small), CONFIG_ERR_INVALID);
    CHECK_STR(small, "TOKENAUTH_WS_PORT: \"0\" ");

    TEST("config: a zero-length report buffer is neither read nor written; the result is still "
         "right");
    memset(small, 'x', sizeof small); /* unterminated: reading it would overrun */
    CHECK_INT(config_load(&cfg, env, small, 0), CONFIG_ERR_INVALID);
    CHECK_INT(small[0], 'x');
    CHECK_INT(small[sizeof small - 1], 'x');

    TEST("config: the value of a bad text is reported by length, not echoed");
    static char long_env[300];
    snprintf(long_env, sizeof long_env, "TOKENAUTH_WS_BIND=%0270d", 0);
    char *long_text[] = {long_env, NULL};
    CHECK_INT(config_load(&cfg, long_text, report, sizeof report), CONFIG_ERR_INVALID);
    CHECK_STR(report, "TOKENAUTH_WS_BIND: value is 270 bytes long, expected at most 255\n");
    CHECK_STR(cfg.ws_bind, "127.0.0.1");
}

static void test_set(void) {
    struct config cfg, before;
    char err[256];

    config_defaults(&cfg);

    TEST("config: config_set sets one setting and nothing else");
    before = cfg;
    strcpy(err, "junk");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_WORKERS", "4", err, sizeof err), CONFIG_OK);
    CHECK_INT(cfg.ws_workers, 4);
    before.ws_workers = 4;
    CHECK(memcmp(&cfg, &before, sizeof cfg) == 0);

    TEST("config: config_set with a bad value leaves cfg unchanged, byte for byte");
    before = cfg;
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_WORKERS", "-1", err, sizeof err), CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_WS_WORKERS: \"-1\" is not a whole number from 0 to 1024");
    CHECK(memcmp(&cfg, &before, sizeof cfg) == 0);
    char huge[CONFIG_TEXT_MAX + 10];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    CHECK_INT(config_set(&cfg, "TOKENAUTH_ALLOWED_HOSTS", huge, err, sizeof err),
              CONFIG_ERR_INVALID);
    CHECK(memcmp(&cfg, &before, sizeof cfg) == 0);

    TEST("config: config_set of an unknown name: CONFIG_ERR_UNKNOWN, named in err, cfg unchanged");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_NOPE", "1", err, sizeof err), CONFIG_ERR_UNKNOWN);
    CHECK_STR(err, "TOKENAUTH_NOPE: no such setting");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_POR", "1", err, sizeof err), CONFIG_ERR_UNKNOWN);
    CHECK_STR(err, "TOKENAUTH_WS_POR: no such setting");
    CHECK_INT(config_set(&cfg, "", "1", err, sizeof err), CONFIG_ERR_UNKNOWN);
    CHECK_STR(err, ": no such setting");
    CHECK(memcmp(&cfg, &before, sizeof cfg) == 0);

    TEST("config: config_set cuts its message at a small err buffer and terminates it");
    char tiny[10];
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_PORT", "x", tiny, sizeof tiny), CONFIG_ERR_INVALID);
    CHECK_STR(tiny, "TOKENAUTH");
}

/* The metrics settings: a port from 0 (off) to 65535, a path. */
static void test_metrics_settings(void) {
    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    TEST("config-metrics: TOKENAUTH_WS_METRICS_PORT defaults to 0 (off), the file to empty");
    CHECK_INT(cfg.ws_metrics_port, 0);
    CHECK_STR(cfg.metrics_file, "");
    TEST("config-metrics: a port past 65535 is refused, naming the range");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_METRICS_PORT", "65536", err, sizeof err),
              CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_WS_METRICS_PORT: \"65536\" is not a whole number from 0 to 65535");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_METRICS_PORT", "9464", err, sizeof err), CONFIG_OK);
    CHECK_INT(cfg.ws_metrics_port, 9464);
}

static void test_describe(void) {
    char out[8192];

    TEST("config: describe writes one line per setting: name, default in quotes, description");
    config_describe(out, sizeof out);
    int n_lines = 0;
    for (const char *p = out; *p; p++)
        n_lines += *p == '\n';
    CHECK_INT(n_lines, 53);
    CHECK(strncmp(out,
                  "  TOKENAUTH_DB                       default \"tokenauth.sqlite3\": path of the "
                  "SQLite database file (Django's db.sqlite3 works)\n",
                  strlen("  TOKENAUTH_DB                       default \"tokenauth.sqlite3\": "
                         "path of the SQLite database file (Django's db.sqlite3 works)\n")) == 0);
    const char *last = "  TOKENAUTH_METRICS_FILE             default \"\": shared counter file "
                       "login-fcgi adds to and ws-worker's /metrics shows (login-fcgi --metrics "
                       "prints it); empty = login-fcgi counts nothing\n";
    size_t out_len = strlen(out), last_len = strlen(last);
    CHECK(out_len >= last_len && strcmp(out + out_len - last_len, last) == 0);

    TEST("config: describe names every setting config_set knows");
    for (size_t i = 0; i < N_NUMBERS; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "  %s ", numbers[i].name);
        TEST_RECORD(strstr(out, needle) != NULL, "%s missing from describe", numbers[i].name);
    }
    static const char *const others[] = {"TOKENAUTH_CORS_ORIGINS", "TOKENAUTH_ALLOWED_HOSTS",
                                         "TOKENAUTH_WS_BIND"};
    for (size_t i = 0; i < 3; i++)
        TEST_RECORD(strstr(out, others[i]) != NULL, "%s missing from describe", others[i]);
    CHECK(strstr(out, "default \"localhost,127.0.0.1,[::1]\"") != NULL);

    TEST(
        "config: describe cuts at a small buffer and terminates; a zero-length one is not written");
    char small[16];
    config_describe(small, sizeof small);
    CHECK_STR(small, "  TOKENAUTH_DB ");
    memset(small, 'x', sizeof small); /* unterminated: reading it would overrun */
    config_describe(small, 0);
    CHECK_INT(small[0], 'x');
}

static void test_report_write(void) {
    char *text = NULL;
    size_t text_len = 0;
    FILE *out = open_memstream(&text, &text_len);

    TEST("config: report_write gives each line of the report the program's name, the last one a "
         "newline");
    CHECK(out != NULL);
    if (!out)
        return;
    CHECK_INT(config_report_write(out, "prog", "warning: a\nb: c\nlast"), CONFIG_OK);
    CHECK_STR(text, "prog: warning: a\nprog: b: c\nprog: last\n");

    TEST("config: report_write of an empty report writes nothing; the check line is one line");
    CHECK_INT(config_report_write(out, "prog", ""), CONFIG_OK);
    CHECK_INT(config_report_write(out, "ws-worker", CONFIG_CHECK_OK), CONFIG_OK);
    CHECK_STR(text, "prog: warning: a\nprog: b: c\nprog: last\nws-worker: settings are valid\n");
    fclose(out);
    free(text);

    TEST("config: report_write to a stream that cannot be written: CONFIG_ERR_WRITE");
    FILE *full = fopen("/dev/full", "w");
    if (!full) {
        SKIP("no /dev/full");
        return;
    }
    CHECK_INT(config_report_write(full, "prog", "a line"), CONFIG_ERR_WRITE);
    fclose(full);
}

#define KEY32 "0123456789abcdef0123456789abcdef"

/* config_set's result for one value, err in *err (static). */
static int set_one(struct config *cfg, const char *name, const char *value, const char **err) {
    static char buf[1024];
    buf[0] = '\0';
    *err = buf;
    return config_set(cfg, name, value, buf, sizeof buf);
}

static void test_channel_lists(void) {
    struct config cfg;
    const char *err;
    config_defaults(&cfg);

    TEST("config: channel pattern lists are kept as written when they parse");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_WS_PUBLIC_CHANNELS", " lobby, news.* ", &err), CONFIG_OK);
    CHECK_STR(cfg.ws_public_channels, " lobby, news.* ");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_WS_PUBLISH_CHANNELS", "*", &err), CONFIG_OK);
    CHECK_STR(cfg.ws_publish_channels, "*");
    TEST("config: a bad channel pattern is refused naming the setting, the item and the rule");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_WS_PUBLIC_CHANNELS", "lobby, news/*", &err),
              CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_WS_PUBLIC_CHANNELS: \"news/*\" is not a channel name or pattern: "
                   "expected names of 1 to 99 letters, digits, '-', '_' or '.', \"prefix.*\" or "
                   "\"*\", comma-separated");
    CHECK_STR(cfg.ws_public_channels, " lobby, news.* ");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_WS_PUBLISH_CHANNELS", "chat.**", &err), CONFIG_ERR_INVALID);
    CHECK(strncmp(err, "TOKENAUTH_WS_PUBLISH_CHANNELS: \"chat.**\" is not", 47) == 0);
    TEST("config: the channel prefix is printable ASCII without blanks");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_CHANNEL_PREFIX", "myapp:asgi", &err), CONFIG_OK);
    CHECK_STR(cfg.channel_prefix, "myapp:asgi");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_CHANNEL_PREFIX", "my app", &err), CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_CHANNEL_PREFIX: \"my app\" is not a prefix, expected printable "
                   "ASCII characters without blanks");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_CHANNEL_PREFIX", "", &err), CONFIG_ERR_INVALID);
    CHECK_STR(cfg.channel_prefix, "myapp:asgi");
}

static void test_secrets(void) {
    struct config cfg;
    const char *err;
    config_defaults(&cfg);

    TEST("config: secrets of 32 characters or more are kept");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_CHANNEL_SECRET", KEY32, &err), CONFIG_OK);
    CHECK_STR(cfg.channel_secret, KEY32);
    CHECK_INT(set_one(&cfg, "TOKENAUTH_PUBLISH_KEY", KEY32 "x", &err), CONFIG_OK);
    CHECK_STR(cfg.publish_key, KEY32 "x");
    TEST("config: an empty secret turns its feature off and is accepted");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_PUBLISH_KEY", "", &err), CONFIG_OK);
    CHECK_STR(cfg.publish_key, "");
    TEST("config: a short secret is refused without showing it");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_PUBLISH_KEY", "hunter2-is-too-short", &err),
              CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_PUBLISH_KEY: the value (not shown) is 20 characters long, expected "
                   "at least 32 or empty");
    CHECK_INT(set_one(&cfg, "TOKENAUTH_CHANNEL_SECRET", "s3cr3t", &err), CONFIG_ERR_INVALID);
    CHECK(strstr(err, "s3cr3t") == NULL);
    CHECK_STR(cfg.channel_secret, KEY32);
    TEST("config: a secret too long for its field is refused by length only");
    char long_key[300];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    CHECK_INT(set_one(&cfg, "TOKENAUTH_CHANNEL_SECRET", long_key, &err), CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_CHANNEL_SECRET: value is 299 bytes long, expected at most 255");
    TEST("config: secrets and the Redis address are marked secret, the rest is not");
    CHECK_INT(config_is_secret("TOKENAUTH_CHANNEL_SECRET"), 1);
    CHECK_INT(config_is_secret("TOKENAUTH_PUBLISH_KEY"), 1);
    CHECK_INT(config_is_secret("TOKENAUTH_REDIS_URL"), 1);
    CHECK_INT(config_is_secret("TOKENAUTH_CHANNEL_PREFIX"), 0);
    CHECK_INT(config_is_secret("TOKENAUTH_DB"), 0);
    CHECK_INT(config_is_secret("TOKENAUTH_NOPE"), 0);
    TEST("config: a report of bad secrets in the environment never quotes them");
    char *env[] = {"TOKENAUTH_CHANNEL_SECRET=shortsecret1", "TOKENAUTH_PUBLISH_KEY=shortkey2",
                   "TOKENAUTH_REDIS_URL=redis://:pa55word@", NULL};
    char report[2048];
    CHECK_INT(config_load(&cfg, env, report, sizeof report), CONFIG_ERR_INVALID);
    CHECK(strstr(report, "shortsecret1") == NULL && strstr(report, "shortkey2") == NULL &&
          strstr(report, "pa55word") == NULL);
    CHECK(strstr(report, "TOKENAUTH_CHANNEL_SECRET: ") &&
          strstr(report, "TOKENAUTH_PUBLISH_KEY: ") && strstr(report, "TOKENAUTH_REDIS_URL: "));
}

static void test_redis_url(void) {
    static const char *const good[] = {
        "",
        "redis://localhost",
        "redis://127.0.0.1:6379",
        "redis://127.0.0.1:6379/0",
        "redis://:p@ss:w/rd@redis.example:6380/15",
        "redis://:pw@[::1]:6379/2",
        "redis://default:pw@[::1]:6379/2",
        "unix:///run/redis/redis.sock?db=2",
        "redis://[::1]",
        "unix:///run/redis/redis.sock",
    };
    static const char *const bad[] = {
        "localhost:6379",    "http://localhost",   "redis://",          "redis://:6379",
        "redis://host:0",    "redis://host:65536", "redis://host:port", "redis://host/x",
        "redis://user@host", "redis://:@host",     "redis://ho st",     "redis://[::1",
        "unix://",           "unix:///",           "rediss://host",
    };
    static const char head[] =
        "TOKENAUTH_REDIS_URL: the value (not shown: it may hold a password) is not a Redis "
        "address: ";
    static const char tail[] =
        "; expected redis://[[user]:password@]host[:port][/db], unix:///path[?db=N] or empty";
    struct config cfg;
    const char *err;
    config_defaults(&cfg);

    TEST("config: Redis addresses redis://[[user]:password@]host[:port][/db] and "
         "unix:///path[?db=N]");
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int rc = set_one(&cfg, "TOKENAUTH_REDIS_URL", good[i], &err);
        TEST_RECORD(rc == CONFIG_OK && strcmp(cfg.redis_url, good[i]) == 0, "%s refused: %s",
                    good[i], err);
    }
    TEST("config: a malformed Redis address is refused without showing it");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = set_one(&cfg, "TOKENAUTH_REDIS_URL", bad[i], &err);
        TEST_RECORD(rc == CONFIG_ERR_INVALID, "%s accepted", bad[i]);
        TEST_RECORD(strncmp(err, head, strlen(head)) == 0 && strlen(err) > strlen(tail) &&
                        strcmp(err + strlen(err) - strlen(tail), tail) == 0,
                    "%s: got \"%s\"", bad[i], err);
    }
    TEST("config: a malformed Redis address's message says what is wrong (bus.h's parser)");
    set_one(&cfg, "TOKENAUTH_REDIS_URL", "redis://:secret@host:0", &err);
    CHECK_STR(err, "TOKENAUTH_REDIS_URL: the value (not shown: it may hold a password) is not a "
                   "Redis address: port: not a whole number from 1 to 65535; expected "
                   "redis://[[user]:password@]host[:port][/db], unix:///path[?db=N] or empty");
    CHECK_STR(cfg.redis_url, "unix:///run/redis/redis.sock");
}

/* The core layer's settings: the layer's two words, a forward channel name, a host list. */
static void test_core_layer(void) {
    struct config cfg;
    char err[1024];
    config_defaults(&cfg);
    /* defaults mirror channels_redis' */
    TEST("config: core layer defaults: pubsub, 100, 60, 86400, no forwarding");
    CHECK_STR(cfg.channel_layer, "pubsub");
    CHECK_INT(cfg.channel_capacity, 100);
    CHECK_INT(cfg.channel_expiry_s, 60);
    CHECK_INT(cfg.channel_group_expiry_s, 86400);
    CHECK_STR(cfg.ws_forward_channel, "");
    CHECK_INT(cfg.ws_forward_events, 0);
    /* the layer */
    TEST("config: TOKENAUTH_CHANNEL_LAYER accepts core, refuses other words");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_CHANNEL_LAYER", "core", err, sizeof err), CONFIG_OK);
    CHECK_STR(cfg.channel_layer, "core");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_CHANNEL_LAYER", "redis", err, sizeof err),
              CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_CHANNEL_LAYER: \"redis\" is not a layer, expected pubsub or core");
    /* the forward channel */
    TEST("config: TOKENAUTH_WS_FORWARD_CHANNEL is empty or a channel name");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_FORWARD_CHANNEL", "tokenauth.inbox", err, sizeof err),
              CONFIG_OK);
    CHECK_INT(config_set(&cfg, "TOKENAUTH_WS_FORWARD_CHANNEL", "a!b", err, sizeof err),
              CONFIG_ERR_INVALID);
    CHECK_STR(err, "TOKENAUTH_WS_FORWARD_CHANNEL: \"a!b\" is not a channel name, expected 1 to 99 "
                   "letters, digits, '-', '_' or '.', or empty");
    /* host lists */
    TEST("config: TOKENAUTH_REDIS_URL takes a comma-separated list, each item checked");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_REDIS_URL", "redis://a:1,redis://b:2/3", err, sizeof err),
              CONFIG_OK);
    CHECK_INT(
        config_set(&cfg, "TOKENAUTH_REDIS_URL", "redis://a:1,redis://:pw@b:0", err, sizeof err),
        CONFIG_ERR_INVALID);
    CHECK(strstr(err, "host 2: port") != NULL && strstr(err, "pw") == NULL);
    /* group_expiry's floor: the refresh runs every quarter of it */
    TEST("config: TOKENAUTH_CHANNEL_GROUP_EXPIRY is at least 4");
    CHECK_INT(config_set(&cfg, "TOKENAUTH_CHANNEL_GROUP_EXPIRY", "3", err, sizeof err),
              CONFIG_ERR_INVALID);
}

void test_config(void) {
    test_core_layer();
    test_defaults();
    test_types();
    test_ranges();
    test_report();
    test_set();
    test_describe();
    test_metrics_settings();
    test_report_write();
    test_channel_lists();
    test_secrets();
    test_redis_url();
}
