/* CRI ContainerConfig -> OCI config.json: everything the request adds to the
 * spec that bundle_spec_generate() made from the image (process args, env,
 * cwd, user come from there; see bundle/spec.h).
 *
 * cri_spec_user() turns the request's security context into the User string
 * bundle_spec_generate() resolves in the image (run_as_username, or
 * run_as_user[:run_as_group]; NULL: the image's User, with run_as_group
 * applied on top by cri_spec_apply()).
 *
 * cri_spec_apply() then edits the spec in place:
 *   - namespaces: network/ipc/uts joined by the pod's pinned paths (removed for
 *     hostNetwork / hostIPC, uts follows network), pid per container, the
 *     pod's infra pid namespace (NamespaceMode POD) or the host's (NODE),
 *     TARGET mode by the target container's pid;
 *   - hostname; /etc/hosts, /etc/resolv.conf, /etc/hostname and /dev/shm bind
 *     mounts from the pod (read-only when the rootfs is read-only);
 *   - CRI mounts: host path -> container path, readonly, propagation
 *     (PRIVATE -> rprivate, HOST_TO_CONTAINER -> rslave, BIDIRECTIONAL ->
 *     rshared; the host path's mount made shared/slave as needed is the
 *     caller's business), selinux_relabel ignored, a missing host path created
 *     as a directory as kubelet expects;
 *   - devices (host path, container path, permissions) with cgroup rules;
 *   - privileged: all capabilities, all devices, no seccomp, no masked or
 *     read-only paths, /sys read-write;
 *   - capabilities add/drop ("ALL" too; names with or without CAP_);
 *   - no_new_privs; readonly_rootfs; masked_paths / readonly_paths when given;
 *   - seccomp: RuntimeDefault (the default profile), Unconfined (none),
 *     Localhost (a JSON profile file, absolute path; -EINVAL / -ENOENT
 *     naming it), also the deprecated seccomp_profile_path strings;
 *   - supplemental groups, run_as_group;
 *   - resources: cpu shares / quota / period / cpuset cpus & mems, memory
 *     limit (and swap = limit), hugepages limits, oom_score_adj clamped to
 *     opts->min_oom_score_adj, unified (cgroup v2) copied;
 *   - cgroupsPath: <pod cgroup_parent>/pxcri-<id> (cgroupfs) or
 *     <parent slice>:pxcri:<id> (systemd);
 *   - sysctls from the pod; annotations: the request's, the CRI ones kubelet
 *     and tools read (io.kubernetes.cri.container-type = container,
 *     io.kubernetes.cri.sandbox-id, io.kubernetes.cri.container-name, ...);
 *   - process.terminal / stdin from tty.
 * Invalid requests are -EINVAL naming the field ("mounts[2].container_path
 * must be absolute").  Pure: reads files only for Localhost seccomp profiles.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cri-api.pb-c.h"
#include "router/match.h"
#include "util/err.h"

struct cri_sandbox_info {
        const char *id;
        const char *name;          /* pod name, namespace, uid from its metadata */
        const char *namespace_;
        const char *uid;
        const char *netns_path;    /* NULL: host network */
        const char *ipcns_path;    /* NULL: host IPC */
        const char *utsns_path;    /* NULL: host UTS (host network) */
        const char *pidns_path;    /* the pod's infra pid namespace (mode POD), else NULL */
        const char *hostname;
        const char *hosts_path;    /* files made for the pod; NULL: not mounted */
        const char *resolv_path;
        const char *hostname_path;
        const char *shm_path;      /* NULL: the container gets its own /dev/shm */
        const char *cgroup_parent; /* from the pod's linux config; NULL or "": none */
        const Runtime__V1__PodSandboxConfig *config;
};

struct cri_spec_opts {
        bool systemd_cgroup;      /* cgroup driver */
        int min_oom_score_adj;    /* lowest value the host accepts (0 without CAP_SYS_RESOURCE) */
        const char *target_pidns; /* for NamespaceMode TARGET: /proc/<pid>/ns/pid of the target */
        const struct matcher *pod_annotations; /* the pod's annotations passed on (cri.pod_annotations) */
        size_t n_pod_annotations;
};

/* The pod's annotation key passes to its containers (cri.pod_annotations):
 * never the CRI's own io.kubernetes.cri.* and pxcrid's io.pxcri.* keys. */
bool cri_spec_pod_annotation_passes(const struct matcher *v, size_t n, const char *key);

/* malloc'ed user string or NULL (*ret); 0 or -EINVAL. */
int cri_spec_user(const Runtime__V1__ContainerConfig *cc, char **ret, struct pxe **err);

int cri_spec_apply(json_t *spec, const char *container_id, const Runtime__V1__ContainerConfig *cc,
                   const struct cri_sandbox_info *sb, const struct cri_spec_opts *opts,
                   struct pxe **err);

/* OCI linux.resources from CRI LinuxContainerResources (new reference), for
 * UpdateContainerResources and cri_spec_apply. */
json_t *cri_spec_resources(const Runtime__V1__LinuxContainerResources *r, int min_oom_score_adj);
/* The values cri_spec_resources() cannot take: EINVAL naming the field. */
int cri_spec_check_resources(const Runtime__V1__LinuxContainerResources *r, struct pxe **err);

/* More mounts (or devices) than this in one container are refused. */
#define CRI_SPEC_MAX_MOUNTS 1024u

/* What CreateContainer / RunPodSandbox can refuse from the request alone,
 * before anything is created: required fields (config, metadata.name,
 * image.image; the pod's metadata.namespace), log paths that would leave the
 * log directory (container: relative without ".."; pod: absolute without
 * ".."), mounts (absolute paths, no ".." in container_path, known
 * propagation, at most CRI_SPEC_MAX_MOUNTS), namespace modes and port
 * protocols the CRI does not define, ports outside 0..65535, argv/envp the
 * kernel's execve would refuse.  0, or -EINVAL naming the field. */
int cri_spec_validate_container(const Runtime__V1__ContainerConfig *cc, struct pxe **err);
int cri_spec_validate_pod(const Runtime__V1__PodSandboxConfig *cfg, struct pxe **err);
