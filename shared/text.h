/* text.h -- the text checks both programs need: UTF-8 validity, percent-decoding, and the one
 * JSON escape cJSON cannot keep (\u0000).
 *
 * login-fcgi decodes form bodies and checks that usernames and passwords are UTF-8; ws-worker
 * checks that every text message is UTF-8 (RFC 6455 requires closing with 1007 otherwise). The
 * ?token= query parameter is not decoded here: libwebsockets hands ws-worker its query arguments
 * already decoded. One implementation serves both programs, and one bounded append serves every
 * line both build. */
#ifndef TOKENAUTH_TEXT_H
#define TOKENAUTH_TEXT_H

#include <stddef.h>

#define TEXT_ERR -1 /* a bad percent-escape, or the output does not fit */

/* Appends the n bytes at s to out (out_len bytes in all) at offset *len, as many as fit before
 * a terminator, advances *len past them and terminates out. What does not fit is dropped: log
 * lines and reports would rather be cut than fail. Needs *len < out_len (so nothing happens
 * when out_len is 0). The one bounded append of log.c, config.c and ws-worker's redactor. */
void text_append(char *out, size_t out_len, size_t *len, const char *s, size_t n);

/* 1 when s (len bytes, NULs allowed) is well-formed UTF-8 as RFC 3629 defines it: no overlong
 * forms, no surrogates, nothing above U+10FFFF, no truncated sequence; else 0. */
int text_is_utf8(const char *s, size_t len);

/* Writes value in decimal at out (at least 20 bytes free, no terminator); returns the digits
 * written. For the hot paths (a login's response, a log line) that printf would slow. */
size_t text_put_decimal(char *out, unsigned long long value);

/* Decodes application/x-www-form-urlencoded text: "%XX" becomes that byte and "+" a space.
 * Reads len bytes of in, writes the result and a terminator to out (out_len bytes). out may be
 * in itself (the result is never longer). Returns the decoded length, or TEXT_ERR for a bad
 * escape ("%", "%4", "%zz") or when out_len is too small. */
long text_percent_decode(const char *in, size_t len, char *out, size_t out_len);

/* Decodes the %XX escapes of a URL's part (RFC 3986): like text_percent_decode, but "+" stays
 * itself and an escape decoding to NUL ("%00") is TEXT_ERR, since the result is a C string.
 * bus_url.c's user names and passwords. */
long text_url_decode(const char *in, size_t len, char *out, size_t out_len);

/* 1 when the JSON text s (len bytes) holds a \u0000 escape, one preceded by an odd run of
 * backslashes (so "\\u0000", an escaped backslash then "u0000", is not one); else 0. cJSON
 * cuts a string at such an escape, so both programs refuse it rather than use a shorter
 * string than was sent. */
int text_json_has_nul_escape(const char *s, size_t len);

#endif
