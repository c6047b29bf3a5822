/* Proxmox client parsers: API answers and errors, UPIDs, pct list/status/config. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/proxmox/client.h"

static void test_answer_data(void **state)
{
        const char *body = "{\"data\":{\"version\":\"9.1.1\"}}";
        json_t *d = NULL;
        struct pxe *e = NULL;

        assert_int_equal(pve_parse_answer(body, strlen(body), 200, "OK", &d, &e), 0);
        assert_string_equal(json_string_value(json_object_get(d, "version")), "9.1.1");
        json_decref(d);
        body = "{\"data\":null}";
        assert_int_equal(pve_parse_answer(body, strlen(body), 200, "OK", &d, &e), 0);
        assert_true(json_is_null(d));
        json_decref(d);
}

static void expect_answer_error(const char *body, long status, const char *reason, int code, const char *needle)
{
        json_t *d = NULL;
        struct pxe *e = NULL;

        assert_int_equal(pve_parse_answer(body, body ? strlen(body) : 0, status, reason, &d, &e), -code);
        assert_null(d);
        assert_non_null(e);
        assert_int_equal(e->code, code);
        assert_contains(e->msg, needle);
        assert_null(strchr(e->msg, '\n'));
        pxe_free(e);
}

static void test_answer_errors(void **state)
{
        expect_answer_error("{\"data\":null,\"errors\":{\"net0\":\"invalid format - bridge: value does not match\\n\"}}",
                            400, "Parameter verification failed.", EINVAL,
                            "HTTP 400 Parameter verification failed.: net0: invalid format - bridge");
        expect_answer_error("{\"data\":null,\"errors\":{\"vmid\":\"VM 100 already exists\"}}", 400,
                            "Parameter verification failed.", EEXIST, "vmid: VM 100 already exists");
        expect_answer_error("{\"data\":null}", 401, "invalid token value!", EACCES, "authentication failed");
        expect_answer_error("{\"data\":null}", 403, "Permission check failed (/vms/100, VM.Allocate)", EPERM,
                            "VM.Allocate");
        expect_answer_error("{\"data\":null}", 500, "CT 100 already exists on node 'pve1'", EEXIST, "already exists");
        expect_answer_error("{\"data\":null}", 500, "Configuration file 'nodes/pve1/lxc/7.conf' does not exist", ENOENT,
                            "does not exist");
        /* No reason phrase (HTTP/2): the body's message is used. */
        expect_answer_error("{\"data\":null,\"message\":\"CT is locked (backup)\\n\"}", 500, "", EIO, "CT is locked (backup)");
        expect_answer_error("<html>bad gateway</html>", 502, "Bad Gateway", EIO, "HTTP 502 Bad Gateway");
        expect_answer_error(NULL, 595, "Connection refused", EIO, "595");
        expect_answer_error("[1,2]", 200, "OK", EPROTO, "not a Proxmox API answer");
        expect_answer_error("{\"nodata\":1}", 200, "OK", EPROTO, "not a Proxmox API answer");
        expect_answer_error("{\"data\":", 200, "OK", EPROTO, "not a Proxmox API answer");
}

static void test_upid(void **state)
{
        char *node = NULL;
        struct pxe *e = NULL;

        assert_int_equal(pve_upid_node("UPID:pve1:00000FA1:00006D67:6B02F724:vzcreate:100:root@pam!pxcri:", &node, &e), 0);
        assert_string_equal(node, "pve1");
        free(node);
        assert_int_equal(pve_upid_node("UPID:pve-2.lan:0001:0002:0003:vzstart:101:root@pam:", &node, &e), 0);
        assert_string_equal(node, "pve-2.lan");
        free(node);
        assert_int_equal(pve_upid_node("UPID::1:2:3:x:y:z:", &node, &e), -EPROTO);
        pxe_freep(&e);
        assert_int_equal(pve_upid_node("UPID:pve1:XYZ:2:3:x:y:z:", &node, &e), -EPROTO);
        pxe_freep(&e);
        assert_int_equal(pve_upid_node("UPID:pve/../x:1:2:3:x:y:z:", &node, &e), -EPROTO);
        pxe_freep(&e);
        assert_int_equal(pve_upid_node("TASK:pve1:1:2:3", &node, &e), -EPROTO);
        pxe_freep(&e);
        assert_int_equal(pve_upid_node(NULL, &node, &e), -EPROTO);
        pxe_freep(&e);
}

static void test_pct_list(void **state)
{
        /* Lock empty for most rows: columns come from the header, not from blanks. */
        const char *out = "VMID       Status     Lock         Name                \n"
                          "100        running                 web1                \n"
                          "101        stopped    backup       db-primary          \n"
                          "102        stopped                                     \n"
                          "1000000    running    create       a-very-long-name-that-is-wider-than-the-column\n";
        struct pct_list_entry *v = NULL;
        struct pxe *e = NULL;
        size_t n = 0;

        assert_int_equal(pct_parse_list(out, &v, &n, &e), 0);
        assert_int_equal(n, 4);
        assert_int_equal(v[0].vmid, 100);
        assert_string_equal(v[0].status, "running");
        assert_string_equal(v[0].lock, "");
        assert_string_equal(v[0].name, "web1");
        assert_string_equal(v[1].lock, "backup");
        assert_string_equal(v[1].name, "db-primary");
        assert_string_equal(v[2].name, "");
        assert_int_equal(v[3].vmid, 1000000);
        assert_string_equal(v[3].lock, "create");
        free(v);
        /* No containers: pct prints nothing at all. */
        assert_int_equal(pct_parse_list("", &v, &n, &e), 0);
        assert_int_equal(n, 0);
        free(v);
}

static void test_pct_list_garbage(void **state)
{
        struct pct_list_entry *v = NULL;
        struct pxe *e = NULL;
        size_t n = 0;

        assert_int_equal(pct_parse_list("ID STATE\n100 running\n", &v, &n, &e), -EPROTO);
        assert_contains(e->msg, "unexpected header");
        pxe_freep(&e);
        assert_int_equal(pct_parse_list("VMID       Status     Lock         Name\nabc        running\n", &v, &n, &e), -EPROTO);
        assert_contains(e->msg, "bad VMID");
        pxe_freep(&e);
        assert_int_equal(pct_parse_list("VMID       Status     Lock         Name\n100\n", &v, &n, &e), -EPROTO);
        assert_contains(e->msg, "no status");
        pxe_freep(&e);
}

static void test_pct_status_and_config(void **state)
{
        char st[16];
        json_t *o = NULL;
        struct pxe *e = NULL;

        assert_int_equal(pct_parse_status("status: running\n", st, sizeof(st), &e), 0);
        assert_string_equal(st, "running");
        assert_int_equal(pct_parse_status("warning: x\nstatus: stopped\n", st, sizeof(st), &e), 0);
        assert_string_equal(st, "stopped");
        assert_int_equal(pct_parse_status("CT 100 does not exist\n", st, sizeof(st), &e), -EPROTO);
        pxe_freep(&e);
        assert_int_equal(pct_parse_config("#pod%3A web\narch: amd64\nnet0: name=eth0,bridge=vmbr0,ip=dhcp\nbad\n", &o, &e), 0);
        assert_string_equal(json_string_value(json_object_get(o, "net0")), "name=eth0,bridge=vmbr0,ip=dhcp");
        assert_int_equal(json_object_size(o), 2);
        json_decref(o);
}

static void test_actions(void **state)
{
        assert_int_equal(pve_action_from_string("shutdown"), PVE_ACTION_SHUTDOWN);
        assert_int_equal(pve_action_from_string("reboot"), PVE_ACTION_INVALID);
        assert_string_equal(pve_action_to_string(PVE_ACTION_RESUME), "resume");
}

static void test_client_refuses_bad_config(void **state)
{
        struct proxmox_config cfg = { .transport = PROXMOX_TRANSPORT_API, .vmid_lo = 100, .vmid_hi = 200, .port = 8006 };
        struct pve_client *c = NULL;
        struct pxe *e = NULL;
        char *dir = unit_mkdtemp(), *tok = unit_path(dir, "tok");
        char *hosts[] = { "127.0.0.1" };

        assert_true(pve_client_new(&cfg, &c, &e) < 0);
        assert_contains(e->msg, "at least one host");
        pxe_freep(&e);
        cfg.hosts = hosts;
        cfg.n_hosts = 1;
        assert_true(pve_client_new(&cfg, &c, &e) < 0);
        assert_contains(e->msg, "token");
        pxe_freep(&e);
        unit_write(tok, "root@pam!x=secret\n"); /* 0644 */
        cfg.token_file = tok;
        assert_int_equal(pve_client_new(&cfg, &c, &e), -EPERM);
        assert_contains(e->msg, "mode 0644");
        assert_null(strstr(e->msg, "secret"));
        pxe_freep(&e);
        cfg.transport = PROXMOX_TRANSPORT_PCT;
        cfg.pct_path = "/nonexistent/pct";
        assert_true(pve_client_new(&cfg, &c, &e) < 0);
        assert_contains(e->msg, "/nonexistent/pct");
        pxe_freep(&e);
        unit_rm_rf(dir);
        free(tok);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_answer_data),
                cmocka_unit_test(test_answer_errors),
                cmocka_unit_test(test_upid),
                cmocka_unit_test(test_pct_list),
                cmocka_unit_test(test_pct_list_garbage),
                cmocka_unit_test(test_pct_status_and_config),
                cmocka_unit_test(test_actions),
                cmocka_unit_test(test_client_refuses_bad_config),
        };

        return unit_run(tests);
}
