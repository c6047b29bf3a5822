/* backend/lxc/translate: mounts, masked and read-only paths, namespaces,
 * cgroup resources (v1 and v2), devices, sysctl, seccomp, init mounts. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lxc_fixture.h"

#define OK(f) struct lxc_spec *s = fx_ok(f)

static json_t *linux_of(struct fx *f)
{
        return json_object_get(f->config, "linux");
}

static void add_mount(struct fx *f, json_t *m)
{
        json_t *mounts = json_object_get(f->config, "mounts");

        if (!mounts)
                json_object_set_new(f->config, "mounts", mounts = json_array());
        json_array_append_new(mounts, m);
}

static char *mount_fails(struct fx *f, json_t *m, int code)
{
        add_mount(f, m);
        return fx_fails(f, code);
}

static void test_bind_mount_dir_with_options(void **state)
{
        struct fx *f = *state;
        char want[4096];

        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s,s]}", "destination", "/data", "type", "bind", "source", "src dir",
                               "options", "rbind", "ro"));
        OK(f);
        /* Relative to the bundle, spaces escaped for the fstab line. */
        snprintf(want, sizeof(want), "%s/src\\040dir data none rbind,ro,create=dir 0 0", f->dir);
        assert_int_equal(fx_mount_index(s, want), 0);
        lxc_spec_free(s);
}

static void test_bind_mount_file_without_bind_option(void **state)
{
        struct fx *f = *state;
        char want[4096];

        add_mount(f, json_pack("{s:s, s:s, s:s}", "destination", "/etc/x", "type", "bind", "source", "src-file"));
        OK(f);
        snprintf(want, sizeof(want), "%s/src-file etc/x none bind,create=file 0 0", f->dir);
        assert_int_equal(fx_mount_index(s, want), 0);
        lxc_spec_free(s);
}

static void test_bind_mount_missing_source_is_error(void **state)
{
        struct fx *f = *state;
        char *msg = mount_fails(f, json_pack("{s:s, s:s, s:[s]}", "destination", "/x", "source", "/nonexistent/x",
                                             "options", "bind"), ENOENT);

        assert_contains(msg, "mounts[0].source");
        free(msg);
}

static void test_special_filesystems(void **state)
{
        struct fx *f = *state;

        add_mount(f, json_pack("{s:s, s:s, s:s}", "destination", "/proc", "type", "proc", "source", "proc"));
        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s,s]}", "destination", "/dev", "type", "tmpfs", "source", "tmpfs",
                               "options", "nosuid", "mode=755"));
        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s,s,s]}", "destination", "/dev/pts", "type", "devpts", "source",
                               "devpts", "options", "newinstance", "ptmxmode=0666", "gid=5"));
        add_mount(f, json_pack("{s:s, s:s, s:s}", "destination", "/dev/mqueue", "type", "mqueue", "source", "mqueue"));
        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s]}", "destination", "/sys", "type", "sysfs", "source", "sysfs",
                               "options", "ro"));
        OK(f);
        assert_int_equal(fx_mount_index(s, "proc proc proc create=dir 0 0"), 0);
        assert_int_equal(fx_mount_index(s, "tmpfs dev tmpfs nosuid,mode=755,create=dir 0 0"), 1);
        /* liblxc keeps /dev/pts to itself: its own instance, with /dev/ptmx. */
        assert_int_equal(fx_mount_index(s, "devpts"), -1);
        assert_string_equal(lxc_spec_get(s, "lxc.pty.max"), "1024");
        assert_int_equal(fx_mount_index(s, "mqueue dev/mqueue mqueue create=dir 0 0"), 2);
        assert_int_equal(fx_mount_index(s, "sysfs sys sysfs ro,create=dir 0 0"), 3);
        lxc_spec_free(s);
}

static void test_devpts_with_other_options_is_error(void **state)
{
        struct fx *f = *state;
        char *msg = mount_fails(f, json_pack("{s:s, s:s, s:s, s:[s]}", "destination", "/dev/pts", "type", "devpts",
                                             "source", "devpts", "options", "mode=0600"), ENOTSUP);

        assert_contains(msg, "mounts[0].options[0]");
        assert_contains(msg, "mode=0600");
        free(msg);
}

static void test_cgroup_mount_is_mount_auto(void **state)
{
        struct fx *f = *state;

        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s]}", "destination", "/sys/fs/cgroup", "type", "cgroup", "source",
                               "cgroup", "options", "ro"));
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.mount.auto"), "cgroup:ro:force");
        assert_int_equal(fx_mount_index(s, "sys/fs/cgroup"), -1);
        lxc_spec_free(s);
}

static void test_unsupported_mount_type_is_error(void **state)
{
        struct fx *f = *state;
        char *msg = mount_fails(f, json_pack("{s:s, s:s, s:s}", "destination", "/x", "type", "overlay", "source",
                                             "overlay"), ENOTSUP);

        assert_contains(msg, "mounts[0].type");
        assert_contains(msg, "overlay");
        free(msg);
}

static void test_dev_must_be_tmpfs(void **state)
{
        struct fx *f = *state;
        char *msg = mount_fails(f, json_pack("{s:s, s:s, s:[s]}", "destination", "/dev", "source", "/dev", "options",
                                             "rbind"), ENOTSUP);

        assert_contains(msg, "/dev must be a tmpfs");
        free(msg);
}

static void test_relative_destination_is_error(void **state)
{
        struct fx *f = *state;
        char *msg = mount_fails(f, json_pack("{s:s, s:s}", "destination", "data", "type", "tmpfs"), EINVAL);

        assert_contains(msg, "mounts[0].destination");
        free(msg);
}

static void test_masked_paths(void **state)
{
        struct fx *f = *state;

        json_object_set_new(linux_of(f), "maskedPaths", json_pack("[s,s,s]", "/proc/kcore", "/proc/sys", "/etc"));
        OK(f);
        assert_true(fx_mount_index(s, "/dev/null proc/kcore none bind,ro,optional 0 0") >= 0);
        assert_true(fx_mount_index(s, "tmpfs proc/sys tmpfs ro,") >= 0);
        /* Not /proc or /sys: the rootfs says it is a directory. */
        assert_true(fx_mount_index(s, "tmpfs etc tmpfs ro,") >= 0);
        lxc_spec_free(s);
}

static void test_readonly_paths(void **state)
{
        struct fx *f = *state;

        json_object_set_new(linux_of(f), "readonlyPaths", json_pack("[s]", "/proc/sys"));
        OK(f);
        assert_true(fx_mount_index(s, "proc/sys proc/sys none rbind,ro,relative,optional 0 0") >= 0);
        lxc_spec_free(s);
}

static void test_namespaces_new_and_joined(void **state)
{
        struct fx *f = *state;

        json_object_set_new(linux_of(f), "namespaces",
                            json_pack("[{s:s}, {s:s}, {s:s, s:s}, {s:s}, {s:s}]", "type", "pid", "type", "mount",
                                      "type", "network", "path", "/proc/1/ns/net", "type", "ipc", "type", "cgroup"));
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.namespace.clone"), "pid mnt ipc cgroup");
        assert_string_equal(lxc_spec_get(s, "lxc.namespace.share.net"), "/proc/1/ns/net");
        lxc_spec_free(s);
}

static void test_namespaces_need_mount(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_set_new(linux_of(f), "namespaces", json_pack("[{s:s}]", "type", "pid"));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "mount namespace");
        free(msg);
}

static void test_namespace_unknown_type_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_array_append_new(json_object_get(linux_of(f), "namespaces"), json_pack("{s:s}", "type", "bogus"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "linux.namespaces[2]");
        free(msg);
}

static void test_user_namespace_maps_ids(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_array_append_new(json_object_get(linux_of(f), "namespaces"), json_pack("{s:s}", "type", "user"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "linux.uidMappings");
        free(msg);
        json_object_set_new(linux_of(f), "uidMappings",
                            json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", 100000, "size", 65536));
        json_object_set_new(linux_of(f), "gidMappings",
                            json_pack("[{s:i, s:i, s:i}]", "containerID", 0, "hostID", 200000, "size", 1000));
        OK(f);
        assert_int_equal(lxc_spec_count(s, "lxc.idmap"), 2);
        assert_string_equal(lxc_spec_get(s, "lxc.idmap"), "g 0 200000 1000");
        lxc_spec_free(s);
}

static void test_cgroups_path(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_set_new(linux_of(f), "cgroupsPath", json_string("/pods/web-1"));
        {
                OK(f);
                assert_string_equal(lxc_spec_get(s, "lxc.cgroup.dir.container"), "pods/web-1");
                assert_string_equal(lxc_spec_get(s, "lxc.cgroup.dir.monitor"), "pods/web-1.pxcri-monitor");
                lxc_spec_free(s);
        }
        json_object_set_new(linux_of(f), "cgroupsPath", json_string("system.slice:pxcri:web-1"));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.cgroupsPath");
        free(msg);
}

static void set_resources(struct fx *f)
{
        json_object_set_new(linux_of(f), "resources",
                            json_pack("{s:{s:I, s:I}, s:{s:I, s:I, s:I, s:s, s:s}, s:{s:I}}", "memory", "limit",
                                      (json_int_t) 67108864, "reservation", (json_int_t) 33554432, "cpu", "shares",
                                      (json_int_t) 512, "quota", (json_int_t) 50000, "period", (json_int_t) 100000,
                                      "cpus", "0-1", "mems", "0", "pids", "limit", (json_int_t) 20));
}

static void test_resources_cgroup_v1(void **state)
{
        struct fx *f = *state;

        set_resources(f);
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.memory.limit_in_bytes"), "67108864");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.memory.soft_limit_in_bytes"), "33554432");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.cpu.shares"), "512");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.cpu.cfs_quota_us"), "50000");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.cpu.cfs_period_us"), "100000");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.cpuset.cpus"), "0-1");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.cpuset.mems"), "0");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.pids.max"), "20");
        assert_null(lxc_spec_get(s, "lxc.cgroup2.memory.max"));
        lxc_spec_free(s);
}

static void test_resources_cgroup_v2(void **state)
{
        struct fx *f = *state;

        f->opts.cgroup_v2 = true;
        set_resources(f);
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.memory.max"), "67108864");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.memory.low"), "33554432");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.cpu.weight"), "20");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.cpu.max"), "50000 100000");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.cpuset.cpus"), "0-1");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.pids.max"), "20");
        assert_null(lxc_spec_get(s, "lxc.cgroup.memory.limit_in_bytes"));
        lxc_spec_free(s);
}

static void test_resources_unsupported_are_errors(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_set_new(linux_of(f), "resources", json_pack("{s:{s:i}}", "network", "classID", 10));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.resources.network");
        free(msg);
        f->opts.cgroup_v2 = true;
        json_object_set_new(linux_of(f), "resources", json_pack("{s:{s:i}}", "memory", "swappiness", 10));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.resources.memory.swappiness");
        free(msg);
}

static void test_device_cgroup_rules(void **state)
{
        struct fx *f = *state;

        json_object_set_new(linux_of(f), "resources",
                            json_pack("{s:[{s:b, s:s}, {s:b, s:s, s:i, s:i, s:s}, {s:b, s:s, s:i, s:s}]}", "devices",
                                      "allow", 0, "access", "rwm", "allow", 1, "type", "c", "major", 1, "minor", 3,
                                      "access", "rw", "allow", 1, "type", "c", "major", 136, "access", "rwm"));
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.devices.deny"), "a");
        /* The spec's two, then the nine every runtime allows (null ... pts). */
        assert_int_equal(lxc_spec_count(s, "lxc.cgroup.devices.allow"), 2 + 9);
        assert_string_equal(s->items[s->n_items - 10].value, "c 136:* rwm");
        assert_string_equal(s->items[s->n_items - 10].key, "lxc.cgroup.devices.allow");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.devices.allow"), "c 136:* rwm");
        lxc_spec_free(s);
}

static void test_device_nodes_bound_from_host(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_set_new(linux_of(f), "devices",
                            json_pack("[{s:s, s:s, s:i, s:i}]", "path", "/dev/null", "type", "c", "major", 1, "minor", 3));
        {
                OK(f);
                assert_true(fx_mount_index(s, "/dev/null dev/null none bind,create=file 0 0") >= 0);
                lxc_spec_free(s);
        }
        json_object_set_new(linux_of(f), "devices",
                            json_pack("[{s:s, s:s, s:i, s:i}]", "path", "/dev/null", "type", "c", "major", 9, "minor", 9));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.devices[0]");
        free(msg);
}

/* The lxc.hook.mount line of pxcri-init's setup. */
static void assert_setup_hook(struct fx *f, const struct lxc_spec *s)
{
        char want[4096];

        snprintf(want, sizeof(want), "%s --lxc-setup %s/setup", f->opts.init_path, f->run_dir);
        assert_string_equal(lxc_spec_get(s, "lxc.hook.mount"), want);
}

/* Written by pxcri-init from LXC's mount hook, not liblxc's lxc.sysctl.*
 * (after pivot_root, on a read-only /proc/sys). */
static void test_sysctl(void **state)
{
        struct fx *f = *state;
        static const char want[] = "snet.ipv4.ip_forward=1\0skernel.shm_rmid_forced=1";

        json_object_set_new(linux_of(f), "sysctl",
                            json_pack("{s:s, s:s}", "net.ipv4.ip_forward", "1", "kernel.shm_rmid_forced", "1"));
        OK(f);
        assert_null(lxc_spec_get(s, "lxc.sysctl.net.ipv4.ip_forward"));
        assert_int_equal(s->setup_len, sizeof(want));
        assert_memory_equal(s->setup, want, sizeof(want));
        assert_setup_hook(f, s);
        lxc_spec_free(s);
}

static void test_sysctl_bad_key_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_set_new(linux_of(f), "sysctl", json_pack("{s:s}", "kernel..x", "1"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "linux.sysctl.kernel..x");
        free(msg);
}

static void test_no_setup_hook_without_setup(void **state)
{
        struct fx *f = *state;
        OK(f);

        assert_int_equal(s->setup_len, 0);
        assert_null(lxc_spec_get(s, "lxc.hook.mount"));
        lxc_spec_free(s);
}

/* A bind with shared propagation: pxcri-init's record, no mount entry; the
 * hook before the createContainer hooks' (they see its mounts). */
static void test_shared_bind(void **state)
{
        struct fx *f = *state;
        char want[4096];
        int n;

        json_object_set_new(linux_of(f), "rootfsPropagation", json_string("rshared"));
        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s,s,s,s]}", "destination", "/data", "type", "bind", "source",
                               "src dir", "options", "rbind", "rshared", "ro", "nosuid"));
        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s,s]}", "destination", "/etc/one", "type", "bind", "source",
                               "src-file", "options", "bind", "shared"));
        fx_set(f, "hooks", NULL, json_pack("{s:[{s:s}]}", "createContainer", "path", "/bin/true"));
        OK(f);
        assert_int_equal(fx_mount_index(s, "data"), -1);
        n = snprintf(want, sizeof(want), "BrSou\t%s/src dir\t/data%cBf\t%s/src-file\t/etc/one", f->dir, 0, f->dir);
        assert_int_equal(s->setup_len, (size_t) n + 1);
        assert_memory_equal(s->setup, want, (size_t) n + 1);
        assert_int_equal(lxc_spec_count(s, "lxc.hook.mount"), 2);
        for (size_t i = 0; i < s->n_items; i++)
                if (strcmp(s->items[i].key, "lxc.hook.mount") == 0) {
                        assert_non_null(strstr(s->items[i].value, "--lxc-setup"));
                        break;
                }
        lxc_spec_free(s);
}

static void test_shared_bind_refusals(void **state)
{
        struct fx *f = *state;
        char *msg;

        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s,s,s]}", "destination", "/data", "type", "bind", "source",
                               "src dir", "options", "rbind", "rshared", "relatime"));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "mounts[0].options[2]");
        free(msg);
        json_array_clear(json_object_get(f->config, "mounts"));
        add_mount(f, json_pack("{s:s, s:s, s:s, s:[s,s]}", "destination", "/data", "type", "bind", "source",
                               "src dir", "options", "rbind", "rshared"));
        /* liblxc's entries are mounted first: it would be hidden. */
        msg = mount_fails(f, json_pack("{s:s, s:s, s:s}", "destination", "/data/sub", "type", "tmpfs", "source",
                                       "tmpfs"), ENOTSUP);
        assert_contains(msg, "mounts[1]");
        assert_contains(msg, "/data");
        free(msg);
}

static void test_seccomp_denylist(void **state)
{
        struct fx *f = *state;

        json_object_set_new(linux_of(f), "seccomp",
                            json_pack("{s:s, s:[{s:[s,s], s:s, s:i}, {s:[s], s:s}]}", "defaultAction", "SCMP_ACT_ALLOW",
                                      "syscalls", "names", "mkdir", "mkdirat", "action", "SCMP_ACT_ERRNO", "errnoRet",
                                      13, "names", "getpid", "action", "SCMP_ACT_ALLOW"));
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.seccomp.profile"), "/run/pxcri/lxc/x/seccomp");
        /* The allow rule repeats the default: libseccomp refuses those. */
        assert_string_equal(s->seccomp, "2\ndenylist\nmkdir errno 13\nmkdirat errno 13\n");
        lxc_spec_free(s);
}

static void test_seccomp_allowlist_with_args(void **state)
{
        struct fx *f = *state;

        json_object_set_new(linux_of(f), "seccomp",
                            json_pack("{s:s, s:[{s:[s], s:s}, {s:[s], s:s, s:[{s:i, s:i, s:s}, {s:i, s:i, s:i, s:s}]},"
                                      " {s:[s], s:s, s:[{s:i, s:i, s:s}, {s:i, s:i, s:s}]}, {s:[s], s:s}]}",
                                      "defaultAction", "SCMP_ACT_ERRNO", "syscalls", "names", "read", "action",
                                      "SCMP_ACT_ALLOW", "names", "personality", "action", "SCMP_ACT_ALLOW", "args",
                                      "index", 0, "value", 0, "op", "SCMP_CMP_EQ", "index", 1, "value", 8, "valueTwo",
                                      2, "op", "SCMP_CMP_MASKED_EQ", "names", "clone", "action", "SCMP_ACT_ALLOW",
                                      "args", "index", 0, "value", 1, "op", "SCMP_CMP_NE", "index", 0, "value", 2, "op",
                                      "SCMP_CMP_NE", "names", "kexec_load", "action", "SCMP_ACT_KILL"));
        OK(f);
        assert_string_equal(s->seccomp, "2\nallowlist errno 1\n"
                                        "read allow\n"
                                        "personality allow [0,0,SCMP_CMP_EQ] [1,2,SCMP_CMP_MASKED_EQ,8]\n"
                                        "clone allow [0,1,SCMP_CMP_NE]\n"
                                        "clone allow [0,2,SCMP_CMP_NE]\n"
                                        "kexec_load kill\n");
        lxc_spec_free(s);
}

static void test_seccomp_unsupported_parts_are_errors(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_set_new(linux_of(f), "seccomp",
                            json_pack("{s:s, s:[{s:[s], s:s}]}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls", "names",
                                      "ioctl", "action", "SCMP_ACT_NOTIFY"));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.seccomp.syscalls[0].action");
        free(msg);
        json_object_set_new(linux_of(f), "seccomp",
                            json_pack("{s:s, s:[s]}", "defaultAction", "SCMP_ACT_ALLOW", "flags", "SECCOMP_FILTER_FLAG_LOG"));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.seccomp.flags");
        free(msg);
        json_object_set_new(linux_of(f), "seccomp", json_pack("{s:s}", "defaultAction", "SCMP_ACT_LOG"));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.seccomp.defaultAction");
        free(msg);
}

static void test_other_linux_fields_are_refused(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_set_new(linux_of(f), "intelRdt", json_pack("{s:s}", "closID", "x"));
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.intelRdt");
        free(msg);
}

static void test_init_mounts_come_after_spec_mounts(void **state)
{
        struct fx *f = *state;
        char want[4096];
        int dir_at;

        add_mount(f, json_pack("{s:s, s:s, s:s}", "destination", "/dev", "type", "tmpfs", "source", "tmpfs"));
        OK(f);
        snprintf(want, sizeof(want), "%s dev/.pxcri none bind,create=dir 0 0", f->run_dir);
        dir_at = fx_mount_index(s, want);
        assert_true(dir_at > fx_mount_index(s, "tmpfs dev tmpfs"));
        assert_int_equal(fx_mount_index(s, "/usr/libexec/pxcri/pxcri-init dev/.pxcri-init none bind,ro,create=file"),
                         dir_at + 1);
        lxc_spec_free(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_bind_mount_dir_with_options),
                T(test_bind_mount_file_without_bind_option),
                T(test_bind_mount_missing_source_is_error),
                T(test_special_filesystems),
                T(test_devpts_with_other_options_is_error),
                T(test_cgroup_mount_is_mount_auto),
                T(test_unsupported_mount_type_is_error),
                T(test_dev_must_be_tmpfs),
                T(test_relative_destination_is_error),
                T(test_masked_paths),
                T(test_readonly_paths),
                T(test_namespaces_new_and_joined),
                T(test_namespaces_need_mount),
                T(test_namespace_unknown_type_is_error),
                T(test_user_namespace_maps_ids),
                T(test_cgroups_path),
                T(test_resources_cgroup_v1),
                T(test_resources_cgroup_v2),
                T(test_resources_unsupported_are_errors),
                T(test_device_cgroup_rules),
                T(test_device_nodes_bound_from_host),
                T(test_sysctl),
                T(test_sysctl_bad_key_is_error),
                T(test_no_setup_hook_without_setup),
                T(test_shared_bind),
                T(test_shared_bind_refusals),
                T(test_seccomp_denylist),
                T(test_seccomp_allowlist_with_args),
                T(test_seccomp_unsupported_parts_are_errors),
                T(test_other_linux_fields_are_refused),
                T(test_init_mounts_come_after_spec_mounts),
        };

        return unit_run(tests);
}
