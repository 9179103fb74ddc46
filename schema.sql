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
