#include "init_hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOKS_MAX (4u << 20)
#define HOOK_ITEMS 4096

extern char **environ;

struct hook {
        const char *path;
        const char *args[HOOK_ITEMS];
        const char *env[HOOK_ITEMS];
        size_t n_args, n_env;
        long timeout_s;
};

static const char *hook_kind = "startContainer";
static char *fail_path; /* createContainer: where pxcri finds why (LXC drops the hook's stderr) */

static void hook_fail(const char *path, const char *why)
{
        char msg[1024];
        int fd;

        snprintf(msg, sizeof(msg), "hooks.%s (%s): %s", hook_kind, path, why);
        fprintf(stderr, "pxcri-init: %s\n", msg);
        if (fail_path && (fd = open(fail_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
                if (write(fd, msg, strlen(msg)) < 0) {
                        /* pxcri falls back to LXC's log */
                }
                close(fd);
        }
        exit(127);
}

/* Wait for pid, killing it once timeout_s (0: none) passed. */
static int wait_hook(pid_t pid, long timeout_s, const char *path)
{
        struct timespec tick = { 0, 10000000 };
        long waited_ms = 0;
        int status;
        pid_t r;

        while ((r = waitpid(pid, &status, WNOHANG)) == 0 || (r < 0 && errno == EINTR)) {
                if (timeout_s > 0 && waited_ms >= timeout_s * 1000) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        hook_fail(path, "did not finish in time");
                }
                nanosleep(&tick, NULL);
                waited_ms += 10;
        }
        if (r < 0)
                hook_fail(path, strerror(errno));
        return status;
}

static void run_hook(struct hook *h, const char *state)
{
        size_t len = strlen(state), off = 0;
        int p[2], status;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                hook_fail(h->path, strerror(errno));
        pid = fork();
        if (pid < 0)
                hook_fail(h->path, strerror(errno));
        if (pid == 0) {
                signal(SIGPIPE, SIG_DFL);
                if (dup2(p[0], STDIN_FILENO) < 0)
                        _exit(127);
                /* Not the process's --preserve-fds, nor anything else. */
                close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
                if (h->n_args == 0)
                        h->args[0] = h->path;
                execve(h->path, (char *const *) h->args, h->n_env ? (char *const *) h->env : environ);
                fprintf(stderr, "pxcri-init: executing %s: %s\n", h->path, strerror(errno));
                _exit(127);
        }
        close(p[0]);
        while (off < len) {
                ssize_t n = write(p[1], state + off, len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break; /* the hook does not read (EPIPE): its exit decides */
                off += (size_t) n;
        }
        close(p[1]);
        status = wait_hook(pid, h->timeout_s, h->path);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                hook_fail(h->path, "failed");
}

static char *read_hooks(const char *path, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf;
        size_t len = 0;
        ssize_t n;

        if (fd < 0) {
                if (errno != ENOENT)
                        hook_fail(path, strerror(errno));
                return NULL;
        }
        if (!(buf = malloc(HOOKS_MAX + 1)))
                hook_fail(path, strerror(ENOMEM));
        while (len < HOOKS_MAX && (n = read(fd, buf + len, HOOKS_MAX - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        hook_fail(path, strerror(errno));
                len += (size_t) n;
        }
        close(fd);
        buf[len] = '\0';
        *ret_len = len;
        return buf;
}

/* The state with "pid" first: {"pid":N,<the rest of state>}. */
static const char *with_pid(const char *state, long pid)
{
        static char *buf;
        size_t n = strlen(state) + 32;

        if (pid <= 0 || state[0] != '{' || state[1] == '}' || !(buf = malloc(n)))
                return state;
        snprintf(buf, n, "{\"pid\":%ld,%s", pid, state + 1);
        return buf;
}

long init_host_ppid(long pid)
{
        char path[64], buf[1024], *end;
        long ppid = 0;
        int fd;
        ssize_t n;

        if (pid > 0)
                snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        else
                snprintf(path, sizeof(path), "/proc/self/stat");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
                close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        /* Field 4, after the ")" that ends the name. */
        end = strrchr(buf, ')');
        if (!end || sscanf(end + 1, " %*c %ld", &ppid) != 1)
                return 0;
        return ppid;
}

static void run_hooks(const char *path, long pid)
{
        static struct hook h;
        const char *state = "";
        size_t len = 0, off = 0;
        char *buf = read_hooks(path, &len);

        if (!buf)
                return;
        signal(SIGPIPE, SIG_IGN);
        h.path = NULL;
        for (; off <= len; off += strlen(buf + off) + 1) {
                char *rec = buf + off;

                if ((off == len || rec[0] == 'p') && h.path) {
                        run_hook(&h, state);
                        memset(&h, 0, sizeof(h));
                }
                if (off == len)
                        break;
                if (rec[0] == 's')
                        state = with_pid(rec + 1, pid);
                else if (rec[0] == 'p')
                        h.path = rec + 1;
                else if (rec[0] == 'a' && h.n_args < HOOK_ITEMS - 1)
                        h.args[h.n_args++] = rec + 1;
                else if (rec[0] == 'e' && h.n_env < HOOK_ITEMS - 1)
                        h.env[h.n_env++] = rec + 1;
                else if (rec[0] == 't')
                        h.timeout_s = strtol(rec + 1, NULL, 10);
        }
        signal(SIGPIPE, SIG_DFL);
        free(buf);
}

void init_run_start_hooks(const char *path)
{
        run_hooks(path, 0);
}

void init_run_create_hooks(const char *path)
{
        hook_kind = "createContainer";
        if (asprintf(&fail_path, "%s.err", path) < 0)
                fail_path = NULL;
        run_hooks(path, init_host_ppid(0));
}
