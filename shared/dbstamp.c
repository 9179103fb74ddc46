/* dbstamp.c -- the database's on-disk stamp: identity, size and times of the file and its
 * -wal, and whether they had settled when read (see dbstamp.h for why). */
#include "dbstamp.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_MAX_STAMP 4096

static void read_file(const char *path, struct db_stamp_file *f) {
    struct stat st;
    memset(f, 0, sizeof *f);
    if (stat(path, &st) != 0)
        return; /* missing (or unreadable): the stamp says so, and changes when it appears */
    f->exists = 1;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->size = st.st_size;
    f->mtime = st.st_mtim;
    f->ctime = st.st_ctim;
}

static long long age_ms(const struct timespec *t, const struct timespec *now) {
    return (long long)(now->tv_sec - t->tv_sec) * 1000 + (now->tv_nsec - t->tv_nsec) / 1000000;
}

static int is_settled(const struct db_stamp_file *f, const struct timespec *now) {
    return !f->exists || (age_ms(&f->mtime, now) >= DB_STAMP_SETTLE_MS &&
                          age_ms(&f->ctime, now) >= DB_STAMP_SETTLE_MS);
}

void db_stamp_read(const char *path, const struct timespec *now_real, struct db_stamp *out) {
    char wal[PATH_MAX_STAMP];
    memset(out, 0, sizeof *out);
    if (snprintf(wal, sizeof wal, "%s-wal", path) >= (int)sizeof wal)
        return;
    read_file(path, &out->db);
    read_file(wal, &out->wal);
    out->is_settled = is_settled(&out->db, now_real) && is_settled(&out->wal, now_real);
    out->is_valid = 1;
}

static int same_time(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int same_file(const struct db_stamp_file *a, const struct db_stamp_file *b) {
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           same_time(&a->mtime, &b->mtime) && same_time(&a->ctime, &b->ctime);
}

int db_stamp_unchanged(const struct db_stamp *a, const struct db_stamp *b) {
    return a->is_valid && b->is_valid && a->is_settled && same_file(&a->db, &b->db) &&
           same_file(&a->wal, &b->wal);
}

int db_stamp_may_skip(const struct db_stamp *a, const struct db_stamp *b, long long ms_since_read) {
    return ms_since_read >= 0 && ms_since_read < DB_STAMP_TRUST_MAX_MS && db_stamp_unchanged(a, b);
}
