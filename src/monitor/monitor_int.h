/* Shared by the files of src/monitor/ only. */
#pragma once

#include "monitor/monitor.h"

#define RUNTIME_ARGV_MAX 64

/* The environment of conmon and pxcri: explicit, never pxcrid's own. */
extern char *const monitor_envp[];

struct runtime_argv {
        const char *argv[RUNTIME_ARGV_MAX];
        char *root, *config;
};

int runtime_argv_build(const struct monitor_config *mc, const char *const *args, size_t n_args,
                       struct runtime_argv *a, struct pxe **err);
void runtime_argv_done(struct runtime_argv *a);

/* Run `pxcri <globals> args...` for container id (60 s at most); what names
 * the action in errors ("Starting").  The runtime's stdout in *ret_out. */
int runtime_run(const struct monitor_config *mc, const char *what, const char *id, const char *const *args,
                size_t n_args, const char *stdin_data, char **ret_out, struct pxe **err);

/* Put conmon's first process (before it forks) into mc->conmon_cgroup:
 * "pod" is the parent of the container's linux.cgroupsPath (from
 * <bundle>/config.json), "x.slice" a systemd slice, anything else a cgroupfs
 * path.  Nothing to do when conmon_cgroup is NULL. */
int monitor_move_to_cgroup(const struct monitor_config *mc, const char *bundle, pid_t pid, struct pxe **err);

/* "a-b.slice" -> "/a.slice/a-b.slice" ("-.slice" and "" -> ""). */
int cgroup_slice_path(const char *slice, char **ret, struct pxe **err);

/* Whether the cgroup file system at root is cgroup v2 (unified). */
bool cgroup_is_v2(const char *root);
