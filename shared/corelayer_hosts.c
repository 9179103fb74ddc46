/* corelayer_hosts.c -- the host list of the core layer (corelayer.h): comma-separated Redis
 * URLs, each parsed by bus.h. Its own file, with no library, because config.c checks
 * TOKENAUTH_REDIS_URL with it and the sqlite extension links config.c. */
#include "corelayer.h"

#include <stdio.h>
#include <string.h>

/* Copies the item text[start, end) without surrounding blanks into out (out_len bytes). */
static int copy_item(const char *text, size_t start, size_t end, char *out, size_t out_len) {
    while (start < end && (text[start] == ' ' || text[start] == '\t'))
        start++;
    while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t'))
        end--;
    if (end - start >= out_len)
        return -1;
    memcpy(out, text + start, end - start);
    out[end - start] = '\0';
    return 0;
}

int corelayer_hosts_parse(const char *text, struct bus_url *hosts, size_t max, size_t *n, char *err,
                          size_t err_len) {
    char item[2048], why[256];
    size_t start = 0, len = strlen(text), count = 0;
    while (start <= len) {
        const char *comma = memchr(text + start, ',', len - start);
        size_t end = comma ? (size_t)(comma - text) : len;
        if (count == max) {
            snprintf(err, err_len, "more than %zu hosts", max);
            return CORELAYER_ERR_INVALID;
        }
        int is_long = copy_item(text, start, end, item, sizeof item) != 0;
        if (is_long || !item[0]) {
            snprintf(err, err_len, "host %zu: %s", count + 1, is_long ? "too long" : "empty");
            return CORELAYER_ERR_INVALID;
        }
        if (bus_url_parse(item, &hosts[count], why, sizeof why) != BUS_OK) {
            snprintf(err, err_len, "host %zu: %s", count + 1, why);
            return CORELAYER_ERR_INVALID;
        }
        count++;
        start = end + 1;
    }
    *n = count;
    return CORELAYER_OK;
}

int corelayer_hosts_check(const char *text, int is_core, char *err, size_t err_len) {
    struct bus_url hosts[CORELAYER_MAX_HOSTS];
    size_t n;
    if (!is_core && strchr(text, ',')) {
        snprintf(err, err_len, "a list of hosts needs TOKENAUTH_CHANNEL_LAYER=core");
        return CORELAYER_ERR_INVALID;
    }
    if (!is_core)
        return bus_url_parse(text, hosts, err, err_len) == BUS_OK ? CORELAYER_OK
                                                                  : CORELAYER_ERR_INVALID;
    return corelayer_hosts_parse(text, hosts, CORELAYER_MAX_HOSTS, &n, err, err_len);
}
