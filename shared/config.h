/* config.h -- tokenauth settings: read once from TOKENAUTH_* environment variables, validated.
 *
 * Both programs call config_load() at start with their environment. Every bad value is reported
 * in one run (one line each, naming the variable, the value and what is accepted), unknown
 * TOKENAUTH_* names are reported as warnings, and the caller (main) writes the report with
 * config_report_write() (this module never picks a stream itself) and exits non-zero on error.
 * Flags of ws-worker override a variable through config_set(), so the one validation path serves
 * both. Lists (origins, hosts) are kept as text here and parsed by origin.h; channel pattern
 * lists are kept as text too, but checked here with channel.h so that a bad list fails the start.
 * Secrets (TOKENAUTH_CHANNEL_SECRET, TOKENAUTH_PUBLISH_KEY, and TOKENAUTH_REDIS_URL, which may
 * hold a password) never appear in a message.
 */
#ifndef TOKENAUTH_CONFIG_H
#define TOKENAUTH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_OK 0
#define CONFIG_ERR_INVALID -1 /* at least one setting is bad: see the report */
#define CONFIG_ERR_UNKNOWN -2 /* config_set() got a name that is no setting */
#define CONFIG_ERR_WRITE -3   /* config_report_write() could not write to its stream */

/* The two lines both programs end a configuration check with, through config_report_write. */
#define CONFIG_CHECK_OK "settings are valid"                            /* --check succeeded */
#define CONFIG_NOT_STARTED "invalid settings, not started (see --help)" /* any bad setting */

#define CONFIG_TEXT_MAX 4096 /* bytes, terminator included, of a text setting */

/* Every setting, with its variable and default. The caller may read any field. */
struct config {
    char db_path[CONFIG_TEXT_MAX];      /* TOKENAUTH_DB, "tokenauth.sqlite3" */
    int db_busy_timeout_ms;             /* TOKENAUTH_DB_BUSY_TIMEOUT_MS, 5000 */
    long password_iterations;           /* TOKENAUTH_PASSWORD_ITERATIONS, 1000000 (Django 5.2) */
    long token_ttl_s;                   /* TOKENAUTH_TOKEN_TTL, 0 = tokens never expire */
    char cors_origins[CONFIG_TEXT_MAX]; /* TOKENAUTH_CORS_ORIGINS, "" = no CORS; "*" = any */
    int throttle_user_failures;         /* TOKENAUTH_THROTTLE_USER_FAILURES, 5 per user+addr */
    int throttle_user_ceiling;          /* TOKENAUTH_THROTTLE_USER_CEILING, 100; 0 = off */
    int throttle_addr_failures;         /* TOKENAUTH_THROTTLE_ADDR_FAILURES, 50; 0 = off */
    long throttle_window_s;             /* TOKENAUTH_THROTTLE_WINDOW, 900 */
    long max_body_bytes;                /* TOKENAUTH_MAX_BODY, 16384 */
    int body_timeout_ms;                /* TOKENAUTH_BODY_TIMEOUT_MS, 5000: FastCGI body, 408 */
    int fcgi_children;                  /* TOKENAUTH_FCGI_CHILDREN, 1: processes on one socket */
    int login_cache_users;              /* TOKENAUTH_LOGIN_CACHE, 1024 users; 0 = off */
    bool update_last_login;     /* TOKENAUTH_UPDATE_LAST_LOGIN, false: DRF leaves it alone */
    bool fcgi_exit_with_parent; /* TOKENAUTH_FCGI_EXIT_WITH_PARENT, false: end with the spawner */
    char allowed_hosts[CONFIG_TEXT_MAX]; /* TOKENAUTH_ALLOWED_HOSTS, "localhost,127.0.0.1,[::1]" */
    char ws_bind[256];                   /* TOKENAUTH_WS_BIND, "127.0.0.1" */
    int ws_port;                         /* TOKENAUTH_WS_PORT, 8001 */
    int ws_workers;                      /* TOKENAUTH_WS_WORKERS, 0 = one per core */
    long ws_max_message_bytes;           /* TOKENAUTH_WS_MAX_MESSAGE, 65536 */
    int ws_max_connections;              /* TOKENAUTH_WS_MAX_CONNECTIONS, 0 = from the fd limit */
    long ws_revocation_check_ms;         /* TOKENAUTH_WS_REVOCATION_CHECK_MS, 500 */
    int ws_ping_interval_s;              /* TOKENAUTH_WS_PING_INTERVAL, 30; 0 = no pings */
    int ws_ping_timeout_s;               /* TOKENAUTH_WS_PING_TIMEOUT, 10 */
    int ws_handshake_timeout_s;          /* TOKENAUTH_WS_HANDSHAKE_TIMEOUT, 5 */
    char ws_event_lib[16];               /* TOKENAUTH_WS_EVENT_LIB, "auto" (or poll, libev) */
    bool ws_packed_connections;          /* TOKENAUTH_WS_PACKED_CONNECTIONS, true (wsimem.h) */
    int ws_context_size;                 /* TOKENAUTH_WS_CONTEXT_SIZE, 128 (0 = one context) */
    bool ws_refuse_handshake;        /* TOKENAUTH_WS_REFUSE_HANDSHAKE, false: 401 instead of 4401 */
    char redis_url[CONFIG_TEXT_MAX]; /* TOKENAUTH_REDIS_URL, "" = channels off */
    char channel_prefix[64];         /* TOKENAUTH_CHANNEL_PREFIX, "asgi" */
    char channel_secret[256];        /* TOKENAUTH_CHANNEL_SECRET, "" = no signatures */
    char ws_public_channels[CONFIG_TEXT_MAX];  /* TOKENAUTH_WS_PUBLIC_CHANNELS, "" = none */
    char ws_publish_channels[CONFIG_TEXT_MAX]; /* TOKENAUTH_WS_PUBLISH_CHANNELS, "" = none */
    int ws_max_subscriptions;                  /* TOKENAUTH_WS_MAX_SUBSCRIPTIONS, 100 a socket */
    long ws_max_queued_bytes;                  /* TOKENAUTH_WS_MAX_QUEUED, 1048576 a socket */
    char publish_key[256]; /* TOKENAUTH_PUBLISH_KEY, "" = POST /api/publish/ answers 404 */
    int redis_timeout_ms;  /* TOKENAUTH_REDIS_TIMEOUT_MS, 2000: a blocking Redis connect or command
                            */
    char channel_layer[8]; /* TOKENAUTH_CHANNEL_LAYER, "pubsub" or "core" */
    long channel_capacity; /* TOKENAUTH_CHANNEL_CAPACITY, 100 (core) */
    long channel_expiry_s; /* TOKENAUTH_CHANNEL_EXPIRY, 60 (core) */
    long channel_group_expiry_s;  /* TOKENAUTH_CHANNEL_GROUP_EXPIRY, 86400 (core) */
    char ws_forward_channel[100]; /* TOKENAUTH_WS_FORWARD_CHANNEL, "" = no forwarding */
    bool ws_forward_events;       /* TOKENAUTH_WS_FORWARD_EVENTS, false */
    int publish_max_channels;     /* TOKENAUTH_PUBLISH_MAX_CHANNELS, 1000 a publication */
    int ws_addr_handshakes;       /* TOKENAUTH_WS_ADDR_HANDSHAKES, 256 per address; 0 = no limit */
    int ws_auth_failures;         /* TOKENAUTH_WS_AUTH_FAILURES, 20 per window; 0 = off */
    int ws_auth_window_s;         /* TOKENAUTH_WS_AUTH_WINDOW, 60 */
    bool ws_trust_forwarded;      /* TOKENAUTH_WS_TRUST_FORWARDED, true: loopback proxies' XFF */
    int ws_addr_table;            /* TOKENAUTH_WS_ADDR_TABLE, 4096 addresses per process */
    int ws_max_header_bytes;      /* TOKENAUTH_WS_MAX_HEADERS, 16384 */
    int ws_metrics_port;          /* TOKENAUTH_WS_METRICS_PORT, 0 = no metrics endpoint */
    char metrics_file[CONFIG_TEXT_MAX]; /* TOKENAUTH_METRICS_FILE, "" = login-fcgi counts nothing */
};

/* Fills cfg with the defaults. Never fails. */
void config_defaults(struct config *cfg);

/* Sets cfg from the defaults and then from the TOKENAUTH_* entries of envp (a NULL-terminated
 * "NAME=value" array such as environ). Writes one line per problem to report (errors, and
 * "warning: " lines for unknown TOKENAUTH_* names), "" when there is none. Returns CONFIG_OK
 * (warnings allowed) or CONFIG_ERR_INVALID. cfg holds defaults for the bad settings. */
int config_load(struct config *cfg, char *const *envp, char *report, size_t report_len);

/* Sets one setting by its variable name, validated as config_load() does. Returns CONFIG_OK,
 * CONFIG_ERR_INVALID (err says why) or CONFIG_ERR_UNKNOWN. cfg is unchanged on error. */
int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t err_len);

/* Writes every line of report (config_load's report, an error, CONFIG_CHECK_OK...) to out as
 * "prog: line\n", so both programs word configuration messages alike; "" writes nothing.
 * Returns CONFIG_OK or CONFIG_ERR_WRITE. Called by main only: out is the caller's choice. */
int config_report_write(FILE *out, const char *prog, const char *report);

/* 1 when the setting named name holds a secret that no report, log or message may show (print
 * "(hidden)" instead), else 0 (unknown names too). */
int config_is_secret(const char *name);

/* Describes every setting, one per line ("NAME default: description"), for --help. */
void config_describe(char *out, size_t out_len);

#endif
