/* test_ws_commands.c -- ws-worker/commands.c: hello, whoami and every error reply, and the
 * session list and revocation pass that use them. */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../ws-worker/commands.h"
#include "db.h"
#include "../../ws-worker/replies.h"
#include "../../ws-worker/revocation.h"
#include "../../ws-worker/sessions.h"

static char reply_text[4096];
static struct reply_pool pool;

/* Runs one message of len bytes as protocol.c does; returns the reply as a string, and gives
 * its buffer back. */
static const char *run_len(struct db *db, int64_t user_id, const char *msg, size_t len) {
    struct command_ctx ctx = {.db = db, .user_id = user_id, .replies = &pool};
    struct reply *r = commands_handle(&ctx, msg, len);
    if (!r)
        return "(nomem)";
    snprintf(reply_text, sizeof reply_text, "%.*s", (int)r->len, replies_json(r));
    replies_put(&pool, r);
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
    TEST("revocation: a token expires without a database, then a deleted token is revoked");
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
    struct revocation_tick tick;
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
    revocation_watch_expiry(&st, b.expires_s);
    CHECK_INT(list.n, 2);
    CHECK_INT(revocation_check(&list, NULL, 0, 50, &st, &tick, on_close, NULL), 0);
    CHECK_INT(revocation_check(&list, NULL, 0, 100, &st, &tick, on_close, NULL), 1);
    CHECK_STR(last_reason, REVOCATION_REASON_EXPIRED);
    CHECK_INT(b.close_code, REVOCATION_CLOSE_CODE);
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 0);
    CHECK_INT(st.has_version, 1);
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'DELETE FROM authtoken_token'", path);
    CHECK_INT(system(cmd), 0);
    CHECK_INT(revocation_check(&list, db, 0, 100, &st, &tick, on_close, NULL), 1);
    CHECK_STR(last_reason, REVOCATION_REASON_REVOKED);
    CHECK_INT(a.close_code, REVOCATION_CLOSE_CODE);

    TEST("sessions: remove is idempotent and keeps the list consistent");
    sessions_remove(&list, &b);
    sessions_remove(&list, &b);
    CHECK_INT(list.n, 1);
    CHECK(list.head == &a);
    sessions_remove(&list, &a);
    CHECK(list.head == NULL);
    CHECK_INT(list.n, 0);

    TEST("commands: whoami answers the user's names, and not_found once the user vanished");
    CHECK_STR(run(db, 999, "{\"command\": \"whoami\"}"),
              "{\"error\":\"not_found\",\"detail\":\"this user no longer exists\"}");
    CHECK_STR(run(db, a.user_id, "{\"command\": \"whoami\"}"),
              "{\"user\":{\"id\":1,\"username\":\"ann\",\"email\":\"a@x\"}}");
    db_close(db);
}

/* The hello reply for data_json (NULL: no data_string) against the reply object cJSON prints:
 * the same bytes, pooled when short, in a buffer of its own when long. */
static void check_hello(const char *data_json) {
    char msg[8192];
    snprintf(msg, sizeof msg, "{\"command\": \"Say hello !\"%s%s}",
             data_json ? ", \"data_string\": " : "", data_json ? data_json : "");
    cJSON *ref = cJSON_CreateObject();
    cJSON_AddStringToObject(ref, "command_response", COMMANDS_HELLO_TEXT);
    cJSON_AddItemToObject(ref, "data_string_bacK",
                          data_json ? cJSON_Parse(data_json) : cJSON_CreateNull());
    char *want = cJSON_PrintUnformatted(ref);
    cJSON_Delete(ref);
    struct command_ctx ctx = {.db = NULL, .user_id = 1, .replies = &pool};
    struct reply *r = commands_handle(&ctx, msg, strlen(msg));
    CHECK(r != NULL);
    if (r) {
        TEST_RECORD(r->len == strlen(want) && memcmp(replies_json(r), want, r->len) == 0,
                    "hello of %.60s: got \"%.*s\"", data_json ? data_json : "(none)", (int)r->len,
                    replies_json(r));
        CHECK(r->len <= r->room);
        if (r->len + 6 < REPLIES_ROOM) /* cJSON's spare bytes and the closing brace */
            CHECK_INT(r->is_pooled, 1);
        if (r->len > REPLIES_ROOM)
            CHECK_INT(r->is_pooled, 0);
        replies_put(&pool, r);
    }
    cJSON_free(want);
}

/* Messages and the exact replies they get, no database needed. */
static void test_replies_table(void) {
    static const char not_json[] =
        "{\"error\":\"invalid_json\",\"detail\":\"the message is not valid JSON\"}";
    static const char nul_escape[] =
        "{\"error\":\"invalid_json\",\"detail\":\"\\\\u0000 in a string is not supported\"}";
    static const struct {
        const char *name, *msg, *want;
    } cases[] = {
        {"commands: hello with a string gets the tutorial's exact reply",
         "{\"command\": \"Say hello !\", \"data_string\": \"hi\"}",
         "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":\"hi\"}"},
        {"commands: hello echoes data_string whatever its JSON type",
         "{\"command\": \"Say hello !\", \"data_string\": {\"a\": [1, true]}}",
         "{\"command_response\":\"" COMMANDS_HELLO_TEXT
         "\",\"data_string_bacK\":{\"a\":[1,true]}}"},
        {"commands: hello without data_string echoes null", "{\"command\": \"Say hello !\"}",
         "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":null}"},
        {"commands: trailing JSON whitespace is fine", " {\"command\":\"Say hello !\"} \r\n\t",
         "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":null}"},
        {"commands: a cut message is invalid_json", "{\"command\"", not_json},
        {"commands: an empty message is invalid_json", "", not_json},
        {"commands: JSON that is not an object is not_an_object", "[1]",
         "{\"error\":\"not_an_object\",\"detail\":\"the message must be a JSON object\"}"},
        {"commands: a command that is not a string is missing_command", "{\"command\": 1}",
         "{\"error\":\"missing_command\",\"detail\":\"the object needs a \\\"command\\\" "
         "string\"}"},
        {"commands: command names are case-sensitive", "{\"command\": \"WHOAMI\"}",
         "{\"error\":\"unknown_command\",\"detail\":\"known commands: \\\"Say hello "
         "!\\\", \\\"whoami\\\", \\\"subscribe\\\", \\\"unsubscribe\\\", "
         "\\\"publish\\\", \\\"subscriptions\\\"\"}"},
        {"commands: unknown_command lists every command of the table", "{\"command\": \"x\"}",
         "{\"error\":\"unknown_command\",\"detail\":\"known commands: \\\"Say hello "
         "!\\\", \\\"whoami\\\", \\\"subscribe\\\", \\\"unsubscribe\\\", "
         "\\\"publish\\\", \\\"subscriptions\\\"\"}"},
        {"commands: two \"command\" keys are refused, not guessed",
         "{\"command\":\"x\",\"command\":\"Say hello !\"}",
         "{\"error\":\"duplicate_command\",\"detail\":\"the object has more than one "
         "\\\"command\\\" key\"}"},
        {"commands: another value after the object is invalid_json",
         "{\"command\":\"whoami\"}{\"command\":\"whoami\"}", not_json},
        {"commands: garbage after the object is invalid_json", "{\"command\":\"whoami\"} x",
         not_json},
        {"commands: an object after a hello is invalid_json", "{\"command\":\"Say hello !\"} {}",
         not_json},
        {"commands: a bracket after a hello is invalid_json", "{\"command\":\"Say hello !\"}]",
         not_json},
        {"commands: two numbers are invalid_json", "1 2", not_json},
        {"commands: \\u0000 in data_string is refused (cJSON would cut it)",
         "{\"command\":\"Say hello !\",\"data_string\":\"a\\u0000b\"}", nul_escape},
        {"commands: \\u0000 after escaped backslashes is refused",
         "{\"command\":\"Say hello !\",\"data_string\":\"\\\\\\u0000\"}", nul_escape},
        {"commands: \\u0000 in any member is refused",
         "{\"command\":\"whoami\",\"x\":[\"\\u0000\"]}", nul_escape},
        {"commands: \\u0000 in a key is refused", "{\"command\\u0000\":\"whoami\"}", nul_escape},
        {"commands: an escaped backslash before u0000 is not a NUL and is echoed",
         "{\"command\":\"Say hello !\",\"data_string\":\"\\\\u0000\"}",
         "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":\"\\\\u0000\"}"},
        {"commands: other control escapes are echoed",
         "{\"command\":\"Say hello !\",\"data_string\":\"\\u0001\"}",
         "{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":\"\\u0001\"}"},
        {"commands: whoami without a database answers unavailable", "{\"command\": \"whoami\"}",
         "{\"error\":\"unavailable\",\"detail\":\"the database cannot be opened; try again "
         "later\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TEST(cases[i].name);
        CHECK_STR(run(NULL, 1, cases[i].msg), cases[i].want);
    }
    TEST("commands: a NUL byte after the object is invalid_json");
    static const char with_nul[] = "{\"command\":\"Say hello !\"}\0";
    CHECK_STR(run_len(NULL, 1, with_nul, sizeof with_nul - 1), not_json);
}

void test_ws_commands(void) {
    static const char *const values[] = {
        "null",
        "\"bench\"",
        "\"quote \\\" backslash \\\\ tab \\t nl \\n ctl \\u0001 \u00e9\u20ac\"",
        "0",
        "-1.5e300",
        "123456789012345678",
        "0.1",
        "5e-324",
        "true",
        "[1, \"a\", {\"b\": null}, []]",
        "{\"a\": [1, true], \"\": {}}",
        "[5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, "
        "5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324, 5e-324]",
    };
    TEST("commands: hello gives the bytes cJSON prints of its reply object, for every type");
    check_hello(NULL);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        check_hello(values[i]);

    TEST("commands: hello builds a reply longer than a pooled buffer in one of its own");
    char string[4000];
    size_t head_len =
        strlen("{\"command_response\":\"" COMMANDS_HELLO_TEXT "\",\"data_string_bacK\":}");
    for (size_t n = REPLIES_ROOM - head_len - 12; n < REPLIES_ROOM - head_len + 4; n++) {
        memset(string, 'x', n);
        string[0] = string[n - 1] = '"';
        string[n] = '\0';
        check_hello(string); /* the edge of a pooled buffer, byte by byte */
    }
    memset(string, 'x', sizeof string - 1);
    string[0] = string[sizeof string - 2] = '"';
    string[sizeof string - 1] = '\0';
    check_hello(string);

    test_replies_table();
    test_revocation_pass();
    replies_free(&pool);
}
