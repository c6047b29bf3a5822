/* PodSandboxStatus and ListPodSandbox: answered from memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "util/cleanup.h"

static Runtime__V1__PodSandboxState pod_state(const struct cri_pod *p)
{
        return p->state == CRI_POD_READY ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                                         : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
}

/* net->additional_ips is one allocation for the caller to free. */
void cri_pod_status_fill(struct cri_server *s, const struct cri_pod *p, Runtime__V1__PodSandboxStatus *st,
                         Runtime__V1__PodSandboxMetadata *md, Runtime__V1__PodSandboxNetworkStatus *net,
                         Runtime__V1__NamespaceOption *nso, Runtime__V1__LinuxPodSandboxStatus *lx,
                         Runtime__V1__Namespace *ns)
{
        const Runtime__V1__PodSandboxConfig *cfg = p->config;
        const Runtime__V1__NamespaceOption *opts = cfg->linux && cfg->linux->security_context
                                                           ? cfg->linux->security_context->namespace_options
                                                           : NULL;

        (void) s;
        *md = *cfg->metadata;
        st->id = (char *) p->id;
        st->metadata = md;
        st->state = pod_state(p);
        st->created_at = p->created_ns;
        st->labels = (void *) cfg->labels;
        st->n_labels = cfg->n_labels;
        st->annotations = (void *) cfg->annotations;
        st->n_annotations = cfg->n_annotations;
        st->runtime_handler = p->handler ? p->handler : "";
        if (opts)
                *nso = *opts;
        ns->options = nso;
        lx->namespaces = ns;
        st->linux = lx;
        /* A pod on the host network has no IPs of its own to report; a
         * stopped pod has given its IPs back. */
        if (p->state == CRI_POD_READY && p->n_ips) {
                size_t extra = p->n_ips - 1;
                void *block = extra ? calloc(extra, sizeof(Runtime__V1__PodIP *) + sizeof(Runtime__V1__PodIP)) : NULL;

                net->ip = p->ips[0];
                if (block) {
                        Runtime__V1__PodIP **v = block;
                        Runtime__V1__PodIP *ips = (Runtime__V1__PodIP *) (v + extra);

                        for (size_t i = 0; i < extra; i++) {
                                ips[i] = (Runtime__V1__PodIP) RUNTIME__V1__POD_IP__INIT;
                                ips[i].ip = p->ips[i + 1];
                                v[i] = &ips[i];
                        }
                        net->additional_ips = v;
                        net->n_additional_ips = extra;
                }
                st->network = net;
        }
}

static char *pod_info(const struct cri_pod *p)
{
        json_t *ips = json_array();
        char *text;
        json_t *o;

        for (size_t i = 0; i < p->n_ips; i++)
                json_array_append_new(ips, json_string(p->ips[i]));
        o = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:b, s:s?}", "id", p->id, "netns", p->ns.net, "ipcns",
                      p->ns.ipc, "utsns", p->ns.uts, "shm", p->shm_path, "dir", p->dir, "ips", ips, "network_ready",
                      p->network_ready, "cni_result", p->cni_result);
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return text;
}

CRI_HANDLER(pod_sandbox_status, Runtime__V1__PodSandboxStatusRequest)
{
        Runtime__V1__PodSandboxStatusResponse r = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INIT;
        Runtime__V1__PodSandboxStatus st = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
        Runtime__V1__PodSandboxMetadata md;
        Runtime__V1__PodSandboxNetworkStatus net = RUNTIME__V1__POD_SANDBOX_NETWORK_STATUS__INIT;
        Runtime__V1__NamespaceOption nso = RUNTIME__V1__NAMESPACE_OPTION__INIT;
        Runtime__V1__LinuxPodSandboxStatus lx = RUNTIME__V1__LINUX_POD_SANDBOX_STATUS__INIT;
        Runtime__V1__Namespace ns = RUNTIME__V1__NAMESPACE__INIT;
        Runtime__V1__PodSandboxStatusResponse__InfoEntry ie = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INFO_ENTRY__INIT;
        Runtime__V1__PodSandboxStatusResponse__InfoEntry *iev[1] = { &ie };
        _cleanup_free_ char *info = NULL;
        struct cri_pod *p = cri_pod_find(s, req->pod_sandbox_id);

        if (!p) {
                cri_failf(c, ENOENT, "Pod sandbox \"%s\" not found", req->pod_sandbox_id);
                return;
        }
        cri_pod_status_fill(s, p, &st, &md, &net, &nso, &lx, &ns);
        r.status = &st;
        r.timestamp = cri_now_ns();
        if (req->verbose && (info = pod_info(p))) {
                ie.key = "info";
                ie.value = info;
                r.info = iev;
                r.n_info = 1;
        }
        cri_answer(c, &r.base);
        free(net.additional_ips);
}

static bool pod_matches(const struct cri_pod *p, const Runtime__V1__PodSandboxFilter *f)
{
        if (p->state == CRI_POD_CREATING)
                return false;
        if (!f)
                return true;
        if (f->id && *f->id && strncmp(p->id, f->id, strlen(f->id)) != 0)
                return false;
        if (f->state && (int) f->state->state != (int) pod_state(p))
                return false;
        return cri_labels_match(CRI_KV(p->config->labels), p->config->n_labels, CRI_KV(f->label_selector),
                                f->n_label_selector);
}

CRI_HANDLER(list_pod_sandbox, Runtime__V1__ListPodSandboxRequest)
{
        Runtime__V1__ListPodSandboxResponse r = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
        _cleanup_free_ Runtime__V1__PodSandbox *items = calloc(s->n_pods + 1, sizeof(*items));
        _cleanup_free_ Runtime__V1__PodSandbox **v = calloc(s->n_pods + 1, sizeof(*v));
        size_t n = 0;

        if (!items || !v) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        for (size_t i = 0; i < s->n_pods; i++) {
                const struct cri_pod *p = s->pods[i];
                Runtime__V1__PodSandbox *it = &items[n];

                if (!pod_matches(p, req->filter))
                        continue;
                *it = (Runtime__V1__PodSandbox) RUNTIME__V1__POD_SANDBOX__INIT;
                it->id = (char *) p->id;
                it->metadata = p->config->metadata;
                it->state = pod_state(p);
                it->created_at = p->created_ns;
                it->labels = (void *) p->config->labels;
                it->n_labels = p->config->n_labels;
                it->annotations = (void *) p->config->annotations;
                it->n_annotations = p->config->n_annotations;
                it->runtime_handler = p->handler ? p->handler : "";
                v[n++] = it;
        }
        r.items = v;
        r.n_items = n;
        cri_answer(c, &r.base);
}
