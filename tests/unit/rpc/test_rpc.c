/* rpc: grpc-timeout parsing, grpc-message percent-encoding, the errno ->
 * status table, the 5-byte message prefix, and the median of the stats. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri-api.pb-c.h"
#include "rpc/rpc_private.h"
#include "util/cleanup.h"

static uint64_t timeout_ms(const char *v)
{
        uint64_t ms = 0;

        assert_int_equal(rpc_timeout_parse(v, strlen(v), &ms), 0);
        return ms;
}

static void test_timeout_units(void **state)
{
        assert_int_equal(timeout_ms("1H"), 3600000);
        assert_int_equal(timeout_ms("2M"), 120000);
        assert_int_equal(timeout_ms("3S"), 3000);
        assert_int_equal(timeout_ms("250m"), 250);
        assert_int_equal(timeout_ms("1500u"), 2);     /* rounded up */
        assert_int_equal(timeout_ms("1000000n"), 1);
        assert_int_equal(timeout_ms("1n"), 1);
        assert_int_equal(timeout_ms("0m"), 1);        /* already expired: soonest */
        assert_int_equal(timeout_ms("99999999S"), 99999999000ull);
        assert_int_equal(timeout_ms("99999999H"), 99999999ull * 3600000);
}

static void test_timeout_malformed(void **state)
{
        static const char *const bad[] = { "", "S", "10", "10s", "123456789S", "-1S", "1 S", "1.5S", "10x" };
        uint64_t ms = 77;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(rpc_timeout_parse(bad[i], strlen(bad[i]), &ms), -EINVAL);
        assert_int_equal(ms, 77); /* untouched on failure */
}

static void test_percent_encode(void **state)
{
        _cleanup_free_ char *a = rpc_percent_encode("container \"x\" not found: 100% gone");
        _cleanup_free_ char *b = rpc_percent_encode("tab\there\nnew\xc3\xa9~ ");
        _cleanup_free_ char *c = rpc_percent_encode("");

        assert_string_equal(a, "container \"x\" not found: 100%25 gone");
        assert_string_equal(b, "tab%09here%0Anew%C3%A9~ ");
        assert_string_equal(c, "");
}

static void test_errno_table(void **state)
{
        assert_int_equal(rpc_code_from_errno(ENOENT), RPC_NOT_FOUND);
        assert_int_equal(rpc_code_from_errno(-ENOENT), RPC_NOT_FOUND);
        assert_int_equal(rpc_code_from_errno(EINVAL), RPC_INVALID_ARGUMENT);
        assert_int_equal(rpc_code_from_errno(EEXIST), RPC_ALREADY_EXISTS);
        assert_int_equal(rpc_code_from_errno(ETIMEDOUT), RPC_DEADLINE_EXCEEDED);
        assert_int_equal(rpc_code_from_errno(ENOSYS), RPC_UNIMPLEMENTED);
        assert_int_equal(rpc_code_from_errno(EOPNOTSUPP), RPC_UNIMPLEMENTED);
        assert_int_equal(rpc_code_from_errno(EBUSY), RPC_FAILED_PRECONDITION);
        assert_int_equal(rpc_code_from_errno(EAGAIN), RPC_FAILED_PRECONDITION);
        assert_int_equal(rpc_code_from_errno(EPERM), RPC_PERMISSION_DENIED);
        assert_int_equal(rpc_code_from_errno(EIO), RPC_INTERNAL);
        assert_int_equal(rpc_code_from_errno(EXDEV), RPC_INTERNAL);
        assert_int_equal(rpc_code_from_errno(0), RPC_UNKNOWN);
}

static void test_code_names(void **state)
{
        assert_string_equal(rpc_code_name(RPC_OK), "OK");
        assert_string_equal(rpc_code_name(RPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
        assert_string_equal(rpc_code_name(RPC_UNAUTHENTICATED), "UNAUTHENTICATED");
        assert_string_equal(rpc_code_name((enum rpc_code) 99), "UNKNOWN");
}

static void test_frame_prefix(void **state)
{
        const uint8_t plain[] = { 0, 0x01, 0x02, 0x03, 0x04, 0xaa };
        const uint8_t packed[] = { 1, 0, 0, 0, 7 };
        const uint8_t bad[] = { 2, 0, 0, 0, 0 };
        bool compressed = true;
        uint32_t len = 0;

        assert_int_equal(rpc_frame_parse(plain, sizeof(plain), &compressed, &len), 0);
        assert_false(compressed);
        assert_int_equal(len, 0x01020304);
        assert_int_equal(rpc_frame_parse(packed, 5, &compressed, &len), 0);
        assert_true(compressed);
        assert_int_equal(len, 7);
        assert_int_equal(rpc_frame_parse(plain, 4, &compressed, &len), -EAGAIN);
        assert_int_equal(rpc_frame_parse(plain, 0, &compressed, &len), -EAGAIN);
        assert_int_equal(rpc_frame_parse(bad, 5, &compressed, &len), -EINVAL);
}

static void test_median(void **state)
{
        uint64_t odd[] = { 9, 1, 5 };
        uint64_t even[] = { 4, 1, 3, 2 };
        uint64_t one[] = { 42 };

        assert_int_equal(rpc_median(odd, 3), 5);
        assert_int_equal(rpc_median(even, 4), 2); /* (2 + 3) / 2, integer */
        assert_int_equal(rpc_median(one, 1), 42);
}

static void handler_unused(struct rpc_call *call, const ProtobufCMessage *req, void *userdata)
{
}

static void test_stats_unknown_and_empty(void **state)
{
        static const struct rpc_method methods[] = {
                { "/x.Y/Z", &runtime__v1__version_request__descriptor, handler_unused },
        };
        struct rpc_server *s = NULL;
        double med = -1;
        uint64_t calls = 99;

        assert_int_equal(rpc_server_new(uv_default_loop(), methods, 1, NULL, NULL, &s, NULL), 0);
        assert_int_equal(rpc_server_method_stats(s, "/x.Y/Nope", &med, &calls), -ENOENT);
        assert_int_equal(rpc_server_method_stats(s, "/x.Y/Z", &med, &calls), 0);
        assert_int_equal(calls, 0);
        assert_true(med == 0.0);
        for (uint64_t i = 1; i <= 2000; i++)
                rpc_server_record(s, 0, i * 1000);
        assert_int_equal(rpc_server_method_stats(s, "/x.Y/Z", &med, &calls), 0);
        assert_int_equal(calls, 2000);
        /* The ring holds calls 977..2000: median (1488 + 1489) / 2 us, in integer ns. */
        assert_true(med > 1488.0 && med < 1489.0);
        rpc_server_free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timeout_units),
                cmocka_unit_test(test_timeout_malformed),
                cmocka_unit_test(test_percent_encode),
                cmocka_unit_test(test_errno_table),
                cmocka_unit_test(test_code_names),
                cmocka_unit_test(test_frame_prefix),
                cmocka_unit_test(test_median),
                cmocka_unit_test(test_stats_unknown_and_empty),
        };

        return unit_run(tests);
}
