/* test_ws_adopt.c -- ws-worker/adopt.c: which of a process's lws contexts (one vhost each) the
 * next accepted connection goes to, and the bound on how many there are. The accepting itself
 * needs sockets and lws: test_ws_gaps.py g31 runs it with four contexts. */
#include "test.h"

#include <stdint.h>

#include "../../ws-worker/adopt.h"

void test_ws_adopt(void) {
    static struct adopt_state a; /* zeroed: no vhost added */
    /* adopt.c compares and stores these pointers, never follows them */
    struct lws_vhost *vh[ADOPT_VHOSTS_MAX + 1];
    for (int i = 0; i <= ADOPT_VHOSTS_MAX; i++)
        vh[i] = (struct lws_vhost *)(uintptr_t)(0x1000 + 16 * i);

    TEST("adopt: with no vhost added, none is picked (the listener's own takes the connection)");
    CHECK(adopt_pick_vhost(&a) == NULL);

    TEST("adopt: all holding as many, the first added is picked; else the one holding fewest");
    for (int i = 0; i < 3; i++)
        CHECK_INT(adopt_add_vhost(&a, vh[i]), 0);
    CHECK(adopt_pick_vhost(&a)->vhost == vh[0]);
    a.vhosts[0].n_adopted = 2;
    a.vhosts[1].n_adopted = 1;
    a.vhosts[2].n_adopted = 1;
    CHECK(adopt_pick_vhost(&a)->vhost == vh[1]);
    a.vhosts[1].n_adopted = 3;
    CHECK(adopt_pick_vhost(&a)->vhost == vh[2]);

    TEST("adopt: connections handed out one by one spread evenly");
    for (int i = 0; i < 3; i++)
        a.vhosts[i].n_adopted = 0;
    for (int n = 0; n < 30; n++)
        adopt_pick_vhost(&a)->n_adopted++;
    for (int i = 0; i < 3; i++)
        CHECK_INT((int)a.vhosts[i].n_adopted, 10);

    TEST("adopt: at most ADOPT_VHOSTS_MAX vhosts; one more is refused and changes nothing");
    for (int i = 3; i < ADOPT_VHOSTS_MAX; i++)
        CHECK_INT(adopt_add_vhost(&a, vh[i]), 0);
    CHECK_INT(adopt_add_vhost(&a, vh[ADOPT_VHOSTS_MAX]), -1);
    CHECK_INT((int)a.n_vhosts, ADOPT_VHOSTS_MAX);
}
