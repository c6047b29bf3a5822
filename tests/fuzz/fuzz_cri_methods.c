/* libFuzzer target: every request message pxcrid decodes.  Byte 0 picks
 * one of the request types src/cri/server.c registers in cri_methods (the
 * table below lists the same descriptors, in the same order; ImageService
 * Version shares RuntimeService's), the rest is unpacked with its
 * protobuf-c descriptor, as src/rpc does, then goes through what the
 * handlers do before touching the host: cri_spec_validate_pod /
 * cri_spec_validate_container (the handlers' validate()), cri_spec_user,
 * cri_spec_resources (CreateContainer, UpdateContainerResources),
 * cri_spec_apply for a valid container (host-touching parts set aside), and the
 * copy + base64 round trip the state database stores.
 * Invariants: no crash or leak; a copy pxcrid keeps comes back unchanged;
 * every refusal carries a message and EINVAL. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/spec/container_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define D(x) &runtime__v1__##x##__descriptor

static const ProtobufCMessageDescriptor *const requests[] = {
        D(version_request), D(status_request), D(runtime_config_request), D(update_runtime_config_request),
        D(run_pod_sandbox_request), D(stop_pod_sandbox_request), D(remove_pod_sandbox_request),
        D(pod_sandbox_status_request), D(list_pod_sandbox_request), D(create_container_request),
        D(start_container_request), D(stop_container_request), D(remove_container_request),
        D(list_containers_request), D(container_status_request), D(update_container_resources_request),
        D(reopen_container_log_request), D(exec_sync_request), D(exec_request), D(attach_request),
        D(port_forward_request), D(container_stats_request), D(list_container_stats_request),
        D(pod_sandbox_stats_request), D(list_pod_sandbox_stats_request), D(get_events_request),
        D(list_images_request), D(image_status_request), D(pull_image_request), D(remove_image_request),
        D(image_fs_info_request),
};

#define N_REQUESTS (sizeof(requests) / sizeof(requests[0]))

static void check_round_trip(const ProtobufCMessage *m)
{
        ProtobufCMessage *dup = cri_msg_dup(m), *back;
        char *b64;

        if (!dup)
                return;
        b64 = cri_msg_to_b64(dup);
        back = b64 ? cri_msg_from_b64(dup->descriptor, b64) : NULL;
        if (!back || protobuf_c_message_get_packed_size(back) != protobuf_c_message_get_packed_size(dup))
                abort();
        protobuf_c_message_free_unpacked(back, NULL);
        protobuf_c_message_free_unpacked(dup, NULL);
        free(b64);
}

static void check_refusal(int r, struct pxe *e)
{
        if (r < 0 && (!e || e->code != EINVAL || !e->msg || !*e->msg))
                abort();
        if (r == 0 && e)
                abort();
        pxe_free(e);
}

/* cri_spec_apply on an empty spec, with what would touch the host set
 * aside for the call: request mounts (missing host paths are created),
 * devices (stat of host paths), privileged (walks /dev), seccomp profile
 * files (Localhost).  Restored before the message is freed. */
/* The deprecated seccomp_profile_path is set aside too. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void apply(Runtime__V1__ContainerConfig *cc, const Runtime__V1__PodSandboxConfig *pod)
{
        Runtime__V1__LinuxContainerSecurityContext *sc = cc->linux ? cc->linux->security_context : NULL;
        Runtime__V1__SecurityProfile *seccomp = sc ? sc->seccomp : NULL;
        char *seccomp_path = sc ? sc->seccomp_profile_path : NULL;
        size_t n_mounts = cc->n_mounts, n_devices = cc->n_devices;
        protobuf_c_boolean privileged = sc ? sc->privileged : 0;
        struct cri_sandbox_info sb = {
                .id = "0123456789abcdef", .name = "p", .namespace_ = "ns", .uid = "u",
                .netns_path = "/run/netns/x", .ipcns_path = "/run/ipcns/x", .utsns_path = "/run/utsns/x",
                .hostname = "h", .hosts_path = "/pod/hosts", .resolv_path = "/pod/resolv.conf",
                .hostname_path = "/pod/hostname", .shm_path = "/pod/shm",
                .cgroup_parent = pod && pod->linux ? pod->linux->cgroup_parent : NULL, .config = pod,
        };
        struct cri_spec_opts opts = { .min_oom_score_adj = -1000, .target_pidns = "/proc/1/ns/pid" };
        struct pxe *e = NULL;
        json_t *spec = json_object();

        cc->n_mounts = cc->n_devices = 0;
        if (sc) {
                sc->seccomp = NULL;
                sc->seccomp_profile_path = NULL;
                sc->privileged = 0;
        }
        if (spec && cri_spec_apply(spec, "fedcba9876543210", cc, &sb, &opts, &e) < 0 && (!e || !e->msg))
                abort();
        pxe_free(e);
        json_decref(spec);
        cc->n_mounts = n_mounts;
        cc->n_devices = n_devices;
        if (sc) {
                sc->seccomp = seccomp;
                sc->seccomp_profile_path = seccomp_path;
                sc->privileged = privileged;
        }
}
#pragma GCC diagnostic pop

static void container(Runtime__V1__ContainerConfig *cc, const Runtime__V1__PodSandboxConfig *pod)
{
        struct pxe *e = NULL;
        char *user = NULL;
        int r = cri_spec_validate_container(cc, &e);

        check_refusal(r, e);
        if (r < 0)
                return;
        e = NULL;
        if (cri_spec_user(cc, &user, &e) == 0)
                free(user);
        pxe_free(e);
        if (cc->linux && cc->linux->resources)
                json_decref(cri_spec_resources(cc->linux->resources, -1000));
        apply(cc, pod);
}

static void validate(ProtobufCMessage *m)
{
        struct pxe *e = NULL;

        if (m->descriptor == D(run_pod_sandbox_request)) {
                check_refusal(cri_spec_validate_pod(((const Runtime__V1__RunPodSandboxRequest *) m)->config, &e), e);
        } else if (m->descriptor == D(create_container_request)) {
                Runtime__V1__CreateContainerRequest *cr = (Runtime__V1__CreateContainerRequest *) m;

                container(cr->config, cr->sandbox_config);
        } else if (m->descriptor == D(update_container_resources_request)) {
                const Runtime__V1__UpdateContainerResourcesRequest *u = (const void *) m;

                if (u->linux)
                        json_decref(cri_spec_resources(u->linux, 0));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ProtobufCMessage *m;

        if (size < 1)
                return 0;
        m = protobuf_c_message_unpack(requests[data[0] % N_REQUESTS], NULL, size - 1, data + 1);
        if (!m)
                return 0;
        validate(m);
        check_round_trip(m);
        protobuf_c_message_free_unpacked(m, NULL);
        return 0;
}
