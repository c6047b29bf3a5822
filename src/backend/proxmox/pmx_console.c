/* Terminals for the proxmox backend (backend/console.h): pxcri-init makes
 * the pty inside the Proxmox container and sends its master to a socket in
 * the run directory -- console.sock for the container's process,
 * exec-<n>.sock for an exec -- and pxcri relays it to --console-socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/console.h"
#include "backend/proxmox/client_private.h"
#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define EXEC_STOP_MS 5000

int pmx_console_listen(const char *path, const char *run, int *ret_fd, struct pxe **err)
{
        struct stat st;

        /* pxcri-init connects as the container's root, who owns run/. */
        if (stat(run, &st) < 0)
                return pxe_set_errno(err, errno, "%s", run);
        if (unlink(path) < 0 && errno != ENOENT)
                return pxe_set_errno(err, errno, "Removing %s", path);
        return console_listen(path, st.st_uid, st.st_gid, ret_fd, err);
}

/* Relay once pxcri-init connected, while gone(data) is false, for at most
 * timeout_ms. */
static int relay_until(int fd, const char *console_socket, bool (*gone)(const void *data), const void *data,
                       long long timeout_ms, const char *what, struct pxe **err)
{
        long long deadline = pve_now_ms() + timeout_ms;
        struct timespec delay = { 0, 1000000 };
        int r;

        for (;;) {
                if ((r = console_relay(fd, console_socket, err)) != 0)
                        return r < 0 ? r : 0;
                if (gone(data))
                        return pxe_set(err, EIO, "%s ended before it sent a terminal", what);
                if (pve_now_ms() >= deadline)
                        return pxe_set(err, ETIMEDOUT, "%s sent no terminal within %lld ms", what, timeout_ms);
                nanosleep(&delay, NULL);
                if (delay.tv_nsec < 50000000)
                        delay.tv_nsec *= 2;
        }
}

static bool init_gone(const void *run)
{
        return pmx_run_exit(run) >= 0;
}

int pmx_console_relay_created(int fd, const char *console_socket, const char *run, unsigned vmid,
                              unsigned timeout_s, struct pxe **err)
{
        char what[64];

        snprintf(what, sizeof(what), "pxcri-init in Proxmox container %u", vmid);
        return relay_until(fd, console_socket, init_gone, run, (long long) timeout_s * 1000, what, err);
}

struct exec_child {
        struct pve_client *client;
        unsigned vmid;
        const char *inside, *host;
        bool tty;
};

/* The forked child: pct exec, its exit code ours; then the process file
 * goes (pxcri-init read it long before).  With a terminal stdin and stdout
 * are /dev/null: the process has the pty. */
static int exec_child_main(void *data)
{
        const struct exec_child *x = data;
        const char *argv[] = { PMX_INIT_PATH, "--exec", x->inside, NULL };
        _cleanup_pxe_ struct pxe *e = NULL;
        char path[4096];
        int null, st = 255;

        if (x->tty) {
                null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0) {
                        perror("pxcri: /dev/null");
                        return 255;
                }
        }
        if (pve_exec(x->client, x->vmid, argv, &st, &e) < 0) {
                fprintf(stderr, "pxcri: %s\n", e->msg);
                st = 255;
        }
        snprintf(path, sizeof(path), "%s.process", x->host);
        unlink(path);
        snprintf(path, sizeof(path), "%s.pid", x->host);
        unlink(path);
        return st;
}

pid_t pmx_exec_spawn(struct pve_client *client, unsigned vmid, const char *host, const char *inside, bool tty,
                     struct pxe **err)
{
        struct exec_child x = { .client = client, .vmid = vmid, .inside = inside, .host = host, .tty = tty };

        return spawn_fork(exec_child_main, &x, err);
}

static bool child_gone(const void *data)
{
        siginfo_t si = { 0 };

        return waitid(P_PID, (id_t) *(const pid_t *) data, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
               si.si_pid != 0;
}

/* No terminal reached the caller: the process must not run on without one. */
static void exec_stop(pid_t pid)
{
        int status;

        kill(pid, SIGTERM);
        for (int ms = 0; ms < EXEC_STOP_MS && !child_gone(&pid); ms += 10)
                usleep(10000);
        kill(pid, SIGKILL);
        spawn_wait(pid, &status);
}

int pmx_console_exec(struct backend *b, struct pve_client *client, unsigned vmid, const char *run,
                     const char *host, const char *inside, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_free_ char *sock = NULL;
        _cleanup_close_ int fd = -EBADF;
        char what[64];
        pid_t pid;
        int status, r;

        if (asprintf(&sock, "%s.sock", host) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (pmx_console_listen(sock, run, &fd, err) < 0)
                return -pxe_code(err, EIO);
        /* A child of ours: pve_exec waits, and we relay meanwhile. */
        pid = pmx_exec_spawn(client, vmid, host, inside, true, err);
        if (pid < 0) {
                unlink(sock);
                return pid;
        }
        snprintf(what, sizeof(what), "The exec process in Proxmox container %u", vmid);
        r = relay_until(fd, c->console_socket, child_gone, &pid, (long long) b->cfg->proxmox.timeout * 1000, what,
                        err);
        unlink(sock);
        if (r == 0 && c->detach)
                r = backend_write_pid_file(c->pid_file, pid, err);
        if (r < 0) {
                exec_stop(pid);
                return r;
        }
        *st = 0;
        if (c->detach)
                return 0; /* the caller (containerd's shim) waits for pid */
        if ((r = spawn_wait_forwarding(pid, &status)) < 0)
                return pxe_set_errno(err, -r, "Waiting for pct exec in Proxmox container %u", vmid);
        *st = spawn_exit_code(status);
        return 0;
}
