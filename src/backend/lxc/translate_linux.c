/* OCI config -> LXC keys: linux.* (namespaces, id mappings, cgroups path,
 * masked and read-only paths, devices, sysctl, seccomp) and the mounts that
 * bring pxcri-init into the container. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "backend/lxc/translate.h"
#include "util/cleanup.h"

#define ADD(s, err, key, ...)                                                                   \
        do {                                                                                    \
                if (lxc_spec_add((s), (key), __VA_ARGS__) < 0)                                  \
                        return pxe_set((err), EINVAL, "%s: value cannot be expressed", (key)); \
        } while (0)

struct ns_name {
        const char *oci, *lxc;
};

static const struct ns_name namespaces[] = {
        { "pid", "pid" },       { "network", "net" }, { "mount", "mnt" },   { "ipc", "ipc" },
        { "uts", "uts" },       { "user", "user" },   { "cgroup", "cgroup" }, { "time", "time" },
};

static const char *ns_lxc_name(const char *oci)
{
        for (size_t i = 0; i < ARRAY_SIZE(namespaces); i++)
                if (oci && streq(namespaces[i].oci, oci))
                        return namespaces[i].lxc;
        return NULL;
}

static int translate_idmaps(json_t *lin, struct lxc_spec *s, struct pxe **err)
{
        static const char *const fields[] = { "uidMappings", "gidMappings" };

        for (int k = 0; k < 2; k++) {
                json_t *maps = json_object_get(lin, fields[k]), *m;
                size_t i;

                if (json_array_size(maps) == 0)
                        return pxe_set(err, EINVAL, "linux.%s: a user namespace needs id mappings", fields[k]);
                json_array_foreach(maps, i, m) {
                        json_t *c = json_object_get(m, "containerID"), *h = json_object_get(m, "hostID"),
                               *n = json_object_get(m, "size");

                        if (!json_is_integer(c) || !json_is_integer(h) || !json_is_integer(n))
                                return pxe_set(err, EINVAL, "linux.%s[%zu]: expected containerID, hostID and size",
                                               fields[k], i);
                        ADD(s, err, "lxc.idmap", "%c %lld %lld %lld", k == 0 ? 'u' : 'g', json_integer_value(c),
                            json_integer_value(h), json_integer_value(n));
                }
        }
        return 0;
}

/* New namespaces go to lxc.namespace.clone, joined ones (by path) to
 * lxc.namespace.share.<ns>; the others are the caller's. */
static int translate_namespaces(json_t *config, json_t *lin, struct lxc_spec *s, struct pxe **err)
{
        json_t *list = json_object_get(lin, "namespaces"), *v;
        char clone[128] = "";
        bool has_mnt = false, new_uts = false, joined_uts = false, new_user = false;
        size_t i;

        if (list && !json_is_array(list))
                return pxe_set(err, EINVAL, "linux.namespaces: expected an array");
        json_array_foreach(list, i, v) {
                const char *type = json_string_value(json_object_get(v, "type"));
                const char *path = json_string_value(json_object_get(v, "path"));
                const char *name = ns_lxc_name(type);
                char key[64];

                if (!name)
                        return pxe_set(err, EINVAL, "linux.namespaces[%zu]: unknown type \"%s\"", i, type ? type : "");
                has_mnt |= streq(name, "mnt");
                if (path && *path) {
                        if (path[0] != '/')
                                return pxe_set(err, EINVAL, "linux.namespaces[%zu].path: must be absolute", i);
                        snprintf(key, sizeof(key), "lxc.namespace.share.%s", name);
                        joined_uts |= streq(name, "uts");
                        ADD(s, err, key, "%s", path);
                        continue;
                }
                new_uts |= streq(name, "uts");
                new_user |= streq(name, "user");
                if (strlen(clone) + strlen(name) + 2 < sizeof(clone))
                        snprintf(clone + strlen(clone), sizeof(clone) - strlen(clone), "%s%s", *clone ? " " : "",
                                 name);
        }
        if (!has_mnt)
                return pxe_set(err, ENOTSUP, "linux.namespaces: the lxc backend needs a mount namespace");
        if (*clone)
                ADD(s, err, "lxc.namespace.clone", "%s", clone);
        /* A joined UTS namespace (a CRI pod's, pinned) is one of the container's own. */
        if (!new_uts && !joined_uts && json_string_value(json_object_get(config, "hostname")) &&
            *json_string_value(json_object_get(config, "hostname")))
                return pxe_set(err, EINVAL, "hostname: setting it needs a new uts namespace");
        if (new_user)
                return translate_idmaps(lin, s, err);
        return 0;
}

/* Whether path inside the container is a directory: /proc and /sys look like
 * the host's, the rest is the rootfs. */
static bool is_dir_in_container(const char *rootfs, const char *path)
{
        _cleanup_free_ char *p = NULL;
        struct stat st;

        if (strncmp(path, "/proc/", 6) == 0 || strncmp(path, "/sys/", 5) == 0)
                return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        if (asprintf(&p, "%s%s", rootfs, path) < 0)
                return false;
        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int lxc_translate_paths(json_t *lin, struct lxc_spec *s, struct pxe **err)
{
        json_t *masked = json_object_get(lin, "maskedPaths"), *ro = json_object_get(lin, "readonlyPaths"), *v;
        size_t i;

        json_array_foreach(masked, i, v) {
                const char *p = json_string_value(v);
                _cleanup_free_ char *e = NULL;

                if (!p || p[0] != '/' || !(e = lxc_fstab_escape(p + 1)))
                        return pxe_set(err, EINVAL, "linux.maskedPaths[%zu]: expected an absolute path", i);
                if (is_dir_in_container(s->rootfs, p))
                        ADD(s, err, "lxc.mount.entry", "tmpfs %s tmpfs ro,nosuid,nodev,noexec,optional 0 0", e);
                else
                        ADD(s, err, "lxc.mount.entry", "/dev/null %s none bind,ro,optional 0 0", e);
        }
        json_array_foreach(ro, i, v) {
                const char *p = json_string_value(v);
                _cleanup_free_ char *e = NULL;

                if (!p || p[0] != '/' || !(e = lxc_fstab_escape(p + 1)))
                        return pxe_set(err, EINVAL, "linux.readonlyPaths[%zu]: expected an absolute path", i);
                ADD(s, err, "lxc.mount.entry", "%s %s none rbind,ro,relative,optional 0 0", e, e);
        }
        return 0;
}

int lxc_translate_devices(const json_t *devs, const char *who, struct lxc_spec *s, struct pxe **err)
{
        const json_t *v;
        size_t i;

        json_array_foreach(devs, i, v) {
                const char *path = json_string_value(json_object_get(v, "path"));
                const char *type = json_string_value(json_object_get(v, "type"));
                long long maj = json_integer_value(json_object_get(v, "major"));
                long long min = json_integer_value(json_object_get(v, "minor"));
                _cleanup_free_ char *e = NULL;
                struct stat st;

                if (!path || path[0] != '/' || !type || !(e = lxc_fstab_escape(path + 1)))
                        return pxe_set(err, EINVAL, "linux.devices[%zu]: expected path and type", i);
                /* liblxc makes these from the container's own devpts
                 * (lxc.pty.max); a bind of the host's would make its setup
                 * fail (a privileged pod lists every host device). */
                if (streq(path, "/dev/ptmx") || strncmp(path, "/dev/pts/", 9) == 0)
                        continue;
                if (stat(path, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) ||
                    (S_ISCHR(st.st_mode) != (type[0] == 'c' || type[0] == 'u')) ||
                    (long long) major(st.st_rdev) != maj || (long long) minor(st.st_rdev) != min)
                        return pxe_set(err, ENOTSUP,
                                       "linux.devices[%zu]: %s binds device nodes from the host, "
                                       "and the host has no %s device %lld:%lld at %s", i, who, type, maj, min, path);
                ADD(s, err, "lxc.mount.entry", "%s %s none bind,create=file 0 0", path, e);
        }
        return 0;
}

/* pxcri-init writes them from LXC's mount hook, in the container's
 * namespaces: liblxc's lxc.sysctl.* come after pivot_root, through a
 * /proc/sys that linux.readonlyPaths made read-only (init_setup.h). */
static int translate_sysctl(json_t *lin, struct lxc_spec *s, struct pxe **err)
{
        json_t *sysctl = json_object_get(lin, "sysctl"), *v;
        const char *k;

        if (sysctl && !json_is_object(sysctl))
                return pxe_set(err, EINVAL, "linux.sysctl: expected an object");
        json_object_foreach(sysctl, k, v) {
                if (!json_is_string(v) || !*k || strlen(k) > 255 || strpbrk(k, " =/\n") || strstr(k, "..") ||
                    k[0] == '.')
                        return pxe_set(err, EINVAL, "linux.sysctl.%s: expected a key and a string value", k);
                if (lxc_spec_add_setup(s, "s%s=%s", k, json_string_value(v)) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        return 0;
}

static int refuse_linux_fields(json_t *lin, struct pxe **err)
{
        static const char *const fields[] = { "intelRdt", "personality", "memoryPolicy", "netDevices" };

        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
                json_t *v = json_object_get(lin, fields[i]);

                if (v && !json_is_null(v))
                        return pxe_set(err, ENOTSUP, "linux.%s: not supported by the lxc backend", fields[i]);
        }
        /* Not an error, whatever it asks: liblxc makes the container's root
         * mount tree shared after pivot_root, in a peer group of its own (its
         * mounts do not reach the host's mount of the rootfs, and the host's
         * reach it only through the binds).  What crosses to the host is a
         * bind mount with shared propagation (translate_mounts.c). */
        return 0;
}

/* linux.cgroupsPath: the container's cgroup, relative to LXC's cgroup root;
 * the monitor gets a sibling.  systemd's "slice:prefix:name" form is not. */
static int translate_cgroups_path(json_t *lin, struct lxc_spec *s, struct pxe **err)
{
        const char *p = json_string_value(json_object_get(lin, "cgroupsPath"));

        if (!p || !*p)
                return 0;
        if (strchr(p, ':'))
                return pxe_set(err, ENOTSUP, "linux.cgroupsPath: systemd form \"%s\" is not supported by the lxc "
                               "backend", p);
        while (*p == '/')
                p++;
        if (!*p || strstr(p, ".."))
                return pxe_set(err, EINVAL, "linux.cgroupsPath: invalid path");
        ADD(s, err, "lxc.cgroup.dir.container", "%s", p);
        ADD(s, err, "lxc.cgroup.dir.monitor", "%s.pxcri-monitor", p);
        return 0;
}

static int translate_init_mounts(const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        _cleanup_free_ char *init = lxc_fstab_escape(o->init_path), *dir = lxc_fstab_escape(o->run_dir);

        if (!init || !dir)
                return pxe_set(err, ENOMEM, "Out of memory");
        ADD(s, err, "lxc.mount.entry", "%s %s none bind,create=dir 0 0", dir, LXC_INIT_DIR + 1);
        ADD(s, err, "lxc.mount.entry", "%s %s none bind,ro,create=file 0 0", init, LXC_INIT_PATH + 1);
        return 0;
}

int lxc_translate_linux(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        json_t *lin = json_object_get(config, "linux");
        int r;

        if (lin && !json_is_object(lin))
                return pxe_set(err, EINVAL, "linux: expected an object");
        if ((r = refuse_linux_fields(lin, err)) < 0 || (r = translate_namespaces(config, lin, s, err)) < 0 ||
            (r = translate_cgroups_path(lin, s, err)) < 0 || (r = lxc_translate_mounts(config, o, s, err)) < 0 ||
            (r = lxc_translate_paths(lin, s, err)) < 0 || (r = lxc_translate_devices(json_object_get(lin, "devices"), "the lxc backend", s, err)) < 0 ||
            (r = translate_init_mounts(o, s, err)) < 0 || (r = lxc_translate_resources(lin, o, s, err)) < 0 ||
            (r = translate_sysctl(lin, s, err)) < 0 || (r = lxc_translate_seccomp(lin, o, s, err)) < 0)
                return r;
        return 0;
}
