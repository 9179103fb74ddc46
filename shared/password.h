/* password.h -- Django's password hashes: verify, make, and decide when to re-hash.
 *
 * Formats verified (every one Django writes with its default hashers):
 *   pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>
 *   pbkdf2_sha1$<iterations>$<salt>$<base64 of 20 bytes>
 *   argon2$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64, no padding>$<hash b64, no padding>
 *   argon2$argon2i$...  (the same, with argon2i)
 * "!..." is Django's unusable password; "" and any other prefix fail cleanly. New hashes are
 * always pbkdf2_sha256 with a 22-character salt from the OS random source. Comparison of the
 * computed and stored hash is constant-time (CRYPTO_memcmp). */
#ifndef TOKENAUTH_PASSWORD_H
#define TOKENAUTH_PASSWORD_H

#include <stddef.h>

#define PASSWORD_OK 0
#define PASSWORD_MISMATCH -1      /* well-formed hash, wrong password */
#define PASSWORD_UNUSABLE -2      /* Django's "!" unusable password, or empty */
#define PASSWORD_UNKNOWN_FORMAT -3 /* an algorithm tokenauth does not know */
#define PASSWORD_MALFORMED -4     /* a known algorithm, but the fields do not parse */
#define PASSWORD_ERR -5           /* out of memory, random source or crypto library failure */

#define PASSWORD_ENCODED_MAX 256  /* bytes, terminator included, of what password_make writes */
#define PASSWORD_DEFAULT_ITERATIONS 1000000L /* Django 5.2's pbkdf2_sha256 default */
#define PASSWORD_MAX_ITERATIONS 100000000L   /* above this a stored hash is refused as malformed */

/* Checks plain (plain_len bytes, may hold any byte) against a Django encoded hash. Returns
 * PASSWORD_OK on a match, else one of the negative codes above. Pure: no I/O but the hash. */
int password_verify(const char *plain, size_t plain_len, const char *encoded);

/* Writes a new pbkdf2_sha256 hash of plain with the given iterations (>= 1) into out
 * (PASSWORD_ENCODED_MAX bytes is always enough). PASSWORD_OK or PASSWORD_ERR. */
int password_make(const char *plain, size_t plain_len, long iterations, char *out, size_t out_len);

/* Django's must_update: 1 when encoded is not pbkdf2_sha256 at exactly `iterations` (a
 * successful login then stores a new hash), 0 when it is, PASSWORD_MALFORMED when it does not
 * parse. */
int password_must_update(const char *encoded, long iterations);

/* Runs one full pbkdf2_sha256 hash at `iterations` and discards it, so a login for an unknown or
 * inactive user takes as long as a real one. */
void password_burn_time(long iterations);

#endif
