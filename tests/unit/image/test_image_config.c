#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "unit.h"

static void test_defaults(void **state)
{
        struct config *c = NULL;

        assert_int_equal(config_parse("{}", "t.json", &c, NULL), 0);
        assert_string_equal(c->image.root, "/var/lib/pxcri/images");
        assert_string_equal(c->image.platform, "linux/amd64");
        assert_int_equal(c->image.max_concurrent_downloads, 4);
        assert_int_equal(c->image.n_registries, 0);
        assert_null(image_config_registry(&c->image, "docker.io"));
        config_free(c);
}

static void test_registries(void **state)
{
        const char *text = "{\"image\": {\"root\": \"/srv/img\", \"platform\": \"linux/arm64\","
                           " \"max_concurrent_downloads\": 2, \"colour\": 1,"
                           " \"registries\": {\"docker.io\": {\"mirrors\": [\"http://127.0.0.1:5000\", \"https://m.example/p\"]},"
                           " \"127.0.0.1:5000\": {\"insecure\": true, \"skip_verify\": true, \"ca_file\": \"/etc/ca.pem\", \"x\": 0}}}}";
        const struct image_registry_config *r;
        struct config *c = NULL;

        assert_int_equal(config_parse(text, "t.json", &c, NULL), 0);
        assert_string_equal(c->image.root, "/srv/img");
        assert_string_equal(c->image.platform, "linux/arm64");
        assert_int_equal(c->image.max_concurrent_downloads, 2);
        r = image_config_registry(&c->image, "docker.io");
        assert_non_null(r);
        assert_int_equal(r->n_mirrors, 2);
        assert_string_equal(r->mirrors[0], "http://127.0.0.1:5000");
        assert_false(r->insecure);
        r = image_config_registry(&c->image, "127.0.0.1:5000");
        assert_non_null(r);
        assert_true(r->insecure);
        assert_true(r->skip_verify);
        assert_string_equal(r->ca_file, "/etc/ca.pem");
        assert_int_equal(c->n_warnings, 2);
        assert_contains(c->warnings[0], "image.colour");
        assert_contains(c->warnings[1], "image.registries.127.0.0.1:5000.x");
        config_free(c);
}

static void expect_err(const char *text, const char *msg)
{
        struct config *c = NULL;
        struct pxe *e = NULL;

        assert_int_equal(config_parse(text, "t.json", &c, &e), -EINVAL);
        assert_contains(e->msg, msg);
        pxe_free(e);
}

static void test_errors(void **state)
{
        expect_err("{\"image\": []}", "t.json: image: expected an object");
        expect_err("{\"image\": {\"root\": \"rel\"}}", "image.root: must be an absolute path");
        expect_err("{\"image\": {\"root\": 1}}", "image.root: expected a string");
        expect_err("{\"image\": {\"platform\": \"linux\"}}", "image.platform");
        expect_err("{\"image\": {\"max_concurrent_downloads\": 0}}", "image.max_concurrent_downloads");
        expect_err("{\"image\": {\"max_concurrent_downloads\": \"4\"}}", "image.max_concurrent_downloads");
        expect_err("{\"image\": {\"registries\": {\"a\": {\"insecure\": \"yes\"}}}}", "image.registries.a.insecure: expected true or false");
        expect_err("{\"image\": {\"registries\": {\"a\": {\"mirrors\": \"x\"}}}}", "image.registries.a.mirrors");
        expect_err("{\"image\": {\"registries\": {\"a\": {\"mirrors\": [\"ftp://x\"]}}}}", "image.registries.a.mirrors[0]");
        expect_err("{\"image\": {\"registries\": {\"a\": {\"ca_file\": \"ca.pem\"}}}}", "image.registries.a.ca_file");
        expect_err("{\"image\": {\"registries\": {\"a/b\": {}}}}", "not a registry host");
        expect_err("{\"image\": {\"registries\": []}}", "image.registries");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_registries),
                cmocka_unit_test(test_errors),
        };

        return unit_run(tests);
}
