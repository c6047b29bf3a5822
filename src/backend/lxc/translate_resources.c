/* linux.resources -> lxc.cgroup.* (cgroup v1 and hybrid hosts) or
 * lxc.cgroup2.* (unified hosts). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/lxc/translate.h"
#include "util/cleanup.h"

struct cg {
        struct lxc_spec *s;
        bool v2;
        struct pxe **err;
};

/* Add lxc.cgroup[2].<file> = value. */
static int cg_set_str(struct cg *c, const char *file, const char *v)
{
        char key[96];

        snprintf(key, sizeof(key), "%s.%s", c->v2 ? "lxc.cgroup2" : "lxc.cgroup", file);
        if (lxc_spec_add(c->s, key, "%s", v) < 0)
                return pxe_set(c->err, ENOMEM, "Out of memory");
        return 0;
}

static int cg_set_int(struct cg *c, const char *file, long long v)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "%lld", v);
        return cg_set_str(c, file, buf);
}

/* An optional integer field: 0 absent, 1 present (in *v), <0 wrong type. */
static int get_int(json_t *obj, const char *key, long long *v)
{
        json_t *j = json_object_get(obj, key);

        if (!j || json_is_null(j))
                return 0;
        if (!json_is_integer(j))
                return -EINVAL;
        *v = json_integer_value(j);
        return 1;
}

#define GET(obj, field, key, v)                                                                          \
        ({                                                                                                \
                int _r = get_int((obj), (key), (v));                                                      \
                if (_r < 0)                                                                               \
                        return pxe_set(c->err, EINVAL, "linux.resources.%s.%s: expected an integer", field, key); \
                _r;                                                                                       \
        })

static int unsupported(struct cg *c, const char *what)
{
        return pxe_set(c->err, ENOTSUP, "linux.resources.%s: not supported by the lxc backend on a cgroup %s host",
                       what, c->v2 ? "v2" : "v1");
}

static int translate_memory(struct cg *c, json_t *mem)
{
        long long limit = 0, v;
        bool has_limit = false;
        int r = 0;

        if (GET(mem, "memory", "limit", &limit) && limit > 0) {
                has_limit = true;
                r = cg_set_int(c, c->v2 ? "memory.max" : "memory.limit_in_bytes", limit);
        }
        if (r == 0 && GET(mem, "memory", "reservation", &v) && v > 0)
                r = cg_set_int(c, c->v2 ? "memory.low" : "memory.soft_limit_in_bytes", v);
        if (r == 0 && GET(mem, "memory", "swap", &v) && v != 0) {
                if (c->v2)
                        r = v < 0 ? cg_set_str(c, "memory.swap.max", "max")
                                  : cg_set_int(c, "memory.swap.max", has_limit ? v - limit : v);
                else
                        r = cg_set_int(c, "memory.memsw.limit_in_bytes", v);
        }
        if (r == 0 && GET(mem, "memory", "swappiness", &v) && v >= 0)
                r = c->v2 ? unsupported(c, "memory.swappiness") : cg_set_int(c, "memory.swappiness", v);
        if (r == 0 && GET(mem, "memory", "kernel", &v) && v != 0)
                r = unsupported(c, "memory.kernel");
        if (r == 0 && GET(mem, "memory", "kernelTCP", &v) && v != 0)
                r = unsupported(c, "memory.kernelTCP");
        if (r == 0 && json_is_true(json_object_get(mem, "disableOOMKiller")))
                r = c->v2 ? unsupported(c, "memory.disableOOMKiller") : cg_set_int(c, "memory.oom_control", 1);
        return r;
}

static int translate_cpu(struct cg *c, json_t *cpu)
{
        long long shares, quota = 0, period = 0, v;
        bool has_quota, has_period;
        const char *s;
        int r = 0;

        if (GET(cpu, "cpu", "shares", &shares) && shares > 0)
                /* The conversion runc and crun use: [2, 262144] -> [1, 10000]. */
                r = c->v2 ? cg_set_int(c, "cpu.weight", 1 + ((shares - 2) * 9999) / 262142)
                          : cg_set_int(c, "cpu.shares", shares);
        has_quota = GET(cpu, "cpu", "quota", &quota) && quota != 0;
        has_period = GET(cpu, "cpu", "period", &period) && period > 0;
        if (r == 0 && c->v2 && (has_quota || has_period)) {
                char max[64];

                if (has_quota && quota > 0)
                        snprintf(max, sizeof(max), "%lld %lld", quota, has_period ? period : 100000);
                else
                        snprintf(max, sizeof(max), "max %lld", has_period ? period : 100000);
                r = cg_set_str(c, "cpu.max", max);
        } else if (r == 0) {
                if (has_period)
                        r = cg_set_int(c, "cpu.cfs_period_us", period);
                if (r == 0 && has_quota)
                        r = cg_set_int(c, "cpu.cfs_quota_us", quota);
        }
        if (r == 0 && ((GET(cpu, "cpu", "realtimeRuntime", &v) && v) || (GET(cpu, "cpu", "realtimePeriod", &v) && v)))
                r = unsupported(c, "cpu.realtimeRuntime");
        if (r == 0 && (s = json_string_value(json_object_get(cpu, "cpus"))) && *s)
                r = cg_set_str(c, "cpuset.cpus", s);
        if (r == 0 && (s = json_string_value(json_object_get(cpu, "mems"))) && *s)
                r = cg_set_str(c, "cpuset.mems", s);
        return r;
}

/* The devices every OCI runtime allows on top of the spec's rules (runc's
 * AllowedDevices): LXC's /dev has them, and programs expect to use them. */
static int allow_default_devices(struct cg *c)
{
        static const char *const rules[] = {
                "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
        };
        int r = 0;

        for (size_t i = 0; i < ARRAY_SIZE(rules) && r == 0; i++)
                r = cg_set_str(c, "devices.allow", rules[i]);
        return r;
}

/* {allow, type, major, minor, access} -> "c 1:3 rwm" on devices.allow/deny. */
static int translate_device_rules(struct cg *c, json_t *devs)
{
        size_t i;
        json_t *d;

        json_array_foreach(devs, i, d) {
                const char *type = json_string_value(json_object_get(d, "type"));
                const char *access = json_string_value(json_object_get(d, "access"));
                json_t *maj = json_object_get(d, "major"), *min = json_object_get(d, "minor");
                char rule[96], mj[24] = "*", mn[24] = "*";
                int r;

                if (!json_is_boolean(json_object_get(d, "allow")) || (type && strcmp(type, "a") &&
                                                                      strcmp(type, "c") && strcmp(type, "b")) ||
                    (access && strspn(access, "rwm") != strlen(access)))
                        return pxe_set(c->err, EINVAL, "linux.resources.devices[%zu]: invalid rule", i);
                if (json_is_integer(maj) && json_integer_value(maj) >= 0)
                        snprintf(mj, sizeof(mj), "%lld", json_integer_value(maj));
                if (json_is_integer(min) && json_integer_value(min) >= 0)
                        snprintf(mn, sizeof(mn), "%lld", json_integer_value(min));
                if (!type || streq(type, "a"))
                        snprintf(rule, sizeof(rule), "a");
                else
                        snprintf(rule, sizeof(rule), "%s %s:%s %s", type, mj, mn, access && *access ? access : "rwm");
                r = cg_set_str(c, json_is_true(json_object_get(d, "allow")) ? "devices.allow" : "devices.deny", rule);
                if (r < 0)
                        return r;
        }
        return json_array_size(devs) > 0 ? allow_default_devices(c) : 0;
}

/* blkio.weight [10, 1000] -> io.weight [1, 10000], the conversion runc and
 * crun use. */
static long long blkio_weight_v2(long long w)
{
        return 1 + ((w - 10) * 9999) / 990;
}
/* One blockIO device list: [{major, minor, <field>}] -> "MAJ:MIN <prefix><value>"
 * on file, one entry per device (io.max takes one key at a time and keeps the
 * others, so each throttle rule is its own write on v2 too). */
static int blkio_devices(struct cg *c, json_t *bio, const char *list, const char *field, const char *file,
                         const char *prefix, bool v2_weight)
{
        json_t *devs = json_object_get(bio, list), *d;
        size_t i;

        if (!devs || json_is_null(devs))
                return 0;
        if (!json_is_array(devs))
                return pxe_set(c->err, EINVAL, "linux.resources.blockIO.%s: expected an array", list);
        json_array_foreach(devs, i, d) {
                json_t *maj = json_object_get(d, "major"), *min = json_object_get(d, "minor");
                json_t *v = json_object_get(d, field);
                char line[96];
                long long n;

                if ((!v || json_is_null(v)) && streq(list, "weightDevice"))
                        continue; /* weightDevice entries may give only one of weight, leafWeight */
                if (!json_is_integer(maj) || !json_is_integer(min) || !json_is_integer(v) ||
                    json_integer_value(maj) < 0 || json_integer_value(min) < 0 || json_integer_value(v) < 0)
                        return pxe_set(c->err, EINVAL,
                                       "linux.resources.blockIO.%s[%zu]: major, minor and %s must be integers >= 0",
                                       list, i, field);
                n = json_integer_value(v);
                if (v2_weight)
                        n = blkio_weight_v2(n);
                snprintf(line, sizeof(line), "%lld:%lld %s%lld", json_integer_value(maj), json_integer_value(min),
                         prefix, n);
                if (cg_set_str(c, file, line) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int translate_blkio_v1(struct cg *c, json_t *bio)
{
        long long v;
        int r = 0;

        if (GET(bio, "blockIO", "weight", &v) && v > 0)
                r = cg_set_int(c, "blkio.weight", v);
        if (r == 0 && GET(bio, "blockIO", "leafWeight", &v) && v > 0)
                r = cg_set_int(c, "blkio.leaf_weight", v);
        if (r == 0)
                r = blkio_devices(c, bio, "weightDevice", "weight", "blkio.weight_device", "", false);
        if (r == 0)
                r = blkio_devices(c, bio, "weightDevice", "leafWeight", "blkio.leaf_weight_device", "", false);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleReadBpsDevice", "rate", "blkio.throttle.read_bps_device", "", false);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleWriteBpsDevice", "rate", "blkio.throttle.write_bps_device", "",
                                  false);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleReadIOPSDevice", "rate", "blkio.throttle.read_iops_device", "",
                                  false);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleWriteIOPSDevice", "rate", "blkio.throttle.write_iops_device", "",
                                  false);
        return r;
}

static int translate_blkio_v2(struct cg *c, json_t *bio)
{
        json_t *wd = json_object_get(bio, "weightDevice"), *d;
        long long v;
        size_t i;
        int r = 0;

        if (GET(bio, "blockIO", "leafWeight", &v) && v > 0)
                return unsupported(c, "blockIO.leafWeight");
        json_array_foreach(wd, i, d)
                if (json_is_integer(json_object_get(d, "leafWeight")))
                        return unsupported(c, "blockIO.weightDevice.leafWeight");
        if (GET(bio, "blockIO", "weight", &v) && v > 0)
                r = cg_set_int(c, "io.weight", blkio_weight_v2(v));
        if (r == 0)
                r = blkio_devices(c, bio, "weightDevice", "weight", "io.weight", "", true);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleReadBpsDevice", "rate", "io.max", "rbps=", false);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleWriteBpsDevice", "rate", "io.max", "wbps=", false);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleReadIOPSDevice", "rate", "io.max", "riops=", false);
        if (r == 0)
                r = blkio_devices(c, bio, "throttleWriteIOPSDevice", "rate", "io.max", "wiops=", false);
        return r;
}

static int translate_blkio(struct cg *c, json_t *bio)
{
        if (!bio || json_is_null(bio))
                return 0;
        if (!json_is_object(bio))
                return pxe_set(c->err, EINVAL, "linux.resources.blockIO: expected an object");
        return c->v2 ? translate_blkio_v2(c, bio) : translate_blkio_v1(c, bio);
}

/* A page size as the spec writes it ("2MB", "1GB", "64KB"): it becomes part
 * of a cgroup file name, so nothing else is let through. */
static bool valid_page_size(const char *ps)
{
        size_t n = strspn(ps, "0123456789");

        return n > 0 && ps[0] != '0' && strlen(ps) <= 12 &&
               (streq(ps + n, "KB") || streq(ps + n, "MB") || streq(ps + n, "GB"));
}

static int translate_hugetlb(struct cg *c, json_t *limits)
{
        json_t *h;
        size_t i;

        if (!limits || json_is_null(limits))
                return 0;
        if (!json_is_array(limits))
                return pxe_set(c->err, EINVAL, "linux.resources.hugepageLimits: expected an array");
        json_array_foreach(limits, i, h) {
                const char *ps = json_string_value(json_object_get(h, "pageSize"));
                json_t *limit = json_object_get(h, "limit");
                char file[64];

                if (!ps || !valid_page_size(ps) || !json_is_integer(limit) || json_integer_value(limit) < 0)
                        return pxe_set(c->err, EINVAL,
                                       "linux.resources.hugepageLimits[%zu]: expected a pageSize such as \"2MB\" "
                                       "and a limit >= 0",
                                       i);
                snprintf(file, sizeof(file), "hugetlb.%s.%s", ps, c->v2 ? "max" : "limit_in_bytes");
                if (cg_set_int(c, file, json_integer_value(limit)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int refuse_resources(struct cg *c, json_t *res)
{
        static const char *const fields[] = { "network", "rdma", "unified" };

        for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
                json_t *v = json_object_get(res, fields[i]);

                if (v && !json_is_null(v) && (json_is_object(v) ? json_object_size(v) : json_array_size(v)) > 0)
                        return pxe_set(c->err, ENOTSUP, "linux.resources.%s: not supported by the lxc backend",
                                       fields[i]);
        }
        return 0;
}

int lxc_translate_resources(json_t *lin, const struct lxc_translate_opts *o, struct lxc_spec *s, struct pxe **err)
{
        json_t *res = json_object_get(lin, "resources"), *pids;
        struct cg c = { .s = s, .v2 = o->cgroup_v2, .err = err };
        long long limit;
        int r;

        if (!res || json_is_null(res))
                return 0;
        if (!json_is_object(res))
                return pxe_set(err, EINVAL, "linux.resources: expected an object");
        if ((r = refuse_resources(&c, res)) < 0 || (r = translate_device_rules(&c, json_object_get(res, "devices"))) < 0 ||
            (r = translate_memory(&c, json_object_get(res, "memory"))) < 0 ||
            (r = translate_cpu(&c, json_object_get(res, "cpu"))) < 0 ||
            (r = translate_blkio(&c, json_object_get(res, "blockIO"))) < 0 ||
            (r = translate_hugetlb(&c, json_object_get(res, "hugepageLimits"))) < 0)
                return r;
        pids = json_object_get(res, "pids");
        if (get_int(pids, "limit", &limit) < 0)
                return pxe_set(err, EINVAL, "linux.resources.pids.limit: expected an integer");
        if (get_int(pids, "limit", &limit) > 0)
                return limit > 0 ? cg_set_int(&c, "pids.max", limit) : cg_set_str(&c, "pids.max", "max");
        return 0;
}
