/* Shared by the files of the proxmox backend (docs/proxmox.md).
 *
 * Per container, under the backend root <root>/proxmox:
 *   <id>/state.json  vmid, bundle, created, annotations, the waiter, the run
 *                    directory, whether it was started
 *   <run_root>/<hash>-<id>/  pct: bound into the container at /.pxcri/run
 *                    (mp0): process, ctl (FIFO), output.log (CRI format), exit
 * With the api transport no host directory can be bound (Proxmox lets only
 * root@pam pass host paths); the run directory is then /.pxcri/run inside
 * the rootfs volume when that volume is a directory on this host, else there
 * is none and only the control plane works.
 *   templates/<key>.json  one image's template: its vztmpl file, the image,
 *                    and the template containers linked clones come from;
 *                    <key>.lock while it is made, used or removed
 * The <id> directory exists exactly as long as pxcri knows the container.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "backend/proxmox/client.h"
#include "backend/proxmox/proxmox.h"
#include "util/err.h"

/* In the container: pxcri-init (in every template pxcri builds) and the
 * directory it talks through. */
#define PMX_INIT_PATH "/.pxcri/init"
#define PMX_RUN_DIR "/.pxcri/run"

/* Control bytes on <run>/ctl (pxcri-init --dir): 0 starts the process, 1..64
 * deliver that signal to it. */
#define PMX_CTL_START 0

/* Proxmox's default ID map of unprivileged containers: root is 100000. */
#define PMX_UNPRIV_ROOT 100000

enum pmx_status {
        PMX_CREATING, /* pxcri create has not finished */
        PMX_CREATED,
        PMX_RUNNING,
        PMX_PAUSED,
        PMX_STOPPED,
};

struct pmx_info {
        enum pmx_status status;
        unsigned vmid;
        pid_t pid;          /* the waiter while it lives, else 0 */
        const char *run;    /* run directory on this host, or NULL (in state) */
        bool in_place;      /* the process is the CT's PID 1 (pxcri-init's "x") */
        pid_t init;         /* in place: the CT's init on this host while it runs, else 0 */
        json_t *state;      /* state.json (reference owned by info) */
};

/* <root>/<id>[/<name>], malloc'ed. */
char *pmx_path(struct backend *b, const char *id, const char *name);
/* pct: the run directory, <run_root>/<hash of pxcri's root>-<id> (outside
 * pxcri's root, whose parents an unprivileged container's root may not be
 * able to pass), malloc'ed. */
char *pmx_run_path(struct backend *b, const char *id);

int pmx_client(struct backend *b, struct pve_client **ret, struct pxe **err);

int pmx_save_state(struct backend *b, const char *id, json_t *state, struct pxe **err);

/* Status from the run directory (exit file, ctl FIFO's reader) or, without
 * one, from Proxmox.  client may be NULL (opened when needed). */
int pmx_info(struct backend *b, struct pve_client *client, const char *id, struct pmx_info *info,
             struct pxe **err);
void pmx_info_done(struct pmx_info *info);
/* The CT's init on this host while it runs (in place the process, else
 * pxcri-init, found as ctl's holder), else 0. */
pid_t pmx_info_init(const struct pmx_info *info);
const char *pmx_status_name(enum pmx_status s);

/* The run directory's entries belong to the container (its root can replace
 * them): opened without following symlinks, and only when of type (S_IFREG,
 * S_IFIFO).  run "TRUSTED//PATH" (the api transport's run directory inside
 * the rootfs volume): PATH's components are not followed either.  An fd, or
 * -errno (-EPERM: not of type). */
int pmx_run_open(const char *run, const char *name, int flags, mode_t type);
/* The exit code pxcri-init recorded, or -1. */
int pmx_run_exit(const char *run);
/* In place: the code the waiter recorded in <root>/<id>/exit; -1 when
 * there is none yet, -2 when it is "unknown". */
int pmx_state_exit(struct backend *b, const char *id);
/* A pidfd of the CT's init recorded in state.json ("init", "init_start"),
 * only while that very process runs; -errno (-ESRCH: gone). */
int pmx_init_pidfd(const json_t *state);

/* Write one control byte to <run>/ctl: -ESRCH when pxcri-init is gone. */
int pmx_ctl_send(const char *run, unsigned char byte, struct pxe **err);
/* pxcri-init's host pid (the holder of <run>/ctl), 0 if none. */
pid_t pmx_init_pid(const char *run);
/* fn for every process of the CT whose pxcri-init is host pid init: its
 * PID namespace, or, when it shares one (a pod's, the host's), its cgroup
 * (Proxmox's /lxc/<vmid>, where lxc-attach puts execs too). */
void pmx_for_each_process(pid_t init, void (*fn)(pid_t pid, void *data), void *data);
/* Whether pxcri-init (host pid init) is not pid 1 of its PID namespace. */
bool pmx_shares_pidns(pid_t init);
/* Whether pxcri-init holds <run>/ctl open. */
bool pmx_ctl_alive(const char *run);

/* Stop and destroy vmid (errors logged), remove <id>/ and the container's files. */
void pmx_cleanup(struct backend *b, struct pve_client *client, const char *id, unsigned vmid);

/* Wait for a task (upid freed; NULL: nothing to wait for) with the configured deadline. */
int pmx_task_wait(struct backend *b, struct pve_client *client, char *upid, struct pxe **err);

/* pmx_create.c */
int pmx_create(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);

/* Joining a pod's namespaces (pmx_namespaces.c): whether the transport can,
 * and, once the container exists and before its start, the include with the
 * lxc.namespace.share.* keys added to its Proxmox config. */
struct pve_params;
int pmx_namespaces_check(struct backend *b, const struct pve_params *p, const char *id, struct pxe **err);
int pmx_namespaces_share(struct backend *b, unsigned vmid, const char *id, const struct pve_params *p,
                         bool unprivileged, struct pxe **err);
/* After the start (or a failed create): the procfs pxcri mounted for a
 * shared PID namespace leaves the host; the container keeps its bind. */
void pmx_namespaces_release(struct backend *b, const char *id);
/* After a destroy: the CT's cgroups (/lxc/<vmid>, lxc.monitor/<vmid>) that
 * LXC could not remove -- in a shared PID namespace the CT's processes can
 * outlive its init by a moment (a pod's teardown kills them all at once),
 * so LXC's rmdir at the stop may find them busy and the next start of the
 * VMID would fail.  Empty ones only: rmdir refuses the others. */
void pmx_namespaces_cgroup_gc(unsigned vmid);
int pmx_start(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int pmx_run(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
/* The process records pxcri-init reads (src/init/init.c) for an OCI
 * process object; *ret malloc'ed, NUL-separated, length in *ret_len. */
int pmx_process_records(const json_t *process, bool privileged, char **ret, size_t *ret_len, struct pxe **err);
/* The annotation pxcri.io/privileged of a config (or state.json) is "true". */
bool pmx_privileged(const json_t *config);

/* exec's process: the container's process from its bundle with the
 * command, env, cwd and user of the call (or --process). */
int pmx_exec_process(struct backend *b, const char *id, const struct backend_call *c, json_t **ret,
                     struct pxe **err);
/* Write <run>/exec-<random>.process; the base path on the host and in the
 * container (pxcri-init --exec BASE), malloc'ed. */
int pmx_exec_files(const char *run, const char *records, size_t len, char **ret_host, char **ret_inside,
                   struct pxe **err);

/* pmx_binds.c: bind mounts Proxmox cannot make (files; destinations under
 * /dev), done by pxcri-init from copies in the run directory. */
struct pve_params;
int pmx_binds_records(const struct pve_params *params, char **records, size_t *len, struct pxe **err);
int pmx_binds_copy(const char *run, const struct pve_params *params, uid_t owner, struct pxe **err);

/* pmx_update.c */
int pmx_update(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);

/* pmx_waiter.c: the process whose pid the caller gets (--pid-file): it
 * relays the container's output to its stdout/stderr, passes signals on,
 * and exits with the container's exit code.  The descriptors (-1: none)
 * are the caller's; the waiter gets its own copies. */
struct pmx_waiter_args {
        const char *run;
        /* The write end of <run>/stdin, into which the waiter copies its
         * stdin until EOF. */
        int stdin_fifo;
        /* false: pxcri-init runs the process as its child -- output from
         * <run>/output.log, signals through ctl, the code from <run>/exit.
         * true: the process is the CT's PID 1 (pxcri-init's "x") -- output
         * from the FIFOs (read ends out, err; -1 with a terminal), signals
         * to init through pidfd, the status from nl (pmx_procexit_open(),
         * subscribed before the CT started), the code into exit_path. */
        bool in_place;
        int nl, pidfd, out, err;
        pid_t init;
        const char *exit_path;
};
pid_t pmx_waiter_start(const struct pmx_waiter_args *a, struct pxe **err);
/* Whether our stdin is something to carry into the container as the
 * process's stdin: a pipe or FIFO (conmon's, containerd's), a socket or a
 * file.  Not /dev/null, nothing closed, and not a terminal: a terminal's
 * input goes through process.terminal's pty, and a waiter reading the
 * caller's terminal in the background would take the shell's input. */
bool pmx_stdin_carried(void);

/* pmx_procexit.c: the wait status of the CT's PID 1 when it is the
 * container's command (lxc-start, its parent, is the only one that can
 * wait() for it), from the proc connector's PROC_EVENT_EXIT.  Root only. */
struct pmx_exit_watch {
        bool have;   /* the leader's exit event came: status is valid */
        bool leader; /* the leader (pid == tgid) exited */
        bool lost;   /* events were dropped (ENOBUFS) once ours could have been among them */
        int status;  /* wait status, as waitpid() gives it */
};
/* A netlink socket (non-blocking, close-on-exec) subscribed to process
 * events: open it before the process can exit. */
int pmx_procexit_open(struct pxe **err);
/* Let only the exit events of tgid's tasks reach fd (a socket filter): a
 * waiter is woken for its own process, not for every exit on the node,
 * and others' events cannot fill its buffer.  0, or -errno. */
int pmx_procexit_filter(int fd, pid_t tgid);
/* One datagram: the exit events of tgid's tasks go into w.  1 when one was
 * there, 0 when none, -EBADMSG/-EPROTO for a malformed one. */
int pmx_procexit_parse(const void *buf, size_t len, pid_t tgid, struct pmx_exit_watch *w);
/* Everything pending on fd (from the kernel only) into w; ENOBUFS sets
 * w->lost unless tgid had not begun to exit.  0, or -errno. */
int pmx_procexit_read(int fd, pid_t tgid, struct pmx_exit_watch *w);

/* pmx_template.c: the template for a bundle's rootfs (with pxcri-init added
 * at PMX_INIT_PATH): a vztmpl file in template_storage, made once per image,
 * and -- with linked_clones -- a template container to clone. */
#define PMX_IMAGE_ANNOTATION "io.pxcri.image-id"
#define PMX_TEMPLATE_FILE_FMT "pxcri-%s.tar.zst" /* the key */

struct pmx_template {
        char *volid;       /* "<template_storage>:vztmpl/pxcri-<key>.tar.zst" */
        unsigned ct;       /* template container for linked clones, 0: create from volid */
        char key[65];
};
/* use(data, key) runs under the key's lock once the template is there: the
 * caller records that its container uses key (state.json "template"), so a
 * prune that comes later sees the container and one that came first has
 * finished.  Its failure is the call's. */
int pmx_template_get(struct backend *b, struct pve_client *client, const char *bundle, const json_t *config,
                     bool unprivileged, int (*use)(void *data, const char *key, struct pxe **err), void *data,
                     struct pmx_template *ret, struct pxe **err);
/* The linked clone failed: the template container is gone (made again next
 * time), or the storage cannot (full creates from the file from now on). */
void pmx_template_clone_failed(struct backend *b, const char *key, bool gone);
void pmx_template_done(struct pmx_template *t);

/* <dir>/<key>.lock, exclusively (flock), into *ret_fd; without wait
 * -EWOULDBLOCK (no message) when someone holds it.  Whoever removes the
 * template unlinks the lock file while holding it; a waiter that then gets
 * the lock of the unlinked file opens the path again. */
int pmx_template_lock(const char *dir, const char *key, bool wait, int *ret_fd, struct pxe **err);
/* Write a record atomically (0600). */
int pmx_template_record_save(const char *path, json_t *rec, struct pxe **err);
/* Set the record's "file" and "image" (image NULL or "": left as it is);
 * whether anything changed. */
bool pmx_template_record_note(json_t *rec, const char *file, const char *image);
/* Whether vmid is still key's template container (a template named
 * pxcri-template-<key>): 1, 0 when gone or something else, or -errno. */
int pmx_template_ct_ours(struct pve_client *client, unsigned vmid, const char *key, struct pxe **err);

/* pmx_prune.c (pure parts, exposed for unit tests) */
/* A record's file name is "<key>.json" with key of lowercase hex digits. */
bool pmx_template_key_ok(const char *key);
/* Whether a record's image is the image asked for ("sha256:" optional on
 * either side); a record without image (NULL) matches nothing. */
bool pmx_image_matches(const char *recorded, const char *wanted);
/* The record (any JSON: fields of the wrong type are ignored) as info,
 * without users. */
int pmx_template_info_parse(const char *key, const json_t *rec, struct pmx_template_info *ret);
/* Whether a failure of Proxmox is the prune's (it cannot go on: no host
 * answered, the token is refused or lacks a privilege, a deadline passed)
 * rather than one template's. */
bool pmx_prune_error_fatal(int code);

/* pmx_console.c: terminals (backend/console.h).  Listen on path for
 * pxcri-init, connecting as the owner of the run directory run. */
int pmx_console_listen(const char *path, const char *run, int *ret_fd, struct pxe **err);
/* create: relay the master of the container's process, until <run>/exit
 * says pxcri-init ended or timeout_s passed. */
int pmx_console_relay_created(int fd, const char *console_socket, const char *run, unsigned vmid,
                              unsigned timeout_s, struct pxe **err);
/* exec with a terminal: listen on <host>.sock, run pxcri-init --exec
 * <inside> in a child (pmx_exec_spawn), relay the master to
 * c->console_socket, then wait and put the exit code in *st -- or with
 * c->detach write the child's pid to c->pid_file and return. */
int pmx_console_exec(struct backend *b, struct pve_client *client, unsigned vmid, const char *run,
                     const char *host, const char *inside, const struct backend_call *c, int *st, struct pxe **err);
/* A child that runs `pct exec VMID -- /.pxcri/init --exec <inside>`, exits
 * with its exit code and removes <host>.process; stdin and stdout /dev/null
 * with tty, else ours. */
pid_t pmx_exec_spawn(struct pve_client *client, unsigned vmid, const char *host, const char *inside, bool tty,
                     struct pxe **err);

/* pmx_exec.c: exec without a terminal, waited for: pmx_exec_spawn, the
 * host's pid of the process inside the CT (pxcri-init's <host>.pid,
 * translated) into pid_file, then its exit code into *st. */
int pmx_exec_waited(struct backend *b, struct pve_client *client, unsigned vmid, pid_t init, const char *host,
                    const char *inside, const char *pid_file, int *st, struct pxe **err);
