/* Devices: each requested host device (a directory: the devices directly in
 * it) becomes a linux.devices entry at its container path and a cgroup allow
 * rule with its permissions.  A privileged container gets every device
 * under the host's /dev and a rule allowing all, as containerd's
 * WithHostDevices and WithAllDevicesAllowed do. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cri/spec/spec_internal.h"
#include "util/cleanup.h"

/* Not walked for a privileged container's host devices (as runc's HostDevices). */
static const char *const skip_dirs[] = { "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev" };

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static bool perms_ok(const char *p)
{
        return spec_str_set(p) && strspn(p, "rwm") == strlen(p);
}

/* Add (or replace, by path) a device node and its allow rule. */
static void add_device(json_t *spec, const char *path, const struct stat *st, const char *perms)
{
        json_t *linux_ = spec_object(spec, "linux"), *devs = spec_array(linux_, "devices");
        json_t *rules = spec_array(spec_object(linux_, "resources"), "devices");
        const char *type = S_ISBLK(st->st_mode) ? "b" : "c";
        json_t *dev = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "path", path, "type", type, "major",
                                (json_int_t) major(st->st_rdev), "minor", (json_int_t) minor(st->st_rdev),
                                "fileMode", (json_int_t) (st->st_mode & 07777), "uid", (json_int_t) st->st_uid,
                                "gid", (json_int_t) st->st_gid);

        for (size_t i = json_array_size(devs); i-- > 0;) {
                const char *p = json_string_value(json_object_get(json_array_get(devs, i), "path"));

                if (p && streq(p, path))
                        json_array_remove(devs, i);
        }
        json_array_append_new(devs, dev);
        json_array_append_new(rules, json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", type, "major",
                                               (json_int_t) major(st->st_rdev), "minor",
                                               (json_int_t) minor(st->st_rdev), "access", perms));
}

static bool is_device(const struct stat *st)
{
        return S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode);
}

/* The device nodes directly in dir, at the same names under cpath. */
static int add_dir(json_t *spec, const char *dir, const char *cpath, const char *perms, size_t i, struct pxe **err)
{
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return pxe_set_errno(err, errno, "devices[%zu].host_path \"%s\"", i, dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *h = NULL, *c = NULL;
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&h, "%s/%s", dir, de->d_name) < 0 || asprintf(&c, "%s/%s", cpath, de->d_name) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (stat(h, &st) == 0 && is_device(&st))
                        add_device(spec, c, &st, perms);
        }
        return 0;
}

static int add_requested(json_t *spec, const Runtime__V1__Device *d, size_t i, struct pxe **err)
{
        const char *perms = spec_str_set(d->permissions) ? d->permissions : "rwm";
        const char *cpath = spec_str_set(d->container_path) ? d->container_path : d->host_path;
        struct stat st;

        if (!spec_str_set(d->host_path) || d->host_path[0] != '/')
                return pxe_set(err, EINVAL, "devices[%zu].host_path \"%s\" must be absolute", i,
                               d->host_path ? d->host_path : "");
        if (!spec_path_ok(cpath, true))
                return pxe_set(err, EINVAL, "devices[%zu].container_path \"%s\" must be absolute, without \"..\"", i,
                               cpath);
        if (!perms_ok(perms))
                return pxe_set(err, EINVAL, "devices[%zu].permissions \"%s\": only r, w and m are allowed", i, perms);
        if (stat(d->host_path, &st) < 0)
                return pxe_set_errno(err, errno, "devices[%zu].host_path \"%s\"", i, d->host_path);
        if (S_ISDIR(st.st_mode))
                return add_dir(spec, d->host_path, cpath, perms, i, err);
        if (!is_device(&st))
                return pxe_set(err, EINVAL, "devices[%zu].host_path \"%s\" is not a device", i, d->host_path);
        add_device(spec, cpath, &st, perms);
        return 0;
}

static bool skipped_dir(const char *name)
{
        for (size_t i = 0; i < ARRAY_SIZE(skip_dirs); i++)
                if (streq(name, skip_dirs[i]))
                        return true;
        return false;
}

static void add_host_tree(json_t *spec, const char *dir, int depth)
{
        _cleanup_(closedirp) DIR *d = depth < 8 ? opendir(dir) : NULL;
        struct dirent *de;

        while (d && (de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, "..") || asprintf(&p, "%s/%s", dir, de->d_name) < 0)
                        continue;
                if (lstat(p, &st) < 0 || streq(p, "/dev/console"))
                        continue;
                if (S_ISDIR(st.st_mode) && !skipped_dir(de->d_name))
                        add_host_tree(spec, p, depth + 1);
                else if (is_device(&st))
                        add_device(spec, p, &st, "rwm");
        }
}

int spec_apply_devices(json_t *spec, const Runtime__V1__ContainerConfig *cc, bool privileged, struct pxe **err)
{
        if (privileged) {
                json_t *res = spec_object(spec_object(spec, "linux"), "resources");

                add_host_tree(spec, "/dev", 0);
                json_object_set_new(res, "devices", json_pack("[{s:b, s:s}]", "allow", 1, "access", "rwm"));
        }
        for (size_t i = 0; i < cc->n_devices; i++)
                if (add_requested(spec, cc->devices[i], i, err) < 0)
                        return -pxe_code(err, EINVAL);
        return 0;
}
