/* test.h -- the unit tests' checks: each prints file, line, expression and both values, and
 * counts a pass or a failure. They work under NDEBUG (they are not assert()).
 *
 * A test file tests/unit/test_<name>.c defines `void test_<name>(void)`; the runner (main.c)
 * calls each one. Inside, TEST("what is checked") names a case, then CHECK* record results. */
#ifndef TOKENAUTH_TEST_H
#define TOKENAUTH_TEST_H

#include <stdio.h>
#include <string.h>

extern int test_n_passed, test_n_failed, test_n_skipped;
extern const char *test_case_name;

#define TEST(name) (test_case_name = (name))

#define TEST_RECORD(ok, ...)                                                                       \
    do {                                                                                           \
        if (ok) {                                                                                  \
            test_n_passed++;                                                                       \
        } else {                                                                                   \
            test_n_failed++;                                                                       \
            fprintf(stderr, "not ok - %s\n  %s:%d: ", test_case_name, __FILE__, __LINE__);         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK(expr) TEST_RECORD((expr), "CHECK(%s) failed", #expr)

#define CHECK_INT(actual, expected)                                                                \
    do {                                                                                           \
        long long a_ = (long long)(actual), e_ = (long long)(expected);                            \
        TEST_RECORD(a_ == e_, "%s == %s: got %lld, expected %lld", #actual, #expected, a_, e_);    \
    } while (0)

#define CHECK_STR(actual, expected)                                                                \
    do {                                                                                           \
        const char *a_ = (actual), *e_ = (expected);                                               \
        TEST_RECORD(a_ &&e_ &&strcmp(a_, e_) == 0, "%s == %s: got \"%s\", expected \"%s\"",        \
                    #actual, #expected, a_ ? a_ : "(null)", e_ ? e_ : "(null)");                   \
    } while (0)

#define SKIP(why)                                                                                  \
    do {                                                                                           \
        test_n_skipped++;                                                                          \
        fprintf(stderr, "skip - %s: %s\n", test_case_name, (why));                                 \
    } while (0)

/* A fresh temporary folder for this process's test files ("/tmp/tokenauth-unit-XXXXXX"). */
const char *test_tmpdir(void);

/* A new database at <tmpdir>/<name> made from schema.sql (found from the working directory,
 * which make sets to the project root). Returns its path (static buffer) or NULL. */
const char *test_make_db(const char *name);

#endif
