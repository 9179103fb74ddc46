/* test_token.c -- shared/token.c: key generation, well-formedness, expiry arithmetic, and the
 * Authorization header both programs read. */
#include "test.h"

#include "token.h"

#include <stdint.h>

/* 1 when s is exactly TOKEN_KEY_LEN lowercase hex digits. */
static int is_lower_hex_key(const char *s) {
    if (strlen(s) != TOKEN_KEY_LEN)
        return 0;
    for (size_t i = 0; i < TOKEN_KEY_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void test_generate(void) {
    char a[TOKEN_KEY_LEN + 1], b[TOKEN_KEY_LEN + 1];

    TEST("token: token_generate() returns TOKEN_OK and 40 lowercase hex digits, terminated");
    memset(a, 'X', sizeof a);
    CHECK_INT(token_generate(a), TOKEN_OK);
    CHECK_INT(a[TOKEN_KEY_LEN], '\0');
    CHECK(is_lower_hex_key(a));

    TEST("token: two keys differ (160 random bits)");
    CHECK_INT(token_generate(b), TOKEN_OK);
    CHECK(strcmp(a, b) != 0);

    TEST("token: a generated key is well-formed");
    CHECK_INT(token_is_well_formed(a, strlen(a)), 1);

    TEST("token: over many keys every hex digit appears (no stuck nibble)");
    int seen[16] = {0};
    for (int n = 0; n < 64; n++) {
        CHECK_INT(token_generate(a), TOKEN_OK);
        for (size_t i = 0; i < TOKEN_KEY_LEN; i++)
            seen[a[i] <= '9' ? a[i] - '0' : a[i] - 'a' + 10]++;
    }
    for (int d = 0; d < 16; d++)
        CHECK(seen[d] > 0);
}

static void test_well_formed(void) {
    TEST("token: a key of 40 lowercase hex characters is well-formed");
    CHECK_INT(token_is_well_formed("0123456789abcdef0123456789abcdef01234567", 40), 1);

    TEST("token: keys made elsewhere (upper case, other letters) are well-formed; the db matches "
         "them exactly");
    CHECK_INT(token_is_well_formed("ABCDEFxyz", 9), 1);

    TEST("token: a key of one character is well-formed");
    CHECK_INT(token_is_well_formed("a", 1), 1);

    TEST("token: an empty key is refused");
    CHECK_INT(token_is_well_formed("", 0), 0);

    TEST("token: a key of 41 characters is refused (no key column holds it)");
    CHECK_INT(token_is_well_formed("0123456789abcdef0123456789abcdef012345678", 41), 0);

    TEST("token: the key check reads only len bytes: a longer string cut at 40 passes");
    CHECK_INT(token_is_well_formed("0123456789abcdef0123456789abcdef01234567!!", 40), 1);

    TEST("token: keys with punctuation, spaces or percent-escapes are refused");
    CHECK_INT(token_is_well_formed("abc-def", 7), 0);
    CHECK_INT(token_is_well_formed("abc def", 7), 0);
    CHECK_INT(token_is_well_formed("abc%20", 6), 0);
    CHECK_INT(token_is_well_formed("abc=", 4), 0);
    CHECK_INT(token_is_well_formed("abc\"", 4), 0);

    TEST("token: a key with a NUL within len is refused");
    CHECK_INT(token_is_well_formed("ab\0cd", 5), 0);

    TEST("token: keys with non-ASCII bytes (UTF-8 letters, high bytes) are refused");
    CHECK_INT(token_is_well_formed("caf\xc3\xa9", 5), 0);
    CHECK_INT(token_is_well_formed("\xff", 1), 0);

    TEST("token: keys with control characters (a forged log line) are refused");
    CHECK_INT(token_is_well_formed("abc\n", 4), 0);
    CHECK_INT(token_is_well_formed("\tabc", 4), 0);

    TEST("token: keys with the characters just outside the accepted ranges are refused");
    CHECK_INT(token_is_well_formed("/", 1), 0);
    CHECK_INT(token_is_well_formed(":", 1), 0);
    CHECK_INT(token_is_well_formed("@", 1), 0);
    CHECK_INT(token_is_well_formed("[", 1), 0);
    CHECK_INT(token_is_well_formed("`", 1), 0);
    CHECK_INT(token_is_well_formed("{", 1), 0);
    CHECK_INT(token_is_well_formed("09AZaz", 6), 1);
}

static void test_expiry(void) {
    TEST("token: a ttl of 0 never expires (expires_at 0)");
    CHECK_INT(token_expires_at(1700000000, 0), 0);

    TEST("token: a negative ttl is treated as no lifetime");
    CHECK_INT(token_expires_at(1700000000, -5), 0);

    TEST("token: a ttl above 0 expires at created + ttl");
    CHECK_INT(token_expires_at(1700000000, 3600), 1700003600);

    TEST("token: a large created + ttl does not overflow 64 bits");
    CHECK_INT(token_expires_at(4000000000LL, 3153600000L), 7153600000LL);

    TEST("token: expires 0 is never expired, whatever the time");
    CHECK_INT(token_is_expired(0, 0), 0);
    CHECK_INT(token_is_expired(0, INT64_MAX), 0);

    TEST("token: before the expiry time a token is valid; at it and after, expired");
    CHECK_INT(token_is_expired(1000, 999), 0);
    CHECK_INT(token_is_expired(1000, 1000), 1);
    CHECK_INT(token_is_expired(1000, 1001), 1);

    TEST(
        "token: expires_at and is_expired together: a token made ttl seconds ago has just expired");
    CHECK_INT(token_is_expired(token_expires_at(500, 100), 599), 0);
    CHECK_INT(token_is_expired(token_expires_at(500, 100), 600), 1);
    CHECK_INT(token_is_expired(token_expires_at(0, 1), 1), 1);
}

/* token_from_authorization over a terminated string. */
static int from_header(const char *value, const char **key, size_t *len) {
    return token_from_authorization(value, strlen(value), key, len);
}

static void test_authorization(void) {
    const char *k40 = "0123456789abcdef0123456789abcdef01234567";
    const char *key = NULL;
    size_t len = 0;
    char header[96];

    TEST("token: \"Token <key>\" gives the key, pointing into the value");
    snprintf(header, sizeof header, "Token %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    CHECK_INT(len, 40);
    CHECK(key == header + 6);

    TEST("token: \"Bearer <key>\" gives the key, the scheme in any case");
    snprintf(header, sizeof header, "Bearer %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    CHECK_INT(len, 40);
    snprintf(header, sizeof header, "bEARER %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    snprintf(header, sizeof header, "TOKEN %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);

    TEST("token: Authorization allows spaces and tabs before, between and after");
    snprintf(header, sizeof header, " \tToken\t \t%s \t", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    CHECK_INT(len, 40);
    CHECK(memcmp(key, k40, 40) == 0);

    TEST("token: Authorization reads only len bytes: what follows them is not part of the value");
    CHECK_INT(token_from_authorization("Token abcXYZ", 9, &key, &len), TOKEN_OK);
    CHECK_INT(len, 3);

    TEST("token: Authorization with another scheme, a longer word, or nothing: TOKEN_ERR_SCHEME, "
         "key untouched");
    key = NULL;
    CHECK_INT(from_header("", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header(" \t ", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Basic YWxhZGRpbjpvcGVu", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Tokenizer abc", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Bearerabc", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Token:abc", &key, &len), TOKEN_ERR_SCHEME);
    CHECK(key == NULL);

    TEST("token: Authorization in our scheme without one well-formed key: TOKEN_ERR_MALFORMED");
    CHECK_INT(from_header("Token", &key, &len), TOKEN_ERR_MALFORMED);
    CHECK_INT(from_header("Bearer \t", &key, &len), TOKEN_ERR_MALFORMED);
    CHECK_INT(from_header("Token abc def", &key, &len), TOKEN_ERR_MALFORMED);
    CHECK_INT(from_header("Token ab-c", &key, &len), TOKEN_ERR_MALFORMED);
    snprintf(header, sizeof header, "Token %sX", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_ERR_MALFORMED);
    CHECK(key == NULL);
}

void test_token(void) {
    test_generate();
    test_well_formed();
    test_expiry();
    test_authorization();
}
