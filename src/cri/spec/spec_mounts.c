/* Bind mounts: the pod's /etc/hosts, /etc/resolv.conf, /etc/hostname and
 * /dev/shm, and the request's mounts.  As containerd does, they are sorted
 * by the depth of their container path (a parent is mounted before what goes
 * inside it), replace the base spec's mounts at the same destination (a /dev
 * mount also replaces everything under /dev), and come after the base
 * spec's remaining mounts.  Options: rbind, the propagation (rprivate,
 * rslave, rshared), ro or rw. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cri/spec/spec_internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

struct cmount {
        char *dst;  /* cleaned container path */
        char *src;
        const char *propagation;
        bool ro, rro;
        bool create; /* a request mount: missing host path made a directory */
        size_t order;
        size_t depth;
        size_t index; /* mounts[index] for messages; SIZE_MAX: the pod's */
};

struct cmounts {
        struct cmount *v;
        size_t n;
};

static void cmounts_done(struct cmounts *m)
{
        for (size_t i = 0; i < m->n; i++) {
                free(m->v[i].dst);
                free(m->v[i].src);
        }
        free(m->v);
}

/* "/a//b/./c/" -> "/a/b/c" (".." was refused before). */
static char *path_clean(const char *p)
{
        char *out = malloc(strlen(p) + 2), *o = out;
        size_t n;

        if (!out)
                return NULL;
        for (const char *c = p; *c; c += n) {
                c += strspn(c, "/");
                n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.'))
                        continue;
                *o++ = '/';
                memcpy(o, c, n);
                o += n;
        }
        if (o == out)
                *o++ = '/';
        *o = '\0';
        return out;
}

static size_t path_depth(const char *clean)
{
        size_t d = 0;

        for (const char *c = clean; *c; c++)
                d += *c == '/' && c[1] != '\0';
        return d;
}

static bool cmounts_has(const struct cmounts *m, const char *dst)
{
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->v[i].dst, dst))
                        return true;
        return false;
}

static int cmounts_add(struct cmounts *m, const char *dst, const char *src, const char *prop, bool ro, bool rro,
                       size_t index, struct pxe **err)
{
        struct cmount *v = realloc(m->v, (m->n + 1) * sizeof(*v));
        struct cmount *c;

        if (!v)
                return pxe_set(err, ENOMEM, "Out of memory");
        m->v = v;
        c = &v[m->n];
        *c = (struct cmount){ .dst = path_clean(dst), .src = strdup(src), .propagation = prop, .ro = ro,
                              .rro = rro, .create = index != SIZE_MAX, .order = m->n, .index = index };
        m->n++;
        if (!c->dst || !c->src)
                return pxe_set(err, ENOMEM, "Out of memory");
        c->depth = path_depth(c->dst);
        return 0;
}

static const char *propagation_option(Runtime__V1__MountPropagation p)
{
        switch (p) {
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE:
                return "rprivate";
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER:
                return "rslave";
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL:
                return "rshared";
        default:
                return NULL;
        }
}

int spec_check_mount(const Runtime__V1__Mount *m, size_t i, struct pxe **err)
{
        if (!spec_str_set(m->container_path) || m->container_path[0] != '/')
                return pxe_set(err, EINVAL, "mounts[%zu].container_path \"%s\" must be absolute", i,
                               m->container_path ? m->container_path : "");
        if (!spec_path_ok(m->container_path, true))
                return pxe_set(err, EINVAL, "mounts[%zu].container_path \"%s\" must not contain \"..\"", i,
                               m->container_path);
        if (m->image && spec_str_set(m->image->image))
                return pxe_set(err, EINVAL, "mounts[%zu].image: image volumes are not supported", i);
        if (!spec_str_set(m->host_path) || m->host_path[0] != '/')
                return pxe_set(err, EINVAL, "mounts[%zu].host_path \"%s\" must be absolute", i,
                               m->host_path ? m->host_path : "");
        if (m->n_uidmappings || m->n_gidmappings)
                return pxe_set(err, EINVAL, "mounts[%zu]: id-mapped mounts are not supported", i);
        if (!propagation_option(m->propagation))
                return pxe_set(err, EINVAL, "mounts[%zu].propagation: unknown value %d", i, (int) m->propagation);
        if (m->recursive_read_only &&
            (!m->readonly || m->propagation != RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE))
                return pxe_set(err, EINVAL, "mounts[%zu].recursive_read_only needs readonly and private propagation",
                               i);
        return 0;
}

static int collect_request(struct cmounts *out, const Runtime__V1__ContainerConfig *cc, struct pxe **err)
{
        for (size_t i = 0; i < cc->n_mounts; i++) {
                const Runtime__V1__Mount *m = cc->mounts[i];

                if (spec_check_mount(m, i, err) < 0)
                        return -EINVAL;
                if (cmounts_add(out, m->container_path, m->host_path, propagation_option(m->propagation),
                                m->readonly, m->recursive_read_only, i, err) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The pod's files, unless the request mounts something there itself (kubelet
 * mounts its own /etc/hosts for pods not on the host network). */
static int collect_pod(struct cmounts *out, const struct cri_sandbox_info *sb, bool host_ipc, bool ro,
                       struct pxe **err)
{
        const char *shm = spec_str_set(sb->shm_path) ? sb->shm_path : host_ipc ? "/dev/shm" : NULL;
        const struct {
                const char *dst, *src;
                bool ro;
        } pod[] = {
                { "/etc/hostname", sb->hostname_path, ro },
                { "/etc/hosts", sb->hosts_path, ro },
                { "/etc/resolv.conf", sb->resolv_path, ro },
                { "/dev/shm", shm, false },
        };
        size_t n_request = out->n;

        for (size_t i = 0; i < ARRAY_SIZE(pod); i++) {
                bool taken = false;

                if (!spec_str_set(pod[i].src))
                        continue;
                for (size_t j = 0; j < n_request; j++)
                        taken = taken || streq(out->v[j].dst, pod[i].dst);
                if (!taken && cmounts_add(out, pod[i].dst, pod[i].src, "rprivate", pod[i].ro, false, SIZE_MAX, err) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* kubelet expects a missing host path of a volume to be created as a
 * directory; symlinks in it are resolved here, as containerd does, so the
 * runtime mounts what was checked. */
static int prepare_source(struct cmount *c, struct pxe **err)
{
        struct stat st;
        char *real;

        if (!c->create)
                return 0;
        if (stat(c->src, &st) < 0) {
                if (errno != ENOENT)
                        return pxe_set_errno(err, errno, "mounts[%zu].host_path \"%s\"", c->index, c->src);
                if (fs_mkdir_p(c->src, 0755, err) < 0)
                        return pxe_wrap(err, "mounts[%zu].host_path", c->index);
        }
        real = realpath(c->src, NULL);
        if (!real)
                return pxe_set_errno(err, errno, "mounts[%zu].host_path \"%s\"", c->index, c->src);
        free(c->src);
        c->src = real;
        return 0;
}

static int cmount_cmp(const void *a, const void *b)
{
        const struct cmount *x = a, *y = b;

        if (x->depth != y->depth)
                return x->depth < y->depth ? -1 : 1;
        return x->order < y->order ? -1 : x->order > y->order;
}

static bool replaced(const struct cmounts *m, const char *dst)
{
        _cleanup_free_ char *d = dst ? path_clean(dst) : NULL;

        if (!d)
                return false;
        if (cmounts_has(m, d))
                return true;
        return cmounts_has(m, "/dev") && strncmp(d, "/dev/", 5) == 0;
}

static json_t *cmount_json(const struct cmount *c)
{
        json_t *o = json_pack("{s:s, s:s, s:s, s:[s]}", "destination", c->dst, "type", "bind", "source", c->src,
                              "options", "rbind");
        json_t *opts = json_object_get(o, "options");

        json_array_append_new(opts, json_string(c->propagation));
        json_array_append_new(opts, json_string(c->ro ? "ro" : "rw"));
        if (c->rro)
                json_array_append_new(opts, json_string("rro"));
        return o;
}

/* Privileged containers see /sys and the cgroup tree read-write. */
static void writable_sys(json_t *mounts)
{
        size_t i;
        json_t *m;

        json_array_foreach(mounts, i, m) {
                const char *d = json_string_value(json_object_get(m, "destination"));
                json_t *opts = json_object_get(m, "options");

                if (!d || (!streq(d, "/sys") && !streq(d, "/sys/fs/cgroup")))
                        continue;
                for (size_t j = 0; j < json_array_size(opts); j++) {
                        const char *o = json_string_value(json_array_get(opts, j));

                        if (o && streq(o, "ro"))
                                json_array_set_new(opts, j, json_string("rw"));
                }
        }
}

/* Mount events cross into the container only when its root mount is not
 * private: rshared for a bidirectional mount, rslave for host-to-container,
 * as containerd sets them. */
static void set_rootfs_propagation(json_t *spec, const struct cmounts *m)
{
        const char *prop = NULL;

        for (size_t i = 0; i < m->n; i++) {
                if (strcmp(m->v[i].propagation, "rshared") == 0)
                        prop = "rshared";
                else if (strcmp(m->v[i].propagation, "rslave") == 0 && !prop)
                        prop = "rslave";
        }
        if (prop)
                json_object_set_new(spec_object(spec, "linux"), "rootfsPropagation", json_string(prop));
}

int spec_apply_mounts(json_t *spec, const Runtime__V1__ContainerConfig *cc, const struct cri_sandbox_info *sb,
                      bool host_ipc, bool readonly_rootfs, bool privileged, struct pxe **err)
{
        _cleanup_(cmounts_done) struct cmounts m = { 0 };
        json_t *mounts = spec_array(spec, "mounts");

        if (collect_request(&m, cc, err) < 0 || collect_pod(&m, sb, host_ipc, readonly_rootfs, err) < 0)
                return -pxe_code(err, EINVAL);
        for (size_t i = 0; i < m.n; i++)
                if (prepare_source(&m.v[i], err) < 0)
                        return -pxe_code(err, EIO);
        if (m.n > 1)
                qsort(m.v, m.n, sizeof(*m.v), cmount_cmp);
        for (size_t i = json_array_size(mounts); i-- > 0;)
                if (replaced(&m, json_string_value(json_object_get(json_array_get(mounts, i), "destination"))))
                        json_array_remove(mounts, i);
        if (privileged)
                writable_sys(mounts);
        for (size_t i = 0; i < m.n; i++)
                json_array_append_new(mounts, cmount_json(&m.v[i]));
        set_rootfs_propagation(spec, &m);
        return 0;
}
