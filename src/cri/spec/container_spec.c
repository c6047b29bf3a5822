/* cri_spec_apply(): the order of the edits, namespaces, hostname, user,
 * cgroupsPath, sysctls, annotations and terminal.  The other concerns live in
 * spec_mounts.c, spec_devices.c, spec_security.c, spec_seccomp.c and
 * spec_resources.c.  AppArmor and SELinux options are ignored: neither is
 * enabled on the Proxmox hosts pxcri runs on. */
#include "cri/spec/container_spec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/spec/spec_internal.h"
#include "util/cleanup.h"

typedef Runtime__V1__NamespaceMode ns_mode;

json_t *spec_object(json_t *parent, const char *key)
{
        json_t *o = json_object_get(parent, key);

        if (!json_is_object(o)) {
                o = json_object();
                json_object_set_new(parent, key, o);
        }
        return o;
}

json_t *spec_array(json_t *parent, const char *key)
{
        json_t *a = json_object_get(parent, key);

        if (!json_is_array(a)) {
                a = json_array();
                json_object_set_new(parent, key, a);
        }
        return a;
}

void spec_strv_add(json_t *a, const char *s)
{
        size_t i;
        json_t *v;

        json_array_foreach(a, i, v)
                if (json_is_string(v) && streq(json_string_value(v), s))
                        return;
        json_array_append_new(a, json_string(s));
}

void spec_strv_del(json_t *a, const char *s)
{
        for (size_t i = json_array_size(a); i-- > 0;) {
                const char *v = json_string_value(json_array_get(a, i));

                if (v && streq(v, s))
                        json_array_remove(a, i);
        }
}

bool spec_path_ok(const char *p, bool need_absolute)
{
        size_t n;

        if (!spec_str_set(p) || (need_absolute && p[0] != '/'))
                return false;
        for (const char *c = p; *c; c += n) {
                c += strspn(c, "/");
                n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return false;
        }
        return true;
}

const Runtime__V1__LinuxContainerSecurityContext *spec_container_sc(const Runtime__V1__ContainerConfig *cc)
{
        return cc && cc->linux ? cc->linux->security_context : NULL;
}

const Runtime__V1__LinuxSandboxSecurityContext *spec_pod_sc(const struct cri_sandbox_info *sb)
{
        return sb && sb->config && sb->config->linux ? sb->config->linux->security_context : NULL;
}

int cri_spec_user(const Runtime__V1__ContainerConfig *cc, char **ret, struct pxe **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc = spec_container_sc(cc);
        char *s = NULL;
        int r = 0;

        if (sc && spec_str_set(sc->run_as_username)) {
                if (strchr(sc->run_as_username, ':'))
                        return pxe_set(err, EINVAL, "security_context.run_as_username \"%s\" contains ':'",
                                       sc->run_as_username);
                s = strdup(sc->run_as_username);
        } else if (sc && sc->run_as_user) {
                if (sc->run_as_user->value < 0 || sc->run_as_user->value >= UINT32_MAX)
                        return pxe_set(err, EINVAL, "security_context.run_as_user %" PRId64 " is out of range",
                                       sc->run_as_user->value);
                if (sc->run_as_group && (sc->run_as_group->value < 0 || sc->run_as_group->value >= UINT32_MAX))
                        return pxe_set(err, EINVAL, "security_context.run_as_group %" PRId64 " is out of range",
                                       sc->run_as_group->value);
                if (sc->run_as_group)
                        r = asprintf(&s, "%" PRId64 ":%" PRId64, sc->run_as_user->value, sc->run_as_group->value);
                else
                        r = asprintf(&s, "%" PRId64, sc->run_as_user->value);
        } else {
                *ret = NULL;
                return 0;
        }
        if (r < 0 || !s)
                return pxe_set(err, ENOMEM, "Out of memory");
        *ret = s;
        return 0;
}

static json_t *ns_find(json_t *nss, const char *type, size_t *idx)
{
        size_t i;
        json_t *n;

        json_array_foreach(nss, i, n) {
                const char *t = json_string_value(json_object_get(n, "type"));

                if (t && streq(t, type)) {
                        if (idx)
                                *idx = i;
                        return n;
                }
        }
        return NULL;
}

/* path NULL: a namespace of the container's own; host: none at all (the host's). */
static void ns_set(json_t *nss, const char *type, const char *path, bool host)
{
        size_t i;
        json_t *n = ns_find(nss, type, &i);

        if (host) {
                if (n)
                        json_array_remove(nss, i);
                return;
        }
        if (!n) {
                n = json_pack("{s:s}", "type", type);
                json_array_append_new(nss, n);
        }
        if (path)
                json_object_set_new(n, "path", json_string(path));
        else
                json_object_del(n, "path");
}

static int apply_pid_ns(json_t *nss, ns_mode mode, const struct cri_sandbox_info *sb,
                        const struct cri_spec_opts *opts, struct pxe **err)
{
        switch (mode) {
        case RUNTIME__V1__NAMESPACE_MODE__NODE:
                ns_set(nss, "pid", NULL, true);
                return 0;
        case RUNTIME__V1__NAMESPACE_MODE__POD:
                /* A pod without an infra pid namespace (no sharing asked for
                 * at RunPodSandbox): the container gets its own. */
                ns_set(nss, "pid", sb->pidns_path, false);
                return 0;
        case RUNTIME__V1__NAMESPACE_MODE__TARGET:
                if (!opts || !spec_str_set(opts->target_pidns))
                        return pxe_set(err, EINVAL,
                                       "security_context.namespace_options.pid is TARGET but the target container's "
                                       "pid namespace is unknown");
                ns_set(nss, "pid", opts->target_pidns, false);
                return 0;
        case RUNTIME__V1__NAMESPACE_MODE__CONTAINER:
                ns_set(nss, "pid", NULL, false);
                return 0;
        default:
                return pxe_set(err, EINVAL, "security_context.namespace_options.pid: unknown mode %d", (int) mode);
        }
}

/* Network and IPC follow the pod (its options, and the paths it pinned); pid
 * is the container's choice (kubelet sets CONTAINER, POD or TARGET there). */
static int apply_namespaces(json_t *spec, const Runtime__V1__ContainerConfig *cc, const struct cri_sandbox_info *sb,
                            const struct cri_spec_opts *opts, bool *ret_host_net, bool *ret_host_ipc,
                            struct pxe **err)
{
        const Runtime__V1__LinuxSandboxSecurityContext *psc = spec_pod_sc(sb);
        const Runtime__V1__LinuxContainerSecurityContext *sc = spec_container_sc(cc);
        const Runtime__V1__NamespaceOption *pns = psc ? psc->namespace_options : NULL;
        const Runtime__V1__NamespaceOption *cns = sc ? sc->namespace_options : NULL;
        const Runtime__V1__NamespaceOption *nsopt = pns ? pns : cns;
        json_t *nss = spec_array(spec_object(spec, "linux"), "namespaces");
        bool host_net = (nsopt && nsopt->network == RUNTIME__V1__NAMESPACE_MODE__NODE) || !sb->netns_path;
        bool host_ipc = (nsopt && nsopt->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE) || !sb->ipcns_path;
        ns_mode pid = cns ? cns->pid : nsopt ? nsopt->pid : RUNTIME__V1__NAMESPACE_MODE__POD;

        ns_set(nss, "network", sb->netns_path, host_net);
        ns_set(nss, "uts", sb->utsns_path, host_net);
        ns_set(nss, "ipc", sb->ipcns_path, host_ipc);
        if (apply_pid_ns(nss, pid, sb, opts, err) < 0)
                return -EINVAL;
        *ret_host_net = host_net;
        *ret_host_ipc = host_ipc;
        return 0;
}

static void apply_hostname(json_t *spec, const struct cri_sandbox_info *sb, bool host_net)
{
        const char *h = spec_str_set(sb->hostname) ? sb->hostname
                        : sb->config && spec_str_set(sb->config->hostname) ? sb->config->hostname
                                                                            : NULL;

        /* Without a UTS namespace of its own the runtime refuses a hostname. */
        if (host_net)
                json_object_del(spec, "hostname");
        else if (h)
                json_object_set_new(spec, "hostname", json_string(h));
}

static int apply_user(json_t *spec, const Runtime__V1__LinuxContainerSecurityContext *sc, struct pxe **err)
{
        json_t *user = spec_object(spec_object(spec, "process"), "user"), *gids;

        if (!sc)
                return 0;
        if (sc->run_as_group) {
                if (sc->run_as_group->value < 0 || sc->run_as_group->value >= UINT32_MAX)
                        return pxe_set(err, EINVAL, "security_context.run_as_group %" PRId64 " is out of range",
                                       sc->run_as_group->value);
                json_object_set_new(user, "gid", json_integer(sc->run_as_group->value));
        }
        if (sc->n_supplemental_groups == 0 && sc->supplemental_groups_policy != RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict)
                return 0;
        /* Strict: only the groups asked for, none from the image's /etc/group. */
        if (sc->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict)
                json_object_del(user, "additionalGids");
        gids = spec_array(user, "additionalGids");
        for (size_t i = 0; i < sc->n_supplemental_groups; i++) {
                int64_t g = sc->supplemental_groups[i];
                bool have = false;
                size_t j;
                json_t *v;

                if (g < 0 || g >= UINT32_MAX)
                        return pxe_set(err, EINVAL, "security_context.supplemental_groups[%zu] %" PRId64
                                       " is out of range", i, g);
                json_array_foreach(gids, j, v)
                        have = have || json_integer_value(v) == g;
                if (!have)
                        json_array_append_new(gids, json_integer(g));
        }
        return 0;
}

/* cgroupfs: <parent>/pxcri-<id>; systemd: <slice>:pxcri:<id>, as runc and crun
 * read the systemd form. */
static int apply_cgroups_path(json_t *spec, const char *id, const struct cri_sandbox_info *sb,
                              const struct cri_spec_opts *opts, struct pxe **err)
{
        const char *parent = spec_str_set(sb->cgroup_parent) ? sb->cgroup_parent : NULL;
        _cleanup_free_ char *p = NULL;
        int r;

        if (opts && opts->systemd_cgroup) {
                const char *slice = parent ? strrchr(parent, '/') : NULL;
                size_t n;

                slice = slice ? slice + 1 : parent ? parent : "system.slice";
                n = strlen(slice);
                if (n < 7 || !streq(slice + n - 6, ".slice"))
                        return pxe_set(err, EINVAL, "linux.cgroup_parent \"%s\" is not a systemd slice",
                                       parent ? parent : "");
                r = asprintf(&p, "%s:pxcri:%s", slice, id);
        } else if (parent) {
                size_t n = strlen(parent);

                while (n > 1 && parent[n - 1] == '/')
                        n--;
                r = asprintf(&p, "%s%.*s/pxcri-%s", parent[0] == '/' ? "" : "/", (int) n, parent, id);
        } else {
                r = asprintf(&p, "/pxcri-%s", id);
        }
        if (r < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_object_set_new(spec_object(spec, "linux"), "cgroupsPath", json_string(p));
        return 0;
}

static void apply_sysctls(json_t *spec, const struct cri_sandbox_info *sb)
{
        const Runtime__V1__LinuxPodSandboxConfig *l = sb->config ? sb->config->linux : NULL;
        json_t *sysctl;

        if (!l || l->n_sysctls == 0)
                return;
        sysctl = spec_object(spec_object(spec, "linux"), "sysctl");
        for (size_t i = 0; i < l->n_sysctls; i++)
                if (spec_str_set(l->sysctls[i]->key))
                        json_object_set_new(sysctl, l->sysctls[i]->key,
                                            json_string(l->sysctls[i]->value ? l->sysctls[i]->value : ""));
}

static void annotate(json_t *a, const char *key, const char *value)
{
        if (value)
                json_object_set_new(a, key, json_string(value));
}

bool cri_spec_pod_annotation_passes(const struct matcher *v, size_t n, const char *key)
{
        return spec_str_set(key) && strncmp(key, "io.kubernetes.cri.", 18) != 0 && strncmp(key, "io.pxcri.", 9) != 0 &&
               matchers_any(v, n, key);
}

static void apply_annotations(json_t *spec, const Runtime__V1__ContainerConfig *cc, const struct cri_sandbox_info *sb,
                              const struct cri_spec_opts *opts)
{
        json_t *a = spec_object(spec, "annotations");
        const Runtime__V1__PodSandboxConfig *pc = sb->config;

        for (size_t i = 0; i < cc->n_annotations; i++)
                if (spec_str_set(cc->annotations[i]->key))
                        annotate(a, cc->annotations[i]->key,
                                 cc->annotations[i]->value ? cc->annotations[i]->value : "");
        /* As containerd's pod_annotations: under the container's own. */
        for (size_t i = 0; pc && i < pc->n_annotations; i++)
                if (cri_spec_pod_annotation_passes(opts->pod_annotations, opts->n_pod_annotations,
                                                   pc->annotations[i]->key) &&
                    !json_object_get(a, pc->annotations[i]->key))
                        annotate(a, pc->annotations[i]->key, pc->annotations[i]->value ? pc->annotations[i]->value : "");
        /* The CRI's own keys win over the request's. */
        annotate(a, "io.kubernetes.cri.container-type", "container");
        annotate(a, "io.kubernetes.cri.container-name", cc->metadata ? cc->metadata->name : NULL);
        annotate(a, "io.kubernetes.cri.sandbox-id", sb->id);
        annotate(a, "io.kubernetes.cri.sandbox-name", sb->name);
        annotate(a, "io.kubernetes.cri.sandbox-namespace", sb->namespace_);
        annotate(a, "io.kubernetes.cri.sandbox-uid", sb->uid);
        if (!json_object_get(a, "io.kubernetes.cri.image-name") && cc->image && spec_str_set(cc->image->image))
                annotate(a, "io.kubernetes.cri.image-name", cc->image->image);
}

static int check_privileged(const Runtime__V1__LinuxContainerSecurityContext *sc, const struct cri_sandbox_info *sb,
                            struct pxe **err)
{
        const Runtime__V1__LinuxSandboxSecurityContext *psc = spec_pod_sc(sb);

        if (sc && sc->privileged && !(psc && psc->privileged))
                return pxe_set(err, EINVAL,
                               "security_context.privileged: a privileged container needs a privileged pod (%s)",
                               sb->name ? sb->name : sb->id ? sb->id : "?");
        return 0;
}

static int apply_process(json_t *spec, const Runtime__V1__ContainerConfig *cc,
                         const Runtime__V1__LinuxContainerSecurityContext *sc, struct pxe **err)
{
        json_t *process = spec_object(spec, "process");

        json_object_set_new(process, "terminal", json_boolean(cc->tty));
        if (sc && sc->readonly_rootfs)
                json_object_set_new(spec_object(spec, "root"), "readonly", json_true());
        return apply_user(spec, sc, err);
}

int cri_spec_apply(json_t *spec, const char *container_id, const Runtime__V1__ContainerConfig *cc,
                   const struct cri_sandbox_info *sb, const struct cri_spec_opts *opts, struct pxe **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc = spec_container_sc(cc);
        const Runtime__V1__LinuxContainerResources *res = cc && cc->linux ? cc->linux->resources : NULL;
        bool privileged = sc && sc->privileged, host_net = false, host_ipc = false, ro;

        if (!json_is_object(spec) || !cc || !sb || !spec_str_set(container_id))
                return pxe_set(err, EINVAL, "Container spec: missing spec, request, pod or container id");
        if (check_privileged(sc, sb, err) < 0 || apply_namespaces(spec, cc, sb, opts, &host_net, &host_ipc, err) < 0 ||
            apply_process(spec, cc, sc, err) < 0)
                return -pxe_code(err, EINVAL);
        apply_hostname(spec, sb, host_net);
        ro = json_is_true(json_object_get(json_object_get(spec, "root"), "readonly"));
        if (spec_apply_mounts(spec, cc, sb, host_ipc, ro, privileged, err) < 0 ||
            spec_apply_devices(spec, cc, privileged, err) < 0 || spec_apply_security(spec, sc, privileged, err) < 0 ||
            spec_apply_seccomp(spec, sc, privileged, err) < 0 ||
            spec_apply_resources(spec, res, opts ? opts->min_oom_score_adj : 0, err) < 0 ||
            apply_cgroups_path(spec, container_id, sb, opts, err) < 0)
                return -pxe_code(err, EINVAL);
        apply_sysctls(spec, sb);
        apply_annotations(spec, cc, sb, opts);
        return 0;
}
