/* routes.c -- login, logout and the CORS preflight: from a parsed request to a response.
 *
 * A login runs, in order: method (405), content type (415), length (413, before reading a byte),
 * body (400; a NUL in a field too), fields (400), database (503), throttle (429, no password
 * checked), user lookup, password (400 for every failure, after the same hash work for unknown
 * and inactive users and unusable hashes; 503 when the hash itself fails, out of memory say,
 * since that is not the user's fault), then on success: rehash when the stored hash is
 * outdated, clear this username's failures from this address, last_login when
 * TOKENAUTH_UPDATE_LAST_LOGIN asks for it, and DRF's get-or-create of the token (200).
 *
 * The throttle counts failures per username and address, per username across addresses (a
 * ceiling) and per address. Before the hash, one read transaction reads the three counts (429
 * when one is full), the user and their token; what it read is kept (readcache.h) and used again
 * only while the database's data version, read first in every such transaction, stays the same.
 * When the cache keeps all a login needs and the files' stamp (two stat() calls) equals one
 * confirmed under the write lock at the entries' version, the transaction itself is skipped
 * (login_reads_kept; readcache.h says why that is exact). A
 * wrong password is counted after the hash in a write transaction that decides again and counts in
 * one step (db_throttle_claim): parallel wrong passwords in several processes are counted exactly,
 * and no more than the limit are told "wrong" (one that finds a count filled meanwhile gets 429). A
 * success changes no count, so the usual one (no failures of this username from this address, a
 * valid token on record, nothing to rehash, last_login off) writes nothing at all: no write lock,
 * no commit, nothing for ws-worker to notice (docs/performance.md).
 *
 * The writes after the hash share one transaction held for microseconds; if any fails (a busy
 * database), the answer is 503 and nothing is half-done. Any DB_ERR closes the connection, so
 * the next request opens the file again; a file replaced by a rename is noticed before each
 * request (by the stamp, whose file identity then moves, or by db_has_moved before a read) and
 * again under the write lock (db_begin_write). No status is ever 500: every failure
 * of ours is 503 with Retry-After. */
#include "routes.h"

#include "body.h"
#include "bus.h"
#include "corelayer.h"
#include "clock.h"
#include "db.h"
#include "event.h"
#include "log.h"
#include "origin.h"
#include "password.h"
#include "metrics.h"
#include "publish.h"
#include "readcache.h"
#include "request.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRAM "login-fcgi"
#define USER_NOT_FOUND "There is no user with this username and password !"
#define ALLOW "POST, OPTIONS"
#define ALLOW_PUBLISH "POST"

struct routes {
    struct config cfg;             /* the validated settings */
    struct origin_list *cors;      /* TOKENAUTH_CORS_ORIGINS, parsed */
    struct db *db;                 /* NULL until opened, and after a failure */
    char db_err[256];              /* why the last open failed, for the log */
    char *body;                    /* cfg.max_body_bytes + 1 bytes */
    char *pair_key;                /* "<address> <username>" of the throttle: pair_key_len bytes */
    size_t pair_key_len;           /* cfg.max_body_bytes + 64: any username with any address */
    struct bus_publisher *bus;     /* NULL when TOKENAUTH_REDIS_URL is empty; connects lazily */
    struct corelayer_sender *core; /* instead of bus with TOKENAUTH_CHANNEL_LAYER=core */
    /* TOKENAUTH_METRICS_FILE mapped; NULL = not counting */
    struct metrics_record *metrics;
    struct password_kdf *kdf; /* OpenSSL's PBKDF2 looked up once, for every hash */
    struct readcache *cache;  /* the reads before the hash, kept while the file is unchanged */
    int64_t next_confirm_ms;  /* monotonic: no stamp confirmation tried before (login_confirm) */
};

/* What one request did, for its log line. */
struct outcome {
    const char *what;     /* ok, bad_credentials, throttled, ... */
    const char *username; /* as sent, NULL when unknown */
    const char *error;    /* a database or Redis message, NULL when none */
    long n_channels;      /* channels of a publication, -1 when none */
};

/* Opens the database when it is not open, or again when the file at its path was replaced
 * (a restore by rename: one stat() per request, as ws-worker's dbconn does each tick). 0 when
 * usable, -1 (and db_err) when not. */
static int db_ready(struct routes *s) {
    if (s->db && db_has_moved(s->db) != 0) {
        log_msg(PROGRAM, "db_replaced", "the database file was replaced or deleted: reopening it");
        db_close(s->db);
        s->db = NULL;
    }
    if (s->db)
        return 0;
    s->db = db_open(s->cfg.db_path, DB_OPEN_READ_WRITE, s->cfg.db_busy_timeout_ms, s->db_err,
                    sizeof s->db_err);
    /* A new connection counts data versions afresh: nothing read through the last one holds. */
    readcache_clear(s->cache);
    return s->db ? 0 : -1;
}

/* 503 with Retry-After: a failure on our side, worth trying again. */
static void unavailable(struct response *r) {
    response_detail(r, 503, "Service temporarily unavailable, try again later.");
    response_header(r, "Retry-After", ROUTES_RETRY_AFTER_S);
}

/* Answers 503 for a database result; a DB_ERR drops the connection so the next request
 * reopens it. */
static void db_unavailable(struct routes *s, int rc, struct response *r, struct outcome *o) {
    if (rc == DB_BUSY) {
        o->what = "db_busy";
    } else {
        o->what = "db_unavailable";
        if (s->db) {
            snprintf(s->db_err, sizeof s->db_err, "%s", db_last_error(s->db));
            db_close(s->db);
            s->db = NULL;
        }
        o->error = s->db_err;
    }
    unavailable(r);
}

/* 400 with DRF's per-field shape: {"username": [msg_user], "password": [msg_pass]}, each
 * included when its message is not NULL. */
static void field_errors(struct response *r, const char *msg_user, const char *msg_pass) {
    r->status = 400;
    cJSON *json = cJSON_CreateObject();
    const char *names[2] = {"username", "password"};
    const char *msgs[2] = {msg_user, msg_pass};
    for (int i = 0; json && i < 2; i++) {
        if (!msgs[i])
            continue;
        cJSON *list = cJSON_AddArrayToObject(json, names[i]);
        cJSON *text = list ? cJSON_CreateString(msgs[i]) : NULL;
        if (!text || !cJSON_AddItemToArray(list, text)) {
            cJSON_Delete(text);
            cJSON_Delete(json);
            json = NULL;
        }
    }
    response_json(r, json);
}

/* DRF's message for a missing or blank field, NULL when the field is usable. */
static const char *field_problem(const char *value, size_t len) {
    if (!value)
        return "This field is required.";
    return len == 0 ? "This field may not be blank." : NULL;
}

/* Reads the body into s->body. Returns its length, or -1 when it is over the limit (413), -2
 * when it ends before Content-Length (400) and -3 when it did not arrive in time (408). Never
 * reads more than the limit + 1 bytes. */
static long read_body(struct routes *s, long long declared, routes_read_fn read, void *ctx) {
    size_t max = (size_t)s->cfg.max_body_bytes;
    size_t want = declared >= 0 ? (size_t)declared : max + 1;
    size_t got = 0;
    while (got < want) {
        long n = read(ctx, s->body + got, want - got);
        if (n == ROUTES_READ_TIMEOUT)
            return -3;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got > max)
        return -1;
    if (declared >= 0 && got < want)
        return -2;
    return (long)got;
}

/* The CORS headers of every response. Vary: Origin always, since the answer depends on it.
 * cors_ok: origin_cors_allowed() of the request's Origin. */
static void cors_headers(struct routes *s, const struct request *req, int cors_ok,
                         struct response *r) {
    response_header(r, "Vary", "Origin");
    if (cors_ok)
        response_header(r, "Access-Control-Allow-Origin",
                        origin_cors_is_wildcard(s->cors) ? "*" : req->origin);
}

/* OPTIONS: 204 with Allow; the Access-Control-* grants only for an allowed Origin (cors_ok). */
static void preflight(int cors_ok, struct response *r, struct outcome *o) {
    response_init(r, 204);
    response_header(r, "Allow", ALLOW);
    if (cors_ok) {
        response_header(r, "Access-Control-Allow-Methods", ALLOW);
        response_header(r, "Access-Control-Allow-Headers", "Content-Type, Authorization");
        response_header(r, "Access-Control-Max-Age", "86400");
    }
    o->what = "preflight";
}

/* 405 for a method the route does not take, with the Allow header RFC 9110 asks for. */
static void method_not_allowed(const struct request *req, const char *allow, struct response *r,
                               struct outcome *o) {
    char text[128];
    snprintf(text, sizeof text, "Method \"%.32s\" not allowed.", req->method);
    response_detail(r, 405, text);
    response_header(r, "Allow", allow);
    o->what = "method_not_allowed";
}

/* 415, naming the type the request declared. */
static void unsupported_type(const struct request *req, struct response *r, struct outcome *o) {
    char text[160];
    snprintf(text, sizeof text, "Unsupported media type \"%.64s\" in request.",
             req->content_type ? req->content_type : "");
    response_detail(r, 415, text);
    o->what = "unsupported_type";
}

/* Checks Content-Length, then reads the body into s->body. Returns its length, or -1 when r
 * holds the refusal (400 or 413; 413 before reading a byte when the length says so). */
static long read_request_body(struct routes *s, const struct request *req, routes_read_fn read,
                              void *ctx, struct response *r, struct outcome *o) {
    if (req->content_length == REQUEST_LENGTH_INVALID) {
        response_detail(r, 400, "Malformed request: bad Content-Length.");
        o->what = "malformed";
        return -1;
    }
    long got = req->content_length > s->cfg.max_body_bytes
                   ? -1
                   : read_body(s, req->content_length, read, ctx);
    if (got == -3) {
        response_detail(r, 408, "Request body not received in time.");
        o->what = "body_timeout";
        return -1;
    }
    if (got < 0) {
        response_detail(r, got == -1 ? 413 : 400,
                        got == -1 ? "Request body too large." : "Malformed request: short body.");
        o->what = got == -1 ? "too_large" : "malformed";
        return -1;
    }
    return got;
}

/* Checks the content type, then reads the body into s->body. Returns the body kind (BODY_*)
 * with *len set, or -1 when r holds the refusal (415, 400 or 413). */
static int login_read(struct routes *s, const struct request *req, routes_read_fn read, void *ctx,
                      size_t *len, struct response *r, struct outcome *o) {
    int kind = req->body_kind;
    if (kind == REQUEST_TYPE_NONE && req->content_length <= 0)
        kind = BODY_FORM; /* an empty POST, as curl -X POST sends it: fields missing */
    if (kind == REQUEST_TYPE_NONE || kind == REQUEST_TYPE_UNSUPPORTED) {
        unsupported_type(req, r, o);
        return -1;
    }
    long got = read_request_body(s, req, read, ctx, r, o);
    if (got < 0)
        return -1;
    *len = (size_t)got;
    return kind;
}

/* Reads and parses the login body into f. 0 to go on, -1 when r holds the refusal. */
static int login_fields(struct routes *s, const struct request *req, routes_read_fn read, void *ctx,
                        struct body_fields *f, struct response *r, struct outcome *o) {
    size_t len;
    int kind = login_read(s, req, read, ctx, &len, r, o);
    if (kind < 0)
        return -1;
    char err[128];
    int rc = body_parse(kind, s->body, len, req->boundary, f, err, sizeof err);
    if (rc == BODY_ERR_NOT_STRING || rc == BODY_ERR_NUL) {
        /* DRF's CharField messages: a NUL is never cut off, the field is refused whole. */
        const char *msg =
            rc == BODY_ERR_NUL ? "Null characters are not allowed." : "Not a valid string.";
        field_errors(r, strcmp(err, "username") == 0 ? msg : NULL,
                     strcmp(err, "password") == 0 ? msg : NULL);
        o->what = "malformed";
        return -1;
    }
    if (rc != BODY_OK) {
        char text[192];
        snprintf(text, sizeof text, "Malformed request: %s.", err);
        response_detail(r, 400, text);
        o->what = "malformed";
        return -1;
    }
    o->username = f->username;
    const char *pu = field_problem(f->username, f->username_len);
    const char *pp = field_problem(f->password, f->password_len);
    if (pu || pp) {
        field_errors(r, pu, pp);
        o->what = "missing_field";
        return -1;
    }
    return 0;
}

#define N_THROTTLE 3 /* the counts of throttle_subjects */

/* What a login reads, all in one read transaction before the hash: the throttle's counts, the
 * user, and their token when they may log in. */
struct login_reads {
    struct db_throttle_subject subjects[N_THROTTLE]; /* the throttle's counts */
    int counting;          /* some subject has a limit: failures are counted */
    int pair_has_failures; /* this username has failures on record from this address */
    int user_rc;           /* DB_OK or DB_NOT_FOUND: the lookup of user */
    struct db_user user;   /* when user_rc is DB_OK */
    int token_rc;          /* db_token_get_valid's answer; DB_NOT_FOUND untried */
    char key[DB_KEY_MAX];  /* the token when token_rc is DB_OK */
};

/* The counts a login is throttled by, into rd->subjects: the username from this address
 * (TOKENAUTH_THROTTLE_USER_FAILURES; keyed "<address> <username>", so an attacker elsewhere
 * cannot lock the user out of an address that has not failed), the username from every address
 * (TOKENAUTH_THROTTLE_USER_CEILING, against a distributed attack) and the address
 * (TOKENAUTH_THROTTLE_ADDR_FAILURES). Without REMOTE_ADDR the address is "-". */
static void throttle_subjects(struct routes *s, const char *username, const char *addr,
                              struct login_reads *rd) {
    const char *a = addr ? addr : "-";
    size_t addr_len = strlen(a), name_len = strlen(username);
    /* "<address> <username>": pair_key_len has room for any address and any username. */
    if (addr_len + 1 + name_len < s->pair_key_len) {
        memcpy(s->pair_key, a, addr_len);
        s->pair_key[addr_len] = ' ';
        memcpy(s->pair_key + addr_len + 1, username, name_len + 1);
    } else {
        snprintf(s->pair_key, s->pair_key_len, "%s %s", a, username);
    }
    const struct db_throttle_subject subjects[N_THROTTLE] = {
        {"user+addr", s->pair_key, s->cfg.throttle_user_failures},
        {"user", username, s->cfg.throttle_user_ceiling},
        {"addr", addr ? addr : "-", addr ? s->cfg.throttle_addr_failures : 0},
    };
    memcpy(rd->subjects, subjects, sizeof subjects);
    rd->pair_has_failures = 0;
    rd->counting = 0;
    for (size_t i = 0; i < N_THROTTLE; i++)
        rd->counting |= subjects[i].max_failures > 0;
}

/* Where the throttle's counts come from. */
enum count_source {
    COUNT_READ,         /* the database only (under the write lock, where the counts decide) */
    COUNT_KEPT_OR_READ, /* the cache when kept, else the database (and kept) */
    COUNT_KEPT_ONLY,    /* the cache only: DB_NOT_FOUND when one is not kept */
};

/* The subject's count from source. */
static int throttle_row(struct routes *s, const struct db_throttle_subject *t,
                        enum count_source source, struct db_throttle_row *row) {
    int use_cache = source != COUNT_READ;
    if (use_cache && readcache_count_get(s->cache, t->kind, t->subject, row))
        return DB_OK;
    if (source == COUNT_KEPT_ONLY)
        return DB_NOT_FOUND;
    int rc = db_throttle_read(s->db, t->kind, t->subject, row);
    if (rc == DB_OK && use_cache)
        readcache_count_put(s->cache, t->kind, t->subject, row);
    return rc;
}

/* How long this login must wait (the longest wait of a full count, 0 when none is full) into
 * *wait, and whether the username has failures from this address into rd. Reads only, from
 * source (the cache only before the hash; never under the write lock, where the counts decide a
 * write). DB_OK, DB_BUSY or DB_ERR; DB_NOT_FOUND when COUNT_KEPT_ONLY finds one not kept. */
static int throttle_wait(struct routes *s, struct login_reads *rd, enum count_source source,
                         long *wait) {
    int64_t now = (int64_t)time(NULL);
    *wait = 0;
    rd->pair_has_failures = 0;
    for (size_t i = 0; i < N_THROTTLE; i++) {
        const struct db_throttle_subject *t = &rd->subjects[i];
        struct db_throttle_row row;
        if (t->max_failures <= 0)
            continue;
        int rc = throttle_row(s, t, source, &row);
        if (rc != DB_OK)
            return rc;
        if (i == 0)
            rd->pair_has_failures = row.is_present;
        long w = db_throttle_retry_after(&row, t->max_failures, s->cfg.throttle_window_s, now);
        if (w > *wait)
            *wait = w;
    }
    return DB_OK;
}

/* 429 with Retry-After: one of the throttle's counts is full for wait more seconds. */
static void throttled(long wait, struct response *r, struct outcome *o) {
    char text[128], seconds[24];
    snprintf(text, sizeof text, "Request was throttled. Expected available in %ld seconds.", wait);
    snprintf(seconds, sizeof seconds, "%ld", wait);
    response_detail(r, 429, text);
    response_header(r, "Retry-After", seconds);
    o->what = "throttled";
}

/* The token's verdict now: DB_OK, or DB_EXPIRED past TOKENAUTH_TOKEN_TTL. */
static int token_verdict(const struct routes *s, int64_t created_s) {
    int64_t expires = token_expires_at(created_s, s->cfg.token_ttl_s);
    return token_is_expired(expires, (int64_t)time(NULL)) ? DB_EXPIRED : DB_OK;
}

/* Fills rd from what the cache kept for this username. */
static void lookup_cached(const struct routes *s, const struct readcache_user *u,
                          struct login_reads *rd) {
    rd->user_rc = u->user_rc;
    rd->user.id = u->id;
    rd->user.is_active = u->is_active;
    memcpy(rd->user.password, u->password, strlen(u->password) + 1);
    rd->token_rc = u->token_rc;
    if (u->token_rc == DB_OK) {
        memcpy(rd->key, u->key, sizeof rd->key);
        rd->token_rc = token_verdict(s, u->token_created_s);
    }
}

/* Keeps what login_lookup read (rd, the token's creation time) for username, unless the stored
 * hash is too long for the cache. */
static void lookup_keep(struct routes *s, const char *username, const struct login_reads *rd,
                        int64_t created_s) {
    struct readcache_user u = {rd->user_rc,  rd->user.id, rd->user.is_active, "",
                               rd->token_rc, "",          created_s};
    size_t hash_len = strlen(rd->user.password);
    if (hash_len >= sizeof u.password)
        return;
    memcpy(u.password, rd->user.password, hash_len + 1);
    memcpy(u.key, rd->key, sizeof u.key);
    readcache_user_put(s->cache, username, &u);
}

/* The user and their token into rd, in the read transaction login_reads opened: from the cache
 * when it kept them at this data version, else read and kept. DB_OK or the lookup's
 * DB_BUSY/DB_ERR. */
static int login_lookup(struct routes *s, const struct body_fields *f, struct login_reads *rd) {
    struct readcache_user u;
    int64_t created_s = 0;
    if (readcache_user_get(s->cache, f->username, &u)) {
        lookup_cached(s, &u, rd);
        return DB_OK;
    }
    rd->token_rc = DB_NOT_FOUND;
    rd->key[0] = '\0';
    rd->user_rc = db_user_by_username(s->db, f->username, &rd->user);
    if (rd->user_rc != DB_OK && rd->user_rc != DB_NOT_FOUND)
        return rd->user_rc;
    if (rd->user_rc == DB_NOT_FOUND)
        rd->user.password[0] = '\0';
    if (rd->user_rc == DB_OK && rd->user.is_active)
        rd->token_rc = db_token_of_user(s->db, rd->user.id, rd->key, &created_s);
    if (rd->token_rc == DB_BUSY || rd->token_rc == DB_ERR)
        return rd->token_rc;
    lookup_keep(s, f->username, rd, created_s);
    if (rd->token_rc == DB_OK)
        rd->token_rc = token_verdict(s, created_s);
    return DB_OK;
}

/* The password check, after the reads: a PASSWORD_* code. Unknown and inactive users, and stored
 * hashes that cannot match (unusable "!", unknown or malformed: Django 5.0.7's fix of
 * CVE-2024-39329), cost one full hash at the configured count too, so the time of an answer does
 * not tell which usernames exist. */
static int login_verify(struct routes *s, const struct body_fields *f,
                        const struct login_reads *rd) {
    int may_log_in = rd->user_rc == DB_OK && rd->user.is_active;
    int verdict =
        may_log_in ? password_verify_with(s->kdf, f->password, f->password_len, rd->user.password)
                   : PASSWORD_MISMATCH;
    if (!may_log_in || verdict == PASSWORD_UNUSABLE || verdict == PASSWORD_UNKNOWN_FORMAT ||
        verdict == PASSWORD_MALFORMED)
        password_burn_time_with(s->kdf, s->cfg.password_iterations);
    return verdict;
}

/* A wrong password (or an unknown user): in one write transaction, the throttle decides again and
 * counts the failure in each count with a limit (db_throttle_claim), so parallel attempts in
 * several processes are counted exactly and no more than the limit are ever told "wrong"; when a
 * count filled up meanwhile, the answer is 429 and nothing is counted. DB_OK when r holds the
 * answer, else DB_BUSY or DB_ERR. */
static int login_failed(struct routes *s, const struct login_reads *rd, struct response *r,
                        struct outcome *o) {
    long wait = 0;
    int rc = DB_OK;
    if (rd->counting) {
        rc = db_begin_write(s->db);
        if (rc == DB_OK)
            rc =
                db_throttle_claim(s->db, rd->subjects, N_THROTTLE, s->cfg.throttle_window_s, &wait);
        if (rc == DB_OK)
            rc = db_commit(s->db);
        else
            db_rollback(s->db);
    }
    if (rc != DB_OK)
        return rc;
    if (wait > 0) {
        throttled(wait, r, o);
        return DB_OK;
    }
    response_member(r, 400, "user_not_found", USER_NOT_FOUND);
    o->what = "bad_credentials";
    return DB_OK;
}

/* The writes of a success, inside login_success's write transaction: the throttle's decision
 * again (1 with *wait set when a count filled up since the reads: nothing written), then the
 * username's failures from this address cleared (it has proved itself), the rehash, last_login,
 * and the token into key. DB_OK, 1, or the first failure. */
static int success_writes(struct routes *s, struct login_reads *rd, const char *rehash, long *wait,
                          char *key) {
    int64_t id = rd->user.id;
    int rc = rd->counting ? throttle_wait(s, rd, COUNT_READ, wait) : DB_OK;
    if (rc == DB_OK && *wait > 0)
        return 1;
    if (rc == DB_OK && rd->pair_has_failures)
        rc = db_throttle_clear(s->db, rd->subjects[0].kind, rd->subjects[0].subject);
    if (rc == DB_OK && rehash)
        rc = db_user_set_password(s->db, id, rehash);
    if (rc == DB_OK && s->cfg.update_last_login)
        rc = db_user_touch_last_login(s->db, id);
    return rc == DB_OK ? db_token_get_or_create(s->db, id, s->cfg.token_ttl_s, key) : rc;
}

/* After a matching password. When nothing is due (no rehash, no failures of this username from
 * this address to clear, last_login off, a valid token read), the login writes nothing: the
 * reads' snapshot decided it, and a success changes no count. Otherwise the writes share one
 * write transaction, where the throttle decides again (429 when a count filled up since the
 * reads). DB_OK when r holds the answer, or the first failure. */
static int login_success(struct routes *s, const struct body_fields *f, struct login_reads *rd,
                         struct response *r, struct outcome *o) {
    char encoded[PASSWORD_ENCODED_MAX], key[DB_KEY_MAX];
    int rehash =
        password_must_update(rd->user.password, s->cfg.password_iterations) == 1 &&
        password_make_with(s->kdf, f->password, f->password_len, s->cfg.password_iterations,
                           encoded, sizeof encoded) == PASSWORD_OK;
    o->what = "ok";
    if (!rehash && !rd->pair_has_failures && !s->cfg.update_last_login && rd->token_rc == DB_OK) {
        response_member(r, 200, "token", rd->key);
        return DB_OK;
    }
    long wait = 0;
    int rc = db_begin_write(s->db);
    if (rc == DB_OK)
        rc = success_writes(s, rd, rehash ? encoded : NULL, &wait, key);
    if (rc != DB_OK) {
        db_rollback(s->db);
        if (rc == 1)
            throttled(wait, r, o);
        return rc == 1 ? DB_OK : rc;
    }
    rc = db_commit(s->db);
    if (rc == DB_OK)
        response_member(r, 200, "token", key);
    return rc;
}

/* What comes before the hash, in one read transaction: the throttle (1 when r holds a 429, no
 * password checked), then the user and their token into rd. Reads only: a login that is not
 * throttled takes no write lock here. 0 to go on, 1, or a DB_* error. */
static int login_reads(struct routes *s, const struct request *req, const struct body_fields *f,
                       struct login_reads *rd, struct response *r, struct outcome *o) {
    long wait = 0;
    throttle_subjects(s, f->username, req->remote_addr, rd);
    uint64_t version;
    int rc = db_begin_read(s->db);
    if (rc != DB_OK)
        return rc;
    rc = s->cache ? db_read_version(s->db, &version) : DB_OK; /* no cache, no version needed */
    if (rc == DB_OK && s->cache)
        readcache_sync(s->cache, version);
    if (rc == DB_OK && rd->counting)
        rc = throttle_wait(s, rd, COUNT_KEPT_OR_READ, &wait);
    if (rc == DB_OK && wait > 0) {
        throttled(wait, r, o);
        rc = 1;
    } else if (rc == DB_OK) {
        rc = login_lookup(s, f, rd);
    }
    if (rc < 0) {
        db_rollback(s->db);
        return rc;
    }
    int end = db_commit(s->db);
    return end == DB_OK ? rc : end;
}

/* The reads before the hash from the cache alone, with no read transaction, when its entries are
 * still the file's data (readcache_is_current: stamp, read here, unchanged since one confirmed at
 * their version) and it keeps all of them: the throttle subjects into rd (1 when r holds a 429),
 * then the user and their token. 0 to go on, 1, or 2 when the database must be read. No stamp
 * is read (two system calls) while none is trusted: the login then costs what it did without. */
static int login_reads_kept(struct routes *s, const struct request *req,
                            const struct body_fields *f, struct login_reads *rd, struct response *r,
                            struct outcome *o) {
    struct db_stamp stamp;
    struct timespec now_real;
    struct readcache_user u;
    long wait = 0;
    if (!s->db || !readcache_has_stamp(s->cache))
        return 2;
    clock_gettime(CLOCK_REALTIME, &now_real);
    db_stamp_now(s->db, &now_real, &stamp);
    if (!readcache_is_current(s->cache, &stamp))
        return 2;
    throttle_subjects(s, f->username, req->remote_addr, rd);
    if (rd->counting && throttle_wait(s, rd, COUNT_KEPT_ONLY, &wait) != DB_OK)
        return 2;
    if (wait > 0) {
        throttled(wait, r, o);
        return 1;
    }
    if (!readcache_user_get(s->cache, f->username, &u))
        return 2;
    lookup_cached(s, &u, rd);
    return 0;
}

/* After reads in a read transaction, when no stamp is trusted: confirms one under the write lock
 * (db_stamp_confirm, no waiting) for the next logins to skip their transaction, at most once per
 * DB_STAMP_SETTLE_MS (a stamp younger than that is not trusted anyway, so after a write the
 * first tries fail, and each costs the lock's system calls). Not confirmed (a writer at work, the
 * files just written, an error) is harmless: logins read, and one tries again later. */
static void login_confirm(struct routes *s) {
    struct timespec now_real;
    struct db_stamp stamp;
    uint64_t version;
    int64_t now_ms = clock_monotonic_ms();
    if (!s->cache || !s->db || readcache_has_stamp(s->cache) || now_ms < s->next_confirm_ms)
        return;
    s->next_confirm_ms = now_ms + DB_STAMP_SETTLE_MS;
    clock_gettime(CLOCK_REALTIME, &now_real);
    if (db_stamp_confirm(s->db, &now_real, &stamp, &version) == DB_OK)
        readcache_trust(s->cache, version, &stamp);
}

/* Throttle, password and outcome of a login with well-formed fields. DB_OK when r holds the
 * answer; a DB_* error (the caller answers 503) when the database failed. A failure of the hash
 * itself (PASSWORD_ERR: memory, threads or the crypto library) is ours, not the user's: 503,
 * and not counted as a failed login. The hash runs outside any transaction. */
static int login_attempt(struct routes *s, const struct request *req, const struct body_fields *f,
                         struct response *r, struct outcome *o) {
    struct login_reads rd;
    int rc = login_reads_kept(s, req, f, &rd, r, o);
    if (rc == 2) {
        if (db_ready(s) < 0)
            return DB_ERR;
        rc = login_reads(s, req, f, &rd, r, o);
        if (rc >= 0)
            login_confirm(s);
    }
    if (rc != DB_OK)
        return rc == 1 ? DB_OK : rc;
    int verdict = login_verify(s, f, &rd);
    if (verdict == PASSWORD_ERR) {
        unavailable(r);
        o->what = "hash_error";
        return DB_OK;
    }
    return verdict == PASSWORD_OK ? login_success(s, f, &rd, r, o) : login_failed(s, &rd, r, o);
}

/* POST /api/login: the fields, then the attempt; 503 when the database failed. */
static void login(struct routes *s, const struct request *req, routes_read_fn read, void *ctx,
                  struct response *r, struct outcome *o) {
    struct body_fields f;
    if (login_fields(s, req, read, ctx, &f, r, o) < 0)
        return;
    int rc = login_attempt(s, req, &f, r, o);
    if (rc != DB_OK)
        db_unavailable(s, rc, r, o);
}

/* 401 with the challenge of DRF's TokenAuthentication. */
static void unauthorized(struct response *r, const char *text) {
    response_detail(r, 401, text);
    response_header(r, "WWW-Authenticate", "Token");
}

/* Deletes the token key (key_len bytes, well-formed) after authenticating it as everywhere else
 * (DRF's TokenAuthentication, plus expiry): a token that would not open a socket does not log
 * out either. Returns DB_OK, DB_NOT_FOUND, DB_INACTIVE, DB_EXPIRED, DB_BUSY or DB_ERR. */
static int logout_token(struct routes *s, const char *key, size_t key_len) {
    char key_z[TOKEN_KEY_LEN + 1];
    memcpy(key_z, key, key_len);
    key_z[key_len] = '\0';
    struct db_token_owner owner;
    /* A write transaction, so the delete goes to the file db_begin_write found in place. */
    int rc = db_begin_write(s->db);
    if (rc == DB_OK)
        rc = db_token_check(s->db, key_z, s->cfg.token_ttl_s, &owner);
    if (rc == DB_OK)
        rc = db_token_delete(s->db, key_z);
    if (rc == DB_OK)
        return db_commit(s->db);
    db_rollback(s->db);
    return rc;
}

/* POST /api/logout: 204 with the token deleted, 401 for a token that does not authenticate,
 * 503 when the database failed. */
static void logout(struct routes *s, const struct request *req, struct response *r,
                   struct outcome *o) {
    const char *key;
    size_t key_len;
    if (!req->authorization ||
        token_from_authorization(req->authorization, strlen(req->authorization), &key, &key_len) !=
            TOKEN_OK) {
        unauthorized(r, req->authorization ? "Invalid token header."
                                           : "Authentication credentials were not provided.");
        o->what = "bad_token";
        return;
    }
    int rc = db_ready(s) < 0 ? DB_ERR : logout_token(s, key, key_len);
    if (rc == DB_NOT_FOUND || rc == DB_INACTIVE || rc == DB_EXPIRED) {
        unauthorized(r, rc == DB_INACTIVE  ? "User inactive or deleted."
                        : rc == DB_EXPIRED ? "Token has expired."
                                           : "Invalid token.");
        o->what = rc == DB_EXPIRED ? "expired_token" : "bad_token";
    } else if (rc != DB_OK) {
        db_unavailable(s, rc, r, o);
    } else {
        response_init(r, 204);
        o->what = "logout";
    }
}

/* 401 of the publish endpoint, with RFC 6750's challenge. verdict: a PUBLISH_KEY_* refusal. */
static void publish_unauthorized(int verdict, struct response *r, struct outcome *o) {
    response_detail(r, 401,
                    verdict == PUBLISH_KEY_MISSING ? "Authentication credentials were not provided."
                    : verdict == PUBLISH_KEY_NOT_BEARER
                        ? "Invalid Authorization header: expected \"Bearer <publish key>\"."
                        : "Invalid publish key.");
    response_header(r, "WWW-Authenticate", "Bearer");
    o->what = "bad_key";
}

/* 200 {"published": n}. */
static void published(size_t n, struct response *r, struct outcome *o) {
    r->status = 200;
    cJSON *json = cJSON_CreateObject();
    if (json && !cJSON_AddNumberToObject(json, "published", (double)n)) {
        cJSON_Delete(json);
        json = NULL;
    }
    response_json(r, json);
    o->what = "published";
}

/* Packs the message once (publish_pack) and publishes it to every channel: 200, 400 for data
 * that cannot travel, 503 when channels are off or Redis fails. */
static void publish_send(struct routes *s, const struct publish_body *b, struct response *r,
                         struct outcome *o) {
    msgpack_sbuffer msg;
    msgpack_sbuffer_init(&msg);
    cJSON *error = NULL;
    int packed = publish_pack(b, s->cfg.ws_max_message_bytes, &msg, &error);
    int rc = packed == PUBLISH_OK && s->bus
                 ? bus_publish_channels(s->bus, s->cfg.channel_prefix, b->channels, b->n_channels,
                                        msg.data, msg.size, NULL)
                 : BUS_ERR_UNAVAILABLE;
    if (packed == PUBLISH_OK && s->core)
        rc = corelayer_group_send_many(s->core, b->channels, b->n_channels, msg.data, msg.size) ==
                     CORELAYER_OK
                 ? BUS_OK
                 : BUS_ERR_UNAVAILABLE;
    msgpack_sbuffer_destroy(&msg);
    if (packed == PUBLISH_ERR_INVALID) {
        r->status = 400;
        response_json(r, error);
        o->what = "malformed";
    } else if (packed == PUBLISH_OK && !s->bus && !s->core) {
        response_detail(r, 503, "Channels are off: TOKENAUTH_REDIS_URL is not set.");
        response_header(r, "Retry-After", ROUTES_RETRY_AFTER_S);
        o->what = "channels_off";
    } else if (rc == BUS_OK) {
        published(b->n_channels, r, o);
    } else {
        response_detail(r, 503,
                        "Channels are unavailable (Redis cannot be reached), try again later.");
        response_header(r, "Retry-After", ROUTES_RETRY_AFTER_S);
        o->what = "redis_unavailable";
        o->error = packed != PUBLISH_OK ? "out of memory"
                   : s->core            ? corelayer_sender_error(s->core)
                                        : bus_publisher_error(s->bus);
    }
}

/* POST /api/publish: key (401), method (405), type (415), length (413), body (400), then the
 * publication (200 or 503). The key comes first, as DRF authenticates before it dispatches. */
static void publish(struct routes *s, const struct request *req, routes_read_fn read, void *ctx,
                    struct response *r, struct outcome *o) {
    int verdict = publish_key_check(s->cfg.publish_key, req->authorization);
    if (verdict != PUBLISH_KEY_OK) {
        publish_unauthorized(verdict, r, o);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        method_not_allowed(req, ALLOW_PUBLISH, r, o);
        return;
    }
    if (req->body_kind != BODY_JSON) {
        unsupported_type(req, r, o);
        return;
    }
    long len = read_request_body(s, req, read, ctx, r, o);
    if (len < 0)
        return;
    struct publish_body b;
    cJSON *error;
    int rc = publish_parse(s->body, (size_t)len, (size_t)s->cfg.publish_max_channels, &b, &error);
    if (rc == PUBLISH_ERR_INVALID) {
        r->status = 400;
        response_json(r, error);
        o->what = "malformed";
    } else if (rc != PUBLISH_OK) {
        unavailable(r);
        o->what = "out_of_memory";
    } else {
        o->n_channels = (long)b.n_channels;
        publish_send(s, &b, r, o);
        publish_body_free(&b);
    }
}

/* The request's one log line: the query string redacted, never the body or a token. */
static void log_request(const struct request *req, const struct response *r,
                        const struct outcome *o, double ms) {
    struct log_line line;
    char uri[512];
    log_begin(&line, PROGRAM, "request");
    log_str(&line, "addr", req->remote_addr);
    log_str(&line, "method", req->method);
    log_redact_query(req->uri ? req->uri : "-", uri, sizeof uri);
    log_str(&line, "uri", uri);
    log_str(&line, "user", o->username);
    log_str(&line, "outcome", o->what);
    if (o->n_channels >= 0)
        log_int(&line, "channels", o->n_channels);
    log_int(&line, "status", r->status);
    log_ms(&line, "ms", ms);
    if (o->error)
        log_str(&line, "error", o->error);
    log_end(&line, STDERR_FILENO);
}

/* The core layer's sender over the hosts of TOKENAUTH_REDIS_URL. ROUTES_OK or an error. */
static int core_create(struct routes *s, char *err, size_t err_len) {
    struct bus_url hosts[CORELAYER_MAX_HOSTS];
    size_t n_hosts;
    char why[256];
    if (corelayer_hosts_parse(s->cfg.redis_url, hosts, CORELAYER_MAX_HOSTS, &n_hosts, why,
                              sizeof why) != CORELAYER_OK) {
        snprintf(err, err_len, "TOKENAUTH_REDIS_URL: %s", why);
        return ROUTES_ERR_CONFIG;
    }
    struct corelayer_settings settings = {s->cfg.channel_prefix, s->cfg.channel_capacity,
                                          s->cfg.channel_expiry_s, s->cfg.channel_group_expiry_s};
    s->core = corelayer_sender_new(hosts, n_hosts, s->cfg.redis_timeout_ms, &settings);
    if (!s->core)
        snprintf(err, err_len, "login-fcgi: out of memory");
    return s->core ? ROUTES_OK : ROUTES_ERR_NOMEM;
}

/* The publisher of TOKENAUTH_REDIS_URL (not connected yet). ROUTES_OK, or an error in err. */
static int bus_create(struct routes *s, char *err, size_t err_len) {
    struct bus_url url;
    char why[256];
    if (strcmp(s->cfg.channel_layer, "core") == 0)
        return core_create(s, err, err_len);
    if (strchr(s->cfg.redis_url, ',')) {
        snprintf(err, err_len,
                 "TOKENAUTH_REDIS_URL: a list of hosts needs "
                 "TOKENAUTH_CHANNEL_LAYER=core");
        return ROUTES_ERR_CONFIG;
    }
    if (bus_url_parse(s->cfg.redis_url, &url, why, sizeof why) != BUS_OK) {
        snprintf(err, err_len, "TOKENAUTH_REDIS_URL: %s", why);
        return ROUTES_ERR_CONFIG;
    }
    s->bus = bus_publisher_new(&url, s->cfg.redis_timeout_ms);
    if (!s->bus)
        snprintf(err, err_len, "login-fcgi: out of memory");
    return s->bus ? ROUTES_OK : ROUTES_ERR_NOMEM;
}

int routes_create(const struct config *cfg, struct routes **out, char *err, size_t err_len) {
    struct routes *s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->cfg = *cfg;
    s->body = malloc((size_t)cfg->max_body_bytes + 1);
    s->pair_key_len = (size_t)cfg->max_body_bytes + 64;
    s->pair_key = malloc(s->pair_key_len);
    s->kdf = password_kdf_new();
    s->cache = readcache_new((size_t)cfg->login_cache_users);
    if (!s->body || !s->pair_key || !s->kdf || (!s->cache && cfg->login_cache_users > 0))
        goto nomem;
    char why[256];
    if (origin_list_parse(cfg->cors_origins, ORIGIN_CORS, &s->cors, why, sizeof why) != ORIGIN_OK) {
        snprintf(err, err_len, "TOKENAUTH_CORS_ORIGINS: %s", why);
        routes_destroy(s);
        return ROUTES_ERR_CONFIG;
    }
    if (cfg->redis_url[0] && bus_create(s, err, err_len) != ROUTES_OK) {
        routes_destroy(s);
        return ROUTES_ERR_CONFIG;
    }
    if (db_ready(s) < 0)
        log_msg(PROGRAM, "db_unavailable", "%s (answering 503 until it opens)", s->db_err);
    if (cfg->metrics_file[0] &&
        metrics_file_open(cfg->metrics_file, 1, &s->metrics, why, sizeof why) != METRICS_OK)
        log_msg(PROGRAM, "metrics_off", "%s (requests are served, not counted)", why);
    *out = s;
    return ROUTES_OK;
nomem:
    routes_destroy(s);
    snprintf(err, err_len, "out of memory"); /* main adds the program's name */
    return ROUTES_ERR_NOMEM;
}

void routes_destroy(struct routes *s) {
    if (!s)
        return;
    db_close(s->db);
    metrics_file_close(s->metrics);
    bus_publisher_free(s->bus);
    corelayer_sender_free(s->core);
    origin_list_free(s->cors);
    password_kdf_free(s->kdf);
    readcache_free(s->cache);
    free(s->body);
    free(s->pair_key);
    free(s);
}

void routes_handle(struct routes *s, char *const *envp, routes_read_fn read, void *read_ctx,
                   struct response *r) {
    int64_t start_us = clock_monotonic_us();
    struct request req;
    struct outcome o = {"not_found", NULL, NULL, -1};
    request_parse(envp, &req);
    int cors_ok = origin_cors_allowed(s->cors, req.origin);
    response_init(r, 200);
    /* Without a key, publish is no route of ours. */
    if (req.route == ROUTE_PUBLISH && !s->cfg.publish_key[0])
        req.route = ROUTE_NONE;
    /* Login and logout take the same methods: OPTIONS is the CORS preflight, POST the work. */
    if (req.route == ROUTE_NONE)
        response_detail(r, 404, "Not found.");
    else if (req.route == ROUTE_PUBLISH)
        publish(s, &req, read, read_ctx, r, &o);
    else if (strcmp(req.method, "OPTIONS") == 0)
        preflight(cors_ok, r, &o);
    else if (strcmp(req.method, "POST") != 0)
        method_not_allowed(&req, ALLOW, r, &o);
    else if (req.route == ROUTE_LOGIN)
        login(s, &req, read, read_ctx, r, &o);
    else
        logout(s, &req, r, &o);
    /* Publishing is for the application's servers, never for a browser: no CORS there. */
    if (req.route != ROUTE_PUBLISH)
        cors_headers(s, &req, cors_ok, r);
    log_request(&req, r, &o, (double)(clock_monotonic_us() - start_us) / 1000.0);
    metrics_login_record(s->metrics, o.what, r->status);
}
