/* backend/lxc/translate: root, process, hostname, annotations, output. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lxc_fixture.h"

#define OK(f) struct lxc_spec *s = fx_ok(f)

/* Whether the process blob holds the record rec (without its NUL). */
static bool has_record(const char *blob, size_t len, const char *rec)
{
        for (size_t off = 0; off < len; off += strlen(blob + off) + 1)
                if (strcmp(blob + off, rec) == 0)
                        return true;
        return false;
}

static void test_root_path_relative_to_bundle(void **state)
{
        struct fx *f = *state;
        char want[4096];
        OK(f);

        snprintf(want, sizeof(want), "dir:%s/rootfs", f->dir);
        assert_string_equal(lxc_spec_get(s, "lxc.rootfs.path"), want);
        assert_string_equal(lxc_spec_get(s, "lxc.rootfs.managed"), "0");
        assert_null(lxc_spec_get(s, "lxc.rootfs.options"));
        lxc_spec_free(s);
}

static void test_root_readonly(void **state)
{
        struct fx *f = *state;

        json_object_set_new(json_object_get(f->config, "root"), "readonly", json_true());
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.rootfs.options"), "ro");
        lxc_spec_free(s);
}

static void test_root_missing_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        json_object_del(f->config, "root");
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "root.path");
        free(msg);
}

static void test_process_args_and_env_go_to_init(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;

        fx_set(f, "process", "args", json_pack("[s,s,s]", "sh", "-c", "echo a b"));
        fx_set(f, "process", "env", json_pack("[s,s]", "PATH=/bin", "X=1 2"));
        OK(f);
        assert_int_equal(s->n_args, 3);
        assert_string_equal(s->args[2], "echo a b");
        blob = lxc_spec_process_blob(s, &len);
        /* Arguments in order, then the environment; the identity after. */
        assert_memory_equal(blob, "ash\0a-c\0aecho a b\0ePATH=/bin\0eX=1 2\0", 34);
        assert_true(has_record(blob, len, "u0"));
        assert_true(has_record(blob, len, "g0"));
        /* lxc.init.cmd splits on spaces: only pxcri-init's path goes there. */
        assert_string_equal(lxc_spec_get(s, "lxc.init.cmd"), LXC_INIT_PATH);
        free(blob);
        lxc_spec_free(s);
}

static void test_process_without_args_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "process", "args", json_array());
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "process.args");
        free(msg);
}

static void test_process_cwd(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "process", "cwd", json_string("/tmp"));
        {
                size_t len;
                char *blob;
                OK(f);

                /* pxcri-init's chdir, as the process's user. */
                assert_null(lxc_spec_get(s, "lxc.init.cwd"));
                blob = lxc_spec_process_blob(s, &len);
                assert_true(has_record(blob, len, "c/tmp"));
                free(blob);
                lxc_spec_free(s);
        }
        fx_set(f, "process", "cwd", json_string("tmp"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "process.cwd");
        free(msg);
}

static void test_process_user_and_groups(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;

        fx_set(f, "process", "user", json_pack("{s:i, s:i, s:[i,i], s:i}", "uid", 1000, "gid", 100,
                                               "additionalGids", 5, 6, "umask", 022));
        OK(f);
        /* pxcri-init switches itself: it starts as root (translate_caps.c). */
        assert_null(lxc_spec_get(s, "lxc.init.uid"));
        assert_null(lxc_spec_get(s, "lxc.init.gid"));
        assert_null(lxc_spec_get(s, "lxc.init.groups"));
        assert_int_equal(s->uid, 1000);
        blob = lxc_spec_process_blob(s, &len);
        assert_true(has_record(blob, len, "m22"));
        assert_true(has_record(blob, len, "u1000"));
        assert_true(has_record(blob, len, "g100"));
        assert_true(has_record(blob, len, "G5"));
        assert_true(has_record(blob, len, "G6"));
        free(blob);
        lxc_spec_free(s);
}

static void test_process_negative_uid_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "process", "user", json_pack("{s:i, s:i}", "uid", -1, "gid", 0));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "process.user");
        free(msg);
}

static void test_process_rlimits(void **state)
{
        struct fx *f = *state;

        fx_set(f, "process", "rlimits",
               json_pack("[{s:s, s:i, s:i}, {s:s, s:i, s:i}]", "type", "RLIMIT_NOFILE", "soft", 1024, "hard", 2048,
                         "type", "RLIMIT_NPROC", "soft", 10, "hard", 10));
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.prlimit.nofile"), "1024:2048");
        assert_string_equal(lxc_spec_get(s, "lxc.prlimit.nproc"), "10:10");
        lxc_spec_free(s);
}

static void test_process_bad_rlimit_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "process", "rlimits", json_pack("[{s:s, s:i}]", "type", "NOFILE", "soft", 1));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "process.rlimits[0]");
        free(msg);
}

static void test_process_no_new_privileges(void **state)
{
        struct fx *f = *state;

        {
                OK(f);
                assert_null(lxc_spec_get(s, "lxc.no_new_privs"));
                lxc_spec_free(s);
        }
        fx_set(f, "process", "noNewPrivileges", json_true());
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.no_new_privs"), "1");
        lxc_spec_free(s);
}

static json_t *caps(const char *a, const char *b)
{
        return b ? json_pack("[s,s]", a, b) : json_pack("[s]", a);
}

static void test_capabilities_bounding_to_keep(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;

        fx_set(f, "process", "capabilities",
               json_pack("{s:o, s:o, s:o, s:o}", "bounding", caps("CAP_KILL", "CAP_NET_BIND_SERVICE"), "effective",
                         caps("CAP_KILL", "CAP_NET_BIND_SERVICE"), "permitted",
                         caps("CAP_NET_BIND_SERVICE", "CAP_KILL"), "ambient", caps("CAP_KILL", NULL)));
        OK(f);
        /* Plus what pxcri-init needs to switch and to pass signals on. */
        assert_string_equal(lxc_spec_get(s, "lxc.cap.keep"), "kill setgid setuid setpcap net_bind_service");
        /* The sets themselves go to pxcri-init: bit 5 kill, bit 10 net_bind_service. */
        blob = lxc_spec_process_blob(s, &len);
        assert_true(has_record(blob, len, "Cb420"));
        assert_true(has_record(blob, len, "Ce420"));
        assert_true(has_record(blob, len, "Cp420"));
        assert_true(has_record(blob, len, "Ci0"));
        assert_true(has_record(blob, len, "Ca20"));
        free(blob);
        lxc_spec_free(s);
}

static void test_capabilities_empty_bounding_keeps_what_init_needs(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;

        fx_set(f, "process", "capabilities", json_pack("{s:[]}", "bounding"));
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.cap.keep"), "kill setgid setuid setpcap");
        blob = lxc_spec_process_blob(s, &len);
        assert_true(has_record(blob, len, "Cb0"));
        free(blob);
        lxc_spec_free(s);
}

static void test_capabilities_absent_leave_them_alone(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;
        OK(f);

        assert_null(lxc_spec_get(s, "lxc.cap.keep"));
        blob = lxc_spec_process_blob(s, &len);
        assert_null(memmem(blob, len, "\0C", 2));
        free(blob);
        lxc_spec_free(s);
}

/* runc's sets for any user: pxcri-init applies them after the switch. */
static void test_capabilities_for_non_root(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;

        fx_set(f, "process", "user", json_pack("{s:i, s:i}", "uid", 1000, "gid", 1000));
        fx_set(f, "process", "capabilities",
               json_pack("{s:o, s:o, s:o}", "bounding", caps("CAP_NET_RAW", "CAP_CHOWN"), "permitted",
                         caps("CAP_NET_RAW", NULL), "ambient", caps("CAP_NET_RAW", NULL)));
        OK(f);
        blob = lxc_spec_process_blob(s, &len);
        assert_true(has_record(blob, len, "u1000"));
        assert_true(has_record(blob, len, "Cb2001"));
        assert_true(has_record(blob, len, "Cp2000"));
        assert_true(has_record(blob, len, "Ca2000"));
        assert_true(has_record(blob, len, "Ce0"));
        free(blob);
        lxc_spec_free(s);
}

static void test_capabilities_bad_name_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "process", "capabilities", json_pack("{s:[s]}", "bounding", "KILL"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "process.capabilities.bounding[0]");
        free(msg);
}

static void test_oom_score_adj(void **state)
{
        struct fx *f = *state;

        fx_set(f, "process", "oomScoreAdj", json_integer(500));
        {
                OK(f);
                assert_string_equal(lxc_spec_get(s, "lxc.proc.oom_score_adj"), "500");
                lxc_spec_free(s);
        }
        /* Lowering below our own value needs CAP_SYS_RESOURCE: clamped. */
        f->opts.oom_score_adj_min = 0;
        fx_set(f, "process", "oomScoreAdj", json_integer(-999));
        OK(f);
        assert_string_equal(lxc_spec_get(s, "lxc.proc.oom_score_adj"), "0");
        lxc_spec_free(s);
}

static void test_terminal_goes_to_init(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;

        fx_set(f, "process", "terminal", json_true());
        fx_set(f, "process", "consoleSize", json_pack("{s:i, s:i}", "height", 40, "width", 120));
        OK(f);
        assert_true(s->terminal);
        blob = lxc_spec_process_blob(s, &len);
        assert_true(has_record(blob, len, "t"));
        assert_true(has_record(blob, len, "w40 120"));
        free(blob);
        lxc_spec_free(s);
}

static void test_hostname(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "hostname", NULL, json_string("web-1"));
        json_array_append_new(json_object_get(json_object_get(f->config, "linux"), "namespaces"),
                              json_pack("{s:s}", "type", "uts"));
        {
                OK(f);
                assert_string_equal(lxc_spec_get(s, "lxc.uts.name"), "web-1");
                lxc_spec_free(s);
        }
        /* A newline would end the config line: refused, not written. */
        fx_set(f, "hostname", NULL, json_string("a\nlxc.cap.keep = all"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "lxc.uts.name");
        free(msg);
}

static void test_hostname_without_uts_namespace_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "hostname", NULL, json_string("web-1"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "hostname");
        free(msg);
}

static void test_annotations_kept(void **state)
{
        struct fx *f = *state;

        fx_set(f, "annotations", NULL, json_pack("{s:s}", "io.kubernetes.cri.container-name", "db"));
        OK(f);
        assert_string_equal(json_string_value(json_object_get(s->annotations, "io.kubernetes.cri.container-name")),
                            "db");
        lxc_spec_free(s);
}

static void test_preserve_fds_go_to_init(void **state)
{
        struct fx *f = *state;
        size_t len;
        char *blob;

        fx_set(f, "process", "args", json_pack("[s]", "true"));
        fx_set(f, "process", "env", json_array());
        OK(f);
        blob = lxc_spec_process_blob(s, &len);
        assert_null(memmem(blob, len, "\0f", 2));
        free(blob);
        s->preserve_fds = 2;
        blob = lxc_spec_process_blob(s, &len);
        assert_memory_equal(blob, "atrue\0", 6);
        assert_true(has_record(blob, len, "f2"));
        free(blob);
        lxc_spec_free(s);
}

static void test_hooks_are_kept_for_pxcri(void **state)
{
        struct fx *f = *state;

        fx_set(f, "hooks", NULL,
               json_pack("{s:[{s:s, s:[s,s], s:[s], s:i}], s:[{s:s}], s:[{s:s}], s:[{s:s}]}", "prestart", "path",
                         "/bin/sh", "args", "sh", "-c", "env", "A=1", "timeout", 5, "createRuntime", "path",
                         "/bin/true", "poststart", "path", "/bin/true", "poststop", "path", "/bin/true"));
        OK(f);
        assert_non_null(s->hooks);
        assert_int_equal(json_array_size(json_object_get(s->hooks, "prestart")), 1);
        assert_int_equal(json_array_size(json_object_get(s->hooks, "poststop")), 1);
        /* Nothing of them reaches LXC. */
        assert_null(lxc_spec_get(s, "lxc.hook.pre-start"));
        assert_null(lxc_spec_get(s, "lxc.hook.start-host"));
        lxc_spec_free(s);
}

static void test_empty_in_container_hooks_are_accepted(void **state)
{
        struct fx *f = *state;

        fx_set(f, "hooks", NULL, json_pack("{s:[]}", "createContainer"));
        OK(f);
        assert_non_null(s->hooks);
        lxc_spec_free(s);
}

/* LXC's mount hook runs pxcri-init's hook runner on the records in run/. */
static void test_create_container_hooks_go_to_the_mount_hook(void **state)
{
        struct fx *f = *state;
        struct lxc_spec *s;
        char want[4096], *msg;

        fx_set(f, "hooks", NULL, json_pack("{s:[{s:s}]}", "createContainer", "path", "/bin/true"));
        s = fx_ok(f);
        snprintf(want, sizeof(want), "%s --create-container-hooks %s/create-hooks", f->opts.init_path, f->run_dir);
        assert_string_equal(lxc_spec_get(s, "lxc.hook.mount"), want);
        assert_int_equal(json_array_size(json_object_get(s->hooks, "createContainer")), 1);
        lxc_spec_free(s);
        /* liblxc runs it through sh -c: no path that needs quoting. */
        f->opts.run_dir = "/run/a dir/run";
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "hooks.createContainer");
        assert_contains(msg, "/run/a dir/run");
        free(msg);
}

/* What `features` lists: every kind the translation accepts, and only those. */
static void test_supported_hooks_for_features(void **state)
{
        static const char *const kinds[] = { "createRuntime", "createContainer", "prestart", "startContainer",
                                             "poststart", "poststop" };
        struct fx *f = *state;
        json_t *a = lxc_supported_hooks(), *v;
        size_t i;

        assert_non_null(a);
        assert_int_equal(json_array_size(a), sizeof(kinds) / sizeof(kinds[0]));
        json_array_foreach(a, i, v) {
                assert_string_equal(json_string_value(v), kinds[i]);
                fx_set(f, "hooks", NULL, json_pack("{s:[{s:s}]}", kinds[i], "path", "/bin/true"));
                OK(f);
                lxc_spec_free(s);
        }
        json_decref(a);
}

static void test_start_container_hooks_are_kept_for_init(void **state)
{
        struct fx *f = *state;

        fx_set(f, "hooks", NULL, json_pack("{s:[{s:s}]}", "startContainer", "path", "/bin/true"));
        OK(f);
        assert_int_equal(json_array_size(json_object_get(s->hooks, "startContainer")), 1);
        lxc_spec_free(s);
}

static void test_hook_fields_are_checked(void **state)
{
        struct fx *f = *state;
        char *msg;

        fx_set(f, "hooks", NULL, json_pack("{s:[{s:s}]}", "prestart", "path", "bin/true"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "hooks.prestart[0].path");
        free(msg);
        fx_set(f, "hooks", NULL, json_pack("{s:[{s:s, s:i}]}", "poststop", "path", "/bin/true", "timeout", 0));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "hooks.poststop[0].timeout");
        free(msg);
        fx_set(f, "hooks", NULL, json_pack("{s:[{s:s, s:[i]}]}", "poststart", "path", "/bin/true", "args", 1));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "hooks.poststart[0].args[0]");
        free(msg);
        fx_set(f, "hooks", NULL, json_pack("{s:[{s:s}]}", "preStart", "path", "/bin/true"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "hooks.preStart");
        free(msg);
}

static void test_console_none_and_autodev(void **state)
{
        struct fx *f = *state;
        OK(f);

        assert_string_equal(lxc_spec_get(s, "lxc.console.path"), "none");
        assert_string_equal(lxc_spec_get(s, "lxc.autodev"), "1");
        lxc_spec_free(s);
}

static void test_config_text_is_key_value_lines(void **state)
{
        struct fx *f = *state;
        char *text;
        OK(f);

        text = lxc_spec_config_text(s);
        assert_contains(text, "lxc.rootfs.managed = 0\n");
        assert_contains(text, "lxc.init.cmd = " LXC_INIT_PATH "\n");
        assert_int_equal(text[strlen(text) - 1], '\n');
        free(text);
        lxc_spec_free(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_root_path_relative_to_bundle),
                T(test_root_readonly),
                T(test_root_missing_is_error),
                T(test_process_args_and_env_go_to_init),
                T(test_process_without_args_is_error),
                T(test_process_cwd),
                T(test_process_user_and_groups),
                T(test_process_negative_uid_is_error),
                T(test_process_rlimits),
                T(test_process_bad_rlimit_is_error),
                T(test_process_no_new_privileges),
                T(test_capabilities_bounding_to_keep),
                T(test_capabilities_empty_bounding_keeps_what_init_needs),
                T(test_capabilities_absent_leave_them_alone),
                T(test_capabilities_for_non_root),
                T(test_capabilities_bad_name_is_error),
                T(test_oom_score_adj),
                T(test_terminal_goes_to_init),
                T(test_hostname),
                T(test_hostname_without_uts_namespace_is_error),
                T(test_annotations_kept),
                T(test_preserve_fds_go_to_init),
                T(test_hooks_are_kept_for_pxcri),
                T(test_empty_in_container_hooks_are_accepted),
                T(test_create_container_hooks_go_to_the_mount_hook),
                T(test_supported_hooks_for_features),
                T(test_start_container_hooks_are_kept_for_init),
                T(test_hook_fields_are_checked),
                T(test_console_none_and_autodev),
                T(test_config_text_is_key_value_lines),
        };

        return unit_run(tests);
}
