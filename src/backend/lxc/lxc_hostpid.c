/* Containers without a pid namespace of their own (hostPID): pxcri-init is
 * not the namespace's init, so killing it does not end the others, and
 * "every process of the container" is its cgroup, not a pid namespace. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/lxc/lxc_private.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define CGROUP_DEPTH_MAX 16

bool lxcb_shares_host_pidns(pid_t init)
{
        char path[64];
        struct stat a, b;

        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) init);
        return stat(path, &a) == 0 && stat("/proc/self/ns/pid", &b) == 0 && a.st_ino == b.st_ino &&
               a.st_dev == b.st_dev;
}

pid_t lxcb_init_child(pid_t init)
{
        _cleanup_free_ char *text = NULL, *path = NULL;

        if (asprintf(&path, "/proc/%d/task/%d/children", (int) init, (int) init) < 0 ||
            fs_read_file(path, 65536, &text, NULL, NULL) < 0)
                return 0;
        return (pid_t) atoi(text);
}

/* The host directory of pid's cgroup: the v1 pids hierarchy, else the
 * unified one. */
static char *cgroup_dir(pid_t pid)
{
        _cleanup_free_ char *text = NULL, *path = NULL, *v2 = NULL;
        char *line, *save = NULL, *dir = NULL;

        if (asprintf(&path, "/proc/%d/cgroup", (int) pid) < 0 || fs_read_file(path, 65536, &text, NULL, NULL) < 0)
                return NULL;
        for (line = strtok_r(text, "\n", &save); line && !dir; line = strtok_r(NULL, "\n", &save)) {
                char *ctl = strchr(line, ':'), *rel = ctl ? strchr(ctl + 1, ':') : NULL;

                if (!rel)
                        continue;
                *rel++ = '\0';
                if (streq(ctl + 1, "pids") && asprintf(&dir, "/sys/fs/cgroup/pids%s", rel) < 0)
                        dir = NULL;
                else if (streq(ctl + 1, "") && !v2)
                        v2 = strdup(rel);
        }
        if (!dir && v2 && (asprintf(&dir, "/sys/fs/cgroup/unified%s", v2) < 0 || access(dir, F_OK) < 0)) {
                free(dir);
                if (asprintf(&dir, "/sys/fs/cgroup%s", v2) < 0)
                        dir = NULL;
        }
        return dir;
}

static void walk_cgroup(const char *dir, int depth, void (*fn)(pid_t pid, void *data), void *data)
{
        _cleanup_free_ char *procs = NULL, *text = NULL;
        DIR *d;
        struct dirent *de;

        if (asprintf(&procs, "%s/cgroup.procs", dir) >= 0 && fs_read_file(procs, 1 << 20, &text, NULL, NULL) >= 0)
                for (char *p = text; *p;) {
                        pid_t pid = (pid_t) strtol(p, &p, 10);

                        if (pid > 0)
                                fn(pid, data);
                        while (*p == '\n')
                                p++;
                        if (pid <= 0)
                                break;
                }
        if (depth >= CGROUP_DEPTH_MAX || !(d = opendir(dir)))
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *sub = NULL;

                if (de->d_type != DT_DIR || de->d_name[0] == '.' || asprintf(&sub, "%s/%s", dir, de->d_name) < 0)
                        continue;
                walk_cgroup(sub, depth + 1, fn, data);
        }
        closedir(d);
}

void lxcb_for_each_cgroup_process(pid_t init, void (*fn)(pid_t pid, void *data), void *data)
{
        _cleanup_free_ char *dir = cgroup_dir(init);

        /* The host's root cgroup would be every process of the host. */
        if (!dir || streq(dir, "/sys/fs/cgroup/pids/") || streq(dir, "/sys/fs/cgroup/unified/") ||
            streq(dir, "/sys/fs/cgroup/"))
                return;
        walk_cgroup(dir, 0, fn, data);
}
