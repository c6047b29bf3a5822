/* create, start and run for the proxmox backend.
 *
 * create: the template of the bundle's image (pmx_template.c), then a linked
 * clone of its template container configured for this bundle, or a create
 * from the template file; pxcri-init's process file and ctl FIFO in the run
 * directory; the container started in Proxmox, where pxcri-init waits for
 * the start byte; the waiter forked (pmx_waiter.c), its pid the --pid-file.
 * start: the start byte.  Without a run directory on this host (api
 * transport, volume not a local directory) the process comes in the
 * entrypoint's arguments, the Proxmox container stays stopped until start,
 * and only the control plane works (docs/proxmox.md).
 * A create that fails removes what it made: the Proxmox container, the
 * state directory (templates stay: they are the image's cache).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/lxc/translate.h"
#include "backend/proxmox/map.h"
#include "backend/proxmox/client_private.h"
#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"

#define CONFIG_MAX (8u << 20)
#define RECORDS_MAX (1u << 20)

/* ---- pxcri-init's process records (src/init/init.c) ---- */

struct recs {
        char *buf;
        size_t len, cap;
        bool failed;
};

static void rec_add(struct recs *r, char tag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void rec_add(struct recs *r, char tag, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        size_t n;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s || r->failed) {
                r->failed = true;
                return;
        }
        n = strlen(s) + 2;
        if (r->len + n > RECORDS_MAX) {
                r->failed = true;
                return;
        }
        if (r->len + n > r->cap) {
                size_t cap = (r->len + n) * 2;
                char *nb = realloc(r->buf, cap);

                if (!nb) {
                        r->failed = true;
                        return;
                }
                r->buf = nb;
                r->cap = cap;
        }
        r->buf[r->len] = tag;
        memcpy(r->buf + r->len + 1, s, n - 1); /* with its NUL */
        r->len += n;
}

static const struct {
        const char *name;
        int resource;
} rlimit_names[] = {
        { "RLIMIT_CPU", RLIMIT_CPU },         { "RLIMIT_FSIZE", RLIMIT_FSIZE },
        { "RLIMIT_DATA", RLIMIT_DATA },       { "RLIMIT_STACK", RLIMIT_STACK },
        { "RLIMIT_CORE", RLIMIT_CORE },       { "RLIMIT_RSS", RLIMIT_RSS },
        { "RLIMIT_NPROC", RLIMIT_NPROC },     { "RLIMIT_NOFILE", RLIMIT_NOFILE },
        { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_AS", RLIMIT_AS },
        { "RLIMIT_LOCKS", RLIMIT_LOCKS },     { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
        { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
        { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },   { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

/* process.rlimits ("l" records) and process.oomScoreAdj ("o"): pxcri-init
 * applies them before the exec (init.c), in the container, on both
 * transports. */
static int limit_records(const json_t *process, struct recs *r, struct pxe **err)
{
        json_t *rl = json_object_get(process, "rlimits"), *adj = json_object_get(process, "oomScoreAdj"), *v;
        size_t i, k;

        if (rl && !json_is_null(rl) && !json_is_array(rl))
                return pxe_set(err, EINVAL, "process.rlimits: expected an array");
        json_array_foreach(rl, i, v) {
                const char *type = json_string_value(json_object_get(v, "type"));
                json_t *soft = json_object_get(v, "soft"), *hard = json_object_get(v, "hard");

                for (k = 0; type && k < ARRAY_SIZE(rlimit_names) && !streq(type, rlimit_names[k].name); k++)
                        ;
                if (!type || k == ARRAY_SIZE(rlimit_names))
                        return pxe_set(err, EINVAL, "process.rlimits[%zu]: unknown type %s", i, type ? type : "(none)");
                if (!json_is_integer(soft) || !json_is_integer(hard))
                        return pxe_set(err, EINVAL, "process.rlimits[%zu] (%s): expected soft and hard", i, type);
                if ((unsigned long long) json_integer_value(soft) > (unsigned long long) json_integer_value(hard))
                        return pxe_set(err, EINVAL, "process.rlimits[%zu] (%s): soft above hard", i, type);
                rec_add(r, 'l', "%d %llu %llu %s", rlimit_names[k].resource,
                        (unsigned long long) json_integer_value(soft), (unsigned long long) json_integer_value(hard),
                        type);
        }
        if (!adj || json_is_null(adj))
                return 0;
        if (!json_is_integer(adj) || json_integer_value(adj) < -1000 || json_integer_value(adj) > 1000)
                return pxe_set(err, EINVAL, "process.oomScoreAdj: expected -1000 to 1000");
        rec_add(r, 'o', "%lld", (long long) json_integer_value(adj));
        return 0;
}

int pmx_process_records(const json_t *process, bool privileged, char **ret, size_t *ret_len, struct pxe **err)
{
        uint64_t avail = pve_map_caps_available(privileged);
        struct lxc_caps caps;
        json_t *args = json_object_get(process, "args"), *env = json_object_get(process, "env"), *v;
        json_t *user = json_object_get(process, "user"), *umask_v = json_object_get(user, "umask");
        json_t *size = json_object_get(process, "consoleSize");
        const char *cwd = json_string_value(json_object_get(process, "cwd"));
        struct recs r = { 0 };
        size_t i;

        if (!json_is_array(args) || json_array_size(args) == 0)
                return pxe_set(err, EINVAL, "process.args: must name the program to run");
        json_array_foreach(args, i, v) {
                if (!json_is_string(v))
                        return pxe_set(err, EINVAL, "process.args[%zu]: not a string", i);
                rec_add(&r, 'a', "%s", json_string_value(v));
        }
        json_array_foreach(env, i, v)
                if (json_is_string(v) && strchr(json_string_value(v), '='))
                        rec_add(&r, 'e', "%s", json_string_value(v));
        if (cwd)
                rec_add(&r, 'c', "%s", cwd);
        if (json_is_integer(json_object_get(user, "uid")))
                rec_add(&r, 'u', "%lld", (long long) json_integer_value(json_object_get(user, "uid")));
        if (json_is_integer(json_object_get(user, "gid")))
                rec_add(&r, 'g', "%lld", (long long) json_integer_value(json_object_get(user, "gid")));
        json_array_foreach(json_object_get(user, "additionalGids"), i, v)
                if (json_is_integer(v))
                        rec_add(&r, 'G', "%lld", (long long) json_integer_value(v));
        if (json_is_integer(umask_v))
                rec_add(&r, 'm', "%llo", (long long) json_integer_value(umask_v));
        if (limit_records(process, &r, err) < 0) {
                free(r.buf);
                return -EINVAL;
        }
        /* pxcri-init sends the pty to console.sock (exec: BASE.sock). */
        if (json_is_true(json_object_get(process, "terminal")))
                rec_add(&r, 't', "%s", "");
        if (json_integer_value(json_object_get(size, "height")) > 0 && json_integer_value(json_object_get(size, "width")) > 0)
                rec_add(&r, 'w', "%lld %lld", (long long) json_integer_value(json_object_get(size, "height")),
                        (long long) json_integer_value(json_object_get(size, "width")));
        /* The sets as pxcri-init applies them (init_caps.h), the bounding
         * set too: the process gets what was asked, never the CT init's
         * more (a privileged CT's include clears Proxmox's drops when one
         * is asked for: pve_map_caps_available()). */
        if (lxc_caps_parse(json_object_get(process, "capabilities"), &caps, err) < 0) {
                free(r.buf);
                return -EINVAL;
        }
        for (int k = 0; caps.set && k < LXC_CAP_SET_MAX; k++)
                rec_add(&r, 'C', "%c%llx", "bepia"[k], (unsigned long long) (caps.mask[k] & avail));
        if (r.failed) {
                free(r.buf);
                return pxe_set(err, E2BIG, "process: larger than %u bytes", RECORDS_MAX);
        }
        *ret = r.buf;
        *ret_len = r.len;
        return 0;
}

static int read_config(const char *bundle, json_t **ret, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_error_t je;

        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_read_file(path, CONFIG_MAX, &text, NULL, err) < 0)
                return pxe_wrap(err, "Reading the bundle's configuration");
        *ret = json_loads(text, 0, &je);
        if (!json_is_object(*ret)) {
                json_decref(*ret);
                return pxe_set(err, EINVAL, "%s: line %d: %s", path, je.line, je.text);
        }
        return 0;
}

/* exec: the container's process with what the call changes. */
int pmx_exec_process(struct backend *b, const char *id, const struct backend_call *c, json_t **ret,
                     struct pxe **err)
{
        json_auto_t *state = NULL, *config = NULL;
        json_t *p, *env, *args;
        const char *bundle;

        if (c->process_file) {
                _cleanup_free_ char *text = NULL;

                if (fs_read_file(c->process_file, CONFIG_MAX, &text, NULL, err) < 0)
                        return pxe_wrap(err, "Reading --process");
                *ret = json_loads(text, 0, NULL);
                return json_is_object(*ret) ? 0 : pxe_set(err, EINVAL, "--process %s: not a JSON object", c->process_file);
        }
        if (backend_load_state(b, id, &state, err) < 0)
                return -pxe_code(err, ENOENT);
        bundle = json_string_value(json_object_get(state, "bundle"));
        if (!bundle || read_config(bundle, &config, err) < 0)
                return pxe_set(err, EIO, "container %s: its bundle's configuration is gone", id);
        p = json_deep_copy(json_object_get(config, "process"));
        if (!json_is_object(p)) {
                json_decref(p);
                p = json_object();
        }
        json_object_del(p, "terminal");
        args = json_array();
        for (size_t i = 0; i < c->n_command; i++)
                json_array_append_new(args, json_string(c->command[i]));
        json_object_set_new(p, "args", args);
        env = json_object_get(p, "env");
        if (!json_is_array(env))
                json_object_set_new(p, "env", env = json_array());
        for (size_t i = 0; i < c->n_env; i++)
                json_array_append_new(env, json_string(c->env[i]));
        if (c->cwd)
                json_object_set_new(p, "cwd", json_string(c->cwd));
        if (c->user) {
                unsigned uid = 0, gid = 0;
                int n = sscanf(c->user, "%u:%u", &uid, &gid);

                if (n < 1) {
                        json_decref(p);
                        return pxe_set(err, EINVAL, "--user %s: expected UID[:GID]", c->user);
                }
                json_object_set_new(p, "user", json_pack("{s:I, s:I}", "uid", (json_int_t) uid, "gid",
                                                         (json_int_t) (n == 2 ? gid : 0)));
        }
        *ret = p;
        return 0;
}

int pmx_exec_files(const char *run, const char *records, size_t len, char **ret_host, char **ret_inside,
                   struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        unsigned long long rnd = 0;

        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                rnd = (unsigned long long) time(NULL) ^ (unsigned long long) getpid() << 32;
        if (asprintf(ret_host, "%s/exec-%016llx", run, rnd) < 0 ||
            asprintf(ret_inside, PMX_RUN_DIR "/exec-%016llx", rnd) < 0 || asprintf(&path, "%s.process", *ret_host) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return fs_write_atomic(path, records, len, 0644, err);
}

/* ---- create ---- */

struct create {
        struct backend *b;
        const struct backend_call *c;
        struct pve_client *client;
        json_t *config, *state;
        char *dir, *run, *records;
        size_t records_len;
        const struct pve_params *params;
        unsigned vmid;
        bool unprivileged;
        bool carry_stdin; /* our stdin becomes the process's (pmx_stdin_carried()) */
        bool terminal;
        /* The process becomes the CT's PID 1 (pxcri-init's "x"): the CT has
         * a PID namespace of its own and nl, the proc connector, listens
         * since before the start (pmx_procexit.c). */
        bool in_place;
        int nl;
        pid_t waiter;
};

bool pmx_privileged(const json_t *config)
{
        const char *v = json_string_value(json_object_get(json_object_get(config, "annotations"), PVE_MAP_ANN_PRIVILEGED));

        return v && streq(v, "true");
}

/* The "i" record and its FIFO: pxcri-init opens <run>/stdin for reading
 * before it holds ctl, the waiter holds the write end before the start. */
static int add_stdin(struct create *x, uid_t owner, struct pxe **err)
{
        struct recs r = { .buf = x->records, .len = x->records_len, .cap = x->records_len };
        _cleanup_free_ char *path = NULL;

        rec_add(&r, 'i', "%s", "");
        x->records = r.buf;
        x->records_len = r.len;
        if (r.failed)
                return pxe_set(err, E2BIG, "process: larger than %u bytes", RECORDS_MAX);
        if (asprintf(&path, "%s/stdin", x->run) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((mkfifo(path, 0600) < 0 && errno != EEXIST) || chown(path, owner, owner) < 0)
                return pxe_set_errno(err, errno, "Creating %s", path);
        return 0;
}

/* In place: the "x" record, and the FIFOs out and err the process writes
 * to (a terminal is its stdio instead). */
static int add_in_place(struct create *x, uid_t owner, struct pxe **err)
{
        struct recs r = { .buf = x->records, .len = x->records_len, .cap = x->records_len };
        static const char *const names[] = { "out", "err" };

        rec_add(&r, 'x', "%s", "");
        x->records = r.buf;
        x->records_len = r.len;
        if (r.failed)
                return pxe_set(err, E2BIG, "process: larger than %u bytes", RECORDS_MAX);
        for (size_t i = 0; !x->terminal && i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s", x->run, names[i]) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if ((mkfifo(path, 0600) < 0 && errno != EEXIST) || chown(path, owner, owner) < 0)
                        return pxe_set_errno(err, errno, "Creating %s", path);
        }
        return 0;
}

/* process, ctl (and stdin, out, err), for pxcri-init -- root in the container owns them. */
static int write_run(struct create *x, struct pxe **err)
{
        uid_t owner = x->unprivileged ? PMX_UNPRIV_ROOT : 0;
        _cleanup_free_ char *p = NULL, *q = NULL;

        if (fs_mkdir_p(x->run, 0711, err) < 0)
                return -pxe_code(err, EIO);
        if (chown(x->run, owner, owner) < 0)
                return pxe_set_errno(err, errno, "chown %s", x->run);
        if (asprintf(&p, "%s/process", x->run) < 0 || asprintf(&q, "%s/ctl", x->run) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (x->carry_stdin && add_stdin(x, owner, err) < 0)
                return -pxe_code(err, EIO);
        if (x->in_place && add_in_place(x, owner, err) < 0)
                return -pxe_code(err, EIO);
        if (fs_write_atomic(p, x->records, x->records_len, 0644, err) < 0 ||
            pmx_binds_copy(x->run, x->params, owner, err) < 0)
                return -pxe_code(err, EIO);
        if ((mkfifo(q, 0600) < 0 && errno != EEXIST) || chown(q, owner, owner) < 0)
                return pxe_set_errno(err, errno, "Creating %s", q);
        return 0;
}

static int save(struct create *x, struct pxe **err)
{
        return pmx_save_state(x->b, x->c->id, x->state, err);
}

static int add_entrypoint(struct pve_params *params, const char *records, size_t len, bool inline_process)
{
        _cleanup_free_ char *b64 = NULL;
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;

        if (!inline_process)
                return pve_params_add(params, "entrypoint", "%s --dir %s", PMX_INIT_PATH, PMX_RUN_DIR);
        b64 = malloc((len + 2) / 3 * 4 + 1);
        if (!b64)
                return -ENOMEM;
        for (size_t i = 0; i < len; i += 3) {
                unsigned v = (unsigned char) records[i] << 16;

                v |= i + 1 < len ? (unsigned char) records[i + 1] << 8 : 0;
                v |= i + 2 < len ? (unsigned char) records[i + 2] : 0;
                b64[o++] = tbl[v >> 18 & 63];
                b64[o++] = tbl[v >> 12 & 63];
                b64[o++] = i + 1 < len ? tbl[v >> 6 & 63] : '=';
                b64[o++] = i + 2 < len ? tbl[v & 63] : '=';
        }
        b64[o] = '\0';
        return pve_params_add(params, "entrypoint", "%s --dir %s --no-wait --process-b64 %s", PMX_INIT_PATH,
                              PMX_RUN_DIR, b64);
}

/* What a clone takes from params in a config update: not what only a create
 * sets (rootfs, unprivileged), nor what the clone request carried. */
static bool settable_after_clone(const char *key)
{
        static const char *const no[] = { "ostemplate", "rootfs", "storage", "unprivileged", "hostname" };

        for (size_t i = 0; i < ARRAY_SIZE(no); i++)
                if (streq(key, no[i]))
                        return false;
        return true;
}

static int clone_linked(struct create *x, const struct pmx_template *t, const struct pve_params *params,
                        struct pxe **err)
{
        _cleanup_free_ struct pve_kv *set = calloc(params->n_items, sizeof(*set));
        char *upid = NULL;
        size_t n = 0;

        if (!set)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (pve_clone(x->client, t->ct, &x->vmid, true, pve_params_get(params, "hostname"), NULL, &upid, err) < 0)
                return -pxe_code(err, EIO);
        json_object_set_new(x->state, "vmid", json_integer(x->vmid));
        if (save(x, err) < 0 || pmx_task_wait(x->b, x->client, upid, err) < 0)
                return -pxe_code(err, EIO);
        for (size_t i = 0; i < params->n_items; i++)
                if (settable_after_clone(params->items[i].key))
                        set[n++] = params->items[i];
        return pve_config_set(x->client, x->vmid, set, n, err);
}

static int create_full(struct create *x, const struct pmx_template *t, struct pve_params *params, struct pxe **err)
{
        char *upid = NULL;

        if (pve_params_add(params, "ostemplate", "%s", t->volid) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (pve_create(x->client, &x->vmid, params->items, params->n_items, &upid, err) < 0)
                return -pxe_code(err, EIO); /* x->vmid set after a timeout: cleaned up */
        json_object_set_new(x->state, "vmid", json_integer(x->vmid));
        if (save(x, err) < 0)
                return -pxe_code(err, EIO);
        return pmx_task_wait(x->b, x->client, upid, err);
}

/* api transport: the rootfs volume's directory, when it is one on this host. */
static int find_run_in_volume(struct create *x, struct pxe **err)
{
        json_auto_t *cfg = NULL;
        _cleanup_free_ char *volid = NULL, *path = NULL;
        _cleanup_pxe_ struct pxe *e = NULL;
        const char *rootfs;

        if (pve_config_get(x->client, x->vmid, &cfg, err) < 0)
                return -pxe_code(err, EIO);
        rootfs = json_string_value(json_object_get(cfg, "rootfs"));
        if (!rootfs || !(volid = strndup(rootfs, strcspn(rootfs, ","))))
                return pxe_set(err, EPROTO, "Proxmox container %u has no rootfs", x->vmid);
        if (pve_volume_path(x->client, volid, &path, &e) < 0) {
                log_debug("No run directory for %s: %s", x->c->id, e->msg);
                return 0;
        }
        if (!fs_dir_exists(path)) {
                log_debug("No run directory for %s: %s is not a directory on this host", x->c->id, path);
                return 0;
        }
        /* "//": what follows is inside the container's rootfs (pmx_run_open). */
        if (asprintf(&x->run, "%s/" PMX_RUN_DIR, path) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

/* Output pxcri-init wrote before it ended: the reason a create failed. */
static char *output_tail(const char *run)
{
        _cleanup_close_ int fd = pmx_run_open(run, "output.log", O_RDONLY, S_IFREG);
        char buf[301];
        off_t end;
        ssize_t n;

        if (fd < 0 || (end = lseek(fd, 0, SEEK_END)) < 0 || lseek(fd, end > 300 ? end - 300 : 0, SEEK_SET) < 0 ||
            (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
                return NULL;
        buf[n] = '\0';
        return strdup(buf);
}

/* Until pxcri-init holds ctl open (it waits for the start byte) or ends. */
static int wait_init(struct create *x, struct pxe **err)
{
        long long deadline = pve_now_ms() + (long long) x->b->cfg->proxmox.timeout * 1000;
        struct timespec delay = { 0, 1000000 };

        while (pve_now_ms() < deadline) {
                if (pmx_ctl_alive(x->run))
                        return 0;
                if (pmx_run_exit(x->run) >= 0) {
                        _cleanup_free_ char *tail = output_tail(x->run);

                        return pxe_set(err, EIO, "pxcri-init in Proxmox container %u ended before start%s%s", x->vmid,
                                       tail ? ": " : "", tail ? tail : "");
                }
                nanosleep(&delay, NULL);
                if (delay.tv_nsec < 50000000)
                        delay.tv_nsec *= 2;
        }
        return pxe_set(err, ETIMEDOUT, "pxcri-init in Proxmox container %u did not come up within %u s", x->vmid,
                       x->b->cfg->proxmox.timeout);
}

/* In place: the CT's init -- pxcri-init holding ctl, PID 1 of its own PID
 * namespace, which becomes the process at the start -- recorded in the
 * state with its start time (pid reuse), and a pidfd of it for the waiter. */
static int find_init(struct create *x, struct pmx_waiter_args *a, struct pxe **err)
{
        pid_t pid = pmx_init_pid(x->run);
        long long start = pid > 0 ? backend_proc_start_time(pid) : 0;
        int r;

        if (pid <= 0 || start <= 0)
                return pxe_set(err, ESRCH, "pxcri-init in Proxmox container %u is gone", x->vmid);
        if (pmx_shares_pidns(pid))
                return pxe_set(err, EPROTO, "pxcri-init in Proxmox container %u is not PID 1 of its PID namespace",
                               x->vmid);
        a->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (a->pidfd < 0)
                return pxe_set_errno(err, errno, "pidfd of pxcri-init in Proxmox container %u", x->vmid);
        if (backend_proc_start_time(pid) != start)
                return pxe_set(err, ESRCH, "pxcri-init in Proxmox container %u is gone", x->vmid);
        a->init = pid;
        /* Events that came before stay queued; from now on only ours. */
        if ((r = pmx_procexit_filter(x->nl, pid)) < 0)
                log_debug("Container %s: no socket filter on the proc connector: %s", x->c->id, strerror(-r));
        json_object_set_new(x->state, "in_place", json_true());
        json_object_set_new(x->state, "init", json_integer(pid));
        json_object_set_new(x->state, "init_start", json_integer(start));
        return 0;
}

/* The waiter, with the write end of <run>/stdin when stdin is carried:
 * opened here, before create returns and so before the start, so that the
 * process never reads EOF from a FIFO without a writer yet.  pxcri-init
 * holds the read end since before ctl (wait_init()).  In place, likewise
 * the read ends of out and err: pxcri-init opens their write ends at the
 * start and takes a missing reader for a waiter that is gone. */
static int start_waiter(struct create *x, struct pxe **err)
{
        _cleanup_free_ char *exit_path = pmx_path(x->b, x->c->id, "exit");
        struct pmx_waiter_args a = { .run = x->run, .stdin_fifo = -1, .in_place = x->in_place, .nl = -1,
                                     .pidfd = -1, .out = -1, .err = -1, .exit_path = exit_path };
        int r = 0;

        if (!exit_path)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (x->carry_stdin) {
                a.stdin_fifo = pmx_run_open(x->run, "stdin", O_WRONLY | O_NONBLOCK, S_IFIFO);
                if (a.stdin_fifo < 0)
                        r = pxe_set_errno(err, -a.stdin_fifo, "Opening %s/stdin of Proxmox container %u", x->run,
                                          x->vmid);
        }
        if (r == 0 && x->in_place) {
                a.nl = x->nl;
                if (!x->terminal) {
                        a.out = pmx_run_open(x->run, "out", O_RDONLY | O_NONBLOCK, S_IFIFO);
                        a.err = pmx_run_open(x->run, "err", O_RDONLY | O_NONBLOCK, S_IFIFO);
                        if (a.out < 0 || a.err < 0)
                                r = pxe_set_errno(err, -(a.out < 0 ? a.out : a.err),
                                                  "Opening %s/%s of Proxmox container %u", x->run,
                                                  a.out < 0 ? "out" : "err", x->vmid);
                }
                if (r == 0)
                        r = find_init(x, &a, err);
        }
        if (r == 0) {
                x->waiter = pmx_waiter_start(&a, err);
                r = x->waiter < 0 ? x->waiter : 0;
        }
        if (a.stdin_fifo >= 0)
                close(a.stdin_fifo);
        if (a.pidfd >= 0)
                close(a.pidfd);
        if (a.out >= 0)
                close(a.out);
        if (a.err >= 0)
                close(a.err);
        return r;
}

/* Under the template's lock (pmx_template_get()): once saved, a prune sees
 * that this container uses the template (pmx_prune.c). */
static int use_template(void *data, const char *key, struct pxe **err)
{
        struct create *x = data;

        json_object_set_new(x->state, "template", json_string(key));
        return save(x, err);
}

static int create_in(struct create *x, struct pxe **err)
{
        const struct proxmox_config *pc = &x->b->cfg->proxmox;
        bool pct = pc->transport == PROXMOX_TRANSPORT_PCT;
        _cleanup_pve_params_ struct pve_params *params = NULL;
        struct pmx_template t = { 0 };
        struct pve_map_request req = { .id = x->c->id, .bundle = x->c->bundle, .storage = pc->storage,
                                       .bridge = pc->bridge };
        const char *node = NULL;
        char created[48], *upid = NULL;
        _cleanup_free_ char *console_path = NULL, *seccomp = NULL, *setup = NULL;
        _cleanup_close_ int console = -EBADF;
        bool terminal;
        int r;

        if (read_config(x->c->bundle, &x->config, err) < 0 ||
            pmx_process_records(json_object_get(x->config, "process"), pmx_privileged(x->config), &x->records,
                                &x->records_len, err) < 0)
                return -pxe_code(err, EINVAL);
        terminal = json_is_true(json_object_get(json_object_get(x->config, "process"), "terminal"));
        if (terminal != (x->c->console_socket != NULL))
                return pxe_set(err, EINVAL, terminal ? "process.terminal needs --console-socket"
                                                     : "--console-socket needs process.terminal");
        x->unprivileged = !pmx_privileged(x->config);
        req.privileged = !x->unprivileged;
        /* With a terminal, its pty is the process's stdin. */
        x->carry_stdin = !terminal && pmx_stdin_carried();
        if (pct && !(x->run = pmx_run_path(x->b, x->c->id)))
                return pxe_set(err, ENOMEM, "Out of memory");
        req.init_dir = x->run;
        if (!(seccomp = pmx_path(x->b, x->c->id, "seccomp")))
                return pxe_set(err, ENOMEM, "Out of memory");
        req.seccomp_path = seccomp;
        if (pct && !(setup = pmx_path(x->b, x->c->id, "setup")))
                return pxe_set(err, ENOMEM, "Out of memory");
        req.setup_path = pct ? setup : NULL;
        req.init_path = pct ? x->b->path : NULL;
        if (pve_map_bundle(x->config, &req, &params, err) < 0)
                return -pxe_code(err, EINVAL);
        x->params = params;
        x->terminal = terminal;
        /* The process is the CT's PID 1 when the CT has a PID namespace of
         * its own (not hostPID, not a pod's) and the kernel can tell us
         * its exit status: listening from before the start. */
        if (!params->ns_paths[PVE_NS_PID]) {
                _cleanup_pxe_ struct pxe *e = NULL;

                x->nl = pmx_procexit_open(&e);
                if (x->nl < 0)
                        log_warn("Container %s: %s: pxcri-init stays its PID 1 (the process as its child)", x->c->id,
                                 e->msg);
                x->in_place = x->nl >= 0;
        }
        if (pmx_namespaces_check(x->b, params, x->c->id, err) < 0 ||
            pmx_binds_records(params, &x->records, &x->records_len, err) < 0)
                return -pxe_code(err, EINVAL);
        if (add_entrypoint(params, NULL, 0, false) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (pmx_client(x->b, &x->client, err) < 0 || pve_node(x->client, &node, err) < 0)
                return -pxe_code(err, EIO);
        log_format_time(created, sizeof(created));
        x->state = json_pack("{s:s, s:s, s:s, s:s, s:O?, s:s, s:s, s:i, s:b}", "id", x->c->id, "bundle",
                             x->c->bundle, "rootfs", json_string_value(json_object_get(json_object_get(x->config, "root"),
                                                                                      "path")) ?: "",
                             "created", created, "annotations", json_object_get(x->config, "annotations"),
                             "node", node, "transport", pct ? "pct" : "api", "vmid", 0, "started", false);
        if (!x->state)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (pct && (r = write_run(x, err)) < 0)
                return r;
        if (save(x, err) < 0)
                return -pxe_code(err, EIO);
        if ((r = pmx_template_get(x->b, x->client, x->c->bundle, x->config, x->unprivileged, use_template, x, &t,
                                  err)) < 0)
                return r;
        r = -1;
        if (t.ct) {
                _cleanup_pxe_ struct pxe *e = NULL;

                r = clone_linked(x, &t, params, &e);
                if (r < 0 && x->vmid) {
                        /* Cloned, then refused the config: a real error. */
                        pmx_template_done(&t);
                        *err = TAKE_PTR(e);
                        return r;
                }
                if (r < 0) {
                        log_warn("Linked clone of template %u failed (%s): creating from %s instead", t.ct, e->msg,
                                 t.volid);
                        pmx_template_clone_failed(x->b, t.key, e->code == ENOENT);
                }
        }
        if (r < 0)
                r = create_full(x, &t, params, err);
        pmx_template_done(&t);
        if (r < 0)
                return r;
        if ((r = pmx_namespaces_share(x->b, x->vmid, x->c->id, params, x->unprivileged, err)) < 0)
                return r;
        if (!pct && (r = find_run_in_volume(x, err)) < 0)
                return r;
        if (!pct && x->run && (r = write_run(x, err)) < 0)
                return r;
        if (terminal && !x->run)
                return pxe_set(err, ENOSYS, "process.terminal needs the run directory on this host; container %s "
                               "has none (api transport)", x->c->id);
        /* Before the start: pxcri-init sends the pty first thing. */
        if (terminal && asprintf(&console_path, "%s/console.sock", x->run) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (terminal && pmx_console_listen(console_path, x->run, &console, err) < 0)
                return -pxe_code(err, EIO);
        if (!x->run) {
                /* No directory to hand pxcri-init its process: the entrypoint carries it. */
                struct pve_params *ep = calloc(1, sizeof(*ep));

                if (!ep || add_entrypoint(ep, x->records, x->records_len, true) < 0) {
                        pve_params_free(ep);
                        return pxe_set(err, ENOMEM, "Out of memory");
                }
                r = pve_config_set(x->client, x->vmid, ep->items, ep->n_items, err);
                pve_params_free(ep);
                if (r < 0)
                        return r;
        }
        json_object_set_new(x->state, "run", x->run ? json_string(x->run) : json_null());
        if (save(x, err) < 0)
                return -pxe_code(err, EIO);
        if (!x->run) {
                json_object_set_new(x->state, "ready", json_true());
                if (save(x, err) < 0 || backend_write_pid_file(x->c->pid_file, 0, err) < 0)
                        return -pxe_code(err, EIO);
                return 0;
        }
        if (pve_action(x->client, x->vmid, PVE_ACTION_START, &upid, err) < 0 ||
            pmx_task_wait(x->b, x->client, upid, err) < 0 || wait_init(x, err) < 0)
                return -pxe_code(err, EIO);
        if (console >= 0) {
                r = pmx_console_relay_created(console, x->c->console_socket, x->run, x->vmid,
                                              x->b->cfg->proxmox.timeout, err);
                unlink(console_path);
                if (r < 0)
                        return r;
        }
        if ((r = start_waiter(x, err)) < 0)
                return r;
        json_object_set_new(x->state, "waiter", json_integer(x->waiter));
        json_object_set_new(x->state, "waiter_start", json_integer(backend_proc_start_time(x->waiter)));
        json_object_set_new(x->state, "ready", json_true());
        if (save(x, err) < 0 || backend_write_pid_file(x->c->pid_file, x->waiter, err) < 0)
                return -pxe_code(err, EIO);
        return 0;
}

static void create_done(struct create *x)
{
        if (x->nl >= 0)
                close(x->nl);
        pmx_namespaces_release(x->b, x->c->id);
        pve_client_free(x->client);
        json_decref(x->config);
        json_decref(x->state);
        free(x->dir);
        free(x->run);
        free(x->records);
}

/* An unprivileged container's root (host uid 100000) opens the bind mount
 * source itself, so it must be able to pass through run_root. */
static int make_traversable(const char *path, struct pxe **err)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return pxe_set_errno(err, errno, "%s", path);
        if ((st.st_mode & 0011) != 0011 && chmod(path, (st.st_mode & 07777) | 0011) < 0)
                return pxe_set_errno(err, errno, "chmod o+x %s", path);
        return 0;
}

static int create_container(struct backend *b, const struct backend_call *c, pid_t *ret_waiter, struct pxe **err)
{
        struct create x = { .b = b, .c = c, .dir = pmx_path(b, c->id, NULL), .nl = -1 };
        int r, status;

        if (!x.dir)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_mkdir_p(b->root, 0711, err) < 0 || fs_mkdir_p(b->cfg->proxmox.run_root, 0711, err) < 0 ||
            make_traversable(b->cfg->proxmox.run_root, err) < 0) {
                create_done(&x);
                return -pxe_code(err, EIO);
        }
        if (mkdir(x.dir, 0700) < 0) {
                r = errno == EEXIST ? pxe_set(err, EEXIST, "container \"%s\" already exists", c->id)
                                    : pxe_set_errno(err, errno, "Creating %s", x.dir);
                create_done(&x);
                return r;
        }
        r = create_in(&x, err);
        if (r < 0) {
                pmx_cleanup(b, x.client, c->id, x.vmid);
                if (x.waiter > 0) {
                        kill(x.waiter, SIGKILL);
                        spawn_wait(x.waiter, &status);
                }
        } else if (ret_waiter) {
                *ret_waiter = x.waiter;
        }
        create_done(&x);
        return r;
}

int pmx_create(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        int r = create_container(b, c, NULL, err);

        if (r < 0)
                return r;
        *st = 0;
        return 0;
}

int pmx_start(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        struct pmx_info info;
        char *upid = NULL;
        int r;

        if ((r = pmx_info(b, NULL, c->id, &info, err)) < 0)
                return r;
        if (info.status != PMX_CREATED)
                r = pxe_set(err, EINVAL, "cannot start a container that is %s", pmx_status_name(info.status));
        else if (info.run)
                r = pmx_ctl_send(info.run, PMX_CTL_START, err);
        else if ((r = pmx_client(b, &client, err)) == 0 &&
                 (r = pve_action(client, info.vmid, PVE_ACTION_START, &upid, err)) == 0)
                r = pmx_task_wait(b, client, upid, err);
        if (r == 0) {
                json_object_set_new(info.state, "started", json_true());
                r = pmx_save_state(b, c->id, info.state, err);
        }
        pmx_info_done(&info);
        if (r < 0)
                return r;
        *st = 0;
        return 0;
}

/* create + start; in the foreground also wait and delete, passing on the
 * container's exit code and the signals pxcri receives (the waiter sends
 * them on to pxcri-init). */
int pmx_run(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        pid_t waiter = 0;
        int status, r;

        if ((r = create_container(b, c, &waiter, err)) < 0)
                return r;
        r = pmx_start(b, c, st, err);
        if (r == 0 && c->detach)
                return 0;
        if (r == 0 && waiter <= 0)
                r = pxe_set(err, ENOSYS, "run in the foreground needs the run directory on this host; container %s "
                            "has none (api transport): use --detach", c->id);
        if (r == 0)
                r = spawn_wait_forwarding(waiter, &status);
        {
                json_auto_t *state = NULL;

                pmx_client(b, &client, NULL);
                if (backend_load_state(b, c->id, &state, NULL) == 0)
                        pmx_cleanup(b, client, c->id, (unsigned) json_integer_value(json_object_get(state, "vmid")));
        }
        if (r < 0)
                return pxe_code(err, 0) ? r : pxe_set_errno(err, -r, "Waiting for container %s", c->id);
        *st = spawn_exit_code(status);
        return 0;
}
