/* Containers under conmon, driven through the `pxcri` binary: what pxcrid
 * does to a container, out of its own process (DESIGN.md, "pxcrid: how the
 * daemon is built").
 *
 * monitor_create() starts conmon (Debian's, the one CRI-O uses) with
 * `--runtime <pxcri> --runtime-arg --root=<root> [--runtime-arg
 * --config=<file>]`; conmon daemonizes, runs `pxcri create`, holds the
 * container's stdio, writes its output in the CRI log format to the log path,
 * records the exit code in <exits_dir>/<id> (and an "oom" file in
 * <persist_dir>/<id>/ when the kernel killed it for memory), and keeps the
 * container alive whatever happens to pxcrid.  The call returns once conmon
 * reported the container's pid (or the runtime's error) on its sync pipe.
 *
 * Every function here blocks (runs programs, waits): call from a worker
 * thread.  None touches process-wide state (no signal handlers, no
 * waitpid(-1), no getenv in threads: environment passed explicitly).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct monitor_config {
        const char *conmon_path;    /* "/usr/bin/conmon" */
        const char *runtime_path;   /* the pxcri binary, absolute */
        const char *runtime_root;   /* pxcri --root */
        const char *runtime_config; /* pxcri --config FILE; NULL: pxcri's own search */
        const char *exits_dir;      /* conmon --exit-dir: <exits_dir>/<id> holds the exit code */
        const char *persist_dir;    /* conmon --persist-dir <persist_dir>/<id> (oom file) */
        const char *socket_dir;     /* conmon --socket-dir-path (attach sockets) */
        const char *log_level;      /* conmon --log-level: "error", "info", "debug" */
        bool systemd_cgroup;        /* conmon -s and pxcri --systemd-cgroup */
        const char *conmon_cgroup;  /* conmon's own cgroup ("pod" means the container's parent),
                                     * NULL: leave it where pxcrid is */
};

struct monitor_create_request {
        const char *id;
        const char *name;         /* conmon --name (for its logs) */
        const char *bundle;       /* holds config.json; conmon's pidfile goes here too */
        const char *log_path;     /* CRI log file; its directory must exist */
        size_t log_size_max;      /* 0: no limit */
        bool terminal;
        bool stdin;               /* keep stdin open for attach */
        bool stdin_once;
        unsigned timeout_s;       /* whole create, 0: 240 s */
};

struct monitor_created {
        pid_t pid;        /* the container's init as the runtime reported it */
        pid_t conmon_pid;
};

int monitor_create(const struct monitor_config *mc, const struct monitor_create_request *req,
                   struct monitor_created *ret, struct pxe **err);

/* pxcri start|kill|delete|state|update: the runtime's own errors come back in
 * the message, "container "X" does not exist" as -ENOENT. */
int monitor_start(const struct monitor_config *mc, const char *id, struct pxe **err);
int monitor_kill(const struct monitor_config *mc, const char *id, int sig, bool all, struct pxe **err);
int monitor_delete(const struct monitor_config *mc, const char *id, bool force, struct pxe **err);
/* The OCI state JSON (status, pid, backend, ...). */
int monitor_state(const struct monitor_config *mc, const char *id, json_t **ret, struct pxe **err);
/* resources_json: an OCI linux.resources object, passed as `update --resources -`. */
int monitor_update(const struct monitor_config *mc, const char *id, const char *resources_json,
                   struct pxe **err);

struct monitor_exit {
        int code;          /* exit code as conmon recorded it (128 + signal for a signal) */
        int64_t at_ns;     /* when (the exit file's mtime), Unix nanoseconds */
        bool oom_killed;
};

/* The recorded exit of id: 0, or -ENOENT while it has not exited. */
int monitor_read_exit(const struct monitor_config *mc, const char *id, struct monitor_exit *ret,
                      struct pxe **err);

/* Send sig, wait up to timeout_s for the exit file; then SIGKILL (to all of
 * the container's processes) and wait up to 10 s more.  A container that has
 * already exited (or is gone) is success.  ret (may be NULL): the exit. */
int monitor_stop(const struct monitor_config *mc, const char *id, int sig, unsigned timeout_s,
                 struct monitor_exit *ret, struct pxe **err);

struct monitor_exec_result {
        char *out;      /* stdout, at most max_output bytes */
        size_t out_len;
        char *err;      /* stderr, at most max_output bytes */
        size_t err_len;
        int exit_code;
};

/* Run argv in the running container (`pxcri exec`, the container's env, cwd
 * and user), capture its output.  timeout_s 0: none.  On timeout the process
 * (its pid from --pid-file) is killed and the call returns -ETIMEDOUT
 * "Command timed out after N s" with what was captured so far in ret. */
int monitor_exec_sync(const struct monitor_config *mc, const char *id, const char *const *argv,
                      size_t n_argv, unsigned timeout_s, size_t max_output,
                      struct monitor_exec_result *ret, struct pxe **err);
/* The same with a whole OCI process object (`pxcri exec --process FILE`):
 * the command runs with the user, groups, env, cwd and capabilities the file
 * gives (CRI: those of the container), which `exec ID CMD` does not carry on
 * every runtime. */
int monitor_exec_sync_process(const struct monitor_config *mc, const char *id, const char *process_path,
                              unsigned timeout_s, size_t max_output, struct monitor_exec_result *ret,
                              struct pxe **err);
void monitor_exec_result_done(struct monitor_exec_result *r);

/* For a caller that runs the exec itself (the streaming server): the command
 * line `pxcri <globals> exec --process F ID`, NULL-terminated (free with
 * monitor_strv_free), and the environment it must run with. */
int monitor_exec_argv(const struct monitor_config *mc, const char *id, const char *process_path, char ***ret,
                      struct pxe **err);
char *const *monitor_exec_envp(void);

/* Ask the container's conmon to reopen its log file (kubelet rotated it):
 * through conmon's control FIFO <bundle>/ctl.  -ENOENT when conmon is gone. */
int monitor_reopen_log(const struct monitor_config *mc, const char *bundle, struct pxe **err);

/* Drop what conmon kept of container id outside its bundle: the exit file,
 * <persist_dir>/<id> (oom file, exec process files) and the attach link in
 * socket_dir.  For a removal, once the container is out of the runtime and
 * its conmon is gone; what is not there is fine. */
void monitor_forget(const struct monitor_config *mc, const char *id);

/* `pxcri proxmox-prune --image ID --format json`: the Proxmox templates of an
 * image nothing uses any more are removed (docs/proxmox.md); the JSON report
 * in *ret_out (may be NULL). */
int monitor_proxmox_prune(const struct monitor_config *mc, const char *image_id, char **ret_out,
                          struct pxe **err);

/* The image IDs Proxmox templates of pxcri's root were made from (`pxcri
 * proxmox-templates --format json`), each once, in a NULL-terminated vector
 * (monitor_strv_free). */
int monitor_proxmox_template_images(const struct monitor_config *mc, char ***ret, size_t *ret_n, struct pxe **err);

/* Whether conmon (by the pid recorded in <bundle>/conmon.pid) is alive. */
bool monitor_conmon_alive(const char *bundle);

/* That conmon's pid, 0 when it is gone (or the pid is another program's). */
pid_t monitor_conmon_pid(const char *bundle);

/* Wait until the runtime call conmon makes for a start (`pxcri create`:
 * conmon's children but the container's process) has ended, for timeout_s
 * at most; then SIGKILL it and wait for that.  0 when it ended by itself (or
 * there was none: conmon gone, create done), -ECANCELED when it was killed,
 * -ETIMEDOUT when not even SIGKILL ended it within 5 s.  A start cut short
 * is undone only after this: what the runtime says before may change. */
int monitor_runtime_call_wait(const char *bundle, unsigned timeout_s);

/* The pieces of the above that are pure functions, for tests. */

/* conmon's command line for monitor_create (NULL-terminated; free with
 * monitor_strv_free).  -EINVAL when a required field is missing. */
int monitor_conmon_argv(const struct monitor_config *mc, const struct monitor_create_request *req,
                        char ***ret, struct pxe **err);
void monitor_strv_free(char **v);

/* conmon's sync-pipe message, `{"data": N}` (--api-version 1) or `{"pid": N}`,
 * with "message" when N < 0.  ret_message (may be NULL) gets the message or
 * NULL.  -EINVAL when text is not such a message. */
int monitor_parse_sync(const char *text, int *ret_value, char **ret_message, struct pxe **err);

/* An exit file's content: a decimal integer, optionally followed by a newline. */
int monitor_parse_exit_code(const char *text, int *ret, struct pxe **err);
