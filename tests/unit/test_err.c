/* util/err: codes, messages, first error wins, context prefixes. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static void test_set_returns_negative_code(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        assert_int_equal(pxe_set(&e, ENOENT, "Opening %s", "x"), -ENOENT);
        assert_non_null(e);
        assert_int_equal(e->code, ENOENT);
}

static void test_set_formats_message(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        pxe_set(&e, EINVAL, "Bad %s %d", "value", 42);
        assert_string_equal(e->msg, "Bad value 42");
}

static void test_set_keeps_first_error(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        pxe_set(&e, ENOENT, "inner");
        pxe_set(&e, EINVAL, "outer");
        assert_int_equal(e->code, ENOENT);
        assert_string_equal(e->msg, "inner");
}

/* err.h says "return -code"; the code returns the kept error's code, so the
 * return value always agrees with err->code.  Reported as a header wording
 * issue; this test pins the consistent behaviour. */
static void test_set_on_existing_error_returns_kept_code(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        pxe_set(&e, ENOENT, "inner");
        assert_int_equal(pxe_set(&e, EINVAL, "outer"), -ENOENT);
}

static void test_set_nonpositive_code_becomes_eio(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        assert_int_equal(pxe_set(&e, 0, "zero"), -EIO);
        assert_int_equal(e->code, EIO);
}

static void test_set_errno_appends_strerror(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char want[256];

        snprintf(want, sizeof(want), "Opening /x: %s", strerror(ENOENT));
        assert_int_equal(pxe_set_errno(&e, ENOENT, "Opening %s", "/x"), -ENOENT);
        assert_int_equal(e->code, ENOENT);
        assert_string_equal(e->msg, want);
}

static void test_set_errno_keeps_first_error(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        pxe_set(&e, EEXIST, "inner");
        pxe_set_errno(&e, EACCES, "outer");
        assert_int_equal(e->code, EEXIST);
        assert_string_equal(e->msg, "inner");
}

static void test_wrap_prefixes_context(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        pxe_set(&e, ENOENT, "Opening config.json");
        assert_int_equal(pxe_wrap(&e, "Reading bundle %s", "/b"), -ENOENT);
        assert_string_equal(e->msg, "Reading bundle /b: Opening config.json");
}

static void test_wrap_twice_nests_outermost_first(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        pxe_set(&e, EIO, "c");
        pxe_wrap(&e, "b");
        pxe_wrap(&e, "a");
        assert_string_equal(e->msg, "a: b: c");
        assert_int_equal(e->code, EIO);
}

static void test_wrap_without_error_sets_nothing(void **state)
{
        struct pxe *e = NULL;

        assert_int_equal(pxe_wrap(&e, "context"), -EIO);
        assert_null(e);
}

static void test_set_null_err_returns_code(void **state)
{
        assert_int_equal(pxe_set(NULL, ENOENT, "x %s", "y"), -ENOENT);
}

static void test_set_errno_null_err_returns_code(void **state)
{
        assert_int_equal(pxe_set_errno(NULL, EACCES, "x"), -EACCES);
}

static void test_wrap_null_err_is_safe(void **state)
{
        assert_int_equal(pxe_wrap(NULL, "x"), -EIO);
}

static void test_code_of_set_error(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        pxe_set(&e, ETIMEDOUT, "slow");
        assert_int_equal(pxe_code(&e, EIO), ETIMEDOUT);
}

static void test_code_fallback_without_error(void **state)
{
        struct pxe *e = NULL;

        assert_int_equal(pxe_code(&e, EPERM), EPERM);
        assert_int_equal(pxe_code(NULL, EPERM), EPERM);
}

static void test_freep_clears_pointer(void **state)
{
        struct pxe *e = NULL;

        pxe_set(&e, EIO, "x");
        pxe_freep(&e);
        assert_null(e);
        pxe_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_set_returns_negative_code),
                cmocka_unit_test(test_set_formats_message),
                cmocka_unit_test(test_set_keeps_first_error),
                cmocka_unit_test(test_set_on_existing_error_returns_kept_code),
                cmocka_unit_test(test_set_nonpositive_code_becomes_eio),
                cmocka_unit_test(test_set_errno_appends_strerror),
                cmocka_unit_test(test_set_errno_keeps_first_error),
                cmocka_unit_test(test_wrap_prefixes_context),
                cmocka_unit_test(test_wrap_twice_nests_outermost_first),
                cmocka_unit_test(test_wrap_without_error_sets_nothing),
                cmocka_unit_test(test_set_null_err_returns_code),
                cmocka_unit_test(test_set_errno_null_err_returns_code),
                cmocka_unit_test(test_wrap_null_err_is_safe),
                cmocka_unit_test(test_code_of_set_error),
                cmocka_unit_test(test_code_fallback_without_error),
                cmocka_unit_test(test_freep_clears_pointer),
        };

        return unit_run(tests);
}
