/* src/monitor/runtime_call: waiting for the runtime call conmon makes for a
 * start.  A stand-in conmon (a process named "conmon", its pid in the
 * bundle's conmon.pid) with a child that plays `pxcri create` and another
 * that plays the container's process (its pid in the bundle's pidfile). */
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monitor/monitor.h"

struct stand_in {
        char bundle[64];
        pid_t conmon, kids[2]; /* the create and the container */
        int report[2];         /* the kids' pids, from the conmon to the test */
};

static void put_pid(const char *bundle, const char *name, pid_t pid)
{
        char path[128];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", bundle, name);
        assert_non_null(f = fopen(path, "w"));
        fprintf(f, "%d\n", (int) pid);
        fclose(f);
}

static pid_t sleeper(unsigned ms)
{
        pid_t pid = fork();

        if (pid == 0) {
                usleep(ms * 1000);
                _exit(0);
        }
        return pid;
}

/* A "conmon" with a create running for create_ms and a container process;
 * it reaps its children as conmon does. */
static void stand_in_start(struct stand_in *s, unsigned create_ms)
{
        pid_t *kids = s->kids;

        strcpy(s->bundle, "/tmp/pxt-rtcall-XXXXXX");
        assert_non_null(mkdtemp(s->bundle));
        assert_int_equal(pipe(s->report), 0);
        s->conmon = fork();
        if (s->conmon == 0) {
                prctl(PR_SET_NAME, "conmon");
                kids[0] = sleeper(create_ms);
                kids[1] = sleeper(60000);
                if (write(s->report[1], kids, sizeof(s->kids)) != sizeof(s->kids))
                        _exit(1);
                while (wait(NULL) > 0 || errno == EINTR)
                        ;
                _exit(0);
        }
        assert_int_equal(read(s->report[0], kids, sizeof(s->kids)), sizeof(s->kids));
        put_pid(s->bundle, "conmon.pid", s->conmon);
        put_pid(s->bundle, "pidfile", kids[1]);
        usleep(20000); /* its name is set before the children report */
}

static void stand_in_end(struct stand_in *s)
{
        char cmd[128];

        kill(s->kids[0], SIGKILL);
        kill(s->kids[1], SIGKILL);
        kill(s->conmon, SIGKILL);
        waitpid(s->conmon, NULL, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", s->bundle);
        assert_int_equal(system(cmd), 0);
        close(s->report[0]);
        close(s->report[1]);
}

static long long ms_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_waits_for_the_create_not_the_container(void **state)
{
        struct stand_in s;
        long long t0;

        (void) state;
        stand_in_start(&s, 400);
        assert_int_equal(monitor_conmon_pid(s.bundle), s.conmon);
        t0 = ms_now();
        assert_int_equal(monitor_runtime_call_wait(s.bundle, 30), 0);
        /* ended with the create (400 ms), not the container's 60 s */
        assert_true(ms_now() - t0 >= 300);
        assert_true(ms_now() - t0 < 20000);
        assert_int_equal(kill(s.conmon, 0), 0); /* conmon is left alone */
        stand_in_end(&s);
}

static void test_kills_a_create_past_its_time(void **state)
{
        struct stand_in s;
        long long t0;

        (void) state;
        stand_in_start(&s, 60000);
        t0 = ms_now();
        assert_int_equal(monitor_runtime_call_wait(s.bundle, 0), -ECANCELED);
        assert_true(ms_now() - t0 < 20000);
        /* a second look finds nothing running any more */
        assert_int_equal(monitor_runtime_call_wait(s.bundle, 0), 0);
        stand_in_end(&s);
}

static void test_no_conmon(void **state)
{
        char bundle[] = "/tmp/pxt-rtcall-XXXXXX";

        (void) state;
        assert_non_null(mkdtemp(bundle));
        assert_int_equal(monitor_runtime_call_wait(bundle, 30), 0); /* no conmon.pid */
        put_pid(bundle, "conmon.pid", getpid()); /* not named conmon: another program's pid */
        assert_int_equal(monitor_conmon_pid(bundle), 0);
        assert_int_equal(monitor_runtime_call_wait(bundle, 30), 0);
        assert_false(monitor_conmon_alive(bundle));
        put_pid(bundle, "conmon.pid", 0);
        assert_int_equal(monitor_conmon_pid(bundle), 0);
        assert_int_equal(monitor_conmon_pid(NULL), 0);
        unlink(strcat(strcpy((char[64]) { 0 }, bundle), "/conmon.pid"));
        assert_int_equal(rmdir(bundle), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_waits_for_the_create_not_the_container),
                cmocka_unit_test(test_kills_a_create_past_its_time),
                cmocka_unit_test(test_no_conmon),
        };

        return unit_run(tests);
}
