/* The runtime call conmon makes for a start (`pxcri create`), seen from
 * outside: conmon's children other than the container's process (the pid the
 * runtime writes to <bundle>/pidfile when its create is done; conmon is a
 * subreaper, so the container's process, or the Proxmox waiter, is its child
 * from then on).  A start cut short -- pxcrid killed, or its deadline passed
 * -- may leave that call running: whatever is deleted or asked of the
 * runtime before it ends can be contradicted by it a moment later (a
 * container "created" with no conmon left to record its exit). */
#include "monitor/monitor_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

#define CALLS_MAX 8
#define POLL_MS 20
#define KILLED_WAIT_MS 5000

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pid_t pid_in(const char *bundle, const char *name)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        long pid;

        if (asprintf(&path, "%s/%s", bundle, name) < 0 || fs_read_file(path, 64, &text, NULL, NULL) < 0)
                return 0;
        pid = strtol(text, NULL, 10);
        return pid > 0 && pid < (1L << 22) ? (pid_t) pid : 0;
}

pid_t monitor_conmon_pid(const char *bundle)
{
        _cleanup_free_ char *path = NULL, *comm = NULL;
        pid_t pid = bundle ? pid_in(bundle, "conmon.pid") : 0;

        /* By name too: after a reboot or a long time the pid may be another
         * program's. */
        if (pid <= 0 || asprintf(&path, "/proc/%d/comm", (int) pid) < 0 ||
            fs_read_file(path, 64, &comm, NULL, NULL) < 0)
                return 0;
        return strncmp(comm, "conmon\n", 7) == 0 ? pid : 0;
}

/* The parent's pid in /proc/<pid>/stat ("pid (comm) state ppid ..."; comm
 * may hold spaces and parentheses), 0 when the process is gone or a zombie
 * (done; its parent has not reaped it yet). */
static pid_t parent_of(const char *pid)
{
        char path[64], buf[512];
        _cleanup_close_ int fd = -EBADF;
        const char *p;
        ssize_t n;
        char state;
        int ppid;

        snprintf(path, sizeof(path), "/proc/%s/stat", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
                return 0;
        buf[n] = '\0';
        if (!(p = strrchr(buf, ')')) || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
                return 0;
        return state == 'Z' ? 0 : ppid;
}

/* conmon's children but the container's process, at most CALLS_MAX. */
static size_t calls_of(pid_t conmon, pid_t container, pid_t *ret)
{
        _cleanup_(closedirp) DIR *d = opendir("/proc");
        struct dirent *de;
        size_t n = 0;

        while (d && (de = readdir(d)) && n < CALLS_MAX) {
                pid_t pid;

                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                pid = (pid_t) atoi(de->d_name);
                if (pid != container && parent_of(de->d_name) == conmon)
                        ret[n++] = pid;
        }
        return n;
}

int monitor_runtime_call_wait(const char *bundle, unsigned timeout_s)
{
        long long deadline = now_ms() + (long long) timeout_s * 1000, killed_at = 0;
        pid_t conmon = monitor_conmon_pid(bundle), calls[CALLS_MAX];
        size_t n;

        if (!conmon)
                return 0;
        while ((n = calls_of(conmon, pid_in(bundle, "pidfile"), calls)) > 0) {
                if (!killed_at && now_ms() >= deadline) {
                        for (size_t i = 0; i < n; i++)
                                kill(calls[i], SIGKILL);
                        killed_at = now_ms();
                } else if (killed_at && now_ms() - killed_at > KILLED_WAIT_MS) {
                        return -ETIMEDOUT; /* not even SIGKILL ended it (D state): tell */
                }
                usleep(POLL_MS * 1000);
        }
        return killed_at ? -ECANCELED : 0;
}
