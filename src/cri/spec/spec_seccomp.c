/* Seccomp: RuntimeDefault is bundle_seccomp_default(), Unconfined none,
 * Localhost a JSON profile file.  The deprecated seccomp_profile_path
 * strings ("runtime/default", "docker/default", "unconfined",
 * "localhost/<path>") are read when the SecurityProfile is absent, and no
 * profile at all is unconfined, as containerd 1.6 does.  Privileged
 * containers get none.
 *
 * A profile file may be in Docker's format (what kubelet's seccomp directory
 * and the security-profiles-operator hold: "name" or "names", "archMap",
 * includes/excludes by capability and architecture) or already in the OCI
 * form; both come out as an OCI linux.seccomp object.  includes.minKernel is
 * not checked (the profile's rule is kept). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/spec.h"
#include "cri/spec/spec_internal.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define PROFILE_MAX (4u << 20)

#if defined(__x86_64__)
static const char *const native_arch[] = { "SCMP_ARCH_X86_64", "amd64", "x86_64" };
#elif defined(__aarch64__)
static const char *const native_arch[] = { "SCMP_ARCH_AARCH64", "arm64", "aarch64" };
#else
static const char *const native_arch[] = { "" };
#endif

static bool is_native(const char *arch)
{
        for (size_t i = 0; arch && i < ARRAY_SIZE(native_arch); i++)
                if (strcasecmp(arch, native_arch[i]) == 0)
                        return true;
        return false;
}

static bool strv_has(json_t *a, const char *s)
{
        size_t i;
        json_t *v;

        json_array_foreach(a, i, v)
                if (json_is_string(v) && streq(json_string_value(v), s))
                        return true;
        return false;
}

/* Whether any (or, all_of, every) entry of want is in caps ("CAP_" optional). */
static bool caps_match(json_t *want, json_t *caps, bool all_of)
{
        size_t i;
        json_t *v;

        json_array_foreach(want, i, v) {
                const char *c = json_string_value(v);
                _cleanup_free_ char *full = NULL;
                bool have;

                if (!c)
                        continue;
                if (strncmp(c, "CAP_", 4) != 0 && asprintf(&full, "CAP_%s", c) < 0)
                        return false;
                have = strv_has(caps, full ? full : c);
                if (have != all_of)
                        return have;
        }
        return all_of;
}

static bool arches_match(json_t *arches, bool all_of)
{
        size_t i;
        json_t *v;

        if (json_array_size(arches) == 0)
                return all_of;
        json_array_foreach(arches, i, v)
                if (is_native(json_string_value(v)))
                        return true;
        return false;
}

/* Docker's includes (all must hold) and excludes (none may). */
static bool rule_applies(json_t *rule, json_t *caps)
{
        json_t *inc = json_object_get(rule, "includes"), *exc = json_object_get(rule, "excludes");

        if (inc && (!caps_match(json_object_get(inc, "caps"), caps, true) ||
                    !arches_match(json_object_get(inc, "arches"), true)))
                return false;
        if (exc && (caps_match(json_object_get(exc, "caps"), caps, false) ||
                    (json_array_size(json_object_get(exc, "arches")) &&
                     arches_match(json_object_get(exc, "arches"), false))))
                return false;
        return true;
}

static json_t *convert_rule(json_t *rule, const char *what, size_t i, struct pxe **err)
{
        json_t *names = json_array(), *out, *v;
        const char *action = json_string_value(json_object_get(rule, "action"));
        const char *name = json_string_value(json_object_get(rule, "name"));
        size_t j;

        if (!action) {
                json_decref(names);
                pxe_set(err, EINVAL, "Seccomp profile %s: syscalls[%zu] has no action", what, i);
                return NULL;
        }
        if (name)
                json_array_append_new(names, json_string(name));
        json_array_foreach(json_object_get(rule, "names"), j, v)
                if (json_is_string(v))
                        json_array_append(names, v);
        out = json_pack("{s:o, s:s}", "names", names, "action", action);
        if ((v = json_object_get(rule, "errnoRet")) && json_is_integer(v))
                json_object_set(out, "errnoRet", v);
        if ((v = json_object_get(rule, "args")) && json_array_size(v))
                json_object_set(out, "args", v);
        return out;
}

static json_t *convert_arches(json_t *profile)
{
        json_t *arches = json_object_get(profile, "architectures"), *m, *out;
        size_t i;

        if (json_is_array(arches))
                return json_copy(arches);
        out = json_array();
        json_array_foreach(json_object_get(profile, "archMap"), i, m) {
                const char *a = json_string_value(json_object_get(m, "architecture"));
                size_t j;
                json_t *s;

                if (!is_native(a))
                        continue;
                json_array_append_new(out, json_string(a));
                json_array_foreach(json_object_get(m, "subArchitectures"), j, s)
                        if (json_is_string(s))
                                json_array_append(out, s);
        }
        return out;
}

json_t *spec_seccomp_convert(json_t *profile, json_t *caps, const char *what, struct pxe **err)
{
        const char *def = json_string_value(json_object_get(profile, "defaultAction"));
        json_t *out, *rules, *r, *v;
        size_t i;

        if (!json_is_object(profile) || !def || strncmp(def, "SCMP_ACT_", 9) != 0) {
                pxe_set(err, EINVAL, "Seccomp profile %s has no valid defaultAction", what);
                return NULL;
        }
        out = json_pack("{s:s, s:o, s:[]}", "defaultAction", def, "architectures", convert_arches(profile),
                        "syscalls");
        rules = json_object_get(out, "syscalls");
        if ((v = json_object_get(profile, "defaultErrnoRet")) && json_is_integer(v))
                json_object_set(out, "defaultErrnoRet", v);
        if ((v = json_object_get(profile, "flags")) && json_is_array(v))
                json_object_set(out, "flags", v);
        if ((v = json_object_get(profile, "listenerPath")) && json_is_string(v))
                json_object_set(out, "listenerPath", v);
        json_array_foreach(json_object_get(profile, "syscalls"), i, r) {
                json_t *c;

                if (!rule_applies(r, caps))
                        continue;
                c = convert_rule(r, what, i, err);
                if (!c) {
                        json_decref(out);
                        return NULL;
                }
                json_array_append_new(rules, c);
        }
        return out;
}

static int load_profile(json_t *linux_, json_t *caps, const char *path, const char *field, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;
        json_error_t jerr;
        json_t *profile, *oci;

        if (!spec_str_set(path) || path[0] != '/')
                return pxe_set(err, EINVAL, "%s \"%s\" must be an absolute path", field, path ? path : "");
        if (fs_read_file(path, PROFILE_MAX, &text, NULL, err) < 0)
                return pxe_wrap(err, "%s", field);
        profile = json_loads(text, 0, &jerr);
        if (!profile)
                return pxe_set(err, EINVAL, "%s: seccomp profile %s: %s (line %d)", field, path, jerr.text,
                               jerr.line);
        oci = spec_seccomp_convert(profile, caps, path, err);
        json_decref(profile);
        if (!oci)
                return pxe_wrap(err, "%s", field);
        json_object_set_new(linux_, "seccomp", oci);
        return 0;
}

static json_t *runtime_default(json_t *caps);

static int apply_deprecated(json_t *linux_, json_t *caps, const char *p, struct pxe **err)
{
        static const char field[] = "security_context.seccomp_profile_path";

        if (!spec_str_set(p) || streq(p, "unconfined"))
                json_object_del(linux_, "seccomp");
        else if (streq(p, "runtime/default") || streq(p, "docker/default"))
                json_object_set_new(linux_, "seccomp", runtime_default(caps));
        else if (strncmp(p, "localhost/", 10) == 0)
                return load_profile(linux_, caps, p + 10, field, err);
        else
                return pxe_set(err, EINVAL, "%s \"%s\" is not runtime/default, unconfined or localhost/<path>",
                               field, p);
        return 0;
}

/* The field is deprecated in the CRI, still sent by older kubelets. */
static const char *deprecated_path(const Runtime__V1__LinuxContainerSecurityContext *sc)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        return sc ? sc->seccomp_profile_path : NULL;
#pragma GCC diagnostic pop
}

/* The calls containerd's default profile allows only with a capability. */
static const struct {
        const char *cap;
        const char *const *calls;
} cap_calls[] = {
        { "CAP_SYS_ADMIN", (const char *const[]) { "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount",
                                                   "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr",
                                                   "move_mount", "name_to_handle_at", "open_tree", "perf_event_open",
                                                   "quotactl", "quotactl_fd", "setdomainname", "sethostname",
                                                   "setns", "syslog", "umount", "umount2", "unshare", NULL } },
        { "CAP_SYS_BOOT", (const char *const[]) { "reboot", NULL } },
        { "CAP_SYS_CHROOT", (const char *const[]) { "chroot", NULL } },
        { "CAP_SYS_MODULE", (const char *const[]) { "delete_module", "init_module", "finit_module", NULL } },
        { "CAP_SYS_PACCT", (const char *const[]) { "acct", NULL } },
        { "CAP_SYS_PTRACE", (const char *const[]) { "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                                                    "process_vm_writev", "ptrace", NULL } },
        { "CAP_SYS_RAWIO", (const char *const[]) { "iopl", "ioperm", NULL } },
        { "CAP_SYS_TIME", (const char *const[]) { "settimeofday", "stime", "clock_settime", NULL } },
        { "CAP_SYS_TTY_CONFIG", (const char *const[]) { "vhangup", NULL } },
        { "CAP_SYS_NICE", (const char *const[]) { "get_mempolicy", "mbind", "set_mempolicy", NULL } },
        { "CAP_SYSLOG", (const char *const[]) { "syslog", NULL } },
        { "CAP_BPF", (const char *const[]) { "bpf", NULL } },
        { "CAP_PERFMON", (const char *const[]) { "perf_event_open", NULL } },
};

/* The default profile, plus the calls the container's capabilities unlock. */
static json_t *runtime_default(json_t *caps)
{
        json_t *profile = bundle_seccomp_default(), *names = json_array();
        json_t *syscalls = json_object_get(profile, "syscalls");

        for (size_t i = 0; i < sizeof(cap_calls) / sizeof(cap_calls[0]); i++)
                if (strv_has(caps, cap_calls[i].cap))
                        for (const char *const *c = cap_calls[i].calls; *c; c++)
                                json_array_append_new(names, json_string(*c));
        if (json_array_size(names) && json_is_array(syscalls))
                json_array_append_new(syscalls, json_pack("{s:o, s:s}", "names", names, "action", "SCMP_ACT_ALLOW"));
        else
                json_decref(names);
        return profile;
}

int spec_apply_seccomp(json_t *spec, const Runtime__V1__LinuxContainerSecurityContext *sc, bool privileged,
                       struct pxe **err)
{
        json_t *linux_ = spec_object(spec, "linux");
        json_t *caps = json_object_get(json_object_get(json_object_get(spec, "process"), "capabilities"), "bounding");
        const Runtime__V1__SecurityProfile *p = sc ? sc->seccomp : NULL;

        if (privileged) {
                json_object_del(linux_, "seccomp");
                return 0;
        }
        if (!p)
                return apply_deprecated(linux_, caps, deprecated_path(sc), err);
        switch (p->profile_type) {
        case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
                json_object_set_new(linux_, "seccomp", runtime_default(caps));
                return 0;
        case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
                json_object_del(linux_, "seccomp");
                return 0;
        case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
                return load_profile(linux_, caps, p->localhost_ref, "security_context.seccomp.localhost_ref", err);
        default:
                return pxe_set(err, EINVAL, "security_context.seccomp.profile_type: unknown value %d",
                               (int) p->profile_type);
        }
}
