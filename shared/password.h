/* password.h -- Django's password hashes: verify, make, and decide when to re-hash.
 *
 * Formats verified (every one Django writes with its default hashers):
 *   pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>
 *   pbkdf2_sha1$<iterations>$<salt>$<base64 of 20 bytes>
 *   argon2$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64, no padding>$<hash b64, no padding>
 *   argon2$argon2i$...  (the same, with argon2i; argon2d too, which argon2-cffi also verifies)
 *   argon2$argon2i$m=...,t=...,p=...$...  (Django 1.10's, without "v=": version 0x10)
 * "!..." is Django's unusable password; "" and any other prefix fail cleanly. New hashes are
 * always pbkdf2_sha256 with a 22-character salt from the OS random source. Comparison of the
 * computed and stored hash is constant-time (CRYPTO_memcmp).
 *
 * A long-lived caller (login-fcgi) keeps a struct password_kdf and passes it to the _with
 * functions: OpenSSL 3 then looks its PBKDF2 and the digests up once, not at every hash (a
 * third of a 1-iteration hash went to those look-ups). Without one (NULL, or the plain
 * functions), each hash is a one-shot PKCS5_PBKDF2_HMAC. Either way libcrypto does the crypto and
 * the results are the same. */
#ifndef TOKENAUTH_PASSWORD_H
#define TOKENAUTH_PASSWORD_H

#include <stddef.h>

#define PASSWORD_OK 0
#define PASSWORD_MISMATCH -1       /* well-formed hash, wrong password */
#define PASSWORD_UNUSABLE -2       /* Django's "!" unusable password, or empty */
#define PASSWORD_UNKNOWN_FORMAT -3 /* an algorithm tokenauth does not know */
#define PASSWORD_MALFORMED -4      /* a known algorithm, but the fields do not parse */
#define PASSWORD_ERR -5            /* out of memory, random source or crypto library failure */

#define PASSWORD_ENCODED_MAX 256 /* bytes, terminator included, of what password_make writes */
#define PASSWORD_DEFAULT_ITERATIONS 1000000L /* Django 5.2's pbkdf2_sha256 default */
#define PASSWORD_MAX_ITERATIONS 100000000L   /* above this a stored hash is refused as malformed */
#define PASSWORD_SALT_LEN 22                 /* characters of a new salt (Django 3.2+: 128 bits) */

/* Limits on an argon2 hash's cost, so a hostile stored hash cannot eat the machine. Django's
 * default is m=102400 (100 MiB), t=2, p=8. Beyond these the hash is refused as malformed. */
#define PASSWORD_ARGON2_MAX_MEMORY_KIB 1048576L /* 1 GiB */
#define PASSWORD_ARGON2_MAX_PASSES 64L
#define PASSWORD_ARGON2_MAX_LANES 64L
#define PASSWORD_ARGON2_MAX_WORK 4194304L /* m * t, KiB passes: 4 GiB of memory traffic */
#define PASSWORD_ARGON2_MAX_LEN 64        /* bytes, decoded, of the salt and of the hash */

/* Algorithms password_parse() recognises. */
#define PASSWORD_ALG_PBKDF2_SHA256 1
#define PASSWORD_ALG_PBKDF2_SHA1 2
#define PASSWORD_ALG_ARGON2I 3
#define PASSWORD_ALG_ARGON2ID 4
#define PASSWORD_ALG_ARGON2D 5

/* What an encoded hash says about itself, without the secret parts. */
struct password_params {
    int algorithm;   /* PASSWORD_ALG_* */
    long iterations; /* pbkdf2 iterations, or argon2 passes (t) */
    long memory_kib; /* argon2 m, 0 for pbkdf2 */
    long lanes;      /* argon2 p, 0 for pbkdf2 */
    int version;     /* argon2 version (0x13, or 0x10 when "v=" is absent), 0 for pbkdf2 */
    size_t salt_len; /* pbkdf2: characters of the salt; argon2: decoded bytes */
    size_t hash_len; /* bytes of the stored hash, decoded */
};

/* Parses encoded without hashing anything: cheap, for callers that must see the cost first (the
 * fuzzer). Returns PASSWORD_OK with *out filled, or PASSWORD_UNUSABLE, PASSWORD_UNKNOWN_FORMAT or
 * PASSWORD_MALFORMED (iterations or argon2 costs past the limits above are malformed). */
int password_parse(const char *encoded, struct password_params *out);

/* Checks plain (plain_len bytes) against a Django encoded hash. Returns PASSWORD_OK on a match,
 * else one of the negative codes above. Pure: no I/O but the hash. A plain holding a NUL byte is
 * PASSWORD_MISMATCH at once, without hashing: HMAC pads its key with zero bytes, so PBKDF2 would
 * let "123\0" match the hash of "123" (callers refuse such input before: login-fcgi with a 400). */
int password_verify(const char *plain, size_t plain_len, const char *encoded);

/* Writes a new pbkdf2_sha256 hash of plain with the given iterations (1 to
 * PASSWORD_MAX_ITERATIONS) into out (PASSWORD_ENCODED_MAX bytes is always enough). PASSWORD_OK, or
 * PASSWORD_ERR (iterations out of range, a NUL byte in plain, out too small, random source or
 * crypto failure). */
int password_make(const char *plain, size_t plain_len, long iterations, char *out, size_t out_len);

/* Django's must_update: 1 when encoded is not pbkdf2_sha256 at exactly `iterations`, or its salt
 * is shorter than PASSWORD_SALT_LEN (Django 3.2+ asks for 128 bits of salt), so a successful login
 * then stores a new hash; 0 when it is current; password_parse()'s negative code when it does not
 * parse (PASSWORD_MALFORMED, PASSWORD_UNUSABLE or PASSWORD_UNKNOWN_FORMAT). */
int password_must_update(const char *encoded, long iterations);

/* Runs one full pbkdf2_sha256 hash at `iterations` and discards it, so a login for an unknown or
 * inactive user takes as long as a real one. */
void password_burn_time(long iterations);

/* OpenSSL's PBKDF2 prepared once, with SHA-256 and with SHA-1, for one thread at a time. It
 * holds no secret between calls: the password each hash gave it is wiped (OpenSSL cleanses its
 * copy) before the call returns. NULL when libcrypto cannot make it (out of memory). */
struct password_kdf;
struct password_kdf *password_kdf_new(void);
void password_kdf_free(struct password_kdf *kdf); /* NULL allowed */

/* password_verify, password_make and password_burn_time through kdf (NULL: one-shot). */
int password_verify_with(struct password_kdf *kdf, const char *plain, size_t plain_len,
                         const char *encoded);
int password_make_with(struct password_kdf *kdf, const char *plain, size_t plain_len,
                       long iterations, char *out, size_t out_len);
void password_burn_time_with(struct password_kdf *kdf, long iterations);

#endif
