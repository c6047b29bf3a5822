/* `start` of a runc container without starting runc.
 *
 * A created runc container is its init process blocked opening
 * <state>/exec.fifo for writing; `runc start` opens the fifo for reading,
 * takes the byte init writes, removes the fifo, and init goes on to exec
 * the container's process.  runc, a 10 MB Go program, takes 25-45 ms here
 * just to start; `pxcri start` doing the same went from 24.6 to 7.8 ms, and
 * pxcrid's StartContainer on runc from 94 to 70 ms (docs/benchmarks.md).
 *
 * Only the plain case is taken: a container that runc's own state says is
 * created, whose init is alive and not frozen, without poststart hooks (runc
 * runs them at start from 1.2 on) and no NOTIFY_SOCKET to relay.  Anything
 * else -- and any surprise on the way -- returns 0 and the caller runs
 * `runc start`, so every refusal still comes in runc's own words. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/oci/runc_start.h"
#include "util/cleanup.h"

#define RUNC_STATE_MAX (4 * 1024 * 1024)
#define RUNC_TICK_MS 100

static json_t *load_state(int dirfd)
{
        _cleanup_close_ int fd = openat(dirfd, "state.json", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        _cleanup_fclose_ FILE *f = NULL;
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > RUNC_STATE_MAX)
                return NULL;
        f = fdopen(fd, "re");
        if (!f)
                return NULL;
        fd = -1;
        return json_loadf(f, 0, NULL);
}

/* Paused (runc refuses to start it, in its words) -- or unknown. */
static bool frozen(const json_t *state)
{
        const json_t *paths = json_object_get(state, "cgroup_paths");
        const char *v1 = json_string_value(json_object_get(paths, "freezer"));
        const char *v2 = json_string_value(json_object_get(paths, ""));
        char path[4096], buf[16] = "";
        _cleanup_close_ int fd = -1;
        ssize_t n;

        if (v1)
                snprintf(path, sizeof(path), "%s/freezer.state", v1);
        else if (v2)
                snprintf(path, sizeof(path), "%s/cgroup.freeze", v2);
        else
                return false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno != ENOENT;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return true;
        buf[n] = '\0';
        return v1 ? strncmp(buf, "THAWED", 6) != 0 : buf[0] != '0';
}

static bool plain(const json_t *state, pid_t *pid, long long *start)
{
        const json_t *config = json_object_get(state, "config");
        /* libcontainer's key is "Hooks" (runc 1.1, 1.2); "hooks" in case it ever follows the spec. */
        const json_t *hooks = json_object_get(config, "Hooks") ?: json_object_get(config, "hooks");
        const json_t *post = json_object_get(hooks, "poststart");
        json_int_t p = json_integer_value(json_object_get(state, "init_process_pid"));
        json_int_t t = json_integer_value(json_object_get(state, "init_process_start"));

        if (p <= 1 || t <= 0 || json_array_size(post) > 0 || (post && !json_is_array(post) && !json_is_null(post)))
                return false;
        *pid = (pid_t) p;
        *start = (long long) t;
        return backend_proc_start_time(*pid) == *start && !frozen(state);
}

/* The byte init writes once it has the fifo open: 1 taken, 0 not (yet), -1
 * init closed it without one (runc: "cannot start an already running
 * container"; the caller lets runc say so). */
static int take_byte(int fd)
{
        char c;
        ssize_t n = read(fd, &c, 1);

        if (n == 1)
                return 1;
        return n == 0 ? -1 : 0;
}

int runc_start_fast(const char *root, const char *id)
{
        _cleanup_close_ int dirfd = -1, fd = -1;
        _cleanup_(json_decrefp) json_t *state = NULL;
        char dir[4096];
        long long start;
        struct stat st;
        pid_t pid;

        if (getenv("NOTIFY_SOCKET") || strchr(id, '/') || id[0] == '.' ||
            snprintf(dir, sizeof(dir), "%s/%s", root, id) >= (int) sizeof(dir))
                return 0;
        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dirfd < 0 || !(state = load_state(dirfd)) || !plain(state, &pid, &start))
                return 0;
        /* Non-blocking: the open neither waits for init nor for a writer
         * that will never come; poll() does, watching init meanwhile. */
        fd = openat(dirfd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
                return 0;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, RUNC_TICK_MS);

                if (r < 0 && errno != EINTR)
                        return 0;
                if (r > 0) {
                        r = take_byte(fd);
                        if (r < 0)
                                return 0;
                        if (r > 0)
                                break;
                }
                if (backend_proc_start_time(pid) != start) {
                        /* Gone: it may have been started, run and ended
                         * in between; the byte says which. */
                        if (take_byte(fd) > 0)
                                break;
                        return 0;
                }
        }
        /* What runc start does after the byte: the container is running. */
        (void) unlinkat(dirfd, "exec.fifo", 0);
        return 1;
}
