/* conmon's own cgroup (CRI-O's conmon_cgroup): where the monitor's memory
 * and CPU are accounted.  Done through the start pipe, before conmon forks,
 * so the monitor and everything it spawns start there. */
#include "monitor/monitor_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/cgstats.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static int pod_cgroup(const char *bundle, char **ret, struct pxe **err)
{
        _cleanup_free_ char *cfg = NULL, *path = NULL;
        json_t *root, *cg;
        char *slash;
        int r = 0;

        if (asprintf(&cfg, "%s/config.json", bundle) < 0)
                return pxe_set(err, ENOMEM, "Reading the pod's cgroup");
        root = json_load_file(cfg, 0, NULL);
        cg = json_object_get(json_object_get(root, "linux"), "cgroupsPath");
        if (!json_is_string(cg))
                r = pxe_set(err, EINVAL, "Conmon's cgroup \"pod\": %s has no linux.cgroupsPath", cfg);
        else
                r = cgroup_path_resolve(json_string_value(cg), &path, err);
        json_decref(root);
        if (r < 0)
                return r;
        slash = strrchr(path, '/');
        *slash = '\0';
        *ret = TAKE_PTR(path);
        return 0;
}

static int join_cgroup(const char *dir, pid_t pid, struct pxe **err)
{
        _cleanup_free_ char *procs = NULL;
        _cleanup_close_ int fd = -EBADF;
        char num[16];
        int n;

        if (fs_mkdir_p(dir, 0755, err) < 0)
                return -EIO;
        if (asprintf(&procs, "%s/cgroup.procs", dir) < 0)
                return pxe_set(err, ENOMEM, "Joining %s", dir);
        n = snprintf(num, sizeof(num), "%d", (int) pid);
        fd = open(procs, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, num, (size_t) n) != n)
                return pxe_set_errno(err, errno, "Moving conmon (pid %d) to %s", (int) pid, dir);
        return 0;
}

/* cgroup v1: every mounted hierarchy (named "cpu,cpuacct", symlinks such
 * as "cpu" skipped). */
static int join_v1(const char *path, pid_t pid, struct pxe **err)
{
        DIR *d = opendir(CGROUP_ROOT);
        struct dirent *de;
        int r = 0;

        if (!d)
                return pxe_set_errno(err, errno, "Opening %s", CGROUP_ROOT);
        while (r == 0 && (de = readdir(d))) {
                _cleanup_free_ char *dir = NULL;

                if (de->d_type != DT_DIR || de->d_name[0] == '.')
                        continue;
                if (asprintf(&dir, "%s/%s%s", CGROUP_ROOT, de->d_name, path) < 0)
                        r = pxe_set(err, ENOMEM, "Moving conmon");
                else
                        r = join_cgroup(dir, pid, err);
        }
        closedir(d);
        return r;
}

int monitor_move_to_cgroup(const struct monitor_config *mc, const char *bundle, pid_t pid, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        const char *cg = mc->conmon_cgroup;
        size_t n;
        int r;

        if (!cg || !cg[0])
                return 0;
        n = strlen(cg);
        if (streq(cg, "pod"))
                r = pod_cgroup(bundle, &path, err);
        else if (n > 6 && streq(cg + n - 6, ".slice") && !strchr(cg, '/'))
                r = cgroup_slice_path(cg, &path, err);
        else
                r = cgroup_path_resolve(cg, &path, err);
        if (r < 0)
                return r;
        if (cgroup_is_v2(CGROUP_ROOT)) {
                _cleanup_free_ char *dir = NULL;

                if (asprintf(&dir, "%s%s", CGROUP_ROOT, path) < 0)
                        return pxe_set(err, ENOMEM, "Moving conmon");
                return join_cgroup(dir, pid, err);
        }
        return join_v1(path, pid, err);
}
