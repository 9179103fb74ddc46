/* body.c -- username and password out of a login body: form, JSON or multipart.
 *
 * All three parsers decode in place into the caller's buffer (len + 1 bytes), so each field is a
 * NUL-terminated slice of it and a request allocates nothing here but cJSON's tree.
 *
 *   application/x-www-form-urlencoded  pairs split on '&', name and value split on the first '=',
 *       '+' is a space, %XX a byte; a pair without '=' has the empty value (Django keeps blank
 *       values); a '%' not followed by two hex digits is an error, in any pair.
 *   application/json  one object (RFC 8259, UTF-8); other keys are ignored, whatever their type;
 *       username and password must be strings; the \u0000 escape is refused, since cJSON's C
 *       strings would cut the value short there.
 *   multipart/form-data  RFC 7578 parts between "--boundary" lines, each with a
 *       Content-Disposition: form-data; name="..." header; parts with a filename (uploads) and
 *       without a name are skipped; values are taken raw (no Content-Transfer-Encoding).
 *
 * Not done: charsets other than UTF-8 (the caller refuses them from the Content-Type), nested
 * JSON fields, RFC 2231 encoded parameter names (name*=). */
#include "body.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "text.h"

#define MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 */
#define PART_NAME_MAX 64          /* longer part names are no field of ours */

static int fail(int code, char *err, size_t err_len, const char *msg) {
    snprintf(err, err_len, "%s", msg);
    return code;
}

/* Keeps name/value as the field it names, if it names one (the last one wins). */
static void take_field(struct body_fields *out, const char *name, size_t name_len, char *value,
                       size_t value_len) {
    if (name_len == 8 && memcmp(name, "username", 8) == 0) {
        out->username = value;
        out->username_len = value_len;
    } else if (name_len == 8 && memcmp(name, "password", 8) == 0) {
        out->password = value;
        out->password_len = value_len;
    }
}

static int body_parse_form(char *body, size_t len, struct body_fields *out, char *err,
                           size_t err_len) {
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    while (pos < len) {
        char *amp = memchr(body + pos, '&', len - pos);
        size_t end = amp ? (size_t)(amp - body) : len;
        char *pair = body + pos;
        size_t pair_len = end - pos;
        pos = end + 1;
        if (pair_len == 0)
            continue;
        char *eq = memchr(pair, '=', pair_len);
        size_t name_raw = eq ? (size_t)(eq - pair) : pair_len;
        char *value = eq ? eq + 1 : pair + pair_len; /* empty: points at the separator */
        size_t value_raw = eq ? pair_len - name_raw - 1 : 0;
        /* Decode the value first: decoding the name writes a terminator over the '='. */
        long value_len = eq ? text_percent_decode(value, value_raw, value, value_raw + 1) : 0;
        long name_len = text_percent_decode(pair, name_raw, pair, name_raw + 1);
        if (value_len < 0 || name_len < 0)
            return fail(BODY_ERR_MALFORMED, err, err_len, "form: bad percent-escape");
        if (!eq)
            value = pair + name_len; /* its terminator: the empty string */
        take_field(out, pair, (size_t)name_len, value, (size_t)value_len);
    }
    return BODY_OK;
}

static int body_parse_json(char *body, size_t len, struct body_fields *out, char *err,
                           size_t err_len) {
    memset(out, 0, sizeof *out);
    if (!text_is_utf8(body, len))
        return fail(BODY_ERR_MALFORMED, err, err_len, "JSON parse error: not UTF-8");
    if (text_json_has_nul_escape(body, len))
        return fail(BODY_ERR_MALFORMED, err, err_len, "JSON parse error: \\u0000 in a string");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root)
        return fail(BODY_ERR_MALFORMED, err, err_len, "JSON parse error: invalid JSON");
    while (end && end < body + len && strchr(" \t\r\n", *end) && *end)
        end++;
    int rc = BODY_OK;
    const cJSON *user = NULL, *pass = NULL;
    if (end != body + len) {
        rc = fail(BODY_ERR_MALFORMED, err, err_len, "JSON parse error: text after the value");
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(BODY_ERR_MALFORMED, err, err_len, "JSON parse error: not an object");
        goto done;
    }
    for (const cJSON *item = root->child; item; item = item->next) {
        if (strcmp(item->string, "username") == 0)
            user = item;
        else if (strcmp(item->string, "password") == 0)
            pass = item;
    }
    if ((user && !cJSON_IsString(user)) || (pass && !cJSON_IsString(pass))) {
        rc = fail(BODY_ERR_NOT_STRING, err, err_len,
                  user && !cJSON_IsString(user) ? "username" : "password");
        goto done;
    }
    /* Each decoded string is shorter than its quoted source, so both fit back into body. */
    size_t at = 0;
    if (user) {
        out->username_len = strlen(user->valuestring);
        out->username = memcpy(body + at, user->valuestring, out->username_len + 1);
        at += out->username_len + 1;
    }
    if (pass) {
        out->password_len = strlen(pass->valuestring);
        out->password = memcpy(body + at, pass->valuestring, out->password_len + 1);
    }
done:
    cJSON_Delete(root);
    return rc;
}

/* Reads the name parameter of a Content-Disposition value (line, line_len bytes) into name.
 * Returns 1 when it is form-data with a name and no filename, 0 to skip the part. */
static int disposition_name(const char *line, size_t line_len, char *name, size_t name_max,
                            size_t *name_len) {
    size_t i = 0;
    while (i < line_len && line[i] == ' ')
        i++;
    if (line_len - i < 9 || strncasecmp(line + i, "form-data", 9) != 0)
        return 0;
    i += 9;
    int has_name = 0;
    while (i < line_len) {
        while (i < line_len && (line[i] == ';' || line[i] == ' ' || line[i] == '\t'))
            i++;
        size_t key = i;
        while (i < line_len && line[i] != '=' && line[i] != ';')
            i++;
        size_t key_len = i;
        while (key_len > key && line[key_len - 1] == ' ')
            key_len--;
        key_len -= key;
        if (i < line_len && line[i] == '=')
            i++;
        char value[PART_NAME_MAX + 1];
        size_t n = 0, overflow = 0;
        int quoted = i < line_len && line[i] == '"';
        i += quoted;
        while (i < line_len && (quoted ? line[i] != '"' : line[i] != ';')) {
            if (quoted && line[i] == '\\' && i + 1 < line_len)
                i++;
            if (n < PART_NAME_MAX)
                value[n++] = line[i];
            else
                overflow = 1;
            i++;
        }
        i += quoted && i < line_len; /* the closing quote */
        if (key_len == 8 && strncasecmp(line + key, "filename", 8) == 0)
            return 0;
        if (key_len == 4 && strncasecmp(line + key, "name", 4) == 0 && !overflow && n < name_max) {
            memcpy(name, value, n);
            *name_len = n;
            has_name = 1;
        }
    }
    return has_name;
}

/* Reads the header block of one part, hdr[0..hdr_len) (lines ending in CRLF, without the empty
 * line). Returns 1 and the part's name when it is a named form field, 0 to skip it. */
static int part_name(const char *hdr, size_t hdr_len, char *name, size_t name_max,
                     size_t *name_len) {
    int named = 0;
    size_t pos = 0;
    while (pos < hdr_len) {
        const char *eol = memmem(hdr + pos, hdr_len - pos, "\r\n", 2);
        size_t line_len = eol ? (size_t)(eol - hdr) - pos : hdr_len - pos;
        const char *line = hdr + pos;
        pos += line_len + 2;
        static const char cd[] = "content-disposition:";
        if (line_len >= sizeof cd - 1 && strncasecmp(line, cd, sizeof cd - 1) == 0)
            named = disposition_name(line + sizeof cd - 1, line_len - (sizeof cd - 1), name,
                                     name_max, name_len);
    }
    return named;
}

static int body_parse_multipart(char *body, size_t len, const char *boundary,
                                struct body_fields *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    size_t b_len = boundary ? strlen(boundary) : 0;
    if (b_len == 0 || b_len > MULTIPART_BOUNDARY_MAX)
        return fail(BODY_ERR_MALFORMED, err, err_len, "multipart: missing or bad boundary");
    char delim[MULTIPART_BOUNDARY_MAX + 5]; /* "\r\n--" boundary */
    size_t d_len = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    /* The first delimiter opens the body or follows a preamble line. */
    size_t pos;
    if (len >= d_len - 2 && memcmp(body, delim + 2, d_len - 2) == 0) {
        pos = d_len - 2;
    } else {
        char *first = memmem(body, len, delim, d_len);
        if (!first)
            return fail(BODY_ERR_MALFORMED, err, err_len, "multipart: no boundary line");
        pos = (size_t)(first - body) + d_len;
    }
    for (;;) {
        if (len - pos >= 2 && memcmp(body + pos, "--", 2) == 0)
            return BODY_OK; /* the closing delimiter; an epilogue is ignored */
        while (pos < len && (body[pos] == ' ' || body[pos] == '\t'))
            pos++;
        if (len - pos < 2 || memcmp(body + pos, "\r\n", 2) != 0)
            return fail(BODY_ERR_MALFORMED, err, err_len, "multipart: bad boundary line");
        pos += 2;
        size_t hdr_len;
        if (len - pos >= 2 && memcmp(body + pos, "\r\n", 2) == 0) {
            hdr_len = 0; /* a part without headers */
        } else {
            char *hdr_end = memmem(body + pos, len - pos, "\r\n\r\n", 4);
            if (!hdr_end)
                return fail(BODY_ERR_MALFORMED, err, err_len, "multipart: unterminated headers");
            hdr_len = (size_t)(hdr_end - body) - pos + 2;
        }
        char name[PART_NAME_MAX];
        size_t name_len = 0;
        int named = part_name(body + pos, hdr_len, name, sizeof name, &name_len);
        size_t value = pos + hdr_len + 2;
        char *next = memmem(body + value, len - value, delim, d_len);
        if (!next)
            return fail(BODY_ERR_MALFORMED, err, err_len, "multipart: unterminated part");
        size_t value_len = (size_t)(next - body) - value;
        body[value + value_len] = '\0'; /* over the delimiter's CR, already found */
        if (named)
            take_field(out, name, name_len, body + value, value_len);
        pos = value + value_len + d_len;
    }
}

int body_parse(int kind, char *body, size_t len, const char *boundary, struct body_fields *out,
               char *err, size_t err_len) {
    int rc;
    body[len] = '\0';
    if (kind == BODY_FORM)
        rc = body_parse_form(body, len, out, err, err_len);
    else if (kind == BODY_JSON)
        rc = body_parse_json(body, len, out, err, err_len);
    else if (kind == BODY_MULTIPART)
        rc = body_parse_multipart(body, len, boundary, out, err, err_len);
    else
        return fail(BODY_ERR_MALFORMED, err, err_len, "body: unknown encoding");
    if (rc != BODY_OK)
        return rc;
    if (out->username && memchr(out->username, '\0', out->username_len))
        return fail(BODY_ERR_NUL, err, err_len, "username");
    if (out->password && memchr(out->password, '\0', out->password_len))
        return fail(BODY_ERR_NUL, err, err_len, "password");
    if ((out->username && !text_is_utf8(out->username, out->username_len)) ||
        (out->password && !text_is_utf8(out->password, out->password_len)))
        return fail(BODY_ERR_MALFORMED, err, err_len,
                    out->username && !text_is_utf8(out->username, out->username_len)
                        ? "username: not UTF-8"
                        : "password: not UTF-8");
    return BODY_OK;
}
