/* test_origin.c -- shared/origin.c: Channels' AllowedHostsOriginValidator rules over host
 * patterns, CORS origin lists, and the messages for list items that do not parse.
 *
 * Most cases are rows of three tables (an Origin against a host list, an Origin against a CORS
 * list, a list that must not parse), each row named for the behaviour it shows; the few cases
 * that need more than one call follow them as code. */
#include "test.h"

#include "origin.h"

#include <stdlib.h>

#define HOSTS_EXPECTED "a host pattern: expected host, .domain, [ipv6], *, or scheme://host[:port]"
#define CORS_EXPECTED "an origin: expected scheme://host[:port] (no path), null, or *"
#define PORT_NEEDS_SCHEME "is not a host pattern: a port needs a scheme, as in http://host:port"

/* One Origin checked against one list. */
struct match_row {
    const char *name;
    const char *list;   /* TOKENAUTH_ALLOWED_HOSTS or TOKENAUTH_CORS_ORIGINS text */
    const char *origin; /* NULL: the request has no Origin header */
    int allowed;        /* expected: 1 allowed, 0 refused */
};

/* One list that must not parse, and the exact message. */
struct refusal_row {
    const char *name;
    int kind; /* ORIGIN_HOSTS or ORIGIN_CORS */
    const char *list;
    const char *message;
};

#define DEFAULT_HOSTS "localhost,127.0.0.1,[::1]"

static const struct match_row HOST_ROWS[] = {
    {"origin: an exact host matches that host over http", "example.com", "http://example.com", 1},
    {"origin: an exact host matches that host over https on any port", "example.com",
     "https://example.com:8443", 1},
    {"origin: an exact host matches that host on another port", "example.com",
     "http://example.com:8000", 1},
    {"origin: an exact host does not match its subdomains", "example.com", "http://www.example.com",
     0},
    {"origin: an exact host does not match another host", "example.com", "http://example.org", 0},
    {"origin: an exact host does not match a host it merely begins", "example.com",
     "http://example.com.evil.org", 0},
    {"origin: .domain matches the domain itself", ".example.com", "http://example.com", 1},
    {"origin: .domain matches a subdomain", ".example.com", "http://www.example.com", 1},
    {"origin: .domain matches a deeper subdomain, any scheme and port", ".example.com",
     "https://a.b.example.com:9000", 1},
    {"origin: .domain does not match a host that merely ends with the same letters", ".example.com",
     "http://evil-example.com", 0},
    {"origin: .domain does not match a host that merely begins with the domain", ".example.com",
     "http://example.com.evil.com", 0},
    {"origin: .domain does not match a shorter name", ".example.com", "http://xample.com", 0},
    {"origin: * allows any origin", "*", "http://anything.test:1234", 1},
    {"origin: * allows a missing Origin", "*", NULL, 1},
    {"origin: * allows the Origin null", "*", "null", 1},
    {"origin: * anywhere in the list allows even an Origin that does not parse", "localhost, *",
     "garbage", 1},
    {"origin: without *, a missing Origin is refused", DEFAULT_HOSTS, NULL, 0},
    {"origin: without *, the Origin null is refused", DEFAULT_HOSTS, "null", 0},
    {"origin: without *, an empty Origin is refused", "localhost", "", 0},
    {"origin: the default list allows localhost on any port", DEFAULT_HOSTS,
     "http://localhost:8000", 1},
    {"origin: the default list allows 127.0.0.1", DEFAULT_HOSTS, "http://127.0.0.1:8000", 1},
    {"origin: the default list allows [::1] with a port", DEFAULT_HOSTS, "http://[::1]:8000", 1},
    {"origin: the default list allows [::1] without a port", DEFAULT_HOSTS, "http://[::1]", 1},
    {"origin: the default list refuses another loopback address", DEFAULT_HOSTS,
     "http://127.0.0.2:8000", 0},
    {"origin: the default list refuses another IPv6 address", DEFAULT_HOSTS, "http://[::2]:8000",
     0},
    {"origin: an [ipv6] pattern matches the bracketed address in an Origin", "[::1]",
     "http://[::1]:8000", 1},
    {"origin: ::1 without brackets in an Origin is no host", "[::1]", "http://::1:8000", 0},
    {"origin: IPv6 addresses are compared without regard to case", "[2001:DB8::1]",
     "https://[2001:db8::1]", 1},
    {"origin: a long scheme such as chrome-extension:// is read whole (host pattern)",
     "abcdefghijklmnop", "chrome-extension://abcdefghijklmnop", 1},
    {"origin: a long scheme such as chrome-extension:// is read whole (scheme pattern)",
     "chrome-extension://abcdefghijklmnop", "chrome-extension://abcdefghijklmnop", 1},
    {"origin: scheme://host matches that scheme without a port", "http://example.com",
     "http://example.com", 1},
    {"origin: scheme://host matches the scheme's default port written out", "http://example.com",
     "http://example.com:80", 1},
    {"origin: scheme://host refuses another port", "http://example.com", "http://example.com:8080",
     0},
    {"origin: scheme://host refuses another scheme", "http://example.com", "https://example.com",
     0},
    {"origin: https://host matches port 443 written out", "https://example.com",
     "https://example.com:443", 1},
    {"origin: https://host:443 matches the Origin without a port", "https://example.com:443",
     "https://example.com", 1},
    {"origin: scheme://host:port matches that exact port", "http://localhost:8000",
     "http://localhost:8000", 1},
    {"origin: scheme://host:port refuses another port", "http://localhost:8000",
     "http://localhost:8001", 0},
    {"origin: scheme://host:port refuses the default port", "http://localhost:8000",
     "http://localhost", 0},
    {"origin: scheme://host:port refuses another scheme", "http://localhost:8000",
     "https://localhost:8000", 0},
    {"origin: scheme://.domain matches a subdomain over that scheme", "https://.example.com",
     "https://api.example.com", 1},
    {"origin: scheme://.domain refuses another scheme", "https://.example.com",
     "http://api.example.com", 0},
    {"origin: hosts are compared without regard to case", "EXAMPLE.com", "http://example.COM", 1},
    {"origin: .domain and the Origin's scheme are compared without regard to case", ".Example.Com",
     "HTTP://WWW.EXAMPLE.COM:8000", 1},
    {"origin: a scheme pattern is compared without regard to case", "HTTPS://Example.com",
     "https://EXAMPLE.com", 1},
    {"origin: an Origin with a path still has its host checked", "example.com",
     "http://example.com/page?x=1", 1},
    {"origin: an Origin without a scheme is refused", "example.com", "example.com", 0},
    {"origin: an Origin with an empty port is refused", "example.com", "http://example.com:", 0},
    {"origin: an Origin with port 0 is refused", "example.com", "http://example.com:0", 0},
    {"origin: an Origin with port 65536 is refused", "example.com", "http://example.com:65536", 0},
    {"origin: an Origin with a six-digit port is refused", "example.com",
     "http://example.com:123456", 0},
    {"origin: an Origin with a port that is not digits is refused", "example.com",
     "http://example.com:80a", 0},
    {"origin: an Origin with a space in its host is refused", "example.com", "http://exa mple.com",
     0},
    {"origin: an Origin with a scheme and no host is refused", "example.com", "http://", 0},
    {"origin: an Origin with an unclosed IPv6 bracket is refused", "[::1]", "http://[::1", 0},
    {"origin: an Origin with characters after the IPv6 bracket is refused", "[::1]",
     "http://[::1]x", 0},
    {"origin: an Origin with an empty scheme is refused", "example.com", "://example.com", 0},
    {"origin: spaces around items and empty items are ignored (last item)", "  a.test ,, b.test , ",
     "http://b.test", 1},
    {"origin: spaces around items and empty items are ignored (first item)",
     "  a.test ,, b.test , ", "http://a.test", 1},
    {"origin: spaces and empty items add no host", "  a.test ,, b.test , ", "http://c.test", 0},
    {"origin: an empty host list allows nothing", "", "http://localhost", 0},
    {"origin: a host list of spaces and commas allows nothing", " , ", "http://localhost", 0},
    {"origin: an empty host list refuses a missing Origin", "", NULL, 0},
    {"origin: the port of an Origin may be 65535", "http://h.test:65535", "http://h.test:65535", 1},
    {"origin: null is no host pattern", "null", "null", 0},
};

static const struct match_row CORS_ROWS[] = {
    {"origin: a CORS origin matches the same scheme, host and port", "http://localhost:8000",
     "http://localhost:8000", 1},
    {"origin: a CORS origin refuses another port", "http://localhost:8000", "http://localhost:8001",
     0},
    {"origin: a CORS origin refuses another scheme", "http://localhost:8000",
     "https://localhost:8000", 0},
    {"origin: a CORS origin refuses another host, even one that is the same machine",
     "http://localhost:8000", "http://127.0.0.1:8000", 0},
    {"origin: a CORS origin with a port refuses the Origin without it", "http://localhost:8000",
     "http://localhost", 0},
    {"origin: a CORS origin without its default port matches the Origin with it",
     "https://app.test", "https://app.test:443", 1},
    {"origin: a CORS origin with its default port matches the Origin without it",
     "http://app.test:80", "http://app.test", 1},
    {"origin: CORS origins are compared without regard to case", "HTTP://App.Test",
     "http://app.TEST", 1},
    {"origin: a CORS list has no subdomain rule", "https://app.test", "https://www.app.test", 0},
    {"origin: the second origin of a CORS list matches too", "http://a.test, http://b.test:81",
     "http://b.test:81", 1},
    {"origin: the Origin null is allowed when the CORS list has null", "http://a.test,null", "null",
     1},
    {"origin: null in a CORS list is compared without regard to case", "http://a.test,NULL", "Null",
     1},
    {"origin: the Origin null is refused when the CORS list lacks it", "http://a.test", "null", 0},
    {"origin: no Origin gets no CORS headers, even with *", "*", NULL, 0},
    {"origin: no Origin gets no CORS headers from a listed origin", "http://a.test", NULL, 0},
    {"origin: an empty CORS list allows nothing", "", "http://a.test", 0},
    {"origin: an empty CORS list refuses null", "", "null", 0},
    {"origin: a CORS Origin with a path does not match", "http://a.test", "http://a.test/", 0},
    {"origin: a CORS Origin without a scheme does not match", "http://a.test", "a.test", 0},
};

static const struct refusal_row REFUSAL_ROWS[] = {
    {"origin: a host:port pattern without a scheme is refused", ORIGIN_HOSTS,
     "localhost,example.com:8000", "\"example.com:8000\" " PORT_NEEDS_SCHEME},
    {"origin: an [ipv6]:port pattern without a scheme is refused", ORIGIN_HOSTS, "[::1]:8000",
     "\"[::1]:8000\" " PORT_NEEDS_SCHEME},
    {"origin: a host pattern with a path is refused, naming the item and what is accepted",
     ORIGIN_HOSTS, "localhost, example.com/app", "\"example.com/app\" is not " HOSTS_EXPECTED},
    {"origin: a wildcard inside a name (*.example.com) is not Django's syntax", ORIGIN_HOSTS,
     "*.example.com", "\"*.example.com\" is not " HOSTS_EXPECTED},
    {"origin: an unclosed IPv6 bracket is refused", ORIGIN_HOSTS, "[::1",
     "\"[::1\" is not " HOSTS_EXPECTED},
    {"origin: an empty port is refused", ORIGIN_HOSTS,
     "localhost:", "\"localhost:\" is not " HOSTS_EXPECTED},
    {"origin: port 0 is refused", ORIGIN_HOSTS, "localhost:0",
     "\"localhost:0\" is not " HOSTS_EXPECTED},
    {"origin: a port over 65535 is refused", ORIGIN_HOSTS, "http://h:70000",
     "\"http://h:70000\" is not " HOSTS_EXPECTED},
    {"origin: a port that is not digits is refused", ORIGIN_HOSTS, "h:80x",
     "\"h:80x\" is not " HOSTS_EXPECTED},
    {"origin: a scheme without a host is refused", ORIGIN_HOSTS, "http://",
     "\"http://\" is not " HOSTS_EXPECTED},
    {"origin: an empty scheme is refused", ORIGIN_HOSTS, "://h", "\"://h\" is not " HOSTS_EXPECTED},
    {"origin: a scheme longer than 31 characters is refused", ORIGIN_HOSTS,
     "abcdefghijklmnopabcdefghijklmnop://h",
     "\"abcdefghijklmnopabcdefghijklmnop://h\" is not " HOSTS_EXPECTED},
    {"origin: a scheme with a character schemes cannot have is refused", ORIGIN_HOSTS, "ht_tp://h",
     "\"ht_tp://h\" is not " HOSTS_EXPECTED},
    {"origin: the message shows the bad item trimmed of its spaces", ORIGIN_HOSTS,
     "ok.test,  bad host  ,x", "\"bad host\" is not " HOSTS_EXPECTED},
    {"origin: a bare host:port is no CORS origin", ORIGIN_CORS, "localhost:8000",
     "\"localhost:8000\" is not " CORS_EXPECTED},
    {"origin: a CORS origin with a path is refused", ORIGIN_CORS, "http://a.test/",
     "\"http://a.test/\" is not " CORS_EXPECTED},
    {"origin: a CORS origin with a query is refused", ORIGIN_CORS, "http://a.test?x",
     "\"http://a.test?x\" is not " CORS_EXPECTED},
    {"origin: a .domain is no CORS origin", ORIGIN_CORS, "http://a.test, .b.test",
     "\".b.test\" is not " CORS_EXPECTED},
};

#define ROWS(table) (sizeof(table) / sizeof(table)[0])

/* Parses text as kind; NULL (and a failed check) when it does not parse. */
static struct origin_list *parse_ok(const char *text, int kind) {
    struct origin_list *list = NULL;
    char err[256] = "";
    int rc = origin_list_parse(text, kind, &list, err, sizeof err);
    TEST_RECORD(rc == ORIGIN_OK, "origin_list_parse(\"%s\") = %d: %s", text, rc, err);
    return rc == ORIGIN_OK ? list : NULL;
}

/* origin_host_allowed or origin_cors_allowed over a freshly parsed list; -1 when the list does
 * not parse. */
static int allowed(const char *text, int kind, const char *origin) {
    struct origin_list *list = parse_ok(text, kind);
    if (!list)
        return -1;
    int ok = kind == ORIGIN_HOSTS ? origin_host_allowed(list, origin)
                                  : origin_cors_allowed(list, origin);
    origin_list_free(list);
    return ok;
}

static void check_matches(const struct match_row *rows, size_t n, int kind) {
    for (size_t i = 0; i < n; i++) {
        const struct match_row *r = &rows[i];
        TEST(r->name);
        int got = allowed(r->list, kind, r->origin);
        TEST_RECORD(got == r->allowed, "list \"%s\", Origin %s%s%s: got %d, expected %d", r->list,
                    r->origin ? "\"" : "", r->origin ? r->origin : "(none)", r->origin ? "\"" : "",
                    got, r->allowed);
    }
}

/* Checks that text fails to parse as kind with exactly the message expected. */
static void check_parse_error(const char *text, int kind, const char *expected) {
    struct origin_list *list = (struct origin_list *)&list; /* must stay untouched */
    struct origin_list *before = list;
    char err[1024] = "";
    CHECK_INT(origin_list_parse(text, kind, &list, err, sizeof err), ORIGIN_ERR_INVALID);
    CHECK_STR(err, expected);
    CHECK(list == before);
}

static void check_refusals(void) {
    for (size_t i = 0; i < ROWS(REFUSAL_ROWS); i++) {
        TEST(REFUSAL_ROWS[i].name);
        check_parse_error(REFUSAL_ROWS[i].list, REFUSAL_ROWS[i].kind, REFUSAL_ROWS[i].message);
    }
}

static void test_long_host(void) {
    TEST("origin: a host of 256 characters is refused; one of 255 is accepted");
    char long_host[300], expected[600];
    memset(long_host, 'a', 256);
    long_host[256] = '\0';
    snprintf(expected, sizeof expected, "\"%s\" is not " HOSTS_EXPECTED, long_host);
    check_parse_error(long_host, ORIGIN_HOSTS, expected);
    long_host[255] = '\0';
    CHECK_INT(allowed(long_host, ORIGIN_HOSTS, "http://x.test"), 0);
}

static void test_cors_wildcard(void) {
    struct origin_list *list;

    TEST("origin: a CORS * allows any Origin, null too, and is reported as a wildcard");
    list = parse_ok("*", ORIGIN_CORS);
    if (list) {
        CHECK_INT(origin_cors_allowed(list, "http://anything:1"), 1);
        CHECK_INT(origin_cors_allowed(list, "null"), 1);
        CHECK_INT(origin_cors_is_wildcard(list), 1);
        origin_list_free(list);
    }

    TEST("origin: a CORS list without * is no wildcard");
    list = parse_ok("http://a.test", ORIGIN_CORS);
    if (list) {
        CHECK_INT(origin_cors_is_wildcard(list), 0);
        origin_list_free(list);
    }
}

static void test_edges(void) {
    TEST("origin: a small error buffer is filled and terminated, never overrun");
    struct origin_list *list = NULL;
    char err[8];
    CHECK_INT(origin_list_parse("bad/", ORIGIN_HOSTS, &list, err, sizeof err), ORIGIN_ERR_INVALID);
    CHECK_STR(err, "\"bad/\" ");
    CHECK(list == NULL);

    TEST("origin: origin_list_free(NULL) is harmless");
    origin_list_free(NULL);
    CHECK(1);
}

void test_origin(void) {
    check_matches(HOST_ROWS, ROWS(HOST_ROWS), ORIGIN_HOSTS);
    check_matches(CORS_ROWS, ROWS(CORS_ROWS), ORIGIN_CORS);
    check_refusals();
    test_long_host();
    test_cors_wildcard();
    test_edges();
}
