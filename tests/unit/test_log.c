/* test_log.c -- shared/log.c: logfmt lines (quoting, escaping, truncation), writing them in one
 * piece to a file descriptor, log_buffer (whole lines held, then written in order), and
 * log_redact_query() over many request URIs. */
#include "test.h"

#include "log.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

/* The line so far as a string (the buffer is not terminated until log_end). */
static const char *text_of(struct log_line *line) {
    static char text[LOG_LINE_MAX + 1];
    memcpy(text, line->buf, line->len);
    text[line->len] = '\0';
    return text;
}

/* A line holding only what the test appends (no timestamp). */
static void empty_line(struct log_line *line) {
    line->len = 0;
}

/* The text of a line made of one log_str(key, value). */
static const char *one_str(const char *key, const char *value) {
    static struct log_line line;
    empty_line(&line);
    log_str(&line, key, value);
    return text_of(&line);
}

/* Reads what is waiting in the pipe (up to size - 1 bytes) into buf, terminated. */
static size_t read_pipe(int fd, char *buf, size_t size) {
    size_t got = 0;
    ssize_t n;
    while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    return got;
}

/* 1 when s is "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static int is_timestamp(const char *s) {
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return 0;
    }
    return 1;
}

static void test_values(void) {
    struct log_line line;

    TEST("log: log_begin writes ts= (UTC, milliseconds), prog= and event=");
    log_begin(&line, "login-fcgi", "login");
    const char *text = text_of(&line);
    CHECK(strncmp(text, "ts=", 3) == 0);
    CHECK(is_timestamp(text + 3));
    CHECK_STR(text + 3 + 24, " prog=login-fcgi event=login");

    TEST("log: a plain value is written bare");
    CHECK_STR(one_str("user", "ann"), " user=ann");
    CHECK_STR(one_str("path", "/api/login/"), " path=/api/login/");

    TEST("log: NULL is written as -");
    CHECK_STR(one_str("user", NULL), " user=-");

    TEST("log: an empty value is quoted, so the line still parses");
    CHECK_STR(one_str("user", ""), " user=\"\"");

    TEST("log: spaces and = make a value quoted");
    CHECK_STR(one_str("user", "ann smith"), " user=\"ann smith\"");
    CHECK_STR(one_str("user", "a=b"), " user=\"a=b\"");

    TEST("log: quotes and backslashes are escaped");
    CHECK_STR(one_str("user", "say \"hi\""), " user=\"say \\\"hi\\\"\"");
    CHECK_STR(one_str("user", "a\\b"), " user=\"a\\\\b\"");

    TEST("log: a newline cannot forge a second line");
    CHECK_STR(one_str("user", "ann\nts=x event=login outcome=ok"),
              " user=\"ann\\nts=x event=login outcome=ok\"");
    CHECK(strchr(one_str("user", "a\nb\r"), '\n') == NULL);

    TEST("log: tab is written \\t, other control characters and DEL \\xNN");
    CHECK_STR(one_str("user", "a\tb"), " user=\"a\\tb\"");
    CHECK_STR(one_str("user", "a\rb\x01\x1f\x7f"), " user=\"a\\x0db\\x01\\x1f\\x7f\"");
    CHECK_STR(one_str("user", "\x1b[31m"), " user=\"\\x1b[31m\"");

    TEST("log: UTF-8 bytes pass through unchanged, inside quotes");
    CHECK_STR(one_str("user", "Andr\xc3\xa9"), " user=\"Andr\xc3\xa9\"");

    TEST("log: log_int writes any long long");
    empty_line(&line);
    log_int(&line, "status", 200);
    log_int(&line, "n", -7);
    log_int(&line, "min", LLONG_MIN);
    CHECK_STR(text_of(&line), " status=200 n=-7 min=-9223372036854775808");

    TEST("log: log_ms writes two decimals");
    empty_line(&line);
    log_ms(&line, "ms", 1.2);
    log_ms(&line, "ms", 0.004);
    log_ms(&line, "ms", 1234.567);
    CHECK_STR(text_of(&line), " ms=1.20 ms=0.00 ms=1234.57");
    TEST("log: log_ms rounds to the nearest hundredth, and writes large and odd values");
    empty_line(&line);
    log_ms(&line, "ms", 0.996);
    log_ms(&line, "ms", 12.3449);
    log_ms(&line, "ms", -2.5);
    log_ms(&line, "ms", 123456789.0);
    log_ms(&line, "ms", 1e300);
    CHECK(strncmp(text_of(&line), " ms=1.00 ms=12.34 ms=-2.50 ms=123456789.00 ms=1000", 50) == 0);
}

static void test_truncation(void) {
    static char big[3 * LOG_LINE_MAX];
    struct log_line line;

    TEST("log: a value too long for the line is cut, ending in ...");
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    empty_line(&line);
    log_str(&line, "v", big);
    CHECK_INT(line.len, LOG_LINE_MAX - 2);
    CHECK(memcmp(line.buf + line.len - 4, "a...", 4) == 0);
    CHECK(memcmp(line.buf, " v=aaa", 6) == 0);

    TEST("log: once cut, nothing more is appended");
    log_str(&line, "more", "x");
    log_int(&line, "n", 1);
    CHECK_INT(line.len, LOG_LINE_MAX - 2);
    CHECK(memcmp(line.buf + line.len - 3, "...", 3) == 0);

    TEST("log: log_end still ends a full line with its newline, inside the buffer");
    int fds[2];
    static char got[2 * LOG_LINE_MAX];
    CHECK_INT(pipe(fds), 0);
    log_end(&line, fds[1]);
    close(fds[1]);
    CHECK_INT(read_pipe(fds[0], got, sizeof got), LOG_LINE_MAX - 1);
    close(fds[0]);
    CHECK(memcmp(got + LOG_LINE_MAX - 5, "...\n", 4) == 0);

    TEST("log: a line filled to the last usable byte and then appended to is marked with ...");
    empty_line(&line);
    big[LOG_LINE_MAX - 5 - 3] = '\0'; /* " v=" + value fills the usable room exactly */
    log_str(&line, "v", big);
    CHECK_INT(line.len, LOG_LINE_MAX - 5);
    CHECK(memcmp(line.buf + line.len - 3, "aaa", 3) == 0);
    log_str(&line, "user", "ann");
    CHECK_INT(line.len, LOG_LINE_MAX - 2);
    CHECK(memcmp(line.buf + line.len - 3, "...", 3) == 0);
    big[LOG_LINE_MAX - 5 - 3] = 'a';

    TEST("log: a quoted value is cut the same way");
    memset(big, '\n', LOG_LINE_MAX);
    big[LOG_LINE_MAX] = '\0';
    empty_line(&line);
    log_str(&line, "v", big);
    CHECK_INT(line.len, LOG_LINE_MAX - 2);
    CHECK(memcmp(line.buf, " v=\"\\n\\n", 8) == 0);
    CHECK(memcmp(line.buf + line.len - 3, "...", 3) == 0);
    CHECK(memchr(line.buf, '\n', line.len) == NULL);
}

static void test_write(void) {
    struct log_line line;
    int fds[2];
    char got[LOG_LINE_MAX + 16];

    TEST("log: log_end writes the line and one newline to the fd");
    CHECK_INT(pipe(fds), 0);
    empty_line(&line);
    log_str(&line, "event", "close");
    log_int(&line, "code", 1001);
    log_end(&line, fds[1]);
    close(fds[1]);
    read_pipe(fds[0], got, sizeof got);
    close(fds[0]);
    CHECK_STR(got, " event=close code=1001\n");

    TEST("log: a whole begin..end line reads back with its fields");
    CHECK_INT(pipe(fds), 0);
    log_begin(&line, "ws-worker", "refuse");
    log_str(&line, "reason", "invalid token");
    log_end(&line, fds[1]);
    close(fds[1]);
    read_pipe(fds[0], got, sizeof got);
    close(fds[0]);
    CHECK(strncmp(got, "ts=", 3) == 0 && is_timestamp(got + 3));
    CHECK_STR(got + 27, " prog=ws-worker event=refuse reason=\"invalid token\"\n");

    TEST("log: writing to a closed fd drops the line without crashing");
    empty_line(&line);
    log_str(&line, "a", "b");
    log_end(&line, -1);
    CHECK(1);

    TEST("log: log_msg writes one line to stderr with the formatted message quoted");
    CHECK_INT(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    log_msg("ws-worker", "start", "listening on %s:%d", "127.0.0.1", 8001);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    read_pipe(fds[0], got, sizeof got);
    close(fds[0]);
    CHECK(strncmp(got, "ts=", 3) == 0 && is_timestamp(got + 3));
    CHECK_STR(got + 27, " prog=ws-worker event=start msg=\"listening on 127.0.0.1:8001\"\n");
}

/* log_redact_query(uri) into a roomy buffer; checks the returned length against the text. */
static const char *redact(const char *uri) {
    static char out[512];
    size_t n = log_redact_query(uri, out, sizeof out);
    TEST_RECORD(n == strlen(out), "log_redact_query(\"%s\") returned %zu for \"%s\"", uri, n, out);
    return out;
}

static void test_redact(void) {
    char out[16];

    TEST("log: log_redact_query leaves a URI without a query unchanged");
    CHECK_STR(redact("/"), "/");
    CHECK_STR(redact("/api/login/"), "/api/login/");
    CHECK_STR(redact(""), "");

    TEST("log: log_redact_query replaces the token value");
    CHECK_STR(redact("/?token=0123456789abcdef0123456789abcdef01234567"), "/?token=REDACTED");

    TEST("log: log_redact_query replaces every value, keeping keys and separators");
    CHECK_STR(redact("/?token=abc&x=1"), "/?token=REDACTED&x=REDACTED");
    CHECK_STR(redact("/ws/?a=1;b=2&c=3"), "/ws/?a=REDACTED;b=REDACTED&c=REDACTED");

    TEST("log: log_redact_query replaces a bare item (no =), which could itself be a secret");
    CHECK_STR(redact("/?0123456789abcdef"), "/?REDACTED");
    CHECK_STR(redact("/?debug&token=x"), "/?REDACTED&token=REDACTED");

    TEST("log: log_redact_query keeps empty values, empty keys and empty items in place");
    CHECK_STR(redact("/?token="), "/?token=REDACTED");
    CHECK_STR(redact("/?=abc"), "/?=REDACTED");
    CHECK_STR(redact("/?"), "/?");
    CHECK_STR(redact("/?&&"), "/?&&");
    CHECK_STR(redact("/?a=1&&b=2&"), "/?a=REDACTED&&b=REDACTED&");

    TEST("log: log_redact_query replaces a value containing = or percent-escapes whole");
    CHECK_STR(redact("/?token=a=b=c"), "/?token=REDACTED");
    CHECK_STR(redact("/?token=a%26b%3Dc"), "/?token=REDACTED");

    TEST("log: log_redact_query drops the fragment, with or without a query");
    CHECK_STR(redact("/?token=abc#frag"), "/?token=REDACTED");
    CHECK_STR(redact("/page#section"), "/page");
    CHECK_STR(redact("/?#x"), "/?");
    CHECK_STR(redact("/?a=1#b=2&c=3"), "/?a=REDACTED");

    TEST("log: log_redact_query: a '?' inside the fragment is no query, and the fragment is "
         "dropped all the same");
    CHECK_STR(redact("/page#frag?token=abc"), "/page");

    TEST("log: log_redact_query counts a second '?' as part of the value");
    CHECK_STR(redact("/?token=a?b&c=d"), "/?token=REDACTED&c=REDACTED");

    TEST("log: log_redact_query cuts and terminates in a buffer too small; the length says what "
         "was written");
    CHECK_INT(log_redact_query("/?token=abc", out, 5), 4);
    CHECK_STR(out, "/?to");
    CHECK_INT(log_redact_query("/?token=abcdef", out, 12), 11);
    CHECK_STR(out, "/?token=RED");
    CHECK_INT(log_redact_query("/a/long/path/here", out, 8), 7);
    CHECK_STR(out, "/a/long");

    TEST("log: log_redact_query writes just the terminator into a one-byte buffer");
    out[0] = 'x';
    CHECK_INT(log_redact_query("/?token=abc", out, 1), 0);
    CHECK_STR(out, "");

    TEST("log: log_redact_query does not touch a zero-length buffer");
    out[0] = 'x';
    CHECK_INT(log_redact_query("/?token=abc", out, 0), 0);
    CHECK_INT(out[0], 'x');

    TEST("log: log_redact_query never lets the secret through, whatever the buffer size");
    for (size_t size = 1; size <= sizeof out; size++) {
        log_redact_query("/?k=SECRET&SECRET", out, size);
        CHECK(strstr(out, "SECRET") == NULL && strstr(out, "SECR") == NULL);
    }
}

/* A line of exactly n bytes with its newline: " k=" and n - 4 filler characters. */
static void filler_line(struct log_line *line, size_t n, char fill) {
    char value[LOG_LINE_MAX];
    memset(value, fill, n - 4);
    value[n - 4] = '\0';
    empty_line(line);
    log_str(line, "k", value);
}

static void test_buffer(void) {
    static struct log_buffer b;
    static char got[2 * LOG_BUFFER_SIZE];
    struct log_line line;
    int fds[2];

    TEST("log: buffered lines wait: nothing reaches the fd before a flush");
    CHECK_INT(pipe(fds), 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    log_buffer_init(&b, fds[1]);
    empty_line(&line);
    log_str(&line, "event", "connect");
    log_end_buffered(&line, &b);
    empty_line(&line);
    log_str(&line, "event", "close");
    log_end_buffered(&line, &b);
    CHECK_INT(read_pipe(fds[0], got, sizeof got), 0);

    TEST("log: a flush writes the buffered lines whole and in order, and empties the buffer");
    log_buffer_flush(&b);
    read_pipe(fds[0], got, sizeof got);
    CHECK_STR(got, " event=connect\n event=close\n");
    CHECK_INT(b.len, 0);

    TEST("log: flushing an empty line buffer writes nothing");
    log_buffer_flush(&b);
    CHECK_INT(read_pipe(fds[0], got, sizeof got), 0);

    TEST("log: a line that would not fit in the buffer sends out the held lines first, and waits "
         "itself");
    size_t n_lines = LOG_BUFFER_SIZE / 1000, held = 0;
    for (size_t i = 0; i < n_lines; i++) {
        filler_line(&line, 1000, (char)('a' + i % 26));
        log_end_buffered(&line, &b);
        held += 1000;
    }
    CHECK_INT(read_pipe(fds[0], got, sizeof got), 0);
    filler_line(&line, LOG_BUFFER_SIZE - held + 1, 'z');
    log_end_buffered(&line, &b);
    CHECK_INT(read_pipe(fds[0], got, sizeof got), held);
    int whole = 1;
    for (size_t i = 0; i < n_lines; i++)
        whole &= got[i * 1000] == ' ' && got[i * 1000 + 3] == (char)('a' + i % 26) &&
                 got[i * 1000 + 999] == '\n';
    CHECK(whole);
    CHECK_INT(b.len, LOG_BUFFER_SIZE - held + 1);

    TEST("log: a line that fills the line buffer exactly stays held; the longest line fits");
    log_buffer_flush(&b);
    read_pipe(fds[0], got, sizeof got);
    for (size_t i = 0; i < n_lines; i++) {
        filler_line(&line, 1000, 'q');
        log_end_buffered(&line, &b);
    }
    filler_line(&line, LOG_BUFFER_SIZE - n_lines * 1000, 'r');
    log_end_buffered(&line, &b);
    CHECK_INT(b.len, LOG_BUFFER_SIZE);
    CHECK_INT(read_pipe(fds[0], got, sizeof got), 0);
    char longest[LOG_LINE_MAX * 2];
    memset(longest, 'x', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    empty_line(&line);
    log_str(&line, "k", longest); /* cut to the line maximum */
    log_end_buffered(&line, &b);
    CHECK_INT(read_pipe(fds[0], got, sizeof got), LOG_BUFFER_SIZE);
    CHECK_INT(b.len, line.len);
    CHECK(b.buf[b.len - 1] == '\n');
    close(fds[0]);
    close(fds[1]);
}

void test_log(void) {
    test_values();
    test_truncation();
    test_write();
    test_redact();
    test_buffer();
}
