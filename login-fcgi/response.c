/* response.c -- status line, headers and JSON body of a login-fcgi response, as CGI output.
 *
 * The output is "Status: 200 OK\r\n" then headers, a blank line and the body: the CGI form that
 * lighttpd, Apache and nginx all turn into an HTTP response. Headers common to every response
 * (Cache-Control, and Content-Type/Content-Length when there is a body) are added here, so no
 * route can forget them. */
#include "response.h"

#include <stdio.h>
#include <string.h>

static const char fallback_body[] = "{\"detail\":\"internal error\"}";

void response_init(struct response *r, int status) {
    r->status = status;
    r->headers_len = 0;
    r->headers[0] = '\0';
    r->body_len = 0;
    r->body[0] = '\0';
}

void response_header(struct response *r, const char *name, const char *value) {
    size_t room = sizeof r->headers - r->headers_len;
    int n = snprintf(r->headers + r->headers_len, room, "%s: %s\r\n", name, value);
    if (n > 0 && (size_t)n < room)
        r->headers_len += (size_t)n;
    else
        r->headers[r->headers_len] = '\0';
}

int response_json(struct response *r, cJSON *json) {
    int ok = json && cJSON_PrintPreallocated(json, r->body, (int)sizeof r->body, 0);
    cJSON_Delete(json);
    if (!ok) {
        memcpy(r->body, fallback_body, sizeof fallback_body);
        r->body_len = sizeof fallback_body - 1;
        return -1;
    }
    r->body_len = strlen(r->body);
    return 0;
}

void response_member(struct response *r, int status, const char *name, const char *value) {
    r->status = status;
    cJSON *json = cJSON_CreateObject();
    if (json && !cJSON_AddStringToObject(json, name, value)) {
        cJSON_Delete(json);
        json = NULL;
    }
    response_json(r, json);
}

void response_detail(struct response *r, int status, const char *text) {
    response_member(r, status, "detail", text);
}

const char *response_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

size_t response_serialize(const struct response *r, char *out, size_t out_len) {
    int n;
    if (r->body_len > 0)
        n = snprintf(out, out_len,
                     "Status: %d %s\r\nContent-Type: application/json\r\n"
                     "Cache-Control: no-store\r\nContent-Length: %zu\r\n%s\r\n%s",
                     r->status, response_reason(r->status), r->body_len, r->headers, r->body);
    else
        n = snprintf(out, out_len, "Status: %d %s\r\nCache-Control: no-store\r\n%s\r\n", r->status,
                     response_reason(r->status), r->headers);
    return n > 0 && (size_t)n < out_len ? (size_t)n : 0;
}
