#include "util/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

#define SPAWN_CAPTURE_MAX (16u << 20)
#define SPAWN_KEEP_MAX 16

extern char **environ;

struct capture {
        int fd;
        char *buf;
        size_t len, cap;
};

/* What is still to be written to the child's stdin. */
struct feed {
        int fd;
        const char *buf;
        size_t len, off;
};

/* keep_fds[i] becomes the child's 3 + i.  A source that is itself one of
 * the targets would be overwritten by an earlier dup2: such sources are first
 * copied above the targets (moved[i], closed by the caller). */
static int add_keep_fds(const struct spawn_opts *o, posix_spawn_file_actions_t *fa, int *moved)
{
        int top = 3 + (int) o->n_keep_fds;

        for (size_t i = 0; i < o->n_keep_fds; i++) {
                int fd = o->keep_fds[i];

                moved[i] = -1;
                if (fd >= 3 && fd < top) {
                        moved[i] = fcntl(fd, F_DUPFD_CLOEXEC, top);
                        if (moved[i] < 0)
                                return errno;
                }
        }
        for (size_t i = 0; i < o->n_keep_fds; i++) {
                int r = posix_spawn_file_actions_adddup2(fa, moved[i] >= 0 ? moved[i] : o->keep_fds[i],
                                                         3 + (int) i);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int start_child(const struct spawn_opts *o, int in_r, int out_w, int err_w, pid_t *ret_pid,
                       struct pxe **err)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t all, none;
        int moved[SPAWN_KEEP_MAX];
        int r;

        if (o->n_keep_fds > SPAWN_KEEP_MAX)
                return pxe_set(err, EINVAL, "Too many descriptors to pass to %s", o->argv[0]);

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigfillset(&all);
        sigemptyset(&none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                                (o->own_pgroup ? POSIX_SPAWN_SETPGROUP : 0));
        posix_spawnattr_setpgroup(&attr, 0);
        if (in_r >= 0)
                posix_spawn_file_actions_adddup2(&fa, in_r, STDIN_FILENO);
        else if (o->null_stdin)
                posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (out_w >= 0)
                posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
        if (err_w >= 0)
                posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
        r = add_keep_fds(o, &fa, moved);
        if (r == 0 && o->cwd)
                r = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
        if (r == 0)
                r = posix_spawn(ret_pid, o->path ? o->path : o->argv[0], &fa, &attr,
                                (char *const *) o->argv, o->envp ? o->envp : environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        for (size_t i = 0; i < o->n_keep_fds; i++)
                if (moved[i] >= 0)
                        close(moved[i]);
        if (r != 0)
                return pxe_set_errno(err, r, "Executing %s", o->path ? o->path : o->argv[0]);
        return 0;
}

pid_t spawn_start(const struct spawn_opts *o, struct pxe **err)
{
        pid_t pid;
        int r = start_child(o, -1, -1, -1, &pid, err);

        return r < 0 ? r : pid;
}

pid_t spawn_start_piped(const struct spawn_opts *o, int *ret_out, int *ret_err, struct pxe **err)
{
        int out[2], errp[2];
        pid_t pid;
        int r;

        if (pipe2(out, O_CLOEXEC) < 0)
                return pxe_set_errno(err, errno, "Creating pipe");
        if (pipe2(errp, O_CLOEXEC) < 0) {
                r = pxe_set_errno(err, errno, "Creating pipe");
                close(out[0]);
                close(out[1]);
                return r;
        }
        r = start_child(o, -1, out[1], errp[1], &pid, err);
        close(out[1]);
        close(errp[1]);
        if (r < 0) {
                close(out[0]);
                close(errp[0]);
                return r;
        }
        *ret_out = out[0];
        *ret_err = errp[0];
        return pid;
}

pid_t spawn_fork(int (*fn)(void *data), void *data, struct pxe **err)
{
        return spawn_fork_keep(fn, data, 0, err);
}

static pid_t fork_child(int (*fn)(void *data), void *data, unsigned keep_fds, const int *fds, size_t n_fds,
                        struct pxe **err)
{
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigset_t none;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return pxe_set_errno(err, errno, "Forking");
        if (pid > 0)
                return pid;
        sigemptyset(&dfl.sa_mask);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        sigaction(sig, &dfl, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (n_fds > 0) {
                int moved[16];

                /* Above the targets first, so that no fd is overwritten
                 * before it is moved. */
                if (n_fds > ARRAY_SIZE(moved))
                        _exit(127);
                for (size_t i = 0; i < n_fds; i++)
                        if ((moved[i] = fcntl(fds[i], F_DUPFD, 3 + (int) n_fds)) < 0)
                                _exit(127);
                for (size_t i = 0; i < n_fds; i++)
                        if (dup2(moved[i], 3 + (int) i) < 0)
                                _exit(127);
                keep_fds = (unsigned) n_fds;
        }
        close_range(3 + keep_fds, ~0u, 0);
        _exit(fn(data));
}

pid_t spawn_fork_keep(int (*fn)(void *data), void *data, unsigned keep_fds, struct pxe **err)
{
        return fork_child(fn, data, keep_fds, NULL, 0, err);
}

pid_t spawn_fork_fds(int (*fn)(void *data), void *data, const int *fds, size_t n_fds, struct pxe **err)
{
        return fork_child(fn, data, 0, fds, n_fds, err);
}

int spawn_exec(const char *const *argv, struct pxe **err)
{
        execv(argv[0], (char *const *) argv);
        return pxe_set_errno(err, errno, "Executing %s", argv[0]);
}

int spawn_wait(pid_t pid, int *status)
{
        while (waitpid(pid, status, 0) < 0) {
                if (errno != EINTR)
                        return -errno;
        }
        return 0;
}

static volatile sig_atomic_t forward_pid;

static const int forwarded_signals[] = {
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCONT, SIGWINCH, SIGPWR, SIGURG,
};

static void forward_signal(int sig, siginfo_t *si, void *uctx)
{
        (void) uctx;
        /* SI_KERNEL: the tty driver signalled the process group, the child
         * got it too. */
        if (si && si->si_code == SI_KERNEL)
                return;
        if (forward_pid > 0)
                kill((pid_t) forward_pid, sig);
}

void spawn_forward_start(pid_t pid, struct spawn_forward *f)
{
        struct sigaction sa = { .sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART };

        _Static_assert(ARRAY_SIZE(f->old) == ARRAY_SIZE(forwarded_signals), "one saved action per signal");
        forward_pid = pid;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++)
                sigaction(forwarded_signals[i], &sa, &f->old[i]);
}

void spawn_forward_stop(struct spawn_forward *f)
{
        for (size_t i = 0; i < ARRAY_SIZE(forwarded_signals); i++)
                sigaction(forwarded_signals[i], &f->old[i], NULL);
        forward_pid = 0;
}

int spawn_wait_forwarding(pid_t pid, int *status)
{
        struct spawn_forward f;
        int r;

        spawn_forward_start(pid, &f);
        r = spawn_wait(pid, status);
        spawn_forward_stop(&f);
        return r;
}

int spawn_exit_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read what is available; returns 1 at EOF, 0 otherwise. */
static int capture_read(struct capture *c)
{
        char chunk[16384];
        ssize_t n = read(c->fd, chunk, sizeof(chunk));

        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : 1;
        if (n == 0)
                return 1;
        if (c->len + (size_t) n + 1 > c->cap && c->len + (size_t) n < SPAWN_CAPTURE_MAX) {
                size_t cap = c->cap ? c->cap * 2 : 4096;
                char *b;

                while (cap < c->len + (size_t) n + 1)
                        cap *= 2;
                if (cap > SPAWN_CAPTURE_MAX)
                        cap = SPAWN_CAPTURE_MAX;
                b = realloc(c->buf, cap);
                if (!b)
                        return 1;
                c->buf = b;
                c->cap = cap;
        }
        if (c->len + (size_t) n + 1 <= c->cap) {
                memcpy(c->buf + c->len, chunk, (size_t) n);
                c->len += (size_t) n;
                c->buf[c->len] = '\0';
        }
        return 0;
}

/* Write what the socket takes now; returns 1 when done (all written, or
 * the child closed its end), 0 otherwise. */
static int feed_write(struct feed *f)
{
        ssize_t n = send(f->fd, f->buf + f->off, f->len - f->off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0)
                return errno == EINTR || errno == EAGAIN ? 0 : 1;
        f->off += (size_t) n;
        return f->off >= f->len;
}

static void feed_close(struct feed *f)
{
        if (f->fd >= 0)
                close(f->fd);
        f->fd = -1;
}

/* Poll the pipes and the pidfd until the child exited and the pipes are
 * drained, or the deadline passes.  A grandchild that keeps a pipe open (a
 * daemonising runtime) does not hold us: after the child exits we only take
 * what is already buffered. */
static int pump(const struct spawn_opts *o, int pidfd, struct capture *cap, int ncap, struct feed *feed)
{
        long long deadline = o->timeout_ms > 0 ? now_ms() + o->timeout_ms : 0;
        bool exited = false;

        for (;;) {
                struct pollfd p[4];
                int n = 0, wait_ms = -1, r;

                if (exited)
                        feed_close(feed);
                for (int i = 0; i < ncap; i++)
                        if (cap[i].fd >= 0)
                                p[n++] = (struct pollfd) { .fd = cap[i].fd, .events = POLLIN };
                if (feed->fd >= 0)
                        p[n++] = (struct pollfd) { .fd = feed->fd, .events = POLLOUT };
                if (exited && n == 0)
                        return 0;
                if (!exited)
                        p[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                if (exited)
                        wait_ms = 0;
                else if (deadline) {
                        long long left = deadline - now_ms();
                        if (left <= 0)
                                return -ETIMEDOUT;
                        wait_ms = (int) left;
                }
                r = poll(p, (nfds_t) n, wait_ms);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r == 0 && exited)
                        return 0;
                for (int i = 0; i < n; i++) {
                        if (!p[i].revents)
                                continue;
                        if (p[i].fd == pidfd) {
                                exited = true;
                                continue;
                        }
                        if (p[i].fd == feed->fd) {
                                if (feed_write(feed))
                                        feed_close(feed);
                                continue;
                        }
                        for (int k = 0; k < ncap; k++)
                                if (cap[k].fd == p[i].fd && capture_read(&cap[k])) {
                                        close(cap[k].fd);
                                        cap[k].fd = -1;
                                }
                }
        }
}

/* The socket pair of stdin_data: the child's end in *ret_child. */
static int open_feed(const struct spawn_opts *o, struct feed *f, int *ret_child, struct pxe **err)
{
        int sv[2];

        if (!o->stdin_data)
                return 0;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return pxe_set_errno(err, errno, "Creating socket pair");
        shutdown(sv[0], SHUT_RD);
        shutdown(sv[1], SHUT_WR);
        *f = (struct feed) { .fd = sv[0], .buf = o->stdin_data, .len = o->stdin_len };
        *ret_child = sv[1];
        return 0;
}

/* Pump the child's pipes until it exits (or the deadline), then reap it. */
static int watch_child(const struct spawn_opts *o, pid_t pid, struct capture *cap, struct feed *feed,
                       struct spawn_result *res, struct pxe **err)
{
        const char *name = o->path ? o->path : o->argv[0];
        _cleanup_close_ int pidfd = pidfd_open(pid, 0);
        int r;

        if (pidfd < 0) {
                r = pxe_set_errno(err, errno, "Watching %s", name);
                kill(pid, SIGKILL);
                spawn_wait(pid, &res->status);
                return r;
        }
        for (int i = 0; i < 2; i++)
                if (cap[i].fd >= 0)
                        fcntl(cap[i].fd, F_SETFL, O_NONBLOCK);
        r = pump(o, pidfd, cap, 2, feed);
        /* With a group of its own, what the child started goes with it. */
        if (r < 0)
                kill(o->own_pgroup ? -pid : pid, SIGKILL);
        if (r == -ETIMEDOUT)
                pxe_set(err, ETIMEDOUT, "%s did not finish within %d ms", name, o->timeout_ms);
        else if (r < 0)
                pxe_set_errno(err, -r, "Waiting for %s", name);
        spawn_wait(pid, &res->status);
        return r;
}

int spawn_run(const struct spawn_opts *o, struct spawn_result *res, struct pxe **err)
{
        struct capture cap[2] = { { .fd = -1 }, { .fd = -1 } };
        struct feed feed = { .fd = -1 };
        int wr[2] = { -1, -1 }, in_r = -1;
        pid_t pid;
        int r;

        memset(res, 0, sizeof(*res));
        if ((r = open_feed(o, &feed, &in_r, err)) < 0)
                return r;
        for (int i = 0; i < 2 && r == 0; i++) {
                int p[2];

                if (!(i == 0 ? o->capture_stdout : o->capture_stderr))
                        continue;
                if (pipe2(p, O_CLOEXEC) < 0) {
                        r = pxe_set_errno(err, errno, "Creating pipe");
                        continue;
                }
                cap[i].fd = p[0];
                wr[i] = p[1];
        }
        if (r == 0)
                r = start_child(o, in_r, wr[0], wr[1], &pid, err);
        for (int i = 0; i < 2; i++)
                if (wr[i] >= 0)
                        close(wr[i]);
        if (in_r >= 0)
                close(in_r);
        if (r == 0)
                r = watch_child(o, pid, cap, &feed, res, err);
        feed_close(&feed);
        for (int i = 0; i < 2; i++)
                if (cap[i].fd >= 0)
                        close(cap[i].fd);
        res->out = cap[0].buf;
        res->out_len = cap[0].len;
        res->errout = cap[1].buf;
        res->errout_len = cap[1].len;
        if (o->capture_stdout && !res->out)
                res->out = strdup("");
        if (o->capture_stderr && !res->errout)
                res->errout = strdup("");
        return r < 0 ? r : 0;
}

void spawn_result_done(struct spawn_result *res)
{
        free(res->out);
        free(res->errout);
        res->out = res->errout = NULL;
}
