/* bus_url.c -- TOKENAUTH_REDIS_URL and channel keys: the part of bus.h without hiredis.
 *
 * Kept apart from the publisher (bus.c) so that what only checks settings (config.c, and so the
 * sqlite3 extension) links no Redis client. The parser splits, in order: the scheme at "://",
 * the query at the first '?', the user information at the last '@' (redis://) or the first '@'
 * (unix://, whose path may hold '@' only when no user information precedes it), then host, port
 * and db path. Its errors name the part that is wrong but echo no part of the URL: a password
 * with an unescaped '/', '?' or '@' would otherwise end up in a host or db message and then in
 * a log. */
#include "bus.h"
#include "text.h"

#include <limits.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return BUS_ERR_INVALID;
}

/* A whole decimal number of s (len bytes) from 0 to max into *out: 0, or -1. */
static int parse_number(const char *s, size_t len, long max, long *out) {
    long n = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || n > (max - (s[i] - '0')) / 10)
            return -1;
        n = n * 10 + (s[i] - '0');
    }
    *out = n;
    return 0;
}

/* "[user]:password" (len bytes) into out's username and password. */
static int parse_userinfo(const char *s, size_t len, struct bus_url *out, char *err,
                          size_t err_len) {
    const char *colon = memchr(s, ':', len);
    if (len == 0)
        return BUS_OK;
    if (!colon)
        return fail(err, err_len, "user without a password: write :password@ or user:password@");
    size_t user_len = (size_t)(colon - s);
    if (text_url_decode(s, user_len, out->username, sizeof out->username) < 0)
        return fail(err, err_len, "user: a bad %%-escape, a NUL or over %d bytes",
                    BUS_SECRET_MAX - 1);
    if (colon + 1 == s + len)
        return fail(err, err_len, "password: empty after ':'");
    if (text_url_decode(colon + 1, len - user_len - 1, out->password, sizeof out->password) < 0)
        return fail(err, err_len, "password: a bad %%-escape, a NUL or over %d bytes",
                    BUS_SECRET_MAX - 1);
    return BUS_OK;
}

/* 1 when c may appear in a host name (letters, digits, '-', '.', '_'), or in a bracketed IPv6
 * address (hex digits, ':', '.'; no zone). */
static int host_char(char c, int ipv6) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.')
        return 1;
    if (ipv6)
        return c == ':';
    return (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-' || c == '_';
}

/* "host[:port]" or "[ipv6][:port]" (len bytes) into out->host and out->port. */
static int parse_hostport(const char *s, size_t len, struct bus_url *out, char *err,
                          size_t err_len) {
    int ipv6 = len > 0 && s[0] == '[';
    const char *host = s + ipv6;
    const char *end = ipv6 ? memchr(s, ']', len) : memchr(s, ':', len);
    if (ipv6 && !end)
        return fail(err, err_len, "host: an IPv6 address without its closing ']'");
    size_t host_len = end ? (size_t)(end - host) : len;
    const char *after = host + host_len + ipv6; /* ":port" or the end */
    if (host_len == 0)
        return fail(err, err_len, "host: missing");
    if (host_len >= sizeof out->host)
        return fail(err, err_len, "host: over %d bytes", BUS_HOST_MAX - 1);
    for (size_t i = 0; i < host_len; i++)
        if (!host_char(host[i], ipv6))
            return fail(err, err_len, "host: a character that is not in a host name");
    memcpy(out->host, host, host_len);
    out->port = BUS_DEFAULT_PORT;
    size_t rest = len - (size_t)(after - s);
    if (rest == 0)
        return BUS_OK;
    long port;
    if (after[0] != ':' || parse_number(after + 1, rest - 1, 65535, &port) < 0 || port == 0)
        return fail(err, err_len, "port: not a whole number from 1 to 65535");
    out->port = (int)port;
    return BUS_OK;
}

/* The query "db=N&password=P" (len bytes). db_set tells whether the path gave a db already. */
static int parse_query(const char *s, size_t len, int db_set, struct bus_url *out, char *err,
                       size_t err_len) {
    while (len > 0) {
        const char *amp = memchr(s, '&', len);
        size_t item = amp ? (size_t)(amp - s) : len;
        long db;
        if (item > 3 && memcmp(s, "db=", 3) == 0) {
            if (db_set)
                return fail(err, err_len, "db: given twice");
            if (parse_number(s + 3, item - 3, INT_MAX, &db) < 0)
                return fail(err, err_len, "db: not a whole number from 0 to %d", INT_MAX);
            out->db = (int)db;
            db_set = 1;
        } else if (item > 9 && memcmp(s, "password=", 9) == 0) {
            if (out->password[0])
                return fail(err, err_len, "password: given twice");
            if (text_url_decode(s + 9, item - 9, out->password, sizeof out->password) < 0)
                return fail(err, err_len, "password: a bad %%-escape, a NUL or over %d bytes",
                            BUS_SECRET_MAX - 1);
        } else if (item > 0) {
            return fail(err, err_len, "query: unknown or empty parameter (accepted: db, password)");
        }
        s += item + (amp != NULL);
        len -= item + (amp != NULL);
    }
    return BUS_OK;
}

/* After "redis://": [userinfo@]host[:port][/db], len bytes (the query is parsed apart). */
static int parse_tcp(const char *s, size_t len, struct bus_url *out, char *err, size_t err_len) {
    const char *at = NULL;
    for (const char *p = s; p < s + len; p++)
        if (*p == '@')
            at = p;
    if (at && parse_userinfo(s, (size_t)(at - s), out, err, err_len) != BUS_OK)
        return BUS_ERR_INVALID;
    const char *hp = at ? at + 1 : s;
    size_t hp_len = len - (size_t)(hp - s);
    const char *slash = memchr(hp, '/', hp_len);
    size_t host_len = slash ? (size_t)(slash - hp) : hp_len;
    out->kind = BUS_URL_TCP;
    if (parse_hostport(hp, host_len, out, err, err_len) != BUS_OK)
        return BUS_ERR_INVALID;
    size_t db_len = slash ? hp_len - host_len - 1 : 0;
    long db;
    if (db_len > 0 && parse_number(slash + 1, db_len, INT_MAX, &db) < 0)
        return fail(err, err_len, "db: not a whole number from 0 to %d", INT_MAX);
    if (db_len > 0)
        out->db = (int)db;
    return db_len > 0 ? 1 : BUS_OK; /* 1: the path gave the db */
}

/* After "unix://": [userinfo@]/path, len bytes. */
static int parse_unix(const char *s, size_t len, struct bus_url *out, char *err, size_t err_len) {
    const char *at = len > 0 && s[0] != '/' ? memchr(s, '@', len) : NULL;
    if (at && parse_userinfo(s, (size_t)(at - s), out, err, err_len) != BUS_OK)
        return BUS_ERR_INVALID;
    const char *path = at ? at + 1 : s;
    size_t path_len = len - (size_t)(path - s);
    out->kind = BUS_URL_UNIX;
    if (path_len < 2 || path[0] != '/')
        return fail(err, err_len, "path: missing or not absolute");
    if (path_len >= sizeof out->path)
        return fail(err, err_len, "path: over %d bytes (a Unix socket's limit)", BUS_PATH_MAX - 1);
    if (memchr(path, '\0', path_len))
        return fail(err, err_len, "path: holds a NUL");
    memcpy(out->path, path, path_len);
    return BUS_OK;
}

/* 1 when the n bytes at s name the scheme. */
static int scheme_is(const char *s, size_t n, const char *scheme) {
    return strlen(scheme) == n && memcmp(s, scheme, n) == 0;
}

int bus_url_parse(const char *url, struct bus_url *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep)
        return fail(err, err_len, "no scheme:// at the start");
    size_t scheme_len = (size_t)(sep - url);
    const char *rest = sep + 3;
    size_t main_len = strcspn(rest, "?");
    int rc;
    if (scheme_is(url, scheme_len, "redis"))
        rc = parse_tcp(rest, main_len, out, err, err_len);
    else if (scheme_is(url, scheme_len, "unix"))
        rc = parse_unix(rest, main_len, out, err, err_len);
    else if (scheme_is(url, scheme_len, "rediss"))
        return fail(err, err_len, "rediss:// (TLS) is not supported");
    else
        return fail(err, err_len, "scheme: neither redis:// nor unix://");
    if (rc < 0)
        return rc;
    if (rest[main_len] == '?')
        rc = parse_query(rest + main_len + 1, strlen(rest + main_len + 1), rc == 1, out, err,
                         err_len);
    return rc < 0 ? rc : BUS_OK;
}

/* IPv4 first, then IPv6: hiredis' own order for a name (a Redis client cannot afford to probe
 * for IPv6 connectivity), so "localhost" reaches a Redis bound to 127.0.0.1 as it always did. */
int bus_url_resolve(struct bus_url *u, char *err, size_t err_len) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *found = NULL;
    char numeric[BUS_HOST_MAX];
    if (u->kind != BUS_URL_TCP)
        return BUS_OK;
    int rc = getaddrinfo(u->host, NULL, &hints, &found);
    if (rc != 0) {
        hints.ai_family = AF_INET6;
        rc = getaddrinfo(u->host, NULL, &hints, &found);
    }
    if (rc == 0)
        rc = getnameinfo(found->ai_addr, found->ai_addrlen, numeric, sizeof numeric, NULL, 0,
                         NI_NUMERICHOST);
    if (found)
        freeaddrinfo(found);
    if (rc != 0) {
        snprintf(err, err_len, "host %s: %s", u->host, gai_strerror(rc));
        return BUS_ERR_UNAVAILABLE;
    }
    snprintf(u->host, sizeof u->host, "%s", numeric);
    return BUS_OK;
}

int bus_channel_key(const char *prefix, const char *channel, char *out, size_t out_len) {
    if (!prefix || !*prefix || !channel || !*channel)
        return BUS_ERR_INVALID;
    int n = snprintf(out, out_len, "%s" BUS_GROUP_INFIX "%s", prefix, channel);
    return n > 0 && (size_t)n < out_len ? BUS_OK : BUS_ERR_INVALID;
}

const char *bus_channel_from_key(const char *prefix, const char *key) {
    size_t n = strlen(prefix);
    size_t infix = sizeof BUS_GROUP_INFIX - 1;
    if (n == 0 || strncmp(key, prefix, n) != 0 || strncmp(key + n, BUS_GROUP_INFIX, infix) != 0)
        return NULL;
    return key[n + infix] ? key + n + infix : NULL;
}
