/* ContainerStatus and ListContainers: answered from memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "util/cleanup.h"

static Runtime__V1__ContainerState ctr_state(const struct cri_ctr *c)
{
        return (Runtime__V1__ContainerState) c->state;
}

static const char *image_ref_of(const struct cri_ctr *c)
{
        return c->repo_digest ? c->repo_digest : c->image_id ? c->image_id : "";
}

void cri_ctr_status_fill(const struct cri_ctr *c, Runtime__V1__ContainerStatus *st,
                         Runtime__V1__ContainerMetadata *md, Runtime__V1__ImageSpec *img)
{
        const Runtime__V1__ContainerConfig *cc = c->config;

        *md = *cc->metadata;
        img->image = c->image_name ? c->image_name : c->image_ref;
        st->id = (char *) c->id;
        st->metadata = md;
        st->state = ctr_state(c);
        st->created_at = c->created_ns;
        st->started_at = c->started_ns;
        st->finished_at = c->finished_ns;
        st->exit_code = c->exit_code;
        st->image = img;
        st->image_ref = (char *) image_ref_of(c);
        st->image_id = c->image_id ? c->image_id : "";
        st->reason = c->reason ? c->reason : "";
        st->message = c->message ? c->message : "";
        st->labels = (void *) cc->labels;
        st->n_labels = cc->n_labels;
        st->annotations = (void *) cc->annotations;
        st->n_annotations = cc->n_annotations;
        st->mounts = cc->mounts;
        st->n_mounts = cc->n_mounts;
        st->log_path = c->log_path ? c->log_path : "";
        st->stop_signal = cc->stop_signal;
}

static char *ctr_info(const struct cri_ctr *c)
{
        json_t *o = json_pack("{s:s, s:s, s:s?, s:i, s:s?, s:s?, s:s?, s:i}", "id", c->id, "backend",
                              backend_id_to_name(c->backend), "route_reason", c->route_reason, "pid", c->pid, "bundle",
                              c->bundle, "cgroupsPath", c->cgroup_path, "image", c->image_ref, "stop_signal",
                              c->stop_signal);
        char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        return text;
}

CRI_HANDLER(container_status, Runtime__V1__ContainerStatusRequest)
{
        Runtime__V1__ContainerStatusResponse r = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
        Runtime__V1__ContainerStatus st = RUNTIME__V1__CONTAINER_STATUS__INIT;
        Runtime__V1__ContainerMetadata md;
        Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ContainerResources res = RUNTIME__V1__CONTAINER_RESOURCES__INIT;
        Runtime__V1__ContainerStatusResponse__InfoEntry ie = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INFO_ENTRY__INIT;
        Runtime__V1__ContainerStatusResponse__InfoEntry *iev[1] = { &ie };
        _cleanup_free_ char *info = NULL;
        struct cri_ctr *ct = cri_ctr_find(s, req->container_id);

        if (!ct) {
                cri_failf(c, ENOENT, "Container \"%s\" not found", req->container_id);
                return;
        }
        cri_ctr_status_fill(ct, &st, &md, &img);
        if (ct->config->linux && ct->config->linux->resources) {
                res.linux = ct->config->linux->resources;
                st.resources = &res;
        }
        r.status = &st;
        if (req->verbose && (info = ctr_info(ct))) {
                ie.key = "info";
                ie.value = info;
                r.info = iev;
                r.n_info = 1;
        }
        cri_answer(c, &r.base);
}

static bool ctr_matches(const struct cri_ctr *c, const Runtime__V1__ContainerFilter *f)
{
        if (c->state == CRI_CTR_CREATING)
                return false;
        if (!f)
                return true;
        if (f->id && *f->id && strncmp(c->id, f->id, strlen(f->id)) != 0)
                return false;
        if (f->pod_sandbox_id && *f->pod_sandbox_id && strncmp(c->pod_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
                return false;
        if (f->state && (int) f->state->state != (int) c->state)
                return false;
        return cri_labels_match(CRI_KV(c->config->labels), c->config->n_labels, CRI_KV(f->label_selector),
                                f->n_label_selector);
}

CRI_HANDLER(list_containers, Runtime__V1__ListContainersRequest)
{
        Runtime__V1__ListContainersResponse r = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;
        size_t total = s->n_ctrs + 1;
        _cleanup_free_ Runtime__V1__Container *items = calloc(total, sizeof(*items));
        _cleanup_free_ Runtime__V1__ImageSpec *imgs = calloc(total, sizeof(*imgs));
        _cleanup_free_ Runtime__V1__Container **v = calloc(total, sizeof(*v));
        size_t n = 0;

        if (!items || !imgs || !v) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        for (size_t i = 0; i < s->n_ctrs; i++) {
                const struct cri_ctr *ct = s->ctrs[i];
                Runtime__V1__Container *it = &items[n];

                if (!ctr_matches(ct, req->filter))
                        continue;
                *it = (Runtime__V1__Container) RUNTIME__V1__CONTAINER__INIT;
                imgs[n] = (Runtime__V1__ImageSpec) RUNTIME__V1__IMAGE_SPEC__INIT;
                imgs[n].image = ct->image_name ? ct->image_name : ct->image_ref;
                it->id = (char *) ct->id;
                it->pod_sandbox_id = (char *) ct->pod_id;
                it->metadata = ct->config->metadata;
                it->image = &imgs[n];
                it->image_ref = (char *) image_ref_of(ct);
                it->image_id = ct->image_id ? ct->image_id : "";
                it->state = ctr_state(ct);
                it->created_at = ct->created_ns;
                it->labels = (void *) ct->config->labels;
                it->n_labels = ct->config->n_labels;
                it->annotations = (void *) ct->config->annotations;
                it->n_annotations = ct->config->n_annotations;
                v[n++] = it;
        }
        r.containers = v;
        r.n_containers = n;
        cri_answer(c, &r.base);
}
