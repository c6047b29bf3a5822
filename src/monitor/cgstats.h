/* Resource usage of a cgroup, cgroup v1 (hybrid: cpuacct, memory) and v2.
 *
 * path is the cgroup path as in an OCI config's linux.cgroupsPath with the
 * cgroupfs driver ("/kubepods/pod1/ctr"), or "slice:prefix:name" with the
 * systemd driver.  Reads files only; safe from any thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct cgroup_stats {
        uint64_t cpu_usage_ns;          /* cumulative CPU time */
        uint64_t memory_usage;          /* bytes, including cache */
        uint64_t memory_working_set;    /* usage - inactive_file (as kubelet/cAdvisor) */
        uint64_t memory_rss;
        uint64_t memory_page_faults;
        uint64_t memory_major_faults;
        uint64_t memory_available;      /* limit - working set, 0 when unlimited */
        uint64_t pids;                  /* current number of tasks */
};

/* -ENOENT when the cgroup does not exist (the container is gone). */
int cgroup_stats_read(const char *path, struct cgroup_stats *ret, struct pxe **err);

/* cgroup_stats_read under root (normally /sys/fs/cgroup), for tests: v2 is
 * the unified layout, else the v1 one (<root>/<controller>/<path>). */
int cgroup_stats_read_at(const char *root, bool v2, const char *path, struct cgroup_stats *ret,
                         struct pxe **err);

/* The cgroupfs path of an OCI cgroupsPath: "/a/b" as is (a leading "/"
 * added when missing), systemd's "slice:prefix:name" as
 * "/a.slice/a-b.slice/prefix-name.scope".  -EINVAL for a malformed one. */
int cgroup_path_resolve(const char *path, char **ret, struct pxe **err);

/* Remove the cgroup at path (as cgroup_stats_read takes it) in every mounted
 * hierarchy, killing what is still inside; a cgroup that is not there is no
 * error.  For a container whose runtime state is gone (cgremove.c). */
int cgroup_remove(const char *path, struct pxe **err);
