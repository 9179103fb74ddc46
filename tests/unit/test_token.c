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

    /* 1. token_generate() returns TOKEN_OK and 40 lowercase hex digits, terminated */
    TEST("token-1 generate format");
    memset(a, 'X', sizeof a);
    CHECK_INT(token_generate(a), TOKEN_OK);
    CHECK_INT(a[TOKEN_KEY_LEN], '\0');
    CHECK(is_lower_hex_key(a));

    /* 2. two keys differ (160 random bits) */
    TEST("token-2 generate twice gives two keys");
    CHECK_INT(token_generate(b), TOKEN_OK);
    CHECK(strcmp(a, b) != 0);

    /* 3. a generated key is well-formed */
    TEST("token-3 generated key is well-formed");
    CHECK_INT(token_is_well_formed(a, strlen(a)), 1);

    /* 4. over many keys every hex digit appears (no stuck nibble) */
    TEST("token-4 generate uses every hex digit");
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
    /* 5. 40 lowercase hex characters: well-formed */
    TEST("token-5 40 hex characters");
    CHECK_INT(token_is_well_formed("0123456789abcdef0123456789abcdef01234567", 40), 1);

    /* 6. keys made elsewhere: upper case and other letters pass (matched exactly in the db) */
    TEST("token-6 upper case and non-hex letters");
    CHECK_INT(token_is_well_formed("ABCDEFxyz", 9), 1);

    /* 7. one character is enough */
    TEST("token-7 one character");
    CHECK_INT(token_is_well_formed("a", 1), 1);

    /* 8. empty: refused */
    TEST("token-8 empty");
    CHECK_INT(token_is_well_formed("", 0), 0);

    /* 9. 41 characters: refused (no key column holds it) */
    TEST("token-9 41 characters");
    CHECK_INT(token_is_well_formed("0123456789abcdef0123456789abcdef012345678", 41), 0);

    /* 10. only len bytes are looked at: a longer string cut at 40 passes */
    TEST("token-10 len bounds the check");
    CHECK_INT(token_is_well_formed("0123456789abcdef0123456789abcdef01234567!!", 40), 1);

    /* 11. punctuation, spaces and percent-escapes: refused */
    TEST("token-11 punctuation");
    CHECK_INT(token_is_well_formed("abc-def", 7), 0);
    CHECK_INT(token_is_well_formed("abc def", 7), 0);
    CHECK_INT(token_is_well_formed("abc%20", 6), 0);
    CHECK_INT(token_is_well_formed("abc=", 4), 0);
    CHECK_INT(token_is_well_formed("abc\"", 4), 0);

    /* 12. an embedded NUL within len: refused */
    TEST("token-12 embedded NUL");
    CHECK_INT(token_is_well_formed("ab\0cd", 5), 0);

    /* 13. non-ASCII bytes (UTF-8 letters, high bytes): refused */
    TEST("token-13 non-ASCII");
    CHECK_INT(token_is_well_formed("caf\xc3\xa9", 5), 0);
    CHECK_INT(token_is_well_formed("\xff", 1), 0);

    /* 14. control characters (a forged log line): refused */
    TEST("token-14 control characters");
    CHECK_INT(token_is_well_formed("abc\n", 4), 0);
    CHECK_INT(token_is_well_formed("\tabc", 4), 0);

    /* 15. the characters just outside the accepted ranges: refused */
    TEST("token-15 range edges");
    CHECK_INT(token_is_well_formed("/", 1), 0);
    CHECK_INT(token_is_well_formed(":", 1), 0);
    CHECK_INT(token_is_well_formed("@", 1), 0);
    CHECK_INT(token_is_well_formed("[", 1), 0);
    CHECK_INT(token_is_well_formed("`", 1), 0);
    CHECK_INT(token_is_well_formed("{", 1), 0);
    CHECK_INT(token_is_well_formed("09AZaz", 6), 1);
}

static void test_expiry(void) {
    /* 16. ttl 0: never expires (0) */
    TEST("token-16 ttl 0 never expires");
    CHECK_INT(token_expires_at(1700000000, 0), 0);

    /* 17. a negative ttl is treated as no lifetime */
    TEST("token-17 negative ttl");
    CHECK_INT(token_expires_at(1700000000, -5), 0);

    /* 18. ttl > 0: created + ttl */
    TEST("token-18 expires at created + ttl");
    CHECK_INT(token_expires_at(1700000000, 3600), 1700003600);

    /* 19. large values do not overflow 64 bits */
    TEST("token-19 large ttl");
    CHECK_INT(token_expires_at(4000000000LL, 3153600000L), 7153600000LL);

    /* 20. expires 0: never expired, whatever the time */
    TEST("token-20 never expires");
    CHECK_INT(token_is_expired(0, 0), 0);
    CHECK_INT(token_is_expired(0, INT64_MAX), 0);

    /* 21. before the expiry time: valid; at it and after: expired */
    TEST("token-21 expiry boundary");
    CHECK_INT(token_is_expired(1000, 999), 0);
    CHECK_INT(token_is_expired(1000, 1000), 1);
    CHECK_INT(token_is_expired(1000, 1001), 1);

    /* 22. the two together: a token made ttl seconds ago has just expired */
    TEST("token-22 expires_at + is_expired");
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

    /* 23. "Token <key>": the key, pointing into the value */
    TEST("token-23 authorization Token <key>");
    snprintf(header, sizeof header, "Token %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    CHECK_INT(len, 40);
    CHECK(key == header + 6);

    /* 24. "Bearer <key>", the scheme in any case */
    TEST("token-24 authorization Bearer and any case");
    snprintf(header, sizeof header, "Bearer %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    CHECK_INT(len, 40);
    snprintf(header, sizeof header, "bEARER %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    snprintf(header, sizeof header, "TOKEN %s", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);

    /* 25. spaces and tabs before, between and after */
    TEST("token-25 authorization blanks around");
    snprintf(header, sizeof header, " \tToken\t \t%s \t", k40);
    CHECK_INT(from_header(header, &key, &len), TOKEN_OK);
    CHECK_INT(len, 40);
    CHECK(memcmp(key, k40, 40) == 0);

    /* 26. only len bytes are read: what follows them is not part of the value */
    TEST("token-26 authorization reads len bytes");
    CHECK_INT(token_from_authorization("Token abcXYZ", 9, &key, &len), TOKEN_OK);
    CHECK_INT(len, 3);

    /* 27. another scheme, a longer word, or nothing: TOKEN_ERR_SCHEME, key untouched */
    TEST("token-27 authorization other schemes");
    key = NULL;
    CHECK_INT(from_header("", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header(" \t ", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Basic YWxhZGRpbjpvcGVu", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Tokenizer abc", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Bearerabc", &key, &len), TOKEN_ERR_SCHEME);
    CHECK_INT(from_header("Token:abc", &key, &len), TOKEN_ERR_SCHEME);
    CHECK(key == NULL);

    /* 28. our scheme without one well-formed key: TOKEN_ERR_MALFORMED */
    TEST("token-28 authorization malformed keys");
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
