/* response.c -- status line, headers and JSON body of a login-fcgi response, as CGI output.
 *
 * The output is "Status: 200 OK\r\n" then headers, a blank line and the body: the CGI form that
 * lighttpd, Apache and nginx all turn into an HTTP response. Headers common to every response
 * (Cache-Control, and Content-Type/Content-Length when there is a body) are added here, so no
 * route can forget them. */
#include "response.h"
#include "text.h"

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

/* Appends the n bytes of s at out + *len when they fit in out_len with a terminator; returns 0,
 * or -1 (nothing appended) when they do not. */
static int put(char *out, size_t out_len, size_t *len, const char *s, size_t n) {
    if (n >= out_len - *len)
        return -1;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = '\0';
    return 0;
}

void response_header(struct response *r, const char *name, const char *value) {
    size_t len = r->headers_len;
    if (put(r->headers, sizeof r->headers, &len, name, strlen(name)) == 0 &&
        put(r->headers, sizeof r->headers, &len, ": ", 2) == 0 &&
        put(r->headers, sizeof r->headers, &len, value, strlen(value)) == 0 &&
        put(r->headers, sizeof r->headers, &len, "\r\n", 2) == 0)
        r->headers_len = len;
    r->headers[r->headers_len] = '\0'; /* a header that did not fit is dropped whole */
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
    static const char json_head[] = "\r\nContent-Type: application/json\r\n"
                                    "Cache-Control: no-store\r\nContent-Length: ";
    static const char plain_head[] = "\r\nCache-Control: no-store\r\n";
    const char *reason = response_reason(r->status);
    char number[24];
    size_t len = 0;
    int rc = out_len > 0 ? 0 : -1;
    /* Built piece by piece (snprintf was a tenth of a login's own work); a piece that does not
     * fit makes the whole 0, as before. */
    if (rc == 0 && r->status >= 0)
        rc = put(out, out_len, &len, "Status: ", 8) |
             put(out, out_len, &len, number,
                 text_put_decimal(number, (unsigned long long)r->status)) |
             put(out, out_len, &len, " ", 1) | put(out, out_len, &len, reason, strlen(reason));
    else
        rc = -1;
    if (rc == 0 && r->body_len > 0)
        rc = put(out, out_len, &len, json_head, sizeof json_head - 1) |
             put(out, out_len, &len, number, text_put_decimal(number, r->body_len)) |
             put(out, out_len, &len, "\r\n", 2);
    else if (rc == 0)
        rc = put(out, out_len, &len, plain_head, sizeof plain_head - 1);
    if (rc == 0)
        rc = put(out, out_len, &len, r->headers, r->headers_len) |
             put(out, out_len, &len, "\r\n", 2) | put(out, out_len, &len, r->body, r->body_len);
    return rc == 0 ? len : 0;
}
