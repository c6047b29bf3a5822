/* StopContainer and RemoveContainer.
 *
 * RemoveContainer of a container that is not running answers at once: the
 * record goes from memory and the database in the same step, and the
 * runtime's state and the bundle are removed by a job in the background (a
 * crash meanwhile leaves a bundle without a record, which the next start
 * cleans away).  RemoveImage waits for those jobs: a bundle holds its image. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "cri/cri.h"
#include "monitor/cgstats.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

struct stop_job {
        struct cri_job job;
        struct cri_ctr *ctr; /* busy; NULL for a background removal */
        char id[65];
        char *bundle;
        int sig;
        unsigned timeout;
        bool remove;
        bool in_runtime;
        struct monitor_exit exit; /* a removal's: code -1 when none was recorded */
};

void cri_bundle_cgroup_remove(const char *bundle)
{
        _cleanup_free_ char *cfg = NULL;
        _cleanup_pxe_ struct pxe *e = NULL;
        json_t *spec;
        const char *path, *base;

        if (!bundle || asprintf(&cfg, "%s/config.json", bundle) < 0)
                return;
        spec = json_load_file(cfg, 0, NULL);
        path = json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath"));
        base = path ? strrchr(path, strchr(path, ':') ? ':' : '/') : NULL;
        /* Only the cgroups pxcrid named (.../pxcri-<id>, slice:pxcri:<id>). */
        if (path && ((base && strncmp(base + 1, "pxcri-", 6) == 0) || strstr(path, ":pxcri:")) &&
            cgroup_remove(path, &e) < 0)
                log_warn("Removing the cgroups of %s: %s", bundle, e->msg);
        json_decref(spec);
}

int cri_ctr_teardown(struct cri_server *s, const char *id, const char *bundle, bool in_runtime,
                     struct monitor_exit *ret_exit, struct pxe **err)
{
        _cleanup_pxe_ struct pxe *e = NULL;

        if (ret_exit)
                ret_exit->code = -1;
        if (in_runtime && monitor_stop(&s->mon, id, SIGKILL, 0, NULL, &e) < 0 && e->code != ENOENT)
                return pxe_set(err, e->code, "Removing container %s: %s", id, e->msg);
        pxe_freep(&e);
        /* Also when the record says it never reached the runtime: a start cut
         * short by a crash may have finished its `pxcri create` after pxcrid
         * restarted.  Deleting what is not there is no error. */
        if (monitor_delete(&s->mon, id, true, &e) < 0 && e->code != ENOENT)
                return pxe_set(err, e->code, "Removing container %s: %s", id, e->msg);
        /* What a runtime create killed halfway left (delete knew nothing of it). */
        cri_bundle_cgroup_remove(bundle);
        /* Before the bundle: a crash in between leaves a bundle without a
         * record, whose cleanup at the next start forgets these too. */
        if (ret_exit && monitor_read_exit(&s->mon, id, ret_exit, NULL) < 0)
                ret_exit->code = -1;
        monitor_forget(&s->mon, id);
        if (bundle && fs_dir_exists(bundle) && bundle_remove(bundle, err) < 0)
                return pxe_wrap(err, "Removing container %s", id);
        return 0;
}

void cri_removals_wait(struct cri_server *s, unsigned timeout_ms)
{
        for (unsigned waited = 0; atomic_load(&s->removals_in_flight) > 0 && waited < timeout_ms; waited += 5)
                usleep(5000);
}

static void stop_work(struct cri_job *j)
{
        struct stop_job *sj = (struct stop_job *) j;

        if (sj->remove) {
                cri_ctr_teardown(j->srv, sj->id, sj->bundle, sj->in_runtime, &sj->exit, &j->err);
                return;
        }
        if (monitor_stop(&j->srv->mon, sj->id, sj->sig, sj->timeout, NULL, &j->err) < 0)
                pxe_wrap(&j->err, "Stopping container %s", sj->id);
}

static void stop_job_free(struct stop_job *sj)
{
        free(sj->bundle);
        free(sj);
}

/* A background removal is done: nobody to answer. */
static void removal_done(struct cri_job *j)
{
        struct stop_job *sj = (struct stop_job *) j;

        if (j->err)
                log_warn("Removing container %s in the background: %s", sj->id, j->err->msg);
        pxe_free(j->err);
        atomic_fetch_sub(&j->srv->removals_in_flight, 1);
        stop_job_free(sj);
}

static void stop_done(struct cri_job *j)
{
        struct stop_job *sj = (struct stop_job *) j;
        struct cri_ctr *c = sj->ctr;
        Runtime__V1__StopContainerResponse sr = RUNTIME__V1__STOP_CONTAINER_RESPONSE__INIT;
        Runtime__V1__RemoveContainerResponse rr = RUNTIME__V1__REMOVE_CONTAINER_RESPONSE__INIT;
        struct monitor_exit ex = sj->exit; /* a removal read it before dropping the file */

        c->busy = false;
        if (c->state != CRI_CTR_EXITED && (ex.code >= 0 || monitor_read_exit(&j->srv->mon, c->id, &ex, NULL) == 0))
                cri_ctr_apply_exit(j->srv, c, &ex);
        if (j->err) {
                cri_fail(j->call, TAKE_PTR(j->err));
        } else if (sj->remove) {
                cri_events_emit(j->srv, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
                cri_ctr_forget(j->srv, c);
                cri_ctr_drop(j->srv, c);
                cri_answer(j->call, &rr.base);
        } else {
                if (c->state != CRI_CTR_EXITED) { /* killed but no exit file: conmon is gone */
                        ex.code = 137;
                        cri_ctr_apply_exit(j->srv, c, &ex);
                }
                cri_answer(j->call, &sr.base);
        }
        stop_job_free(sj);
}

static struct stop_job *stop_job_new(struct cri_ctr *ct)
{
        struct stop_job *sj = calloc(1, sizeof(*sj));

        if (!sj || (ct->bundle && !(sj->bundle = strdup(ct->bundle)))) {
                free(sj);
                return NULL;
        }
        memcpy(sj->id, ct->id, sizeof(sj->id));
        sj->in_runtime = ct->in_runtime;
        sj->exit.code = -1;
        sj->sig = ct->stop_signal > 0 ? ct->stop_signal : SIGTERM;
        return sj;
}

static void stop_queue(struct cri_server *s, struct cri_call *c, struct cri_ctr *ct, bool remove, unsigned timeout)
{
        struct stop_job *sj = stop_job_new(ct);

        if (!sj) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        ct->busy = true;
        sj->ctr = ct;
        sj->timeout = timeout;
        sj->remove = remove;
        sj->job.call = c;
        sj->job.run = stop_work;
        sj->job.done = stop_done;
        cri_queue(s, &sj->job);
}

CRI_HANDLER(stop_container, Runtime__V1__StopContainerRequest)
{
        Runtime__V1__StopContainerResponse r = RUNTIME__V1__STOP_CONTAINER_RESPONSE__INIT;
        struct cri_ctr *ct = cri_ctr_find(s, req->container_id);

        if (!ct) {
                cri_failf(c, ENOENT, "Container \"%s\" not found", req->container_id);
                return;
        }
        /* Stopped, or never started (nothing runs): no error, nothing to do. */
        if (ct->state == CRI_CTR_EXITED || !ct->in_runtime) {
                cri_answer(c, &r.base);
                return;
        }
        if (ct->busy) {
                cri_failf(c, EAGAIN, "Container %s: another operation is in progress; try again", ct->id);
                return;
        }
        stop_queue(s, c, ct, false, req->timeout > 0 ? (unsigned) req->timeout : 0);
}

/* Forget the container now, remove what it left in the background. */
static void remove_now(struct cri_server *s, struct cri_call *c, struct cri_ctr *ct)
{
        Runtime__V1__RemoveContainerResponse r = RUNTIME__V1__REMOVE_CONTAINER_RESPONSE__INIT;
        struct stop_job *sj = stop_job_new(ct);

        if (!sj) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        sj->remove = true;
        sj->job.run = stop_work;
        sj->job.done = removal_done;
        atomic_fetch_add(&s->removals_in_flight, 1);
        cri_queue(s, &sj->job);
        cri_events_emit(s, ct, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
        cri_ctr_forget(s, ct);
        cri_ctr_drop(s, ct);
        cri_answer(c, &r.base);
}

CRI_HANDLER(remove_container, Runtime__V1__RemoveContainerRequest)
{
        Runtime__V1__RemoveContainerResponse r = RUNTIME__V1__REMOVE_CONTAINER_RESPONSE__INIT;
        struct cri_ctr *ct = cri_ctr_find(s, req->container_id);

        if (!ct) { /* removed already: no error, as the CRI asks */
                cri_answer(c, &r.base);
                return;
        }
        if (ct->busy) {
                cri_failf(c, EAGAIN, "Container %s: another operation is in progress; try again", ct->id);
                return;
        }
        if (ct->state == CRI_CTR_EXITED || !ct->in_runtime)
                remove_now(s, c, ct);
        else /* running: it is killed first, and the call answers when it is gone */
                stop_queue(s, c, ct, true, 0);
}
