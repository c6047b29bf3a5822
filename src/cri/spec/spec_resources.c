/* CRI LinuxContainerResources -> OCI linux.resources, the mapping
 * containerd's WithResources does: zero means "not set" for every number,
 * swap equals the memory limit unless the request names one (no swap beyond
 * the limit), hugepage limits by page size ("2MB", "1GB"), and the cgroup v2
 * unified map as is.  oom_score_adj is a process setting in OCI
 * (process.oomScoreAdj), raised to the lowest value the host accepts. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cri/spec/spec_internal.h"
#include "util/cleanup.h"

/* "2MB", "1GB", "64KB": digits then a unit, as the hugetlb cgroup files name them. */
static bool page_size_ok(const char *s)
{
        size_t d = spec_str_set(s) ? strspn(s, "0123456789") : 0;

        return d > 0 && (streq(s + d, "KB") || streq(s + d, "MB") || streq(s + d, "GB"));
}

static json_t *cpu_json(const Runtime__V1__LinuxContainerResources *r)
{
        json_t *cpu = json_object();

        if (r->cpu_shares > 0)
                json_object_set_new(cpu, "shares", json_integer(r->cpu_shares));
        if (r->cpu_quota != 0)
                json_object_set_new(cpu, "quota", json_integer(r->cpu_quota));
        if (r->cpu_period > 0)
                json_object_set_new(cpu, "period", json_integer(r->cpu_period));
        if (spec_str_set(r->cpuset_cpus))
                json_object_set_new(cpu, "cpus", json_string(r->cpuset_cpus));
        if (spec_str_set(r->cpuset_mems))
                json_object_set_new(cpu, "mems", json_string(r->cpuset_mems));
        return cpu;
}

static json_t *memory_json(const Runtime__V1__LinuxContainerResources *r)
{
        json_t *mem = json_object();

        if (r->memory_limit_in_bytes > 0) {
                json_object_set_new(mem, "limit", json_integer(r->memory_limit_in_bytes));
                json_object_set_new(mem, "swap", json_integer(r->memory_swap_limit_in_bytes != 0
                                                                       ? r->memory_swap_limit_in_bytes
                                                                       : r->memory_limit_in_bytes));
        }
        return mem;
}

static json_t *hugepages_json(const Runtime__V1__LinuxContainerResources *r)
{
        json_t *a = json_array();

        for (size_t i = 0; i < r->n_hugepage_limits; i++) {
                const Runtime__V1__HugepageLimit *h = r->hugepage_limits[i];

                if (!page_size_ok(h->page_size)) {
                        json_decref(a);
                        return NULL;
                }
                json_array_append_new(a, json_pack("{s:s, s:I}", "pageSize", h->page_size, "limit",
                                                   (json_int_t) h->limit));
        }
        return a;
}

/* Set key to v in o when v is non-empty; v is consumed. */
static void set_nonempty(json_t *o, const char *key, json_t *v)
{
        if ((json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v)))
                json_object_set_new(o, key, v);
        else
                json_decref(v);
}

json_t *cri_spec_resources(const Runtime__V1__LinuxContainerResources *r, int min_oom_score_adj)
{
        json_t *res = json_object(), *hp, *unified;

        /* No OCI field for it: the caller applies oom_score_adj to process. */
        (void) min_oom_score_adj;
        if (!res || !r)
                return res;
        hp = hugepages_json(r);
        if (!hp) {
                json_decref(res);
                return NULL;
        }
        set_nonempty(res, "cpu", cpu_json(r));
        set_nonempty(res, "memory", memory_json(r));
        set_nonempty(res, "hugepageLimits", hp);
        unified = json_object();
        for (size_t i = 0; i < r->n_unified; i++)
                if (spec_str_set(r->unified[i]->key))
                        json_object_set_new(unified, r->unified[i]->key,
                                            json_string(r->unified[i]->value ? r->unified[i]->value : ""));
        set_nonempty(res, "unified", unified);
        return res;
}

int cri_spec_check_resources(const Runtime__V1__LinuxContainerResources *r, struct pxe **err)
{
        if (r->cpu_shares < 0 || r->cpu_period < 0)
                return pxe_set(err, EINVAL, "linux.resources: cpu_shares and cpu_period must not be negative");
        if (r->memory_limit_in_bytes < 0)
                return pxe_set(err, EINVAL, "linux.resources.memory_limit_in_bytes %" PRId64 " is negative",
                               r->memory_limit_in_bytes);
        if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
                return pxe_set(err, EINVAL, "linux.resources.oom_score_adj %" PRId64 " is outside -1000..1000",
                               r->oom_score_adj);
        for (size_t i = 0; i < r->n_hugepage_limits; i++)
                if (!page_size_ok(r->hugepage_limits[i]->page_size))
                        return pxe_set(err, EINVAL, "linux.resources.hugepage_limits[%zu].page_size \"%s\" is not "
                                       "like 2MB or 1GB", i, r->hugepage_limits[i]->page_size ?
                                       r->hugepage_limits[i]->page_size : "");
        return 0;
}

int spec_apply_resources(json_t *spec, const Runtime__V1__LinuxContainerResources *r, int min_oom_score_adj,
                         struct pxe **err)
{
        json_t *res, *old, *v, *linux_ = spec_object(spec, "linux");
        int64_t oom = r ? r->oom_score_adj : 0;
        const char *k;

        if (r && cri_spec_check_resources(r, err) < 0)
                return -EINVAL;
        /* Without CAP_SYS_RESOURCE the runtime cannot lower the score below
         * what pxcrid itself has: a negative value would fail the create. */
        if (oom < min_oom_score_adj)
                oom = min_oom_score_adj;
        json_object_set_new(spec_object(spec, "process"), "oomScoreAdj", json_integer(oom));
        if (!r)
                return 0;
        res = cri_spec_resources(r, min_oom_score_adj);
        if (!res)
                return pxe_set(err, ENOMEM, "Out of memory");
        /* Keep what is already there (the device rules). */
        old = spec_object(linux_, "resources");
        json_object_foreach(res, k, v)
                json_object_set(old, k, v);
        json_decref(res);
        return 0;
}
