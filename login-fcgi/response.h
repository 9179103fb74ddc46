/* response.h -- a login-fcgi response: status, headers and a JSON body, as CGI output.
 *
 * A struct response is a fixed buffer filled per request (no allocation but cJSON's tree). Every
 * response carries Cache-Control: no-store; a response with a body carries
 * Content-Type: application/json and Content-Length; 204 has no body. Bodies are small by
 * construction (a token, an error message), never user input echoed back. */
#ifndef TOKENAUTH_RESPONSE_H
#define TOKENAUTH_RESPONSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define RESPONSE_HEADERS_MAX 1024 /* bytes of extra header lines */
#define RESPONSE_BODY_MAX 1024    /* bytes of JSON body */
#define RESPONSE_OUT_MAX (RESPONSE_HEADERS_MAX + RESPONSE_BODY_MAX + 256) /* serialized */

struct response {
    int status;                         /* HTTP status */
    char headers[RESPONSE_HEADERS_MAX]; /* extra "Name: value\r\n" lines */
    size_t headers_len;                 /* bytes used in headers */
    char body[RESPONSE_BODY_MAX];       /* JSON text, "" for no body */
    size_t body_len;                    /* bytes used in body */
};

/* Starts an empty response with this status, dropping headers and body set before. */
void response_init(struct response *r, int status);

/* Appends a header line; a header that does not fit is dropped (ours always fit). */
void response_header(struct response *r, const char *name, const char *value);

/* Sets the body to json printed compactly, then deletes json (NULL allowed). Returns 0, or -1
 * when it could not be made or does not fit (the body is then {"detail": "internal error"}). */
int response_json(struct response *r, cJSON *json);

/* Sets status and the body {name: value}, a JSON object of one string member. */
void response_member(struct response *r, int status, const char *name, const char *value);

/* Sets status and the body {"detail": text}, DRF's shape for an error. */
void response_detail(struct response *r, int status, const char *text);

/* The status line's reason phrase ("Not Found"), "Unknown" for codes we do not send. */
const char *response_reason(int status);

/* Writes the CGI response (a Status line, headers, blank line, body) to out. Returns its length,
 * or 0 when out is too small (RESPONSE_OUT_MAX is always enough). */
size_t response_serialize(const struct response *r, char *out, size_t out_len);

#endif
