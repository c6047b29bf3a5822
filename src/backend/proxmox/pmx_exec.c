/* exec without a terminal, waited for, with a pid file: the pid of the
 * process inside the Proxmox container, not of pct exec.
 *
 * pct exec (lxc-attach underneath) gives no way to signal what it attached:
 * killing it leaves the process running in the CT.  pxcri-init --exec
 * writes its pid as the container sees it to <host>.pid before it becomes
 * the process; the host's pid of that process is the one in the CT's pid
 * namespace whose innermost NSpid is that number.  A caller's deadline
 * (pxcrid's ExecSync) kills that pid, and pct exec returns.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/spawn.h"

#define PID_WAIT_STEP_US 5000

/* The innermost pid in /proc/<pid>/status's NSpid line; 0 if none. */
static pid_t innermost_pid(pid_t pid)
{
        char path[64], line[256];
        pid_t inner = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        if (!(f = fopen(path, "re")))
                return 0;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, "NSpid:", 6) == 0) {
                        char *p = line + 6, *end;

                        for (long v; (v = strtol(p, &end, 10)), end != p; p = end)
                                inner = (pid_t) v;
                        break;
                }
        fclose(f);
        return inner;
}

/* The host pid of the process that is pid `inside` in the pid namespace of
 * the CT whose init is host pid init; 0 when there is none. */
static pid_t host_pid_of(pid_t init, pid_t inside)
{
        char path[64];
        struct stat want, st;
        struct dirent *de;
        pid_t found = 0;
        DIR *proc;

        snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) init);
        if (stat(path, &want) < 0 || !(proc = opendir("/proc")))
                return 0;
        while (!found && (de = readdir(proc))) {
                pid_t pid = (pid_t) atoi(de->d_name);

                if (pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) pid);
                if (stat(path, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino &&
                    innermost_pid(pid) == inside)
                        found = pid;
        }
        closedir(proc);
        return found;
}

/* The first line of /proc/<pid>/cgroup without its newline ("0::/lxc/4101/ns"
 * with cgroup v2), or "" when unreadable. */
static void cgroup_line(pid_t pid, char *buf, size_t size)
{
        char path[64];
        FILE *f;

        buf[0] = '\0';
        snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        if (!(f = fopen(path, "re")))
                return;
        if (!fgets(buf, (int) size, f))
                buf[0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        fclose(f);
}

bool pmx_shares_pidns(pid_t init)
{
        pid_t inner = innermost_pid(init);

        return inner > 0 && inner != 1;
}

void pmx_for_each_process(pid_t init, void (*fn)(pid_t pid, void *data), void *data)
{
        char want[512], line[512];
        struct dirent *de;
        size_t n;
        DIR *proc;

        /* pxcri-init is pid 1 of a PID namespace of the CT's own. */
        if (!pmx_shares_pidns(init)) {
                backend_for_each_process(init, fn, data);
                return;
        }
        cgroup_line(init, want, sizeof(want));
        n = strlen(want);
        if (!n || !(proc = opendir("/proc"))) {
                fn(init, data);
                return;
        }
        while ((de = readdir(proc))) {
                pid_t pid = (pid_t) atoi(de->d_name);

                if (pid <= 0)
                        continue;
                cgroup_line(pid, line, sizeof(line));
                if (strncmp(line, want, n) == 0 && (line[n] == '\0' || line[n] == '/'))
                        fn(pid, data);
        }
        closedir(proc);
}

/* Wait for <host>.pid (or the child's end) and write the host's pid of
 * the process to pid_file.  Returns 0 when written, -ESRCH when the
 * process ended first or cannot be found. */
static int report_pid(pid_t init, const char *host, pid_t child, unsigned timeout_s, const char *pid_file,
                      struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        siginfo_t si;
        pid_t target;

        if (asprintf(&path, "%s.pid", host) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (long long us = 0; fs_read_file(path, 32, &text, NULL, NULL) < 0 || !*text; us += PID_WAIT_STEP_US) {
                free(TAKE_PTR(text));
                si.si_pid = 0;
                if (us > (long long) timeout_s * 1000000 ||
                    waitid(P_PID, (id_t) child, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != 0)
                        return -ESRCH;
                usleep(PID_WAIT_STEP_US);
        }
        unlink(path);
        if (init <= 0 || !(target = host_pid_of(init, (pid_t) atoi(text))))
                return -ESRCH;
        return backend_write_pid_file(pid_file, target, err);
}

int pmx_exec_waited(struct backend *b, struct pve_client *client, unsigned vmid, pid_t init, const char *host,
                    const char *inside, const char *pid_file, int *st, struct pxe **err)
{
        _cleanup_free_ char *pid_path = NULL;
        int status, r;
        pid_t child;

        /* pxcri-init reports its pid only into a file we made (empty). */
        if (asprintf(&pid_path, "%s.pid", host) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((r = fs_write_atomic(pid_path, "", 0, 0644, err)) < 0)
                return r;
        if ((child = pmx_exec_spawn(client, vmid, host, inside, false, err)) < 0) {
                unlink(pid_path);
                return child;
        }
        /* Not found (it ended already, or no /proc to read): no pid file, as
         * for a process that ran and exited. */
        if ((r = report_pid(init, host, child, b->cfg->proxmox.timeout, pid_file, err)) < 0 && r != -ESRCH) {
                kill(child, SIGKILL);
                spawn_wait(child, &status);
                unlink(pid_path);
                return r;
        }
        r = spawn_wait_forwarding(child, &status);
        unlink(pid_path);
        if (r < 0)
                return pxe_set_errno(err, -r, "Waiting for pct exec in Proxmox container %u", vmid);
        *st = spawn_exit_code(status);
        return 0;
}
