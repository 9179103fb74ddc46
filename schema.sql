-- tokenauth database schema.
--
-- auth_user and authtoken_token are exactly the tables Django 3.2+ (django.contrib.auth) and
-- Django REST framework (rest_framework.authtoken) create on SQLite, so a Django db.sqlite3 works
-- with tokenauth unchanged and a database made here can be opened by Django. Tables of our own
-- carry the tokenauth_ prefix, which no Django app uses.
--
-- Apply with:  sqlite3 tokenauth.sqlite3 < schema.sql     (idempotent: safe to run again)

PRAGMA journal_mode = WAL;   -- readers (ws-worker) never wait for the writer (login-fcgi)
PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, "last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, "is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);
CREATE TABLE IF NOT EXISTS "authtoken_token" ("key" varchar(40) NOT NULL PRIMARY KEY, "created" datetime NOT NULL, "user_id" integer NOT NULL UNIQUE REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED);

-- The tutorial's post_save signal, as a trigger: every new user gets a token at once, whoever
-- inserts the row (login-fcgi, the sqlite3 prompt, Django itself). The key is 160 bits from
-- SQLite's randomblob(), whose generator is seeded from the operating system's random source.
-- Django code that also creates a token in a post_save handler (as the tutorial does) must use
-- Token.objects.get_or_create, or drop this trigger.
CREATE TRIGGER IF NOT EXISTS "tokenauth_user_token" AFTER INSERT ON "auth_user"
BEGIN
    INSERT OR IGNORE INTO "authtoken_token" ("key", "created", "user_id")
    VALUES (lower(hex(randomblob(20))), strftime('%Y-%m-%d %H:%M:%f000', 'now'), NEW."id");
END;

-- Failed-login counts for throttling, shared by every login-fcgi process. kind is 'user' or
-- 'addr'; a window starts at the first failure and lasts TOKENAUTH_THROTTLE_WINDOW seconds.
CREATE TABLE IF NOT EXISTS "tokenauth_login_failure" (
    "kind" text NOT NULL,
    "subject" text NOT NULL,
    "n_failures" integer NOT NULL,
    "window_start" integer NOT NULL,   -- unix seconds
    PRIMARY KEY ("kind", "subject")
) WITHOUT ROWID;

-- The revocation log: which users' open WebSockets must be checked again. Every ws-worker
-- process reads only the rows after the last one it saw, and re-checks only the sessions of the
-- users they name, so its work follows the revocations, not the number of open sockets (a
-- login writes nothing here). A row holds a user id, never a token. The triggers fire whoever
-- writes: login-fcgi's logout, the Django admin, a DELETE at the sqlite3 prompt.
--   id       only grows (AUTOINCREMENT: never reused, even after the trim), so "after the last
--            one seen" is well defined; a reader that finds the oldest kept row past the one it
--            saw last (it fell more than 10,000 rows behind) checks every session instead
--   user_id  whose token was deleted, re-keyed (OLD.user_id) or inserted, or who was deleted
--            or made inactive
--   at       unix seconds, for people reading the table
-- The trim is the insert's own: each new row deletes the one 10,000 ids older (one b-tree
-- delete, in the transaction that already holds the write lock), so the table stays small
-- without a sweeper process, and ws-worker stays read-only. login-fcgi creates all of this at
-- start when missing (the migration of a Django db.sqlite3); so does applying this file again.
-- A Django migration that rebuilds auth_user or authtoken_token drops their triggers: ws-worker
-- then checks every session on every change (and logs why) until login-fcgi restarts or this
-- file is applied again.
CREATE TABLE IF NOT EXISTS "tokenauth_revocation" (
    "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    "user_id" integer NOT NULL,
    "at" integer NOT NULL
);
CREATE TRIGGER IF NOT EXISTS "tokenauth_revocation_trim" AFTER INSERT ON "tokenauth_revocation"
BEGIN
    DELETE FROM "tokenauth_revocation" WHERE "id" <= NEW."id" - 10000;
END;
CREATE TRIGGER IF NOT EXISTS "tokenauth_revoke_token_delete" AFTER DELETE ON "authtoken_token"
BEGIN
    INSERT INTO "tokenauth_revocation" ("user_id", "at")
    VALUES (OLD."user_id", CAST(strftime('%s', 'now') AS INTEGER));
END;
-- An insert too: REPLACE INTO authtoken_token (the rotate recipe of docs/admin.md) deletes the
-- old row without firing delete triggers (SQLite fires them for REPLACE only with
-- recursive_triggers on). A user's first token costs a row as well, which names no session.
CREATE TRIGGER IF NOT EXISTS "tokenauth_revoke_token_insert" AFTER INSERT ON "authtoken_token"
BEGIN
    INSERT INTO "tokenauth_revocation" ("user_id", "at")
    VALUES (NEW."user_id", CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS "tokenauth_revoke_token_update" AFTER UPDATE OF "key", "user_id"
ON "authtoken_token" WHEN OLD."key" IS NOT NEW."key" OR OLD."user_id" IS NOT NEW."user_id"
BEGIN
    INSERT INTO "tokenauth_revocation" ("user_id", "at")
    VALUES (OLD."user_id", CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS "tokenauth_revoke_user_inactive" AFTER UPDATE OF "is_active"
ON "auth_user" WHEN OLD."is_active" AND NOT NEW."is_active"
BEGIN
    INSERT INTO "tokenauth_revocation" ("user_id", "at")
    VALUES (OLD."id", CAST(strftime('%s', 'now') AS INTEGER));
END;
CREATE TRIGGER IF NOT EXISTS "tokenauth_revoke_user_delete" AFTER DELETE ON "auth_user"
BEGIN
    INSERT INTO "tokenauth_revocation" ("user_id", "at")
    VALUES (OLD."id", CAST(strftime('%s', 'now') AS INTEGER));
END;
