/* Logging for the edges of the program (cli/, later daemon/).
 *
 * Text goes to stderr.  With a log file (runc's `--log FILE`), every record is
 * also appended there, either in logrus text form
 *     time="2026-11-22T12:00:00.000000000Z" level=error msg="..."
 * or, with `--log-format json`, one JSON object per line
 *     {"level":"error","msg":"...","time":"2026-11-22T12:00:00.000000000Z"}
 * which is what containerd's shim and CRI-O read back on failure.
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

enum log_level {
        LOG_LEVEL_DEBUG,
        LOG_LEVEL_INFO,
        LOG_LEVEL_WARN,
        LOG_LEVEL_ERROR,
        LOG_LEVEL_MAX,
        LOG_LEVEL_INVALID = -1,
};

enum log_format {
        LOG_FORMAT_TEXT,
        LOG_FORMAT_JSON,
        LOG_FORMAT_MAX,
        LOG_FORMAT_INVALID = -1,
};

enum log_level log_level_from_string(const char *s);
const char *log_level_to_string(enum log_level l);
enum log_format log_format_from_string(const char *s);

/* Program name used as the stderr prefix ("pxcri: ..."). */
void log_set_program(const char *name);
void log_set_level(enum log_level l);
enum log_level log_get_level(void);

/* Open (append, O_CLOEXEC, 0600 when created) the log file.  path NULL closes it. */
int log_open_file(const char *path, enum log_format fmt, struct pxe **err);

void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Format `now` as RFC 3339 with nanoseconds in UTC into buf (>= 40 bytes). */
void log_format_time(char *buf, size_t size);

/* Append s to out as a JSON string body (no quotes), escaping as RFC 8259 asks. */
void log_json_escape(const char *s, char *out, size_t size);
