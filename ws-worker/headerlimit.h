/* headerlimit.h -- the size limits of a request's head, and finding the header that passed one.
 *
 * libwebsockets 4.1.6 keeps a request's head in one buffer of TOKENAUTH_WS_MAX_HEADERS bytes
 * (the context's max_http_header_data). When the head overflows it, or has more fragments
 * (repeated headers, query parameters) than lws' table holds (about 90), lws logs a line and
 * closes the connection itself: no callback runs between the overflow and its shutdown(), so no
 * status can be written then (protocol_lws_log() logs event=headers_too_large and counts it,
 * headerclose.h; the client sees the connection close without an answer). What can be answered is
 * one header too long: every header lws knows by name (each piece of the request line, each query
 * parameter, Cookie, Origin, Sec-WebSocket-Protocol, Authorization, User-Agent...) gets a limit of
 * headerlimit_per_header() bytes, below the buffer, through the context's token limits. lws keeps
 * that many bytes, skips the rest of the line and parses on; at the callback headerlimit_find()
 * sees the header that reached its limit and the caller answers 431. Headers lws does not know
 * by name (X-Anything) have no limit of their own in lws 4.1.6, only the buffer's. */
#ifndef TOKENAUTH_HEADERLIMIT_H
#define TOKENAUTH_HEADERLIMIT_H

#include <stddef.h>

#include <libwebsockets.h>

#define HEADERLIMIT_RESERVE_MAX 2048 /* bytes of the buffer kept for the other headers */
#define HEADERLIMIT_OK 0
#define HEADERLIMIT_ERR_TOO_LONG -1 /* a header reached its limit (headerlimit_find) */

/* The longest one header may be with a buffer of max_header_bytes: the buffer less a quarter of
 * it, at most HEADERLIMIT_RESERVE_MAX, which the rest of the head needs once a long header was
 * cut (a browser's other headers take about 700 bytes). */
int headerlimit_per_header(int max_header_bytes);

/* Fills limits (which lws reads for the context's whole life: the caller keeps it) for every
 * header, so that one over headerlimit_per_header(max_header_bytes) is cut and found. */
void headerlimit_fill(struct lws_token_limits *limits, int max_header_bytes);

/* Looks at wsi's parsed head (at LWS_CALLBACK_HTTP or _HTTP_CONFIRM_UPGRADE). Returns
 * HEADERLIMIT_OK, or HEADERLIMIT_ERR_TOO_LONG with why[why_len] saying which header passed
 * per_header bytes ("header cookie over 14336 bytes"); never its value. */
int headerlimit_find(struct lws *wsi, int per_header, char *why, size_t why_len);

/* What a line lws logged (no final newline) says about the head's limits: NULL when nothing;
 * "" for lws' note of a header cut at its limit (the caller of headerlimit_find() logs that one,
 * by name); else the event to log, with *msg, for a request lws closed without an answer
 * ("headers_too_large": the buffer overflowed; "too_many_headers": lws' fragment table). */
const char *headerlimit_lws_line(const char *line, const char **msg);

#endif
