/* auth.h -- where a WebSocket client put its token, and whether the copies agree.
 *
 * A handshake may carry the token in three places, all accepted:
 *   the query string      ws://host/?token=<key>            (the tutorial; lws decodes it)
 *   Sec-WebSocket-Protocol "tokenauth, tokenauth.token.<key>" (browsers, token not in the URL)
 *   Authorization         "Token <key>" or "Bearer <key>"    (other clients)
 * The caller feeds every place it found to one struct auth_token, then asks auth_result(). A
 * value that cannot be a key (empty, too long, not letters and digits) makes the whole result
 * invalid, and so do two copies that differ (duplicated and conflicting), wherever they are.
 * This module does no I/O and never logs; auth_redact_tokens() cleans lines others will log. */
#ifndef TOKENAUTH_AUTH_H
#define TOKENAUTH_AUTH_H

#include <stddef.h>

#include "token.h"

#define AUTH_OK 0
#define AUTH_ERR_MISSING -1 /* no token anywhere */
#define AUTH_ERR_INVALID -2 /* empty, malformed, or copies that disagree */

#define AUTH_KEY_MAX (TOKEN_KEY_LEN + 1)        /* a key and its terminator */
#define AUTH_PROTOCOL_NAME "tokenauth"          /* the subprotocol the server selects */
#define AUTH_PROTOCOL_PREFIX "tokenauth.token." /* an offered entry carrying the key */

#define AUTH_SOURCE_NONE 0
#define AUTH_SOURCE_QUERY 1
#define AUTH_SOURCE_PROTOCOL 2
#define AUTH_SOURCE_HEADER 3

/* What was found so far. Zero it with auth_init(); the caller may read key and source once
 * auth_result() says AUTH_OK. */
struct auth_token {
    char key[AUTH_KEY_MAX]; /* the first well-formed copy, terminated */
    int source;             /* AUTH_SOURCE_* where key was first seen */
    int is_invalid;         /* a bad or conflicting copy was seen */
};

void auth_init(struct auth_token *t);

/* One query argument "name=value" (len bytes, not terminated), already split at '&' and
 * percent-decoded: libwebsockets hands them over so (lws_hdr_copy_fragment() of
 * WSI_TOKEN_HTTP_URI_ARGS, see handshake.c). Only "token" counts: "token" alone or "token=" is
 * invalid, other names are ignored. */
void auth_add_query_arg(struct auth_token *t, const char *arg, size_t len);

/* The Sec-WebSocket-Protocol header value: comma-separated entries, spaces around ignored;
 * each AUTH_PROTOCOL_PREFIX entry offers the key that follows it. */
void auth_add_protocols(struct auth_token *t, const char *list, size_t len);

/* The Authorization header value: "Token <key>" or "Bearer <key>" (scheme case-insensitive);
 * other schemes are ignored. */
void auth_add_authorization(struct auth_token *t, const char *value, size_t len);

/* AUTH_OK (t->key holds the key), AUTH_ERR_MISSING or AUTH_ERR_INVALID. */
int auth_result(const struct auth_token *t);

/* Copies a line to out (out_len bytes, terminated) with secrets replaced by "REDACTED", so
 * libwebsockets' own log lines never show a key: every value of a query string (from '?' up to
 * whitespace, by log_redact_query(), so "/?%74oken=K" too), the value after "token" or "bearer"
 * and any of " \t:=" (case-insensitive: "token=K", "Token\tK", "Bearer:K") or after
 * AUTH_PROTOCOL_PREFIX, and any run of 20 or more letters and digits (a bare key). Returns the
 * length written. */
size_t auth_redact_tokens(const char *in, char *out, size_t out_len);

#endif
