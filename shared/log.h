/* log.h -- one structured line per event, to stderr, with secrets kept out.
 *
 * A line is logfmt: `ts=2026-11-28T18:00:00.123Z prog=login-fcgi event=login addr=127.0.0.1
 * user="ann" outcome=ok status=200 ms=1.20`. Values with spaces, quotes or control characters are
 * quoted and escaped, so a hostile username cannot forge a second line. Lines are built in a
 * fixed buffer and written with one write(2), so processes sharing stderr do not interleave.
 * Callers never pass a token or a password; URLs go through log_redact_query() first. */
#ifndef TOKENAUTH_LOG_H
#define TOKENAUTH_LOG_H

#include <stddef.h>

#define LOG_LINE_MAX 2048

struct log_line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

/* Starts a line with ts=, prog= and event=. */
void log_begin(struct log_line *line, const char *program, const char *event);

/* Appends key=value, quoting value when needed; NULL value writes key=-. Truncates with "..."
 * when the line is full. */
void log_str(struct log_line *line, const char *key, const char *value);
void log_int(struct log_line *line, const char *key, long long value);
void log_ms(struct log_line *line, const char *key, double ms);

/* Writes the line and a newline to file descriptor fd in one write. */
void log_end(struct log_line *line, int fd);

/* Whole lines held for one write(2): a busy process (ws-worker) appends its lines here and
 * writes them out together, in order, instead of one write per line. The owner flushes it
 * regularly and before exit; lines still held when the process dies are lost. */
#define LOG_BUFFER_SIZE 16384 /* at least LOG_LINE_MAX: a line always fits once flushed */

struct log_buffer {
    int fd;
    size_t len;
    char buf[LOG_BUFFER_SIZE];
};

/* An empty buffer whose lines go to file descriptor fd. */
void log_buffer_init(struct log_buffer *b, int fd);

/* Adds the line and a newline to b, first writing out what b holds when it would not fit. */
void log_end_buffered(struct log_line *line, struct log_buffer *b);

/* Writes out what b holds (whole lines, in order) in one write, and empties it. */
void log_buffer_flush(struct log_buffer *b);

/* A free-form event: log_begin + msg="<formatted>" + log_end, to stderr. */
void log_msg(const char *program, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies uri to out (out_len bytes) with every query value replaced by "REDACTED":
 * "/?token=abc&x=1" becomes "/?token=REDACTED&x=REDACTED". Returns the length written. */
size_t log_redact_query(const char *uri, char *out, size_t out_len);

#endif
