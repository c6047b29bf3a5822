/* The proc connector's exit events (pmx_procexit.c): the parser on made-up
 * datagrams (the leader's status, a later thread's, other processes,
 * malformed ones), and the real socket on a child's exit and kill (root;
 * skipped without CAP_NET_ADMIN). */
#include "unit.h"

#include <errno.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/proxmox/pmx_private.h"

/* Offsets in a datagram: the netlink header, the connector's, the event. */
#define CN_OFF NLMSG_HDRLEN
#define EV_OFF (CN_OFF + sizeof(struct cn_msg))
#define DGRAM_LEN NLMSG_ALIGN(NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(struct proc_event)))

static size_t make_exit(char *buf, pid_t pid, pid_t tgid, unsigned code)
{
        struct nlmsghdr nl = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(struct proc_event)),
                               .nlmsg_type = NLMSG_DONE };
        struct cn_msg cn = { .id = { .idx = CN_IDX_PROC, .val = CN_VAL_PROC }, .len = sizeof(struct proc_event) };
        struct proc_event ev = { .what = PROC_EVENT_EXIT };

        ev.event_data.exit.process_pid = pid;
        ev.event_data.exit.process_tgid = tgid;
        ev.event_data.exit.exit_code = code;
        memset(buf, 0, DGRAM_LEN);
        memcpy(buf, &nl, sizeof(nl));
        memcpy(buf + CN_OFF, &cn, sizeof(cn));
        memcpy(buf + EV_OFF, &ev, sizeof(ev));
        return DGRAM_LEN;
}

/* Change one field of the datagram at buf (type T at offset off). */
#define SET(buf, off, T, v)                       \
        do {                                      \
                T v_ = (v);                       \
                memcpy((buf) + (off), &v_, sizeof(v_)); \
        } while (0)

static void test_leader_exit_is_the_status(void **state)
{
        char buf[512] __attribute__((aligned(8)));
        struct pmx_exit_watch w = { 0 };
        size_t n;

        (void) state;
        n = make_exit(buf, 4242, 4242, 7 << 8);
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), 1);
        assert_true(w.have && w.leader && !w.lost);
        assert_true(WIFEXITED(w.status));
        assert_int_equal(WEXITSTATUS(w.status), 7);
}

static void test_other_processes_and_events_are_ignored(void **state)
{
        char buf[1024] __attribute__((aligned(8)));
        struct pmx_exit_watch w = { 0 };
        size_t n = 0;

        (void) state;
        n += make_exit(buf + n, 4243, 4243, 1 << 8);  /* another process */
        n += make_exit(buf + n, 4250, 4243, 9);       /* a thread of it */
        n += make_exit(buf + n, 4242, 4242, 0);
        /* not an exit */
        SET(buf + n - DGRAM_LEN, EV_OFF + offsetof(struct proc_event, what), uint32_t, PROC_EVENT_FORK);
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), 0);
        assert_false(w.have);
}

static void test_thread_after_a_leader_that_left_first(void **state)
{
        char buf[1024] __attribute__((aligned(8)));
        struct pmx_exit_watch w = { 0 };
        size_t n = 0;

        (void) state;
        /* A thread's exit before the leader's says nothing of the process. */
        n = make_exit(buf, 4244, 4242, 0);
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), 1);
        assert_false(w.have);
        /* pthread_exit() of the leader, then the last thread's exit(3). */
        n = make_exit(buf, 4242, 4242, 0);
        n += make_exit(buf + n, 4245, 4242, 3 << 8);
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), 1);
        assert_true(w.have);
        assert_int_equal(WEXITSTATUS(w.status), 3);
}

static void test_malformed_datagrams_are_refused(void **state)
{
        char buf[512] __attribute__((aligned(8)));
        struct pmx_exit_watch w = { 0 };
        const size_t len_off = offsetof(struct nlmsghdr, nlmsg_len), type_off = offsetof(struct nlmsghdr, nlmsg_type);
        const size_t cn_len_off = CN_OFF + offsetof(struct cn_msg, len);
        size_t n;

        (void) state;
        n = make_exit(buf, 4242, 4242, 9);
        SET(buf, len_off, uint32_t, (uint32_t) n + 64); /* longer than what came */
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), -EBADMSG);
        n = make_exit(buf, 4242, 4242, 9);
        SET(buf, cn_len_off, uint16_t, 4096); /* payload longer than the message */
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), -EBADMSG);
        n = make_exit(buf, 4242, 4242, 9);
        SET(buf, cn_len_off, uint16_t, 8); /* too short for an exit event */
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), 0);
        n = make_exit(buf, 4242, 4242, 9);
        SET(buf, type_off, uint16_t, NLMSG_ERROR);
        assert_int_equal(pmx_procexit_parse(buf, n, 4242, &w), -EPROTO);
        assert_int_equal(pmx_procexit_parse(buf, 3, 4242, &w), 0); /* shorter than a header */
        assert_false(w.have);
}

/* fd's events until tgid's exit came (or 5 s passed). */
static void wait_exit(int fd, pid_t tgid, struct pmx_exit_watch *w)
{
        for (int i = 0; i < 50 && !w->have; i++) {
                struct pollfd p = { .fd = fd, .events = POLLIN };

                poll(&p, 1, 100);
                assert_int_equal(pmx_procexit_read(fd, tgid, w), 0);
        }
}

static void test_real_exit_and_kill(void **state)
{
        struct pmx_exit_watch w = { 0 };
        struct pxe *err = NULL;
        int fd = pmx_procexit_open(&err), status;
        pid_t child;

        (void) state;
        if (fd < 0) {
                pxe_free(err);
                skip(); /* not root */
        }
        child = fork();
        if (child == 0)
                _exit(42);
        wait_exit(fd, child, &w);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(w.have && !w.lost);
        assert_int_equal(w.status, status); /* exactly what wait() says */
        assert_int_equal(WEXITSTATUS(w.status), 42);

        w = (struct pmx_exit_watch) { 0 };
        child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        kill(child, SIGKILL);
        wait_exit(fd, child, &w);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(w.have);
        assert_true(WIFSIGNALED(w.status));
        assert_int_equal(WTERMSIG(w.status), SIGKILL);
        close(fd);
}

/* Events enough to overflow a minimal receive buffer. */
static void flood(void)
{
        for (int i = 0; i < 200; i++) {
                pid_t c = fork();

                if (c == 0)
                        _exit(0);
                waitpid(c, NULL, 0);
        }
}

/* A listener with the smallest receive buffer (skips when not root), and a
 * child that waits to be killed. */
static int small_listener(pid_t *ret_target)
{
        struct pxe *err = NULL;
        int fd = pmx_procexit_open(&err), small = 0;

        if (fd < 0) {
                pxe_free(err);
                skip();
        }
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &small, sizeof(small)), 0);
        *ret_target = fork();
        if (*ret_target == 0) {
                pause();
                _exit(0);
        }
        return fd;
}

/* ENOBUFS: nothing is lost for a process still running; once it exited
 * the status is lost, and said so. */
static void test_overflow_loses_only_what_may_be_ours(void **state)
{
        struct pmx_exit_watch w = { 0 };
        pid_t target;
        int status, fd = small_listener(&target);

        (void) state;
        flood();
        assert_int_equal(pmx_procexit_read(fd, target, &w), 0);
        assert_false(w.lost); /* target runs: its exit was not among the dropped */
        kill(target, SIGKILL);
        waitpid(target, &status, 0);
        flood();
        assert_int_equal(pmx_procexit_read(fd, target, &w), 0);
        assert_true(w.lost);
        close(fd);
}

/* With the filter, other processes' events never reach the socket: a
 * minimal buffer does not overflow, and the child's exit comes through. */
static void test_filter_lets_only_ours_through(void **state)
{
        struct pmx_exit_watch w = { 0 };
        pid_t target;
        int status, fd = small_listener(&target);

        (void) state;
        assert_int_equal(pmx_procexit_filter(fd, target), 0);
        assert_int_equal(pmx_procexit_read(fd, target, &w), 0); /* what came before the filter */
        w = (struct pmx_exit_watch) { 0 };
        flood();
        kill(target, SIGKILL);
        waitpid(target, &status, 0);
        flood();
        wait_exit(fd, target, &w);
        assert_true(w.have && !w.lost);
        assert_int_equal(w.status, status);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_leader_exit_is_the_status),
                cmocka_unit_test(test_other_processes_and_events_are_ignored),
                cmocka_unit_test(test_thread_after_a_leader_that_left_first),
                cmocka_unit_test(test_malformed_datagrams_are_refused),
                cmocka_unit_test(test_real_exit_and_kill),
                cmocka_unit_test(test_overflow_loses_only_what_may_be_ours),
                cmocka_unit_test(test_filter_lets_only_ours_through),
        };

        return unit_run(tests);
}
