/* auth.c -- token extraction from a WebSocket handshake: query, subprotocol, Authorization.
 *
 * Every copy of a token goes through offer(): a value token_is_well_formed() refuses, or one that
 * differs from an earlier copy, marks the result invalid for good; the same key twice is fine.
 * Parsing is by hand over (pointer, length) pairs, never past len, so headers need no
 * terminator and the fuzzer can feed raw bytes. Nothing here touches the database: the caller
 * looks the key up only when auth_result() says AUTH_OK. Not done: cookies (the tutorial never
 * used them and they would need CSRF rules), and several Authorization headers (libwebsockets
 * joins them with ',' and the joined value then fails to parse as one key: invalid). */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include "log.h"
#include "text.h"
#include "token.h"

static void offer(struct auth_token *t, int source, const char *value, size_t len) {
    if (!token_is_well_formed(value, len)) {
        t->is_invalid = 1;
        return;
    }
    if (t->source != AUTH_SOURCE_NONE) {
        /* Duplicated: fine only when it is the same key. */
        if (strlen(t->key) != len || memcmp(t->key, value, len) != 0)
            t->is_invalid = 1;
        return;
    }
    memcpy(t->key, value, len);
    t->key[len] = '\0';
    t->source = source;
}

static int is_space(char c) {
    return c == ' ' || c == '\t';
}

void auth_init(struct auth_token *t) {
    memset(t, 0, sizeof *t);
}

void auth_add_query_arg(struct auth_token *t, const char *arg, size_t len) {
    if (len < 5 || memcmp(arg, "token", 5) != 0)
        return;
    if (len == 5 || arg[5] != '=') {
        if (len == 5)
            t->is_invalid = 1;
        return;
    }
    offer(t, AUTH_SOURCE_QUERY, arg + 6, len - 6);
}

void auth_add_protocols(struct auth_token *t, const char *list, size_t len) {
    const size_t prefix_len = sizeof AUTH_PROTOCOL_PREFIX - 1;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && list[i] != ',')
            continue;
        size_t b = start, e = i;
        while (b < e && is_space(list[b]))
            b++;
        while (e > b && is_space(list[e - 1]))
            e--;
        if (e - b >= prefix_len && strncasecmp(list + b, AUTH_PROTOCOL_PREFIX, prefix_len) == 0)
            offer(t, AUTH_SOURCE_PROTOCOL, list + b + prefix_len, e - b - prefix_len);
        start = i + 1;
    }
}

void auth_add_authorization(struct auth_token *t, const char *value, size_t len) {
    const char *key;
    size_t key_len;
    int rc = token_from_authorization(value, len, &key, &key_len);
    if (rc == TOKEN_OK)
        offer(t, AUTH_SOURCE_HEADER, key, key_len);
    else if (rc == TOKEN_ERR_MALFORMED)
        t->is_invalid = 1; /* our scheme with a bad key; another scheme is ignored */
}

int auth_result(const struct auth_token *t) {
    if (t->is_invalid)
        return AUTH_ERR_INVALID;
    return t->source == AUTH_SOURCE_NONE ? AUTH_ERR_MISSING : AUTH_OK;
}

/* Length of the marker that starts at s (n bytes left), separators after it included, or 0
 * when none does: "token" or "bearer" followed by at least one of " \t:=" ("token=", "Token\tK",
 * "Bearer:K"), or AUTH_PROTOCOL_PREFIX. */
static size_t marker_at(const char *s, size_t n) {
    static const char *const words[] = {"token", "bearer"};
    static const char seps[] = " \t:=";
    const size_t prefix_len = sizeof AUTH_PROTOCOL_PREFIX - 1;
    if (n >= prefix_len && strncasecmp(s, AUTH_PROTOCOL_PREFIX, prefix_len) == 0)
        return prefix_len;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t m = strlen(words[i]), k = m;
        if (n <= m || strncasecmp(s, words[i], m) != 0)
            continue;
        while (k < n && strchr(seps, s[k]))
            k++;
        if (k > m)
            return k;
    }
    return 0;
}

#define LONG_RUN 20 /* letters and digits in a row that may be a key, wherever they are */

size_t auth_redact_tokens(const char *in, char *out, size_t out_len) {
    static const char stops[] = "&, \t\r\n\"';";
    size_t n = 0, in_len = strlen(in);
    if (out_len == 0)
        return 0;
    for (size_t i = 0; i < in_len && n + 1 < out_len;) {
        if (in[i] == '?') { /* a query string, up to whitespace: log.h's redactor, every value */
            size_t q = strcspn(in + i, " \t\r\n\"'");
            char query[LOG_LINE_MAX], clean[LOG_LINE_MAX];
            if (q >= sizeof query)
                q = sizeof query - 1;
            memcpy(query, in + i, q);
            query[q] = '\0';
            text_append(out, out_len, &n, clean, log_redact_query(query, clean, sizeof clean));
            i += q;
            while (i < in_len && !strchr(" \t\r\n\"'", in[i]))
                i++; /* the rest of a query longer than the buffers */
            continue;
        }
        size_t run = 0;
        if (token_is_key_char(in[i]) && (i == 0 || !token_is_key_char(in[i - 1])))
            while (i + run < in_len && token_is_key_char(in[i + run]))
                run++;
        if (run >= LONG_RUN) { /* may be a bare key */
            text_append(out, out_len, &n, "REDACTED", 8);
            i += run;
            continue;
        }
        size_t m = marker_at(in + i, in_len - i);
        if (!m) {
            out[n++] = in[i++];
            continue;
        }
        text_append(out, out_len, &n, in + i, m);
        i += m;
        if (i < in_len && !strchr(stops, in[i])) {
            text_append(out, out_len, &n, "REDACTED", 8);
            while (i < in_len && !strchr(stops, in[i]))
                i++;
        }
    }
    out[n] = '\0';
    return n;
}
