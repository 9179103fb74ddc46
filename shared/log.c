/* log.c -- one structured (logfmt) line per event, secrets kept out.
 *
 * A line is assembled in a fixed buffer inside struct log_line, so logging never allocates and a
 * long value is cut (ending in "...") rather than splitting the line. Values that are not a plain
 * run of safe characters are quoted, with \" \\ \n \t and \xNN escapes, so whatever a client
 * sends (a username with a newline) cannot forge a line. The whole line goes out in one write(2):
 * several processes appending to one log keep whole lines. A log_buffer holds whole lines and
 * writes several in one write(2), so they stay whole too. */
#include "log.h"

#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Room kept at the end of the buffer for "..." and the newline. */
#define LOG_RESERVE 5

static void append(struct log_line *line, const char *s, size_t n) {
    if (line->len > LOG_LINE_MAX - LOG_RESERVE)
        return; /* already cut and marked */
    /* Filled exactly by earlier appends (room 0), a non-empty append is cut entirely and the
     * cut is marked, as for any append that does not fit. */
    size_t room = LOG_LINE_MAX - LOG_RESERVE - line->len;
    if (n > room) {
        memcpy(line->buf + line->len, s, room);
        line->len += room;
        memcpy(line->buf + line->len, "...", 3);
        line->len += 3;
        return;
    }
    memcpy(line->buf + line->len, s, n);
    line->len += n;
}

static int is_bare_char(unsigned char c) {
    return c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
}

static void append_value(struct log_line *line, const char *value) {
    size_t n = strlen(value);
    int is_bare = n > 0;
    for (size_t i = 0; i < n && is_bare; i++)
        is_bare = is_bare_char((unsigned char)value[i]);
    if (is_bare) {
        append(line, value, n);
        return;
    }
    append(line, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            append(line, esc, 2);
        } else if (c == '\n') {
            append(line, "\\n", 2);
        } else if (c == '\t') {
            append(line, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            append(line, esc, 4);
        } else {
            append(line, (const char *)&value[i], 1); /* UTF-8 bytes pass through */
        }
    }
    append(line, "\"", 1);
}

static void append_key(struct log_line *line, const char *key) {
    append(line, " ", 1);
    append(line, key, strlen(key));
    append(line, "=", 1);
}

/* Writes value as exactly `width` decimal digits (leading zeros) at out. */
static void put_digits(char *out, long value, int width) {
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

void log_begin(struct log_line *line, const char *program, const char *event) {
    struct timespec now;
    struct tm tm;
    /* "ts=YYYY-MM-DDTHH:MM:SS.mmmZ", the digits placed directly: strftime and snprintf were a
     * third of a login's logging. Years past 9999 are not expected. */
    char ts[] = "ts=0000-00-00T00:00:00.000Z";

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    put_digits(ts + 3, tm.tm_year + 1900L, 4);
    put_digits(ts + 8, tm.tm_mon + 1L, 2);
    put_digits(ts + 11, tm.tm_mday, 2);
    put_digits(ts + 14, tm.tm_hour, 2);
    put_digits(ts + 17, tm.tm_min, 2);
    put_digits(ts + 20, tm.tm_sec, 2);
    put_digits(ts + 23, now.tv_nsec / 1000000, 3);
    line->len = 0;
    append(line, ts, sizeof ts - 1);
    log_str(line, "prog", program);
    log_str(line, "event", event);
}

void log_str(struct log_line *line, const char *key, const char *value) {
    append_key(line, key);
    append_value(line, value ? value : "-");
}

void log_int(struct log_line *line, const char *key, long long value) {
    char text[32];
    size_t n = 0;
    if (value < 0)
        text[n++] = '-';
    /* The magnitude as unsigned: -LLONG_MIN does not fit in a long long. */
    n += text_put_decimal(text + n,
                          value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value);
    append_key(line, key);
    append(line, text, n);
}

void log_ms(struct log_line *line, const char *key, double ms) {
    char text[40];
    /* Two decimals, rounded half away from zero; printf's %.2f for what falls outside (it
     * rounds the binary value, which can differ in the last digit: a duration, not money). */
    if (!(ms > -1e15 && ms < 1e15)) {
        snprintf(text, sizeof text, "%.2f", ms);
        append_key(line, key);
        append(line, text, strlen(text));
        return;
    }
    long long hundredths = (long long)(ms * 100.0 + (ms < 0 ? -0.5 : 0.5));
    unsigned long long magnitude =
        hundredths < 0 ? 0ULL - (unsigned long long)hundredths : (unsigned long long)hundredths;
    size_t n = 0;
    if (hundredths < 0)
        text[n++] = '-';
    n += text_put_decimal(text + n, magnitude / 100);
    text[n++] = '.';
    put_digits(text + n, (long)(magnitude % 100), 2);
    append_key(line, key);
    append(line, text, n + 2);
}

/* Writes all of buf to fd; on failure the rest is dropped (there is nowhere to report it). */
static void write_all(int fd, const char *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
}

void log_end(struct log_line *line, int fd) {
    line->buf[line->len++] = '\n';
    write_all(fd, line->buf, line->len);
}

_Static_assert(LOG_BUFFER_SIZE >= LOG_LINE_MAX, "a whole line must fit in an empty log_buffer");

void log_buffer_init(struct log_buffer *b, int fd) {
    b->fd = fd;
    b->len = 0;
}

void log_end_buffered(struct log_line *line, struct log_buffer *b) {
    line->buf[line->len++] = '\n';
    if (b->len + line->len > sizeof b->buf)
        log_buffer_flush(b);
    memcpy(b->buf + b->len, line->buf, line->len);
    b->len += line->len;
}

void log_buffer_flush(struct log_buffer *b) {
    if (b->len)
        write_all(b->fd, b->buf, b->len);
    b->len = 0;
}

void log_msg(const char *program, const char *event, const char *fmt, ...) {
    struct log_line line;
    char msg[LOG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_begin(&line, program, event);
    log_str(&line, "msg", msg);
    log_end(&line, STDERR_FILENO);
}

size_t log_redact_query(const char *uri, char *out, size_t out_len) {
    static const char redacted[] = "REDACTED";
    size_t path_len = strcspn(uri, "?#"); /* a '?' after the '#' is part of the fragment */
    const char *query = uri[path_len] == '?' ? uri + path_len : NULL;
    size_t len = 0;

    if (out_len == 0)
        return 0;
    text_append(out, out_len, &len, uri, path_len);
    if (!query)
        return len; /* text_append keeps out terminated */
    text_append(out, out_len, &len, "?", 1);
    /* Item by item: a key followed by '=' is kept, every value, and every item without '=' (it
     * could be a bare secret), is replaced. The fragment is dropped: it is never sent. */
    for (const char *item = query + 1; *item && *item != '#';) {
        size_t item_len = strcspn(item, "&;#");
        const char *eq = memchr(item, '=', item_len);
        if (eq) {
            text_append(out, out_len, &len, item, (size_t)(eq - item) + 1);
            text_append(out, out_len, &len, redacted, sizeof redacted - 1);
        } else if (item_len > 0) {
            text_append(out, out_len, &len, redacted, sizeof redacted - 1);
        }
        item += item_len;
        if (*item == '&' || *item == ';')
            text_append(out, out_len, &len, item++, 1);
    }
    return len;
}
