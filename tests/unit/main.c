/* main.c -- the unit test runner: calls test_<name>() for every tests/unit/test_<name>.c (the
 * Makefile lists them in unit-list.h), then prints the counts and exits non-zero on a failure.
 * `unit-tests <name>` runs test_<name>.c alone (`build/unit-tests db`); a name no file has is
 * refused with exit 2, so a typo never passes as "0 failed". */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

int test_n_passed, test_n_failed, test_n_skipped;
const char *test_case_name = "(unnamed)";

#define UNIT(name) void test_##name(void);
#include "unit-list.h"
#undef UNIT

static char tmpdir[64];

const char *test_tmpdir(void) {
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/tokenauth-unit-XXXXXX");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return tmpdir;
}

const char *test_make_db(const char *name) {
    static char path[256];
    char cmd[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "rm -f '%s' && sqlite3 '%s' < schema.sql > /dev/null", path, path);
    return system(cmd) == 0 ? path : NULL;
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL; /* run one file: unit-tests db */
    int files_run = 0;
#define UNIT(name)                                                                                 \
    if (!only || strcmp(only, #name) == 0) {                                                       \
        int failed_before = test_n_failed;                                                         \
        files_run++;                                                                               \
        test_##name();                                                                             \
        printf("%s - unit %s\n", test_n_failed == failed_before ? "ok" : "not ok", #name);         \
    }
#include "unit-list.h"
#undef UNIT
    if (only && files_run == 0) {
        fprintf(stderr, "unit-tests: no tests/unit/test_%s.c; the names are:", only);
#define UNIT(name) fprintf(stderr, " %s", #name);
#include "unit-list.h"
#undef UNIT
        fputc('\n', stderr);
        return 2;
    }
    if (tmpdir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    printf("unit: %d passed, %d failed, %d skipped\n", test_n_passed, test_n_failed,
           test_n_skipped);
    return test_n_failed ? 1 : 0;
}
