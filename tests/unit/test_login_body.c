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
    TEST("login_body: a form body's two fields are percent-decoded, + as a space");
    CHECK_INT(PARSE(BODY_FORM, "username=ann+lee&password=p%40ss%2Bw", NULL), BODY_OK);
    CHECK_STR(f.username, "ann lee");
    CHECK_STR(f.password, "p@ss+w");
    CHECK_INT(f.password_len, 6);
    TEST("login_body: in a form body the last value of a repeated field wins");
    CHECK_INT(PARSE(BODY_FORM, "username=a&username=b&password=1&password=2", NULL), BODY_OK);
    CHECK_STR(f.username, "b");
    CHECK_STR(f.password, "2");
    TEST("login_body: a field missing from a form body is NULL; other fields are ignored");
    CHECK_INT(PARSE(BODY_FORM, "username=ann&x=1&&", NULL), BODY_OK);
    CHECK_STR(f.username, "ann");
    CHECK(f.password == NULL);
    TEST("login_body: a form pair without '=' is the empty value");
    CHECK_INT(PARSE(BODY_FORM, "password&username=a", NULL), BODY_OK);
    CHECK_STR(f.password, "");
    CHECK_INT(f.password_len, 0);
    TEST("login_body: an empty form body parses, with both fields NULL");
    CHECK_INT(PARSE(BODY_FORM, "", NULL), BODY_OK);
    CHECK(f.username == NULL && f.password == NULL);
    TEST("login_body: a form percent-escape that is not hex is malformed");
    CHECK_INT(PARSE(BODY_FORM, "username=%zz&password=a", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "form: bad percent-escape");
    TEST("login_body: a form percent-escape cut by the end of the body is malformed");
    CHECK_INT(PARSE(BODY_FORM, "username=a&password=%4", NULL), BODY_ERR_MALFORMED);
    TEST("login_body: a form percent-escape cut by '&' is malformed");
    CHECK_INT(PARSE(BODY_FORM, "username=%4&password=a", NULL), BODY_ERR_MALFORMED);
    TEST("login_body: a bad escape in a form field we ignore is still malformed");
    CHECK_INT(PARSE(BODY_FORM, "x%=1&username=a&password=b", NULL), BODY_ERR_MALFORMED);
    TEST("login_body: form fields that decode to bytes that are not UTF-8 are malformed, naming "
         "the field");
    CHECK_INT(PARSE(BODY_FORM, "username=%ff&password=a", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "username: not UTF-8");
    CHECK_INT(PARSE(BODY_FORM, "username=a&password=%c3%28", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "password: not UTF-8");
    TEST("login_body: a NUL in a form's username or password is refused, naming the field");
    CHECK_INT(PARSE(BODY_FORM, "username=a%00b&password=a", NULL), BODY_ERR_NUL);
    CHECK_STR(err, "username");
    CHECK_INT(PARSE(BODY_FORM, "username=a&password=123%00", NULL), BODY_ERR_NUL);
    CHECK_STR(err, "password");
    TEST("login_body: multi-byte UTF-8 in a form body passes");
    CHECK_INT(PARSE(BODY_FORM, "username=%C3%A9l%C3%A8ve&password=%E2%82%AC", NULL), BODY_OK);
    CHECK_STR(f.username, "\xc3\xa9l\xc3\xa8ve");
    TEST("login_body: a percent-encoded form field name matches");
    CHECK_INT(PARSE(BODY_FORM, "user%6Eame=a&pass%77ord=b", NULL), BODY_OK);
    CHECK_STR(f.username, "a");
    CHECK_STR(f.password, "b");
}

static void test_json(void) {
    TEST("login_body: a JSON object's two string fields are read, escapes decoded");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\": \"ann\", \"password\": \"p\\\"w\"}", NULL), BODY_OK);
    CHECK_STR(f.username, "ann");
    CHECK_STR(f.password, "p\"w");
    TEST("login_body: in a JSON body the last of a repeated key wins; other keys of any type are "
         "ignored");
    CHECK_INT(PARSE(BODY_JSON,
                    "{\"username\":\"a\",\"x\":[1,{}],\"username\":\"b\",\"password\":\"c\"}",
                    NULL),
              BODY_OK);
    CHECK_STR(f.username, "b");
    TEST("login_body: a field missing from a JSON body is NULL");
    CHECK_INT(PARSE(BODY_JSON, " {\"password\":\"x\"} \n", NULL), BODY_OK);
    CHECK(f.username == NULL);
    CHECK_STR(f.password, "x");
    TEST("login_body: JSON unicode escapes, surrogate pairs too, decode to UTF-8");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"\\u00e9\\ud83d\\ude00\",\"password\":\"\"}", NULL),
              BODY_OK);
    CHECK_STR(f.username, "\xc3\xa9\xf0\x9f\x98\x80");
    TEST("login_body: invalid JSON, and an empty JSON body, are malformed");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: invalid JSON");
    CHECK_INT(PARSE(BODY_JSON, "", NULL), BODY_ERR_MALFORMED);
    TEST("login_body: text after the JSON value is malformed");
    CHECK_INT(PARSE(BODY_JSON, "{} {}", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: text after the value");
    TEST("login_body: a JSON body that is not an object is malformed");
    CHECK_INT(PARSE(BODY_JSON, "[\"username\"]", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: not an object");
    CHECK_INT(PARSE(BODY_JSON, "\"x\"", NULL), BODY_ERR_MALFORMED);
    TEST("login_body: a JSON username or password that is not a string is BODY_ERR_NOT_STRING, "
         "naming it");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":1,\"password\":\"x\"}", NULL), BODY_ERR_NOT_STRING);
    CHECK_STR(err, "username");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"a\",\"password\":null}", NULL),
              BODY_ERR_NOT_STRING);
    CHECK_STR(err, "password");
    TEST("login_body: raw bytes that are not UTF-8 in a JSON body are malformed");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"\xff\",\"password\":\"x\"}", NULL),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: not UTF-8");
    TEST(
        "login_body: the JSON \\u0000 escape is refused; an escaped backslash before u0000 is not");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"a\\u0000b\",\"password\":\"x\"}", NULL),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "JSON parse error: \\u0000 in a string");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"a\\\\u0000\",\"password\":\"x\"}", NULL), BODY_OK);
    CHECK_STR(f.username, "a\\u0000");
    TEST("login_body: a lone surrogate escape in JSON does not parse");
    CHECK_INT(PARSE(BODY_JSON, "{\"username\":\"\\ud800\",\"password\":\"x\"}", NULL),
              BODY_ERR_MALFORMED);
}

#define MP_HEAD(name) "--XyZ\r\nContent-Disposition: form-data; name=\"" name "\"\r\n\r\n"

static void test_multipart(void) {
    TEST("login_body: a multipart body's two fields are read up to the closing delimiter; the "
         "epilogue is ignored");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    MP_HEAD("username") "ann\r\n" MP_HEAD("password") "p w\r\n--XyZ--\r\njunk",
                    "XyZ"),
              BODY_OK);
    CHECK_STR(f.username, "ann");
    CHECK_STR(f.password, "p w");
    TEST("login_body: multipart: the preamble and other headers are skipped, an unquoted name is "
         "read, the last value wins");
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
    TEST("login_body: a multipart file part and a nameless part are skipped");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    "--XyZ\r\nContent-Disposition: form-data; name=\"username\"; filename=\"f\""
                    "\r\n\r\nfile\r\n--XyZ\r\n\r\nnohdr\r\n--XyZ\r\nContent-Disposition: form-data"
                    "\r\n\r\nnoname\r\n--XyZ--",
                    "XyZ"),
              BODY_OK);
    CHECK(f.username == NULL && f.password == NULL);
    TEST("login_body: a multipart value may hold CRLF and dashes");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("password") "a\r\n--b\r\n--XyZ--", "XyZ"), BODY_OK);
    CHECK_STR(f.password, "a\r\n--b");
    TEST("login_body: a missing or too long multipart boundary is malformed");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("username") "a\r\n--XyZ--", ""), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: missing or bad boundary");
    CHECK_INT(PARSE(BODY_MULTIPART, "x", NULL), BODY_ERR_MALFORMED);
    CHECK_INT(PARSE(BODY_MULTIPART, "x",
                    "01234567890123456789012345678901234567890123456789012345678901234567890"),
              BODY_ERR_MALFORMED);
    TEST("login_body: a multipart body without a boundary line is malformed");
    CHECK_INT(PARSE(BODY_MULTIPART, "username=a", "XyZ"), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: no boundary line");
    TEST("login_body: junk after a multipart boundary is malformed");
    CHECK_INT(PARSE(BODY_MULTIPART, "--XyZjunk\r\n", "XyZ"), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: bad boundary line");
    TEST("login_body: multipart part headers that never end are malformed");
    CHECK_INT(PARSE(BODY_MULTIPART, "--XyZ\r\nContent-Disposition: form-data", "XyZ"),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: unterminated headers");
    TEST("login_body: a multipart part that never ends is malformed");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("username") "ann", "XyZ"), BODY_ERR_MALFORMED);
    CHECK_STR(err, "multipart: unterminated part");
    TEST("login_body: a multipart body ending right after a delimiter is malformed");
    CHECK_INT(PARSE(BODY_MULTIPART, "--XyZ", "XyZ"), BODY_ERR_MALFORMED);
    TEST("login_body: a multipart value that is not UTF-8 is malformed, naming the field");
    CHECK_INT(PARSE(BODY_MULTIPART, MP_HEAD("username") "\xc0\xaf\r\n--XyZ--", "XyZ"),
              BODY_ERR_MALFORMED);
    CHECK_STR(err, "username: not UTF-8");
    TEST("login_body: a quoted multipart name with a backslash escape is read");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    "--XyZ\r\nContent-Disposition: form-data; name=\"user\\name\"\r\n\r\nq\r\n"
                    "--XyZ--",
                    "XyZ"),
              BODY_OK);
    CHECK_STR(f.username, "q");
    TEST("login_body: transport padding after a multipart boundary is allowed");
    CHECK_INT(PARSE(BODY_MULTIPART,
                    "--XyZ  \r\nContent-Disposition: form-data; name=password\r\n\r\nz\r\n--XyZ--",
                    "XyZ"),
              BODY_OK);
    CHECK_STR(f.password, "z");
}

static void test_unknown_kind(void) {
    TEST("login_body: body_parse refuses an unknown kind of body");
    CHECK_INT(PARSE(99, "x", NULL), BODY_ERR_MALFORMED);
    CHECK_STR(err, "body: unknown encoding");
}

void test_login_body(void) {
    test_form();
    test_json();
    test_multipart();
    test_unknown_kind();
}
