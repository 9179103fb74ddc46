/* test_subscriptions.c -- ws-worker/subscriptions.c driven without Redis: a fake link records
 * each SUBSCRIBE/UNSUBSCRIBE, notices and deliveries go into one text log, and publications are
 * plain strings the fake converter wraps (or refuses). */
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../ws-worker/sessions.h"
#include "../../ws-worker/subscriptions.h"

/* What the fake outside saw, and how it behaves. */
struct fake {
    char log[4096];              /* "+C" SUBSCRIBE, "-C" UNSUBSCRIBE, "s:C" "u:C" "g:C" "d:JSON" */
    int is_down;                 /* send fails */
    struct subs_table *t;        /* for closing a session from a callback */
    struct session *close_on_it; /* deliver/notify to this one leaves every channel */
    int n_held;                  /* deliveries converted and not yet released */
};

static void note(struct fake *f, const char *who, const char *what) {
    size_t n = strlen(f->log);
    snprintf(f->log + n, sizeof f->log - n, "%s%s%s ", who, who[0] ? ":" : "", what);
}

static const char *who(const struct session *s) {
    static char name[16];
    snprintf(name, sizeof name, "%lld", (long long)s->user_id);
    return name;
}

static int fake_send(void *arg, const char *channel, int is_subscribe) {
    struct fake *f = arg;
    if (f->is_down)
        return -1;
    note(f, "", is_subscribe ? "+" : "-");
    f->log[strlen(f->log) - 1] = '\0'; /* "+C" in one word */
    note(f, "", channel);
    return 0;
}

static void fake_notify(void *arg, struct session *s, enum subs_notice notice,
                        const char *channel) {
    struct fake *f = arg;
    char what[128];
    snprintf(what, sizeof what, "%s%c:%s", who(s),
             notice == SUBS_NOTICE_SUBSCRIBED    ? 's'
             : notice == SUBS_NOTICE_UNAVAILABLE ? 'u'
                                                 : 'g',
             channel);
    note(f, "", what);
    if (s == f->close_on_it)
        subs_leave_all(f->t, s);
}

static void fake_deliver(void *arg, struct session *s, void *delivery) {
    struct fake *f = arg;
    char what[256];
    snprintf(what, sizeof what, "%sd:%s", who(s), (const char *)delivery);
    note(f, "", what);
    if (s == f->close_on_it)
        subs_leave_all(f->t, s);
}

/* "bad" does not convert; anything else becomes channel=text (a string of its own, freed by
 * fake_release). */
static int fake_convert(void *arg, const char *channel, const void *packed, size_t packed_len,
                        void **delivery, size_t *json_len) {
    if (packed_len == 3 && memcmp(packed, "bad", 3) == 0)
        return -1;
    char *json = malloc(strlen(channel) + packed_len + 2);
    if (!json)
        return -1;
    *json_len = (size_t)sprintf(json, "%s=%.*s", channel, (int)packed_len, (const char *)packed);
    *delivery = json;
    ((struct fake *)arg)->n_held++;
    return 0;
}

static void fake_release(void *arg, void *delivery) {
    ((struct fake *)arg)->n_held--;
    free(delivery);
}

static const struct subs_ops fake_ops = {fake_send, fake_notify, fake_convert, fake_deliver,
                                         fake_release};

static struct subs_table *start(struct fake *f, size_t max_per_session) {
    memset(f, 0, sizeof *f);
    f->t = subs_create(&fake_ops, f, max_per_session, 64);
    return f->t;
}

/* The log so far, then emptied. */
static const char *take(struct fake *f) {
    static char copy[4096];
    size_t n = strlen(f->log);
    if (n && f->log[n - 1] == ' ')
        f->log[n - 1] = '\0';
    memcpy(copy, f->log, sizeof copy);
    f->log[0] = '\0';
    return copy;
}

static int publish(struct fake *f, const char *channel, const char *text) {
    return subs_deliver(f->t, channel, text, strlen(text));
}

static void test_join_and_confirm(void) {
    struct fake f;
    struct session a = {.user_id = 1}, b = {.user_id = 2};
    TEST("subscriptions: the first member sends SUBSCRIBE and waits for its confirmation");
    CHECK(start(&f, 10) != NULL);
    CHECK_INT(subs_join(f.t, &a, "news", 0), SUBS_PENDING);
    CHECK_STR(take(&f), "+news");
    CHECK_INT(publish(&f, "news", "early"), 0);
    CHECK_STR(take(&f), "");

    TEST("subscriptions: a second member while SUBSCRIBE is in flight waits too, no second send");
    CHECK_INT(subs_join(f.t, &b, "news", 0), SUBS_PENDING);
    CHECK_STR(take(&f), "");

    TEST("subscriptions: the confirmation answers every waiting member");
    subs_ack(f.t, "news", 1);
    CHECK_STR(take(&f), "2s:news 1s:news");

    TEST("subscriptions: a member of a confirmed channel is answered at once");
    struct session c = {.user_id = 3};
    CHECK_INT(subs_join(f.t, &c, "news", 0), SUBS_OK);
    CHECK_INT(subs_join(f.t, &a, "news", 0), SUBS_OK);
    CHECK_STR(take(&f), "");

    TEST("subscriptions: one publication reaches each member once");
    CHECK_INT(publish(&f, "news", "hi"), 3);
    CHECK_STR(take(&f), "3d:news=hi 2d:news=hi 1d:news=hi");
    CHECK_INT(publish(&f, "other", "hi"), 0);
    subs_destroy(f.t);
    CHECK(a.subs == NULL && b.subs == NULL && c.subs == NULL);
}

static void test_last_leaves(void) {
    struct fake f;
    struct session a = {.user_id = 1}, b = {.user_id = 2};
    start(&f, 10);
    subs_join(f.t, &a, "x", 0);
    subs_join(f.t, &b, "x", 0);
    subs_ack(f.t, "x", 1);
    take(&f);
    TEST("subscriptions: the last member leaving unsubscribes the channel");
    CHECK_INT(subs_leave(f.t, &a, "x"), SUBS_OK);
    CHECK_STR(take(&f), "");
    CHECK_INT(subs_leave(f.t, &b, "x"), SUBS_OK);
    CHECK_STR(take(&f), "-x");
    CHECK_INT(subs_n_channels(f.t), 1); /* until Redis confirms */
    subs_ack(f.t, "x", 0);
    CHECK_INT(subs_n_channels(f.t), 0);

    TEST("subscriptions: leaving a channel one is not in is refused");
    CHECK_INT(subs_leave(f.t, &a, "x"), SUBS_ERR_NOT_MEMBER);
    CHECK_INT(subs_leave(f.t, &a, "never"), SUBS_ERR_NOT_MEMBER);

    TEST("subscriptions: a join while UNSUBSCRIBE is in flight subscribes again after its answer");
    subs_join(f.t, &a, "y", 0);
    subs_ack(f.t, "y", 1);
    subs_leave(f.t, &a, "y");
    CHECK_STR(take(&f), "+y 1s:y -y");
    CHECK_INT(subs_join(f.t, &b, "y", 0), SUBS_PENDING);
    CHECK_STR(take(&f), "");
    subs_ack(f.t, "y", 0);
    CHECK_STR(take(&f), "+y");
    subs_ack(f.t, "y", 1);
    CHECK_STR(take(&f), "2s:y");

    TEST("subscriptions: leaving before the confirmation answers the join first, then nothing");
    subs_join(f.t, &a, "z", 0);
    subs_leave(f.t, &a, "z");
    subs_ack(f.t, "z", 1);
    CHECK_STR(take(&f), "+z 1s:z -z");
    subs_ack(f.t, "z", 0);
    CHECK_INT(subs_is_member(f.t, &a, "z"), 0);

    TEST("subscriptions: an answer for an unknown channel changes nothing");
    subs_ack(f.t, "nobody", 1);
    CHECK_STR(take(&f), "");
    subs_destroy(f.t);
}

static void test_personal_and_cap(void) {
    struct fake f;
    struct session a = {.user_id = 1};
    start(&f, 2);
    TEST("subscriptions: the personal channel is joined without an answer nor a notice");
    CHECK_INT(subs_join(f.t, &a, "user.1", 1), SUBS_PENDING);
    subs_ack(f.t, "user.1", 1);
    CHECK_STR(take(&f), "+user.1");

    TEST("subscriptions: the personal channel cannot be left and does not count");
    CHECK_INT(subs_leave(f.t, &a, "user.1"), SUBS_ERR_PERSONAL);
    CHECK_INT(subs_join(f.t, &a, "one", 0), SUBS_PENDING);
    CHECK_INT(subs_join(f.t, &a, "two", 0), SUBS_PENDING);
    CHECK_INT(subs_join(f.t, &a, "three", 0), SUBS_ERR_TOO_MANY);
    CHECK_INT(subs_join(f.t, &a, "one", 0), SUBS_PENDING); /* already in: answered twice */
    subs_ack(f.t, "one", 1);
    subs_ack(f.t, "two", 1);
    take(&f);

    TEST("subscriptions: the list is in the order joined, personal first");
    const char *names[4];
    CHECK_INT(subs_list(&a, names, 4), 3);
    CHECK_STR(names[0], "user.1");
    CHECK_STR(names[1], "one");
    CHECK_STR(names[2], "two");
    CHECK_INT(subs_list(&a, names, 1), 3);
    CHECK_STR(names[0], "user.1");

    TEST("subscriptions: leaving all, personal included, unsubscribes each channel");
    subs_leave_all(f.t, &a);
    CHECK_STR(take(&f), "-two -one -user.1");
    CHECK(a.subs == NULL);
    CHECK_INT(a.n_subs, 0);
    subs_destroy(f.t);
}

static void test_outage(void) {
    struct fake f;
    struct session a = {.user_id = 1}, b = {.user_id = 2};
    start(&f, 10);
    subs_join(f.t, &a, "user.1", 1);
    subs_join(f.t, &a, "news", 0);
    subs_ack(f.t, "user.1", 1);
    subs_ack(f.t, "news", 1);
    subs_join(f.t, &b, "late", 0);
    take(&f);
    TEST("subscriptions: Redis going away refuses waiting joins and keeps confirmed ones");
    f.is_down = 1;
    subs_link_down(f.t);
    CHECK_STR(take(&f), "2u:late");
    CHECK_INT(subs_is_member(f.t, &b, "late"), 0);
    CHECK_INT(subs_is_member(f.t, &a, "news"), 1);
    CHECK_INT(subs_n_channels(f.t), 2);

    TEST("subscriptions: a personal join while Redis is away waits for it, then has a gap");
    CHECK_INT(subs_join(f.t, &b, "user.2", 1), SUBS_PENDING);
    CHECK_STR(take(&f), "");

    TEST("subscriptions: Redis back, every channel is subscribed again and each member gets a gap");
    f.is_down = 0;
    subs_link_up(f.t);
    const char *sent = take(&f);
    CHECK(strstr(sent, "+news") && strstr(sent, "+user.1") && strstr(sent, "+user.2"));
    subs_ack(f.t, "news", 1);
    subs_ack(f.t, "user.1", 1);
    subs_ack(f.t, "user.2", 1);
    CHECK_STR(take(&f), "1g:news 1g:user.1 2g:user.2");
    CHECK_INT(publish(&f, "news", "x"), 1);
    take(&f);

    TEST("subscriptions: an answer from before the outage is ignored");
    f.is_down = 1;
    subs_link_down(f.t);
    subs_ack(f.t, "news", 1);
    CHECK_INT(publish(&f, "news", "x"), 1); /* still a member, delivered if Redis sends it */
    CHECK_STR(take(&f), "1d:news=x");
    subs_destroy(f.t);
}

static void test_starting(void) {
    struct fake f;
    struct session a = {.user_id = 1}, b = {.user_id = 2};
    start(&f, 10);
    f.is_down = 1; /* the first connection is under way */
    TEST("subscriptions: joins made before the first connection wait for it, without gaps");
    CHECK_INT(subs_join(f.t, &a, "user.1", 1), SUBS_PENDING);
    CHECK_INT(subs_join(f.t, &a, "news", 0), SUBS_PENDING);
    CHECK_STR(take(&f), "");
    f.is_down = 0;
    subs_link_up(f.t);
    const char *sent = take(&f);
    CHECK(strstr(sent, "+user.1") && strstr(sent, "+news"));
    subs_ack(f.t, "user.1", 1);
    subs_ack(f.t, "news", 1);
    CHECK_STR(take(&f), "1s:news");

    TEST("subscriptions: a first connection that fails refuses the waiting joins");
    subs_destroy(f.t);
    start(&f, 10);
    f.is_down = 1;
    subs_join(f.t, &b, "user.2", 1);
    subs_join(f.t, &b, "news", 0);
    subs_link_down(f.t);
    CHECK_STR(take(&f), "2u:news");
    CHECK_INT(subs_is_member(f.t, &b, "user.2"), 1);
    f.is_down = 0;
    subs_link_up(f.t);
    subs_ack(f.t, "user.2", 1);
    CHECK_STR(take(&f), "+user.2 2g:user.2");
    subs_destroy(f.t);
}

static void test_drops_and_closing(void) {
    struct fake f;
    struct session a = {.user_id = 1}, b = {.user_id = 2}, c = {.user_id = 3};
    start(&f, 10);
    subs_join(f.t, &a, "n", 0);
    subs_join(f.t, &b, "n", 0);
    subs_join(f.t, &c, "n", 0);
    subs_join(f.t, &b, "m", 0);
    subs_ack(f.t, "n", 1);
    subs_ack(f.t, "m", 1);
    take(&f);
    TEST("subscriptions: a publication that does not convert is dropped");
    CHECK_INT(publish(&f, "n", "bad"), SUBS_ERR_FORMAT);
    TEST("subscriptions: a delivery over the size limit is dropped");
    char big[100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_INT(publish(&f, "n", big), SUBS_ERR_TOO_BIG);
    CHECK_STR(take(&f), "");
    TEST("subscriptions: a delivery dropped for its size is released");
    CHECK_INT(f.n_held, 0);

    TEST("subscriptions: a session closed by its delivery leaves every channel, others still get "
         "it");
    f.close_on_it = &b;
    CHECK_INT(publish(&f, "n", "go"), 3);
    CHECK_STR(take(&f), "3d:n=go 2d:n=go -m 1d:n=go");
    CHECK(b.subs == NULL);
    CHECK_INT(publish(&f, "n", "again"), 2);
    CHECK_STR(take(&f), "3d:n=again 1d:n=again");
    TEST("subscriptions: a delivery is released once every member has it");
    CHECK_INT(f.n_held, 0);
    subs_ack(f.t, "m", 0);

    TEST("subscriptions: a session closed by its notice leaves, the channel survives the loop");
    struct session d = {.user_id = 4};
    subs_join(f.t, &d, "solo", 0);
    f.close_on_it = &d;
    subs_ack(f.t, "solo", 1);
    CHECK_STR(take(&f), "+solo 4s:solo -solo");
    subs_ack(f.t, "solo", 0);
    CHECK_INT(subs_n_channels(f.t), 1);
    subs_destroy(f.t);
}

static void test_many_channels(void) {
    struct fake f;
    struct session s[50];
    start(&f, 100);
    memset(s, 0, sizeof s);
    TEST("subscriptions: thousands of channels grow the table and are all found");
    char name[32];
    int ok = 1;
    for (int i = 0; i < 50; i++)
        for (int j = 0; j < 60; j++) {
            snprintf(name, sizeof name, "c.%d", (i * 60 + j) % 2000);
            ok &= subs_join(f.t, &s[i], name, 0) >= 0;
        }
    CHECK(ok);
    CHECK_INT(subs_n_channels(f.t), 2000);
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "c.%d", i);
        subs_ack(f.t, name, 1);
    }
    take(&f);
    CHECK_INT(publish(&f, "c.7", "x"), 2);
    for (int i = 0; i < 50; i++)
        subs_leave_all(f.t, &s[i]);
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "c.%d", i);
        subs_ack(f.t, name, 0);
    }
    CHECK_INT(subs_n_channels(f.t), 0);
    subs_destroy(f.t);
}

void test_subscriptions(void) {
    test_join_and_confirm();
    test_last_leaves();
    test_personal_and_cap();
    test_outage();
    test_starting();
    test_drops_and_closing();
    test_many_channels();
}
