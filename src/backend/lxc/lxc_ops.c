/* kill, delete, ps, pause, resume for the lxc backend; exec and update are
 * in lxc_exec.c. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backend/lxc/lxc_private.h"
#include "util/cleanup.h"
#include "util/log.h"

#define STOP_TIMEOUT_MS 10000

/* The pid namespace inode of pid, 0 if unknown. */
static ino_t pidns_of(pid_t pid)
{
        char path[64];
        struct stat st;

        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) pid);
        return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Call fn for every process in the container's own pid namespace; with a
 * shared pid namespace only for pxcri-init. */
static void for_each_process(pid_t init, void (*fn)(pid_t pid, void *data), void *data)
{
        ino_t ns = pidns_of(init);
        DIR *d;
        struct dirent *de;

        if (!ns || ns == pidns_of(getpid()) || !(d = opendir("/proc"))) {
                fn(init, data);
                return;
        }
        while ((de = readdir(d))) {
                pid_t pid = (pid_t) atoi(de->d_name);

                if (pid > 0 && pidns_of(pid) == ns)
                        fn(pid, data);
        }
        closedir(d);
}

static void signal_one(pid_t pid, void *data)
{
        kill(pid, *(int *) data);
}

int lxcb_kill(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        struct lxcb_info info;
        int sig = backend_parse_signal(c->signal), r;

        if (sig < 0)
                return pxe_set(err, EINVAL, "Unknown signal \"%s\"", c->signal);
        if ((r = lxcb_info(b, c->id, &info, err)) < 0)
                return r;
        json_decref(info.state);
        if (info.status == LXCB_STOPPED)
                return pxe_set(err, ESRCH, "container %s is not running", c->id);
        /* pxcri-init passes every signal on to the process; SIGKILL ends
         * pxcri-init and with it the whole pid namespace. */
        if (c->all)
                for_each_process(info.pid, signal_one, &sig);
        else if (kill(info.pid, sig) < 0)
                return pxe_set_errno(err, errno, "Signalling container %s", c->id);
        *st = 0;
        return 0;
}

static bool wait_stopped(struct backend *b, const char *id, int timeout_ms)
{
        struct timespec ms = { 0, 1000000 };

        for (int i = 0; i < timeout_ms; i++) {
                struct lxcb_info info;

                if (lxcb_info(b, id, &info, NULL) < 0)
                        return true;
                json_decref(info.state);
                if (info.status == LXCB_STOPPED)
                        return true;
                nanosleep(&ms, NULL);
        }
        return false;
}

int lxcb_destroy(struct backend *b, const char *id, struct pxe **err)
{
        struct lxcb_info info;
        int r;

        if ((r = lxcb_info(b, id, &info, err)) < 0)
                return r;
        if (info.status != LXCB_STOPPED) {
                if (info.status == LXCB_PAUSED) {
                        _cleanup_lxc_ struct lxc_container *c = NULL;

                        if (lxcb_open(b, id, &c, NULL) == 0)
                                c->unfreeze(c);
                }
                kill(info.pid, SIGKILL);
                if (!wait_stopped(b, id, STOP_TIMEOUT_MS)) {
                        json_decref(info.state);
                        return pxe_set(err, ETIMEDOUT, "Container %s did not stop", id);
                }
        }
        /* The waiter is liblxc's monitor: it removes the cgroups on its way
         * out, so let it finish before the directory goes. */
        lxcb_wait_waiter_gone(info.state, STOP_TIMEOUT_MS);
        lxcb_hooks_warn(info.state, "poststop", id, LXCB_STOPPED, 0);
        json_decref(info.state);
        lxcb_cleanup(b, id);
        return 0;
}

int lxcb_delete(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        struct lxcb_info info;
        int r;

        if ((r = lxcb_info(b, c->id, &info, err)) < 0)
                return r;
        json_decref(info.state);
        /* As runc: a created container goes without --force too. */
        if (info.status != LXCB_STOPPED && info.status != LXCB_CREATED && !c->force)
                return pxe_set(err, EBUSY, "cannot delete container %s that is not stopped: %s", c->id,
                               lxcb_status_name(info.status));
        if ((r = lxcb_destroy(b, c->id, err)) < 0)
                return r;
        *st = 0;
        return 0;
}

static void append_pid(pid_t pid, void *data)
{
        json_array_append_new(data, json_integer(pid));
}

int lxcb_ps(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        json_auto_t *pids = json_array();
        struct lxcb_info info;
        bool as_json = false;
        size_t i;
        json_t *v;
        int r;

        for (size_t k = 0; k + 1 < c->n_args; k++)
                if ((streq(c->args[k], "--format") || streq(c->args[k], "-f")) && streq(c->args[k + 1], "json"))
                        as_json = true;
        for (size_t k = 0; k < c->n_args; k++)
                as_json |= streq(c->args[k], "--format=json") || streq(c->args[k], "-f=json");
        if ((r = lxcb_info(b, c->id, &info, err)) < 0)
                return r;
        json_decref(info.state);
        if (!pids)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (info.status != LXCB_STOPPED)
                for_each_process(info.pid, append_pid, pids);
        if (as_json) {
                json_dumpf(pids, stdout, JSON_COMPACT);
                fputc('\n', stdout);
        } else {
                printf("PID\n");
                json_array_foreach(pids, i, v)
                        printf("%lld\n", (long long) json_integer_value(v));
        }
        *st = 0;
        return 0;
}

static int freeze(struct backend *b, const struct backend_call *c, bool on, struct pxe **err)
{
        _cleanup_lxc_ struct lxc_container *ct = NULL;
        struct lxcb_info info;
        int r;

        if ((r = lxcb_info(b, c->id, &info, err)) < 0)
                return r;
        json_decref(info.state);
        if (info.status != (on ? LXCB_RUNNING : LXCB_PAUSED))
                return pxe_set(err, EINVAL, "container %s is %s, not %s", c->id, lxcb_status_name(info.status),
                               on ? "running" : "paused");
        if ((r = lxcb_open(b, c->id, &ct, err)) < 0)
                return r;
        if (!(on ? ct->freeze(ct) : ct->unfreeze(ct)))
                return pxe_set(err, EIO, "liblxc could not %s container %s", on ? "freeze" : "thaw", c->id);
        return 0;
}

int lxcb_pause(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        *st = 0;
        return freeze(b, c, true, err);
}

int lxcb_resume(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        *st = 0;
        return freeze(b, c, false, err);
}
