/* closecount.c -- what a session's close drops, counted (closecount.h). The close codes are
 * revocation.h's and pubsub.h's; the reason tells a 1011 for memory from one for the database. */
#include "closecount.h"

#include <string.h>

#include "metrics.h"
#include "pubsub.h"
#include "revocation.h"

void closecount_add(struct metrics_record *metrics, int code, const char *reason,
                    uint32_t n_queued) {
    if (code == 1011 && reason && strcmp(reason, CLOSECOUNT_REASON_NOMEM) == 0)
        metrics_add(metrics, METRIC_WS_OUT_OF_MEMORY, 1);
    if (!n_queued)
        return;
    enum metric m = code == REVOCATION_CLOSE_CODE        ? METRIC_WS_QUEUE_DROPPED_REVOKED
                    : code == PUBSUB_CLOSE_SLOW_CONSUMER ? METRIC_WS_QUEUE_DROPPED_SLOW_CONSUMER
                                                         : METRIC_WS_QUEUE_DROPPED_CLOSED;
    metrics_add(metrics, m, n_queued);
}
