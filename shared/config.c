/* config.c -- TOKENAUTH_* settings: one table, read once, every problem reported in one run.
 *
 * Each setting is a row of `settings` below: its variable, where it lives in struct config, its
 * type and accepted range, its default and a one-line description (which --help prints). Numbers
 * are whole decimal numbers in range; booleans are 1/0, true/false, yes/no, on/off; text must fit
 * its field, and some text is checked further (a channel pattern list with channel.h, a Redis
 * address with bus.h, the length of a secret). A bad value leaves the default in place and adds
 * a line to the report naming the variable, the value and what is accepted, as nginx and
 * lighttpd do. Unknown TOKENAUTH_* names are warnings, since a typo there would otherwise
 * silently leave a default in force. Secrets and the Redis address (which may hold a password)
 * are never quoted in a message. The report reaches a person through config_report_write,
 * the one way both programs print it: "prog: " before each line. */
#include "config.h"

#include "bus.h"
#include "channel.h"
#include "corelayer.h"
#include "password.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Text types past SETTING_BOOL are text checked further: SETTING_SECRET is never shown and, when
 * not empty, at least `min` characters long; SETTING_CHANNELS is a channel pattern list
 * (channel.h); SETTING_REDIS_URL a Redis address, never shown (it may hold a password);
 * SETTING_KEY_PREFIX printable ASCII without blanks, 1 character or more; SETTING_LAYER
 * "pubsub" or "core"; SETTING_CHANNEL_NAME empty or a channel name (channel.h). */
enum setting_type {
    SETTING_TEXT,
    SETTING_INT,
    SETTING_LONG,
    SETTING_BOOL,
    SETTING_SECRET,
    SETTING_CHANNELS,
    SETTING_REDIS_URL,
    SETTING_KEY_PREFIX,
    SETTING_LAYER,
    SETTING_CHANNEL_NAME
};

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
     "5", "failed logins for one username from one address per window before 429; 0 = off"},
    {"TOKENAUTH_THROTTLE_USER_CEILING", SETTING_INT, FIELD(throttle_user_ceiling), 0, 1000000,
     "100", "failed logins for one username from all addresses per window before 429; 0 = off"},
    {"TOKENAUTH_THROTTLE_ADDR_FAILURES", SETTING_INT, FIELD(throttle_addr_failures), 0, 1000000,
     "50", "failed logins from one client address per window before 429; 0 = off"},
    {"TOKENAUTH_THROTTLE_WINDOW", SETTING_LONG, FIELD(throttle_window_s), 1, 31536000, "900",
     "throttling window in seconds"},
    {"TOKENAUTH_MAX_BODY", SETTING_LONG, FIELD(max_body_bytes), 64, 16777216, "16384",
     "largest login request body in bytes (larger: 413)"},
    {"TOKENAUTH_UPDATE_LAST_LOGIN", SETTING_BOOL, FIELD(update_last_login), 0, 1, "0",
     "1: a login sets auth_user.last_login, as Django's login() does; 0: as DRF's token view"},
    {"TOKENAUTH_BODY_TIMEOUT_MS", SETTING_INT, FIELD(body_timeout_ms), 100, 600000, "5000",
     "FastCGI: longest wait in ms for a whole request body (slower: 408), so one slow client "
     "cannot hold a process"},
    {"TOKENAUTH_FCGI_CHILDREN", SETTING_INT, FIELD(fcgi_children), 1, 256, "1",
     "FastCGI: processes serving the one socket (spawn-fcgi, systemd); a dead one is replaced"},
    {"TOKENAUTH_LOGIN_CACHE", SETTING_INT, FIELD(login_cache_users), 0, 1000000, "1024",
     "users whose reads a login-fcgi process keeps while the database is unchanged; 0 = off"},
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
     "file descriptor hard limit is lower; with TOKENAUTH_WS_WORKERS 0, the total to hold"},
    {"TOKENAUTH_WS_REVOCATION_CHECK_MS", SETTING_LONG, FIELD(ws_revocation_check_ms), 10, 60000,
     "500", "how often ws-worker looks for revoked or expired tokens of open sockets"},
    {"TOKENAUTH_WS_PING_INTERVAL", SETTING_INT, FIELD(ws_ping_interval_s), 0, 86400, "30",
     "seconds of silence before ws-worker pings a socket; 0 = never"},
    {"TOKENAUTH_WS_PING_TIMEOUT", SETTING_INT, FIELD(ws_ping_timeout_s), 1, 86400, "10",
     "seconds a pinged peer has to answer before it is dropped"},
    {"TOKENAUTH_WS_HANDSHAKE_TIMEOUT", SETTING_INT, FIELD(ws_handshake_timeout_s), 1, 3600, "5",
     "seconds a client has to complete the WebSocket handshake"},
    {"TOKENAUTH_WS_EVENT_LIB", SETTING_TEXT, FIELD(ws_event_lib), 0, 0, "auto",
     "ws-worker's event loop: poll (lws's own), libev (epoll: for many sockets per process) or "
     "auto (libev above 1024 connections per process, else poll)"},
    {"TOKENAUTH_WS_PACKED_CONNECTIONS", SETTING_BOOL, FIELD(ws_packed_connections), 0, 1, "1",
     "1: lws's connection objects packed in huge pages (cheaper closes with many sockets per "
     "process); 0 = malloc"},
    {"TOKENAUTH_WS_CONTEXT_SIZE", SETTING_INT, FIELD(ws_context_size), 0, 1000000, "128",
     "connections per libwebsockets context: under libev a process of more runs several "
     "contexts on its one loop (cheaper closes); 0 = one context"},
    {"TOKENAUTH_WS_REFUSE_HANDSHAKE", SETTING_BOOL, FIELD(ws_refuse_handshake), 0, 1, "0",
     "1: refuse a bad token with HTTP 401 at the handshake instead of accept + close 4401"},
    {"TOKENAUTH_REDIS_URL", SETTING_REDIS_URL, FIELD(redis_url), 0, 0, "",
     "Redis for channels: redis://[[user]:password@]host[:port][/db] or unix:///path; "
     "empty = channels off"},
    {"TOKENAUTH_CHANNEL_PREFIX", SETTING_KEY_PREFIX, FIELD(channel_prefix), 0, 0, "asgi",
     "prefix of the Redis channels, as channels_redis' prefix (<prefix>__group__<channel>)"},
    {"TOKENAUTH_CHANNEL_SECRET", SETTING_SECRET, FIELD(channel_secret), CHANNEL_SECRET_MIN_LEN, 0,
     "",
     "key of subscription signatures (HMAC-SHA256), at least 32 characters; empty = no signed "
     "subscriptions"},
    {"TOKENAUTH_WS_PUBLIC_CHANNELS", SETTING_CHANNELS, FIELD(ws_public_channels), 0, 0, "",
     "channels any user may subscribe to: names, prefix.* or *; empty = none"},
    {"TOKENAUTH_WS_PUBLISH_CHANNELS", SETTING_CHANNELS, FIELD(ws_publish_channels), 0, 0, "",
     "channels any user may publish to from a WebSocket: names, prefix.* or *; empty = none"},
    {"TOKENAUTH_WS_MAX_SUBSCRIPTIONS", SETTING_INT, FIELD(ws_max_subscriptions), 0, 100000, "100",
     "channels one socket may subscribe to"},
    {"TOKENAUTH_WS_MAX_QUEUED", SETTING_LONG, FIELD(ws_max_queued_bytes), 1024, 1073741824,
     "1048576", "bytes of deliveries a socket may leave unsent before it is closed as too slow"},
    {"TOKENAUTH_REDIS_TIMEOUT_MS", SETTING_INT, FIELD(redis_timeout_ms), 1, 600000, "2000",
     "how long a Redis connect or command may take: login-fcgi's (POST /api/publish/: 503), "
     "ws-worker's connect and heartbeat PING (past it Redis counts as down)"},
    {"TOKENAUTH_CHANNEL_LAYER", SETTING_LAYER, FIELD(channel_layer), 0, 0, "pubsub",
     "the Django channel layer spoken: pubsub (RedisPubSubChannelLayer) or core "
     "(RedisChannelLayer, channels_redis' default); docs/django.md"},
    {"TOKENAUTH_CHANNEL_CAPACITY", SETTING_LONG, FIELD(channel_capacity), 1, 1000000, "100",
     "core layer: messages a channel's queue may hold (channels_redis' capacity)"},
    {"TOKENAUTH_CHANNEL_EXPIRY", SETTING_LONG, FIELD(channel_expiry_s), 1, 86400, "60",
     "core layer: seconds a queued message lives (channels_redis' expiry)"},
    {"TOKENAUTH_CHANNEL_GROUP_EXPIRY", SETTING_LONG, FIELD(channel_group_expiry_s), 4, 31536000,
     "86400", "core layer: seconds a group membership lives unrefreshed (group_expiry)"},
    {"TOKENAUTH_WS_FORWARD_CHANNEL", SETTING_CHANNEL_NAME, FIELD(ws_forward_channel), 0, 0, "",
     "the Django channel client messages that are no tokenauth command go to, as "
     "tokenauth.receive (runworker <name>), on either layer; empty = off"},
    {"TOKENAUTH_WS_FORWARD_EVENTS", SETTING_BOOL, FIELD(ws_forward_events), 0, 1, "0",
     "1 = also send tokenauth.connect and tokenauth.disconnect to the forward channel"},
    {"TOKENAUTH_PUBLISH_MAX_CHANNELS", SETTING_INT, FIELD(publish_max_channels), 1, 100000, "1000",
     "channels one POST /api/publish/ may name (more: 400)"},
    {"TOKENAUTH_PUBLISH_KEY", SETTING_SECRET, FIELD(publish_key), 32, 0, "",
     "key of POST /api/publish/, at least 32 characters; empty = the endpoint answers 404"},
    {"TOKENAUTH_WS_ADDR_HANDSHAKES", SETTING_INT, FIELD(ws_addr_handshakes), 0, 1000000, "256",
     "unfinished WebSocket handshakes one client address may hold per ws-worker process (more "
     "are closed at once); 0 = no limit"},
    {"TOKENAUTH_WS_AUTH_FAILURES", SETTING_INT, FIELD(ws_auth_failures), 0, 1000000, "20",
     "failed WebSocket handshakes (bad token) from one address per window before HTTP 429; 0 = "
     "off"},
    {"TOKENAUTH_WS_AUTH_WINDOW", SETTING_INT, FIELD(ws_auth_window_s), 1, 86400, "60",
     "seconds of the WebSocket failure window, from its first failure"},
    {"TOKENAUTH_WS_TRUST_FORWARDED", SETTING_BOOL, FIELD(ws_trust_forwarded), 0, 1, "1",
     "1: a handshake from a loopback address (a proxy on this host) counts for "
     "TOKENAUTH_WS_AUTH_FAILURES under the last address of its X-Forwarded-For"},
    {"TOKENAUTH_WS_ADDR_TABLE", SETTING_INT, FIELD(ws_addr_table), 64, 1048576, "4096",
     "client addresses each ws-worker process tracks for the handshake and failure limits (the "
     "least "
     "recently seen idle one is forgotten first)"},
    {"TOKENAUTH_WS_MAX_HEADERS", SETTING_INT, FIELD(ws_max_header_bytes), 1024, 65535, "16384",
     "bytes of request line and headers (query string included) a WebSocket handshake may have "
     "(more: closed and logged); one header or parameter may have that less a quarter, at most "
     "2048 less (more: HTTP 431)"},
    {"TOKENAUTH_WS_METRICS_PORT", SETTING_INT, FIELD(ws_metrics_port), 0, 65535, "0",
     "port of ws-worker's Prometheus endpoint GET /metrics, on 127.0.0.1 only; 0 = off"},
    {"TOKENAUTH_METRICS_FILE", SETTING_TEXT, FIELD(metrics_file), 0, 0, "",
     "shared counter file login-fcgi adds to and ws-worker's /metrics shows (login-fcgi "
     "--metrics prints it); empty = login-fcgi counts nothing"},
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

/* A secret: never shown; empty, or at least s->min characters. */
static int apply_secret(char *field, const struct setting *s, const char *value, char *err,
                        size_t err_len) {
    size_t value_len = strlen(value);
    if (value_len > 0 && value_len < (size_t)s->min) {
        snprintf(err, err_len,
                 "%s: the value (not shown) is %zu characters long, expected at least %ld or "
                 "empty",
                 s->name, value_len, s->min);
        return CONFIG_ERR_INVALID;
    }
    return apply_text(field, s, value, err, err_len);
}

/* A channel pattern list, refused with channel.h's explanation of the first bad item. */
static int apply_channels(char *field, const struct setting *s, const char *value, char *err,
                          size_t err_len) {
    struct channel_patterns *patterns;
    char why[512];
    int rc = channel_patterns_parse(value, &patterns, why, sizeof why);
    if (rc != CHANNEL_OK) {
        snprintf(err, err_len, "%s: %s", s->name, why);
        return CONFIG_ERR_INVALID;
    }
    channel_patterns_free(patterns);
    return apply_text(field, s, value, err, err_len);
}

/* A Redis address, checked by the parser the programs connect with (bus.h), whose reasons
 * never quote the URL. */
static int apply_redis_url(char *field, const struct setting *s, const char *value, char *err,
                           size_t err_len) {
    struct bus_url urls[CORELAYER_MAX_HOSTS];
    size_t n_urls;
    char why[256];
    int is_list = strchr(value, ',') != NULL; /* the core layer's hosts */
    int rc = is_list ? corelayer_hosts_parse(value, urls, CORELAYER_MAX_HOSTS, &n_urls, why,
                                             sizeof why) == CORELAYER_OK
                     : !value[0] || bus_url_parse(value, urls, why, sizeof why) == BUS_OK;
    if (!rc) {
        snprintf(err, err_len,
                 "%s: the value (not shown: it may hold a password) is not a Redis address: %s; "
                 "expected redis://[[user]:password@]host[:port][/db], unix:///path[?db=N]%s or "
                 "empty",
                 s->name, why, is_list ? " (a comma-separated list with the core layer)" : "");
        return CONFIG_ERR_INVALID;
    }
    return apply_text(field, s, value, err, err_len);
}

/* The prefix of Redis channel names: printable ASCII without blanks, not empty. */
static int apply_key_prefix(char *field, const struct setting *s, const char *value, char *err,
                            size_t err_len) {
    int ok = value[0] != '\0';
    for (const char *c = value; ok && *c; c++)
        ok = *c > ' ' && *c < 0x7f;
    if (!ok) {
        snprintf(err, err_len,
                 "%s: \"%.100s\" is not a prefix, expected printable ASCII characters without "
                 "blanks",
                 s->name, value);
        return CONFIG_ERR_INVALID;
    }
    return apply_text(field, s, value, err, err_len);
}

/* The channel layer: one of two words. */
static int apply_layer(char *field, const struct setting *s, const char *value, char *err,
                       size_t err_len) {
    if (strcmp(value, "pubsub") != 0 && strcmp(value, "core") != 0) {
        snprintf(err, err_len, "%s: \"%.100s\" is not a layer, expected pubsub or core", s->name,
                 value);
        return CONFIG_ERR_INVALID;
    }
    return apply_text(field, s, value, err, err_len);
}

/* Empty, or a channel name (Django's rule, channel.h). */
static int apply_channel_name(char *field, const struct setting *s, const char *value, char *err,
                              size_t err_len) {
    if (value[0] && !channel_name_is_valid(value)) {
        snprintf(err, err_len,
                 "%s: \"%.100s\" is not a channel name, expected 1 to 99 letters, digits, '-', "
                 "'_' or '.', or empty",
                 s->name, value);
        return CONFIG_ERR_INVALID;
    }
    return apply_text(field, s, value, err, err_len);
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
    case SETTING_SECRET:
        return apply_secret(field, s, value, err, err_len);
    case SETTING_CHANNELS:
        return apply_channels(field, s, value, err, err_len);
    case SETTING_REDIS_URL:
        return apply_redis_url(field, s, value, err, err_len);
    case SETTING_KEY_PREFIX:
        return apply_key_prefix(field, s, value, err, err_len);
    case SETTING_LAYER:
        return apply_layer(field, s, value, err, err_len);
    case SETTING_CHANNEL_NAME:
        return apply_channel_name(field, s, value, err, err_len);
    }
    return CONFIG_ERR_INVALID;
}

/* Appends one formatted line and its newline to the report, cut when it runs out of room. */
static void report_line(char *report, size_t report_len, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    if (report_len == 0)
        return; /* no room, and report may not even be terminated */
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t used = strlen(report);
    text_append(report, report_len, &used, line, strlen(line));
    text_append(report, report_len, &used, "\n", 1);
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

int config_report_write(FILE *out, const char *prog, const char *report) {
    int rc = CONFIG_OK;
    while (*report) {
        size_t n = strcspn(report, "\n");
        if (fprintf(out, "%s: %.*s\n", prog, (int)n, report) < 0)
            rc = CONFIG_ERR_WRITE;
        report += n + (report[n] == '\n');
    }
    return fflush(out) == 0 ? rc : CONFIG_ERR_WRITE;
}

int config_is_secret(const char *name) {
    const struct setting *s = find_setting(name, strlen(name));
    return s && (s->type == SETTING_SECRET || s->type == SETTING_REDIS_URL);
}

void config_describe(char *out, size_t out_len) {
    if (out_len > 0)
        out[0] = '\0';
    for (size_t i = 0; i < N_SETTINGS; i++)
        report_line(out, out_len, "  %-34s default \"%s\": %s", settings[i].name,
                    settings[i].default_value, settings[i].description);
}
