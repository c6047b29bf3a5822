#include "init_output.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_BUF (16u << 10)
/* After the child exited, read at most this much more per stream: a
 * grandchild that keeps writing must not keep us from exiting. */
#define DRAIN_MAX (16u << 20)
#define SIGNAL_MAX 64
/* A partial line (a prompt, `echo -n`) goes out as a "P" record once the
 * stream was quiet this long: an attached client must see it without
 * waiting for a newline, while a line written in pieces in one burst stays
 * one record. */
#define PARTIAL_FLUSH_MS 100

struct stream {
        int fd;
        const char *name;
        size_t len;
        char buf[LINE_BUF];
};

/* One record, in a single write so that records never interleave. */
static void log_record(int log, const char *stream, char tag, const char *s, size_t n)
{
        static char rec[LINE_BUF + 128];
        struct timespec ts;
        struct tm tm;
        size_t len, off = 0;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        len = strftime(rec, 32, "%Y-%m-%dT%H:%M:%S", &tm);
        len += (size_t) snprintf(rec + len, 64, ".%09ldZ %s %c ", ts.tv_nsec, stream, tag);
        memcpy(rec + len, s, n);
        len += n;
        rec[len++] = '\n';
        while (off < len) {
                ssize_t w = write(log, rec + off, len - off);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return; /* a full disk must not stop the process */
                off += (size_t) w;
        }
}

void init_output_log_line(int log, const char *stream, const char *line)
{
        log_record(log, stream, 'F', line, strnlen(line, LINE_BUF));
}

/* Read once.  Returns the bytes read, 0 when nothing is readable now, -1
 * once the stream ended (fd closed, set to -1). */
static ssize_t stream_read(struct stream *s, int log)
{
        ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
        size_t start = 0;
        char *nl;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                close(s->fd);
                s->fd = -1;
                return -1;
        }
        s->len += (size_t) n;
        while ((nl = memchr(s->buf + start, '\n', s->len - start))) {
                log_record(log, s->name, 'F', s->buf + start, (size_t) (nl - s->buf) - start);
                start = (size_t) (nl - s->buf) + 1;
        }
        if (start == 0 && s->len == sizeof(s->buf)) {
                log_record(log, s->name, 'P', s->buf, s->len);
                s->len = 0;
        } else if (start > 0) {
                memmove(s->buf, s->buf + start, s->len - start);
                s->len -= start;
        }
        return n;
}

static void stream_flush_partial(struct stream *s, int log)
{
        if (s->len)
                log_record(log, s->name, 'P', s->buf, s->len);
        s->len = 0;
}

static void stream_finish(struct stream *s, int log)
{
        size_t drained = 0;
        ssize_t n;

        while (s->fd >= 0 && drained < DRAIN_MAX && (n = stream_read(s, log)) > 0)
                drained += (size_t) n;
        if (s->len)
                log_record(log, s->name, 'P', s->buf, s->len);
        s->len = 0;
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
}

/* Reap everything (we are the container's PID 1); true once child is. */
static bool reap(pid_t child, int *ret_status)
{
        bool done = false;
        int status;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                if (pid == child) {
                        *ret_status = status;
                        done = true;
                }
        return done;
}

/* The next signal from sigfd, 0 if none is pending. */
static int next_signal(int sigfd)
{
        struct signalfd_siginfo si;
        ssize_t n = read(sigfd, &si, sizeof(si));

        return n == (ssize_t) sizeof(si) ? (int) si.ssi_signo : 0;
}

/* The next byte from ctl, -1 if none is pending. */
static int next_ctl(int ctl)
{
        unsigned char b;

        if (ctl < 0 || read(ctl, &b, 1) != 1)
                return -1;
        return b;
}

int init_output_wait_start(const struct init_output *o, const int *fatal, size_t n_fatal)
{
        struct pollfd pfd[2] = { { .fd = o->sigfd, .events = POLLIN }, { .fd = o->ctl, .events = POLLIN } };
        int sig, b, unused;

        for (;;) {
                poll(pfd, 2, -1); /* the reads below do not block either way */
                while ((sig = next_signal(o->sigfd)) > 0) {
                        if (sig == SIGCHLD)
                                reap(0, &unused);
                        for (size_t i = 0; i < n_fatal; i++)
                                if (sig == fatal[i])
                                        return sig;
                }
                /* One byte at a time: what follows the start byte is for
                 * the process. */
                while ((b = next_ctl(o->ctl)) >= 0)
                        if (b <= SIGNAL_MAX)
                                return b;
        }
}

int init_output_supervise(const struct init_output *o, pid_t child)
{
        static struct stream out = { .name = "stdout" }, err = { .name = "stderr" };
        struct pollfd pfd[4] = {
                { .fd = o->sigfd, .events = POLLIN }, { .fd = o->ctl, .events = POLLIN },
                { .events = POLLIN }, { .events = POLLIN },
        };
        bool done = false;
        int status = 0, sig, b;

        out.fd = o->out;
        err.fd = o->err;
        while (!done) {
                pfd[2].fd = out.fd; /* poll() skips the ended ones (-1) */
                pfd[3].fd = err.fd;
                /* the reads below do not block either way */
                if (poll(pfd, 4, out.len || err.len ? PARTIAL_FLUSH_MS : -1) == 0) {
                        stream_flush_partial(&out, o->log);
                        stream_flush_partial(&err, o->log);
                        continue;
                }
                if (out.fd >= 0)
                        stream_read(&out, o->log);
                if (err.fd >= 0)
                        stream_read(&err, o->log);
                while ((sig = next_signal(o->sigfd)) > 0) {
                        if (sig == SIGCHLD)
                                done |= reap(child, &status);
                        else if (!done)
                                kill(child, sig);
                }
                while ((b = next_ctl(o->ctl)) >= 0)
                        if (b >= 1 && b <= SIGNAL_MAX && !done)
                                kill(child, b);
        }
        stream_finish(&out, o->log);
        stream_finish(&err, o->log);
        fsync(o->log);
        return status;
}
