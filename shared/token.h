/* token.h -- token keys and their lifetime rules, as Django REST framework's authtoken.
 *
 * A key is 40 lowercase hex characters, 160 bits from the OS random source (DRF:
 * binascii.hexlify(os.urandom(20))). Keys made elsewhere (an admin, Django) are matched exactly;
 * token_is_well_formed only refuses what no key column could hold, before any database work.
 * token_from_authorization is the one reading of an Authorization header, for login-fcgi's
 * logout and ws-worker's handshake alike, so a header that opens a socket also logs out. */
#ifndef TOKENAUTH_TOKEN_H
#define TOKENAUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TOKEN_OK 0
#define TOKEN_ERR -1           /* the OS random source failed */
#define TOKEN_ERR_SCHEME -2    /* an Authorization value with another scheme, or none */
#define TOKEN_ERR_MALFORMED -3 /* our scheme, but not followed by exactly one well-formed key */

#define TOKEN_KEY_LEN 40

/* Whether c may stand in a key: an ASCII letter or digit (DRF's keys are hex; others accepted). */
static inline int token_is_key_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Writes a new key and its terminator to out (TOKEN_KEY_LEN + 1 bytes). TOKEN_OK or TOKEN_ERR. */
int token_generate(char *out);

/* 1 when s (len bytes) can be a key: 1 to 40 characters, each an ASCII letter or digit. */
int token_is_well_formed(const char *s, size_t len);

/* When a token made at created_s expires, in unix seconds: 0 (never) when ttl_s is 0. */
int64_t token_expires_at(int64_t created_s, long ttl_s);

/* 1 when a token expiring at expires_s (0 = never) has expired at now_s. */
int token_is_expired(int64_t expires_s, int64_t now_s);

/* Finds the key in an Authorization header value (len bytes, need not be terminated):
 * "Token <key>" or "Bearer <key>", the scheme in any case (as DRF), spaces and tabs allowed
 * before, between and after. Returns TOKEN_OK with *key (pointing into value) and *key_len set;
 * TOKEN_ERR_SCHEME for another scheme ("Basic ...", "Tokenizer ...") or an empty value; or
 * TOKEN_ERR_MALFORMED when our scheme is followed by nothing, by two words, or by a value
 * token_is_well_formed refuses. *key and *key_len are only written on TOKEN_OK. */
int token_from_authorization(const char *value, size_t len, const char **key, size_t *key_len);

#endif
