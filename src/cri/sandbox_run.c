/* RunPodSandbox: the pod's files, pinned namespaces (no pause process), CNI.
 * A failure at any step undoes the steps before it: nothing is listed and
 * nothing is left (mounts, namespaces, veths, IPs). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cri/sandbox.h"
#include "cri/spec/container_spec.h"
#include "net/cni.h"
#include "net/pidns.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

struct run_job {
        struct cri_job job;
        struct cri_pod *pod; /* CREATING: the worker fills dir/ns/ips, nobody else touches it */
        struct pod_modes modes;
        char *pod_cidr;
};

static int cni_request_of(struct cri_pod *p, const char *pod_cidr, struct cni_request *r,
                          struct cni_port_mapping **ret_ports)
{
        const Runtime__V1__PodSandboxConfig *cfg = p->config;
        struct cni_port_mapping *ports = calloc(cfg->n_port_mappings + 1, sizeof(*ports));
        size_t n = 0;

        if (!ports)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_port_mappings; i++) {
                const Runtime__V1__PortMapping *m = cfg->port_mappings[i];

                if (m->host_port <= 0)
                        continue;
                ports[n++] = (struct cni_port_mapping) {
                        .host_port = m->host_port,
                        .container_port = m->container_port,
                        .protocol = m->protocol == RUNTIME__V1__PROTOCOL__UDP    ? "udp"
                                    : m->protocol == RUNTIME__V1__PROTOCOL__SCTP ? "sctp"
                                                                                  : "tcp",
                        .host_ip = m->host_ip,
                };
        }
        *r = (struct cni_request) {
                .container_id = p->id,
                .netns = p->ns.net,
                .ifname = "eth0",
                .pod_name = cfg->metadata->name,
                .pod_namespace = cfg->metadata->namespace_,
                .pod_uid = cfg->metadata->uid,
                .ports = ports,
                .n_ports = n,
                .pod_cidr = pod_cidr,
        };
        *ret_ports = ports;
        return 0;
}

/* CNI ADD into the pinned network namespace. */
static int pod_network_up(struct cri_server *s, struct cri_pod *p, const char *pod_cidr, struct pxe **err)
{
        const struct cri_config *cc = &s->cfg->cri;
        _cleanup_free_ struct cni_port_mapping *ports = NULL;
        struct cni_result res = {};
        struct cni_request r;
        struct cni_net *net = NULL;
        int rc;

        if (cni_load(cc->cni_conf_dir, &net, err) < 0)
                return pxe_wrap(err, "Pod network is not ready");
        if (cni_request_of(p, pod_cidr, &r, &ports) < 0) {
                cni_net_free(net);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        r.timeout_s = cc->cni_plugin_timeout_s;
        rc = cni_add(net, (const char *const *) cc->cni_bin_dirs, cc->n_cni_bin_dirs, &r, &res, err);
        cni_net_free(net);
        if (rc < 0)
                return pxe_wrap(err, "Setting up the network of pod %s", p->id);
        p->ips = TAKE_PTR(res.ips);
        p->n_ips = res.n_ips;
        res.n_ips = 0;
        p->cni_result = TAKE_PTR(res.json);
        p->network_ready = true;
        cni_result_done(&res);
        return 0;
}

/* CNI DEL (worker); errors are reported, the pod is torn down regardless. */
int cri_pod_network_down(struct cri_server *s, struct cri_pod *p, struct pxe **err)
{
        const struct cri_config *cc = &s->cfg->cri;
        _cleanup_free_ struct cni_port_mapping *ports = NULL;
        struct cni_request r;
        struct cni_net *net = NULL;
        int rc;

        if (!p->network_ready || !p->ns.net)
                return 0;
        if (cni_load(cc->cni_conf_dir, &net, err) < 0)
                return pxe_wrap(err, "Tearing down the network of pod %s", p->id);
        if (cni_request_of(p, s->pod_cidr, &r, &ports) < 0) {
                cni_net_free(net);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        r.timeout_s = cc->cni_plugin_timeout_s;
        rc = cni_del(net, (const char *const *) cc->cni_bin_dirs, cc->n_cni_bin_dirs, &r, p->cni_result, err);
        cni_net_free(net);
        if (rc < 0)
                return pxe_wrap(err, "Tearing down the network of pod %s", p->id);
        p->network_ready = false;
        return 0;
}

static int pin_namespaces(struct cri_pod *p, const struct pod_modes *m, const char *hostname, bool low_ports,
                          struct pxe **err)
{
        const Runtime__V1__LinuxPodSandboxConfig *lx = p->config->linux;
        size_t n = lx ? lx->n_sysctls : 0, k = 0;
        _cleanup_free_ struct netns_sysctl *sysctls = calloc(n + 1, sizeof(*sysctls));
        struct netns_pin_request req = {
                .dir = p->ns_dir,
                .kinds = (m->host_network ? 0 : NETNS_NET | NETNS_UTS) | (m->host_ipc ? 0 : NETNS_IPC),
                .hostname = m->host_network ? NULL : hostname,
                .sysctls = sysctls,
        };

        if (!sysctls)
                return pxe_set(err, ENOMEM, "Out of memory");
        /* cri.enable_unprivileged_ports (containerd 2's default): any user
         * may bind low ports in the pod -- also root of an unprivileged
         * Proxmox container, whose user namespace does not own the pod's
         * network namespace.  The pod's own sysctls come after and win. */
        if (low_ports && !m->host_network)
                sysctls[k++] = (struct netns_sysctl) { "net.ipv4.ip_unprivileged_port_start", "0" };
        for (size_t i = 0; i < n; i++)
                sysctls[k++] = (struct netns_sysctl) { lx->sysctls[i]->key, lx->sysctls[i]->value };
        req.n_sysctls = k;
        if (!req.kinds)
                return 0;
        return netns_pin(&req, &p->ns, err);
}

static void run_work(struct cri_job *j)
{
        struct run_job *rj = (struct run_job *) j;
        struct cri_pod *p = rj->pod;
        struct cri_server *s = j->srv;
        const char *log_dir = p->config->log_directory;
        _cleanup_free_ char *hostname = NULL;
        int64_t t0 = cri_now_ns(), t1, t2;

        if (fs_mkdir_p(p->dir, 0711, &j->err) < 0)
                goto fail;
        if (log_dir && *log_dir && fs_mkdir_p(log_dir, 0755, &j->err) < 0) {
                pxe_wrap(&j->err, "Pod %s/%s: log_directory", p->config->metadata->namespace_,
                         p->config->metadata->name);
                goto fail;
        }
        if (cri_pod_files_write(p->dir, p->config, &rj->modes, &hostname, &p->shm_path, &j->err) < 0)
                goto fail;
        t1 = cri_now_ns();
        if (pin_namespaces(p, &rj->modes, hostname, s->cfg->cri.enable_unprivileged_ports, &j->err) < 0)
                goto fail;
        t2 = cri_now_ns();
        if (!rj->modes.host_network && pod_network_up(s, p, rj->pod_cidr, &j->err) < 0)
                goto fail;
        log_debug("Pod %s: files %.1f ms, namespaces %.1f ms, CNI %.1f ms", p->id, (double) (t1 - t0) / 1e6,
                  (double) (t2 - t1) / 1e6, (double) (cri_now_ns() - t2) / 1e6);
        if (rj->modes.shared_pid && !rj->modes.host_pid) {
                pid_t infra;

                if (pidns_infra_start(&infra, &j->err) < 0 || asprintf(&p->pidns_path, "/proc/%d/ns/pid", infra) < 0)
                        goto fail_network;
                p->infra_pid = infra;
        }
        return;
fail_network:
        cri_pod_network_down(s, p, NULL);
fail:
        netns_unpin(p->ns_dir, NULL);
        netns_paths_done(&p->ns);
        cri_pod_dir_remove(p->dir);
}

static void run_done(struct cri_job *j)
{
        struct run_job *rj = (struct run_job *) j;
        struct cri_pod *p = rj->pod;
        Runtime__V1__RunPodSandboxResponse r = RUNTIME__V1__RUN_POD_SANDBOX_RESPONSE__INIT;

        if (j->err) {
                cri_pod_drop(j->srv, p);
                cri_fail(j->call, TAKE_PTR(j->err));
        } else if (cri_call_cancelled(j->call)) {
                /* Nobody will learn of this pod (deadline passed, client gone): undo it. */
                p->state = CRI_POD_READY;
                cri_pod_queue_teardown(j->srv, NULL, p, true);
                cri_failf(j->call, ECANCELED, "RunPodSandbox was cancelled");
        } else {
                p->state = CRI_POD_READY;
                cri_pod_save(j->srv, p);
                r.pod_sandbox_id = p->id;
                cri_answer(j->call, &r.base);
        }
        free(rj->pod_cidr);
        free(rj);
}

static int validate(struct cri_server *s, const Runtime__V1__RunPodSandboxRequest *req, struct pxe **err)
{
        const Runtime__V1__PodSandboxConfig *cfg = req->config;
        const Runtime__V1__PodSandboxMetadata *md = cfg ? cfg->metadata : NULL;

        if (cri_spec_validate_pod(cfg, err) < 0)
                return -EINVAL;
        if (!cri_config_handler(&s->cfg->cri, req->runtime_handler))
                return pxe_set(err, EINVAL, "RunPodSandbox: runtime_handler \"%s\" is not configured (cri.runtime_handlers)",
                               req->runtime_handler);
        for (size_t i = 0; i < s->n_pods; i++) {
                const Runtime__V1__PodSandboxMetadata *o = s->pods[i]->config->metadata;

                if (strcmp(o->name, md->name) == 0 && strcmp(o->namespace_, md->namespace_) == 0 &&
                    strcmp(o->uid, md->uid) == 0 && o->attempt == md->attempt)
                        return pxe_set(err, EEXIST, "Pod %s/%s (uid %s, attempt %u) already exists: %s",
                                       md->namespace_, md->name, md->uid, md->attempt, s->pods[i]->id);
        }
        return 0;
}

CRI_HANDLER(run_pod_sandbox, Runtime__V1__RunPodSandboxRequest)
{
        struct pxe *e = NULL;
        struct run_job *rj;
        struct cri_pod *p;

        if (validate(s, req, &e) < 0) {
                cri_fail(c, e);
                return;
        }
        rj = calloc(1, sizeof(*rj));
        p = calloc(1, sizeof(*p));
        if (rj && p && !(p->config = cri_msg_dup(&req->config->base))) {
                cri_pod_free(p);
                free(rj);
                cri_failf(c, EINVAL, "RunPodSandbox: config cannot be kept (it does not survive re-encoding)");
                return;
        }
        if (!rj || !p || cri_new_id(p->id, &e) < 0 ||
            !(p->handler = strdup(req->runtime_handler)) || asprintf(&p->dir, "%s/%s", s->pod_dir, p->id) < 0 ||
            asprintf(&p->ns_dir, "%s/%s", s->ns_dir, p->id) < 0 || (s->pod_cidr && !(rj->pod_cidr = strdup(s->pod_cidr))) ||
            cri_pod_add(s, p) < 0) {
                cri_pod_free(p);
                free(rj);
                cri_fail(c, e ? e : (pxe_set(&e, ENOMEM, "Out of memory"), e));
                return;
        }
        p->state = CRI_POD_CREATING;
        p->created_ns = cri_now_ns();
        cri_pod_modes(p->config, &rj->modes);
        rj->pod = p;
        rj->job.call = c;
        rj->job.run = run_work;
        rj->job.done = run_done;
        cri_queue(s, &rj->job);
}
