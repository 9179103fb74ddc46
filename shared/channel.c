/* channel.c -- channels: names, patterns and signatures; who may subscribe and who may publish.
 *
 * Names follow Django Channels' group-name check (channels/layers.py: fewer than 100 characters
 * of [a-zA-Z0-9-_.]), so every name a client may use is one Django's group_send accepts too.
 * Pattern lists are parsed once at start into an array of items, each an exact name, a prefix
 * ending in "." or the wildcard; matching is a linear scan (lists are a few items long).
 *
 * Signatures are HMAC-SHA256 over "<user id>:<channel>", the decimal id without sign or leading
 * zeros, in lowercase hex, so the application makes them with Python's hmac and hashlib (or the
 * sqlite3 extension's sign_channel) without any tokenauth code. They are compared with
 * CRYPTO_memcmp over the full 64 characters once the length is known to be right; the length of
 * a signature is no secret. A signature never expires: revoke it by changing the secret.
 *
 * Deliberately not here: a signature for someone else's personal channel is never honoured
 * (personal channels are decided before signatures), so no grant can leak one user's messages to
 * another. The refusal details are fixed sentences: they echo neither the secret nor what the
 * client sent. */
#include "channel.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PERSONAL_PREFIX_LEN (sizeof CHANNEL_PERSONAL_PREFIX - 1)
#define ITEM_ECHO_MAX 100 /* bytes of a bad item quoted in an error */

#define DETAIL_INVALID "a channel name is 1 to 99 ASCII letters, digits, '-', '_' or '.'"
#define DETAIL_PERSONAL "a personal channel is open to its own user only"
#define DETAIL_RESERVED "names starting with \"user.\" are reserved for personal channels"
#define DETAIL_NOT_PUBLIC "this channel is not public"
#define DETAIL_NEEDS_SIGNATURE                                                                     \
    "this channel is not public: subscribe with the signature the application gives you"
#define DETAIL_BAD_SIGNATURE "the signature does not grant this channel to this user"
#define DETAIL_NO_PUBLISH "publishing to this channel from a WebSocket is not allowed"

enum item_kind { ITEM_NAME, ITEM_PREFIX, ITEM_ANY };

struct pattern_item {
    enum item_kind kind;
    size_t len;                      /* of text */
    char text[CHANNEL_NAME_MAX + 1]; /* the name, or the prefix with its final "." */
};

struct channel_patterns {
    size_t n_items;
    struct pattern_item items[]; /* n_items of them */
};

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/* 1 when the len bytes at s are a channel name. */
static int name_is_valid(const char *s, size_t len) {
    if (len < 1 || len > CHANNEL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(s[i]))
            return 0;
    return 1;
}

static int is_reserved(const char *name) {
    return strncmp(name, CHANNEL_PERSONAL_PREFIX, PERSONAL_PREFIX_LEN) == 0;
}

int channel_name_is_valid(const char *name) {
    return name && name_is_valid(name, strnlen(name, CHANNEL_NAME_MAX + 1));
}

int channel_personal_id(const char *name, int64_t *id) {
    if (!name || !is_reserved(name))
        return 0;
    const char *digits = name + PERSONAL_PREFIX_LEN;
    if (digits[0] < '1' || digits[0] > '9')
        return 0; /* empty, a sign, a leading zero or not a number */
    int64_t n = 0;
    for (const char *c = digits; *c; c++) {
        if (*c < '0' || *c > '9' || n > (INT64_MAX - (*c - '0')) / 10)
            return 0;
        n = n * 10 + (*c - '0');
    }
    *id = n;
    return 1;
}

int channel_personal_name(int64_t id, char *out, size_t out_len) {
    if (id <= 0 || out_len == 0)
        return CHANNEL_ERR_INVALID;
    int n = snprintf(out, out_len, CHANNEL_PERSONAL_PREFIX "%" PRId64, id);
    return n > 0 && (size_t)n < out_len ? CHANNEL_OK : CHANNEL_ERR_INVALID;
}

/* Parses one trimmed item of len bytes at s into item; CHANNEL_OK or CHANNEL_ERR_INVALID. */
static int parse_item(const char *s, size_t len, struct pattern_item *item) {
    if (len == 1 && s[0] == '*') {
        item->kind = ITEM_ANY;
        item->len = 0;
        item->text[0] = '\0';
        return CHANNEL_OK;
    }
    item->kind = ITEM_NAME;
    if (len >= 3 && s[len - 1] == '*' && s[len - 2] == '.') {
        /* "prefix.*": the prefix is a name that leaves room for ".x" within a name */
        if (!name_is_valid(s, len - 2) || len - 2 > CHANNEL_NAME_MAX - 2)
            return CHANNEL_ERR_INVALID;
        item->kind = ITEM_PREFIX;
        len--; /* keep the "." */
    } else if (!name_is_valid(s, len)) {
        return CHANNEL_ERR_INVALID;
    }
    memcpy(item->text, s, len);
    item->text[len] = '\0';
    item->len = len;
    return CHANNEL_OK;
}

static int is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next item of the list at *cursor, trimmed: its start and length (0 for an empty item);
 * *cursor moves past its comma. Returns 0 at the end of the list. */
static int next_item(const char **cursor, const char **start, size_t *len) {
    const char *s = *cursor;
    if (!s)
        return 0;
    const char *comma = strchr(s, ',');
    const char *end = comma ? comma : s + strlen(s);
    *cursor = comma ? comma + 1 : NULL;
    while (s < end && is_blank(*s))
        s++;
    while (end > s && is_blank(end[-1]))
        end--;
    *start = s;
    *len = (size_t)(end - s);
    return 1;
}

int channel_patterns_parse(const char *text, struct channel_patterns **out, char *err,
                           size_t err_len) {
    size_t n_max = 1;
    for (const char *c = text; *c; c++)
        n_max += *c == ',';
    struct channel_patterns *list = malloc(sizeof *list + n_max * sizeof list->items[0]);
    if (!list) {
        snprintf(err, err_len, "out of memory");
        return CHANNEL_ERR_NOMEM;
    }
    list->n_items = 0;
    const char *cursor = text, *item;
    size_t len;
    while (next_item(&cursor, &item, &len)) {
        if (len == 0)
            continue;
        if (parse_item(item, len, &list->items[list->n_items]) != CHANNEL_OK) {
            snprintf(err, err_len,
                     "\"%.*s\"%s is not a channel name or pattern: expected names of 1 to 99 "
                     "letters, digits, '-', '_' or '.', \"prefix.*\" or \"*\", comma-separated",
                     (int)(len > ITEM_ECHO_MAX ? ITEM_ECHO_MAX : len), item,
                     len > ITEM_ECHO_MAX ? "..." : "");
            free(list);
            return CHANNEL_ERR_INVALID;
        }
        list->n_items++;
    }
    *out = list;
    return CHANNEL_OK;
}

static int item_matches(const struct pattern_item *item, const char *name, size_t name_len) {
    switch (item->kind) {
    case ITEM_ANY:
        return !is_reserved(name);
    case ITEM_PREFIX:
        return name_len > item->len && memcmp(name, item->text, item->len) == 0;
    case ITEM_NAME:
        return name_len == item->len && memcmp(name, item->text, item->len) == 0;
    }
    return 0;
}

int channel_patterns_match(const struct channel_patterns *patterns, const char *name) {
    if (!patterns || !channel_name_is_valid(name))
        return 0;
    size_t name_len = strlen(name);
    for (size_t i = 0; i < patterns->n_items; i++)
        if (item_matches(&patterns->items[i], name, name_len))
            return 1;
    return 0;
}

void channel_patterns_free(struct channel_patterns *patterns) {
    free(patterns);
}

/* Parses one list of the policy, prefixing an error with what the list is. */
static int parse_policy_list(const char *what, const char *text, struct channel_patterns **out,
                             char *err, size_t err_len) {
    char why[512];
    int rc = channel_patterns_parse(text ? text : "", out, why, sizeof why);
    if (rc != CHANNEL_OK)
        snprintf(err, err_len, "%s: %s", what, why);
    return rc;
}

int channel_policy_parse(struct channel_policy *p, const char *public_text,
                         const char *publish_text, const char *secret, char *err, size_t err_len) {
    memset(p, 0, sizeof *p);
    int rc = parse_policy_list("public channels", public_text, &p->public_patterns, err, err_len);
    if (rc == CHANNEL_OK)
        rc =
            parse_policy_list("publish channels", publish_text, &p->publish_patterns, err, err_len);
    if (rc != CHANNEL_OK) {
        channel_policy_free(p);
        return rc;
    }
    p->secret = secret;
    return CHANNEL_OK;
}

void channel_policy_free(struct channel_policy *p) {
    if (!p)
        return;
    channel_patterns_free(p->public_patterns);
    channel_patterns_free(p->publish_patterns);
    p->public_patterns = p->publish_patterns = NULL;
}

int channel_sign(const char *secret, int64_t user_id, const char *channel,
                 char out[CHANNEL_SIGNATURE_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    char message[32 + CHANNEL_NAME_MAX];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    if (!secret || !secret[0] || user_id <= 0 || !channel_name_is_valid(channel))
        return CHANNEL_ERR_INVALID;
    int message_len = snprintf(message, sizeof message, "%" PRId64 ":%s", user_id, channel);
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)message,
              (size_t)message_len, mac, &mac_len) ||
        mac_len * 2 != CHANNEL_SIGNATURE_LEN)
        return CHANNEL_ERR_CRYPTO;
    for (unsigned int i = 0; i < mac_len; i++) {
        out[2 * i] = hex[mac[i] >> 4];
        out[2 * i + 1] = hex[mac[i] & 0xf];
    }
    out[CHANNEL_SIGNATURE_LEN] = '\0';
    OPENSSL_cleanse(mac, sizeof mac);
    return CHANNEL_OK;
}

int channel_signature_ok(const char *secret, int64_t user_id, const char *channel,
                         const char *signature) {
    char expected[CHANNEL_SIGNATURE_LEN + 1];
    if (!signature || strnlen(signature, CHANNEL_SIGNATURE_LEN + 1) != CHANNEL_SIGNATURE_LEN)
        return 0;
    if (channel_sign(secret, user_id, channel, expected) != CHANNEL_OK)
        return 0;
    int ok = CRYPTO_memcmp(expected, signature, CHANNEL_SIGNATURE_LEN) == 0;
    OPENSSL_cleanse(expected, sizeof expected);
    return ok;
}

/* Returns rc, setting *detail (when asked for) to why. */
static int decided(int rc, const char *why, const char **detail) {
    if (detail)
        *detail = rc == CHANNEL_OK ? NULL : why;
    return rc;
}

/* The decision for a reserved "user." name: only the owner, whatever else says yes. */
static int personal_decision(int64_t user_id, const char *channel, const char **detail) {
    int64_t owner;
    if (!channel_personal_id(channel, &owner))
        return decided(CHANNEL_ERR_FORBIDDEN, DETAIL_RESERVED, detail);
    if (owner != user_id)
        return decided(CHANNEL_ERR_FORBIDDEN, DETAIL_PERSONAL, detail);
    return decided(CHANNEL_OK, NULL, detail);
}

int channel_may_subscribe(const struct channel_policy *p, int64_t user_id, const char *channel,
                          const char *signature, const char **detail) {
    int signatures_on = p->secret && p->secret[0];
    if (!channel_name_is_valid(channel))
        return decided(CHANNEL_ERR_INVALID, DETAIL_INVALID, detail);
    if (is_reserved(channel))
        return personal_decision(user_id, channel, detail);
    if (channel_patterns_match(p->public_patterns, channel))
        return decided(CHANNEL_OK, NULL, detail);
    if (!signatures_on)
        return decided(CHANNEL_ERR_FORBIDDEN, DETAIL_NOT_PUBLIC, detail);
    if (!signature)
        return decided(CHANNEL_ERR_FORBIDDEN, DETAIL_NEEDS_SIGNATURE, detail);
    if (!channel_signature_ok(p->secret, user_id, channel, signature))
        return decided(CHANNEL_ERR_FORBIDDEN, DETAIL_BAD_SIGNATURE, detail);
    return decided(CHANNEL_OK, NULL, detail);
}

int channel_may_publish(const struct channel_policy *p, int64_t user_id, const char *channel,
                        const char **detail) {
    (void)user_id; /* the same rule for everyone today; kept so a per-user rule needs no caller */
    if (!channel_name_is_valid(channel))
        return decided(CHANNEL_ERR_INVALID, DETAIL_INVALID, detail);
    if (!channel_patterns_match(p->publish_patterns, channel))
        return decided(CHANNEL_ERR_FORBIDDEN, DETAIL_NO_PUBLISH, detail);
    return decided(CHANNEL_OK, NULL, detail);
}
