/* fcgi_fixed.c -- a bare libfcgi responder, the yardstick for login-fcgi's logins/s.
 *
 * The least a login responder can do: accept each request, read its body (CONTENT_LENGTH
 * bytes, as login-fcgi does), and answer 200 with a fixed token in the same headers and body
 * shape login-fcgi sends. No parsing, no database, no hash, no log line. bench/run.sh spawns it
 * from the same lighttpd configuration (bench/lighttpd.conf: same socket, same process count)
 * and drives it with the same wrk + bench/login.lua, right after login-fcgi, so the ratio of the
 * two rates says how much of what FastCGI allows here login-fcgi's own work takes.
 *
 * Usage: spawned by a web server with the listening socket on fd 0 (lighttpd's bin-path). */
#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A 40-hex-digit token, the shape of every real one. */
#define FIXED_RESPONSE                                                                             \
    "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: 52\r\n"                   \
    "Cache-Control: no-store\r\nVary: Origin\r\n\r\n"                                              \
    "{\"token\":\"0123456789abcdef0123456789abcdef01234567\"}"

/* Reads and drops the request's body, as a real responder must before answering. */
static void drain_body(FCGX_Request *req) {
    const char *length = FCGX_GetParam("CONTENT_LENGTH", req->envp);
    long left = length ? strtol(length, NULL, 10) : 0;
    char buf[4096];
    while (left > 0) {
        int n = FCGX_GetStr(buf, left > (long)sizeof buf ? (int)sizeof buf : (int)left, req->in);
        if (n <= 0)
            break;
        left -= n;
    }
}

int main(void) {
    FCGX_Request req;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
        fprintf(stderr, "fcgi_fixed: cannot initialise libfcgi\n");
        return 1;
    }
    while (FCGX_Accept_r(&req) >= 0) {
        drain_body(&req);
        FCGX_PutStr(FIXED_RESPONSE, (int)strlen(FIXED_RESPONSE), req.out);
        FCGX_Finish_r(&req);
    }
    return 0;
}
