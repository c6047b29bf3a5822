/* pxcri-init: PID 1 of a container of the lxc backend.
 *
 * LXC starts it (lxc.init.cmd) with the container fully set up.  It reads the
 * user's process from <dir>/process, then blocks opening <dir>/fifo for
 * writing until `pxcri start` opens it for reading: that handshake is what
 * makes OCI's create/start split real.  Then it runs the process as its
 * child, passes on every signal it receives, reaps orphans (it is the pid
 * namespace's init), and when its child exits writes the exit code (128+N
 * for signal N) to <dir>/exit and exits with it.
 *
 * <dir> is LXC_INIT_DIR, a host directory the backend bind-mounts.  The
 * process file holds NUL-terminated records: "a<arg>", "e<KEY=VALUE>",
 * "m<octal umask>", "t" (stdio is a terminal), "w<rows> <columns>", "f<N>"
 * (--preserve-fds: descriptors 3 .. 3+N-1 go on to the process; every other
 * one above stdio is closed on exec).  `pxcri-init --exec BASE` is the
 * helper of `pxcri exec` with a terminal (exec_mode()).  OCI startContainer
 * hooks run in the child just before the exec (init_hooks.h).  Static, libc
 * only, so it runs on any rootfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init_hooks.h"

#define INIT_DIR "/dev/.pxcri"
#define PROCESS_MAX (4u << 20)
#define MAX_ITEMS 65536
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct process {
        char *args[MAX_ITEMS];
        char *env[MAX_ITEMS];
        size_t n_args, n_env;
        int umask;
        int terminal;
        unsigned short rows, cols;
        unsigned preserve_fds;
};

static void die(const char *what, int e)
{
        fprintf(stderr, "pxcri-init: %s: %s\n", what, strerror(e));
        exit(127);
}

static char *read_all(const char *path, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = malloc(PROCESS_MAX + 1);
        size_t len = 0;
        ssize_t n;

        if (fd < 0 || !buf)
                die(path, fd < 0 ? errno : ENOMEM);
        while (len < PROCESS_MAX && (n = read(fd, buf + len, PROCESS_MAX - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        die(path, errno);
                len += (size_t) n;
        }
        close(fd);
        buf[len] = '\0';
        *ret_len = len;
        return buf;
}

static void parse_process(struct process *p, const char *path)
{
        size_t len, off = 0;
        char *buf = read_all(path, &len);

        p->umask = -1;
        while (off < len) {
                char *rec = buf + off;
                size_t n = strlen(rec);

                if (rec[0] == 'a' && p->n_args < MAX_ITEMS - 1)
                        p->args[p->n_args++] = rec + 1;
                else if (rec[0] == 'e' && p->n_env < MAX_ITEMS - 1)
                        p->env[p->n_env++] = rec + 1;
                else if (rec[0] == 'm')
                        p->umask = (int) strtol(rec + 1, NULL, 8);
                else if (rec[0] == 't')
                        p->terminal = 1;
                else if (rec[0] == 'w')
                        sscanf(rec + 1, "%hu %hu", &p->rows, &p->cols);
                else if (rec[0] == 'f')
                        p->preserve_fds = (unsigned) strtoul(rec + 1, NULL, 10);
                off += n + 1;
        }
        if (p->n_args == 0)
                die("process file has no arguments", EINVAL);
}

static void send_master(int master, const char *name, const char *sock_path)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        char buf[CMSG_SPACE(sizeof(int))] = { 0 };
        struct iovec iov = { .iov_base = (void *) name, .iov_len = strlen(name) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = buf, .msg_controllen = sizeof(buf) };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (strlen(sock_path) >= sizeof(addr.sun_path))
                die(sock_path, ENAMETOOLONG);
        strcpy(addr.sun_path, sock_path);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &master, sizeof(int));
        if (sock < 0 || connect(sock, (struct sockaddr *) &addr, sizeof(addr)) < 0)
                die(sock_path, errno);
        if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
                die("sending the terminal", errno);
        close(sock);
}

/* A pty from the container's own devpts: its master goes out to pxcri
 * create, its slave becomes our stdio (and the process's). */
static void setup_terminal(const char *sock_path, const struct process *p)
{
        int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), slave;
        char name[64];
        unsigned int n;

        if (master < 0)
                master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                die("opening /dev/pts/ptmx", errno);
        n = 0;
        if (ioctl(master, TIOCSPTLCK, &n) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
                die("unlocking the terminal", errno);
        snprintf(name, sizeof(name), "/dev/pts/%u", n);
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (slave < 0)
                slave = open(name, O_RDWR | O_NOCTTY);
        if (slave < 0)
                die(name, errno);
        if (p->rows && p->cols) {
                struct winsize ws = { .ws_row = p->rows, .ws_col = p->cols };

                ioctl(master, TIOCSWINSZ, &ws);
        }
        send_master(master, name, sock_path);
        close(master);
        for (int fd = 0; fd < 3; fd++)
                dup2(slave, fd);
        if (slave > 2)
                close(slave);
}

/* Block until `pxcri start` reads the FIFO. */
/* Signals that end a process by default.  As the pid namespace's init we
 * only get those we handle, so until start we handle them: a created
 * container that is sent one ends, as with runc, before its process ran. */
static const int early_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGPWR };
static volatile sig_atomic_t early_signal;

static void on_early_signal(int sig)
{
        early_signal = sig;
}

static void handle_early_signals(void (*handler)(int))
{
        struct sigaction sa = { .sa_handler = handler }; /* no SA_RESTART: open() returns EINTR */

        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < sizeof(early_signals) / sizeof(early_signals[0]); i++)
                sigaction(early_signals[i], &sa, NULL);
}

static void record_exit(int code);

static void wait_for_start(void)
{
        int fd;

        handle_early_signals(on_early_signal);
        while ((fd = open(INIT_DIR "/fifo", O_WRONLY | O_CLOEXEC)) < 0) {
                if (errno != EINTR)
                        die(INIT_DIR "/fifo", errno);
                if (early_signal) {
                        record_exit(128 + early_signal);
                        exit(128 + early_signal);
                }
        }
        handle_early_signals(SIG_DFL);
        while (write(fd, "1", 1) < 0)
                if (errno != EINTR)
                        die("writing the start FIFO", errno);
        close(fd);
}

static const char *env_path(const struct process *p)
{
        for (size_t i = 0; i < p->n_env; i++)
                if (strncmp(p->env[i], "PATH=", 5) == 0)
                        return p->env[i] + 5;
        return DEFAULT_PATH;
}

/* execve() with a PATH search in the process's own environment. */
static void exec_process(struct process *p)
{
        const char *file = p->args[0], *path = env_path(p);
        int saved = ENOENT;
        char buf[4096];

        /* Nothing liblxc or we left open reaches the process, except what
         * the caller passed on. */
        close_range(3 + p->preserve_fds, ~0u, CLOSE_RANGE_CLOEXEC);
        if (strchr(file, '/')) {
                execve(file, p->args, p->env);
                die(file, errno);
        }
        while (*path) {
                size_t n = strcspn(path, ":");

                if (snprintf(buf, sizeof(buf), "%.*s/%s", (int) n, n ? path : ".", file) < (int) sizeof(buf)) {
                        execve(buf, p->args, p->env);
                        if (errno != ENOENT && errno != ENOTDIR)
                                saved = errno;
                }
                path += n + (path[n] == ':');
        }
        die(file, saved);
}

static void record_exit(int code)
{
        char text[16];
        int fd, n = snprintf(text, sizeof(text), "%d\n", code);

        fd = open(INIT_DIR "/exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, (size_t) n) != n || fsync(fd) < 0 || close(fd) < 0 ||
            rename(INIT_DIR "/exit.tmp", INIT_DIR "/exit") < 0)
                fprintf(stderr, "pxcri-init: recording the exit code %d: %s\n", code, strerror(errno));
}

static int exit_code(int status)
{
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

/* Forward signals, reap everything, until the child is gone. */
static int supervise(pid_t child, const sigset_t *all)
{
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(all, &si), status;
                pid_t pid;

                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        kill(child, sig);
                        continue;
                }
                /* As PID 1 we inherit every orphan of the container: reaping
                 * all of them is this process's job. */
                while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                        if (pid == child)
                                return exit_code(status);
        }
}

/* pxcri exec with a terminal: pxcri-init --exec <base> makes the pty from
 * <base>.sock and <base>.process and becomes the process. */
static int exec_mode(const char *base)
{
        static struct process p;
        char path[4096];

        snprintf(path, sizeof(path), "%s.process", base);
        parse_process(&p, path);
        snprintf(path, sizeof(path), "%s.sock", base);
        setup_terminal(path, &p);
        if (p.umask >= 0)
                umask((mode_t) p.umask);
        if (setsid() >= 0)
                ioctl(STDIN_FILENO, TIOCSCTTY, 0);
        exec_process(&p);
        return 127;
}

int main(int argc, char **argv)
{
        static struct process p;
        sigset_t all, old;
        pid_t child;
        int code;

        if (argc == 3 && strcmp(argv[1], "--exec") == 0)
                return exec_mode(argv[2]);
        /* From lxc.hook.mount, which adds: <name> lxc mount. */
        if (argc >= 3 && strcmp(argv[1], "--create-container-hooks") == 0) {
                init_run_create_hooks(argv[2]);
                return 0;
        }
        parse_process(&p, INIT_DIR "/process");
        if (p.terminal)
                setup_terminal(INIT_DIR "/console.sock", &p);
        wait_for_start();
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        child = fork();
        if (child < 0)
                die("fork", errno);
        if (child == 0) {
                sigprocmask(SIG_SETMASK, &old, NULL);
                if (p.umask >= 0)
                        umask((mode_t) p.umask);
                /* The pty on our stdio becomes the process's terminal. */
                if (p.terminal && setsid() >= 0)
                        ioctl(STDIN_FILENO, TIOCSCTTY, 0);
                init_run_start_hooks(INIT_DIR "/start-hooks");
                exec_process(&p);
        }
        code = supervise(child, &all);
        record_exit(code);
        return code;
}
