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
 *
 * In place (pxcri-init's "x": the process is the CT's PID 1) there is no
 * exit file nor a ctl holder to watch: the process writes to the FIFOs
 * <run>/out and <run>/err, whose read ends pxcri create opened before the
 * start and handed us, and we copy what comes as it comes (conmon makes the
 * CRI records); the exit status comes from the kernel (pmx_procexit.c, on a
 * socket subscribed before the CT started), the end from a pidfd of the
 * CT's init, and we write the code to <root>/proxmox/<id>/exit (out of the
 * container's reach) and exit with it.  Signals go to that pid.  When the
 * status is lost (ENOBUFS at the wrong moment, or no event for the pid)
 * we say so on stderr, write "unknown" and exit 255: never a guess.
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
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define LINE_MAX_BYTES (64u << 10)
#define POLL_MS 250
#define EXIT_KILLED 137
#define STDIN_BUF 4096
#define COPY_BUF 65536
/* After the end, read at most this much more of out and err. */
#define DRAIN_MAX (16u << 20)
#define EXIT_UNKNOWN 255
/* How long the exit event may come after the pidfd said the init is gone. */
#define EVENT_WAIT_MS 5000

struct waiter {
        const char *run;
        /* in place: see the header */
        bool in_place;
        const char *exit_path;
        pid_t init;
        int nl, pidfd, out, err;
        struct pmx_exit_watch watch;
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

/* One read of a FIFO to our fd; the FIFO closed (-1) at its end. */
static ssize_t copy_once(int *from, int to)
{
        static char buf[COPY_BUF];
        ssize_t n = read(*from, buf, sizeof(buf));

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                close(*from);
                *from = -1;
                return -1;
        }
        write_all(to, buf, (size_t) n);
        return n;
}

/* What is left in a FIFO once the CT's processes are gone (a grandchild
 * that kept writing is gone too: PID 1's end ends its namespace). */
static void drain(int *from, int to)
{
        size_t total = 0;
        ssize_t n;

        while (*from >= 0 && total < DRAIN_MAX && (n = copy_once(from, to)) > 0)
                total += (size_t) n;
        if (*from >= 0)
                close(*from);
        *from = -1;
}

static void record_code(const char *path, const char *text)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        if (path && fs_write_atomic(path, text, strlen(text), 0600, &e) < 0)
                fprintf(stderr, "pxcri: recording the exit code: %s\n", e->msg);
}

/* The CT's init is gone: the last output, the status from the kernel. */
static int finish_in_place(struct waiter *w)
{
        char text[16];
        int code;

        /* The kernel sends the event after the pidfd woke us (do_exit():
         * exit_notify(), then proc_exit_connector()), and a task already
         * reaped may not have sent it yet: give it a moment. */
        for (int ms = 0; !w->watch.have && !w->watch.lost && ms < EVENT_WAIT_MS; ms += 10) {
                struct pollfd p = { .fd = w->nl, .events = POLLIN };

                if (pmx_procexit_read(w->nl, w->init, &w->watch) < 0)
                        break;
                if (!w->watch.have && !w->watch.lost)
                        poll(&p, 1, 10);
        }
        pmx_procexit_read(w->nl, w->init, &w->watch);
        drain(&w->out, STDOUT_FILENO);
        drain(&w->err, STDERR_FILENO);
        relay(w);
        if (w->watch.have && !w->watch.lost) {
                code = WIFEXITED(w->watch.status)     ? WEXITSTATUS(w->watch.status)
                       : WIFSIGNALED(w->watch.status) ? 128 + WTERMSIG(w->watch.status)
                                                      : EXIT_UNKNOWN;
                snprintf(text, sizeof(text), "%d\n", code);
                record_code(w->exit_path, text);
                return code;
        }
        fprintf(stderr, "pxcri: the exit status of the container's process (host pid %d) is unknown: %s\n",
                (int) w->init,
                w->watch.lost ? "the kernel dropped process events (proc connector ENOBUFS) when it exited"
                              : "no exit event came for it");
        record_code(w->exit_path, "unknown\n");
        return EXIT_UNKNOWN;
}

static void forward_signal(const struct waiter *w, int sig)
{
        /* In place: to the CT's init itself.  Before the exec pxcri-init
         * blocks every signal and reads them (a fatal one before the start
         * ends the container); after it, one the process has no handler
         * for is dropped by the kernel, as for runc's PID 1. */
        if (w->in_place)
                syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0);
        else
                pmx_ctl_send(w->run, (unsigned char) sig, NULL);
}

/* Whether the CT's init (or pxcri-init) ended; the exit code then. */
static bool ended(struct waiter *w, bool init_gone, int *ret_code)
{
        int code;

        relay(w);
        if (w->in_place) {
                if (!init_gone)
                        return false;
                *ret_code = finish_in_place(w);
                return true;
        }
        if ((code = pmx_run_exit(w->run)) >= 0) {
                relay(w);
                *ret_code = code;
                return true;
        }
        if (pmx_ctl_alive(w->run))
                return false;
        /* exit may have been renamed in just before pxcri-init closed ctl */
        code = pmx_run_exit(w->run);
        relay(w);
        *ret_code = code >= 0 ? code : EXIT_KILLED;
        return true;
}

enum { PW_SIG, PW_INO, PW_STDIN, PW_FIFO, PW_NL, PW_PIDFD, PW_OUT, PW_ERR, PW_MAX };

static int waiter_main(void *data)
{
        static struct waiter w;
        const struct pmx_waiter_args *arg = data;
        sigset_t set;
        int sfd, ino, code, fd = 3;
        bool check = true, gone = false;

        /* spawn_fork_fds() numbered the descriptors 3, 4, ... in this order */
        w.run = arg->run;
        w.log_fd = -1;
        w.fifo = arg->stdin_fifo >= 0 ? fd++ : -1;
        w.in_place = arg->in_place;
        w.exit_path = arg->exit_path;
        w.init = arg->init;
        w.nl = arg->nl >= 0 ? fd++ : -1;
        w.pidfd = arg->pidfd >= 0 ? fd++ : -1;
        w.out = arg->out >= 0 ? fd++ : -1;
        w.err = arg->err >= 0 ? fd++ : -1;
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
                struct pollfd p[PW_MAX] = {
                        [PW_SIG] = { .fd = sfd, .events = POLLIN },    [PW_INO] = { .fd = ino, .events = POLLIN },
                        [PW_STDIN] = { .fd = -1, .events = POLLIN },   [PW_FIFO] = { .fd = -1, .events = POLLOUT },
                        [PW_NL] = { .fd = w.nl, .events = POLLIN },    [PW_PIDFD] = { .fd = w.pidfd, .events = POLLIN },
                        [PW_OUT] = { .fd = w.out, .events = POLLIN },  [PW_ERR] = { .fd = w.err, .events = POLLIN },
                };
                struct signalfd_siginfo si;

                if (check && ended(&w, gone, &code))
                        return code;
                /* Our stdin while nothing is pending, else the FIFO. */
                p[PW_STDIN].fd = w.fifo >= 0 && w.in_len == 0 ? STDIN_FILENO : -1;
                p[PW_FIFO].fd = w.fifo >= 0 && w.in_len > 0 ? w.fifo : -1;
                check = poll(p, PW_MAX, POLL_MS) <= 0;
                if (check)
                        continue;
                stdin_pump(&w, p[PW_STDIN].revents, p[PW_FIFO].revents);
                if (p[PW_OUT].revents)
                        copy_once(&w.out, STDOUT_FILENO);
                if (p[PW_ERR].revents)
                        copy_once(&w.err, STDERR_FILENO);
                if (p[PW_NL].revents)
                        pmx_procexit_read(w.nl, w.init, &w.watch);
                gone |= p[PW_PIDFD].revents != 0;
                check = run_dir_changed(ino) || p[PW_SIG].revents || gone;
                while (sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si))
                        if (si.ssi_signo != SIGCHLD && si.ssi_signo <= 64)
                                forward_signal(&w, (int) si.ssi_signo);
        }
}

pid_t pmx_waiter_start(const struct pmx_waiter_args *a, struct pxe **err)
{
        static struct pmx_waiter_args arg; /* the child reads it after the fork */
        int fds[5];
        size_t n = 0;

        arg = *a;
        /* in the order waiter_main() numbers them */
        for (size_t i = 0; i < 5; i++) {
                int fd = (int[]) { a->stdin_fifo, a->nl, a->pidfd, a->out, a->err }[i];

                if (fd >= 0)
                        fds[n++] = fd;
        }
        if (n == 0)
                return spawn_fork(waiter_main, &arg, err);
        return spawn_fork_fds(waiter_main, &arg, fds, n, err);
}

bool pmx_stdin_carried(void)
{
        struct stat st;

        if (fstat(STDIN_FILENO, &st) < 0)
                return false;
        return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode);
}
