/* test_ws_writer.c -- ws-worker/writer.c's due list: marking a session due once, forgetting one
 * (first, middle, last, not due), and a flush that empties the list; the cork's steps around a
 * batch, and uncorking a session that is not corked. Writing itself needs a live lws
 * connection: the integration suite test_ws_writer.py covers it. */
#include "test.h"

#include <string.h>

#include "../../ws-worker/sessions.h"
#include "../../ws-worker/writer.h"

/* The sessions of the list, from the head, as letters ("cba"), at most max - 1 of them. */
static const char *due_order(const struct writer *w, const struct session *base, char *out,
                             size_t max) {
    size_t n = 0;
    for (const struct session *s = w->due; s && n + 1 < max; s = s->next_due)
        out[n++] = (char)('a' + (s - base));
    out[n] = '\0';
    return out;
}

void test_ws_writer(void) {
    struct reply_pool pool = {0};
    struct writer w = {.pool = &pool};
    struct session s[4];
    char order[8];
    memset(s, 0, sizeof s);

    TEST("writer 1: sessions marked due are listed newest first, each once");
    writer_due(&w, &s[0]);
    writer_due(&w, &s[1]);
    writer_due(&w, &s[0]);
    writer_due(&w, &s[2]);
    CHECK_STR(due_order(&w, s, order, sizeof order), "cba");
    CHECK(s[0].is_due && s[1].is_due && s[2].is_due && !s[3].is_due);

    TEST("writer 2: forgetting a session in the middle keeps the others in order");
    writer_forget(&w, &s[1]);
    CHECK_STR(due_order(&w, s, order, sizeof order), "ca");
    CHECK(!s[1].is_due && s[1].next_due == NULL);

    TEST("writer 3: forgetting a session that is not due changes nothing");
    writer_forget(&w, &s[3]);
    writer_forget(&w, &s[1]);
    CHECK_STR(due_order(&w, s, order, sizeof order), "ca");

    TEST("writer 4: forgetting the first and the last empties the list");
    writer_forget(&w, &s[2]);
    CHECK_STR(due_order(&w, s, order, sizeof order), "a");
    writer_forget(&w, &s[0]);
    CHECK(w.due == NULL && !s[0].is_due && !s[2].is_due);

    TEST("writer 5: a flush takes every session off the list (none established: no write)");
    writer_due(&w, &s[3]);
    writer_due(&w, &s[1]);
    writer_flush(&w);
    CHECK(w.due == NULL && !s[1].is_due && !s[3].is_due);
    CHECK(s[1].next_due == NULL && s[3].next_due == NULL);

    TEST("writer 6: a session flushed can be marked due again");
    writer_due(&w, &s[1]);
    CHECK_STR(due_order(&w, s, order, sizeof order), "b");
    writer_flush(&w);
    CHECK(w.due == NULL);

    TEST("writer 7: a flush of an empty list does nothing");
    writer_flush(&w);
    CHECK(w.due == NULL);

    TEST("writer 8: a batch of two or more corks an uncorked socket, and keeps a corked one");
    CHECK_INT(writer_cork_before(0, 1), WRITER_CORK_ON);
    CHECK_INT(writer_cork_before(1, 1), WRITER_CORK_KEEP);

    TEST("writer 9: a single frame (or none) leaves the cork as it is before the batch");
    CHECK_INT(writer_cork_before(0, 0), WRITER_CORK_KEEP);
    CHECK_INT(writer_cork_before(1, 0), WRITER_CORK_KEEP);

    TEST("writer 10: after two or more frames a corked socket is pushed and stays corked");
    CHECK_INT(writer_cork_after(1, 2), WRITER_CORK_PUSH);
    CHECK_INT(writer_cork_after(1, WRITER_BATCH), WRITER_CORK_PUSH);

    TEST("writer 11: after one frame or none a corked socket is uncorked");
    CHECK_INT(writer_cork_after(1, 1), WRITER_CORK_OFF);
    CHECK_INT(writer_cork_after(1, 0), WRITER_CORK_OFF);

    TEST("writer 12: an uncorked socket is left alone after any batch");
    CHECK_INT(writer_cork_after(0, 0), WRITER_CORK_KEEP);
    CHECK_INT(writer_cork_after(0, 1), WRITER_CORK_KEEP);
    CHECK_INT(writer_cork_after(0, 5), WRITER_CORK_KEEP);

    TEST("writer 13: uncorking a session that is not corked does nothing (no socket needed)");
    writer_uncork(NULL, &s[0]);
    CHECK(!s[0].is_corked);
}
