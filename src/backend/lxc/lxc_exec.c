/* exec for the lxc backend: liblxc's attach, which makes the process a
 * child of the calling pxcri; a terminal is made inside the container by
 * pxcri-init --exec and its master relayed to --console-socket. */
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/console.h"
#include "backend/lxc/lxc_private.h"
#include "backend/lxc/translate.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define PROCESS_MAX (4u << 20)

struct exec_proc {
        json_t *args, *env; /* borrowed from the JSON the process came from */
        char *cwd;
        uid_t uid;
        gid_t gid;
        struct lxc_container *ct;
};

static json_t *load_json(const char *path, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;
        json_t *j;

        if (fs_read_file(path, PROCESS_MAX, &text, NULL, err) < 0)
                return NULL;
        j = json_loads(text, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                pxe_set(err, EINVAL, "%s: expected a JSON object", path);
                return NULL;
        }
        return j;
}

/* "uid[:gid]" */
static int parse_user(const char *s, uid_t *uid, gid_t *gid, struct pxe **err)
{
        char *end;
        unsigned long u = strtoul(s, &end, 10), g;

        if (end == s || (*end && *end != ':'))
                return pxe_set(err, EINVAL, "--user: expected UID[:GID], not \"%s\"", s);
        *uid = (uid_t) u;
        if (*end == ':') {
                g = strtoul(end + 1, &end, 10);
                if (*end)
                        return pxe_set(err, EINVAL, "--user: expected UID[:GID], not \"%s\"", s);
                *gid = (gid_t) g;
        }
        return 0;
}

/* env entries with the same key as kv replaced, else kv appended. */
static void env_set(json_t *env, const char *kv)
{
        size_t klen = strcspn(kv, "="), i;
        json_t *v;

        json_array_foreach(env, i, v) {
                const char *e = json_string_value(v);

                if (e && strncmp(e, kv, klen) == 0 && e[klen] == '=') {
                        json_array_set_new(env, i, json_string(kv));
                        return;
                }
        }
        json_array_append_new(env, json_string(kv));
}

/* The process: --process FILE, or the container's own process with the
 * command and the --env/--cwd/--user given. */
/* pxcri-init --exec starts with the container's LXC bounding set
 * (lxc_caps_keep_mask), so an exec process can have any capabilities of it;
 * asking for others is an error, not ignored. */
static int check_exec_caps(json_t *proc, json_t *config, struct pxe **err)
{
        struct lxc_caps want, have;
        uint64_t all = 0;

        if (lxc_caps_parse(json_object_get(proc, "capabilities"), &want, err) < 0 ||
            lxc_caps_parse(json_object_get(json_object_get(config, "process"), "capabilities"), &have, err) < 0)
                return -pxe_code(err, EINVAL);
        if (!have.set)
                return 0;
        for (int k = 0; k < LXC_CAP_SET_MAX; k++)
                all |= want.mask[k];
        if (all & ~have.mask[LXC_CAP_BOUNDING])
                return pxe_set(err, ENOTSUP, "process.capabilities: an exec process of the lxc backend can only "
                               "have capabilities of the container's bounding set");
        return 0;
}

/* runc exec flags the lxc backend does not honour yet. */
static int refuse_exec_flags(const struct backend_call *c, struct pxe **err)
{
        static const char *const flags[] = { "--cap", "-c", "--apparmor", "--process-label", "--cgroup" };

        /* The ID and the command end the arguments (exec stops at the ID). */
        size_t n_opts = c->n_args >= c->n_command + 1 ? c->n_args - c->n_command - 1 : 0;

        for (size_t i = 0; i < n_opts; i++) {
                const char *a = c->args[i];

                for (size_t k = 0; k < ARRAY_SIZE(flags); k++) {
                        size_t n = strlen(flags[k]);

                        if (strncmp(a, flags[k], n) == 0 && (a[n] == '\0' || a[n] == '='))
                                return pxe_set(err, ENOSYS, "Backend lxc cannot use exec %s yet", flags[k]);
                }
        }
        return 0;
}

/* The value of an option at args[*i] named long_name or short_name (as
 * "--x V", "--x=V", "-x V", "-x=V"), advancing *i past it; NULL when it is
 * another. */
static const char *option_value(const struct backend_call *c, size_t n_opts, size_t *i, const char *long_name,
                                char short_name)
{
        const char *a = c->args[*i], *name = a + (a[1] == '-' ? 2 : 1);
        size_t len = strcspn(name, "=");

        if (a[0] != '-' || !((len == 1 && name[0] == short_name) ||
                             (len == strlen(long_name) && strncmp(name, long_name, len) == 0)))
                return NULL;
        if (name[len] == '=')
                return name + len + 1;
        return *i + 1 < n_opts ? c->args[++*i] : NULL;
}

/* exec --additional-gids G (each may be repeated or comma-separated), added
 * to process.user.additionalGids as runc does. */
static int add_exec_gids(json_t *proc, const struct backend_call *c, struct pxe **err)
{
        size_t n_opts = c->n_args >= c->n_command + 1 ? c->n_args - c->n_command - 1 : 0;
        json_t *user = json_object_get(proc, "user"), *gids;

        if (!json_is_object(user))
                json_object_set_new(proc, "user", (user = json_object()));
        if (!json_is_array(gids = json_object_get(user, "additionalGids")))
                json_object_set_new(user, "additionalGids", (gids = json_array()));
        for (size_t i = 0; i < n_opts; i++) {
                const char *v = option_value(c, n_opts, &i, "additional-gids", 'g');

                while (v && *v) {
                        char *end;
                        unsigned long long g = strtoull(v, &end, 10);

                        if (end == v || (*end && *end != ',') || g >= UINT32_MAX || *v == '-')
                                return pxe_set(err, EINVAL, "--additional-gids: expected group ids, not \"%s\"", v);
                        json_array_append_new(gids, json_integer((json_int_t) g));
                        v = *end ? end + 1 : end;
                }
        }
        return 0;
}

static json_t *exec_process_json(json_t *state, const struct backend_call *c, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        json_auto_t *config = NULL;
        json_t *proc;

        if (refuse_exec_flags(c, err) < 0 ||
            asprintf(&path, "%s/config.json", json_string_value(json_object_get(state, "bundle"))) < 0)
                return NULL;
        config = load_json(path, err);
        if (!config)
                return NULL;
        if (c->process_file) {
                proc = load_json(c->process_file, err);
                if (proc && (check_exec_caps(proc, config, err) < 0 || add_exec_gids(proc, c, err) < 0))
                        json_decref(TAKE_PTR(proc));
                return proc;
        }
        proc = json_deep_copy(json_object_get(config, "process"));
        if (!proc) {
                pxe_set(err, EINVAL, "%s: no process", path);
                return NULL;
        }
        json_object_set_new(proc, "args", json_array());
        for (size_t i = 0; i < c->n_command; i++)
                json_array_append_new(json_object_get(proc, "args"), json_string(c->command[i]));
        if (!json_is_array(json_object_get(proc, "env")))
                json_object_set_new(proc, "env", json_array());
        for (size_t i = 0; i < c->n_env; i++)
                env_set(json_object_get(proc, "env"), c->env[i]);
        if (c->cwd)
                json_object_set_new(proc, "cwd", json_string(c->cwd));
        for (size_t i = 0; i + c->n_command + 1 < c->n_args; i++)
                if (streq(c->args[i], "--no-new-privs"))
                        json_object_set_new(proc, "noNewPrivileges", json_true());
        if (add_exec_gids(proc, c, err) < 0)
                json_decref(TAKE_PTR(proc));
        return proc;
}

struct exec_ctx {
        struct lxc_container *ct;
        json_t *proc;
        uid_t uid;
        gid_t gid;
        unsigned preserve_fds; /* --preserve-fds: 3 .. 3+N-1 go on to the process */
        bool terminal;
        char *base;    /* host path of <run>/exec-<n>: .process, .sock */
        char *base_in; /* the same inside the container */
};

/* Attach pxcri-init --exec as root with every capability: it becomes the
 * process of its process file, switching to the process's identity and
 * capabilities, on a pty it makes and sends out with a terminal. */
static int attach_start(struct exec_ctx *x, pid_t *ret_pid, struct pxe **err)
{
        char *init_argv[] = { (char *) LXC_INIT_PATH, (char *) "--exec", x->base_in, NULL };
        char *no_env[] = { NULL };
        lxc_attach_options_t o = LXC_ATTACH_OPTIONS_DEFAULT;
        lxc_attach_command_t cmd = { .program = init_argv[0], .argv = init_argv };

        /* pxcri-init sets the groups, the environment and the cwd itself. */
        o.groups = (lxc_groups_t) { .size = 0, .list = NULL };
        o.attach_flags |= LXC_ATTACH_SETGROUPS;
        o.env_policy = LXC_ATTACH_CLEAR_ENV;
        o.extra_env_vars = no_env;
        o.initial_cwd = (char *) "/";
        o.uid = 0;
        o.gid = 0;
        /* Not the init's bounding set (liblxc's default): the init is the
         * process itself when it is PID 1, without the capabilities to
         * switch the identity; pxcri-init drops to the exec process's
         * bounding set itself. */
        o.attach_flags &= ~LXC_ATTACH_DROP_CAPABILITIES;
        if (json_is_true(json_object_get(x->proc, "noNewPrivileges")))
                o.attach_flags |= LXC_ATTACH_NO_NEW_PRIVS;
        if (x->ct->attach(x->ct, lxc_api()->attach_run_command, &cmd, &o, ret_pid) < 0 || *ret_pid <= 0)
                return pxe_set(err, EIO, "liblxc could not attach to container %s", x->ct->name);
        return 0;
}

/* user.additionalGids, umask, cwd and the capabilities as pxcri-init's
 * records. */
static int write_identity(struct exec_ctx *x, FILE *f, struct pxe **err)
{
        json_t *user = json_object_get(x->proc, "user"), *v;
        json_t *umask = json_object_get(user, "umask");
        const char *cwd = json_string_value(json_object_get(x->proc, "cwd"));
        struct lxc_caps caps;
        size_t i;

        fprintf(f, "u%u%cg%u%c", (unsigned) x->uid, 0, (unsigned) x->gid, 0);
        json_array_foreach(json_object_get(user, "additionalGids"), i, v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= UINT32_MAX)
                        return pxe_set(err, EINVAL, "process.user.additionalGids[%zu]: expected a group id", i);
                fprintf(f, "G%lld%c", (long long) json_integer_value(v), 0);
        }
        if (json_is_integer(umask) && json_integer_value(umask) >= 0 && json_integer_value(umask) <= 0777)
                fprintf(f, "m%llo%c", (unsigned long long) json_integer_value(umask), 0);
        if (cwd && cwd[0] == '/')
                fprintf(f, "c%s%c", cwd, 0);
        if (lxc_caps_parse(json_object_get(x->proc, "capabilities"), &caps, err) < 0)
                return -pxe_code(err, EINVAL);
        lxc_caps_write_records(f, &caps);
        return 0;
}

/* pxcri-init's process file for the exec, <base>.process (it removes the
 * file once read). */
static int write_exec_process(struct exec_ctx *x, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t len = 0, i;
        json_t *v;
        FILE *f = open_memstream(&buf, &len);
        int r;

        if (!f || asprintf(&path, "%s.process", x->base) < 0) {
                if (f)
                        fclose(f);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        json_array_foreach(json_object_get(x->proc, "args"), i, v)
                fprintf(f, "a%s%c", json_string_value(v) ? json_string_value(v) : "", 0);
        json_array_foreach(json_object_get(x->proc, "env"), i, v)
                fprintf(f, "e%s%c", json_string_value(v) ? json_string_value(v) : "", 0);
        if (x->terminal)
                fprintf(f, "t%c", 0);
        if (x->preserve_fds)
                fprintf(f, "f%u%c", x->preserve_fds, 0);
        v = json_object_get(x->proc, "consoleSize");
        if (json_integer_value(json_object_get(v, "height")) > 0 && json_integer_value(json_object_get(v, "width")) > 0)
                fprintf(f, "w%lld %lld%c", (long long) json_integer_value(json_object_get(v, "height")),
                        (long long) json_integer_value(json_object_get(v, "width")), 0);
        r = write_identity(x, f, err);
        fclose(f);
        if (r < 0)
                return r;
        if (json_array_size(json_object_get(x->proc, "args")) == 0)
                return pxe_set(err, EINVAL, "process.args: must name a program");
        return fs_write_atomic(path, buf, len, 0600, err);
}

/* Hand the pty's master on to --console-socket once pxcri-init sent it. */
static int relay_terminal(struct exec_ctx *x, int fd, const char *console_socket, pid_t pid, struct pxe **err)
{
        struct timespec ms = { 0, 1000000 };
        int r = 0;

        for (int i = 0; i < 10000 && r == 0 && kill(pid, 0) == 0; i++) {
                r = console_relay(fd, console_socket, err);
                if (r == 0)
                        nanosleep(&ms, NULL);
        }
        if (r == 0)
                return pxe_set(err, ETIMEDOUT, "The exec process in %s sent no terminal", x->ct->name);
        return r < 0 ? r : 0;
}

/* With a terminal: the socket first (pxcri-init connects as soon as it
 * runs), then the process, then the relay. */
static int exec_start(struct exec_ctx *x, const struct backend_call *c, pid_t *ret_pid, struct pxe **err)
{
        static unsigned counter;
        _cleanup_free_ char *process = NULL, *sock = NULL, *dir = lxcb_path_of(x->ct);
        _cleanup_close_ int fd = -EBADF;
        char name[64];
        int r;

        if (x->terminal && !c->console_socket)
                return pxe_set(err, EINVAL, "exec with a terminal needs --console-socket");
        snprintf(name, sizeof(name), "exec-%d-%u", (int) getpid(), counter++);
        if (!dir || asprintf(&x->base, "%s/run/%s", dir, name) < 0 ||
            asprintf(&x->base_in, "%s/%s", LXC_INIT_DIR, name) < 0 ||
            asprintf(&process, "%s.process", x->base) < 0 || asprintf(&sock, "%s.sock", x->base) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((r = write_exec_process(x, err)) < 0)
                return r;
        r = x->terminal ? console_listen(sock, 0, 0, &fd, err) : 0;
        if (r == 0)
                r = attach_start(x, ret_pid, err);
        if (r == 0 && x->terminal)
                r = relay_terminal(x, fd, c->console_socket, *ret_pid, err);
        if (r < 0 || x->terminal)
                unlink(process);
        if (fd >= 0)
                unlink(sock);
        return r;
}

static int exec_user(json_t *proc, const struct backend_call *c, uid_t *uid, gid_t *gid, struct pxe **err)
{
        json_t *user = json_object_get(proc, "user");

        *uid = (uid_t) json_integer_value(json_object_get(user, "uid"));
        *gid = (gid_t) json_integer_value(json_object_get(user, "gid"));
        return c->user ? parse_user(c->user, uid, gid, err) : 0;
}

/* The process runs as pxcri's child (liblxc's attach): detached, pxcri
 * leaves it to the caller's subreaper with its pid in --pid-file, as runc;
 * else pxcri waits, passing signals on, and exits with its code. */
int lxcb_exec(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_lxc_ struct lxc_container *ct = NULL;
        json_auto_t *proc = NULL;
        struct exec_ctx x = { 0 };
        struct lxcb_info info;
        char text[32];
        int status, r;
        pid_t pid;

        if ((r = lxcb_info(b, c->id, &info, err)) < 0)
                return r;
        if (info.status != LXCB_RUNNING && info.status != LXCB_CREATED) {
                json_decref(info.state);
                return pxe_set(err, EINVAL, "cannot exec in a %s container", lxcb_status_name(info.status));
        }
        proc = exec_process_json(info.state, c, err);
        json_decref(info.state);
        if (!proc)
                return pxe_set(err, EINVAL, "No process to exec in %s", c->id);
        if ((r = exec_user(proc, c, &x.uid, &x.gid, err)) < 0 || (r = lxcb_open(b, c->id, &ct, err)) < 0)
                return r;
        x.ct = ct;
        x.proc = proc;
        x.preserve_fds = lxcb_preserve_fds(c);
        /* liblxc's attach passes on every descriptor without close-on-exec:
         * only the caller's --preserve-fds may reach the process (pxcri's own
         * have it already). */
        close_range(3 + x.preserve_fds, ~0u, CLOSE_RANGE_CLOEXEC);
        x.terminal = c->tty || json_is_true(json_object_get(proc, "terminal"));
        r = exec_start(&x, c, &pid, err);
        free(x.base);
        free(x.base_in);
        if (r < 0)
                return r;
        *st = 0;
        /* As runc, also when pxcri waits: a caller that times the process
         * out (conmon, pxcrid's ExecSync) kills it by this pid. */
        snprintf(text, sizeof(text), "%d", (int) pid);
        if (c->pid_file && fs_write_atomic(c->pid_file, text, strlen(text), 0644, err) < 0) {
                if (!c->detach)
                        kill(pid, SIGKILL);
                return pxe_wrap(err, "Writing --pid-file");
        }
        if (c->detach)
                return 0;
        if ((r = spawn_wait_forwarding(pid, &status)) < 0)
                return pxe_set_errno(err, -r, "Waiting for the process in container %s", c->id);
        *st = spawn_exit_code(status);
        return 0;
}
