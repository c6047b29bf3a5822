/* What can be refused from the request alone, before a handler creates
 * anything (pod dir, netns, bundle): required fields, paths that would
 * leave the state and log directories, enum values the CRI does not define,
 * sizes no container could start with.  Pure: no file is read. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "cri/spec/spec_internal.h"

/* The kernel refuses a single argv/envp string longer than this
 * (MAX_ARG_STRLEN, 32 pages) ... */
#define SPEC_MAX_ARG_STRLEN (32u * 4096)
/* ... and argv + envp past a quarter of the stack rlimit: 2 MiB under the
 * default 8 MiB, which Kubernetes does not change. */
#define SPEC_MAX_ARGS_TOTAL (2u * 1024 * 1024)

static bool ns_mode_known(Runtime__V1__NamespaceMode m)
{
        return m >= RUNTIME__V1__NAMESPACE_MODE__POD && m <= RUNTIME__V1__NAMESPACE_MODE__TARGET;
}

/* kubelet asks for a pod user namespace (hostUsers: false) only from a
 * handler whose Status says user_namespaces; pxcrid says false for every
 * handler, so such a request comes from another client -- and running the
 * pod in the node's user namespace instead would hand it the node's root. */
static int check_userns(const char *call, const char *field, const Runtime__V1__UserNamespace *u, struct pxe **err)
{
        if (!u || u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE)
                return 0;
        if (u->mode == RUNTIME__V1__NAMESPACE_MODE__POD)
                return pxe_set(err, ENOSYS, "%s: %s.userns_options: user namespaces (mode POD) are not supported by pxcri",
                               call, field);
        return pxe_set(err, EINVAL, "%s: %s.userns_options.mode: %d is not NODE or POD", call, field, (int) u->mode);
}

static int check_ns_options(const char *call, const char *field, const Runtime__V1__NamespaceOption *o,
                            struct pxe **err)
{
        if (!o)
                return 0;
        if (!ns_mode_known(o->network))
                return pxe_set(err, EINVAL, "%s: %s.network: unknown namespace mode %d", call, field, (int) o->network);
        if (!ns_mode_known(o->pid))
                return pxe_set(err, EINVAL, "%s: %s.pid: unknown namespace mode %d", call, field, (int) o->pid);
        if (!ns_mode_known(o->ipc))
                return pxe_set(err, EINVAL, "%s: %s.ipc: unknown namespace mode %d", call, field, (int) o->ipc);
        return check_userns(call, field, o->userns_options, err);
}

/* One more argv/envp string of len bytes (without its NUL). */
static int args_add(size_t *total, size_t len, const char *what, size_t i, struct pxe **err)
{
        if (len + 1 > SPEC_MAX_ARG_STRLEN)
                return pxe_set(err, EINVAL, "CreateContainer: config.%s[%zu] is %zu bytes, more than the kernel's %u",
                               what, i, len, SPEC_MAX_ARG_STRLEN - 1);
        *total += len + 1 + sizeof(char *);
        if (*total > SPEC_MAX_ARGS_TOTAL)
                return pxe_set(err, EINVAL, "CreateContainer: config.command, args and envs exceed %u bytes (%s[%zu])",
                               SPEC_MAX_ARGS_TOTAL, what, i);
        return 0;
}

static int check_args(const Runtime__V1__ContainerConfig *cc, struct pxe **err)
{
        size_t total = 0;

        for (size_t i = 0; i < cc->n_command; i++)
                if (args_add(&total, strlen(cc->command[i] ? cc->command[i] : ""), "command", i, err) < 0)
                        return -EINVAL;
        for (size_t i = 0; i < cc->n_args; i++)
                if (args_add(&total, strlen(cc->args[i] ? cc->args[i] : ""), "args", i, err) < 0)
                        return -EINVAL;
        for (size_t i = 0; i < cc->n_envs; i++) {
                const Runtime__V1__KeyValue *kv = cc->envs[i];
                size_t klen = kv->key ? strlen(kv->key) : 0;

                if (args_add(&total, klen + 1 + kv->value.len, "envs", i, err) < 0)
                        return -EINVAL;
        }
        return 0;
}

static int check_container_paths(const Runtime__V1__ContainerConfig *cc, struct pxe **err)
{
        if (spec_str_set(cc->log_path) && (cc->log_path[0] == '/' || !spec_path_ok(cc->log_path, false)))
                return pxe_set(err, EINVAL,
                               "CreateContainer: config.log_path \"%s\" must be relative to the pod's log_directory, without \"..\"",
                               cc->log_path);
        if (cc->n_mounts > CRI_SPEC_MAX_MOUNTS)
                return pxe_set(err, EINVAL, "CreateContainer: config.mounts: %zu mounts, at most %u", cc->n_mounts,
                               CRI_SPEC_MAX_MOUNTS);
        for (size_t i = 0; i < cc->n_mounts; i++)
                if (spec_check_mount(cc->mounts[i], i, err) < 0)
                        return pxe_wrap(err, "CreateContainer: config");
        if (cc->n_devices > CRI_SPEC_MAX_MOUNTS)
                return pxe_set(err, EINVAL, "CreateContainer: config.devices: %zu devices, at most %u", cc->n_devices,
                               CRI_SPEC_MAX_MOUNTS);
        return 0;
}

int cri_spec_validate_container(const Runtime__V1__ContainerConfig *cc, struct pxe **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc = spec_container_sc(cc);

        if (!cc)
                return pxe_set(err, EINVAL, "CreateContainer: config is required");
        if (!cc->metadata || !spec_str_set(cc->metadata->name))
                return pxe_set(err, EINVAL, "CreateContainer: config.metadata.name is required");
        if (!cc->image || !spec_str_set(cc->image->image))
                return pxe_set(err, EINVAL, "CreateContainer: config.image.image is required");
        if (sc && check_ns_options("CreateContainer", "config.linux.security_context.namespace_options",
                                   sc->namespace_options, err) < 0)
                return -EINVAL;
        if (check_container_paths(cc, err) < 0)
                return -EINVAL;
        return check_args(cc, err);
}

static int check_ports(const Runtime__V1__PodSandboxConfig *cfg, struct pxe **err)
{
        for (size_t i = 0; i < cfg->n_port_mappings; i++) {
                const Runtime__V1__PortMapping *m = cfg->port_mappings[i];

                if (m->protocol < RUNTIME__V1__PROTOCOL__TCP || m->protocol > RUNTIME__V1__PROTOCOL__SCTP)
                        return pxe_set(err, EINVAL, "RunPodSandbox: config.port_mappings[%zu].protocol: unknown value %d",
                                       i, (int) m->protocol);
                if (m->container_port < 0 || m->container_port > 65535 || m->host_port < 0 || m->host_port > 65535)
                        return pxe_set(err, EINVAL, "RunPodSandbox: config.port_mappings[%zu]: ports must be 0..65535", i);
        }
        return 0;
}

int cri_spec_validate_pod(const Runtime__V1__PodSandboxConfig *cfg, struct pxe **err)
{
        const Runtime__V1__PodSandboxMetadata *md = cfg ? cfg->metadata : NULL;
        const Runtime__V1__LinuxSandboxSecurityContext *sc =
                cfg && cfg->linux ? cfg->linux->security_context : NULL;

        if (!cfg)
                return pxe_set(err, EINVAL, "RunPodSandbox: config is required");
        if (!md || !spec_str_set(md->name))
                return pxe_set(err, EINVAL, "RunPodSandbox: config.metadata.name is required");
        if (!spec_str_set(md->namespace_))
                return pxe_set(err, EINVAL, "RunPodSandbox: config.metadata.namespace is required");
        /* kubelet sends /var/log/pods/<ns>_<name>_<uid>; anything else would
         * be created relative to pxcrid's working directory or outside it. */
        if (spec_str_set(cfg->log_directory) && !spec_path_ok(cfg->log_directory, true))
                return pxe_set(err, EINVAL, "RunPodSandbox: config.log_directory \"%s\" must be absolute, without \"..\"",
                               cfg->log_directory);
        if (sc && check_ns_options("RunPodSandbox", "config.linux.security_context.namespace_options",
                                   sc->namespace_options, err) < 0)
                return -EINVAL;
        return check_ports(cfg, err);
}
