/* The proxmox backend: OCI bundles as Proxmox VE LXC containers, through pct
 * or the REST API, with pxcri-init as their init (docs/proxmox.md).
 *
 * This file: the container's state on this host, status, kill, delete, exec,
 * pause, resume, list, and the ops table.  create, start and run are in
 * pmx_create.c, the waiter in pmx_waiter.c, templates in pmx_template.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/proxmox/client_private.h"
#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

#define WAITER_GONE_MS 10000

char *pmx_path(struct backend *b, const char *id, const char *name)
{
        char *p = NULL;

        if (asprintf(&p, "%s/%s%s%s", b->root, id, name ? "/" : "", name ? name : "") < 0)
                return NULL;
        return p;
}

/* FNV-1a: pxcri roots apart in one run_root (not a secret, not a digest). */
static unsigned long long fnv1a(const char *s)
{
        unsigned long long h = 0xcbf29ce484222325ULL;

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
        return h;
}

char *pmx_run_path(struct backend *b, const char *id)
{
        char *p = NULL;

        if (asprintf(&p, "%s/%016llx-%s", b->cfg->proxmox.run_root, fnv1a(b->env->root), id) < 0)
                return NULL;
        return p;
}

int pmx_client(struct backend *b, struct pve_client **ret, struct pxe **err)
{
        const char *const *w;

        if (pve_client_new(&b->cfg->proxmox, ret, err) < 0)
                return -pxe_code(err, EINVAL);
        for (w = pve_client_warnings(*ret); *w; w++)
                log_warn("%s", *w);
        return 0;
}

int pmx_task_wait(struct backend *b, struct pve_client *client, char *upid, struct pxe **err)
{
        int r = pve_task_wait(client, upid, (int) b->cfg->proxmox.timeout * 1000, err);

        free(upid);
        return r;
}

int pmx_save_state(struct backend *b, const char *id, json_t *state, struct pxe **err)
{
        _cleanup_free_ char *path = pmx_path(b, id, "state.json"), *text = NULL;

        if (!path || !(text = json_dumps(state, JSON_COMPACT)))
                return pxe_set(err, ENOMEM, "Out of memory");
        return fs_write_atomic(path, text, strlen(text), 0600, err);
}

const char *pmx_status_name(enum pmx_status s)
{
        static const char *const names[] = { "creating", "created", "running", "paused", "stopped" };

        return names[s];
}

/* The run directory as a descriptor.  "TRUSTED//REST": TRUSTED (a host path
 * pxcri or Proxmox made) is followed, each component of REST (inside the
 * container's rootfs, the container's to change) is not. */
static int open_run_dir(const char *run)
{
        const char *cut = strstr(run, "//");
        _cleanup_free_ char *trusted = NULL, *rest = NULL;
        char *save = NULL;
        int fd;

        if (!cut) {
                fd = open(run, O_PATH | O_DIRECTORY | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        if (!(trusted = strndup(run, (size_t) (cut - run))) || !(rest = strdup(cut + 2)))
                return -ENOMEM;
        fd = open(trusted, O_PATH | O_DIRECTORY | O_CLOEXEC);
        for (char *c = strtok_r(rest, "/", &save); fd >= 0 && c; c = strtok_r(NULL, "/", &save)) {
                int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                close(fd);
                fd = next;
        }
        return fd < 0 ? -errno : fd;
}

int pmx_run_open(const char *run, const char *name, int flags, mode_t type)
{
        _cleanup_close_ int dir = open_run_dir(run);
        struct stat st;
        int fd;

        if (dir < 0)
                return dir;
        fd = openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
                close(fd);
                return -EPERM;
        }
        return fd;
}

int pmx_run_exit(const char *run)
{
        _cleanup_close_ int fd = pmx_run_open(run, "exit", O_RDONLY | O_NONBLOCK, S_IFREG);
        char buf[16] = "";

        if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
                return -1;
        return atoi(buf) & 0xff;
}

int pmx_state_exit(struct backend *b, const char *id)
{
        _cleanup_free_ char *path = pmx_path(b, id, "exit"), *text = NULL;

        if (!path || fs_read_file(path, 64, &text, NULL, NULL) < 0)
                return -1;
        if (strncmp(text, "unknown", 7) == 0)
                return -2;
        return atoi(text) & 0xff;
}

int pmx_init_pidfd(const json_t *state)
{
        pid_t pid = (pid_t) json_integer_value(json_object_get(state, "init"));
        long long start = json_integer_value(json_object_get(state, "init_start"));
        int fd;

        if (pid <= 0 || start <= 0)
                return -ESRCH;
        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return -errno;
        /* Checked after the pidfd holds the pid: no other process can take
         * it between the check and a signal. */
        if (backend_proc_start_time(pid) != start) {
                close(fd);
                return -ESRCH;
        }
        return fd;
}

/* The recorded init while it runs, else 0. */
static pid_t state_init(const json_t *state)
{
        pid_t pid = (pid_t) json_integer_value(json_object_get(state, "init"));
        long long start = json_integer_value(json_object_get(state, "init_start"));

        return pid > 0 && start > 0 && backend_proc_start_time(pid) == start ? pid : 0;
}

bool pmx_ctl_alive(const char *run)
{
        int fd = pmx_run_open(run, "ctl", O_WRONLY | O_NONBLOCK, S_IFIFO);

        if (fd < 0)
                return false;
        close(fd);
        return true;
}

int pmx_ctl_send(const char *run, unsigned char byte, struct pxe **err)
{
        _cleanup_close_ int fd = pmx_run_open(run, "ctl", O_WRONLY | O_NONBLOCK, S_IFIFO);

        /* No reader (ENXIO): pxcri-init, which holds it open, is gone. */
        if (fd == -ENXIO || fd == -ENOENT)
                return pxe_set(err, ESRCH, "the container is not running");
        if (fd < 0)
                return pxe_set_errno(err, -fd, "Opening %s/ctl", run);
        if (write(fd, &byte, 1) != 1)
                return pxe_set_errno(err, errno, "Writing %s/ctl", run);
        return 0;
}

/* pxcri-init's host pid: the process holding <run>/ctl open (it does from
 * start to end; Proxmox knows the container's init only by its own lxcpath).
 * 0 when there is none. */
pid_t pmx_init_pid(const char *run)
{
        _cleanup_close_ int ctl = pmx_run_open(run, "ctl", O_RDONLY | O_NONBLOCK, S_IFIFO);
        struct stat want, st;
        struct dirent *de;
        pid_t found = 0;
        DIR *proc;

        if (ctl < 0 || fstat(ctl, &want) < 0 || !(proc = opendir("/proc")))
                return 0;
        while (!found && (de = readdir(proc))) {
                pid_t pid = (pid_t) atoi(de->d_name);
                char path[64];
                struct dirent *fe;
                DIR *fds;

                if (pid <= 0 || pid == getpid())
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
                if (!(fds = opendir(path)))
                        continue;
                while (!found && (fe = readdir(fds))) {
                        char fdpath[sizeof(path) + sizeof(fe->d_name) + 1];

                        snprintf(fdpath, sizeof(fdpath), "%s/%s", path, fe->d_name);
                        if (fe->d_name[0] != '.' && stat(fdpath, &st) == 0 && S_ISFIFO(st.st_mode) &&
                            st.st_dev == want.st_dev && st.st_ino == want.st_ino)
                                found = pid;
                }
                closedir(fds);
        }
        closedir(proc);
        return found;
}

static unsigned state_vmid(json_t *state)
{
        json_int_t v = json_integer_value(json_object_get(state, "vmid"));

        return v > 0 && v < 1000000000 ? (unsigned) v : 0;
}

static bool state_started(json_t *state)
{
        return json_is_true(json_object_get(state, "started"));
}

/* Without a run directory: what Proxmox says. */
static int info_from_proxmox(struct backend *b, struct pve_client *client, struct pmx_info *info, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *own = NULL;
        struct pve_status st;

        if (!client) {
                if (pmx_client(b, &own, err) < 0)
                        return -pxe_code(err, EINVAL);
                client = own;
        }
        if (pve_status(client, info->vmid, &st, err) < 0)
                return -pxe_code(err, EIO);
        if (streq(st.status, "running"))
                info->status = !state_started(info->state) ? PMX_CREATED
                               : streq(st.lock, "suspended") ? PMX_PAUSED : PMX_RUNNING;
        else
                info->status = state_started(info->state) ? PMX_STOPPED : PMX_CREATED;
        return 0;
}

int pmx_info(struct backend *b, struct pve_client *client, const char *id, struct pmx_info *info, struct pxe **err)
{
        pid_t waiter;
        int r;

        *info = (struct pmx_info) { .status = PMX_STOPPED };
        if ((r = backend_load_state(b, id, &info->state, err)) < 0)
                return r;
        info->vmid = state_vmid(info->state);
        info->run = json_string_value(json_object_get(info->state, "run"));
        waiter = (pid_t) json_integer_value(json_object_get(info->state, "waiter"));
        if (waiter > 0 &&
            backend_proc_start_time(waiter) == json_integer_value(json_object_get(info->state, "waiter_start")))
                info->pid = waiter;
        if (!json_is_true(json_object_get(info->state, "ready"))) {
                info->status = PMX_CREATING;
                return 0;
        }
        if (!info->run) {
                if ((r = info_from_proxmox(b, client, info, err)) < 0)
                        pmx_info_done(info);
                return r;
        }
        info->in_place = json_is_true(json_object_get(info->state, "in_place"));
        if (info->in_place) {
                /* No ctl holder once the process runs: its own pid says. */
                info->init = state_init(info->state);
                if (pmx_state_exit(b, id) != -1 || pmx_run_exit(info->run) >= 0 || !info->init)
                        info->status = PMX_STOPPED;
                else if (json_is_true(json_object_get(info->state, "paused")))
                        info->status = PMX_PAUSED;
                else /* started, but the start not yet recorded: ctl is let go at the exec */
                        info->status = state_started(info->state) || !pmx_ctl_alive(info->run) ? PMX_RUNNING
                                                                                               : PMX_CREATED;
        } else if (pmx_run_exit(info->run) >= 0 || !pmx_ctl_alive(info->run))
                info->status = PMX_STOPPED;
        else if (json_is_true(json_object_get(info->state, "paused")))
                info->status = PMX_PAUSED;
        else
                info->status = state_started(info->state) ? PMX_RUNNING : PMX_CREATED;
        if (info->status == PMX_STOPPED)
                info->init = 0;
        return 0;
}

pid_t pmx_info_init(const struct pmx_info *info)
{
        if (info->status == PMX_STOPPED || info->status == PMX_CREATING || !info->run)
                return 0;
        /* pxcri-init's: a walk of every process's descriptors, so only when asked */
        return info->in_place ? info->init : pmx_init_pid(info->run);
}

void pmx_info_done(struct pmx_info *info)
{
        json_decref(info->state);
        info->state = NULL;
}

static int pmx_state(struct backend *b, const char *id, json_t **ret, struct pxe **err)
{
        struct pmx_info info;
        json_t *st, *ann;
        int r;

        if ((r = pmx_info(b, NULL, id, &info, err)) < 0)
                return r;
        ann = json_object_get(info.state, "annotations");
        st = json_pack("{s:s, s:s, s:s, s:I, s:O, s:O, s:O, s:s}", "ociVersion", "1.0.2", "id", id, "status",
                       pmx_status_name(info.status), "pid",
                       (json_int_t) (info.status == PMX_STOPPED ? 0 : info.pid), "bundle",
                       json_object_get(info.state, "bundle"), "rootfs", json_object_get(info.state, "rootfs"),
                       "created", json_object_get(info.state, "created"), "owner", "");
        if (st) {
                /* Where it lives in Proxmox: what an operator looks for in the UI. */
                json_t *a = json_is_object(ann) ? json_deep_copy(ann) : json_object();

                if (info.vmid)
                        json_object_set_new(a, "pxcri.io/proxmox-vmid", json_integer(info.vmid));
                json_object_set_new(st, "annotations", a);
        }
        pmx_info_done(&info);
        if (!st)
                return pxe_set(err, EIO, "State of %s is incomplete", id);
        *ret = st;
        return 0;
}

static int pmx_list(struct backend *b, json_t **ret, struct pxe **err)
{
        return backend_list_dirs(b, "templates", pmx_state, ret, err);
}

static bool pmx_exists(struct backend *b, const char *id)
{
        return fs_exists_fmt("%s/%s/state.json", b->root, id) > 0;
}

static void signal_one(pid_t pid, void *data)
{
        kill(pid, *(int *) data);
}

struct others {
        pid_t init;
        size_t n;
};

static void kill_other(pid_t pid, void *data)
{
        struct others *o = data;

        if (pid != o->init && kill(pid, SIGKILL) == 0)
                o->n++;
}

/* SIGKILL every process of the CT but pxcri-init when it shares a PID
 * namespace, and wait (up to 3 s) until they are gone from its cgroup. */
static void end_others(pid_t init)
{
        const struct timespec step = { .tv_nsec = 20 * 1000 * 1000 };
        struct others o = { .init = init };

        if (init <= 0 || !pmx_shares_pidns(init))
                return;
        for (int i = 0; i < 150; i++) {
                o.n = 0;
                pmx_for_each_process(init, kill_other, &o);
                if (!o.n)
                        return;
                nanosleep(&step, NULL);
        }
}

/* kill --all: every process of the container, its init too. */
static int kill_all(pid_t init, int sig, const char *id, struct pxe **err)
{
        if (init <= 0)
                return pxe_set(err, ESRCH, "container not running (%s)", id);
        pmx_for_each_process(init, signal_one, &sig);
        return 0;
}

/* In place, to the CT's init (pxcri-init until the exec, which reads
 * them, then the process); else to pxcri-init through ctl.  Without a run
 * directory Proxmox can only stop (SIGKILL) or shut down (SIGTERM) it. */
static int signal_init(const struct pmx_info *info, int sig, const char *id, struct pxe **err)
{
        _cleanup_close_ int fd = pmx_init_pidfd(info->state);

        if (fd == -ESRCH)
                return pxe_set(err, ESRCH, "container not running (%s)", id);
        if (fd < 0)
                return pxe_set_errno(err, -fd, "pidfd of container %s's init", id);
        if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0)
                return pxe_set_errno(err, errno, "Signalling container %s", id);
        return 0;
}

static int pmx_kill(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        struct pmx_info info;
        char *upid = NULL;
        int sig = backend_parse_signal(c->signal), r;

        if (sig < 0)
                return pxe_set(err, EINVAL, "Unknown signal \"%s\"", c->signal);
        if ((r = pmx_info(b, NULL, c->id, &info, err)) < 0)
                return r;
        if (info.status == PMX_STOPPED)
                r = pxe_set(err, ESRCH, "container not running (%s)", c->id);
        else if (info.run && c->all)
                r = kill_all(pmx_info_init(&info), sig, c->id, err);
        else if (info.run && info.in_place)
                r = signal_init(&info, sig, c->id, err);
        else if (info.run)
                r = pmx_ctl_send(info.run, (unsigned char) sig, err);
        else if (sig != SIGKILL && sig != SIGTERM)
                r = pxe_set(err, ENOSYS, "Without a run directory on this host (api transport) pxcri can only "
                            "stop (SIGKILL) or shut down (SIGTERM) container %s", c->id);
        else if ((r = pmx_client(b, &client, err)) == 0 &&
                 (r = pve_action(client, info.vmid, sig == SIGKILL ? PVE_ACTION_STOP : PVE_ACTION_SHUTDOWN,
                                 &upid, err)) == 0)
                r = pmx_task_wait(b, client, upid, err);
        pmx_info_done(&info);
        if (r < 0)
                return r;
        *st = 0;
        return 0;
}

void pmx_cleanup(struct backend *b, struct pve_client *client, const char *id, unsigned vmid)
{
        _cleanup_free_ char *dir = pmx_path(b, id, NULL), *run = pmx_run_path(b, id);
        _cleanup_pxe_ struct pxe *e = NULL;
        char *upid = NULL;

        if (vmid && client) {
                long long deadline = pve_now_ms() + (long long) b->cfg->proxmox.timeout * 1000;

                /* destroy --force stops it first.  A task of ours that timed out still holds the lock: wait
                 * for it (as long as one request may take), then destroy. */
                while ((pve_destroy(client, vmid, true, &upid, &e) < 0 || pmx_task_wait(b, client, upid, &e) < 0) &&
                       e->code != ENOENT && strstr(e->msg, "locked") && pve_now_ms() < deadline) {
                        pxe_freep(&e);
                        nanosleep(&(struct timespec) { .tv_nsec = 200000000 }, NULL);
                }
                if (e && e->code != ENOENT)
                        log_warn("Container %s: %s (remove it in Proxmox by hand)", id, e->msg);
        }
        if (dir)
                fs_rm_tree(dir);
        if (run)
                fs_rm_tree(run);
}

static void wait_waiter_gone(const struct pmx_info *info)
{
        long long start = json_integer_value(json_object_get(info->state, "waiter_start"));
        struct timespec ms = { 0, 1000000 };

        for (int i = 0; info->pid > 0 && i < WAITER_GONE_MS && backend_proc_start_time(info->pid) == start; i++)
                nanosleep(&ms, NULL);
}

/* Stop vmid when it runs (errors logged). */
static void pmx_cleanup_stop(struct backend *b, struct pve_client *client, unsigned vmid)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        struct pve_status st;
        char *upid = NULL;

        if (vmid && pve_status(client, vmid, &st, &e) == 0 && streq(st.status, "running") &&
            pve_action(client, vmid, PVE_ACTION_STOP, &upid, &e) == 0)
                pmx_task_wait(b, client, upid, &e);
        if (e)
                log_debug("%s", e->msg);
}

static int pmx_delete(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        struct pmx_info info;
        int r;

        if ((r = pmx_info(b, NULL, c->id, &info, err)) < 0)
                return r;
        if ((info.status == PMX_RUNNING || info.status == PMX_PAUSED) && !c->force) {
                r = pxe_set(err, EBUSY, "cannot delete container %s that is %s (use --force)", c->id,
                            pmx_status_name(info.status));
                pmx_info_done(&info);
                return r;
        }
        if ((r = pmx_client(b, &client, err)) < 0) {
                pmx_info_done(&info);
                return r;
        }
        /* Stopping the container ends pxcri-init and with it the waiter,
         * which relays the last output before the run directory goes.  A
         * stopped one needs no stop (each call is a pct start-up on a host). */
        /* In a shared PID namespace stopping the CT (SIGKILL to
         * pxcri-init) would leave its other processes running in the CT's
         * cgroup: they go first, and then Proxmox stops the CT as always. */
        if (info.status != PMX_STOPPED && info.run)
                end_others(pmx_info_init(&info));
        if (info.status != PMX_STOPPED)
                pmx_cleanup_stop(b, client, info.vmid);
        wait_waiter_gone(&info);
        pmx_cleanup(b, client, c->id, info.vmid);
        pmx_namespaces_cgroup_gc(info.vmid);
        pmx_info_done(&info);
        *st = 0;
        return 0;
}


/* pxcri-init --exec: the process file in the run directory, then pct exec;
 * with a terminal pct exec runs in a child while we relay the pty. */
static int pmx_exec(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        _cleanup_free_ char *records = NULL, *host = NULL, *inside = NULL;
        json_auto_t *process = NULL;
        struct pmx_info info;
        size_t len = 0;
        bool tty;
        int r;

        if ((r = pmx_exec_process(b, c->id, c, &process, err)) < 0)
                return r;
        tty = c->tty || json_is_true(json_object_get(process, "terminal"));
        if (tty != (c->console_socket != NULL))
                return pxe_set(err, EINVAL, tty ? "exec with a terminal needs --console-socket"
                                                : "--console-socket needs exec --tty");
        json_object_set_new(process, "terminal", json_boolean(tty));
        if ((r = pmx_info(b, NULL, c->id, &info, err)) < 0)
                return r;
        if (info.status != PMX_RUNNING)
                r = pxe_set(err, EINVAL, "cannot exec in container %s that is %s", c->id, pmx_status_name(info.status));
        else if (!info.run)
                r = pxe_set(err, ENOSYS, "exec needs the run directory on this host; container %s has none "
                            "(api transport)", c->id);
        else if ((r = pmx_process_records(process, pmx_privileged(info.state), &records, &len, err)) == 0 &&
                 (r = pmx_exec_files(info.run, records, len, &host, &inside, err)) == 0 &&
                 (r = pmx_client(b, &client, err)) == 0) {
                const char *argv[] = { PMX_INIT_PATH, "--exec", inside, NULL };

                pid_t pid;

                if (tty)
                        r = pmx_console_exec(b, client, info.vmid, info.run, host, inside, c, st, err);
                else if (!c->detach && c->pid_file)
                        r = pmx_exec_waited(b, client, info.vmid, pmx_info_init(&info), host, inside, c->pid_file,
                                            st, err);
                else if (!c->detach)
                        r = pve_exec(client, info.vmid, argv, st, err);
                else if ((pid = pmx_exec_spawn(client, info.vmid, host, inside, false, err)) < 0)
                        r = pid;
                else if ((r = backend_write_pid_file(c->pid_file, pid, err)) < 0)
                        kill(pid, SIGKILL);
                else
                        *st = 0; /* containerd's shim waits for pid: the process file is the child's to remove */
        }
        if (host && !(c->detach && r == 0)) {
                char *p = NULL;

                if (asprintf(&p, "%s.process", host) >= 0)
                        unlink(p);
                free(p);
        }
        pmx_info_done(&info);
        return r;
}

static int pmx_ps(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        struct pmx_info info;
        pid_t init = 0;
        int r;

        if ((r = pmx_info(b, NULL, c->id, &info, err)) < 0)
                return r;
        if (!info.run && info.status != PMX_STOPPED)
                r = pxe_set(err, ENOSYS, "ps needs the run directory on this host; container %s has none "
                            "(api transport)", c->id);
        else
                init = pmx_info_init(&info);
        pmx_info_done(&info);
        if (r == 0 && (r = backend_ps_print_walk(c, init, pmx_for_each_process, err)) == 0)
                *st = 0;
        return r;
}

static int pmx_pause_resume(struct backend *b, const struct backend_call *c, bool pause, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        struct pmx_info info;
        char *upid = NULL;
        int r;

        if ((r = pmx_info(b, NULL, c->id, &info, err)) < 0)
                return r;
        if (info.status != (pause ? PMX_RUNNING : PMX_PAUSED))
                r = pxe_set(err, EINVAL, "cannot %s container %s that is %s", pause ? "pause" : "resume", c->id,
                            pmx_status_name(info.status));
        else if ((r = pmx_client(b, &client, err)) == 0 &&
                 (r = pve_action(client, info.vmid, pause ? PVE_ACTION_SUSPEND : PVE_ACTION_RESUME, &upid, err)) == 0 &&
                 (r = pmx_task_wait(b, client, upid, err)) == 0) {
                json_object_set_new(info.state, "paused", json_boolean(pause));
                r = pmx_save_state(b, c->id, info.state, err);
        }
        pmx_info_done(&info);
        return r;
}

static int pmx_pause(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        *st = 0;
        return pmx_pause_resume(b, c, true, err);
}

static int pmx_resume(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        *st = 0;
        return pmx_pause_resume(b, c, false, err);
}

static int pmx_check(struct backend *b, struct pxe **err)
{
        /* The configuration and, for pct, the binary: cheap, as it runs for
         * every command (libcurl is loaded only when a request is made). */
        if (pve_client_check(&b->cfg->proxmox, err) < 0)
                return pxe_wrap(err, "Proxmox client");
        if (!b->path)
                b->path = backend_find_init();
        if (!b->path)
                return pxe_set(err, ENOENT, "pxcri-init not found (it goes into every Proxmox template)");
        return 0;
}

static int pmx_version(struct backend *b, char **ret, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        _cleanup_free_ char *v = NULL;

        if (b->cfg->proxmox.transport == PROXMOX_TRANSPORT_PCT)
                return (*ret = strdup("Proxmox VE through pct")) ? 0 : pxe_set(err, ENOMEM, "Out of memory");
        if (pmx_client(b, &client, err) < 0 || pve_version(client, &v, err) < 0)
                return -pxe_code(err, EIO);
        if (asprintf(ret, "Proxmox VE %s through the REST API", v) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int pmx_features(struct backend *b, json_t **ret, struct pxe **err)
{
        json_t *j = json_pack("{s:s, s:s, s:[], s:{s:[s,s,s,s,s,s]}}", "ociVersionMin", "1.0.0", "ociVersionMax",
                              "1.0.2", "hooks", "linux", "namespaces", "pid", "network", "mount", "ipc", "uts",
                              "user");

        if (!j)
                return pxe_set(err, ENOMEM, "Out of memory");
        *ret = j;
        return 0;
}

const struct backend_ops backend_proxmox_ops = {
        .check = pmx_check,
        .create = pmx_create,
        .run = pmx_run,
        .start = pmx_start,
        .kill = pmx_kill,
        .delete = pmx_delete,
        .exec = pmx_exec,
        .ps = pmx_ps,
        .pause = pmx_pause,
        .resume = pmx_resume,
        .update = pmx_update,
        .state = pmx_state,
        .list = pmx_list,
        .exists = pmx_exists,
        .features = pmx_features,
        .version = pmx_version,
};
