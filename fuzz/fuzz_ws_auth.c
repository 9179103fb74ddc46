/* fuzz_ws_auth.c -- libFuzzer harness for the handshake token parsing and log redaction. The
 * input is split at its first two NUL bytes into a query string, a Sec-WebSocket-Protocol value
 * and an Authorization value. The query is fed as handshake.c feeds it: one argument per '&'
 * (libwebsockets splits and percent-decodes them before auth.c sees them). Any accepted key must
 * be well-formed, and redaction must never overflow nor leave its output unterminated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../ws-worker/auth.h"
#include "token.h"

/* Each '&'-separated argument of query (len bytes), as lws hands them to handshake.c. */
static void add_query_args(struct auth_token *t, const char *query, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && query[i] != '&')
            continue;
        auth_add_query_arg(t, query + start, i - start);
        start = i + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *parts[3] = {"", "", ""};
    size_t lens[3] = {0, 0, 0};
    const char *p = (const char *)data;
    size_t left = size;
    for (int i = 0; i < 3; i++) {
        const char *nul = i < 2 ? memchr(p, '\0', left) : NULL;
        size_t n = nul ? (size_t)(nul - p) : left;
        parts[i] = p;
        lens[i] = n;
        if (!nul)
            break;
        p = nul + 1;
        left -= n + 1;
    }
    struct auth_token t;
    auth_init(&t);
    add_query_args(&t, parts[0], lens[0]);
    auth_add_protocols(&t, parts[1], lens[1]);
    auth_add_authorization(&t, parts[2], lens[2]);
    if (auth_result(&t) == AUTH_OK && !token_is_well_formed(t.key, strlen(t.key)))
        abort();

    char *line = malloc(size + 1), out[300];
    if (!line)
        return 0;
    memcpy(line, data, size);
    line[size] = '\0';
    size_t n = auth_redact_tokens(line, out, sizeof out);
    if (n >= sizeof out || out[n] != '\0')
        abort();
    free(line);
    return 0;
}
