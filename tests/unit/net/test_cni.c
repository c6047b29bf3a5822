/* net/cni: choosing the configuration, plugin lookup, stdin configs,
 * results, and the ADD/DEL sequence (with small shell-script plugins that
 * record what they were given; the real plugins run in
 * tests/integration/test_net.py). */
#include "unit.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/cni.h"

#define BRIDGE_PLUGIN "{\"type\":\"bridge\",\"bridge\":\"pxt0\",\"ipam\":{\"type\":\"host-local\"}}"

static void write_in(const char *dir, const char *name, const char *text)
{
        char *p = unit_path(dir, name);

        unit_write(p, text);
        free(p);
}

static struct cni_net *load_ok(const char *dir)
{
        struct cni_net *n = NULL;
        struct pxe *e = NULL;

        if (cni_load(dir, &n, &e) < 0)
                fail_msg("cni_load: %s", e ? e->msg : "?");
        return n;
}

static void test_load_picks_first_valid_sorted(void **state)
{
        char *dir = unit_mkdtemp();
        struct cni_net *n;

        write_in(dir, "05-broken.conflist", "{not json");
        write_in(dir, "06-noplugins.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[]}");
        write_in(dir, "07-notype.conflist", "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[{}]}");
        write_in(dir, "08-noversion.conf", "{\"name\":\"x\",\"type\":\"bridge\"}");
        write_in(dir, "00-ignored.txt", "{\"cniVersion\":\"1.0.0\",\"name\":\"txt\",\"type\":\"bridge\"}");
        write_in(dir, "20-later.conflist",
                 "{\"cniVersion\":\"1.0.0\",\"name\":\"later\",\"plugins\":[" BRIDGE_PLUGIN "]}");
        write_in(dir, "10-single.conf", "{\"cniVersion\":\"0.4.0\",\"name\":\"single\",\"type\":\"bridge\"}");
        n = load_ok(dir);
        assert_string_equal(cni_net_name(n), "single");
        assert_string_equal(cni_net_version(n), "0.4.0");
        assert_int_equal(cni_net_n_plugins(n), 1);
        assert_string_equal(cni_net_plugin_type(n, 0), "bridge");
        assert_contains(cni_net_source(n), "/10-single.conf");
        cni_net_free(n);

        /* Without it the conflist comes next, with its plugins in order. */
        write_in(dir, "10-single.conf", "garbage");
        write_in(dir, "20-later.conflist",
                 "{\"cniVersion\":\"1.0.0\",\"name\":\"later\",\"plugins\":[" BRIDGE_PLUGIN
                 ",{\"type\":\"portmap\"}]}");
        n = load_ok(dir);
        assert_string_equal(cni_net_name(n), "later");
        assert_int_equal(cni_net_n_plugins(n), 2);
        assert_string_equal(cni_net_plugin_type(n, 1), "portmap");
        cni_net_free(n);
        unit_rm_rf(dir);
        free(dir);
}

static void test_load_none_is_enoent(void **state)
{
        char *dir = unit_mkdtemp();
        char *missing = unit_path(dir, "missing");
        struct cni_net *n = NULL;
        struct pxe *e = NULL;

        assert_int_equal(cni_load(dir, &n, &e), -ENOENT);
        assert_contains(e->msg, "No CNI network configuration in ");
        pxe_free(e);
        e = NULL;
        assert_int_equal(cni_load(missing, &n, &e), -ENOENT);
        pxe_free(e);
        e = NULL;
        write_in(dir, "10-bad.conflist", "[1,2]");
        assert_int_equal(cni_load(dir, &n, &e), -ENOENT);
        assert_contains(e->msg, "skipped");
        assert_contains(e->msg, "10-bad.conflist");
        assert_null(n);
        pxe_free(e);
        unit_rm_rf(dir);
        free(missing);
        free(dir);
}

static void test_plugin_names(void **state)
{
        char *a = unit_mkdtemp(), *b = unit_mkdtemp();
        char *exe = unit_path(b, "bridge");
        const char *dirs[] = { a, b };
        static const char *const bad[] = { "", "../bridge", "a/b", "..", "x..y", "/bin/sh" };
        char *path = NULL;
        struct pxe *e = NULL;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(cni_plugin_find(bad[i], dirs, 2, &path, &e), -EINVAL);
                assert_contains(e->msg, "Invalid CNI plugin type");
                pxe_free(e);
                e = NULL;
        }
        assert_int_equal(cni_plugin_find("bridge", dirs, 2, &path, &e), -ENOENT);
        assert_contains(e->msg, "CNI plugin bridge not found");
        pxe_free(e);
        e = NULL;
        unit_write(exe, "#!/bin/sh\n");
        assert_int_equal(cni_plugin_find("bridge", dirs, 2, &path, &e), -ENOENT); /* not executable */
        pxe_free(e);
        e = NULL;
        chmod(exe, 0755);
        assert_int_equal(cni_plugin_find("bridge", dirs, 2, &path, &e), 0);
        assert_string_equal(path, exe);
        free(path);
        unit_rm_rf(a);
        unit_rm_rf(b);
        free(exe);
        free(a);
        free(b);
}

static void test_result_1_0_ipv4_first(void **state)
{
        struct cni_result r = { 0 };
        const char *out = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\"}],"
                          "\"ips\":[{\"address\":\"fd00::5/64\",\"interface\":0},"
                          "{\"address\":\"10.85.0.5/16\",\"gateway\":\"10.85.0.1\",\"interface\":0},"
                          "{\"address\":\"10.86.0.7/24\"}]}";

        assert_int_equal(cni_parse_result("bridge", "ADD", 0, out, "", &r, NULL), 0);
        assert_int_equal(r.n_ips, 3);
        assert_string_equal(r.ips[0], "10.85.0.5");
        assert_string_equal(r.ips[1], "10.86.0.7");
        assert_string_equal(r.ips[2], "fd00::5");
        assert_string_equal(r.json, out);
        cni_result_done(&r);
        assert_null(r.ips);
}

static void test_result_0_4_and_0_2(void **state)
{
        struct cni_result r = { 0 };

        assert_int_equal(cni_parse_result("bridge", "ADD", 0,
                                          "{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\","
                                          "\"address\":\"10.1.2.3/24\"}],\"dns\":{}}",
                                          NULL, &r, NULL),
                         0);
        assert_int_equal(r.n_ips, 1);
        assert_string_equal(r.ips[0], "10.1.2.3");
        cni_result_done(&r);
        assert_int_equal(cni_parse_result("bridge", "ADD", 0,
                                          "{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.9.0.2/16\"},"
                                          "\"ip6\":{\"ip\":\"fd01::2/64\"}}",
                                          NULL, &r, NULL),
                         0);
        assert_int_equal(r.n_ips, 2);
        assert_string_equal(r.ips[0], "10.9.0.2");
        assert_string_equal(r.ips[1], "fd01::2");
        cni_result_done(&r);
        /* A plugin that prints nothing (DEL) is no error. */
        assert_int_equal(cni_parse_result("bridge", "DEL", 0, "", "", &r, NULL), 0);
        assert_int_equal(r.n_ips, 0);
        assert_null(r.json);
}

static void expect_failure(int status, const char *out, const char *errout, const char *msg)
{
        struct cni_result r = { 0 };
        struct pxe *e = NULL;

        assert_int_equal(cni_parse_result("bridge", "ADD", status, out, errout, &r, &e), -EIO);
        assert_string_equal(e->msg, msg);
        assert_null(r.ips);
        pxe_free(e);
}

static void test_error_results(void **state)
{
        expect_failure(256, "{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"failed to allocate\","
                            "\"details\":\"no IP addresses available in range set\"}", "",
                       "CNI plugin bridge failed (ADD): failed to allocate: no IP addresses available in range set");
        expect_failure(256, "{\"code\":7,\"msg\":\"invalid config\"}", "noise",
                       "CNI plugin bridge failed (ADD): invalid config");
        expect_failure(512, "", "panic: boom\n", "CNI plugin bridge failed (ADD): panic: boom");
        expect_failure(3 << 8, "", "", "CNI plugin bridge failed (ADD): exit status 3");
        expect_failure(9, "", "", "CNI plugin bridge failed (ADD): exit status 137");
        /* Exit 0 with an error object is still a failure. */
        expect_failure(0, "{\"code\":100,\"msg\":\"odd\"}", "", "CNI plugin bridge failed (ADD): odd");
        expect_failure(0, "not json", "",
                       "CNI plugin bridge (ADD) printed a result that is not a JSON object: "
                       "'[' or '{' expected near 'not'");
}

static json_t *config_of(const struct cni_net *n, size_t i, const struct cni_request *req, const char *prev)
{
        char *s = cni_plugin_config(n, i, req, prev, NULL);
        json_t *j;

        assert_non_null(s);
        j = json_loads(s, 0, NULL);
        assert_non_null(j);
        free(s);
        return j;
}

static void test_plugin_config(void **state)
{
        char *dir = unit_mkdtemp();
        struct cni_port_mapping ports[] = { { 8080, 80, "tcp", NULL }, { 5353, 53, "udp", "127.0.0.1" } };
        struct cni_request req = { .container_id = "c1", .netns = "/x", .ports = ports, .n_ports = 2,
                                   .pod_cidr = "10.244.1.0/24" };
        const char *prev = "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.0.2/24\"}]}";
        struct cni_net *n;
        json_t *j, *pm;

        write_in(dir, "10.conflist",
                 "{\"cniVersion\":\"1.0.0\",\"name\":\"pxt\",\"plugins\":["
                 "{\"type\":\"bridge\",\"runtimeConfig\":{\"stale\":1},\"ipam\":{\"type\":\"host-local\"},"
                 "\"capabilities\":{\"ipRanges\":true}},"
                 "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}");
        n = load_ok(dir);
        j = config_of(n, 0, &req, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "name")), "pxt");
        assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), "1.0.0");
        assert_string_equal(json_string_value(json_object_get(j, "type")), "bridge");
        assert_non_null(json_object_get(j, "ipam"));
        assert_null(json_object_get(j, "prevResult"));
        assert_null(json_object_get(json_object_get(j, "runtimeConfig"), "portMappings"));
        assert_null(json_object_get(json_object_get(j, "runtimeConfig"), "stale"));
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_array_get(
                                    json_object_get(json_object_get(j, "runtimeConfig"), "ipRanges"), 0), 0),
                                                                  "subnet")),
                            "10.244.1.0/24");
        json_decref(j);

        j = config_of(n, 1, &req, prev);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "prevResult"), "cniVersion")),
                            "1.0.0");
        pm = json_object_get(json_object_get(j, "runtimeConfig"), "portMappings");
        assert_int_equal(json_array_size(pm), 2);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(pm, 0), "hostPort")), 8080);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(pm, 0), "containerPort")), 80);
        assert_string_equal(json_string_value(json_object_get(json_array_get(pm, 0), "protocol")), "tcp");
        assert_null(json_object_get(json_array_get(pm, 0), "hostIP"));
        assert_string_equal(json_string_value(json_object_get(json_array_get(pm, 1), "hostIP")), "127.0.0.1");
        json_decref(j);

        /* No ports, no pod CIDR: no runtimeConfig at all. */
        req.n_ports = 0;
        req.pod_cidr = NULL;
        j = config_of(n, 1, &req, NULL);
        assert_null(json_object_get(j, "runtimeConfig"));
        json_decref(j);
        assert_null(cni_plugin_config(n, 0, &req, "[1]", NULL));
        cni_net_free(n);
        unit_rm_rf(dir);
        free(dir);
}

/* A plugin script that logs "<type> <command> <CNI_ARGS> <CNI_PATH> <stdin>"
 * and prints result (ADD) or fails with an error result when fail is set. */
static void write_plugin(const char *bin, const char *log, const char *type, const char *result, bool fail)
{
        char *path = unit_path(bin, type), *text;

        assert_true(asprintf(&text,
                             "#!/bin/sh\n"
                             "in=$(cat)\n"
                             "echo \"%s $CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_ARGS $CNI_PATH $PATH $in\" >> %s\n"
                             "if [ \"$CNI_COMMAND\" = ADD ]; then\n"
                             "  %s\n"
                             "fi\n",
                             type, log,
                             fail ? "echo '{\"code\":7,\"msg\":\"bad config\",\"details\":\"no subnet\"}'; exit 1"
                                  : result) > 0);
        unit_write(path, text);
        chmod(path, 0755);
        free(text);
        free(path);
}

static void test_add_del_sequence(void **state)
{
        char *dir = unit_mkdtemp();
        char *log = unit_path(dir, "log");
        const char *bins[] = { "/nonexistent", dir };
        struct cni_request req = { .container_id = "sb1", .netns = "/run/pxt/ns", .pod_name = "web",
                                   .pod_namespace = "prod", .pod_uid = "u-1" };
        struct cni_result r = { 0 };
        struct cni_net *n;
        struct pxe *e = NULL;
        char *text;

        write_plugin(dir, log, "one", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.7.0.9/24\"}]}'",
                     false);
        write_plugin(dir, log, "two", "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.7.0.10/24\"}]}'",
                     false);
        write_plugin(dir, log, "bad", NULL, true);
        write_in(dir, "10.conflist",
                 "{\"cniVersion\":\"1.0.0\",\"name\":\"seq\",\"plugins\":[{\"type\":\"one\"},{\"type\":\"two\"}]}");
        n = load_ok(dir);
        assert_int_equal(cni_add(n, bins, 2, &req, &r, &e), 0);
        assert_int_equal(r.n_ips, 1);
        assert_string_equal(r.ips[0], "10.7.0.10"); /* the last plugin's result */
        text = unit_read(log);
        assert_contains(text, "one ADD sb1 /run/pxt/ns eth0 IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web;"
                              "K8S_POD_INFRA_CONTAINER_ID=sb1;K8S_POD_UID=u-1 /nonexistent:");
        assert_contains(text, " /usr/sbin:/usr/bin:/sbin:/bin {");
        assert_contains(text, "two ADD");
        assert_contains(text, "\"prevResult\":{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.7.0.9/24\"}]}");
        free(text);
        unlink(log);

        /* DEL in reverse, each with the ADD's result. */
        assert_int_equal(cni_del(n, bins, 2, &req, r.json, &e), 0);
        text = unit_read(log);
        assert_true(strstr(text, "two DEL") < strstr(text, "one DEL"));
        assert_contains(strstr(text, "one DEL"), "\"prevResult\":{");
        free(text);
        unlink(log);
        cni_result_done(&r);
        cni_net_free(n);

        /* A failing plugin: its message, and what was added is deleted again. */
        write_in(dir, "10.conflist",
                 "{\"cniVersion\":\"1.0.0\",\"name\":\"seq\",\"plugins\":[{\"type\":\"one\"},{\"type\":\"bad\"}]}");
        n = load_ok(dir);
        assert_int_equal(cni_add(n, bins, 2, &req, &r, &e), -EIO);
        assert_string_equal(e->msg, "Adding pod sb1 to CNI network seq: CNI plugin bad failed (ADD): bad config: no subnet");
        assert_null(r.ips);
        pxe_free(e);
        e = NULL;
        text = unit_read(log);
        assert_non_null(strstr(text, "bad DEL"));
        assert_true(strstr(text, "bad DEL") < strstr(text, "one DEL"));
        free(text);

        /* DEL runs every plugin even when one fails and reports the failure. */
        unlink(log);
        write_in(dir, "bad", "#!/bin/sh\necho '{\"code\":5,\"msg\":\"cannot delete\"}'; exit 1\n");
        assert_int_equal(cni_del(n, bins, 2, &req, NULL, &e), -EIO);
        assert_contains(e->msg, "CNI plugin bad failed (DEL): cannot delete");
        pxe_free(e);
        text = unit_read(log);
        assert_non_null(strstr(text, "one DEL"));
        free(text);
        cni_net_free(n);
        unit_rm_rf(dir);
        free(log);
        free(dir);
}

/* A plugin that hangs is killed after timeout_s; the ADD is undone by a DEL
 * of the list (the hung plugin included), and the error says which timed out. */
static void test_plugin_timeout(void **state)
{
        char *dir = unit_mkdtemp();
        char *log = unit_path(dir, "log");
        const char *bins[] = { dir };
        struct cni_request req = { .container_id = "sb2", .netns = "/run/pxt/ns", .timeout_s = 1 };
        struct cni_result r = { 0 };
        struct cni_net *n;
        struct pxe *e = NULL;
        struct timespec t0, t1;
        char *text;

        (void) state;
        write_plugin(dir, log, "one", "echo '{\"cniVersion\":\"1.0.0\"}'", false);
        write_in(dir, "hang", "#!/bin/sh\necho \"hang $CNI_COMMAND\" >> $0.log\n"
                              "[ \"$CNI_COMMAND\" = ADD ] && exec sleep 60\nexit 0\n");
        free(log);
        log = unit_path(dir, "hang");
        chmod(log, 0755);
        free(log);
        log = unit_path(dir, "log");
        write_in(dir, "10.conflist",
                 "{\"cniVersion\":\"1.0.0\",\"name\":\"slow\",\"plugins\":[{\"type\":\"one\"},{\"type\":\"hang\"}]}");
        n = load_ok(dir);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(cni_add(n, bins, 1, &req, &r, &e), -ETIMEDOUT);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true(t1.tv_sec - t0.tv_sec < 5);
        assert_string_equal(e->msg, "Adding pod sb2 to CNI network slow: CNI plugin hang (ADD) did not finish within 1 s: killed");
        pxe_free(e);
        text = unit_read(log);
        assert_contains(text, "one DEL");
        free(text);
        free(log);
        log = unit_path(dir, "hang.log");
        text = unit_read(log);
        assert_string_equal(text, "hang ADD\nhang DEL\n");
        free(text);
        cni_net_free(n);
        unit_rm_rf(dir);
        free(log);
        free(dir);
}

static void test_request_validation(void **state)
{
        char *dir = unit_mkdtemp();
        const char *bins[] = { "/usr/lib/cni" };
        struct cni_port_mapping bad_port = { 0, 80, "tcp", NULL };
        struct cni_request req = { .container_id = "c", .netns = "" };
        struct cni_result r = { 0 };
        struct cni_net *n;
        struct pxe *e = NULL;

        write_in(dir, "1.conf", "{\"cniVersion\":\"1.0.0\",\"name\":\"v\",\"type\":\"loopback\"}");
        n = load_ok(dir);
        assert_int_equal(cni_add(n, bins, 1, &req, &r, &e), -EINVAL);
        assert_contains(e->msg, "no network namespace given for c");
        pxe_free(e);
        e = NULL;
        req.netns = "/x";
        req.ifname = "a-name-too-long-for-linux";
        assert_int_equal(cni_add(n, bins, 1, &req, &r, &e), -EINVAL);
        assert_contains(e->msg, "invalid interface name");
        pxe_free(e);
        e = NULL;
        req.ifname = NULL;
        req.ports = &bad_port;
        req.n_ports = 1;
        assert_int_equal(cni_add(n, bins, 1, &req, &r, &e), -EINVAL);
        assert_contains(e->msg, "invalid port mapping 0:80");
        pxe_free(e);
        cni_net_free(n);
        unit_rm_rf(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_load_picks_first_valid_sorted),
                cmocka_unit_test(test_load_none_is_enoent),
                cmocka_unit_test(test_plugin_names),
                cmocka_unit_test(test_result_1_0_ipv4_first),
                cmocka_unit_test(test_result_0_4_and_0_2),
                cmocka_unit_test(test_error_results),
                cmocka_unit_test(test_plugin_config),
                cmocka_unit_test(test_add_del_sequence),
                cmocka_unit_test(test_plugin_timeout),
                cmocka_unit_test(test_request_validation),
        };

        return unit_run(tests);
}
