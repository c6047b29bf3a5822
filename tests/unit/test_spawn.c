/* util/spawn: capture, exit codes, timeouts, descriptors, signal forwarding. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/spawn.h"

/* Run `/bin/sh -c script` capturing both streams, stdin from /dev/null. */
static int run_sh(const char *script, int timeout_ms, struct spawn_result *res, struct pxe **err)
{
        const char *argv[] = { "/bin/sh", "-c", script, NULL };
        struct spawn_opts o = {
                .argv = argv,
                .capture_stdout = true,
                .capture_stderr = true,
                .null_stdin = true,
                .timeout_ms = timeout_ms,
        };

        return spawn_run(&o, res, err);
}

static void test_captures_stdout_and_stderr_separately(void **state)
{
        struct spawn_result r;

        assert_int_equal(run_sh("echo out; echo err >&2; echo more", 0, &r, NULL), 0);
        assert_string_equal(r.out, "out\nmore\n");
        assert_int_equal(r.out_len, 9);
        assert_string_equal(r.errout, "err\n");
        assert_int_equal(r.errout_len, 4);
        spawn_result_done(&r);
}

static void test_captures_binary_output_with_length(void **state)
{
        struct spawn_result r;

        assert_int_equal(run_sh("printf 'a\\000b'", 0, &r, NULL), 0);
        assert_int_equal(r.out_len, 3);
        assert_memory_equal(r.out, "a\0b", 3);
        spawn_result_done(&r);
}

static void test_captures_large_output(void **state)
{
        struct spawn_result r;

        /* Far more than a pipe buffer: the parent must drain while waiting. */
        assert_int_equal(run_sh("head -c 3000000 /dev/zero; echo done >&2", 5000, &r, NULL), 0);
        assert_int_equal(r.out_len, 3000000);
        assert_string_equal(r.errout, "done\n");
        assert_int_equal(spawn_exit_code(r.status), 0);
        spawn_result_done(&r);
}

static void test_empty_capture_is_empty_string(void **state)
{
        struct spawn_result r;

        assert_int_equal(run_sh("true", 0, &r, NULL), 0);
        assert_non_null(r.out);
        assert_string_equal(r.out, "");
        assert_int_equal(r.out_len, 0);
        assert_non_null(r.errout);
        spawn_result_done(&r);
}

static void test_no_capture_leaves_null(void **state)
{
        const char *argv[] = { "/bin/true", NULL };
        struct spawn_opts o = { .argv = argv, .null_stdin = true };
        struct spawn_result r;

        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        assert_null(r.out);
        assert_null(r.errout);
}

static void test_exit_code(void **state)
{
        struct spawn_result r;

        /* A failing child is not a failed spawn_run(). */
        assert_int_equal(run_sh("exit 7", 0, &r, NULL), 0);
        assert_true(WIFEXITED(r.status));
        assert_int_equal(spawn_exit_code(r.status), 7);
        spawn_result_done(&r);
}

static void test_killed_by_signal_is_128_plus_signal(void **state)
{
        struct spawn_result r;

        assert_int_equal(run_sh("kill -9 $$", 0, &r, NULL), 0);
        assert_true(WIFSIGNALED(r.status));
        assert_int_equal(WTERMSIG(r.status), SIGKILL);
        assert_int_equal(spawn_exit_code(r.status), 137);
        spawn_result_done(&r);
}

static void test_exit_code_of_raw_statuses(void **state)
{
        assert_int_equal(spawn_exit_code(0), 0);
        assert_int_equal(spawn_exit_code(3 << 8), 3);
        assert_int_equal(spawn_exit_code(SIGTERM), 143);
}

static void test_timeout_kills_and_fails(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        const char *argv[] = { "/bin/sleep", "30", NULL };
        struct spawn_opts o = { .argv = argv, .null_stdin = true, .capture_stdout = true, .timeout_ms = 300 };
        struct spawn_result r;
        double t0 = unit_now(), dt;

        assert_int_equal(spawn_run(&o, &r, &e), -ETIMEDOUT);
        dt = unit_now() - t0;
        assert_true(dt >= 0.25 && dt < 15.0); /* the child alone would take 30 s */
        assert_int_equal(e->code, ETIMEDOUT);
        assert_contains(e->msg, "/bin/sleep");
        /* The child was killed and reaped, not left behind. */
        assert_true(WIFSIGNALED(r.status));
        assert_int_equal(WTERMSIG(r.status), SIGKILL);
        spawn_result_done(&r);
}

/* Whether pid still runs (a zombie does not: it waits for its reaper only). */
static bool pid_alive(pid_t pid)
{
        char path[64], buf[512], *p;
        FILE *f;
        bool alive = false;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (!(f = fopen(path, "re")))
                return false;
        if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
                alive = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
        fclose(f);
        return alive;
}

/* A shell that starts `sleep 30` in the background, prints its pid, and
 * waits: after the timeout, is the background sleep still there? */
static bool grandchild_survives_timeout(bool own_pgroup)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        const char *argv[] = { "/bin/sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $!; wait", NULL };
        struct spawn_opts o = { .argv = argv, .null_stdin = true, .capture_stdout = true, .timeout_ms = 500,
                                .own_pgroup = own_pgroup };
        struct spawn_result r;
        pid_t pid;
        bool alive = true;

        assert_int_equal(spawn_run(&o, &r, &e), -ETIMEDOUT);
        assert_non_null(r.out);
        pid = (pid_t) atoi(r.out);
        assert_true(pid > 1);
        for (int i = 0; i < 100 && (alive = pid_alive(pid)); i++)
                usleep(20 * 1000);
        if (alive)
                kill(pid, SIGKILL);
        spawn_result_done(&r);
        return alive;
}

static void test_timeout_kills_own_process_group(void **state)
{
        assert_false(grandchild_survives_timeout(true));
        /* and the option is what does it: without it the grandchild lives on */
        assert_true(grandchild_survives_timeout(false));
}

static void test_timeout_not_hit_by_quick_child(void **state)
{
        struct spawn_result r;

        assert_int_equal(run_sh("echo fast", 5000, &r, NULL), 0);
        assert_string_equal(r.out, "fast\n");
        spawn_result_done(&r);
}

static void test_missing_binary_names_it(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        const char *argv[] = { "/nonexistent/pxcri-no-such-runtime", "x", NULL };
        struct spawn_opts o = { .argv = argv, .capture_stdout = true, .capture_stderr = true };
        struct spawn_result r;

        assert_int_equal(spawn_run(&o, &r, &e), -ENOENT);
        assert_contains(e->msg, "/nonexistent/pxcri-no-such-runtime");
        spawn_result_done(&r);
}

static void test_null_stdin_is_dev_null(void **state)
{
        struct spawn_result r;

        assert_int_equal(run_sh("readlink /proc/$$/fd/0", 0, &r, NULL), 0);
        assert_string_equal(r.out, "/dev/null\n");
        spawn_result_done(&r);
}

static void test_envp_replaces_environment(void **state)
{
        const char *argv[] = { "/bin/sh", "-c", "echo \"$PXCRI_T|$HOME\"", NULL };
        char *envp[] = { (char *) "PXCRI_T=42", NULL };
        struct spawn_opts o = { .argv = argv, .envp = envp, .capture_stdout = true, .null_stdin = true };
        struct spawn_result r;

        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        assert_string_equal(r.out, "42|\n");
        spawn_result_done(&r);
}

static void test_stdin_data_reaches_child_then_eof(void **state)
{
        const char *argv[] = { "/bin/cat", NULL };
        struct spawn_opts o = { .argv = argv, .capture_stdout = true, .stdin_data = "{\"id\":\"x\"}",
                                .stdin_len = 10 };
        struct spawn_result r;

        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        assert_int_equal(spawn_exit_code(r.status), 0);
        assert_string_equal(r.out, "{\"id\":\"x\"}");
        spawn_result_done(&r);
}

static void test_stdin_data_not_read_does_not_block(void **state)
{
        const char *argv[] = { "/bin/true", NULL };
        static char big[1 << 20];
        struct spawn_opts o = { .argv = argv, .stdin_data = big, .stdin_len = sizeof(big), .timeout_ms = 20000 };
        struct spawn_result r;

        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        assert_int_equal(spawn_exit_code(r.status), 0);
        spawn_result_done(&r);
}

static void test_path_differs_from_argv0(void **state)
{
        const char *argv[] = { "myname", "-c", "echo $0", NULL };
        struct spawn_opts o = { .argv = argv, .path = "/bin/sh", .capture_stdout = true, .null_stdin = true };
        struct spawn_result r;

        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        assert_string_equal(r.out, "myname\n");
        spawn_result_done(&r);
}

static void test_grandchild_holding_pipe_does_not_block(void **state)
{
        struct spawn_result r;
        double t0 = unit_now();

        assert_int_equal(run_sh("sleep 30 & echo hi", 0, &r, NULL), 0);
        assert_true(unit_now() - t0 < 15.0); /* waiting for the grandchild would take 30 s */
        assert_string_equal(r.out, "hi\n");
        spawn_result_done(&r);
}

static void test_no_descriptor_leak_on_success(void **state)
{
        struct spawn_result r;
        int before = unit_count_fds();

        assert_int_equal(run_sh("echo x; echo y >&2", 0, &r, NULL), 0);
        spawn_result_done(&r);
        assert_int_equal(unit_count_fds(), before);
}

static void test_no_descriptor_leak_on_timeout(void **state)
{
        struct spawn_result r;
        int before = unit_count_fds();

        assert_int_equal(run_sh("sleep 10", 100, &r, NULL), -ETIMEDOUT);
        spawn_result_done(&r);
        assert_int_equal(unit_count_fds(), before);
}

static void test_no_descriptor_leak_on_exec_failure(void **state)
{
        const char *argv[] = { "/nonexistent/pxcri", NULL };
        struct spawn_opts o = { .argv = argv, .capture_stdout = true, .capture_stderr = true };
        struct spawn_result r;
        int before = unit_count_fds();

        assert_true(spawn_run(&o, &r, NULL) < 0);
        spawn_result_done(&r);
        assert_int_equal(unit_count_fds(), before);
}

/* Lines "fd target" of the child's descriptors. */
static const char *target_of(char *const *lines, size_t n, const char *fd)
{
        size_t len = strlen(fd);

        for (size_t i = 0; i < n; i++)
                if (strncmp(lines[i], fd, len) == 0 && lines[i][len] == ' ')
                        return lines[i] + len + 1;
        return NULL;
}

static size_t count_target(char *const *lines, size_t n, const char *target)
{
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                const char *t = strchr(lines[i], ' ');

                if (t && strcmp(t + 1, target) == 0)
                        k++;
        }
        return k;
}

/* The child sees its stdout/stderr pipes once each -- not the read ends
 * pxcri keeps -- and none of the parent's O_CLOEXEC descriptors. */
static void test_child_gets_no_cloexec_descriptors(void **state)
{
        const char *script = "cd /proc/$$/fd && for f in *; do echo \"$f $(readlink $f)\"; done";
        char *dir = unit_mkdtemp(), *marker = unit_path(dir, "marker");
        char *lines[64];
        const char *out_pipe, *err_pipe;
        struct spawn_result r;
        size_t n = 0;
        int fd;

        unit_write(marker, "");
        fd = open(marker, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(run_sh(script, 5000, &r, NULL), 0);
        close(fd);
        assert_null(strstr(r.out, marker));
        for (char *l = strtok(r.out, "\n"); l && n < 64; l = strtok(NULL, "\n"))
                lines[n++] = l;
        out_pipe = target_of(lines, n, "1");
        err_pipe = target_of(lines, n, "2");
        assert_non_null(out_pipe);
        assert_non_null(err_pipe);
        assert_non_null(strstr(out_pipe, "pipe:"));
        assert_string_not_equal(out_pipe, err_pipe);
        assert_int_equal(count_target(lines, n, out_pipe), 1);
        assert_int_equal(count_target(lines, n, err_pipe), 1);
        spawn_result_done(&r);
        unit_rm_rf(dir);
        free(marker);
        free(dir);
}

static void test_child_starts_with_empty_mask_and_default_handlers(void **state)
{
        const char *argv[] = { "/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL };
        struct spawn_opts o = { .argv = argv, .capture_stdout = true, .null_stdin = true };
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        sigset_t block, oldmask;
        unsigned long long blk = ~0ull, ignored = ~0ull;
        struct spawn_result r;
        char *p;

        sigemptyset(&ign.sa_mask);
        sigaction(SIGTERM, &ign, &old);
        sigemptyset(&block);
        sigaddset(&block, SIGUSR2);
        sigprocmask(SIG_BLOCK, &block, &oldmask);
        /* No shell: a shell reading its own status races with its forks,
         * which block every signal for a moment. */
        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        sigaction(SIGTERM, &old, NULL);
        p = strstr(r.out, "SigBlk:");
        assert_non_null(p);
        blk = strtoull(p + 7, NULL, 16);
        p = strstr(r.out, "SigIgn:");
        assert_non_null(p);
        ignored = strtoull(p + 7, NULL, 16);
        assert_int_equal(blk & (1ull << (SIGUSR2 - 1)), 0);
        assert_int_equal(ignored & (1ull << (SIGTERM - 1)), 0);
        spawn_result_done(&r);
}

static void test_start_and_wait(void **state)
{
        const char *argv[] = { "/bin/sh", "-c", "exit 3", NULL };
        struct spawn_opts o = { .argv = argv, .null_stdin = true };
        int status = -1;
        pid_t pid = spawn_start(&o, NULL);

        assert_true(pid > 0);
        assert_int_equal(spawn_wait(pid, &status), 0);
        assert_int_equal(spawn_exit_code(status), 3);
}

static void test_start_missing_binary_fails(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        const char *argv[] = { "/nonexistent/pxcri-start", NULL };
        struct spawn_opts o = { .argv = argv };

        assert_int_equal(spawn_start(&o, &e), -ENOENT);
        assert_contains(e->msg, "/nonexistent/pxcri-start");
}

static void test_wait_on_non_child_is_echild(void **state)
{
        int status;

        assert_int_equal(spawn_wait(1, &status), -ECHILD);
}

/* Signal forwarding.  A helper thread keeps sending SIGUSR1 to this process
 * once the child has installed its trap, until the child is gone.  Signals
 * that arrive outside spawn_wait_forwarding() hit a no-op handler. */
struct sender {
        const char *ready;
        pid_t child;
        atomic_bool stop;
};

static void noop_handler(int sig)
{
        (void) sig;
}

static void *send_usr1(void *arg)
{
        struct sender *s = arg;
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* let the main thread take it */
        for (int i = 0; !atomic_load(&s->stop); i++) {
                if (access(s->ready, F_OK) == 0)
                        kill(getpid(), SIGUSR1);
                if (i == 100) /* 5 s: not forwarded, fail instead of hanging */
                        kill(s->child, SIGKILL);
                usleep(50 * 1000);
        }
        return NULL;
}

static void test_wait_forwarding_passes_sigusr1(void **state)
{
        char *dir = unit_mkdtemp(), *ready = unit_path(dir, "ready"), *script = NULL;
        struct sigaction sa = { .sa_handler = noop_handler }, old;
        struct sender s = { .ready = ready };
        const char *argv[] = { "/bin/sh", "-c", NULL, NULL };
        struct spawn_opts o = { .argv = argv, .null_stdin = true };
        int status = -1;
        pthread_t t;
        pid_t pid;

        assert_true(asprintf(&script, "trap 'exit 42' USR1; : > '%s'; while :; do sleep 0.05; done", ready) > 0);
        argv[2] = script;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, &old);
        pid = spawn_start(&o, NULL);
        assert_true(pid > 0);
        s.child = pid;
        assert_int_equal(pthread_create(&t, NULL, send_usr1, &s), 0);
        assert_int_equal(spawn_wait_forwarding(pid, &status), 0);
        atomic_store(&s.stop, true);
        pthread_join(t, NULL);
        sigaction(SIGUSR1, &old, NULL);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 42);
        unit_rm_rf(dir);
        free(script);
        free(ready);
        free(dir);
}

static void test_wait_forwarding_restores_handlers(void **state)
{
        const char *argv[] = { "/bin/true", NULL };
        struct spawn_opts o = { .argv = argv, .null_stdin = true };
        struct sigaction sa = { .sa_handler = noop_handler }, old, now;
        int status;
        pid_t pid;

        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, &old);
        pid = spawn_start(&o, NULL);
        assert_true(pid > 0);
        assert_int_equal(spawn_wait_forwarding(pid, &status), 0);
        sigaction(SIGTERM, &old, &now);
        assert_ptr_equal(now.sa_handler, noop_handler);
        assert_int_equal(spawn_exit_code(status), 0);
}

/* spawn_fork children: exit codes, a clean signal state, no inherited fds. */
static int fork_returns(void *data)
{
        return *(int *) data;
}

static int fork_checks_state(void *data)
{
        int fd = *(int *) data;
        struct sigaction now;
        sigset_t mask;

        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
                return 10; /* the caller's descriptor survived */
        sigaction(SIGUSR1, NULL, &now);
        if (now.sa_handler != SIG_DFL)
                return 11;
        sigprocmask(SIG_SETMASK, NULL, &mask);
        if (sigismember(&mask, SIGUSR2))
                return 12;
        return fcntl(STDERR_FILENO, F_GETFD) >= 0 ? 0 : 13;
}

static void test_fork_passes_exit_code(void **state)
{
        int code = 23, status;
        pid_t pid = spawn_fork(fork_returns, &code, NULL);

        assert_true(pid > 0);
        assert_int_equal(spawn_wait(pid, &status), 0);
        assert_int_equal(spawn_exit_code(status), 23);
}

static int fork_checks_kept(void *data)
{
        int high = *(int *) data;

        /* 3 kept, the one above it closed. */
        return fcntl(3, F_GETFD) >= 0 && fcntl(high, F_GETFD) < 0 && errno == EBADF ? 0 : 1;
}

static void test_fork_keep_keeps_only_the_first_descriptors(void **state)
{
        int saved = fcntl(3, F_DUPFD_CLOEXEC, 100), null = open("/dev/null", O_RDONLY), high, status;
        pid_t pid;

        assert_true(null >= 0);
        assert_int_equal(dup2(null, 3), 3);
        high = fcntl(null, F_DUPFD, 50);
        assert_true(high >= 50);
        pid = spawn_fork_keep(fork_checks_kept, &high, 1, NULL);
        assert_true(pid > 0);
        assert_int_equal(spawn_wait(pid, &status), 0);
        assert_int_equal(spawn_exit_code(status), 0);
        /* spawn_fork keeps none. */
        pid = spawn_fork(fork_checks_kept, &high, NULL);
        assert_int_equal(spawn_wait(pid, &status), 0);
        assert_int_equal(spawn_exit_code(status), 1);
        close(high);
        if (null != 3)
                close(null);
        if (saved >= 0) {
                dup3(saved, 3, O_CLOEXEC);
                close(saved);
        } else {
                close(3);
        }
}

static void test_fork_child_has_clean_state(void **state)
{
        struct sigaction ign = { .sa_handler = SIG_IGN }, old;
        sigset_t block, oldmask;
        int p[2], status;
        pid_t pid;

        assert_int_equal(pipe(p), 0); /* deliberately without O_CLOEXEC */
        sigemptyset(&ign.sa_mask);
        sigaction(SIGUSR1, &ign, &old);
        sigemptyset(&block);
        sigaddset(&block, SIGUSR2);
        sigprocmask(SIG_BLOCK, &block, &oldmask);
        pid = spawn_fork(fork_checks_state, &p[1], NULL);
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        sigaction(SIGUSR1, &old, NULL);
        assert_true(pid > 0);
        assert_int_equal(spawn_wait(pid, &status), 0);
        assert_int_equal(spawn_exit_code(status), 0);
        close(p[0]);
        close(p[1]);
}

/* keep_fds: the child gets them as 3, 4 in order (even when a source is
 * itself one of the targets), and nothing else of ours. */
static void test_keep_fds_become_3_and_up(void **state)
{
        char script[160];
        const char *argv[] = { "/bin/sh", "-c", script, NULL };
        int a[2], b[2];
        struct spawn_result r;

        assert_int_equal(pipe2(a, O_CLOEXEC), 0);
        assert_int_equal(pipe2(b, O_CLOEXEC), 0);
        /* The originals (above 4 after the dup2s) are not the child's. */
        snprintf(script, sizeof(script),
                 "cat <&3; cat <&4; for f in %d %d %d %d; do [ $f -gt 4 ] && [ -e /proc/self/fd/$f ] && echo $f >&2; done; true",
                 a[0], a[1], b[0], b[1]);
        assert_int_equal(write(a[1], "first\n", 6), 6);
        assert_int_equal(write(b[1], "second\n", 7), 7);
        close(a[1]);
        close(b[1]);
        /* b[0] first: a source that collides with target 3 or 4 must survive. */
        int keep[] = { b[0], a[0] };
        struct spawn_opts o = {
                .argv = argv, .capture_stdout = true, .capture_stderr = true, .null_stdin = true,
                .keep_fds = keep, .n_keep_fds = 2, .timeout_ms = 5000,
        };

        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        assert_int_equal(spawn_exit_code(r.status), 0);
        assert_string_equal(r.out, "second\nfirst\n");
        assert_string_equal(r.errout, "");
        spawn_result_done(&r);
        /* Our own descriptors are untouched. */
        assert_true(fcntl(a[0], F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(b[0], F_GETFD) & FD_CLOEXEC);
        close(a[0]);
        close(b[0]);
}

static void test_cwd_sets_working_directory(void **state)
{
        const char *argv[] = { "/bin/pwd", NULL };
        struct spawn_opts o = { .argv = argv, .capture_stdout = true, .cwd = "/proc" };
        struct spawn_result r;
        struct pxe *e = NULL;

        assert_int_equal(spawn_run(&o, &r, NULL), 0);
        assert_string_equal(r.out, "/proc\n");
        spawn_result_done(&r);
        o.cwd = "/nonexistent-pxt";
        assert_true(spawn_run(&o, &r, &e) < 0);
        assert_non_null(e);
        spawn_result_done(&r);
        pxe_free(e);
}

static void test_start_piped_gives_both_streams(void **state)
{
        const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 4", NULL };
        struct spawn_opts o = { .argv = argv, .null_stdin = true };
        int out = -1, errfd = -1, status;
        char buf[64];
        pid_t pid = spawn_start_piped(&o, &out, &errfd, NULL);

        assert_true(pid > 0);
        assert_true(fcntl(out, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(spawn_wait(pid, &status), 0);
        assert_int_equal(spawn_exit_code(status), 4);
        assert_int_equal(read(out, buf, sizeof(buf)), 4);
        assert_memory_equal(buf, "out\n", 4);
        assert_int_equal(read(errfd, buf, sizeof(buf)), 4);
        assert_memory_equal(buf, "err\n", 4);
        assert_int_equal(read(out, buf, sizeof(buf)), 0);
        close(out);
        close(errfd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_captures_stdout_and_stderr_separately),
                cmocka_unit_test(test_captures_binary_output_with_length),
                cmocka_unit_test(test_captures_large_output),
                cmocka_unit_test(test_empty_capture_is_empty_string),
                cmocka_unit_test(test_no_capture_leaves_null),
                cmocka_unit_test(test_exit_code),
                cmocka_unit_test(test_killed_by_signal_is_128_plus_signal),
                cmocka_unit_test(test_exit_code_of_raw_statuses),
                cmocka_unit_test(test_timeout_kills_and_fails),
                cmocka_unit_test(test_timeout_kills_own_process_group),
                cmocka_unit_test(test_timeout_not_hit_by_quick_child),
                cmocka_unit_test(test_missing_binary_names_it),
                cmocka_unit_test(test_null_stdin_is_dev_null),
                cmocka_unit_test(test_envp_replaces_environment),
                cmocka_unit_test(test_stdin_data_reaches_child_then_eof),
                cmocka_unit_test(test_stdin_data_not_read_does_not_block),
                cmocka_unit_test(test_path_differs_from_argv0),
                cmocka_unit_test(test_grandchild_holding_pipe_does_not_block),
                cmocka_unit_test(test_no_descriptor_leak_on_success),
                cmocka_unit_test(test_no_descriptor_leak_on_timeout),
                cmocka_unit_test(test_no_descriptor_leak_on_exec_failure),
                cmocka_unit_test(test_child_gets_no_cloexec_descriptors),
                cmocka_unit_test(test_child_starts_with_empty_mask_and_default_handlers),
                cmocka_unit_test(test_start_and_wait),
                cmocka_unit_test(test_start_missing_binary_fails),
                cmocka_unit_test(test_wait_on_non_child_is_echild),
                cmocka_unit_test(test_wait_forwarding_passes_sigusr1),
                cmocka_unit_test(test_wait_forwarding_restores_handlers),
                cmocka_unit_test(test_fork_passes_exit_code),
                cmocka_unit_test(test_fork_child_has_clean_state),
                cmocka_unit_test(test_fork_keep_keeps_only_the_first_descriptors),
                cmocka_unit_test(test_keep_fds_become_3_and_up),
                cmocka_unit_test(test_cwd_sets_working_directory),
                cmocka_unit_test(test_start_piped_gives_both_streams),
        };

        return unit_run(tests);
}
