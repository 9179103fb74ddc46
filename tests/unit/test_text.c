/* test_text.c -- shared/text.c: UTF-8 validity, percent-decoding, the \\u0000 scan, text_append. */
#include "test.h"

#include <string.h>

#include "text.h"

static void test_utf8(void) {
    TEST("text: ASCII, NUL, and 2-, 3- and 4-byte forms are valid UTF-8");
    CHECK_INT(text_is_utf8("plain", 5), 1);
    CHECK_INT(text_is_utf8("a\0b", 3), 1);
    CHECK_INT(text_is_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), 1);
    CHECK_INT(text_is_utf8("", 0), 1);
    TEST("text: the edges of each UTF-8 range are valid");
    CHECK_INT(text_is_utf8("\xc2\x80", 2), 1);         /* U+0080 */
    CHECK_INT(text_is_utf8("\xed\x9f\xbf", 3), 1);     /* U+D7FF, below the surrogates */
    CHECK_INT(text_is_utf8("\xf4\x8f\xbf\xbf", 4), 1); /* U+10FFFF */
    TEST("text: overlong UTF-8 forms are refused");
    CHECK_INT(text_is_utf8("\xc0\x80", 2), 0);
    CHECK_INT(text_is_utf8("\xc0\xaf", 2), 0);
    CHECK_INT(text_is_utf8("\xe0\x80\x80", 3), 0);
    CHECK_INT(text_is_utf8("\xf0\x80\x80\x80", 4), 0);
    TEST("text: surrogates and code points past U+10FFFF are refused as UTF-8");
    CHECK_INT(text_is_utf8("\xed\xa0\x80", 3), 0);
    CHECK_INT(text_is_utf8("\xf4\x90\x80\x80", 4), 0);
    CHECK_INT(text_is_utf8("\xf5\x80\x80\x80", 4), 0);
    TEST("text: truncated UTF-8 sequences, bad continuations and stray bytes are refused");
    CHECK_INT(text_is_utf8("\xe2\x82", 2), 0);
    CHECK_INT(text_is_utf8("\xc3\x28", 2), 0);
    CHECK_INT(text_is_utf8("\xe2\x82\x28", 3), 0);
    CHECK_INT(text_is_utf8("\x80", 1), 0);
    CHECK_INT(text_is_utf8("\xff", 1), 0);
}

static void test_percent_decode(void) {
    char out[8];
    TEST("text: percent-decoding reads escapes in either case, and + as a space");
    CHECK_INT(text_percent_decode("a%41+%6a", 8, out, sizeof out), 4);
    CHECK_STR(out, "aA j");
    TEST("text: percent-decoding an empty input gives an empty string");
    CHECK_INT(text_percent_decode("", 0, out, sizeof out), 0);
    CHECK_STR(out, "");
    TEST("text: percent-decoding a bad or cut escape is an error");
    CHECK_INT(text_percent_decode("%g1", 3, out, sizeof out), TEXT_ERR);
    CHECK_INT(text_percent_decode("ab%", 3, out, sizeof out), TEXT_ERR);
    CHECK_INT(text_percent_decode("ab%4", 4, out, sizeof out), TEXT_ERR);
    TEST("text: percent-decoded output that does not fit is an error");
    CHECK_INT(text_percent_decode("12345678", 8, out, sizeof out), TEXT_ERR);
    CHECK_INT(text_percent_decode("", 0, out, 0), TEXT_ERR);
    CHECK_INT(text_percent_decode("1234567", 7, out, sizeof out), 7);
    TEST("text: percent-decoding works in place, the length bounded by the input");
    char in_place[] = "x%3Dy%26z";
    CHECK_INT(text_percent_decode(in_place, 9, in_place, sizeof in_place), 5);
    CHECK_STR(in_place, "x=y&z");
    TEST("text: %00 percent-decodes to a NUL inside the length");
    CHECK_INT(text_percent_decode("a%00b", 5, out, sizeof out), 3);
    CHECK(out[1] == '\0' && out[2] == 'b');
}

static void test_url_decode(void) {
    char out[8];
    TEST("text: URL-decoding reads escapes in either case and keeps + as itself");
    CHECK_INT(text_url_decode("a%41+%6a", 8, out, sizeof out), 4);
    CHECK_STR(out, "aA+j");
    TEST("text: URL-decoding refuses %00, a bad or cut escape, and output that does not fit");
    CHECK_INT(text_url_decode("a%00b", 5, out, sizeof out), TEXT_ERR);
    CHECK_INT(text_url_decode("%g1", 3, out, sizeof out), TEXT_ERR);
    CHECK_INT(text_url_decode("ab%4", 4, out, sizeof out), TEXT_ERR);
    CHECK_INT(text_url_decode("12345678", 8, out, sizeof out), TEXT_ERR);
}

static void test_nul_escape(void) {
    TEST("text: a JSON \\u0000 escape is found after an odd run of backslashes");
    CHECK_INT(text_json_has_nul_escape("\"\\u0000\"", 8), 1);
    CHECK_INT(text_json_has_nul_escape("\\u0000", 6), 1);
    CHECK_INT(text_json_has_nul_escape("\"\\\\\\u0000\"", 10), 1);
    CHECK_INT(text_json_has_nul_escape("{\"a\":\"x\\u0000y\"}", 16), 1);
    TEST("text: an escaped backslash, other escapes and cut input are no JSON \\u0000 escape");
    CHECK_INT(text_json_has_nul_escape("\"\\\\u0000\"", 9), 0);
    CHECK_INT(text_json_has_nul_escape("\"\\u0001\\u00000\"", 15), 1);
    CHECK_INT(text_json_has_nul_escape("\"\\u0001\"", 8), 0);
    CHECK_INT(text_json_has_nul_escape("\"\\U0000\"", 8), 0);
    CHECK_INT(text_json_has_nul_escape("\\u000", 5), 0);
    CHECK_INT(text_json_has_nul_escape("\\u0000", 5), 0); /* only len bytes are read */
    CHECK_INT(text_json_has_nul_escape("", 0), 0);
}

static void test_append(void) {
    char out[8];
    size_t len = 0;
    TEST("text: text_append appends, advances the length, keeps the text terminated");
    memset(out, 'x', sizeof out);
    text_append(out, sizeof out, &len, "abc", 3);
    text_append(out, sizeof out, &len, "de", 2);
    CHECK_INT(len, 5);
    CHECK_STR(out, "abcde");
    TEST("text: text_append cuts what does not fit, one byte kept for the terminator");
    text_append(out, sizeof out, &len, "fghij", 5);
    CHECK_INT(len, 7);
    CHECK_STR(out, "abcdefg");
    text_append(out, sizeof out, &len, "k", 1);
    CHECK_INT(len, 7);
    CHECK_STR(out, "abcdefg");
    TEST("text: text_append with nothing to add still terminates; a zero-size buffer is untouched");
    len = 0;
    out[0] = 'x';
    text_append(out, sizeof out, &len, "", 0);
    CHECK_STR(out, "");
    out[0] = 'x';
    text_append(out, 0, &len, "abc", 3);
    CHECK_INT(len, 0);
    CHECK_INT(out[0], 'x');
}

static void test_put_decimal(void) {
    char out[24];
    TEST("text_put_decimal: 0, one digit, a power of ten, the largest value; no terminator");
    memset(out, 'x', sizeof out);
    CHECK_INT((int)text_put_decimal(out, 0), 1);
    CHECK(out[0] == '0' && out[1] == 'x');
    CHECK_INT((int)text_put_decimal(out, 7), 1);
    CHECK_INT((int)text_put_decimal(out, 1000), 4);
    CHECK(memcmp(out, "1000", 4) == 0);
    CHECK_INT((int)text_put_decimal(out, 18446744073709551615ULL), 20);
    CHECK(memcmp(out, "18446744073709551615", 20) == 0 && out[20] == 'x');
}

void test_text(void) {
    test_put_decimal();
    test_utf8();
    test_percent_decode();
    test_url_decode();
    test_nul_escape();
    test_append();
}
