/* text.c -- UTF-8 validation and percent-decoding, shared by login-fcgi and ws-worker.
 *
 * The UTF-8 check follows the table of RFC 3629 section 4: the first byte fixes the length and
 * the range allowed for the second byte, which is how overlongs (E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points past U+10FFFF (F4 90.., F5..FF) are refused without
 * decoding. Percent-decoding is the form flavour (WHATWG URL standard, "+" is a space), the one
 * both HTML forms and query strings use, or the URL flavour ("+" kept, "%00" refused) that
 * bus_url.c reads Redis user names and passwords with; one decoder serves both. The \u0000 scan
 * serves both programs' JSON input. text_append is the bounded append every line builder uses: cut,
 * never overrun. */
#include "text.h"

#include <string.h>

void text_append(char *out, size_t out_len, size_t *len, const char *s, size_t n) {
    if (*len >= out_len)
        return;
    while (n-- > 0 && *len + 1 < out_len)
        out[(*len)++] = *s++;
    out[*len] = '\0';
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int text_is_utf8(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n_more;                      /* continuation bytes after the first */
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n_more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n_more = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n_more = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return 0; /* a continuation byte first, C0/C1 (always overlong), or F5..FF */
        }
        if (len - i <= n_more || p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n_more; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
        i += n_more + 1;
    }
    return 1;
}

/* The one %XX decoder: '+' becomes a space when plus_is_space (forms), and a decoded NUL is
 * refused unless nul_ok (a URL's parts end up in C strings, where it would cut them). */
static long decode(const char *in, size_t len, char *out, size_t out_len, int plus_is_space,
                   int nul_ok) {
    size_t n = 0;
    if (out_len == 0)
        return TEXT_ERR;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '+' && plus_is_space) {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < len ? hex_value((unsigned char)in[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value((unsigned char)in[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (!nul_ok && hi == 0 && lo == 0))
                return TEXT_ERR;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (n + 1 >= out_len)
            return TEXT_ERR;
        out[n++] = c;
    }
    out[n] = '\0';
    return (long)n;
}

long text_percent_decode(const char *in, size_t len, char *out, size_t out_len) {
    return decode(in, len, out, out_len, 1, 1);
}

long text_url_decode(const char *in, size_t len, char *out, size_t out_len) {
    return decode(in, len, out, out_len, 0, 0);
}

int text_json_has_nul_escape(const char *s, size_t len) {
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\')
            continue;
        size_t run = 1;
        while (i + run < len && s[i + run] == '\\')
            run++;
        i += run - 1; /* s[i] is the run's last backslash */
        if (run % 2 == 1 && i + 6 <= len && memcmp(s + i + 1, "u0000", 5) == 0)
            return 1;
    }
    return 0;
}

size_t text_put_decimal(char *out, unsigned long long value) {
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}
