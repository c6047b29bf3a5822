/* backend/lxc/translate: linux.resources.blockIO and hugepageLimits on cgroup
 * v1 (lxc.cgroup.blkio.*, hugetlb.*.limit_in_bytes) and v2 (io.*, hugetlb.*.max). */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lxc_fixture.h"

static void set_resources(struct fx *f, json_t *res)
{
        json_object_set_new(json_object_get(f->config, "linux"), "resources", res);
}

static json_t *block_io(void)
{
        return json_pack("{s:{s:i, s:i, s:[{s:i, s:i, s:i, s:i}], s:[{s:i, s:i, s:I}], s:[{s:i, s:i, s:I}],"
                         " s:[{s:i, s:i, s:i}], s:[{s:i, s:i, s:i}, {s:i, s:i, s:i}]}}",
                         "blockIO", "weight", 500, "leafWeight", 300,
                         "weightDevice", "major", 8, "minor", 0, "weight", 600, "leafWeight", 200,
                         "throttleReadBpsDevice", "major", 8, "minor", 0, "rate", (json_int_t) 1048576,
                         "throttleWriteBpsDevice", "major", 8, "minor", 16, "rate", (json_int_t) 2097152,
                         "throttleReadIOPSDevice", "major", 254, "minor", 0, "rate", 100,
                         "throttleWriteIOPSDevice", "major", 254, "minor", 0, "rate", 200,
                         "major", 254, "minor", 1, "rate", 300);
}

/* The index-th value of key (0 first), or NULL. */
static const char *nth(const struct lxc_spec *s, const char *key, size_t index)
{
        for (size_t i = 0; i < s->n_items; i++)
                if (strcmp(s->items[i].key, key) == 0 && index-- == 0)
                        return s->items[i].value;
        return NULL;
}

static void test_block_io_cgroup_v1(void **state)
{
        struct fx *f = *state;
        struct lxc_spec *s;

        set_resources(f, block_io());
        s = fx_ok(f);
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.blkio.weight"), "500");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.blkio.leaf_weight"), "300");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.blkio.weight_device"), "8:0 600");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.blkio.leaf_weight_device"), "8:0 200");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.blkio.throttle.read_bps_device"), "8:0 1048576");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.blkio.throttle.write_bps_device"), "8:16 2097152");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.blkio.throttle.read_iops_device"), "254:0 100");
        assert_int_equal(lxc_spec_count(s, "lxc.cgroup.blkio.throttle.write_iops_device"), 2);
        assert_string_equal(nth(s, "lxc.cgroup.blkio.throttle.write_iops_device", 0), "254:0 200");
        assert_string_equal(nth(s, "lxc.cgroup.blkio.throttle.write_iops_device", 1), "254:1 300");
        assert_null(lxc_spec_get(s, "lxc.cgroup2.io.max"));
        lxc_spec_free(s);
}

static void test_block_io_cgroup_v2(void **state)
{
        struct fx *f = *state;
        struct lxc_spec *s;
        json_t *res = block_io(), *bio = json_object_get(res, "blockIO");

        json_object_del(bio, "leafWeight");
        json_object_del(json_array_get(json_object_get(bio, "weightDevice"), 0), "leafWeight");
        set_resources(f, res);
        f->opts.cgroup_v2 = true;
        s = fx_ok(f);
        /* [10, 1000] -> [1, 10000] as runc and crun convert. */
        assert_string_equal(nth(s, "lxc.cgroup2.io.weight", 0), "4950");
        assert_string_equal(nth(s, "lxc.cgroup2.io.weight", 1), "8:0 5960");
        assert_int_equal(lxc_spec_count(s, "lxc.cgroup2.io.max"), 5);
        assert_string_equal(nth(s, "lxc.cgroup2.io.max", 0), "8:0 rbps=1048576");
        assert_string_equal(nth(s, "lxc.cgroup2.io.max", 1), "8:16 wbps=2097152");
        assert_string_equal(nth(s, "lxc.cgroup2.io.max", 2), "254:0 riops=100");
        assert_string_equal(nth(s, "lxc.cgroup2.io.max", 3), "254:0 wiops=200");
        assert_string_equal(nth(s, "lxc.cgroup2.io.max", 4), "254:1 wiops=300");
        assert_null(lxc_spec_get(s, "lxc.cgroup.blkio.weight"));
        lxc_spec_free(s);
}

static void test_block_io_leaf_weight_on_v2_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        set_resources(f, block_io());
        f->opts.cgroup_v2 = true;
        msg = fx_fails(f, ENOTSUP);
        assert_contains(msg, "linux.resources.blockIO.leafWeight");
        free(msg);
}

static void test_block_io_bad_device_is_error(void **state)
{
        struct fx *f = *state;
        char *msg;

        set_resources(f, json_pack("{s:{s:[{s:i, s:s}]}}", "blockIO", "throttleReadBpsDevice", "major", 8, "minor",
                                   "0"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "linux.resources.blockIO.throttleReadBpsDevice[0]");
        free(msg);
        set_resources(f, json_pack("{s:{s:s}}", "blockIO", "weight", "high"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "linux.resources.blockIO.weight");
        free(msg);
}

static json_t *hugepages(const char *ps1, const char *ps2)
{
        return json_pack("{s:[{s:s, s:I}, {s:s, s:I}]}", "hugepageLimits", "pageSize", ps1, "limit",
                         (json_int_t) 4194304, "pageSize", ps2, "limit", (json_int_t) 0);
}

static void test_hugepage_limits(void **state)
{
        struct fx *f = *state;
        struct lxc_spec *s;

        set_resources(f, hugepages("2MB", "1GB"));
        s = fx_ok(f);
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.hugetlb.2MB.limit_in_bytes"), "4194304");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup.hugetlb.1GB.limit_in_bytes"), "0");
        lxc_spec_free(s);
        f->opts.cgroup_v2 = true;
        set_resources(f, hugepages("2MB", "64KB"));
        s = fx_ok(f);
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.hugetlb.2MB.max"), "4194304");
        assert_string_equal(lxc_spec_get(s, "lxc.cgroup2.hugetlb.64KB.max"), "0");
        lxc_spec_free(s);
}

static void test_hugepage_bad_page_size_is_error(void **state)
{
        static const char *const bad[] = { "2M", "MB", "02MB", "2MB.limit", "../2MB", "2 MB", "" };
        struct fx *f = *state;
        char *msg;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                set_resources(f, hugepages("2MB", bad[i]));
                msg = fx_fails(f, EINVAL);
                assert_contains(msg, "linux.resources.hugepageLimits[1]");
                free(msg);
        }
        set_resources(f, json_pack("{s:[{s:s, s:s}]}", "hugepageLimits", "pageSize", "2MB", "limit", "1"));
        msg = fx_fails(f, EINVAL);
        assert_contains(msg, "linux.resources.hugepageLimits[0]");
        free(msg);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_block_io_cgroup_v1),
                T(test_block_io_cgroup_v2),
                T(test_block_io_leaf_weight_on_v2_is_error),
                T(test_block_io_bad_device_is_error),
                T(test_hugepage_limits),
                T(test_hugepage_bad_page_size_is_error),
        };

        return unit_run(tests);
}
