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
#include "util/fs.h"
#include "util/log.h"

#define STOP_TIMEOUT_MS 10000
#define INIT_HANDLER_WAIT_MS 100

static void signal_one(pid_t pid, void *data)
{
        kill(pid, *(int *) data);
}

struct signal_but {
        int sig;
        pid_t skip;
};

static void signal_but_one(pid_t pid, void *data)
{
        struct signal_but *s = data;

        if (pid != s->skip)
                kill(pid, s->sig);
}

/* Without a pid namespace of its own, pxcri-init's death ends nothing else:
 * SIGKILL goes to the process (pxcri-init records its status and ends what
 * is left of it), --all to the container's cgroup.  pxcri-init itself only
 * when it has not started the process yet. */
static int kill_host_pid(pid_t init, int sig, bool all)
{
        pid_t child = lxcb_init_child(init);
        struct signal_but s = { .sig = sig, .skip = child ? init : 0 };

        if (all) {
                lxcb_for_each_cgroup_process(init, signal_but_one, &s);
                return child ? 0 : kill(init, sig);
        }
        return kill(sig == SIGKILL && child ? child : init, sig);
}

/* Whether pid catches or ignores sig (/proc/<pid>/status); true when that
 * cannot be read. */
static bool handles_signal(pid_t pid, int sig)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        unsigned long long caught = 0, ignored = 0;
        const char *at;

        if (asprintf(&path, "/proc/%d/status", (int) pid) < 0 || fs_read_file(path, 1u << 16, &text, NULL, NULL) < 0)
                return true;
        if (!(at = strstr(text, "\nSigIgn:")) || sscanf(at, "\nSigIgn: %llx", &ignored) != 1 ||
            !(at = strstr(text, "\nSigCgt:")) || sscanf(at, "\nSigCgt: %llx", &caught) != 1)
                return true;
        return ((caught | ignored) >> (sig - 1)) & 1;
}

/* The process is its pid namespace's init: the kernel drops a signal it
 * neither catches nor ignores (but KILL and STOP).  Right after start it
 * may not have installed its handlers yet (a stop sent then would wait its
 * whole timeout): give it INIT_HANDLER_WAIT_MS to, then send anyway. */
static int kill_init(pid_t init, int sig)
{
        struct timespec ms = { 0, 1000000 };

        for (int i = 0; sig != SIGKILL && sig != SIGSTOP && i < INIT_HANDLER_WAIT_MS && !handles_signal(init, sig); i++)
                nanosleep(&ms, NULL);
        return kill(init, sig);
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
        /* runc's words: containerd's shim takes "container not running"
         * for a process that already finished (its kill is then no error). */
        if (info.status == LXCB_STOPPED)
                return pxe_set(err, ESRCH, "container not running (%s)", c->id);
        /* To the init: the process itself once started (PID 1), or
         * pxcri-init, which passes signals on; SIGKILL ends it and with it
         * the whole pid namespace. */
        if (lxcb_shares_host_pidns(info.pid)) {
                if (kill_host_pid(info.pid, sig, c->all) < 0)
                        return pxe_set_errno(err, errno, "Signalling container %s", c->id);
        } else if (c->all)
                backend_for_each_process(info.pid, signal_one, &sig);
        else if ((info.status == LXCB_RUNNING ? kill_init(info.pid, sig) : kill(info.pid, sig)) < 0)
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
                if (lxcb_shares_host_pidns(info.pid))
                        kill_host_pid(info.pid, SIGKILL, true);
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

int lxcb_ps(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        struct lxcb_info info;
        int r;

        if ((r = lxcb_info(b, c->id, &info, err)) < 0)
                return r;
        json_decref(info.state);
        r = backend_ps_print(c, info.status != LXCB_STOPPED ? info.pid : 0, err);
        if (r == 0)
                *st = 0;
        return r;
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
