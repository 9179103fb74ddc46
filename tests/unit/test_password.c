/* test_password.c -- shared/password.c: every format Django writes, every error path.
 *
 * The vectors marked "Django 3.2" were made once with Debian 12's python3-django 3.2.25 and
 * python3-argon2 21.1.0, and are committed here, e.g.:
 *   /usr/bin/python3 -c 'import django; from django.conf import settings;
 *     settings.configure(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"]);
 *     django.setup(); from django.contrib.auth.hashers import make_password;
 *     print(make_password("testing123"))'
 * (pbkdf2 at other iteration counts through a PBKDF2PasswordHasher subclass with `iterations`
 * set; the argon2i/argon2d and version-16 vectors with argon2.low_level.hash_secret and checked
 * with Django's check_password). */
#include "password.h"
#include "test.h"

#include <string.h>

/* "pässwörd €" in UTF-8. */
#define UTF8_PASSWORD "p\xc3\xa4ssw\xc3\xb6rd \xe2\x82\xac"

struct vector {
    const char *plain;
    const char *encoded;
};

/* Django-made hashes that must verify. */
static const struct vector DJANGO[] = {
    /* pbkdf2_sha256 at 1 iteration (what our tests use for speed) */
    {"testing123",
     "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ="},
    /* pbkdf2_sha256 at 1000 */
    {"123",
     "pbkdf2_sha256$1000$1hiJBHY1jAmT7UfeuS8F8s$3Zl9WiejvHT7Q1VebESjbM2Yp6xeuzrDeLirGNfof9Q="},
    /* pbkdf2_sha256 at Django 3.2's default 260000, non-ASCII password */
    {UTF8_PASSWORD,
     "pbkdf2_sha256$260000$QASkVTAv1e8BAGm0KhdHeD$ig7MBPHj2eVIVw3ndctvyGFrWVA7mYdwKg62vv+bAoU="},
    /* the empty password */
    {"", "pbkdf2_sha256$20000$mRvVZTfwkLjCZI2lpdNlxD$bH8dQEO5GZCbNeL69hIgUFrrQfLI3TY7Fo/asEi9ta8="},
    /* pbkdf2_sha1 */
    {"testing123", "pbkdf2_sha1$1000$dUsS9G5q75rH5xOiJUcUgs$JHruDrzDJZi/jQ5qPSQlIjHe7xs="},
    {"123", "pbkdf2_sha1$260000$LsJxGGkjZzZKjaYvOWKnf8$Wm4OAQA3TAe14UA4chQhcjB/NIc="},
    /* argon2id with Django 3.2's defaults (m=102400, t=2, p=8, 16-byte hash) */
    {"testing123", "argon2$argon2id$v=19$m=102400,t=2,p=8$TE9Zb2pGajJQTEkxRW5LM1VhdHFNVw$"
                   "tsDqIQ4svi03H8ErnMF70w"},
    /* argon2id, small costs */
    {"123",
     "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A"},
    /* argon2i as older Django wrote it (m=512, p=2) */
    {"suraj", "argon2$argon2i$v=19$m=512,t=2,p=2$c2FsdHNhbHRzYWx0$GvG6MAQXtWiVbrSpKGvbNQ"},
    /* argon2i version 16 without "v=" (Django 1.10) */
    {"suraj", "argon2$argon2i$m=64,t=2,p=2$b2xkc2FsdHZhbHVl$aKj9NUdUrw3bIYxDTBOSLA"},
    /* argon2d, 32-byte hash */
    {"secret", "argon2$argon2d$v=19$m=32,t=1,p=1$c29tZXNhbHR2YWx1ZQ$"
               "f6nDHevXqxse3Yz6MollpfdaVjpNo8E3z9+5cD9qD/E"},
};

static int verify(const char *plain, const char *encoded) {
    return password_verify(plain, strlen(plain), encoded);
}

/* Names a case of a loop over hashes: "password: <what> <encoded>". */
static void test_named(const char *what, const char *encoded) {
    static char name[512];
    snprintf(name, sizeof name, "password: %s %s", what, encoded);
    TEST(name);
}

static void test_django_vectors(void) {
    char wrong[64];
    for (size_t i = 0; i < sizeof DJANGO / sizeof DJANGO[0]; i++) {
        test_named("a Django hash verifies with its password, not with one byte more:",
                   DJANGO[i].encoded);
        CHECK_INT(verify(DJANGO[i].plain, DJANGO[i].encoded), PASSWORD_OK);
        snprintf(wrong, sizeof wrong, "%sx", DJANGO[i].plain);
        CHECK_INT(verify(wrong, DJANGO[i].encoded), PASSWORD_MISMATCH);
    }
    TEST("password: a prefix of the right password is a mismatch");
    CHECK_INT(password_verify("testing123", 9, DJANGO[0].encoded), PASSWORD_MISMATCH);
    TEST("password: a 200-character password hashed by Django verifies");
    char longpw[201];
    memset(longpw, 'a', 200);
    longpw[200] = '\0';
    CHECK_INT(verify(longpw, "pbkdf2_sha256$100$Tc3qjdZz7Hjsnmo8HA8yFL$"
                             "R8YifkWS+J++wb1KmDy2PFw8rtHCA0qxLdUcpPrf+Mg="),
              PASSWORD_OK);
}

static void test_altered_hashes(void) {
    TEST("password: one changed character of a stored pbkdf2 key is a mismatch, not an error");
    CHECK_INT(verify("testing123",
                     "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+"
                     "TNSkkQ0"),
              PASSWORD_MISMATCH);
    TEST("password: a changed pbkdf2 salt is a mismatch");
    CHECK_INT(verify("testing123",
                     "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQT$Dm7Bvcg96+YklAXST2iqQCqhL+"
                     "I9o4X7ET3O+TNSkkQ="),
              PASSWORD_MISMATCH);
    TEST("password: another pbkdf2 iteration count is a mismatch");
    CHECK_INT(verify("testing123",
                     "pbkdf2_sha256$2$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+"
                     "I9o4X7ET3O+TNSkkQ="),
              PASSWORD_MISMATCH);
    TEST("password: the pbkdf2_sha256 name on a pbkdf2_sha1 hash is malformed (key length)");
    CHECK_INT(verify("testing123", "pbkdf2_sha256$1000$dUsS9G5q75rH5xOiJUcUgs$JHruDrzDJZi/"
                                   "jQ5qPSQlIjHe7xs="),
              PASSWORD_MALFORMED);
    TEST("password: a changed argon2id hash is a mismatch (malformed when not canonical base64)");
    CHECK_INT(verify("123", "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$"
                            "sKNTCZ+sivwablPAcYCQ2B"),
              PASSWORD_MALFORMED); /* B leaves trailing bits set: not canonical */
    CHECK_INT(verify("123", "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$"
                            "sKNTCZ+sivwablPAcYCQ2Q"),
              PASSWORD_MISMATCH);
    TEST("password: the argon2 type is part of the hash (argon2i named argon2id is a mismatch)");
    CHECK_INT(verify("suraj", "argon2$argon2id$v=19$m=512,t=2,p=2$c2FsdHNhbHRzYWx0$"
                              "GvG6MAQXtWiVbrSpKGvbNQ"),
              PASSWORD_MISMATCH);
    TEST("password: the argon2 version is part of the hash (v=19 on a version-16 hash is a "
         "mismatch)");
    CHECK_INT(verify("suraj", "argon2$argon2i$v=19$m=64,t=2,p=2$b2xkc2FsdHZhbHVl$"
                              "aKj9NUdUrw3bIYxDTBOSLA"),
              PASSWORD_MISMATCH);
}

static void test_unusable_and_unknown(void) {
    TEST("password: Django's make_password(None) is unusable, whatever the password");
    CHECK_INT(verify("", "!wd8MwIAe9nc1f2dZ3LmHSB5YkOuHnba98c2Z4qUS"), PASSWORD_UNUSABLE);
    CHECK_INT(verify("!wd8MwIAe9nc1f2dZ3LmHSB5YkOuHnba98c2Z4qUS",
                     "!wd8MwIAe9nc1f2dZ3LmHSB5YkOuHnba98c2Z4qUS"),
              PASSWORD_UNUSABLE);
    TEST("password: a lone '!' is an unusable password");
    CHECK_INT(verify("", "!"), PASSWORD_UNUSABLE);
    TEST("password: an empty encoded string is an unusable password");
    CHECK_INT(verify("", ""), PASSWORD_UNUSABLE);
    TEST("password: a NULL encoded password is unusable");
    CHECK_INT(password_verify("x", 1, NULL), PASSWORD_UNUSABLE);
    /* formats we do not speak */
    static const char *unknown[] = {
        "bcrypt_sha256$$2b$12$abcdefghijklmnopqrstuv",
        "bcrypt$$2b$12$abc",
        "md5$salt$hash",
        "sha1$salt$hash",
        "scrypt$16384$salt$8$1$hash",
        "crypt$$abc",
        "unsalted_md5$abc",
        "testing123",
        "PBKDF2_SHA256$1$salt$hash",
        "pbkdf2_sha512$1$salt$hash",
        "$pbkdf2_sha256$1$salt$hash",
        "argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        test_named("a format we do not speak is PASSWORD_UNKNOWN_FORMAT:", unknown[i]);
        CHECK_INT(verify("testing123", unknown[i]), PASSWORD_UNKNOWN_FORMAT);
    }
}

static void test_malformed(void) {
    /* known algorithm, fields that do not parse; each is refused before any hashing */
    static const char *bad[] = {
        "pbkdf2_sha256",
        "pbkdf2_sha256$",
        "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQS",
        "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=$",
        "pbkdf2_sha256$0$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$01$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$-1$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$+1$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$ 1$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$1e3$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$100000001$s$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$99999999999999999999$s$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$1$$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
        "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQS$",
        "pbkdf2_sha256$1$JdZ7cNpfT4JB8dO8jg9fQS$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+TNSkkQ",
        "pbkdf2_sha1$1000$dUsS9G5q75rH5xOiJUcUgs$JHruDrzDJZi/jQ5qPSQlIjHe7xs",
        "argon2",
        "argon2$argon2id",
        "argon2$argon2x$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=18$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=20$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$x=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$t=1,m=64,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1,k=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+"
        "sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1,$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=0,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=0$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=0,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=9$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        /* costs past the limits: 1 GiB + 1 KiB, 65 passes, 65 lanes, m * t past the budget */
        "argon2$argon2id$v=19$m=1048577,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+"
        "sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=65,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=1024,t=1,p=65$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+"
        "sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=1048576,t=5,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+"
        "sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=99999999999999999999,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$aaaaaa",
        /* salt and hash encodings */
        "argon2$argon2id$v=19$m=64,t=1,p=1$c2FsdA$sKNTCZ+sivwablPAcYCQ2A",      /* salt 4 bytes */
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$AAA", /* hash 2 bytes */
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg==$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A==",
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRW QXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQ_$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQgAAA$sKNTCZ+"
        "sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQh$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1$$sKNTCZ+sivwablPAcYCQ2A",
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$",
        /* a 66-byte hash: past PASSWORD_ARGON2_MAX_LEN */
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        /* wrong field counts */
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg",
        "argon2$argon2id$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A$",
        "argon2$argon2id$v=19$v=19$m=64,t=1,p=1$bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+"
        "sivwablPAcYCQ2A",
    };
    struct password_params pp;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        test_named("a known algorithm with fields that do not parse is malformed, before any "
                   "hashing:",
                   bad[i]);
        CHECK_INT(verify("123", bad[i]), PASSWORD_MALFORMED);
        CHECK_INT(password_parse(bad[i], &pp), PASSWORD_MALFORMED);
    }
}

static void test_parse(void) {
    struct password_params pp;
    TEST("password: parse reads Django 3.2's default argon2id hash: type, version, costs, salt and "
         "hash");
    CHECK_INT(password_parse(DJANGO[6].encoded, &pp), PASSWORD_OK);
    CHECK_INT(pp.algorithm, PASSWORD_ALG_ARGON2ID);
    CHECK_INT(pp.memory_kib, 102400);
    CHECK_INT(pp.iterations, 2);
    CHECK_INT(pp.lanes, 8);
    CHECK_INT(pp.version, 0x13);
    CHECK_INT(pp.salt_len, 22);
    CHECK_INT(pp.hash_len, 16);
    TEST("password: parse reads argon2i without v= as version 16");
    CHECK_INT(password_parse(DJANGO[9].encoded, &pp), PASSWORD_OK);
    CHECK_INT(pp.algorithm, PASSWORD_ALG_ARGON2I);
    CHECK_INT(pp.version, 0x10);
    TEST("password: parse reads argon2d");
    CHECK_INT(password_parse(DJANGO[10].encoded, &pp), PASSWORD_OK);
    CHECK_INT(pp.algorithm, PASSWORD_ALG_ARGON2D);
    CHECK_INT(pp.hash_len, 32);
    TEST("password: parse reads pbkdf2_sha256 at 260000 iterations");
    CHECK_INT(password_parse(DJANGO[2].encoded, &pp), PASSWORD_OK);
    CHECK_INT(pp.algorithm, PASSWORD_ALG_PBKDF2_SHA256);
    CHECK_INT(pp.iterations, 260000);
    CHECK_INT(pp.salt_len, 22);
    CHECK_INT(pp.hash_len, 32);
    CHECK_INT(pp.memory_kib, 0);
    TEST("password: parse reads pbkdf2_sha1");
    CHECK_INT(password_parse(DJANGO[4].encoded, &pp), PASSWORD_OK);
    CHECK_INT(pp.algorithm, PASSWORD_ALG_PBKDF2_SHA1);
    CHECK_INT(pp.hash_len, 20);
    TEST("password: parse accepts exactly PASSWORD_MAX_ITERATIONS (nothing is hashed)");
    CHECK_INT(password_parse("pbkdf2_sha256$100000000$s$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+"
                             "TNSkkQ=",
                             &pp),
              PASSWORD_OK);
    CHECK_INT(pp.iterations, PASSWORD_MAX_ITERATIONS);
    TEST("password: parse accepts argon2 at the memory, pass and lane limits (nothing is hashed)");
    CHECK_INT(password_parse("argon2$argon2id$v=19$m=1048576,t=4,p=64$"
                             "bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
                             &pp),
              PASSWORD_OK);
    CHECK_INT(password_parse("argon2$argon2id$v=19$m=65536,t=64,p=1$"
                             "bVBrSUxoTDA3cW9LckRWQXRtSVNLQg$sKNTCZ+sivwablPAcYCQ2A",
                             &pp),
              PASSWORD_OK);
    TEST("password: parse lets a salt hold any character but '$'");
    CHECK_INT(password_parse("pbkdf2_sha256$1$a b=c!\xc3\xa9$Dm7Bvcg96+YklAXST2iqQCqhL+I9o4X7ET3O+"
                             "TNSkkQ=",
                             &pp),
              PASSWORD_OK);
    CHECK_INT(pp.salt_len, 7); /* characters, as Python counts them */
    TEST("password: parse passes the unusable and unknown-format codes through");
    CHECK_INT(password_parse("!x", &pp), PASSWORD_UNUSABLE);
    CHECK_INT(password_parse("md5$a$b", &pp), PASSWORD_UNKNOWN_FORMAT);
}

static void test_make(void) {
    char out[PASSWORD_ENCODED_MAX], other[PASSWORD_ENCODED_MAX];
    struct password_params pp;
    TEST("password: make writes what Django writes: pbkdf2_sha256$<iterations>$<22-char "
         "salt>$<44-char key>");
    CHECK_INT(password_make("testing123", 10, 1000, out, sizeof out), PASSWORD_OK);
    CHECK(strncmp(out, "pbkdf2_sha256$1000$", 19) == 0);
    CHECK_INT(strlen(out), 19 + 22 + 1 + 44);
    CHECK_INT(strspn(out + 19, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
              22);
    CHECK_INT(out[19 + 22], '$');
    CHECK_INT(password_parse(out, &pp), PASSWORD_OK);
    CHECK_INT(pp.iterations, 1000);
    TEST("password: a hash from make verifies, and a wrong password does not");
    CHECK_INT(verify("testing123", out), PASSWORD_OK);
    CHECK_INT(verify("testing124", out), PASSWORD_MISMATCH);
    TEST("password: make uses a fresh salt each time");
    CHECK_INT(password_make("testing123", 10, 1000, other, sizeof other), PASSWORD_OK);
    CHECK(strcmp(out, other) != 0);
    CHECK(strncmp(out, other, 19 + 22) != 0);
    TEST("password: a NUL byte never matches the password cut at it (HMAC's zero padding)");
    CHECK_INT(password_make("123", 3, 1, out, sizeof out), PASSWORD_OK);
    CHECK_INT(password_verify("123\0", 4, out), PASSWORD_MISMATCH);
    CHECK_INT(password_verify("123\0\0", 5, out), PASSWORD_MISMATCH);
    CHECK_INT(password_verify("1\0"
                              "23",
                              4, out),
              PASSWORD_MISMATCH);
    CHECK_INT(password_verify("123", 3, out), PASSWORD_OK);
    TEST("password: make refuses a password holding a NUL byte");
    CHECK_INT(password_make("a\0b", 3, 1, out, sizeof out), PASSWORD_ERR);
    TEST("password: make hashes the empty password (NULL with length 0)");
    CHECK_INT(password_make(NULL, 0, 1, out, sizeof out), PASSWORD_OK);
    CHECK_INT(password_verify("", 0, out), PASSWORD_OK);
    CHECK_INT(password_verify(NULL, 0, out), PASSWORD_OK);
    TEST("password: make refuses iterations 0, negative and past the limit");
    CHECK_INT(password_make("x", 1, 0, out, sizeof out), PASSWORD_ERR);
    CHECK_STR(out, "");
    CHECK_INT(password_make("x", 1, -5, out, sizeof out), PASSWORD_ERR);
    CHECK_INT(password_make("x", 1, PASSWORD_MAX_ITERATIONS + 1, out, sizeof out), PASSWORD_ERR);
    TEST("password: make refuses an output buffer too small and leaves it empty");
    CHECK_INT(password_make("x", 1, 1, out, 20), PASSWORD_ERR);
    CHECK_STR(out, "");
    CHECK_INT(password_make("x", 1, 1, out, 0), PASSWORD_ERR);
    CHECK_INT(password_make("x", 1, 1, NULL, 0), PASSWORD_ERR);
    TEST("password: make needs exactly room for \"pbkdf2_sha256$1$\", salt, '$', key and "
         "terminator");
    CHECK_INT(password_make("x", 1, 1, out, 16 + 22 + 1 + 44), PASSWORD_ERR);
    CHECK_INT(password_make("x", 1, 1, out, 16 + 22 + 1 + 44 + 1), PASSWORD_OK);
}

static void test_must_update(void) {
    char made[PASSWORD_ENCODED_MAX];
    TEST(
        "password: must_update: pbkdf2_sha256 at the configured count with a full salt is current");
    CHECK_INT(password_must_update(DJANGO[2].encoded, 260000), 0);
    TEST("password: must_update: another iteration count, higher or lower, needs an update");
    CHECK_INT(password_must_update(DJANGO[2].encoded, 1000000), 1);
    CHECK_INT(password_must_update(DJANGO[2].encoded, 1000), 1);
    TEST("password: must_update: pbkdf2_sha1 and argon2 are replaced by pbkdf2_sha256");
    CHECK_INT(password_must_update(DJANGO[4].encoded, 1000), 1);
    CHECK_INT(password_must_update(DJANGO[6].encoded, 2), 1);
    CHECK_INT(password_must_update(DJANGO[9].encoded, 2), 1);
    TEST("password: must_update: a salt under 22 characters needs an update (Django 3.2's salt "
         "entropy rule)");
    CHECK_INT(password_must_update("pbkdf2_sha256$260000$shortsalt$piVqFrKVbKwOS/niRMVRp8D0ZTU5RNU8"
                                   "E3oZYDPxPnk=",
                                   260000),
              1);
    CHECK_INT(password_must_update("pbkdf2_sha256$1$\xc3\xa9"
                                   "123456789012345678901$Dm7Bvcg96+YklAXST"
                                   "2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
                                   1),
              0); /* 22 characters, 23 bytes */
    CHECK_INT(password_must_update("pbkdf2_sha256$1$\xc3\xa9"
                                   "12345678901234567890$Dm7Bvcg96+YklAXST"
                                   "2iqQCqhL+I9o4X7ET3O+TNSkkQ=",
                                   1),
              1); /* 21 characters, 22 bytes */
    TEST("password: must_update: a hash password_make just wrote is current");
    CHECK_INT(password_make("x", 1, 7, made, sizeof made), PASSWORD_OK);
    CHECK_INT(password_must_update(made, 7), 0);
    TEST("password: must_update of what does not parse returns why");
    CHECK_INT(password_must_update("pbkdf2_sha256$x$y$z", 1), PASSWORD_MALFORMED);
    CHECK_INT(password_must_update("!unusable", 1), PASSWORD_UNUSABLE);
    CHECK_INT(password_must_update("", 1), PASSWORD_UNUSABLE);
    CHECK_INT(password_must_update("md5$a$b", 1), PASSWORD_UNKNOWN_FORMAT);
}

static void test_burn_time(void) {
    TEST("password: burn_time returns for 1 iteration and falls back to the default for 0 (its "
         "time is not tested)");
    password_burn_time(1);
    password_burn_time(0);
    CHECK(1);
}

/* 1 when alg is a pbkdf2 algorithm (the part a password_kdf changes). */
static int is_pbkdf2(const char *encoded) {
    return strncmp(encoded, "pbkdf2_", 7) == 0;
}

static void test_kdf(void) {
    char made[PASSWORD_ENCODED_MAX], other[PASSWORD_ENCODED_MAX];
    struct password_kdf *kdf = password_kdf_new();
    TEST("password: kdf: password_kdf_new makes a context");
    CHECK(kdf != NULL);
    if (!kdf)
        return;
    TEST("password: kdf: one context verifies every Django vector in turn, sha256 and sha1, "
         "salts and iteration counts changing from call to call (twice over)");
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof DJANGO / sizeof DJANGO[0]; i++) {
            const struct vector *v = &DJANGO[i];
            test_named("verify_with", v->encoded);
            CHECK_INT(password_verify_with(kdf, v->plain, strlen(v->plain), v->encoded),
                      PASSWORD_OK);
            if (is_pbkdf2(v->encoded))
                CHECK_INT(password_verify_with(kdf, "wrong", 5, v->encoded), PASSWORD_MISMATCH);
        }
    TEST("password: kdf: after a wrong password the right one still verifies (nothing of the "
         "last call stays in the context)");
    CHECK_INT(password_verify_with(kdf, "testing1234", 11, DJANGO[0].encoded), PASSWORD_MISMATCH);
    CHECK_INT(password_verify_with(kdf, "testing123", 10, DJANGO[0].encoded), PASSWORD_OK);
    CHECK_INT(password_verify_with(kdf, "", 0, DJANGO[3].encoded), PASSWORD_OK);
    CHECK_INT(password_verify_with(kdf, "testing123", 10, DJANGO[0].encoded), PASSWORD_OK);
    TEST("password: kdf: make_with writes a hash the one-shot path verifies, and back");
    CHECK_INT(password_make_with(kdf, "secret", 6, 3, made, sizeof made), PASSWORD_OK);
    CHECK_INT(password_verify("secret", 6, made), PASSWORD_OK);
    CHECK_INT(password_make("secret", 6, 1000, other, sizeof other), PASSWORD_OK);
    CHECK_INT(password_verify_with(kdf, "secret", 6, other), PASSWORD_OK);
    CHECK_INT(password_verify_with(kdf, "secret", 6, made), PASSWORD_OK);
    CHECK_INT(password_verify_with(kdf, "secreT", 6, made), PASSWORD_MISMATCH);
    TEST("password: kdf: refusals leave the context usable");
    CHECK_INT(password_make_with(kdf, "x", 1, 0, made, sizeof made), PASSWORD_ERR);
    CHECK_INT(password_verify_with(kdf, "a\0b", 3, other), PASSWORD_MISMATCH);
    CHECK_INT(password_verify_with(kdf, "secret", 6, other), PASSWORD_OK);
    TEST("password: kdf: burn_time_with returns (its time is not tested)");
    password_burn_time_with(kdf, 1);
    CHECK_INT(password_verify_with(kdf, "secret", 6, other), PASSWORD_OK);
    password_kdf_free(kdf);
    TEST("password: kdf: NULL is the one-shot path, and password_kdf_free(NULL) is harmless");
    CHECK_INT(password_verify_with(NULL, "secret", 6, other), PASSWORD_OK);
    password_kdf_free(NULL);
}

void test_password(void) {
    test_django_vectors();
    test_altered_hashes();
    test_unusable_and_unknown();
    test_malformed();
    test_parse();
    test_make();
    test_must_update();
    test_burn_time();
    test_kdf();
}
