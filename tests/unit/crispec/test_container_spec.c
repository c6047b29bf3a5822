/* cri/spec: user string, namespaces, hostname, pod and CRI mounts, devices,
 * groups, cgroupsPath, sysctls, annotations, tty. */
#include "crispec.h"

#include <sys/stat.h>
#include <unistd.h>

static void expect_user(struct req *r, const char *want)
{
        _cleanup_pxe_ struct pxe *err = NULL;
        _cleanup_free_ char *u = NULL;

        assert_int_equal(cri_spec_user(&r->cc, &u, &err), 0);
        if (want)
                assert_string_equal(u, want);
        else
                assert_null(u);
}

static void test_user_string(void **state)
{
        Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT, gid = RUNTIME__V1__INT64_VALUE__INIT;
        _cleanup_pxe_ struct pxe *err = NULL;
        struct req r;
        char *u = (char *) "x";

        (void) state;
        req_init(&r);
        expect_user(&r, NULL);
        uid.value = 1000;
        r.sc.run_as_user = &uid;
        expect_user(&r, "1000");
        gid.value = 2000;
        r.sc.run_as_group = &gid;
        expect_user(&r, "1000:2000");
        r.sc.run_as_username = "nginx";
        expect_user(&r, "nginx");
        r.sc.run_as_username = "";
        uid.value = -5;
        assert_int_equal(cri_spec_user(&r.cc, &u, &err), -EINVAL);
        assert_contains(err->msg, "run_as_user");
        /* Only a group: the image's user, the gid set by apply. */
        r.sc.run_as_user = NULL;
        expect_user(&r, NULL);
}

static void test_pod_namespaces(void **state)
{
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.namespaces",
                       "[{\"type\":\"pid\"},{\"type\":\"ipc\",\"path\":\"/run/pxt/ipcns/pod0123\"},"
                       "{\"type\":\"uts\",\"path\":\"/run/pxt/utsns/pod0123\"},{\"type\":\"mount\"},"
                       "{\"type\":\"network\",\"path\":\"/run/pxt/netns/pod0123\"}]");
        assert_json_at(spec, "hostname", "\"web-host\"");
        json_decref(spec);
}

static void test_host_network_and_ipc(void **state)
{
        struct req r;
        size_t n;
        json_t *spec;

        (void) state;
        req_init(&r);
        r.pns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
        r.pns.ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
        spec = apply_ok(&r);
        /* uts follows network: no namespace, no hostname (the runtime would refuse it). */
        assert_json_at(spec, "linux.namespaces", "[{\"type\":\"pid\"},{\"type\":\"mount\"}]");
        assert_json_at(spec, "hostname", "null");
        /* Host IPC shares the host's /dev/shm. */
        assert_json_at(mount_at(spec, "/dev/shm", &n), "",
                       "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/dev/shm\","
                       "\"options\":[\"rbind\",\"rprivate\",\"rw\"]}");
        assert_int_equal(n, 1);
        json_decref(spec);
}

static void test_pid_modes(void **state)
{
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        r.cns.pid = RUNTIME__V1__NAMESPACE_MODE__NODE;
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.namespaces",
                       "[{\"type\":\"ipc\",\"path\":\"/run/pxt/ipcns/pod0123\"},"
                       "{\"type\":\"uts\",\"path\":\"/run/pxt/utsns/pod0123\"},{\"type\":\"mount\"},"
                       "{\"type\":\"network\",\"path\":\"/run/pxt/netns/pod0123\"}]");
        json_decref(spec);

        r.cns.pid = RUNTIME__V1__NAMESPACE_MODE__POD;
        r.sb.pidns_path = "/proc/4242/ns/pid";
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.namespaces.0", "{\"type\":\"pid\",\"path\":\"/proc/4242/ns/pid\"}");
        json_decref(spec);

        r.cns.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
        r.cns.target_id = "other";
        apply_fails(&r, EINVAL, "namespace_options.pid is TARGET");
        r.opts.target_pidns = "/proc/777/ns/pid";
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.namespaces.0", "{\"type\":\"pid\",\"path\":\"/proc/777/ns/pid\"}");
        json_decref(spec);
}

static void test_pod_files_and_shm(void **state)
{
        struct req r;
        json_t *spec;
        size_t n;

        (void) state;
        req_init(&r);
        r.sb.hosts_path = "/var/lib/pxt/pod/hosts";
        r.sb.resolv_path = "/var/lib/pxt/pod/resolv.conf";
        r.sb.hostname_path = "/var/lib/pxt/pod/hostname";
        r.sb.shm_path = "/var/lib/pxt/pod/shm";
        spec = apply_ok(&r);
        assert_json_at(mount_at(spec, "/etc/hosts", &n), "",
                       "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/var/lib/pxt/pod/hosts\","
                       "\"options\":[\"rbind\",\"rprivate\",\"rw\"]}");
        assert_int_equal(n, 1);
        assert_json_at(mount_at(spec, "/etc/resolv.conf", &n), "source", "\"/var/lib/pxt/pod/resolv.conf\"");
        assert_json_at(mount_at(spec, "/etc/hostname", &n), "source", "\"/var/lib/pxt/pod/hostname\"");
        /* The base spec's /dev/shm tmpfs is replaced by the pod's. */
        assert_json_at(mount_at(spec, "/dev/shm", &n), "source", "\"/var/lib/pxt/pod/shm\"");
        assert_int_equal(n, 1);
        assert_json_at(mount_at(spec, "/dev/shm", &n), "type", "\"bind\"");
        json_decref(spec);

        /* A read-only rootfs makes the pod files read-only (not /dev/shm). */
        r.sc.readonly_rootfs = true;
        spec = apply_ok(&r);
        assert_json_at(spec, "root.readonly", "true");
        assert_json_at(mount_at(spec, "/etc/hosts", &n), "options", "[\"rbind\",\"rprivate\",\"ro\"]");
        assert_json_at(mount_at(spec, "/etc/resolv.conf", &n), "options", "[\"rbind\",\"rprivate\",\"ro\"]");
        assert_json_at(mount_at(spec, "/dev/shm", &n), "options", "[\"rbind\",\"rprivate\",\"rw\"]");
        json_decref(spec);
}

static void test_request_mount_wins_over_pod_file(void **state)
{
        Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT, *mounts[] = { &m };
        _cleanup_free_ char *dir = unit_mkdtemp();
        _cleanup_free_ char *hosts = unit_path(dir, "kubelet-hosts");
        struct req r;
        json_t *spec;
        size_t n;

        (void) state;
        unit_write(hosts, "127.0.0.1 localhost\n");
        req_init(&r);
        r.sb.hosts_path = "/var/lib/pxt/pod/hosts";
        m.container_path = "/etc/hosts";
        m.host_path = hosts;
        r.cc.mounts = mounts;
        r.cc.n_mounts = 1;
        spec = apply_ok(&r);
        assert_non_null(mount_at(spec, "/etc/hosts", &n));
        assert_int_equal(n, 1);
        assert_string_equal(json_string_value(json_object_get(mount_at(spec, "/etc/hosts", NULL), "source")), hosts);
        json_decref(spec);
        unit_rm_rf(dir);
}

/* The index of the mount at dst in spec's mounts, or -1. */
static int mount_index(json_t *spec, const char *dst)
{
        json_t *m;
        size_t i;

        json_array_foreach(json_object_get(spec, "mounts"), i, m)
                if (strcmp(json_string_value(json_object_get(m, "destination")), dst) == 0)
                        return (int) i;
        return -1;
}

static void test_cri_mounts_order_and_options(void **state)
{
        Runtime__V1__Mount m[4] = { RUNTIME__V1__MOUNT__INIT, RUNTIME__V1__MOUNT__INIT, RUNTIME__V1__MOUNT__INIT,
                                    RUNTIME__V1__MOUNT__INIT };
        Runtime__V1__Mount *mounts[] = { &m[0], &m[1], &m[2], &m[3] };
        _cleanup_free_ char *dir = unit_mkdtemp();
        _cleanup_free_ char *a = unit_path(dir, "a"), *b = unit_path(dir, "b"), *c = unit_path(dir, "c");
        _cleanup_free_ char *missing = unit_path(dir, "new/deep");
        struct req r;
        json_t *spec;
        struct stat st;
        int ia, ib, ic, id;

        (void) state;
        assert_int_equal(mkdir(a, 0755), 0);
        assert_int_equal(mkdir(b, 0755), 0);
        assert_int_equal(mkdir(c, 0755), 0);
        req_init(&r);
        m[0] = (Runtime__V1__Mount) RUNTIME__V1__MOUNT__INIT;
        m[0].container_path = "/data/x/y";
        m[0].host_path = c;
        m[0].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
        m[1].container_path = "/data";
        m[1].host_path = a;
        m[1].readonly = true;
        m[2].container_path = "/data/x/";
        m[2].host_path = b;
        m[2].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
        m[3].container_path = "/vol";
        m[3].host_path = missing;
        r.cc.mounts = mounts;
        r.cc.n_mounts = 4;
        spec = apply_ok(&r);
        ia = mount_index(spec, "/data");
        ib = mount_index(spec, "/data/x");
        ic = mount_index(spec, "/data/x/y");
        id = mount_index(spec, "/vol");
        /* By depth; at equal depth in request order; after the base mounts. */
        assert_true(ia > mount_index(spec, "/run") && ia < ib && ib < ic);
        assert_true(id == ia + 1);
        assert_json_at(json_array_get(json_object_get(spec, "mounts"), ia), "options",
                       "[\"rbind\",\"rprivate\",\"ro\"]");
        assert_json_at(json_array_get(json_object_get(spec, "mounts"), ib), "options",
                       "[\"rbind\",\"rslave\",\"rw\"]");
        assert_json_at(json_array_get(json_object_get(spec, "mounts"), ic), "options",
                       "[\"rbind\",\"rshared\",\"rw\"]");
        /* A missing host path is made a directory. */
        assert_int_equal(stat(missing, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        json_decref(spec);
        unit_rm_rf(dir);
}

static void test_bad_mounts(void **state)
{
        Runtime__V1__Mount ok = RUNTIME__V1__MOUNT__INIT, bad = RUNTIME__V1__MOUNT__INIT;
        Runtime__V1__Mount *mounts[] = { &ok, &bad };
        struct req r;

        (void) state;
        req_init(&r);
        ok.container_path = "/ok";
        ok.host_path = "/tmp";
        bad.host_path = "/tmp";
        r.cc.mounts = mounts;
        r.cc.n_mounts = 2;
        bad.container_path = "relative/path";
        apply_fails(&r, EINVAL, "mounts[1].container_path \"relative/path\" must be absolute");
        bad.container_path = "/a/../etc";
        apply_fails(&r, EINVAL, "mounts[1].container_path \"/a/../etc\" must not contain \"..\"");
        bad.container_path = "/a/..";
        apply_fails(&r, EINVAL, "mounts[1].container_path");
        bad.container_path = "/b";
        bad.host_path = "tmp";
        apply_fails(&r, EINVAL, "mounts[1].host_path \"tmp\" must be absolute");
        bad.host_path = "/tmp";
        bad.recursive_read_only = true;
        apply_fails(&r, EINVAL, "mounts[1].recursive_read_only");
        /* Names like "..x" are fine. */
        bad.recursive_read_only = false;
        bad.container_path = "/a/..x";
        json_decref(apply_ok(&r));
}

static void test_dev_mount_replaces_dev_tree(void **state)
{
        Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT, *mounts[] = { &m };
        struct req r;
        json_t *spec;
        size_t n;

        (void) state;
        req_init(&r);
        r.sb.netns_path = NULL; /* no pinned netns: the host's */
        m.container_path = "/dev";
        m.host_path = "/dev";
        r.cc.mounts = mounts;
        r.cc.n_mounts = 1;
        spec = apply_ok(&r);
        assert_json_at(mount_at(spec, "/dev", &n), "type", "\"bind\"");
        assert_int_equal(n, 1);
        assert_null(mount_at(spec, "/dev/pts", NULL));
        assert_null(mount_at(spec, "/dev/mqueue", NULL));
        assert_non_null(mount_at(spec, "/proc", NULL));
        assert_json_at(spec, "linux.namespaces", "[{\"type\":\"pid\"},{\"type\":\"ipc\",\"path\":"
                       "\"/run/pxt/ipcns/pod0123\"},{\"type\":\"mount\"}]");
        json_decref(spec);
}

static void test_devices(void **state)
{
        Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT, *devs[] = { &d };
        struct req r;
        json_t *spec, *rules;

        (void) state;
        req_init(&r);
        d.host_path = "/dev/null";
        d.container_path = "/dev/xnull";
        d.permissions = "rw";
        r.cc.devices = devs;
        r.cc.n_devices = 1;
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.devices.0.path", "\"/dev/xnull\"");
        assert_json_at(spec, "linux.devices.0.type", "\"c\"");
        assert_json_at(spec, "linux.devices.0.major", "1");
        assert_json_at(spec, "linux.devices.0.minor", "3");
        rules = json_object_get(json_object_get(json_object_get(spec, "linux"), "resources"), "devices");
        /* The base spec's deny-all first, then the allow rule. */
        assert_json_at(rules, "",
                       "[{\"allow\":false,\"access\":\"rwm\"},"
                       "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,\"access\":\"rw\"}]");
        json_decref(spec);

        d.permissions = "";
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.resources.devices.1.access", "\"rwm\"");
        json_decref(spec);

        d.permissions = "rwx";
        apply_fails(&r, EINVAL, "devices[0].permissions \"rwx\"");
        d.permissions = "r";
        d.host_path = "/dev/pxt-no-such-device";
        apply_fails(&r, ENOENT, "devices[0].host_path \"/dev/pxt-no-such-device\"");
        d.host_path = "/etc/hostname";
        apply_fails(&r, EINVAL, "devices[0].host_path \"/etc/hostname\" is not a device");
        d.host_path = "/dev/null";
        d.container_path = "dev/null";
        apply_fails(&r, EINVAL, "devices[0].container_path");
}

static void test_groups(void **state)
{
        Runtime__V1__Int64Value gid = RUNTIME__V1__INT64_VALUE__INIT;
        int64_t groups[] = { 10, 20, 10 };
        struct req r;
        json_t *spec, *base;

        (void) state;
        req_init(&r);
        gid.value = 3000;
        r.sc.run_as_group = &gid;
        r.sc.supplemental_groups = groups;
        r.sc.n_supplemental_groups = 3;
        base = base_spec();
        json_object_set_new(json_object_get(json_object_get(base, "process"), "user"), "additionalGids",
                            json_pack("[i,i]", 20, 29));
        assert_int_equal(cri_spec_apply(base, "ctr42", &r.cc, &r.sb, &r.opts, NULL), 0);
        assert_json_at(base, "process.user", "{\"uid\":0,\"gid\":3000,\"additionalGids\":[20,29,10]}");
        json_decref(base);

        r.sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
        spec = apply_ok(&r);
        assert_json_at(spec, "process.user.additionalGids", "[10,20]");
        json_decref(spec);

        groups[1] = -1;
        apply_fails(&r, EINVAL, "supplemental_groups[1]");
}

static void test_cgroups_path(void **state)
{
        struct req r;
        json_t *spec;

        (void) state;
        req_init(&r);
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.cgroupsPath", "\"/pxcri-ctr42\"");
        json_decref(spec);
        r.sb.cgroup_parent = "/kubepods/besteffort/podUID/";
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.cgroupsPath", "\"/kubepods/besteffort/podUID/pxcri-ctr42\"");
        json_decref(spec);
        r.opts.systemd_cgroup = true;
        apply_fails(&r, EINVAL, "cgroup_parent \"/kubepods/besteffort/podUID/\" is not a systemd slice");
        r.sb.cgroup_parent = "kubepods-besteffort-podUID.slice";
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.cgroupsPath", "\"kubepods-besteffort-podUID.slice:pxcri:ctr42\"");
        json_decref(spec);
        r.sb.cgroup_parent = NULL;
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.cgroupsPath", "\"system.slice:pxcri:ctr42\"");
        json_decref(spec);
}

static void test_sysctls_annotations_tty(void **state)
{
        Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry s1 = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__SYSCTLS_ENTRY__INIT;
        Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *sysctls[] = { &s1 };
        Runtime__V1__ContainerConfig__AnnotationsEntry a1 = RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
        Runtime__V1__ContainerConfig__AnnotationsEntry a2 = RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
        Runtime__V1__ContainerConfig__AnnotationsEntry *annots[] = { &a1, &a2 };
        struct req r;
        json_t *spec, *a;

        (void) state;
        req_init(&r);
        s1.key = "net.ipv4.ip_unprivileged_port_start";
        s1.value = "0";
        r.plc.sysctls = sysctls;
        r.plc.n_sysctls = 1;
        a1.key = "example.com/note";
        a1.value = "hello";
        a2.key = "io.kubernetes.cri.container-type";
        a2.value = "sandbox";
        r.cc.annotations = annots;
        r.cc.n_annotations = 2;
        r.cc.tty = true;
        spec = apply_ok(&r);
        assert_json_at(spec, "linux.sysctl", "{\"net.ipv4.ip_unprivileged_port_start\":\"0\"}");
        assert_json_at(spec, "process.terminal", "true");
        a = json_object_get(spec, "annotations");
        assert_string_equal(json_string_value(json_object_get(a, "example.com/note")), "hello");
        /* The CRI's own keys cannot be overridden by the request. */
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.container-type")), "container");
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.container-name")), "app");
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.sandbox-id")), "pod0123");
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.sandbox-name")), "web");
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.sandbox-namespace")), "default");
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.sandbox-uid")), "uid-1");
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.image-name")),
                            "docker.io/library/busybox:latest");
        json_decref(spec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_user_string),
                cmocka_unit_test(test_pod_namespaces),
                cmocka_unit_test(test_host_network_and_ipc),
                cmocka_unit_test(test_pid_modes),
                cmocka_unit_test(test_pod_files_and_shm),
                cmocka_unit_test(test_request_mount_wins_over_pod_file),
                cmocka_unit_test(test_cri_mounts_order_and_options),
                cmocka_unit_test(test_bad_mounts),
                cmocka_unit_test(test_dev_mount_replaces_dev_tree),
                cmocka_unit_test(test_devices),
                cmocka_unit_test(test_groups),
                cmocka_unit_test(test_cgroups_path),
                cmocka_unit_test(test_sysctls_annotations_tty),
        };

        return unit_run(tests);
}
