/* tokenauth.c -- SQLite loadable extension: Django passwords and DRF tokens at the sqlite3 prompt.
 *
 * Load with `.load build/tokenauth` (entry point sqlite3_tokenauth_init). It adds:
 *
 *   make_password(plain)              -> text   pbkdf2_sha256 hash of plain, at the iteration
 *   make_password(plain, iterations)  -> text   count TOKENAUTH_PASSWORD_ITERATIONS held when the
 *                                               extension was loaded (read by config.c, as the
 *                                               programs read it; 1000000, Django 5.2's default,
 *                                               when unset), or at `iterations`. A new random
 *                                               salt each call. With a bad variable, the
 *                                               one-argument form is an error naming it, e.g.
 *                                               "make_password: TOKENAUTH_PASSWORD_ITERATIONS:
 *                                               "12abc" is not a whole number from 1 to
 *                                               100000000", never a silent default.
 *   check_password(plain, encoded)    -> 1 or 0  Django's check_password: 1 when plain matches
 *                                               encoded (any format password.h verifies); 0 for a
 *                                               wrong password and for unusable ("!..."), empty,
 *                                               unknown or malformed hashes, as Django answers
 *                                               False for them. plain is taken whole, by its
 *                                               byte count: one holding a NUL byte (say
 *                                               CAST(x'31323300' AS TEXT)) is 0, never the match
 *                                               of the password cut at the NUL (HMAC's zero
 *                                               padding would make it one in PBKDF2).
 *   new_token()                       -> text   a new DRF token key: 40 lowercase hex characters.
 *   sign_channel(user_id, channel)    -> text   the signature that lets user user_id subscribe
 *                                               to channel (docs/channels.md): 64 lowercase hex
 *                                               characters, HMAC-SHA256 of "<user_id>:<channel>"
 *                                               under TOKENAUTH_CHANNEL_SECRET as it was when the
 *                                               extension was loaded. Errors: the secret unset
 *                                               ("sign_channel: TOKENAUTH_CHANNEL_SECRET is not
 *                                               set") or shorter than ws-worker accepts (32),
 *                                               user_id not a positive integer, channel not text
 *                                               or not a channel name, a personal "user." channel
 *                                               (never granted by a signature).
 *
 * NULL in any argument gives NULL. plain and encoded must be text, iterations an integer from 1
 * to 100000000; anything else is an error naming the function and what it accepts, e.g.
 * "make_password accepts only text or NULL as the password"; a password holding a NUL byte is
 * "make_password: the password holds a NUL byte". A failure of the random source or
 * the crypto library is an error too, never a wrong answer.
 *
 * Every function is SQLITE_DIRECTONLY: it handles secrets (or makes them), so a trigger or view
 * planted in a database cannot call it behind the admin's back; use them in top-level statements.
 * check_password is also SQLITE_DETERMINISTIC; make_password and new_token are random.
 * sign_channel is SQLITE_DETERMINISTIC too: it reads the secret once, at load, so within a
 * connection the same arguments always give the same signature (changing the environment
 * afterwards changes nothing until the next .load in a new connection).
 *
 * The extension has no logic of its own: it converts SQL values and calls password_*, token_*,
 * channel_* and config_set, the code login-fcgi and ws-worker run. */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "channel.h"
#include "config.h"
#include "password.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITERATIONS_ENV "TOKENAUTH_PASSWORD_ITERATIONS"
#define CHANNEL_SECRET_ENV "TOKENAUTH_CHANNEL_SECRET"

/* make_password's default iteration count, read once at load; each registration owns a copy. */
struct default_iterations {
    long count;      /* used when error is "" */
    char error[256]; /* the SQL error of make_password(plain) when the variable is bad, else "" */
};

/* Reads TOKENAUTH_PASSWORD_ITERATIONS through config_set, so the extension accepts and refuses
 * exactly what login-fcgi does, with the same message. */
static void read_default_iterations(struct default_iterations *d) {
    struct config cfg; /* about 17 KiB of text settings, once, at load */
    const char *text = getenv(ITERATIONS_ENV);
    char err[200];
    config_defaults(&cfg);
    d->error[0] = '\0';
    if (text && config_set(&cfg, ITERATIONS_ENV, text, err, sizeof err) != CONFIG_OK)
        snprintf(d->error, sizeof d->error, "make_password: %s", err);
    d->count = cfg.password_iterations;
}

/* 1 when any argument is NULL (the result is then NULL). */
static int any_null(int argc, sqlite3_value **argv) {
    for (int i = 0; i < argc; i++)
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
            return 1;
    return 0;
}

/* make_password(plain [, iterations]); the user data is a struct default_iterations. */
static void make_password_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    const struct default_iterations *d = sqlite3_user_data(ctx);
    long iterations = d->count;
    char encoded[PASSWORD_ENCODED_MAX];
    if (any_null(argc, argv))
        return; /* the result stays NULL */
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_error(ctx, "make_password accepts only text or NULL as the password", -1);
        return;
    }
    if (argc == 2) {
        sqlite3_int64 n = sqlite3_value_int64(argv[1]);
        if (sqlite3_value_type(argv[1]) != SQLITE_INTEGER || n < 1 || n > PASSWORD_MAX_ITERATIONS) {
            sqlite3_result_error(
                ctx, "make_password accepts only an integer from 1 to 100000000 as iterations", -1);
            return;
        }
        iterations = (long)n;
    } else if (d->error[0]) {
        sqlite3_result_error(ctx, d->error, -1);
        return;
    }
    if (memchr(sqlite3_value_text(argv[0]), '\0', (size_t)sqlite3_value_bytes(argv[0]))) {
        sqlite3_result_error(ctx, "make_password: the password holds a NUL byte", -1);
        return;
    }
    if (password_make((const char *)sqlite3_value_text(argv[0]),
                      (size_t)sqlite3_value_bytes(argv[0]), iterations, encoded,
                      sizeof encoded) != PASSWORD_OK) {
        sqlite3_result_error(ctx, "make_password: the random source or crypto library failed", -1);
        return;
    }
    sqlite3_result_text(ctx, encoded, -1, SQLITE_TRANSIENT);
}

/* check_password(plain, encoded). */
static void check_password_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    int rc;
    if (any_null(argc, argv))
        return;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || sqlite3_value_type(argv[1]) != SQLITE_TEXT) {
        sqlite3_result_error(ctx, "check_password accepts only text or NULL arguments", -1);
        return;
    }
    rc = password_verify((const char *)sqlite3_value_text(argv[0]),
                         (size_t)sqlite3_value_bytes(argv[0]),
                         (const char *)sqlite3_value_text(argv[1]));
    if (rc == PASSWORD_ERR) {
        sqlite3_result_error(ctx, "check_password: out of memory or crypto library failure", -1);
        return;
    }
    sqlite3_result_int(ctx, rc == PASSWORD_OK);
}

/* new_token(). */
static void new_token_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    char key[TOKEN_KEY_LEN + 1];
    if (token_generate(key) != TOKEN_OK) {
        sqlite3_result_error(ctx, "new_token: the random source failed", -1);
        return;
    }
    sqlite3_result_text(ctx, key, TOKEN_KEY_LEN, SQLITE_TRANSIENT);
}

/* The error of sign_channel for a secret that cannot sign, or NULL when it can. */
static const char *secret_problem(const char *secret) {
    if (!secret[0])
        return "sign_channel: " CHANNEL_SECRET_ENV " is not set";
    if (strlen(secret) < CHANNEL_SECRET_MIN_LEN)
        return "sign_channel: " CHANNEL_SECRET_ENV " is shorter than 32 characters, which "
               "ws-worker refuses";
    return NULL;
}

/* The error of sign_channel for these arguments (not NULL), or NULL when they can be signed. */
static const char *sign_problem(sqlite3_value **argv) {
    if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER || sqlite3_value_int64(argv[0]) <= 0)
        return "sign_channel accepts only a positive integer or NULL as the user id";
    if (sqlite3_value_type(argv[1]) != SQLITE_TEXT)
        return "sign_channel accepts only text or NULL as the channel";
    /* only now: asking a blob for its text would convert it */
    const char *channel = (const char *)sqlite3_value_text(argv[1]);
    if (!channel_name_is_valid(channel) || (size_t)sqlite3_value_bytes(argv[1]) != strlen(channel))
        return "sign_channel: not a channel name: 1 to 99 ASCII letters, digits, '-', '_' or '.'";
    if (strncmp(channel, CHANNEL_PERSONAL_PREFIX, strlen(CHANNEL_PERSONAL_PREFIX)) == 0)
        return "sign_channel: user. channels are personal: no signature ever grants them";
    return NULL;
}

/* sign_channel(user_id, channel); the user data is the secret read at load. */
static void sign_channel_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    const char *secret = sqlite3_user_data(ctx);
    char signature[CHANNEL_SIGNATURE_LEN + 1];
    const char *problem;
    if (any_null(argc, argv))
        return;
    if ((problem = secret_problem(secret)) || (problem = sign_problem(argv))) {
        sqlite3_result_error(ctx, problem, -1);
        return;
    }
    if (channel_sign(secret, sqlite3_value_int64(argv[0]),
                     (const char *)sqlite3_value_text(argv[1]), signature) != CHANNEL_OK) {
        sqlite3_result_error(ctx, "sign_channel: the crypto library failed", -1);
        return;
    }
    sqlite3_result_text(ctx, signature, CHANNEL_SIGNATURE_LEN, SQLITE_TRANSIENT);
}

/* Registers sign_channel with its own copy of TOKENAUTH_CHANNEL_SECRET ("" when unset). */
static int register_sign_channel(sqlite3 *db) {
    const char *env = getenv(CHANNEL_SECRET_ENV);
    char *secret = sqlite3_mprintf("%s", env ? env : "");
    if (!secret)
        return SQLITE_NOMEM;
    return sqlite3_create_function_v2(db, "sign_channel", 2,
                                      SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                      secret, sign_channel_func, NULL, NULL, sqlite3_free);
}

/* Registers make_password with argc arguments, owning its own copy of the default count. */
static int register_make_password(sqlite3 *db, int argc, const struct default_iterations *d) {
    struct default_iterations *copy = sqlite3_malloc(sizeof *copy);
    if (!copy)
        return SQLITE_NOMEM;
    *copy = *d;
    /* On failure SQLite calls the destructor itself, so the copy is never leaked. */
    return sqlite3_create_function_v2(db, "make_password", argc, SQLITE_UTF8 | SQLITE_DIRECTONLY,
                                      copy, make_password_func, NULL, NULL, sqlite3_free);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
    int sqlite3_tokenauth_init(sqlite3 *db, char **err_msg, const sqlite3_api_routines *api) {
    struct default_iterations d;
    int rc;
    SQLITE_EXTENSION_INIT2(api);
    (void)err_msg;
    read_default_iterations(&d);
    rc = register_make_password(db, 1, &d);
    if (rc == SQLITE_OK)
        rc = register_make_password(db, 2, &d);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "check_password", 2,
                                     SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                     check_password_func, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(db, "new_token", 0, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL,
                                     new_token_func, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = register_sign_channel(db);
    return rc;
}
