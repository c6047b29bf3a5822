/* net/netns: sysctl classification and the checks made before any fork
 * (pinning itself needs root and is tested in tests/integration/test_net.py). */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/netns.h"

static void test_sysctl_kinds(void **state)
{
        assert_int_equal(netns_sysctl_kind("net.ipv4.ip_unprivileged_port_start"), NETNS_NET);
        assert_int_equal(netns_sysctl_kind("net.core.somaxconn"), NETNS_NET);
        assert_int_equal(netns_sysctl_kind("net/ipv4/conf/eth0.1/rp_filter"), NETNS_NET);
        assert_int_equal(netns_sysctl_kind("kernel.shmmax"), NETNS_IPC);
        assert_int_equal(netns_sysctl_kind("kernel.shm_rmid_forced"), NETNS_IPC);
        assert_int_equal(netns_sysctl_kind("kernel.msgmnb"), NETNS_IPC);
        assert_int_equal(netns_sysctl_kind("kernel.sem"), NETNS_IPC);
        assert_int_equal(netns_sysctl_kind("fs.mqueue.msg_max"), NETNS_IPC);
        assert_int_equal(netns_sysctl_kind("kernel.domainname"), NETNS_UTS);
}

static void test_sysctl_not_namespaced(void **state)
{
        static const char *const bad[] = {
                "kernel.pid_max", "vm.swappiness", "kernel.hostname", "kernel.semx", "fs.file-max",
                "net", "net.", "", "net..ipv4", "net/../../kernel/pid_max", "/net/ipv4", "net.ipv4 x",
                "net.ipv4.ip_forward\n", "kernel.sem/",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (netns_sysctl_kind(bad[i]) != 0)
                        fail_msg("%s classified as namespaced", bad[i]);
        }
        assert_int_equal(netns_sysctl_kind(NULL), 0);
}

/* A request refused before forking leaves nothing behind. */
static void expect_refused(const struct netns_pin_request *req, const char *needle)
{
        struct netns_paths p = { 0 };
        struct pxe *e = NULL;

        assert_int_equal(netns_pin(req, &p, &e), -EINVAL);
        assert_non_null(e);
        assert_contains(e->msg, needle);
        assert_null(p.net);
        pxe_free(e);
}

static void test_pin_validates_before_forking(void **state)
{
        char *tmp = unit_mkdtemp();
        char *dir = unit_path(tmp, "ns");
        struct netns_sysctl pid_max = { "kernel.pid_max", "4194304" };
        struct netns_sysctl fwd = { "net.ipv4.ip_forward", "1" };
        struct netns_sysctl shm = { "kernel.shmmax", "1000" };
        struct netns_pin_request req = { .dir = dir, .kinds = NETNS_NET | NETNS_IPC | NETNS_UTS };

        req.sysctls = &pid_max;
        req.n_sysctls = 1;
        expect_refused(&req, "Sysctl kernel.pid_max is not namespaced");
        req.kinds = NETNS_IPC | NETNS_UTS;
        req.sysctls = &fwd;
        expect_refused(&req, "Sysctl net.ipv4.ip_forward needs the pod's own network namespace");
        req.kinds = NETNS_NET;
        req.sysctls = &shm;
        expect_refused(&req, "Sysctl kernel.shmmax needs the pod's own IPC namespace");
        req.n_sysctls = 0;
        req.hostname = "pod";
        expect_refused(&req, "a hostname needs a UTS namespace");
        req.kinds = NETNS_UTS;
        req.hostname = "a-very-long-hostname-that-is-longer-than-sixty-four-characters-long";
        expect_refused(&req, "is not 1 to 64 characters");
        req.kinds = 0;
        req.hostname = NULL;
        expect_refused(&req, "invalid namespace kinds");
        req.dir = NULL;
        expect_refused(&req, "no directory given");
        assert_int_equal(access(dir, F_OK), -1);
        unit_rm_rf(tmp);
        free(dir);
        free(tmp);
}

static void test_unpin_of_nothing_is_fine(void **state)
{
        char *tmp = unit_mkdtemp();
        char *dir = unit_path(tmp, "ns");
        char *net = unit_path(dir, "net");
        struct pxe *e = NULL;

        assert_int_equal(netns_unpin(dir, &e), 0);
        assert_null(e);
        /* Plain files (a pin that failed half-way) are removed, and the dir. */
        assert_int_equal(mkdir(dir, 0700), 0);
        unit_write(net, "");
        assert_int_equal(netns_unpin(dir, &e), 0);
        assert_int_equal(access(dir, F_OK), -1);
        /* A dir with other things in it stays. */
        assert_int_equal(mkdir(dir, 0700), 0);
        unit_write(net, "");
        free(net);
        net = unit_path(dir, "other");
        unit_write(net, "x");
        assert_int_equal(netns_unpin(dir, &e), 0);
        assert_int_equal(access(net, F_OK), 0);
        unit_rm_rf(tmp);
        free(net);
        free(dir);
        free(tmp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sysctl_kinds),
                cmocka_unit_test(test_sysctl_not_namespaced),
                cmocka_unit_test(test_pin_validates_before_forking),
                cmocka_unit_test(test_unpin_of_nothing_is_fine),
        };

        return unit_run(tests);
}
