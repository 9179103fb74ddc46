/* test_origin.c -- shared/origin.c: Channels' AllowedHostsOriginValidator rules over host
 * patterns, CORS origin lists, and the messages for list items that do not parse. */
#include "test.h"

#include "origin.h"

#include <stdlib.h>

#define HOSTS_EXPECTED "a host pattern: expected host, .domain, [ipv6], *, or scheme://host[:port]"
#define CORS_EXPECTED "an origin: expected scheme://host[:port] (no path), null, or *"

/* Parses text as kind; NULL (and a failed check) when it does not parse. */
static struct origin_list *parse_ok(const char *text, int kind) {
    struct origin_list *list = NULL;
    char err[256] = "";
    int rc = origin_list_parse(text, kind, &list, err, sizeof err);
    TEST_RECORD(rc == ORIGIN_OK, "origin_list_parse(\"%s\") = %d: %s", text, rc, err);
    return rc == ORIGIN_OK ? list : NULL;
}

/* origin_host_allowed over a freshly parsed host list; -1 when the list does not parse. */
static int host_ok(const char *patterns, const char *origin) {
    struct origin_list *list = parse_ok(patterns, ORIGIN_HOSTS);
    if (!list)
        return -1;
    int allowed = origin_host_allowed(list, origin);
    origin_list_free(list);
    return allowed;
}

/* origin_cors_allowed over a freshly parsed CORS list; -1 when the list does not parse. */
static int cors_ok(const char *origins, const char *origin) {
    struct origin_list *list = parse_ok(origins, ORIGIN_CORS);
    if (!list)
        return -1;
    int allowed = origin_cors_allowed(list, origin);
    origin_list_free(list);
    return allowed;
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

static void test_hosts(void) {
    /* 1. an exact host matches that host with any scheme and port */
    TEST("origin-1 exact host, any port");
    CHECK_INT(host_ok("example.com", "http://example.com"), 1);
    CHECK_INT(host_ok("example.com", "https://example.com:8443"), 1);
    CHECK_INT(host_ok("example.com", "http://example.com:8000"), 1);

    /* 2. an exact host does not match its subdomains or other hosts */
    TEST("origin-2 exact host only");
    CHECK_INT(host_ok("example.com", "http://www.example.com"), 0);
    CHECK_INT(host_ok("example.com", "http://example.org"), 0);
    CHECK_INT(host_ok("example.com", "http://example.com.evil.org"), 0);

    /* 3. .domain matches the domain itself and every subdomain */
    TEST("origin-3 .domain and subdomains");
    CHECK_INT(host_ok(".example.com", "http://example.com"), 1);
    CHECK_INT(host_ok(".example.com", "http://www.example.com"), 1);
    CHECK_INT(host_ok(".example.com", "https://a.b.example.com:9000"), 1);

    /* 4. .domain does not match a host that merely ends with the same letters */
    TEST("origin-4 .domain refuses evil-example.com");
    CHECK_INT(host_ok(".example.com", "http://evil-example.com"), 0);
    CHECK_INT(host_ok(".example.com", "http://example.com.evil.com"), 0);
    CHECK_INT(host_ok(".example.com", "http://xample.com"), 0);

    /* 5. "*" allows every origin, a missing one and "null" included */
    TEST("origin-5 * allows everything");
    CHECK_INT(host_ok("*", "http://anything.test:1234"), 1);
    CHECK_INT(host_ok("*", NULL), 1);
    CHECK_INT(host_ok("*", "null"), 1);
    CHECK_INT(host_ok("localhost, *", "garbage"), 1);

    /* 6. without "*", a missing or "null" Origin is refused */
    TEST("origin-6 missing and null refused without *");
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", NULL), 0);
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", "null"), 0);
    CHECK_INT(host_ok("localhost", ""), 0);

    /* 7. the default list: localhost, 127.0.0.1 and [::1] on any port */
    TEST("origin-7 default list");
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", "http://localhost:8000"), 1);
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", "http://127.0.0.1:8000"), 1);
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", "http://[::1]:8000"), 1);
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", "http://[::1]"), 1);
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", "http://127.0.0.2:8000"), 0);
    CHECK_INT(host_ok("localhost,127.0.0.1,[::1]", "http://[::2]:8000"), 0);

    /* 8. [::1] patterns are compared without brackets; bracketless ::1 in an Origin is no host */
    TEST("origin-8 IPv6 brackets");
    CHECK_INT(host_ok("[::1]", "http://[::1]:8000"), 1);
    CHECK_INT(host_ok("[::1]", "http://::1:8000"), 0);
    CHECK_INT(host_ok("[2001:DB8::1]", "https://[2001:db8::1]"), 1);

    /* 9. a bare host:port pattern is refused: a port needs a scheme */
    TEST("origin-9 host:port pattern without a scheme is refused");
    check_parse_error("localhost,example.com:8000", ORIGIN_HOSTS,
                      "\"example.com:8000\" is not a host pattern: a port needs a scheme, as in "
                      "http://host:port");
    check_parse_error("[::1]:8000", ORIGIN_HOSTS,
                      "\"[::1]:8000\" is not a host pattern: a port needs a scheme, as in "
                      "http://host:port");
    /* 9b. a long scheme such as chrome-extension:// is read whole */
    TEST("origin-9b chrome-extension scheme");
    CHECK_INT(host_ok("abcdefghijklmnop", "chrome-extension://abcdefghijklmnop"), 1);
    CHECK_INT(host_ok("chrome-extension://abcdefghijklmnop", "chrome-extension://abcdefghijklmnop"),
              1);

    /* 10. scheme://host requires that scheme and its default port */
    TEST("origin-10 scheme://host uses default ports");
    CHECK_INT(host_ok("http://example.com", "http://example.com"), 1);
    CHECK_INT(host_ok("http://example.com", "http://example.com:80"), 1);
    CHECK_INT(host_ok("http://example.com", "http://example.com:8080"), 0);
    CHECK_INT(host_ok("http://example.com", "https://example.com"), 0);
    CHECK_INT(host_ok("https://example.com", "https://example.com:443"), 1);
    CHECK_INT(host_ok("https://example.com:443", "https://example.com"), 1);

    /* 11. scheme://host:port requires that exact port */
    TEST("origin-11 scheme://host:port");
    CHECK_INT(host_ok("http://localhost:8000", "http://localhost:8000"), 1);
    CHECK_INT(host_ok("http://localhost:8000", "http://localhost:8001"), 0);
    CHECK_INT(host_ok("http://localhost:8000", "http://localhost"), 0);
    CHECK_INT(host_ok("http://localhost:8000", "https://localhost:8000"), 0);

    /* 12. scheme://.domain combines the domain rule with scheme and port */
    TEST("origin-12 scheme://.domain");
    CHECK_INT(host_ok("https://.example.com", "https://api.example.com"), 1);
    CHECK_INT(host_ok("https://.example.com", "http://api.example.com"), 0);

    /* 13. comparisons ignore case, in patterns and in the Origin */
    TEST("origin-13 case-insensitive");
    CHECK_INT(host_ok("EXAMPLE.com", "http://example.COM"), 1);
    CHECK_INT(host_ok(".Example.Com", "HTTP://WWW.EXAMPLE.COM:8000"), 1);
    CHECK_INT(host_ok("HTTPS://Example.com", "https://EXAMPLE.com"), 1);

    /* 14. an Origin with a path still has its host checked */
    TEST("origin-14 Origin with a path");
    CHECK_INT(host_ok("example.com", "http://example.com/page?x=1"), 1);

    /* 15. an Origin that does not parse (no scheme, bad port, bad characters) is refused */
    TEST("origin-15 unparsable Origin refused");
    CHECK_INT(host_ok("example.com", "example.com"), 0);
    CHECK_INT(host_ok("example.com", "http://example.com:"), 0);
    CHECK_INT(host_ok("example.com", "http://example.com:0"), 0);
    CHECK_INT(host_ok("example.com", "http://example.com:65536"), 0);
    CHECK_INT(host_ok("example.com", "http://example.com:123456"), 0);
    CHECK_INT(host_ok("example.com", "http://example.com:80a"), 0);
    CHECK_INT(host_ok("example.com", "http://exa mple.com"), 0);
    CHECK_INT(host_ok("example.com", "http://"), 0);
    CHECK_INT(host_ok("[::1]", "http://[::1"), 0);
    CHECK_INT(host_ok("[::1]", "http://[::1]x"), 0);
    CHECK_INT(host_ok("example.com", "://example.com"), 0);

    /* 16. spaces around items and empty items are ignored */
    TEST("origin-16 spaces and empty items");
    CHECK_INT(host_ok("  a.test ,, b.test , ", "http://b.test"), 1);
    CHECK_INT(host_ok("  a.test ,, b.test , ", "http://a.test"), 1);
    CHECK_INT(host_ok("  a.test ,, b.test , ", "http://c.test"), 0);

    /* 17. an empty list allows nothing */
    TEST("origin-17 empty list");
    CHECK_INT(host_ok("", "http://localhost"), 0);
    CHECK_INT(host_ok(" , ", "http://localhost"), 0);
    CHECK_INT(host_ok("", NULL), 0);

    /* 18. the port of an Origin may be up to 65535 */
    TEST("origin-18 highest port");
    CHECK_INT(host_ok("http://h.test:65535", "http://h.test:65535"), 1);
}

static void test_host_errors(void) {
    /* 19. a bad host pattern: ORIGIN_ERR_INVALID naming the item and what is accepted */
    TEST("origin-19 pattern with a path");
    check_parse_error("localhost, example.com/app", ORIGIN_HOSTS,
                      "\"example.com/app\" is not " HOSTS_EXPECTED);

    /* 20. a wildcard inside a name is not Django's syntax */
    TEST("origin-20 *.example.com");
    check_parse_error("*.example.com", ORIGIN_HOSTS, "\"*.example.com\" is not " HOSTS_EXPECTED);

    /* 21. an unclosed IPv6 bracket */
    TEST("origin-21 unclosed bracket");
    check_parse_error("[::1", ORIGIN_HOSTS, "\"[::1\" is not " HOSTS_EXPECTED);

    /* 22. bad ports: empty, zero, too large, not digits */
    TEST("origin-22 bad ports");
    check_parse_error("localhost:", ORIGIN_HOSTS, "\"localhost:\" is not " HOSTS_EXPECTED);
    check_parse_error("localhost:0", ORIGIN_HOSTS, "\"localhost:0\" is not " HOSTS_EXPECTED);
    check_parse_error("http://h:70000", ORIGIN_HOSTS, "\"http://h:70000\" is not " HOSTS_EXPECTED);
    check_parse_error("h:80x", ORIGIN_HOSTS, "\"h:80x\" is not " HOSTS_EXPECTED);

    /* 23. a scheme with no host, and an empty scheme */
    TEST("origin-23 scheme without host");
    check_parse_error("http://", ORIGIN_HOSTS, "\"http://\" is not " HOSTS_EXPECTED);
    check_parse_error("://h", ORIGIN_HOSTS, "\"://h\" is not " HOSTS_EXPECTED);

    /* 24. a scheme longer than 31 characters or with bad characters */
    TEST("origin-24 bad scheme");
    check_parse_error("abcdefghijklmnopabcdefghijklmnop://h", ORIGIN_HOSTS,
                      "\"abcdefghijklmnopabcdefghijklmnop://h\" is not " HOSTS_EXPECTED);
    check_parse_error("ht_tp://h", ORIGIN_HOSTS, "\"ht_tp://h\" is not " HOSTS_EXPECTED);

    /* 25. a host of 256 characters or more */
    TEST("origin-25 host too long");
    char long_host[300], expected[600];
    memset(long_host, 'a', 256);
    long_host[256] = '\0';
    snprintf(expected, sizeof expected, "\"%s\" is not " HOSTS_EXPECTED, long_host);
    check_parse_error(long_host, ORIGIN_HOSTS, expected);
    long_host[255] = '\0';
    CHECK_INT(host_ok(long_host, "http://x.test"), 0);

    /* 26. the item is shown trimmed of its spaces */
    TEST("origin-26 message shows the trimmed item");
    check_parse_error("ok.test,  bad host  ,x", ORIGIN_HOSTS,
                      "\"bad host\" is not " HOSTS_EXPECTED);

    /* 27. "null" is no host pattern */
    TEST("origin-27 null is not a host");
    CHECK_INT(host_ok("null", "null"), 0);
}

static void test_cors(void) {
    struct origin_list *list;

    /* 28. an origin is compared exactly: scheme, host and port */
    TEST("origin-28 CORS exact origin");
    CHECK_INT(cors_ok("http://localhost:8000", "http://localhost:8000"), 1);
    CHECK_INT(cors_ok("http://localhost:8000", "http://localhost:8001"), 0);
    CHECK_INT(cors_ok("http://localhost:8000", "https://localhost:8000"), 0);
    CHECK_INT(cors_ok("http://localhost:8000", "http://127.0.0.1:8000"), 0);
    CHECK_INT(cors_ok("http://localhost:8000", "http://localhost"), 0);

    /* 29. default ports are the same origin written with or without them */
    TEST("origin-29 CORS default ports");
    CHECK_INT(cors_ok("https://app.test", "https://app.test:443"), 1);
    CHECK_INT(cors_ok("http://app.test:80", "http://app.test"), 1);

    /* 30. case-insensitive */
    TEST("origin-30 CORS case");
    CHECK_INT(cors_ok("HTTP://App.Test", "http://app.TEST"), 1);

    /* 31. no subdomain or domain rules in CORS lists */
    TEST("origin-31 CORS no domain rules");
    CHECK_INT(cors_ok("https://app.test", "https://www.app.test"), 0);

    /* 32. a second origin of the list matches too */
    TEST("origin-32 CORS list of two");
    CHECK_INT(cors_ok("http://a.test, http://b.test:81", "http://b.test:81"), 1);

    /* 33. "null" is allowed only when listed */
    TEST("origin-33 CORS null");
    CHECK_INT(cors_ok("http://a.test,null", "null"), 1);
    CHECK_INT(cors_ok("http://a.test,NULL", "Null"), 1);
    CHECK_INT(cors_ok("http://a.test", "null"), 0);

    /* 34. "*" allows any Origin and is reported as a wildcard */
    TEST("origin-34 CORS *");
    list = parse_ok("*", ORIGIN_CORS);
    if (list) {
        CHECK_INT(origin_cors_allowed(list, "http://anything:1"), 1);
        CHECK_INT(origin_cors_allowed(list, "null"), 1);
        CHECK_INT(origin_cors_is_wildcard(list), 1);
        origin_list_free(list);
    }

    /* 35. a list without "*" is no wildcard */
    TEST("origin-35 CORS not a wildcard");
    list = parse_ok("http://a.test", ORIGIN_CORS);
    if (list) {
        CHECK_INT(origin_cors_is_wildcard(list), 0);
        origin_list_free(list);
    }

    /* 36. no Origin: no CORS headers, even with "*" */
    TEST("origin-36 CORS missing Origin");
    CHECK_INT(cors_ok("*", NULL), 0);
    CHECK_INT(cors_ok("http://a.test", NULL), 0);

    /* 37. an empty list allows nothing */
    TEST("origin-37 CORS empty list");
    CHECK_INT(cors_ok("", "http://a.test"), 0);
    CHECK_INT(cors_ok("", "null"), 0);

    /* 38. an Origin with a path or without a scheme does not match */
    TEST("origin-38 CORS malformed Origin");
    CHECK_INT(cors_ok("http://a.test", "http://a.test/"), 0);
    CHECK_INT(cors_ok("http://a.test", "a.test"), 0);

    /* 39. CORS items must be whole origins: a bare host, a path, a query are refused */
    TEST("origin-39 CORS bad items");
    check_parse_error("localhost:8000", ORIGIN_CORS, "\"localhost:8000\" is not " CORS_EXPECTED);
    check_parse_error("http://a.test/", ORIGIN_CORS, "\"http://a.test/\" is not " CORS_EXPECTED);
    check_parse_error("http://a.test?x", ORIGIN_CORS, "\"http://a.test?x\" is not " CORS_EXPECTED);
    check_parse_error("http://a.test, .b.test", ORIGIN_CORS, "\".b.test\" is not " CORS_EXPECTED);

    /* 40. a small error buffer is filled and terminated, never overrun */
    TEST("origin-40 small error buffer");
    char err[8];
    list = NULL;
    CHECK_INT(origin_list_parse("bad/", ORIGIN_HOSTS, &list, err, sizeof err), ORIGIN_ERR_INVALID);
    CHECK_STR(err, "\"bad/\" ");
    CHECK(list == NULL);

    /* 41. origin_list_free(NULL) is harmless */
    TEST("origin-41 free NULL");
    origin_list_free(NULL);
    CHECK(1);
}

void test_origin(void) {
    test_hosts();
    test_host_errors();
    test_cors();
}
