/* channel.h -- channels: names, patterns and signatures; who may subscribe and who may publish.
 *
 * A channel is a Django Channels group: 1 to 99 ASCII letters, digits, '-', '_' or '.' (Django's
 * group-name rule). Names starting with "user." are reserved: "user.<id>" (decimal, no sign, no
 * leading zero, id > 0) is the personal channel of user <id>, open to that user alone; the other
 * "user." names ("user.05", "user.x") belong to no one, so nobody may subscribe to them.
 *
 * Pattern lists (TOKENAUTH_WS_PUBLIC_CHANNELS, TOKENAUTH_WS_PUBLISH_CHANNELS) are comma-separated
 * items, blanks around items ignored, empty items skipped: a channel name (matches itself),
 * "prefix.*" (names starting with "prefix." and at least one more character) or "*" (every
 * name outside the reserved "user." names). An empty list matches nothing.
 *
 * A signature is the lowercase hex HMAC-SHA256, under TOKENAUTH_CHANNEL_SECRET, of
 * "<user id>:<channel>": the application's grant of one channel to one user. An empty secret
 * turns signatures off (none is ever valid).
 *
 * Subscribing, default deny, decided in this order:
 *   1. a name that is not a channel name: CHANNEL_ERR_INVALID;
 *   2. a reserved "user." name: CHANNEL_OK for the user's own personal channel, else
 *      CHANNEL_ERR_FORBIDDEN, whatever the patterns say and whatever the signature: a personal
 *      channel is never shared;
 *   3. a name the public patterns match: CHANNEL_OK;
 *   4. a valid signature for this user and channel: CHANNEL_OK;
 *   5. else CHANNEL_ERR_FORBIDDEN.
 * Publishing from a WebSocket: a channel name the publish patterns match, else forbidden ("*"
 * never covers "user." names; an explicit "user.*" or "user.7" does). */
#ifndef TOKENAUTH_CHANNEL_H
#define TOKENAUTH_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#define CHANNEL_OK 0
#define CHANNEL_ERR_INVALID -1   /* not a channel name, or a pattern list item: err says which */
#define CHANNEL_ERR_FORBIDDEN -2 /* a channel name this user may not use */
#define CHANNEL_ERR_NOMEM -3
#define CHANNEL_ERR_CRYPTO -4 /* the crypto library failed */

#define CHANNEL_NAME_MAX 99             /* characters of a name (Django: fewer than 100) */
#define CHANNEL_SIGNATURE_LEN 64        /* hex characters of a signature */
#define CHANNEL_SECRET_MIN_LEN 32       /* characters of a TOKENAUTH_CHANNEL_SECRET in use */
#define CHANNEL_PERSONAL_PREFIX "user." /* the reserved names */
#define CHANNEL_PERSONAL_NAME_SIZE 25   /* "user." + 19 digits + terminator */

struct channel_patterns; /* a parsed pattern list */

/* What the decisions read; filled by channel_policy_parse or by hand. */
struct channel_policy {
    struct channel_patterns *public_patterns;  /* TOKENAUTH_WS_PUBLIC_CHANNELS; NULL = none */
    struct channel_patterns *publish_patterns; /* TOKENAUTH_WS_PUBLISH_CHANNELS; NULL = none */
    const char *secret; /* TOKENAUTH_CHANNEL_SECRET, not copied; NULL or "" = no signatures */
};

/* 1 when name is a channel name (1 to 99 of [A-Za-z0-9._-]), else 0. NULL gives 0. */
int channel_name_is_valid(const char *name);

/* 1 with *id set when name is a personal channel "user.<id>" in canonical form, else 0. */
int channel_personal_id(const char *name, int64_t *id);

/* Writes "user.<id>" into out (out_len bytes, CHANNEL_PERSONAL_NAME_SIZE is enough). Returns
 * CHANNEL_OK, or CHANNEL_ERR_INVALID when id <= 0 or out is too small. */
int channel_personal_name(int64_t id, char *out, size_t out_len);

/* Parses a pattern list. Returns CHANNEL_OK with *out set (free with channel_patterns_free), or
 * CHANNEL_ERR_INVALID with err naming the first bad item and what is accepted, or
 * CHANNEL_ERR_NOMEM. err has no setting name: the caller prefixes it. */
int channel_patterns_parse(const char *text, struct channel_patterns **out, char *err,
                           size_t err_len);

/* 1 when the list (NULL = empty) matches name, else 0. name need not be valid (then 0). */
int channel_patterns_match(const struct channel_patterns *patterns, const char *name);

/* Frees a list; NULL is allowed. */
void channel_patterns_free(struct channel_patterns *patterns);

/* Fills p from the two pattern lists' text and the secret (kept as a pointer: it must outlive
 * p). Returns CHANNEL_OK, CHANNEL_ERR_INVALID (err: "public channels: ..." or "publish channels:
 * ...") or CHANNEL_ERR_NOMEM; p holds no list on error. */
int channel_policy_parse(struct channel_policy *p, const char *public_text,
                         const char *publish_text, const char *secret, char *err, size_t err_len);

/* Frees the lists of p (not p itself) and clears them; NULL is allowed. */
void channel_policy_free(struct channel_policy *p);

/* Writes the signature of (user_id, channel) under secret to out, terminated. Returns
 * CHANNEL_OK; CHANNEL_ERR_INVALID when the secret is NULL or empty, user_id <= 0 or channel is
 * not a channel name; CHANNEL_ERR_CRYPTO. */
int channel_sign(const char *secret, int64_t user_id, const char *channel,
                 char out[CHANNEL_SIGNATURE_LEN + 1]);

/* 1 when signature is exactly the signature channel_sign gives (64 lowercase hex characters),
 * compared in constant time; 0 otherwise, always 0 when the secret is NULL or empty. */
int channel_signature_ok(const char *secret, int64_t user_id, const char *channel,
                         const char *signature);

/* May user_id subscribe to channel? signature may be NULL. Returns CHANNEL_OK,
 * CHANNEL_ERR_INVALID or CHANNEL_ERR_FORBIDDEN; *detail (when detail is not NULL) is set to a
 * static sentence for the client saying why, NULL when allowed. It never holds the secret or
 * the signature. */
int channel_may_subscribe(const struct channel_policy *p, /* the rules */
                          int64_t user_id,                /* who asks */
                          const char *channel,            /* what, as the client wrote it */
                          const char *signature,          /* NULL when none was given */
                          const char **detail);           /* why not, or NULL */

/* May user_id publish to channel from a WebSocket? Same results and detail as subscribing. */
int channel_may_publish(const struct channel_policy *p, int64_t user_id, const char *channel,
                        const char **detail);

#endif
