#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/ref.h"
#include "unit.h"

static void expect(const char *in, const char *out)
{
        struct image_ref r;
        struct pxe *e = NULL;
        char *s;

        if (image_ref_parse(in, &r, &e) < 0)
                fail_msg("%s: %s", in, e->msg);
        s = image_ref_string(&r);
        assert_string_equal(s, out);
        free(s);
        image_ref_done(&r);
}

static void expect_err(const char *in, const char *msg)
{
        struct image_ref r = { 0 };
        struct pxe *e = NULL;

        if (image_ref_parse(in, &r, &e) != -EINVAL)
                fail_msg("%s: accepted", in);
        assert_non_null(e);
        assert_contains(e->msg, msg);
        assert_null(r.domain);
        pxe_free(e);
}

static void test_normalise(void **state)
{
        expect("busybox", "docker.io/library/busybox:latest");
        expect("busybox:1.36", "docker.io/library/busybox:1.36");
        expect("library/busybox", "docker.io/library/busybox:latest");
        expect("user/app", "docker.io/user/app:latest");
        expect("docker.io/busybox", "docker.io/library/busybox:latest");
        expect("index.docker.io/busybox", "docker.io/library/busybox:latest");
        expect("quay.io/a/b/c:v1.2-rc_3", "quay.io/a/b/c:v1.2-rc_3");
        expect("localhost/app", "localhost/app:latest");
        expect("localhost:5000/app", "localhost:5000/app:latest");
        expect("127.0.0.1:5000/pxt/busybox:oci", "127.0.0.1:5000/pxt/busybox:oci");
        expect("[::1]:5000/app", "[::1]:5000/app:latest");
        expect("Registry/app", "Registry/app:latest"); /* upper case first part: a host */
        expect("a__b/c-d---e/f.g", "docker.io/a__b/c-d---e/f.g:latest");
}

static void test_digest(void **state)
{
        const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        char in[256], out[256];
        struct image_ref r;

        snprintf(in, sizeof(in), "busybox@%s", d);
        snprintf(out, sizeof(out), "docker.io/library/busybox@%s", d);
        expect(in, out);
        snprintf(in, sizeof(in), "h:5000/x:1@%s", d);
        snprintf(out, sizeof(out), "h:5000/x:1@%s", d);
        expect(in, out);
        assert_int_equal(image_ref_parse(in, &r, NULL), 0);
        assert_string_equal(r.domain, "h:5000");
        assert_string_equal(r.path, "x");
        assert_string_equal(r.tag, "1");
        assert_string_equal(r.digest, d);
        image_ref_done(&r);
}

static void test_invalid(void **state)
{
        char longname[400];

        expect_err("", "empty");
        expect_err("BusyBox", "must be lowercase");
        expect_err("docker.io/Library/busybox", "must be lowercase");
        expect_err("busybox:", "invalid tag");
        expect_err("busybox:-x", "invalid tag");
        expect_err("busybox@sha256:abc", "invalid digest");
        expect_err("busybox@md5:0123", "invalid digest");
        expect_err("a//b", "invalid repository path");
        expect_err("a/b/", "invalid repository path");
        expect_err("-a", "invalid repository path");
        expect_err("a_-b", "invalid repository path");
        expect_err("host:99999/x", "invalid registry host");
        expect_err("ho_st.io/x", "invalid registry host");
        expect_err("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "64-byte");
        memset(longname, 'a', sizeof(longname));
        longname[sizeof(longname) - 1] = '\0';
        expect_err(longname, "longer than 255");
        memcpy(longname, "busybox:", 8);
        memset(longname + 8, 'a', 129);
        longname[8 + 129] = '\0';
        expect_err(longname, "invalid tag");
        expect_err("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "missing repository");
}

static void test_name(void **state)
{
        struct image_ref r;
        char *n;

        assert_int_equal(image_ref_parse("busybox", &r, NULL), 0);
        n = image_ref_name(&r);
        assert_string_equal(n, "docker.io/library/busybox");
        free(n);
        image_ref_done(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_normalise),
                cmocka_unit_test(test_digest),
                cmocka_unit_test(test_invalid),
                cmocka_unit_test(test_name),
        };

        return unit_run(tests);
}
