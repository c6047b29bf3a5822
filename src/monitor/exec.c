/* ExecSync: `pxcri exec --pid-file F ID CMD...`, output captured up to a cap
 * (and drained beyond it, so the process never blocks on a full pipe), with
 * a deadline that kills the process in the container, not only pxcri. */
#include "monitor/monitor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/id.h"
#include "util/spawn.h"

#define EXEC_OUTPUT_DEFAULT (16u << 20)
#define EXEC_KILL_GRACE_MS 5000

struct sink {
        int fd;
        char *buf;
        size_t len, cap;
};

struct exec_io {
        struct sink s[2];
        size_t max;
        bool oom;
};

static long long mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sink_keep(struct exec_io *io, struct sink *k, const char *data, size_t n)
{
        if (k->len + n > io->max)
                n = io->max - k->len;
        if (n == 0)
                return;
        if (k->len + n + 1 > k->cap) {
                size_t cap = k->cap ? k->cap : 4096;
                char *b;

                while (cap < k->len + n + 1)
                        cap *= 2;
                b = realloc(k->buf, cap);
                if (!b) {
                        io->oom = true;
                        return;
                }
                k->buf = b;
                k->cap = cap;
        }
        memcpy(k->buf + k->len, data, n);
        k->len += n;
        k->buf[k->len] = '\0';
}

/* Read what is there; closes the sink at EOF. */
static void sink_read(struct exec_io *io, struct sink *k)
{
        char chunk[16384];

        for (;;) {
                ssize_t n = read(k->fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        close(k->fd);
                        k->fd = -1;
                        return;
                }
                sink_keep(io, k, chunk, (size_t) n);
        }
}

/* Pump both pipes until the child exited and they are drained, or until
 * deadline (0: none).  Returns 1 when the child exited, 0 at the deadline.
 * After the exit only what is buffered is taken: a process the command
 * left behind in the container may hold the pipes open. */
static int exec_pump(struct exec_io *io, int pidfd, long long deadline)
{
        for (;;) {
                struct pollfd p[3];
                int n = 0, wait_ms = -1;

                for (int i = 0; i < 2; i++)
                        if (io->s[i].fd >= 0)
                                p[n++] = (struct pollfd) { .fd = io->s[i].fd, .events = POLLIN };
                p[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                if (deadline) {
                        long long left = deadline - mono_ms();

                        if (left <= 0)
                                return 0;
                        wait_ms = (int) left;
                }
                if (poll(p, (nfds_t) n, wait_ms) < 0 && errno != EINTR)
                        return 0;
                for (int i = 0; i < 2; i++)
                        if (io->s[i].fd >= 0)
                                sink_read(io, &io->s[i]);
                if (p[n - 1].revents) {
                        for (int i = 0; i < 2; i++)
                                if (io->s[i].fd >= 0)
                                        sink_read(io, &io->s[i]);
                        return 1;
                }
        }
}

/* The deadline passed: kill the command in the container (pid from the
 * pid file pxcri wrote), then give pxcri a moment to notice before it is
 * killed too. */
static void exec_kill(struct exec_io *io, const char *pid_file, pid_t pid, int pidfd)
{
        _cleanup_free_ char *text = NULL;
        int target;

        if (fs_read_file(pid_file, 64, &text, NULL, NULL) == 0 && monitor_parse_exit_code(text, &target, NULL) == 0 &&
            target > 1)
                kill(target, SIGKILL);
        if (!exec_pump(io, pidfd, mono_ms() + EXEC_KILL_GRACE_MS))
                kill(pid, SIGKILL);
}

static int exec_pid_file(const struct monitor_config *mc, const char *id, char **ret, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL;
        int fd;

        if (!mc->persist_dir)
                return pxe_set(err, EINVAL, "Executing in container %s: no persist_dir given", id);
        if (asprintf(&dir, "%s/%s", mc->persist_dir, id) < 0 || asprintf(&path, "%s/exec-XXXXXX", dir) < 0)
                return pxe_set(err, ENOMEM, "Executing in container %s", id);
        if ((fd = fs_mkdir_p(dir, 0700, err)) < 0) {
                pxe_wrap(err, "Executing in container %s", id);
                return fd;
        }
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Executing in container %s: creating %s", id, path);
        close(fd);
        /* The runtime writes the file itself; the name only had to be ours. */
        unlink(path);
        *ret = TAKE_PTR(path);
        return 0;
}

static int exec_run(const struct monitor_config *mc, const char *id, const char *pid_file,
                    const char *process_path, const char *const *argv, size_t n_argv, unsigned timeout_s,
                    struct exec_io *io, int *ret_status, struct pxe **err)
{
        const char *with_argv[] = { "exec", "--pid-file", pid_file, id };
        const char *with_process[] = { "exec", "--pid-file", pid_file, "--process", process_path, id };
        const char *const *head = process_path ? with_process : with_argv;
        size_t n_head = process_path ? ARRAY_SIZE(with_process) : ARRAY_SIZE(with_argv);
        const char *args[RUNTIME_ARGV_MAX];
        struct runtime_argv a;
        struct spawn_opts o = { .envp = monitor_envp, .null_stdin = true };
        _cleanup_close_ int pidfd = -EBADF;
        pid_t pid;
        int r, done;

        if (process_path)
                n_argv = 0;
        if (n_argv + n_head + 5 > RUNTIME_ARGV_MAX)
                return pxe_set(err, E2BIG, "Executing in container %s: too many arguments", id);
        memcpy(args, head, n_head * sizeof(*head));
        if (n_argv)
                memcpy(args + n_head, argv, n_argv * sizeof(*argv));
        if ((r = runtime_argv_build(mc, args, n_head + n_argv, &a, err)) < 0)
                return r;
        o.argv = a.argv;
        pid = spawn_start_piped(&o, &io->s[0].fd, &io->s[1].fd, err);
        runtime_argv_done(&a);
        if (pid < 0) {
                pxe_wrap(err, "Executing in container %s", id);
                return pid;
        }
        pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                r = pxe_set_errno(err, errno, "Executing in container %s: watching the runtime", id);
                kill(pid, SIGKILL);
                spawn_wait(pid, ret_status);
                return r;
        }
        for (int i = 0; i < 2; i++)
                fcntl(io->s[i].fd, F_SETFL, O_NONBLOCK);
        done = exec_pump(io, pidfd, timeout_s ? mono_ms() + (long long) timeout_s * 1000 : 0);
        if (!done)
                exec_kill(io, pid_file, pid, pidfd);
        spawn_wait(pid, ret_status);
        if (!done)
                return pxe_set(err, ETIMEDOUT, "Command timed out after %u s", timeout_s);
        return 0;
}

static int exec_sync(const struct monitor_config *mc, const char *id, const char *process_path,
                     const char *const *argv, size_t n_argv, unsigned timeout_s, size_t max_output,
                     struct monitor_exec_result *ret, struct pxe **err)
{
        struct exec_io io = { .s = { { .fd = -1 }, { .fd = -1 } },
                              .max = max_output ? max_output : EXEC_OUTPUT_DEFAULT };
        _cleanup_free_ char *pid_file = NULL;
        int r, status = 0;

        memset(ret, 0, sizeof(*ret));
        if (id_check(id, err) < 0)
                return -EINVAL;
        if (!process_path && (n_argv == 0 || !argv[0]))
                return pxe_set(err, EINVAL, "Executing in container %s: no command given", id);
        if ((r = exec_pid_file(mc, id, &pid_file, err)) < 0)
                return r;
        r = exec_run(mc, id, pid_file, process_path, argv, n_argv, timeout_s, &io, &status, err);
        for (int i = 0; i < 2; i++)
                if (io.s[i].fd >= 0)
                        close(io.s[i].fd);
        /* Never written means the runtime failed before the command ran. */
        if (r == 0 && !fs_exists(pid_file) && spawn_exit_code(status) != 0 && io.s[1].buf &&
            strstr(io.s[1].buf, "does not exist"))
                r = pxe_set(err, ENOENT, "Executing in container %s: %.*s", id,
                            (int) strcspn(io.s[1].buf, "\n"), io.s[1].buf);
        unlink(pid_file);
        ret->out = io.s[0].buf ? io.s[0].buf : strdup("");
        ret->out_len = io.s[0].len;
        ret->err = io.s[1].buf ? io.s[1].buf : strdup("");
        ret->err_len = io.s[1].len;
        ret->exit_code = spawn_exit_code(status);
        if (r == 0 && (io.oom || !ret->out || !ret->err))
                r = pxe_set(err, ENOMEM, "Executing in container %s: keeping its output", id);
        return r;
}

int monitor_exec_sync(const struct monitor_config *mc, const char *id, const char *const *argv,
                      size_t n_argv, unsigned timeout_s, size_t max_output,
                      struct monitor_exec_result *ret, struct pxe **err)
{
        return exec_sync(mc, id, NULL, argv, n_argv, timeout_s, max_output, ret, err);
}

int monitor_exec_sync_process(const struct monitor_config *mc, const char *id, const char *process_path,
                              unsigned timeout_s, size_t max_output, struct monitor_exec_result *ret,
                              struct pxe **err)
{
        return exec_sync(mc, id, process_path, NULL, 0, timeout_s, max_output, ret, err);
}

void monitor_exec_result_done(struct monitor_exec_result *r)
{
        free(r->out);
        free(r->err);
        r->out = r->err = NULL;
        r->out_len = r->err_len = 0;
}

int monitor_exec_argv(const struct monitor_config *mc, const char *id, const char *process_path, char ***ret,
                      struct pxe **err)
{
        const char *args[] = { "exec", "--process", process_path, id };
        struct runtime_argv a;
        size_t n = 0;
        char **v;
        int r;

        if (id_check(id, err) < 0)
                return -EINVAL;
        if ((r = runtime_argv_build(mc, args, ARRAY_SIZE(args), &a, err)) < 0)
                return r;
        while (a.argv[n])
                n++;
        v = calloc(n + 1, sizeof(*v));
        for (size_t i = 0; v && i < n; i++)
                if (!(v[i] = strdup(a.argv[i]))) {
                        monitor_strv_free(v);
                        v = NULL;
                }
        runtime_argv_done(&a);
        if (!v)
                return pxe_set(err, ENOMEM, "Building the exec command line for %s", id);
        *ret = v;
        return 0;
}

char *const *monitor_exec_envp(void)
{
        return monitor_envp;
}
