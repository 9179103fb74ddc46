/* dbstamp.h -- has the database changed on disk since a given moment? Answered with two stat()
 * calls instead of a read transaction. Used by ws-worker (the revocation check) and login-fcgi
 * (the read cache, login-fcgi/readcache.h).
 *
 * Why: asking SQLite (`PRAGMA data_version`) needs a read transaction: fcntl() locks on the
 * database and its -shm file, and SQLite's own checks of the files. In ws-worker every process
 * holds a lock on the -shm file for as long as it has the database open, and the kernel walks an
 * inode's whole lock list on each lock operation, so with hundreds of processes (`--workers 0`
 * for a million sockets) each check of each process costs in proportion to the number of
 * processes, twice a second, for no change at all; in login-fcgi the transaction is four system
 * calls of the fourteen a login makes. A commit always writes the database file (rollback
 * journal) or its -wal file (WAL), so their identity, size, mtime and ctime together move with
 * every commit; when none moved, the database did not change.
 *
 * The one gap is the file-time granularity: the kernel stamps files with a coarse clock (a few
 * milliseconds), and after a WAL restart SQLite overwrites frames in place without growing the
 * file, so a commit in the same clock tick as our stat() could leave the stamp as it was. A
 * stamp any of whose times is less than DB_STAMP_SETTLE_MS old when read is therefore never
 * trusted: the next check reads the database.
 *
 * The second: a writer writes its commit's frames to the -wal first and publishes them in the
 * -shm index afterwards (memory: no file time moves). A stamp read between the two already shows
 * the frames while a read transaction still sees the data before them, and stays equal once they
 * are published. A stamp proves "no commit since these data" only when read while no commit can
 * be half-done: under the write lock, as db_stamp_confirm (db.h) reads it for login-fcgi.
 * ws-worker reads its stamp before its query without the lock (its read-only connection cannot
 * take it): a writer stalled DB_STAMP_SETTLE_MS or more between the two steps is seen by a worker
 * at the next change to the files or, at the latest, DB_STAMP_TRUST_MAX_MS after the read that
 * stamp went with (db_stamp_may_skip): the trust is bounded so that a revocation is never held
 * back longer than that. */
#ifndef TOKENAUTH_DBSTAMP_H
#define TOKENAUTH_DBSTAMP_H

#include <sys/types.h>
#include <time.h>

#define DB_STAMP_SETTLE_MS 200      /* far above the coarse clock's tick (1-10 ms) */
#define DB_STAMP_TRUST_MAX_MS 10000 /* no skip rests on a read older than this */

struct db_stamp_file {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

struct db_stamp {
    struct db_stamp_file db, wal; /* the file and its "-wal" */
    int is_settled; /* every time read was DB_STAMP_SETTLE_MS old or more at the read */
    int is_valid;   /* read, and the path fitted; a zeroed stamp is not valid */
};

/* Reads the stamp of path and path-wal now (now_real: CLOCK_REALTIME at the read). A missing
 * file is part of the stamp (exists 0), not an error. Never fails: a path too long gives a
 * stamp that is not valid. */
void db_stamp_read(const char *path, const struct timespec *now_real, struct db_stamp *out);

/* 1 when b shows no change since a: both valid, a settled, every field equal. 0 otherwise:
 * the caller then reads the database. */
int db_stamp_unchanged(const struct db_stamp *a, const struct db_stamp *b);

/* 1 when a check may skip the database: b unchanged since a (db_stamp_unchanged) and a's read
 * of the database ms_since_read ago, less than DB_STAMP_TRUST_MAX_MS. For a reader that cannot
 * confirm its stamp under the write lock (above). */
int db_stamp_may_skip(const struct db_stamp *a, const struct db_stamp *b, long long ms_since_read);

#endif
