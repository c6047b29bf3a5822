/* Starting a container under conmon: the sync pipe handshake (as CRI-O does
 * it), and the files conmon leaves (exit code, oom, pid, control FIFO). */
#include "monitor/monitor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/id.h"
#include "util/spawn.h"

#define CREATE_TIMEOUT_DEFAULT_S 240
#define SYNC_MESSAGE_MAX (64u << 10)

static long long mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read a pid written by conmon (conmon.pid); 0 when there is none. */
static pid_t read_pid_file(const char *path)
{
        _cleanup_free_ char *text = NULL;
        int pid;

        if (fs_read_file(path, 64, &text, NULL, NULL) < 0 || monitor_parse_exit_code(text, &pid, NULL) < 0 ||
            pid <= 0)
                return 0;
        return pid;
}

static int make_dirs(const struct monitor_config *mc, const char *id, struct pxe **err)
{
        _cleanup_free_ char *persist = NULL;
        int r;

        if (asprintf(&persist, "%s/%s", mc->persist_dir, id) < 0)
                return pxe_set(err, ENOMEM, "Creating container %s", id);
        if ((r = fs_mkdir_p(persist, 0700, err)) < 0 || (r = fs_mkdir_p(mc->exits_dir, 0700, err)) < 0 ||
            (r = fs_mkdir_p(mc->socket_dir, 0700, err)) < 0) {
                pxe_wrap(err, "Creating container %s", id);
                return r;
        }
        return 0;
}

/* Whatever the first conmon process left on a pipe (it has exited; its
 * daemon child closed its copy right after the fork). */
static void read_leftover(int fd, char *buf, size_t size)
{
        ssize_t n;

        fcntl(fd, F_SETFL, O_NONBLOCK);
        n = read(fd, buf, size - 1);
        buf[n > 0 ? n : 0] = '\0';
        for (n = (ssize_t) strlen(buf); n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '); n--)
                buf[n - 1] = '\0';
}

/* Run conmon's first process: it waits on the start pipe (so it can be moved
 * to its cgroup first), forks the monitor, writes conmon.pid and exits. */
static int run_conmon(const struct monitor_config *mc, const struct monitor_create_request *req,
                      char **argv, int sync_w, struct pxe **err)
{
        char *envp[] = { monitor_envp[0], "_OCI_SYNCPIPE=3", "_OCI_STARTPIPE=4", NULL };
        int start[2], keep[2], out = -1, errfd = -1, status, r;
        struct spawn_opts o = { .argv = (const char *const *) argv, .envp = envp, .null_stdin = true,
                                .keep_fds = keep, .n_keep_fds = 2, .cwd = req->bundle };
        _cleanup_pxe_ struct pxe *e = NULL;
        char msg[4096];
        pid_t pid;

        if (pipe2(start, O_CLOEXEC) < 0)
                return pxe_set_errno(err, errno, "Creating container %s: creating a pipe", req->id);
        keep[0] = sync_w;
        keep[1] = start[0];
        pid = spawn_start_piped(&o, &out, &errfd, &e);
        close(start[0]);
        if (pid < 0) {
                close(start[1]);
                /* EIO whatever exec said: a conmon that cannot run is the
                 * node's fault, and ENOENT would read as "no such container". */
                return pxe_set(err, EIO, "Creating container %s: running conmon: %s", req->id,
                               e ? e->msg : "failed");
        }
        r = monitor_move_to_cgroup(mc, req->bundle, pid, err);
        /* EPIPE: conmon exited before it read the start byte; its exit
         * status and stderr below say why. */
        if (r == 0 && write(start[1], "0", 1) != 1 && errno != EPIPE)
                r = pxe_set_errno(err, errno, "starting conmon");
        close(start[1]);
        if (r < 0)
                kill(pid, SIGKILL);
        spawn_wait(pid, &status);
        read_leftover(errfd, msg, sizeof(msg));
        close(out);
        close(errfd);
        if (r < 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
                pxe_freep(err); /* it had failed before: its own reason below */
        else if (r < 0) {
                pxe_wrap(err, "Creating container %s", req->id);
                return r;
        }
        if (spawn_exit_code(status) != 0)
                return pxe_set(err, EIO, "Creating container %s: conmon failed with exit code %d%s%s", req->id,
                               spawn_exit_code(status), msg[0] ? ": " : "", msg);
        return 0;
}

/* conmon's one line on the sync pipe, or what there was at EOF. */
static int read_sync(int fd, long long deadline, char **ret, struct pxe **err)
{
        _cleanup_free_ char *buf = malloc(SYNC_MESSAGE_MAX + 1);
        size_t len = 0;

        if (!buf)
                return -ENOMEM;
        while (len < SYNC_MESSAGE_MAX && !memchr(buf, '\n', len)) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long long left = deadline - mono_ms();
                ssize_t n;

                if (left <= 0)
                        return -ETIMEDOUT;
                if (poll(&p, 1, (int) left) < 0 && errno != EINTR)
                        return -errno;
                if (!p.revents)
                        continue;
                n = read(fd, buf + len, SYNC_MESSAGE_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Undo a create that failed after conmon started. */
static void create_rollback(const struct monitor_config *mc, const char *id, const char *bundle)
{
        _cleanup_free_ char *pidfile = NULL;
        pid_t conmon;

        /* The runtime's create first: a delete before it ended is undone
         * by it (it is past its time: no wait). */
        monitor_runtime_call_wait(bundle, 0);
        if (asprintf(&pidfile, "%s/conmon.pid", bundle) >= 0 && (conmon = read_pid_file(pidfile)) > 0)
                kill(conmon, SIGKILL);
        monitor_delete(mc, id, true, NULL);
}

static int await_sync(const struct monitor_config *mc, const struct monitor_create_request *req, int sync_r,
                      long long deadline, pid_t *ret_pid, struct pxe **err)
{
        _cleanup_free_ char *text = NULL, *message = NULL;
        int r, value;

        r = read_sync(sync_r, deadline, &text, err);
        if (r == -ETIMEDOUT)
                return pxe_set(err, ETIMEDOUT, "Creating container %s: conmon did not report within %u s", req->id,
                               req->timeout_s ? req->timeout_s : CREATE_TIMEOUT_DEFAULT_S);
        if (r < 0)
                return pxe_set_errno(err, -r, "Creating container %s: reading conmon's sync pipe", req->id);
        if (text[0] == '\0')
                return pxe_set(err, EIO, "Creating container %s: conmon exited without reporting", req->id);
        if ((r = monitor_parse_sync(text, &value, &message, err)) < 0) {
                pxe_wrap(err, "Creating container %s", req->id);
                return r;
        }
        if (value <= 0) {
                size_t n = message ? strlen(message) : 0;

                while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == ' '))
                        message[--n] = '\0';
                return pxe_set(err, EIO, "Creating container %s: %s", req->id,
                               n ? message : "the runtime failed without a message");
        }
        *ret_pid = value;
        return 0;
}

int monitor_create(const struct monitor_config *mc, const struct monitor_create_request *req,
                   struct monitor_created *ret, struct pxe **err)
{
        unsigned timeout_s = req->timeout_s ? req->timeout_s : CREATE_TIMEOUT_DEFAULT_S;
        long long deadline = mono_ms() + (long long) timeout_s * 1000;
        _cleanup_free_ char *conmon_pidfile = NULL;
        _cleanup_close_ int sync_r = -EBADF;
        char **argv = NULL;
        int sync[2], r;
        pid_t pid = 0;

        if ((r = monitor_conmon_argv(mc, req, &argv, err)) < 0)
                return r;
        if ((r = make_dirs(mc, req->id, err)) < 0)
                goto out;
        if (pipe2(sync, O_CLOEXEC) < 0) {
                r = pxe_set_errno(err, errno, "Creating container %s: creating a pipe", req->id);
                goto out;
        }
        sync_r = sync[0];
        r = run_conmon(mc, req, argv, sync[1], err);
        /* Only conmon holds the write end now: EOF means it is gone. */
        close(sync[1]);
        if (r < 0)
                goto out;
        r = await_sync(mc, req, sync_r, deadline, &pid, err);
        if (r < 0) {
                create_rollback(mc, req->id, req->bundle);
                goto out;
        }
        if (asprintf(&conmon_pidfile, "%s/conmon.pid", req->bundle) < 0) {
                r = pxe_set(err, ENOMEM, "Creating container %s", req->id);
                goto out;
        }
        ret->pid = pid;
        ret->conmon_pid = read_pid_file(conmon_pidfile);
out:
        monitor_strv_free(argv);
        return r;
}

int monitor_read_exit(const struct monitor_config *mc, const char *id, struct monitor_exit *ret,
                      struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *oom = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r, code;

        if (id_check(id, err) < 0)
                return -EINVAL;
        if (asprintf(&path, "%s/%s", mc->exits_dir, id) < 0 || asprintf(&oom, "%s/%s/oom", mc->persist_dir, id) < 0)
                return pxe_set(err, ENOMEM, "Reading the exit of %s", id);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return pxe_set(err, ENOENT, "Container %s has not exited", id);
                return pxe_set_errno(err, errno, "Reading %s", path);
        }
        if (fstat(fd, &st) < 0)
                return pxe_set_errno(err, errno, "Reading %s", path);
        if ((r = fs_read_file(path, 64, &text, NULL, err)) < 0)
                return r;
        if ((r = monitor_parse_exit_code(text, &code, err)) < 0) {
                pxe_wrap(err, "Reading the exit of %s", id);
                return r;
        }
        ret->code = code;
        ret->at_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        ret->oom_killed = fs_exists(oom);
        return 0;
}

int monitor_reopen_log(const struct monitor_config *mc, const char *bundle, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        static const char msg[] = "2 0 0\n";

        if (!bundle)
                return pxe_set(err, EINVAL, "Reopening the log: no bundle given");
        if (asprintf(&path, "%s/ctl", bundle) < 0)
                return pxe_set(err, ENOMEM, "Reopening the log of %s", bundle);
        /* Non-blocking: with no reader (conmon gone) this fails at once with
         * ENXIO instead of waiting for one. */
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 && (errno == ENXIO || errno == ENOENT))
                return pxe_set(err, ENOENT, "Reopening the log of %s: the conmon of the container is gone", bundle);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Reopening the log of %s: opening %s", bundle, path);
        if (write(fd, msg, sizeof(msg) - 1) != (ssize_t) sizeof(msg) - 1)
                return pxe_set_errno(err, errno, "Reopening the log of %s: writing to %s", bundle, path);
        return 0;
}

void monitor_forget(const struct monitor_config *mc, const char *id)
{
        _cleanup_free_ char *exit_file = NULL, *persist = NULL, *attach = NULL;

        if (id_check(id, NULL) < 0)
                return;
        if (asprintf(&exit_file, "%s/%s", mc->exits_dir, id) < 0 ||
            asprintf(&persist, "%s/%s", mc->persist_dir, id) < 0 ||
            asprintf(&attach, "%s/%s", mc->socket_dir, id) < 0)
                return;
        /* conmon links <socket_dir>/<id> to the bundle: not followed. */
        fs_rm_tree(attach);
        fs_rm_tree(persist);
        (void) unlink(exit_file);
}

bool monitor_conmon_alive(const char *bundle)
{
        return monitor_conmon_pid(bundle) > 0;
}
