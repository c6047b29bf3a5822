/* OCI config -> LXC keys: the spec as a whole, root, process and hostname.
 * linux.* is in translate_linux.c, mounts in translate_mounts.c, cgroup
 * resources in translate_resources.c. */
#include "backend/lxc/translate.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

#define TRANSLATE_MAX_ITEMS 4096

int lxc_spec_add(struct lxc_spec *s, const char *key, const char *fmt, ...)
{
        va_list ap;
        char *v = NULL, *k;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&v, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        /* One item is one line of the config file. */
        if (strchr(v, '\n')) {
                free(v);
                return -EINVAL;
        }
        if (s->n_items == s->cap_items) {
                size_t cap = s->cap_items ? s->cap_items * 2 : 32;
                struct lxc_item *n;

                if (cap > TRANSLATE_MAX_ITEMS || !(n = realloc(s->items, cap * sizeof(*n)))) {
                        free(v);
                        return -ENOMEM;
                }
                s->items = n;
                s->cap_items = cap;
        }
        k = strdup(key);
        if (!k) {
                free(v);
                return -ENOMEM;
        }
        s->items[s->n_items++] = (struct lxc_item) { .key = k, .value = v };
        return 0;
}

int lxc_spec_add_setup(struct lxc_spec *s, const char *fmt, ...)
{
        va_list ap;
        char *rec = NULL, *n;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&rec, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        n = realloc(s->setup, s->setup_len + (size_t) r + 1);
        if (!n) {
                free(rec);
                return -ENOMEM;
        }
        memcpy(n + s->setup_len, rec, (size_t) r + 1);
        s->setup = n;
        s->setup_len += (size_t) r + 1;
        free(rec);
        return 0;
}

const char *lxc_spec_get(const struct lxc_spec *s, const char *key)
{
        for (size_t i = s->n_items; i > 0; i--)
                if (streq(s->items[i - 1].key, key))
                        return s->items[i - 1].value;
        return NULL;
}

size_t lxc_spec_count(const struct lxc_spec *s, const char *key)
{
        size_t n = 0;

        for (size_t i = 0; i < s->n_items; i++)
                n += streq(s->items[i].key, key);
        return n;
}

void lxc_spec_free(struct lxc_spec *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_items; i++) {
                free(s->items[i].key);
                free(s->items[i].value);
        }
        free(s->items);
        for (size_t i = 0; i < s->n_args; i++)
                free(s->args[i]);
        free(s->args);
        for (size_t i = 0; i < s->n_env; i++)
                free(s->env[i]);
        free(s->env);
        free(s->rootfs);
        free(s->seccomp);
        free(s->groups);
        free(s->cwd);
        free(s->setup);
        for (size_t i = 0; i < s->n_shared_dests; i++)
                free(s->shared_dests[i]);
        free(s->shared_dests);
        json_decref(s->annotations);
        json_decref(s->hooks);
        free(s);
}

char *lxc_spec_config_text(const struct lxc_spec *s)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < s->n_items; i++)
                fprintf(f, "%s = %s\n", s->items[i].key, s->items[i].value);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

char *lxc_spec_process_blob(const struct lxc_spec *s, size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < s->n_args; i++)
                fprintf(f, "a%s%c", s->args[i], 0);
        for (size_t i = 0; i < s->n_env; i++)
                fprintf(f, "e%s%c", s->env[i], 0);
        if (s->umask >= 0)
                fprintf(f, "m%o%c", (unsigned) s->umask, 0);
        if (s->terminal)
                fprintf(f, "t%c", 0);
        if (s->terminal && s->rows && s->cols)
                fprintf(f, "w%u %u%c", s->rows, s->cols, 0);
        if (s->preserve_fds)
                fprintf(f, "f%u%c", s->preserve_fds, 0);
        fprintf(f, "u%u%cg%u%c", (unsigned) s->uid, 0, (unsigned) s->gid, 0);
        for (size_t i = 0; i < s->n_groups; i++)
                fprintf(f, "G%u%c", (unsigned) s->groups[i], 0);
        if (s->cwd)
                fprintf(f, "c%s%c", s->cwd, 0);
        lxc_caps_write_records(f, &s->caps);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        *ret_len = len;
        return buf;
}

#define ADD(s, err, key, ...)                                                                   \
        do {                                                                                    \
                if (lxc_spec_add((s), (key), __VA_ARGS__) < 0)                                  \
                        return pxe_set((err), EINVAL, "%s: value cannot be expressed", (key)); \
        } while (0)

/* A JSON array of strings into a NULL-terminated copy; field names it. */
static int string_list(json_t *arr, const char *field, char ***ret, size_t *ret_n, struct pxe **err)
{
        size_t i, n;
        json_t *v;
        char **l;

        *ret = NULL;
        *ret_n = 0;
        if (!arr || json_is_null(arr))
                return 0;
        if (!json_is_array(arr))
                return pxe_set(err, EINVAL, "%s: expected an array of strings", field);
        n = json_array_size(arr);
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(arr, i, v) {
                if (!json_is_string(v) || strchr(json_string_value(v), '\n') ||
                    !(l[i] = strdup(json_string_value(v)))) {
                        for (size_t k = 0; k < i; k++)
                                free(l[k]);
                        free(l);
                        return pxe_set(err, EINVAL, "%s[%zu]: expected a string without newlines", field, i);
                }
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static int translate_root(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s,
                          struct pxe **err)
{
        json_t *root = json_object_get(config, "root");
        const char *path = json_string_value(json_object_get(root, "path"));
        json_t *ro = json_object_get(root, "readonly");
        char *real;

        if (!json_is_object(root) || !path || !*path)
                return pxe_set(err, EINVAL, "root.path: missing (the lxc backend needs a root filesystem)");
        if (path[0] == '/')
                s->rootfs = strdup(path);
        else if (asprintf(&s->rootfs, "%s/%s", o->bundle, path) < 0)
                s->rootfs = NULL;
        if (!s->rootfs)
                return pxe_set(err, ENOMEM, "Out of memory");
        /* liblxc refuses a symlink as rootfs; runc follows it. */
        real = realpath(s->rootfs, NULL);
        if (real) {
                free(s->rootfs);
                s->rootfs = real;
        }
        if (ro && !json_is_boolean(ro))
                return pxe_set(err, EINVAL, "root.readonly: expected true or false");
        ADD(s, err, "lxc.rootfs.path", "dir:%s", s->rootfs);
        /* Never let lxc destroy() touch the bundle's rootfs. */
        ADD(s, err, "lxc.rootfs.managed", "0");
        if (json_is_true(ro))
                ADD(s, err, "lxc.rootfs.options", "ro");
        return 0;
}

static int translate_rlimits(json_t *proc, struct lxc_spec *s, struct pxe **err)
{
        json_t *rl = json_object_get(proc, "rlimits"), *v;
        size_t i;

        if (!rl || json_is_null(rl))
                return 0;
        if (!json_is_array(rl))
                return pxe_set(err, EINVAL, "process.rlimits: expected an array");
        json_array_foreach(rl, i, v) {
                const char *type = json_string_value(json_object_get(v, "type"));
                json_t *soft = json_object_get(v, "soft"), *hard = json_object_get(v, "hard");
                char key[64], lower[32];
                size_t k;

                if (!type || strncmp(type, "RLIMIT_", 7) != 0 || strlen(type + 7) >= sizeof(lower) ||
                    !json_is_integer(soft) || !json_is_integer(hard))
                        return pxe_set(err, EINVAL, "process.rlimits[%zu]: expected type RLIMIT_*, soft and hard", i);
                for (k = 0; type[7 + k]; k++)
                        lower[k] = (char) tolower((unsigned char) type[7 + k]);
                lower[k] = '\0';
                snprintf(key, sizeof(key), "lxc.prlimit.%s", lower);
                ADD(s, err, key, "%llu:%llu", (unsigned long long) json_integer_value(soft),
                    (unsigned long long) json_integer_value(hard));
        }
        return 0;
}

/* The identity goes to pxcri-init's process file, not to lxc.init.uid: it
 * starts as root, so that it can give the process its capabilities after
 * the switch (translate_caps.c). */
static int translate_user(json_t *proc, struct lxc_spec *s, struct pxe **err)
{
        json_t *user = json_object_get(proc, "user"), *gids, *v, *umask;
        json_t *uid = json_object_get(user, "uid"), *gid = json_object_get(user, "gid");
        size_t i;

        s->umask = -1;
        if (!user || json_is_null(user))
                return 0;
        if ((uid && !json_is_integer(uid)) || (gid && !json_is_integer(gid)) ||
            json_integer_value(uid) < 0 || json_integer_value(gid) < 0 ||
            json_integer_value(uid) >= UINT32_MAX || json_integer_value(gid) >= UINT32_MAX)
                return pxe_set(err, EINVAL, "process.user: uid and gid must be non-negative integers");
        s->uid = (uid_t) json_integer_value(uid);
        s->gid = (gid_t) json_integer_value(gid);
        umask = json_object_get(user, "umask");
        if (umask && !json_is_null(umask)) {
                if (!json_is_integer(umask) || json_integer_value(umask) < 0 || json_integer_value(umask) > 0777)
                        return pxe_set(err, EINVAL, "process.user.umask: expected 0 to 0777");
                s->umask = (int) json_integer_value(umask);
        }
        gids = json_object_get(user, "additionalGids");
        if (!gids || json_is_null(gids))
                return 0;
        if (!json_is_array(gids) || !(s->groups = calloc(json_array_size(gids) + 1, sizeof(gid_t))))
                return pxe_set(err, EINVAL, "process.user.additionalGids: expected an array");
        json_array_foreach(gids, i, v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= UINT32_MAX)
                        return pxe_set(err, EINVAL, "process.user.additionalGids[%zu]: expected a gid", i);
                s->groups[s->n_groups++] = (gid_t) json_integer_value(v);
        }
        return 0;
}

static int translate_oom(json_t *proc, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        json_t *adj = json_object_get(proc, "oomScoreAdj");
        long long v;

        if (!adj || json_is_null(adj))
                return 0;
        if (!json_is_integer(adj) || json_integer_value(adj) < -1000 || json_integer_value(adj) > 1000)
                return pxe_set(err, EINVAL, "process.oomScoreAdj: expected -1000 to 1000");
        /* Lowering it needs CAP_SYS_RESOURCE, which we may not have: as
         * containerd's restrict_oom_score_adj, clamp to our own value. */
        v = json_integer_value(adj);
        if (v < o->oom_score_adj_min)
                v = o->oom_score_adj_min;
        ADD(s, err, "lxc.proc.oom_score_adj", "%lld", v);
        return 0;
}

/* Fields of process LXC has no way to honour. */
static int refuse_process_fields(json_t *proc, struct pxe **err)
{
        static const char *const fields[] = { "ioPriority", "scheduler", "execCPUAffinity" };

        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
                json_t *v = json_object_get(proc, fields[i]);

                if (v && !json_is_null(v))
                        return pxe_set(err, ENOTSUP, "process.%s: not supported by the lxc backend", fields[i]);
        }
        return 0;
}

static int translate_process(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec *s,
                             struct pxe **err)
{
        json_t *proc = json_object_get(config, "process"), *size;
        const char *cwd, *label;
        int r;

        if (!json_is_object(proc))
                return pxe_set(err, EINVAL, "process: missing");
        if ((r = refuse_process_fields(proc, err)) < 0)
                return r;
        s->terminal = json_is_true(json_object_get(proc, "terminal"));
        size = json_object_get(proc, "consoleSize");
        if (size && !json_is_null(size)) {
                json_int_t h = json_integer_value(json_object_get(size, "height"));
                json_int_t w = json_integer_value(json_object_get(size, "width"));

                if (h < 0 || w < 0 || h > 65535 || w > 65535)
                        return pxe_set(err, EINVAL, "process.consoleSize: height and width from 0 to 65535");
                s->rows = (unsigned) h;
                s->cols = (unsigned) w;
        }
        if ((r = string_list(json_object_get(proc, "args"), "process.args", &s->args, &s->n_args, err)) < 0 ||
            (r = string_list(json_object_get(proc, "env"), "process.env", &s->env, &s->n_env, err)) < 0)
                return r;
        if (s->n_args == 0 || !s->args[0][0])
                return pxe_set(err, EINVAL, "process.args: must name a program");
        ADD(s, err, "lxc.init.cmd", "%s", LXC_INIT_PATH);
        cwd = json_string_value(json_object_get(proc, "cwd"));
        if (cwd && cwd[0] != '/')
                return pxe_set(err, EINVAL, "process.cwd: must be an absolute path, not \"%s\"", cwd);
        /* pxcri-init's chdir, after the switch to the process's identity. */
        if (cwd && !(s->cwd = strdup(cwd)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((r = translate_user(proc, s, err)) < 0 || (r = lxc_translate_caps(proc, s, err)) < 0 ||
            (r = translate_rlimits(proc, s, err)) < 0 || (r = translate_oom(proc, o, s, err)) < 0)
                return r;
        if (json_is_true(json_object_get(proc, "noNewPrivileges")))
                ADD(s, err, "lxc.no_new_privs", "1");
        if ((label = json_string_value(json_object_get(proc, "apparmorProfile"))) && *label)
                ADD(s, err, "lxc.apparmor.profile", "%s", label);
        if ((label = json_string_value(json_object_get(proc, "selinuxLabel"))) && *label)
                ADD(s, err, "lxc.selinux.context", "%s", label);
        return 0;
}

/* lxc.hook.mount = pxcri-init --lxc-setup <run dir>/setup, when there is
 * something to set up (src/init/init_setup.h). */
static int add_setup_hook(const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        if (!s->setup_len)
                return 0;
        if (!lxc_shell_safe(o->init_path) || !lxc_shell_safe(o->run_dir))
                return pxe_set(err, EINVAL,
                               "linux.sysctl, mounts: LXC runs the hook that sets them through a shell, and the "
                               "paths of pxcri-init (%s) and of the container directory (%s) are not shell-safe words",
                               o->init_path ? o->init_path : "(none)", o->run_dir ? o->run_dir : "(none)");
        ADD(s, err, "lxc.hook.mount", "%s --lxc-setup %s/" LXC_SETUP, o->init_path, o->run_dir);
        return 0;
}

static int refuse_top_level(json_t *config, struct pxe **err)
{
        if (json_object_get(config, "windows") || json_object_get(config, "vm") ||
            json_object_get(config, "solaris"))
                return pxe_set(err, ENOTSUP, "Only linux containers are supported by the lxc backend");
        return 0;
}

int lxc_translate(json_t *config, const struct lxc_translate_opts *o, struct lxc_spec **ret, struct pxe **err)
{
        _cleanup_lxc_spec_ struct lxc_spec *s = calloc(1, sizeof(*s));
        json_t *ann;
        const char *hostname;
        int r;

        if (!s)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!json_is_object(config))
                return pxe_set(err, EINVAL, "config.json: expected a JSON object");
        if ((r = refuse_top_level(config, err)) < 0 || (r = translate_root(config, o, s, err)) < 0)
                return r;
        /* Output must reach the caller's stdio (no console), /dev is LXC's. */
        ADD(s, err, "lxc.console.path", "none");
        ADD(s, err, "lxc.autodev", "1");
        if ((r = translate_process(config, o, s, err)) < 0)
                return r;
        hostname = json_string_value(json_object_get(config, "hostname"));
        if (hostname && *hostname)
                ADD(s, err, "lxc.uts.name", "%s", hostname);
        /* The setup's mount hook first: createContainer hooks see its
         * mounts. */
        if ((r = lxc_translate_linux(config, o, s, err)) < 0 || (r = add_setup_hook(o, s, err)) < 0 ||
            (r = lxc_translate_hooks(config, o, s, err)) < 0)
                return r;
        ann = json_object_get(config, "annotations");
        if (ann && !json_is_object(ann))
                return pxe_set(err, EINVAL, "annotations: expected an object");
        s->annotations = json_incref(ann);
        *ret = TAKE_PTR(s);
        return 0;
}
