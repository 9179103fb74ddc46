/* fuzz_origin.c -- libFuzzer harness for shared/origin.c: allowed-hosts patterns, CORS lists and
 * the Origin header checked against them. The input is split at its first NUL byte: before it a
 * pattern list, parsed both as ORIGIN_HOSTS and as ORIGIN_CORS; after it an Origin value (up to
 * a second NUL), or no Origin at all when the input holds no NUL. Every parse result is freed
 * (the sanitizers see a leak), and these must hold:
 *   - a failed parse explains itself in err; a successful one gives a list;
 *   - a list with "*" allows every Origin, a missing one included (CORS: every present one);
 *   - the same list plus ",*" parses exactly when the list does, and then allows everything;
 *   - a missing Origin passes a host list only with "*", and never asks for CORS headers;
 *   - an empty list allows nothing;
 *   - the answers ignore ASCII case in the Origin;
 *   - an Origin (no comma, no surrounding space) that parses as a one-item CORS list is allowed by
 *     that list. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "origin.h"
#include "fuzz.h"

static char *copy_until_nul(const uint8_t *p, size_t n) {
    const uint8_t *nul = memchr(p, '\0', n);
    size_t len = nul ? (size_t)(nul - p) : n;
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, p, len);
        s[len] = '\0';
    }
    return s;
}

static char *ascii_case(const char *s, int upper) {
    if (!s)
        return NULL;
    char *t = strdup(s);
    for (char *c = t; c && *c; c++)
        *c = (char)(upper ? toupper((unsigned char)*c) : tolower((unsigned char)*c));
    return t;
}

/* Parses text as kind; 1 with *out set, or 0 (err checked). */
static int parse(const char *text, int kind, struct origin_list **out) {
    char err[256];
    err[0] = '\0';
    *out = NULL;
    int rc = origin_list_parse(text, kind, out, err, sizeof err);
    if (rc == ORIGIN_ERR_NOMEM)
        return 0;
    if (rc != ORIGIN_OK) {
        REQUIRE(rc == ORIGIN_ERR_INVALID && err[0] != '\0' && memchr(err, '\0', sizeof err));
        return 0;
    }
    REQUIRE(*out != NULL);
    return 1;
}

static int allowed(const struct origin_list *list, int kind, const char *origin) {
    int r = kind == ORIGIN_HOSTS ? origin_host_allowed(list, origin)
                                 : origin_cors_allowed(list, origin);
    REQUIRE(r == 0 || r == 1);
    return r;
}

static void check_kind(const char *patterns, int kind, const char *origin, const char *upper,
                       const char *lower) {
    struct origin_list *list;
    int ok = parse(patterns, kind, &list);
    int wildcard = 0;
    if (ok) {
        int r = allowed(list, kind, origin);
        REQUIRE(allowed(list, kind, upper) == r && allowed(list, kind, lower) == r);
        if (kind == ORIGIN_HOSTS) {
            wildcard = origin_host_allowed(list, NULL);
            if (wildcard)
                REQUIRE(r == 1);
        } else {
            REQUIRE(origin_cors_allowed(list, NULL) == 0);
            wildcard = origin_cors_is_wildcard(list);
            if (wildcard)
                REQUIRE(!origin || r == 1);
        }
        origin_list_free(list);
    }
    char *more = with_wildcard_item(patterns);
    if (!more)
        return;
    int ok_more = parse(more, kind, &list);
    free(more);
    if (ok_more) {
        REQUIRE(kind == ORIGIN_HOSTS ? origin_host_allowed(list, NULL) == 1
                                     : origin_cors_is_wildcard(list) == 1);
        REQUIRE(!origin || allowed(list, kind, origin) == 1);
        origin_list_free(list);
    }
    /* An item that fails to parse fails the list whatever follows it, and "*" always parses. */
    REQUIRE(ok_more == ok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *patterns = copy_until_nul(data, size);
    const uint8_t *nul = memchr(data, '\0', size);
    char *origin = nul ? copy_until_nul(nul + 1, size - (size_t)(nul + 1 - data)) : NULL;
    char *upper = ascii_case(origin, 1), *lower = ascii_case(origin, 0);
    if (!patterns || (nul && (!origin || !upper || !lower)))
        goto done;

    check_kind(patterns, ORIGIN_HOSTS, origin, upper, lower);
    check_kind(patterns, ORIGIN_CORS, origin, upper, lower);

    struct origin_list *empty;
    if (parse("", ORIGIN_HOSTS, &empty)) {
        REQUIRE(origin_host_allowed(empty, origin) == 0);
        origin_list_free(empty);
    }
    if (parse(" , ", ORIGIN_CORS, &empty)) {
        REQUIRE(origin_cors_allowed(empty, origin) == 0 && !origin_cors_is_wildcard(empty));
        origin_list_free(empty);
    }

    struct origin_list *self;
    size_t len = origin ? strlen(origin) : 0;
    if (len && !strchr(origin, ',') && !isspace((unsigned char)origin[0]) &&
        !isspace((unsigned char)origin[len - 1]) && parse(origin, ORIGIN_CORS, &self)) {
        REQUIRE(origin_cors_allowed(self, origin) == 1);
        origin_list_free(self);
    }
done:
    free(patterns);
    free(origin);
    free(upper);
    free(lower);
    return 0;
}
