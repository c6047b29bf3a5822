/* Container resource usage from cgroupfs, v1 (hybrid) and v2, the numbers
 * kubelet's summary API wants (working set as cAdvisor computes it). */
#include "monitor/cgstats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <linux/magic.h>

#include "monitor/monitor_int.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
/* v1 reports "no limit" as the largest page-aligned value: anything this
 * big is no limit. */
#define V1_UNLIMITED (UINT64_C(1) << 62)

bool cgroup_is_v2(const char *root)
{
        struct statfs fs;

        return statfs(root, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

int cgroup_slice_path(const char *slice, char **ret, struct pxe **err)
{
        _cleanup_free_ char *out = NULL;
        size_t n = strlen(slice), len = 0;
        const char *dash;

        if (n == 0 || streq(slice, "-.slice")) {
                out = strdup("");
                goto done;
        }
        if (n <= 6 || !streq(slice + n - 6, ".slice") || strchr(slice, '/') || slice[0] == '-' ||
            strstr(slice, "--") || slice[n - 7] == '-')
                return pxe_set(err, EINVAL, "Bad systemd slice \"%s\"", slice);
        /* Each dash-separated prefix is a parent slice: a-b.slice lives in a.slice. */
        out = malloc(n * (n / 2 + 2) + 2);
        if (!out)
                return pxe_set(err, ENOMEM, "Expanding slice %s", slice);
        for (dash = strchr(slice, '-'); dash; dash = strchr(dash + 1, '-'))
                len += (size_t) sprintf(out + len, "/%.*s.slice", (int) (dash - slice), slice);
        sprintf(out + len, "/%s", slice);
done:
        if (!out)
                return pxe_set(err, ENOMEM, "Expanding slice %s", slice);
        *ret = TAKE_PTR(out);
        return 0;
}

static int systemd_path(const char *path, char **ret, struct pxe **err)
{
        _cleanup_free_ char *slice = NULL, *parent = NULL;
        const char *c1 = strchr(path, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        const char *prefix, *name;
        int plen, r;

        if (!c2 || strchr(c2 + 1, ':') || !c2[1] || strchr(c2 + 1, '/'))
                return pxe_set(err, EINVAL, "Bad systemd cgroup path \"%s\" (want slice:prefix:name)", path);
        slice = strndup(path, (size_t) (c1 - path));
        if (!slice)
                return pxe_set(err, ENOMEM, "Expanding %s", path);
        if ((r = cgroup_slice_path(slice[0] ? slice : "system.slice", &parent, err)) < 0)
                return r;
        prefix = c1 + 1;
        plen = (int) (c2 - prefix);
        name = c2 + 1;
        /* As runc: a name that is a slice is used as is, else a scope. */
        if (strlen(name) > 6 && streq(name + strlen(name) - 6, ".slice"))
                r = asprintf(ret, "%s/%s", parent, name);
        else if (plen == 0)
                r = asprintf(ret, "%s/%s.scope", parent, name);
        else
                r = asprintf(ret, "%s/%.*s-%s.scope", parent, plen, prefix, name);
        return r < 0 ? pxe_set(err, ENOMEM, "Expanding %s", path) : 0;
}

int cgroup_path_resolve(const char *path, char **ret, struct pxe **err)
{
        int r;

        if (!path || !path[0])
                return pxe_set(err, EINVAL, "Empty cgroup path");
        if (strchr(path, ':'))
                return systemd_path(path, ret, err);
        if (strstr(path, "/../") || strncmp(path, "../", 3) == 0 || streq(path, "..") ||
            (strlen(path) >= 3 && streq(path + strlen(path) - 3, "/..")))
                return pxe_set(err, EINVAL, "Bad cgroup path \"%s\"", path);
        r = asprintf(ret, "%s%s", path[0] == '/' ? "" : "/", path);
        return r < 0 ? pxe_set(err, ENOMEM, "Copying %s", path) : 0;
}

/* One number in a file of its own; "max" (v2) reads as 0 = unlimited. */
static int read_u64(const char *dir, const char *file, uint64_t *ret, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        char *end;
        int r;

        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return pxe_set(err, ENOMEM, "Reading %s", file);
        if ((r = fs_read_file(path, 256, &text, NULL, err)) < 0)
                return r;
        if (strncmp(text, "max", 3) == 0) {
                *ret = 0;
                return 0;
        }
        errno = 0;
        *ret = strtoull(text, &end, 10);
        if (end == text || errno || (*end && *end != '\n'))
                return pxe_set(err, EINVAL, "%s holds \"%.40s\", not a number", path, text);
        return 0;
}

/* "key value" lines (memory.stat, cpu.stat): the values of keys[i] into
 * vals[i]; missing keys stay 0. */
static int read_keyed(const char *dir, const char *file, const char *const *keys, uint64_t *vals, size_t n,
                      struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        char *save = NULL;
        int r;

        if (asprintf(&path, "%s/%s", dir, file) < 0)
                return pxe_set(err, ENOMEM, "Reading %s", file);
        if ((r = fs_read_file(path, 1 << 20, &text, NULL, err)) < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                vals[i] = 0;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp = strchr(line, ' ');

                if (!sp)
                        continue;
                *sp = '\0';
                for (size_t i = 0; i < n; i++)
                        if (streq(line, keys[i]))
                                vals[i] = strtoull(sp + 1, NULL, 10);
        }
        return 0;
}

static void finish_memory(struct cgroup_stats *s, uint64_t inactive_file, uint64_t limit)
{
        s->memory_working_set = s->memory_usage > inactive_file ? s->memory_usage - inactive_file : 0;
        if (limit && limit < V1_UNLIMITED)
                s->memory_available = limit > s->memory_working_set ? limit - s->memory_working_set : 0;
}

static int read_v2(const char *dir, struct cgroup_stats *s, struct pxe **err)
{
        static const char *const cpu_keys[] = { "usage_usec" };
        static const char *const mem_keys[] = { "inactive_file", "anon", "pgfault", "pgmajfault" };
        uint64_t cpu[1], mem[4], limit = 0;
        int r;

        if ((r = read_keyed(dir, "cpu.stat", cpu_keys, cpu, 1, err)) < 0 ||
            (r = read_u64(dir, "memory.current", &s->memory_usage, err)) < 0 ||
            (r = read_keyed(dir, "memory.stat", mem_keys, mem, 4, err)) < 0 ||
            (r = read_u64(dir, "memory.max", &limit, err)) < 0)
                return r;
        s->cpu_usage_ns = cpu[0] * 1000;
        s->memory_rss = mem[1];
        s->memory_page_faults = mem[2];
        s->memory_major_faults = mem[3];
        finish_memory(s, mem[0], limit);
        /* The pids controller may not be enabled for this cgroup. */
        if (read_u64(dir, "pids.current", &s->pids, NULL) < 0)
                s->pids = 0;
        return 0;
}

/* v1: the directory of path under the first of the hierarchies that exists. */
static int v1_dir(const char *root, const char *const *ctrls, const char *path, char **ret, struct pxe **err)
{
        for (size_t i = 0; ctrls[i]; i++) {
                _cleanup_free_ char *dir = NULL;

                if (asprintf(&dir, "%s/%s%s", root, ctrls[i], path) < 0)
                        return pxe_set(err, ENOMEM, "Reading cgroup %s", path);
                if (fs_dir_exists(dir)) {
                        *ret = TAKE_PTR(dir);
                        return 0;
                }
        }
        return pxe_set(err, ENOENT, "Cgroup %s does not exist", path);
}

static int read_v1(const char *root, const char *path, struct cgroup_stats *s, struct pxe **err)
{
        static const char *const cpu_ctrls[] = { "cpuacct", "cpu,cpuacct", "cpuacct,cpu", NULL };
        static const char *const mem_ctrls[] = { "memory", NULL };
        static const char *const pids_ctrls[] = { "pids", NULL };
        static const char *const mem_keys[] = { "total_inactive_file", "total_rss", "total_pgfault",
                                                "total_pgmajfault" };
        _cleanup_free_ char *cpu = NULL, *mem = NULL, *pids = NULL;
        uint64_t v[4], limit = 0;
        int r;

        if ((r = v1_dir(root, cpu_ctrls, path, &cpu, err)) < 0 || (r = v1_dir(root, mem_ctrls, path, &mem, err)) < 0)
                return r;
        if ((r = read_u64(cpu, "cpuacct.usage", &s->cpu_usage_ns, err)) < 0 ||
            (r = read_u64(mem, "memory.usage_in_bytes", &s->memory_usage, err)) < 0 ||
            (r = read_keyed(mem, "memory.stat", mem_keys, v, 4, err)) < 0 ||
            (r = read_u64(mem, "memory.limit_in_bytes", &limit, err)) < 0)
                return r;
        s->memory_rss = v[1];
        s->memory_page_faults = v[2];
        s->memory_major_faults = v[3];
        finish_memory(s, v[0], limit);
        if (v1_dir(root, pids_ctrls, path, &pids, NULL) == 0 && read_u64(pids, "pids.current", &s->pids, NULL) < 0)
                s->pids = 0;
        return 0;
}

int cgroup_stats_read_at(const char *root, bool v2, const char *path, struct cgroup_stats *ret,
                         struct pxe **err)
{
        _cleanup_free_ char *rel = NULL, *dir = NULL;
        struct cgroup_stats s = { 0 };
        int r;

        if ((r = cgroup_path_resolve(path, &rel, err)) < 0)
                return r;
        if (v2) {
                if (asprintf(&dir, "%s%s", root, rel) < 0)
                        return pxe_set(err, ENOMEM, "Reading cgroup %s", path);
                if (!fs_dir_exists(dir))
                        return pxe_set(err, ENOENT, "Cgroup %s does not exist", path);
                r = read_v2(dir, &s, err);
        } else
                r = read_v1(root, rel, &s, err);
        if (r < 0) {
                pxe_wrap(err, "Reading the stats of cgroup %s", path);
                return r;
        }
        *ret = s;
        return 0;
}

int cgroup_stats_read(const char *path, struct cgroup_stats *ret, struct pxe **err)
{
        return cgroup_stats_read_at(CGROUP_ROOT, cgroup_is_v2(CGROUP_ROOT), path, ret, err);
}
