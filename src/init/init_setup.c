/* pxcri-init --lxc-setup (init_setup.h): sysctls and shared binds from
 * LXC's mount hook. */
#include "init_setup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init_hooks.h"

#define SETUP_MAX (1u << 20)

static const char *fail_path;

static void setup_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void setup_fail(const char *fmt, ...)
{
        char msg[1024];
        va_list ap;
        int fd;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "pxcri-init: %s\n", msg);
        if (fail_path && (fd = open(fail_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0) {
                if (write(fd, msg, strlen(msg)) < 0) {
                        /* pxcri falls back to LXC's log */
                }
                close(fd);
        }
        exit(127);
}

static char *read_records(const char *path, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        char *buf = malloc(SETUP_MAX + 1);
        size_t len = 0;
        ssize_t n;

        if (fd < 0 || !buf)
                setup_fail("%s: %s", path, strerror(fd < 0 ? errno : ENOMEM));
        while (len < SETUP_MAX && (n = read(fd, buf + len, SETUP_MAX - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        setup_fail("%s: %s", path, strerror(errno));
                len += (size_t) n;
        }
        close(fd);
        buf[len] = '\0';
        *ret_len = len;
        return buf;
}

/* "<key>=<value>": /proc/sys/<key with dots as slashes>. */
static void set_sysctl(char *rec)
{
        char *eq = strchr(rec, '='), path[4096];
        size_t len;
        int fd;

        if (!eq || eq == rec)
                setup_fail("invalid sysctl record \"%s\"", rec);
        *eq = '\0';
        if ((size_t) snprintf(path, sizeof(path), "/proc/sys/%s", rec) >= sizeof(path))
                setup_fail("linux.sysctl.%s: %s", rec, strerror(ENAMETOOLONG));
        for (char *p = path + strlen("/proc/sys/"); *p; p++)
                if (*p == '.')
                        *p = '/';
        fd = open(path, O_WRONLY | O_CLOEXEC);
        len = strlen(eq + 1);
        if (fd < 0 || write(fd, eq + 1, len) != (ssize_t) len)
                setup_fail("linux.sysctl.%s: writing \"%s\" to %s: %s", rec, eq + 1, path, strerror(errno));
        close(fd);
}

static int open_in_root(int rootfd, const char *path, int flags)
{
        struct open_how how = { .flags = (unsigned long long) (flags | O_CLOEXEC),
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };

        return (int) syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Make name in parent: a directory, or (the last component of a file's
 * mount point) an empty file. */
static void make_component(int parent, const char *name, int file, const char *prefix)
{
        int made;

        if (file) {
                made = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (made >= 0)
                        close(made);
        } else {
                made = mkdirat(parent, name, 0755);
        }
        if (made < 0 && errno != EEXIST)
                setup_fail("making the mount point %s in the rootfs: %s", prefix, strerror(errno));
}

/* The mount point dest in the rootfs, each missing component made (the last
 * a file when file), symlinks resolved inside the rootfs; an O_PATH fd. */
static int make_target(int rootfd, const char *dest, int file)
{
        char prefix[4096];
        size_t n = strlen(dest), end = 0;
        int fd = -1;

        if (n >= sizeof(prefix))
                setup_fail("%s: %s", dest, strerror(ENAMETOOLONG));
        for (;;) {
                const char *slash;
                int parent = fd >= 0 ? fd : rootfd, last;

                end += strspn(dest + end, "/");
                if (end >= n)
                        break;
                slash = strchr(dest + end, '/');
                end = slash ? (size_t) (slash - dest) : n;
                last = dest[end + strspn(dest + end, "/")] == '\0';
                memcpy(prefix, dest, end);
                prefix[end] = '\0';
                fd = open_in_root(rootfd, prefix, O_PATH);
                if (fd < 0 && errno == ENOENT) {
                        make_component(parent, strrchr(prefix, '/') + 1, last && file, prefix);
                        fd = open_in_root(rootfd, prefix, O_PATH);
                }
                if (fd < 0)
                        setup_fail("the mount point %s in the rootfs: %s", prefix, strerror(errno));
                if (parent != rootfd)
                        close(parent);
        }
        if (fd < 0)
                setup_fail("the mount point %s: not below the rootfs", dest);
        return fd;
}

/* A clone of source's mount (tree) in the monitor's mount namespace. */
static int clone_from_host(int host_ns, int own_ns, const char *source, int recursive)
{
        int tree;

        if (setns(host_ns, CLONE_NEWNS) < 0)
                setup_fail("joining the mount namespace of liblxc's monitor for the shared bind of %s: %s", source,
                           strerror(errno));
        tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
        if (tree < 0)
                setup_fail("mounts: shared bind of %s: %s", source, strerror(errno));
        if (setns(own_ns, CLONE_NEWNS) < 0)
                setup_fail("returning to the container's mount namespace: %s", strerror(errno));
        return tree;
}

/* "<flags>\t<source>\t<destination>" */
static void shared_bind(char *rec, int rootfd, int host_ns, int own_ns)
{
        char *source = strchr(rec, '\t'), *dest = source ? strchr(source + 1, '\t') : NULL;
        struct mount_attr top = { .propagation = MS_SHARED }, all = { .propagation = MS_SHARED };
        int tree, target;

        if (!source || !dest || source[1] != '/' || dest[1] != '/')
                setup_fail("invalid shared bind record \"%s\"", rec);
        *source++ = '\0';
        *dest++ = '\0';
        if (strchr(rec, 'o'))
                top.attr_set |= MOUNT_ATTR_RDONLY;
        if (strchr(rec, 'u'))
                top.attr_set |= MOUNT_ATTR_NOSUID;
        if (strchr(rec, 'd'))
                top.attr_set |= MOUNT_ATTR_NODEV;
        if (strchr(rec, 'x'))
                top.attr_set |= MOUNT_ATTR_NOEXEC;
        if (strchr(rec, 'O'))
                all.attr_set |= MOUNT_ATTR_RDONLY;
        if (!strchr(rec, 'S'))
                all.propagation = 0;
        target = make_target(rootfd, dest, strchr(rec, 'f') != NULL);
        tree = clone_from_host(host_ns, own_ns, source, strchr(rec, 'r') != NULL);
        if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                setup_fail("mounts: shared bind of %s on %s: %s", source, dest, strerror(errno));
        /* Joining the host's peer group needs no change: a clone of a shared
         * mount is its peer.  MS_SHARED makes a private source shared too
         * (a peer group of its own, as runc's would be). */
        if (mount_setattr(tree, "", AT_EMPTY_PATH, &top, sizeof(top)) < 0 ||
            ((all.propagation || all.attr_set) &&
             mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &all, sizeof(all)) < 0))
                setup_fail("mounts: options of the shared bind on %s: %s", dest, strerror(errno));
        close(tree);
        close(target);
}

/* The mount namespaces: liblxc's monitor's (our parent's parent: the
 * container's init to be, then the monitor) and our own. */
static void open_namespaces(int *host_ns, int *own_ns)
{
        long monitor = init_host_ppid(init_host_ppid(0));
        char path[64];

        snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", monitor);
        if (monitor <= 0 || (*host_ns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                setup_fail("the mount namespace of liblxc's monitor (%s): %s", path,
                           strerror(monitor <= 0 ? ESRCH : errno));
        if ((*own_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)) < 0)
                setup_fail("/proc/self/ns/mnt: %s", strerror(errno));
}

void init_lxc_setup(const char *path)
{
        const char *root = getenv("LXC_ROOTFS_MOUNT");
        int rootfd = -1, host_ns = -1, own_ns = -1;
        size_t len, off;
        char *buf, *err;

        if (asprintf(&err, "%s.err", path) >= 0)
                fail_path = err;
        buf = read_records(path, &len);
        for (off = 0; off < len;) {
                char *rec = buf + off;

                /* Before a record is taken apart in place. */
                off += strlen(rec) + 1;

                if (rec[0] == 's') {
                        set_sysctl(rec + 1);
                } else if (rec[0] == 'B') {
                        if (rootfd < 0 && (!root || (rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0))
                                setup_fail("the rootfs ($LXC_ROOTFS_MOUNT %s): %s", root ? root : "unset",
                                           strerror(root ? errno : EINVAL));
                        if (host_ns < 0)
                                open_namespaces(&host_ns, &own_ns);
                        shared_bind(rec + 1, rootfd, host_ns, own_ns);
                } else if (rec[0]) {
                        setup_fail("unknown setup record \"%s\"", rec);
                }
        }
        free(buf);
}
