/* fuzz_password.c -- libFuzzer harness for the Django hash parser of shared/password.c.
 *
 * Input: "<encoded hash>\n<plain password>" (no newline: all of it is the hash, the password
 * empty). Every input goes through password_parse(); verify and must_update run only when the
 * parsed cost is tiny (pbkdf2 up to 64 iterations, argon2 up to 64 KiB-passes and 2 lanes), so
 * the fuzzer explores the parser instead of waiting on hashes. It traps when the functions
 * disagree: verify and must_update must return parse's error for what does not parse, and never
 * a parse error for what does. Each input also round-trips its password through
 * password_make at 1 iteration. The seed corpus is fuzz/corpus/password/ (Django-made hashes and
 * malformed ones from tests/unit/test_password.c). */
#include "password.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT 4096

static int is_cheap(const struct password_params *pp) {
    if (pp->algorithm == PASSWORD_ALG_PBKDF2_SHA256 || pp->algorithm == PASSWORD_ALG_PBKDF2_SHA1)
        return pp->iterations <= 64;
    return pp->memory_kib * pp->iterations <= 64 && pp->lanes <= 2;
}

static int is_parse_error(int rc) {
    return rc == PASSWORD_UNUSABLE || rc == PASSWORD_UNKNOWN_FORMAT || rc == PASSWORD_MALFORMED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char encoded[MAX_INPUT + 1], made[PASSWORD_ENCODED_MAX];
    struct password_params pp;
    const uint8_t *newline;
    size_t encoded_len, plain_len;
    const char *plain;
    int rc;

    if (size > MAX_INPUT)
        return 0;
    newline = memchr(data, '\n', size);
    encoded_len = newline ? (size_t)(newline - data) : size;
    memcpy(encoded, data, encoded_len);
    encoded[encoded_len] = '\0'; /* an embedded NUL ends the hash early, as in C callers */
    plain = newline ? (const char *)newline + 1 : "";
    plain_len = newline ? size - encoded_len - 1 : 0;

    rc = password_parse(encoded, &pp);
    if (rc != PASSWORD_OK) {
        if (!is_parse_error(rc) || password_verify(plain, plain_len, encoded) != rc ||
            password_must_update(encoded, 1) != rc)
            __builtin_trap();
    } else if (is_cheap(&pp)) {
        rc = password_verify(plain, plain_len, encoded);
        if (rc != PASSWORD_OK && rc != PASSWORD_MISMATCH)
            __builtin_trap();
        rc = password_must_update(encoded, pp.iterations);
        if (rc != 0 && rc != 1)
            __builtin_trap();
    }
    if (password_make(plain, plain_len, 1, made, sizeof made) != PASSWORD_OK ||
        password_verify(plain, plain_len, made) != PASSWORD_OK ||
        password_must_update(made, 1) != 0)
        __builtin_trap();
    return 0;
}
