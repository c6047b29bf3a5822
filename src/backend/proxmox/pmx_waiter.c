/* The waiter of a Proxmox container: the process the runc contract needs.
 *
 * A Proxmox container's init is started by Proxmox (lxc-start through pct
 * or pvedaemon), so it is no descendant of the caller and its stdio goes
 * nowhere.  The waiter is: forked by `pxcri create`, it stays with the
 * caller's stdout and stderr (containerd's FIFOs, conmon's pipes), turns
 * the CRI records pxcri-init appends to <run>/output.log back into the
 * stream they came from, passes the signals it gets on to pxcri-init through
 * ctl, and exits with the code pxcri-init wrote to <run>/exit (output.log is
 * complete once exit exists).  When pxcri-init vanished without one (the
 * container was stopped in Proxmox), it exits 137, as a SIGKILLed init.
 * With stdin carried (pmx_stdin_carried()) it also copies its own stdin
 * (conmon's pipe) into <run>/stdin, the FIFO pxcri-init gave the process as
 * stdin, and closes that at EOF, so the process sees EOF (stdin_once).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define LINE_MAX_BYTES (64u << 10)
#define POLL_MS 250
#define EXIT_KILLED 137
#define STDIN_BUF 4096
/* Where spawn_fork_fds() puts the stdin FIFO in the waiter. */
#define WAITER_FIFO_FD 3

struct waiter {
        const char *run;
        int log_fd;
        char line[LINE_MAX_BYTES + 1];
        size_t used;
        /* stdin: the FIFO's write end (-1: not carried, or done), and what
         * was read from our stdin but not yet written to it */
        int fifo;
        char in[STDIN_BUF];
        size_t in_len, in_off;
};

static void write_all(int fd, const char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return; /* the reader is gone: the output is dropped, the wait goes on */
                p += w;
                n -= (size_t) w;
        }
}

/* "<time> <stream> <P|F> <content>" -> content on its stream. */
static void emit(const char *line, size_t len)
{
        const char *sp1 = memchr(line, ' ', len), *sp2, *sp3;
        int fd;

        if (!sp1 || !(sp2 = memchr(sp1 + 1, ' ', len - (size_t) (sp1 + 1 - line))) ||
            !(sp3 = memchr(sp2 + 1, ' ', len - (size_t) (sp2 + 1 - line))) || sp3 != sp2 + 2)
                return;
        fd = sp2 - sp1 - 1 == 6 && memcmp(sp1 + 1, "stderr", 6) == 0 ? STDERR_FILENO : STDOUT_FILENO;
        /* A full line goes out in one write: a reader (conmon) that tags
         * what it reads as partial or full lines sees it whole. */
        write_all(fd, sp3 + 1, len - (size_t) (sp3 + 1 - line) + (sp2[1] == 'F'));
}

static void relay(struct waiter *w)
{
        ssize_t n;

        if (w->log_fd < 0) {
                w->log_fd = pmx_run_open(w->run, "output.log", O_RDONLY, S_IFREG);
                if (w->log_fd < 0)
                        return;
        }
        while ((n = read(w->log_fd, w->line + w->used, LINE_MAX_BYTES - w->used)) > 0) {
                char *start = w->line, *nl;

                w->used += (size_t) n;
                while ((nl = memchr(start, '\n', w->used - (size_t) (start - w->line)))) {
                        emit(start, (size_t) (nl - start));
                        start = nl + 1;
                }
                w->used -= (size_t) (start - w->line);
                memmove(w->line, start, w->used);
                if (w->used == LINE_MAX_BYTES) /* not a record pxcri-init writes */
                        w->used = 0;
        }
}

static void stdin_done(struct waiter *w)
{
        if (w->fifo >= 0)
                close(w->fifo);
        w->fifo = -1;
        w->in_len = w->in_off = 0;
}

/* Copy what can be copied now without blocking: read our stdin only once
 * what came before is in the FIFO.  EOF or an error on our stdin closes the
 * FIFO (the process sees EOF); a FIFO nobody reads any more (EPIPE: the
 * process closed its stdin or ended) stops the copy. */
static void stdin_pump(struct waiter *w, short in_events, short fifo_events)
{
        ssize_t n;

        if (w->fifo < 0)
                return;
        if (w->in_len == 0 && (in_events & (POLLIN | POLLHUP | POLLERR))) {
                n = read(STDIN_FILENO, w->in, sizeof(w->in));
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        return;
                if (n <= 0) {
                        stdin_done(w);
                        return;
                }
                w->in_len = (size_t) n;
                w->in_off = 0;
                fifo_events = POLLOUT;
        }
        while (w->in_len > 0 && (fifo_events & (POLLOUT | POLLERR))) {
                n = write(w->fifo, w->in + w->in_off, w->in_len - w->in_off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n < 0) {
                        stdin_done(w);
                        return;
                }
                w->in_off += (size_t) n;
                if (w->in_off == w->in_len)
                        w->in_len = w->in_off = 0;
        }
}

/* Drain the run directory's events; whether one was not about ctl.  Our
 * own liveness check (pmx_ctl_alive()) opens and closes ctl, which is an
 * IN_CLOSE_WRITE on it: waking up for that would make the check wake us
 * again, for ever.  pxcri-init's end is seen anyway: it closes output.log
 * too, and the poll times out every POLL_MS. */
static bool run_dir_changed(int ino)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool changed = false;
        ssize_t n;

        while (ino >= 0 && (n = read(ino, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;

                        if (ev->len == 0 || strcmp(ev->name, "ctl") != 0)
                                changed = true;
                        p += sizeof(*ev) + ev->len;
                }
        return changed;
}

static int waiter_main(void *data)
{
        static struct waiter w;
        const struct waiter *arg = data;
        sigset_t set;
        int sfd, ino, code;
        bool check = true;

        w.run = arg->run;
        w.log_fd = -1;
        w.fifo = arg->fifo >= 0 ? WAITER_FIFO_FD : -1;
        signal(SIGPIPE, SIG_IGN);
        sigfillset(&set);
        sigdelset(&set, SIGPIPE);
        sigdelset(&set, SIGSEGV);
        sigdelset(&set, SIGBUS);
        sigprocmask(SIG_BLOCK, &set, NULL);
        sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (ino >= 0)
                inotify_add_watch(ino, w.run, IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE);
        for (;;) {
                struct pollfd p[4] = { { .fd = sfd, .events = POLLIN }, { .fd = ino, .events = POLLIN },
                                       { .fd = -1, .events = POLLIN }, { .fd = -1, .events = POLLOUT } };
                struct signalfd_siginfo si;

                if (check) {
                        relay(&w);
                        if ((code = pmx_run_exit(w.run)) >= 0) {
                                relay(&w);
                                return code;
                        }
                        if (!pmx_ctl_alive(w.run)) {
                                /* exit may have been renamed in just before pxcri-init closed ctl */
                                code = pmx_run_exit(w.run);
                                relay(&w);
                                return code >= 0 ? code : EXIT_KILLED;
                        }
                }
                /* Our stdin while nothing is pending, else the FIFO. */
                p[2].fd = w.fifo >= 0 && w.in_len == 0 ? STDIN_FILENO : -1;
                p[3].fd = w.fifo >= 0 && w.in_len > 0 ? w.fifo : -1;
                check = poll(p, 4, POLL_MS) <= 0;
                if (check)
                        continue;
                stdin_pump(&w, p[2].revents, p[3].revents);
                check = run_dir_changed(ino) || p[0].revents;
                while (sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si))
                        if (si.ssi_signo != SIGCHLD && si.ssi_signo <= 64)
                                pmx_ctl_send(w.run, (unsigned char) si.ssi_signo, NULL);
        }
}

pid_t pmx_waiter_start(const char *run, int stdin_fifo, struct pxe **err)
{
        static struct waiter arg; /* large: not on the stack */

        arg.run = run;
        arg.fifo = stdin_fifo;
        if (stdin_fifo < 0)
                return spawn_fork(waiter_main, &arg, err);
        return spawn_fork_fds(waiter_main, &arg, &stdin_fifo, 1, err);
}

bool pmx_stdin_carried(void)
{
        struct stat st;

        if (fstat(STDIN_FILENO, &st) < 0)
                return false;
        return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode);
}
