/* fuzz.h -- what the fuzz harnesses share: REQUIRE, which aborts (libFuzzer reports the input)
 * where a property fails, and the "<list>,*" input of the pattern-list harnesses (a list with
 * a catch-all item appended must parse as the list did, and then match everything). Static
 * inline: each harness is its own program. */
#ifndef TOKENAUTH_FUZZ_H
#define TOKENAUTH_FUZZ_H

#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* A malloc'ed copy of list with ",*" appended (the caller frees it), or NULL without memory. */
static inline char *with_wildcard_item(const char *list) {
    size_t n = strlen(list);
    char *more = malloc(n + 3);
    if (more) {
        memcpy(more, list, n);
        memcpy(more + n, ",*", 3);
    }
    return more;
}

#endif
