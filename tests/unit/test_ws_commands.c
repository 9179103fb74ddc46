/* test_ws_commands.c -- ws-worker/commands.c: hello, whoami, every error reply, UTF-8, and the
 * session list and revocation pass that use them. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../ws-worker/commands.h"
#include "db.h"
#include "../../ws-worker/revocation.h"
#include "../../ws-worker/sessions.h"

static char reply_text[4096];

/* Runs one message of len bytes as protocol.c does (a reply buffer, or a malloc'd one for a
 * longer reply); returns the reply as a string. */
static const char *run_len(struct db *db, int64_t user_id, const char *msg, size_t len) {
    struct command_ctx ctx = {.db = db, .user_id = user_id};
    char out[512], *big = NULL;
    size_t n = 0;
    if (commands_handle_into(&ctx, msg, len, out, sizeof out, &big, &n) != COMMANDS_OK)
        return "(nomem)";
    snprintf(reply_text, sizeof reply_text, "%.*s", (int)n, big ? big : out);
    free(big);
    return reply_text;
}

static const char *run(struct db *db, int64_t user_id, const char *msg) {
    return run_len(db, user_id, msg, strlen(msg));
}

static int n_closed;
static const char *last_reason;
static void on_close(struct session *s, int code, const char *reason, void *arg) {
    n_closed++;
    last_reason = reason;
    s->close_code = (uint16_t)code;
}

static void test_revocation_pass(void) {
    const char *path = test_make_db("ws_rev.sqlite3");
    char cmd[512], err[256];
    TEST("9. revocation: expiry without a database, then a deleted token");
    if (!path) {
        SKIP("no sqlite3 shell to make a database");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "sqlite3 '%s' \"INSERT INTO auth_user (password, is_superuser, username, "
             "first_name, last_name, email, is_staff, is_active, date_joined) VALUES "
             "('!', 0, 'ann', '', '', 'a@x', 0, 1, '2020-01-01 00:00:00')\"",
             path);
    CHECK_INT(system(cmd), 0);
    struct db *db = db_open(path, DB_OPEN_READ_ONLY, 100, err, sizeof err);
    CHECK(db != NULL);
    if (!db)
        return;
    struct session a = {0}, b = {0};
    struct session_list list = {0};
    struct revocation_state st = {0};
    struct db_token_owner owner;
    /* the trigger made ann's token: read it back through the shell */
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'SELECT key FROM authtoken_token'", path);
    FILE *f = popen(cmd, "r");
    CHECK(f && fgets(a.key, sizeof a.key, f));
    if (f)
        pclose(f);
    CHECK_INT(db_token_check(db, a.key, 0, &owner), DB_OK);
    CHECK_STR(owner.username, "ann"); /* the connect log's names come with the check */
    CHECK_STR(owner.email, "a@x");
    a.user_id = owner.user_id;
    memcpy(b.key, a.key, sizeof b.key);
    b.user_id = a.user_id;
    b.expires_s = 100;
    sessions_add(&list, &a);
    sessions_add(&list, &b);
    CHECK_INT(list.n, 2);
    CHECK_INT(revocation_check(&list, NULL, 0, 50, &st, on_close, NULL), 0);
    CHECK_INT(revocation_check(&list, NULL, 0, 100, &st, on_close, NULL), 1);
    CHECK_STR(last_reason, REVOCATION_REASON_EXPIRED);
    CHECK_INT(b.close_code, REVOCATION_CLOSE_CODE);
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, on_close, NULL), 0);
    CHECK_INT(st.has_version, 1);
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'DELETE FROM authtoken_token'", path);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, on_close, NULL), 1);
    CHECK_STR(last_reason, REVOCATION_REASON_REVOKED);
    CHECK_INT(a.close_code, REVOCATION_CLOSE_CODE);

    TEST("10. sessions: remove is idempotent and keeps the list consistent");
    sessions_remove(&list, &b);
    sessions_remove(&list, &b);
    CHECK_INT(list.n, 1);
    CHECK(list.head == &a);
    sessions_remove(&list, &a);
    CHECK(list.head == NULL);
    CHECK_INT(list.n, 0);

    TEST("11. whoami for a user that vanished, and without a database");
    CHECK_STR(run(db, 999, "{\"command\": \"whoami\"}"),
              "{\"error\":\"not_found\",\"detail\":\"this user no longer exists\"}");
    CHECK_STR(run(db, a.user_id, "{\"command\": \"whoami\"}"),
              "{\"user\":{\"id\":1,\"username\":\"ann\",\"email\":\"a@x\"}}");
    db_close(db);
}

/* The fast hello (written into the caller's buffer) against the reply object cJSON prints, for
 * value and each buffer size from too small to roomy. */
static void check_fast_hello(const char *data_json) {
    char msg[8192], out[4096];
    snprintf(msg, sizeof msg, "{\"command\": \"Say hello !\"%s%s}",
             data_json ? ", \"data_string\": " : "", data_json ? data_json : "");
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "command_response", COMMANDS_HELLO_TEXT);
    cJSON_AddItemToObject(ref, "data_string_bacK",
                          data_json ? cJSON_Parse(data_json) : cJSON_CreateNull());
    char *want = cJSON_PrintUnformatted(ref);
    cJSON_Delete(ref);
    struct command_ctx ctx = {.db = NULL, .user_id = 1};
    size_t sizes[] = {0,         10, 70, 90, 120, strlen(want), strlen(want) + 1, strlen(want) + 5,
                      sizeof out};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *big = NULL;
        size_t n = 0;
        int rc = commands_handle_into(&ctx, msg, strlen(msg), out, sizes[i], &big, &n);
        CHECK_INT(rc, COMMANDS_OK);
        CHECK_INT(n, strlen(want));
        CHECK(rc == COMMANDS_OK && memcmp(big ? big : out, want, n) == 0);
        CHECK_INT(big != NULL, n > sizes[i]);
        free(big);
    }
    cJSON_free(want);
}

void test_ws_commands(void) {
    TEST("0. the fast hello gives cJSON's bytes, for every type and any buffer size");
    check_fast_hello(NULL);
    check_fast_hello("null");
    check_fast_hello("\"bench\"");
    check_fast_hello("\"quote \\\" backslash \\\\ tab \\t nl \\n ctl \\u0001 \u00e9\u20ac\"");
    check_fast_hello("0");
    check_fast_hello("-1.5e300");
    check_fast_hello("123456789012345678");
    check_fast_hello("0.1");
    check_fast_hello("true");
    check_fast_hello("[1, \"a\", {\"b\": null}, []]");
    check_fast_hello("{\"a\": [1, true], \"\": {}}");
    char long_string[1200];
    memset(long_string, 'x', sizeof long_string);
    long_string[0] = '"';
    long_string[sizeof long_string - 2] = '"';
    long_string[sizeof long_string - 1] = '\0';
    check_fast_hello(long_string);

    TEST("1. hello with a string, the tutorial's exact reply");
    CHECK_STR(run(NULL, 1, "{\"command\": \"Say hello !\", \"data_string\": \"hi\"}"),
              "{\"command_response\":\"The command to say hello was received \","
              "\"data_string_bacK\":\"hi\"}");

    TEST("2. hello echoes any JSON type, null when absent");
    CHECK_STR(run(NULL, 1, "{\"command\": \"Say hello !\", \"data_string\": {\"a\": [1, true]}}"),
              "{\"command_response\":\"The command to say hello was received \","
              "\"data_string_bacK\":{\"a\":[1,true]}}");
    CHECK_STR(run(NULL, 1, "{\"command\": \"Say hello !\"}"),
              "{\"command_response\":\"The command to say hello was received \","
              "\"data_string_bacK\":null}");

    TEST("3. invalid JSON");
    CHECK_STR(run(NULL, 1, "{\"command\""),
              "{\"error\":\"invalid_json\",\"detail\":\"the message is not valid JSON\"}");
    CHECK_STR(run(NULL, 1, ""),
              "{\"error\":\"invalid_json\",\"detail\":\"the message is not valid JSON\"}");

    TEST("4. JSON that is not an object");
    CHECK_STR(run(NULL, 1, "[1]"),
              "{\"error\":\"not_an_object\",\"detail\":\"the message must be a JSON object\"}");

    TEST("5. missing or non-string command");
    CHECK_STR(run(NULL, 1, "{\"command\": 1}"),
              "{\"error\":\"missing_command\",\"detail\":\"the object needs a \\\"command\\\" "
              "string\"}");

    TEST("6. unknown command, case-sensitive names");
    CHECK(strstr(run(NULL, 1, "{\"command\": \"WHOAMI\"}"), "\"unknown_command\"") != NULL);

    TEST("6b. unknown_command lists every command of the table");
    CHECK_STR(run(NULL, 1, "{\"command\": \"x\"}"),
              "{\"error\":\"unknown_command\",\"detail\":\"known commands: \\\"Say hello "
              "!\\\", \\\"whoami\\\"\"}");

    TEST("6c. bytes after the object: invalid_json (another object, garbage, a NUL)");
    static const char *const trailing[] = {
        "{\"command\":\"whoami\"} x",
        "{\"command\":\"whoami\"}{\"command\":\"whoami\"}",
        "{\"command\":\"Say hello !\"} {}",
        "{\"command\":\"Say hello !\"}]",
        "1 2",
    };
    for (size_t i = 0; i < sizeof trailing / sizeof trailing[0]; i++)
        CHECK_STR(run(NULL, 1, trailing[i]),
                  "{\"error\":\"invalid_json\",\"detail\":\"the message is not valid JSON\"}");
    {
        static const char with_nul[] = "{\"command\":\"Say hello !\"}\0";
        const char *reply = run_len(NULL, 1, with_nul, sizeof with_nul - 1);
        CHECK(strcmp(reply, "(nomem)") != 0);
        CHECK(strlen(reply) > 20 && memcmp(reply, "{\"error\":\"invalid_json\"", 23) == 0);
    }

    TEST("6d. trailing JSON whitespace is fine");
    CHECK(strstr(run(NULL, 1, " {\"command\":\"Say hello !\"} \r\n\t"), "data_string_bacK") !=
          NULL);

    TEST("6e. two \"command\" keys are refused, not guessed");
    CHECK(strstr(run(NULL, 1, "{\"command\":\"x\",\"command\":\"Say hello !\"}"),
                 "\"duplicate_command\"") != NULL);

    TEST("6f. \\u0000 in a string is refused (cJSON would cut it), the escaped backslash is not");
    static const char *const nul_escapes[] = {
        "{\"command\":\"Say hello !\",\"data_string\":\"a\\u0000b\"}",
        "{\"command\":\"Say hello !\",\"data_string\":\"\\\\\\u0000\"}",
        "{\"command\":\"whoami\",\"x\":[\"\\u0000\"]}",
        "{\"command\\u0000\":\"whoami\"}",
    };
    for (size_t i = 0; i < sizeof nul_escapes / sizeof nul_escapes[0]; i++)
        CHECK_STR(run(NULL, 1, nul_escapes[i]),
                  "{\"error\":\"invalid_json\",\"detail\":\"\\\\u0000 in a string is not "
                  "supported\"}");
    CHECK_STR(run(NULL, 1, "{\"command\":\"Say hello !\",\"data_string\":\"\\\\u0000\"}"),
              "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\","
              "\"data_string_bacK\":\"\\\\u0000\"}");
    CHECK_STR(run(NULL, 1, "{\"command\":\"Say hello !\",\"data_string\":\"\\u0001\"}"),
              "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\","
              "\"data_string_bacK\":\"\\u0001\"}");

    TEST("7. whoami without a database answers unavailable");
    CHECK(strstr(run(NULL, 1, "{\"command\": \"whoami\"}"), "\"unavailable\"") != NULL);

    test_revocation_pass();
}
