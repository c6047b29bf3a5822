/* create, start and run for the lxc backend.
 *
 * create writes the container directory (LXC config, pxcri-init's process
 * file and FIFO, state.json) and forks the waiter: a child that becomes
 * liblxc's monitor by starting the container in the foreground
 * (want_daemonize(false)).  So the waiter is the caller's descendant, lives
 * exactly as long as the container, hands the container its stdio, and exits
 * with the code pxcri-init recorded: it is the process of --pid-file.  (A
 * daemonized start() would also move the calling pxcri into the monitor's
 * cgroup; forking first avoids that too.)  create returns once pxcri-init runs
 * and waits on the FIFO; start opens the FIFO.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/console.h"
#include "backend/lxc/lxc_private.h"
#include "backend/lxc/translate.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"

#define CONFIG_MAX (8u << 20)
#define CREATE_TIMEOUT_MS 30000
#define START_TIMEOUT_MS 10000
#define START_EXEC_WAIT_MS 10000

struct waiter {
        const char *root, *id;
        char *exit_path;
        bool terminal; /* the process's stdio is a pty made inside: drop ours */
};

static int read_exit_file(const char *path)
{
        _cleanup_free_ char *text = NULL;

        if (fs_read_file(path, 64, &text, NULL, NULL) < 0)
                return -1;
        return atoi(text);
}

/* As pxcri-init records it: once the file exists, state says stopped. */
static void write_exit_file(const char *path, int code)
{
        char text[16];
        int n = snprintf(text, sizeof(text), "%d\n", code);

        if (fs_write_atomic(path, text, (size_t) n, 0644, NULL) < 0)
                log_warn("Recording exit code %d in %s failed", code, path);
}

/* The init's wait status as liblxc 5.0.2 reports it in error_num once
 * start() succeeded (src/lxc/start.c, signal_handler()): an exit with N is
 * N << 8, death by signal N is N << 8 | 0x7f (a "stopped" status to
 * WIFSTOPPED; measured: SIGKILL reads 0x097f). */
static int init_exit_code(int status)
{
        if (status < 0)
                return 255;
        if ((status & 0xff) == 0x7f)
                return 128 + ((status >> 8) & 0x7f);
        return spawn_exit_code(status);
}

/* The waiter: liblxc's monitor in the foreground, then the exit code. */
static int waiter_main(void *data)
{
        struct waiter *w = data;
        struct lxc_container *c;
        bool started;
        int code, null;

        /* With a terminal the caller's stdio is not the container's: holding
         * it would keep a caller that reads create's output to EOF (as
         * containerd's shim does) waiting for the container's whole life. */
        if (w->terminal && (null = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
                for (int fd = 0; fd < 3; fd++)
                        dup2(null, fd);
                close(null);
        }
        c = lxc_api()->container_new(w->id, w->root);
        if (!c)
                return 255;
        c->want_daemonize(c, false);
        started = c->start(c, 0, NULL);
        code = read_exit_file(w->exit_path);
        /* No record: pxcri-init became the process (PID 1 of the container's
         * pid namespace), was killed (SIGKILL), or never ran. */
        if (code < 0) {
                code = started ? init_exit_code(c->error_num) : 255;
                if (started)
                        write_exit_file(w->exit_path, code);
        }
        lxc_api()->container_put(c);
        return code;
}

static int read_oom_score_adj(void)
{
        _cleanup_free_ char *text = NULL;

        if (fs_read_file("/proc/self/oom_score_adj", 64, &text, NULL, NULL) < 0)
                return -1000;
        return atoi(text);
}

/* Create path (relative to the rootfs) one component at a time, never
 * following a symlink out of it; the last component a file or a directory. */
static void make_mountpoint(int rootfd, const char *path, bool dir)
{
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        char *save = NULL, *part, *next;

        if (!copy)
                return;
        for (part = strtok_r(copy, "/", &save); part && fd >= 0; part = next) {
                int nfd;

                next = strtok_r(NULL, "/", &save);
                if (streq(part, "..") || streq(part, "."))
                        return;
                if (!next && !dir) {
                        nfd = openat(fd, part, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
                        if (nfd >= 0)
                                close(nfd);
                        return;
                }
                if (mkdirat(fd, part, 0755) < 0 && errno != EEXIST)
                        return;
                nfd = openat(fd, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(fd);
                fd = nfd;
        }
}

/* A read-only rootfs cannot take new mount points once LXC mounted it, so
 * make them beforehand, as runc does in the rootfs before it remounts it. */
static void prepare_readonly_rootfs(json_t *config, const char *rootfs)
{
        _cleanup_close_ int rootfd = -EBADF;
        json_t *m;
        size_t i;

        if (!json_is_true(json_object_get(json_object_get(config, "root"), "readonly")))
                return;
        rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return;
        json_array_foreach(json_object_get(config, "mounts"), i, m) {
                const char *dest = json_string_value(json_object_get(m, "destination"));
                const char *src = json_string_value(json_object_get(m, "source"));
                struct stat st;
                bool dir = true;

                if (!dest || dest[0] != '/' || strncmp(dest, "/dev/", 5) == 0)
                        continue;
                if (src && src[0] == '/' && stat(src, &st) == 0 && !S_ISDIR(st.st_mode))
                        dir = false;
                make_mountpoint(rootfd, dest + 1, dir);
        }
}

/* The container under our root whose waiter is pid (state.json's "waiter",
 * same start time), or NULL. */
static char *waiter_owner(struct backend *b, pid_t pid)
{
        long long start = backend_proc_start_time(pid);
        DIR *d = start > 0 ? opendir(b->root) : NULL;
        struct dirent *de;
        char *owner = NULL;

        while (d && !owner && (de = readdir(d))) {
                json_auto_t *st = NULL;

                if (de->d_name[0] == '.' || backend_load_state(b, de->d_name, &st, NULL) < 0)
                        continue;
                if (json_integer_value(json_object_get(st, "waiter")) == pid &&
                    json_integer_value(json_object_get(st, "waiter_start")) == start)
                        owner = strdup(de->d_name);
        }
        if (d)
                closedir(d);
        return owner;
}

/* containerd joins a pod's containers to /proc/<sandbox task pid>/ns/<t>.
 * When the sandbox runs on lxc that pid is its waiter (liblxc's monitor,
 * which stays in the host's namespaces): the namespaces meant are those of
 * the waiter's container, whose init is named instead. */
static int resolve_waiter_namespaces(struct backend *b, json_t *config, struct pxe **err)
{
        json_t *list = json_object_get(json_object_get(config, "linux"), "namespaces"), *v;
        size_t i;

        json_array_foreach(list, i, v) {
                const char *path = json_string_value(json_object_get(v, "path"));
                _cleanup_free_ char *owner = NULL, *fixed = NULL;
                struct lxcb_info info;
                char type[16];
                int pid, n = 0;

                if (!path || sscanf(path, "/proc/%d/ns/%15[a-z_]%n", &pid, type, &n) != 2 || path[n] || pid <= 0 ||
                    !(owner = waiter_owner(b, (pid_t) pid)))
                        continue;
                if (lxcb_info(b, owner, &info, err) < 0)
                        return pxe_wrap(err, "linux.namespaces[%zu]: %s is container %s's", i, path, owner);
                json_decref(info.state);
                if (info.pid <= 0)
                        return pxe_set(err, ESRCH, "linux.namespaces[%zu]: %s: container %s is not running", i,
                                       path, owner);
                if (asprintf(&fixed, "/proc/%d/ns/%s", (int) info.pid, type) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                json_object_set_new(v, "path", json_string(fixed));
        }
        return 0;
}

static int translate_bundle(struct backend *b, const char *bundle, const char *dir, struct lxc_spec **ret,
                            struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL, *run = NULL, *seccomp = NULL;
        json_auto_t *config = NULL;
        struct lxc_translate_opts o = {
                .bundle = bundle,
                .init_path = b->path,
                .cgroup_v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0,
                .oom_score_adj_min = read_oom_score_adj(),
        };

        if (asprintf(&path, "%s/config.json", bundle) < 0 || asprintf(&run, "%s/run", dir) < 0 ||
            asprintf(&seccomp, "%s/seccomp", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_read_file(path, CONFIG_MAX, &text, NULL, err) < 0)
                return pxe_wrap(err, "Reading the bundle's configuration");
        config = json_loads(text, 0, NULL);
        if (!config)
                return pxe_set(err, EINVAL, "%s: invalid JSON", path);
        o.run_dir = run;
        o.seccomp_path = seccomp;
        if (resolve_waiter_namespaces(b, config, err) < 0)
                return pxe_wrap(err, "%s", path);
        if (lxc_translate(config, &o, ret, err) < 0)
                return pxe_wrap(err, "%s", path);
        prepare_readonly_rootfs(config, (*ret)->rootfs);
        return 0;
}

static int write_state(const char *dir, json_t *state, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = json_dumps(state, JSON_COMPACT);

        if (!text || asprintf(&path, "%s/state.json", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return fs_write_atomic(path, text, strlen(text), 0600, err);
}

/* run/ (process, fifo), config, state.json.  run/ is root's: pxcri-init
 * runs as root until it switches to the process's identity. */
static int write_files(struct backend *b, const struct backend_call *c, const char *dir, struct lxc_spec *s,
                       struct pxe **err)
{
        _cleanup_free_ char *run = NULL, *p = NULL, *p2 = NULL, *blob = NULL, *conf = lxc_spec_config_text(s),
                            *all = NULL;
        json_auto_t *state = NULL;
        char created[48];
        size_t len = 0;

        if (!conf || asprintf(&run, "%s/run", dir) < 0 || !(blob = lxc_spec_process_blob(s, &len)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (mkdir(run, 0700) < 0)
                return pxe_set_errno(err, errno, "Creating %s", run);
        if (asprintf(&p, "%s/process", run) < 0 || fs_write_atomic(p, blob, len, 0644, err) < 0)
                return -pxe_code(err, ENOMEM);
        free(TAKE_PTR(p));
        if (asprintf(&p, "%s/fifo", run) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (mkfifo(p, 0600) < 0)
                return pxe_set_errno(err, errno, "Creating %s", p);
        free(TAKE_PTR(p));
        if (asprintf(&all, "%slxc.log.file = %s/lxc.log\nlxc.log.level = %s\n", conf, dir,
                     b->env->debug ? "DEBUG" : "ERROR") < 0 || asprintf(&p, "%s/config", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_write_atomic(p, all, strlen(all), 0600, err) < 0)
                return -pxe_code(err, EIO);
        /* Read by pxcri-init from LXC's mount hook (lxc.hook.mount). */
        if (s->setup_len && (asprintf(&p2, "%s/" LXC_SETUP, run) < 0 ||
                             fs_write_atomic(p2, s->setup, s->setup_len, 0600, err) < 0))
                return -pxe_code(err, ENOMEM);
        free(TAKE_PTR(p2));
        if (s->seccomp && fs_write_atomic(lxc_spec_get(s, "lxc.seccomp.profile"), s->seccomp, strlen(s->seccomp), 0600,
                                          err) < 0)
                return -pxe_code(err, EIO);
        log_format_time(created, sizeof(created));
        state = json_pack("{s:s, s:s, s:s, s:s, s:O?, s:O?}", "id", c->id, "bundle", c->bundle, "rootfs",
                          s->rootfs, "created", created, "annotations", s->annotations, "hooks", s->hooks);
        if (!state || asprintf(&p2, "%s/" LXC_CREATE_HOOKS, run) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        /* Read by pxcri-init from LXC's mount hook (lxc.hook.mount). */
        if (lxcb_hooks_write(state, "createContainer", c->id, "creating", 0, p2, err) < 0)
                return -pxe_code(err, EIO);
        return write_state(dir, state, err);
}

/* Why liblxc did not start the container: a failed setup or createContainer
 * hook (pxcri-init left the reason in run/setup.err, run/create-hooks.err),
 * or the first error in LXC's log. */
static char *start_error(struct backend *b, const char *id)
{
        static const char *const names[] = { "run/" LXC_SETUP ".err", "run/" LXC_CREATE_HOOKS ".err" };

        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                _cleanup_free_ char *path = lxcb_path(b, id, names[i]);
                char *text = NULL;

                if (path && fs_read_file(path, 4096, &text, NULL, NULL) == 0 && text && *text)
                        return text;
                free(text);
        }
        return strdup(lxcb_log_error(b, id));
}

/* Until pxcri-init runs (created) -- and, with a terminal, has sent the
 * pty's master, relayed to the caller -- or the waiter gives up. */
static int wait_created(struct backend *b, const struct backend_call *call, pid_t waiter, int console,
                        struct pxe **err)
{
        _cleanup_lxc_ struct lxc_container *c = lxc_api()->container_new(call->id, b->root);
        struct timespec delay = { 0, 200000 };
        const char *id = call->id;
        bool relayed = console < 0;
        int status, r;

        if (!c)
                return pxe_set(err, EIO, "liblxc cannot open container %s", id);
        for (int waited_us = 0; waited_us < CREATE_TIMEOUT_MS * 1000; waited_us += (int) (delay.tv_nsec / 1000)) {
                const char *s = c->state(c);

                if (!relayed && (r = console_relay(console, call->console_socket, err)) != 0) {
                        if (r < 0)
                                return r;
                        relayed = true;
                }
                if (relayed && s && streq(s, "RUNNING") && c->init_pid(c) > 0)
                        return 0;
                if (waitpid(waiter, &status, WNOHANG) == waiter) {
                        _cleanup_free_ char *why = start_error(b, id);

                        return pxe_set(err, EIO, "liblxc could not start container %s%s%s", id,
                                       why && *why ? ": " : "", why ? why : "");
                }
                nanosleep(&delay, NULL);
                if (delay.tv_nsec < 5000000)
                        delay.tv_nsec *= 2;
        }
        return pxe_set(err, ETIMEDOUT, "Container %s did not start within %d ms", id, CREATE_TIMEOUT_MS);
}

static int record_waiter(const char *dir, pid_t waiter, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_auto_t *state = NULL;

        if (asprintf(&path, "%s/state.json", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_read_file(path, 1u << 20, &text, NULL, err) < 0 || !(state = json_loads(text, 0, NULL)))
                return pxe_set(err, EIO, "Reading %s", path);
        json_object_set_new(state, "waiter", json_integer(waiter));
        json_object_set_new(state, "waiter_start", json_integer(backend_proc_start_time(waiter)));
        return write_state(dir, state, err);
}

/* Undo a create that failed after the waiter was started: stop the
 * container and give the waiter -- liblxc's monitor, which removes the
 * cgroups on its way out -- time to finish before it is killed. */
static void abort_create(struct backend *b, const char *id, pid_t waiter)
{
        _cleanup_lxc_ struct lxc_container *c = lxc_api()->container_new(id, b->root);
        struct timespec ms = { 0, 1000000 };
        int status;

        if (c && c->is_running(c))
                c->stop(c);
        for (int i = 0; i < 5000; i++) {
                pid_t r = waitpid(waiter, &status, WNOHANG);

                /* ECHILD: wait_created() already reaped it. */
                if (r == waiter || (r < 0 && errno == ECHILD))
                        return;
                nanosleep(&ms, NULL);
        }
        kill(waiter, SIGKILL);
        spawn_wait(waiter, &status);
}

/* createRuntime, then prestart: the container exists, pxcri-init waits on
 * the FIFO, the user's process has not started.  Then startContainer's for
 * pxcri-init. */
static int run_create_hooks(struct backend *b, const char *id, struct pxe **err)
{
        _cleanup_free_ char *start_hooks = lxcb_path(b, id, "run/start-hooks");
        struct lxcb_info info;
        int r;

        if (!start_hooks)
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((r = lxcb_info(b, id, &info, err)) < 0)
                return r;
        r = lxcb_hooks_run(info.state, "createRuntime", id, info.status, info.pid, err);
        if (r == 0)
                r = lxcb_hooks_run(info.state, "prestart", id, info.status, info.pid, err);
        if (r == 0)
                r = lxcb_hooks_write(info.state, "startContainer", id, lxcb_status_name(info.status), info.pid,
                                     start_hooks, err);
        json_decref(info.state);
        return r;
}

/* --preserve-fds N among the options (not exec's command), 0 when not given;
 * the CLI checked it is a number from 0 to 1024. */
unsigned lxcb_preserve_fds(const struct backend_call *c)
{
        size_t n_opts = c->n_command && c->n_args > c->n_command ? c->n_args - c->n_command - 1 : c->n_args;
        unsigned n = 0;

        for (size_t i = 0; i < n_opts; i++) {
                const char *a = c->args[i], *v = NULL;

                if ((streq(a, "--preserve-fds") || streq(a, "-preserve-fds")) && i + 1 < n_opts)
                        v = c->args[++i];
                else if (strncmp(a, "--preserve-fds=", 15) == 0)
                        v = a + 15;
                if (v)
                        n = (unsigned) strtoul(v, NULL, 10);
        }
        return n;
}

static int create_in(struct backend *b, const struct backend_call *c, const char *dir, pid_t *ret_waiter,
                     struct pxe **err)
{
        _cleanup_lxc_spec_ struct lxc_spec *s = NULL;
        _cleanup_free_ char *exit_path = NULL, *console_path = NULL;
        _cleanup_close_ int console = -EBADF;
        struct waiter w = { .root = b->root, .id = c->id };
        pid_t pid;
        int r;

        if (translate_bundle(b, c->bundle, dir, &s, err) < 0)
                return -pxe_code(err, EIO);
        s->preserve_fds = lxcb_preserve_fds(c);
        if (write_files(b, c, dir, s, err) < 0)
                return -pxe_code(err, EIO);
        if (s->terminal != (c->console_socket != NULL))
                return pxe_set(err, EINVAL, s->terminal ? "process.terminal needs --console-socket"
                                                        : "--console-socket needs process.terminal");
        if (asprintf(&console_path, "%s/run/console.sock", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (s->terminal && console_listen(console_path, 0, 0, &console, err) < 0)
                return -pxe_code(err, EIO);
        if (asprintf(&exit_path, "%s/run/exit", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        w.exit_path = exit_path;
        w.terminal = s->terminal;
        /* The waiter keeps the caller's --preserve-fds: liblxc's monitor
         * passes them on to pxcri-init, which passes them on to the process. */
        pid = spawn_fork_keep(waiter_main, &w, s->preserve_fds, err);
        if (pid < 0)
                return pid;
        r = wait_created(b, c, pid, console, err);
        if (console >= 0)
                unlink(console_path);
        if (r < 0 || record_waiter(dir, pid, err) < 0 || (s->hooks && run_create_hooks(b, c->id, err) < 0) ||
            backend_write_pid_file(c->pid_file, pid, err) < 0) {
                abort_create(b, c->id, pid);
                return -pxe_code(err, EIO);
        }
        *ret_waiter = pid;
        return 0;
}

static int create_container(struct backend *b, const struct backend_call *c, pid_t *ret_waiter, struct pxe **err)
{
        _cleanup_free_ char *dir = lxcb_path(b, c->id, NULL);
        int r;

        if (!dir)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_mkdir_p(b->root, 0711, err) < 0)
                return -pxe_code(err, EIO);
        if (mkdir(dir, 0700) < 0)
                return errno == EEXIST ? pxe_set(err, EEXIST, "container \"%s\" already exists", c->id)
                                       : pxe_set_errno(err, errno, "Creating %s", dir);
        r = create_in(b, c, dir, ret_waiter, err);
        if (r < 0)
                lxcb_cleanup(b, c->id);
        return r;
}

int lxcb_create(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        pid_t waiter;
        int r = create_container(b, c, &waiter, err);

        if (r < 0)
                return r;
        *st = 0;
        return 0;
}

/* After its byte, pxcri-init keeps the FIFO open until the process is
 * exec'd (close-on-exec), after the startContainer hooks: wait for that end,
 * so that start returns (and poststart runs) once the process executes, as
 * the runtime spec orders it, and a signal sent after start reaches the
 * process, not the moment before its exec.  Not an error when it takes
 * longer than START_EXEC_WAIT_MS (slow hooks): start returns anyway. */
static void wait_exec(int fd, pid_t init)
{
        char byte;

        for (int waited = 0; waited < START_EXEC_WAIT_MS && kill(init, 0) == 0; waited += 10) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                if (poll(&p, 1, 10) > 0 && (p.revents & (POLLHUP | POLLERR) || read(fd, &byte, 1) == 0))
                        return;
        }
}

/* Open the FIFO pxcri-init blocks on and take its byte. */
static int open_fifo(struct backend *b, const char *id, pid_t init, struct pxe **err)
{
        _cleanup_free_ char *path = lxcb_path(b, id, "run/fifo");
        _cleanup_close_ int fd = -EBADF;
        char byte;

        if (!path)
                return pxe_set(err, ENOMEM, "Out of memory");
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening %s", path);
        for (int waited = 0; waited < START_TIMEOUT_MS; waited += 10) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                if (poll(&p, 1, 10) > 0 && read(fd, &byte, 1) == 1) {
                        unlink(path);
                        wait_exec(fd, init);
                        return 0;
                }
                if (kill(init, 0) < 0)
                        return pxe_set(err, ESRCH, "pxcri-init of container %s is gone", id);
        }
        return pxe_set(err, ETIMEDOUT, "pxcri-init of container %s did not answer within %d ms", id,
                       START_TIMEOUT_MS);
}

int lxcb_start(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        struct lxcb_info info;
        int r;

        if ((r = lxcb_info(b, c->id, &info, err)) < 0)
                return r;
        if (info.status != LXCB_CREATED)
                r = pxe_set(err, EINVAL, "cannot start a container that is %s", lxcb_status_name(info.status));
        else if ((r = open_fifo(b, c->id, info.pid, err)) == 0)
                lxcb_hooks_warn(info.state, "poststart", c->id, LXCB_RUNNING, info.pid);
        json_decref(info.state);
        if (r < 0)
                return r;
        *st = 0;
        return 0;
}

/* create + start; in the foreground also wait and delete, passing on the
 * container's exit code and the signals pxcri receives. */
int lxcb_run(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        struct spawn_forward fwd;
        pid_t waiter;
        int status, r;

        if ((r = create_container(b, c, &waiter, err)) < 0)
                return r;
        /* From before the start: a signal that arrives while start is still
         * returning reaches the container, whose process may already run. */
        if (!c->detach)
                spawn_forward_start(waiter, &fwd);
        if ((r = lxcb_start(b, c, st, err)) < 0) {
                if (!c->detach)
                        spawn_forward_stop(&fwd);
                lxcb_destroy(b, c->id, NULL);
                spawn_wait(waiter, &status);
                return r;
        }
        if (c->detach)
                return 0;
        r = spawn_wait(waiter, &status);
        spawn_forward_stop(&fwd);
        lxcb_destroy(b, c->id, NULL);
        if (r < 0)
                return pxe_set_errno(err, -r, "Waiting for container %s", c->id);
        *st = spawn_exit_code(status);
        return 0;
}
