/* Version, Status, RuntimeConfig, UpdateRuntimeConfig. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "net/cni.h"
#include "util/cleanup.h"

#define CRI_VERSION "0.1.0"
#define CRI_API_VERSION "v1"

CRI_HANDLER(version, Runtime__V1__VersionRequest)
{
        Runtime__V1__VersionResponse r = RUNTIME__V1__VERSION_RESPONSE__INIT;

        (void) s;
        (void) req;
        r.version = CRI_VERSION;
        r.runtime_name = "pxcri";
        r.runtime_version = CRI_VERSION;
        r.runtime_api_version = CRI_API_VERSION;
        cri_answer(c, &r.base);
}

/* The verbose "config" info: what kubelet and crictl info show. */
static char *status_info(struct cri_server *s)
{
        const struct cri_config *cc = &s->cfg->cri;
        json_t *handlers = json_object();
        char *text;
        json_t *o;

        for (size_t i = 0; i < cc->n_handlers; i++)
                json_object_set_new(handlers, cc->handlers[i].name,
                                    cc->handlers[i].backend == BACKEND_INVALID
                                            ? json_string("routing rules")
                                            : json_string(backend_id_to_name(cc->handlers[i].backend)));
        o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s?, s:o}", "source", s->cfg->source, "listen",
                      cc->listen, "state_dir", cc->state_dir, "run_dir", cc->run_dir, "cni_conf_dir", cc->cni_conf_dir,
                      "runtime_handlers", handlers, "conmon", cc->conmon_path, "pxcri", s->pxcri_path,
                      "cgroup_driver", cc->cgroup_driver == CGROUP_DRIVER_SYSTEMD ? "systemd" : "cgroupfs",
                      "pod_cidr", s->pod_cidr, "handling", cri_rpc_stats(s));
        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return text;
}

CRI_HANDLER(status, Runtime__V1__StatusRequest)
{
        const struct cri_config *cc = &s->cfg->cri;
        Runtime__V1__StatusResponse r = RUNTIME__V1__STATUS_RESPONSE__INIT;
        Runtime__V1__RuntimeStatus st = RUNTIME__V1__RUNTIME_STATUS__INIT;
        Runtime__V1__RuntimeCondition rc = RUNTIME__V1__RUNTIME_CONDITION__INIT;
        Runtime__V1__RuntimeCondition nc = RUNTIME__V1__RUNTIME_CONDITION__INIT;
        Runtime__V1__RuntimeCondition *conds[2] = { &rc, &nc };
        Runtime__V1__RuntimeHandler *hv[cc->n_handlers ? cc->n_handlers : 1];
        Runtime__V1__RuntimeHandler hs[cc->n_handlers ? cc->n_handlers : 1];
        Runtime__V1__RuntimeHandlerFeatures hf = RUNTIME__V1__RUNTIME_HANDLER_FEATURES__INIT;
        Runtime__V1__RuntimeFeatures feat = RUNTIME__V1__RUNTIME_FEATURES__INIT;
        Runtime__V1__StatusResponse__InfoEntry ie = RUNTIME__V1__STATUS_RESPONSE__INFO_ENTRY__INIT;
        Runtime__V1__StatusResponse__InfoEntry *iev[1] = { &ie };
        _cleanup_pxe_ struct pxe *e = NULL;
        _cleanup_free_ char *msg = NULL, *info = NULL;
        struct cni_net *net = NULL;

        rc.type = "RuntimeReady";
        rc.status = true;
        nc.type = "NetworkReady";
        if (cni_load(cc->cni_conf_dir, &net, &e) < 0) {
                nc.status = false;
                nc.reason = "NetworkPluginNotReady";
                msg = strdup(e->msg);
                nc.message = msg ? msg : "No CNI configuration";
        } else {
                nc.status = true;
                cni_net_free(net);
        }
        st.conditions = conds;
        st.n_conditions = 2;
        r.status = &st;
        for (size_t i = 0; i < cc->n_handlers; i++) {
                hs[i] = (Runtime__V1__RuntimeHandler) RUNTIME__V1__RUNTIME_HANDLER__INIT;
                hs[i].name = cc->handlers[i].name;
                hs[i].features = &hf;
                hv[i] = &hs[i];
        }
        r.runtime_handlers = hv;
        r.n_runtime_handlers = cc->n_handlers;
        r.features = &feat;
        if (req->verbose && (info = status_info(s))) {
                ie.key = "config";
                ie.value = info;
                r.info = iev;
                r.n_info = 1;
        }
        cri_answer(c, &r.base);
}

CRI_HANDLER(runtime_config, Runtime__V1__RuntimeConfigRequest)
{
        Runtime__V1__RuntimeConfigResponse r = RUNTIME__V1__RUNTIME_CONFIG_RESPONSE__INIT;
        Runtime__V1__LinuxRuntimeConfiguration lx = RUNTIME__V1__LINUX_RUNTIME_CONFIGURATION__INIT;

        (void) req;
        lx.cgroup_driver = s->cfg->cri.cgroup_driver == CGROUP_DRIVER_SYSTEMD ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                                                                : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
        r.linux = &lx;
        cri_answer(c, &r.base);
}

CRI_HANDLER(update_runtime_config, Runtime__V1__UpdateRuntimeConfigRequest)
{
        Runtime__V1__UpdateRuntimeConfigResponse r = RUNTIME__V1__UPDATE_RUNTIME_CONFIG_RESPONSE__INIT;
        const char *cidr = req->runtime_config && req->runtime_config->network_config
                                   ? req->runtime_config->network_config->pod_cidr
                                   : NULL;

        if (cidr && *cidr) {
                char *copy = strdup(cidr);

                if (!copy) {
                        cri_failf(c, ENOMEM, "Out of memory");
                        return;
                }
                free(s->pod_cidr);
                s->pod_cidr = copy;
        }
        cri_answer(c, &r.base);
}
