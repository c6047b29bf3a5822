/* Shared by the files of the lxc backend; nothing outside src/backend/lxc/
 * includes liblxc.
 *
 * Per container, under the backend root <root>/lxc (LXC's lxcpath):
 *   <id>/config      the LXC configuration (translate.h)
 *   <id>/state.json  bundle, created, annotations, the waiter's pid
 *   <id>/lxc.log     liblxc's log (errors only, unless --debug)
 *   <id>/run/        mounted at LXC_INIT_DIR: process, fifo, exit, start-hooks
 * The directory exists exactly as long as the container: container_open()
 * finds the backend by it.
 */
#pragma once

#include <jansson.h>
#include <lxc/lxccontainer.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "backend/lxc/lxc_api.h"
#include "util/err.h"

enum lxcb_status {
        LXCB_CREATED,
        LXCB_RUNNING,
        LXCB_PAUSED,
        LXCB_STOPPED,
};

struct lxcb_info {
        enum lxcb_status status;
        pid_t pid; /* pxcri-init on the host, 0 when stopped */
        json_t *state; /* state.json */
};

char *lxcb_path(struct backend *b, const char *id, const char *name);
/* <lxcpath>/<name> of an open container (malloc'ed). */
char *lxcb_path_of(struct lxc_container *c);

/* Open the LXC container object; -ENOENT when pxcri has no such container. */
int lxcb_open(struct backend *b, const char *id, struct lxc_container **ret, struct pxe **err);

/* Status and pid of an existing container (info->state: new reference). */
int lxcb_info(struct backend *b, const char *id, struct lxcb_info *info, struct pxe **err);
const char *lxcb_status_name(enum lxcb_status s);

/* The last error liblxc logged for id, or "" (static buffer). */
const char *lxcb_log_error(struct backend *b, const char *id);

/* Remove everything the container left on the host (dir, lock, cgroups
 * LXC left); errors are only logged. */
void lxcb_cleanup(struct backend *b, const char *id);

/* Wait (bounded) until the waiter recorded in state is gone. */
void lxcb_wait_waiter_gone(json_t *state, int timeout_ms);

/* The process start time of pid (/proc/<pid>/stat), 0 if gone. */

int lxcb_create(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_start(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_run(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_kill(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_delete(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_exec(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_ps(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_pause(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_resume(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);
int lxcb_update(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);

/* hostPID (lxc_hostpid.c): whether init (pxcri-init) is in our own pid
 * namespace; its first child (the process), 0 if none; every process of
 * init's cgroup and those below it (nothing if it is the root). */
bool lxcb_shares_host_pidns(pid_t init);
pid_t lxcb_init_child(pid_t init);
void lxcb_for_each_cgroup_process(pid_t init, void (*fn)(pid_t pid, void *data), void *data);

/* Delete a stopped-or-killed container for good (run, delete --force). */
int lxcb_destroy(struct backend *b, const char *id, struct pxe **err);

/* Run the OCI hooks of kind ("createRuntime", "prestart", ...) recorded in
 * state (state.json's "hooks"), each with the OCI state (status, pid: 0 is
 * left out) on stdin.  lxcb_hooks_run stops at the first that fails;
 * lxcb_hooks_warn runs them all and only logs failures (poststart, poststop). */
int lxcb_hooks_run(json_t *state, const char *kind, const char *id, enum lxcb_status status, pid_t pid,
                   struct pxe **err);
void lxcb_hooks_warn(json_t *state, const char *kind, const char *id, enum lxcb_status status, pid_t pid);
/* The hooks of kind (startContainer, createContainer) for pxcri-init to run
 * (src/init/init_hooks.h), with the OCI state of status ("created",
 * "creating"; pid 0: left out, pxcri-init's runner adds it), at path;
 * nothing when there are none. */
int lxcb_hooks_write(json_t *state, const char *kind, const char *id, const char *status, pid_t pid,
                     const char *path, struct pxe **err);

/* The caller's --preserve-fds N (create, run, exec), 0 when not given. */
unsigned lxcb_preserve_fds(const struct backend_call *c);


static inline void lxcb_putp(struct lxc_container **c)
{
        if (*c)
                lxc_api()->container_put(*c);
}

#define _cleanup_lxc_ __attribute__((cleanup(lxcb_putp)))
