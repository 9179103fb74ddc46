/* origin.h -- who may talk to us: Channels' allowed-hosts rules and CORS origin lists.
 *
 * Host patterns (TOKENAUTH_ALLOWED_HOSTS) follow Django's ALLOWED_HOSTS as Channels'
 * AllowedHostsOriginValidator applies them to the Origin header: "example.com" matches that host
 * exactly, ".example.com" matches it and every subdomain, "*" matches anything, "[::1]" is an IPv6
 * host; matching ignores case and the port. A missing or "null" Origin passes only with "*".
 * CORS origins (TOKENAUTH_CORS_ORIGINS) are full origins ("http://localhost:8000") compared
 * exactly (case-insensitively), or "*". Lists are comma-separated; spaces around items are
 * ignored. */
#ifndef TOKENAUTH_ORIGIN_H
#define TOKENAUTH_ORIGIN_H

#include <stddef.h>

#define ORIGIN_OK 0
#define ORIGIN_ERR_INVALID -1 /* a list item does not parse: err says which */
#define ORIGIN_ERR_NOMEM -2

struct origin_list;

/* Parses a host-pattern list (kind ORIGIN_HOSTS) or a CORS origin list (kind ORIGIN_CORS).
 * Returns ORIGIN_OK with *out set (free with origin_list_free), or an error with err filled. An
 * empty text gives an empty list that allows nothing. */
#define ORIGIN_HOSTS 0
#define ORIGIN_CORS 1
int origin_list_parse(const char *text, int kind, struct origin_list **out, char *err,
                      size_t err_len);

void origin_list_free(struct origin_list *list);

/* 1 when the Origin header value (NULL when absent) is allowed by a host-pattern list. */
int origin_host_allowed(const struct origin_list *hosts, const char *origin);

/* 1 when the Origin header value may be answered with CORS headers by a CORS list. */
int origin_cors_allowed(const struct origin_list *cors, const char *origin);

/* 1 when the CORS list is "*" (then Access-Control-Allow-Origin may be "*"). */
int origin_cors_is_wildcard(const struct origin_list *cors);

#endif
