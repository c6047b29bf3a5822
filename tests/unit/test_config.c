/* config: built-in defaults, overrides, warnings, errors that name the key. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static struct config *parse_ok(const char *text)
{
        struct pxe *e = NULL;
        struct config *c = NULL;
        int r = config_parse(text, "test.json", &c, &e);

        if (r < 0)
                print_error("config_parse: %s\n", e ? e->msg : "(no message)");
        assert_int_equal(r, 0);
        assert_null(e);
        assert_non_null(c);
        return c;
}

/* Parse text that must fail with EINVAL; returns the message (caller frees). */
static char *parse_fails(const char *text)
{
        struct pxe *e = NULL;
        struct config *c = (struct config *) &c; /* sentinel: must stay untouched */
        char *msg;

        assert_int_equal(config_parse(text, "test.json", &c, &e), -EINVAL);
        assert_ptr_equal(c, &c);
        assert_non_null(e);
        assert_int_equal(e->code, EINVAL);
        msg = e->msg;
        e->msg = NULL;
        pxe_free(e);
        return msg;
}

static void expect_error(const char *text, const char *needle)
{
        char *msg = parse_fails(text);

        assert_contains(msg, "test.json");
        assert_contains(msg, needle);
        free(msg);
}

static bool has_warning(const struct config *c, const char *needle)
{
        for (size_t i = 0; i < c->n_warnings; i++)
                if (strstr(c->warnings[i], needle))
                        return true;
        return false;
}

static void expect_warning(const char *text, const char *needle)
{
        struct config *c = parse_ok(text);

        if (!has_warning(c, needle)) {
                for (size_t i = 0; i < c->n_warnings; i++)
                        print_error("warning: %s\n", c->warnings[i]);
                fail_msg("no warning mentions \"%s\"", needle);
        }
        assert_true(has_warning(c, "test.json"));
        config_free(c);
}

static void test_defaults_root_and_level(void **state)
{
        struct config *c = parse_ok("{}");

        assert_string_equal(c->root_path, "/run/pxcri");
        assert_int_equal(c->log_level, LOG_LEVEL_INFO);
        assert_int_equal(c->default_backend, BACKEND_CRUN);
        config_free(c);
}

static void test_defaults_routing_rules(void **state)
{
        struct config *c = parse_ok("{}");

        assert_int_equal(c->n_rules, 3);
        assert_string_equal(c->rules[0].image.text, "lxc/*");
        assert_string_equal(c->rules[1].image.text, "db-*");
        assert_string_equal(c->rules[2].image.text, "vm-*");
        for (size_t i = 0; i < c->n_rules; i++) {
                assert_int_equal(c->rules[i].runtime, BACKEND_PROXMOX);
                assert_null(c->rules[i].pattern.text);
        }
        config_free(c);
}

static void test_defaults_crun_name_patterns(void **state)
{
        struct config *c = parse_ok("{}");

        assert_int_equal(c->n_crun_name_patterns, 2);
        assert_string_equal(c->crun_name_patterns[0].text, "kube-ovn-*");
        assert_string_equal(c->crun_name_patterns[1].text, "cilium-*");
        config_free(c);
}

static void test_defaults_backend_paths(void **state)
{
        struct config *c = parse_ok("{}");

        assert_string_equal(c->backends[BACKEND_CRUN].path, "/usr/bin/crun");
        assert_string_equal(c->backends[BACKEND_RUNC].path, "/usr/sbin/runc");
        assert_null(c->backends[BACKEND_LXC].path);
        assert_null(c->backends[BACKEND_PROXMOX].path);
        config_free(c);
}

static void test_defaults_have_no_warnings(void **state)
{
        struct config *c = parse_ok("{}");

        assert_int_equal(c->n_warnings, 0);
        config_free(c);
}

static void test_parse_records_source(void **state)
{
        struct config *c = parse_ok("{}");

        assert_string_equal(c->source, "test.json");
        config_free(c);
}

static void test_file_keys_override_defaults(void **state)
{
        struct config *c = parse_ok("{\"runtime\": {\"root_path\": \"/var/run/other\", \"log_level\": \"warn\"},"
                                    " \"container_config\": {\"default_container_type\": \"runc\"},"
                                    " \"backends\": {\"crun\": {\"path\": \"/opt/crun\"}}}");

        assert_string_equal(c->root_path, "/var/run/other");
        assert_int_equal(c->log_level, LOG_LEVEL_WARN);
        assert_int_equal(c->default_backend, BACKEND_RUNC);
        assert_string_equal(c->backends[BACKEND_CRUN].path, "/opt/crun");
        config_free(c);
}

static void test_keys_not_in_file_keep_defaults(void **state)
{
        struct config *c = parse_ok("{\"runtime\": {\"root_path\": \"/x\"}}");

        assert_int_equal(c->n_rules, 3);
        assert_int_equal(c->n_crun_name_patterns, 2);
        assert_string_equal(c->backends[BACKEND_RUNC].path, "/usr/sbin/runc");
        config_free(c);
}

static void test_routing_list_replaces_default(void **state)
{
        struct config *c = parse_ok("{\"runtime\": {\"routing\": [{\"pattern\": \"web-*\", \"runtime\": \"lxc\"}]}}");

        assert_int_equal(c->n_rules, 1);
        assert_string_equal(c->rules[0].pattern.text, "web-*");
        assert_null(c->rules[0].image.text);
        assert_int_equal(c->rules[0].runtime, BACKEND_LXC);
        config_free(c);
}

static void test_empty_routing_list_removes_rules(void **state)
{
        struct config *c = parse_ok("{\"runtime\": {\"routing\": []}}");

        assert_int_equal(c->n_rules, 0);
        config_free(c);
}

static void test_name_patterns_list_replaces_default(void **state)
{
        struct config *c = parse_ok("{\"container_config\": {\"crun_name_patterns\": [\"^sys-[a-z]+$\"]}}");

        assert_int_equal(c->n_crun_name_patterns, 1);
        assert_string_equal(c->crun_name_patterns[0].text, "^sys-[a-z]+$");
        assert_true(c->crun_name_patterns[0].is_regex);
        config_free(c);
}

static void test_rule_with_every_condition(void **state)
{
        struct config *c = parse_ok("{\"runtime\": {\"routing\": [{\"pattern\": \"^a$\", \"image\": \"i*\","
                                    " \"handler\": \"kata\", \"annotation\": \"tier=db-*\", \"runtime\": \"runc\"}]}}");
        const struct route_rule *r = &c->rules[0];

        assert_true(r->pattern.is_regex);
        assert_false(r->image.is_regex);
        assert_string_equal(r->handler.text, "kata");
        assert_string_equal(r->annotation_key, "tier");
        assert_string_equal(r->annotation_value.text, "db-*");
        assert_int_equal(r->runtime, BACKEND_RUNC);
        config_free(c);
}

static void test_annotation_rule_key_only(void **state)
{
        struct config *c = parse_ok("{\"runtime\": {\"routing\": [{\"annotation\": \"pxcri.io/vm\", \"runtime\": \"proxmox\"}]}}");

        assert_string_equal(c->rules[0].annotation_key, "pxcri.io/vm");
        assert_null(c->rules[0].annotation_value.text);
        config_free(c);
}

static void test_warning_unknown_top_level_key(void **state)
{
        expect_warning("{\"bogus\": 1}", "unknown key bogus");
}

static void test_warning_unknown_runtime_key(void **state)
{
        expect_warning("{\"runtime\": {\"foo\": true}}", "runtime.foo");
}

static void test_warning_unknown_rule_key(void **state)
{
        expect_warning("{\"runtime\": {\"routing\": [{\"image\": \"x\", \"runtime\": \"lxc\", \"bogus\": 1}]}}",
                       "runtime.routing[0].bogus");
}

static void test_warning_unknown_container_config_key(void **state)
{
        expect_warning("{\"container_config\": {\"nope\": 1}}", "container_config.nope");
}

static void test_warning_unknown_backend_name(void **state)
{
        expect_warning("{\"backends\": {\"nope\": {}}}", "backends.nope");
}

static void test_warning_unknown_backend_key(void **state)
{
        expect_warning("{\"backends\": {\"crun\": {\"bogus\": 1}}}", "backends.crun.bogus");
}

static void test_warning_path_on_backend_without_binary(void **state)
{
        expect_warning("{\"backends\": {\"lxc\": {\"path\": \"/usr/bin/lxc\"}}}", "backends.lxc.path");
}

static void test_error_rule_pattern_type(void **state)
{
        expect_error("{\"runtime\": {\"routing\": [{\"image\": \"a\", \"runtime\": \"lxc\"},"
                     " {\"pattern\": 42, \"runtime\": \"lxc\"}]}}",
                     "runtime.routing[1].pattern");
}

static void test_error_default_container_type_type(void **state)
{
        expect_error("{\"container_config\": {\"default_container_type\": 5}}",
                     "container_config.default_container_type");
}

static void test_error_root_path_type(void **state)
{
        expect_error("{\"runtime\": {\"root_path\": 1}}", "runtime.root_path");
}

static void test_error_runtime_not_object(void **state)
{
        expect_error("{\"runtime\": []}", "runtime: expected an object");
}

static void test_error_routing_not_array(void **state)
{
        expect_error("{\"runtime\": {\"routing\": {}}}", "runtime.routing");
}

static void test_error_rule_not_object(void **state)
{
        expect_error("{\"runtime\": {\"routing\": [\"lxc\"]}}", "runtime.routing[0]");
}

static void test_error_name_pattern_type(void **state)
{
        expect_error("{\"container_config\": {\"crun_name_patterns\": [\"a-*\", 3]}}",
                     "container_config.crun_name_patterns[1]");
}

static void test_error_name_patterns_not_array(void **state)
{
        expect_error("{\"container_config\": {\"crun_name_patterns\": \"a-*\"}}",
                     "container_config.crun_name_patterns");
}

static void test_error_backend_path_type(void **state)
{
        expect_error("{\"backends\": {\"runc\": {\"path\": false}}}", "backends.runc.path");
}

static void test_error_backend_not_object(void **state)
{
        expect_error("{\"backends\": {\"crun\": \"/usr/bin/crun\"}}", "backends.crun");
}

static void test_error_log_level_unknown(void **state)
{
        expect_error("{\"runtime\": {\"log_level\": \"loud\"}}", "runtime.log_level");
}

static void test_error_unknown_backend_in_rule(void **state)
{
        char *msg = parse_fails("{\"runtime\": {\"routing\": [{\"image\": \"a\", \"runtime\": \"kata\"}]}}");

        assert_contains(msg, "runtime.routing[0].runtime");
        assert_contains(msg, "\"kata\"");
        free(msg);
}

static void test_error_unknown_default_container_type(void **state)
{
        char *msg = parse_fails("{\"container_config\": {\"default_container_type\": \"docker\"}}");

        assert_contains(msg, "container_config.default_container_type");
        assert_contains(msg, "\"docker\"");
        free(msg);
}

static void test_error_invalid_regex(void **state)
{
        char *msg = parse_fails("{\"runtime\": {\"routing\": [{\"pattern\": \"^(a$\", \"runtime\": \"lxc\"}]}}");

        assert_contains(msg, "runtime.routing[0].pattern");
        assert_contains(msg, "^(a$");
        free(msg);
}

static void test_error_invalid_regex_in_name_patterns(void **state)
{
        expect_error("{\"container_config\": {\"crun_name_patterns\": [\"^[z-a]$\"]}}",
                     "container_config.crun_name_patterns[0]");
}

static void test_error_empty_pattern(void **state)
{
        expect_error("{\"runtime\": {\"routing\": [{\"image\": \"\", \"runtime\": \"lxc\"}]}}",
                     "runtime.routing[0].image");
}

static void test_error_relative_root_path(void **state)
{
        expect_error("{\"runtime\": {\"root_path\": \"run/pxcri\"}}", "absolute");
}

static void test_error_relative_backend_path(void **state)
{
        char *msg = parse_fails("{\"backends\": {\"crun\": {\"path\": \"crun\"}}}");

        assert_contains(msg, "backends.crun.path");
        assert_contains(msg, "absolute");
        free(msg);
}

static void test_error_invalid_json_names_line_and_column(void **state)
{
        char *msg = parse_fails("{\n  \"runtime\": {\n    \"root_path\": ,\n  }\n}\n");

        assert_contains(msg, "invalid JSON");
        assert_contains(msg, "line 3");
        assert_contains(msg, "column");
        free(msg);
}

static void test_error_top_level_not_object(void **state)
{
        expect_error("[1, 2]", "object");
}

static void test_error_duplicate_keys(void **state)
{
        expect_error("{\"runtime\": {\"root_path\": \"/a\", \"root_path\": \"/b\"}}", "duplicate");
}

static void test_error_rule_without_runtime(void **state)
{
        char *msg = parse_fails("{\"runtime\": {\"routing\": [{\"image\": \"a\"}]}}");

        assert_contains(msg, "runtime.routing[0]");
        assert_contains(msg, "missing \"runtime\"");
        free(msg);
}

static void test_error_rule_without_condition(void **state)
{
        char *msg = parse_fails("{\"runtime\": {\"routing\": [{\"image\": \"a\", \"runtime\": \"lxc\"},"
                                " {\"runtime\": \"lxc\"}]}}");

        assert_contains(msg, "runtime.routing[1]");
        assert_contains(msg, "needs one of");
        free(msg);
}

static void test_error_annotation_rule_empty_key(void **state)
{
        expect_error("{\"runtime\": {\"routing\": [{\"annotation\": \"=v\", \"runtime\": \"lxc\"}]}}",
                     "annotation key is empty");
}

static void test_error_annotation_rule_empty_value(void **state)
{
        expect_error("{\"runtime\": {\"routing\": [{\"annotation\": \"k=\", \"runtime\": \"lxc\"}]}}",
                     "runtime.routing[0].annotation");
}

/* Regression (found by this test, fixed): config_parse() returns -pxe_code(err, ENOMEM) after a failed parse,
 * so with err == NULL an invalid file reads as -ENOMEM.  Expected: the
 * code apply_json() returned (-EINVAL); keep it in a local and return it. */
static void test_error_code_without_err(void **state)
{
        struct config *c = NULL;

        assert_int_equal(config_parse("{", "test.json", &c, NULL), -EINVAL);
        assert_null(c);
}

/* config_load */

struct env_fixture {
        char *dir;
        char *saved;
};

static int env_setup(void **state)
{
        struct env_fixture *f = calloc(1, sizeof(*f));
        const char *v = getenv("PXCRI_CONFIG");

        f->dir = unit_mkdtemp();
        f->saved = v ? strdup(v) : NULL;
        unsetenv("PXCRI_CONFIG");
        *state = f;
        return 0;
}

static int env_teardown(void **state)
{
        struct env_fixture *f = *state;

        if (f->saved)
                setenv("PXCRI_CONFIG", f->saved, 1);
        else
                unsetenv("PXCRI_CONFIG");
        unit_rm_rf(f->dir);
        free(f->saved);
        free(f->dir);
        free(f);
        return 0;
}

static char *write_config(struct env_fixture *f, const char *name, const char *text)
{
        char *p = unit_path(f->dir, name);

        unit_write(p, text);
        return p;
}

static void test_load_explicit_path(void **state)
{
        struct env_fixture *f = *state;
        char *p = write_config(f, "c.json", "{\"runtime\": {\"root_path\": \"/explicit\"}}");
        _cleanup_config_ struct config *c = NULL;

        assert_int_equal(config_load(p, &c, NULL), 0);
        assert_string_equal(c->root_path, "/explicit");
        assert_string_equal(c->source, p);
        free(p);
}

static void test_load_explicit_missing_path_fails(void **state)
{
        struct env_fixture *f = *state;
        _cleanup_pxe_ struct pxe *e = NULL;
        struct config *c = NULL;
        char *p = unit_path(f->dir, "missing.json");

        assert_int_equal(config_load(p, &c, &e), -ENOENT);
        assert_null(c);
        assert_contains(e->msg, "Loading configuration");
        assert_contains(e->msg, p);
        free(p);
}

/* Regression (found by this test, fixed): config_load() returns pxe_wrap(err, ...), and pxe_wrap() returns -EIO
 * when err is NULL, so a missing file reads as -EIO for callers that pass no
 * err.  Expected: -ENOENT; keep fs_read_file()'s return value, wrap, and
 * return the saved value.  Other `return pxe_wrap(...)` sites share this. */
static void test_load_missing_path_code_without_err(void **state)
{
        struct env_fixture *f = *state;
        struct config *c = NULL;
        char *p;

        p = unit_path(f->dir, "missing.json");
        assert_int_equal(config_load(p, &c, NULL), -ENOENT);
        free(p);
}

static void test_load_invalid_file_fails_naming_it(void **state)
{
        struct env_fixture *f = *state;
        _cleanup_pxe_ struct pxe *e = NULL;
        struct config *c = NULL;
        char *p = write_config(f, "bad.json", "{\"runtime\": {\"root_path\": 7}}");

        assert_int_equal(config_load(p, &c, &e), -EINVAL);
        assert_contains(e->msg, p);
        assert_contains(e->msg, "runtime.root_path");
        free(p);
}

static void test_load_honours_env(void **state)
{
        struct env_fixture *f = *state;
        char *p = write_config(f, "env.json", "{\"runtime\": {\"root_path\": \"/from-env\"}}");
        _cleanup_config_ struct config *c = NULL;

        setenv("PXCRI_CONFIG", p, 1);
        assert_int_equal(config_load(NULL, &c, NULL), 0);
        assert_string_equal(c->root_path, "/from-env");
        assert_string_equal(c->source, p);
        free(p);
}

static void test_load_explicit_path_beats_env(void **state)
{
        struct env_fixture *f = *state;
        char *env = write_config(f, "env.json", "{\"runtime\": {\"root_path\": \"/from-env\"}}");
        char *p = write_config(f, "cli.json", "{\"runtime\": {\"root_path\": \"/from-cli\"}}");
        _cleanup_config_ struct config *c = NULL;

        setenv("PXCRI_CONFIG", env, 1);
        assert_int_equal(config_load(p, &c, NULL), 0);
        assert_string_equal(c->root_path, "/from-cli");
        free(env);
        free(p);
}

static void test_load_env_naming_missing_file_fails(void **state)
{
        struct env_fixture *f = *state;
        _cleanup_pxe_ struct pxe *e = NULL;
        struct config *c = NULL;
        char *p = unit_path(f->dir, "gone.json");

        setenv("PXCRI_CONFIG", p, 1);
        assert_int_equal(config_load(NULL, &c, &e), -ENOENT);
        assert_contains(e->msg, p);
        free(p);
}

static void test_load_without_anything_is_built_in(void **state)
{
        _cleanup_config_ struct config *c = NULL;

        if (access(CONFIG_DEFAULT_PATH, F_OK) == 0)
                skip(); /* this machine has a real configuration */
        assert_int_equal(config_load(NULL, &c, NULL), 0);
        assert_string_equal(c->source, "built-in defaults");
        assert_string_equal(c->root_path, "/run/pxcri");
}

static void test_backend_names(void **state)
{
        assert_int_equal(backend_id_from_name("crun"), BACKEND_CRUN);
        assert_int_equal(backend_id_from_name("runc"), BACKEND_RUNC);
        assert_int_equal(backend_id_from_name("lxc"), BACKEND_LXC);
        assert_int_equal(backend_id_from_name("proxmox"), BACKEND_PROXMOX);
        assert_int_equal(backend_id_from_name("Crun"), BACKEND_INVALID);
        assert_int_equal(backend_id_from_name(NULL), BACKEND_INVALID);
        assert_string_equal(backend_id_to_name(BACKEND_PROXMOX), "proxmox");
        assert_string_equal(backend_id_to_name(BACKEND_INVALID), "unknown");
        assert_string_equal(backend_id_to_name(BACKEND_MAX), "unknown");
}

#define E(fn) cmocka_unit_test_setup_teardown(fn, env_setup, env_teardown)

/* ---- the cri section (pxcrid) ---- */

static void test_cri_defaults(void **state)
{
        struct config *c = parse_ok("{}");
        const struct cri_handler_config *h;

        assert_string_equal(c->cri.listen, "/run/pxcri/pxcri.sock");
        assert_string_equal(c->cri.state_dir, "/var/lib/pxcri/cri");
        assert_string_equal(c->cri.cni_conf_dir, "/etc/cni/net.d");
        assert_int_equal(c->cri.n_cni_bin_dirs, 2);
        assert_string_equal(c->cri.cni_bin_dirs[0], "/usr/lib/cni");
        assert_int_equal(c->cri.cgroup_driver, CGROUP_DRIVER_CGROUPFS);
        h = cri_config_handler(&c->cri, "");
        assert_non_null(h);
        assert_int_equal(h->backend, BACKEND_INVALID); /* "" routes by the rules */
        h = cri_config_handler(&c->cri, "runc");
        assert_non_null(h);
        assert_int_equal(h->backend, BACKEND_RUNC);
        assert_non_null(cri_config_handler(&c->cri, "proxmox"));
        assert_null(cri_config_handler(&c->cri, "kata"));
        config_free(c);
}

static void test_cri_keys(void **state)
{
        struct config *c = parse_ok("{\"cri\": {\"listen\": \"/run/x/s.sock\", \"cni_bin_dirs\": [\"/opt/cni\"],"
                                    " \"runtime_handlers\": {\"fast\": \"crun\", \"\": null, \"db\": \"proxmox\"},"
                                    " \"cgroup_driver\": \"systemd\", \"workers\": 4, \"cni_plugin_timeout_s\": 5}}");

        assert_string_equal(c->cri.listen, "/run/x/s.sock");
        assert_int_equal(c->cri.n_cni_bin_dirs, 1);
        assert_string_equal(c->cri.cni_bin_dirs[0], "/opt/cni");
        assert_int_equal(c->cri.cgroup_driver, CGROUP_DRIVER_SYSTEMD);
        assert_int_equal(c->cri.workers, 4);
        assert_int_equal(c->cri.cni_plugin_timeout_s, 5);
        assert_int_equal(cri_config_handler(&c->cri, "fast")->backend, BACKEND_CRUN);
        assert_int_equal(cri_config_handler(&c->cri, "db")->backend, BACKEND_PROXMOX);
        assert_null(cri_config_handler(&c->cri, "runc")); /* the object replaces the defaults */
        assert_int_equal(c->n_warnings, 0);
        config_free(c);
}

static void test_cri_errors_and_warnings(void **state)
{
        struct config *c;

        expect_error("{\"cri\": {\"listen\": \"rel/sock\"}}", "cri.listen");
        expect_error("{\"cri\": {\"state_dir\": 5}}", "cri.state_dir");
        expect_error("{\"cri\": {\"runtime_handlers\": {\"x\": \"kata\"}}}", "cri.runtime_handlers.x");
        expect_error("{\"cri\": {\"runtime_handlers\": []}}", "cri.runtime_handlers");
        expect_error("{\"cri\": {\"cgroup_driver\": \"cgroupv3\"}}", "cri.cgroup_driver");
        expect_error("{\"cri\": {\"cni_bin_dirs\": [\"lib/cni\"]}}", "cri.cni_bin_dirs[0]");
        expect_error("{\"cri\": {\"workers\": 0}}", "cri.workers");
        expect_error("{\"cri\": {\"cni_plugin_timeout_s\": 0}}", "cri.cni_plugin_timeout_s");
        expect_error("{\"cri\": []}", "cri");
        expect_error("{\"cri\": {\"pod_annotations\": \"pxcri.io/*\"}}", "cri.pod_annotations");
        expect_error("{\"cri\": {\"pod_annotations\": [\"a/*\", 7]}}", "cri.pod_annotations[1]");
        expect_error("{\"cri\": {\"pod_annotations\": [\"^a(b$\"]}}", "cri.pod_annotations[0]");
        c = parse_ok("{\"cri\": {\"pod_annotations\": [\"pxcri.io/*\", \"^example\\\\.com/.*$\"]}}");
        assert_int_equal(c->cri.n_pod_annotations, 2);
        assert_true(matchers_any(c->cri.pod_annotations, 2, "pxcri.io/backend"));
        assert_true(matchers_any(c->cri.pod_annotations, 2, "example.com/team"));
        assert_false(matchers_any(c->cri.pod_annotations, 2, "exampleXcom/team"));
        assert_false(matchers_any(c->cri.pod_annotations, 2, "kubernetes.io/config.seen"));
        config_free(c);
        c = parse_ok("{}");
        assert_int_equal(c->cri.n_pod_annotations, 0); /* none by default */
        config_free(c);
        c = parse_ok("{\"cri\": {\"lisen\": \"/x\"}}");
        assert_int_equal(c->n_warnings, 1);
        assert_non_null(strstr(c->warnings[0], "cri.lisen"));
        config_free(c);
}

/* The streaming server's TLS files: both or neither (a CA only with them). */
static void test_cri_stream_tls(void **state)
{
        struct config *c = parse_ok("{}");

        assert_null(c->cri.stream_tls_cert);
        assert_null(c->cri.stream_tls_key);
        assert_null(c->cri.stream_tls_ca);
        config_free(c);
        c = parse_ok("{\"cri\": {\"stream_address\": \"0.0.0.0\", \"stream_tls_cert\": \"/etc/pxcri/s.pem\","
                     " \"stream_tls_key\": \"/etc/pxcri/s.key\", \"stream_tls_ca\": \"/etc/pxcri/ca.pem\"}}");
        assert_string_equal(c->cri.stream_tls_cert, "/etc/pxcri/s.pem");
        assert_string_equal(c->cri.stream_tls_key, "/etc/pxcri/s.key");
        assert_string_equal(c->cri.stream_tls_ca, "/etc/pxcri/ca.pem");
        assert_int_equal(c->n_warnings, 0);
        config_free(c);
        c = parse_ok("{\"cri\": {\"stream_tls_cert\": \"/s.pem\", \"stream_tls_key\": \"/s.key\"}}");
        assert_null(c->cri.stream_tls_ca);
        config_free(c);
        expect_error("{\"cri\": {\"stream_tls_cert\": \"/s.pem\"}}",
                     "cri.stream_tls_cert is set without cri.stream_tls_key");
        expect_error("{\"cri\": {\"stream_tls_key\": \"/s.key\"}}",
                     "cri.stream_tls_key is set without cri.stream_tls_cert");
        expect_error("{\"cri\": {\"stream_tls_ca\": \"/ca.pem\"}}", "cri.stream_tls_ca");
        expect_error("{\"cri\": {\"stream_tls_cert\": \"s.pem\", \"stream_tls_key\": \"/s.key\"}}",
                     "cri.stream_tls_cert: must be an absolute path");
        expect_error("{\"cri\": {\"stream_tls_cert\": \"/s.pem\", \"stream_tls_key\": 7}}", "cri.stream_tls_key");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cri_defaults),
                cmocka_unit_test(test_cri_keys),
                cmocka_unit_test(test_cri_errors_and_warnings),
                cmocka_unit_test(test_cri_stream_tls),
                cmocka_unit_test(test_defaults_root_and_level),
                cmocka_unit_test(test_defaults_routing_rules),
                cmocka_unit_test(test_defaults_crun_name_patterns),
                cmocka_unit_test(test_defaults_backend_paths),
                cmocka_unit_test(test_defaults_have_no_warnings),
                cmocka_unit_test(test_parse_records_source),
                cmocka_unit_test(test_file_keys_override_defaults),
                cmocka_unit_test(test_keys_not_in_file_keep_defaults),
                cmocka_unit_test(test_routing_list_replaces_default),
                cmocka_unit_test(test_empty_routing_list_removes_rules),
                cmocka_unit_test(test_name_patterns_list_replaces_default),
                cmocka_unit_test(test_rule_with_every_condition),
                cmocka_unit_test(test_annotation_rule_key_only),
                cmocka_unit_test(test_warning_unknown_top_level_key),
                cmocka_unit_test(test_warning_unknown_runtime_key),
                cmocka_unit_test(test_warning_unknown_rule_key),
                cmocka_unit_test(test_warning_unknown_container_config_key),
                cmocka_unit_test(test_warning_unknown_backend_name),
                cmocka_unit_test(test_warning_unknown_backend_key),
                cmocka_unit_test(test_warning_path_on_backend_without_binary),
                cmocka_unit_test(test_error_rule_pattern_type),
                cmocka_unit_test(test_error_default_container_type_type),
                cmocka_unit_test(test_error_root_path_type),
                cmocka_unit_test(test_error_runtime_not_object),
                cmocka_unit_test(test_error_routing_not_array),
                cmocka_unit_test(test_error_rule_not_object),
                cmocka_unit_test(test_error_name_pattern_type),
                cmocka_unit_test(test_error_name_patterns_not_array),
                cmocka_unit_test(test_error_backend_path_type),
                cmocka_unit_test(test_error_backend_not_object),
                cmocka_unit_test(test_error_log_level_unknown),
                cmocka_unit_test(test_error_unknown_backend_in_rule),
                cmocka_unit_test(test_error_unknown_default_container_type),
                cmocka_unit_test(test_error_invalid_regex),
                cmocka_unit_test(test_error_invalid_regex_in_name_patterns),
                cmocka_unit_test(test_error_empty_pattern),
                cmocka_unit_test(test_error_relative_root_path),
                cmocka_unit_test(test_error_relative_backend_path),
                cmocka_unit_test(test_error_invalid_json_names_line_and_column),
                cmocka_unit_test(test_error_top_level_not_object),
                cmocka_unit_test(test_error_duplicate_keys),
                cmocka_unit_test(test_error_rule_without_runtime),
                cmocka_unit_test(test_error_rule_without_condition),
                cmocka_unit_test(test_error_annotation_rule_empty_key),
                cmocka_unit_test(test_error_annotation_rule_empty_value),
                cmocka_unit_test(test_error_code_without_err),
                E(test_load_explicit_path),
                E(test_load_explicit_missing_path_fails),
                E(test_load_missing_path_code_without_err),
                E(test_load_invalid_file_fails_naming_it),
                E(test_load_honours_env),
                E(test_load_explicit_path_beats_env),
                E(test_load_env_naming_missing_file_fails),
                E(test_load_without_anything_is_built_in),
                cmocka_unit_test(test_backend_names),
        };

        return unit_run(tests);
}
