/* Shared by the files of src/cri/spec/: each applies one concern of a CRI
 * ContainerConfig to the OCI spec (see container_spec.h for the contract). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cri/spec/container_spec.h"

/* protobuf-c strings are "" when unset, but hand-built requests may leave NULL. */
static inline bool spec_str_set(const char *s)
{
        return s && *s;
}

/* The object under key in parent, created when missing (borrowed). */
json_t *spec_object(json_t *parent, const char *key);

/* The array under key in parent, created when missing (borrowed). */
json_t *spec_array(json_t *parent, const char *key);

/* Append s to the string array a unless it is there already. */
void spec_strv_add(json_t *a, const char *s);

/* Remove s from the string array a. */
void spec_strv_del(json_t *a, const char *s);

/* A path is clean enough for a mount or device target: absolute, no ".." component. */
bool spec_path_ok(const char *p, bool need_absolute);

/* The container's security context, or NULL. */
const Runtime__V1__LinuxContainerSecurityContext *spec_container_sc(const Runtime__V1__ContainerConfig *cc);

/* The pod's security context, or NULL. */
const Runtime__V1__LinuxSandboxSecurityContext *spec_pod_sc(const struct cri_sandbox_info *sb);

/* spec_mounts.c: one CRI mount is usable: absolute container and host paths,
 * no ".." in the container path, a known propagation.  -EINVAL naming
 * mounts[i] and the field. */
int spec_check_mount(const Runtime__V1__Mount *m, size_t i, struct pxe **err);

/* spec_mounts.c: /etc/hosts, /etc/resolv.conf, /etc/hostname, /dev/shm from the
 * pod and the request's mounts; /sys and /sys/fs/cgroup read-write when privileged. */
int spec_apply_mounts(json_t *spec, const Runtime__V1__ContainerConfig *cc, const struct cri_sandbox_info *sb,
                      bool host_ipc, bool readonly_rootfs, bool privileged, struct pxe **err);

/* spec_devices.c: the request's devices; all host devices when privileged. */
int spec_apply_devices(json_t *spec, const Runtime__V1__ContainerConfig *cc, bool privileged, struct pxe **err);

/* spec_security.c: capabilities, privileged, no_new_privs, masked and read-only paths. */
int spec_apply_security(json_t *spec, const Runtime__V1__LinuxContainerSecurityContext *sc, bool privileged,
                        struct pxe **err);

/* spec_seccomp.c: linux.seccomp from the security context (run after the
 * capabilities: a docker profile's includes/excludes look at them). */
int spec_apply_seccomp(json_t *spec, const Runtime__V1__LinuxContainerSecurityContext *sc, bool privileged,
                       struct pxe **err);

/* spec_seccomp.c: an OCI linux.seccomp object from a profile's JSON text
 * (docker format or OCI format); caps are the bounding set the docker
 * format's includes/excludes are matched against.  New reference or NULL. */
json_t *spec_seccomp_convert(json_t *profile, json_t *caps, const char *what, struct pxe **err);

/* spec_resources.c: linux.resources and process.oomScoreAdj. */
int spec_apply_resources(json_t *spec, const Runtime__V1__LinuxContainerResources *r, int min_oom_score_adj,
                         struct pxe **err);
