/* Commands that act on one existing container through the backend that
 * created it: start, kill, exec, ps, pause, resume, update. */
#include <errno.h>
#include <stdio.h>

#include "cli/cli.h"
#include "util/cleanup.h"

const struct cli_opt cli_kill_opts[] = {
        { "all", 'a', false, false },
        { 0 },
};

/* exec options that pxcri itself looks at; the rest are handed on. */
enum {
        EXEC_OPT_PROCESS,
        EXEC_OPT_TTY,
};

const struct cli_opt cli_exec_opts[] = {
        [EXEC_OPT_PROCESS] = { "process", 'p', true, false },
        [EXEC_OPT_TTY] = { "tty", 't', false, false },
        { "console-socket", 0, true, false },
        { "cwd", 0, true, false },
        { "env", 'e', true, false },
        { "user", 'u', true, false },
        { "additional-gids", 'g', true, false },
        { "detach", 'd', false, false },
        { "pid-file", 0, true, false },
        { "process-label", 0, true, false },
        { "apparmor", 0, true, false },
        { "no-new-privs", 0, false, false },
        { "cap", 'c', true, false },
        { "preserve-fds", 0, true, false },
        { "cgroup", 0, true, false },
        { "ignore-paused", 0, false, false },
        { 0 },
};

const struct cli_opt cli_ps_opts[] = {
        { "format", 'f', true, false },
        { 0 },
};

const struct cli_opt cli_update_opts[] = {
        { "resources", 'r', true, false },
        { "blkio-weight", 0, true, false },
        { "cpu-period", 0, true, false },
        { "cpu-quota", 0, true, false },
        { "cpu-rt-period", 0, true, false },
        { "cpu-rt-runtime", 0, true, false },
        { "cpu-share", 0, true, false },
        { "cpuset-cpus", 0, true, false },
        { "cpuset-mems", 0, true, false },
        { "kernel-memory", 0, true, false },
        { "kernel-memory-tcp", 0, true, false },
        { "memory", 0, true, false },
        { "memory-reservation", 0, true, false },
        { "memory-swap", 0, true, false },
        { "pids-limit", 0, true, false },
        { "l3-cache-schema", 0, true, false },
        { "mem-bw-schema", 0, true, false },
        { 0 },
};

typedef int (*backend_op)(struct backend *b, const struct backend_call *c, int *st, struct pxe **err);

static int on_container(struct cli *c, struct cli_args *a, backend_op op, struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        struct backend_call call = {
                .id = a->pos[0],
                .args = a->pass,
                .n_args = a->n_pass,
        };
        int status = 0;

        if (container_open(&c->ctx, call.id, &b, err) < 0)
                return -pxe_code(err, ENOENT);
        if (op(b, &call, &status, err) < 0)
                return -pxe_code(err, EIO);
        return status;
}

int cmd_start(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_start, err);
}

/* The signal (name or number) is the backend's to parse and refuse. */
int cmd_kill(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_kill, err);
}

int cmd_exec(struct cli *c, struct cli_args *a, struct pxe **err)
{
        if (a->n_pos < 2 && !a->values[EXEC_OPT_PROCESS])
                return pxe_set(err, EINVAL, "pxcri exec: give a command to run, or --process FILE");
        return on_container(c, a, backend_exec, err);
}

int cmd_ps(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_ps, err);
}

int cmd_pause(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_pause, err);
}

int cmd_resume(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_resume, err);
}

int cmd_update(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_update, err);
}
