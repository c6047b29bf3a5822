/* Pod namespaces pinned by bind mounts of a short-lived child's ns files.
 *
 * The child comes from spawn_fork(), so it holds no descriptor of ours but
 * stdio and may only make async-signal-safe calls (pxcrid is
 * multithreaded): everything it needs (sysctl paths, values) is prepared
 * before the fork.  It has no pipe to talk back through, so it reports a
 * failure in a MAP_SHARED page and exits, and reports success by stopping
 * itself (SIGSTOP): the parent waits for "stopped or exited" on that one
 * pid, bind-mounts /proc/<pid>/ns/<kind>, then kills and reaps it.  A
 * stopped child cannot outlive us: PR_SET_PDEATHSIG kills it with the
 * thread that forked it.
 *
 * Mount propagation: the bind mounts are made in whatever mount <dir> is
 * on.  When that mount is shared (systemd makes / shared) they propagate to
 * its peers and slaves and so does the unmount, which is what keeps other
 * mount namespaces from holding a pod's namespaces alive; so <dir> is not
 * made a private mount of its own (that would hide the pins from e.g. a
 * shared /run in other namespaces and cost a mount per pod).
 */
#include "net/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define NETNS_SYSCTL_MAX 256

static const struct {
        unsigned kind;
        const char *name;
        int clone_flag;
} ns_kinds[] = {
        { NETNS_NET, "net", CLONE_NEWNET },
        { NETNS_IPC, "ipc", CLONE_NEWIPC },
        { NETNS_UTS, "uts", CLONE_NEWUTS },
};

enum pin_step {
        PIN_STEP_NONE,
        PIN_STEP_PDEATHSIG,
        PIN_STEP_UNSHARE,
        PIN_STEP_HOSTNAME,
        PIN_STEP_LOOPBACK,
        PIN_STEP_SYSCTL,
        PIN_STEP_STOP,
};

/* Filled by the child in a page shared with the parent. */
struct pin_report {
        enum pin_step step;
        int errnum;
        size_t sysctl;
};

struct pin_child {
        pid_t parent;
        int clone_flags;
        const char *hostname;
        char **sysctl_paths; /* /proc/sys/... */
        const struct netns_sysctl *sysctls;
        size_t n_sysctls;
        struct pin_report *report;
};

/* kernel.* sysctls that live in a namespace other than net. */
static const struct {
        const char *name;
        bool prefix;
        unsigned kind;
} kernel_sysctls[] = {
        { "kernel/shm", true, NETNS_IPC },
        { "kernel/msg", true, NETNS_IPC },
        { "kernel/sem", false, NETNS_IPC },
        { "kernel/domainname", false, NETNS_UTS },
        { "fs/mqueue/", true, NETNS_IPC },
};

/* "net.ipv4.ip_forward" -> "net/ipv4/ip_forward"; a key with a '/' is kept
 * as it is (the form for names with dots in them: "net/ipv4/conf/eth0.1/rp_filter").
 * NULL for names that could escape /proc/sys. */
static char *sysctl_rel_path(const char *key)
{
        char *p;

        if (!key || !*key || key[0] == '/' || key[0] == '.' || strstr(key, "..") || strstr(key, "//"))
                return NULL;
        for (const char *c = key; *c; c++)
                if (!(('a' <= *c && *c <= 'z') || ('A' <= *c && *c <= 'Z') || ('0' <= *c && *c <= '9') ||
                      strchr("._-/", *c)))
                        return NULL;
        p = strdup(key);
        if (p && !strchr(key, '/'))
                for (char *c = p; *c; c++)
                        if (*c == '.')
                                *c = '/';
        return p;
}

unsigned netns_sysctl_kind(const char *key)
{
        _cleanup_free_ char *p = sysctl_rel_path(key);
        size_t len;

        if (!p)
                return 0;
        len = strlen(p);
        if (p[len - 1] == '/')
                return 0;
        if (strncmp(p, "net/", 4) == 0 && p[4])
                return NETNS_NET;
        for (size_t i = 0; i < ARRAY_SIZE(kernel_sysctls); i++) {
                const char *n = kernel_sysctls[i].name;

                if (kernel_sysctls[i].prefix ? strncmp(p, n, strlen(n)) == 0 : streq(p, n))
                        return kernel_sysctls[i].kind;
        }
        return 0;
}

static int validate_request(const struct netns_pin_request *req, struct pxe **err)
{
        if (!req || !req->dir || !*req->dir)
                return pxe_set(err, EINVAL, "Pinning namespaces: no directory given");
        if (!req->kinds || (req->kinds & ~(unsigned) (NETNS_NET | NETNS_IPC | NETNS_UTS)))
                return pxe_set(err, EINVAL, "Pinning namespaces in %s: invalid namespace kinds 0x%x",
                               req->dir, req->kinds);
        if (req->hostname && !(req->kinds & NETNS_UTS))
                return pxe_set(err, EINVAL, "Pinning namespaces in %s: a hostname needs a UTS namespace",
                               req->dir);
        if (req->hostname && (!*req->hostname || strlen(req->hostname) > 64))
                return pxe_set(err, EINVAL, "Hostname \"%s\" is not 1 to 64 characters", req->hostname);
        if (req->n_sysctls > NETNS_SYSCTL_MAX)
                return pxe_set(err, EINVAL, "Too many sysctls (%zu, at most %d)", req->n_sysctls,
                               NETNS_SYSCTL_MAX);
        for (size_t i = 0; i < req->n_sysctls; i++) {
                const struct netns_sysctl *s = &req->sysctls[i];
                unsigned kind = netns_sysctl_kind(s->key);

                if (!s->value)
                        return pxe_set(err, EINVAL, "Sysctl %s has no value", s->key ? s->key : "(null)");
                if (!kind)
                        return pxe_set(err, EINVAL, "Sysctl %s is not namespaced", s->key ? s->key : "(null)");
                if (!(req->kinds & kind))
                        return pxe_set(err, EINVAL, "Sysctl %s needs the pod's own %s namespace", s->key,
                                       kind == NETNS_NET ? "network" : kind == NETNS_IPC ? "IPC" : "UTS");
        }
        return 0;
}

/* In the child: only async-signal-safe calls from here on. */
static int child_fail(struct pin_report *r, enum pin_step step, size_t sysctl)
{
        r->step = step;
        r->errnum = errno;
        r->sysctl = sysctl;
        return 1;
}

static int child_loopback_up(void)
{
        struct ifreq ifr;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        int r = -1;

        if (fd < 0)
                return -1;
        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, "lo", 3);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
                ifr.ifr_flags |= IFF_UP;
                r = ioctl(fd, SIOCSIFFLAGS, &ifr);
        }
        close(fd);
        return r;
}

static int child_write_sysctl(const char *path, const char *value)
{
        size_t len = strlen(value);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -1;
        n = write(fd, value, len);
        if (n >= 0 && (size_t) n != len) {
                errno = EIO;
                n = -1;
        }
        if (close(fd) < 0 && n >= 0)
                n = -1;
        return n < 0 ? -1 : 0;
}

static int pin_child_main(void *data)
{
        struct pin_child *c = data;

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return child_fail(c->report, PIN_STEP_PDEATHSIG, 0);
        if (getppid() != c->parent)
                return 1;
        if (unshare(c->clone_flags) < 0)
                return child_fail(c->report, PIN_STEP_UNSHARE, 0);
        if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
                return child_fail(c->report, PIN_STEP_HOSTNAME, 0);
        if ((c->clone_flags & CLONE_NEWNET) && child_loopback_up() < 0)
                return child_fail(c->report, PIN_STEP_LOOPBACK, 0);
        for (size_t i = 0; i < c->n_sysctls; i++)
                if (child_write_sysctl(c->sysctl_paths[i], c->sysctls[i].value) < 0)
                        return child_fail(c->report, PIN_STEP_SYSCTL, i);
        /* Ready: the parent sees us stopped, pins our namespaces and kills us. */
        kill(getpid(), SIGSTOP);
        errno = EINTR;
        return child_fail(c->report, PIN_STEP_STOP, 0);
}

static int report_child_failure(const struct netns_pin_request *req, const struct pin_report *r, int status,
                                struct pxe **err)
{
        static const char *const what[] = {
                [PIN_STEP_PDEATHSIG] = "Setting the parent-death signal",
                [PIN_STEP_UNSHARE] = "Creating namespaces",
                [PIN_STEP_HOSTNAME] = "Setting the hostname",
                [PIN_STEP_LOOPBACK] = "Bringing up the loopback interface",
                [PIN_STEP_STOP] = "Waiting to be pinned",
        };

        if (r->step == PIN_STEP_SYSCTL)
                return pxe_set_errno(err, r->errnum ? r->errnum : EIO, "Pinning namespaces in %s: Setting sysctl %s=%s",
                                     req->dir, req->sysctls[r->sysctl].key, req->sysctls[r->sysctl].value);
        if (r->step != PIN_STEP_NONE && r->step < ARRAY_SIZE(what) && what[r->step])
                return pxe_set_errno(err, r->errnum ? r->errnum : EIO, "Pinning namespaces in %s: %s", req->dir,
                                     what[r->step]);
        return pxe_set(err, EIO, "Pinning namespaces in %s: the helper process ended with status %d", req->dir,
                       spawn_exit_code(status));
}

/* Wait until the child stopped (ready: 1) or exited (0). */
static int wait_ready(pid_t pid, int *status)
{
        for (;;) {
                if (waitpid(pid, status, WUNTRACED) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (WIFSTOPPED(*status) && WSTOPSIG(*status) != SIGSTOP) {
                        /* Some other stop (job control): let it go on. */
                        kill(pid, SIGCONT);
                        continue;
                }
                return WIFSTOPPED(*status) ? 1 : 0;
        }
}

static void kill_and_reap(pid_t pid)
{
        int status;

        kill(pid, SIGKILL);
        spawn_wait(pid, &status);
}

static char *ns_file(const char *dir, const char *name)
{
        char *p;

        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Unmount (every stacked mount) and remove path; what is not there is fine. */
static int ns_file_remove(const char *path, struct pxe **err)
{
        for (int i = 0; i < 16; i++) {
                if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
                        continue;
                if (errno == EINVAL || errno == ENOENT)
                        break;
                return pxe_set_errno(err, errno, "Unmounting %s", path);
        }
        if (unlink(path) < 0 && errno != ENOENT)
                return pxe_set_errno(err, errno, "Removing %s", path);
        return 0;
}

static int create_ns_files(const struct netns_pin_request *req, struct netns_paths *p, struct pxe **err)
{
        for (size_t i = 0; i < ARRAY_SIZE(ns_kinds); i++) {
                char **slot = i == 0 ? &p->net : i == 1 ? &p->ipc : &p->uts;
                _cleanup_free_ char *path = NULL;
                int fd;

                if (!(req->kinds & ns_kinds[i].kind))
                        continue;
                path = ns_file(req->dir, ns_kinds[i].name);
                if (!path)
                        return pxe_set(err, ENOMEM, "Out of memory");
                fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
                if (fd < 0)
                        return pxe_set_errno(err, errno, "Creating namespace file %s", path);
                close(fd);
                *slot = TAKE_PTR(path);
        }
        return 0;
}

static int mount_ns_files(pid_t pid, const struct netns_paths *p, struct pxe **err)
{
        for (size_t i = 0; i < ARRAY_SIZE(ns_kinds); i++) {
                const char *target = i == 0 ? p->net : i == 1 ? p->ipc : p->uts;
                char src[64];

                if (!target)
                        continue;
                snprintf(src, sizeof(src), "/proc/%d/ns/%s", (int) pid, ns_kinds[i].name);
                if (mount(src, target, NULL, MS_BIND, NULL) < 0)
                        return pxe_set_errno(err, errno, "Bind-mounting %s on %s", src, target);
        }
        return 0;
}

static void undo_files(struct netns_paths *p)
{
        char *paths[] = { p->net, p->ipc, p->uts };

        for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
                if (paths[i])
                        ns_file_remove(paths[i], NULL);
        netns_paths_done(p);
}

static void free_strv(char **v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int prepare_child(const struct netns_pin_request *req, struct pin_child *c, struct pxe **err)
{
        *c = (struct pin_child) {
                .parent = getpid(),
                .hostname = req->hostname,
                .sysctls = req->sysctls,
                .n_sysctls = req->n_sysctls,
        };
        for (size_t i = 0; i < ARRAY_SIZE(ns_kinds); i++)
                if (req->kinds & ns_kinds[i].kind)
                        c->clone_flags |= ns_kinds[i].clone_flag;
        c->sysctl_paths = calloc(req->n_sysctls + 1, sizeof(char *));
        if (!c->sysctl_paths)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < req->n_sysctls; i++) {
                _cleanup_free_ char *rel = sysctl_rel_path(req->sysctls[i].key);

                if (!rel || asprintf(&c->sysctl_paths[i], "/proc/sys/%s", rel) < 0) {
                        c->sysctl_paths[i] = NULL;
                        return pxe_set(err, ENOMEM, "Out of memory");
                }
        }
        c->report = mmap(NULL, sizeof(struct pin_report), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (c->report == MAP_FAILED) {
                c->report = NULL;
                return pxe_set_errno(err, errno, "Mapping a shared page");
        }
        return 0;
}

static void release_child(struct pin_child *c)
{
        free_strv(c->sysctl_paths, c->n_sysctls);
        if (c->report)
                munmap(c->report, sizeof(struct pin_report));
}

/* Fork the child, wait until it is ready, pin its namespaces. */
static int run_child(const struct netns_pin_request *req, struct pin_child *c, const struct netns_paths *p,
                     struct pxe **err)
{
        int status = 0, r;
        pid_t pid = spawn_fork(pin_child_main, c, err);

        if (pid < 0) {
                pxe_wrap(err, "Pinning namespaces in %s", req->dir);
                return pid;
        }
        r = wait_ready(pid, &status);
        if (r < 0) {
                kill_and_reap(pid);
                return pxe_set_errno(err, -r, "Pinning namespaces in %s: waiting for the helper", req->dir);
        }
        if (r == 0)
                return report_child_failure(req, c->report, status, err);
        r = mount_ns_files(pid, p, err);
        kill_and_reap(pid);
        if (r < 0)
                pxe_wrap(err, "Pinning namespaces in %s", req->dir);
        return r;
}

int netns_pin(const struct netns_pin_request *req, struct netns_paths *ret, struct pxe **err)
{
        struct netns_paths p = { 0 };
        struct pin_child c = { 0 };
        bool dir_existed;
        int r;

        if ((r = validate_request(req, err)) < 0)
                return r;
        dir_existed = fs_exists(req->dir);
        if ((r = fs_mkdir_p(req->dir, 0700, err)) < 0) {
                pxe_wrap(err, "Pinning namespaces");
                return r;
        }
        r = create_ns_files(req, &p, err);
        if (r >= 0)
                r = prepare_child(req, &c, err);
        if (r >= 0)
                r = run_child(req, &c, &p, err);
        release_child(&c);
        if (r < 0) {
                undo_files(&p);
                if (!dir_existed)
                        rmdir(req->dir);
                return r;
        }
        *ret = p;
        return 0;
}

int netns_unpin(const char *dir, struct pxe **err)
{
        int r = 0;

        if (!dir || !*dir)
                return pxe_set(err, EINVAL, "Unpinning namespaces: no directory given");
        for (size_t i = 0; i < ARRAY_SIZE(ns_kinds); i++) {
                _cleanup_free_ char *path = ns_file(dir, ns_kinds[i].name);
                int k;

                if (!path)
                        return pxe_set(err, ENOMEM, "Out of memory");
                k = ns_file_remove(path, r == 0 ? err : NULL);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (r < 0) {
                pxe_wrap(err, "Unpinning namespaces in %s", dir);
                return r;
        }
        if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
                return pxe_set_errno(err, errno, "Removing %s", dir);
        return 0;
}

void netns_paths_done(struct netns_paths *p)
{
        if (!p)
                return;
        free(p->net);
        free(p->ipc);
        free(p->uts);
        p->net = p->ipc = p->uts = NULL;
}
