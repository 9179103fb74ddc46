/* test_ws_auth.c -- ws-worker/auth.c: every token source, conflicts between them, redaction. */
#include "test.h"

#include "../../ws-worker/auth.h"

#define KEY_A "9729df44544dd93002d564124b7fc5791d0a171f"
#define KEY_B "0000000000000000000000000000000000000000"

/* One input and the result auth_result() must give for it. */
struct auth_case {
    const char *in;
    int want;
};

/* Feeds q argument by argument, as handshake.c does with what libwebsockets hands over (split
 * at '&' and already percent-decoded). Returns auth_result(); the key goes to key_out. */
static int from_query(const char *q, char *key_out) {
    struct auth_token t;
    auth_init(&t);
    for (const char *arg = q;; arg++) {
        const char *end = strchr(arg, '&');
        size_t len = end ? (size_t)(end - arg) : strlen(arg);
        auth_add_query_arg(&t, arg, len);
        if (!end)
            break;
        arg = end;
    }
    strcpy(key_out, t.key);
    return auth_result(&t);
}

static int from_protocols(const char *list) {
    struct auth_token t;
    auth_init(&t);
    auth_add_protocols(&t, list, strlen(list));
    return auth_result(&t);
}

static int from_header(const char *value) {
    struct auth_token t;
    auth_init(&t);
    auth_add_authorization(&t, value, strlen(value));
    return auth_result(&t);
}

static const char *redact(const char *in) {
    static char out[256];
    auth_redact_tokens(in, out, sizeof out);
    return out;
}

static void test_query(void) {
    static const struct auth_case cases[] = {
        {"a=1&b=2", AUTH_ERR_MISSING},
        {"tokens=1", AUTH_ERR_MISSING},
        {"x=%zz&token=" KEY_A "&y=1", AUTH_OK},
        {"token=" KEY_A "&token=" KEY_A, AUTH_OK},
        {"token=", AUTH_ERR_INVALID},
        {"token", AUTH_ERR_INVALID},
        {"token=ab!c", AUTH_ERR_INVALID},
        {"token=" KEY_A "0", AUTH_ERR_INVALID},
        {"token=%4", AUTH_ERR_INVALID},
        {"token=a b", AUTH_ERR_INVALID},
        {"token=" KEY_A "&token=" KEY_B, AUTH_ERR_INVALID},
        {"token=" KEY_A "&token", AUTH_ERR_INVALID},
    };
    char key[AUTH_KEY_MAX];
    TEST("auth: a query argument token counts, others are ignored; empty, malformed, too long or "
         "disagreeing copies are invalid");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = from_query(cases[i].in, key);
        TEST_RECORD(rc == cases[i].want, "query \"%s\": got %d, expected %d", cases[i].in, rc,
                    cases[i].want);
        if (rc == AUTH_OK)
            CHECK_STR(key, KEY_A);
    }
}

static void test_protocols_and_header(void) {
    static const struct auth_case protocols[] = {
        {"tokenauth, tokenauth.token." KEY_A, AUTH_OK},
        {" tokenauth.token." KEY_A " ,tokenauth", AUTH_OK},
        {"tokenauth", AUTH_ERR_MISSING},
        {"tokenauth.token.", AUTH_ERR_INVALID},
        {"tokenauth.token.a,tokenauth.token.b", AUTH_ERR_INVALID},
    };
    static const struct auth_case headers[] = {
        {"Token " KEY_A, AUTH_OK},        {"bearer   " KEY_A "  ", AUTH_OK},
        {"Basic eDp5", AUTH_ERR_MISSING}, {"Tokenizer " KEY_A, AUTH_ERR_MISSING},
        {"Token", AUTH_ERR_INVALID},      {"Token a b", AUTH_ERR_INVALID},
    };
    TEST("auth: a subprotocol entry beside tokenauth offers the key, spaces around ignored");
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        int rc = from_protocols(protocols[i].in);
        TEST_RECORD(rc == protocols[i].want, "protocols \"%s\": got %d, expected %d",
                    protocols[i].in, rc, protocols[i].want);
    }
    TEST("auth: Authorization Token and Bearer count in any case, other schemes are ignored");
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        int rc = from_header(headers[i].in);
        TEST_RECORD(rc == headers[i].want, "authorization \"%s\": got %d, expected %d",
                    headers[i].in, rc, headers[i].want);
    }
}

static void test_redaction(void) {
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"GET /?token=" KEY_A "&x=1", "GET /?token=REDACTED&x=REDACTED"},
        {"No supported protocol \"tokenauth.token." KEY_A ", x\"",
         "No supported protocol \"tokenauth.token.REDACTED, x\""},
        {"Authorization: Bearer abc", "Authorization: Bearer REDACTED"},
        {"TOKEN=abc token=", "TOKEN=REDACTED token="},
        {"nothing here", "nothing here"},
        {"GET /?%74oken=" KEY_A " HTTP/1.1", "GET /?%74oken=REDACTED HTTP/1.1"},
        {"GET /?tok%65n=" KEY_A "&a=b x", "GET /?tok%65n=REDACTED&a=REDACTED x"},
        {"GET /?" KEY_A, "GET /?REDACTED"},
        {"Authorization: Token\t" KEY_A, "Authorization: Token\tREDACTED"},
        {"Authorization: Token  abc", "Authorization: Token  REDACTED"},
        {"Bearer:abc,x", "Bearer:REDACTED,x"},
        {"key " KEY_A " seen", "key REDACTED seen"},
        {"short 0x55d5c1a0b2c0 kept", "short 0x55d5c1a0b2c0 kept"},
    };
    TEST("auth: redaction hides query values, marked and encoded tokens and bare keys in lws log "
         "lines, and keeps the rest");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_STR(redact(cases[i].in), cases[i].want);
    CHECK(strstr(redact("x" KEY_A), KEY_A + 1) == NULL);
}

void test_ws_auth(void) {
    struct auth_token t;

    TEST("auth: a handshake with no token anywhere is missing");
    auth_init(&t);
    CHECK_INT(auth_result(&t), AUTH_ERR_MISSING);

    test_query();
    test_protocols_and_header();

    TEST("auth: sources that agree pass and keep the first source, one that disagrees is invalid");
    auth_init(&t);
    auth_add_query_arg(&t, "token=" KEY_A, 46);
    auth_add_authorization(&t, "Token " KEY_A, 46);
    CHECK_INT(auth_result(&t), AUTH_OK);
    CHECK_INT(t.source, AUTH_SOURCE_QUERY);
    auth_add_protocols(&t, "tokenauth.token." KEY_B, 56);
    CHECK_INT(auth_result(&t), AUTH_ERR_INVALID);

    test_redaction();
}
