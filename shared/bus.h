/* bus.h -- the Redis side of channels, shared by both programs: the URL of TOKENAUTH_REDIS_URL,
 * channel keys, and a blocking publisher (login-fcgi; ws-worker has its own async client).
 *
 * Wire format: that of channels_redis' RedisPubSubChannelLayer, so Django's group_send and our
 * publications meet: channel C is the Redis pub/sub channel "<prefix>__group__C" (prefix
 * TOKENAUTH_CHANNEL_PREFIX, "asgi" by default) and a message is one msgpack map (event.h).
 *
 * URLs (redis-py's forms, so one string configures Django's CHANNEL_LAYERS and us):
 *   redis://[[user]:password@]host[:port][/db]   host a name, an IPv4 address or [IPv6];
 *                                                port 1-65535, default 6379; db default 0
 *   unix://[[user]:password@]/path[?db=N]        a Unix socket (absolute path, at most 107
 *                                                bytes); db default 0
 * Both accept the query parameters db=N and password=P (redis-py's). User and password are
 * percent-decoded ("%40" for '@'; '+' stays '+'); escape '@', '/', '?', '#' and '%' in them.
 * A password means AUTH at connect (AUTH user password with a user: Redis 6 ACLs), a db other
 * than 0 means SELECT. Not supported: rediss:// (TLS; hiredis 0.14 has none), Sentinel,
 * Cluster. Errors never hold the password or the user.
 *
 * Two files: bus_url.c (the URL parser and channel keys, no library) and bus.c (the publisher,
 * hiredis), so config.c, and through it the sqlite3 extension, link no Redis client.
 *
 * Publisher: connects on first use, with the timeout for the connect and for every command
 * (redisConnectWithTimeout, redisSetTimeout). Any failure drops the connection; the next call
 * connects again. Before reusing a connection it checks, without blocking, that Redis has not
 * closed it (a restart, a client timeout): no publication is ever sent twice by a retry. Many
 * channels go in one pipeline, in batches bounded in bytes, so memory stays bounded. Known
 * limit: resolving a host name (getaddrinfo, inside hiredis) is not bounded by the timeout; use
 * an address or a Unix socket where that matters. */
#ifndef TOKENAUTH_BUS_H
#define TOKENAUTH_BUS_H

#include <stddef.h>

#define BUS_OK 0
#define BUS_ERR_INVALID -1     /* a URL, prefix or channel that cannot be used: err says why */
#define BUS_ERR_UNAVAILABLE -2 /* Redis could not be reached, or the connection failed */
#define BUS_ERR_REFUSED -3     /* Redis answered with an error (AUTH, SELECT, PUBLISH) */
#define BUS_ERR_NOMEM -4

#define BUS_URL_TCP 1
#define BUS_URL_UNIX 2

#define BUS_DEFAULT_PORT 6379
#define BUS_HOST_MAX 256   /* bytes of a host name, terminator included */
#define BUS_PATH_MAX 108   /* bytes of a Unix socket path (sun_path), terminator included */
#define BUS_SECRET_MAX 512 /* bytes of a user or a password, terminator included */
#define BUS_KEY_MAX 512    /* bytes of a channel key, terminator included */
#define BUS_GROUP_INFIX "__group__"

/* A parsed TOKENAUTH_REDIS_URL. Callers read the fields (ws-worker connects with them). */
struct bus_url {
    int kind;                      /* BUS_URL_TCP or BUS_URL_UNIX */
    char host[BUS_HOST_MAX];       /* TCP: name or address, IPv6 without brackets; else "" */
    int port;                      /* TCP: 1-65535; else 0 */
    char path[BUS_PATH_MAX];       /* UNIX: the socket's path; else "" */
    char username[BUS_SECRET_MAX]; /* "" = none */
    char password[BUS_SECRET_MAX]; /* "" = no AUTH */
    int db;                        /* 0 = no SELECT */
};

struct bus_publisher;

/* Parses url into out. Returns BUS_OK, or BUS_ERR_INVALID with err saying what is wrong
 * ("part: why", quoting no part of the URL; the caller adds the setting's name and the forms
 * accepted). */
int bus_url_parse(const char *url, struct bus_url *out, char *err, size_t err_len);

/* Replaces a TCP URL's host name with its first address (getaddrinfo, then the numeric form),
 * so a program whose event loop must never wait can resolve once at start, where waiting is
 * fine, and connect later without DNS. An address, a Unix URL: left as they are. Returns BUS_OK,
 * or BUS_ERR_UNAVAILABLE with err saying why (the resolver's message; names only the host). */
int bus_url_resolve(struct bus_url *u, char *err, size_t err_len);

/* Writes "<prefix>__group__<channel>" to out (out_len bytes). Returns BUS_OK, or
 * BUS_ERR_INVALID when it does not fit or prefix or channel is empty. The channel is not
 * checked here (channel.h does that). */
int bus_channel_key(const char *prefix, const char *channel, char *out, size_t out_len);

/* The channel of a key made by bus_channel_key with this prefix: a pointer into key, or NULL
 * when the key is not "<prefix>__group__<something>". */
const char *bus_channel_from_key(const char *prefix, const char *key);

/* A publisher for url (copied); nothing is connected yet. timeout_ms (> 0) bounds the connect
 * and each command. NULL when out of memory. Free with bus_publisher_free. */
struct bus_publisher *bus_publisher_new(const struct bus_url *url, int timeout_ms);

/* Closes the connection and frees p; NULL is allowed. */
void bus_publisher_free(struct bus_publisher *p);

/* PUBLISH key msg (len bytes, binary). Connects first if needed. Returns BUS_OK with
 * *n_receivers (may be NULL) set to Redis' count of subscribers that got it, or
 * BUS_ERR_UNAVAILABLE / BUS_ERR_REFUSED / BUS_ERR_NOMEM, the connection dropped and the reason
 * in bus_publisher_error(). */
int bus_publish(struct bus_publisher *p, const char *key, const void *msg, size_t len,
                long long *n_receivers);

/* Publishes msg to the key of each of n_channels channels under prefix, pipelined. Returns as
 * bus_publish, *n_receivers the sum over channels. On an error after part of the batch some
 * channels may have got the message: the caller cannot know which. BUS_ERR_INVALID (nothing
 * sent) when a key would not fit BUS_KEY_MAX. */
int bus_publish_channels(struct bus_publisher *p, const char *prefix, const char *const *channels,
                         size_t n_channels, const void *msg, size_t len, long long *n_receivers);

/* Sends one command (argc binary arguments) and returns Redis' answer in *reply, a hiredis
 * redisReply the caller frees with freeReplyObject. BUS_OK, or as bus_publish (an error reply
 * is BUS_ERR_REFUSED, its text in bus_publisher_error). The core layer's way in (corelayer.h). */
int bus_command_argv(struct bus_publisher *p, int argc, const char **argv, const size_t *argvlen,
                     void **reply);

/* Why the last call of p failed ("what: why"), "" before any failure. Valid until p's next
 * call. Never holds the password. */
const char *bus_publisher_error(const struct bus_publisher *p);

#endif
