/* subscriptions.c -- the per-process channel table: members, Redis state, fan-out.
 *
 * Channels live in a chained hash table (seeded FNV-1a: a client choosing names cannot predict
 * the buckets), doubled when it holds more channels than buckets. A channel lists its members
 * (doubly linked, so a session leaves in O(1) there); a session lists its memberships through
 * struct session's subs (singly linked: leaving walks at most max_per_session + 1 of them).
 *
 * Per channel, what Redis was told moves one step at a time: is_subscribed is what Redis
 * confirmed, is_in_flight says an answer is awaited. reconcile() sends the next step when
 * nothing is in flight and the members disagree with is_subscribed, and frees a channel that
 * has neither members nor a Redis subscription. One step at a time is what keeps hiredis 0.14
 * right: it keys its subscription callbacks by channel, and an UNSUBSCRIBE answered after a
 * second SUBSCRIBE was sent would drop the callback of the second.
 *
 * Callbacks (notify, deliver) may close the session they were called for, which comes back
 * here as subs_leave_all(). While the table is inside such a loop (depth > 0) no channel is
 * freed; the ones left unused are swept when the outermost loop ends. */
#include "subscriptions.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sessions.h"

/* One session in one channel. */
struct subs_member {
    struct subs_channel *channel;     /* the channel it is in */
    struct session *session;          /* the session it belongs to */
    struct subs_member *prev, *next;  /* the channel's members */
    struct subs_member *next_of_sess; /* the session's memberships, newest first */
    uint8_t n_owed;                   /* "subscribed" answers still owed to the session */
    uint8_t is_confirmed;             /* the session was told it is in (or had a gap notice) */
    uint8_t is_personal;              /* the session's own channel: never counted nor left */
};

/* One channel of the process. A channel is most often joined by one session (its own
 * channels, user.<id>), so the memory of its first member comes with it: one allocation per
 * such membership instead of two. */
struct subs_channel {
    struct subs_channel *next_in_bucket; /* the hash chain */
    struct subs_member *members;         /* NULL when none */
    struct subs_member first;            /* a member's memory, in use when has_first */
    uint32_t hash;                       /* of name, with the table's seed */
    uint8_t has_first;                   /* first is one of members */
    uint8_t is_subscribed;               /* Redis confirmed SUBSCRIBE (and no UNSUBSCRIBE since) */
    uint8_t is_in_flight;                /* a SUBSCRIBE or UNSUBSCRIBE awaits its answer */
    uint8_t is_gap_due;                  /* resubscribed after an outage: members get a gap */
    char name[];                         /* the channel, without the Redis prefix */
};

struct subs_table {
    const struct subs_ops *ops; /* the outside */
    void *arg;                  /* for ops */
    struct subs_channel **buckets;
    size_t n_buckets;         /* a power of two */
    size_t n_channels;        /* in the buckets */
    size_t max_per_session;   /* memberships per session, personal one aside */
    size_t max_message_bytes; /* a delivery longer than this is dropped */
    uint32_t seed;            /* of the hash */
    int depth;                /* loops in progress that call out: no channel is freed */
    int needs_sweep;          /* an unused channel was kept while depth > 0 */
    int is_starting;          /* Redis neither up nor down yet: nothing was missed so far */
};

#define SUBS_FIRST_BUCKETS 64
#define SUBS_LOAD 2 /* channels per bucket before the buckets double: 4 bytes per channel */

static uint32_t hash_name(uint32_t seed, const char *name) {
    uint32_t h = 2166136261u ^ seed;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h ^ (h >> 15);
}

static struct subs_channel *find(const struct subs_table *t, const char *name) {
    uint32_t h = hash_name(t->seed, name);
    for (struct subs_channel *c = t->buckets[h & (t->n_buckets - 1)]; c; c = c->next_in_bucket)
        if (c->hash == h && strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* Doubles the buckets; on failure keeps the old ones (longer chains, still correct). */
static void grow(struct subs_table *t) {
    size_t n = t->n_buckets * 2;
    struct subs_channel **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < t->n_buckets; i++)
        while (t->buckets[i]) {
            struct subs_channel *c = t->buckets[i];
            t->buckets[i] = c->next_in_bucket;
            c->next_in_bucket = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
        }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

static struct subs_channel *add_channel(struct subs_table *t, const char *name) {
    size_t len = strlen(name);
    struct subs_channel *c = calloc(1, offsetof(struct subs_channel, name) + len + 1);
    if (!c)
        return NULL;
    memcpy(c->name, name, len + 1);
    c->hash = hash_name(t->seed, name);
    if (t->n_channels >= SUBS_LOAD * t->n_buckets)
        grow(t);
    struct subs_channel **head = &t->buckets[c->hash & (t->n_buckets - 1)];
    c->next_in_bucket = *head;
    *head = c;
    t->n_channels++;
    return c;
}

static void free_channel(struct subs_table *t, struct subs_channel *c) {
    struct subs_channel **p = &t->buckets[c->hash & (t->n_buckets - 1)];
    while (*p != c)
        p = &(*p)->next_in_bucket;
    *p = c->next_in_bucket;
    t->n_channels--;
    free(c);
}

static int is_unused(const struct subs_channel *c) {
    return !c->members && !c->is_subscribed && !c->is_in_flight;
}

/* Brings Redis in step with the members of c: one step when none is in flight. A channel with
 * neither members nor subscription is freed (or left for the sweep inside a loop). */
static void reconcile(struct subs_table *t, struct subs_channel *c) {
    if (c->is_in_flight)
        return;
    int wants = c->members != NULL;
    if (wants != c->is_subscribed && t->ops->send(t->arg, c->name, wants) == 0)
        c->is_in_flight = 1;
    if (!is_unused(c))
        return;
    if (t->depth)
        t->needs_sweep = 1;
    else
        free_channel(t, c);
}

/* Frees the channels left unused while callbacks ran. */
static void sweep(struct subs_table *t) {
    t->needs_sweep = 0;
    for (size_t i = 0; i < t->n_buckets; i++) {
        struct subs_channel **p = &t->buckets[i];
        while (*p) {
            struct subs_channel *c = *p;
            if (is_unused(c)) {
                *p = c->next_in_bucket;
                t->n_channels--;
                free(c);
            } else {
                p = &c->next_in_bucket;
            }
        }
    }
}

static void enter(struct subs_table *t) {
    t->depth++;
}

static void leave_loop(struct subs_table *t) {
    if (--t->depth == 0 && t->needs_sweep)
        sweep(t);
}

static struct subs_member *membership(const struct session *s, const struct subs_channel *c) {
    for (struct subs_member *m = s->subs; m; m = m->next_of_sess)
        if (m->channel == c)
            return m;
    return NULL;
}

/* Unlinks m from its channel and its session and frees it; the channel is not reconciled. */
static void drop_member(struct subs_member *m) {
    struct subs_channel *c = m->channel;
    if (m->prev)
        m->prev->next = m->next;
    else
        c->members = m->next;
    if (m->next)
        m->next->prev = m->prev;
    struct subs_member **p = &m->session->subs;
    while (*p != m)
        p = &(*p)->next_of_sess;
    *p = m->next_of_sess;
    if (!m->is_personal)
        m->session->n_subs--;
    if (m == &c->first)
        c->has_first = 0;
    else
        free(m);
}

static struct subs_member *add_member(struct subs_channel *c, struct session *s, int is_personal) {
    struct subs_member *m = c->has_first ? calloc(1, sizeof *m) : &c->first;
    if (!m)
        return NULL;
    if (m == &c->first) {
        memset(m, 0, sizeof *m);
        c->has_first = 1;
    }
    m->channel = c;
    m->session = s;
    m->is_personal = (uint8_t)is_personal;
    m->next = c->members;
    if (c->members)
        c->members->prev = m;
    c->members = m;
    m->next_of_sess = s->subs;
    s->subs = m;
    if (!is_personal)
        s->n_subs++;
    return m;
}

struct subs_table *subs_create(const struct subs_ops *ops, void *arg, size_t max_per_session,
                               size_t max_message_bytes) {
    struct subs_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->buckets = calloc(SUBS_FIRST_BUCKETS, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    t->n_buckets = SUBS_FIRST_BUCKETS;
    t->ops = ops;
    t->arg = arg;
    t->max_per_session = max_per_session;
    t->max_message_bytes = max_message_bytes;
    t->seed = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)t;
    t->is_starting = 1;
    return t;
}

void subs_destroy(struct subs_table *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n_buckets; i++)
        while (t->buckets[i]) {
            struct subs_channel *c = t->buckets[i];
            while (c->members)
                drop_member(c->members);
            t->buckets[i] = c->next_in_bucket;
            free(c);
        }
    free(t->buckets);
    free(t);
}

int subs_join(struct subs_table *t, struct session *s, const char *channel, int is_personal) {
    struct subs_channel *c = find(t, channel);
    struct subs_member *m = c ? membership(s, c) : NULL;
    if (m && (m->is_confirmed || m->is_personal))
        return m->is_confirmed ? SUBS_OK : (m->n_owed++, SUBS_PENDING);
    if (m)
        return m->n_owed < UINT8_MAX ? (m->n_owed++, SUBS_PENDING) : SUBS_ERR_TOO_MANY;
    if (!is_personal && s->n_subs >= t->max_per_session)
        return SUBS_ERR_TOO_MANY;
    int is_new = !c;
    if (!c && !(c = add_channel(t, channel)))
        return SUBS_ERR_NOMEM;
    if (!(m = add_member(c, s, is_personal))) {
        if (is_new)
            free_channel(t, c);
        return SUBS_ERR_NOMEM;
    }
    if (c->is_subscribed && !c->is_in_flight) {
        m->is_confirmed = 1;
        return SUBS_OK;
    }
    m->n_owed = is_personal ? 0 : 1;
    reconcile(t, c);
    /* A personal join is never answered: it counts as confirmed once SUBSCRIBE is on its way
     * (nothing can be delivered before Redis confirms) or while the process is starting, and
     * gets a gap notice only when it had to wait for Redis to come back. */
    if (is_personal && (c->is_in_flight || t->is_starting))
        m->is_confirmed = 1;
    return SUBS_PENDING;
}

int subs_leave(struct subs_table *t, struct session *s, const char *channel) {
    struct subs_channel *c = find(t, channel);
    struct subs_member *m = c ? membership(s, c) : NULL;
    if (!m)
        return SUBS_ERR_NOT_MEMBER;
    if (m->is_personal)
        return SUBS_ERR_PERSONAL;
    int n_owed = m->n_owed;
    drop_member(m);
    reconcile(t, c); /* may free c: the notices below use the caller's name */
    /* Joins still waiting for Redis are answered before the caller answers this leave, so
     * every command of the session gets its answer, in order. */
    while (n_owed-- > 0 && s->close_code == 0)
        t->ops->notify(t->arg, s, SUBS_NOTICE_SUBSCRIBED, channel);
    return SUBS_OK;
}

void subs_leave_all(struct subs_table *t, struct session *s) {
    while (s->subs) {
        struct subs_channel *c = s->subs->channel;
        drop_member(s->subs);
        reconcile(t, c);
    }
}

int subs_is_member(const struct subs_table *t, const struct session *s, const char *channel) {
    const struct subs_channel *c = find(t, channel);
    return c && membership(s, c) != NULL;
}

size_t subs_list(const struct session *s, const char **names, size_t max) {
    size_t n = 0;
    for (const struct subs_member *m = s->subs; m; m = m->next_of_sess)
        n++;
    size_t i = n; /* newest first in the list: filled from the end */
    for (const struct subs_member *m = s->subs; m; m = m->next_of_sess)
        if (--i < max)
            names[i] = m->channel->name;
    return n;
}

/* Tells the members of a freshly confirmed channel: owed answers, or a gap. */
static void confirm_members(struct subs_table *t, struct subs_channel *c) {
    int is_gap_due = c->is_gap_due;
    c->is_gap_due = 0;
    for (struct subs_member *m = c->members, *next; m; m = next) {
        next = m->next; /* the callback may close m's session, which frees m */
        struct session *s = m->session;
        if (!m->is_confirmed) {
            m->is_confirmed = 1;
            int n = m->n_owed;
            m->n_owed = 0;
            if (!n)
                t->ops->notify(t->arg, s, SUBS_NOTICE_GAP, c->name);
            while (n-- > 0 && membership(s, c) != NULL) /* not if a notice closed s */
                t->ops->notify(t->arg, s, SUBS_NOTICE_SUBSCRIBED, c->name);
        } else if (is_gap_due) {
            t->ops->notify(t->arg, s, SUBS_NOTICE_GAP, c->name);
        }
    }
}

void subs_ack(struct subs_table *t, const char *channel, int is_subscribe) {
    struct subs_channel *c = find(t, channel);
    if (!c || !c->is_in_flight)
        return; /* not ours, or an answer from before an outage */
    c->is_in_flight = 0;
    c->is_subscribed = (uint8_t)(is_subscribe != 0);
    enter(t);
    if (c->is_subscribed)
        confirm_members(t, c);
    reconcile(t, c);
    leave_loop(t);
}

/* The waiting joins of c after Redis went away: answered "unavailable" and undone. */
static void refuse_waiting(struct subs_table *t, struct subs_channel *c) {
    for (struct subs_member *m = c->members, *next; m; m = next) {
        next = m->next;
        if (m->is_confirmed || !m->n_owed)
            continue;
        struct session *s = m->session;
        int n = m->n_owed;
        m->n_owed = 0;
        if (!m->is_personal)
            drop_member(m);
        while (n-- > 0)
            t->ops->notify(t->arg, s, SUBS_NOTICE_UNAVAILABLE, c->name);
    }
}

void subs_link_down(struct subs_table *t) {
    t->is_starting = 0;
    enter(t);
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct subs_channel *c = t->buckets[i]; c; c = c->next_in_bucket) {
            c->is_subscribed = 0;
            c->is_in_flight = 0;
            refuse_waiting(t, c);
            if (is_unused(c))
                t->needs_sweep = 1;
        }
    leave_loop(t);
}

void subs_link_up(struct subs_table *t) {
    enter(t);
    for (size_t i = 0; i < t->n_buckets; i++)
        for (struct subs_channel *c = t->buckets[i]; c; c = c->next_in_bucket) {
            c->is_gap_due = !t->is_starting; /* the first connection: nothing was missed */
            reconcile(t, c);
        }
    t->is_starting = 0;
    leave_loop(t);
}

int subs_deliver(struct subs_table *t, const char *channel, const void *packed, size_t packed_len) {
    struct subs_channel *c = find(t, channel);
    if (!c || !c->members)
        return 0;
    void *delivery = NULL;
    size_t json_len = 0;
    if (t->ops->convert(t->arg, c->name, packed, packed_len, &delivery, &json_len) != 0)
        return SUBS_ERR_FORMAT;
    if (json_len > t->max_message_bytes) {
        t->ops->release(t->arg, delivery);
        return SUBS_ERR_TOO_BIG;
    }
    int n = 0;
    enter(t);
    for (struct subs_member *m = c->members, *next; m; m = next) {
        next = m->next; /* deliver may close m's session, which frees m */
        /* a thousand members are cold: the next one's lines come in while m is served */
        if (next) {
            sessions_prefetch(next->session);
            if (next->next)
                __builtin_prefetch(next->next);
        }
        if (m->is_confirmed) {
            t->ops->deliver(t->arg, m->session, delivery);
            n++;
        }
    }
    leave_loop(t);
    t->ops->release(t->arg, delivery);
    return n;
}

size_t subs_n_channels(const struct subs_table *t) {
    return t->n_channels;
}
