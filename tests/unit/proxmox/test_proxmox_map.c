/* OCI config.json -> Proxmox create parameters (src/backend/proxmox/map.c):
 * one test per rule of docs/proxmox.md#mapping, the error cases, and every
 * emitted parameter checked against the API schema (tests/fixtures/pve-api-lxc.json). */
#include "unit.h"

#include <errno.h>
#include <libgen.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/proxmox/map.h"
#include "util/cleanup.h"

static const struct pve_map_request base_req = {
        .id = "c0ffee",
        .bundle = "/run/pxcri/bundles/c0ffee",
        .storage = "local-lvm",
        .bridge = "vmbr0",
        .init_dir = "/run/pxcri/c0ffee/run",
};

/* JSON written with ' for " (readability). */
static json_t *cfg(const char *text)
{
        char *t = strdup(text);
        json_error_t je;
        json_t *j;

        assert_non_null(t);
        for (char *c = t; *c; c++)
                if (*c == '\'')
                        *c = '"';
        j = json_loads(t, 0, &je);
        if (!j)
                fail_msg("bad test JSON: %s: %s", je.text, t);
        free(t);
        return j;
}

static struct pve_params *map_ok_req(const char *text, const struct pve_map_request *req)
{
        json_t *j = cfg(text);
        struct pve_params *p = NULL;
        struct pxe *e = NULL;
        int r = pve_map_bundle(j, req, &p, &e);

        if (r < 0)
                fail_msg("pve_map_bundle: %s", e ? e->msg : "(no message)");
        json_decref(j);
        return p;
}

static struct pve_params *map_ok(const char *text)
{
        return map_ok_req(text, &base_req);
}

static void map_fails_req(const char *text, const struct pve_map_request *req, int code, const char *needle)
{
        json_t *j = cfg(text);
        struct pve_params *p = NULL;
        struct pxe *e = NULL;

        assert_int_equal(pve_map_bundle(j, req, &p, &e), -code);
        assert_null(p);
        assert_non_null(e);
        assert_int_equal(e->code, code);
        assert_contains(e->msg, needle);
        assert_contains(e->msg, "Container c0ffee");
        pxe_free(e);
        json_decref(j);
}

static void map_fails(const char *text, int code, const char *needle)
{
        map_fails_req(text, &base_req, code, needle);
}

static void expect(const char *text, const char *key, const char *value)
{
        struct pve_params *p = map_ok(text);
        const char *v = pve_params_get(p, key);

        if (value && (!v || strcmp(v, value)))
                fail_msg("%s: expected \"%s\", got \"%s\"", key, value, v ? v : "(absent)");
        if (!value && v)
                fail_msg("%s: expected absent, got \"%s\"", key, v);
        pve_params_free(p);
}

/* ---- rules ---- */

static void test_fixed_params_and_order(void **state)
{
        static const char *const order[] = { "ostype", "hostname", "memory", "swap", "net0", "rootfs", "mp0",
                                             "unprivileged", "onboot", "tags", "description" };
        struct pve_params *p = map_ok("{}");

        assert_int_equal(p->n_items, ARRAY_SIZE(order));
        for (size_t i = 0; i < ARRAY_SIZE(order); i++)
                assert_string_equal(p->items[i].key, order[i]);
        assert_string_equal(pve_params_get(p, "ostype"), "unmanaged");
        assert_string_equal(pve_params_get(p, "onboot"), "0");
        assert_string_equal(pve_params_get(p, "unprivileged"), "1");
        assert_null(pve_params_get(p, "vmid"));
        assert_null(pve_params_get(p, "ostemplate"));
        pve_params_free(p);
}

static void test_hostname(void **state)
{
        expect("{'hostname':'web-1'}", "hostname", "web-1");
        expect("{}", "hostname", "c0ffee");
        expect("{'hostname':''}", "hostname", "c0ffee");
        expect("{'hostname':'My_Pod..x.'}", "hostname", "my-pod.x");
        expect("{'hostname':'-a--b-'}", "hostname", "a-b");
        expect("{'hostname':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}", "hostname",
               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        map_fails("{'hostname':'___'}", EINVAL, "hostname \"___\": no valid host name remains");
        struct pve_map_request req = base_req;

        req.id = "..";
        json_t *j = cfg("{}");
        struct pve_params *p = NULL;
        struct pxe *e = NULL;

        assert_int_equal(pve_map_bundle(j, &req, &p, &e), -EINVAL);
        assert_contains(e->msg, "the container ID \"..\"");
        pxe_free(e);
        json_decref(j);
}

static void test_hostname_label_limits(void **state)
{
        char long_name[400];
        char *h;

        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        for (size_t i = 50; i < sizeof(long_name) - 1; i += 51)
                long_name[i] = '.';
        h = pve_map_hostname(long_name);
        assert_non_null(h);
        assert_true(strlen(h) <= 253);
        free(h);
        assert_null(pve_map_hostname("...-"));
}

static void test_memory(void **state)
{
        expect("{'linux':{'resources':{'memory':{'limit':268435456}}}}", "memory", "256");
        expect("{'linux':{'resources':{'memory':{'limit':268435457}}}}", "memory", "257");
        expect("{'linux':{'resources':{'memory':{'limit':1048576}}}}", "memory", "16");
        /* No limit: the documented default, never Proxmox's 512. */
        expect("{}", "memory", "1024");
        expect("{'linux':{'resources':{'memory':{'limit':0}}}}", "memory", "1024");
        expect("{'linux':{'resources':{'memory':{'limit':-1}}}}", "memory", "1024");

        struct pve_map_request req = base_req;
        struct pve_params *p;

        req.memory_mib = 2048;
        p = map_ok_req("{}", &req);
        assert_string_equal(pve_params_get(p, "memory"), "2048");
        pve_params_free(p);
        map_fails("{'linux':{'resources':{'memory':{'limit':'1G'}}}}", EINVAL, "linux.resources.memory.limit: expected an integer");
        map_fails("{'linux':{'resources':{'memory':{'limit':1,'kernel':5}}}}", ENOTSUP, "linux.resources.memory.kernel");
        expect("{'linux':{'resources':{'memory':{'limit':1048576,'swappiness':0,'disableOOMKiller':false}}}}", "memory", "16");
}

static void test_swap(void **state)
{
        expect("{}", "swap", "0");
        expect("{'linux':{'resources':{'memory':{'limit':268435456}}}}", "swap", "0");
        expect("{'linux':{'resources':{'memory':{'limit':268435456,'swap':268435456}}}}", "swap", "0");
        expect("{'linux':{'resources':{'memory':{'limit':268435456,'swap':536870912}}}}", "swap", "256");
        expect("{'linux':{'resources':{'memory':{'limit':268435456,'swap':-1}}}}", "swap", "256");
        expect("{'linux':{'resources':{'memory':{'swap':536870912}}}}", "swap", "0");
}

static void test_cpu_quota(void **state)
{
        expect("{}", "cores", NULL);
        expect("{}", "cpulimit", NULL);
        expect("{'linux':{'resources':{'cpu':{'quota':-1,'period':100000}}}}", "cores", NULL);
        expect("{'linux':{'resources':{'cpu':{'quota':50000,'period':100000}}}}", "cores", "1");
        expect("{'linux':{'resources':{'cpu':{'quota':50000,'period':100000}}}}", "cpulimit", "0.50");
        expect("{'linux':{'resources':{'cpu':{'quota':200000,'period':100000}}}}", "cores", "2");
        expect("{'linux':{'resources':{'cpu':{'quota':200000,'period':100000}}}}", "cpulimit", "2");
        expect("{'linux':{'resources':{'cpu':{'quota':250000}}}}", "cores", "3");
        expect("{'linux':{'resources':{'cpu':{'quota':250000}}}}", "cpulimit", "2.50");
        /* Rounded up: a tiny quota is a limit, never 0 (which means none). */
        expect("{'linux':{'resources':{'cpu':{'quota':100,'period':100000}}}}", "cpulimit", "0.01");
        map_fails("{'linux':{'resources':{'cpu':{'quota':1000000000000,'period':1000}}}}", ENOTSUP, "more than Proxmox's 8192 CPUs");
        map_fails("{'linux':{'resources':{'cpu':{'quota':1000,'period':0}}}}", EINVAL, "linux.resources.cpu.period");
        map_fails("{'linux':{'resources':{'cpu':{'cpus':'0-1'}}}}", ENOTSUP, "linux.resources.cpu.cpus");
        /* Empty and zero values are absent values. */
        expect("{'linux':{'resources':{'cpu':{'cpus':'','realtimeRuntime':0}}}}", "cores", NULL);
}

static void test_cpuunits(void **state)
{
        assert_int_equal(pve_map_cpuunits(2), 1);
        assert_int_equal(pve_map_cpuunits(0), 1);
        assert_int_equal(pve_map_cpuunits(1024), 39);
        assert_int_equal(pve_map_cpuunits(262144), 10000);
        assert_int_equal(pve_map_cpuunits(1000000), 10000);
        expect("{'linux':{'resources':{'cpu':{'shares':1024}}}}", "cpuunits", "39");
        expect("{'linux':{'resources':{'cpu':{'shares':2}}}}", "cpuunits", "1");
        expect("{}", "cpuunits", NULL);
}

static void test_net(void **state)
{
        expect("{}", "net0", "name=eth0,bridge=vmbr0,ip=dhcp");
        expect("{'annotations':{'pxcri.io/ip':'10.0.0.5/24'}}", "net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5/24");
        expect("{'annotations':{'pxcri.io/ip':'10.0.0.5/24','pxcri.io/gw':'10.0.0.1'}}", "net0",
               "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1");
        map_fails("{'annotations':{'pxcri.io/ip':'10.0.0.300/24'}}", EINVAL, "pxcri.io/ip \"10.0.0.300/24\"");
        map_fails("{'annotations':{'pxcri.io/ip':'10.0.0.3'}}", EINVAL, "pxcri.io/ip");
        map_fails("{'annotations':{'pxcri.io/ip':'10.0.0.3/24,bridge=x'}}", EINVAL, "pxcri.io/ip");
        map_fails("{'annotations':{'pxcri.io/gw':'10.0.0.1'}}", EINVAL, "a gateway needs a static pxcri.io/ip");
        map_fails("{'annotations':{'pxcri.io/ip':'10.0.0.5/24','pxcri.io/gw':'x'}}", EINVAL, "pxcri.io/gw \"x\"");

        struct pve_map_request req = base_req;

        req.bridge = "vmbr0,firewall=1";
        map_fails_req("{}", &req, EINVAL, "not a Proxmox bridge name");
}

static void test_rootfs(void **state)
{
        expect("{}", "rootfs", "local-lvm:8");
        expect("{'annotations':{'pxcri.io/rootfs-size':'20'}}", "rootfs", "local-lvm:20");
        expect("{'annotations':{'pxcri.io/rootfs-size':'3G'}}", "rootfs", "local-lvm:3");
        /* root.readonly is pxcri-init's ("R", after its mounts), not Proxmox's ro=1. */
        expect("{'root':{'path':'rootfs','readonly':true}}", "rootfs", "local-lvm:8");
        struct pve_params *ro = map_ok("{'root':{'path':'rootfs','readonly':true}}");

        assert_true(ro->readonly_root);
        pve_params_free(ro);
        map_fails("{'annotations':{'pxcri.io/rootfs-size':'0'}}", EINVAL, "pxcri.io/rootfs-size \"0\"");
        map_fails("{'annotations':{'pxcri.io/rootfs-size':'1T'}}", EINVAL, "pxcri.io/rootfs-size");
        map_fails("{'annotations':{'pxcri.io/rootfs-size':'-3'}}", EINVAL, "pxcri.io/rootfs-size");

        struct pve_map_request req = base_req;
        struct pve_params *p;

        req.rootfs_gib = 4;
        p = map_ok_req("{}", &req);
        assert_string_equal(pve_params_get(p, "rootfs"), "local-lvm:4");
        pve_params_free(p);
        req.storage = "Local";
        map_fails_req("{}", &req, EINVAL, "Storage \"Local\"");
}

static char *bind_config(const char *dir, const char *extra)
{
        char *s = NULL;

        assert_true(asprintf(&s,
                             "{'mounts':["
                             "{'destination':'/proc','type':'proc','source':'proc'},"
                             "{'destination':'/dev','type':'tmpfs','source':'tmpfs','options':['nosuid']},"
                             "{'destination':'/dev/pts','type':'devpts','source':'devpts'},"
                             "{'destination':'/dev/shm','type':'tmpfs','source':'shm'},"
                             "{'destination':'/dev/mqueue','type':'mqueue','source':'mqueue'},"
                             "{'destination':'/sys','type':'sysfs','source':'sysfs','options':['ro']},"
                             "{'destination':'/sys/fs/cgroup','type':'cgroup','source':'cgroup'},"
                             "{'destination':'/data','type':'bind','source':'%s/data','options':['rbind','rprivate','rw']},"
                             "{'destination':'/cfg','source':'%s/data','options':['rbind','ro','nosuid','nodev']},"
                             "{'destination':'/etc/hosts','type':'bind','source':'%s/hosts','options':['rbind','ro']},"
                             "{'destination':'/dev/shm','type':'bind','source':'%s/data','options':['rbind']}"
                             "%s]}",
                             dir, dir, dir, dir, extra) > 0);
        return s;
}

static void test_mounts(void **state)
{
        char *dir = unit_mkdtemp(), *data = unit_path(dir, "data"), *hosts = unit_path(dir, "hosts");
        char *text = bind_config(dir, ""), *want = NULL;
        struct pve_params *p;

        assert_int_equal(mkdir(data, 0755), 0);
        unit_write(hosts, "127.0.0.1 localhost\n");
        p = map_ok(text);
        assert_string_equal(pve_params_get(p, "mp0"), "/run/pxcri/c0ffee/run,mp=/.pxcri/run");
        assert_true(asprintf(&want, "%s,mp=/data", data) > 0);
        assert_string_equal(pve_params_get(p, "mp1"), want);
        free(want);
        assert_true(asprintf(&want, "%s,mp=/cfg,ro=1,mountoptions=nosuid;nodev", data) > 0);
        assert_string_equal(pve_params_get(p, "mp2"), want);
        free(want);
        /* A file: pxcri-init binds it, Proxmox mount points are directories. */
        assert_int_equal(p->n_init_binds, 2);
        assert_string_equal(p->init_binds[0].source, hosts);
        assert_string_equal(p->init_binds[0].dest, "/etc/hosts");
        assert_true(p->init_binds[0].ro);
        /* /dev is LXC's tmpfs, which would hide a mount point: a directory
         * is a mount point at a stage (mp3) pxcri-init binds it from. */
        assert_string_equal(p->init_binds[1].source, data);
        assert_string_equal(p->init_binds[1].dest, "/dev/shm");
        assert_false(p->init_binds[1].ro);
        assert_true(p->init_binds[1].staged);
        assert_int_equal(p->init_binds[1].stage, 3);
        assert_false(p->init_binds[0].staged);
        assert_true(asprintf(&want, "%s,mp=/.pxcri/mnt/3", data) > 0);
        assert_string_equal(pve_params_get(p, "mp3"), want);
        free(want);
        pve_params_free(p);
        free(text);
        unit_rm_rf(dir);
        free(data);
        free(hosts);
        free(dir);
}

/* A tmpfs anywhere else (containerd's /run) is pxcri-init's to mount. */
static void test_tmpfs_for_init(void **state)
{
        struct pve_params *p = map_ok("{'mounts':[{'destination':'/run','type':'tmpfs','source':'tmpfs',"
                                      "'options':['nosuid','strictatime','mode=755','size=65536k']},"
                                      "{'destination':'/tmp','type':'tmpfs','source':'tmpfs'}]}");

        assert_int_equal(p->n_init_mounts, 2);
        assert_string_equal(p->init_mounts[0].dest, "/run");
        assert_string_equal(p->init_mounts[0].options, "nosuid,strictatime,mode=755,size=65536k");
        assert_string_equal(p->init_mounts[1].dest, "/tmp");
        assert_string_equal(p->init_mounts[1].options, "");
        assert_null(pve_params_get(p, "mp1"));
        pve_params_free(p);
}

static void test_mounts_errors(void **state)
{
        map_fails("{'mounts':[{'destination':'/tmp','type':'overlay','source':'x'}]}", ENOTSUP,
                  "mounts[0] (overlay on /tmp): Proxmox mount points are bind mounts or volumes");
        map_fails("{'mounts':[{'destination':'/run','type':'tmpfs','source':'tmpfs','options':['exec','mode=1777']}]}",
                  ENOTSUP, "mounts[0] (tmpfs on /run): option \"exec\" is not supported");
        map_fails("{'mounts':[{'destination':'/run','type':'tmpfs','source':'tmpfs','options':['size=1;x']}]}",
                  ENOTSUP, "option \"size=1;x\"");
        map_fails("{'mounts':[{'destination':'/proc/x','type':'proc','source':'proc'}]}", ENOTSUP, "mounts[0] (proc on /proc/x)");
        map_fails("{'mounts':[{'destination':'/x','type':'bind','source':'rel/dir'}]}", EINVAL, "mounts[0].source \"rel/dir\"");
        map_fails("{'mounts':[{'destination':'/x','type':'bind','source':'/a,b'}]}", EINVAL, "mounts[0].source");
        map_fails("{'mounts':[{'destination':'/x','type':'bind','source':'/a/../b'}]}", EINVAL, "mounts[0].source");
        map_fails("{'mounts':[{'destination':'x','type':'bind','source':'/tmp'}]}", EINVAL, "mounts[0].destination \"x\"");
        map_fails("{'mounts':[{'destination':'/.pxcri/run','type':'bind','source':'/tmp'}]}", EINVAL, "mounts[0].destination");
        map_fails("{'mounts':[{'destination':'/.pxcri/mnt/0','type':'bind','source':'/tmp'}]}", EINVAL, "mounts[0].destination");
        map_fails("{'mounts':[{'destination':'/x','type':'bind','source':'/tmp','options':['rslave']}]}", ENOTSUP,
                  "mounts[0] (/x): slave propagation needs a privileged Proxmox container");
        map_fails("{'mounts':[{'destination':'/x','type':'bind','source':'/nonexistent-pxcri'}]}", ENOENT,
                  "mounts[0].source /nonexistent-pxcri");
        map_fails("{'mounts':{}}", EINVAL, "mounts: expected an array");
}

static void test_init_dir(void **state)
{
        struct pve_map_request req = base_req;
        struct pve_params *p;

        req.init_dir = NULL;
        p = map_ok_req("{'mounts':[{'destination':'/x','type':'bind','source':'/tmp'}]}", &req);
        assert_string_equal(pve_params_get(p, "mp0"), "/tmp,mp=/x");
        pve_params_free(p);
        req.init_dir = "run";
        map_fails_req("{}", &req, EINVAL, "pxcri-init directory \"run\"");
}

static void test_unprivileged(void **state)
{
        struct pve_map_request req = base_req;
        struct pve_params *p;

        expect("{}", "unprivileged", "1");
        req.privileged = true;
        p = map_ok_req("{}", &req);
        assert_string_equal(pve_params_get(p, "unprivileged"), "0");
        pve_params_free(p);
}

static void test_features(void **state)
{
        expect("{}", "features", NULL);
        expect("{'annotations':{'pxcri.io/features':'nesting'}}", "features", "nesting=1");
        expect("{'annotations':{'pxcri.io/features':'fuse, nesting,nesting'}}", "features", "nesting=1,fuse=1");
        map_fails("{'annotations':{'pxcri.io/features':'nesting,mount=nfs'}}", EINVAL, "unknown feature \"mount=nfs\"");
}

#define K8S_ANN                                                                                                   \
        "'annotations':{'io.kubernetes.cri.sandbox-name':'Web_Pod','io.kubernetes.pod.namespace':'default',"    \
        "'io.kubernetes.cri.container-name':'nginx','io.kubernetes.cri.image-name':'docker.io/library/nginx:1.27'}"

static void test_tags_and_description(void **state)
{
        struct pve_params *p;
        const char *d;

        expect("{}", "tags", "pxcri");
        expect("{" K8S_ANN "}", "tags", "pxcri;ns-default;pod-web_pod;ctr-nginx");
        expect("{'annotations':{'io.kubernetes.cri.sandbox-name':'--x'}}", "tags", "pxcri;pod---x");
        p = map_ok("{" K8S_ANN "}");
        d = pve_params_get(p, "description");
        assert_contains(d, "pxcri container: c0ffee\n");
        assert_contains(d, "pod: default/Web_Pod\n");
        assert_contains(d, "container: nginx\n");
        assert_contains(d, "image: docker.io/library/nginx:1.27\n");
        assert_contains(d, "bundle: /run/pxcri/bundles/c0ffee\n");
        pve_params_free(p);
        p = map_ok("{'annotations':{'io.kubernetes.cri.container-name':'a\\nb\\u0001c'}}");
        assert_contains(pve_params_get(p, "description"), "container: a b c\n");
        pve_params_free(p);
        assert_null(pve_map_tag("", "!!!"));
        char *t = pve_map_tag("pod-", "A b+c");

        assert_string_equal(t, "pod-a-b+c");
        free(t);
}

/* A description cut at its limit ends with "...\n" after a whole UTF-8
 * character: an image name of 3-byte characters longer than the limit. */
static void test_description_cut_keeps_utf8_whole(void **state)
{
        size_t n = 3000, len;
        char *text = malloc(n * 3 + 128), *q;
        struct pve_params *p;
        const char *d;

        assert_non_null(text);
        q = text + sprintf(text, "{'annotations':{'io.kubernetes.cri.image-name':'");
        for (size_t i = 0; i < n; i++)
                q += sprintf(q, "\xe2\x82\xac"); /* U+20AC, 3 bytes */
        strcpy(q, "'}}");
        p = map_ok(text);
        d = pve_params_get(p, "description");
        len = strlen(d);
        assert_true(len > 4 && len <= 8192);
        assert_string_equal(d + len - 4, "...\n");
        /* Before "...": a whole number of euro signs after "image: ". */
        q = strstr(d, "image: ");
        assert_non_null(q);
        assert_int_equal((size_t) (d + len - 4 - (q + 7)) % 3, 0);
        pve_params_free(p);
        free(text);
}

static void test_unsupported_fields(void **state)
{
        map_fails("{'linux':{'resources':{'pids':{'limit':100}}}}", ENOTSUP, "linux.resources.pids.limit");
        expect("{'linux':{'resources':{'pids':{'limit':0}}}}", "ostype", "unmanaged");
        map_fails("{'linux':{'resources':{'blockIO':{'weight':10}}}}", ENOTSUP, "linux.resources.blockIO");
        map_fails("{'linux':{'resources':{'unified':{'memory.high':'1'}}}}", ENOTSUP, "linux.resources.unified");
        map_fails("{'linux':{'resources':{'hugepageLimits':[{'pageSize':'2MB','limit':2097152}]}}}", ENOTSUP,
                  "linux.resources.hugepageLimits[0]");
        expect("{'linux':{'resources':{'hugepageLimits':[{'pageSize':'2MB','limit':0}],"
               "'devices':[{'allow':false,'access':'rwm'}]}}}",
               "ostype", "unmanaged");
        map_fails("{'linux':{'devices':[{'path':'/dev/fuse','type':'c','major':10,'minor':229}]}}", ENOTSUP,
                  "linux.devices: an unprivileged Proxmox container");
        map_fails("{'linux':{'uidMappings':[{'containerID':0,'hostID':100000,'size':65536}]}}", ENOTSUP, "linux.uidMappings");
        map_fails("{'hooks':{'prestart':[{'path':'/bin/true'}]}}", ENOTSUP, "hooks.prestart: Proxmox cannot run OCI hooks");
        map_fails("{'linux':{'namespaces':[{'type':'cgroup','path':'/proc/1/ns/cgroup'}]}}", ENOTSUP,
                  "linux.namespaces[0]: a Proxmox container cannot join the cgroup namespace");
        /* The pod's network, IPC and UTS namespaces: joined (pmx_namespaces.c), no net0. */
        expect("{'linux':{'namespaces':[{'type':'network','path':'/var/run/netns/cni-1'},{'type':'ipc','path':'/proc/9/ns/ipc'},"
               "{'type':'pid'},{'type':'mount'}]}}",
               "net0", NULL);
        map_fails("{'linux':{'namespaces':[{'type':'network','path':'netns/cni-1'}]}}", EINVAL,
                  "linux.namespaces[0].path \"netns/cni-1\": expected an absolute path");
        map_fails("{'linux':{'namespaces':[{'type':'uts','path':'/x\\ny'}]}}", EINVAL, "linux.namespaces[0].path");
        struct pve_params *ns = map_ok("{'linux':{'namespaces':[{'type':'network','path':'/n'},{'type':'uts','path':'/u'},"
                                       "{'type':'ipc'}]}}");

        assert_string_equal(ns->ns_paths[PVE_NS_NET], "/n");
        assert_null(ns->ns_paths[PVE_NS_IPC]);
        assert_string_equal(ns->ns_paths[PVE_NS_UTS], "/u");
        /* No pid entry: the host's PID namespace (hostPID). */
        assert_true(ns->host_pid);
        assert_string_equal(ns->ns_paths[PVE_NS_PID], "/proc/self/ns/pid");
        pve_params_free(ns);
        ns = map_ok("{'linux':{'namespaces':[{'type':'pid','path':'/proc/77/ns/pid'},{'type':'network'}]}}");
        assert_false(ns->host_pid);
        assert_string_equal(ns->ns_paths[PVE_NS_PID], "/proc/77/ns/pid");
        assert_string_equal(ns->ns_paths[PVE_NS_IPC], "/proc/self/ns/ipc"); /* no ipc entry: hostIPC */
        pve_params_free(ns);
        map_fails("[]", EINVAL, "config.json is not a JSON object");
        map_fails("{'linux':[]}", EINVAL, "linux: expected an object");
}

/* The OCI security fields: LXC keys for the include, the seccomp profile
 * with Proxmox's rules merged and mount allowed for pxcri-init. */
/* A privileged CT: the capabilities asked for clear Proxmox's drops,
 * devices are bound from the host with their allow rules, a CRI privileged
 * container leaves Proxmox's seccomp and AppArmor profiles. */
static void test_privileged(void **state)
{
        struct pve_map_request req = base_req;
        struct pve_params *p;

        (void) state;
        req.privileged = true;
        p = map_ok_req("{'process':{'args':['sh'],'capabilities':{'bounding':['CAP_CHOWN']}}}", &req);
        assert_null(p->lxc_security); /* nothing Proxmox drops asked for */
        pve_params_free(p);
        p = map_ok_req("{'process':{'args':['sh'],'capabilities':{'bounding':['CAP_SYS_TIME']}}}", &req);
        assert_string_equal(p->security_field, "process.capabilities");
        assert_contains(p->lxc_security, "lxc.cap.drop = \n");
        assert_null(strstr(p->lxc_security, "seccomp"));
        pve_params_free(p);
        p = map_ok_req("{'process':{'args':['sh']},'linux':{'devices':[{'path':'/dev/null','type':'c','major':1,"
                       "'minor':3}],'resources':{'devices':[{'allow':false,'access':'rwm'},"
                       "{'allow':true,'type':'c','major':1,'minor':3,'access':'rw'}]}}}",
                       &req);
        assert_string_equal(p->security_field, "linux.devices");
        assert_contains(p->lxc_security, "lxc.mount.entry = /dev/null dev/null none bind,create=file 0 0\n");
        assert_contains(p->lxc_security, "lxc.cgroup.devices.allow = c 1:3 rw\n");
        assert_contains(p->lxc_security, "lxc.cgroup2.devices.allow = c 1:3 rw\n");
        assert_null(strstr(p->lxc_security, "devices.deny"));
        pve_params_free(p);
        map_fails_req("{'process':{'args':['sh']},'linux':{'devices':[{'path':'/dev/null','type':'c','major':1,"
                      "'minor':4}]}}", &req, ENOTSUP, "the host has no c device 1:4 at /dev/null");
        p = map_ok_req("{'process':{'args':['sh']},'annotations':{'pxcri.io/privileged-container':'true'},"
                       "'linux':{'resources':{'devices':[{'allow':true,'access':'rwm'}]}}}", &req);
        assert_contains(p->lxc_security, "lxc.seccomp.profile = \n");
        assert_contains(p->lxc_security, "lxc.apparmor.profile = unconfined\n");
        assert_contains(p->lxc_security, "lxc.mount.auto = \nlxc.mount.auto = proc:rw sys:rw cgroup:rw\n");
        pve_params_free(p);
        /* The CRI's Unconfined: no filter in a privileged CT; a spec's own profile wins. */
        p = map_ok_req("{'process':{'args':['sh']},'annotations':{'pxcri.io/seccomp-unconfined':'true'}}", &req);
        assert_string_equal(p->lxc_security, "lxc.seccomp.profile = \n");
        pve_params_free(p);
        req.privileged = false;
        p = map_ok_req("{'process':{'args':['sh']},'annotations':{'pxcri.io/seccomp-unconfined':'true'}}", &req);
        assert_null(p->lxc_security); /* unprivileged: Proxmox's profile stays */
        pve_params_free(p);
        req.privileged = true;
        /* Propagation: rslave an LXC mount entry, rshared pxcri-init's
         * mount hook with a setup record; neither a Proxmox mount point. */
        req.init_path = "/usr/libexec/pxcri-init";
        req.setup_path = "/var/lib/pxcri/proxmox/c0ffee/setup";
        p = map_ok_req("{'process':{'args':['sh']},'mounts':[{'destination':'/s','type':'bind','source':'/tmp',"
                       "'options':['rbind','rslave','ro']},{'destination':'/h','type':'bind','source':'/tmp',"
                       "'options':['rbind','rshared','rw']}]}", &req);
        assert_null(pve_params_get(p, "mp1")); /* mp0: the run directory */
        assert_string_equal(p->security_field, "mounts (propagation)");
        assert_contains(p->lxc_security, "lxc.mount.entry = /tmp s none rbind,rslave,ro,create=dir 0 0\n");
        assert_contains(p->lxc_security,
                        "lxc.hook.mount = /usr/libexec/pxcri-init --lxc-setup /var/lib/pxcri/proxmox/c0ffee/setup\n");
        assert_int_equal(p->setup_len, strlen("BrS\t/tmp\t/h") + 1);
        assert_string_equal(p->setup, "BrS\t/tmp\t/h");
        pve_params_free(p);
        req.setup_path = NULL;
        map_fails_req("{'process':{'args':['sh']},'mounts':[{'destination':'/h','type':'bind','source':'/tmp',"
                      "'options':['rshared']}]}", &req, EOPNOTSUPP, "mounts[0] (/h): shared propagation needs");
        map_fails_req("{'process':{'args':['sh']},'mounts':[{'destination':'/h','type':'bind','source':'/tmp',"
                      "'options':['rshared','strictatime']}]}", &req, ENOTSUP, "\"strictatime\" is not supported");
        /* Only in a privileged CT. */
        req.privileged = false;
        map_fails_req("{'process':{'args':['sh']},'annotations':{'pxcri.io/privileged-container':'true'}}", &req, EINVAL,
                      "needs a privileged Proxmox container");
}

static void test_security(void **state)
{
        struct pve_map_request req = base_req;
        struct pve_params *p;

        (void) state;
        req.seccomp_path = "/var/lib/pxcri/proxmox/c0ffee/seccomp";
        p = map_ok("{'process':{'args':['sh']}}");
        assert_null(p->lxc_security);
        assert_null(p->seccomp);
        pve_params_free(p);
        p = map_ok_req("{'process':{'args':['sh'],'noNewPrivileges':true,'capabilities':{'bounding':['CAP_CHOWN']}},"
                       "'root':{'path':'/nonexistent'},"
                       "'mounts':[{'destination':'/run','type':'tmpfs','source':'tmpfs'}],"
                       "'linux':{'maskedPaths':['/proc/kcore'],'readonlyPaths':['/proc/sys'],"
                       "'seccomp':{'defaultAction':'SCMP_ACT_ERRNO','syscalls':[{'names':['read','keyctl'],"
                       "'action':'SCMP_ACT_ALLOW'}]}}}",
                       &req);
        assert_string_equal(p->security_field, "process.noNewPrivileges");
        assert_contains(p->lxc_security, "lxc.no_new_privs = 1\n");
        assert_contains(p->lxc_security, "lxc.mount.entry = /dev/null proc/kcore none bind,ro,optional 0 0\n");
        assert_contains(p->lxc_security, "lxc.mount.entry = proc/sys proc/sys none rbind,ro,relative,optional 0 0\n");
        assert_contains(p->lxc_security, "lxc.seccomp.profile = /var/lib/pxcri/proxmox/c0ffee/seccomp\n");
        /* An allowlist: Proxmox's keyctl rule replaces the allow; the
         * process lacks CAP_SYS_ADMIN, so mount is allowed for pxcri-init. */
        assert_contains(p->seccomp, "2\nallowlist errno 1\nread allow\n");
        assert_contains(p->seccomp, "keyctl errno 38\n");
        assert_contains(p->seccomp, "mount allow\n");
        assert_null(strstr(p->seccomp, "keyctl allow"));
        assert_null(strstr(p->seccomp, "kexec_load")); /* the allowlist's default denies it */
        pve_params_free(p);
        /* A denylist gets Proxmox's denies added. */
        p = map_ok_req("{'process':{'args':['sh']},'linux':{'seccomp':{'defaultAction':'SCMP_ACT_ALLOW'}}}", &req);
        assert_contains(p->seccomp, "2\ndenylist\n");
        assert_contains(p->seccomp, "kexec_load errno 1\n");
        pve_params_free(p);
        /* pxcri-init's mounts under a profile that denies mount: refused. */
        map_fails_req("{'process':{'args':['sh']},'mounts':[{'destination':'/run','type':'tmpfs','source':'tmpfs'}],"
                      "'linux':{'seccomp':{'defaultAction':'SCMP_ACT_ALLOW','syscalls':[{'names':['mount'],"
                      "'action':'SCMP_ACT_ERRNO'}]}}}",
                      &req, ENOTSUP, "linux.seccomp: the profile restricts mount");
}

static void test_no_id(void **state)
{
        struct pve_map_request req = base_req;
        struct pve_params *p = NULL;
        struct pxe *e = NULL;
        json_t *j = cfg("{}");

        req.id = "";
        assert_int_equal(pve_map_bundle(j, &req, &p, &e), -EINVAL);
        assert_contains(e->msg, "no container ID");
        pxe_free(e);
        json_decref(j);
}

/* ---- the API schema check ---- */

/* Named formats of the schema as POSIX EREs (tests/proxmox/pve_model.py's
 * table); pve-lxc-mp-string is Proxmox's volume or absolute host path. */
static const struct {
        const char *name, *ere;
} named_formats[] = {
        { "dns-name", "(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)\\.)*[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?" },
        { "ipv4", "([0-9]{1,3}\\.){3}[0-9]{1,3}" },
        { "pve-ipv4-config", "(dhcp|manual|([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2})" },
        { "disk-size", "[0-9]+(\\.[0-9]+)?[KMGT]?" },
        { "pve-storage-id", "[a-z][a-z0-9_.-]*[a-z0-9]" },
        { "pve-tag-list", "[a-zA-Z0-9_][a-zA-Z0-9_+.-]*([;, ][a-zA-Z0-9_][a-zA-Z0-9_+.-]*)*" },
        { "pve-lxc-mp-string", "(/[^,=]*|[a-z][a-z0-9_.-]*[a-z0-9]:[0-9]+(\\.[0-9]+)?)" },
};

/* A Perl pattern of the schema as an anchored POSIX ERE. */
static char *perl_to_ere(const char *p)
{
        char *out = calloc(1, strlen(p) * 16 + 8), *o = out;
        bool bracket = false;

        assert_non_null(out);
        o += sprintf(o, "^(");
        while (*p) {
                if (!strncmp(p, "(?^:", 4)) {
                        *o++ = '(';
                        p += 4;
                } else if (*p == '\\' && p[1]) {
                        if (p[1] == 'w')
                                o += sprintf(o, bracket ? "a-zA-Z0-9_" : "[a-zA-Z0-9_]");
                        else if (p[1] == 'd')
                                o += sprintf(o, bracket ? "0-9" : "[0-9]");
                        else if (bracket)
                                *o++ = p[1];
                        else
                                o += sprintf(o, "\\%c", p[1]);
                        p += 2;
                } else {
                        if (*p == '[' && !bracket)
                                bracket = true;
                        else if (*p == ']' && bracket)
                                bracket = false;
                        *o++ = *p++;
                }
        }
        sprintf(o, ")$");
        return out;
}

static bool ere_match(const char *ere, const char *value, bool anchored)
{
        char *full = NULL;
        regex_t re;
        bool ok;

        assert_true(asprintf(&full, anchored ? "%s" : "^(%s)$", ere) > 0);
        if (regcomp(&re, full, REG_EXTENDED | REG_NOSUB) != 0)
                fail_msg("bad pattern %s", full);
        ok = regexec(&re, value, 0, NULL, 0) == 0;
        regfree(&re);
        free(full);
        return ok;
}

static double num(const json_t *j)
{
        return json_is_string(j) ? atof(json_string_value(j)) : json_number_value(j);
}

static const char *check_format(const json_t *fmt, const char *value);

/* NULL when value is valid per spec, else the reason. */
static const char *check_scalar(const json_t *spec, const char *value)
{
        const char *type = json_string_value(json_object_get(spec, "type"));
        const json_t *en = json_object_get(spec, "enum"), *fmt = json_object_get(spec, "format"), *v;
        const char *pat = json_string_value(json_object_get(spec, "pattern"));
        size_t i;

        if (type && streq(type, "boolean"))
                return ere_match("0|1|true|false|yes|no|on|off", value, false) ? NULL : "not a boolean";
        if (type && (streq(type, "integer") || streq(type, "number"))) {
                if (!ere_match(streq(type, "integer") ? "-?[0-9]+" : "-?[0-9]+(\\.[0-9]+)?", value, false))
                        return "not a number of its type";
                if (json_object_get(spec, "minimum") && atof(value) < num(json_object_get(spec, "minimum")))
                        return "below the minimum";
                if (json_object_get(spec, "maximum") && atof(value) > num(json_object_get(spec, "maximum")))
                        return "above the maximum";
                return NULL;
        }
        if (en) {
                json_array_foreach (en, i, v)
                        if (streq(json_string_value(v), value))
                                break;
                if (i == json_array_size(en))
                        return "not in the enum";
        }
        if (json_object_get(spec, "maxLength") && strlen(value) > (size_t) num(json_object_get(spec, "maxLength")))
                return "too long";
        if (pat) {
                char *ere = perl_to_ere(pat);
                bool ok = ere_match(ere, value, true);

                free(ere);
                if (!ok)
                        return "does not match the pattern";
        }
        if (json_is_object(fmt))
                return check_format(fmt, value);
        if (json_is_string(fmt)) {
                for (i = 0; i < ARRAY_SIZE(named_formats); i++)
                        if (streq(named_formats[i].name, json_string_value(fmt)))
                                return ere_match(named_formats[i].ere, value, false) ? NULL : "does not match its format";
                return "a format this test does not know";
        }
        return NULL;
}

/* A property string "k=v,k=v" (net[n], rootfs, mp[n], features). */
static const char *check_format(const json_t *fmt, const char *value)
{
        static char why[256];
        const char *default_key = NULL, *k;
        json_t *seen = json_object(), *s;
        char *copy = strdup(value), *save = NULL;

        json_object_foreach ((json_t *) fmt, k, s)
                if (json_is_true(json_object_get(s, "default_key")) || json_integer_value(json_object_get(s, "default_key")))
                        default_key = k;
        why[0] = '\0';
        for (char *part = strtok_r(copy, ",", &save); part && !why[0]; part = strtok_r(NULL, ",", &save)) {
                char *eq = strchr(part, '=');
                const char *key = eq ? part : default_key, *val = eq ? eq + 1 : part, *r;

                if (eq)
                        *eq = '\0';
                if (!key || (!eq && json_object_get(seen, key)))
                        snprintf(why, sizeof(why), "missing key in \"%s\"", part);
                else if (!json_object_get(fmt, key))
                        snprintf(why, sizeof(why), "%s: not defined in the schema", key);
                else if (json_object_get(seen, key))
                        snprintf(why, sizeof(why), "%s: duplicate", key);
                else if ((r = check_scalar(json_object_get(fmt, key), val)))
                        snprintf(why, sizeof(why), "%s: %s", key, r);
                else
                        json_object_set_new(seen, key, json_true());
        }
        json_object_foreach ((json_t *) fmt, k, s)
                if (!why[0] && !json_object_get(s, "optional") && !json_object_get(s, "alias") && !json_object_get(seen, k))
                        snprintf(why, sizeof(why), "%s: missing", k);
        free(copy);
        json_decref(seen);
        return why[0] ? why : NULL;
}

static json_t *schema_props(void)
{
        char *src = strdup(__FILE__), *path = NULL;
        json_t *all, *e, *props = NULL;
        json_error_t je;
        size_t i;

        assert_true(asprintf(&path, "%s/../../fixtures/pve-api-lxc.json", dirname(src)) > 0);
        all = json_load_file(path, 0, &je);
        if (!all)
                fail_msg("%s: %s", path, je.text);
        json_array_foreach (all, i, e)
                if (streq(json_string_value(json_object_get(e, "path")), "/nodes/{node}/lxc"))
                        props = json_incref(json_object_get(
                                json_object_get(json_object_get(json_object_get(e, "info"), "POST"), "parameters"), "properties"));
        assert_non_null(props);
        json_decref(all);
        free(path);
        free(src);
        return props;
}

/* The reason key=value would be refused by POST /nodes/{node}/lxc, or NULL. */
static const char *schema_check(const json_t *props, const char *key, const char *value)
{
        const json_t *spec = json_object_get(props, key);
        char idx[64];
        size_t n = strcspn(key, "0123456789");

        if (!spec && n > 0 && n < 32 && key[n] && strspn(key + n, "0123456789") == strlen(key + n)) {
                snprintf(idx, sizeof(idx), "%.*s[n]", (int) n, key);
                spec = json_object_get(props, idx);
        }
        if (!spec)
                return "not a parameter of the schema";
        return check_scalar(spec, value);
}

static void test_schema_validator(void **state)
{
        json_t *props = schema_props();

        /* The check itself refuses what Proxmox refuses. */
        assert_null(schema_check(props, "net0", "name=eth0,bridge=vmbr0,ip=dhcp"));
        assert_non_null(schema_check(props, "net0", "name=eth0,bridgee=vmbr0"));
        assert_non_null(schema_check(props, "net0", "bridge=vmbr0"));
        assert_non_null(schema_check(props, "net0", "name=eth0,ip=10.0.0.1"));
        assert_non_null(schema_check(props, "memory", "8"));
        assert_non_null(schema_check(props, "cpulimit", "0.5x"));
        assert_non_null(schema_check(props, "hostname", "a_b"));
        assert_non_null(schema_check(props, "ostype", "windows"));
        assert_non_null(schema_check(props, "tags", "pxcri;bad tag!"));
        assert_non_null(schema_check(props, "mp0", "/x"));
        assert_non_null(schema_check(props, "mp0", "/x,mp=/y,mountoptions=rbind"));
        assert_non_null(schema_check(props, "rootfs", "local-lvm:8,size=x"));
        assert_non_null(schema_check(props, "features", "nesting=2"));
        assert_non_null(schema_check(props, "nosuchkey", "1"));
        json_decref(props);
}

static void check_all(const json_t *props, const struct pve_params *p)
{
        for (size_t i = 0; i < p->n_items; i++) {
                const char *why = schema_check(props, p->items[i].key, p->items[i].value);

                if (why)
                        fail_msg("%s=%s: %s", p->items[i].key, p->items[i].value, why);
        }
}

static void test_schema_full(void **state)
{
        char *dir = unit_mkdtemp(), *data = unit_path(dir, "data"), *hosts = unit_path(dir, "hosts"), *text = NULL;
        struct pve_map_request req = base_req;
        json_t *props = schema_props();
        struct pve_params *p;

        assert_int_equal(mkdir(data, 0755), 0);
        unit_write(hosts, "");
        assert_true(asprintf(&text, "{'hostname':'Web.Pod_1','root':{'path':'rootfs','readonly':true}," K8S_ANN
                                    ",'linux':{'resources':{'memory':{'limit':100000000,'swap':300000000},"
                                    "'cpu':{'quota':150000,'period':100000,'shares':512}}}}")
                    > 0);
        p = map_ok(text);
        check_all(props, p);
        pve_params_free(p);
        free(text);
        text = bind_config(dir, "");
        p = map_ok(text);
        assert_non_null(pve_params_get(p, "mp2"));
        check_all(props, p);
        pve_params_free(p);
        free(text);
        p = map_ok("{'annotations':{'pxcri.io/ip':'192.168.10.20/24','pxcri.io/gw':'192.168.10.1',"
                   "'pxcri.io/features':'nesting,fuse,keyctl,mknod','pxcri.io/rootfs-size':'64G',"
                   "'io.kubernetes.cri.sandbox-name':'\\u00e9t\\u00e9 pod','io.kubernetes.cri.container-name':'...'}}");
        assert_string_equal(pve_params_get(p, "features"), "nesting=1,fuse=1,keyctl=1,mknod=1");
        check_all(props, p);
        pve_params_free(p);
        req.privileged = true;
        req.init_dir = NULL;
        p = map_ok_req("{'linux':{'resources':{'memory':{'limit':1},'cpu':{'quota':819200000,'period':100000,'shares':262144}}}}",
                       &req);
        check_all(props, p);
        pve_params_free(p);
        json_decref(props);
        unit_rm_rf(dir);
        free(data);
        free(hosts);
        free(dir);
}

static struct pve_params *update_ok(const char *text)
{
        json_t *j = cfg(text);
        struct pve_params *p = NULL;
        struct pxe *e = NULL;

        if (pve_map_update(j, &p, &e) < 0)
                fail_msg("pve_map_update: %s", e ? e->msg : "(no message)");
        json_decref(j);
        return p;
}

static void update_fails(const char *text, const char *needle)
{
        json_t *j = cfg(text);
        struct pve_params *p = NULL;
        struct pxe *e = NULL;

        assert_int_equal(pve_map_update(j, &p, &e), -ENOTSUP);
        assert_null(p);
        assert_non_null(strstr(e->msg, needle));
        pxe_free(e);
        json_decref(j);
}

/* update names only what changes: nothing else is reset to a default. */
static void test_update(void **state)
{
        json_t *props = schema_props();
        struct pve_params *p;

        p = update_ok("{}");
        assert_int_equal(p->n_items, 0);
        pve_params_free(p);
        p = update_ok("{'cpu':{'shares':1024}}");
        assert_int_equal(p->n_items, 1);
        assert_string_equal(pve_params_get(p, "cpuunits"), "39");
        pve_params_free(p);
        p = update_ok("{'memory':{'limit':314572800,'swap':419430400},'cpu':{'quota':250000,'period':100000}}");
        assert_string_equal(pve_params_get(p, "memory"), "300");
        assert_string_equal(pve_params_get(p, "swap"), "100");
        assert_string_equal(pve_params_get(p, "cores"), "3");
        assert_string_equal(pve_params_get(p, "cpulimit"), "2.50");
        check_all(props, p);
        pve_params_free(p);
        update_fails("{'pids':{'limit':10}}", "linux.resources.pids");
        update_fails("{'memory':{'swap':419430400}}", "give memory.limit with it");
        update_fails("{'memory':{'limit':-1}}", "always has a memory limit");
        update_fails("{'memory':{'reservation':1}}", "memory.reservation");
        update_fails("{'cpu':{'cpus':'0-1'}}", "cpu.cpus");
        json_decref(props);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fixed_params_and_order),
                cmocka_unit_test(test_update),
                cmocka_unit_test(test_hostname),
                cmocka_unit_test(test_hostname_label_limits),
                cmocka_unit_test(test_memory),
                cmocka_unit_test(test_swap),
                cmocka_unit_test(test_cpu_quota),
                cmocka_unit_test(test_cpuunits),
                cmocka_unit_test(test_net),
                cmocka_unit_test(test_rootfs),
                cmocka_unit_test(test_mounts),
                cmocka_unit_test(test_mounts_errors),
                cmocka_unit_test(test_tmpfs_for_init),
                cmocka_unit_test(test_init_dir),
                cmocka_unit_test(test_unprivileged),
                cmocka_unit_test(test_privileged),
                cmocka_unit_test(test_features),
                cmocka_unit_test(test_tags_and_description),
                cmocka_unit_test(test_description_cut_keeps_utf8_whole),
                cmocka_unit_test(test_unsupported_fields),
                cmocka_unit_test(test_no_id),
                cmocka_unit_test(test_security),
                cmocka_unit_test(test_schema_validator),
                cmocka_unit_test(test_schema_full),
        };

        return unit_run(tests);
}
