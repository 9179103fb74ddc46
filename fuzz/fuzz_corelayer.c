/* fuzz_corelayer.c -- libFuzzer harness for shared/corelayer_wire.c. The input is a message as
 * popped from a process key: corelayer_decode() must answer CORELAYER_OK or
 * CORELAYER_ERR_FORMAT (never crash, leak or allocate far beyond the input's size); on
 * CORELAYER_OK the event it gives back, encoded again with the same names and decoded again,
 * gives back the same event bytes and the same names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "corelayer.h"

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define MAX_NAMES 64

struct names {
    size_t n;
    const char *name[MAX_NAMES];
    size_t len[MAX_NAMES];
};

static void collect(void *arg, const char *name, size_t len) {
    struct names *n = arg;
    if (n->n < MAX_NAMES) {
        n->name[n->n] = name;
        n->len[n->n] = len;
    }
    n->n++;
}

/* Copies the names out of the message they point into. */
static void copy_names(struct names *n, char **store) {
    for (size_t i = 0; i < n->n && i < MAX_NAMES; i++) {
        store[i] = malloc(n->len[i] + 1);
        REQUIRE(store[i]);
        memcpy(store[i], n->name[i], n->len[i]);
        n->name[i] = store[i];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    msgpack_sbuffer ev, again, ev2;
    struct names n = {0}, n2 = {0};
    char *store[MAX_NAMES] = {0};
    msgpack_sbuffer_init(&ev);
    int rc = corelayer_decode(data, size, &ev, collect, &n);
    REQUIRE(rc == CORELAYER_OK || rc == CORELAYER_ERR_FORMAT);
    if (rc == CORELAYER_OK && n.n <= MAX_NAMES) {
        copy_names(&n, store);
        msgpack_sbuffer_init(&again);
        msgpack_sbuffer_init(&ev2);
        REQUIRE(corelayer_encode(ev.data, ev.size, n.name, n.len, n.n, 1, &again) == CORELAYER_OK);
        REQUIRE(corelayer_decode(again.data, again.size, &ev2, collect, &n2) == CORELAYER_OK);
        REQUIRE(ev2.size == ev.size && memcmp(ev2.data, ev.data, ev.size) == 0);
        REQUIRE(n2.n == n.n);
        for (size_t i = 0; i < n.n; i++)
            REQUIRE(n2.len[i] == n.len[i] && memcmp(n2.name[i], n.name[i], n.len[i]) == 0);
        msgpack_sbuffer_destroy(&again);
        msgpack_sbuffer_destroy(&ev2);
        for (size_t i = 0; i < n.n; i++)
            free(store[i]);
    }
    msgpack_sbuffer_destroy(&ev);
    return 0;
}
