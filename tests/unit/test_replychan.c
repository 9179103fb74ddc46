/* test_replychan.c -- ws-worker/replychan.c: reply channel names and the pattern, the checks of
 * what arrives on the pattern (socket number, one msgpack map), the drop counts, a send with no
 * link; and forward.c's delivery through the layer interface (gone, malformed, tokenauth.send).
 * The Redis side (PSUBSCRIBE, PUBLISH, reconnects) is test_django_pubsub_forward.py's. */
#include "test.h"

#include <msgpack.h>

#include "config.h"

#include "../../ws-worker/forward.h"
#include "../../ws-worker/replies.h"
#include "../../ws-worker/replychan.h"
#include "../../ws-worker/sessions.h"

/* What the socket callback saw. */
struct seen {
    int n;
    uint64_t id;
    size_t len;
};

static void on_socket(void *arg, uint64_t id, const void *event, size_t len) {
    struct seen *seen = arg;
    seen->n++;
    seen->id = id;
    seen->len = len;
}

/* The number after the process part of a reply channel name. */
static const char *local_of(const struct replychan *rc, char *buf, size_t len) {
    replychan_socket_channel(rc, 0, buf, len);
    buf[strlen(buf) - 1] = '\0'; /* "...P.0" -> "...P." */
    return buf;
}

static void test_names(void) {
    char err[256] = "", name[REPLYCHAN_NAME_MAX];
    struct replychan *rc = replychan_create(NULL, "asgi", err, sizeof err);

    TEST("replychan: a reply channel is <prefix>specific.tokenauth<16 hex>.<number>");
    CHECK(rc != NULL);
    if (!rc)
        return;
    CHECK_INT(replychan_socket_channel(rc, 42, name, sizeof name), REPLYCHAN_OK);
    CHECK(strncmp(name, "asgispecific.tokenauth", 22) == 0);
    CHECK_INT(strspn(name + 22, "0123456789abcdef"), REPLYCHAN_PROCESS_LEN);
    CHECK_STR(name + 22 + REPLYCHAN_PROCESS_LEN, ".42");

    TEST("replychan: the pattern is the name up to the number, then *");
    char local[REPLYCHAN_NAME_MAX], want[REPLYCHAN_NAME_MAX + 1];
    snprintf(want, sizeof want, "%s*", local_of(rc, local, sizeof local));
    CHECK_STR(replychan_pattern(rc), want);

    TEST("replychan: two processes get different names");
    struct replychan *other = replychan_create(NULL, "asgi", err, sizeof err);
    CHECK(other && strcmp(replychan_pattern(other), replychan_pattern(rc)) != 0);
    replychan_destroy(other);

    TEST("replychan: a name that does not fit the buffer is refused");
    CHECK_INT(replychan_socket_channel(rc, 42, name, 10), REPLYCHAN_ERR_INVALID);
    replychan_destroy(rc);

    TEST("replychan: glob characters of the prefix are escaped in the pattern");
    rc = replychan_create(NULL, "a*b?[c]\\", err, sizeof err);
    CHECK(rc && strncmp(replychan_pattern(rc), "a\\*b\\?\\[c\\]\\\\specific.tokenauth", 31) == 0);
    replychan_destroy(rc);

    TEST("replychan: a prefix leaving no room for Django's 100 characters is refused, saying why");
    char prefix[64];
    memset(prefix, 'p', 53);
    prefix[53] = '\0';
    CHECK(replychan_create(NULL, prefix, err, sizeof err) == NULL);
    CHECK_STR(err,
              "TOKENAUTH_CHANNEL_PREFIX: \"ppppppppppppppppppppppppppppppppppppppppppppppppppppp"
              "\" is too long for the pubsub layer's reply channels (at most 52 characters)");
    prefix[52] = '\0';
    rc = replychan_create(NULL, prefix, err, sizeof err);
    CHECK(rc != NULL);
    CHECK(rc && replychan_socket_channel(rc, 999999999999ULL, name, sizeof name) == REPLYCHAN_OK &&
          strlen(name) == 99);
    replychan_destroy(rc);
}

/* msgpack of {"type": type} (and "text": text when not NULL) into buf. */
static void pack_event(msgpack_sbuffer *buf, const char *type, const char *text) {
    msgpack_packer pk;
    msgpack_sbuffer_init(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, text ? 2 : 1);
    msgpack_pack_str_with_body(&pk, "type", 4);
    msgpack_pack_str_with_body(&pk, type, strlen(type));
    if (text) {
        msgpack_pack_str_with_body(&pk, "text", 4);
        msgpack_pack_str_with_body(&pk, text, strlen(text));
    }
}

static void test_messages(void) {
    char err[256], local[REPLYCHAN_NAME_MAX], name[REPLYCHAN_NAME_MAX + 32];
    struct replychan *rc = replychan_create(NULL, "asgi", err, sizeof err);
    struct seen seen = {0};
    struct replychan_drops drops;
    msgpack_sbuffer ok;
    if (!rc)
        return;
    pack_event(&ok, "tokenauth.send", "hi");
    local_of(rc, local, sizeof local);

    TEST("replychan: with no receiver a message counts as for a gone socket");
    snprintf(name, sizeof name, "%s7", local);
    replychan_message(rc, name, strlen(name), ok.data, ok.size);
    replychan_drops(rc, &drops);
    CHECK_INT(drops.gone, 1);

    TEST("replychan: a map on a socket's channel reaches the receiver with the number");
    replychan_on_socket(rc, on_socket, &seen);
    replychan_message(rc, name, strlen(name), ok.data, ok.size);
    CHECK(seen.n == 1 && seen.id == 7 && seen.len == ok.size);

    TEST("replychan: names with no socket number are dropped as format");
    static const char *const suffixes[] = {
        "", "x", "7x", "0", "-1", "123456789012345678901", "18446744073709551616"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", local, suffixes[i]);
        replychan_message(rc, name, strlen(name), ok.data, ok.size);
    }
    replychan_message(rc, "asgispecific.other.7", 20, ok.data, ok.size);
    replychan_drops(rc, &drops);
    CHECK_INT(drops.format, 8);
    CHECK_INT(seen.n, 1);

    TEST("replychan: the largest number is taken");
    snprintf(name, sizeof name, "%s18446744073709551615", local);
    replychan_message(rc, name, strlen(name), ok.data, ok.size);
    CHECK(seen.n == 2 && seen.id == UINT64_MAX);

    TEST("replychan: data that is not one msgpack map is dropped as format");
    snprintf(name, sizeof name, "%s7", local);
    static const char *const junk[] = {
        "",         "not msgpack",          "\x92\x01\x02", "\x81\xa1\x61",
        "\x80\x80", "\xdf\xff\xff\xff\xff", "\xa2hi"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        replychan_message(rc, name, strlen(name), junk[i], i == 0 ? 0 : strlen(junk[i]));
    replychan_drops(rc, &drops);
    CHECK_INT(drops.format, 15);
    CHECK_INT(seen.n, 2);

    TEST("replychan: the empty map passes (the receiver judges its fields)");
    replychan_message(rc, name, strlen(name), "\x80", 1);
    CHECK_INT(seen.n, 3);

    TEST("replychan: a send with no link answers down");
    CHECK_INT(replychan_send(rc, "tokenauth.inbox", ok.data, ok.size), REPLYCHAN_ERR_DOWN);
    CHECK_INT(replychan_link_up(rc), REPLYCHAN_ERR_DOWN);
    CHECK_INT(replychan_link_up(NULL), REPLYCHAN_ERR_DOWN);

    TEST("replychan: drops reported by the receiver are counted");
    replychan_drop_gone(rc, 3);
    replychan_drop_format(rc);
    replychan_drops(rc, &drops);
    CHECK(drops.gone == 2 && drops.format == 16);
    msgpack_sbuffer_destroy(&ok);
    replychan_destroy(rc);
}

/* A layer that records what forward.c asks of it. */
struct fake_layer {
    int n_sent, n_gone, n_format;
    char channel[FORWARD_CHANNEL_MAX];
};

static int fake_send(void *arg, const char *channel, const void *event, size_t len) {
    struct fake_layer *l = arg;
    l->n_sent++;
    snprintf(l->channel, sizeof l->channel, "%s", channel);
    return FORWARD_OK;
}

static void fake_socket_channel(const void *arg, uint64_t id, char *out, size_t out_len) {
    snprintf(out, out_len, "reply.%llu", (unsigned long long)id);
}

static void fake_gone(void *arg, uint64_t id) {
    ((struct fake_layer *)arg)->n_gone++;
}

static void fake_format(void *arg) {
    ((struct fake_layer *)arg)->n_format++;
}

static const struct forward_layer fake = {fake_send, fake_socket_channel, fake_gone, fake_format};

/* The joins forward.c asked for: the last channel, and a refusal for "bad". */
struct joins {
    int n;
    int is_join;
    char channel[64];
};

static int fake_join(void *arg, struct session *s, const char *channel, int is_join) {
    struct joins *j = arg;
    j->n++;
    j->is_join = is_join;
    snprintf(j->channel, sizeof j->channel, "%s", channel);
    return strcmp(channel, "bad") == 0 ? -1 : 0;
}

/* msgpack of {"type": type, "channel": channel} into buf. */
static void pack_join(msgpack_sbuffer *buf, const char *type, const char *channel) {
    msgpack_packer pk;
    msgpack_sbuffer_init(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "type", 4);
    msgpack_pack_str_with_body(&pk, type, strlen(type));
    msgpack_pack_str_with_body(&pk, "channel", 7);
    msgpack_pack_str_with_body(&pk, channel, strlen(channel));
}

static void test_forward_joins(struct forward *f, struct fake_layer *layer) {
    struct joins j = {0};
    msgpack_sbuffer ev;

    TEST("forward: tokenauth.subscribe with no join function is dropped as format");
    pack_join(&ev, "tokenauth.subscribe", "room.a");
    int n_format = layer->n_format;
    forward_deliver(f, 1, ev.data, ev.size);
    CHECK_INT(layer->n_format, n_format + 1);

    TEST("forward: tokenauth.subscribe and .unsubscribe reach the join function");
    forward_on_join(f, fake_join, &j);
    forward_deliver(f, 1, ev.data, ev.size);
    CHECK(j.n == 1 && j.is_join == 1 && strcmp(j.channel, "room.a") == 0);
    msgpack_sbuffer_destroy(&ev);
    pack_join(&ev, "tokenauth.unsubscribe", "room.b");
    forward_deliver(f, 1, ev.data, ev.size);
    CHECK(j.n == 2 && j.is_join == 0 && strcmp(j.channel, "room.b") == 0);
    CHECK_INT(layer->n_format, n_format + 1);
    msgpack_sbuffer_destroy(&ev);

    TEST("forward: a refused join, or no channel string, is dropped as format");
    pack_join(&ev, "tokenauth.subscribe", "bad");
    forward_deliver(f, 1, ev.data, ev.size);
    msgpack_sbuffer_destroy(&ev);
    pack_event(&ev, "tokenauth.subscribe", "no channel field");
    forward_deliver(f, 1, ev.data, ev.size);
    msgpack_sbuffer_destroy(&ev);
    CHECK(j.n == 3 && layer->n_format == n_format + 3);
}

static void no_close(void *arg, struct session *s, int code, const char *reason) {
    *(int *)arg = code;
}

static void test_forward_layer(void) {
    static struct config cfg;
    struct reply_pool pool = {0};
    struct fake_layer layer = {0};
    struct session s = {0};
    int closed = 0;
    config_defaults(&cfg);
    snprintf(cfg.ws_forward_channel, sizeof cfg.ws_forward_channel, "tokenauth.inbox");
    cfg.ws_forward_events = 1;
    struct forward *f = forward_create(&cfg, &fake, &layer, &pool, no_close, &closed);
    CHECK(f != NULL);
    if (!f)
        return;

    TEST("forward: a socket opening sends its connect event through the layer");
    s.user_id = 5;
    CHECK_INT(forward_session_open(f, &s, "ann"), FORWARD_OK);
    CHECK(layer.n_sent == 1 && strcmp(layer.channel, "tokenauth.inbox") == 0 && s.core_id == 1);

    TEST("forward: a client message goes to the forward channel through the layer");
    CHECK_INT(forward_message(f, &s, "ann", "{}", 2), FORWARD_OK);
    CHECK_INT(layer.n_sent, 2);

    TEST("forward: tokenauth.send on the reply channel queues the text on the socket");
    msgpack_sbuffer ev;
    pack_event(&ev, "tokenauth.send", "hello");
    forward_deliver(f, 1, ev.data, ev.size);
    CHECK(s.replies.head && s.replies.head->len == 5 &&
          memcmp(replies_json(s.replies.head), "hello", 5) == 0);
    msgpack_sbuffer_destroy(&ev);

    TEST("forward: a message for an unknown socket is reported gone to the layer");
    pack_event(&ev, "tokenauth.send", "x");
    forward_deliver(f, 99, ev.data, ev.size);
    CHECK_INT(layer.n_gone, 1);

    TEST("forward: data that is not a map is reported malformed to the layer");
    forward_deliver(f, 1, "\x01", 1);
    forward_deliver(f, 1, "\x81", 1);
    CHECK_INT(layer.n_format, 2);

    test_forward_joins(f, &layer);

    TEST("forward: tokenauth.close closes with the code through the owner");
    msgpack_sbuffer_destroy(&ev);
    pack_event(&ev, "tokenauth.close", NULL);
    forward_deliver(f, 1, ev.data, ev.size);
    CHECK_INT(closed, 4000);
    msgpack_sbuffer_destroy(&ev);

    TEST("forward: a socket closing sends its disconnect event; then its messages are gone");
    forward_session_close(f, &s);
    CHECK(layer.n_sent == 3 && s.core_id == 0);
    pack_event(&ev, "tokenauth.send", "late");
    forward_deliver(f, 1, ev.data, ev.size);
    CHECK_INT(layer.n_gone, 2);
    msgpack_sbuffer_destroy(&ev);

    replies_drain(&s.replies, &pool);
    replies_free(&pool);
    forward_destroy(f);
}

void test_replychan(void) {
    test_names();
    test_messages();
    test_forward_layer();
}
