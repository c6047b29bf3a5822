/* Shared by the cri/spec tests: a CRI request built from protobuf-c structs,
 * the pod it goes into, and the base spec bundle_spec_generate() makes. */
#pragma once

#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/spec.h"
#include "cri/spec/container_spec.h"
#include "util/cleanup.h"

struct req {
        Runtime__V1__ContainerConfig cc;
        Runtime__V1__ContainerMetadata md;
        Runtime__V1__ImageSpec image;
        Runtime__V1__LinuxContainerConfig lc;
        Runtime__V1__LinuxContainerSecurityContext sc;
        Runtime__V1__LinuxContainerResources res;
        Runtime__V1__NamespaceOption cns;
        Runtime__V1__PodSandboxConfig pod;
        Runtime__V1__PodSandboxMetadata pmd;
        Runtime__V1__LinuxPodSandboxConfig plc;
        Runtime__V1__LinuxSandboxSecurityContext psc;
        Runtime__V1__NamespaceOption pns;
        struct cri_sandbox_info sb;
        struct cri_spec_opts opts;
};

/* A pod on its own network with pinned namespaces; a container "app" with a
 * security context, resources and namespace options (pid CONTAINER). */
static inline void req_init(struct req *r)
{
        *r = (struct req){
                .cc = RUNTIME__V1__CONTAINER_CONFIG__INIT,
                .md = RUNTIME__V1__CONTAINER_METADATA__INIT,
                .image = RUNTIME__V1__IMAGE_SPEC__INIT,
                .lc = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT,
                .sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT,
                .res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT,
                .cns = RUNTIME__V1__NAMESPACE_OPTION__INIT,
                .pod = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT,
                .pmd = RUNTIME__V1__POD_SANDBOX_METADATA__INIT,
                .plc = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT,
                .psc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT,
                .pns = RUNTIME__V1__NAMESPACE_OPTION__INIT,
        };
        r->md.name = "app";
        r->image.image = "docker.io/library/busybox:latest";
        r->cc.metadata = &r->md;
        r->cc.image = &r->image;
        r->cc.linux = &r->lc;
        r->lc.security_context = &r->sc;
        r->lc.resources = &r->res;
        r->sc.namespace_options = &r->cns;
        r->cns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
        r->pmd.name = "web";
        r->pmd.namespace_ = "default";
        r->pmd.uid = "uid-1";
        r->pod.metadata = &r->pmd;
        r->pod.hostname = "web-host";
        r->pod.linux = &r->plc;
        r->plc.security_context = &r->psc;
        r->psc.namespace_options = &r->pns;
        r->pns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
        r->sb = (struct cri_sandbox_info){
                .id = "pod0123",
                .name = "web",
                .namespace_ = "default",
                .uid = "uid-1",
                .netns_path = "/run/pxt/netns/pod0123",
                .ipcns_path = "/run/pxt/ipcns/pod0123",
                .utsns_path = "/run/pxt/utsns/pod0123",
                .hostname = "web-host",
                .config = &r->pod,
        };
}

static inline json_t *base_spec(void)
{
        struct bundle_spec_request breq = { .image_config = "{\"config\":{\"Cmd\":[\"/bin/sh\"]}}",
                                            .image_name = "docker.io/library/busybox:latest",
                                            .rootfs_fd = -1 };
        _cleanup_pxe_ struct pxe *err = NULL;
        json_t *spec = NULL;

        if (bundle_spec_generate(&breq, &spec, &err) < 0)
                fail_msg("bundle_spec_generate: %s", err->msg);
        return spec;
}

/* Apply r to a fresh base spec; the spec (or NULL on failure, with *err). */
static inline json_t *apply_err(struct req *r, int *ret, struct pxe **err)
{
        json_t *spec = base_spec();

        *ret = cri_spec_apply(spec, "ctr42", &r->cc, &r->sb, &r->opts, err);
        if (*ret < 0) {
                json_decref(spec);
                return NULL;
        }
        return spec;
}

static inline json_t *apply_ok(struct req *r)
{
        _cleanup_pxe_ struct pxe *err = NULL;
        int ret;
        json_t *spec = apply_err(r, &ret, &err);

        if (!spec)
                fail_msg("cri_spec_apply: %d %s", ret, err ? err->msg : "(no message)");
        return spec;
}

/* The apply fails with code; its message contains want. */
static inline void apply_fails(struct req *r, int code, const char *want)
{
        _cleanup_pxe_ struct pxe *err = NULL;
        int ret;
        json_t *spec = apply_err(r, &ret, &err);

        assert_null(spec);
        assert_int_equal(ret, -code);
        assert_non_null(err);
        assert_contains(err->msg, want);
}

/* json_dumps of the value at a dotted path ("linux.resources.cpu"), or "null". */
static inline char *dump_at(json_t *spec, const char *path)
{
        _cleanup_free_ char *p = strdup(path);
        json_t *v = spec;
        char *save = NULL;

        for (char *k = strtok_r(p, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
                v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10)) : json_object_get(v, k);
        return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
}

#define assert_json_at(spec, path, want)                         \
        do {                                                     \
                char *_got = dump_at((spec), (path));            \
                assert_string_equal(_got, (want));               \
                free(_got);                                      \
        } while (0)

/* The mount at destination (the last one), or NULL; *count how many there are. */
static inline json_t *mount_at(json_t *spec, const char *dst, size_t *count)
{
        json_t *found = NULL, *m;
        size_t i, n = 0;

        json_array_foreach(json_object_get(spec, "mounts"), i, m) {
                const char *d = json_string_value(json_object_get(m, "destination"));

                if (d && strcmp(d, dst) == 0) {
                        found = m;
                        n++;
                }
        }
        if (count)
                *count = n;
        return found;
}

static inline bool strv_contains(json_t *a, const char *s)
{
        size_t i;
        json_t *v;

        json_array_foreach(a, i, v)
                if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
                        return true;
        return false;
}

static inline json_t *caps_set(json_t *spec, const char *set)
{
        return json_object_get(json_object_get(json_object_get(spec, "process"), "capabilities"), set);
}
