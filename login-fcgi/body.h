/* body.h -- the login request body: username and password out of the three encodings a client
 * may send (a form, JSON, a browser's FormData).
 *
 * The parsers work in place on a buffer the caller owns and may overwrite: the fields returned
 * point into it, NUL-terminated, so a request costs no allocation beyond cJSON's own. On
 * duplicate fields the last one wins, as Django's QueryDict. Every decoded name and value must be
 * UTF-8, and may hold no NUL byte: DRF's CharField refuses them ("Null characters are not
 * allowed."), and a password with a NUL would otherwise match the one cut at it (HMAC pads its
 * key with zero bytes, so PBKDF2 of "123\0" is PBKDF2 of "123"). */
#ifndef TOKENAUTH_BODY_H
#define TOKENAUTH_BODY_H

#include <stddef.h>

#define BODY_OK 0
#define BODY_ERR_MALFORMED -1  /* the body does not parse: err says why */
#define BODY_ERR_NOT_STRING -2 /* JSON: username or password is not a string: err names it */
#define BODY_ERR_NUL -3        /* username or password holds a NUL byte: err names it */

/* The encodings we accept, from the Content-Type's media type. */
#define BODY_FORM 1      /* application/x-www-form-urlencoded */
#define BODY_JSON 2      /* application/json */
#define BODY_MULTIPART 3 /* multipart/form-data; boundary=... */

/* The two fields of a login. A field absent from the body is NULL. */
struct body_fields {
    char *username;      /* NUL-terminated, points into the caller's buffer, or NULL */
    size_t username_len; /* bytes, without the terminator */
    char *password;      /* NUL-terminated, or NULL */
    size_t password_len; /* bytes, without the terminator */
};

/* Parses body (len bytes in a buffer of at least len + 1 bytes, which the parser overwrites)
 * as kind. boundary (multipart only, else ignored) is the Content-Type's boundary parameter,
 * already unquoted. Fills out and returns BODY_OK, or a BODY_ERR_* with a short reason for the
 * client in err ("what: why"). */
int body_parse(int kind, char *body, size_t len, const char *boundary, struct body_fields *out,
               char *err, size_t err_len);

#endif
