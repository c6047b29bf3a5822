/* StartContainer: `pxcri create` under conmon (the bundle was made by
 * CreateContainer), then `pxcri start`. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cri/cri.h"
#include "util/cleanup.h"
#include "util/log.h"

struct start_job {
        struct cri_job job;
        struct cri_ctr *ctr; /* busy */
        char id[65];
        int64_t started_ns;  /* just before `pxcri start`: never after the exit */
        bool created;        /* runtime_create() ran */
        int pid;
        int vmid;            /* Proxmox: the CT `pxcri state` names */
};

/* conmon runs `pxcri create`, holds the container's stdio and writes its log. */
static int runtime_create(struct cri_server *s, struct start_job *sj, struct pxe **err)
{
        struct cri_ctr *c = sj->ctr; /* busy: nothing changes it meanwhile */
        const Runtime__V1__ContainerConfig *cc = c->config;
        struct monitor_created created = {};
        _cleanup_free_ char *bundle_log = NULL;

        /* conmon always writes a log: without a path from kubelet, into the bundle. */
        if (!c->log_path && asprintf(&bundle_log, "%s/container.log", c->bundle) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (c->log_path && cri_ctr_log_dir_ready(c->log_path, err) < 0)
                return pxe_wrap(err, "Creating container %s (%s)", cc->metadata->name, c->id);
        struct monitor_create_request mr = {
                .id = c->id,
                .name = cc->metadata->name,
                .bundle = c->bundle,
                .log_path = c->log_path ? c->log_path : bundle_log,
                .terminal = cc->tty,
                .stdin = cc->stdin,
                .stdin_once = cc->stdin_once,
        };
        if (monitor_create(&s->mon, &mr, &created, err) < 0)
                return pxe_wrap(err, "Creating container %s (%s) on %s", cc->metadata->name, c->id,
                                backend_id_to_name(c->backend));
        sj->pid = created.pid;
        sj->created = true;
        return 0;
}

/* A Proxmox container's CT number, from `pxcri state`'s annotation: its
 * stats are read from the CT's cgroup, which Proxmox names (/lxc/<vmid>),
 * not from the bundle's cgroupsPath.  Unknown stays 0 (no cpu and memory). */
static int proxmox_vmid(struct cri_server *s, const char *id)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        json_t *st = NULL;
        json_int_t vmid = 0;

        if (monitor_state(&s->mon, id, &st, &e) < 0) {
                log_warn("Container %s: no Proxmox CT number for its stats: %s", id, e->msg);
                return 0;
        }
        vmid = json_integer_value(json_object_get(json_object_get(st, "annotations"), "pxcri.io/proxmox-vmid"));
        json_decref(st);
        return vmid > 0 && vmid < INT32_MAX ? (int) vmid : 0;
}

static void start_work(struct cri_job *j)
{
        struct start_job *sj = (struct start_job *) j;

        if (!sj->ctr->in_runtime && runtime_create(j->srv, sj, &j->err) < 0)
                return;
        sj->started_ns = cri_now_ns();
        if (monitor_start(&j->srv->mon, sj->id, &j->err) < 0) {
                pxe_wrap(&j->err, "Starting container %s", sj->id);
                return;
        }
        if (sj->ctr->backend == BACKEND_PROXMOX)
                sj->vmid = proxmox_vmid(j->srv, sj->id);
}

static void start_done(struct cri_job *j)
{
        struct start_job *sj = (struct start_job *) j;
        struct cri_ctr *c = sj->ctr;
        Runtime__V1__StartContainerResponse r = RUNTIME__V1__START_CONTAINER_RESPONSE__INIT;
        struct monitor_exit ex = {};

        c->busy = false;
        if (sj->created) {
                c->in_runtime = true;
                c->pid = sj->pid;
        }
        if (j->err) {
                if (sj->created)
                        cri_ctr_save(j->srv, c);
                /* A process that could not start: conmon records an exit (127, 126...). */
                if (monitor_read_exit(&j->srv->mon, c->id, &ex, NULL) == 0)
                        cri_ctr_apply_exit(j->srv, c, &ex);
                if (c->stopped_event_pending) {
                        c->stopped_event_pending = false;
                        cri_events_emit(j->srv, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
                }
                cri_fail(j->call, TAKE_PTR(j->err));
                free(sj);
                return;
        }
        /* The exit may have been applied already (a short command): started
         * is when we started it, which is before it could finish. */
        c->started_ns = sj->started_ns;
        /* The exit file's mtime comes from the kernel's coarse clock, a tick
         * behind the fine one: never report an exit before the start. */
        if (c->state == CRI_CTR_EXITED && c->finished_ns < c->started_ns)
                c->finished_ns = c->started_ns;
        if (c->state == CRI_CTR_CREATED) /* an exit may already have been applied */
                c->state = CRI_CTR_RUNNING;
        if (sj->vmid)
                c->proxmox_vmid = sj->vmid;
        cri_ctr_save(j->srv, c);
        cri_events_emit(j->srv, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
        if (c->stopped_event_pending) {
                c->stopped_event_pending = false;
                cri_events_emit(j->srv, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
        }
        cri_answer(j->call, &r.base);
        free(sj);
}

CRI_HANDLER(start_container, Runtime__V1__StartContainerRequest)
{
        struct cri_ctr *ct = cri_ctr_find(s, req->container_id);
        struct start_job *sj;

        if (!ct) {
                cri_failf(c, ENOENT, "Container \"%s\" not found", req->container_id);
                return;
        }
        if (ct->busy) {
                cri_failf(c, EAGAIN, "Container %s: another operation is in progress; try again", ct->id);
                return;
        }
        if (ct->state != CRI_CTR_CREATED) {
                cri_failf(c, EBUSY, "Container %s is %s, not created: it cannot be started", ct->id,
                          ct->state == CRI_CTR_RUNNING ? "running" : ct->state == CRI_CTR_EXITED ? "exited" : "unknown");
                return;
        }
        sj = calloc(1, sizeof(*sj));
        if (!sj) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        ct->busy = true;
        sj->ctr = ct;
        memcpy(sj->id, ct->id, sizeof(sj->id));
        sj->job.call = c;
        sj->job.run = start_work;
        sj->job.done = start_done;
        cri_queue(s, &sj->job);
}
