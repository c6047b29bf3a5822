/* cri/spec: capabilities, privileged, seccomp, masked paths, resources. */
#include "crispec.h"

#include <stdint.h>
#include <stdio.h>

/* How many capabilities this process's bounding set holds: what "ALL" and
 * privileged give (the host's root here lacks CAP_SYS_RESOURCE). */
static uint64_t bounding_mask(void)
{
        FILE *f = fopen("/proc/self/status", "re");
        unsigned long long mask = 0;
        char line[256];

        assert_non_null(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "CapBnd: %llx", &mask) == 1)
                        break;
        fclose(f);
        assert_true(mask != 0);
        return mask;
}

static size_t kernel_caps(void)
{
        return (size_t) __builtin_popcountll(bounding_mask());
}

static void test_capabilities_add_drop(void **state)
{
        char *add[] = { "SYS_ADMIN", "cap_net_admin" }, *drop[] = { "CHOWN", "CAP_KILL" };
        Runtime__V1__Capability c = RUNTIME__V1__CAPABILITY__INIT;
        const char *sets[] = { "bounding", "effective", "permitted" };
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        r.sc.capabilities = &c;
        c.add_capabilities = add;
        c.n_add_capabilities = 2;
        c.drop_capabilities = drop;
        c.n_drop_capabilities = 2;
        spec = apply_ok(&r);
        for (size_t i = 0; i < 3; i++) {
                json_t *s = caps_set(spec, sets[i]);

                assert_true(strv_contains(s, "CAP_SYS_ADMIN"));
                assert_true(strv_contains(s, "CAP_NET_ADMIN"));
                assert_false(strv_contains(s, "CAP_CHOWN"));
                assert_false(strv_contains(s, "CAP_KILL"));
                assert_true(strv_contains(s, "CAP_SETUID")); /* a default one stays */
                assert_int_equal(json_array_size(s), 14);
        }
        json_decref(spec);
}

static void test_capabilities_all(void **state)
{
        char *all[] = { "ALL" }, *chown_[] = { "CHOWN" }, *net_raw[] = { "NET_RAW" };
        char *ambient[] = { "NET_BIND_SERVICE" }, *bogus[] = { "NET_RAW", "FLY" };
        Runtime__V1__Capability c = RUNTIME__V1__CAPABILITY__INIT;
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        r.sc.capabilities = &c;
        /* add ALL, drop CHOWN: everything the kernel knows but CAP_CHOWN. */
        c.add_capabilities = all;
        c.n_add_capabilities = 1;
        c.drop_capabilities = chown_;
        c.n_drop_capabilities = 1;
        spec = apply_ok(&r);
        assert_int_equal(json_array_size(caps_set(spec, "bounding")), kernel_caps() - 1);
        assert_true(strv_contains(caps_set(spec, "effective"), "CAP_SYS_ADMIN"));
        assert_false(strv_contains(caps_set(spec, "permitted"), "CAP_CHOWN"));
        json_decref(spec);

        /* drop ALL, add NET_RAW: just that one; ambient to ambient and inheritable. */
        c.add_capabilities = net_raw;
        c.drop_capabilities = all;
        c.add_ambient_capabilities = ambient;
        c.n_add_ambient_capabilities = 1;
        spec = apply_ok(&r);
        assert_json_at(caps_set(spec, "bounding"), "", "[\"CAP_NET_RAW\"]");
        assert_json_at(caps_set(spec, "effective"), "", "[\"CAP_NET_RAW\"]");
        assert_json_at(caps_set(spec, "ambient"), "", "[\"CAP_NET_BIND_SERVICE\"]");
        assert_json_at(caps_set(spec, "inheritable"), "", "[\"CAP_NET_BIND_SERVICE\"]");
        json_decref(spec);

        c.add_capabilities = bogus;
        c.n_add_capabilities = 2;
        apply_fails(&r, EINVAL, "capabilities.add_capabilities[1] \"FLY\" is not a known capability");
}

static void test_privileged(void **state)
{
        char *drop[] = { "ALL" };
        Runtime__V1__Capability c = RUNTIME__V1__CAPABILITY__INIT;
        struct req r;
        json_t *spec, *sys, *devs;
        bool has_null = false;
        size_t i;
        json_t *d;

        (void) state;
        req_init(&r);
        r.sc.privileged = true;
        apply_fails(&r, EINVAL, "a privileged container needs a privileged pod (web)");
        r.psc.privileged = true;
        r.sc.capabilities = &c; /* ignored when privileged */
        c.drop_capabilities = drop;
        c.n_drop_capabilities = 1;
        spec = apply_ok(&r);
        assert_int_equal(json_array_size(caps_set(spec, "bounding")), kernel_caps());
        assert_int_equal(json_array_size(caps_set(spec, "permitted")), kernel_caps());
        assert_true(strv_contains(caps_set(spec, "effective"), "CAP_SYS_ADMIN"));
        /* Only what pxcrid itself holds: the runtime could not grant more. */
        assert_int_equal(strv_contains(caps_set(spec, "bounding"), "CAP_SYS_RESOURCE"),
                         (bounding_mask() >> 24) & 1);
        assert_json_at(spec, "linux.seccomp", "null");
        assert_json_at(spec, "linux.maskedPaths", "null");
        assert_json_at(spec, "linux.readonlyPaths", "null");
        sys = mount_at(spec, "/sys", NULL);
        assert_json_at(sys, "options", "[\"nosuid\",\"noexec\",\"nodev\",\"rw\"]");
        assert_false(strv_contains(json_object_get(mount_at(spec, "/sys/fs/cgroup", NULL), "options"), "ro"));
        assert_json_at(spec, "linux.resources.devices", "[{\"allow\":true,\"access\":\"rwm\"}]");
        devs = json_object_get(json_object_get(spec, "linux"), "devices");
        json_array_foreach(devs, i, d)
                has_null = has_null || strcmp(json_string_value(json_object_get(d, "path")), "/dev/null") == 0;
        assert_true(has_null);
        json_decref(spec);
}

static void test_nnp_readonly_and_paths(void **state)
{
        char *masked[] = { "/proc/kcore", "/proc/pxt" }, *ro[] = { "/proc/sys" }, *bad[] = { "proc/x" };
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        spec = apply_ok(&r);
        assert_json_at(spec, "process.noNewPrivileges", "false");
        assert_json_at(spec, "root.readonly", "false");
        /* Not given: the defaults stay. */
        assert_int_equal(json_array_size(json_object_get(json_object_get(spec, "linux"), "maskedPaths")), 11);
        json_decref(spec);

        r.sc.no_new_privs = true;
        r.sc.readonly_rootfs = true;
        r.sc.masked_paths = masked;
        r.sc.n_masked_paths = 2;
        r.sc.readonly_paths = ro;
        r.sc.n_readonly_paths = 1;
        spec = apply_ok(&r);
        assert_json_at(spec, "process.noNewPrivileges", "true");
        assert_json_at(spec, "root.readonly", "true");
        assert_json_at(spec, "linux.maskedPaths", "[\"/proc/kcore\",\"/proc/pxt\"]");
        assert_json_at(spec, "linux.readonlyPaths", "[\"/proc/sys\"]");
        json_decref(spec);

        r.sc.readonly_paths = bad;
        apply_fails(&r, EINVAL, "security_context.readonly_paths[0] \"proc/x\"");
}

/* RuntimeDefault for the default capabilities: the base profile and chroot,
 * which containerd's profile allows with CAP_SYS_CHROOT (a default capability). */
static char *default_seccomp(void)
{
        json_t *d = bundle_seccomp_default();
        char *s;

        json_array_append_new(json_object_get(d, "syscalls"),
                              json_pack("{s:[s], s:s}", "names", "chroot", "action", "SCMP_ACT_ALLOW"));
        s = json_dumps(d, JSON_COMPACT);

        json_decref(d);
        return s;
}

static void test_seccomp_modes(void **state)
{
        Runtime__V1__SecurityProfile p = RUNTIME__V1__SECURITY_PROFILE__INIT;
        _cleanup_free_ char *def = default_seccomp();
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        /* Unset: unconfined, as containerd 1.6. */
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.seccomp", "null");
        json_decref(spec);

        r.sc.seccomp = &p;
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.seccomp", def);
        json_decref(spec);

        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined;
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.seccomp", "null");
        json_decref(spec);

        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        p.localhost_ref = "profiles/x.json";
        apply_fails(&r, EINVAL, "security_context.seccomp.localhost_ref \"profiles/x.json\" must be an absolute path");
        p.localhost_ref = "/nonexistent/pxt/x.json";
        apply_fails(&r, ENOENT, "security_context.seccomp.localhost_ref: Opening /nonexistent/pxt/x.json");
}

static void set_deprecated(Runtime__V1__LinuxContainerSecurityContext *sc, char *path)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        sc->seccomp_profile_path = path;
#pragma GCC diagnostic pop
}

static const char docker_profile[] =
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1,"
        "\"archMap\":[{\"architecture\":\"SCMP_ARCH_X86_64\",\"subArchitectures\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]},"
        "{\"architecture\":\"SCMP_ARCH_AARCH64\",\"subArchitectures\":[\"SCMP_ARCH_ARM\"]}],"
        "\"syscalls\":["
        "{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
        "{\"name\":\"exit\",\"action\":\"SCMP_ACT_ALLOW\",\"args\":[]},"
        "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\","
        "\"args\":[{\"index\":0,\"value\":8,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]},"
        "{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
        "{\"names\":[\"chown\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38,\"excludes\":{\"caps\":[\"CAP_CHOWN\"]}},"
        "{\"names\":[\"arm_fadvise64_64\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"arm\",\"arm64\"]}}"
        "]}";

#if defined(__x86_64__)
static void test_seccomp_localhost_docker_format(void **state)
{
        Runtime__V1__SecurityProfile p = RUNTIME__V1__SECURITY_PROFILE__INIT;
        _cleanup_free_ char *dir = unit_mkdtemp();
        _cleanup_free_ char *file = unit_path(dir, "profile.json"), *bad = unit_path(dir, "bad.json");
        _cleanup_free_ char *legacy = NULL;
        struct req r;
        json_t *spec;

        (void) state;
        unit_write(file, docker_profile);
        unit_write(bad, "{\"defaultAction\":");
        req_init(&r);
        r.sc.seccomp = &p;
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        p.localhost_ref = file;
        spec = apply_ok(&r);
        /* mount needs CAP_SYS_ADMIN (not in the default set): left out;
         * chown is excluded for holders of CAP_CHOWN (the default set has it);
         * the arm rule is not for this architecture. */
        assert_json_at(spec, "linux.seccomp",
                       "{\"defaultAction\":\"SCMP_ACT_ERRNO\","
                       "\"architectures\":[\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"],"
                       "\"syscalls\":[{\"names\":[\"read\",\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                       "{\"names\":[\"exit\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                       "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\","
                       "\"args\":[{\"index\":0,\"value\":8,\"valueTwo\":0,\"op\":\"SCMP_CMP_EQ\"}]}],"
                       "\"defaultErrnoRet\":1}");
        json_decref(spec);

        p.localhost_ref = bad;
        apply_fails(&r, EINVAL, "security_context.seccomp.localhost_ref: seccomp profile");

        /* The deprecated string form. */
        r.sc.seccomp = NULL;
        assert_true(asprintf(&legacy, "localhost/%s", file) > 0);
        set_deprecated(&r.sc, legacy);
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.seccomp.architectures.0", "\"SCMP_ARCH_X86_64\"");
        json_decref(spec);
        unit_rm_rf(dir);
}
#else
static void test_seccomp_localhost_docker_format(void **state)
{
        (void) state;
        skip();
}
#endif

static void test_seccomp_oci_format_and_caps(void **state)
{
        static const char oci[] = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\"],"
                                  "\"syscalls\":[{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ALLOW\","
                                  "\"includes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
                                  "{\"names\":[\"kexec_load\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]}";
        char *add[] = { "SYS_ADMIN" };
        Runtime__V1__Capability c = RUNTIME__V1__CAPABILITY__INIT;
        Runtime__V1__SecurityProfile p = RUNTIME__V1__SECURITY_PROFILE__INIT;
        _cleanup_free_ char *dir = unit_mkdtemp();
        _cleanup_free_ char *file = unit_path(dir, "oci.json");
        struct req r;
        json_t *spec;

        (void) state;
        unit_write(file, oci);
        req_init(&r);
        r.sc.seccomp = &p;
        r.sc.capabilities = &c;
        c.add_capabilities = add;
        c.n_add_capabilities = 1;
        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        p.localhost_ref = file;
        spec = apply_ok(&r);
        /* With CAP_SYS_ADMIN added, the mount rule applies. */
        assert_json_at(spec, "linux.seccomp.syscalls",
                       "[{\"names\":[\"mount\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                       "{\"names\":[\"kexec_load\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":1}]");
        assert_json_at(spec, "linux.seccomp.defaultAction", "\"SCMP_ACT_ALLOW\"");
        json_decref(spec);
        unit_rm_rf(dir);
}

static void test_seccomp_deprecated_strings(void **state)
{
        _cleanup_free_ char *def = default_seccomp();
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        set_deprecated(&r.sc, "runtime/default");
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.seccomp", def);
        json_decref(spec);
        set_deprecated(&r.sc, "docker/default");
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.seccomp", def);
        json_decref(spec);
        set_deprecated(&r.sc, "unconfined");
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.seccomp", "null");
        json_decref(spec);
        set_deprecated(&r.sc, "strict");
        apply_fails(&r, EINVAL, "security_context.seccomp_profile_path \"strict\"");
        set_deprecated(&r.sc, "localhost/rel.json");
        apply_fails(&r, EINVAL, "seccomp_profile_path \"rel.json\" must be an absolute path");
}

static void test_resources(void **state)
{
        Runtime__V1__HugepageLimit h = RUNTIME__V1__HUGEPAGE_LIMIT__INIT, *hp[] = { &h };
        Runtime__V1__LinuxContainerResources__UnifiedEntry u = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
        Runtime__V1__LinuxContainerResources__UnifiedEntry *un[] = { &u };
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        r.res.cpu_shares = 512;
        r.res.cpu_quota = 50000;
        r.res.cpu_period = 100000;
        r.res.cpuset_cpus = "0-1";
        r.res.cpuset_mems = "0";
        r.res.memory_limit_in_bytes = 64 << 20;
        r.res.oom_score_adj = 500;
        h.page_size = "2MB";
        h.limit = 4 << 21;
        r.res.hugepage_limits = hp;
        r.res.n_hugepage_limits = 1;
        u.key = "memory.high";
        u.value = "50000000";
        r.res.unified = un;
        r.res.n_unified = 1;
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.resources.cpu",
                       "{\"shares\":512,\"quota\":50000,\"period\":100000,\"cpus\":\"0-1\",\"mems\":\"0\"}");
        assert_json_at(spec, "linux.resources.memory", "{\"limit\":67108864,\"swap\":67108864}");
        assert_json_at(spec, "linux.resources.hugepageLimits", "[{\"pageSize\":\"2MB\",\"limit\":8388608}]");
        assert_json_at(spec, "linux.resources.unified", "{\"memory.high\":\"50000000\"}");
        /* The device rules of the base spec stay. */
        assert_json_at(spec, "linux.resources.devices", "[{\"allow\":false,\"access\":\"rwm\"}]");
        assert_json_at(spec, "process.oomScoreAdj", "500");
        json_decref(spec);

        h.page_size = "2M";
        apply_fails(&r, EINVAL, "linux.resources.hugepage_limits[0].page_size \"2M\"");
}

static void test_oom_clamp(void **state)
{
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        r.res.oom_score_adj = -998;
        spec = apply_ok(&r);
        assert_json_at(spec, "process.oomScoreAdj", "0");
        json_decref(spec);
        r.opts.min_oom_score_adj = -1000;
        spec = apply_ok(&r);
        assert_json_at(spec, "process.oomScoreAdj", "-998");
        json_decref(spec);
        r.opts.min_oom_score_adj = 100;
        r.res.oom_score_adj = 1000;
        spec = apply_ok(&r);
        assert_json_at(spec, "process.oomScoreAdj", "1000");
        json_decref(spec);
        r.res.oom_score_adj = 1001;
        apply_fails(&r, EINVAL, "oom_score_adj 1001");
}

static void test_resources_for_update(void **state)
{
        Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
        json_t *o;

        (void) state;
        o = cri_spec_resources(&res, 0);
        assert_json_at(o, "", "{}");
        json_decref(o);
        res.memory_limit_in_bytes = 1 << 30;
        res.memory_swap_limit_in_bytes = (int64_t) 2 << 30;
        res.cpu_quota = -1;
        o = cri_spec_resources(&res, 0);
        assert_json_at(o, "", "{\"cpu\":{\"quota\":-1},\"memory\":{\"limit\":1073741824,\"swap\":2147483648}}");
        json_decref(o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_capabilities_add_drop),
                cmocka_unit_test(test_capabilities_all),
                cmocka_unit_test(test_privileged),
                cmocka_unit_test(test_nnp_readonly_and_paths),
                cmocka_unit_test(test_seccomp_modes),
                cmocka_unit_test(test_seccomp_localhost_docker_format),
                cmocka_unit_test(test_seccomp_oci_format_and_caps),
                cmocka_unit_test(test_seccomp_deprecated_strings),
                cmocka_unit_test(test_resources),
                cmocka_unit_test(test_oom_clamp),
                cmocka_unit_test(test_resources_for_update),
        };

        return unit_run(tests);
}
