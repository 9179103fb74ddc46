/* password.c -- Django's password hashes: parse, verify, make, must-update, burn time.
 *
 * How it works: an encoded hash is split at '$' into fields and parsed strictly (no hashing) by
 * password_parse(); password_verify() then recomputes the hash with the stored parameters and
 * compares in constant time (CRYPTO_memcmp).
 *   - pbkdf2_sha256 / pbkdf2_sha1 (OpenSSL PKCS5_PBKDF2_HMAC): like Django's verify, which
 *     re-encodes and compares the whole string, the stored hash must be exactly the canonical
 *     padded base64 of the derived key (44 or 28 characters), and iterations exactly the decimal
 *     Django writes (no sign, no leading zero, 1 to PASSWORD_MAX_ITERATIONS).
 *   - argon2 (libargon2, raw argon2_hash): "argon2" + the reference encoding
 *     "$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>", types argon2id, argon2i and argon2d,
 *     versions 19 and (without "v=", Django 1.10) 16. Salt and hash are unpadded base64, decoded
 *     strictly as libargon2 does (unused trailing bits must be zero). Costs past the
 *     PASSWORD_ARGON2_* limits are refused before any memory is allocated.
 * New hashes are pbkdf2_sha256 with a PASSWORD_SALT_LEN-character salt drawn uniformly from
 * Django's alphabet a-zA-Z0-9 by rejection sampling on RAND_bytes.
 * A struct password_kdf holds two EVP_KDF_CTX of OpenSSL's "PBKDF2", their digest set once
 * (SHA256, SHA1) and its "pkcs5" flag on, as PKCS5_PBKDF2_HMAC sets it (no SP 800-132 lower
 * bounds: Django accepts any iteration count and salt). Each hash passes password, salt and
 * iterations to EVP_KDF_derive, then sets an empty password, which makes OpenSSL cleanse and free
 * its copy. OpenSSL 3.0's PBKDF2 has no EVP_KDF_CTX_dup, hence the one context reused.
 *
 * What it deliberately does not do: bcrypt, scrypt, md5, sha1 and unsalted legacy formats are
 * PASSWORD_UNKNOWN_FORMAT; it never logs, and never keeps a password or derived key past the
 * call (derived keys are cleansed). */
#include "password.h"

#include <argon2.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_FIELDS 7            /* argon2 has 6 ('$'-separated) fields; one more detects excess */
#define PBKDF2_B64_MAX 48       /* base64 of a sha256 key (44) and its terminator, rounded up */
#define ARGON2_B64_MAX 88       /* unpadded base64 of PASSWORD_ARGON2_MAX_LEN bytes, rounded up */
#define ARGON2_MIN_SALT_BYTES 8 /* libargon2's ARGON2_MIN_SALT_LENGTH */
#define ARGON2_MIN_HASH_BYTES 4 /* libargon2's ARGON2_MIN_OUTLEN */

static const char SALT_ALPHABET[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/* OpenSSL's PBKDF2, per digest, prepared once (password.h). */
struct password_kdf {
    EVP_KDF_CTX *sha256; /* digest SHA256 */
    EVP_KDF_CTX *sha1;   /* digest SHA1 */
};

/* A piece of the encoded string: not terminated. */
struct span {
    const char *s;
    size_t len;
};

/* Everything password_parse() learns, including the decoded secret-free parts verify needs. */
struct parsed {
    struct password_params params;
    struct span salt;                                  /* pbkdf2: the salt text */
    struct span hash;                                  /* pbkdf2: the stored base64 */
    unsigned char salt_bytes[PASSWORD_ARGON2_MAX_LEN]; /* argon2: decoded salt */
    unsigned char hash_bytes[PASSWORD_ARGON2_MAX_LEN]; /* argon2: decoded hash */
};

static int span_is(struct span f, const char *word) {
    return f.len == strlen(word) && memcmp(f.s, word, f.len) == 0;
}

/* Splits s at every '$' into at most max fields; returns how many there are, max + 1 meaning
 * "more than max". */
static int split_fields(const char *s, struct span *f, int max) {
    int n = 0;
    for (;;) {
        const char *end = strchr(s, '$');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (n == max)
            return max + 1;
        f[n].s = s;
        f[n].len = len;
        n++;
        if (!end)
            return n;
        s = end + 1;
    }
}

/* A decimal as Django writes it: digits only, no leading zero, 1 to max. 0 or -1. */
static int parse_decimal(struct span f, long max, long *out) {
    long v = 0;
    if (f.len == 0 || f.len > 12 || f.s[0] == '0')
        return -1;
    for (size_t i = 0; i < f.len; i++) {
        if (f.s[i] < '0' || f.s[i] > '9')
            return -1;
        v = v * 10 + (f.s[i] - '0');
    }
    if (v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "name=<decimal>" with the decimal parsed by parse_decimal. 0 or -1. */
static int parse_named(struct span f, const char *name, long max, long *out) {
    size_t n = strlen(name);
    if (f.len <= n || memcmp(f.s, name, n) != 0)
        return -1;
    return parse_decimal((struct span){f.s + n, f.len - n}, max, out);
}

static int is_b64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decodes unpadded standard base64 strictly (as libargon2's from_base64: no padding, no
 * whitespace, unused trailing bits zero) into out (out_max bytes). Returns the byte count, or -1.
 * Uses OpenSSL's block decoder on a padded copy, then re-encodes to prove the input canonical. */
static int b64_decode_unpadded(struct span f, unsigned char *out, size_t out_max) {
    char padded[ARGON2_B64_MAX + 4];
    unsigned char bytes[ARGON2_B64_MAX];
    char again[ARGON2_B64_MAX + 4];
    size_t n_bytes = f.len * 3 / 4, padded_len = (f.len + 3) / 4 * 4;
    if (f.len == 0 || f.len > ARGON2_B64_MAX || f.len % 4 == 1 || n_bytes > out_max)
        return -1;
    for (size_t i = 0; i < f.len; i++)
        if (!is_b64_char(f.s[i]))
            return -1;
    memcpy(padded, f.s, f.len);
    memset(padded + f.len, '=', padded_len - f.len);
    if (EVP_DecodeBlock(bytes, (const unsigned char *)padded, (int)padded_len) < 0)
        return -1;
    EVP_EncodeBlock((unsigned char *)again, bytes, (int)n_bytes);
    if (memcmp(again, padded, padded_len) != 0)
        return -1;
    memcpy(out, bytes, n_bytes);
    return (int)n_bytes;
}

/* Characters (UTF-8 code points) of a salt, as Python's len() counts them for must_update. */
static size_t utf8_chars(struct span f) {
    size_t n = 0;
    for (size_t i = 0; i < f.len; i++)
        if (((unsigned char)f.s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* pbkdf2_<digest>$<iterations>$<salt>$<base64 key>: exactly four fields. */
static int parse_pbkdf2(const struct span *f, int n, int algorithm, struct parsed *p) {
    size_t key_len = algorithm == PASSWORD_ALG_PBKDF2_SHA256 ? 32 : 20;
    size_t b64_len = (key_len + 2) / 3 * 4;
    if (n != 4 || parse_decimal(f[1], PASSWORD_MAX_ITERATIONS, &p->params.iterations) < 0)
        return PASSWORD_MALFORMED;
    if (f[2].len == 0 || f[3].len != b64_len)
        return PASSWORD_MALFORMED;
    p->params.algorithm = algorithm;
    p->params.salt_len = utf8_chars(f[2]);
    p->params.hash_len = key_len;
    p->salt = f[2];
    p->hash = f[3];
    return PASSWORD_OK;
}

/* The cost fields "m=<KiB>,t=<passes>,p=<lanes>", in that order, within the limits. */
static int parse_argon2_costs(struct span f, struct password_params *pp) {
    struct span part[3];
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= f.len && k < 3; i++) {
        if (i == f.len || f.s[i] == ',') {
            part[k++] = (struct span){f.s + start, i - start};
            start = i + 1;
        }
    }
    if (k != 3 || start <= f.len)
        return -1;
    if (parse_named(part[0], "m=", PASSWORD_ARGON2_MAX_MEMORY_KIB, &pp->memory_kib) < 0 ||
        parse_named(part[1], "t=", PASSWORD_ARGON2_MAX_PASSES, &pp->iterations) < 0 ||
        parse_named(part[2], "p=", PASSWORD_ARGON2_MAX_LANES, &pp->lanes) < 0)
        return -1;
    if (pp->memory_kib * pp->iterations > PASSWORD_ARGON2_MAX_WORK)
        return -1;
    /* libargon2 needs 8 KiB per lane (two sync points of four blocks). */
    return pp->memory_kib >= 8 * pp->lanes ? 0 : -1;
}

/* argon2$<type>$[v=<version>$]<costs>$<salt>$<hash>. */
static int parse_argon2(const struct span *f, int n, struct parsed *p) {
    struct password_params *pp = &p->params;
    int i = 2, salt_n, hash_n;
    long version = ARGON2_VERSION_10;
    if (n < 2)
        return PASSWORD_MALFORMED;
    if (span_is(f[1], "argon2id"))
        pp->algorithm = PASSWORD_ALG_ARGON2ID;
    else if (span_is(f[1], "argon2i"))
        pp->algorithm = PASSWORD_ALG_ARGON2I;
    else if (span_is(f[1], "argon2d"))
        pp->algorithm = PASSWORD_ALG_ARGON2D;
    else
        return PASSWORD_MALFORMED;
    if (n == 6 && parse_named(f[i++], "v=", 0x13, &version) < 0)
        return PASSWORD_MALFORMED;
    if ((n != 5 && n != 6) || (version != ARGON2_VERSION_10 && version != ARGON2_VERSION_13))
        return PASSWORD_MALFORMED;
    pp->version = (int)version;
    if (parse_argon2_costs(f[i], pp) < 0)
        return PASSWORD_MALFORMED;
    salt_n = b64_decode_unpadded(f[i + 1], p->salt_bytes, sizeof p->salt_bytes);
    hash_n = b64_decode_unpadded(f[i + 2], p->hash_bytes, sizeof p->hash_bytes);
    if (salt_n < ARGON2_MIN_SALT_BYTES || hash_n < ARGON2_MIN_HASH_BYTES)
        return PASSWORD_MALFORMED;
    pp->salt_len = (size_t)salt_n;
    pp->hash_len = (size_t)hash_n;
    return PASSWORD_OK;
}

static int parse(const char *encoded, struct parsed *p) {
    struct span f[MAX_FIELDS];
    int n;
    memset(p, 0, sizeof *p);
    if (!encoded || !encoded[0] || encoded[0] == '!')
        return PASSWORD_UNUSABLE;
    n = split_fields(encoded, f, MAX_FIELDS);
    if (span_is(f[0], "pbkdf2_sha256"))
        return parse_pbkdf2(f, n, PASSWORD_ALG_PBKDF2_SHA256, p);
    if (span_is(f[0], "pbkdf2_sha1"))
        return parse_pbkdf2(f, n, PASSWORD_ALG_PBKDF2_SHA1, p);
    if (span_is(f[0], "argon2"))
        return parse_argon2(f, n, p);
    return PASSWORD_UNKNOWN_FORMAT;
}

/* Derives key_len bytes with kdf's context for algorithm: password, salt and iterations for
 * this call, then the password wiped from the context. 1 on success, as PKCS5_PBKDF2_HMAC. */
static int derive_with(struct password_kdf *kdf, const char *plain, size_t plain_len,
                       const char *salt, size_t salt_len, long iterations, int algorithm,
                       unsigned char *key, size_t key_len) {
    EVP_KDF_CTX *ctx = algorithm == PASSWORD_ALG_PBKDF2_SHA256 ? kdf->sha256 : kdf->sha1;
    uint64_t iter = (uint64_t)iterations;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)plain, plain_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_ITER, &iter),
        OSSL_PARAM_construct_end(),
    };
    OSSL_PARAM wipe[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)"", 0),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(ctx, key, key_len, params);
    /* OpenSSL cleanses its copy of the password when it is replaced. */
    if (EVP_KDF_CTX_set_params(ctx, wipe) != 1)
        EVP_KDF_CTX_reset(ctx); /* cannot happen; losing the prepared digest is the safe side */
    return ok;
}

/* Derives the pbkdf2 key (through kdf when not NULL) and writes its padded base64 to b64
 * (PBKDF2_B64_MAX bytes). */
static int pbkdf2_b64(struct password_kdf *kdf, const char *plain, size_t plain_len,
                      const char *salt, size_t salt_len, long iterations, int algorithm,
                      char *b64) {
    unsigned char key[32];
    int key_len = algorithm == PASSWORD_ALG_PBKDF2_SHA256 ? 32 : 20;
    int ok;
    if (plain_len > INT_MAX || salt_len > INT_MAX || iterations < 1 || iterations > INT_MAX)
        return PASSWORD_ERR;
    if (kdf)
        ok = derive_with(kdf, plain_len ? plain : "", plain_len, salt, salt_len, iterations,
                         algorithm, key, (size_t)key_len);
    else
        ok = PKCS5_PBKDF2_HMAC(plain_len ? plain : "", (int)plain_len, (const unsigned char *)salt,
                               (int)salt_len, (int)iterations,
                               algorithm == PASSWORD_ALG_PBKDF2_SHA256 ? EVP_sha256() : EVP_sha1(),
                               key_len, key);
    if (ok == 1)
        EVP_EncodeBlock((unsigned char *)b64, key, key_len);
    OPENSSL_cleanse(key, sizeof key);
    return ok == 1 ? PASSWORD_OK : PASSWORD_ERR;
}

static int verify_pbkdf2(struct password_kdf *kdf, const char *plain, size_t plain_len,
                         const struct parsed *p) {
    char b64[PBKDF2_B64_MAX];
    int rc = pbkdf2_b64(kdf, plain, plain_len, p->salt.s, p->salt.len, p->params.iterations,
                        p->params.algorithm, b64);
    if (rc == PASSWORD_OK)
        rc = CRYPTO_memcmp(b64, p->hash.s, p->hash.len) == 0 ? PASSWORD_OK : PASSWORD_MISMATCH;
    OPENSSL_cleanse(b64, sizeof b64);
    return rc;
}

static int verify_argon2(const char *plain, size_t plain_len, const struct parsed *p) {
    const struct password_params *pp = &p->params;
    unsigned char computed[PASSWORD_ARGON2_MAX_LEN];
    argon2_type type = pp->algorithm == PASSWORD_ALG_ARGON2ID  ? Argon2_id
                       : pp->algorithm == PASSWORD_ALG_ARGON2I ? Argon2_i
                                                               : Argon2_d;
    int rc;
    if (plain_len > UINT32_MAX)
        return PASSWORD_ERR;
    rc = argon2_hash((uint32_t)pp->iterations, (uint32_t)pp->memory_kib, (uint32_t)pp->lanes,
                     plain_len ? plain : "", plain_len, p->salt_bytes, pp->salt_len, computed,
                     pp->hash_len, NULL, 0, type, (argon2_version)pp->version);
    if (rc == ARGON2_OK)
        rc = CRYPTO_memcmp(computed, p->hash_bytes, pp->hash_len) == 0 ? PASSWORD_OK
                                                                       : PASSWORD_MISMATCH;
    else
        rc = PASSWORD_ERR; /* parse() checked every parameter: memory or threads failed */
    OPENSSL_cleanse(computed, sizeof computed);
    return rc;
}

/* Fills salt (PASSWORD_SALT_LEN characters and a terminator) uniformly from SALT_ALPHABET:
 * bytes of 248 and above are dropped so that byte % 62 has no bias (248 = 4 * 62). */
static int make_salt(char *salt) {
    unsigned char random[64];
    size_t n = 0;
    while (n < PASSWORD_SALT_LEN) {
        if (RAND_bytes(random, sizeof random) != 1)
            return PASSWORD_ERR;
        for (size_t i = 0; i < sizeof random && n < PASSWORD_SALT_LEN; i++)
            if (random[i] < 248)
                salt[n++] = SALT_ALPHABET[random[i] % 62];
    }
    salt[n] = '\0';
    return PASSWORD_OK;
}

int password_parse(const char *encoded, struct password_params *out) {
    struct parsed p;
    int rc = parse(encoded, &p);
    if (rc == PASSWORD_OK)
        *out = p.params;
    return rc;
}

int password_verify(const char *plain, size_t plain_len, const char *encoded) {
    return password_verify_with(NULL, plain, plain_len, encoded);
}

int password_make(const char *plain, size_t plain_len, long iterations, char *out, size_t out_len) {
    return password_make_with(NULL, plain, plain_len, iterations, out, out_len);
}

int password_must_update(const char *encoded, long iterations) {
    struct parsed p;
    int rc = parse(encoded, &p);
    if (rc != PASSWORD_OK)
        return rc;
    return p.params.algorithm != PASSWORD_ALG_PBKDF2_SHA256 || p.params.iterations != iterations ||
           p.params.salt_len < PASSWORD_SALT_LEN;
}

void password_burn_time(long iterations) {
    password_burn_time_with(NULL, iterations);
}

/* A PBKDF2 context with digest and the pkcs5 flag set; NULL on failure. */
static EVP_KDF_CTX *kdf_context(EVP_KDF *pbkdf2, const char *digest) {
    int pkcs5 = 1; /* no SP 800-132 lower bounds, as PKCS5_PBKDF2_HMAC */
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0),
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &pkcs5),
        OSSL_PARAM_construct_end(),
    };
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(pbkdf2);
    if (ctx && EVP_KDF_CTX_set_params(ctx, params) != 1) {
        EVP_KDF_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

struct password_kdf *password_kdf_new(void) {
    struct password_kdf *kdf = OPENSSL_zalloc(sizeof *kdf);
    EVP_KDF *pbkdf2 = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
    if (kdf && pbkdf2) {
        kdf->sha256 = kdf_context(pbkdf2, "SHA256");
        kdf->sha1 = kdf_context(pbkdf2, "SHA1");
    }
    EVP_KDF_free(pbkdf2); /* the contexts hold their own reference */
    if (kdf && (!kdf->sha256 || !kdf->sha1)) {
        password_kdf_free(kdf);
        kdf = NULL;
    }
    return kdf;
}

void password_kdf_free(struct password_kdf *kdf) {
    if (!kdf)
        return;
    EVP_KDF_CTX_free(kdf->sha256);
    EVP_KDF_CTX_free(kdf->sha1);
    OPENSSL_free(kdf);
}

int password_verify_with(struct password_kdf *kdf, const char *plain, size_t plain_len,
                         const char *encoded) {
    struct parsed p;
    int rc = parse(encoded, &p);
    if (rc != PASSWORD_OK)
        return rc;
    if (plain_len > 0 && memchr(plain, '\0', plain_len))
        return PASSWORD_MISMATCH;
    if (p.params.algorithm == PASSWORD_ALG_PBKDF2_SHA256 ||
        p.params.algorithm == PASSWORD_ALG_PBKDF2_SHA1)
        return verify_pbkdf2(kdf, plain, plain_len, &p);
    return verify_argon2(plain, plain_len, &p);
}

int password_make_with(struct password_kdf *kdf, const char *plain, size_t plain_len,
                       long iterations, char *out, size_t out_len) {
    char salt[PASSWORD_SALT_LEN + 1], b64[PBKDF2_B64_MAX];
    int rc = PASSWORD_ERR, n;
    if (!out)
        return PASSWORD_ERR;
    /* A NUL would hash as if the password ended there (HMAC's zero padding): never verifiable. */
    int has_nul = plain_len > 0 && memchr(plain, '\0', plain_len);
    if (iterations >= 1 && iterations <= PASSWORD_MAX_ITERATIONS && !has_nul)
        rc = make_salt(salt);
    if (rc == PASSWORD_OK)
        rc = pbkdf2_b64(kdf, plain, plain_len, salt, PASSWORD_SALT_LEN, iterations,
                        PASSWORD_ALG_PBKDF2_SHA256, b64);
    if (rc == PASSWORD_OK) {
        n = snprintf(out, out_len, "pbkdf2_sha256$%ld$%s$%s", iterations, salt, b64);
        rc = n > 0 && (size_t)n < out_len ? PASSWORD_OK : PASSWORD_ERR;
    }
    if (rc != PASSWORD_OK && out_len > 0)
        out[0] = '\0';
    OPENSSL_cleanse(b64, sizeof b64);
    return rc;
}

void password_burn_time_with(struct password_kdf *kdf, long iterations) {
    char b64[PBKDF2_B64_MAX];
    static const char salt[] = "tokenauthburntimesalt0";
    if (iterations < 1 || iterations > PASSWORD_MAX_ITERATIONS)
        iterations = PASSWORD_DEFAULT_ITERATIONS;
    (void)pbkdf2_b64(kdf, "burn", 4, salt, sizeof salt - 1, iterations, PASSWORD_ALG_PBKDF2_SHA256,
                     b64);
}
