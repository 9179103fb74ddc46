/* hashrate.c -- how many logins per second the password hash alone allows on this machine.
 *
 * Times password_make() (shared/password.h, the code login-fcgi verifies with: one
 * pbkdf2_sha256 at the given iterations) a few times on one core, takes the median, and prints
 * cores / median as the ceiling a login service bound by the hash can reach:
 *
 *   hashrate: iterations=1000000 runs=5 median_s=0.3020 cores=2 hash_alone_per_s=6.62
 *
 * Usage: hashrate [ITERATIONS [RUNS]]   (defaults: 1000000, 5). It measures the hash only: no
 * database, no HTTP, and it leaves the other cores idle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "password.h"

#define HASHRATE_MAX_RUNS 100

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses a positive integer argument up to max; -1 when it is not one. */
static long parse_positive(const char *s, long max) {
    char *end;
    long v = strtol(s, &end, 10);
    return *s != '\0' && *end == '\0' && v >= 1 && v <= max ? v : -1;
}

int main(int argc, char **argv) {
    long iterations =
        argc > 1 ? parse_positive(argv[1], PASSWORD_MAX_ITERATIONS) : PASSWORD_DEFAULT_ITERATIONS;
    long runs = argc > 2 ? parse_positive(argv[2], HASHRATE_MAX_RUNS) : 5;
    double times[HASHRATE_MAX_RUNS];
    char encoded[PASSWORD_ENCODED_MAX];
    if (iterations < 0 || runs < 0 || argc > 3) {
        fprintf(stderr, "usage: hashrate [ITERATIONS (1..%ld) [RUNS (1..%d)]]\n",
                PASSWORD_MAX_ITERATIONS, HASHRATE_MAX_RUNS);
        return 2;
    }
    for (long i = 0; i < runs; i++) {
        double start = now_s();
        if (password_make("bench-password", 14, iterations, encoded, sizeof encoded) !=
            PASSWORD_OK) {
            fprintf(stderr, "hashrate: password_make failed\n");
            return 1;
        }
        times[i] = now_s() - start;
    }
    qsort(times, (size_t)runs, sizeof times[0], cmp_double);
    double median = times[runs / 2];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("hashrate: iterations=%ld runs=%ld median_s=%.4f cores=%ld hash_alone_per_s=%.2f\n",
           iterations, runs, median, cores, (double)cores / median);
    return 0;
}
