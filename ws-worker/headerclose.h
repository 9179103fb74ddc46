/* headerclose.h -- the requests libwebsockets 4.1.6 closes itself over their head (headerlimit.h:
 * the head over TOKENAUTH_WS_MAX_HEADERS, or more headers than its table holds), counted and
 * logged once each.
 *
 * lws says so only through its log emit function (protocol_lws_log), which takes no argument of
 * ours and names no connection, and for one request it may say it several times: when an unknown
 * header's name starts at the end of the buffer, each of the 8 bytes lws reserves for that name
 * logs "Ran out of header data space" before the parse fails (1 to 9 lines a request, measured
 * with test_ws_headers.py's x5b). All the lines of one request come from one lws_parse() call,
 * after which lws closes the connection; so a line is a new request's only once some callback of
 * ours ran since the last counted one (headerclose_next()). Under the libev loop the close
 * always runs one (LWS_CALLBACK_WSI_DESTROY at once). Limits: under the poll loop lws defers the
 * close, so two requests failing in one turn of poll() with no callback between them count (and
 * are logged) as one; so do two failing on the metrics endpoint, whose callback is not ours.
 * Nothing here logs. */
#ifndef TOKENAUTH_HEADERCLOSE_H
#define TOKENAUTH_HEADERCLOSE_H

struct metrics_record;

/* Where such requests are counted, and whether the last line may still be the same request's. */
struct headerclose {
    struct metrics_record *metrics; /* NULL: metrics off */
    int is_request_open;            /* a line was counted and no callback of ours ran since */
};

/* One line of lws about the head, event being headerlimit_lws_line()'s "headers_too_large" or
 * "too_many_headers". Returns 1 when it is a new request's: counted in
 * tokenauth_ws_handshakes_refused_total{reason=event}, for the caller to log; 0 when it is the
 * same request's as the line before (neither counted nor to be logged). */
int headerclose_line(struct headerclose *c, const char *event);

/* A callback of ours runs: the next line is another request's. */
void headerclose_next(struct headerclose *c);

#endif
