/* test_channel.c -- shared/channel.c: names, personal channels, pattern lists and their errors,
 * signatures checked against Python's hmac, and the subscribe and publish decisions in order. */
#include "test.h"

#include "channel.h"

#include <stdint.h>

#define SECRET "k3y-for-tests"
/* hmac.new(b"k3y-for-tests", b"7:news.sport", hashlib.sha256).hexdigest() */
#define SIG_7_NEWS "b18deb5cb857d6fb09a32405a0d99f8c414956cbc17096b95a7519a0ac9c5b13"
/* hmac.new(b"k3y-for-tests", b"42:room-1", hashlib.sha256).hexdigest() */
#define SIG_42_ROOM "62fda8d31013fdd07c50868a354e116af6307c6c5bfcca72b5f3cb247084efbc"

static struct channel_patterns *parse_ok(const char *text) {
    struct channel_patterns *list = NULL;
    char err[512] = "";
    int rc = channel_patterns_parse(text, &list, err, sizeof err);
    TEST_RECORD(rc == CHANNEL_OK && list, "parsing \"%s\": rc %d, %s", text, rc, err);
    return list;
}

static void test_names(void) {
    char name[CHANNEL_NAME_MAX + 2];

    TEST("channel: letters, digits, '-', '_' and '.' make a name");
    CHECK_INT(channel_name_is_valid("news.sport-2_x"), 1);
    CHECK_INT(channel_name_is_valid("A"), 1);
    TEST("channel: an empty name, a space, a slash, non-ASCII or NULL is no name");
    CHECK_INT(channel_name_is_valid(""), 0);
    CHECK_INT(channel_name_is_valid("news sport"), 0);
    CHECK_INT(channel_name_is_valid("news/sport"), 0);
    CHECK_INT(channel_name_is_valid("caf\xc3\xa9"), 0);
    CHECK_INT(channel_name_is_valid("news*"), 0);
    CHECK_INT(channel_name_is_valid(NULL), 0);
    TEST("channel: 99 characters is a name, 100 is not (Django's limit)");
    memset(name, 'a', sizeof name);
    name[CHANNEL_NAME_MAX] = '\0';
    CHECK_INT(channel_name_is_valid(name), 1);
    name[CHANNEL_NAME_MAX] = 'a';
    name[CHANNEL_NAME_MAX + 1] = '\0';
    CHECK_INT(channel_name_is_valid(name), 0);
}

static void test_personal(void) {
    int64_t id = -1;
    char name[CHANNEL_PERSONAL_NAME_SIZE];

    TEST("channel: user.<id> is the personal channel of that id");
    CHECK_INT(channel_personal_id("user.7", &id), 1);
    CHECK_INT(id, 7);
    CHECK_INT(channel_personal_id("user.9223372036854775807", &id), 1);
    CHECK_INT(id, INT64_MAX);
    TEST("channel: leading zeros, a sign, zero, overflow and suffixes are no personal channel");
    CHECK_INT(channel_personal_id("user.07", &id), 0);
    CHECK_INT(channel_personal_id("user.0", &id), 0);
    CHECK_INT(channel_personal_id("user.+7", &id), 0);
    CHECK_INT(channel_personal_id("user.-7", &id), 0);
    CHECK_INT(channel_personal_id("user.", &id), 0);
    CHECK_INT(channel_personal_id("user.7a", &id), 0);
    CHECK_INT(channel_personal_id("user.9223372036854775808", &id), 0);
    CHECK_INT(channel_personal_id("users.7", &id), 0);
    CHECK_INT(channel_personal_id("User.7", &id), 0);
    TEST("channel: channel_personal_name writes user.<id>");
    CHECK_INT(channel_personal_name(42, name, sizeof name), CHANNEL_OK);
    CHECK_STR(name, "user.42");
    CHECK_INT(channel_personal_name(INT64_MAX, name, sizeof name), CHANNEL_OK);
    CHECK_STR(name, "user.9223372036854775807");
    TEST("channel: channel_personal_name refuses ids below 1 and a short buffer");
    CHECK_INT(channel_personal_name(0, name, sizeof name), CHANNEL_ERR_INVALID);
    CHECK_INT(channel_personal_name(-3, name, sizeof name), CHANNEL_ERR_INVALID);
    CHECK_INT(channel_personal_name(42, name, 7), CHANNEL_ERR_INVALID);
    CHECK_INT(channel_personal_name(42, name, 0), CHANNEL_ERR_INVALID);
}

static void test_patterns(void) {
    struct channel_patterns *list;

    TEST("channel: a name in a list matches itself only");
    list = parse_ok(" news , room-1 ");
    CHECK_INT(channel_patterns_match(list, "news"), 1);
    CHECK_INT(channel_patterns_match(list, "room-1"), 1);
    CHECK_INT(channel_patterns_match(list, "news.sport"), 0);
    CHECK_INT(channel_patterns_match(list, "room-10"), 0);
    CHECK_INT(channel_patterns_match(list, "News"), 0);
    channel_patterns_free(list);

    TEST("channel: prefix.* matches names under the prefix, not the prefix itself");
    list = parse_ok("news.*");
    CHECK_INT(channel_patterns_match(list, "news.sport"), 1);
    CHECK_INT(channel_patterns_match(list, "news.sport.today"), 1);
    CHECK_INT(channel_patterns_match(list, "news."), 0);
    CHECK_INT(channel_patterns_match(list, "news"), 0);
    CHECK_INT(channel_patterns_match(list, "newsroom"), 0);
    CHECK_INT(channel_patterns_match(list, "news.bad name"), 0);
    channel_patterns_free(list);

    TEST("channel: * matches every name outside the reserved user. names");
    list = parse_ok("*");
    CHECK_INT(channel_patterns_match(list, "anything"), 1);
    CHECK_INT(channel_patterns_match(list, "users"), 1);
    CHECK_INT(channel_patterns_match(list, "user.7"), 0);
    CHECK_INT(channel_patterns_match(list, "user.x"), 0);
    CHECK_INT(channel_patterns_match(list, "bad name"), 0);
    channel_patterns_free(list);

    TEST("channel: an explicit user.* pattern does match user. names");
    list = parse_ok("user.*");
    CHECK_INT(channel_patterns_match(list, "user.7"), 1);
    channel_patterns_free(list);

    TEST("channel: an empty list, blanks and empty items match nothing");
    list = parse_ok("");
    CHECK_INT(channel_patterns_match(list, "news"), 0);
    channel_patterns_free(list);
    list = parse_ok(" , ,\t");
    CHECK_INT(channel_patterns_match(list, "news"), 0);
    channel_patterns_free(list);
    CHECK_INT(channel_patterns_match(NULL, "news"), 0);
}

/* Parses a bad list and returns its error. */
static const char *parse_error(const char *text) {
    static char err[512];
    struct channel_patterns *list = NULL;
    err[0] = '\0';
    int rc = channel_patterns_parse(text, &list, err, sizeof err);
    TEST_RECORD(rc == CHANNEL_ERR_INVALID && !list, "parsing \"%s\": rc %d", text, rc);
    channel_patterns_free(list);
    return err;
}

#define ACCEPTED                                                                                   \
    " is not a channel name or pattern: expected names of 1 to 99 letters, digits, '-', '_' or "   \
    "'.', \"prefix.*\" or \"*\", comma-separated"

static void test_pattern_errors(void) {
    char long_item[300];

    TEST("channel: a bad list item is an error naming the item and what is accepted");
    CHECK_STR(parse_error("news, bad name ,room"), "\"bad name\"" ACCEPTED);
    CHECK_STR(parse_error("news*"), "\"news*\"" ACCEPTED);
    CHECK_STR(parse_error(".*"), "\".*\"" ACCEPTED);
    CHECK_STR(parse_error("*.news"), "\"*.news\"" ACCEPTED);
    CHECK_STR(parse_error("**"), "\"**\"" ACCEPTED);
    CHECK_STR(parse_error("news.*.x"), "\"news.*.x\"" ACCEPTED);
    TEST("channel: a prefix too long to leave room for a name under it is refused");
    memset(long_item, 'a', 98);
    memcpy(long_item + 98, ".*", 3);
    char expected[600];
    snprintf(expected, sizeof expected, "\"%s\"%s", long_item, ACCEPTED);
    CHECK_STR(parse_error(long_item), expected);
    memmove(long_item + 1, long_item + 2, 99); /* 97 characters then ".*" */
    struct channel_patterns *list = parse_ok(long_item);
    channel_patterns_free(list);
    TEST("channel: a long bad item is quoted cut at 100 bytes");
    memset(long_item, 'b', 250);
    long_item[0] = '!';
    long_item[250] = '\0';
    const char *err = parse_error(long_item);
    CHECK_INT(strlen(err), 1 + 100 + 4 + strlen(ACCEPTED));
}

static void test_signatures(void) {
    char sig[CHANNEL_SIGNATURE_LEN + 1];

    TEST("channel: a signature is Python's hmac.new(secret, b\"<id>:<channel>\", sha256) hex");
    CHECK_INT(channel_sign(SECRET, 7, "news.sport", sig), CHANNEL_OK);
    CHECK_STR(sig, SIG_7_NEWS);
    CHECK_INT(channel_sign(SECRET, 42, "room-1", sig), CHANNEL_OK);
    CHECK_STR(sig, SIG_42_ROOM);
    TEST("channel: signing refuses an empty or missing secret, an id below 1, a bad name");
    CHECK_INT(channel_sign("", 7, "news.sport", sig), CHANNEL_ERR_INVALID);
    CHECK_INT(channel_sign(NULL, 7, "news.sport", sig), CHANNEL_ERR_INVALID);
    CHECK_INT(channel_sign(SECRET, 0, "news.sport", sig), CHANNEL_ERR_INVALID);
    CHECK_INT(channel_sign(SECRET, 7, "bad name", sig), CHANNEL_ERR_INVALID);

    TEST("channel: the right signature is ok");
    CHECK_INT(channel_signature_ok(SECRET, 7, "news.sport", SIG_7_NEWS), 1);
    TEST("channel: another user, channel or secret makes the signature wrong");
    CHECK_INT(channel_signature_ok(SECRET, 8, "news.sport", SIG_7_NEWS), 0);
    CHECK_INT(channel_signature_ok(SECRET, 7, "news.sports", SIG_7_NEWS), 0);
    CHECK_INT(channel_signature_ok("another", 7, "news.sport", SIG_7_NEWS), 0);
    TEST("channel: upper case, a short, long, empty or NULL signature is not ok");
    CHECK_INT(
        channel_signature_ok(SECRET, 7, "news.sport",
                             "B18DEB5CB857D6FB09A32405A0D99F8C414956CBC17096B95A7519A0AC9C5B13"),
        0);
    CHECK_INT(channel_signature_ok(SECRET, 7, "news.sport", SIG_7_NEWS "0"), 0);
    CHECK_INT(
        channel_signature_ok(SECRET, 7, "news.sport",
                             "b18deb5cb857d6fb09a32405a0d99f8c414956cbc17096b95a7519a0ac9c5b1"),
        0);
    CHECK_INT(channel_signature_ok(SECRET, 7, "news.sport", ""), 0);
    CHECK_INT(channel_signature_ok(SECRET, 7, "news.sport", NULL), 0);
    TEST("channel: with an empty secret no signature is ever ok");
    CHECK_INT(channel_signature_ok("", 7, "news.sport", SIG_7_NEWS), 0);
    CHECK_INT(channel_signature_ok(NULL, 7, "news.sport", SIG_7_NEWS), 0);
}

/* The policy of most cases: public "lobby" and "news.*", publish "chat.*", signatures on. */
static void make_policy(struct channel_policy *p, const char *publ, const char *publish,
                        const char *secret) {
    char err[512] = "";
    int rc = channel_policy_parse(p, publ, publish, secret, err, sizeof err);
    TEST_RECORD(rc == CHANNEL_OK, "policy: rc %d, %s", rc, err);
}

/* channel_may_subscribe's result, checking that detail is set exactly on refusal. */
static int subscribe(const struct channel_policy *p, int64_t user, const char *channel,
                     const char *sig, const char **detail) {
    *detail = "unset";
    int rc = channel_may_subscribe(p, user, channel, sig, detail);
    TEST_RECORD((rc == CHANNEL_OK) == (*detail == NULL), "detail %s for rc %d",
                *detail ? *detail : "(null)", rc);
    return rc;
}

static void test_subscribe(void) {
    struct channel_policy p;
    const char *detail;
    make_policy(&p, "lobby, news.*", "chat.*", SECRET);

    TEST("channel: a bad name is refused as invalid before anything else");
    CHECK_INT(subscribe(&p, 7, "bad name", SIG_7_NEWS, &detail), CHANNEL_ERR_INVALID);
    CHECK_STR(detail, "a channel name is 1 to 99 ASCII letters, digits, '-', '_' or '.'");
    TEST("channel: a user may subscribe to their own personal channel");
    CHECK_INT(subscribe(&p, 7, "user.7", NULL, &detail), CHANNEL_OK);
    TEST("channel: another user's personal channel is forbidden");
    CHECK_INT(subscribe(&p, 8, "user.7", NULL, &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_STR(detail, "a personal channel is open to its own user only");
    TEST("channel: public patterns allow their channels to everyone");
    CHECK_INT(subscribe(&p, 7, "lobby", NULL, &detail), CHANNEL_OK);
    CHECK_INT(subscribe(&p, 8, "news.sport", "garbage", &detail), CHANNEL_OK);
    TEST("channel: a valid signature allows a channel no pattern matches");
    CHECK_INT(subscribe(&p, 42, "room-1", SIG_42_ROOM, &detail), CHANNEL_OK);
    TEST("channel: a signature for another user does not allow the channel");
    CHECK_INT(subscribe(&p, 43, "room-1", SIG_42_ROOM, &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_STR(detail, "the signature does not grant this channel to this user");
    TEST("channel: a channel neither public nor signed asks for a signature");
    CHECK_INT(subscribe(&p, 42, "room-1", NULL, &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_STR(detail,
              "this channel is not public: subscribe with the signature the application gives you");
    TEST("channel: publish patterns do not allow subscribing");
    CHECK_INT(subscribe(&p, 42, "chat.x", NULL, &detail), CHANNEL_ERR_FORBIDDEN);
    channel_policy_free(&p);

    TEST("channel: another user's personal channel is forbidden even when a pattern matches");
    make_policy(&p, "*, user.*, user.7", "", SECRET);
    CHECK_INT(subscribe(&p, 8, "user.7", NULL, &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_STR(detail, "a personal channel is open to its own user only");
    CHECK_INT(subscribe(&p, 8, "anything", NULL, &detail), CHANNEL_OK);
    TEST("channel: another user's personal channel is forbidden even with a valid signature");
    char sig[CHANNEL_SIGNATURE_LEN + 1];
    CHECK_INT(channel_sign(SECRET, 8, "user.7", sig), CHANNEL_OK);
    CHECK_INT(subscribe(&p, 8, "user.7", sig, &detail), CHANNEL_ERR_FORBIDDEN);
    TEST("channel: user. names that are nobody's personal channel are forbidden to all");
    CHECK_INT(subscribe(&p, 7, "user.07", NULL, &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_STR(detail, "names starting with \"user.\" are reserved for personal channels");
    CHECK_INT(channel_sign(SECRET, 7, "user.x", sig), CHANNEL_OK);
    CHECK_INT(subscribe(&p, 7, "user.x", sig, &detail), CHANNEL_ERR_FORBIDDEN);
    channel_policy_free(&p);

    TEST("channel: with signatures off a non-public channel is just not public");
    make_policy(&p, "", "", "");
    CHECK_INT(subscribe(&p, 42, "room-1", SIG_42_ROOM, &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_STR(detail, "this channel is not public");
    CHECK_INT(subscribe(&p, 42, "user.42", NULL, &detail), CHANNEL_OK);
    channel_policy_free(&p);

    TEST("channel: a policy filled by hand with no lists refuses all but the personal channel");
    struct channel_policy bare = {NULL, NULL, NULL};
    CHECK_INT(subscribe(&bare, 42, "lobby", NULL, &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_INT(subscribe(&bare, 42, "user.42", NULL, &detail), CHANNEL_OK);
    CHECK_INT(channel_may_subscribe(&bare, 42, "user.42", NULL, NULL), CHANNEL_OK);
    CHECK_INT(channel_may_subscribe(&bare, 42, "lobby", NULL, NULL), CHANNEL_ERR_FORBIDDEN);
}

static void test_publish(void) {
    struct channel_policy p;
    const char *detail = "unset";

    TEST("channel: publishing needs a publish pattern; public patterns do not count");
    make_policy(&p, "lobby", "chat.*, user.*", SECRET);
    CHECK_INT(channel_may_publish(&p, 7, "chat.room", &detail), CHANNEL_OK);
    CHECK(detail == NULL);
    CHECK_INT(channel_may_publish(&p, 7, "lobby", &detail), CHANNEL_ERR_FORBIDDEN);
    CHECK_STR(detail, "publishing to this channel from a WebSocket is not allowed");
    CHECK_INT(channel_may_publish(&p, 7, "user.8", &detail), CHANNEL_OK);
    CHECK_INT(channel_may_publish(&p, 7, "bad name", &detail), CHANNEL_ERR_INVALID);
    CHECK_STR(detail, "a channel name is 1 to 99 ASCII letters, digits, '-', '_' or '.'");
    channel_policy_free(&p);
    TEST("channel: the default empty publish list never allows publishing");
    make_policy(&p, "*", "", SECRET);
    CHECK_INT(channel_may_publish(&p, 7, "lobby", NULL), CHANNEL_ERR_FORBIDDEN);
    CHECK_INT(channel_may_publish(&p, 7, "user.7", NULL), CHANNEL_ERR_FORBIDDEN);
    channel_policy_free(&p);
    TEST("channel: * in the publish list does not cover personal channels");
    make_policy(&p, "", "*", SECRET);
    CHECK_INT(channel_may_publish(&p, 7, "lobby", NULL), CHANNEL_OK);
    CHECK_INT(channel_may_publish(&p, 7, "user.8", NULL), CHANNEL_ERR_FORBIDDEN);
    channel_policy_free(&p);
}

static void test_policy_errors(void) {
    struct channel_policy p;
    char err[600] = "";

    TEST("channel: a bad public list fails the policy, naming the list");
    CHECK_INT(channel_policy_parse(&p, "ok, no way", "", SECRET, err, sizeof err),
              CHANNEL_ERR_INVALID);
    CHECK_STR(err, "public channels: \"no way\"" ACCEPTED);
    CHECK(p.public_patterns == NULL && p.publish_patterns == NULL);
    TEST("channel: a bad publish list fails the policy, naming the list");
    CHECK_INT(channel_policy_parse(&p, "ok", "x/y", SECRET, err, sizeof err), CHANNEL_ERR_INVALID);
    CHECK_STR(err, "publish channels: \"x/y\"" ACCEPTED);
    CHECK(p.public_patterns == NULL && p.publish_patterns == NULL);
    TEST("channel: NULL lists are empty lists; channel_policy_free accepts NULL");
    CHECK_INT(channel_policy_parse(&p, NULL, NULL, NULL, err, sizeof err), CHANNEL_OK);
    CHECK_INT(channel_may_publish(&p, 7, "lobby", NULL), CHANNEL_ERR_FORBIDDEN);
    channel_policy_free(&p);
    channel_policy_free(NULL);
}

void test_channel(void) {
    test_names();
    test_personal();
    test_patterns();
    test_pattern_errors();
    test_signatures();
    test_subscribe();
    test_publish();
    test_policy_errors();
}
