/* corelayer.h -- channels_redis' default layer (RedisChannelLayer, "core") on the wire: names,
 * keys, sharding, messages, and group_send, for both programs.
 *
 * What Debian's channels_redis 4.0.0 (core.py) writes, and so what this module reads and writes:
 *   - a message is 12 random bytes followed by msgpack.packb(map, use_bin_type=True); the map's
 *     "__asgi_channel__" is the full name of the channel it is for (send to a process-specific
 *     channel) or a list of them (group_send), the rest is the event ({"type": ...}, event.h);
 *   - a process-specific channel is "specific.<process part>!<local part>"; every message for a
 *     process is queued in the sorted set "<prefix>specific.<process part>!", scored by time;
 *     a named channel ("tokenauth.inbox") is the sorted set "<prefix><name>";
 *   - a group is the sorted set "<prefix>:group:<name>" of channel names scored by join time;
 *   - with several hosts, a group and a process key live on the host corelayer_hash picks:
 *     (crc32(name) & 0xfff) / (4096 / n_hosts), channels_redis' _consistent_hash (which is not
 *     crc32 % n); Django's send() to a process channel hashes the FULL name, its receive() the
 *     process key (django/channels_redis#221), so a reader listens on every host.
 * group_send (corelayer_plan_build): the members are bucketed by their queue key, one message
 * per key with every member of that key in "__asgi_channel__", and each host gets one EVAL of
 * CORELAYER_GROUP_SEND_LUA (channels_redis' own script: ZADD unless the key holds capacity
 * messages already, then EXPIRE) after a ZREMRANGEBYSCORE of the expired messages of each key.
 * Not done: symmetric_encryption_keys (encrypted messages do not decode: dropped as format),
 * per-channel capacities (channel_capacity), Sentinel. The sync sender (corelayer_sender) serves
 * login-fcgi; ws-worker drives the same plan on its async links (ws-worker/corelink.c). */
#ifndef TOKENAUTH_CORELAYER_H
#define TOKENAUTH_CORELAYER_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "bus.h"

#define CORELAYER_OK 0
#define CORELAYER_ERR_FORMAT -1  /* bytes that are not a core-layer message */
#define CORELAYER_ERR_INVALID -2 /* a name, a host list or a key that cannot be used */
#define CORELAYER_ERR_NOMEM -3
#define CORELAYER_ERR_UNAVAILABLE -4 /* Redis failed (sender): corelayer_sender_error says why */

#define CORELAYER_MAX_HOSTS 16
#define CORELAYER_RANDOM_LEN 12 /* bytes before the msgpack map */
#define CORELAYER_CHANNEL_FIELD "__asgi_channel__"
#define CORELAYER_NAME_MAX 100        /* Django: names are shorter than 100 characters */
#define CORELAYER_PROCESS_PART_LEN 32 /* hex characters, as uuid4().hex */

/* channels_redis 4.0.0's group_send script, verbatim. KEYS: the queue keys; ARGV: one message
 * per key, one capacity per key, the time, the expiry. Returns the keys over capacity. */
#define CORELAYER_GROUP_SEND_LUA                                                                   \
    "\n"                                                                                           \
    "                local over_capacity = 0\n"                                                    \
    "                local current_time = ARGV[#ARGV - 1]\n"                                       \
    "                local expiry = ARGV[#ARGV]\n"                                                 \
    "                for i=1,#KEYS do\n"                                                           \
    "                    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < "                      \
    "tonumber(ARGV[i + #KEYS]) then\n"                                                             \
    "                        redis.call('ZADD', KEYS[i], current_time, ARGV[i])\n"                 \
    "                        redis.call('EXPIRE', KEYS[i], expiry)\n"                              \
    "                    else\n"                                                                   \
    "                        over_capacity = over_capacity + 1\n"                                  \
    "                    end\n"                                                                    \
    "                end\n"                                                                        \
    "                return over_capacity\n"                                                       \
    "            "

/* The layer's settings, as in CHANNEL_LAYERS' CONFIG. */
struct corelayer_settings {
    const char *prefix;  /* "asgi" */
    long capacity;       /* messages a queue key may hold, 100 */
    long expiry_s;       /* of a message, 60 */
    long group_expiry_s; /* of a membership, 86400 */
};

/* channels_redis' _consistent_hash of the len bytes at name over n_hosts (>= 1): 0..n-1. */
size_t corelayer_hash(const char *name, size_t len, size_t n_hosts);

/* Parses a comma-separated list of Redis URLs (bus.h's forms; blanks around items ignored) into
 * hosts (max entries). CORELAYER_OK with *n set, or CORELAYER_ERR_INVALID with err saying
 * which item and why (never quoting it: a URL may hold a password). */
int corelayer_hosts_parse(const char *text, struct bus_url *hosts, size_t max, size_t *n, char *err,
                          size_t err_len);

/* Checks TOKENAUTH_REDIS_URL (text, not empty) for the layer: one URL for the pub/sub layer
 * (is_core 0), a list for the core layer. CORELAYER_OK, or CORELAYER_ERR_INVALID with err
 * saying why (never quoting the URL). */
int corelayer_hosts_check(const char *text, int is_core, char *err, size_t err_len);

/* "<prefix>:group:<group>" into out. CORELAYER_OK or CORELAYER_ERR_INVALID (does not fit). */
int corelayer_group_key(const char *prefix, const char *group, char *out, size_t out_len);

/* The queue key of a channel: "<prefix><name up to and including '!'>" for a process channel,
 * "<prefix><name>" for a named one. CORELAYER_OK or CORELAYER_ERR_INVALID. */
int corelayer_queue_key(const char *prefix, const char *name, size_t name_len, char *out,
                        size_t out_len);

/* A new process part: CORELAYER_PROCESS_PART_LEN random hex characters and a terminator.
 * CORELAYER_OK, or CORELAYER_ERR_NOMEM when no random bytes could be had. */
int corelayer_process_part(char out[CORELAYER_PROCESS_PART_LEN + 1]);

/* Appends a message to out (initialised by the caller): 12 random bytes, then the event map
 * (event_len bytes of msgpack, a map without "__asgi_channel__") with "__asgi_channel__" added:
 * the one name when is_list is 0 (n_names 1; none added with n_names 0, as send() to a
 * named channel), else the list of names. CORELAYER_OK,
 * CORELAYER_ERR_FORMAT (event is not one map), CORELAYER_ERR_NOMEM. */
int corelayer_encode(const void *event, size_t event_len, const char *const *names,
                     const size_t *name_lens, size_t n_names, int is_list, msgpack_sbuffer *out);

/* Called by corelayer_decode for each channel name of a message (len bytes, not terminated). */
typedef void (*corelayer_name_fn)(void *arg, const char *name, size_t len);

/* Decodes a message: the event map without "__asgi_channel__" is appended to event_out
 * (initialised by the caller), then each_name is called once per name it held. CORELAYER_OK,
 * CORELAYER_ERR_FORMAT (shorter than the random bytes, not one map, bytes after it, no
 * "__asgi_channel__", two of them, or one that is not a string or a list of strings, a key that
 * is not a string), CORELAYER_ERR_NOMEM. Nothing is called on error. */
int corelayer_decode(const void *raw, size_t raw_len, msgpack_sbuffer *event_out,
                     corelayer_name_fn each_name, void *arg);

/* One host's share of a group_send: keys[i] gets msgs[i]. */
struct corelayer_batch {
    size_t host;           /* index in the host list */
    size_t n_keys;         /* queue keys on this host */
    char **keys;           /* terminated */
    msgpack_sbuffer *msgs; /* one message per key */
};

/* A group_send worked out: the batches, one per host that has members. */
struct corelayer_plan {
    size_t n_batches;
    struct corelayer_batch *batches;
    size_t n_members; /* members read from the group */
};

/* Works out the group_send of event (a msgpack map) to the n_members channel names (as ZRANGE
 * gave them) over n_hosts hosts. CORELAYER_OK (free with corelayer_plan_free, also on error),
 * CORELAYER_ERR_FORMAT (event is not a map), CORELAYER_ERR_NOMEM. Members whose key would not
 * fit BUS_KEY_MAX are skipped. */
int corelayer_plan_build(const char *prefix, const char *const *members, const size_t *member_lens,
                         size_t n_members, const void *event, size_t event_len, size_t n_hosts,
                         struct corelayer_plan *plan);

/* Frees what the plan holds (not plan itself) and clears it. */
void corelayer_plan_free(struct corelayer_plan *plan);

/* The argv of the EVAL of one batch (CORELAYER_GROUP_SEND_LUA with its keys and arguments) at
 * time now_s, into *argv / *argvlen (malloc'd, pointing into batch and into *scratch, which the
 * caller frees with free() too). Returns argc, or CORELAYER_ERR_NOMEM. */
int corelayer_batch_argv(const struct corelayer_batch *batch, const struct corelayer_settings *s,
                         double now_s, const char ***argv, size_t **argvlen, char **scratch);

struct corelayer_sender;

/* A blocking group_send client over n_hosts hosts (copied), each command bounded by timeout_ms.
 * settings' strings are copied. NULL when memory ran out. Free with corelayer_sender_free. */
struct corelayer_sender *corelayer_sender_new(const struct bus_url *hosts, size_t n_hosts,
                                              int timeout_ms, const struct corelayer_settings *s);
void corelayer_sender_free(struct corelayer_sender *sender);

/* group_send of event (msgpack map, event.h) to group. CORELAYER_OK with *n_members (may be
 * NULL) the group's size, CORELAYER_ERR_INVALID (a group key that does not fit),
 * CORELAYER_ERR_FORMAT, CORELAYER_ERR_NOMEM, CORELAYER_ERR_UNAVAILABLE. At most once: part of
 * the members may have got it when an error comes late. */
int corelayer_group_send(struct corelayer_sender *sender, const char *group, const void *event,
                         size_t event_len, long long *n_members);

/* corelayer_group_send of event to each of n_groups groups in turn, stopping at the first
 * error (the groups before it got the event). Returns as corelayer_group_send. */
int corelayer_group_send_many(struct corelayer_sender *sender, const char *const *groups,
                              size_t n_groups, const void *event, size_t event_len);

/* Why the last call failed, "" before any failure. Never holds a password. */
const char *corelayer_sender_error(const struct corelayer_sender *sender);

#endif
