/* src/monitor: monitor_create() against stand-ins for conmon, and the
 * runtime commands (start, kill, state, update) against a stand-in for
 * pxcri.  Each stand-in is a shell script that does what the real program
 * can do wrong: not start, exit with a message, exit without reporting,
 * report garbage or a failure on the sync pipe, never report; a runtime
 * that fails with or without a message, or prints no state.  The contract
 * with the real conmon is tests/integration/test_monitor.py's. */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/monitor.h"
#include "util/cleanup.h"

/* conmon's first process, as monitor_create() runs it: fd 3 the sync pipe,
 * fd 4 the start pipe, the bundle as cwd.  What it does comes from the
 * file "mode" in the bundle. */
static const char fake_conmon[] =
        "#!/bin/sh\n"
        "dd bs=1 count=1 <&4 >/dev/null 2>&1\n"
        "mode=$(cat mode)\n"
        "case $mode in\n"
        "fail) echo 'conmon: unknown flag --pxt' >&2; exit 3 ;;\n"
        "silent) exit 0 ;;\n"
        "garbage) echo 'no json here' >&3; exit 0 ;;\n"
        "refused) printf '{\"data\": -1, \"message\": \"runc: pxt refused \\\\n\"}\\n' >&3; exit 0 ;;\n"
        "refused-quietly) echo '{\"data\": -1}' >&3; exit 0 ;;\n"
        /* The monitor keeps the sync pipe and never writes: daemonized, its
         * pid in conmon.pid, as conmon's second process. */
        "hang) sleep 60 & echo $! > conmon.pid; exit 0 ;;\n"
        "ok) echo 4242 > conmon.pid; echo '{\"data\": 777}' >&3; exit 0 ;;\n"
        "esac\n"
        "exit 9\n";

/* pxcri as runtime_run() runs it: records its arguments in args (and the
 * resources file of an update in resources), then does what the file "mode"
 * next to it says. */
static const char fake_runtime[] =
        "#!/bin/sh\n"
        "d=$(dirname \"$0\")\n"
        "echo \"$@\" > \"$d/args\"\n"
        "for a in \"$@\"; do case $a in --resources) shift_next=1 ;; *) [ -n \"$shift_next\" ] && cat \"$a\" > "
        "\"$d/resources\"; shift_next= ;; esac; done\n"
        "case $(cat \"$d/mode\" 2>/dev/null) in\n"
        "missing) echo 'container \"c1\" does not exist' >&2; exit 1 ;;\n"
        "fail) echo 'pxcri: cannot start: pxt busy  ' >&2; exit 1 ;;\n"
        "fail-quietly) exit 4 ;;\n"
        "no-state) echo 'not a state'; exit 0 ;;\n"
        "esac\n"
        "echo '{\"ociVersion\": \"1.0.2\", \"id\": \"c1\", \"status\": \"running\", \"pid\": 1}'\n";

struct fx {
        char *dir, *bundle, *log, *conmon, *runtime;
        struct monitor_config mc;
        struct monitor_create_request req;
};

static char *script(const char *dir, const char *name, const char *text)
{
        char *p = unit_path(dir, name);

        unit_write(p, text);
        assert_int_equal(chmod(p, 0755), 0);
        return p;
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));

        f->dir = unit_mkdtemp();
        f->bundle = unit_path(f->dir, "bundle");
        f->log = unit_path(f->dir, "ctr.log");
        assert_int_equal(mkdir(f->bundle, 0700), 0);
        f->conmon = script(f->dir, "conmon", fake_conmon);
        f->runtime = script(f->dir, "pxcri", fake_runtime);
        f->mc = (struct monitor_config) {
                .conmon_path = f->conmon,
                .runtime_path = f->runtime,
                .runtime_root = f->dir,
                .exits_dir = unit_path(f->dir, "exits"),
                .persist_dir = unit_path(f->dir, "persist"),
                .socket_dir = unit_path(f->dir, "sock"),
        };
        f->req = (struct monitor_create_request) {
                .id = "c1", .name = "pxt", .bundle = f->bundle, .log_path = f->log, .timeout_s = 5,
        };
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        unit_rm_rf(f->dir);
        free((char *) f->mc.exits_dir);
        free((char *) f->mc.persist_dir);
        free((char *) f->mc.socket_dir);
        free(f->dir), free(f->bundle), free(f->log), free(f->conmon), free(f->runtime);
        free(f);
        return 0;
}

static void conmon_mode(struct fx *f, const char *mode)
{
        _cleanup_free_ char *p = unit_path(f->bundle, "mode");

        unit_write(p, mode);
}

static void runtime_mode(struct fx *f, const char *mode)
{
        _cleanup_free_ char *p = unit_path(f->dir, "mode");

        unit_write(p, mode);
}

static char *recorded(struct fx *f, const char *name)
{
        _cleanup_free_ char *p = unit_path(f->dir, name);
        char *text = unit_read(p);

        assert_non_null(text);
        text[strcspn(text, "\n")] = '\0';
        return text;
}

/* The error of a monitor_create() that must fail with code. */
static char *create_fails(struct fx *f, int code)
{
        struct monitor_created out = { .pid = -1 };
        struct pxe *e = NULL;
        char *msg;

        assert_int_equal(monitor_create(&f->mc, &f->req, &out, &e), -code);
        assert_non_null(e);
        assert_int_equal(out.pid, -1);
        msg = strdup(e->msg);
        pxe_free(e);
        return msg;
}

static void test_create_reports_pid(void **state)
{
        struct fx *f = *state;
        struct monitor_created out = { 0 };
        _cleanup_pxe_ struct pxe *e = NULL;
        _cleanup_free_ char *persist = unit_path(f->mc.persist_dir, "c1");
        struct stat st;

        conmon_mode(f, "ok");
        if (monitor_create(&f->mc, &f->req, &out, &e) < 0)
                fail_msg("%s", e->msg);
        assert_int_equal(out.pid, 777);
        assert_int_equal(out.conmon_pid, 4242);
        /* The directories conmon writes into, made for it. */
        assert_int_equal(stat(persist, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        assert_int_equal(stat(f->mc.exits_dir, &st), 0);
        assert_int_equal(stat(f->mc.socket_dir, &st), 0);
}

static void test_conmon_missing(void **state)
{
        struct fx *f = *state;
        struct monitor_created out = { .pid = -1 };
        struct pxe *e = NULL;

        f->mc.conmon_path = "/nonexistent/pxt-conmon";
        assert_true(monitor_create(&f->mc, &f->req, &out, &e) < 0);
        assert_contains(e->msg, "Creating container c1: running conmon");
        assert_contains(e->msg, "/nonexistent/pxt-conmon");
        pxe_free(e);
}

static void test_conmon_fails(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *msg = NULL;

        conmon_mode(f, "fail");
        msg = create_fails(f, EIO);
        assert_string_equal(msg, "Creating container c1: conmon failed with exit code 3: conmon: unknown flag --pxt");
}

static void test_conmon_exits_without_reporting(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *msg = NULL;

        conmon_mode(f, "silent");
        msg = create_fails(f, EIO);
        assert_string_equal(msg, "Creating container c1: conmon exited without reporting");
}

static void test_conmon_reports_garbage(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *msg = NULL;

        conmon_mode(f, "garbage");
        msg = create_fails(f, EINVAL);
        assert_contains(msg, "Creating container c1");
        assert_contains(msg, "no json here");
}

/* The runtime's create failed: its message, trimmed, is the error. */
static void test_runtime_refuses(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *msg = NULL, *args = NULL;

        conmon_mode(f, "refused");
        msg = create_fails(f, EIO);
        assert_string_equal(msg, "Creating container c1: runc: pxt refused");
        /* Rolled back: the runtime was asked to forget the container. */
        args = recorded(f, "args");
        assert_contains(args, "delete --force c1");
        free(msg);
        conmon_mode(f, "refused-quietly");
        msg = create_fails(f, EIO);
        assert_string_equal(msg, "Creating container c1: the runtime failed without a message");
}

/* Running, not gone nor a zombie (an orphan is reaped by whoever is init). */
static bool alive(int pid)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        const char *p;

        assert_true(asprintf(&path, "/proc/%d/stat", pid) > 0);
        text = unit_read(path);
        p = text ? strrchr(text, ')') : NULL;
        return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* conmon's monitor holds the sync pipe and never writes: the create gives
 * up after timeout_s and kills it (by conmon.pid). */
static void test_conmon_never_reports(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *msg = NULL, *pidfile = unit_path(f->bundle, "conmon.pid"), *text = NULL;
        double t0 = unit_now();
        int pid;

        f->req.timeout_s = 1;
        conmon_mode(f, "hang");
        msg = create_fails(f, ETIMEDOUT);
        assert_string_equal(msg, "Creating container c1: conmon did not report within 1 s");
        assert_true(unit_now() - t0 < 10);
        text = unit_read(pidfile);
        assert_non_null(text);
        pid = atoi(text);
        assert_true(pid > 0);
        for (int i = 0; i < 200 && alive(pid); i++)
                usleep(10000);
        assert_false(alive(pid));
}

static void test_create_dirs_cannot_be_made(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *msg = NULL, *file = unit_path(f->dir, "a-file"), *under = unit_path(file, "persist");

        unit_write(file, "");
        free((char *) f->mc.persist_dir);
        f->mc.persist_dir = strdup(under);
        conmon_mode(f, "ok");
        msg = create_fails(f, ENOTDIR);
        assert_contains(msg, "Creating container c1");
}

/* conmon goes into the pod's cgroup before it may start: a bundle without
 * config.json names none, and the conmon that waits is killed. */
static void test_conmon_cgroup_unknown(void **state)
{
        struct fx *f = *state;
        struct monitor_created out = { .pid = -1 };
        _cleanup_free_ char *pidfile = unit_path(f->bundle, "conmon.pid");
        struct pxe *e = NULL;

        f->mc.conmon_cgroup = "pod";
        conmon_mode(f, "ok");
        assert_true(monitor_create(&f->mc, &f->req, &out, &e) < 0);
        assert_contains(e->msg, "Creating container c1");
        assert_int_equal(out.pid, -1);
        /* It never got the start byte: no conmon.pid, nothing on the sync pipe. */
        assert_int_not_equal(access(pidfile, F_OK), 0);
        pxe_free(e);
}

/* ---- the runtime's commands ---- */

static void test_start_passes_globals(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *args = NULL, *want = NULL;
        _cleanup_pxe_ struct pxe *e = NULL;

        f->mc.runtime_config = "/etc/pxt.json";
        f->mc.systemd_cgroup = true;
        if (monitor_start(&f->mc, "c1", &e) < 0)
                fail_msg("%s", e->msg);
        args = recorded(f, "args");
        assert_true(asprintf(&want, "--root=%s --config=/etc/pxt.json --systemd-cgroup start c1", f->dir) > 0);
        assert_string_equal(args, want);
}

static void test_runtime_errors(void **state)
{
        struct fx *f = *state;
        struct pxe *e = NULL;

        runtime_mode(f, "missing");
        assert_int_equal(monitor_start(&f->mc, "c1", &e), -ENOENT);
        assert_string_equal(e->msg, "Starting container c1: container \"c1\" does not exist");
        pxe_free(e), e = NULL;
        runtime_mode(f, "fail");
        assert_int_equal(monitor_delete(&f->mc, "c1", false, &e), -EIO);
        assert_string_equal(e->msg, "Deleting container c1: pxcri: cannot start: pxt busy");
        pxe_free(e), e = NULL;
        runtime_mode(f, "fail-quietly");
        assert_int_equal(monitor_kill(&f->mc, "c1", SIGTERM, false, &e), -EIO);
        assert_string_equal(e->msg, "Signalling container c1: the runtime failed with exit code 4");
        pxe_free(e), e = NULL;
        /* Not an ID: nothing runs. */
        assert_int_equal(monitor_start(&f->mc, "../c1", &e), -EINVAL);
        pxe_free(e), e = NULL;
        f->mc.runtime_path = NULL;
        assert_int_equal(monitor_start(&f->mc, "c1", &e), -EINVAL);
        assert_contains(e->msg, "no runtime_path or runtime_root given");
        pxe_free(e), e = NULL;
        f->mc.runtime_path = "/nonexistent/pxt-pxcri";
        assert_true(monitor_start(&f->mc, "c1", &e) < 0);
        assert_contains(e->msg, "Starting container c1");
        pxe_free(e);
}

static void test_kill_signals(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *all = NULL, *one = NULL;
        struct pxe *e = NULL;

        assert_int_equal(monitor_kill(&f->mc, "c1", SIGKILL, true, NULL), 0);
        all = recorded(f, "args");
        assert_contains(all, "kill --all c1 9");
        assert_int_equal(monitor_kill(&f->mc, "c1", SIGUSR1, false, NULL), 0);
        one = recorded(f, "args");
        assert_contains(one, "kill c1 10");
        assert_int_equal(monitor_kill(&f->mc, "c1", 0, false, &e), -EINVAL);
        assert_string_equal(e->msg, "Signalling container c1: bad signal 0");
        pxe_free(e), e = NULL;
        assert_int_equal(monitor_kill(&f->mc, "c1", NSIG, true, &e), -EINVAL);
        pxe_free(e);
}

static void test_state(void **state)
{
        struct fx *f = *state;
        json_t *st = NULL;
        struct pxe *e = NULL;

        assert_int_equal(monitor_state(&f->mc, "c1", &st, NULL), 0);
        assert_string_equal(json_string_value(json_object_get(st, "status")), "running");
        json_decref(st);
        runtime_mode(f, "no-state");
        st = NULL;
        assert_int_equal(monitor_state(&f->mc, "c1", &st, &e), -EIO);
        assert_null(st);
        assert_string_equal(e->msg, "Reading the state of container c1: the runtime printed no state object");
        pxe_free(e), e = NULL;
        runtime_mode(f, "missing");
        assert_int_equal(monitor_state(&f->mc, "c1", &st, &e), -ENOENT);
        pxe_free(e);
}

/* update: the resources go through a file the runtime reads, removed after. */
static void test_update(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *res = NULL, *args = NULL, *file = unit_path(f->dir, "a-file");
        struct pxe *e = NULL;

        assert_int_equal(mkdir(f->mc.persist_dir, 0700), 0);
        assert_int_equal(monitor_update(&f->mc, "c1", "{\"cpu\":{\"shares\":512}}", NULL), 0);
        res = recorded(f, "resources");
        assert_string_equal(res, "{\"cpu\":{\"shares\":512}}");
        args = recorded(f, "args");
        assert_contains(args, "update --resources ");
        assert_int_equal(unit_count_entries(f->mc.persist_dir), 0);
        assert_int_equal(monitor_update(&f->mc, "c1", NULL, &e), -EINVAL);
        assert_string_equal(e->msg, "Updating container c1: no resources given");
        pxe_free(e), e = NULL;
        runtime_mode(f, "fail");
        assert_int_equal(monitor_update(&f->mc, "c1", "{}", &e), -EIO);
        assert_int_equal(unit_count_entries(f->mc.persist_dir), 0);
        pxe_free(e), e = NULL;
        /* No persist directory to write the file in. */
        free((char *) f->mc.persist_dir);
        f->mc.persist_dir = unit_path(file, "persist");
        unit_write(file, "");
        assert_int_equal(monitor_update(&f->mc, "c1", "{}", &e), -ENOTDIR);
        assert_contains(e->msg, "Updating container c1: creating ");
        pxe_free(e);
}

static void test_exit_and_log_errors(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *file = unit_path(f->dir, "a-file"), *ctl = unit_path(f->bundle, "ctl");
        struct monitor_exit ex;
        struct pxe *e = NULL;

        /* exits_dir is a file: not "has not exited" but the error. */
        unit_write(file, "");
        free((char *) f->mc.exits_dir);
        f->mc.exits_dir = strdup(file);
        assert_int_equal(monitor_read_exit(&f->mc, "c1", &ex, &e), -ENOTDIR);
        assert_contains(e->msg, "Reading ");
        pxe_free(e), e = NULL;
        assert_int_equal(monitor_reopen_log(&f->mc, NULL, &e), -EINVAL);
        assert_string_equal(e->msg, "Reopening the log: no bundle given");
        pxe_free(e), e = NULL;
        /* ctl is a directory, not conmon's FIFO. */
        assert_int_equal(mkdir(ctl, 0700), 0);
        assert_int_equal(monitor_reopen_log(&f->mc, f->bundle, &e), -EISDIR);
        assert_contains(e->msg, "opening");
        pxe_free(e);
        assert_false(monitor_conmon_alive(NULL));
        assert_false(monitor_conmon_alive(f->bundle));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_create_reports_pid),
                T(test_conmon_missing),
                T(test_conmon_fails),
                T(test_conmon_exits_without_reporting),
                T(test_conmon_reports_garbage),
                T(test_runtime_refuses),
                T(test_conmon_never_reports),
                T(test_create_dirs_cannot_be_made),
                T(test_conmon_cgroup_unknown),
                T(test_start_passes_globals),
                T(test_runtime_errors),
                T(test_kill_signals),
                T(test_state),
                T(test_update),
                T(test_exit_and_log_errors),
        };

        return unit_run(tests);
}
