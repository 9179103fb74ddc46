/* token.c -- token keys and their lifetime rules.
 *
 * Keys come from OpenSSL's RAND_bytes (the OS random source behind a CSPRNG): 20 bytes, written
 * as 40 lowercase hex digits, exactly as DRF's Token.generate_key. Expiry is plain arithmetic on
 * unix seconds; the database stores Django's datetime text and db.c converts it. Authorization
 * values are read over (pointer, length), never past len, so raw header bytes need no copy. */
#include "token.h"

#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

int token_generate(char *out) {
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[TOKEN_KEY_LEN / 2];

    if (RAND_bytes(bytes, (int)sizeof bytes) != 1)
        return TOKEN_ERR;
    for (size_t i = 0; i < sizeof bytes; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 0x0f];
    }
    out[TOKEN_KEY_LEN] = '\0';
    return TOKEN_OK;
}

int token_is_well_formed(const char *s, size_t len) {
    if (len == 0 || len > TOKEN_KEY_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!token_is_key_char(s[i]))
            return 0;
    return 1;
}

int64_t token_expires_at(int64_t created_s, long ttl_s) {
    return ttl_s > 0 ? created_s + ttl_s : 0;
}

int token_is_expired(int64_t expires_s, int64_t now_s) {
    return expires_s != 0 && now_s >= expires_s;
}

static int is_blank(char c) {
    return c == ' ' || c == '\t';
}

/* The length of our scheme ("Token" or "Bearer", any case) at s (n bytes) when a blank or the
 * end follows it, else 0: "Tokenizer" is another scheme. */
static size_t scheme_len(const char *s, size_t n) {
    static const char *const schemes[] = {"Token", "Bearer"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t m = strlen(schemes[i]);
        if (n >= m && strncasecmp(s, schemes[i], m) == 0 && (n == m || is_blank(s[m])))
            return m;
    }
    return 0;
}

int token_from_authorization(const char *value, size_t len, const char **key, size_t *key_len) {
    size_t b = 0, e = len;
    while (b < e && is_blank(value[b]))
        b++;
    while (e > b && is_blank(value[e - 1]))
        e--;
    size_t m = scheme_len(value + b, e - b);
    if (m == 0)
        return TOKEN_ERR_SCHEME;
    b += m;
    while (b < e && is_blank(value[b]))
        b++;
    if (!token_is_well_formed(value + b, e - b))
        return TOKEN_ERR_MALFORMED; /* empty, too long, or a blank inside: not one key */
    *key = value + b;
    *key_len = e - b;
    return TOKEN_OK;
}
