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
 *                                               False for them.
 *   new_token()                       -> text   a new DRF token key: 40 lowercase hex characters.
 *
 * NULL in any argument gives NULL. plain and encoded must be text, iterations an integer from 1
 * to 100000000; anything else is an error naming the function and what it accepts, e.g.
 * "make_password accepts only text or NULL as the password". A failure of the random source or
 * the crypto library is an error too, never a wrong answer.
 *
 * Every function is SQLITE_DIRECTONLY: it handles secrets (or makes them), so a trigger or view
 * planted in a database cannot call it behind the admin's back; use them in top-level statements.
 * check_password is also SQLITE_DETERMINISTIC; make_password and new_token are random.
 *
 * The extension has no logic of its own: it converts SQL values and calls password_*, token_* and
 * config_set, the code login-fcgi and ws-worker run. */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "config.h"
#include "password.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITERATIONS_ENV "TOKENAUTH_PASSWORD_ITERATIONS"

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
    return rc;
}
