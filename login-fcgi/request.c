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
    size_t script_len = strlen(script), info_len = strlen(info), n = 0;
    if (script_len && strncmp(info, script, script_len) == 0)
        script_len = 0; /* PATH_INFO repeats SCRIPT_NAME (Apache): PATH_INFO alone */
    int route = ROUTE_NONE;
    if (script_len + info_len < sizeof joined) {
        memcpy(joined, script, script_len);
        memcpy(joined + script_len, info, info_len);
        n = script_len + info_len;
        route = request_route(joined, n);
    }
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

/* The parameters request_parse reads, in the order of wanted_params. */
enum param {
    P_METHOD,
    P_SCRIPT,
    P_INFO,
    P_URI,
    P_TYPE,
    P_LENGTH,
    P_ADDR,
    P_ORIGIN,
    P_AUTHORIZATION,
    N_PARAMS
};

static const struct {
    const char *name;
    size_t len;
} wanted_params[N_PARAMS] = {
    [P_METHOD] = {"REQUEST_METHOD", 14},
    [P_SCRIPT] = {"SCRIPT_NAME", 11},
    [P_INFO] = {"PATH_INFO", 9},
    [P_URI] = {"REQUEST_URI", 11},
    [P_TYPE] = {"CONTENT_TYPE", 12},
    [P_LENGTH] = {"CONTENT_LENGTH", 14},
    [P_ADDR] = {"REMOTE_ADDR", 11},
    [P_ORIGIN] = {"HTTP_ORIGIN", 11},
    [P_AUTHORIZATION] = {"HTTP_AUTHORIZATION", 18},
};

/* Every wanted parameter's value into values (NULL when absent), in one pass over envp (a web
 * server sends twenty-odd): the first of a repeated name wins, as with request_env. */
static void find_params(char *const *envp, const char *values[N_PARAMS]) {
    for (int i = 0; i < N_PARAMS; i++)
        values[i] = NULL;
    for (; envp && *envp; envp++) {
        const char *eq = strchr(*envp, '=');
        size_t len = eq ? (size_t)(eq - *envp) : 0;
        for (int i = 0; len && i < N_PARAMS; i++) {
            if (len == wanted_params[i].len && !values[i] &&
                memcmp(*envp, wanted_params[i].name, len) == 0) {
                values[i] = eq + 1;
                break;
            }
        }
    }
}

void request_parse(char *const *envp, struct request *out) {
    const char *v[N_PARAMS];
    find_params(envp, v);
    out->method = v[P_METHOD] ? v[P_METHOD] : "";
    out->route = route_of(v[P_SCRIPT], v[P_INFO], v[P_URI]);
    out->content_type = v[P_TYPE] && *v[P_TYPE] ? v[P_TYPE] : NULL;
    out->body_kind = request_content_type(out->content_type, out->boundary);
    out->content_length = request_content_length(v[P_LENGTH]);
    out->remote_addr = v[P_ADDR];
    out->origin = v[P_ORIGIN];
    out->authorization = v[P_AUTHORIZATION];
    out->uri = v[P_URI] ? v[P_URI] : v[P_SCRIPT];
}
