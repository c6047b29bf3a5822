#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

static const char *level_names[LOG_LEVEL_MAX] = {
        [LOG_LEVEL_DEBUG] = "debug",
        [LOG_LEVEL_INFO] = "info",
        [LOG_LEVEL_WARN] = "warning",
        [LOG_LEVEL_ERROR] = "error",
};

static struct {
        const char *program;
        enum log_level level;
        int fd;
        enum log_format format;
} log_state = { "pxcri", LOG_LEVEL_WARN, -1, LOG_FORMAT_TEXT };

enum log_level log_level_from_string(const char *s)
{
        if (!s)
                return LOG_LEVEL_INVALID;
        if (streq(s, "warn"))
                return LOG_LEVEL_WARN;
        for (int i = 0; i < LOG_LEVEL_MAX; i++)
                if (streq(s, level_names[i]))
                        return i;
        return LOG_LEVEL_INVALID;
}

const char *log_level_to_string(enum log_level l)
{
        return l >= 0 && l < LOG_LEVEL_MAX ? level_names[l] : "unknown";
}

enum log_format log_format_from_string(const char *s)
{
        if (s && streq(s, "text"))
                return LOG_FORMAT_TEXT;
        if (s && streq(s, "json"))
                return LOG_FORMAT_JSON;
        return LOG_FORMAT_INVALID;
}

void log_set_program(const char *name)
{
        log_state.program = name;
}

void log_set_level(enum log_level l)
{
        log_state.level = l;
}

enum log_level log_get_level(void)
{
        return log_state.level;
}

int log_open_file(const char *path, enum log_format fmt, struct pxe **err)
{
        int fd;

        if (log_state.fd >= 0)
                close(log_state.fd);
        log_state.fd = -1;
        if (!path)
                return 0;
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening log file %s", path);
        log_state.fd = fd;
        log_state.format = fmt;
        return 0;
}

void log_format_time(char *buf, size_t size)
{
        struct timespec ts;
        struct tm tm;
        char head[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf, size, "%s.%09ldZ", head, ts.tv_nsec);
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
        size_t n;

        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4;
        else
                return 0;
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

void log_json_escape(const char *s, char *out, size_t size)
{
        size_t n = 0;

        if (size == 0)
                return;
        for (; *s && n + 7 < size; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\') {
                        out[n++] = '\\';
                        out[n++] = (char) c;
                } else if (c == '\n') {
                        out[n++] = '\\';
                        out[n++] = 'n';
                } else if (c == '\t') {
                        out[n++] = '\\';
                        out[n++] = 't';
                } else if (c < 0x20) {
                        n += (size_t) snprintf(out + n, size - n, "\\u%04x", c);
                } else if (c >= 0x80) {
                        /* Invalid UTF-8 would make the line invalid JSON. */
                        size_t len = utf8_len((const unsigned char *) s);

                        if (len == 0) {
                                n += (size_t) snprintf(out + n, size - n, "\\ufffd");
                                continue;
                        }
                        memcpy(out + n, s, len);
                        n += len;
                        s += len - 1;
                } else {
                        out[n++] = (char) c;
                }
        }
        out[n] = '\0';
}

static void write_file_record(enum log_level l, const char *msg)
{
        char when[48], esc[4096], line[4352];
        int n;

        log_format_time(when, sizeof(when));
        log_json_escape(msg, esc, sizeof(esc));
        if (log_state.format == LOG_FORMAT_JSON)
                n = snprintf(line, sizeof(line), "{\"level\":\"%s\",\"msg\":\"%s\",\"time\":\"%s\"}\n",
                             level_names[l], esc, when);
        else
                n = snprintf(line, sizeof(line), "time=\"%s\" level=%s msg=\"%s\"\n", when,
                             level_names[l], esc);
        if (n > 0)
                (void) !write(log_state.fd, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
}

void log_msg(enum log_level l, const char *fmt, ...)
{
        char msg[4096];
        va_list ap;
        int saved = errno;

        if (l < log_state.level || l < 0 || l >= LOG_LEVEL_MAX)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (log_state.fd >= 0)
                write_file_record(l, msg);
        /* Errors always reach stderr as well: a human at a terminal, or
         * containerd/conmon which also capture it, should see them. */
        if (log_state.fd < 0 || l == LOG_LEVEL_ERROR) {
                if (l == LOG_LEVEL_ERROR)
                        fprintf(stderr, "%s: %s\n", log_state.program, msg);
                else
                        fprintf(stderr, "%s: %s: %s\n", log_state.program, level_names[l], msg);
        }
        errno = saved;
}
