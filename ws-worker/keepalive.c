/* keepalive.c -- the ping and drop lists of ws-worker; see keepalive.h.
 *
 * Two intrusive doubly-linked lists with a tail pointer: append, unlink and pop-head are O(1)
 * and allocate nothing. A list is sorted by since_ms because every link enters it at the tail
 * with the current time, and time does not go backwards (the caller passes a monotonic clock);
 * so the head is always the first due, and a sweep stops at the first head that is not. Not
 * done: per-socket intervals (they would break that order and need a heap or timer wheel). */
#include "keepalive.h"

#include <stddef.h>

static void list_append(struct keepalive_list *list, struct keepalive_link *link) {
    link->next = NULL;
    link->prev = list->tail;
    if (list->tail)
        list->tail->next = link;
    else
        list->head = link;
    list->tail = link;
    list->n++;
}

static void list_unlink(struct keepalive_list *list, struct keepalive_link *link) {
    if (link->prev)
        link->prev->next = link->next;
    else
        list->head = link->next;
    if (link->next)
        link->next->prev = link->prev;
    else
        list->tail = link->prev;
    link->prev = link->next = NULL;
    list->n--;
}

static struct keepalive_list *list_of(struct keepalive *ka, const struct keepalive_link *link) {
    return link->state == KEEPALIVE_PINGED ? &ka->pinged : &ka->quiet;
}

/* Whether the head of list has been silent for period_ms at now_ms (and counts the look). */
static int head_is_due(struct keepalive *ka, const struct keepalive_list *list, int64_t period_ms,
                       int64_t now_ms) {
    if (!list->head)
        return 0;
    ka->n_examined++;
    return now_ms - list->head->since_ms >= period_ms;
}

void keepalive_init(struct keepalive *ka, int64_t interval_ms, int64_t timeout_ms) {
    *ka = (struct keepalive){.interval_ms = interval_ms > 0 ? interval_ms : 0,
                             .timeout_ms = timeout_ms > 0 ? timeout_ms : 0};
}

void keepalive_add(struct keepalive *ka, struct keepalive_link *link, int64_t now_ms) {
    if (!ka->interval_ms || link->state != KEEPALIVE_OFF)
        return;
    link->state = KEEPALIVE_QUIET;
    link->since_ms = now_ms;
    list_append(&ka->quiet, link);
}

void keepalive_heard(struct keepalive *ka, struct keepalive_link *link, int64_t now_ms) {
    if (link->state == KEEPALIVE_OFF)
        return;
    link->since_ms = now_ms;
    if (link->state == KEEPALIVE_QUIET && ka->quiet.tail == link)
        return; /* a chatty socket: already last, nothing to move */
    list_unlink(list_of(ka, link), link);
    link->state = KEEPALIVE_QUIET;
    list_append(&ka->quiet, link);
}

void keepalive_remove(struct keepalive *ka, struct keepalive_link *link) {
    if (link->state == KEEPALIVE_OFF)
        return;
    list_unlink(list_of(ka, link), link);
    link->state = KEEPALIVE_OFF;
}

size_t keepalive_sweep(struct keepalive *ka, int64_t now_ms, keepalive_fn on_ping,
                       keepalive_fn on_drop, void *arg) {
    size_t n_due = 0;
    /* Drops first: a link pinged in this sweep must not be judged on the same pass. */
    while (head_is_due(ka, &ka->pinged, ka->timeout_ms, now_ms)) {
        struct keepalive_link *link = ka->pinged.head;
        keepalive_remove(ka, link);
        on_drop(link, arg);
        n_due++;
    }
    while (head_is_due(ka, &ka->quiet, ka->interval_ms, now_ms)) {
        struct keepalive_link *link = ka->quiet.head;
        list_unlink(&ka->quiet, link);
        link->state = KEEPALIVE_PINGED;
        link->since_ms = now_ms;
        list_append(&ka->pinged, link);
        on_ping(link, arg);
        n_due++;
    }
    return n_due;
}

int64_t keepalive_next_due_ms(const struct keepalive *ka) {
    int64_t due = 0;
    if (ka->quiet.head)
        due = ka->quiet.head->since_ms + ka->interval_ms;
    if (ka->pinged.head && (!due || ka->pinged.head->since_ms + ka->timeout_ms < due))
        due = ka->pinged.head->since_ms + ka->timeout_ms;
    return due;
}
