/* readcache.c -- what a login read from the database, kept while the database is unchanged.
 *
 * Two tables of fixed slots, users and throttle counts, allocated once. A key (the username;
 * "<kind>\n<subject>" for a count: a kind never holds a newline, so the split is unambiguous)
 * is hashed (FNV-1a) to two slots (the low and the high half of the hash), looked up in both and
 * kept in the first unless that one holds another valid key and the second does not (so two keys
 * meeting in one slot do not evict each other); a slot is valid when its generation is the
 * cache's. A change
 * of data version or a clear only moves the generation on, so dropping everything costs nothing
 * however many slots there are. A hostile username can only evict another entry, never make a
 * lookup slower: there are no chains. See readcache.h for what is kept and why it stays true. */
#include "readcache.h"

#include <stdlib.h>
#include <string.h>

/* One kept user. */
struct user_slot {
    uint64_t generation;           /* valid when the cache's */
    char name[READCACHE_TEXT_MAX]; /* the username */
    struct readcache_user user;    /* what was read */
};

/* One kept throttle count. */
struct count_slot {
    uint64_t generation;          /* valid when the cache's */
    char key[READCACHE_TEXT_MAX]; /* "<kind>\n<subject>" */
    struct db_throttle_row row;   /* what was read */
};

struct readcache {
    uint64_t generation;       /* of the entries now valid; starts at 1 (0: an empty slot) */
    uint64_t version;          /* the data version they were read at */
    int has_version;           /* version is set (not after a clear) */
    int has_stamp;             /* stamp was trusted at version (readcache_trust) */
    struct db_stamp stamp;     /* the files' stamp at version, when has_stamp */
    size_t n_users, n_counts;  /* slots in each table */
    struct user_slot *users;   /* n_users slots */
    struct count_slot *counts; /* n_counts slots */
};

/* FNV-1a over a then (when b is not NULL) a newline and b. */
static uint64_t hash_key(const char *a, const char *b) {
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    if (!b)
        return h;
    h = (h ^ '\n') * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)b; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* "<kind>\n<subject>" into key (READCACHE_TEXT_MAX bytes); 0, or -1 when it does not fit. */
static int count_key(const char *kind, const char *subject, char *key) {
    size_t kind_len = strlen(kind), subject_len = strlen(subject);
    if (kind_len + 1 + subject_len >= READCACHE_TEXT_MAX)
        return -1;
    memcpy(key, kind, kind_len);
    key[kind_len] = '\n';
    memcpy(key + kind_len + 1, subject, subject_len + 1);
    return 0;
}

struct readcache *readcache_new(size_t n_users) {
    if (n_users == 0)
        return NULL;
    struct readcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->generation = 1;
    c->n_users = n_users;
    c->n_counts = 2 * n_users;
    c->users = calloc(c->n_users, sizeof *c->users);
    c->counts = calloc(c->n_counts, sizeof *c->counts);
    if (!c->users || !c->counts) {
        readcache_free(c);
        return NULL;
    }
    return c;
}

void readcache_free(struct readcache *c) {
    if (!c)
        return;
    free(c->users);
    free(c->counts);
    free(c);
}

void readcache_sync(struct readcache *c, uint64_t version) {
    if (!c || (c->has_version && c->version == version))
        return;
    c->generation++;
    c->version = version;
    c->has_version = 1;
    c->has_stamp = 0;
}

void readcache_clear(struct readcache *c) {
    if (!c)
        return;
    c->generation++;
    c->has_version = 0;
    c->has_stamp = 0;
}

void readcache_trust(struct readcache *c, uint64_t version, const struct db_stamp *stamp) {
    if (!c)
        return;
    readcache_sync(c, version);
    c->has_stamp = stamp->is_valid && stamp->is_settled;
    c->stamp = *stamp;
}

int readcache_has_stamp(const struct readcache *c) {
    return c && c->has_version && c->has_stamp;
}

int readcache_is_current(struct readcache *c, const struct db_stamp *now) {
    if (!readcache_has_stamp(c))
        return 0;
    if (!db_stamp_unchanged(&c->stamp, now))
        c->has_stamp = 0;
    return c->has_stamp;
}

/* The user slot holding username at this generation, or NULL. */
static struct user_slot *user_find(struct readcache *c, const char *username, uint64_t h) {
    struct user_slot *a = &c->users[(uint32_t)h % c->n_users];
    struct user_slot *b = &c->users[(h >> 32) % c->n_users];
    if (a->generation == c->generation && strcmp(a->name, username) == 0)
        return a;
    if (b->generation == c->generation && strcmp(b->name, username) == 0)
        return b;
    return NULL;
}

int readcache_user_get(struct readcache *c, const char *username, struct readcache_user *out) {
    if (!c || !c->has_version)
        return 0;
    const struct user_slot *slot = user_find(c, username, hash_key(username, NULL));
    if (!slot)
        return 0;
    *out = slot->user;
    return 1;
}

void readcache_user_put(struct readcache *c, const char *username, const struct readcache_user *u) {
    size_t name_len = strlen(username);
    if (!c || !c->has_version || name_len >= READCACHE_TEXT_MAX ||
        !memchr(u->password, '\0', sizeof u->password))
        return;
    uint64_t h = hash_key(username, NULL);
    struct user_slot *slot = user_find(c, username, h);
    if (!slot) {
        slot = &c->users[(uint32_t)h % c->n_users];
        struct user_slot *other = &c->users[(h >> 32) % c->n_users];
        if (slot->generation == c->generation && other->generation != c->generation)
            slot = other;
    }
    memcpy(slot->name, username, name_len + 1);
    slot->user = *u;
    slot->generation = c->generation;
}

/* The count slot holding key at this generation, or NULL. */
static struct count_slot *count_find(struct readcache *c, const char *key, uint64_t h) {
    struct count_slot *a = &c->counts[(uint32_t)h % c->n_counts];
    struct count_slot *b = &c->counts[(h >> 32) % c->n_counts];
    if (a->generation == c->generation && strcmp(a->key, key) == 0)
        return a;
    if (b->generation == c->generation && strcmp(b->key, key) == 0)
        return b;
    return NULL;
}

int readcache_count_get(struct readcache *c, const char *kind, const char *subject,
                        struct db_throttle_row *out) {
    char key[READCACHE_TEXT_MAX];
    if (!c || !c->has_version || count_key(kind, subject, key) != 0)
        return 0;
    const struct count_slot *slot = count_find(c, key, hash_key(kind, subject));
    if (!slot)
        return 0;
    *out = slot->row;
    return 1;
}

void readcache_count_put(struct readcache *c, const char *kind, const char *subject,
                         const struct db_throttle_row *row) {
    char key[READCACHE_TEXT_MAX];
    if (!c || !c->has_version || count_key(kind, subject, key) != 0)
        return;
    uint64_t h = hash_key(kind, subject);
    struct count_slot *slot = count_find(c, key, h);
    if (!slot) {
        slot = &c->counts[(uint32_t)h % c->n_counts];
        struct count_slot *other = &c->counts[(h >> 32) % c->n_counts];
        if (slot->generation == c->generation && other->generation != c->generation)
            slot = other;
    }
    memcpy(slot->key, key, sizeof key);
    slot->row = *row;
    slot->generation = c->generation;
}
