/* OCI runtime config (config.json) -> the parameters of a Proxmox LXC create
 * (POST /nodes/{node}/lxc, `pct create`), docs/proxmox.md#mapping.
 *
 * A pure translation: it reads the OCI config and the plain inputs of
 * struct pve_map_request and produces the create parameters in a fixed order,
 * each valid per the Proxmox API schema (tests/fixtures/pve-api-lxc.json).
 * Its only filesystem access is stat() of bind mount sources (Proxmox bind
 * mount points are directories; files go to pxcri-init instead, see
 * struct pve_map_init_bind).
 *
 * Not its business: the container's contents (ostemplate or clone source, the
 * backend adds those), and what pxcri-init does inside the container
 * (process.*, linux.sysctl, seccomp, masked and read-only paths).  Whatever
 * the OCI config asks that neither Proxmox nor pxcri-init can honour fails
 * with an error naming the field ("linux.resources.pids.limit: ..."). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/proxmox/client.h"
#include "util/err.h"

/* Where the host directory of pxcri-init (req.init_dir) appears in the
 * container.  Not under /dev as with the lxc backend: Proxmox mounts its
 * mount points before LXC puts a tmpfs on /dev, which would hide them. */
#define PVE_MAP_INIT_DIR "/.pxcri/run"
/* Where directories pxcri-init binds elsewhere (under /dev) are mounted
 * first, as Proxmox mount points: PVE_MAP_STAGE_DIR/<n>. */
#define PVE_MAP_STAGE_DIR "/.pxcri/mnt"

/* Defaults when req leaves a field 0.  Memory is never left to Proxmox,
 * whose silent default is 512 MiB. */
#define PVE_MAP_MEMORY_MIB_DEFAULT 1024
#define PVE_MAP_ROOTFS_GIB_DEFAULT 8

/* Annotations read (besides the Kubernetes ones naming pod and container). */
#define PVE_MAP_ANN_IP "pxcri.io/ip"                   /* "dhcp" or IPv4/CIDR */
#define PVE_MAP_ANN_GW "pxcri.io/gw"                   /* IPv4, with a static ip only */
#define PVE_MAP_ANN_ROOTFS_SIZE "pxcri.io/rootfs-size" /* GiB: "8" or "8G" */
#define PVE_MAP_ANN_FEATURES "pxcri.io/features"       /* "nesting,fuse,keyctl,mknod" */
#define PVE_MAP_ANN_PRIVILEGED "pxcri.io/privileged"   /* "true": unprivileged=0 (the backend reads it) */
/* "true": a CRI privileged container in a privileged CT -- Proxmox's
 * seccomp and AppArmor profiles cleared, /proc, /sys, cgroups read-write
 * (map_security.c).  pxcrid sets or removes it; a CRI annotation never
 * chooses it. */
#define PVE_MAP_ANN_PRIVILEGED_CTR "pxcri.io/privileged-container"
/* "true": the CRI asked for no seccomp filter (Unconfined) -- a privileged
 * CT then runs without Proxmox's profile, as crun runs the container.  Set
 * or removed by pxcrid only. */
#define PVE_MAP_ANN_SECCOMP_UNCONFINED "pxcri.io/seccomp-unconfined"

struct pve_map_request {
        const char *id;          /* container ID: hostname fallback, description */
        const char *bundle;      /* bundle directory (description only) */
        const char *storage;     /* rootfs storage, a Proxmox storage ID */
        const char *bridge;      /* net0 bridge */
        const char *init_dir;    /* host directory bound at PVE_MAP_INIT_DIR (mp0), or NULL */
        unsigned memory_mib;     /* memory without an OCI limit; 0: PVE_MAP_MEMORY_MIB_DEFAULT */
        unsigned rootfs_gib;     /* rootfs size without the annotation; 0: PVE_MAP_ROOTFS_GIB_DEFAULT */
        bool privileged;         /* false: unprivileged=1 */
        const char *seccomp_path; /* where the backend writes params.seccomp, or NULL */
        /* For binds with shared propagation: pxcri-init on the host (run by
         * lxc.hook.mount) and where the backend writes params.setup. */
        const char *init_path, *setup_path;
};

/* A bind mount with rshared/rslave propagation, which Proxmox mount points
 * (private binds) cannot make: a privileged CT gets it through the include
 * -- slave as an lxc.mount.entry, shared made by pxcri-init from LXC's
 * mount hook (map_security.c). */
struct pve_map_prop_bind {
        char *source, *dest;
        bool shared;         /* else slave */
        bool recursive;      /* rbind */
        bool dir;
        char flags[8];       /* ro nosuid nodev noexec as init_setup.h's o u d x */
        size_t idx;          /* mounts[idx] */
};

/* A bind mount Proxmox cannot make -- of a file (Proxmox bind mount points
 * are directories), or onto /dev (hidden by LXC's tmpfs there): the backend
 * hands it to pxcri-init. */
struct pve_map_init_bind {
        char *source; /* absolute host path */
        char *dest;   /* absolute path in the container */
        bool ro;
        /* Bound live from a Proxmox mount point at PVE_MAP_STAGE_DIR/<stage>
         * (needs init_dir, i.e. pct) rather than copied: a directory under
         * /dev; a file of a privileged CT, whose directory is the mount
         * point (stage_name: the file's name in it; NULL for a directory).
         * pxcri-init detaches the stage once the file is bound. */
        bool staged;
        unsigned stage;
        char *stage_name;
};

/* The namespaces a container joins by path (a pod's, pinned by pxcrid). */
enum pve_map_ns { PVE_NS_NET, PVE_NS_IPC, PVE_NS_UTS, PVE_NS_PID, PVE_NS_MAX };

/* A tmpfs Proxmox cannot mount (its mount points are binds or volumes;
 * containerd's default spec has one on /run): pxcri-init mounts it. */
struct pve_map_init_mount {
        char *dest;    /* absolute path in the container */
        char *options; /* "nosuid,nodev,mode=755,size=65536k" (only options pxcri-init knows) */
};

struct pve_params {
        struct pve_kv *items; /* key and value malloc'ed; in order, for pve_create() */
        size_t n_items, cap_items;
        struct pve_map_init_bind *init_binds;
        size_t n_init_binds;
        struct pve_map_init_mount *init_mounts;
        size_t n_init_mounts;
        /* linux.namespaces paths to join (NULL: a namespace of its own);
         * with a network path there is no net0. */
        char *ns_paths[PVE_NS_MAX];
        /* linux.namespaces given without a network entry: the host's network
         * (lxc.net.0.type = none), no net0. */
        bool host_network;
        /* (Without an ipc entry, ns_paths[PVE_NS_IPC] is the host's IPC
         * namespace, "/proc/self/ns/ipc": hostIPC.)
         * linux.namespaces given without a pid entry: the host's PID
         * namespace (hostPID), ns_paths[PVE_NS_PID] then "/proc/self/ns/pid"
         * (pxcri's and lxc-start's own, both on the node). */
        bool host_pid;
        /* root.readonly: pxcri-init remounts / read-only after its mounts
         * (Proxmox's rootfs ro=1 would be lost on a linked clone, and would
         * keep mount points from being made in the rootfs). */
        bool readonly_root;
        /* The OCI security fields as LXC keys for the container's
         * lxc.include ("key = value\n" lines; map_security.c), or NULL;
         * security_field names the first such field (for an error where
         * no include can be written: transport "api"). */
        char *lxc_security;
        const char *security_field;
        /* The LXC seccomp profile for req.seccomp_path, or NULL. */
        char *seccomp;
        struct pve_map_prop_bind *prop_binds;
        size_t n_prop_binds;
        /* pxcri-init --lxc-setup records for req.setup_path (NUL-terminated
         * each), or NULL. */
        char *setup;
        size_t setup_len;
};

int pve_map_bundle(const json_t *oci_config, const struct pve_map_request *req, struct pve_params **ret,
                   struct pxe **err);

/* OCI linux.resources of an update -> the config keys to set (memory, swap,
 * cores, cpulimit, cpuunits), only for what it names. */
int pve_map_update(const json_t *resources, struct pve_params **ret, struct pxe **err);

void pve_params_free(struct pve_params *p);

/* The OCI security fields into p (map_security.c). */
int pve_map_security(const json_t *config, const struct pve_map_request *req, struct pve_params *p,
                     struct pxe **err);
/* The capabilities a Proxmox container can give its processes (bit N:
 * capability N): all -- a privileged one lacks what Proxmox's common.conf
 * drops unless they are asked for, and then the include clears the drops. */
uint64_t pve_map_caps_available(bool privileged);
/* The annotation PVE_MAP_ANN_PRIVILEGED_CTR is "true". */
bool pve_map_privileged_container(const json_t *config);

static inline void pve_params_freep(struct pve_params **p)
{
        pve_params_free(*p);
}
#define _cleanup_pve_params_ __attribute__((cleanup(pve_params_freep)))

/* The value of key, or NULL. */
const char *pve_params_get(const struct pve_params *p, const char *key);

/* map_mount()'s bind with rshared/rslave (or shared/slave) among its
 * options: recorded in p->prop_binds for the include (*ret_done true), or
 * refused; without such an option *ret_done is false and nothing happens. */
struct stat;
int pve_map_prop_bind(const struct pve_map_request *req, struct pve_params *p, size_t idx, const char *src,
                      const char *dest, const json_t *opts, const struct stat *st, bool *ret_done, struct pxe **err);

/* Internal to the mapping, shared between its functions and tests. */
int pve_params_add(struct pve_params *p, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Proxmox's dns-name hostname from s (labels of [a-z0-9-], at most 63
 * characters each, 253 in all), or NULL when nothing valid remains. */
char *pve_map_hostname(const char *s);
/* Proxmox's tag format: [a-z0-9_][a-z0-9_+.-]*; NULL when nothing remains. */
char *pve_map_tag(const char *prefix, const char *s);
/* OCI cpu.shares (cgroup v1, 2..262144) -> cpuunits (cgroup v2 cpu.weight, 1..10000). */
unsigned pve_map_cpuunits(unsigned long long shares);
