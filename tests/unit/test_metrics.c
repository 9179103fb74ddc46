/* test_metrics.c -- shared/metrics.c: the text format, the group's records, the file, the maps
 * from outcomes, statuses and refusal reasons to slots. */
#include "test.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"

static void test_format(void) {
    uint64_t values[METRIC_N] = {0};
    char out[METRICS_TEXT_MAX];
    values[METRIC_WS_CONNECTIONS] = 3;
    values[METRIC_WS_REFUSED_ORIGIN] = 2;
    TEST("metrics: 1. a gauge gets its HELP and TYPE, then name value");
    long n = metrics_format(values, METRIC_WS_CONNECTIONS, METRIC_WS_BYTES_QUEUED, out, sizeof out);
    CHECK_STR(out, "# HELP tokenauth_ws_connections authenticated WebSocket sessions open\n"
                   "# TYPE tokenauth_ws_connections gauge\n"
                   "tokenauth_ws_connections 3\n");
    CHECK_INT(n, (long)strlen(out));
    TEST("metrics: 2. a labelled family has one header, then one line per label");
    metrics_format(values, METRIC_WS_REFUSED_ORIGIN, METRIC_WS_REFUSED_CAPACITY, out, sizeof out);
    CHECK_STR(out, "# HELP tokenauth_ws_handshakes_refused_total WebSocket handshakes refused, by "
                   "reason\n"
                   "# TYPE tokenauth_ws_handshakes_refused_total counter\n"
                   "tokenauth_ws_handshakes_refused_total{reason=\"origin\"} 2\n"
                   "tokenauth_ws_handshakes_refused_total{reason=\"path\"} 0\n");
    TEST("metrics: 3. a gauge summed below zero prints signed, a counter unsigned");
    values[METRIC_WS_CONNECTIONS] = (uint64_t)-1;
    metrics_format(values, METRIC_WS_CONNECTIONS, METRIC_WS_BYTES_QUEUED, out, sizeof out);
    CHECK(strstr(out, "tokenauth_ws_connections -1\n") != NULL);
    TEST("metrics: 4. every metric fits METRICS_TEXT_MAX; a small buffer is METRICS_ERR_SPACE");
    CHECK(metrics_format(values, METRIC_WS_FIRST, METRIC_N, out, sizeof out) > 0);
    CHECK_INT(metrics_format(values, METRIC_WS_FIRST, METRIC_N, out, 100), METRICS_ERR_SPACE);
    CHECK_INT(metrics_format(values, METRIC_WS_FIRST, METRIC_N, out, 0), METRICS_ERR_SPACE);
}

static void test_maps(void) {
    TEST("metrics: 5. login outcomes map to their slot, unknown ones to other");
    CHECK_INT(metrics_login_outcome("ok"), METRIC_LOGIN_OK);
    CHECK_INT(metrics_login_outcome("throttled"), METRIC_LOGIN_THROTTLED);
    CHECK_INT(metrics_login_outcome("not_found"), METRIC_LOGIN_NOT_FOUND);
    CHECK_INT(metrics_login_outcome("nonsense"), METRIC_LOGIN_OTHER);
    CHECK_INT(metrics_login_outcome(NULL), METRIC_LOGIN_OTHER);
    TEST("metrics: 6. statuses: 2xx together, listed ones alone, the rest other");
    CHECK_INT(metrics_status(200), METRIC_STATUS_2XX);
    CHECK_INT(metrics_status(204), METRIC_STATUS_2XX);
    CHECK_INT(metrics_status(429), METRIC_STATUS_429);
    CHECK_INT(metrics_status(503), METRIC_STATUS_503);
    CHECK_INT(metrics_status(500), METRIC_STATUS_OTHER);
    TEST("metrics: 7. handshake refusal reasons map to their slot");
    CHECK_INT(metrics_refusal("missing token"), METRIC_WS_REFUSED_MISSING_TOKEN);
    CHECK_INT(metrics_refusal("token expired"), METRIC_WS_REFUSED_EXPIRED_TOKEN);
    CHECK_INT(metrics_refusal("too many connections"), METRIC_WS_REFUSED_CAPACITY);
    CHECK_INT(metrics_refusal("what"), METRIC_WS_REFUSED_OTHER);
    CHECK_INT(metrics_refusal(NULL), METRIC_WS_REFUSED_OTHER);
    TEST("metrics: 8. a NULL record (metrics off) counts nothing, without crashing");
    metrics_add(NULL, METRIC_WS_ACCEPTED, 1);
    metrics_login_record(NULL, "ok", 200);
    CHECK(1);
}

static void test_group(void) {
    char err[256];
    uint64_t values[METRIC_N];
    TEST("metrics: 9. a group sums its records; a child's adds are seen by the parent");
    struct metrics_group *g = metrics_group_create(3, err, sizeof err);
    CHECK(g != NULL);
    if (!g)
        return;
    metrics_add(metrics_group_parent(g), METRIC_WS_WORKER_RESTARTS, 1);
    pid_t pid = fork();
    if (pid == 0) {
        struct metrics_record *r = metrics_group_claim(g, getpid());
        metrics_add(r, METRIC_WS_ACCEPTED, 5);
        metrics_add(r, METRIC_WS_CONNECTIONS, 2);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    metrics_group_sum(g, values);
    CHECK_INT(values[METRIC_WS_ACCEPTED], 5);
    CHECK_INT(values[METRIC_WS_CONNECTIONS], 2);
    CHECK_INT(values[METRIC_WS_WORKER_RESTARTS], 1);
    TEST("metrics: 10. releasing a dead worker zeroes its gauges, keeps its counters");
    metrics_group_release(g, pid);
    metrics_group_sum(g, values);
    CHECK_INT(values[METRIC_WS_ACCEPTED], 5);
    CHECK_INT(values[METRIC_WS_CONNECTIONS], 0);
    TEST("metrics: 11. a released record is claimed again; past the last, records are shared");
    struct metrics_record *a = metrics_group_claim(g, 1001);
    struct metrics_record *b = metrics_group_claim(g, 1002);
    struct metrics_record *c = metrics_group_claim(g, 1003);
    CHECK(a != NULL && b != NULL && a != b && b == c);
    CHECK(a != metrics_group_parent(g));
    CHECK(metrics_group_claim(NULL, 1) == NULL);
    metrics_group_destroy(g);
    metrics_group_destroy(NULL);
}

static void test_file(void) {
    char path[256], err[512];
    struct metrics_record *w = NULL, *r = NULL;
    snprintf(path, sizeof path, "%s/metrics.bin", test_tmpdir());
    TEST("metrics: 12. a reader of a missing file gets METRICS_ERR_SYS naming it");
    CHECK_INT(metrics_file_open(path, 0, &r, err, sizeof err), METRICS_ERR_SYS);
    CHECK(strstr(err, path) != NULL && strstr(err, "No such file") != NULL);
    TEST("metrics: 13. a writer creates the file; two writers add into the same counts");
    CHECK_INT(metrics_file_open(path, 1, &w, err, sizeof err), METRICS_OK);
    struct metrics_record *w2 = NULL;
    CHECK_INT(metrics_file_open(path, 1, &w2, err, sizeof err), METRICS_OK);
    metrics_login_record(w, "ok", 200);
    metrics_login_record(w2, "throttled", 429);
    TEST("metrics: 14. a reader sees them");
    CHECK_INT(metrics_file_open(path, 0, &r, err, sizeof err), METRICS_OK);
    if (r) {
        CHECK_INT(r->v[METRIC_LOGIN_OK], 1);
        CHECK_INT(r->v[METRIC_LOGIN_THROTTLED], 1);
        CHECK_INT(r->v[METRIC_STATUS_429], 1);
    }
    metrics_file_close(r);
    metrics_file_close(w);
    metrics_file_close(w2);
    metrics_file_close(NULL);
    TEST("metrics: 15. a file of something else is METRICS_ERR_FORMAT, for writer and reader");
    snprintf(path, sizeof path, "%s/not-metrics.bin", test_tmpdir());
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < 1024; i++)
        fputs("garbage!", f);
    if (f)
        fclose(f);
    CHECK_INT(metrics_file_open(path, 1, &w, err, sizeof err), METRICS_ERR_FORMAT);
    CHECK(strstr(err, "not a metrics file") != NULL);
    CHECK_INT(metrics_file_open(path, 0, &r, err, sizeof err), METRICS_ERR_FORMAT);
    TEST("metrics: 16. a reader of a short file gets METRICS_ERR_SYS, too short");
    snprintf(path, sizeof path, "%s/short.bin", test_tmpdir());
    f = fopen(path, "w");
    if (f)
        fclose(f);
    CHECK_INT(metrics_file_open(path, 0, &r, err, sizeof err), METRICS_ERR_SYS);
    CHECK(strstr(err, "too short") != NULL);
    TEST("metrics: 17. a writer in a folder that does not exist gets METRICS_ERR_SYS");
    CHECK_INT(metrics_file_open("/nonexistent-dir/m.bin", 1, &w, err, sizeof err), METRICS_ERR_SYS);
    CHECK(w == NULL);
}

void test_metrics(void) {
    test_format();
    test_maps();
    test_group();
    test_file();
}
