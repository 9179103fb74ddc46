/* event.h -- PROVISIONAL stand-in for branch channel's event.h (same contract); replaced at
 * merge. */
#ifndef TOKENAUTH_EVENT_H
#define TOKENAUTH_EVENT_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <msgpack.h>

/* Packs {"type": "tokenauth.message", "data": data[, "from": {...}]} into out. 0 or < 0. */
int event_pack_message(const cJSON *data, int64_t from_id, const char *from_username,
                       msgpack_sbuffer *out);

#endif
