/* headerlimit.c -- the size limits of a request's head, and finding the header that passed one
 * (headerlimit.h says what lws 4.1.6 allows and why).
 *
 * A header lws cut at its limit is a fragment exactly that long: lws keeps limit bytes, then
 * skips the rest of the line. headerlimit_find() looks only at headers whose total length
 * (lws_hdr_total_length, all fragments) reaches the limit, then at their fragments, so the
 * usual handshake costs one length lookup per kind of header lws knows (about 1,900
 * instructions, 1.7% of a whole handshake's 111,000 with callgrind). lws is given one byte more
 * than the limit, so a fragment that long was over it (lws cannot tell a header exactly at its
 * limit from a cut one). */
#include "headerlimit.h"

#include <stdio.h>
#include <string.h>

int headerlimit_per_header(int max_header_bytes) {
    int reserve = max_header_bytes / 4;
    if (reserve > HEADERLIMIT_RESERVE_MAX)
        reserve = HEADERLIMIT_RESERVE_MAX;
    return max_header_bytes - reserve;
}

void headerlimit_fill(struct lws_token_limits *limits, int max_header_bytes) {
    int per_header = headerlimit_per_header(max_header_bytes);
    for (size_t i = 0; i < sizeof limits->token_limit / sizeof limits->token_limit[0]; i++)
        limits->token_limit[i] = (unsigned short)(per_header + 1); /* one more: see above */
}

/* Whether one fragment of token h (of total_len bytes in all) is over per_header bytes. */
static int has_long_fragment(struct lws *wsi, enum lws_token_indexes h, int total_len,
                             int per_header) {
    int seen = 0;
    for (int i = 0; seen < total_len; i++) {
        int len = lws_hdr_fragment_length(wsi, h, i);
        if (len > per_header)
            return 1;
        seen += len + 1; /* the separator lws counts between fragments (none for cookies) */
    }
    return 0;
}

/* "header cookie:", "query parameter", "request target" for token h. */
static void describe(enum lws_token_indexes h, char *out, size_t out_len) {
    const char *name = (const char *)lws_token_to_string(h);
    size_t len = name ? strlen(name) : 0;
    if (h == WSI_TOKEN_HTTP_URI_ARGS)
        snprintf(out, out_len, "query parameter");
    else if (!len || name[len - 1] == ' ') /* "get ", "post ": the method's target */
        snprintf(out, out_len, "request target");
    else
        snprintf(out, out_len, "header %.*s", (int)len - 1, name);
}

int headerlimit_find(struct lws *wsi, int per_header, char *why, size_t why_len) {
    for (int h = 0; h < WSI_TOKEN_COUNT; h++) {
        int total_len = lws_hdr_total_length(wsi, (enum lws_token_indexes)h);
        if (total_len <= per_header ||
            !has_long_fragment(wsi, (enum lws_token_indexes)h, total_len, per_header))
            continue;
        char what[64];
        describe((enum lws_token_indexes)h, what, sizeof what);
        snprintf(why, why_len, "%s over %d bytes", what, per_header);
        return HEADERLIMIT_ERR_TOO_LONG;
    }
    return HEADERLIMIT_OK;
}

const char *headerlimit_lws_line(const char *line, const char **msg) {
    if (strcmp(line, "Ran out of header data space") == 0) {
        *msg = "a request over TOKENAUTH_WS_MAX_HEADERS bytes was closed without an answer "
               "(libwebsockets 4.1 allows none)";
        return "headers_too_large";
    }
    if (strncmp(line, "More hdr frags than we can deal with", 36) == 0) {
        *msg = "a request with more headers or query parameters than libwebsockets' table holds "
               "was closed without an answer (libwebsockets 4.1 allows none)";
        return "too_many_headers";
    }
    if (strncmp(line, "header ", 7) == 0 && strstr(line, " exceeds limit "))
        return "";
    return NULL;
}
