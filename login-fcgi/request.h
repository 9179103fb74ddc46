/* request.h -- what login-fcgi needs from a CGI/FastCGI request's parameters: the route, the
 * method, the body's encoding and length, and the few headers it reads.
 *
 * Everything comes from the request's environment ("NAME=value" strings, as environ in CGI or
 * FCGX_Request.envp in FastCGI); the request borrows those strings, so it lives no longer than
 * they do. Nothing here reads the body or allocates. */
#ifndef TOKENAUTH_REQUEST_H
#define TOKENAUTH_REQUEST_H

#include <stddef.h>

#define ROUTE_NONE 0    /* no route of ours: 404 */
#define ROUTE_LOGIN 1   /* .../api/login or .../api/login/ */
#define ROUTE_LOGOUT 2  /* .../api/logout or .../api/logout/ */
#define ROUTE_PUBLISH 3 /* .../api/publish or .../api/publish/ */

#define REQUEST_TYPE_NONE 0         /* no Content-Type header */
#define REQUEST_TYPE_UNSUPPORTED -1 /* a media type or charset we do not read: 415 */
/* Otherwise a BODY_* kind of body.h. */

#define REQUEST_LENGTH_ABSENT -1  /* no CONTENT_LENGTH */
#define REQUEST_LENGTH_INVALID -2 /* not a decimal number of bytes */

#define REQUEST_BOUNDARY_MAX 71 /* a multipart boundary (70 characters) and its terminator */

struct request {
    const char *method;                  /* REQUEST_METHOD, "" when absent */
    int route;                           /* ROUTE_* */
    const char *content_type;            /* CONTENT_TYPE as sent, NULL when absent */
    int body_kind;                       /* REQUEST_TYPE_* or BODY_* */
    char boundary[REQUEST_BOUNDARY_MAX]; /* multipart boundary, unquoted; "" otherwise */
    long long content_length;            /* bytes, or REQUEST_LENGTH_* */
    const char *remote_addr;             /* REMOTE_ADDR, NULL when absent */
    const char *origin;                  /* HTTP_ORIGIN, NULL when absent */
    const char *authorization;           /* HTTP_AUTHORIZATION, NULL when absent */
    const char *uri; /* REQUEST_URI, or SCRIPT_NAME: for the log, after redaction */
};

/* The value of name in envp (NULL-terminated "NAME=value" strings), or NULL. */
const char *request_env(char *const *envp, const char *name);

/* Fills out from envp. Never fails: what is missing or odd is recorded for the routes. */
void request_parse(char *const *envp, struct request *out);

/* The route of a URL path (len bytes; a query string after '?' is ignored): ROUTE_*. Matches
 * the last two segments, with or without a trailing slash, so a server that mounts us under a
 * prefix ("/auth/api/login/") still routes. Repeated slashes count as one. */
int request_route(const char *path, size_t len);

/* Classifies a Content-Type value: BODY_FORM, BODY_JSON, BODY_MULTIPART (boundary copied,
 * unquoted, into boundary, REQUEST_BOUNDARY_MAX bytes; "" when missing or too long),
 * REQUEST_TYPE_NONE for NULL, or REQUEST_TYPE_UNSUPPORTED (another type, or a charset other
 * than UTF-8). Media type and parameter names ignore case. */
int request_content_type(const char *value, char *boundary);

/* Parses CONTENT_LENGTH: the number, REQUEST_LENGTH_ABSENT (NULL or "") or
 * REQUEST_LENGTH_INVALID. */
long long request_content_length(const char *value);

#endif
