/* config: backends.proxmox and the legacy top-level "proxmox" section. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static struct config *parse_ok(const char *text)
{
        struct pxe *e = NULL;
        struct config *c = NULL;
        int r = config_parse(text, "test.json", &c, &e);

        if (r < 0)
                print_error("config_parse: %s\n", e ? e->msg : "(no message)");
        assert_int_equal(r, 0);
        assert_non_null(c);
        return c;
}

static void expect_error(const char *text, const char *needle)
{
        struct pxe *e = NULL;
        struct config *c = NULL;

        assert_int_equal(config_parse(text, "test.json", &c, &e), -EINVAL);
        assert_null(c);
        assert_non_null(e);
        assert_contains(e->msg, "test.json");
        assert_contains(e->msg, needle);
        pxe_free(e);
}

static bool has_warning(const struct config *c, const char *needle)
{
        for (size_t i = 0; i < c->n_warnings; i++)
                if (strstr(c->warnings[i], needle))
                        return true;
        return false;
}

static void test_defaults(void **state)
{
        struct config *c = parse_ok("{}");
        const struct proxmox_config *p = &c->proxmox;

        assert_int_equal(p->transport, PROXMOX_TRANSPORT_PCT);
        assert_string_equal(p->pct_path, "/usr/sbin/pct");
        assert_int_equal(p->port, 8006);
        assert_true(p->tls.verify);
        assert_null(p->tls.fingerprint);
        assert_int_equal(p->vmid_lo, PROXMOX_VMID_LO_DEFAULT);
        assert_int_equal(p->vmid_hi, PROXMOX_VMID_HI_DEFAULT);
        assert_int_equal(p->timeout, 30);
        assert_string_equal(p->storage, "local-lvm");
        assert_string_equal(p->template_storage, "local");
        assert_string_equal(p->bridge, "vmbr0");
        assert_false(p->unprivileged_pods);
        assert_int_equal(c->n_warnings, 0);
        config_free(c);
}

static void test_every_key(void **state)
{
        struct config *c = parse_ok(
                "{\"backends\": {\"proxmox\": {\"transport\": \"api\", \"pct_path\": \"/opt/pct\", \"node\": \"pve2\","
                " \"hosts\": [\"a.example\", \"b.example:8443\"], \"port\": 443, \"token_file\": \"/etc/pxcri/pve.token\","
                " \"tls\": {\"ca_file\": \"/etc/pxcri/pve-ca.pem\", \"verify\": true, \"fingerprint\": "
                "\"9E:2C:FF:84:3A:CE:CB:56:D6:AE:35:C7:5D:71:A2:E6:20:59:72:66:4A:23:27:76:47:7E:43:CA:EA:0A:96:74\"},"
                " \"storage\": \"ceph\", \"template_storage\": \"nfs\", \"bridge\": \"vmbr1\", \"vmid_range\": [5000, 5999],"
                " \"timeout\": 12, \"node_cache_duration\": 5, \"unprivileged_pods\": true}}}");
        const struct proxmox_config *p = &c->proxmox;

        assert_int_equal(p->transport, PROXMOX_TRANSPORT_API);
        assert_string_equal(p->pct_path, "/opt/pct");
        assert_string_equal(p->node, "pve2");
        assert_int_equal(p->n_hosts, 2);
        assert_string_equal(p->hosts[1], "b.example:8443");
        assert_int_equal(p->port, 443);
        assert_string_equal(p->token_file, "/etc/pxcri/pve.token");
        assert_string_equal(p->tls.ca_file, "/etc/pxcri/pve-ca.pem");
        assert_non_null(p->tls.fingerprint);
        assert_string_equal(p->storage, "ceph");
        assert_string_equal(p->template_storage, "nfs");
        assert_string_equal(p->bridge, "vmbr1");
        assert_int_equal(p->vmid_lo, 5000);
        assert_int_equal(p->vmid_hi, 5999);
        assert_int_equal(p->timeout, 12);
        assert_int_equal(p->node_cache_duration, 5);
        assert_true(p->unprivileged_pods);
        assert_int_equal(c->n_warnings, 0);
        config_free(c);
}

static void test_errors_name_the_key(void **state)
{
        expect_error("{\"backends\": {\"proxmox\": {\"transport\": \"ssh\"}}}", "backends.proxmox.transport");
        expect_error("{\"backends\": {\"proxmox\": {\"pct_path\": \"pct\"}}}", "backends.proxmox.pct_path: must be an absolute path");
        expect_error("{\"backends\": {\"proxmox\": {\"hosts\": []}}}", "backends.proxmox.hosts");
        expect_error("{\"backends\": {\"proxmox\": {\"hosts\": [\"a\", 3]}}}", "backends.proxmox.hosts[1]");
        expect_error("{\"backends\": {\"proxmox\": {\"hosts\": [\"https://a/\"]}}}", "backends.proxmox.hosts[0]");
        expect_error("{\"backends\": {\"proxmox\": {\"port\": 0}}}", "backends.proxmox.port");
        expect_error("{\"backends\": {\"proxmox\": {\"port\": \"8006\"}}}", "backends.proxmox.port");
        expect_error("{\"backends\": {\"proxmox\": {\"tls\": {\"verify\": \"no\"}}}}", "backends.proxmox.tls.verify");
        expect_error("{\"backends\": {\"proxmox\": {\"tls\": {\"fingerprint\": \"AB:CD\"}}}}", "backends.proxmox.tls.fingerprint");
        expect_error("{\"backends\": {\"proxmox\": {\"tls\": {\"ca_file\": \"ca.pem\"}}}}", "backends.proxmox.tls.ca_file");
        expect_error("{\"backends\": {\"proxmox\": {\"vmid_range\": [200]}}}", "backends.proxmox.vmid_range");
        expect_error("{\"backends\": {\"proxmox\": {\"vmid_range\": [300, 200]}}}", "greater than");
        expect_error("{\"backends\": {\"proxmox\": {\"vmid_range\": [99, 200]}}}", "from 100");
        expect_error("{\"backends\": {\"proxmox\": {\"timeout\": -1}}}", "backends.proxmox.timeout");
        expect_error("{\"backends\": {\"proxmox\": {\"unprivileged_pods\": \"yes\"}}}", "backends.proxmox.unprivileged_pods");
        expect_error("{\"backends\": {\"proxmox\": []}}", "backends.proxmox: expected an object");
        expect_error("{\"proxmox\": {\"legacy_api\": {\"port\": true}}}", "proxmox.legacy_api.port");
        expect_error("{\"proxmox\": 1}", "proxmox: expected an object");
}

static void test_unknown_keys_warn(void **state)
{
        struct config *c = parse_ok("{\"backends\": {\"proxmox\": {\"colour\": 1, \"tls\": {\"pin\": 1}}},"
                                    " \"proxmox\": {\"x\": 1, \"legacy_api\": {\"y\": 2}}}");

        assert_true(has_warning(c, "unknown key backends.proxmox.colour"));
        assert_true(has_warning(c, "unknown key backends.proxmox.tls.pin"));
        assert_true(has_warning(c, "unknown key proxmox.x"));
        assert_true(has_warning(c, "unknown key proxmox.legacy_api.y"));
        config_free(c);
}

static void test_legacy_section(void **state)
{
        struct config *c = parse_ok("{\"proxmox\": {\"pct_path\": \"/usr/local/sbin/pct\", \"node\": \"old\", \"timeout\": 7,"
                                    " \"legacy_api\": {\"hosts\": [\"h1\", \"h2\"], \"port\": 8007, \"token\": \"u@pam!t=s\","
                                    " \"node_cache_duration\": 9}}}");
        const struct proxmox_config *p = &c->proxmox;

        assert_string_equal(p->pct_path, "/usr/local/sbin/pct");
        assert_string_equal(p->node, "old");
        assert_int_equal(p->timeout, 7);
        assert_int_equal(p->n_hosts, 2);
        assert_int_equal(p->port, 8007);
        assert_string_equal(p->token, "u@pam!t=s");
        assert_int_equal(p->node_cache_duration, 9);
        assert_int_equal(p->transport, PROXMOX_TRANSPORT_API); /* hosts given: the API */
        assert_true(has_warning(c, "token_file"));
        config_free(c);
}

static void test_new_section_wins_over_legacy(void **state)
{
        /* Whatever the order in the file, backends.proxmox wins. */
        struct config *c = parse_ok("{\"backends\": {\"proxmox\": {\"transport\": \"pct\", \"node\": \"new\", \"timeout\": 3}},"
                                    " \"proxmox\": {\"node\": \"old\", \"timeout\": 7, \"legacy_api\": {\"hosts\": [\"h1\"]}}}");

        assert_string_equal(c->proxmox.node, "new");
        assert_int_equal(c->proxmox.timeout, 3);
        assert_int_equal(c->proxmox.transport, PROXMOX_TRANSPORT_PCT);
        config_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_errors_name_the_key),
                cmocka_unit_test(test_unknown_keys_warn),
                cmocka_unit_test(test_legacy_section),
                cmocka_unit_test(test_new_section_wins_over_legacy),
        };

        return unit_run(tests);
}
