/* test_bus.c -- shared/bus.c without Redis: the URL parser, channel keys, and a publisher that
 * cannot connect. */
#include "test.h"

#include "bus.h"

#include <limits.h>

/* Parses url, expecting success; returns the parse into u. */
static int parsed(const char *url, struct bus_url *u) {
    char err[256] = "";
    int rc = bus_url_parse(url, u, err, sizeof err);
    if (rc != BUS_OK)
        fprintf(stderr, "  %s: %s\n", url, err);
    return rc;
}

/* Parses url, expecting BUS_ERR_INVALID; returns the error text (static). */
static const char *refusal(const char *url) {
    static char err[256];
    struct bus_url u;
    err[0] = '\0';
    if (bus_url_parse(url, &u, err, sizeof err) != BUS_ERR_INVALID)
        return "(accepted)";
    return err;
}

static void test_tcp_urls(void) {
    struct bus_url u;
    TEST("bus: redis://host:port/db gives host, port and db, no credentials");
    CHECK_INT(parsed("redis://cache.example:6380/2", &u), BUS_OK);
    CHECK_INT(u.kind, BUS_URL_TCP);
    CHECK_STR(u.host, "cache.example");
    CHECK_INT(u.port, 6380);
    CHECK_INT(u.db, 2);
    CHECK_STR(u.password, "");
    CHECK_STR(u.username, "");
    TEST("bus: without a port the port is 6379, without a path the db is 0");
    CHECK_INT(parsed("redis://127.0.0.1", &u), BUS_OK);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 6379);
    CHECK_INT(u.db, 0);
    CHECK_INT(parsed("redis://localhost/", &u), BUS_OK);
    CHECK_INT(u.db, 0);
    TEST("bus: a bracketed IPv6 address loses its brackets, with or without a port");
    CHECK_INT(parsed("redis://[::1]:7000/1", &u), BUS_OK);
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.port, 7000);
    CHECK_INT(u.db, 1);
    CHECK_INT(parsed("redis://[2001:db8::a:1]", &u), BUS_OK);
    CHECK_STR(u.host, "2001:db8::a:1");
    CHECK_INT(u.port, 6379);
    TEST("bus: :password@ gives a password alone, user:password@ both");
    CHECK_INT(parsed("redis://:s3cret@h:1", &u), BUS_OK);
    CHECK_STR(u.password, "s3cret");
    CHECK_STR(u.username, "");
    CHECK_INT(parsed("redis://app:pw@h", &u), BUS_OK);
    CHECK_STR(u.username, "app");
    CHECK_STR(u.password, "pw");
    TEST("bus: the password is percent-decoded, '+' kept, and may hold '@' unescaped");
    CHECK_INT(parsed("redis://:a%40b%2Fc+d@h", &u), BUS_OK);
    CHECK_STR(u.password, "a@b/c+d");
    CHECK_INT(parsed("redis://:a@b@h", &u), BUS_OK);
    CHECK_STR(u.password, "a@b");
    CHECK_STR(u.host, "h");
    TEST("bus: the query's db and password are read as redis-py reads them");
    CHECK_INT(parsed("redis://h?db=5&password=p%26q", &u), BUS_OK);
    CHECK_INT(u.db, 5);
    CHECK_STR(u.password, "p&q");
}

static void test_unix_urls(void) {
    struct bus_url u;
    TEST("bus: unix:///path is a Unix socket with db 0");
    CHECK_INT(parsed("unix:///run/redis/redis.sock", &u), BUS_OK);
    CHECK_INT(u.kind, BUS_URL_UNIX);
    CHECK_STR(u.path, "/run/redis/redis.sock");
    CHECK_STR(u.host, "");
    CHECK_INT(u.db, 0);
    TEST("bus: unix:///path?db=N selects the db");
    CHECK_INT(parsed("unix:///tmp/r.sock?db=3", &u), BUS_OK);
    CHECK_STR(u.path, "/tmp/r.sock");
    CHECK_INT(u.db, 3);
    TEST("bus: unix://:password@/path and ?password= give the password");
    CHECK_INT(parsed("unix://:pw@/tmp/r.sock", &u), BUS_OK);
    CHECK_STR(u.password, "pw");
    CHECK_STR(u.path, "/tmp/r.sock");
    CHECK_INT(parsed("unix:///tmp/r.sock?password=pw2&db=1", &u), BUS_OK);
    CHECK_STR(u.password, "pw2");
    CHECK_INT(u.db, 1);
    TEST("bus: a path without user information may hold '@'");
    CHECK_INT(parsed("unix:///tmp/a@b.sock", &u), BUS_OK);
    CHECK_STR(u.path, "/tmp/a@b.sock");
}

static void test_bad_urls(void) {
    char expected[256];
    TEST("bus: a string that is no URL, an unknown scheme, and TLS are refused");
    CHECK_STR(refusal("localhost:6379"), "no scheme:// at the start");
    CHECK_STR(refusal(""), "no scheme:// at the start");
    CHECK_STR(refusal("http://localhost"), "scheme: neither redis:// nor unix://");
    CHECK_STR(refusal("rediss://localhost"), "rediss:// (TLS) is not supported");
    TEST("bus: a missing host, a bad host character or an unclosed IPv6 address is refused");
    CHECK_STR(refusal("redis://"), "host: missing");
    CHECK_STR(refusal("redis://:6379"), "host: missing");
    CHECK_STR(refusal("redis://ho st"), "host: a character that is not in a host name");
    CHECK_STR(refusal("redis://[::1:6379"), "host: an IPv6 address without its closing ']'");
    TEST("bus: a port that is empty, zero, too large or not a number is refused");
    CHECK_STR(refusal("redis://h:"), "port: not a whole number from 1 to 65535");
    CHECK_STR(refusal("redis://h:0"), "port: not a whole number from 1 to 65535");
    CHECK_STR(refusal("redis://h:65536"), "port: not a whole number from 1 to 65535");
    CHECK_STR(refusal("redis://h:x1"), "port: not a whole number from 1 to 65535");
    CHECK_STR(refusal("redis://[::1]x"), "port: not a whole number from 1 to 65535");
    TEST("bus: a db that is not a whole number in range, or given twice, is refused");
    snprintf(expected, sizeof expected, "db: not a whole number from 0 to %d", INT_MAX);
    CHECK_STR(refusal("redis://h/x"), expected);
    CHECK_STR(refusal("redis://h/-1"), expected);
    CHECK_STR(refusal("redis://h/99999999999"), expected);
    CHECK_STR(refusal("unix:///s?db=1x"), expected);
    CHECK_STR(refusal("redis://h/1?db=2"), "db: given twice");
    TEST("bus: an unknown query parameter is refused, naming those accepted");
    CHECK_STR(refusal("redis://h?timeout=3"),
              "query: unknown or empty parameter (accepted: db, password)");
    TEST("bus: a Unix path that is missing, relative or too long is refused");
    CHECK_STR(refusal("unix://"), "path: missing or not absolute");
    CHECK_STR(refusal("unix://relative.sock"), "path: missing or not absolute");
    char long_url[200];
    snprintf(long_url, sizeof long_url, "unix:///%0120d", 0);
    CHECK_STR(refusal(long_url), "path: over 107 bytes (a Unix socket's limit)");
    TEST("bus: user information without a colon is refused, with the forms to write");
    CHECK_STR(refusal("redis://secret@h"),
              "user without a password: write :password@ or user:password@");
    CHECK_STR(refusal("redis://:@h"), "password: empty after ':'");
    CHECK_STR(refusal("redis://user:@h"), "password: empty after ':'");
}

static void test_secrets_never_echoed(void) {
    TEST("bus: a password in the URL is never echoed in an error");
    const char *urls[] = {
        "redis://:hunter2x@h:99999",
        "redis://:hunter2x@h/bad",
        "redis://:hunter2x@ho st",
        "redis://:hunter2x%zz@h",
        "redis://:hunter2x/@h:0",
        "redis://:hunter2x?@h",
        "unix://:hunter2x@rel",
        "redis://hunter2x@h",
        "hunter2x://h",
        "redis://h?password=hunter2x&password=hunter2x",
        "redis://h?hunter2x",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        const char *err = refusal(urls[i]);
        CHECK(strcmp(err, "(accepted)") != 0);
        TEST_RECORD(strstr(err, "hunter2x") == NULL, "%s: error \"%s\" holds the password", urls[i],
                    err);
    }
    TEST("bus: a bad escape in the password names the password, not its value");
    CHECK_STR(refusal("redis://:ab%zz@h"), "password: a bad %-escape, a NUL or over 511 bytes");
    CHECK_STR(refusal("redis://:ab%00@h"), "password: a bad %-escape, a NUL or over 511 bytes");
}

static void test_keys(void) {
    char key[BUS_KEY_MAX];
    TEST("bus: a channel's key is <prefix>__group__<channel>, as channels_redis names groups");
    CHECK_INT(bus_channel_key("asgi", "news", key, sizeof key), BUS_OK);
    CHECK_STR(key, "asgi__group__news");
    TEST("bus: a key that does not fit, or an empty prefix or channel, is refused");
    char small[17];
    CHECK_INT(bus_channel_key("asgi", "news", small, sizeof small), BUS_ERR_INVALID);
    CHECK_INT(bus_channel_key("", "news", key, sizeof key), BUS_ERR_INVALID);
    CHECK_INT(bus_channel_key("asgi", "", key, sizeof key), BUS_ERR_INVALID);
    TEST("bus: bus_channel_from_key gives back the channel of a key of this prefix");
    CHECK_STR(bus_channel_from_key("asgi", "asgi__group__news"), "news");
    CHECK_STR(bus_channel_from_key("app", "app__group__user.7"), "user.7");
    TEST("bus: bus_channel_from_key refuses another prefix, a specific channel, an empty name");
    CHECK(bus_channel_from_key("asgi", "other__group__news") == NULL);
    CHECK(bus_channel_from_key("asgi", "asgispecific.abc") == NULL);
    CHECK(bus_channel_from_key("asgi", "asgi__group__") == NULL);
    CHECK(bus_channel_from_key("as", "asgi__group__news") == NULL);
}

static void test_publisher_without_redis(void) {
    struct bus_url u;
    char path[256];
    snprintf(path, sizeof path, "unix://%s/no-redis.sock", test_tmpdir());
    TEST("bus: publishing with no Redis listening is BUS_ERR_UNAVAILABLE with a reason");
    CHECK_INT(parsed(path, &u), BUS_OK);
    struct bus_publisher *p = bus_publisher_new(&u, 200);
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_STR(bus_publisher_error(p), "");
    long long n = -1;
    CHECK_INT(bus_publish(p, "asgi__group__news", "x", 1, &n), BUS_ERR_UNAVAILABLE);
    CHECK(strncmp(bus_publisher_error(p), "connect to redis: ", 18) == 0);
    CHECK_INT(n, -1);
    TEST("bus: a failed publisher tries again on the next call");
    const char *channels[] = {"a", "b"};
    CHECK_INT(bus_publish_channels(p, "asgi", channels, 2, "x", 1, &n), BUS_ERR_UNAVAILABLE);
    TEST("bus: a channel whose key cannot fit is refused before connecting");
    char huge[BUS_KEY_MAX + 8];
    memset(huge, 'c', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    const char *too_long[] = {"a", huge};
    CHECK_INT(bus_publish_channels(p, "asgi", too_long, 2, "x", 1, &n), BUS_ERR_INVALID);
    CHECK_STR(bus_publisher_error(p), "channel key: over 511 bytes");
    bus_publisher_free(p);
    bus_publisher_free(NULL);
}

static void test_resolve(void) {
    struct bus_url u;
    char err[256];
    TEST("bus: resolving a host name leaves its IPv4 address first, and the port");
    CHECK_INT(parsed("redis://localhost:7000", &u), BUS_OK);
    CHECK_INT(bus_url_resolve(&u, err, sizeof err), BUS_OK);
    CHECK_STR(u.host, "127.0.0.1");
    CHECK_INT(u.port, 7000);
    TEST("bus: an address and a Unix socket are left as they are");
    CHECK_INT(parsed("redis://[::1]:7000", &u), BUS_OK);
    CHECK_INT(bus_url_resolve(&u, err, sizeof err), BUS_OK);
    CHECK_STR(u.host, "::1");
    CHECK_INT(parsed("unix:///tmp/r.sock", &u), BUS_OK);
    CHECK_INT(bus_url_resolve(&u, err, sizeof err), BUS_OK);
    CHECK_STR(u.path, "/tmp/r.sock");
    TEST("bus: a name that does not resolve is BUS_ERR_UNAVAILABLE naming the host");
    CHECK_INT(parsed("redis://no-such-host.invalid", &u), BUS_OK);
    CHECK_INT(bus_url_resolve(&u, err, sizeof err), BUS_ERR_UNAVAILABLE);
    CHECK(strncmp(err, "host no-such-host.invalid: ", 27) == 0);
}

void test_bus(void) {
    test_resolve();
    test_tcp_urls();
    test_unix_urls();
    test_bad_urls();
    test_secrets_never_echoed();
    test_keys();
    test_publisher_without_redis();
}
