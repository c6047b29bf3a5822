/* bundle/spec: config.json from image configs and requests; users from the image's files. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/spec.h"
#include "util/cleanup.h"

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "pxt:x:1000:1000:test:/home/pxt:/bin/sh\n"
                             "svc:x:1001:1001::/:/bin/false\n";
static const char group[] = "root:x:0:\n"
                            "pxt:x:1000:\n"
                            "svc:x:1001:\n"
                            "wheel:x:10:pxt,svc\n"
                            "audio:x:29:pxt\n";

struct fx {
        char *dir;
        int rootfs;
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        char *etc, *p;

        f->dir = unit_mkdtemp();
        etc = unit_path(f->dir, "etc");
        assert_int_equal(mkdir(etc, 0755), 0);
        p = unit_path(etc, "passwd");
        unit_write(p, passwd);
        free(p);
        p = unit_path(etc, "group");
        unit_write(p, group);
        free(p);
        free(etc);
        f->rootfs = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->rootfs >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        close(f->rootfs);
        unit_rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static json_t *gen(const struct bundle_spec_request *req)
{
        _cleanup_pxe_ struct pxe *err = NULL;
        json_t *spec = NULL;

        if (bundle_spec_generate(req, &spec, &err) < 0)
                fail_msg("generate: %s", err->msg);
        return spec;
}

static char *args_of(json_t *spec)
{
        json_t *a = json_object_get(json_object_get(spec, "process"), "args");

        return json_dumps(a, JSON_COMPACT);
}

static void expect_args(const char *config, const struct bundle_spec_request *base, const char *want)
{
        struct bundle_spec_request req = *base;
        json_t *spec;
        char *got;

        req.image_config = config;
        req.rootfs_fd = -1;
        spec = gen(&req);
        got = args_of(spec);
        assert_string_equal(got, want);
        free(got);
        json_decref(spec);
}

static void test_entrypoint_cmd_combinations(void **state)
{
        const char *both = "{\"config\":{\"Entrypoint\":[\"/bin/app\",\"--flag\"],\"Cmd\":[\"serve\"]}}";
        const char *cmd_only = "{\"config\":{\"Cmd\":[\"sh\",\"-c\",\"echo hi\"]}}";
        const char *ep_only = "{\"config\":{\"Entrypoint\":[\"/bin/app\"],\"Cmd\":null}}";
        const char *const args[] = { "run", "fast" };
        const char *const cmd[] = { "/bin/other" };
        struct bundle_spec_request none = { 0 }, with_args = { .args = args, .n_args = 2, .args_set = true };
        struct bundle_spec_request with_cmd = { .command = cmd, .n_command = 1 };
        struct bundle_spec_request cmd_and_args = { .command = cmd, .n_command = 1, .args = args, .n_args = 2 };

        (void) state;
        expect_args(both, &none, "[\"/bin/app\",\"--flag\",\"serve\"]");
        expect_args(both, &with_args, "[\"/bin/app\",\"--flag\",\"run\",\"fast\"]");
        expect_args(both, &with_cmd, "[\"/bin/other\"]");
        expect_args(both, &cmd_and_args, "[\"/bin/other\",\"run\",\"fast\"]");
        expect_args(cmd_only, &none, "[\"sh\",\"-c\",\"echo hi\"]");
        expect_args(cmd_only, &with_args, "[\"run\",\"fast\"]");
        expect_args(ep_only, &none, "[\"/bin/app\"]");
}

static void test_no_command_is_an_error(void **state)
{
        struct bundle_spec_request req = { .image_config = "{\"config\":{}}", .rootfs_fd = -1 };
        _cleanup_pxe_ struct pxe *err = NULL;
        json_t *spec = NULL;

        (void) state;
        assert_int_equal(bundle_spec_generate(&req, &spec, &err), -EINVAL);
        assert_contains(err->msg, "No command");
}

static void test_env_merge(void **state)
{
        const char *const env[] = { "HOME=/override", "NEW=1" };
        struct bundle_spec_request req = {
                .image_config = "{\"config\":{\"Cmd\":[\"sh\"],\"Env\":[\"HOME=/root\",\"LANG=C\"]}}",
                .rootfs_fd = -1, .env = env, .n_env = 2, .terminal = true,
        };
        json_t *spec;
        char *got;

        (void) state;
        spec = gen(&req);
        got = json_dumps(json_object_get(json_object_get(spec, "process"), "env"), JSON_COMPACT);
        assert_string_equal(got, "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
                                 "\"HOME=/override\",\"LANG=C\",\"NEW=1\",\"TERM=xterm\"]");
        free(got);
        json_decref(spec);
}

static void expect_user(struct fx *f, const char *user, unsigned uid, unsigned gid, const char *extra)
{
        struct bundle_user u;
        _cleanup_pxe_ struct pxe *err = NULL;
        char got[64] = "";

        if (bundle_spec_resolve_user(f->rootfs, user, &u, &err) < 0)
                fail_msg("%s: %s", user, err->msg);
        assert_int_equal(u.uid, uid);
        assert_int_equal(u.gid, gid);
        for (size_t i = 0; i < u.n_additional_gids; i++)
                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? "," : "",
                         (unsigned) u.additional_gids[i]);
        assert_string_equal(got, extra);
        bundle_user_done(&u);
}

static void test_user_forms(void **state)
{
        struct fx *f = *state;

        expect_user(f, NULL, 0, 0, "");
        expect_user(f, "", 0, 0, "");
        expect_user(f, "1000", 1000, 1000, "10,29");
        expect_user(f, "pxt", 1000, 1000, "10,29");
        expect_user(f, "pxt:pxt", 1000, 1000, "10,29");
        expect_user(f, "1000:1000", 1000, 1000, "10,29");
        expect_user(f, "svc:wheel", 1001, 10, "");
        expect_user(f, "4242", 4242, 0, "");
        expect_user(f, "4242:77", 4242, 77, "");
}

static void test_unknown_user_or_group(void **state)
{
        struct fx *f = *state;
        struct bundle_user u;
        _cleanup_pxe_ struct pxe *e1 = NULL, *e2 = NULL, *e3 = NULL;

        assert_int_equal(bundle_spec_resolve_user(f->rootfs, "nobody", &u, &e1), -ENOENT);
        assert_contains(e1->msg, "User \"nobody\" not found");
        assert_int_equal(bundle_spec_resolve_user(f->rootfs, "pxt:nogroup", &u, &e2), -ENOENT);
        assert_contains(e2->msg, "Group \"nogroup\" not found");
        assert_int_equal(bundle_spec_resolve_user(-1, "pxt", &u, &e3), -ENOENT);
}

/* /etc/passwd a symlink to an absolute path: resolved inside the image. */
static void test_passwd_symlink_stays_inside(void **state)
{
        struct fx *f = *state;
        char *etc = unit_path(f->dir, "etc"), *p = unit_path(etc, "passwd"), *real = unit_path(etc, "passwd.real");
        char *outside_dir = unit_mkdtemp(), *outside = unit_path(outside_dir, "passwd");
        struct bundle_user u;

        assert_int_equal(rename(p, real), 0);
        assert_int_equal(symlink("/etc/passwd.real", p), 0);
        expect_user(f, "svc", 1001, 1001, "10");
        /* A file outside the image, named by its host path: not reachable. */
        unit_write(outside, "intruder:x:7:7::/:/bin/sh\n");
        unlink(p);
        assert_int_equal(symlink(outside, p), 0);
        assert_int_equal(bundle_spec_resolve_user(f->rootfs, "intruder", &u, NULL), -ENOENT);
        unit_rm_rf(outside_dir);
        free(outside_dir);
        free(outside);
        free(etc);
        free(p);
        free(real);
}

static void test_defaults_and_annotations(void **state)
{
        struct fx *f = *state;
        const struct annotation ann[] = { { "io.pxcri.test", "1" }, { "org.label", "overridden" } };
        struct bundle_spec_request req = {
                .image_config = "{\"config\":{\"Cmd\":[\"sh\"],\"User\":\"pxt\",\"WorkingDir\":\"/home/pxt\","
                                "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},\"Labels\":{\"org.label\":\"v\"},"
                                "\"StopSignal\":\"SIGQUIT\"}}",
                .image_name = "docker.io/library/busybox:latest",
                .image_id = "sha256:abc",
                .rootfs_fd = f->rootfs,
                .annotations = ann,
                .n_annotations = 2,
        };
        json_t *spec = gen(&req), *p = json_object_get(spec, "process"), *a = json_object_get(spec, "annotations");
        json_t *l = json_object_get(spec, "linux");

        assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "uid")), 1000);
        assert_string_equal(json_string_value(json_object_get(p, "cwd")), "/home/pxt");
        assert_string_equal(json_string_value(json_object_get(a, "io.kubernetes.cri.image-name")),
                            "docker.io/library/busybox:latest");
        assert_string_equal(json_string_value(json_object_get(a, "org.opencontainers.image.ref.name")),
                            "docker.io/library/busybox:latest");
        assert_string_equal(json_string_value(json_object_get(a, "org.opencontainers.image.exposedPorts")),
                            "80/tcp,53/udp");
        assert_string_equal(json_string_value(json_object_get(a, "org.opencontainers.image.stopSignal")), "SIGQUIT");
        assert_string_equal(json_string_value(json_object_get(a, "org.label")), "overridden");
        assert_string_equal(json_string_value(json_object_get(a, "io.pxcri.test")), "1");
        assert_int_equal(json_array_size(json_object_get(l, "namespaces")), 5);
        assert_string_equal(json_string_value(json_object_get(json_object_get(l, "seccomp"), "defaultAction")),
                            "SCMP_ACT_ERRNO");
        assert_string_equal(json_string_value(json_object_get(json_object_get(spec, "root"), "path")), "rootfs");
        json_decref(spec);
}

static void test_relative_cwd_refused(void **state)
{
        struct bundle_spec_request req = { .image_config = "{\"config\":{\"Cmd\":[\"sh\"]}}", .rootfs_fd = -1,
                                           .cwd = "rel" };
        json_t *spec = NULL;

        (void) state;
        assert_int_equal(bundle_spec_generate(&req, &spec, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_entrypoint_cmd_combinations),
                cmocka_unit_test(test_no_command_is_an_error),
                cmocka_unit_test(test_env_merge),
                cmocka_unit_test(test_relative_cwd_refused),
                cmocka_unit_test_setup_teardown(test_user_forms, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown_user_or_group, setup, teardown),
                cmocka_unit_test_setup_teardown(test_passwd_symlink_stays_inside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_defaults_and_annotations, setup, teardown),
        };

        return unit_run(tests);
}
