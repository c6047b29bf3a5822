/* monitor_tool: the monitor API (src/monitor/) from the command line, for
 * tests/integration/test_monitor.py.  Prints one JSON object; on failure
 * {"error": message, "errno": code} (plus what the call returned) and exit 1.
 *
 *   monitor_tool STATE_DIR PXCRI PXCRI_ROOT CONFIG|- COMMAND ARGS...
 *
 * STATE_DIR holds exits/, persist/ and sock/.  Commands: create ID BUNDLE LOG,
 * start ID, kill ID SIG [all], delete ID [force], state ID, exit ID,
 * stop ID SIG TIMEOUT, exec ID TIMEOUT MAX_OUTPUT CMD..., update ID JSON,
 * reopen BUNDLE, alive BUNDLE, stats CGROUP_PATH. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "monitor/cgstats.h"
#include "monitor/monitor.h"
#include "util/cleanup.h"

static int print(json_t *o, int r, struct pxe *e)
{
        if (r < 0) {
                json_object_set_new(o, "error", json_string(e && e->msg ? e->msg : "(no message)"));
                json_object_set_new(o, "errno", json_integer(-r));
        }
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
        pxe_free(e);
        return r < 0 ? 1 : 0;
}

static json_t *exit_json(const struct monitor_exit *ex)
{
        return json_pack("{s:i, s:I, s:b}", "code", ex->code, "at_ns", (json_int_t) ex->at_ns, "oom_killed",
                         ex->oom_killed);
}

static int cmd_create(const struct monitor_config *mc, char **a, int n, json_t *o, struct pxe **e)
{
        struct monitor_create_request req = { .timeout_s = 60 };
        struct monitor_created c;
        int r;

        if (n < 3)
                return pxe_set(e, EINVAL, "create ID BUNDLE LOG");
        req.id = req.name = a[0];
        req.bundle = a[1];
        req.log_path = a[2];
        r = monitor_create(mc, &req, &c, e);
        if (r == 0) {
                json_object_set_new(o, "pid", json_integer(c.pid));
                json_object_set_new(o, "conmon_pid", json_integer(c.conmon_pid));
        }
        return r;
}

static int cmd_exec(const struct monitor_config *mc, char **a, int n, json_t *o, struct pxe **e)
{
        struct monitor_exec_result res;
        int r;

        if (n < 4)
                return pxe_set(e, EINVAL, "exec ID TIMEOUT MAX_OUTPUT CMD...");
        r = monitor_exec_sync(mc, a[0], (const char *const *) a + 3, (size_t) n - 3, (unsigned) atoi(a[1]),
                              (size_t) atol(a[2]), &res, e);
        json_object_set_new(o, "exit_code", json_integer(res.exit_code));
        json_object_set_new(o, "out", json_stringn_nocheck(res.out ? res.out : "", res.out_len));
        json_object_set_new(o, "err", json_stringn_nocheck(res.err ? res.err : "", res.err_len));
        monitor_exec_result_done(&res);
        return r;
}

static int cmd_stats(char **a, int n, json_t *o, struct pxe **e)
{
        struct cgroup_stats s;
        int r;

        if (n < 1)
                return pxe_set(e, EINVAL, "stats CGROUP_PATH");
        r = cgroup_stats_read(a[0], &s, e);
        if (r == 0)
                json_object_set_new(o, "stats", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "cpu_usage_ns",
                                                (json_int_t) s.cpu_usage_ns, "memory_usage",
                                                (json_int_t) s.memory_usage, "memory_working_set",
                                                (json_int_t) s.memory_working_set, "memory_rss",
                                                (json_int_t) s.memory_rss, "memory_available",
                                                (json_int_t) s.memory_available, "pids", (json_int_t) s.pids));
        return r;
}

static int dispatch(const struct monitor_config *mc, const char *cmd, char **a, int n, json_t *o, struct pxe **e)
{
        struct monitor_exit ex;
        json_t *st = NULL;
        int r;

        if (strcmp(cmd, "create") == 0)
                return cmd_create(mc, a, n, o, e);
        if (strcmp(cmd, "exec") == 0)
                return cmd_exec(mc, a, n, o, e);
        if (strcmp(cmd, "stats") == 0)
                return cmd_stats(a, n, o, e);
        if (n < 1)
                return pxe_set(e, EINVAL, "%s needs an argument", cmd);
        if (strcmp(cmd, "start") == 0)
                return monitor_start(mc, a[0], e);
        if (strcmp(cmd, "kill") == 0 && n >= 2)
                return monitor_kill(mc, a[0], atoi(a[1]), n > 2 && strcmp(a[2], "all") == 0, e);
        if (strcmp(cmd, "delete") == 0)
                return monitor_delete(mc, a[0], n > 1 && strcmp(a[1], "force") == 0, e);
        if (strcmp(cmd, "update") == 0 && n >= 2)
                return monitor_update(mc, a[0], a[1], e);
        if (strcmp(cmd, "reopen") == 0)
                return monitor_reopen_log(mc, a[0], e);
        if (strcmp(cmd, "alive") == 0) {
                json_object_set_new(o, "alive", json_boolean(monitor_conmon_alive(a[0])));
                return 0;
        }
        if (strcmp(cmd, "state") == 0) {
                if ((r = monitor_state(mc, a[0], &st, e)) == 0)
                        json_object_set_new(o, "state", st);
                return r;
        }
        if (strcmp(cmd, "exit") == 0 || (strcmp(cmd, "stop") == 0 && n >= 3)) {
                r = cmd[1] == 'x' ? monitor_read_exit(mc, a[0], &ex, e)
                                  : monitor_stop(mc, a[0], atoi(a[1]), (unsigned) atoi(a[2]), &ex, e);
                if (r == 0)
                        json_object_set_new(o, "exit", exit_json(&ex));
                return r;
        }
        return pxe_set(e, EINVAL, "Unknown command or missing arguments: %s", cmd);
}

int main(int argc, char **argv)
{
        _cleanup_free_ char *exits = NULL, *persist = NULL, *sock = NULL;
        struct monitor_config mc = { .conmon_path = "/usr/bin/conmon", .log_level = "debug" };
        struct pxe *e = NULL;
        json_t *o = json_object();
        int r;

        if (argc < 6) {
                fprintf(stderr, "usage: monitor_tool STATE_DIR PXCRI PXCRI_ROOT CONFIG|- COMMAND ARGS...\n");
                return 2;
        }
        if (asprintf(&exits, "%s/exits", argv[1]) < 0 || asprintf(&persist, "%s/persist", argv[1]) < 0 ||
            asprintf(&sock, "%s/sock", argv[1]) < 0)
                return 2;
        mc.exits_dir = exits;
        mc.persist_dir = persist;
        mc.socket_dir = sock;
        mc.runtime_path = argv[2];
        mc.runtime_root = argv[3];
        mc.runtime_config = strcmp(argv[4], "-") ? argv[4] : NULL;
        r = dispatch(&mc, argv[5], argv + 6, argc - 6, o, &e);
        return print(o, r, e);
}
