#include "backend/backend.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/lxc/lxc_paths.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define BACKEND_STATE_MAX (1u << 20)

/* Which ops implement which backend; NULL: not part of this build yet. */
static const struct backend_ops *const backend_table[BACKEND_MAX] = {
        [BACKEND_CRUN] = &backend_oci_ops,
        [BACKEND_RUNC] = &backend_oci_ops,
        [BACKEND_LXC] = &backend_lxc_ops,
        [BACKEND_PROXMOX] = &backend_proxmox_ops,
};

int backend_unsupported(const struct backend *b, const char *what, struct pxe **err)
{
        return pxe_set(err, ENOSYS, "Backend %s cannot %s", b->name, what);
}

int backend_open(const struct config *cfg, const struct backend_env *env, enum backend_id id,
                 struct backend **ret, struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        const char *name = backend_id_to_name(id);

        if (id < 0 || id >= BACKEND_MAX)
                return pxe_set(err, EINVAL, "Unknown backend %d", (int) id);
        if (!backend_table[id])
                return pxe_set(err, ENOSYS, "Backend %s is not available: it is not implemented in this build of pxcri",
                               name);
        b = calloc(1, sizeof(*b));
        if (!b)
                return pxe_set(err, ENOMEM, "Out of memory");
        b->id = id;
        b->name = name;
        b->ops = backend_table[id];
        b->env = env;
        b->cfg = cfg;
        if (cfg->backends[id].path && !(b->path = strdup(cfg->backends[id].path)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (asprintf(&b->root, "%s/%s", env->root, name) < 0) {
                b->root = NULL;
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (b->ops->check) {
                int r = b->ops->check(b, err);

                if (r < 0) {
                        pxe_wrap(err, "Backend %s is not available", name);
                        return r;
                }
        }
        *ret = TAKE_PTR(b);
        return 0;
}

void backend_free(struct backend *b)
{
        if (!b)
                return;
        free(b->path);
        free(b->root);
        free(b);
}

/* pxcri-init next to the running pxcri: in a build tree (src/init/), or
 * installed (../libexec/pxcri/); else where `meson install` put it. */
char *backend_find_init(void)
{
        static const char *const rel[] = { "src/init/pxcri-init", "../libexec/pxcri/pxcri-init" };
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        if (n > 0) {
                const char *dir;

                exe[n] = '\0';
                dir = dirname(exe); /* once: it cuts exe in place */
                for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
                        char *p = NULL;

                        if (asprintf(&p, "%s/%s", dir, rel[i]) < 0)
                                return NULL;
                        if (access(p, X_OK) == 0) {
                                char *clean = realpath(p, NULL); /* /usr/bin/../libexec -> /usr/libexec */

                                if (clean) {
                                        free(p);
                                        return clean;
                                }
                                return p;
                        }
                        free(p);
                }
        }
        return access(PXCRI_INIT_INSTALLED, X_OK) == 0 ? strdup(PXCRI_INIT_INSTALLED) : NULL;
}

long long backend_proc_start_time(pid_t pid)
{
        char path[64], buf[1024], *p, state = 0;
        long long t = 0;
        _cleanup_fclose_ FILE *f = NULL;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f || !fgets(buf, sizeof(buf), f) || !(p = strrchr(buf, ')')))
                return 0;
        /* fields after "comm)": state is 3, starttime is 22 */
        if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %lld", &state, &t) != 2)
                return 0;
        /* A zombie is gone as far as the container is concerned. */
        return state == 'Z' || state == 'X' ? 0 : t;
}

int backend_parse_signal(const char *s)
{
        char *end;
        long n;

        if (!s)
                return SIGTERM;
        errno = 0;
        n = strtol(s, &end, 10);
        if (*s && !*end && !errno)
                return n > 0 && n < NSIG ? (int) n : -EINVAL;
        if (strncasecmp(s, "SIG", 3) == 0)
                s += 3;
        for (int sig = 1; sig < NSIG; sig++) {
                const char *name = sigabbrev_np(sig);

                if (name && strcasecmp(name, s) == 0)
                        return sig;
        }
        return -EINVAL;
}

int backend_write_pid_file(const char *path, pid_t pid, struct pxe **err)
{
        char text[32];
        int n = snprintf(text, sizeof(text), "%d", (int) pid);

        if (!path)
                return 0;
        if (fs_write_atomic(path, text, (size_t) n, 0644, err) < 0)
                return pxe_wrap(err, "Writing --pid-file");
        return 0;
}

int backend_list_dirs(struct backend *b, const char *skip,
                      int (*state)(struct backend *b, const char *id, json_t **ret, struct pxe **err), json_t **ret,
                      struct pxe **err)
{
        json_t *out = json_array();
        DIR *d = opendir(b->root);
        struct dirent *de;

        if (!out)
                return pxe_set(err, ENOMEM, "Out of memory");
        while (d && (de = readdir(d))) {
                json_t *st = NULL;

                if (de->d_name[0] == '.' || (skip && streq(de->d_name, skip)) || state(b, de->d_name, &st, NULL) < 0)
                        continue;
                json_array_append_new(out, st);
        }
        if (d)
                closedir(d);
        *ret = out;
        return 0;
}

int backend_load_state(struct backend *b, const char *id, json_t **ret, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *j;

        if (asprintf(&path, "%s/%s/state.json", b->root, id) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_read_file(path, BACKEND_STATE_MAX, &text, NULL, NULL) < 0)
                return pxe_set(err, ENOENT, "container \"%s\" does not exist", id);
        j = json_loads(text, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return pxe_set(err, EIO, "%s: not a JSON object", path);
        }
        *ret = j;
        return 0;
}

/* ---- update ---- */

static json_t *load_resources(const char *path, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;

        if (fs_read_file(path, 1u << 20, &text, NULL, err) < 0)
                return NULL;
        return json_loads(text, 0, NULL);
}

/* runc update flags -> a linux.resources object. */
static int update_flags(const struct backend *b, const struct backend_call *c, json_t *res, struct pxe **err)
{
        static const struct {
                const char *flag, *group, *key;
        } flags[] = {
                { "--memory", "memory", "limit" },     { "--memory-reservation", "memory", "reservation" },
                { "--memory-swap", "memory", "swap" }, { "--pids-limit", "pids", "limit" },
                { "--cpu-quota", "cpu", "quota" },     { "--cpu-period", "cpu", "period" },
                { "--cpu-share", "cpu", "shares" },    { "--cpuset-cpus", "cpu", "cpus" },
                { "--cpuset-mems", "cpu", "mems" },
        };

        for (size_t i = 0; i < c->n_args; i++) {
                const char *a = c->args[i], *eq = strchr(a, '='), *val;
                size_t len = eq ? (size_t) (eq - a) : strlen(a), k;
                json_t *g;

                for (k = 0; k < ARRAY_SIZE(flags); k++)
                        if (strlen(flags[k].flag) == len && strncmp(a, flags[k].flag, len) == 0)
                                break;
                if (k == ARRAY_SIZE(flags)) {
                        if (streq(a, "--resources") || streq(a, "-r"))
                                i++;
                        else if (a[0] == '-' && strncmp(a, "--resources=", 12) && strncmp(a, "-r=", 3))
                                return pxe_set(err, ENOSYS, "Backend %s cannot update %s yet", b->name, a);
                        continue;
                }
                val = eq ? eq + 1 : (i + 1 < c->n_args ? c->args[++i] : "");
                if (!(g = json_object_get(res, flags[k].group)))
                        json_object_set_new(res, flags[k].group, g = json_object());
                if (streq(flags[k].key, "cpus") || streq(flags[k].key, "mems"))
                        json_object_set_new(g, flags[k].key, json_string(val));
                else
                        json_object_set_new(g, flags[k].key, json_integer(strtoll(val, NULL, 10)));
        }
        return 0;
}

int backend_update_resources(const struct backend *b, const struct backend_call *c, json_t **ret, struct pxe **err)
{
        json_t *res;

        if (c->resources && streq(c->resources, "-"))
                res = json_loadf(stdin, 0, NULL);
        else if (c->resources)
                res = load_resources(c->resources, err);
        else
                res = json_object();
        if (!json_is_object(res)) {
                json_decref(res);
                return pxe_set(err, EINVAL, "--resources: expected a JSON object");
        }
        if (update_flags(b, c, res, err) < 0) {
                json_decref(res);
                return -pxe_code(err, EINVAL);
        }
        *ret = res;
        return 0;
}

/* ---- the processes of a container ---- */

/* The pid namespace inode of pid, 0 if unknown. */
static ino_t pidns_of(pid_t pid)
{
        char path[64];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) pid);
        return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Call fn for every process in the container's own pid namespace; with a
 * shared pid namespace only for pxcri-init. */
void backend_for_each_process(pid_t init, void (*fn)(pid_t pid, void *data), void *data)
{
        ino_t ns = pidns_of(init);
        DIR *d;
        struct dirent *de;

        if (!ns || ns == pidns_of(getpid()) || !(d = opendir("/proc"))) {
                fn(init, data);
                return;
        }
        while ((de = readdir(d))) {
                pid_t pid = (pid_t) atoi(de->d_name);

                if (pid > 0 && pidns_of(pid) == ns)
                        fn(pid, data);
        }
        closedir(d);
}

static void append_pid(pid_t pid, void *data)
{
        json_array_append_new(data, json_integer(pid));
}

int backend_ps_print(const struct backend_call *c, pid_t init, struct pxe **err)
{
        return backend_ps_print_walk(c, init, backend_for_each_process, err);
}

int backend_ps_print_walk(const struct backend_call *c, pid_t init,
                          void (*walk)(pid_t init, void (*fn)(pid_t pid, void *data), void *data), struct pxe **err)
{
        json_auto_t *pids = json_array();
        bool as_json = false;
        size_t i;
        json_t *v;

        if (!pids)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t k = 0; k + 1 < c->n_args; k++)
                if ((streq(c->args[k], "--format") || streq(c->args[k], "-f")) && streq(c->args[k + 1], "json"))
                        as_json = true;
        for (size_t k = 0; k < c->n_args; k++)
                as_json |= streq(c->args[k], "--format=json") || streq(c->args[k], "-f=json");
        if (init > 0)
                walk(init, append_pid, pids);
        if (as_json) {
                json_dumpf(pids, stdout, JSON_COMPACT);
                fputc('\n', stdout);
        } else {
                printf("PID\n");
                json_array_foreach(pids, i, v)
                        printf("%lld\n", (long long) json_integer_value(v));
        }
        return 0;
}
