/* config.c -- TOKENAUTH_* settings: one table, read once, every problem reported in one run.
 *
 * Each setting is a row of `settings` below: its variable, where it lives in struct config, its
 * type and accepted range, its default and a one-line description (which --help prints). Numbers
 * are whole decimal numbers in range; booleans are 1/0, true/false, yes/no, on/off; text must fit
 * its field. A bad value leaves the default in place and adds a line to the report naming the
 * variable, the value and what is accepted, as nginx and lighttpd do. Unknown TOKENAUTH_* names
 * are warnings, since a typo there would otherwise silently leave a default in force. */
#include "config.h"

#include "password.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum setting_type { SETTING_TEXT, SETTING_INT, SETTING_LONG, SETTING_BOOL };

struct setting {
    const char *name;          /* the environment variable */
    enum setting_type type;    /* how the value is parsed and stored */
    size_t offset;             /* of the field in struct config */
    size_t size;               /* of the field; for text, the terminator included */
    long min, max;             /* accepted range of a number */
    const char *default_value; /* as text, parsed like a value from the environment */
    const char *description;   /* one line for --help */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const struct setting settings[] = {
    {"TOKENAUTH_DB", SETTING_TEXT, FIELD(db_path), 0, 0, "tokenauth.sqlite3",
     "path of the SQLite database file (Django's db.sqlite3 works)"},
    {"TOKENAUTH_DB_BUSY_TIMEOUT_MS", SETTING_INT, FIELD(db_busy_timeout_ms), 0, 600000, "5000",
     "how long a query waits for a lock before giving up (login: 503)"},
    {"TOKENAUTH_PASSWORD_ITERATIONS", SETTING_LONG, FIELD(password_iterations), 1,
     PASSWORD_MAX_ITERATIONS, "1000000",
     "pbkdf2_sha256 iterations of new hashes; older hashes are upgraded at login"},
    {"TOKENAUTH_TOKEN_TTL", SETTING_LONG, FIELD(token_ttl_s), 0, 3153600000L, "0",
     "token lifetime in seconds; 0 = tokens never expire"},
    {"TOKENAUTH_CORS_ORIGINS", SETTING_TEXT, FIELD(cors_origins), 0, 0, "",
     "origins allowed to call the login API from a browser (comma-separated, or *); empty = none"},
    {"TOKENAUTH_THROTTLE_USER_FAILURES", SETTING_INT, FIELD(throttle_user_failures), 0, 1000000,
     "5", "failed logins for one username per window before 429; 0 = off"},
    {"TOKENAUTH_THROTTLE_ADDR_FAILURES", SETTING_INT, FIELD(throttle_addr_failures), 0, 1000000,
     "50", "failed logins from one client address per window before 429; 0 = off"},
    {"TOKENAUTH_THROTTLE_WINDOW", SETTING_LONG, FIELD(throttle_window_s), 1, 31536000, "900",
     "throttling window in seconds"},
    {"TOKENAUTH_MAX_BODY", SETTING_LONG, FIELD(max_body_bytes), 64, 16777216, "16384",
     "largest login request body in bytes (larger: 413)"},
    {"TOKENAUTH_FCGI_EXIT_WITH_PARENT", SETTING_BOOL, FIELD(fcgi_exit_with_parent), 0, 1, "0",
     "1: a FastCGI login-fcgi ends when the web server that spawned it dies (bin-path)"},
    {"TOKENAUTH_ALLOWED_HOSTS", SETTING_TEXT, FIELD(allowed_hosts), 0, 0,
     "localhost,127.0.0.1,[::1]",
     "hosts whose pages may open WebSockets (Origin check): host, .domain, or *"},
    {"TOKENAUTH_WS_BIND", SETTING_TEXT, FIELD(ws_bind), 0, 0, "127.0.0.1",
     "address ws-worker listens on"},
    {"TOKENAUTH_WS_PORT", SETTING_INT, FIELD(ws_port), 1, 65535, "8001",
     "port ws-worker listens on"},
    {"TOKENAUTH_WS_WORKERS", SETTING_INT, FIELD(ws_workers), 0, 1024, "0",
     "ws-worker processes sharing the port; 0 = one per core"},
    {"TOKENAUTH_WS_MAX_MESSAGE", SETTING_LONG, FIELD(ws_max_message_bytes), 128, 67108864, "65536",
     "largest WebSocket message in bytes (larger: close 1009)"},
    {"TOKENAUTH_WS_MAX_CONNECTIONS", SETTING_INT, FIELD(ws_max_connections), 0, 10000000, "0",
     "connections per ws-worker process (more: close 1013); 0 = 1,024, or fewer when the "
     "file descriptor hard limit is lower"},
    {"TOKENAUTH_WS_REVOCATION_CHECK_MS", SETTING_LONG, FIELD(ws_revocation_check_ms), 10, 60000,
     "500", "how often ws-worker looks for revoked or expired tokens of open sockets"},
    {"TOKENAUTH_WS_PING_INTERVAL", SETTING_INT, FIELD(ws_ping_interval_s), 0, 86400, "30",
     "seconds of silence before ws-worker pings a socket; 0 = never"},
    {"TOKENAUTH_WS_PING_TIMEOUT", SETTING_INT, FIELD(ws_ping_timeout_s), 1, 86400, "10",
     "seconds a pinged peer has to answer before it is dropped"},
    {"TOKENAUTH_WS_HANDSHAKE_TIMEOUT", SETTING_INT, FIELD(ws_handshake_timeout_s), 1, 3600, "5",
     "seconds a client has to complete the WebSocket handshake"},
    {"TOKENAUTH_WS_REFUSE_HANDSHAKE", SETTING_BOOL, FIELD(ws_refuse_handshake), 0, 1, "0",
     "1: refuse a bad token with HTTP 401 at the handshake instead of accept + close 4401"},
    {"TOKENAUTH_REDIS_URL", SETTING_TEXT, FIELD(redis_url), 0, 0, "",
     "Redis for channels: redis://[:password@]host[:port][/db] or unix:///path; empty = off"},
    {"TOKENAUTH_CHANNEL_PREFIX", SETTING_TEXT, FIELD(channel_prefix), 0, 0, "asgi",
     "prefix of channel keys, as channels_redis' prefix"},
    {"TOKENAUTH_PUBLISH_KEY", SETTING_TEXT, FIELD(publish_key), 0, 0, "",
     "Bearer key of POST /api/publish/; empty = the endpoint answers 404"},
    {"TOKENAUTH_REDIS_TIMEOUT_MS", SETTING_INT, FIELD(redis_timeout_ms), 1, 600000, "2000",
     "how long a Redis connect or command may take (publish: 503)"},
    {"TOKENAUTH_PUBLISH_MAX_CHANNELS", SETTING_INT, FIELD(publish_max_channels), 1, 100000,
     "1000", "most channels one POST /api/publish/ may name (more: 400)"},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

/* The setting named by the name_len bytes at name, or NULL. */
static const struct setting *find_setting(const char *name, size_t name_len) {
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strlen(settings[i].name) == name_len && strncmp(settings[i].name, name, name_len) == 0)
            return &settings[i];
    return NULL;
}

/* 1/0, true/false, yes/no, on/off in any case into *out: 0, or -1 for anything else. */
static int parse_bool(const char *value, bool *out) {
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(value, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(value, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int apply_text(char *field, const struct setting *s, const char *value, char *err,
                      size_t err_len) {
    size_t value_len = strlen(value);
    if (value_len >= s->size) {
        snprintf(err, err_len, "%s: value is %zu bytes long, expected at most %zu", s->name,
                 value_len, s->size - 1);
        return CONFIG_ERR_INVALID;
    }
    memcpy(field, value, value_len + 1);
    return CONFIG_OK;
}

static int apply_bool(char *field, const struct setting *s, const char *value, char *err,
                      size_t err_len) {
    bool b;
    if (parse_bool(value, &b) != 0) {
        snprintf(err, err_len,
                 "%s: \"%s\" is not a boolean, expected 1/0, true/false, yes/no or on/off", s->name,
                 value);
        return CONFIG_ERR_INVALID;
    }
    memcpy(field, &b, sizeof b);
    return CONFIG_OK;
}

/* An int or long field: whole decimal digits only (strtol alone would take leading blanks). */
static int apply_number(char *field, const struct setting *s, const char *value, char *err,
                        size_t err_len) {
    char *end;
    errno = 0;
    long n = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || isspace((unsigned char)value[0]) ||
        n < s->min || n > s->max) {
        snprintf(err, err_len, "%s: \"%s\" is not a whole number from %ld to %ld", s->name, value,
                 s->min, s->max);
        return CONFIG_ERR_INVALID;
    }
    if (s->type == SETTING_INT) {
        int i = (int)n;
        memcpy(field, &i, sizeof i);
    } else {
        memcpy(field, &n, sizeof n);
    }
    return CONFIG_OK;
}

/* Validates value for s and stores it into cfg; on error writes "NAME: why" to err and leaves
 * the field as it was. CONFIG_OK or CONFIG_ERR_INVALID. */
static int apply(struct config *cfg, const struct setting *s, const char *value, char *err,
                 size_t err_len) {
    char *field = (char *)cfg + s->offset;
    switch (s->type) {
    case SETTING_TEXT:
        return apply_text(field, s, value, err, err_len);
    case SETTING_BOOL:
        return apply_bool(field, s, value, err, err_len);
    case SETTING_INT:
    case SETTING_LONG:
        return apply_number(field, s, value, err, err_len);
    }
    return CONFIG_ERR_INVALID;
}

/* Appends one line to the report, keeping it terminated when it runs out of room. */
static void report_line(char *report, size_t report_len, const char *fmt, ...) {
    va_list ap;
    if (report_len == 0)
        return; /* no room, and report may not even be terminated */
    size_t used = strlen(report);
    if (used + 1 >= report_len)
        return;
    va_start(ap, fmt);
    vsnprintf(report + used, report_len - used, fmt, ap);
    va_end(ap);
    used = strlen(report);
    if (used + 1 < report_len) {
        report[used] = '\n';
        report[used + 1] = '\0';
    }
}

void config_defaults(struct config *cfg) {
    char ignored[8];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_SETTINGS; i++)
        apply(cfg, &settings[i], settings[i].default_value, ignored, sizeof ignored);
}

int config_load(struct config *cfg, char *const *envp, char *report, size_t report_len) {
    int rc = CONFIG_OK;

    config_defaults(cfg);
    if (report_len > 0)
        report[0] = '\0';
    for (; envp && *envp; envp++) {
        const char *entry = *envp;
        const char *eq = strchr(entry, '=');
        if (strncmp(entry, "TOKENAUTH_", 10) != 0 || !eq)
            continue;
        const struct setting *s = find_setting(entry, (size_t)(eq - entry));
        if (!s) {
            report_line(report, report_len, "warning: %.*s is not a tokenauth setting (ignored)",
                        (int)(eq - entry), entry);
            continue;
        }
        char err[512];
        if (apply(cfg, s, eq + 1, err, sizeof err) != CONFIG_OK) {
            report_line(report, report_len, "%s", err);
            rc = CONFIG_ERR_INVALID;
        }
    }
    return rc;
}

int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t err_len) {
    const struct setting *s = find_setting(name, strlen(name));
    if (!s) {
        snprintf(err, err_len, "%s: no such setting", name);
        return CONFIG_ERR_UNKNOWN;
    }
    return apply(cfg, s, value, err, err_len); /* leaves cfg as it was on error */
}

void config_describe(char *out, size_t out_len) {
    if (out_len > 0)
        out[0] = '\0';
    for (size_t i = 0; i < N_SETTINGS; i++)
        report_line(out, out_len, "  %-34s default \"%s\": %s", settings[i].name,
                    settings[i].default_value, settings[i].description);
}
