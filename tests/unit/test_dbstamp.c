/* test_dbstamp.c -- shared/dbstamp.c: the stamp moves with every kind of change a commit
 * or an admin makes (a write, a -wal appearing, a file replaced), and a stamp read too soon
 * after a change is never trusted. */
#include "test.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../shared/dbstamp.h"

static void write_file(const char *path, const char *text, const char *mode) {
    FILE *f = fopen(path, mode);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* A clock ms after the file's own times, so its stamp is settled. Every later write in the test
 * comes within that span: the "now" stays ahead of all of them. */
static struct timespec after_mtime(const char *path, long ms) {
    struct stat st;
    struct timespec t = {0, 0};
    if (stat(path, &st) == 0) {
        t = st.st_mtim;
        t.tv_sec += ms / 1000 + 1; /* ctime can be a little after mtime */
    }
    return t;
}

static void test_changes(void) {
    char db[512], wal[520], other[520];
    snprintf(db, sizeof db, "%s/stamp.db", test_tmpdir());
    snprintf(wal, sizeof wal, "%s-wal", db);
    snprintf(other, sizeof other, "%s/stamp.other", test_tmpdir());
    unlink(wal);
    write_file(db, "one", "w");
    struct timespec later = after_mtime(db, 5000);
    struct db_stamp a, b;

    TEST("dbstamp: the same files read twice, settled: unchanged");
    db_stamp_read(db, &later, &a);
    db_stamp_read(db, &later, &b);
    CHECK_INT(a.is_valid, 1);
    CHECK_INT(a.is_settled, 1);
    CHECK_INT(a.db.exists, 1);
    CHECK_INT(a.wal.exists, 0);
    CHECK_INT(db_stamp_unchanged(&a, &b), 1);

    TEST("dbstamp: a write to the database file moves it (rollback journal mode)");
    write_file(db, "two", "a");
    db_stamp_read(db, &later, &b);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);

    TEST("dbstamp: a -wal file appearing, then growing, moves it (WAL mode)");
    db_stamp_read(db, &later, &a);
    write_file(wal, "frame", "w");
    db_stamp_read(db, &later, &b);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);
    a = b;
    write_file(wal, "frame", "a");
    db_stamp_read(db, &later, &b);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);

    TEST("dbstamp: the database file replaced by another (mv): moves it");
    db_stamp_read(db, &later, &a);
    write_file(other, "two", "w");
    CHECK_INT(rename(other, db), 0);
    db_stamp_read(db, &later, &b);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);

    TEST("dbstamp: deleted moves it; missing twice is unchanged");
    db_stamp_read(db, &later, &a);
    unlink(db);
    unlink(wal);
    db_stamp_read(db, &later, &b);
    CHECK_INT(b.is_valid, 1);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);
    db_stamp_read(db, &later, &a);
    CHECK_INT(db_stamp_unchanged(&a, &b), 1);
}

static void test_not_trusted(void) {
    char db[512];
    snprintf(db, sizeof db, "%s/stamp2.db", test_tmpdir());
    write_file(db, "one", "w");
    struct stat st;
    stat(db, &st);
    struct db_stamp a, b;

    TEST("dbstamp: read within DB_STAMP_SETTLE_MS of the file's last change: never trusted");
    struct timespec soon = st.st_mtim;
    soon.tv_nsec += 1000000; /* 1 ms after: a commit in the same clock tick could hide */
    if (soon.tv_nsec >= 1000000000) {
        soon.tv_sec++;
        soon.tv_nsec -= 1000000000;
    }
    db_stamp_read(db, &soon, &a);
    db_stamp_read(db, &soon, &b);
    CHECK_INT(a.is_settled, 0);
    CHECK_INT(db_stamp_unchanged(&a, &b), 0);

    TEST("dbstamp: a file time in the future (the clock went back): not trusted either");
    struct timespec past = {st.st_mtim.tv_sec - 60, 0};
    db_stamp_read(db, &past, &a);
    CHECK_INT(a.is_settled, 0);
    CHECK_INT(db_stamp_unchanged(&a, &a), 0);

    TEST("dbstamp: a zeroed stamp (no check yet) and a path too long are never unchanged");
    struct db_stamp zero = {0};
    struct timespec later = {st.st_mtim.tv_sec + 10, 0};
    db_stamp_read(db, &later, &b);
    CHECK_INT(db_stamp_unchanged(&zero, &b), 0);
    static char longpath[5000];
    memset(longpath, 'a', sizeof longpath - 1);
    db_stamp_read(longpath, &later, &a);
    CHECK_INT(a.is_valid, 0);
    CHECK_INT(db_stamp_unchanged(&a, &a), 0);
}

/* A reader without the write lock (ws-worker) trusts an unchanged stamp for a bounded time. */
static void test_trust_bounded(void) {
    char db[512];
    snprintf(db, sizeof db, "%s/stamp-trust.db", test_tmpdir());
    write_file(db, "one", "w");
    struct timespec later = after_mtime(db, 5000);
    struct db_stamp a, b;
    db_stamp_read(db, &later, &a);
    db_stamp_read(db, &later, &b);

    TEST("dbstamp: unchanged and read just now, or up to the bound: the database may be skipped");
    CHECK_INT(db_stamp_may_skip(&a, &b, 0), 1);
    CHECK_INT(db_stamp_may_skip(&a, &b, DB_STAMP_TRUST_MAX_MS - 1), 1);

    TEST("dbstamp: unchanged but the read is DB_STAMP_TRUST_MAX_MS old: read the database again "
         "(a commit half-done at that read would otherwise never be seen)");
    CHECK_INT(db_stamp_may_skip(&a, &b, DB_STAMP_TRUST_MAX_MS), 0);
    CHECK_INT(db_stamp_may_skip(&a, &b, 3600000), 0);
    CHECK_INT(db_stamp_may_skip(&a, &b, -1), 0); /* a clock that went back: read */

    TEST("dbstamp: changed, however recent the read: read the database");
    write_file(db, "two", "a");
    db_stamp_read(db, &later, &b);
    CHECK_INT(db_stamp_may_skip(&a, &b, 0), 0);
}

void test_dbstamp(void) {
    test_changes();
    test_not_trusted();
    test_trust_bounded();
}
