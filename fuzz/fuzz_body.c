/* fuzz_body.c -- libFuzzer harness of login-fcgi's body parsers (body_parse, all three kinds).
 *
 * The first input byte picks the encoding, modulo 3: 0 form, 1 JSON, 2 multipart with the
 * boundary "XyZ"; the rest is the body. One harness serves all three so the fuzzer shares what
 * it learns about bodies across them. The body is copied into a fresh buffer of exactly
 * len + 1 bytes (the parser's contract), so AddressSanitizer catches any read or write past it.
 * Checked on success: the fields lie inside the buffer, are NUL-terminated at their length, are
 * UTF-8, and neither holds a NUL. The corpus is fuzz/corpus/body/, each seed starting
 * with its selector byte ('0', '1' or '2'). */
#include "../login-fcgi/body.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const int kinds[] = {BODY_FORM, BODY_JSON, BODY_MULTIPART};

static void check_field(const char *buf, size_t buf_len, const char *value, size_t len) {
    if (!value)
        return;
    if (value < buf || value + len > buf + buf_len || value[len] != '\0' ||
        !text_is_utf8(value, len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int kind = kinds[data[0] % 3];
    size_t body_len = size - 1;
    char *buf = malloc(body_len + 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, body_len);
    struct body_fields f;
    char err[128];
    if (body_parse(kind, buf, body_len, "XyZ", &f, err, sizeof err) == BODY_OK) {
        check_field(buf, body_len + 1, f.username, f.username_len);
        check_field(buf, body_len + 1, f.password, f.password_len);
        if ((f.username && memchr(f.username, '\0', f.username_len)) ||
            (f.password && memchr(f.password, '\0', f.password_len)))
            abort();
    }
    free(buf);
    return 0;
}
