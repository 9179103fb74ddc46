/* hashrate.c -- how many logins per second the password hash alone allows on this machine.
 *
 * Times password_make() (shared/password.h, the code login-fcgi verifies with: one
 * pbkdf2_sha256 at the given iterations) a few times on one core, takes the median, and prints
 * cores / median as the ceiling a login service bound by the hash can reach (the issue's
 * definition of "what the hash alone allows"). Then it runs one hashing thread per core at once
 * and prints what all cores really achieve together, since a virtual machine's cores rarely
 * keep their single-core speed when all are busy:
 *
 *   hashrate: iterations=1000000 runs=5 median_s=0.3020 cores=2 hash_alone_per_s=6.62
 *   hashrate: all cores at once: threads=2 hashes=10 seconds=1.55 hashes_per_s=6.45
 *
 * Usage: hashrate [ITERATIONS [RUNS]]   (defaults: 1000000, 5). It measures the hash only: no
 * database, no HTTP, and it leaves the other cores idle. */
#include <pthread.h>
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

/* One thread of the all-cores run. */
struct hash_job {
    pthread_t thread;
    long iterations;
    long runs;
    int rc;
};

static void *hash_job_run(void *arg) {
    struct hash_job *job = arg;
    char encoded[PASSWORD_ENCODED_MAX];
    for (long i = 0; i < job->runs && job->rc == 0; i++)
        if (password_make("bench-password", 14, job->iterations, encoded, sizeof encoded) !=
            PASSWORD_OK)
            job->rc = -1;
    return NULL;
}

/* Runs runs hashes on each of n_threads threads at once; returns hashes per second, or -1. */
static double all_cores_rate(long iterations, long runs, int n_threads) {
    struct hash_job jobs[64];
    double start = now_s();
    int n = n_threads < 64 ? n_threads : 64, started = 0, rc = 0;
    for (; started < n; started++) {
        jobs[started] = (struct hash_job){.iterations = iterations, .runs = runs};
        if (pthread_create(&jobs[started].thread, NULL, hash_job_run, &jobs[started]) != 0)
            break;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(jobs[i].thread, NULL);
        rc |= jobs[i].rc;
    }
    if (rc != 0 || started < n)
        return -1;
    return (double)(runs * n) / (now_s() - start);
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
    fflush(stdout);
    double rate = all_cores_rate(iterations, runs, (int)cores);
    if (rate < 0) {
        fprintf(stderr, "hashrate: the all-cores run failed\n");
        return 1;
    }
    printf("hashrate: all cores at once: threads=%ld hashes=%ld hashes_per_s=%.2f\n", cores,
           runs * cores, rate);
    return 0;
}
