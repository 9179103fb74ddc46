/* headerclose.c -- the requests libwebsockets closes itself over their head, counted and logged
 * once each (headerclose.h says how one request's lines are told from the next one's). */
#include "headerclose.h"

#include <string.h>

#include "metrics.h"

int headerclose_line(struct headerclose *c, const char *event) {
    if (c->is_request_open)
        return 0;
    c->is_request_open = 1;
    metrics_add(c->metrics,
                strcmp(event, "too_many_headers") == 0 ? METRIC_WS_REFUSED_TOO_MANY_HEADERS
                                                       : METRIC_WS_REFUSED_HEADERS_TOO_LARGE,
                1);
    return 1;
}

void headerclose_next(struct headerclose *c) {
    c->is_request_open = 0;
}
