/* router: matchers and the order in which a backend is chosen. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/match.h"
#include "router/router.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static struct config *cfg(const char *text)
{
        struct pxe *e = NULL;
        struct config *c = NULL;

        if (config_parse(text, "test.json", &c, &e) < 0)
                fail_msg("config_parse: %s", e->msg);
        return c;
}

/* A config with one rule and no name patterns, default lxc. */
static struct config *one_rule(const char *rule)
{
        char text[1024];

        snprintf(text, sizeof(text),
                 "{\"runtime\": {\"routing\": [%s]}, \"container_config\":"
                 " {\"crun_name_patterns\": [], \"default_container_type\": \"lxc\"}}",
                 rule);
        return cfg(text);
}

static struct route_result pick(const struct config *c, const struct route_input *in)
{
        struct route_result r = { .backend = BACKEND_INVALID };
        struct pxe *e = NULL;

        if (router_pick(c, in, &r, &e) < 0)
                fail_msg("router_pick: %s", e->msg);
        assert_null(e);
        return r;
}

/* Whether a one-rule config routes in to the rule (runc) or falls through (lxc). */
static bool rule_hits(const char *rule, const struct route_input *in)
{
        struct config *c = one_rule(rule);
        struct route_result r = pick(c, in);

        config_free(c);
        assert_true(r.backend == BACKEND_RUNC || r.backend == BACKEND_LXC);
        return r.backend == BACKEND_RUNC;
}

static bool image_hits(const char *glob, const char *image)
{
        char rule[256];
        struct route_input in = { .id = "c1", .image = image };

        snprintf(rule, sizeof(rule), "{\"image\": \"%s\", \"runtime\": \"runc\"}", glob);
        return rule_hits(rule, &in);
}

static bool matches(const char *pattern, const char *s)
{
        struct matcher m;
        bool ok;

        assert_int_equal(matcher_compile(&m, pattern, NULL), 0);
        ok = matcher_match(&m, s);
        matcher_done(&m);
        return ok;
}

/* matchers */

static void test_glob_matches(void **state)
{
        assert_true(matches("web-*", "web-1"));
        assert_true(matches("web-?", "web-1"));
        assert_true(matches("web-[0-9]", "web-7"));
        assert_false(matches("web-*", "xweb-1"));
        assert_false(matches("web-?", "web-12"));
}

static void test_glob_star_crosses_slash(void **state)
{
        assert_true(matches("lxc/*", "lxc/a/b:1"));
        assert_true(matches("*nginx*", "docker.io/library/nginx:1"));
}

static void test_regex_when_anchored(void **state)
{
        struct matcher m;

        assert_int_equal(matcher_compile(&m, "^web-[0-9]+$", NULL), 0);
        assert_true(m.is_regex);
        assert_true(matcher_match(&m, "web-12"));
        assert_false(matcher_match(&m, "web-x"));
        assert_false(matcher_match(&m, "xweb-12"));
        assert_false(matcher_match(&m, "web-12x"));
        matcher_done(&m);
}

static void test_regex_is_extended(void **state)
{
        assert_true(matches("^(db|vm)-[a-z]{2}$", "vm-ab"));
        assert_false(matches("^(db|vm)-[a-z]{2}$", "ct-ab"));
}

static void test_unanchored_is_glob(void **state)
{
        struct matcher m;

        assert_int_equal(matcher_compile(&m, "^web", NULL), 0);
        assert_false(m.is_regex);
        assert_true(matcher_match(&m, "^web"));
        assert_false(matcher_match(&m, "web"));
        matcher_done(&m);
}

static void test_matcher_invalid_regex(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        struct matcher m;

        assert_int_equal(matcher_compile(&m, "^(a$", &e), -EINVAL);
        assert_contains(e->msg, "^(a$");
        matcher_done(&m);
}

static void test_matcher_empty_pattern(void **state)
{
        struct matcher m;

        assert_int_equal(matcher_compile(&m, "", NULL), -EINVAL);
        matcher_done(&m);
}

static void test_matcher_null_string_never_matches(void **state)
{
        assert_false(matches("*", NULL));
        assert_false(matches("^.*$", NULL));
}

/* precedence */

static const char *const all_levels =
        "{\"runtime\": {\"routing\": [{\"pattern\": \"web-*\", \"runtime\": \"lxc\"}]},"
        " \"container_config\": {\"crun_name_patterns\": [\"cilium-*\"], \"default_container_type\": \"runc\"}}";

static void test_override_beats_rules(void **state)
{
        struct config *c = cfg(all_levels);
        struct route_input in = { .id = "web-1", .override = "proxmox" };
        struct route_result r = pick(c, &in);

        assert_int_equal(r.backend, BACKEND_PROXMOX);
        assert_string_equal(r.reason, "--runtime");
        config_free(c);
}

static void test_override_unknown_is_error(void **state)
{
        struct config *c = cfg(all_levels);
        struct route_input in = { .id = "web-1", .override = "kata" };
        _cleanup_pxe_ struct pxe *e = NULL;
        struct route_result r;

        assert_int_equal(router_pick(c, &in, &r, &e), -EINVAL);
        assert_contains(e->msg, "\"kata\"");
        assert_contains(e->msg, "--runtime");
        config_free(c);
}

static void test_rules_beat_backend_annotation(void **state)
{
        struct config *c = cfg(all_levels);
        const struct annotation a[] = { { ROUTER_BACKEND_ANNOTATION, "proxmox" } };
        struct route_input in = { .id = "web-1", .annotations = a, .n_annotations = 1 };

        assert_int_equal(pick(c, &in).backend, BACKEND_LXC);
        config_free(c);
}

static void test_backend_annotation_beats_name_patterns(void **state)
{
        struct config *c = cfg(all_levels);
        const struct annotation a[] = { { ROUTER_BACKEND_ANNOTATION, "proxmox" } };
        struct route_input in = { .id = "cilium-agent", .annotations = a, .n_annotations = 1 };
        struct route_result r = pick(c, &in);

        assert_int_equal(r.backend, BACKEND_PROXMOX);
        assert_string_equal(r.reason, "annotation " ROUTER_BACKEND_ANNOTATION);
        config_free(c);
}

static void test_backend_annotation_unknown_is_error(void **state)
{
        struct config *c = cfg(all_levels);
        const struct annotation a[] = { { ROUTER_BACKEND_ANNOTATION, "docker" } };
        struct route_input in = { .id = "x", .annotations = a, .n_annotations = 1 };
        _cleanup_pxe_ struct pxe *e = NULL;
        struct route_result r;

        assert_int_equal(router_pick(c, &in, &r, &e), -EINVAL);
        assert_contains(e->msg, "\"docker\"");
        assert_contains(e->msg, ROUTER_BACKEND_ANNOTATION);
        config_free(c);
}

static void test_name_patterns_beat_default(void **state)
{
        struct config *c = cfg(all_levels);
        struct route_input in = { .id = "cilium-agent" };
        struct route_result r = pick(c, &in);

        assert_int_equal(r.backend, BACKEND_CRUN);
        assert_string_equal(r.reason, "container_config.crun_name_patterns (cilium-*)");
        config_free(c);
}

static void test_default_when_nothing_matches(void **state)
{
        struct config *c = cfg(all_levels);
        struct route_input in = { .id = "other" };
        struct route_result r = pick(c, &in);

        assert_int_equal(r.backend, BACKEND_RUNC);
        assert_string_equal(r.reason, "container_config.default_container_type");
        config_free(c);
}

static void test_rules_in_file_order(void **state)
{
        struct config *c = cfg("{\"runtime\": {\"routing\": ["
                               "{\"pattern\": \"nomatch\", \"runtime\": \"crun\"},"
                               "{\"pattern\": \"web-*\", \"runtime\": \"proxmox\"},"
                               "{\"pattern\": \"*\", \"runtime\": \"lxc\"}]}}");
        struct route_input in = { .id = "web-1" };
        struct route_result r = pick(c, &in);

        assert_int_equal(r.backend, BACKEND_PROXMOX);
        assert_string_equal(r.reason, "runtime.routing[1] (pattern web-*)");
        config_free(c);
}

static void test_reason_names_image_rule(void **state)
{
        struct config *c = cfg("{}");
        struct route_input in = { .id = "c", .image = "docker.io/library/db-postgres:16" };
        struct route_result r = pick(c, &in);

        assert_int_equal(r.backend, BACKEND_PROXMOX);
        assert_string_equal(r.reason, "runtime.routing[1] (image db-*)");
        config_free(c);
}

static void test_reason_is_truncated_not_overrun(void **state)
{
        char rule[600], pat[401];
        struct config *c;
        struct route_input in = { .id = "x" };
        struct route_result r;

        memset(pat, '*', 400); /* long, and matches anything */
        pat[400] = '\0';
        snprintf(rule, sizeof(rule), "{\"pattern\": \"%s\", \"runtime\": \"runc\"}", pat);
        c = one_rule(rule);
        r = pick(c, &in);
        assert_int_equal(r.backend, BACKEND_RUNC);
        assert_int_equal(strlen(r.reason), sizeof(r.reason) - 1);
        config_free(c);
}

static void test_defaults_route_plain_image_to_crun(void **state)
{
        struct config *c = cfg("{}");
        struct route_input in = { .id = "c", .image = "docker.io/library/nginx:1.25" };

        assert_int_equal(pick(c, &in).backend, BACKEND_CRUN);
        config_free(c);
}

/* names */

static void test_pattern_tried_on_id(void **state)
{
        struct route_input in = { .id = "web-1" };

        assert_true(rule_hits("{\"pattern\": \"web-*\", \"runtime\": \"runc\"}", &in));
}

static void test_pattern_tried_on_name_annotations(void **state)
{
        static const char *const keys[] = {
                "io.kubernetes.cri.container-name",
                "io.kubernetes.container.name",
                "io.kubernetes.cri.sandbox-name",
                "io.kubernetes.pod.name",
        };

        for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
                const struct annotation a[] = { { "other", "x" }, { keys[i], "web-1" } };
                struct route_input in = { .id = "0123abcd", .annotations = a, .n_annotations = 2 };

                if (!rule_hits("{\"pattern\": \"web-*\", \"runtime\": \"runc\"}", &in))
                        fail_msg("pattern not tried on %s", keys[i]);
        }
}

static void test_pattern_not_tried_on_other_annotations(void **state)
{
        const struct annotation a[] = { { "io.kubernetes.pod.namespace", "web-1" } };
        struct route_input in = { .id = "0123abcd", .image = "web-1", .annotations = a, .n_annotations = 1 };

        assert_false(rule_hits("{\"pattern\": \"web-*\", \"runtime\": \"runc\"}", &in));
}

static void test_pattern_regex_on_id(void **state)
{
        struct route_input hit = { .id = "web-12" }, miss = { .id = "web-12a" };
        const char *rule = "{\"pattern\": \"^web-[0-9]+$\", \"runtime\": \"runc\"}";

        assert_true(rule_hits(rule, &hit));
        assert_false(rule_hits(rule, &miss));
}

/* images */

static void test_image_with_registry_and_library(void **state)
{
        assert_true(image_hits("db-*", "docker.io/library/db-postgres:16"));
}

static void test_image_with_registry_port(void **state)
{
        assert_true(image_hits("db-*", "registry.local:5000/db-x:1"));
        assert_true(image_hits("db-*", "registry:5000/db-x:1"));
}

static void test_image_with_localhost(void **state)
{
        assert_true(image_hits("db-*", "localhost/db-x"));
}

static void test_image_short_name(void **state)
{
        assert_true(image_hits("db-*", "db-x"));
        assert_true(image_hits("db-*", "library/db-x"));
}

static void test_image_as_written(void **state)
{
        assert_true(image_hits("registry.local:5000/db-*", "registry.local:5000/db-x:1"));
}

static void test_image_namespace_is_not_a_host(void **state)
{
        /* "myorg" has no dot or port: a Docker Hub namespace, kept. */
        assert_false(image_hits("db-*", "myorg/db-x"));
        assert_true(image_hits("myorg/*", "docker.io/myorg/db-x"));
}

static void test_image_lxc_glob(void **state)
{
        assert_false(image_hits("lxc/*", "docker.io/library/nginx"));
        assert_true(image_hits("lxc/*", "lxc/alpine:3.19"));
        assert_true(image_hits("lxc/*", "docker.io/lxc/alpine"));
}

static void test_image_regex(void **state)
{
        assert_true(image_hits("^db-[a-z]+:[0-9]+$", "docker.io/library/db-postgres:16"));
        assert_false(image_hits("^db-[a-z]+:[0-9]+$", "docker.io/library/db-postgres:latest"));
}

static void test_image_rule_without_image_misses(void **state)
{
        struct route_input in = { .id = "db-1" };

        assert_false(rule_hits("{\"image\": \"*\", \"runtime\": \"runc\"}", &in));
}

static void test_image_from_annotations(void **state)
{
        static const char *const keys[] = {
                "io.kubernetes.cri.image-name",
                "io.kubernetes.cri-o.ImageName",
                "org.opencontainers.image.ref.name",
        };

        for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
                const struct annotation a[] = { { keys[i], "docker.io/library/db-x:1" } };
                struct route_input in = { .id = "c", .annotations = a, .n_annotations = 1 };

                if (!rule_hits("{\"image\": \"db-*\", \"runtime\": \"runc\"}", &in))
                        fail_msg("image not taken from %s", keys[i]);
        }
}

static void test_image_argument_beats_annotation(void **state)
{
        const struct annotation a[] = { { "io.kubernetes.cri.image-name", "db-x" } };
        struct route_input in = { .id = "c", .image = "nginx", .annotations = a, .n_annotations = 1 };

        assert_false(rule_hits("{\"image\": \"db-*\", \"runtime\": \"runc\"}", &in));
}

static void test_image_empty_annotation_skipped(void **state)
{
        const struct annotation a[] = {
                { "io.kubernetes.cri.image-name", "" },
                { "io.kubernetes.cri-o.ImageName", "db-x" },
        };
        struct route_input in = { .id = "c", .annotations = a, .n_annotations = 2 };

        assert_true(rule_hits("{\"image\": \"db-*\", \"runtime\": \"runc\"}", &in));
}

/* handler */

static void test_handler_argument(void **state)
{
        struct route_input hit = { .id = "c", .handler = "kata-qemu" }, miss = { .id = "c", .handler = "runc" };
        const char *rule = "{\"handler\": \"kata*\", \"runtime\": \"runc\"}";

        assert_true(rule_hits(rule, &hit));
        assert_false(rule_hits(rule, &miss));
}

static void test_handler_from_annotations(void **state)
{
        static const char *const keys[] = {
                "io.containerd.cri.runtime-handler",
                "io.kubernetes.cri-o.RuntimeHandler",
        };

        for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
                const struct annotation a[] = { { keys[i], "proxmox-vm" } };
                struct route_input in = { .id = "c", .annotations = a, .n_annotations = 1 };

                if (!rule_hits("{\"handler\": \"proxmox-*\", \"runtime\": \"runc\"}", &in))
                        fail_msg("handler not taken from %s", keys[i]);
        }
}

/* annotations */

static void test_annotation_key_value_glob(void **state)
{
        const char *rule = "{\"annotation\": \"tier=db-*\", \"runtime\": \"runc\"}";
        const struct annotation hit[] = { { "tier", "db-main" } }, miss[] = { { "tier", "web" } };
        struct route_input in_hit = { .id = "c", .annotations = hit, .n_annotations = 1 };
        struct route_input in_miss = { .id = "c", .annotations = miss, .n_annotations = 1 };

        assert_true(rule_hits(rule, &in_hit));
        assert_false(rule_hits(rule, &in_miss));
}

static void test_annotation_value_may_contain_equals(void **state)
{
        const struct annotation a[] = { { "opts", "a=b" } };
        struct route_input in = { .id = "c", .annotations = a, .n_annotations = 1 };

        assert_true(rule_hits("{\"annotation\": \"opts=a=b\", \"runtime\": \"runc\"}", &in));
}

static void test_annotation_key_only_is_presence(void **state)
{
        const char *rule = "{\"annotation\": \"pxcri.io/vm\", \"runtime\": \"runc\"}";
        const struct annotation empty[] = { { "pxcri.io/vm", "" } }, other[] = { { "pxcri.io/vmx", "1" } };
        struct route_input present = { .id = "c", .annotations = empty, .n_annotations = 1 };
        struct route_input absent = { .id = "c", .annotations = other, .n_annotations = 1 };
        struct route_input none = { .id = "c" };

        assert_true(rule_hits(rule, &present));
        assert_false(rule_hits(rule, &absent));
        assert_false(rule_hits(rule, &none));
}

static void test_conditions_are_anded(void **state)
{
        const char *rule = "{\"image\": \"db-*\", \"annotation\": \"tier=prod\", \"runtime\": \"runc\"}";
        const struct annotation prod[] = { { "tier", "prod" } }, dev[] = { { "tier", "dev" } };
        struct route_input both = { .id = "c", .image = "db-x", .annotations = prod, .n_annotations = 1 };
        struct route_input image_only = { .id = "c", .image = "db-x", .annotations = dev, .n_annotations = 1 };
        struct route_input annotation_only = { .id = "c", .image = "web", .annotations = prod, .n_annotations = 1 };

        assert_true(rule_hits(rule, &both));
        assert_false(rule_hits(rule, &image_only));
        assert_false(rule_hits(rule, &annotation_only));
}

static void test_annotation_get(void **state)
{
        const struct annotation a[] = { { "k", "first" }, { "j", "x" }, { "k", "second" } };

        assert_string_equal(annotation_get(a, 3, "k"), "first");
        assert_null(annotation_get(a, 3, "missing"));
        assert_null(annotation_get(NULL, 0, "k"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_glob_matches),
                cmocka_unit_test(test_glob_star_crosses_slash),
                cmocka_unit_test(test_regex_when_anchored),
                cmocka_unit_test(test_regex_is_extended),
                cmocka_unit_test(test_unanchored_is_glob),
                cmocka_unit_test(test_matcher_invalid_regex),
                cmocka_unit_test(test_matcher_empty_pattern),
                cmocka_unit_test(test_matcher_null_string_never_matches),
                cmocka_unit_test(test_override_beats_rules),
                cmocka_unit_test(test_override_unknown_is_error),
                cmocka_unit_test(test_rules_beat_backend_annotation),
                cmocka_unit_test(test_backend_annotation_beats_name_patterns),
                cmocka_unit_test(test_backend_annotation_unknown_is_error),
                cmocka_unit_test(test_name_patterns_beat_default),
                cmocka_unit_test(test_default_when_nothing_matches),
                cmocka_unit_test(test_rules_in_file_order),
                cmocka_unit_test(test_reason_names_image_rule),
                cmocka_unit_test(test_reason_is_truncated_not_overrun),
                cmocka_unit_test(test_defaults_route_plain_image_to_crun),
                cmocka_unit_test(test_pattern_tried_on_id),
                cmocka_unit_test(test_pattern_tried_on_name_annotations),
                cmocka_unit_test(test_pattern_not_tried_on_other_annotations),
                cmocka_unit_test(test_pattern_regex_on_id),
                cmocka_unit_test(test_image_with_registry_and_library),
                cmocka_unit_test(test_image_with_registry_port),
                cmocka_unit_test(test_image_with_localhost),
                cmocka_unit_test(test_image_short_name),
                cmocka_unit_test(test_image_as_written),
                cmocka_unit_test(test_image_namespace_is_not_a_host),
                cmocka_unit_test(test_image_lxc_glob),
                cmocka_unit_test(test_image_regex),
                cmocka_unit_test(test_image_rule_without_image_misses),
                cmocka_unit_test(test_image_from_annotations),
                cmocka_unit_test(test_image_argument_beats_annotation),
                cmocka_unit_test(test_image_empty_annotation_skipped),
                cmocka_unit_test(test_handler_argument),
                cmocka_unit_test(test_handler_from_annotations),
                cmocka_unit_test(test_annotation_key_value_glob),
                cmocka_unit_test(test_annotation_value_may_contain_equals),
                cmocka_unit_test(test_annotation_key_only_is_presence),
                cmocka_unit_test(test_conditions_are_anded),
                cmocka_unit_test(test_annotation_get),
        };

        return unit_run(tests);
}
