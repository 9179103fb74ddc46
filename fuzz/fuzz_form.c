/* fuzz_form.c -- libFuzzer harness of login-fcgi's form body parser (body_parse, BODY_FORM).
 *
 * Each input is copied into a fresh buffer of exactly len + 1 bytes (the parser's contract), so
 * AddressSanitizer catches any read or write past it. Checked on success: the fields lie inside
 * the buffer, are NUL-terminated at their length, are UTF-8, and the username holds no NUL.
 * The corpus is fuzz/corpus/form/. */
#include "../login-fcgi/body.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_field(const char *buf, size_t buf_len, const char *value, size_t len) {
    if (!value)
        return;
    if (value < buf || value + len > buf + buf_len || value[len] != '\0' ||
        !text_is_utf8(value, len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct body_fields f;
    char err[128];
    if (body_parse(BODY_FORM, buf, size, NULL, &f, err, sizeof err) == BODY_OK) {
        check_field(buf, size + 1, f.username, f.username_len);
        check_field(buf, size + 1, f.password, f.password_len);
        if (f.username && memchr(f.username, '\0', f.username_len))
            abort();
    }
    free(buf);
    return 0;
}
