/* test_login_readcache.c -- login-fcgi/readcache.c: kept while the version stays, dropped when
 * it moves or on a clear, one slot per key, refusals of what does not fit; a trusted stamp
 * makes the entries current only while an equal stamp is read, and is forgotten with them. */
#include "test.h"
#include "../../login-fcgi/readcache.h"

#include <stdio.h>
#include <string.h>

/* A user as login_lookup would keep it. */
static struct readcache_user user_of(int64_t id, const char *hash, const char *key) {
    struct readcache_user u = {DB_OK, id, 1, "", DB_OK, "", 1000 + id};
    snprintf(u.password, sizeof u.password, "%s", hash);
    snprintf(u.key, sizeof u.key, "%s", key);
    return u;
}

static void test_versions(void) {
    struct readcache *c = readcache_new(16);
    struct readcache_user u = user_of(7, "pbkdf2_sha256$1$salt$hash", "k7"), got;
    TEST("readcache: 1. made with 16 users");
    CHECK(c != NULL);
    if (!c)
        return;
    TEST("readcache: 2. nothing is kept before the first version (a put is ignored)");
    readcache_user_put(c, "ann", &u);
    CHECK_INT(readcache_user_get(c, "ann", &got), 0);
    TEST("readcache: 3. a user put at a version is got back whole at that version");
    readcache_sync(c, 5);
    readcache_user_put(c, "ann", &u);
    memset(&got, 0, sizeof got);
    CHECK_INT(readcache_user_get(c, "ann", &got), 1);
    CHECK_INT(got.id, 7);
    CHECK_STR(got.password, "pbkdf2_sha256$1$salt$hash");
    CHECK_STR(got.key, "k7");
    CHECK_INT(got.token_created_s, 1007);
    TEST("readcache: 4. another username misses");
    CHECK_INT(readcache_user_get(c, "bob", &got), 0);
    CHECK_INT(readcache_user_get(c, "Ann", &got), 0);
    TEST("readcache: 5. the same version again keeps it");
    readcache_sync(c, 5);
    CHECK_INT(readcache_user_get(c, "ann", &got), 1);
    TEST("readcache: 6. a new version (a commit anywhere) drops it");
    readcache_sync(c, 6);
    CHECK_INT(readcache_user_get(c, "ann", &got), 0);
    TEST("readcache: 7. nor does the old version bring it back");
    readcache_sync(c, 5);
    CHECK_INT(readcache_user_get(c, "ann", &got), 0);
    TEST("readcache: 8. a clear (a new connection) drops it, and nothing is kept until a sync");
    readcache_user_put(c, "ann", &u);
    readcache_clear(c);
    CHECK_INT(readcache_user_get(c, "ann", &got), 0);
    readcache_user_put(c, "ann", &u);
    readcache_sync(c, 5);
    CHECK_INT(readcache_user_get(c, "ann", &got), 0);
    TEST("readcache: 9. an unknown user is kept as such");
    struct readcache_user none = {DB_NOT_FOUND, 0, 0, "", DB_NOT_FOUND, "", 0};
    readcache_user_put(c, "ghost", &none);
    CHECK_INT(readcache_user_get(c, "ghost", &got), 1);
    CHECK_INT(got.user_rc, DB_NOT_FOUND);
    readcache_free(c);
}

static void test_counts(void) {
    struct readcache *c = readcache_new(4);
    struct db_throttle_row row = {1, 3, 12345}, got;
    if (!c)
        return;
    readcache_sync(c, 1);
    TEST("readcache: 10. a count is kept by kind and subject");
    readcache_count_put(c, "user", "ann", &row);
    CHECK_INT(readcache_count_get(c, "user", "ann", &got), 1);
    CHECK(got.is_present == 1 && got.n_failures == 3 && got.window_start == 12345);
    TEST("readcache: 11. the same subject of another kind, or a subject holding the kind, misses");
    CHECK_INT(readcache_count_get(c, "addr", "ann", &got), 0);
    CHECK_INT(readcache_count_get(c, "user", "user\nann", &got), 0);
    TEST("readcache: 12. no row on record is kept too");
    struct db_throttle_row absent = {0, 0, 0};
    readcache_count_put(c, "addr", "127.0.0.1", &absent);
    CHECK_INT(readcache_count_get(c, "addr", "127.0.0.1", &got), 1);
    CHECK_INT(got.is_present, 0);
    TEST("readcache: 13. counts are dropped with the version as users are");
    readcache_sync(c, 2);
    CHECK_INT(readcache_count_get(c, "user", "ann", &got), 0);
    readcache_free(c);
}

static void test_limits(void) {
    struct readcache *c = readcache_new(1);
    struct readcache_user u = user_of(1, "h1", "k1"), v = user_of(2, "h2", "k2"), got;
    char long_name[READCACHE_TEXT_MAX + 8];
    TEST("readcache: 14. 0 users is no cache: NULL, and every function takes NULL");
    CHECK(readcache_new(0) == NULL);
    readcache_sync(NULL, 1);
    readcache_clear(NULL);
    readcache_user_put(NULL, "ann", &u);
    CHECK_INT(readcache_user_get(NULL, "ann", &got), 0);
    CHECK_INT(readcache_count_get(NULL, "user", "ann", NULL), 0);
    readcache_free(NULL);
    if (!c)
        return;
    readcache_sync(c, 1);
    TEST("readcache: 15. one slot (both choices the same): a newer user replaces the older, "
         "which then misses");
    readcache_user_put(c, "ann", &u);
    readcache_user_put(c, "bob", &v);
    CHECK_INT(readcache_user_get(c, "ann", &got), 0);
    CHECK_INT(readcache_user_get(c, "bob", &got), 1);
    CHECK_INT(got.id, 2);
    TEST("readcache: 16. a username of READCACHE_TEXT_MAX bytes or more is not kept");
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    readcache_user_put(c, long_name, &u);
    CHECK_INT(readcache_user_get(c, long_name, &got), 0);
    CHECK_INT(readcache_user_get(c, "bob", &got), 1);
    TEST("readcache: 17. a count whose kind, newline and subject do not fit is not kept");
    struct db_throttle_row row = {1, 1, 1};
    long_name[READCACHE_TEXT_MAX - 5] = '\0'; /* "user\n" + this is READCACHE_TEXT_MAX bytes */
    readcache_count_put(c, "user", long_name, &row);
    CHECK_INT(readcache_count_get(c, "user", long_name, &row), 0);
    long_name[READCACHE_TEXT_MAX - 6] = '\0'; /* one byte less fits */
    readcache_count_put(c, "user", long_name, &row);
    CHECK_INT(readcache_count_get(c, "user", long_name, &row), 1);
    TEST("readcache: 18. a user whose hash is not terminated within the slot is not kept");
    memset(u.password, 'x', sizeof u.password);
    readcache_user_put(c, "carl", &u);
    CHECK_INT(readcache_user_get(c, "carl", &got), 0);
    readcache_free(c);
    TEST("readcache: 19. 200 users in 1,024 slots: every one is kept (two choices per key)");
    c = readcache_new(1024);
    if (!c)
        return;
    readcache_sync(c, 1);
    char name[32];
    int n_kept = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "bench%d", i);
        readcache_user_put(c, name, &v);
    }
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "bench%d", i);
        n_kept += readcache_user_get(c, name, &got);
    }
    CHECK_INT(n_kept, 200);
    readcache_free(c);
}

/* A settled stamp of a database and its -wal as db_stamp_read fills it. */
static struct db_stamp stamp_of(off_t wal_size, long mtime_s) {
    struct db_stamp st;
    memset(&st, 0, sizeof st);
    st.db = (struct db_stamp_file){1, 8, 100, 4096, {mtime_s, 0}, {mtime_s, 0}};
    st.wal = (struct db_stamp_file){1, 8, 101, wal_size, {mtime_s, 5}, {mtime_s, 5}};
    st.is_settled = 1;
    st.is_valid = 1;
    return st;
}

static void test_trust(void) {
    struct readcache *c = readcache_new(8);
    struct readcache_user u = user_of(3, "h3", "k3"), got;
    struct db_stamp trusted = stamp_of(8272, 1000), same = stamp_of(8272, 1000);
    if (!c)
        return;
    TEST("readcache: 20. no stamp trusted yet: never current, however the files look");
    readcache_sync(c, 5);
    readcache_user_put(c, "ann", &u);
    CHECK_INT(readcache_is_current(c, &same), 0);
    TEST("readcache: 21. a stamp trusted at the entries' version: an equal stamp is current, "
         "and the entries stay");
    readcache_trust(c, 5, &trusted);
    CHECK_INT(readcache_is_current(c, &same), 1);
    CHECK_INT(readcache_user_get(c, "ann", &got), 1);
    TEST("readcache: 22. the -wal grown, or written in place (same size, newer time), or the "
         "database file replaced (another inode): not current, and the stamp is forgotten (an "
         "equal one is not current either until another is trusted)");
    struct db_stamp grown = stamp_of(12392, 1000), rewritten = stamp_of(8272, 1001);
    struct db_stamp replaced = stamp_of(8272, 1000);
    replaced.db.ino = 200;
    const struct db_stamp *moved[3] = {&grown, &rewritten, &replaced};
    for (int i = 0; i < 3; i++) {
        readcache_trust(c, 5, &trusted);
        CHECK_INT(readcache_is_current(c, moved[i]), 0);
        CHECK_INT(readcache_has_stamp(c), 0);
        CHECK_INT(readcache_is_current(c, &same), 0);
    }
    TEST("readcache: 23. the entries stay when the stamp is forgotten (the version decides them)");
    CHECK_INT(readcache_user_get(c, "ann", &got), 1);
    TEST("readcache: 24. a new version read in a transaction (a commit) forgets the stamp");
    readcache_trust(c, 5, &trusted);
    CHECK_INT(readcache_has_stamp(c), 1);
    readcache_sync(c, 6);
    CHECK_INT(readcache_has_stamp(c), 0);
    CHECK_INT(readcache_is_current(c, &same), 0);
    TEST("readcache: 25. a stamp trusted at another version than the entries' drops them");
    readcache_user_put(c, "ann", &u);
    readcache_trust(c, 7, &trusted);
    CHECK_INT(readcache_user_get(c, "ann", &got), 0);
    CHECK_INT(readcache_is_current(c, &same), 1);
    TEST("readcache: 26. a clear (a new connection) forgets the stamp");
    readcache_clear(c);
    CHECK_INT(readcache_is_current(c, &same), 0);
    TEST("readcache: 27. a stamp that had not settled, or not valid, is never trusted");
    struct db_stamp unsettled = stamp_of(8272, 1000), zero;
    unsettled.is_settled = 0;
    memset(&zero, 0, sizeof zero);
    readcache_trust(c, 8, &unsettled);
    CHECK_INT(readcache_is_current(c, &same), 0);
    readcache_trust(c, 8, &zero);
    CHECK_INT(readcache_is_current(c, &zero), 0);
    TEST("readcache: 28. no cache (NULL): trust does nothing, never current");
    readcache_trust(NULL, 1, &trusted);
    CHECK_INT(readcache_is_current(NULL, &same), 0);
    readcache_free(c);
}

void test_login_readcache(void) {
    test_versions();
    test_counts();
    test_limits();
    test_trust();
}
