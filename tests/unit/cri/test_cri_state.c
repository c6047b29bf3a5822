/* src/cri helpers: protobuf copies and base64 for the state database,
 * label selectors, signals, the pod's files. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cri/cri.h"
#include "cri/sandbox.h"
#include "image/layers.h"
#include "unit.h"
#include "util/fs.h"

static void test_b64_round_trip(void **state)
{
        Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        Runtime__V1__PodSandboxConfig *back;
        char *b64;

        (void) state;
        md.name = "web-ünï";
        md.namespace_ = "ns";
        md.uid = "u1";
        md.attempt = 3;
        cfg.metadata = &md;
        cfg.hostname = "h";
        b64 = cri_msg_to_b64(&cfg.base);
        assert_non_null(b64);
        back = cri_msg_from_b64(&runtime__v1__pod_sandbox_config__descriptor, b64);
        assert_non_null(back);
        assert_string_equal(back->metadata->name, "web-ünï");
        assert_int_equal(back->metadata->attempt, 3);
        assert_string_equal(back->hostname, "h");
        protobuf_c_message_free_unpacked(&back->base, NULL);
        /* every length of the last base64 group: 1, 2 and 3 bytes */
        for (size_t i = 0; i < 3; i++) {
                static const char *const names[] = { "a", "ab", "abc" };
                Runtime__V1__PodSandboxConfig *x;
                char *t;

                cfg.hostname = (char *) names[i];
                t = cri_msg_to_b64(&cfg.base);
                x = cri_msg_from_b64(&runtime__v1__pod_sandbox_config__descriptor, t);
                assert_non_null(x);
                assert_string_equal(x->hostname, names[i]);
                protobuf_c_message_free_unpacked(&x->base, NULL);
                free(t);
        }
        free(b64);
        assert_null(cri_msg_from_b64(&runtime__v1__pod_sandbox_config__descriptor, "no!"));
        assert_null(cri_msg_from_b64(&runtime__v1__pod_sandbox_config__descriptor, "@@@@"));
        assert_null(cri_msg_from_b64(&runtime__v1__pod_sandbox_config__descriptor, NULL));
}

static void test_dup_is_deep(void **state)
{
        Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
        Runtime__V1__ContainerMetadata *copy;
        char name[] = "c1";

        (void) state;
        md.name = name;
        copy = cri_msg_dup(&md.base);
        name[0] = 'x';
        assert_string_equal(copy->name, "c1");
        protobuf_c_message_free_unpacked(&copy->base, NULL);
}

static void test_labels_match(void **state)
{
        struct cri_kv a = { .key = "app", .value = "web" }, b = { .key = "tier", .value = "1" };
        struct cri_kv w1 = { .key = "app", .value = "web" }, w2 = { .key = "tier", .value = "2" };
        struct cri_kv *have[] = { &a, &b }, *want1[] = { &w1 }, *want2[] = { &w1, &w2 };

        (void) state;
        assert_true(cri_labels_match(have, 2, NULL, 0));
        assert_true(cri_labels_match(have, 2, want1, 1));
        assert_false(cri_labels_match(have, 2, want2, 2));
        assert_false(cri_labels_match(NULL, 0, want1, 1));
}

static void test_signals(void **state)
{
        (void) state;
        assert_int_equal(cri_signal_from_name("SIGTERM"), SIGTERM);
        assert_int_equal(cri_signal_from_name("term"), SIGTERM);
        assert_int_equal(cri_signal_from_name("9"), SIGKILL);
        assert_int_equal(cri_signal_from_name("SIGRTMIN+3"), SIGRTMIN + 3);
        assert_int_equal(cri_signal_from_name("SIGNOPE"), 0);
        assert_int_equal(cri_signal_from_name("999"), 0);
        assert_int_equal(cri_signal_from_name(""), 0);
        assert_int_equal(cri_signal_from_enum(RUNTIME__V1__SIGNAL__SIGTERM), SIGTERM);
        assert_int_equal(cri_signal_from_enum(RUNTIME__V1__SIGNAL__SIGUSR1), SIGUSR1);
        assert_int_equal(cri_signal_from_enum(RUNTIME__V1__SIGNAL__SIGRTMINPLUS3), SIGRTMIN + 3);
        assert_int_equal(cri_signal_from_enum(RUNTIME__V1__SIGNAL__RUNTIME_DEFAULT), 0);
}

static char *read_in(const char *dir, const char *name)
{
        char path[512];
        char *text = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(fs_read_file(path, 65536, &text, NULL, NULL), 0);
        return text;
}

static void test_pod_files(void **state)
{
        Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
        Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        Runtime__V1__DNSConfig dns = RUNTIME__V1__DNSCONFIG__INIT;
        char *servers[] = { "10.0.0.10", "10.0.0.11" }, *searches[] = { "ns.svc", "svc" }, *opts[] = { "ndots:5" };
        struct pod_modes m = { .host_ipc = true }; /* no tmpfs: a unit test does not mount */
        char dir[] = "/tmp/pxt-podfiles-XXXXXX", *hostname = NULL, *shm = NULL, *text;

        (void) state;
        assert_non_null(mkdtemp(dir));
        md.name = "p";
        cfg.metadata = &md;
        cfg.hostname = "pod-host";
        dns.servers = servers;
        dns.n_servers = 2;
        dns.searches = searches;
        dns.n_searches = 2;
        dns.options = opts;
        dns.n_options = 1;
        cfg.dns_config = &dns;
        assert_int_equal(cri_pod_files_write(dir, &cfg, &m, &hostname, &shm, NULL), 0);
        assert_string_equal(hostname, "pod-host");
        assert_string_equal(shm, "/dev/shm");
        text = read_in(dir, "resolv.conf");
        assert_string_equal(text, "nameserver 10.0.0.10\nnameserver 10.0.0.11\nsearch ns.svc svc\noptions ndots:5\n");
        free(text);
        text = read_in(dir, "hostname");
        assert_string_equal(text, "pod-host\n");
        free(text);
        text = read_in(dir, "hosts");
        assert_non_null(strstr(text, "127.0.0.1\tlocalhost"));
        free(text);
        free(hostname);
        free(shm);
        layers_rm_tree(dir, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_b64_round_trip),
                cmocka_unit_test(test_dup_is_deep),
                cmocka_unit_test(test_labels_match),
                cmocka_unit_test(test_signals),
                cmocka_unit_test(test_pod_files),
        };

        return unit_run(tests);
}
