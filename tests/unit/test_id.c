/* util/id: which container IDs may become part of a path. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/id.h"

static char *repeat(char c, size_t n)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_valid_single_char(void **state)
{
        assert_true(id_is_valid("a"));
        assert_true(id_is_valid("Z"));
        assert_true(id_is_valid("7"));
}

static void test_valid_max_length(void **state)
{
        char *s = repeat('a', ID_MAX_LEN);

        assert_true(id_is_valid(s));
        free(s);
}

static void test_valid_with_dot_underscore_dash(void **state)
{
        assert_true(id_is_valid("a.b_c-d"));
        assert_true(id_is_valid("0123abcdef.9-_"));
        assert_true(id_is_valid("a..b")); /* no slash, so ".." is not a path step */
}

static void test_invalid_empty(void **state)
{
        assert_false(id_is_valid(""));
}

static void test_invalid_null(void **state)
{
        assert_false(id_is_valid(NULL));
}

static void test_invalid_too_long(void **state)
{
        char *s = repeat('a', ID_MAX_LEN + 1);

        assert_false(id_is_valid(s));
        free(s);
}

static void test_invalid_leading_punctuation(void **state)
{
        assert_false(id_is_valid(".a"));
        assert_false(id_is_valid("-a"));
        assert_false(id_is_valid("_a"));
}

static void test_invalid_dot_and_dotdot(void **state)
{
        assert_false(id_is_valid("."));
        assert_false(id_is_valid(".."));
}

static void test_invalid_slashes(void **state)
{
        assert_false(id_is_valid("/"));
        assert_false(id_is_valid("a/b"));
        assert_false(id_is_valid("../x"));
        assert_false(id_is_valid("a/../../x"));
        assert_false(id_is_valid("a/"));
}

static void test_invalid_whitespace(void **state)
{
        assert_false(id_is_valid("a b"));
        assert_false(id_is_valid(" a"));
        assert_false(id_is_valid("a\n"));
        assert_false(id_is_valid("a\tb"));
}

static void test_invalid_non_ascii(void **state)
{
        assert_false(id_is_valid("caf\xc3\xa9"));   /* café */
        assert_false(id_is_valid("\xe2\x80\x8b" "a")); /* zero-width space first */
        assert_false(id_is_valid("a\x7f"));
}

static void test_invalid_other_punctuation(void **state)
{
        assert_false(id_is_valid("a:b"));
        assert_false(id_is_valid("a*"));
        assert_false(id_is_valid("a\\b"));
}

static void test_check_valid_sets_nothing(void **state)
{
        struct pxe *e = NULL;

        assert_int_equal(id_check("web-1", &e), 0);
        assert_null(e);
}

static void test_check_names_the_id(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        assert_int_equal(id_check("../evil", &e), -EINVAL);
        assert_int_equal(e->code, EINVAL);
        assert_contains(e->msg, "\"../evil\"");
}

static void test_check_empty_says_empty(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        assert_int_equal(id_check("", &e), -EINVAL);
        assert_contains(e->msg, "empty");
}

static void test_check_null_is_einval(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        assert_int_equal(id_check(NULL, &e), -EINVAL);
        assert_non_null(e);
}

static void test_check_long_id_message_is_bounded(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *s = repeat('b', 10000);

        assert_int_equal(id_check(s, &e), -EINVAL);
        assert_true(strlen(e->msg) < 400);
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_single_char),
                cmocka_unit_test(test_valid_max_length),
                cmocka_unit_test(test_valid_with_dot_underscore_dash),
                cmocka_unit_test(test_invalid_empty),
                cmocka_unit_test(test_invalid_null),
                cmocka_unit_test(test_invalid_too_long),
                cmocka_unit_test(test_invalid_leading_punctuation),
                cmocka_unit_test(test_invalid_dot_and_dotdot),
                cmocka_unit_test(test_invalid_slashes),
                cmocka_unit_test(test_invalid_whitespace),
                cmocka_unit_test(test_invalid_non_ascii),
                cmocka_unit_test(test_invalid_other_punctuation),
                cmocka_unit_test(test_check_valid_sets_nothing),
                cmocka_unit_test(test_check_names_the_id),
                cmocka_unit_test(test_check_empty_says_empty),
                cmocka_unit_test(test_check_null_is_einval),
                cmocka_unit_test(test_check_long_id_message_is_bounded),
        };

        return unit_run(tests);
}
