/* event.h -- channel events: the channels_redis message map to and from the JSON a client gets.
 *
 * On Redis a message to channel C is PUBLISHed on "<prefix>__group__C" as msgpack.packb(event)
 * of a map with a "type" key, no prefix bytes: what channels_redis' RedisPubSubChannelLayer
 * writes for Django's group_send, and what tokenauth writes for its own publications, which are
 *   {"type": "tokenauth.message", "data": <the JSON published>,
 *    "from": {"id": <user id>, "username": "..."}}        ("from" only when a user published).
 * A client receives one text frame per message:
 *   {"channel": C, "data": X, "from": {...}}   for tokenauth.message (X is "data"; "from" when
 *                                              the map has it);
 *   {"channel": C, "data": <the whole event>}  for any other type (sent by Django code).
 * A message that came on a socket's reply channel (a group Django added it to with group_add:
 * channels_redis' message names the reply channel, never the group) has no "channel" but
 * "via": "reply_channel" in its place: {"via": "reply_channel", "data": ..., "from": ...}.
 *
 * Mapping: map (string keys only) <-> object, array <-> array, str <-> string, int <-> number,
 * float <-> number, bool <-> true/false, nil <-> null. Integers are written exactly as
 * integers, the whole uint64 and int64 ranges (JavaScript may round those beyond 2^53 when it
 * parses them; the text itself is exact). Refused as EVENT_ERR_FORMAT, never repaired: bin and
 * ext values, a key that is not a string, a str that is not UTF-8 or holds a NUL byte (cJSON
 * cannot write \u0000), NaN and infinities (JSON has none), a top level that is not a map or
 * lacks a string "type", tokenauth.message without "data", bytes after the map, and nesting
 * deeper than EVENT_MAX_DEPTH maps and arrays (msgpack-c's own fixed limit). */
#ifndef TOKENAUTH_EVENT_H
#define TOKENAUTH_EVENT_H

#include <cjson/cJSON.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_OK 0
#define EVENT_ERR_FORMAT -1 /* not an event this module maps: drop it (and count it) */
#define EVENT_ERR_NOMEM -2

#define EVENT_TYPE_MESSAGE "tokenauth.message" /* the "type" of tokenauth's publications */
#define EVENT_MAX_DEPTH 32 /* nested maps and arrays of an event, its own map included */

/* Appends the msgpack event of a tokenauth publication of data to out (initialised by the
 * caller): "from" is added when from_username is not NULL. Returns EVENT_OK, EVENT_ERR_FORMAT
 * when data cannot travel (nested deeper than EVENT_MAX_DEPTH - 1, a string that is not UTF-8, a
 * non-finite number, a cJSON raw item) or EVENT_ERR_NOMEM; out is as it was on error. Numbers
 * that are whole and within int64 become msgpack ints, the others (and -0) float64; strings are
 * str (Python's use_bin_type=True). Only what cJSON kept arrives: it parses numbers to doubles,
 * so integers beyond 2^53 in the JSON text are rounded before they get here. */
int event_pack_message(const cJSON *data, int64_t from_id, const char *from_username,
                       msgpack_sbuffer *out);

/* Decodes one message received on channel (its name without the prefix) into the text frame
 * for a client. On EVENT_OK, *buf is malloc'd (the caller frees it), the JSON text starts at
 * *buf + headroom (room for LWS_PRE), is *json_len bytes long and is followed by a terminator.
 * Returns EVENT_OK, EVENT_ERR_FORMAT (see above) or EVENT_ERR_NOMEM; *buf is NULL on error. */
int event_delivery_json(const char *channel, /* the channel it came on; NULL: a reply channel */
                        const void *packed,  /* the Redis message's bytes */
                        size_t packed_len,   /* their count */
                        size_t headroom,     /* bytes to leave free before the text */
                        char **buf,          /* out: malloc'd buffer */
                        size_t *json_len);   /* out: bytes of JSON text after the headroom */

/* 1 when the len bytes at packed are one msgpack object msgpack-c can unpack in memory
 * proportional to len (every count fits the bytes left, nesting within EVENT_MAX_DEPTH, no bin
 * or ext), else 0: checked before any msgpack_unpack_next of bytes from Redis. */
int event_bounds_ok(const void *packed, size_t len);

/* 1 when a delivery of json_len bytes fits in one message of at most max_message_bytes
 * (TOKENAUTH_WS_MAX_MESSAGE), else 0. A publisher checks its message before sending it (pack,
 * then event_delivery_json) and ws-worker each delivery; one rule for both. */
int event_delivery_fits(size_t json_len, long max_message_bytes);

#endif
