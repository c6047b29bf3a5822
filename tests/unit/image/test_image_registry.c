#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "image/registry.h"
#include "unit.h"

static struct config *parse(const char *text)
{
        struct config *c = NULL;
        struct pxe *e = NULL;

        if (config_parse(text, "t.json", &c, &e) < 0)
                fail_msg("%s", e->msg);
        return c;
}

static void test_endpoints_ok(void **state)
{
        struct config *c = parse("{\"image\": {\"registries\": {"
                                 "\"docker.io\": {\"mirrors\": [\"http://127.0.0.1:5000/\", \"https://m.example/prefix\"]},"
                                 "\"127.0.0.1:5000\": {\"insecure\": true}}}}");
        struct registry_client *rc = NULL;
        struct image_auth a = { .username = "u", .password = "p" };

        assert_int_equal(registry_client_new(&c->image, "docker.io", "library/busybox", &a, &rc, NULL), 0);
        registry_client_free(rc);
        assert_int_equal(registry_client_new(&c->image, "quay.io", "a/b", NULL, &rc, NULL), 0);
        registry_client_free(rc);
        config_free(c);
}

static void test_http_mirror_needs_insecure(void **state)
{
        struct config *c = parse("{\"image\": {\"registries\": {"
                                 "\"docker.io\": {\"mirrors\": [\"http://127.0.0.1:5000\"]}}}}");
        struct registry_client *rc = NULL;
        struct pxe *e = NULL;

        assert_int_equal(registry_client_new(&c->image, "docker.io", "library/busybox", NULL, &rc, &e), -EINVAL);
        assert_null(rc);
        assert_contains(e->msg, "plain HTTP to 127.0.0.1:5000 needs \"insecure\": true");
        pxe_free(e);
        config_free(c);
}

static void test_bad_auth(void **state)
{
        struct config *c = parse("{}");
        struct registry_client *rc = NULL;
        struct image_auth a = { .auth = "!!notbase64" };
        struct pxe *e = NULL;

        assert_int_equal(registry_client_new(&c->image, "docker.io", "library/busybox", &a, &rc, &e), -EINVAL);
        assert_contains(e->msg, "Invalid credentials");
        assert_null(strstr(e->msg, "notbase64")); /* secrets never in messages */
        pxe_free(e);
        config_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_endpoints_ok),
                cmocka_unit_test(test_http_mirror_needs_insecure),
                cmocka_unit_test(test_bad_auth),
        };

        return unit_run(tests);
}
