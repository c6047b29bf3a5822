/* UpdateContainerResources (`pxcri update --resources -`) and
 * ReopenContainerLog (conmon reopens the file kubelet rotated). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/proxmox/map.h"
#include "cri/cri.h"
#include "cri/spec/container_spec.h"
#include "util/cleanup.h"
#include "util/fs.h"

struct update_job {
        struct cri_job job;
        struct cri_ctr *ctr; /* busy */
        char id[65];
        char *bundle;
        char *log_path;  /* reopen: the file conmon makes again */
        bool in_runtime;
        char *resources; /* OCI linux.resources JSON; NULL: reopen the log */
        Runtime__V1__LinuxContainerResources *linux; /* copy, applied to the config on success */
};

/* Not created in the runtime yet (StartContainer does it): the new
 * resources go into the bundle's config.json. */
static int update_bundle(struct update_job *uj, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *spec, *res, *add = json_loads(uj->resources, 0, NULL);
        const char *k;
        json_t *v;
        int r;

        if (asprintf(&path, "%s/config.json", uj->bundle) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        spec = json_load_file(path, 0, NULL);
        if (!json_is_object(spec) || !json_is_object(add)) {
                json_decref(spec);
                json_decref(add);
                return pxe_set(err, EIO, "Updating the resources of container %s: reading %s", uj->id, path);
        }
        res = json_object_get(json_object_get(spec, "linux"), "resources");
        if (!json_is_object(res)) {
                res = json_object();
                json_object_set_new(json_object_get(spec, "linux"), "resources", res);
        }
        json_object_foreach(add, k, v)
                json_object_set(res, k, v);
        text = json_dumps(spec, JSON_INDENT(2));
        json_decref(spec);
        json_decref(add);
        if (!text)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = fs_write_atomic(path, text, strlen(text), 0644, err);
        return r < 0 ? pxe_wrap(err, "Updating the resources of container %s", uj->id) : 0;
}

static void update_work(struct cri_job *j)
{
        struct update_job *uj = (struct update_job *) j;

        if (uj->resources && !uj->in_runtime) {
                update_bundle(uj, &j->err);
        } else if (uj->resources) {
                if (monitor_update(&j->srv->mon, uj->id, uj->resources, &j->err) < 0)
                        pxe_wrap(&j->err, "Updating the resources of container %s", uj->id);
        } else if (monitor_reopen_log(&j->srv->mon, uj->bundle, &j->err) < 0) {
                pxe_wrap(&j->err, "Reopening the log of container %s", uj->id);
        } else if (uj->log_path) {
                /* conmon reopens asynchronously: answer once the new file is there,
                 * as kubelet's rotation expects. */
                for (int i = 0; i < 500 && access(uj->log_path, F_OK) < 0; i++)
                        usleep(10000);
        }
}

static void update_done(struct cri_job *j)
{
        struct update_job *uj = (struct update_job *) j;
        struct cri_ctr *c = uj->ctr;
        Runtime__V1__UpdateContainerResourcesResponse ur = RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;
        Runtime__V1__ReopenContainerLogResponse rr = RUNTIME__V1__REOPEN_CONTAINER_LOG_RESPONSE__INIT;

        c->busy = false;
        if (j->err) {
                cri_fail(j->call, TAKE_PTR(j->err));
        } else if (uj->resources) {
                /* ContainerStatus reports the resources in force. */
                if (!c->config->linux && (c->config->linux = malloc(sizeof(*c->config->linux))))
                        runtime__v1__linux_container_config__init(c->config->linux);
                if (c->config->linux) {
                        if (c->config->linux->resources)
                                protobuf_c_message_free_unpacked(&c->config->linux->resources->base, NULL);
                        c->config->linux->resources = TAKE_PTR(uj->linux);
                        cri_ctr_save(j->srv, c);
                }
                cri_answer(j->call, &ur.base);
        } else {
                cri_answer(j->call, &rr.base);
        }
        if (uj->linux)
                protobuf_c_message_free_unpacked(&uj->linux->base, NULL);
        free(uj->resources);
        free(uj->bundle);
        free(uj->log_path);
        free(uj);
}

static void update_queue(struct cri_server *s, struct cri_call *c, struct cri_ctr *ct, struct update_job *uj)
{
        ct->busy = true;
        uj->ctr = ct;
        uj->in_runtime = ct->in_runtime;
        memcpy(uj->id, ct->id, sizeof(uj->id));
        uj->job.call = c;
        uj->job.run = update_work;
        uj->job.done = update_done;
        cri_queue(s, &uj->job);
}

/* A Proxmox container's limits are its Proxmox config: what that cannot
 * hold is refused here naming the field (FAILED_PRECONDITION, as at
 * CreateContainer), not by `pxcri update` as an INTERNAL error. */
static int proxmox_check(const struct cri_ctr *ct, const json_t *res, struct pxe **err)
{
        struct pve_params *p = NULL;

        if (pve_map_update(res, &p, err) < 0) {
                if ((*err)->code == ENOTSUP)
                        (*err)->code = EBUSY;
                return pxe_wrap(err, "UpdateContainerResources: container %s on Proxmox", ct->id);
        }
        pve_params_free(p);
        return 0;
}

static struct cri_ctr *find_idle(struct cri_server *s, struct cri_call *c, const char *id)
{
        struct cri_ctr *ct = cri_ctr_find(s, id);

        if (!ct)
                cri_failf(c, ENOENT, "Container \"%s\" not found", id);
        else if (ct->busy)
                cri_failf(c, EAGAIN, "Container %s: another operation is in progress; try again", ct->id);
        return ct && !ct->busy ? ct : NULL;
}

CRI_HANDLER(update_container_resources, Runtime__V1__UpdateContainerResourcesRequest)
{
        struct cri_ctr *ct = find_idle(s, c, req->container_id);
        struct update_job *uj;
        struct pxe *err = NULL;
        json_t *res;

        if (!ct)
                return;
        if (!req->linux) {
                cri_failf(c, EINVAL, "UpdateContainerResources: linux resources are required");
                return;
        }
        if (ct->state == CRI_CTR_EXITED) {
                cri_failf(c, EBUSY, "Container %s has exited: its resources cannot be updated", ct->id);
                return;
        }
        if (cri_spec_check_resources(req->linux, &err) < 0) {
                cri_fail(c, err);
                return;
        }
        uj = calloc(1, sizeof(*uj));
        res = cri_spec_resources(req->linux, s->min_oom_score_adj);
        if (res && ct->backend == BACKEND_PROXMOX && proxmox_check(ct, res, &err) < 0) {
                json_decref(res);
                free(uj);
                cri_fail(c, err);
                return;
        }
        if (uj && res)
                uj->resources = json_dumps(res, JSON_COMPACT);
        json_decref(res);
        if (uj) {
                uj->linux = cri_msg_dup(&req->linux->base);
                uj->bundle = strdup(ct->bundle);
        }
        if (!uj || !uj->resources || !uj->linux || !uj->bundle) {
                if (uj) {
                        free(uj->resources);
                        free(uj->bundle);
                        if (uj->linux)
                                protobuf_c_message_free_unpacked(&uj->linux->base, NULL);
                }
                free(uj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        update_queue(s, c, ct, uj);
}

CRI_HANDLER(reopen_container_log, Runtime__V1__ReopenContainerLogRequest)
{
        struct cri_ctr *ct = find_idle(s, c, req->container_id);
        struct update_job *uj;

        if (!ct)
                return;
        if (ct->state != CRI_CTR_RUNNING) {
                cri_failf(c, EBUSY, "Container %s is not running: its log cannot be reopened", ct->id);
                return;
        }
        uj = calloc(1, sizeof(*uj));
        if (!uj || !(uj->bundle = strdup(ct->bundle)) || (ct->log_path && !(uj->log_path = strdup(ct->log_path)))) {
                if (uj)
                        free(uj->bundle);
                free(uj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        update_queue(s, c, ct, uj);
}
