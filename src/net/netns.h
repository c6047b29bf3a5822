/* Pod namespaces pinned without a pause process, as CRI-O's pinns does.
 *
 * netns_pin() forks a short-lived child that unshares the asked namespaces,
 * sets the hostname in a new UTS namespace and applies namespaced sysctls
 * (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) inside them,
 * then the parent bind-mounts the child's /proc/<pid>/ns/<kind> onto
 * <dir>/<kind> (net, ipc, uts) and the child exits.  The files keep the
 * namespaces alive; crun/runc join them by path and CNI plugins enter the
 * network namespace by it.  Nothing is left behind on failure.
 *
 * Blocking (forks, waits): call from a worker thread, never the event loop.
 * Thread-safe: no process-wide state is touched (no setns in the caller).
 */
#pragma once

#include <stddef.h>

#include "util/err.h"

enum {
        NETNS_NET = 1 << 0,
        NETNS_IPC = 1 << 1,
        NETNS_UTS = 1 << 2,
};

struct netns_sysctl {
        const char *key;   /* "net.ipv4.ip_unprivileged_port_start" */
        const char *value;
};

struct netns_pin_request {
        const char *dir;       /* created 0700 if missing; <dir>/net, ipc, uts are made */
        unsigned kinds;        /* NETNS_* */
        const char *hostname;  /* set in the new UTS namespace; NULL: leave */
        const struct netns_sysctl *sysctls; /* applied in the new namespaces; a sysctl
                                             * that is not namespaced, or whose namespace is
                                             * not among kinds, is -EINVAL naming it */
        size_t n_sysctls;
};

/* Paths of the pinned namespaces (malloc'ed), NULL for kinds not asked. */
struct netns_paths {
        char *net;
        char *ipc;
        char *uts;
};

int netns_pin(const struct netns_pin_request *req, struct netns_paths *ret, struct pxe **err);

/* Unmount and remove <dir>/net, ipc, uts (whichever exist) and dir itself if
 * it is then empty.  Idempotent: what is already gone is no error. */
int netns_unpin(const char *dir, struct pxe **err);

void netns_paths_done(struct netns_paths *p);

/* Added by the net module: the NETNS_* kind a sysctl belongs to (NETNS_NET for
 * net.*, NETNS_IPC for kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*,
 * NETNS_UTS for kernel.domainname), 0 when it is not namespaced or not a
 * valid name.  Keys may be written with dots or slashes ("net/ipv4/...").
 * For CRI handlers that validate a pod's sysctls before pinning. */
unsigned netns_sysctl_kind(const char *key);
