/* test_ws_writer.c -- ws-worker/writer.c's due list: marking a session due once, forgetting one
 * (first, middle, last, not due), and a flush that empties the list; which frames may join a
 * batch. Writing itself needs a live lws connection: the integration suite test_ws_writer.py
 * covers it (test_ws_sendjoin.c the capture it relies on). */
#include "test.h"

#include <string.h>

#include "../../ws-worker/sendjoin.h"
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

    TEST("writer 8: a frame joins a batch when it fits with its header, and not when it does not");
    CHECK(writer_can_join(100, WRITER_JOIN_BYTES));
    CHECK(writer_can_join(WRITER_JOIN_BYTES - SENDJOIN_HEADER_MAX, WRITER_JOIN_BYTES));
    CHECK(!writer_can_join(WRITER_JOIN_BYTES - SENDJOIN_HEADER_MAX + 1, WRITER_JOIN_BYTES));
    CHECK(!writer_can_join(WRITER_JOIN_BYTES, WRITER_JOIN_BYTES));

    TEST("writer 9: a nearly full batch takes no more, and a length past the room never wraps");
    CHECK(writer_can_join(0, SENDJOIN_HEADER_MAX));
    CHECK(!writer_can_join(0, SENDJOIN_HEADER_MAX - 1));
    CHECK(!writer_can_join(1, 0));
    CHECK(!writer_can_join((size_t)-1, WRITER_JOIN_BYTES));
}
