#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/auth.h"
#include "unit.h"

static void test_bearer(void **state)
{
        struct auth_challenge c;

        assert_int_equal(auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                                              "scope=\"repository:library/busybox:pull\"",
                                              &c, NULL),
                         0);
        assert_int_equal(c.scheme, AUTH_SCHEME_BEARER);
        assert_string_equal(c.realm, "https://auth.docker.io/token");
        assert_string_equal(c.service, "registry.docker.io");
        assert_string_equal(c.scope, "repository:library/busybox:pull");
        auth_challenge_done(&c);

        /* case, spaces, bare tokens, escapes, unknown parameters */
        assert_int_equal(auth_challenge_parse("bearer  Realm=http://127.0.0.1:9/t , error=\"insufficient_scope\", "
                                              "service=\"a\\\"b\"",
                                              &c, NULL),
                         0);
        assert_int_equal(c.scheme, AUTH_SCHEME_BEARER);
        assert_string_equal(c.realm, "http://127.0.0.1:9/t");
        assert_string_equal(c.service, "a\"b");
        assert_null(c.scope);
        auth_challenge_done(&c);
}

static void test_basic_and_several(void **state)
{
        struct auth_challenge c;
        struct pxe *e = NULL;

        assert_int_equal(auth_challenge_parse("Basic realm=\"Registry Realm\"", &c, NULL), 0);
        assert_int_equal(c.scheme, AUTH_SCHEME_BASIC);
        assert_string_equal(c.realm, "Registry Realm");
        auth_challenge_done(&c);

        assert_int_equal(auth_challenge_parse("Basic realm=\"x\", Bearer realm=\"https://t/\",service=s", &c, NULL), 0);
        assert_int_equal(c.scheme, AUTH_SCHEME_BEARER);
        assert_string_equal(c.realm, "https://t/");
        assert_string_equal(c.service, "s");
        auth_challenge_done(&c);

        assert_int_equal(auth_challenge_parse("Bearer service=\"x\"", &c, &e), -EPROTO); /* no realm */
        assert_contains(e->msg, "Unsupported authentication challenge");
        pxe_free(e);
        assert_int_equal(auth_challenge_parse("Negotiate abc", &c, NULL), -EPROTO);
        assert_int_equal(auth_challenge_parse("", &c, NULL), -EPROTO);
        assert_int_equal(auth_challenge_parse("Bearer realm=\"unterminated", &c, NULL), -EPROTO);
}

static void test_base64(void **state)
{
        char *s, *d;
        size_t n;

        s = auth_base64_encode("user:pass", 9);
        assert_string_equal(s, "dXNlcjpwYXNz");
        free(s);
        s = auth_base64_encode("ab", 2);
        assert_string_equal(s, "YWI=");
        assert_int_equal(auth_base64_decode(s, &d, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(d, "ab");
        free(d);
        free(s);
        assert_int_equal(auth_base64_decode("a$b=", &d, &n), -EINVAL);
        assert_int_equal(auth_base64_decode("YQ=x", &d, &n), -EINVAL);
}

static void test_credentials(void **state)
{
        struct image_auth a = { .auth = "dXNlcjpwOmFzcw==" }; /* user:p:ass */
        char *u = NULL, *p = NULL;
        struct pxe *e = NULL;

        assert_false(auth_is_empty(&a));
        assert_int_equal(auth_basic_credentials(&a, &u, &p, NULL), 1);
        assert_string_equal(u, "user");
        assert_string_equal(p, "p:ass");
        free(u);
        free(p);
        a = (struct image_auth) { .username = "x", .password = "y", .auth = "ignored" };
        assert_int_equal(auth_basic_credentials(&a, &u, &p, NULL), 1);
        assert_string_equal(u, "x");
        assert_string_equal(p, "y");
        free(u);
        free(p);
        a = (struct image_auth) { .auth = "bm9jb2xvbg==" }; /* "nocolon" */
        assert_int_equal(auth_basic_credentials(&a, &u, &p, &e), -EINVAL);
        assert_contains(e->msg, "username:password");
        pxe_free(e);
        a = (struct image_auth) { .server_address = "docker.io" };
        assert_true(auth_is_empty(&a));
        assert_true(auth_is_empty(NULL));
        assert_int_equal(auth_basic_credentials(&a, &u, &p, NULL), 0);
}

static void test_token_json(void **state)
{
        char *t = NULL;
        struct pxe *e = NULL;

        assert_int_equal(auth_token_from_json("{\"token\":\"abc\",\"expires_in\":300}", 32, &t, NULL), 0);
        assert_string_equal(t, "abc");
        free(t);
        assert_int_equal(auth_token_from_json("{\"access_token\":\"xyz\"}", 22, &t, NULL), 0);
        assert_string_equal(t, "xyz");
        free(t);
        assert_int_equal(auth_token_from_json("{\"tok\":1}", 9, &t, &e), -EPROTO);
        pxe_free(e);
        assert_int_equal(auth_token_from_json("<html>", 6, &t, NULL), -EPROTO);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bearer),
                cmocka_unit_test(test_basic_and_several),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_credentials),
                cmocka_unit_test(test_token_json),
        };

        return unit_run(tests);
}
