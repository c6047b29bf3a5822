/* StopContainer: signal, wait for conmon's exit file, escalate to SIGKILL.
 * The wait is an inotify watch on the exits directory private to the call
 * (plus a slow re-check, so a missed event costs a fraction of a second). */
#include "monitor/monitor_int.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

#define STOP_KILL_WAIT_MS 10000
#define STOP_RECHECK_MS 250

static long long mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 with the exit once recorded, -ETIMEDOUT after wait_ms, other errors of
 * reading the exit file as they come. */
static int wait_exit(const struct monitor_config *mc, const char *id, int ino, long long wait_ms,
                     struct monitor_exit *ex, struct pxe **err)
{
        long long deadline = mono_ms() + wait_ms;

        for (;;) {
                struct pollfd p = { .fd = ino, .events = POLLIN };
                char drain[4096];
                long long left;
                int r = monitor_read_exit(mc, id, ex, NULL);

                if (r == 0)
                        return 0;
                if (r != -ENOENT)
                        return monitor_read_exit(mc, id, ex, err);
                left = deadline - mono_ms();
                if (left <= 0)
                        return -ETIMEDOUT;
                if (ino < 0)
                        p.fd = -1;
                poll(&p, 1, (int) (left < STOP_RECHECK_MS ? left : STOP_RECHECK_MS));
                while (ino >= 0 && read(ino, drain, sizeof(drain)) > 0)
                        ;
        }
}

/* Gone from the runtime: conmon has written the exit already, or never
 * will.  A short wait covers a conmon still writing it. */
static int stopped_gone(const struct monitor_config *mc, const char *id, int ino, struct monitor_exit *ex)
{
        if (wait_exit(mc, id, ino, 1000, ex, NULL) < 0)
                *ex = (struct monitor_exit) { .code = -1 };
        return 0;
}

int monitor_stop(const struct monitor_config *mc, const char *id, int sig, unsigned timeout_s,
                 struct monitor_exit *ret, struct pxe **err)
{
        _cleanup_close_ int ino = -EBADF;
        struct monitor_exit ex;
        int r;

        /* No err here: "has not exited" is the expected answer, not an error. */
        if ((r = monitor_read_exit(mc, id, &ex, NULL)) != -ENOENT) {
                if (r == 0 && ret)
                        *ret = ex;
                return r < 0 ? monitor_read_exit(mc, id, &ex, err) : 0;
        }
        /* Watch before signalling: an exit right after the kill is not missed. */
        ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (ino >= 0 && inotify_add_watch(ino, mc->exits_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0)
                ino = (close(ino), -EBADF);
        /* No time to stop: SIGKILL at once, as containerd does (one runtime
         * call instead of two). */
        if (timeout_s > 0 || (sig > 0 && sig != SIGTERM && sig != SIGKILL)) {
                r = monitor_kill(mc, id, sig > 0 ? sig : SIGTERM, false, NULL);
                if (r == -ENOENT) {
                        r = stopped_gone(mc, id, ino, &ex);
                        goto done;
                }
                /* Any other failure (already stopping, not running) leaves the
                 * exit file, or the SIGKILL below, to decide. */
                r = wait_exit(mc, id, ino, (long long) timeout_s * 1000, &ex, err);
                if (r != -ETIMEDOUT)
                        goto done;
        }
        r = monitor_kill(mc, id, SIGKILL, true, NULL);
        if (r == -ENOENT) {
                r = stopped_gone(mc, id, ino, &ex);
                goto done;
        }
        r = wait_exit(mc, id, ino, STOP_KILL_WAIT_MS, &ex, err);
        if (r == -ETIMEDOUT)
                return pxe_set(err, ETIMEDOUT, "Stopping container %s: still running %u s after SIGKILL", id,
                               STOP_KILL_WAIT_MS / 1000);
done:
        if (r == 0 && ret)
                *ret = ex;
        return r;
}
