/* Removing a container's cgroups when the runtime could not (its create was
 * killed halfway: the cgroups exist, its state does not, so `delete` has
 * nothing to remove).  Every hierarchy mounted under /sys/fs/cgroup (v1,
 * hybrid's unified, or v2 alone) is tried; processes still inside are killed
 * first.  Files only, plus kill(2): safe from any thread. */
#include "monitor/cgstats.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static void kill_members(const char *dir)
{
        _cleanup_free_ char *procs = NULL, *text = NULL;
        char *p, *end;

        if (asprintf(&procs, "%s/cgroup.procs", dir) < 0 || fs_read_file(procs, 1 << 20, &text, NULL, NULL) < 0)
                return;
        for (p = text; *p; p = end) {
                long pid = strtol(p, &end, 10);

                if (end == p)
                        break;
                if (pid > 1)
                        kill((pid_t) pid, SIGKILL);
                while (*end == '\n')
                        end++;
        }
}

/* rmdir, retried while killed members are still going away. */
static int remove_dir(const char *dir)
{
        for (int i = 0; i < 100; i++) {
                if (rmdir(dir) == 0 || errno == ENOENT)
                        return 0;
                if (errno != EBUSY)
                        return -errno;
                kill_members(dir);
                usleep(10000);
        }
        return -EBUSY;
}

int cgroup_remove(const char *path, struct pxe **err)
{
        _cleanup_free_ char *rel = NULL;
        DIR *d;
        struct dirent *de;
        int first = 0;

        if (cgroup_path_resolve(path, &rel, err) < 0)
                return -EINVAL;
        if (streq(rel, "/"))
                return pxe_set(err, EINVAL, "Refusing to remove the root cgroup");
        if (fs_exists(CGROUP_ROOT "/cgroup.controllers")) { /* v2 alone */
                _cleanup_free_ char *dir = NULL;
                int r;

                if (asprintf(&dir, CGROUP_ROOT "%s", rel) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                kill_members(dir);
                r = remove_dir(dir);
                return r < 0 ? pxe_set_errno(err, -r, "Removing cgroup %s", dir) : 0;
        }
        d = opendir(CGROUP_ROOT);
        if (!d)
                return pxe_set_errno(err, errno, "Opening " CGROUP_ROOT);
        while ((de = readdir(d))) {
                _cleanup_free_ char *dir = NULL;
                int r;

                if (de->d_name[0] == '.' || asprintf(&dir, CGROUP_ROOT "/%s%s", de->d_name, rel) < 0 ||
                    !fs_dir_exists(dir))
                        continue;
                kill_members(dir);
                r = remove_dir(dir);
                if (r < 0 && !first)
                        first = pxe_set_errno(err, -r, "Removing cgroup %s", dir);
        }
        closedir(d);
        return first;
}
