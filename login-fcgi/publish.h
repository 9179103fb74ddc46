/* publish.h -- POST /api/publish/: the publish key of the Authorization header, and the body
 * of a publication.
 *
 * The key: "Authorization: Bearer <key>" (scheme in any case, RFC 6750), compared with
 * TOKENAUTH_PUBLISH_KEY through their SHA-256 digests with CRYPTO_memcmp, so neither the
 * content nor the length of the key shows in the time taken.
 *
 * The body: one JSON object (UTF-8, no \u0000 escape),
 *   {"channel": "news", "data": X}   or   {"channels": ["news", "sport"], "data": X}
 * with exactly one of channel/channels, 1 to max channels, each a channel name (channel.h), and
 * data any JSON value (null included) that is required. Other keys are ignored, as DRF's
 * serializers do. A refusal comes as DRF's 400 body: {"field": ["message"]}, a list's bad item
 * as {"channels": {"<index>": ["message"]}}, both keys or neither as {"non_field_errors": [...]},
 * a body that is no JSON object as {"detail": "..."}. No message repeats what the client sent. */
#ifndef TOKENAUTH_PUBLISH_H
#define TOKENAUTH_PUBLISH_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <msgpack.h>

#define PUBLISH_OK 0
#define PUBLISH_ERR_INVALID -1 /* the body is no publication: the error body says why */
#define PUBLISH_ERR_NOMEM -2

/* publish_key_check results */
#define PUBLISH_KEY_OK 0
#define PUBLISH_KEY_MISSING 1    /* no Authorization header */
#define PUBLISH_KEY_NOT_BEARER 2 /* a header of another form, "Token <key>" say */
#define PUBLISH_KEY_WRONG 3      /* Bearer with another key */

/* A parsed publication. */
struct publish_body {
    cJSON *root;           /* the parsed body, owner of what follows */
    const char **channels; /* n_channels names, pointing into root (malloc'd array) */
    size_t n_channels;     /* 1 to the maximum */
    const cJSON *data;     /* the "data" member, inside root */
};

/* Checks authorization (the header's value, NULL when absent) against configured (the key,
 * non-empty). Returns a PUBLISH_KEY_* code. */
int publish_key_check(const char *configured, const char *authorization);

/* Parses body (len bytes) allowing at most max_channels channels. Returns PUBLISH_OK with out
 * filled (free with publish_body_free), PUBLISH_ERR_INVALID with *error set to the 400 body
 * (the caller owns it; NULL when out of memory), or PUBLISH_ERR_NOMEM. */
int publish_parse(const char *body, size_t len, size_t max_channels, struct publish_body *out,
                  cJSON **error);

/* Packs the publication's message once (event.h: {"type": "tokenauth.message", "data": ...},
 * no "from") into out (initialised by the caller), and checks that what a WebSocket client
 * would get for its longest channel fits max_message_bytes (TOKENAUTH_WS_MAX_MESSAGE): a
 * message ws-worker would drop is refused here. Returns PUBLISH_OK, PUBLISH_ERR_INVALID with
 * *error the 400 body on "data" (NULL when out of memory), or PUBLISH_ERR_NOMEM. */
int publish_pack(const struct publish_body *b, long max_message_bytes, msgpack_sbuffer *out,
                 cJSON **error);

/* Frees what publish_parse made; a zeroed or NULL body is allowed. */
void publish_body_free(struct publish_body *b);

#endif
