/* OCI mounts -> lxc.mount.entry (fstab lines, targets relative to the
 * rootfs) and lxc.mount.auto for the cgroup filesystem. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/lxc/translate.h"
#include "util/cleanup.h"

/* Filesystem types LXC mounts as given; bind, cgroup and devpts are handled
 * apart. */
static const char *const plain_types[] = { "tmpfs", "proc", "sysfs", "mqueue" };

/* The options LXC's own devpts instance has (plus max=lxc.pty.max). */
static const char *const devpts_options[] = {
        "nosuid", "noexec", "newinstance", "ptmxmode=0666", "ptmxmode=666", "mode=0620", "mode=620", "gid=5",
};

char *lxc_fstab_escape(const char *path)
{
        char *out = malloc(strlen(path) * 4 + 1), *o = out;

        if (!out)
                return NULL;
        for (const char *p = path; *p; p++) {
                if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\')
                        o += sprintf(o, "\\%03o", (unsigned char) *p);
                else
                        *o++ = *p;
        }
        *o = '\0';
        return out;
}

static bool is_plain_type(const char *type)
{
        for (size_t i = 0; i < ARRAY_SIZE(plain_types); i++)
                if (streq(type, plain_types[i]))
                        return true;
        return false;
}

/* The options as one comma-separated field; *bind and *ro say whether they
 * ask for a bind mount and read-only. */
static int join_options(json_t *opts, size_t idx, char **ret, bool *bind, bool *ro, struct pxe **err)
{
        char *buf = NULL;
        size_t len = 0, i;
        json_t *v;
        FILE *f;

        *bind = *ro = false;
        *ret = NULL;
        if (opts && !json_is_array(opts))
                return pxe_set(err, EINVAL, "mounts[%zu].options: expected an array of strings", idx);
        f = open_memstream(&buf, &len);
        if (!f)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(opts, i, v) {
                const char *o = json_string_value(v);

                if (!o || !*o || strpbrk(o, " \t\n,\\")) {
                        fclose(f);
                        free(buf);
                        return pxe_set(err, EINVAL, "mounts[%zu].options[%zu]: invalid option", idx, i);
                }
                if (streq(o, "tmpcopyup") || streq(o, "copy-symlink") || strncmp(o, "idmap", 5) == 0) {
                        fclose(f);
                        free(buf);
                        return pxe_set(err, ENOTSUP, "mounts[%zu].options: \"%s\" is not supported by the lxc backend",
                                       idx, o);
                }
                *bind |= streq(o, "bind") || streq(o, "rbind");
                *ro |= streq(o, "ro");
                fprintf(f, "%s%s", i ? "," : "", o);
        }
        fclose(f);
        *ret = buf;
        return 0;
}

/* A bind's source as an absolute path: relative ones are the bundle's. */
static int bind_source(const struct lxc_translate_opts *o, size_t idx, const char *source, char **ret,
                       struct pxe **err)
{
        if (!source || !*source)
                return pxe_set(err, EINVAL, "mounts[%zu].source: a bind mount needs a source", idx);
        if (source[0] == '/')
                *ret = strdup(source);
        else if (asprintf(ret, "%s/%s", o->bundle, source) < 0)
                *ret = NULL;
        return *ret ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

static int add_bind(const struct lxc_translate_opts *o, struct lxc_spec *s, size_t idx, const char *source,
                    const char *target, const char *opts, bool has_bind, struct pxe **err)
{
        _cleanup_free_ char *abs = NULL, *esrc = NULL;
        struct stat st;

        if (bind_source(o, idx, source, &abs, err) < 0)
                return -pxe_code(err, EINVAL);
        if (!(esrc = lxc_fstab_escape(abs)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (stat(abs, &st) < 0)
                return pxe_set_errno(err, errno, "mounts[%zu].source: %s", idx, abs);
        if (lxc_spec_add(s, "lxc.mount.entry", "%s %s none %s%s%s,create=%s 0 0", esrc, target,
                         has_bind ? "" : "bind", has_bind || !*opts ? "" : ",", opts,
                         S_ISDIR(st.st_mode) ? "dir" : "file") < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

struct shared_option {
        const char *name;
        char flag; /* init_setup.h's, 0 for none */
};

static const struct shared_option shared_options[] = {
        { "bind", 0 },    { "rbind", 'r' }, { "shared", 0 }, { "rshared", 'S' }, { "rw", 0 },
        { "ro", 'o' },    { "rro", 'O' },   { "nosuid", 'u' }, { "suid", 0 },    { "nodev", 'd' },
        { "dev", 0 },     { "noexec", 'x' }, { "exec", 0 },
};

static bool is_shared_bind(json_t *opts)
{
        json_t *v;
        size_t i;

        json_array_foreach(opts, i, v)
                if (json_string_value(v) && (streq(json_string_value(v), "shared") ||
                                             streq(json_string_value(v), "rshared")))
                        return true;
        return false;
}

/* A bind with shared propagation: made by pxcri-init from LXC's mount hook,
 * from a clone of the host's mount, so that mounts propagate both ways
 * (src/init/init_setup.h); liblxc's own would only receive them. */
static int add_shared_bind(const struct lxc_translate_opts *o, struct lxc_spec *s, size_t idx, const char *source,
                           const char *dest, json_t *opts, struct pxe **err)
{
        _cleanup_free_ char *abs = NULL;
        char flags[ARRAY_SIZE(shared_options) + 2] = "";
        struct stat st;
        char **n;
        json_t *v;
        size_t i, k, nf = 0;

        json_array_foreach(opts, i, v) {
                const char *opt = json_string_value(v);

                for (k = 0; opt && k < ARRAY_SIZE(shared_options); k++)
                        if (streq(opt, shared_options[k].name))
                                break;
                if (!opt || k == ARRAY_SIZE(shared_options))
                        return pxe_set(err, ENOTSUP, "mounts[%zu].options[%zu]: \"%s\" is not supported with shared "
                                       "propagation by the lxc backend", idx, i, opt ? opt : "");
                if (shared_options[k].flag && !strchr(flags, shared_options[k].flag))
                        flags[nf++] = shared_options[k].flag;
        }
        if (bind_source(o, idx, source, &abs, err) < 0)
                return -pxe_code(err, EINVAL);
        if (strpbrk(abs, "\t\n") || strpbrk(dest, "\t\n"))
                return pxe_set(err, EINVAL, "mounts[%zu]: a shared bind's paths cannot have tabs or newlines", idx);
        if (stat(abs, &st) < 0)
                return pxe_set_errno(err, errno, "mounts[%zu].source: %s", idx, abs);
        if (!S_ISDIR(st.st_mode))
                flags[nf++] = 'f';
        if (!(n = realloc(s->shared_dests, (s->n_shared_dests + 1) * sizeof(*n))))
                return pxe_set(err, ENOMEM, "Out of memory");
        s->shared_dests = n;
        if (!(n[s->n_shared_dests] = strdup(dest)))
                return pxe_set(err, ENOMEM, "Out of memory");
        s->n_shared_dests++;
        if (lxc_spec_add_setup(s, "B%s\t%s\t%s", flags, abs, dest) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

/* liblxc mounts its entries before the hook makes the shared binds: one
 * below a shared bind would end up hidden under it. */
static int check_not_below_shared(const struct lxc_spec *s, size_t idx, const char *dest, struct pxe **err)
{
        for (size_t i = 0; i < s->n_shared_dests; i++) {
                const char *d = s->shared_dests[i];
                size_t n = strlen(d);

                while (n > 1 && d[n - 1] == '/')
                        n--;
                if (strncmp(dest, d, n) == 0 && (dest[n] == '/' || dest[n] == '\0'))
                        return pxe_set(err, ENOTSUP, "mounts[%zu]: %s is below the shared bind mount on %s; the "
                                       "lxc backend makes shared binds last", idx, dest, d);
        }
        return 0;
}

static int add_cgroup(struct lxc_spec *s, size_t idx, const char *dest, bool ro, struct pxe **err)
{
        if (!streq(dest, "/sys/fs/cgroup"))
                return pxe_set(err, ENOTSUP, "mounts[%zu]: the lxc backend mounts cgroups only at /sys/fs/cgroup", idx);
        if (lxc_spec_add(s, "lxc.mount.auto", "%s", ro ? "cgroup:ro:force" : "cgroup:mixed:force") < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

/* liblxc drops a devpts mount entry (it keeps /dev/pts for itself): the
 * standard one becomes LXC's own instance, with /dev/ptmx, via lxc.pty.max. */
static int add_devpts(struct lxc_spec *s, size_t idx, const char *dest, json_t *opts, struct pxe **err)
{
        size_t i, k;
        json_t *v;

        if (!streq(dest, "/dev/pts"))
                return pxe_set(err, ENOTSUP, "mounts[%zu]: the lxc backend mounts devpts only at /dev/pts", idx);
        json_array_foreach(opts, i, v) {
                const char *o = json_string_value(v);

                for (k = 0; o && k < ARRAY_SIZE(devpts_options); k++)
                        if (streq(o, devpts_options[k]))
                                break;
                if (!o || k == ARRAY_SIZE(devpts_options))
                        return pxe_set(err, ENOTSUP, "mounts[%zu].options[%zu]: devpts option \"%s\" is not supported "
                                       "by the lxc backend", idx, i, o ? o : "");
        }
        if (lxc_spec_add(s, "lxc.pty.max", "1024") < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int translate_mount(const struct lxc_translate_opts *o, struct lxc_spec *s, json_t *m, size_t idx,
                           struct pxe **err)
{
        const char *dest = json_string_value(json_object_get(m, "destination"));
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *source = json_string_value(json_object_get(m, "source"));
        _cleanup_free_ char *opts = NULL, *target = NULL, *esrc = NULL;
        bool bind, ro;
        int r;

        if (!dest || dest[0] != '/' || strstr(dest, "/../") || !dest[1])
                return pxe_set(err, EINVAL, "mounts[%zu].destination: expected an absolute path below /", idx);
        if ((r = join_options(json_object_get(m, "options"), idx, &opts, &bind, &ro, err)) < 0)
                return r;
        if (!type)
                type = bind ? "bind" : "";
        if ((bind || streq(type, "bind") || streq(type, "none")) && is_shared_bind(json_object_get(m, "options")))
                return add_shared_bind(o, s, idx, source, dest, json_object_get(m, "options"), err);
        if ((r = check_not_below_shared(s, idx, dest, err)) < 0)
                return r;
        if (streq(type, "cgroup") || streq(type, "cgroup2"))
                return add_cgroup(s, idx, dest, ro, err);
        if (streq(type, "devpts"))
                return add_devpts(s, idx, dest, json_object_get(m, "options"), err);
        /* LXC's own files (pxcri-init) live in the /dev tmpfs. */
        if (streq(dest, "/dev") && !streq(type, "tmpfs"))
                return pxe_set(err, ENOTSUP, "mounts[%zu]: /dev must be a tmpfs with the lxc backend", idx);
        if (!(target = lxc_fstab_escape(dest + 1)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (bind || streq(type, "bind") || streq(type, "none"))
                return add_bind(o, s, idx, source, target, opts, bind, err);
        if (!is_plain_type(type))
                return pxe_set(err, ENOTSUP, "mounts[%zu].type: \"%s\" is not supported by the lxc backend", idx, type);
        if (!(esrc = lxc_fstab_escape(source && *source ? source : type)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (lxc_spec_add(s, "lxc.mount.entry", "%s %s %s %s%screate=dir 0 0", esrc, target, type, opts,
                         *opts ? "," : "") < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

int lxc_translate_mounts(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        json_t *mounts = json_object_get(config, "mounts"), *m;
        size_t i;
        int r;

        if (mounts && !json_is_array(mounts))
                return pxe_set(err, EINVAL, "mounts: expected an array");
        json_array_foreach(mounts, i, m) {
                if (!json_is_object(m))
                        return pxe_set(err, EINVAL, "mounts[%zu]: expected an object", i);
                if ((r = translate_mount(o, s, m, i, err)) < 0)
                        return r;
        }
        return 0;
}
