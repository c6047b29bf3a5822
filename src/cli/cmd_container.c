/* Commands that act on one existing container through the backend that
 * created it: start, kill, exec, ps, pause, resume, update. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        EXEC_OPT_CONSOLE_SOCKET,
        EXEC_OPT_CWD,
        EXEC_OPT_ENV,
        EXEC_OPT_USER,
        EXEC_OPT_ADDITIONAL_GIDS,
        EXEC_OPT_DETACH,
        EXEC_OPT_PID_FILE,
};

const struct cli_opt cli_exec_opts[] = {
        [EXEC_OPT_PROCESS] = { "process", 'p', true, false },
        [EXEC_OPT_TTY] = { "tty", 't', false, false },
        [EXEC_OPT_CONSOLE_SOCKET] = { "console-socket", 0, true, false },
        [EXEC_OPT_CWD] = { "cwd", 0, true, false },
        [EXEC_OPT_ENV] = { "env", 'e', true, false },
        [EXEC_OPT_USER] = { "user", 'u', true, false },
        [EXEC_OPT_ADDITIONAL_GIDS] = { "additional-gids", 'g', true, false },
        [EXEC_OPT_DETACH] = { "detach", 'd', false, false },
        [EXEC_OPT_PID_FILE] = { "pid-file", 0, true, false },
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

/* call: the parsed fields the command fills in, or NULL.  doing: what the
 * command does, for the message of a failure ("Starting"). */
static int on_container_call(struct cli *c, struct cli_args *a, backend_op op, const char *doing,
                             struct backend_call *call, struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        struct backend_call plain = { 0 };
        int status = 0;

        if (!call)
                call = &plain;
        call->id = a->pos[0];
        call->args = a->pass;
        call->n_args = a->n_pass;
        if (container_open(&c->ctx, call->id, &b, err) < 0)
                return -pxe_code(err, ENOENT);
        if (op(b, call, &status, err) < 0) {
                pxe_wrap(err, "%s container %s on %s", doing, call->id, b->name);
                return -pxe_code(err, EIO);
        }
        return status;
}

static int on_container(struct cli *c, struct cli_args *a, backend_op op, const char *doing, struct pxe **err)
{
        return on_container_call(c, a, op, doing, NULL, err);
}

/* Every --env/-e value in the caller's order (values[] keeps only the last). */
static char **exec_env(struct cli_args *a, size_t *ret_n)
{
        char **env = calloc(a->n_pass + 1, sizeof(char *));
        size_t n = 0;

        *ret_n = 0;
        if (!env)
                return NULL;
        for (size_t i = 0; i < a->n_pass; i++) {
                const char *t = a->pass[i];

                if ((streq(t, "--env") || streq(t, "-e") || streq(t, "-env")) && i + 1 < a->n_pass)
                        env[n++] = a->pass[++i];
                else if (strncmp(t, "--env=", 6) == 0)
                        env[n++] = a->pass[i] + 6;
                else if (strncmp(t, "-e=", 3) == 0)
                        env[n++] = a->pass[i] + 3;
        }
        *ret_n = n;
        return env;
}

int cmd_start(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_start, "Starting", err);
}

/* pxcri checks the signal itself, so that every backend refuses the same
 * names (crun 1.8 ignores an unknown one and exits 0), and hands each backend
 * its number: crun, runc and liblxc differ in the names they know. */
int cmd_kill(struct cli *c, struct cli_args *a, struct pxe **err)
{
        char number[16];
        struct backend_call call = { .all = a->values[0] != NULL };
        int sig = SIGTERM;

        if (a->n_pos > 1) {
                sig = cli_parse_signal(a->pos[1], err);
                if (sig < 0)
                        return pxe_wrap(err, "Signalling container %s", a->pos[0]);
                snprintf(number, sizeof(number), "%d", sig);
                for (size_t i = 0; i < a->n_pass; i++)
                        if (a->pass[i] == a->pos[1])
                                a->pass[i] = number;
                call.signal = number;
        }
        return on_container_call(c, a, backend_kill, "Signalling", &call, err);
}

int cmd_exec(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_free_ char **env = NULL;
        struct backend_call call = {
                .command = a->pos + 1,
                .n_command = a->n_pos - 1,
                .process_file = a->values[EXEC_OPT_PROCESS],
                .cwd = a->values[EXEC_OPT_CWD],
                .user = a->values[EXEC_OPT_USER],
                .tty = a->values[EXEC_OPT_TTY] != NULL,
                .detach = a->values[EXEC_OPT_DETACH] != NULL,
                .pid_file = a->values[EXEC_OPT_PID_FILE],
                .console_socket = a->values[EXEC_OPT_CONSOLE_SOCKET],
        };

        if (a->n_pos < 2 && !a->values[EXEC_OPT_PROCESS])
                return pxe_set(err, EINVAL, "Give exec a command to run, or --process FILE");
        env = exec_env(a, &call.n_env);
        if (!env)
                return pxe_set(err, ENOMEM, "Out of memory");
        call.env = env;
        return on_container_call(c, a, backend_exec, "Running a process in", &call, err);
}

int cmd_ps(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_ps, "Listing the processes of", err);
}

int cmd_pause(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_pause, "Pausing", err);
}

int cmd_resume(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return on_container(c, a, backend_resume, "Resuming", err);
}

int cmd_update(struct cli *c, struct cli_args *a, struct pxe **err)
{
        struct backend_call call = { .resources = a->values[0] };

        return on_container_call(c, a, backend_update, "Updating", &call, err);
}
