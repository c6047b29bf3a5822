/* pxcri-init: PID 1 of a container of the lxc and the Proxmox backend.
 *
 * lxc mode (no arguments): LXC starts it (lxc.init.cmd) with the container
 * fully set up.  It reads the user's process from <dir>/process, then blocks
 * opening <dir>/fifo for writing until `pxcri start` opens it for reading:
 * that handshake is what makes OCI's create/start split real.  Then, as
 * PID 1 of the container's own pid namespace, it execs the process in place
 * (as runc's process is PID 1).  Without one (hostPID, a pod's shared pid
 * namespace) it runs the process as its child, passes on every signal it
 * receives, reaps orphans (it is their subreaper), and when its child exits
 * writes the exit code (128+N for signal N) to <dir>/exit and exits with it.
 * <dir> is INIT_DIR, a host directory the backend bind-mounts.
 *
 * dir mode, `pxcri-init --dir DIR [--no-wait] [--process-b64 BASE64]`: the
 * Proxmox entrypoint.  Its stdio is /dev/null; the host talks to it only
 * through DIR (bind-mounted, /.pxcri/run), which stands in for <dir>.  The
 * records come from DIR/process, or base64 (standard, padded) from
 * --process-b64 when there is no host directory.  The host makes the FIFO
 * DIR/ctl (0600) before the start; every byte written to it is a message:
 * 0 starts the process, 1..64 is a signal for it.  A signal byte before
 * the start, or an early_signals one we receive, ends the container as in
 * lxc mode.  --no-wait starts at once (ctl, if it exists, still carries
 * signals).  The process gets /dev/null as stdin -- or with "i" the FIFO
 * DIR/stdin, which we open for reading before ctl (the host's waiter opens
 * its write end once ctl is held, copies the caller's stdin into it and
 * closes it at EOF) -- and pipes as stdout and stderr, which go to
 * DIR/output.log as CRI log records (init_output.h); with "t" instead a
 * pty, whose master went to DIR/console.sock before ctl was opened.
 * Once the process exited, the log gets what is left in the pipes and an
 * fsync before DIR/exit is written: when exit exists, the log is complete.
 * With "x" (the host asks for it when the CT has a PID namespace of its
 * own and it can learn the exit status from the kernel) there is no child:
 * after the start byte we exec the process in place, PID 1 as with runc,
 * stdout and stderr the FIFOs DIR/out and DIR/err (dir_become_process()).
 *
 * The process file holds NUL-terminated records: "a<arg>", "e<KEY=VALUE>",
 * "m<octal umask>", "t" (stdio is a terminal: a pty whose master goes to
 * <dir>/console.sock, or BASE.sock with --exec), "w<rows> <columns>",
 * "f<N>" (--preserve-fds: descriptors 3 .. 3+N-1 go on to the process;
 * every other one above stdio is closed on exec), "i" (dir mode: stdin from
 * DIR/stdin), "x" (dir mode: exec in place, stdout/stderr DIR/out, DIR/err),
 * "l<resource> <soft> <hard> <name>" (a setrlimit(); name, e.g.
 * RLIMIT_NOFILE, for errors), "o<oom_score_adj>", "c<cwd>",
 * "u<uid>", "g<gid>", "G<gid>" (a supplementary group, repeatable; with "u"
 * or "g" and no "G" there are none), "b<r|w><src>\t<dest>" and
 * "M<dest>\t<options>" (dir mode: a bind or a tmpfs, made before the start
 * byte, init_mounts.h), "R" (then the root read-only), "C<set><hex mask>" (the capability sets,
 * init_caps.h).  The rlimits and oom_score_adj, then the identity, the
 * capabilities and the cwd are applied last before the exec; failing that,
 * or the exec, the child exits 127.
 *
 * In dir mode an error of pxcri-init itself (not of the process) also goes
 * to DIR/output.log as a stderr record, or to DIR/init.err before the log is
 * open, and DIR/exit gets 127: nobody reads its stderr under Proxmox.
 *
 * `pxcri-init --lxc-setup PATH` is the lxc backend's mount hook: sysctls and
 * shared bind mounts (init_setup.h).
 *
 * `pxcri-init --exec BASE` is the helper of `pxcri exec`: it becomes the
 * process of BASE.process, on a pty sent to BASE.sock if it has "t", else
 * on the stdio it was given (exec_mode()).  OCI startContainer hooks run in
 * the child just before the exec (init_hooks.h).  Static, libc only, so it
 * runs on any rootfs.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init_caps.h"
#include "init_hooks.h"
#include "init_mounts.h"
#include "init_output.h"
#include "init_setup.h"

#define INIT_DIR "/dev/.pxcri"
#define PROCESS_MAX (4u << 20)
#define MAX_ITEMS 65536
#define MAX_MOUNTS 1024
#define MAX_RLIMITS 64
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct process {
        char *args[MAX_ITEMS];
        char *env[MAX_ITEMS];
        size_t n_args, n_env;
        int umask;
        int terminal;
        unsigned short rows, cols;
        unsigned preserve_fds;
        const char *cwd;
        int has_uid, has_gid;
        uid_t uid;
        gid_t gid;
        gid_t groups[MAX_ITEMS];
        size_t n_groups;
        struct init_mount mounts[MAX_MOUNTS];
        size_t n_mounts;
        struct init_caps caps;
        int stdin_fifo;
        int in_place;
        struct {
                int resource;
                struct rlimit lim;
                char name[32];
        } rlimits[MAX_RLIMITS];
        size_t n_rlimits;
        int has_oom;
        int oom_score_adj;
};

/* INIT_DIR, or --dir's DIR. */
static const char *init_dir = INIT_DIR;
/* dir mode: our pid (0 otherwise, and in the child) and DIR/output.log once
 * open: where die() reports. */
static pid_t dir_pid;
static int dir_log = -1;
/* dir mode, "x": our stderr is DIR/err, which the host relays: die()
 * reports there only. */
static int dir_stderr_relayed;

static void record_exit(int code);
static void dir_report(const char *msg);

static void die(const char *what, int e)
{
        char msg[8400];

        snprintf(msg, sizeof(msg), "pxcri-init: %s: %s", what, strerror(e));
        fprintf(stderr, "%s\n", msg);
        if (dir_pid && dir_pid == getpid()) {
                dir_pid = 0; /* once: reporting may fail and die too */
                if (!dir_stderr_relayed)
                        dir_report(msg);
                record_exit(127);
        }
        exit(127);
}

static char *dir_path(char *buf, size_t size, const char *name)
{
        if ((size_t) snprintf(buf, size, "%s/%s", init_dir, name) >= size)
                die(name, ENAMETOOLONG);
        return buf;
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

static int b64_value(char c)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *at = c ? strchr(alphabet, c) : NULL;

        return at ? (int) (at - alphabet) : -1;
}

/* Standard alphabet; decoding stops at the padding. */
static char *b64_decode(const char *s, size_t *ret_len)
{
        char *out = malloc(strlen(s) / 4 * 3 + 4);
        unsigned long acc = 0;
        size_t len = 0;
        int bits = 0, v;

        if (!out)
                die("--process-b64", ENOMEM);
        for (; *s && *s != '='; s++) {
                if ((v = b64_value(*s)) < 0)
                        die("--process-b64", EINVAL);
                acc = (acc << 6 | (unsigned long) v) & 0xffffff;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[len++] = (char) (acc >> bits);
                }
        }
        out[len] = '\0';
        *ret_len = len;
        return out;
}

static unsigned long parse_id(const char *s, const char *what)
{
        char *end;
        unsigned long id;

        errno = 0;
        id = strtoul(s, &end, 10);
        if (errno || end == s || *end || id >= (gid_t) -1)
                die(what, EINVAL);
        return id;
}

/* buf: len bytes of NUL-terminated records, plus a NUL. */
static void parse_records(struct process *p, char *buf, size_t len)
{
        size_t off = 0;

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
                else if (rec[0] == 'c')
                        p->cwd = rec + 1;
                else if (rec[0] == 'i')
                        p->stdin_fifo = 1;
                else if (rec[0] == 'x')
                        p->in_place = 1;
                else if (rec[0] == 'l') {
                        unsigned long long soft, hard;

                        if (p->n_rlimits >= MAX_RLIMITS)
                                die("too many rlimit records", E2BIG);
                        if (sscanf(rec + 1, "%d %llu %llu %31s", &p->rlimits[p->n_rlimits].resource, &soft, &hard,
                                   p->rlimits[p->n_rlimits].name) != 4)
                                die("invalid rlimit record", EINVAL);
                        p->rlimits[p->n_rlimits].lim.rlim_cur = (rlim_t) soft;
                        p->rlimits[p->n_rlimits++].lim.rlim_max = (rlim_t) hard;
                } else if (rec[0] == 'o') {
                        p->has_oom = 1;
                        p->oom_score_adj = (int) strtol(rec + 1, NULL, 10);
                }
                else if (rec[0] == 'u')
                        p->has_uid = 1, p->uid = (uid_t) parse_id(rec + 1, "invalid uid record");
                else if (rec[0] == 'g')
                        p->has_gid = 1, p->gid = (gid_t) parse_id(rec + 1, "invalid gid record");
                else if (rec[0] == 'G' && p->n_groups < MAX_ITEMS)
                        p->groups[p->n_groups++] = (gid_t) parse_id(rec + 1, "invalid group record");
                else if (rec[0] == 'C') {
                        if (init_caps_parse(rec, &p->caps) < 0)
                                die("invalid capability record", EINVAL);
                } else if (rec[0] == 'b' || rec[0] == 'M' || rec[0] == 'R') {
                        if (p->n_mounts >= MAX_MOUNTS)
                                die("too many mount records", E2BIG);
                        if (init_mount_parse(rec, &p->mounts[p->n_mounts++]) < 0)
                                die(rec[0] == 'b'   ? "invalid bind record"
                                    : rec[0] == 'M' ? "invalid tmpfs record"
                                                    : "invalid read-only root record",
                                    EINVAL);
                }
                off += n + 1;
        }
        if (p->n_args == 0)
                die("process file has no arguments", EINVAL);
}

static void parse_process(struct process *p, const char *path)
{
        size_t len;
        char *buf = read_all(path, &len);

        parse_records(p, buf, len);
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
 * (create or exec) through sock_path.  Returns the slave. */
static int open_terminal(const char *sock_path, const struct process *p)
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
        /* As runc: the process may reopen its terminal by name.  Best
         * effort: without CAP_CHOWN in its bounding set we cannot. */
        if (p->has_uid || p->has_gid)
                (void) !fchown(slave, p->has_uid ? p->uid : (uid_t) -1, p->has_gid ? p->gid : (gid_t) -1);
        if (p->rows && p->cols) {
                struct winsize ws = { .ws_row = p->rows, .ws_col = p->cols };

                ioctl(master, TIOCSWINSZ, &ws);
        }
        send_master(master, name, sock_path);
        close(master);
        return slave;
}

/* The slave becomes our stdio (and the process's). */
static void setup_terminal(const char *sock_path, const struct process *p)
{
        int slave = open_terminal(sock_path, p);

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

/* Returns the FIFO, still open: it closes (close-on-exec) when the process
 * is exec'd, and `pxcri start` waits for that. */
static int wait_for_start(void)
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
        while (write(fd, "1", 1) < 0)
                if (errno != EINTR)
                        die("writing the start FIFO", errno);
        return fd;
}

static const char *env_path(const struct process *p)
{
        for (size_t i = 0; i < p->n_env; i++)
                if (strncmp(p->env[i], "PATH=", 5) == 0)
                        return p->env[i] + 5;
        return DEFAULT_PATH;
}

/* Whether each of our supplementary groups is one of the n of want
 * (exact: also the other way round). */
static int groups_within(const gid_t *want, size_t n, int exact)
{
        static gid_t have[MAX_ITEMS];
        int m = getgroups(MAX_ITEMS, have);

        if (m < 0)
                return 0;
        for (int i = 0; i < m; i++) {
                size_t j = 0;

                while (j < n && want[j] != have[i])
                        j++;
                if (j == n)
                        return 0;
        }
        for (size_t j = 0; exact && j < n; j++) {
                int i = 0;

                while (i < m && have[i] != want[j])
                        i++;
                if (i == m)
                        return 0;
        }
        return 1;
}

/* setgroups() needs CAP_SETGID, even when it changes nothing.  An exec
 * into a CT whose PID 1 is the process runs with that PID 1's bounding set
 * (lxc-attach mirrors it), so without CAP_SETGID there the groups cannot
 * be set: the no-op is skipped, and fewer groups than asked (lxc-attach
 * drops them) are kept -- never one that was not asked for. */
static void apply_groups(const struct process *p)
{
        if (!p->n_groups && !p->has_uid && !p->has_gid)
                return;
        if (groups_within(p->groups, p->n_groups, 1) || setgroups(p->n_groups, p->groups) == 0)
                return;
        if (errno == EPERM && groups_within(p->groups, p->n_groups, 0))
                return;
        die("setgroups", errno);
}

/* Last before the exec: the start hooks run as us, the exec (and its PATH
 * search) as the process. */
static void apply_identity(const struct process *p)
{
        char what[4200];
        int r;

        if ((r = init_caps_before_switch(&p->caps, what, sizeof(what))) < 0)
                die(what, -r);
        apply_groups(p);
        if (p->has_gid && setgid(p->gid) < 0)
                die("setgid", errno);
        if (p->has_uid && setuid(p->uid) < 0)
                die("setuid", errno);
        if ((r = init_caps_after_switch(&p->caps, what, sizeof(what))) < 0)
                die(what, -r);
        if (p->cwd && chdir(p->cwd) < 0) {
                snprintf(what, sizeof(what), "chdir %s", p->cwd);
                die(what, errno);
        }
}

/* oom_score_adj as asked; lowering it below what we have needs
 * CAP_SYS_RESOURCE over the host, which a container's root (and root on a
 * host that restricts it) lacks: then, as containerd's
 * restrict_oom_score_adj, the value stays ours (the closest allowed). */
static void apply_oom_score_adj(int want)
{
        char text[16], what[64];
        int fd, n, cur, e;
        ssize_t r;

        fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                die("process.oomScoreAdj: /proc/self/oom_score_adj", errno);
        n = snprintf(text, sizeof(text), "%d", want);
        if (write(fd, text, (size_t) n) == n) {
                close(fd);
                return;
        }
        e = errno;
        r = pread(fd, text, sizeof(text) - 1, 0);
        close(fd);
        cur = r > 0 ? (text[r] = '\0', atoi(text)) : 0;
        if ((e == EACCES || e == EPERM) && r > 0 && want < cur)
                return;
        snprintf(what, sizeof(what), "process.oomScoreAdj %d", want);
        die(what, e);
}

/* process.rlimits and process.oomScoreAdj, as root before the identity
 * switch: raising a hard limit needs CAP_SYS_RESOURCE. */
static void apply_limits(const struct process *p)
{
        char what[96];

        for (size_t i = 0; i < p->n_rlimits; i++)
                if (setrlimit((__rlimit_resource_t) p->rlimits[i].resource, &p->rlimits[i].lim) < 0) {
                        snprintf(what, sizeof(what), "process.rlimits %s: setrlimit", p->rlimits[i].name);
                        die(what, errno);
                }
        if (p->has_oom)
                apply_oom_score_adj(p->oom_score_adj);
}

/* execve() with a PATH search in the process's own environment. */
static void exec_process(struct process *p)
{
        const char *file = p->args[0], *path = env_path(p);
        int saved = ENOENT;
        char buf[4096];

        apply_limits(p);
        apply_identity(p);
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
        char text[16], tmp[4096], path[4096];
        int fd, n = snprintf(text, sizeof(text), "%d\n", code);

        dir_path(tmp, sizeof(tmp), "exit.tmp");
        dir_path(path, sizeof(path), "exit");
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, (size_t) n) != n || fsync(fd) < 0 || close(fd) < 0 ||
            rename(tmp, path) < 0)
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

/* Without a pid namespace of our own (hostPID) our exit ends nothing else:
 * as the namespace's end would, kill what is left of the process -- its
 * orphans are ours (PR_SET_CHILD_SUBREAPER) -- and reap it. */
static void end_leftovers(void)
{
        char path[64], buf[4096];
        int fd, status;

        snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int) getpid());
        for (int round = 0; round < 10000; round++) {
                ssize_t n = -1;

                if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
                        n = read(fd, buf, sizeof(buf) - 1);
                        close(fd);
                }
                buf[n > 0 ? n : 0] = '\0';
                for (char *p = buf; *p;) {
                        long pid = strtol(p, &p, 10);

                        if (pid <= 0)
                                break;
                        kill((pid_t) pid, SIGKILL);
                }
                if (waitpid(-1, &status, 0) < 0 && errno == ECHILD)
                        return;
        }
}

/* <base>.pid, when the host made it (empty): our pid as the container sees
 * it, for the host to find us (Proxmox's pxcri exec --pid-file: a deadline
 * kills the process, not only pct exec).  Written whole, then renamed over
 * the empty one; a failure only costs that. */
static void exec_report_pid(const char *base)
{
        char path[4096], tmp[4200], text[32];
        int fd, len = snprintf(text, sizeof(text), "%d\n", (int) getpid());

        snprintf(path, sizeof(path), "%s.pid", base);
        if (access(path, F_OK) < 0)
                return;
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        if (write(fd, text, (size_t) len) != len || close(fd) < 0 || rename(tmp, path) < 0)
                unlink(tmp);
}

/* pxcri exec: pxcri-init --exec <base> becomes the process of
 * <base>.process; with a "t" record on a pty it makes and sends to
 * <base>.sock, else on the stdio it was given. */
static int exec_mode(const char *base)
{
        static struct process p;
        char path[4096];

        snprintf(path, sizeof(path), "%s.process", base);
        parse_process(&p, path);
        /* Read once: nobody else removes it when the exec is detached. */
        unlink(path);
        exec_report_pid(base);
        if (p.terminal) {
                snprintf(path, sizeof(path), "%s.sock", base);
                setup_terminal(path, &p);
        }
        if (p.umask >= 0)
                umask((mode_t) p.umask);
        if (p.terminal && setsid() >= 0)
                ioctl(STDIN_FILENO, TIOCSCTTY, 0);
        exec_process(&p);
        return 127;
}

static int open_in_dir(const char *name, int flags, mode_t mode)
{
        char path[4096];

        return open(dir_path(path, sizeof(path), name), flags | O_CLOEXEC, mode);
}

static void dir_report(const char *msg)
{
        int fd;

        if (dir_log >= 0) {
                init_output_log_line(dir_log, "stderr", msg);
                fsync(dir_log);
                return;
        }
        fd = open_in_dir("init.err", O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
                dprintf(fd, "%s\n", msg);
                close(fd);
        }
}

/* The "b" and "M" records, as the container's root before the process runs. */
static void do_mounts(const struct process *p)
{
        char what[8300];

        for (size_t i = 0; i < p->n_mounts; i++) {
                int r = init_mount(&p->mounts[i], what, sizeof(what));

                if (r < 0)
                        die(what, -r);
        }
        for (size_t i = 0; i < p->n_mounts; i++) {
                int r = init_mount_detach_stage(&p->mounts[i], what, sizeof(what));

                if (r < 0)
                        die(what, -r);
        }
}

/* The child of dir mode: stdin /dev/null or in (>= 0, DIR/stdin), stdout
 * and stderr the pipes; or tty (>= 0), the pty's slave, as all three and
 * controlling terminal. */
static void dir_child(struct process *p, const sigset_t *mask, int tty, int in, int out, int err)
{
        char path[4096];
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        /* Opened without blocking (no writer then); the process reads it
         * blocking, as any stdin. */
        if (in >= 0 && fcntl(in, F_SETFL, fcntl(in, F_GETFL) & ~O_NONBLOCK) < 0)
                die("DIR/stdin", errno);
        sigprocmask(SIG_SETMASK, mask, NULL);
        if (tty >= 0) {
                out = err = tty;
                if (setsid() < 0 || ioctl(tty, TIOCSCTTY, 0) < 0)
                        die("making the terminal the controlling one", errno);
        }
        if (null < 0 || dup2(tty >= 0 ? tty : in >= 0 ? in : null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
            dup2(err, STDERR_FILENO) < 0)
                die("setting up stdio", errno);
        if (p->umask >= 0)
                umask((mode_t) p->umask);
        init_run_start_hooks(dir_path(path, sizeof(path), "start-hooks"));
        exec_process(p);
}

/* dir mode with "x": as with runc, the process becomes PID 1 of the CT --
 * after all our setup (mounts, terminal, stdin, the start byte), with the
 * limits, identity and confinement exec_process() applies to the child
 * otherwise.  Its stdout and stderr are the FIFOs DIR/out and DIR/err,
 * whose read ends the host's waiter holds since before the start (so
 * ENXIO here means the waiter is gone); the waiter relays them and learns
 * the exit status from the kernel (lxc-start, our parent, reaps us). */
static void dir_become_process(struct process *p, const sigset_t *old, const struct init_output *o, int tty,
                               int in)
{
        char path[4096];
        int out = tty, err = tty, null = -1;

        if (tty < 0) {
                out = open_in_dir("out", O_WRONLY | O_NONBLOCK, 0);
                err = open_in_dir("err", O_WRONLY | O_NONBLOCK, 0);
                if (out < 0 || err < 0)
                        die(dir_path(path, sizeof(path), out < 0 ? "out" : "err"), errno);
                /* The process writes blocking, as to any pipe. */
                if (fcntl(out, F_SETFL, 0) < 0 || fcntl(err, F_SETFL, 0) < 0)
                        die("DIR/out", errno);
        }
        if (in >= 0 && fcntl(in, F_SETFL, fcntl(in, F_GETFL) & ~O_NONBLOCK) < 0)
                die("DIR/stdin", errno);
        if (tty < 0 && in < 0 && (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
                die("/dev/null", errno);
        if (dup2(tty >= 0 ? tty : in >= 0 ? in : null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
            dup2(err, STDERR_FILENO) < 0)
                die("setting up stdio", errno);
        dir_stderr_relayed = 1;
        /* lxc-start made us a session leader: the pty becomes the
         * process's controlling terminal. */
        if (tty >= 0 && ((setsid() < 0 && errno != EPERM) || ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0))
                die("making the terminal the controlling one", errno);
        close(o->log);
        close(o->sigfd);
        if (o->ctl >= 0)
                close(o->ctl);
        sigprocmask(SIG_SETMASK, old, NULL);
        if (p->umask >= 0)
                umask((mode_t) p->umask);
        init_run_start_hooks(dir_path(path, sizeof(path), "start-hooks"));
        exec_process(p);
}

/* Sets init_dir and *no_wait, reads the process. */
static void dir_args(int argc, char **argv, struct process *p, int *no_wait)
{
        const char *b64 = NULL;
        char path[4096], *buf;
        size_t len;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
                        init_dir = argv[++i];
                else if (strcmp(argv[i], "--process-b64") == 0 && i + 1 < argc)
                        b64 = argv[++i];
                else if (strcmp(argv[i], "--no-wait") == 0)
                        *no_wait = 1;
                else
                        die(argv[i], EINVAL);
        }
        if (b64) {
                buf = b64_decode(b64, &len);
                parse_records(p, buf, len);
        } else {
                parse_process(p, dir_path(path, sizeof(path), "process"));
        }
}

/* The child with its stdio: the pty's slave, or pipes to the log. */
static pid_t dir_fork(struct process *p, const sigset_t *old, int tty, int in, struct init_output *o)
{
        int out[2] = { -1, -1 }, err[2] = { -1, -1 };
        pid_t child;

        if (tty < 0 && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0))
                die("pipe", errno);
        child = fork();
        if (child < 0)
                die("fork", errno);
        if (child == 0)
                dir_child(p, old, tty, in, out[1], err[1]);
        /* Only the process reads it. */
        if (in >= 0)
                close(in);
        if (tty >= 0) {
                /* Only the process holds the slave: the master sees its end. */
                close(tty);
                o->out = o->err = -1;
                return child;
        }
        close(out[1]);
        close(err[1]);
        o->out = out[0];
        o->err = err[0];
        fcntl(o->out, F_SETFL, O_NONBLOCK);
        fcntl(o->err, F_SETFL, O_NONBLOCK);
        return child;
}

/* pxcri-init --dir DIR [--no-wait] [--process-b64 BASE64]: the Proxmox
 * backend's init, talking to the host only through DIR. */
static int dir_mode(int argc, char **argv)
{
        static struct process p;
        struct init_output o = { .ctl = -1 };
        int no_wait = 0, tty = -1, in = -1, sig, code;
        const size_t n_early = sizeof(early_signals) / sizeof(early_signals[0]);
        char path[4096];
        sigset_t all, old;

        dir_pid = getpid();
        /* In a PID namespace shared with a pod or the host, orphans are ours. */
        if (dir_pid != 1)
                prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        dir_args(argc, argv, &p, &no_wait);
        /* Every signal through the loop's signalfd, as supervise() does. */
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        o.sigfd = signalfd(-1, &all, SFD_NONBLOCK | SFD_CLOEXEC);
        if (o.sigfd < 0)
                die("signalfd", errno);
        o.log = open_in_dir("output.log", O_WRONLY | O_APPEND | O_CREAT, 0640);
        if (o.log < 0)
                die(dir_path(path, sizeof(path), "output.log"), errno);
        dir_log = o.log;
        /* Before ctl: the host sees us up only once these are done, and
         * sees a failure as an exit before start. */
        do_mounts(&p);
        if (p.terminal)
                tty = open_terminal(dir_path(path, sizeof(path), "console.sock"), &p);
        /* Before ctl: once the host sees ctl held, it may open the write
         * end, which needs a reader; what it writes before the start waits
         * in the FIFO. */
        if (p.stdin_fifo && (in = open_in_dir("stdin", O_RDONLY | O_NONBLOCK, 0)) < 0)
                die(dir_path(path, sizeof(path), "stdin"), errno);
        /* Read and write: we never see EOF, and the host's O_WRONLY |
         * O_NONBLOCK open fails (ENXIO) exactly when we are gone. */
        o.ctl = open_in_dir("ctl", O_RDWR | O_NONBLOCK, 0);
        if (o.ctl < 0 && (errno != ENOENT || !no_wait))
                die(dir_path(path, sizeof(path), "ctl"), errno);
        if (!no_wait && (sig = init_output_wait_start(&o, early_signals, n_early))) {
                record_exit(128 + sig);
                return 128 + sig;
        }
        if (p.in_place)
                dir_become_process(&p, &old, &o, tty, in);
        code = exit_code(init_output_supervise(&o, dir_fork(&p, &old, tty, in, &o)));
        if (dir_pid != 1)
                end_leftovers();
        /* After the log's fsync: once exit exists, the log is complete. */
        record_exit(code);
        return code;
}

/* The pid namespace is the container's own: as with runc, the process is
 * its PID 1 (what `/proc/1/cmdline` shows, what gets the signals, what
 * reaps orphans), so we become it.  Its exit status reaches the waiter
 * through liblxc, which writes it to run/exit. */
static void become_process(struct process *p)
{
        /* Until the exec our early-signal handlers stay: a signal sent right
         * after start would be lost to an init without a handler (the
         * process may not have installed its own yet); it ends the
         * container instead, as it would end a process of default
         * disposition.  execve() resets them. */
        if (p->umask >= 0)
                umask((mode_t) p->umask);
        /* liblxc made us a session leader; the pty on our stdio becomes the
         * process's controlling terminal. */
        if (p->terminal) {
                (void) setsid();
                ioctl(STDIN_FILENO, TIOCSCTTY, 0);
        }
        init_run_start_hooks(INIT_DIR "/start-hooks");
        if (early_signal) {
                record_exit(128 + early_signal);
                exit(128 + early_signal);
        }
        exec_process(p);
}

int main(int argc, char **argv)
{
        static struct process p;
        sigset_t all, old;
        pid_t child;
        int code, fifo;

        if (argc == 3 && strcmp(argv[1], "--exec") == 0)
                return exec_mode(argv[2]);
        if (argc >= 2 && strcmp(argv[1], "--dir") == 0)
                return dir_mode(argc, argv);
        /* From lxc.hook.mount, which adds: <name> lxc mount. */
        if (argc >= 3 && strcmp(argv[1], "--lxc-setup") == 0) {
                init_lxc_setup(argv[2]);
                return 0;
        }
        if (argc >= 3 && strcmp(argv[1], "--create-container-hooks") == 0) {
                init_run_create_hooks(argv[2]);
                return 0;
        }
        parse_process(&p, INIT_DIR "/process");
        if (getpid() != 1)
                prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        if (p.terminal)
                setup_terminal(INIT_DIR "/console.sock", &p);
        fifo = wait_for_start();
        if (getpid() == 1)
                become_process(&p);
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        handle_early_signals(SIG_DFL);
        /* Caught between the start byte and here: as before the start. */
        if (early_signal) {
                record_exit(128 + early_signal);
                return 128 + early_signal;
        }
        child = fork();
        if (child < 0)
                die("fork", errno);
        if (child != 0)
                close(fifo);
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
        if (getpid() != 1)
                end_leftovers();
        record_exit(code);
        return code;
}
