/* request.c -- the parts of a CGI/FastCGI request login-fcgi routes on.
 *
 * Web servers disagree on SCRIPT_NAME, PATH_INFO and REQUEST_URI: lighttpd splits a prefix
 * match into SCRIPT_NAME + PATH_INFO, nginx passes whatever fastcgi_params says, Apache's
 * mod_proxy_fcgi may repeat the path in both. So the route is looked for first in
 * SCRIPT_NAME + PATH_INFO (PATH_INFO alone when it already starts with SCRIPT_NAME), then in
 * REQUEST_URI without its query, and only the last two segments decide (see request_route).
 *
 * Content types read: application/x-www-form-urlencoded, application/json and
 * multipart/form-data (with its boundary), each with no charset or charset=utf-8. */
#include "request.h"

#include "body.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATH_MAX_LEN 2048 /* longer paths are no route of ours */

const char *request_env(char *const *envp, const char *name) {
    size_t n = strlen(name);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

/* 1 when path[0..len) ends with the segment pair suffix ("/api/login"). */
static int ends_with(const char *path, size_t len, const char *suffix) {
    size_t n = strlen(suffix);
    return len >= n && memcmp(path + len - n, suffix, n) == 0;
}

int request_route(const char *path, size_t len) {
    char clean[PATH_MAX_LEN];
    size_t n = 0;
    const char *q = memchr(path, '?', len);
    if (q)
        len = (size_t)(q - path);
    if (len >= sizeof clean)
        return ROUTE_NONE;
    for (size_t i = 0; i < len; i++)
        if (path[i] != '/' || n == 0 || clean[n - 1] != '/')
            clean[n++] = path[i];
    if (n > 0 && clean[n - 1] == '/')
        n--;
    if (ends_with(clean, n, "/api/login"))
        return ROUTE_LOGIN;
    if (ends_with(clean, n, "/api/logout"))
        return ROUTE_LOGOUT;
    if (ends_with(clean, n, "/api/publish"))
        return ROUTE_PUBLISH;
    return ROUTE_NONE;
}

/* The route from SCRIPT_NAME and PATH_INFO, then from REQUEST_URI (each may be NULL). */
static int route_of(const char *script, const char *info, const char *uri) {
    script = script ? script : "";
    info = info ? info : "";
    char joined[PATH_MAX_LEN];
    int n;
    if (*script && strncmp(info, script, strlen(script)) == 0)
        n = snprintf(joined, sizeof joined, "%s", info);
    else
        n = snprintf(joined, sizeof joined, "%s%s", script, info);
    int route = n > 0 && (size_t)n < sizeof joined ? request_route(joined, (size_t)n) : ROUTE_NONE;
    if (route == ROUTE_NONE && uri)
        route = request_route(uri, strlen(uri));
    return route;
}

/* Copies a parameter value (token or quoted-string) starting at s into out (out_len bytes);
 * returns 0, or -1 when it does not fit. */
static int param_value(const char *s, char *out, size_t out_len) {
    size_t n = 0;
    int quoted = *s == '"';
    s += quoted;
    for (; *s && (quoted ? *s != '"' : (*s != ';' && *s != ' ' && *s != '\t')); s++) {
        if (quoted && *s == '\\' && s[1])
            s++;
        if (n + 1 >= out_len)
            return -1;
        out[n++] = *s;
    }
    out[n] = '\0';
    return 0;
}

int request_content_type(const char *value, char *boundary) {
    boundary[0] = '\0';
    if (!value)
        return REQUEST_TYPE_NONE;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t type_len = strcspn(value, "; \t");
    int kind = REQUEST_TYPE_UNSUPPORTED;
    if (type_len == 33 && strncasecmp(value, "application/x-www-form-urlencoded", 33) == 0)
        kind = BODY_FORM;
    else if (type_len == 16 && strncasecmp(value, "application/json", 16) == 0)
        kind = BODY_JSON;
    else if (type_len == 19 && strncasecmp(value, "multipart/form-data", 19) == 0)
        kind = BODY_MULTIPART;
    if (kind == REQUEST_TYPE_UNSUPPORTED)
        return kind;
    for (const char *p = strchr(value, ';'); p; p = strchr(p + 1, ';')) {
        const char *name = p + 1;
        while (*name == ' ' || *name == '\t')
            name++;
        char text[REQUEST_BOUNDARY_MAX];
        if (strncasecmp(name, "charset=", 8) == 0) {
            if (param_value(name + 8, text, sizeof text) < 0 ||
                (strcasecmp(text, "utf-8") != 0 && strcasecmp(text, "utf8") != 0))
                return REQUEST_TYPE_UNSUPPORTED;
        } else if (kind == BODY_MULTIPART && strncasecmp(name, "boundary=", 9) == 0) {
            if (param_value(name + 9, text, sizeof text) == 0)
                memcpy(boundary, text, strlen(text) + 1);
        }
    }
    return kind;
}

long long request_content_length(const char *value) {
    if (!value || !*value)
        return REQUEST_LENGTH_ABSENT;
    long long n = 0;
    for (const char *p = value; *p; p++) {
        if (!isdigit((unsigned char)*p) || n > (1LL << 50))
            return REQUEST_LENGTH_INVALID;
        n = n * 10 + (*p - '0');
    }
    return n;
}

void request_parse(char *const *envp, struct request *out) {
    const char *method = request_env(envp, "REQUEST_METHOD");
    const char *script = request_env(envp, "SCRIPT_NAME");
    const char *uri = request_env(envp, "REQUEST_URI");
    out->method = method ? method : "";
    out->route = route_of(script, request_env(envp, "PATH_INFO"), uri);
    out->content_type = request_env(envp, "CONTENT_TYPE");
    if (out->content_type && !*out->content_type)
        out->content_type = NULL;
    out->body_kind = request_content_type(out->content_type, out->boundary);
    out->content_length = request_content_length(request_env(envp, "CONTENT_LENGTH"));
    out->remote_addr = request_env(envp, "REMOTE_ADDR");
    out->origin = request_env(envp, "HTTP_ORIGIN");
    out->authorization = request_env(envp, "HTTP_AUTHORIZATION");
    out->uri = uri ? uri : script;
}
