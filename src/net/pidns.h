/* A pod's shared PID namespace (NamespaceMode POD): a PID namespace lives
 * only while its init does, so it cannot be pinned by a bind mount alone.
 * pidns_infra_start() starts a tiny infra process as PID 1 of a new PID
 * namespace (no image, no exec: a forked child that reaps and waits), detached
 * from pxcrid (its parent exits, so it survives pxcrid's restarts); the pod's
 * containers join /proc/<pid>/ns/pid.  Blocking: call from a worker. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "util/err.h"

/* *ret_pid: the infra's PID as the host sees it. */
int pidns_infra_start(pid_t *ret_pid, struct pxe **err);

/* Whether pid is still our infra (its PID namespace differs from ours: a
 * reused PID is not mistaken for it). */
bool pidns_infra_alive(pid_t pid);

/* SIGKILL the infra; its namespace and every process left in it go with it. */
void pidns_infra_stop(pid_t pid);
