/* Running other programs: the one place pxcri forks and execs.
 *
 * argv only, never a shell; the child starts with default signal dispositions
 * and an empty signal mask; pxcri's own descriptors are O_CLOEXEC, so the child
 * gets stdin/stdout/stderr and whatever the caller deliberately left open
 * (runc's --preserve-fds).  Waits are bounded when timeout_ms is set: the child
 * is killed with SIGKILL on expiry and the call fails with -ETIMEDOUT.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

struct spawn_opts {
        const char *const *argv; /* argv[0] is an absolute path, not searched in PATH */
        const char *path;        /* the program to execute when not argv[0] (OCI hooks); absolute */
        char *const *envp;       /* NULL: inherit the caller's environment */
        bool capture_stdout;     /* collect into spawn_result.out */
        bool capture_stderr;     /* collect into spawn_result.errout */
        bool null_stdin;         /* stdin from /dev/null instead of the caller's */
        int timeout_ms;          /* 0: no limit */
        /* The child leads a process group of its own; spawn_run's timeout
         * kills the whole group (a hung CNI plugin and what it started). */
        bool own_pgroup;
        /* spawn_run only: stdin is a socket that gets these bytes, then EOF
         * (a child that does not read them is not waited for: what it leaves
         * unread is dropped when it exits). */
        const char *stdin_data;
        size_t stdin_len;
        /* Descriptors the child gets as 3, 4, ... in this order (conmon's
         * _OCI_SYNCPIPE); everything else of the caller stays O_CLOEXEC. */
        const int *keep_fds;
        size_t n_keep_fds;
        const char *cwd;         /* the child's working directory; NULL: the caller's */
};

struct spawn_result {
        int status;   /* raw wait status */
        char *out;    /* NUL-terminated captured stdout, or NULL */
        size_t out_len;
        char *errout; /* NUL-terminated captured stderr, or NULL */
        size_t errout_len;
};

/* Run to completion.  Returns 0 when the child ran (whatever its exit status),
 * negative errno when it could not be started or timed out. */
int spawn_run(const struct spawn_opts *o, struct spawn_result *res, struct pxe **err);

/* Start without waiting (no capture, no timeout); the caller waits with spawn_wait(). */
pid_t spawn_start(const struct spawn_opts *o, struct pxe **err);

/* spawn_start() with the child's stdout and stderr on pipes whose read ends
 * (O_CLOEXEC) go to *ret_out and *ret_err, for callers that pump the output
 * themselves (and act on a deadline their own way). */
pid_t spawn_start_piped(const struct spawn_opts *o, int *ret_out, int *ret_err, struct pxe **err);

/* Run fn(data) in a forked child of its own, for library code that must run
 * in a separate process without an exec (liblxc's monitor loop).  The child
 * starts with default signal dispositions, an empty signal mask and only
 * stdin/stdout/stderr open (no lock or other descriptor of the caller's
 * survives into it), and exits with fn's return value.  Wait with
 * spawn_wait(). */
pid_t spawn_fork(int (*fn)(void *data), void *data, struct pxe **err);
/* spawn_fork() that also keeps descriptors 3 .. 3+keep_fds-1 open as they are
 * (runc's --preserve-fds: the caller's descriptors for the container). */
pid_t spawn_fork_keep(int (*fn)(void *data), void *data, unsigned keep_fds, struct pxe **err);
/* spawn_fork() whose child gets fds[0..n_fds-1] (at most 16) as 3, 4, ...
 * in this order, without O_CLOEXEC, and nothing else above stdio. */
pid_t spawn_fork_fds(int (*fn)(void *data), void *data, const int *fds, size_t n_fds, struct pxe **err);

/* Replace the calling process with argv[0] (execv); returns only on failure. */
int spawn_exec(const char *const *argv, struct pxe **err);

/* waitpid() that retries on EINTR.  Returns 0 and the raw status. */
int spawn_wait(pid_t pid, int *status);

/* Wait for pid while passing on the signals pxcri receives (SIGTERM, SIGINT,
 * SIGHUP, SIGUSR1, ... -- not SIGCHLD, SIGPIPE, job control or faults).  A
 * signal the terminal sent to the whole foreground process group already
 * reached the child and is not sent twice.  Handlers are restored after. */
int spawn_wait_forwarding(pid_t pid, int *status);

/* The same forwarding to pid, from spawn_forward_start() until
 * spawn_forward_stop() restores the handlers: for a caller that must not
 * lose a signal between starting a child's work and waiting for it. */
struct spawn_forward {
        struct sigaction old[11];
};
void spawn_forward_start(pid_t pid, struct spawn_forward *f);
void spawn_forward_stop(struct spawn_forward *f);

/* Shell-style exit code of a wait status: the exit code, or 128 + signal. */
int spawn_exit_code(int status);

void spawn_result_done(struct spawn_result *res);
