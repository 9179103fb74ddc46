/* test_login_body.c -- login-fcgi/body.c: the form, JSON and multipart parsers, every error. */
#include "test.h"

#include "../../login-fcgi/body.h"

#include <stdlib.h>

/* Parses text (copied into a buffer of len + 1 bytes) as kind; returns the result code and
 * keeps the fields and message in the static variables below. */
static char buf[4096];
static struct body_fields f;
static char err[128];

static int parse(int kind, const char *text, size_t len, const char *boundary) {
    memcpy(buf, text, len);
    err[0] = '\0';
    return body_parse(kind, buf, len, boundary, &f, err, sizeof err);
}

#define PARSE(kind, lit, boundary) parse((kind), (lit), sizeof(lit) - 1, (boundary))

static void test_form(void) {
    /* 1 */ TEST("form: both fields decoded");
    CHECK_INT(PARSE(BODY_FORM, "username=ann+lee&password=p%40ss%2Bw", NULL), BODY_OK);
    CHECK_STR(f.username, "ann lee");
    CHECK_STR(f.password, "p@ss+w");
    CHECK_INT(f.password_len, 6);
    /* 2 */ TEST("form: last value wins on duplicates");
    CHECK_INT(PARSE(BODY_FORM, "username=a&username=b&password=1&password=2", NULL), BODY_OK);
    CHECK_STR(f.username, "b");
    CHECK_STR(f.password, "2");
    /* 3 */ TEST("form: a missing field is NULL, other fields ignored");
    CHECK_INT(PARSE(BODY_FORM, "username=ann&x=1&&", NULL), BODY_OK);
    CHECK_STR(f.username, "ann");
    CHECK(f.password == NULL);
    /* 4 */ TEST("form: a pair without '=' is the empty value");
    CHECK_INT(PARSE(BODY_FORM, "password&username=a", NULL), BODY_OK);
    CHECK_STR(f.password, "");
    CHECK_INT(f.password_len, 0);
    /* 5 */ TEST("form: empty body");
    CHECK_INT(PARSE(BODY_FORM, "", NULL), BODY_OK);
    CHECK(f.username == NULL && f.password == NULL);
    /* 6 */ TEST("form: bad percent-escape (not hex)");
    CHECK_INT(PARSE(BODY_FORM, "username=%zz&password=a", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "form: bad percent-escape");
    /* 7 */ TEST("form: truncated percent-escape at the end");
    CHECK_INT(PARSE(BODY_FORM, "username=a&password=%4", NULL), BODY_ERR_MALFORMED);
    /* 8 */ TEST("form: truncated percent-escape before '&'");
    CHECK_INT(PARSE(BODY_FORM, "username=%4&password=a", NULL), BODY_ERR_MALFORMED);
    /* 9 */ TEST("form: bad escape in a field we ignore is still an error");
    CHECK_INT(PARSE(BODY_FORM, "x%=1&username=a&password=b", NULL), BODY_ERR_MALFORMED);
    /* 10 */ TEST("form: decoded bytes that are not UTF-8");
    CHECK_INT(PARSE(BODY_FORM, "username=%ff&password=a", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "username: not UTF-8");
    CHECK_INT(PARSE(BODY_FORM, "username=a&password=%c3%28", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "password: not UTF-8");
    /* 11 */ TEST("form: a NUL in the username is refused, in the password kept");
    CHECK_INT(PARSE(BODY_FORM, "username=a%00b&password=a", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "username: contains a NUL byte");
    CHECK_INT(PARSE(BODY_FORM, "username=a&password=x%00y", NULL), BODY_OK);
    CHECK_INT(f.password_len, 3);
    CHECK(memcmp(f.password, "x\0y", 3) == 0);
    /* 12 */ TEST("form: multi-byte UTF-8 passes");
    CHECK_INT(PARSE(BODY_FORM, "username=%C3%A9l%C3%A8ve&password=%E2%82%AC", NULL), BODY_OK);
    CHECK_STR(f.username, "\xc3\xa9l\xc3\xa8ve");
    /* 13 */ TEST("form: an encoded name matches");
    CHECK_INT(PARSE(BODY_FORM, "user%6Eame=a&pass%77ord=b", NULL), BODY_OK);
    CHECK_STR(f.username, "a");
    CHECK_STR(f.password, "b");
}

static void test_json(void) {
    /* 1 */ TEST("json: both fields");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\": \"ann\", \"password\": \"p\\\"w\"}", NULL), BODY_OK);
    CHECK_STR(f.username, "ann");
    CHECK_STR(f.password, "p\"w");
    /* 2 */ TEST("json: last key wins, other keys of any type ignored");
    CHECK_INT(PARSE(BODY_JSON,
                    "{\"username\":\"a\",\"x\":[1,{}],\"username\":\"b\",\"password\":\"c\"}",
                    NULL),
              BODY_OK);
    CHECK_STR(f.username, "b");
    /* 3 */ TEST("json: a missing field is NULL");
    CHECK_INT(PARSE(BODY_JSON, " {\"password\":\"x\"} \n", NULL), BODY_OK);
    CHECK(f.username == NULL);
    CHECK_STR(f.password, "x");
    /* 4 */ TEST("json: unicode escapes decode to UTF-8");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"\\u00e9\\ud83d\\ude00\",\"password\":\"\"}", NULL),
              BODY_OK);
    CHECK_STR(f.username, "\xc3\xa9\xf0\x9f\x98\x80");
    /* 5 */ TEST("json: invalid JSON");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: invalid JSON");
    CHECK_INT(PARSE(BODY_JSON, "", NULL), BODY_ERR_MALFORMED);
    /* 6 */ TEST("json: text after the value");
    CHECK_INT(PARSE(BODY_JSON, "{} {}", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: text after the value");
    /* 7 */ TEST("json: not an object");
    CHECK_INT(PARSE(BODY_JSON, "[\"username\"]", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: not an object");
    CHECK_INT(PARSE(BODY_JSON, "\"x\"", NULL), BODY_ERR_MALFORMED);
    /* 8 */ TEST("json: non-string username, then password");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":1,\"password\":\"x\"}", NULL), BODY_ERR_NOT_STRING);
    CHECK_STR(err, "username");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"a\",\"password\":null}", NULL),
              BODY_ERR_NOT_STRING);
    CHECK_STR(err, "password");
    /* 9 */ TEST("json: raw bytes that are not UTF-8");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"\xff\",\"password\":\"x\"}", NULL),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: not UTF-8");
    /* 10 */ TEST("json: the \\u0000 escape is refused, an escaped backslash before u0000 is not");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"a\\u0000b\",\"password\":\"x\"}", NULL),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: \\u0000 in a string");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"a\\\\u0000\",\"password\":\"x\"}", NULL), BODY_OK);
    CHECK_STR(f.username, "a\\u0000");
    /* 11 */ TEST("json: a lone surrogate escape does not parse");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"\\ud800\",\"password\":\"x\"}", NULL),
              BODY_ERR_MALFORMED);
}

#define MP_HEAD(name) "--XyZ\r\nContent-Disposition: form-data; name=\"" name "\"\r\n\r\n"

static void test_multipart(void) {
    /* 1 */ TEST("multipart: two fields, closing delimiter, epilogue ignored");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    MP_HEAD("username") "ann\r\n" MP_HEAD("password") "p w\r\n--XyZ--\r\njunk",
                    "XyZ"),
              BODY_OK);
    CHECK_STR(f.username, "ann");
    CHECK_STR(f.password, "p w");
    /* 2 */ TEST("multipart: preamble, last value wins, unquoted name, other headers");
    CHECK_INT(
        PARSE(BODY_MULTIPART,
              "preamble\r\n" MP_HEAD("username") "a\r\n--XyZ\r\n"
                                                 "content-type: text/plain\r\nCONTENT-DISPOSITION: "
                                                 "form-data; name=username"
                                                 "\r\n\r\nb\r\n" MP_HEAD("password") "\r\n--XyZ--",
              "XyZ"),
        BODY_OK);
    CHECK_STR(f.username, "b");
    CHECK_STR(f.password, "");
    /* 3 */ TEST("multipart: a file part and a nameless part are skipped");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    "--XyZ\r\nContent-Disposition: form-data; name=\"username\"; filename=\"f\""
                    "\r\n\r\nfile\r\n--XyZ\r\n\r\nnohdr\r\n--XyZ\r\nContent-Disposition: form-data"
                    "\r\n\r\nnoname\r\n--XyZ--",
                    "XyZ"),
              BODY_OK);
    CHECK(f.username == NULL && f.password == NULL);
    /* 4 */ TEST("multipart: a value may hold CRLF and dashes");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("password") "a\r\n--b\r\n--XyZ--", "XyZ"), BODY_OK);
    CHECK_STR(f.password, "a\r\n--b");
    /* 5 */ TEST("multipart: missing or too long boundary");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("username") "a\r\n--XyZ--", ""), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: missing or bad boundary");
    CHECK_INT(PARSE(BODY_MULTIPART, "x", NULL), BODY_ERR_MALFORMED);
    CHECK_INT(PARSE(BODY_MULTIPART, "x",
                    "01234567890123456789012345678901234567890123456789012345678901234567890"),
              BODY_ERR_MALFORMED);
    /* 6 */ TEST("multipart: no boundary line at all");
    CHECK_INT(PARSE(BODY_MULTIPART, "username=a", "XyZ"), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: no boundary line");
    /* 7 */ TEST("multipart: junk after a boundary");
    CHECK_INT(PARSE(BODY_MULTIPART, "--XyZjunk\r\n", "XyZ"), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: bad boundary line");
    /* 8 */ TEST("multipart: headers never end");
    CHECK_INT(PARSE(BODY_MULTIPART, "--XyZ\r\nContent-Disposition: form-data", "XyZ"),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: unterminated headers");
    /* 9 */ TEST("multipart: a part never ends");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("username") "ann", "XyZ"), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: unterminated part");
    /* 10 */ TEST("multipart: body ends right after a delimiter");
    CHECK_INT(PARSE(BODY_MULTIPART, "--XyZ", "XyZ"), BODY_ERR_MALFORMED);
    /* 11 */ TEST("multipart: a value that is not UTF-8");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("username") "\xc0\xaf\r\n--XyZ--", "XyZ"),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "username: not UTF-8");
    /* 12 */ TEST("multipart: a quoted name with a backslash escape");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    "--XyZ\r\nContent-Disposition: form-data; name=\"user\\name\"\r\n\r\nq\r\n"
                    "--XyZ--",
                    "XyZ"),
              BODY_OK);
    CHECK_STR(f.username, "q");
    /* 13 */ TEST("multipart: transport padding after the boundary");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    "--XyZ  \r\nContent-Disposition: form-data; name=password\r\n\r\nz\r\n--XyZ--",
                    "XyZ"),
              BODY_OK);
    CHECK_STR(f.password, "z");
}

static void test_unknown_kind(void) {
    /* 1 */ TEST("body_parse: an unknown kind");
    CHECK_INT(PARSE(99, "x", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "body: unknown encoding");
}

void test_login_body(void) {
    test_form();
    test_json();
    test_multipart();
    test_unknown_kind();
}
