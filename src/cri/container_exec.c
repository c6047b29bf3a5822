/* ExecSync (through `pxcri exec`, output captured), and the streaming calls
 * that wait for the streaming server (UNIMPLEMENTED until it exists). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "util/cleanup.h"

#define EXEC_OUTPUT_MAX (16u << 20)

struct exec_job {
        struct cri_job job;
        char id[65];
        char **argv;
        size_t n_argv;
        unsigned timeout;
        struct monitor_exec_result res;
        int rc;
};

static void exec_work(struct cri_job *j)
{
        struct exec_job *ej = (struct exec_job *) j;

        ej->rc = monitor_exec_sync(&j->srv->mon, ej->id, (const char *const *) ej->argv, ej->n_argv, ej->timeout,
                                   EXEC_OUTPUT_MAX, &ej->res, &j->err);
}

static void exec_done(struct cri_job *j)
{
        struct exec_job *ej = (struct exec_job *) j;
        Runtime__V1__ExecSyncResponse r = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;

        if (j->err) {
                cri_fail(j->call, TAKE_PTR(j->err));
        } else {
                r.stdout.data = (uint8_t *) ej->res.out;
                r.stdout.len = ej->res.out_len;
                r.stderr.data = (uint8_t *) ej->res.err;
                r.stderr.len = ej->res.err_len;
                r.exit_code = ej->res.exit_code;
                cri_answer(j->call, &r.base);
        }
        monitor_exec_result_done(&ej->res);
        for (size_t i = 0; i < ej->n_argv; i++)
                free(ej->argv[i]);
        free(ej->argv);
        free(ej);
}

CRI_HANDLER(exec_sync, Runtime__V1__ExecSyncRequest)
{
        struct cri_ctr *ct = cri_ctr_find(s, req->container_id);
        struct exec_job *ej;

        if (!ct) {
                cri_failf(c, ENOENT, "Container \"%s\" not found", req->container_id);
                return;
        }
        if (!req->n_cmd) {
                cri_failf(c, EINVAL, "ExecSync: cmd is required");
                return;
        }
        if (ct->state != CRI_CTR_RUNNING) {
                cri_failf(c, EBUSY, "Container %s is not running", ct->id);
                return;
        }
        ej = calloc(1, sizeof(*ej));
        if (ej)
                ej->argv = calloc(req->n_cmd + 1, sizeof(char *));
        for (size_t i = 0; ej && ej->argv && i < req->n_cmd; i++)
                if ((ej->argv[i] = strdup(req->cmd[i])))
                        ej->n_argv++;
        if (!ej || ej->n_argv != req->n_cmd) {
                if (ej) {
                        for (size_t i = 0; i < ej->n_argv; i++)
                                free(ej->argv[i]);
                        free(ej->argv);
                }
                free(ej);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        memcpy(ej->id, ct->id, sizeof(ej->id));
        /* A call whose deadline passes has its process killed too. */
        ej->timeout = cri_call_timeout_s(s, c, req->timeout > 0 ? (unsigned) req->timeout : 0);
        ej->job.call = c;
        ej->job.run = exec_work;
        ej->job.done = exec_done;
        cri_queue(s, &ej->job);
}

CRI_HANDLER(exec, Runtime__V1__ExecRequest)
{
        (void) s;
        (void) req;
        cri_failf(c, ENOSYS, "Exec is not implemented yet: pxcrid has no streaming server (use ExecSync)");
}

CRI_HANDLER(attach, Runtime__V1__AttachRequest)
{
        (void) s;
        (void) req;
        cri_failf(c, ENOSYS, "Attach is not implemented yet: pxcrid has no streaming server");
}

CRI_HANDLER(port_forward, Runtime__V1__PortForwardRequest)
{
        (void) s;
        (void) req;
        cri_failf(c, ENOSYS, "PortForward is not implemented yet: pxcrid has no streaming server");
}
