/* Pod sandbox helpers shared by the sandbox handlers (worker side). */
#pragma once

#include <stdbool.h>

#include "cri/cri.h"

/* The pod's namespace modes, from its security context. */
struct pod_modes {
        bool host_network;
        bool host_ipc;
        bool host_pid;
        bool shared_pid; /* NamespaceMode POD for pid */
};

void cri_pod_modes(const Runtime__V1__PodSandboxConfig *cfg, struct pod_modes *ret);

/* hostname, hosts, resolv.conf in dir; a tmpfs on dir/shm unless host IPC. */
int cri_pod_files_write(const char *dir, const Runtime__V1__PodSandboxConfig *cfg, const struct pod_modes *m,
                        char **ret_hostname, char **ret_shm, struct pxe **err);
