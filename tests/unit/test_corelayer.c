/* test_corelayer.c -- shared/corelayer_wire.c and corelayer_hosts.c without Redis: sharding as
 * channels_redis' _consistent_hash, keys, the message format both ways (bytes made by Python's
 * msgpack), the group_send plan and its EVAL arguments, the host list. */
#include "test.h"

#include "corelayer.h"

#include <string.h>

/* Made by Python: b"R" * 12 + msgpack.packb({"type": "chat.message", "text": "hi",
 * "__asgi_channel__": ["specific.p!a", "specific.p!b"]}, use_bin_type=True). */
static const char PY_MESSAGE[] = "RRRRRRRRRRRR\x83\xa4type\xac"
                                 "chat.message\xa4text\xa2hi\xb0__asgi_channel__\x92\xac"
                                 "specific.p!a\xac"
                                 "specific.p!b";
/* msgpack.packb({"type": "chat.message", "text": "hi"}) */
static const char PY_EVENT[] = "\x82\xa4type\xac"
                               "chat.message\xa4text\xa2hi";

struct names {
    int n;
    char got[4][64];
};

static void collect(void *arg, const char *name, size_t len) {
    struct names *n = arg;
    if (n->n < 4)
        snprintf(n->got[n->n], sizeof n->got[0], "%.*s", (int)len, name);
    n->n++;
}

static void test_hash(void) {
    /* the values of Python's _consistent_hash(name, n) for n = 1, 2, 3, 5, 16 */
    static const struct {
        const char *name;
        size_t want[5];
    } cases[] = {{"news", {0, 1, 1, 2, 9}},
                 {"room.a", {0, 1, 1, 3, 10}},
                 {"specific.0123456789abcdef0123456789abcdef!", {0, 0, 1, 1, 5}},
                 {"user.7", {0, 0, 0, 0, 0}},
                 {"x", {0, 0, 1, 2, 6}}};
    static const size_t ns[5] = {1, 2, 3, 5, 16};
    TEST("corelayer: corelayer_hash matches channels_redis' _consistent_hash");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t k = 0; k < 5; k++)
            CHECK_INT(corelayer_hash(cases[i].name, strlen(cases[i].name), ns[k]),
                      cases[i].want[k]);
    /* not crc32 % n: "news" has crc32 % 3 == 2 but lives on host 1 of 3 */
    TEST("corelayer: sharding is (crc32 & 0xfff) / (4096 / n), not crc32 % n");
    CHECK_INT(corelayer_hash("news", 4, 3), 1);
}

static void test_keys(void) {
    char key[64];
    /* group and queue keys as core.py spells them */
    TEST("corelayer: the group key is <prefix>:group:<name>");
    CHECK_INT(corelayer_group_key("asgi", "news", key, sizeof key), CORELAYER_OK);
    CHECK_STR(key, "asgi:group:news");
    TEST("corelayer: a process channel's queue key stops at the '!'");
    CHECK_INT(corelayer_queue_key("asgi", "specific.p!tokenauth.news", 25, key, sizeof key),
              CORELAYER_OK);
    CHECK_STR(key, "asgispecific.p!");
    TEST("corelayer: a named channel's queue key is the whole name");
    CHECK_INT(corelayer_queue_key("asgi", "tokenauth.inbox", 15, key, sizeof key), CORELAYER_OK);
    CHECK_STR(key, "asgitokenauth.inbox");
    /* too long */
    TEST("corelayer: a key that does not fit is refused");
    CHECK_INT(corelayer_group_key(
                  "asgi", "a-name-far-too-long-for-the-buffer-given-here-0123456789", key, 16),
              CORELAYER_ERR_INVALID);
}

static void test_decode(void) {
    msgpack_sbuffer ev;
    struct names n = {0};
    /* a message made by Python decodes into its event and its names */
    TEST("corelayer: a Python group_send message decodes: event without __asgi_channel__");
    msgpack_sbuffer_init(&ev);
    CHECK_INT(corelayer_decode(PY_MESSAGE, sizeof PY_MESSAGE - 1, &ev, collect, &n), CORELAYER_OK);
    CHECK_INT(n.n, 2);
    CHECK_STR(n.got[0], "specific.p!a");
    CHECK_STR(n.got[1], "specific.p!b");
    CHECK(ev.size == sizeof PY_EVENT - 1 && memcmp(ev.data, PY_EVENT, ev.size) == 0);
    msgpack_sbuffer_destroy(&ev);
    /* garbage of every kind is CORELAYER_ERR_FORMAT and calls nothing */
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"short", 5},
        {"RRRRRRRRRRRRnot msgpack", 23},
        {"RRRRRRRRRRRR\x92\x01\x02", 15}, /* a list */
        {"RRRRRRRRRRRR\x81\xa4type\xa1"
         "a",
         19},                                                      /* no __asgi_channel__ */
        {"RRRRRRRRRRRR\x81\xb0__asgi_channel__\x07", 30},          /* not a name */
        {"RRRRRRRRRRRR\x81\xb0__asgi_channel__\x91\x07", 31},      /* a list of non-names */
        {"RRRRRRRRRRRR\xdf\xff\xff\xff\xff", 17},                  /* a map of 4 billion */
        {"RRRRRRRRRRRR\x82\x01\x02\xb0__asgi_channel__\xa1x", 33}, /* a key that is an int */
        {"RRRRRRRRRRRR\x82\xb0__asgi_channel__\xa1x\xb0__asgi_channel__\xa1y", 51}, /* twice */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TEST("corelayer: garbage does not decode");
        msgpack_sbuffer_init(&ev);
        n.n = 0;
        CHECK_INT(corelayer_decode(bad[i].bytes, bad[i].len, &ev, collect, &n),
                  CORELAYER_ERR_FORMAT);
        CHECK_INT(n.n, 0);
        msgpack_sbuffer_destroy(&ev);
    }
}

static void test_encode(void) {
    msgpack_sbuffer msg, ev;
    struct names n = {0};
    const char *names[] = {"specific.q!x"};
    size_t lens[] = {12};
    /* encode then decode gives back the event and the name */
    TEST("corelayer: an encoded message is 12 random bytes, then the map with the names");
    msgpack_sbuffer_init(&msg);
    msgpack_sbuffer_init(&ev);
    CHECK_INT(corelayer_encode(PY_EVENT, sizeof PY_EVENT - 1, names, lens, 1, 1, &msg),
              CORELAYER_OK);
    CHECK_INT(corelayer_decode(msg.data, msg.size, &ev, collect, &n), CORELAYER_OK);
    CHECK_INT(n.n, 1);
    CHECK_STR(n.got[0], "specific.q!x");
    CHECK(ev.size == sizeof PY_EVENT - 1 && memcmp(ev.data, PY_EVENT, ev.size) == 0);
    msgpack_sbuffer_destroy(&msg);
    msgpack_sbuffer_destroy(&ev);
    /* no names: send() to a named channel adds no __asgi_channel__ */
    TEST("corelayer: with no names the map is the event itself");
    msgpack_sbuffer_init(&msg);
    CHECK_INT(corelayer_encode(PY_EVENT, sizeof PY_EVENT - 1, NULL, NULL, 0, 0, &msg),
              CORELAYER_OK);
    CHECK(msg.size == 12 + sizeof PY_EVENT - 1 &&
          memcmp(msg.data + 12, PY_EVENT, sizeof PY_EVENT - 1) == 0);
    msgpack_sbuffer_destroy(&msg);
    /* an event that is not a map */
    TEST("corelayer: an event that is not a map is refused");
    msgpack_sbuffer_init(&msg);
    CHECK_INT(corelayer_encode("\x92\x01\x02", 3, names, lens, 1, 1, &msg), CORELAYER_ERR_FORMAT);
    CHECK_INT(msg.size, 0);
    msgpack_sbuffer_destroy(&msg);
}

static void test_plan(void) {
    const char *members[] = {"specific.a!tokenauth.news", "specific.b!x", "specific.a!ws.3",
                             "runworker.channel"};
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(members[i]);
    struct corelayer_plan plan;
    /* members are bucketed by queue key: one message per key */
    TEST("corelayer: a plan has one message per queue key, every member of it named");
    CHECK_INT(
        corelayer_plan_build("asgi", members, lens, 4, PY_EVENT, sizeof PY_EVENT - 1, 1, &plan),
        CORELAYER_OK);
    CHECK_INT(plan.n_batches, 1);
    CHECK_INT(plan.batches[0].n_keys, 3);
    CHECK_STR(plan.batches[0].keys[0], "asgispecific.a!");
    CHECK_STR(plan.batches[0].keys[1], "asgispecific.b!");
    CHECK_STR(plan.batches[0].keys[2], "asgirunworker.channel");
    struct names n = {0};
    msgpack_sbuffer ev;
    msgpack_sbuffer_init(&ev);
    CHECK_INT(corelayer_decode(plan.batches[0].msgs[0].data, plan.batches[0].msgs[0].size, &ev,
                               collect, &n),
              CORELAYER_OK);
    CHECK_INT(n.n, 2);
    CHECK_STR(n.got[1], "specific.a!ws.3");
    msgpack_sbuffer_destroy(&ev);
    /* the EVAL arguments: script, key count, keys, messages, capacities, time, expiry */
    TEST("corelayer: the EVAL of a batch carries channels_redis' arguments in order");
    const char **argv;
    size_t *argvlen;
    char *scratch;
    struct corelayer_settings s = {"asgi", 100, 60, 86400};
    int argc = corelayer_batch_argv(&plan.batches[0], &s, 1700000000.5, &argv, &argvlen, &scratch);
    CHECK_INT(argc, 3 + 9 + 2);
    CHECK_STR(argv[0], "EVAL");
    CHECK_STR(argv[2], "3");
    CHECK_STR(argv[3], "asgispecific.a!");
    CHECK_INT(argvlen[6], plan.batches[0].msgs[0].size);
    CHECK_STR(argv[9], "100");
    CHECK_STR(argv[12], "1700000000.500000");
    CHECK_STR(argv[13], "60");
    free(argv);
    free(argvlen);
    free(scratch);
    corelayer_plan_free(&plan);
    /* over two hosts the batches follow the hash of each key's channel part */
    TEST("corelayer: with two hosts each key goes to the host of its hash");
    CHECK_INT(
        corelayer_plan_build("asgi", members, lens, 4, PY_EVENT, sizeof PY_EVENT - 1, 2, &plan),
        CORELAYER_OK);
    size_t n_keys = 0;
    for (size_t i = 0; i < plan.n_batches; i++)
        for (size_t k = 0; k < plan.batches[i].n_keys; k++, n_keys++) {
            const char *local = plan.batches[i].keys[k] + 4;
            CHECK_INT(plan.batches[i].host, corelayer_hash(local, strlen(local), 2));
        }
    CHECK_INT(n_keys, 3);
    corelayer_plan_free(&plan);
}

static void test_hosts(void) {
    struct bus_url hosts[3];
    size_t n = 0;
    char err[256];
    /* a list of URLs */
    TEST("corelayer: a comma-separated host list, blanks ignored");
    CHECK_INT(
        corelayer_hosts_parse("redis://a:1 , unix:///tmp/r.sock", hosts, 3, &n, err, sizeof err),
        CORELAYER_OK);
    CHECK_INT(n, 2);
    CHECK_STR(hosts[0].host, "a");
    CHECK_STR(hosts[1].path, "/tmp/r.sock");
    /* errors name the item, never quote it */
    TEST("corelayer: an empty item is refused");
    CHECK_INT(corelayer_hosts_parse("redis://a,,redis://b", hosts, 3, &n, err, sizeof err),
              CORELAYER_ERR_INVALID);
    CHECK_STR(err, "host 2: empty");
    TEST("corelayer: a bad URL is refused with its position");
    CHECK_INT(corelayer_hosts_parse("redis://a,http://secret@b", hosts, 3, &n, err, sizeof err),
              CORELAYER_ERR_INVALID);
    CHECK(strncmp(err, "host 2: ", 8) == 0 && !strstr(err, "secret"));
    TEST("corelayer: too many hosts");
    CHECK_INT(corelayer_hosts_parse("redis://a,redis://b,redis://c,redis://d", hosts, 3, &n, err,
                                    sizeof err),
              CORELAYER_ERR_INVALID);
    CHECK_STR(err, "more than 3 hosts");
    /* the start check: a list only with the core layer */
    TEST("corelayer: the pub/sub layer takes one URL, refuses a list saying why");
    CHECK_INT(corelayer_hosts_check("redis://a", 0, err, sizeof err), CORELAYER_OK);
    CHECK_INT(corelayer_hosts_check("redis://a,redis://b", 0, err, sizeof err),
              CORELAYER_ERR_INVALID);
    CHECK_STR(err, "a list of hosts needs TOKENAUTH_CHANNEL_LAYER=core");
    TEST("corelayer: the core layer takes a list");
    CHECK_INT(corelayer_hosts_check("redis://a,redis://b", 1, err, sizeof err), CORELAYER_OK);
    CHECK_INT(corelayer_hosts_check("redis://a,redis://b:0", 1, err, sizeof err),
              CORELAYER_ERR_INVALID);
}

void test_corelayer(void) {
    test_hash();
    test_keys();
    test_decode();
    test_encode();
    test_plan();
    test_hosts();
}
