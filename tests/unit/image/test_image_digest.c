#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "unit.h"

#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_valid(void **state)
{
        struct pxe *e = NULL;

        assert_true(digest_is_valid(ABC));
        assert_false(digest_is_valid(NULL));
        assert_false(digest_is_valid("sha256:BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_false(digest_is_valid("sha256:ba7816bf"));
        assert_false(digest_is_valid(ABC "0"));
        assert_false(digest_is_valid("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        assert_int_equal(digest_check("sha512:abcd", &e), -EINVAL);
        assert_contains(e->msg, "unsupported algorithm");
        pxe_free(e);
        e = NULL;
        assert_int_equal(digest_check("sha256:xyz", &e), -EINVAL);
        assert_contains(e->msg, "64 lowercase hex");
        pxe_free(e);
        assert_string_equal(digest_hex(ABC), ABC + 7);
}

static void test_hash(void **state)
{
        char out[DIGEST_STR_LEN + 1];
        struct digest_ctx *d = digest_new();

        assert_int_equal(digest_buffer("abc", 3, out), 0);
        assert_string_equal(out, ABC);
        assert_non_null(d);
        assert_int_equal(digest_update(d, "a", 1), 0);
        assert_int_equal(digest_update(d, "", 0), 0);
        assert_int_equal(digest_update(d, "bc", 2), 0);
        assert_int_equal(digest_final(d, out), 0);
        assert_string_equal(out, ABC);
        /* final works on a copy: more data can follow */
        assert_int_equal(digest_update(d, "d", 1), 0);
        assert_int_equal(digest_final(d, out), 0);
        assert_string_equal(out, "sha256:88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
        digest_free(d);
        digest_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_hash),
        };

        return unit_run(tests);
}
