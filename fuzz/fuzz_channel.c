/* fuzz_channel.c -- libFuzzer harness for shared/channel.c: pattern lists and the decisions.
 * The input is split at NUL bytes: a pattern list (used as both the public and the publish
 * list), a channel name, a signature. These must hold:
 *   - a failed parse explains itself in err; a successful one gives a list;
 *   - a list matches only valid names, and "*" appended matches every valid non-"user." name;
 *   - a personal name "user.<id>" reads back as the same text through channel_personal_name;
 *   - subscribing answers OK, INVALID or FORBIDDEN, with a detail exactly when refused; INVALID
 *     exactly for invalid names; a personal channel is OK for its owner and FORBIDDEN for anyone
 *     else whatever the list and signature; a public channel is OK; otherwise OK exactly when
 *     the signature is channel_sign's;
 *   - publishing is OK exactly for valid names the list matches. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "fuzz.h"

#define SECRET "fuzz-secret-fuzz-secret-fuzz-secret"
#define USER 7

/* The next NUL-terminated piece of the input (a copy, caller frees); "" past the end. */
static char *next_piece(const uint8_t **p, const uint8_t *end) {
    const uint8_t *nul = memchr(*p, '\0', (size_t)(end - *p));
    size_t len = nul ? (size_t)(nul - *p) : (size_t)(end - *p);
    char *s = malloc(len + 1);
    if (s) {
        memcpy(s, *p, len);
        s[len] = '\0';
    }
    *p = nul ? nul + 1 : end;
    return s;
}

static void check_list(const char *text, const char *name) {
    struct channel_patterns *list = NULL;
    char err[512] = "";
    int rc = channel_patterns_parse(text, &list, err, sizeof err);
    REQUIRE(rc == CHANNEL_OK || rc == CHANNEL_ERR_INVALID || rc == CHANNEL_ERR_NOMEM);
    if (rc == CHANNEL_OK) {
        REQUIRE(list != NULL);
        REQUIRE(!channel_patterns_match(list, name) || channel_name_is_valid(name));
    } else {
        REQUIRE(list == NULL && err[0] != '\0');
    }
    channel_patterns_free(list);
    char *more = with_wildcard_item(text);
    if (!more)
        return;
    /* an item that fails fails the list whatever follows it, and "*" always parses */
    int rc_more = channel_patterns_parse(more, &list, err, sizeof err);
    REQUIRE((rc_more == CHANNEL_OK) == (rc == CHANNEL_OK) || rc == CHANNEL_ERR_NOMEM ||
            rc_more == CHANNEL_ERR_NOMEM);
    if (rc_more == CHANNEL_OK) {
        if (channel_name_is_valid(name) && strncmp(name, "user.", 5) != 0)
            REQUIRE(channel_patterns_match(list, name));
        channel_patterns_free(list);
    }
    free(more);
}

static void check_personal(const char *name) {
    int64_t id;
    char again[CHANNEL_PERSONAL_NAME_SIZE];
    if (!channel_personal_id(name, &id))
        return;
    REQUIRE(id > 0 && channel_personal_name(id, again, sizeof again) == CHANNEL_OK);
    REQUIRE(strcmp(again, name) == 0);
}

/* The subscribe decision for user with signature sig, checked against the rules. */
static void check_subscribe(const struct channel_policy *p, int64_t user, const char *name,
                            const char *sig) {
    const char *detail = "unset";
    int rc = channel_may_subscribe(p, user, name, sig, &detail);
    int64_t owner;
    char good[CHANNEL_SIGNATURE_LEN + 1];
    REQUIRE((rc == CHANNEL_OK) == (detail == NULL));
    REQUIRE((rc == CHANNEL_ERR_INVALID) == !channel_name_is_valid(name));
    if (rc == CHANNEL_ERR_INVALID)
        return;
    if (strncmp(name, "user.", 5) == 0) {
        REQUIRE((rc == CHANNEL_OK) == (channel_personal_id(name, &owner) && owner == user));
        return;
    }
    if (channel_patterns_match(p->public_patterns, name)) {
        REQUIRE(rc == CHANNEL_OK);
        return;
    }
    REQUIRE(channel_sign(SECRET, user, name, good) == CHANNEL_OK);
    REQUIRE((rc == CHANNEL_OK) == (sig && strcmp(sig, good) == 0));
    REQUIRE(channel_may_subscribe(p, user, name, good, NULL) == CHANNEL_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    char *text = next_piece(&p, end), *name = next_piece(&p, end), *sig = next_piece(&p, end);
    struct channel_policy policy;
    char err[600];
    int64_t owner;
    if (!text || !name || !sig)
        goto done;
    check_list(text, name);
    check_personal(name);
    if (channel_policy_parse(&policy, text, text, SECRET, err, sizeof err) != CHANNEL_OK)
        goto done;
    check_subscribe(&policy, USER, name, sig);
    check_subscribe(&policy, USER, name, NULL);
    if (channel_personal_id(name, &owner)) {
        check_subscribe(&policy, owner, name, sig);
        REQUIRE(channel_may_subscribe(&policy, owner, name, NULL, NULL) == CHANNEL_OK);
    }
    int pub = channel_may_publish(&policy, USER, name, NULL);
    REQUIRE((pub == CHANNEL_OK) ==
            (channel_name_is_valid(name) && channel_patterns_match(policy.publish_patterns, name)));
    channel_policy_free(&policy);
done:
    free(text);
    free(name);
    free(sig);
    return 0;
}
