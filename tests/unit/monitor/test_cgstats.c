/* src/monitor/cgstats: cgroup paths (systemd slices) and stats read from
 * fixture trees laid out as cgroupfs v1 and v2. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "monitor/cgstats.h"
#include "util/fs.h"

static void resolves(const char *in, const char *want)
{
        char *out = NULL;

        assert_int_equal(cgroup_path_resolve(in, &out, NULL), 0);
        assert_string_equal(out, want);
        free(out);
}

static void test_path_resolve(void **state)
{
        struct pxe *e = NULL;
        char *out = NULL;

        resolves("/kubepods/pod1/c1", "/kubepods/pod1/c1");
        resolves("kubepods/c1", "/kubepods/c1");
        resolves("kubepods.slice:crio:abc", "/kubepods.slice/crio-abc.scope");
        resolves("kubepods-besteffort-pod12.slice:cri-o:abc",
                 "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-o-abc.scope");
        resolves(":pxt:abc", "/system.slice/pxt-abc.scope");
        resolves("-.slice:pxt:abc", "/pxt-abc.scope");
        resolves("user.slice::abc", "/user.slice/abc.scope");
        resolves("a.slice:x:b-c.slice", "/a.slice/b-c.slice");
        assert_int_equal(cgroup_path_resolve("a.slice:x", &out, &e), -EINVAL);
        pxe_free(e);
        assert_int_equal(cgroup_path_resolve("bad:x:y", &out, NULL), -EINVAL);
        assert_int_equal(cgroup_path_resolve("a--b.slice:x:y", &out, NULL), -EINVAL);
        assert_int_equal(cgroup_path_resolve("/a/../../etc", &out, NULL), -EINVAL);
        assert_int_equal(cgroup_path_resolve("", &out, NULL), -EINVAL);
        assert_null(out);
}

static void put(const char *root, const char *rel, const char *text)
{
        char *path = NULL, *dir;

        assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
        dir = strdup(path);
        *strrchr(dir, '/') = '\0';
        assert_int_equal(fs_mkdir_p(dir, 0755, NULL), 0);
        unit_write(path, text);
        free(dir);
        free(path);
}

static void test_v1_stats(void **state)
{
        char *root = unit_mkdtemp();
        struct cgroup_stats s;
        struct pxe *e = NULL;

        put(root, "cpu,cpuacct/pxt/c1/cpuacct.usage", "123456789\n");
        put(root, "memory/pxt/c1/memory.usage_in_bytes", "10485760\n");
        put(root, "memory/pxt/c1/memory.limit_in_bytes", "20971520\n");
        put(root, "memory/pxt/c1/memory.stat",
            "cache 100\nrss 1\ninactive_file 7\ntotal_cache 100\ntotal_rss 4194304\n"
            "total_inactive_file 2097152\ntotal_pgfault 77\ntotal_pgmajfault 3\n");
        put(root, "pids/pxt/c1/pids.current", "4\n");
        assert_int_equal(cgroup_stats_read_at(root, false, "/pxt/c1", &s, NULL), 0);
        assert_true(s.cpu_usage_ns == 123456789);
        assert_true(s.memory_usage == 10485760);
        assert_true(s.memory_working_set == 10485760 - 2097152);
        assert_true(s.memory_rss == 4194304);
        assert_true(s.memory_page_faults == 77);
        assert_true(s.memory_major_faults == 3);
        assert_true(s.memory_available == 20971520 - (10485760 - 2097152));
        assert_true(s.pids == 4);

        /* Unlimited (v1's huge value): nothing available reported. */
        put(root, "memory/pxt/c1/memory.limit_in_bytes", "9223372036854771712\n");
        assert_int_equal(cgroup_stats_read_at(root, false, "pxt/c1", &s, NULL), 0);
        assert_true(s.memory_available == 0);

        assert_int_equal(cgroup_stats_read_at(root, false, "/pxt/gone", &s, &e), -ENOENT);
        assert_non_null(strstr(e->msg, "/pxt/gone"));
        pxe_free(e);
        e = NULL;
        put(root, "memory/pxt/c1/memory.usage_in_bytes", "lots\n");
        assert_int_equal(cgroup_stats_read_at(root, false, "/pxt/c1", &s, &e), -EINVAL);
        pxe_free(e);
        unit_rm_rf(root);
        free(root);
}

static void test_v2_stats_systemd_path(void **state)
{
        char *root = unit_mkdtemp();
        const char *d = "kubepods.slice/kubepods-burstable.slice/crio-c1.scope";
        char rel[256];
        struct cgroup_stats s;

        snprintf(rel, sizeof(rel), "%s/cpu.stat", d);
        put(root, rel, "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n");
        snprintf(rel, sizeof(rel), "%s/memory.current", d);
        put(root, rel, "8192000\n");
        snprintf(rel, sizeof(rel), "%s/memory.max", d);
        put(root, rel, "max\n");
        snprintf(rel, sizeof(rel), "%s/memory.stat", d);
        put(root, rel, "anon 4096000\nfile 4000000\ninactive_file 1000000\npgfault 10\npgmajfault 2\n");
        assert_int_equal(cgroup_stats_read_at(root, true, "kubepods-burstable.slice:crio:c1", &s, NULL), 0);
        assert_true(s.cpu_usage_ns == 2500000);
        assert_true(s.memory_usage == 8192000);
        assert_true(s.memory_working_set == 7192000);
        assert_true(s.memory_rss == 4096000);
        assert_true(s.memory_page_faults == 10);
        assert_true(s.memory_major_faults == 2);
        assert_true(s.memory_available == 0);
        assert_true(s.pids == 0); /* no pids controller here */
        snprintf(rel, sizeof(rel), "%s/memory.max", d);
        put(root, rel, "10000000\n");
        snprintf(rel, sizeof(rel), "%s/pids.current", d);
        put(root, rel, "2\n");
        assert_int_equal(cgroup_stats_read_at(root, true, "kubepods-burstable.slice:crio:c1", &s, NULL), 0);
        assert_true(s.memory_available == 10000000 - 7192000);
        assert_true(s.pids == 2);
        assert_int_equal(cgroup_stats_read_at(root, true, "/nope", &s, NULL), -ENOENT);
        unit_rm_rf(root);
        free(root);
}

static void test_real_cgroupfs_missing_is_enoent(void **state)
{
        struct cgroup_stats s;

        assert_int_equal(cgroup_stats_read("/pxt-does-not-exist/c", &s, NULL), -ENOENT);
}

/* A cgroup with a live process in it, in every hierarchy that has room: what
 * a runtime create killed halfway leaves.  cgroup_remove kills and removes. */
static void test_remove_kills_and_removes(void **state)
{
        char rel[64], dir[160], procs[200];
        int status;
        pid_t child;

        (void) state;
        if (geteuid() != 0 || !fs_dir_exists("/sys/fs/cgroup/pids"))
                skip();
        snprintf(rel, sizeof(rel), "/pxt-cgrm-%d", (int) getpid());
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup/pids%s", rel);
        assert_int_equal(mkdir(dir, 0755), 0);
        child = fork();
        if (child == 0) {
                pause();
                _exit(0);
        }
        snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
        {
                FILE *f = fopen(procs, "w");

                assert_non_null(f);
                fprintf(f, "%d\n", (int) child);
                fclose(f);
        }
        assert_int_equal(cgroup_remove(rel, NULL), 0);
        assert_false(fs_dir_exists(dir));
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_int_equal(cgroup_remove(rel, NULL), 0); /* gone already: no error */
        assert_int_equal(cgroup_remove("/", NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_remove_kills_and_removes),
                cmocka_unit_test(test_path_resolve),
                cmocka_unit_test(test_v1_stats),
                cmocka_unit_test(test_v2_stats_systemd_path),
                cmocka_unit_test(test_real_cgroupfs_missing_is_enoent),
        };

        return unit_run(tests);
}
