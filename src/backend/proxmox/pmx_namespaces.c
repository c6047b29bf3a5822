/* A Proxmox container in a pod: it joins the network, IPC and UTS namespaces
 * pxcrid pinned for the pod (linux.namespaces paths), as the pod's other
 * containers do, instead of getting a network of its own.
 *
 * LXC inherits a namespace from a path with lxc.namespace.share.<ns>, but
 * Proxmox passes on only the raw LXC keys it knows (pve-container's
 * valid_lxc_conf_keys; lxc.namespace.* is not one: such a line is dropped
 * with "unable to parse config").  It does pass lxc.include: so pxcri writes
 * the share keys into a file of its own (<root>/proxmox/<id>/namespaces.conf,
 * root's, out of the container's reach) and adds `lxc.include: FILE` to the
 * container's Proxmox config, /etc/pve/lxc/<vmid>.conf (config_dir) -- a file
 * only the node itself can write, under the lock pct takes for it.  The REST
 * API has no way to set raw keys, so with transport "api" a container that
 * must join namespaces is refused before anything is made.
 *
 * The same include carries the LXC keys of the OCI security fields
 * (map_security.c: lxc.no_new_privs, lxc.cap.keep, masked and read-only
 * paths, lxc.seccomp.profile with <root>/proxmox/<id>/seccomp); with "api"
 * those are refused naming the field, never dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/proxmox/map.h"
#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define PVE_LOCK_DIR "/run/lock/lxc"
#define CONFIG_MAX (1u << 20)
#define KEYS_MAX ((size_t) PVE_NS_MAX * (PATH_MAX + 64) + 256)

static const char *const ns_lxc[PVE_NS_MAX] = {
        [PVE_NS_NET] = "net",
        [PVE_NS_IPC] = "ipc",
        [PVE_NS_UTS] = "uts",
        [PVE_NS_PID] = "pid",
};

/* An unprivileged container cannot mount a procfs of a PID namespace its
 * user namespace does not own (the pod's and the host's belong to the
 * host's).  So pxcri mounts one itself, from a process inside that PID
 * namespace (procfs shows the PID namespace of its mounter), at
 * <run_root>/<hash>-<id>.proc -- where the container's root (host uid
 * 100000), which makes LXC's bind, can walk, and which is not inside the
 * run directory the container shares -- for LXC to bind as the container's
 * /proc; the mount is detached from the host once the container started
 * (pmx_namespaces_release()).  Forks without exec, as pidns_infra_start()
 * does: the child only joins, forks and mounts. */
static int mount_proc_of(const char *ns_path, const char *target, struct pxe **err)
{
        _cleanup_close_ int fd = open(ns_path, O_RDONLY | O_CLOEXEC);
        int status = 0;
        pid_t mid;

        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening the PID namespace %s", ns_path);
        if (mkdir(target, 0555) < 0 && errno != EEXIST)
                return pxe_set_errno(err, errno, "Creating %s", target);
        mid = fork();
        if (mid < 0)
                return pxe_set_errno(err, errno, "Mounting a procfs of %s: fork", ns_path);
        if (mid == 0) {
                pid_t child;

                if (setns(fd, CLONE_NEWPID) < 0)
                        _exit(errno);
                child = fork();
                if (child < 0)
                        _exit(errno);
                if (child == 0)
                        _exit(mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ? errno : 0);
                _exit(spawn_wait(child, &status) < 0 || !WIFEXITED(status) ? EIO : WEXITSTATUS(status));
        }
        if (spawn_wait(mid, &status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
                return pxe_set_errno(err, WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : EIO,
                                     "Mounting a procfs of the PID namespace %s on %s", ns_path, target);
        return 0;
}

/* rmdir path, retrying while it is busy (processes still exiting). */
static void rmdir_settled(const char *path)
{
        const struct timespec step = { .tv_nsec = 20 * 1000 * 1000 };

        for (int i = 0; i < 50 && rmdir(path) < 0 && errno == EBUSY; i++)
                nanosleep(&step, NULL);
}

/* Under base: lxc/<vmid>/ns, lxc/<vmid>, lxc.monitor/<vmid>. */
static void gc_under(const char *base, unsigned vmid)
{
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/lxc/%u/ns", base, vmid);
        rmdir_settled(path);
        snprintf(path, sizeof(path), "%s/lxc/%u", base, vmid);
        rmdir_settled(path);
        snprintf(path, sizeof(path), "%s/lxc.monitor/%u", base, vmid);
        rmdir_settled(path);
}

void pmx_namespaces_cgroup_gc(unsigned vmid)
{
        DIR *d = opendir("/sys/fs/cgroup");
        struct dirent *de;
        char base[PATH_MAX];

        if (!d)
                return;
        if (vmid) {
                gc_under("/sys/fs/cgroup", vmid); /* cgroup v2 */
                while ((de = readdir(d))) {       /* cgroup v1: each hierarchy */
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(base, sizeof(base), "/sys/fs/cgroup/%s", de->d_name);
                        gc_under(base, vmid);
                }
        }
        closedir(d);
}

static char *proc_path(struct backend *b, const char *id)
{
        _cleanup_free_ char *run = pmx_run_path(b, id);
        char *p = NULL;

        return run && asprintf(&p, "%s.proc", run) >= 0 ? p : NULL;
}

void pmx_namespaces_release(struct backend *b, const char *id)
{
        _cleanup_free_ char *proc = proc_path(b, id);

        if (proc && umount2(proc, MNT_DETACH) == 0)
                rmdir(proc);
}

static bool joins_any(const struct pve_params *p)
{
        for (int i = 0; i < PVE_NS_MAX; i++)
                if (p->ns_paths[i])
                        return true;
        return p->host_network;
}

static bool needs_include(const struct pve_params *p)
{
        return joins_any(p) || p->lxc_security;
}

int pmx_namespaces_check(struct backend *b, const struct pve_params *p, const char *id, struct pxe **err)
{
        if (!needs_include(p) || b->cfg->proxmox.transport == PROXMOX_TRANSPORT_PCT)
                return 0;
        if (!joins_any(p))
                return pxe_set(err, EOPNOTSUPP,
                               "Container %s: %s: Proxmox takes the LXC keys that apply it only from the container's "
                               "config file on the node, which its REST API cannot write; use "
                               "backends.proxmox.transport \"pct\" with pxcri on the Proxmox node",
                               id, p->security_field);
        return pxe_set(err, EOPNOTSUPP,
                       "Container %s joins its pod's namespaces (network %s): Proxmox takes the LXC keys for that "
                       "only from the container's config file on the node, which its REST API cannot write; use "
                       "backends.proxmox.transport \"pct\" with pxcri on the Proxmox node",
                       id, p->ns_paths[PVE_NS_NET] ? p->ns_paths[PVE_NS_NET] : p->host_network ? "the host's" : "-");
}

/* The config with `lxc.include: include` added at the end of its main
 * section (before the first [snapshot] or [pve:pending] section). */
static char *with_include(const char *text, size_t len, const char *include)
{
        const char *end = text, *p;
        char *out = NULL;
        int n;

        for (p = text; p < text + len;) {
                const char *nl = memchr(p, '\n', (size_t) (text + len - p));
                const char *next = nl ? nl + 1 : text + len;

                if (*p == '[')
                        break;
                end = next;
                p = next;
        }
        n = asprintf(&out, "%.*s%slxc.include: %s\n%.*s", (int) (end - text), text,
                     end > text && end[-1] != '\n' ? "\n" : "", include, (int) (text + len - end), end);
        return n < 0 ? NULL : out;
}

int pmx_namespaces_share(struct backend *b, unsigned vmid, const char *id, const struct pve_params *p,
                         bool unprivileged, struct pxe **err)
{
        _cleanup_free_ char *include = NULL, *keys = NULL, *conf = NULL, *text = NULL, *updated = NULL;
        _cleanup_free_ char *lock = NULL, *seccomp = NULL, *proc = NULL, *setup = NULL;
        _cleanup_close_ int lock_fd = -EBADF;
        size_t len = 0, used = 0;
        struct stat st;

        if (!needs_include(p))
                return 0;
        if (pmx_namespaces_check(b, p, id, err) < 0)
                return -EOPNOTSUPP;
        include = pmx_path(b, id, "namespaces.conf");
        keys = calloc(1, KEYS_MAX + (p->lxc_security ? strlen(p->lxc_security) : 0) + 1);
        seccomp = pmx_path(b, id, "seccomp");
        setup = pmx_path(b, id, "setup");
        if (!include || !keys || !seccomp || !setup || asprintf(&conf, "%s/%u.conf", b->cfg->proxmox.config_dir, vmid) < 0 ||
            asprintf(&lock, PVE_LOCK_DIR "/pve-config-%u.lock", vmid) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (int i = 0; i < PVE_NS_MAX; i++)
                if (p->ns_paths[i])
                        used += (size_t) snprintf(keys + used, KEYS_MAX - used, "lxc.namespace.share.%s = %s\n",
                                                  ns_lxc[i], p->ns_paths[i]);
        /* An unprivileged container may not mount a sysfs of a network
         * namespace its user namespace does not own (the pod's is the
         * host's): it gets the host's /sys bound instead, as runc does for
         * containers in a user namespace -- writable in name only, its root
         * is host uid 100000.  Its /proc, in a PID namespace it does not
         * own, is the procfs pxcri mounted from inside it (mount_proc_of). */
        if (p->host_network)
                used += (size_t) snprintf(keys + used, KEYS_MAX - used, "lxc.net.0.type = none\n");
        if (unprivileged && (p->ns_paths[PVE_NS_NET] || p->host_network || p->ns_paths[PVE_NS_PID]))
                used += (size_t) snprintf(keys + used, KEYS_MAX - used, "lxc.mount.auto =\nlxc.mount.auto = %s%s\n",
                                          p->ns_paths[PVE_NS_PID] ? "cgroup:mixed" : "proc:mixed cgroup:mixed",
                                          p->ns_paths[PVE_NS_NET] || p->host_network ? "" : " sys:mixed");
        if (unprivileged && (p->ns_paths[PVE_NS_NET] || p->host_network))
                used += (size_t) snprintf(keys + used, KEYS_MAX - used,
                                          "lxc.mount.entry = /sys sys none rbind,create=dir 0 0\n");
        if (unprivileged && p->ns_paths[PVE_NS_PID]) {
                if (!(proc = proc_path(b, id)))
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (mount_proc_of(p->ns_paths[PVE_NS_PID], proc, err) < 0)
                        return -pxe_code(err, EIO);
                used += (size_t) snprintf(keys + used, KEYS_MAX - used,
                                          "lxc.mount.entry = %s proc none rbind,create=dir 0 0\n", proc);
        }
        /* The security keys after Proxmox's (the include comes last): see
         * map_security.c. */
        if (p->lxc_security)
                used += (size_t) sprintf(keys + used, "%s", p->lxc_security);
        if (p->seccomp && fs_write_atomic(seccomp, p->seccomp, strlen(p->seccomp), 0600, err) < 0)
                return -pxe_code(err, EIO);
        /* pxcri-init --lxc-setup's records (shared binds), read from
         * LXC's mount hook. */
        if (p->setup && fs_write_atomic(setup, p->setup, p->setup_len, 0600, err) < 0)
                return -pxe_code(err, EIO);
        if (fs_write_atomic(include, keys, used, 0600, err) < 0)
                return -pxe_code(err, EIO);
        /* pct's own lock for the config (PVE::LXC::Config->lock_config). */
        if (fs_mkdir_p(PVE_LOCK_DIR, 0755, err) < 0)
                return -pxe_code(err, EIO);
        lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0)
                return pxe_set_errno(err, errno, "Locking %s", lock);
        if (stat(conf, &st) < 0)
                return pxe_set_errno(err, errno,
                                     "The Proxmox config of container %u, %s (backends.proxmox.config_dir)", vmid,
                                     conf);
        if (fs_read_file(conf, CONFIG_MAX, &text, &len, err) < 0)
                return -pxe_code(err, EIO);
        updated = with_include(text, len, include);
        if (!updated)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_write_atomic(conf, updated, strlen(updated), st.st_mode & 0777, err) < 0)
                return -pxe_code(err, EIO);
        return 0;
}
