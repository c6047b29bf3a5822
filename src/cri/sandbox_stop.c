/* StopPodSandbox and RemovePodSandbox: stop every container of the pod
 * (killed at once, as containerd does), CNI DEL, unpin the namespaces;
 * removal also deletes the containers and the pod's files.  Both are
 * idempotent and work on a pod that is half torn down. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "cri/sandbox.h"
#include "image/layers.h"
#include "net/pidns.h"
#include "util/cleanup.h"
#include "util/log.h"

struct pod_job {
        struct cri_job job;
        struct cri_pod *pod;    /* busy */
        struct cri_ctr **ctrs;  /* the pod's containers, busy */
        size_t n_ctrs;
        char **ids;             /* copies for the worker */
        char **bundles;
        bool *in_runtime;
        struct monitor_exit *exits; /* a removal's, read before their files went; code -1: none */
        bool remove;
};

static void stop_containers(struct cri_server *s, struct pod_job *pj)
{
        for (size_t i = 0; i < pj->n_ctrs; i++) {
                _cleanup_pxe_ struct pxe *e = NULL;

                if (pj->in_runtime[i] && monitor_stop(&s->mon, pj->ids[i], SIGKILL, 0, NULL, &e) < 0 && e->code != ENOENT)
                        log_warn("Stopping container %s of pod %s: %s", pj->ids[i], pj->pod->id, e->msg);
        }
}

static void pod_work(struct cri_job *j)
{
        struct pod_job *pj = (struct pod_job *) j;
        struct cri_server *s = j->srv;
        struct cri_pod *p = pj->pod;

        stop_containers(s, pj);
        if (p->infra_pid > 0)
                pidns_infra_stop(p->infra_pid);
        if (cri_pod_network_down(s, p, &j->err) < 0)
                return; /* namespaces kept: a retried stop DELs again */
        if (netns_unpin(p->ns_dir, &j->err) < 0)
                return;
        if (p->shm_path && strcmp(p->shm_path, "/dev/shm") != 0)
                umount2(p->shm_path, MNT_DETACH | UMOUNT_NOFOLLOW);
        if (!pj->remove)
                return;
        for (size_t i = 0; i < pj->n_ctrs; i++)
                if (cri_ctr_teardown(s, pj->ids[i], pj->bundles[i], pj->in_runtime[i], &pj->exits[i], &j->err) < 0)
                        return;
        cri_pod_dir_remove(p->dir);
        /* The logs of a pod without a log directory of its own were ours to keep. */
        if (!p->config->log_directory || !*p->config->log_directory) {
                _cleanup_free_ char *logs = NULL;

                if (asprintf(&logs, "%s/%s", s->cfg->cri.log_dir, p->id) >= 0)
                        layers_rm_tree(logs, NULL);
        }
}

static void pod_job_free(struct pod_job *pj)
{
        for (size_t i = 0; i < pj->n_ctrs; i++) {
                free(pj->ids[i]);
                free(pj->bundles[i]);
        }
        free(pj->ids);
        free(pj->bundles);
        free(pj->in_runtime);
        free(pj->exits);
        free(pj->ctrs);
        free(pj);
}

static void pod_done(struct cri_job *j)
{
        struct pod_job *pj = (struct pod_job *) j;
        struct cri_server *s = j->srv;
        struct cri_pod *p = pj->pod;
        Runtime__V1__StopPodSandboxResponse sr = RUNTIME__V1__STOP_POD_SANDBOX_RESPONSE__INIT;
        Runtime__V1__RemovePodSandboxResponse rr = RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;

        for (size_t i = 0; i < pj->n_ctrs; i++) {
                struct cri_ctr *c = pj->ctrs[i];
                struct monitor_exit ex = pj->exits[i];

                c->busy = false;
                if (c->state != CRI_CTR_EXITED && (ex.code >= 0 || monitor_read_exit(&s->mon, c->id, &ex, NULL) == 0))
                        cri_ctr_apply_exit(s, c, &ex);
                else if (c->state != CRI_CTR_EXITED && c->in_runtime && !j->err) {
                        /* Gone with the pod: nothing will record an exit. */
                        ex.code = 137;
                        cri_ctr_apply_exit(s, c, &ex);
                }
                if (pj->remove && !j->err) {
                        cri_events_emit(s, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
                        cri_ctr_forget(s, c);
                        cri_ctr_drop(s, c);
                }
        }
        p->busy = false;
        if (!j->err) {
                if (p->state != CRI_POD_NOTREADY) {
                        p->state = CRI_POD_NOTREADY;
                        netns_paths_done(&p->ns);
                }
                if (pj->remove) {
                        cri_pod_forget(s, p);
                        cri_pod_drop(s, p);
                } else {
                        cri_pod_save(s, p);
                }
        } else {
                cri_pod_save(s, p); /* network_ready may have changed */
        }
        if (!j->call)
                ; /* a teardown nobody asked for (an abandoned RunPodSandbox) */
        else if (j->err)
                cri_fail(j->call, TAKE_PTR(j->err));
        else if (pj->remove)
                cri_answer(j->call, &rr.base);
        else
                cri_answer(j->call, &sr.base);
        pxe_free(j->err);
        pod_job_free(pj);
}

void cri_pod_queue_teardown(struct cri_server *s, struct cri_call *c, struct cri_pod *p, bool remove)
{
        struct pod_job *pj = calloc(1, sizeof(*pj));
        size_t n = 0;

        for (size_t i = 0; i < s->n_ctrs; i++)
                n += strcmp(s->ctrs[i]->pod_id, p->id) == 0;
        if (pj) {
                pj->ctrs = calloc(n + 1, sizeof(*pj->ctrs));
                pj->ids = calloc(n + 1, sizeof(char *));
                pj->bundles = calloc(n + 1, sizeof(char *));
                pj->in_runtime = calloc(n + 1, sizeof(bool));
                pj->exits = calloc(n + 1, sizeof(*pj->exits));
        }
        if (!pj || !pj->ctrs || !pj->ids || !pj->bundles || !pj->in_runtime || !pj->exits) {
                if (pj)
                        pod_job_free(pj);
                if (c)
                        cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        for (size_t i = 0; i < s->n_ctrs; i++) {
                struct cri_ctr *ct = s->ctrs[i];

                if (strcmp(ct->pod_id, p->id) != 0 || ct->state == CRI_CTR_CREATING || ct->busy)
                        continue;
                pj->ctrs[pj->n_ctrs] = ct;
                pj->ids[pj->n_ctrs] = strdup(ct->id);
                pj->bundles[pj->n_ctrs] = ct->bundle ? strdup(ct->bundle) : NULL;
                pj->in_runtime[pj->n_ctrs] = ct->in_runtime;
                pj->exits[pj->n_ctrs].code = -1;
                pj->n_ctrs++;
                ct->busy = true;
        }
        p->busy = true;
        pj->pod = p;
        pj->remove = remove;
        pj->job.call = c;
        pj->job.run = pod_work;
        pj->job.done = pod_done;
        cri_queue(s, &pj->job);
}

/* A container of the pod that another call is working on: try again later. */
static bool pod_has_busy(struct cri_server *s, const struct cri_pod *p)
{
        for (size_t i = 0; i < s->n_ctrs; i++)
                if (strcmp(s->ctrs[i]->pod_id, p->id) == 0 &&
                    (s->ctrs[i]->busy || s->ctrs[i]->state == CRI_CTR_CREATING))
                        return true;
        return false;
}

CRI_HANDLER(stop_pod_sandbox, Runtime__V1__StopPodSandboxRequest)
{
        struct cri_pod *p = cri_pod_find(s, req->pod_sandbox_id);

        if (!p) {
                cri_failf(c, ENOENT, "Pod sandbox \"%s\" not found", req->pod_sandbox_id);
                return;
        }
        if (p->busy || pod_has_busy(s, p)) {
                cri_failf(c, EAGAIN, "Pod sandbox %s: another operation is in progress; try again", p->id);
                return;
        }
        cri_pod_queue_teardown(s, c, p, false);
}

CRI_HANDLER(remove_pod_sandbox, Runtime__V1__RemovePodSandboxRequest)
{
        Runtime__V1__RemovePodSandboxResponse r = RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;
        struct cri_pod *p = cri_pod_find(s, req->pod_sandbox_id);

        if (!p) { /* removed already: the CRI asks for no error */
                cri_answer(c, &r.base);
                return;
        }
        if (p->busy || pod_has_busy(s, p)) {
                cri_failf(c, EAGAIN, "Pod sandbox %s: another operation is in progress; try again", p->id);
                return;
        }
        cri_pod_queue_teardown(s, c, p, true);
}
