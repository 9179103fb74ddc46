/* test_login_request.c -- login-fcgi/request.c and response.c: routing as each web server
 * passes the path, content types, lengths, the Authorization header, and the CGI output. */
#include "test.h"

#include "../../login-fcgi/body.h"
#include "../../login-fcgi/request.h"
#include "../../login-fcgi/response.h"

static int route(const char *path) {
    return request_route(path, strlen(path));
}

static void test_routes(void) {
    TEST("login_request: route: login and logout, with and without the slash");
    CHECK_INT(route("/api/login/"), ROUTE_LOGIN);
    CHECK_INT(route("/api/login"), ROUTE_LOGIN);
    CHECK_INT(route("/api/logout/"), ROUTE_LOGOUT);
    CHECK_INT(route("/api/logout"), ROUTE_LOGOUT);
    TEST("login_request: route: publish, with and without the slash, under a prefix");
    CHECK_INT(route("/api/publish/"), ROUTE_PUBLISH);
    CHECK_INT(route("/api/publish"), ROUTE_PUBLISH);
    CHECK_INT(route("/app/api/publish/?x=1"), ROUTE_PUBLISH);
    CHECK_INT(route("/api/publishx"), ROUTE_NONE);
    TEST("login_request: route: a query is ignored, repeated slashes count as one, a prefix is "
         "allowed");
    CHECK_INT(route("/api/login/?next=/x"), ROUTE_LOGIN);
    CHECK_INT(route("//api//login//"), ROUTE_LOGIN);
    CHECK_INT(route("/auth/api/logout/"), ROUTE_LOGOUT);
    TEST("login_request: route: anything else is none");
    CHECK_INT(route("/"), ROUTE_NONE);
    CHECK_INT(route(""), ROUTE_NONE);
    CHECK_INT(route("/api/"), ROUTE_NONE);
    CHECK_INT(route("/api/login/x"), ROUTE_NONE);
    CHECK_INT(route("/api/loginx"), ROUTE_NONE);
    CHECK_INT(route("/xapi/login"), ROUTE_NONE);
    CHECK_INT(route("/login"), ROUTE_NONE);
    CHECK_INT(route("/API/LOGIN"), ROUTE_NONE);
    TEST("login_request: route: a path longer than we keep is none");
    char long_path[3000];
    memset(long_path, 'a', sizeof long_path);
    memcpy(long_path + sizeof long_path - 12, "/api/login/", 12);
    CHECK_INT(route(long_path), ROUTE_NONE);
}

static void test_parse(void) {
    struct request req;
    TEST("login_request: parse: lighttpd prefix split into SCRIPT_NAME + PATH_INFO");
    char *lighttpd[] = {"REQUEST_METHOD=POST",
                        "SCRIPT_NAME=/api",
                        "PATH_INFO=/login/",
                        "REQUEST_URI=/api/login/?a=b",
                        "CONTENT_TYPE=application/json",
                        "CONTENT_LENGTH=12",
                        "REMOTE_ADDR=127.0.0.1",
                        "HTTP_ORIGIN=http://x",
                        "HTTP_AUTHORIZATION=Token abc",
                        NULL};
    request_parse(lighttpd, &req);
    CHECK_INT(req.route, ROUTE_LOGIN);
    CHECK_STR(req.method, "POST");
    CHECK_INT(req.body_kind, BODY_JSON);
    CHECK_INT(req.content_length, 12);
    CHECK_STR(req.remote_addr, "127.0.0.1");
    CHECK_STR(req.origin, "http://x");
    CHECK_STR(req.authorization, "Token abc");
    CHECK_STR(req.uri, "/api/login/?a=b");
    TEST("login_request: parse: Apache repeats the path in PATH_INFO");
    char *apache[] = {"SCRIPT_NAME=/api/logout", "PATH_INFO=/api/logout/", NULL};
    request_parse(apache, &req);
    CHECK_INT(req.route, ROUTE_LOGOUT);
    CHECK_STR(req.method, "");
    CHECK_INT(req.body_kind, REQUEST_TYPE_NONE);
    CHECK_INT(req.content_length, REQUEST_LENGTH_ABSENT);
    CHECK_STR(req.uri, "/api/logout");
    TEST("login_request: parse: only REQUEST_URI routes (a script mapped elsewhere)");
    char *nginx[] = {"SCRIPT_NAME=/login-fcgi", "REQUEST_URI=/api/login", "CONTENT_TYPE=", NULL};
    request_parse(nginx, &req);
    CHECK_INT(req.route, ROUTE_LOGIN);
    CHECK(req.content_type == NULL);
    TEST("login_request: parse: nothing routes");
    char *none[] = {"SCRIPT_NAME=/x", "REQUEST_URI=/y", NULL};
    request_parse(none, &req);
    CHECK_INT(req.route, ROUTE_NONE);
    TEST("login_request: parse: a repeated name: the first wins; names are exact (no prefix, "
         "no entry without '='); NULL envp");
    char *odd[] = {"REQUEST_METHOD",
                   "REQUEST_METHODX=GET",
                   "REQUEST_METHOD=POST",
                   "REQUEST_METHOD=PUT",
                   "=x",
                   "REMOTE_ADDR=",
                   "SCRIPT_NAME=/api/login",
                   NULL};
    request_parse(odd, &req);
    CHECK_STR(req.method, "POST");
    CHECK_STR(req.remote_addr, "");
    CHECK_INT(req.route, ROUTE_LOGIN);
    CHECK_STR(req.uri, "/api/login");
    request_parse(NULL, &req);
    CHECK_STR(req.method, "");
    CHECK_INT(req.route, ROUTE_NONE);
    CHECK(req.uri == NULL && req.remote_addr == NULL);
    TEST("login_request: env: exact names only");
    char *env[] = {"AB=1", "A=2", "ABC", NULL};
    CHECK_STR(request_env(env, "A"), "2");
    CHECK(request_env(env, "ABC") == NULL);
    CHECK(request_env(NULL, "A") == NULL);
}

static void test_content_type(void) {
    char b[REQUEST_BOUNDARY_MAX];
    TEST("login_request: content type: the three we read, any case, with utf-8 charsets");
    CHECK_INT(request_content_type("application/x-www-form-urlencoded", b), BODY_FORM);
    CHECK_INT(request_content_type("Application/JSON; charset=UTF-8", b), BODY_JSON);
    CHECK_INT(request_content_type(" application/json;charset=\"utf8\"", b), BODY_JSON);
    CHECK_INT(request_content_type("multipart/form-data; boundary=----abc", b), BODY_MULTIPART);
    CHECK_STR(b, "----abc");
    CHECK_INT(request_content_type("multipart/form-data; BOUNDARY=\"a b\"; charset=utf-8", b),
              BODY_MULTIPART);
    CHECK_STR(b, "a b");
    TEST("login_request: content type: absent");
    CHECK_INT(request_content_type(NULL, b), REQUEST_TYPE_NONE);
    TEST("login_request: content type: others, and other charsets, are unsupported");
    CHECK_INT(request_content_type("text/plain", b), REQUEST_TYPE_UNSUPPORTED);
    CHECK_INT(request_content_type("application/jsonx", b), REQUEST_TYPE_UNSUPPORTED);
    CHECK_INT(request_content_type("application/json; charset=latin-1", b),
              REQUEST_TYPE_UNSUPPORTED);
    CHECK_INT(
        request_content_type("application/x-www-form-urlencoded; charset="
                             "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                             "aaaaaaaaaaaaaaaaaaaaaa\"",
                             b),
        REQUEST_TYPE_UNSUPPORTED);
    TEST("login_request: content type: multipart without or with a too long boundary keeps it "
         "empty");
    CHECK_INT(request_content_type("multipart/form-data", b), BODY_MULTIPART);
    CHECK_STR(b, "");
    CHECK_INT(request_content_type("multipart/form-data; boundary=0123456789012345678901234567890"
                                   "1234567890123456789012345678901234567890",
                                   b),
              BODY_MULTIPART);
    CHECK_STR(b, "");
    TEST("login_request: content length: numbers, absent, invalid");
    CHECK_INT(request_content_length("0"), 0);
    CHECK_INT(request_content_length("16385"), 16385);
    CHECK_INT(request_content_length(NULL), REQUEST_LENGTH_ABSENT);
    CHECK_INT(request_content_length(""), REQUEST_LENGTH_ABSENT);
    CHECK_INT(request_content_length("-1"), REQUEST_LENGTH_INVALID);
    CHECK_INT(request_content_length("12a"), REQUEST_LENGTH_INVALID);
    CHECK_INT(request_content_length("99999999999999999999999"), REQUEST_LENGTH_INVALID);
}

static void test_response(void) {
    struct response r;
    char out[RESPONSE_OUT_MAX];
    TEST("login_request: response: a JSON body with the common headers");
    response_init(&r, 200);
    response_header(&r, "Vary", "Origin");
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "token", "abc");
    CHECK_INT(response_json(&r, json), 0);
    size_t n = response_serialize(&r, out, sizeof out);
    CHECK_STR(out, "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                   "Content-Length: 15\r\nVary: Origin\r\n\r\n{\"token\":\"abc\"}");
    CHECK_INT(n, strlen(out));
    TEST("login_request: response: 204 has no body and no Content-Type");
    response_init(&r, 204);
    response_serialize(&r, out, sizeof out);
    CHECK_STR(out, "Status: 204 No Content\r\nCache-Control: no-store\r\n\r\n");
    TEST("login_request: response: detail, and the serialized text does not fit");
    response_detail(&r, 404, "Not found.");
    CHECK_INT(r.status, 404);
    CHECK_STR(r.body, "{\"detail\":\"Not found.\"}");
    CHECK_INT(response_serialize(&r, out, 10), 0);
    TEST("login_request: response: serialize needs room for the text and its terminator");
    n = response_serialize(&r, out, sizeof out);
    CHECK(n > 0);
    CHECK_INT(response_serialize(&r, out, n), 0);
    CHECK_INT(response_serialize(&r, out, n + 1), n);
    TEST("login_request: response: a header that does not fit is dropped whole, the others kept");
    response_init(&r, 204);
    response_header(&r, "Vary", "Origin");
    char long_value[RESPONSE_HEADERS_MAX];
    memset(long_value, 'h', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    response_header(&r, "X-Huge", long_value);
    response_header(&r, "Allow", "POST");
    CHECK_STR(r.headers, "Vary: Origin\r\nAllow: POST\r\n");
    CHECK_INT(r.headers_len, strlen(r.headers));
    TEST("login_request: response: a NULL or too large JSON gives the fallback body");
    CHECK_INT(response_json(&r, NULL), -1);
    CHECK_STR(r.body, "{\"detail\":\"internal error\"}");
    char big[RESPONSE_BODY_MAX + 10];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "detail", big);
    CHECK_INT(response_json(&r, json), -1);
    TEST("login_request: response: a header that does not fit is dropped");
    response_init(&r, 200);
    char huge[RESPONSE_HEADERS_MAX];
    memset(huge, 'h', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    response_header(&r, "X", huge);
    CHECK_INT(r.headers_len, 0);
    CHECK_STR(r.headers, "");
    TEST("login_request: response: reason phrases");
    CHECK_STR(response_reason(413), "Payload Too Large");
    CHECK_STR(response_reason(429), "Too Many Requests");
    CHECK_STR(response_reason(599), "Unknown");
}

void test_login_request(void) {
    test_routes();
    test_parse();
    test_content_type();
    test_response();
}
