/* net_tool: src/net/ from the command line, for the integration tests.
 *
 *   net_tool pin DIR [--kinds net,ipc,uts] [--hostname H] [--sysctl K=V]...
 *   net_tool unpin DIR
 *   net_tool load CONFDIR
 *   net_tool add CONFDIR NETNS ID [options]
 *   net_tool del CONFDIR NETNS ID [--prev JSON] [options]
 *     options: --bin-dir D (repeatable; default /usr/lib/cni) --port H:C[/PROTO[/HOSTIP]]
 *              --ifname I --pod-name N --pod-namespace NS --pod-uid U --pod-cidr CIDR
 *
 * Prints one JSON object on stdout: the result, or {"error": MSG, "code": ERRNO}
 * with exit status 1.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/cni.h"
#include "net/netns.h"
#include "util/cleanup.h"

#define MAX_ITEMS 32

static int print_json(json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT);

        puts(s ? s : "{}");
        free(s);
        json_decref(j);
        return 0;
}

static int fail(struct pxe *e, int r)
{
        print_json(json_pack("{s:s, s:i}", "error", e && e->msg ? e->msg : "failed", "code", e ? e->code : -r));
        pxe_free(e);
        return 1;
}

static int usage(const char *msg)
{
        fprintf(stderr, "net_tool: %s\n", msg);
        return 2;
}

static unsigned parse_kinds(const char *s)
{
        unsigned k = 0;

        if (strstr(s, "net"))
                k |= NETNS_NET;
        if (strstr(s, "ipc"))
                k |= NETNS_IPC;
        if (strstr(s, "uts"))
                k |= NETNS_UTS;
        return k;
}

static int cmd_pin(int argc, char **argv)
{
        struct netns_sysctl sysctls[MAX_ITEMS];
        struct netns_pin_request req = { .kinds = NETNS_NET | NETNS_IPC | NETNS_UTS, .sysctls = sysctls };
        struct netns_paths p = { 0 };
        struct pxe *e = NULL;
        int r;

        if (argc < 1)
                return usage("pin DIR");
        req.dir = argv[0];
        for (int i = 1; i + 1 < argc; i += 2) {
                if (streq(argv[i], "--hostname"))
                        req.hostname = argv[i + 1];
                else if (streq(argv[i], "--kinds"))
                        req.kinds = parse_kinds(argv[i + 1]);
                else if (streq(argv[i], "--sysctl") && req.n_sysctls < MAX_ITEMS) {
                        char *eq = strchr(argv[i + 1], '=');

                        if (!eq)
                                return usage("--sysctl K=V");
                        *eq = '\0';
                        sysctls[req.n_sysctls++] = (struct netns_sysctl) { argv[i + 1], eq + 1 };
                } else
                        return usage("unknown option");
        }
        r = netns_pin(&req, &p, &e);
        if (r < 0)
                return fail(e, r);
        print_json(json_pack("{s:s*, s:s*, s:s*}", "net", p.net, "ipc", p.ipc, "uts", p.uts));
        netns_paths_done(&p);
        return 0;
}

static int cmd_unpin(int argc, char **argv)
{
        struct pxe *e = NULL;
        int r;

        if (argc != 1)
                return usage("unpin DIR");
        r = netns_unpin(argv[0], &e);
        if (r < 0)
                return fail(e, r);
        return print_json(json_object());
}

static int cmd_load(int argc, char **argv)
{
        struct cni_net *n = NULL;
        struct pxe *e = NULL;
        json_t *types;
        int r;

        if (argc != 1)
                return usage("load CONFDIR");
        r = cni_load(argv[0], &n, &e);
        if (r < 0)
                return fail(e, r);
        types = json_array();
        for (size_t i = 0; i < cni_net_n_plugins(n); i++)
                json_array_append_new(types, json_string(cni_net_plugin_type(n, i)));
        print_json(json_pack("{s:s, s:s, s:s, s:o}", "name", cni_net_name(n), "source", cni_net_source(n),
                             "cniVersion", cni_net_version(n), "plugins", types));
        cni_net_free(n);
        return 0;
}

struct cni_opts {
        const char *bin_dirs[MAX_ITEMS];
        size_t n_bin_dirs;
        struct cni_port_mapping ports[MAX_ITEMS];
        const char *prev;
};

static int parse_port(char *s, struct cni_port_mapping *m)
{
        char *proto = strchr(s, '/'), *ip = NULL;

        if (proto) {
                *proto++ = '\0';
                ip = strchr(proto, '/');
                if (ip)
                        *ip++ = '\0';
        }
        if (sscanf(s, "%d:%d", &m->host_port, &m->container_port) != 2)
                return -1;
        m->protocol = proto ? proto : "tcp";
        m->host_ip = ip;
        return 0;
}

static int parse_cni_opts(int argc, char **argv, struct cni_request *req, struct cni_opts *o)
{
        for (int i = 0; i + 1 < argc; i += 2) {
                const char *k = argv[i];
                char *v = argv[i + 1];

                if (streq(k, "--bin-dir") && o->n_bin_dirs < MAX_ITEMS)
                        o->bin_dirs[o->n_bin_dirs++] = v;
                else if (streq(k, "--port") && req->n_ports < MAX_ITEMS) {
                        if (parse_port(v, &o->ports[req->n_ports++]) < 0)
                                return -1;
                } else if (streq(k, "--ifname"))
                        req->ifname = v;
                else if (streq(k, "--pod-name"))
                        req->pod_name = v;
                else if (streq(k, "--pod-namespace"))
                        req->pod_namespace = v;
                else if (streq(k, "--pod-uid"))
                        req->pod_uid = v;
                else if (streq(k, "--pod-cidr"))
                        req->pod_cidr = v;
                else if (streq(k, "--prev"))
                        o->prev = v;
                else
                        return -1;
        }
        if (!o->n_bin_dirs)
                o->bin_dirs[o->n_bin_dirs++] = "/usr/lib/cni";
        return 0;
}

static int cmd_cni(bool add, int argc, char **argv)
{
        static struct cni_opts o;
        struct cni_request req = { .ports = o.ports, .pod_name = "pod", .pod_namespace = "default",
                                   .pod_uid = "uid" };
        struct cni_result res = { 0 };
        struct cni_net *n = NULL;
        struct pxe *e = NULL;
        json_t *ips;
        int r;

        if (argc < 3)
                return usage("add|del CONFDIR NETNS ID [options]");
        req.netns = argv[1];
        req.container_id = argv[2];
        if (parse_cni_opts(argc - 3, argv + 3, &req, &o) < 0)
                return usage("bad option");
        if ((r = cni_load(argv[0], &n, &e)) < 0)
                return fail(e, r);
        r = add ? cni_add(n, o.bin_dirs, o.n_bin_dirs, &req, &res, &e)
                : cni_del(n, o.bin_dirs, o.n_bin_dirs, &req, o.prev, &e);
        cni_net_free(n);
        if (r < 0)
                return fail(e, r);
        ips = json_array();
        for (size_t i = 0; i < res.n_ips; i++)
                json_array_append_new(ips, json_string(res.ips[i]));
        print_json(json_pack("{s:o, s:s?}", "ips", ips, "json", res.json));
        cni_result_done(&res);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return usage("pin|unpin|load|add|del ...");
        if (streq(argv[1], "pin"))
                return cmd_pin(argc - 2, argv + 2);
        if (streq(argv[1], "unpin"))
                return cmd_unpin(argc - 2, argv + 2);
        if (streq(argv[1], "load"))
                return cmd_load(argc - 2, argv + 2);
        if (streq(argv[1], "add") || streq(argv[1], "del"))
                return cmd_cni(streq(argv[1], "add"), argc - 2, argv + 2);
        return usage("unknown command");
}
