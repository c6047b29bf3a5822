#include "net/pidns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/spawn.h"

/* PID 1 of the pod: reap whatever is reparented to it, forever.  Only
 * async-signal-safe calls: we are the child of a fork in a threaded program. */
static _Noreturn void infra_main(void)
{
        sigset_t all;

        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        setsid();
        prctl(PR_SET_NAME, "pxcri-infra", 0, 0, 0);
        for (int fd = 0; fd < 1024; fd++)
                close(fd);
        for (;;) {
                int sig = 0;

                if (waitpid(-1, NULL, 0) < 0) { /* nothing to reap: sleep until a child dies */
                        sigset_t chld;

                        sigemptyset(&chld);
                        sigaddset(&chld, SIGCHLD);
                        sigwait(&chld, &sig);
                }
        }
}

int pidns_infra_start(pid_t *ret_pid, struct pxe **err)
{
        int p[2];
        pid_t mid, infra = -1;
        int status = 0;
        ssize_t n;

        if (pipe2(p, O_CLOEXEC) < 0)
                return pxe_set_errno(err, errno, "Starting the pod's infra process: pipe");
        mid = fork();
        if (mid < 0) {
                close(p[0]);
                close(p[1]);
                return pxe_set_errno(err, errno, "Starting the pod's infra process: fork");
        }
        if (mid == 0) {
                pid_t child;

                close(p[0]);
                if (unshare(CLONE_NEWPID) < 0)
                        _exit(errno);
                child = fork();
                if (child < 0)
                        _exit(errno);
                if (child == 0)
                        infra_main();
                if (write(p[1], &child, sizeof(child)) != sizeof(child))
                        _exit(EIO);
                _exit(0);
        }
        close(p[1]);
        n = read(p[0], &infra, sizeof(infra));
        close(p[0]);
        spawn_wait(mid, &status);
        if (n != sizeof(infra) || infra <= 0)
                return pxe_set_errno(err, WIFEXITED(status) && WEXITSTATUS(status) ? WEXITSTATUS(status) : EIO,
                                     "Starting the pod's infra process (a new PID namespace)");
        *ret_pid = infra;
        return 0;
}

bool pidns_infra_alive(pid_t pid)
{
        char path[64];
        struct stat ours, theirs;

        if (pid <= 0)
                return false;
        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) pid);
        return stat(path, &theirs) == 0 && stat("/proc/self/ns/pid", &ours) == 0 && theirs.st_ino != ours.st_ino;
}

void pidns_infra_stop(pid_t pid)
{
        if (pidns_infra_alive(pid))
                kill(pid, SIGKILL);
}
