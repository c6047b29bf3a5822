/* The backend interface: what every way of running a container provides.
 *
 * One `static const struct backend_ops` per backend; callers use the
 * backend_*() wrappers, which turn a missing hook into a clear
 * "Backend X cannot Y" (-ENOSYS).  Lifecycle hooks return 0 and the exit
 * status the caller should pass on (a runtime's own exit code, or the
 * container's for run and exec) in *ret_status, or a negative errno when the
 * backend could not be asked at all.
 *
 * Calls carry the command's arguments twice: `args`, exactly as the caller
 * wrote them in runc syntax (exec-based backends hand them on unchanged, so
 * every flag crun and runc know works), and the parsed fields, for backends
 * that implement the command themselves.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"
#include "util/err.h"

/* Options that apply to every command (runc's global flags). */
struct backend_env {
        const char *root;       /* pxcri's state root; each backend gets <root>/<name> */
        const char *log_file;   /* --log */
        const char *log_format; /* --log-format */
        bool debug;             /* --debug */
        bool systemd_cgroup;    /* --systemd-cgroup */
};

struct backend_call {
        const char *id;
        char *const *args; /* the command's arguments (after the command name) */
        size_t n_args;
        const char *bundle; /* absolute */
        const char *pid_file;
        const char *console_socket;
        bool detach;
        /* Parsed for library backends (lxc); exec-based ones use args. */
        const char *signal;       /* kill: SIGNAL as given, NULL: SIGTERM */
        bool all;                 /* kill --all */
        bool force;               /* delete --force */
        char *const *command;     /* exec: the command after the ID */
        size_t n_command;
        const char *process_file; /* exec --process */
        const char *cwd;          /* exec --cwd */
        const char *user;         /* exec --user UID[:GID] */
        char **env;               /* exec --env K=V, every one given */
        size_t n_env;
        bool tty;                 /* exec --tty */
        const char *resources;    /* update --resources FILE|- */
};

struct backend;

struct backend_ops {
        /* 0 if the backend can run here, else why not. */
        int (*check)(struct backend *b, struct pxe **err);
        int (*create)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        /* create + start + wait; detached when c->detach.  In the foreground
         * an exec-based backend replaces the calling process with the runtime
         * (returns only on failure): the runtime's exit is the container's. */
        int (*run)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*start)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*kill)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*delete)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*exec)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*ps)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*pause)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*resume)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*update)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        int (*spec)(struct backend *b, const struct backend_call *c, int *ret_status, struct pxe **err);
        /* OCI state of one container as a JSON object (new reference). */
        int (*state)(struct backend *b, const char *id, json_t **ret, struct pxe **err);
        /* All containers in this backend's root: a JSON array of runc `list` objects. */
        int (*list)(struct backend *b, json_t **ret, struct pxe **err);
        /* Whether the backend holds state for id (no process is spawned). */
        bool (*exists)(struct backend *b, const char *id);
        /* OCI features document (runtime-spec features.md), new reference. */
        int (*features)(struct backend *b, json_t **ret, struct pxe **err);
        /* One line naming the backend's implementation and version. */
        int (*version)(struct backend *b, char **ret, struct pxe **err);
};

struct backend {
        enum backend_id id;
        const char *name;
        const struct backend_ops *ops;
        const struct backend_env *env;
        char *path; /* binary of an exec-based backend */
        char *root; /* <env->root>/<name> */
        const struct config *cfg;
};

/* Open backend id for use: fails with a message naming the backend when it is
 * not built, not configured or not available (its binary is missing). */
int backend_open(const struct config *cfg, const struct backend_env *env, enum backend_id id,
                 struct backend **ret, struct pxe **err);
void backend_free(struct backend *b);

static inline void backend_freep(struct backend **b)
{
        backend_free(*b);
}

#define _cleanup_backend_ __attribute__((cleanup(backend_freep)))

int backend_unsupported(const struct backend *b, const char *what, struct pxe **err);

#define BACKEND_CALL(b, hook, what, ...) \
        ((b)->ops->hook ? (b)->ops->hook((b), __VA_ARGS__) : backend_unsupported((b), (what), err))

static inline int backend_create(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, create, "create containers", c, st, err);
}
static inline int backend_run(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, run, "run containers", c, st, err);
}
static inline int backend_start(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, start, "start containers", c, st, err);
}
static inline int backend_kill(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, kill, "signal containers", c, st, err);
}
static inline int backend_delete(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, delete, "delete containers", c, st, err);
}
static inline int backend_exec(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, exec, "exec into containers", c, st, err);
}
static inline int backend_ps(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, ps, "list container processes", c, st, err);
}
static inline int backend_pause(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, pause, "pause containers", c, st, err);
}
static inline int backend_resume(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, resume, "resume containers", c, st, err);
}
static inline int backend_update(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, update, "update container resources", c, st, err);
}
static inline int backend_spec(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return BACKEND_CALL(b, spec, "generate a spec", c, st, err);
}
static inline int backend_state(struct backend *b, const char *id, json_t **ret, struct pxe **err)
{
        return BACKEND_CALL(b, state, "report container state", id, ret, err);
}
static inline int backend_list(struct backend *b, json_t **ret, struct pxe **err)
{
        return BACKEND_CALL(b, list, "list containers", ret, err);
}
static inline bool backend_exists(struct backend *b, const char *id)
{
        return b->ops->exists && b->ops->exists(b, id);
}
static inline int backend_features(struct backend *b, json_t **ret, struct pxe **err)
{
        return BACKEND_CALL(b, features, "report features", ret, err);
}
static inline int backend_version(struct backend *b, char **ret, struct pxe **err)
{
        return BACKEND_CALL(b, version, "report its version", ret, err);
}

/* Backend tables, defined by each backend. */
extern const struct backend_ops backend_oci_ops;
extern const struct backend_ops backend_lxc_ops;
extern const struct backend_ops backend_proxmox_ops;

/* pxcri-init: next to the running pxcri in a build tree (src/init/) or an
 * installation (../libexec/pxcri/), else where `meson install` put it;
 * malloc'ed, NULL if not found. */
char *backend_find_init(void);

/* <root>/<id>/state.json of a library backend (a JSON object, new
 * reference); ENOENT "container \"<id>\" does not exist" when absent. */
int backend_load_state(struct backend *b, const char *id, json_t **ret, struct pxe **err);

/* update: --resources (a file, or "-" for stdin) with runc's flags
 * (--memory, --cpu-quota, ...) applied on top, as an OCI linux.resources
 * object (new reference).  A flag the backend cannot take is ENOSYS. */
int backend_update_resources(const struct backend *b, const struct backend_call *c, json_t **ret, struct pxe **err);

/* --pid-file: pid in path, atomically; path NULL: nothing to do. */
int backend_write_pid_file(const char *path, pid_t pid, struct pxe **err);

/* list: the state of every container directory in the backend's root (names
 * starting with '.' and skip, when not NULL, are not containers). */
int backend_list_dirs(struct backend *b, const char *skip,
                      int (*state)(struct backend *b, const char *id, json_t **ret, struct pxe **err), json_t **ret,
                      struct pxe **err);

/* fn for every process in the pid namespace of init (a container's PID 1,
 * a host pid); only init when it shares ours. */
void backend_for_each_process(pid_t init, void (*fn)(pid_t pid, void *data), void *data);

/* ps: the pids of init's pid namespace as runc prints them (a "PID" table,
 * or a JSON array with --format json); init 0: none. */
int backend_ps_print(const struct backend_call *c, pid_t init, struct pxe **err);
/* The same with the processes walk() finds from init. */
int backend_ps_print_walk(const struct backend_call *c, pid_t init,
                          void (*walk)(pid_t init, void (*fn)(pid_t pid, void *data), void *data), struct pxe **err);

/* A signal as runc takes it ("9", "KILL", "SIGKILL"; NULL: SIGTERM), or -EINVAL. */
int backend_parse_signal(const char *s);

/* The start time of pid (/proc/<pid>/stat), 0 if gone or a zombie: with the
 * pid it names one process across pid reuse. */
long long backend_proc_start_time(pid_t pid);
