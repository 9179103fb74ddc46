/* origin.c -- who may talk to us: Channels' allowed-hosts rules and CORS origin lists.
 *
 * Host patterns reproduce Django Channels' AllowedHostsOriginValidator (channels/security/
 * websocket.py) over Django's is_same_domain():
 *   - "*" allows every Origin, a missing one included; without "*" a missing Origin is refused;
 *   - "host" (no scheme) matches the Origin's host exactly, whatever its scheme and port;
 *   - ".example.com" matches example.com and every subdomain of it;
 *   - "scheme://host[:port]" also requires the same scheme and port (80/443 by default);
 *   - an Origin without a host ("null", from a file:// page or a sandboxed frame) matches only "*".
 * IPv6 hosts are written in brackets ("[::1]") and compared without them, as urlparse does.
 * Everything is compared in lower case.
 *
 * Deliberately stricter than Channels, each refused when the list is read or the Origin parsed:
 * "host:port" without a scheme (Channels either ignores such a port or never matches, depending
 * on how urlparse reads the host), unbracketed IPv6 and wildcard ports in patterns, Origins with
 * user information ("http://user@host"), and ports outside 1..65535. CORS lists hold whole origins
 * compared exactly, "null" included when a deployment wants file:// pages, or "*". Lists are parsed
 * and checked once at start, so a typo fails the start with a message rather than silently refusing
 * everyone. */
#include "origin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ORIGIN_PART_MAX 256
#define ITEM_PORT_WITHOUT_SCHEME -2 /* parse_item: "host:port" in a host-pattern list */

/* One parsed pattern or origin: scheme and port are empty/0 when absent. */
struct origin_item {
    char scheme[32];            /* long enough for chrome-extension and its kind */
    char host[ORIGIN_PART_MAX]; /* lower case, IPv6 without brackets, "*" or ".domain" */
    int port;                   /* explicit or default for the scheme; 0 = unknown */
    int has_scheme;
};

struct origin_list {
    int has_wildcard;
    size_t n_items;
    struct origin_item items[]; /* n_items of them */
};

static int default_port(const char *scheme) {
    if (strcmp(scheme, "http") == 0 || strcmp(scheme, "ws") == 0)
        return 80;
    if (strcmp(scheme, "https") == 0 || strcmp(scheme, "wss") == 0)
        return 443;
    return 0;
}

static void lower_copy(char *dst, const char *src, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = '\0';
}

/* Parses "host[:port]" (host may be "[v6]") of len bytes into item. 0 or -1. */
static int parse_authority(const char *s, size_t len, struct origin_item *item) {
    const char *host = s, *port = NULL;
    size_t host_len;

    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return -1;
        host = s + 1;
        host_len = (size_t)(close - host);
        if ((size_t)(close + 1 - s) < len) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        host_len = colon ? (size_t)(colon - s) : len;
        port = colon ? colon + 1 : NULL;
    }
    if (host_len == 0 || host_len >= ORIGIN_PART_MAX)
        return -1;
    for (size_t i = 0; i < host_len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':'))
            return -1;
    }
    lower_copy(item->host, host, host_len);
    item->port = item->has_scheme ? default_port(item->scheme) : 0;
    if (port) {
        size_t port_len = len - (size_t)(port - s);
        if (port_len == 0 || port_len > 5)
            return -1;
        int n = 0;
        for (size_t i = 0; i < port_len; i++) {
            if (!isdigit((unsigned char)port[i]))
                return -1;
            n = n * 10 + (port[i] - '0');
        }
        if (n < 1 || n > 65535)
            return -1;
        item->port = n;
    }
    return 0;
}

/* Parses "scheme://authority[/...]" or, when allow_bare, a plain "authority". 0 or -1. */
static int parse_item(const char *s, size_t len, int allow_bare, int allow_path,
                      struct origin_item *item) {
    const char *sep = NULL;
    memset(item, 0, sizeof *item);
    for (size_t i = 0; i + 2 < len; i++)
        if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
            sep = s + i;
            break;
        }
    if (!sep) {
        if (!allow_bare)
            return -1;
        if (parse_authority(s, len, item) != 0)
            return -1;
        /* Channels reads "example.com:8000" as a scheme and never matches it, yet matches
         * "127.0.0.1:8000" on every port: rather than copy that surprise, refuse both. */
        return item->port != 0 ? ITEM_PORT_WITHOUT_SCHEME : 0;
    }
    size_t scheme_len = (size_t)(sep - s);
    if (scheme_len == 0 || scheme_len >= sizeof item->scheme)
        return -1;
    for (size_t i = 0; i < scheme_len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.')
            return -1;
    lower_copy(item->scheme, s, scheme_len);
    item->has_scheme = 1;
    const char *authority = sep + 3;
    size_t rest = len - (size_t)(authority - s);
    size_t authority_len = strcspn(authority, "/?#");
    if (authority_len > rest)
        authority_len = rest;
    if (authority_len < rest && !allow_path)
        return -1;
    return parse_authority(authority, authority_len, item);
}

/* Django's is_same_domain: exact, or ".domain" for the domain and its subdomains. */
static int is_same_domain(const char *host, const char *pattern) {
    if (pattern[0] == '.') {
        size_t host_len = strlen(host), pattern_len = strlen(pattern);
        if (strcmp(host, pattern + 1) == 0)
            return 1;
        return host_len > pattern_len && strcmp(host + host_len - pattern_len, pattern) == 0;
    }
    return strcmp(host, pattern) == 0;
}

int origin_list_parse(const char *text, int kind, struct origin_list **out, char *err,
                      size_t err_len) {
    size_t n_max = 1;
    for (const char *p = text; *p; p++)
        n_max += *p == ',';
    struct origin_list *list = calloc(1, sizeof *list + n_max * sizeof list->items[0]);
    if (!list) {
        snprintf(err, err_len, "origin list: out of memory");
        return ORIGIN_ERR_NOMEM;
    }
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        const char *item = p;
        p += len + (p[len] == ',');
        while (len > 0 && isspace((unsigned char)item[0]))
            item++, len--;
        while (len > 0 && isspace((unsigned char)item[len - 1]))
            len--;
        if (len == 0)
            continue;
        if (len == 1 && item[0] == '*') {
            list->has_wildcard = 1;
            continue;
        }
        struct origin_item *it = &list->items[list->n_items];
        int rc;
        if (kind == ORIGIN_CORS && len == 4 && strncasecmp(item, "null", 4) == 0) {
            memset(it, 0, sizeof *it);
            strcpy(it->host, "null");
            rc = 0;
        } else {
            rc = parse_item(item, len, kind == ORIGIN_HOSTS, 0, it);
        }
        if (rc == ITEM_PORT_WITHOUT_SCHEME) {
            snprintf(err, err_len,
                     "\"%.*s\" is not a host pattern: a port needs a scheme, as in "
                     "http://host:port",
                     (int)len, item);
            origin_list_free(list);
            return ORIGIN_ERR_INVALID;
        }
        if (rc != 0) {
            snprintf(err, err_len, "\"%.*s\" is not %s", (int)len, item,
                     kind == ORIGIN_HOSTS
                         ? "a host pattern: expected host, .domain, [ipv6], *, or "
                           "scheme://host[:port]"
                         : "an origin: expected scheme://host[:port] (no path), null, or *");
            origin_list_free(list);
            return ORIGIN_ERR_INVALID;
        }
        list->n_items++;
    }
    *out = list;
    return ORIGIN_OK;
}

void origin_list_free(struct origin_list *list) {
    free(list);
}

int origin_host_allowed(const struct origin_list *hosts, const char *origin) {
    struct origin_item seen;

    if (hosts->has_wildcard)
        return 1;
    if (!origin || parse_item(origin, strlen(origin), 0, 1, &seen) != 0)
        return 0; /* missing, "null" or unparsable: no host to match */
    for (size_t i = 0; i < hosts->n_items; i++) {
        const struct origin_item *pattern = &hosts->items[i];
        if (!is_same_domain(seen.host, pattern->host))
            continue;
        if (!pattern->has_scheme)
            return 1;
        if (strcmp(pattern->scheme, seen.scheme) == 0 && pattern->port == seen.port)
            return 1;
    }
    return 0;
}

int origin_cors_allowed(const struct origin_list *cors, const char *origin) {
    struct origin_item seen;

    if (!origin)
        return 0; /* not a cross-origin browser request: no CORS headers needed */
    if (cors->has_wildcard)
        return 1;
    if (strcasecmp(origin, "null") == 0) {
        for (size_t i = 0; i < cors->n_items; i++)
            if (strcmp(cors->items[i].host, "null") == 0)
                return 1;
        return 0;
    }
    if (parse_item(origin, strlen(origin), 0, 0, &seen) != 0)
        return 0;
    for (size_t i = 0; i < cors->n_items; i++) {
        const struct origin_item *allowed = &cors->items[i];
        if (allowed->has_scheme && strcmp(allowed->scheme, seen.scheme) == 0 &&
            strcmp(allowed->host, seen.host) == 0 && allowed->port == seen.port)
            return 1;
    }
    return 0;
}

int origin_cors_is_wildcard(const struct origin_list *cors) {
    return cors->has_wildcard;
}
