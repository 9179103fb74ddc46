/* test_ws_auth.c -- ws-worker/auth.c: every token source, conflicts, decoding, redaction. */
#include "test.h"

#include "../../ws-worker/auth.h"

#define KEY_A "9729df44544dd93002d564124b7fc5791d0a171f"
#define KEY_B "0000000000000000000000000000000000000000"

static int from_query(const char *q, char *key_out) {
    struct auth_token t;
    auth_init(&t);
    auth_add_query(&t, q, strlen(q));
    if (key_out)
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

void test_ws_auth(void) {
    char key[AUTH_KEY_MAX];
    struct auth_token t;

    TEST("1. nothing anywhere is missing");
    auth_init(&t);
    CHECK_INT(auth_result(&t), AUTH_ERR_MISSING);
    CHECK_INT(from_query("a=1&b=2", NULL), AUTH_ERR_MISSING);

    TEST("2. query token, other parameters ignored");
    CHECK_INT(from_query("x=%zz&token=" KEY_A "&y=1", key), AUTH_OK);
    CHECK_STR(key, KEY_A);

    TEST("3. query token percent-encoded, name too");
    CHECK_INT(from_query("%74oken=%39729df44544dd93002d564124b7fc5791d0a171f", key), AUTH_OK);
    CHECK_STR(key, KEY_A);

    TEST("4. empty, valueless, malformed, too long, bad escape: invalid");
    CHECK_INT(from_query("token=", NULL), AUTH_ERR_INVALID);
    CHECK_INT(from_query("token", NULL), AUTH_ERR_INVALID);
    CHECK_INT(from_query("token=ab!c", NULL), AUTH_ERR_INVALID);
    CHECK_INT(from_query("token=" KEY_A "0", NULL), AUTH_ERR_INVALID);
    CHECK_INT(from_query("token=%4", NULL), AUTH_ERR_INVALID);
    CHECK_INT(from_query("token=a+b", NULL), AUTH_ERR_INVALID);

    TEST("5. duplicated: the same key passes, different keys are invalid");
    CHECK_INT(from_query("token=" KEY_A "&token=" KEY_A, NULL), AUTH_OK);
    CHECK_INT(from_query("token=" KEY_A "&token=" KEY_B, NULL), AUTH_ERR_INVALID);

    TEST("6. pre-decoded lws query arguments");
    auth_init(&t);
    auth_add_query_arg(&t, "tokens=1", 8);
    CHECK_INT(auth_result(&t), AUTH_ERR_MISSING);
    auth_add_query_arg(&t, "token=" KEY_A, 46);
    CHECK_INT(auth_result(&t), AUTH_OK);
    CHECK_INT(t.source, AUTH_SOURCE_QUERY);
    auth_add_query_arg(&t, "token", 5);
    CHECK_INT(auth_result(&t), AUTH_ERR_INVALID);

    TEST("7. subprotocol entry beside tokenauth, spaces ignored");
    CHECK_INT(from_protocols("tokenauth, tokenauth.token." KEY_A), AUTH_OK);
    CHECK_INT(from_protocols(" tokenauth.token." KEY_A " ,tokenauth"), AUTH_OK);
    CHECK_INT(from_protocols("tokenauth"), AUTH_ERR_MISSING);
    CHECK_INT(from_protocols("tokenauth.token."), AUTH_ERR_INVALID);
    CHECK_INT(from_protocols("tokenauth.token.a,tokenauth.token.b"), AUTH_ERR_INVALID);

    TEST("8. Authorization: Token and Bearer, any case; other schemes ignored");
    CHECK_INT(from_header("Token " KEY_A), AUTH_OK);
    CHECK_INT(from_header("bearer   " KEY_A "  "), AUTH_OK);
    CHECK_INT(from_header("Basic eDp5"), AUTH_ERR_MISSING);
    CHECK_INT(from_header("Tokenizer " KEY_A), AUTH_ERR_MISSING);
    CHECK_INT(from_header("Token"), AUTH_ERR_INVALID);
    CHECK_INT(from_header("Token a b"), AUTH_ERR_INVALID);

    TEST("9. sources that disagree are invalid; that agree pass, first source kept");
    auth_init(&t);
    auth_add_query(&t, "token=" KEY_A, 46);
    auth_add_authorization(&t, "Token " KEY_A, 46);
    CHECK_INT(auth_result(&t), AUTH_OK);
    CHECK_INT(t.source, AUTH_SOURCE_QUERY);
    auth_add_protocols(&t, "tokenauth.token." KEY_B, 56);
    CHECK_INT(auth_result(&t), AUTH_ERR_INVALID);

    TEST("11. redaction of lws log lines");
    CHECK_STR(redact("GET /?token=" KEY_A "&x=1"), "GET /?token=REDACTED&x=REDACTED");
    CHECK_STR(redact("No supported protocol \"tokenauth.token." KEY_A ", x\""),
              "No supported protocol \"tokenauth.token.REDACTED, x\"");
    CHECK_STR(redact("Authorization: Bearer abc"), "Authorization: Bearer REDACTED");
    CHECK_STR(redact("TOKEN=abc token="), "TOKEN=REDACTED token=");
    CHECK_STR(redact("nothing here"), "nothing here");

    TEST("11b. redaction of encoded and spaced forms, queries and bare keys");
    CHECK_STR(redact("GET /?%74oken=" KEY_A " HTTP/1.1"), "GET /?%74oken=REDACTED HTTP/1.1");
    CHECK_STR(redact("GET /?tok%65n=" KEY_A "&a=b x"), "GET /?tok%65n=REDACTED&a=REDACTED x");
    CHECK_STR(redact("GET /?" KEY_A), "GET /?REDACTED");
    CHECK_STR(redact("Authorization: Token\t" KEY_A), "Authorization: Token\tREDACTED");
    CHECK_STR(redact("Authorization: Token  abc"), "Authorization: Token  REDACTED");
    CHECK_STR(redact("Bearer:abc,x"), "Bearer:REDACTED,x");
    CHECK_STR(redact("key " KEY_A " seen"), "key REDACTED seen");
    CHECK_STR(redact("short 0x55d5c1a0b2c0 kept"), "short 0x55d5c1a0b2c0 kept");
    CHECK(strstr(redact("x" KEY_A), KEY_A + 1) == NULL);
}
