/* ExecSync (through `pxcri exec`, output captured), and the streaming calls
 * that wait for the streaming server (UNIMPLEMENTED until it exists). */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cri/cri.h"
#include "util/cleanup.h"

#define EXEC_OUTPUT_MAX (16u << 20)

struct exec_job {
        struct cri_job job;
        char id[65];
        char *bundle;
        char **argv;
        size_t n_argv;
        unsigned timeout;
        struct monitor_exec_result res;
        int rc;
};

/* The container's process (config.json) with the command as its args: the
 * command runs as the container's user, groups, env, cwd, capabilities. */
static int write_process(struct exec_job *ej, const char *dir, char **ret, struct pxe **err)
{
        _cleanup_free_ char *cfg = NULL, *path = NULL, *text = NULL;
        json_t *spec, *proc, *args = json_array();
        int fd, r;

        if (asprintf(&cfg, "%s/config.json", ej->bundle) < 0 || asprintf(&path, "%s/exec-process-XXXXXX", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        spec = json_load_file(cfg, 0, NULL);
        proc = json_object_get(spec, "process");
        if (!json_is_object(proc)) {
                json_decref(spec);
                json_decref(args);
                return pxe_set(err, EIO, "Executing in container %s: no process in %s", ej->id, cfg);
        }
        for (size_t i = 0; i < ej->n_argv; i++)
                json_array_append_new(args, json_string(ej->argv[i]));
        json_object_set_new(proc, "args", args);
        json_object_set_new(proc, "terminal", json_false());
        json_object_del(proc, "consoleSize");
        text = json_dumps(proc, JSON_COMPACT);
        json_decref(spec);
        fd = mkostemp(path, O_CLOEXEC);
        if (!text || fd < 0)
                return pxe_set_errno(err, fd < 0 ? errno : ENOMEM, "Executing in container %s: %s", ej->id, path);
        r = write(fd, text, strlen(text)) == (ssize_t) strlen(text) ? 0 : -EIO;
        close(fd);
        if (r < 0) {
                unlink(path);
                return pxe_set(err, EIO, "Executing in container %s: writing %s", ej->id, path);
        }
        *ret = TAKE_PTR(path);
        return 0;
}

static void exec_work(struct cri_job *j)
{
        struct exec_job *ej = (struct exec_job *) j;
        _cleanup_free_ char *process = NULL;

        if (write_process(ej, j->srv->persist_dir, &process, &j->err) < 0)
                return;
        ej->rc = monitor_exec_sync_process(&j->srv->mon, ej->id, process, ej->timeout, EXEC_OUTPUT_MAX, &ej->res,
                                           &j->err);
        unlink(process);
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
        free(ej->bundle);
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
        ej->bundle = strdup(ct->bundle);
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
