/* src/monitor: conmon's command line, its sync-pipe messages, exit files,
 * and the files monitor_read_exit/monitor_reopen_log read and write. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/monitor.h"

static const struct monitor_config base_mc = {
        .conmon_path = "/usr/bin/conmon",
        .runtime_path = "/usr/bin/pxcri",
        .runtime_root = "/run/pxcri",
        .exits_dir = "/run/pxcrid/exits",
        .persist_dir = "/var/lib/pxcrid/ctr",
        .socket_dir = "/run/pxcrid/sock",
};

static const struct monitor_create_request base_req = {
        .id = "c1",
        .name = "k8s_app_pod",
        .bundle = "/b/c1",
        .log_path = "/var/log/pods/p/app/0.log",
};

static int find(char **argv, const char *opt)
{
        for (int i = 0; argv[i]; i++)
                if (strcmp(argv[i], opt) == 0)
                        return i;
        return -1;
}

/* The value after opt, or NULL. */
static const char *value_of(char **argv, const char *opt)
{
        int i = find(argv, opt);

        return i >= 0 ? argv[i + 1] : NULL;
}

static void test_argv_has_conmon_contract(void **state)
{
        char **argv = NULL;

        assert_int_equal(monitor_conmon_argv(&base_mc, &base_req, &argv, NULL), 0);
        assert_string_equal(argv[0], "/usr/bin/conmon");
        assert_string_equal(value_of(argv, "--api-version"), "1");
        assert_string_equal(value_of(argv, "-c"), "c1");
        assert_string_equal(value_of(argv, "-u"), "c1");
        assert_string_equal(value_of(argv, "-n"), "k8s_app_pod");
        assert_string_equal(value_of(argv, "-r"), "/usr/bin/pxcri");
        assert_string_equal(value_of(argv, "-b"), "/b/c1");
        assert_string_equal(value_of(argv, "-p"), "/b/c1/pidfile");
        assert_string_equal(value_of(argv, "-P"), "/b/c1/conmon.pid");
        assert_string_equal(value_of(argv, "-l"), "k8s-file:/var/log/pods/p/app/0.log");
        assert_string_equal(value_of(argv, "--exit-dir"), "/run/pxcrid/exits");
        assert_string_equal(value_of(argv, "--persist-dir"), "/var/lib/pxcrid/ctr/c1");
        assert_string_equal(value_of(argv, "--socket-dir-path"), "/run/pxcrid/sock");
        assert_string_equal(value_of(argv, "--runtime-arg"), "--root=/run/pxcri");
        /* Not given: not passed.  --sync would keep conmon from daemonizing. */
        assert_int_equal(find(argv, "--sync"), -1);
        assert_int_equal(find(argv, "--log-size-max"), -1);
        assert_int_equal(find(argv, "--log-level"), -1);
        assert_int_equal(find(argv, "-s"), -1);
        assert_int_equal(find(argv, "-t"), -1);
        assert_int_equal(find(argv, "-i"), -1);
        assert_int_equal(find(argv, "--runtime-arg=--config"), -1);
        monitor_strv_free(argv);
}

static void test_argv_options(void **state)
{
        struct monitor_config mc = base_mc;
        struct monitor_create_request req = base_req;
        char **argv = NULL;
        int i;

        mc.runtime_config = "/etc/pxcri/cfg.json";
        mc.systemd_cgroup = true;
        mc.log_level = "debug";
        req.log_size_max = 1048576;
        req.stdin = true;
        req.name = NULL;
        assert_int_equal(monitor_conmon_argv(&mc, &req, &argv, NULL), 0);
        assert_string_equal(value_of(argv, "--log-size-max"), "1048576");
        assert_string_equal(value_of(argv, "--log-level"), "debug");
        assert_string_equal(value_of(argv, "-n"), "c1");
        assert_true(find(argv, "-s") > 0);
        assert_true(find(argv, "-i") > 0);
        assert_true(find(argv, "--leave-stdin-open") > 0);
        /* Runtime args in order: root, config, systemd. */
        i = find(argv, "--runtime-arg");
        assert_string_equal(argv[i + 1], "--root=/run/pxcri");
        assert_string_equal(argv[i + 2], "--runtime-arg");
        assert_string_equal(argv[i + 3], "--config=/etc/pxcri/cfg.json");
        assert_true(find(argv, "--systemd-cgroup") > 0);
        monitor_strv_free(argv);

        /* stdin_once: no --leave-stdin-open; a terminal takes stdin itself. */
        req.stdin_once = true;
        assert_int_equal(monitor_conmon_argv(&mc, &req, &argv, NULL), 0);
        assert_int_equal(find(argv, "--leave-stdin-open"), -1);
        monitor_strv_free(argv);
        req.terminal = true;
        assert_int_equal(monitor_conmon_argv(&mc, &req, &argv, NULL), 0);
        assert_true(find(argv, "-t") > 0);
        assert_int_equal(find(argv, "-i"), -1);
        monitor_strv_free(argv);
}

static void test_argv_rejects_bad_input(void **state)
{
        struct monitor_config mc = base_mc;
        struct monitor_create_request req = base_req;
        struct pxe *e = NULL;
        char **argv = NULL;

        req.id = "../etc";
        assert_int_equal(monitor_conmon_argv(&mc, &req, &argv, &e), -EINVAL);
        assert_null(argv);
        pxe_free(e);
        e = NULL;
        req.id = "c1";
        mc.exits_dir = NULL;
        assert_int_equal(monitor_conmon_argv(&mc, &req, &argv, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "exits_dir"));
        pxe_free(e);
}

static void test_parse_sync(void **state)
{
        struct pxe *e = NULL;
        char *msg = (char *) 1;
        int v = 0;

        assert_int_equal(monitor_parse_sync("{\"data\": 4242}\n", &v, &msg, NULL), 0);
        assert_int_equal(v, 4242);
        assert_null(msg);
        assert_int_equal(monitor_parse_sync("{\"pid\": 17}", &v, NULL, NULL), 0);
        assert_int_equal(v, 17);
        assert_int_equal(monitor_parse_sync("{\"data\": -1, \"message\": \"exec: \\\"nope\\\": not found\\n\"}\n",
                                            &v, &msg, NULL),
                         0);
        assert_int_equal(v, -1);
        assert_string_equal(msg, "exec: \"nope\": not found\n");
        free(msg);
        assert_int_equal(monitor_parse_sync("{\"data\": \"x\"}", &v, NULL, &e), -EINVAL);
        pxe_free(e);
        e = NULL;
        assert_int_equal(monitor_parse_sync("garbage", &v, NULL, &e), -EINVAL);
        assert_non_null(strstr(e->msg, "garbage"));
        pxe_free(e);
        assert_int_equal(monitor_parse_sync("{\"data\": 99999999999}", &v, NULL, NULL), -EINVAL);
}

static void test_parse_exit_code(void **state)
{
        int c = -5;

        assert_int_equal(monitor_parse_exit_code("0", &c, NULL), 0);
        assert_int_equal(c, 0);
        assert_int_equal(monitor_parse_exit_code("137\n", &c, NULL), 0);
        assert_int_equal(c, 137);
        assert_int_equal(monitor_parse_exit_code("-1", &c, NULL), 0);
        assert_int_equal(c, -1);
        assert_int_equal(monitor_parse_exit_code("", &c, NULL), -EINVAL);
        assert_int_equal(monitor_parse_exit_code("12abc", &c, NULL), -EINVAL);
        assert_int_equal(monitor_parse_exit_code("1\n2", &c, NULL), -EINVAL);
}

static void test_read_exit_files(void **state)
{
        char *dir = unit_mkdtemp(), *exits = unit_path(dir, "exits"), *persist = unit_path(dir, "persist");
        char *f = unit_path(exits, "c1"), *oomdir = unit_path(persist, "c1"), *oom = unit_path(oomdir, "oom");
        struct monitor_config mc = base_mc;
        struct monitor_exit ex;
        struct pxe *e = NULL;
        struct timespec ts[2] = { { .tv_sec = 1700000000, .tv_nsec = 5 }, { .tv_sec = 1700000000, .tv_nsec = 5 } };

        mc.exits_dir = exits;
        mc.persist_dir = persist;
        assert_int_equal(mkdir(exits, 0700), 0);
        assert_int_equal(monitor_read_exit(&mc, "c1", &ex, NULL), -ENOENT);
        unit_write(f, "3");
        assert_int_equal(utimensat(AT_FDCWD, f, ts, 0), 0);
        assert_int_equal(monitor_read_exit(&mc, "c1", &ex, NULL), 0);
        assert_int_equal(ex.code, 3);
        assert_true(ex.at_ns == 1700000000LL * 1000000000LL + 5);
        assert_false(ex.oom_killed);
        assert_int_equal(mkdir(persist, 0700), 0);
        assert_int_equal(mkdir(oomdir, 0700), 0);
        unit_write(oom, "");
        unit_write(f, "137");
        assert_int_equal(monitor_read_exit(&mc, "c1", &ex, NULL), 0);
        assert_int_equal(ex.code, 137);
        assert_true(ex.oom_killed);
        unit_write(f, "what");
        assert_int_equal(monitor_read_exit(&mc, "c1", &ex, &e), -EINVAL);
        pxe_free(e);
        e = NULL;
        assert_int_equal(monitor_read_exit(&mc, "a/b", &ex, &e), -EINVAL);
        pxe_free(e);
        unit_rm_rf(dir);
        free(dir), free(exits), free(persist), free(f), free(oomdir), free(oom);
}

/* monitor_forget: the exit file, the persist directory and the attach link
 * go (the link, not what it points at); other containers' files stay. */
static void test_forget(void **state)
{
        char *dir = unit_mkdtemp(), *exits = unit_path(dir, "exits"), *persist = unit_path(dir, "persist");
        char *sock = unit_path(dir, "attach"), *bundle = unit_path(dir, "bundle");
        char *exit_f = unit_path(exits, "c1"), *other = unit_path(exits, "c2"), *pdir = unit_path(persist, "c1");
        char *oom = unit_path(pdir, "oom"), *link = unit_path(sock, "c1"), *kept = unit_path(bundle, "config.json");
        struct monitor_config mc = base_mc;

        mc.exits_dir = exits;
        mc.persist_dir = persist;
        mc.socket_dir = sock;
        assert_int_equal(mkdir(exits, 0700), 0);
        assert_int_equal(mkdir(persist, 0700), 0);
        assert_int_equal(mkdir(pdir, 0700), 0);
        assert_int_equal(mkdir(sock, 0700), 0);
        assert_int_equal(mkdir(bundle, 0700), 0);
        unit_write(exit_f, "0");
        unit_write(other, "1");
        unit_write(oom, "");
        unit_write(kept, "{}");
        assert_int_equal(symlink(bundle, link), 0);
        monitor_forget(&mc, "c1");
        assert_int_equal(access(exit_f, F_OK), -1);
        assert_int_equal(access(pdir, F_OK), -1);
        assert_int_equal(faccessat(AT_FDCWD, link, F_OK, AT_SYMLINK_NOFOLLOW), -1);
        assert_int_equal(access(kept, F_OK), 0);
        assert_int_equal(access(other, F_OK), 0);
        monitor_forget(&mc, "c1"); /* nothing there: fine */
        monitor_forget(&mc, "../c2"); /* not an ID: nothing */
        assert_int_equal(access(other, F_OK), 0);
        unit_rm_rf(dir);
        free(dir), free(exits), free(persist), free(sock), free(bundle), free(exit_f), free(other), free(pdir);
        free(oom), free(link), free(kept);
}

/* The control FIFO: a message conmon can parse when someone reads; -ENOENT
 * without a reader (conmon gone) or without a FIFO. */
static void test_reopen_log_fifo(void **state)
{
        char *dir = unit_mkdtemp(), *ctl = unit_path(dir, "ctl");
        struct pxe *e = NULL;
        char buf[32] = "";
        int fd;

        assert_int_equal(monitor_reopen_log(&base_mc, dir, &e), -ENOENT);
        pxe_free(e);
        e = NULL;
        assert_int_equal(mkfifo(ctl, 0600), 0);
        assert_int_equal(monitor_reopen_log(&base_mc, dir, &e), -ENOENT);
        assert_non_null(strstr(e->msg, "gone"));
        pxe_free(e);
        fd = open(ctl, O_RDONLY | O_NONBLOCK);
        assert_true(fd >= 0);
        assert_int_equal(monitor_reopen_log(&base_mc, dir, NULL), 0);
        assert_int_equal(read(fd, buf, sizeof(buf) - 1), 6);
        assert_string_equal(buf, "2 0 0\n");
        close(fd);
        assert_false(monitor_conmon_alive(dir));
        unit_rm_rf(dir);
        free(dir), free(ctl);
}

static void test_conmon_alive_checks_pid(void **state)
{
        char *dir = unit_mkdtemp(), *pidf = unit_path(dir, "conmon.pid");
        char num[16];

        /* Our own pid is alive but is not conmon. */
        snprintf(num, sizeof(num), "%d", (int) getpid());
        unit_write(pidf, num);
        assert_false(monitor_conmon_alive(dir));
        unit_write(pidf, "999999999");
        assert_false(monitor_conmon_alive(dir));
        unit_rm_rf(dir);
        free(dir), free(pidf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_argv_has_conmon_contract),
                cmocka_unit_test(test_argv_options),
                cmocka_unit_test(test_argv_rejects_bad_input),
                cmocka_unit_test(test_parse_sync),
                cmocka_unit_test(test_parse_exit_code),
                cmocka_unit_test(test_read_exit_files),
                cmocka_unit_test(test_forget),
                cmocka_unit_test(test_reopen_log_fifo),
                cmocka_unit_test(test_conmon_alive_checks_pid),
        };

        return unit_run(tests);
}
