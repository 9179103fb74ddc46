/* sessions.c -- the per-process list of live WebSocket sessions.
 *
 * An intrusive doubly-linked list: adding and removing cost O(1) and no allocation, so a
 * connection costs no memory beyond its struct session. Walking it (revocation, shutdown) is
 * O(n), which is the work those jobs must do anyway. Single-threaded: one lws service thread per
 * process owns it. */
#include "sessions.h"

#include <stddef.h>

/* What sessions_prefetch() brings in holds every field a delivery touches. */
_Static_assert(offsetof(struct session, prev) <= 64, "a session's delivery fields fit 64 bytes");

void sessions_add(struct session_list *list, struct session *s) {
    s->prev = NULL;
    s->next = list->head;
    if (list->head)
        list->head->prev = s;
    list->head = s;
    s->is_live = 1;
    list->n++;
}

void sessions_remove(struct session_list *list, struct session *s) {
    if (!s->is_live)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        list->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->is_live = 0;
    list->n--;
}
