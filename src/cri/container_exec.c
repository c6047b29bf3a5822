/* ExecSync (through `pxcri exec`, output captured), and the streaming calls:
 * Exec, Attach and PortForward register what the session needs with the
 * streaming server (src/stream/) and answer with its URL. */
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cri/cri.h"
#include "stream/stream.h"
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
static int write_process(const char *id, const char *bundle, char *const *argv, size_t n_argv, bool tty,
                         const char *dir, char **ret, struct pxe **err)
{
        _cleanup_free_ char *cfg = NULL, *path = NULL, *text = NULL;
        json_t *spec, *proc, *args = json_array();
        int fd, r;

        if (asprintf(&cfg, "%s/config.json", bundle) < 0 || asprintf(&path, "%s/exec-process-XXXXXX", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        spec = json_load_file(cfg, 0, NULL);
        proc = json_object_get(spec, "process");
        if (!json_is_object(proc)) {
                json_decref(spec);
                json_decref(args);
                return pxe_set(err, EIO, "Executing in container %s: no process in %s", id, cfg);
        }
        for (size_t i = 0; i < n_argv; i++)
                json_array_append_new(args, json_string(argv[i]));
        json_object_set_new(proc, "args", args);
        json_object_set_new(proc, "terminal", json_boolean(tty));
        json_object_del(proc, "consoleSize");
        text = json_dumps(proc, JSON_COMPACT);
        json_decref(spec);
        fd = mkostemp(path, O_CLOEXEC);
        if (!text || fd < 0)
                return pxe_set_errno(err, fd < 0 ? errno : ENOMEM, "Executing in container %s: %s", id, path);
        r = write(fd, text, strlen(text)) == (ssize_t) strlen(text) ? 0 : -EIO;
        close(fd);
        if (r < 0) {
                unlink(path);
                return pxe_set(err, EIO, "Executing in container %s: writing %s", id, path);
        }
        *ret = TAKE_PTR(path);
        return 0;
}

static void exec_work(struct cri_job *j)
{
        struct exec_job *ej = (struct exec_job *) j;
        _cleanup_free_ char *process = NULL;

        if (write_process(ej->id, ej->bundle, ej->argv, ej->n_argv, false, j->srv->persist_dir, &process,
                          &j->err) < 0)
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

/* Answer a streaming call with the URL of a registered request. */
static void answer_url(struct cri_server *s, struct cri_call *c, struct stream_request *sr, int kind)
{
        _cleanup_free_ char *url = NULL;
        struct pxe *err = NULL;

        if (!s->stream) {
                stream_request_free(sr);
                cri_failf(c, ENOSYS, "The streaming server is not running");
                return;
        }
        if (stream_server_register(s->stream, sr, &url, &err) < 0) {
                cri_fail(c, err);
                return;
        }
        if (kind == STREAM_EXEC) {
                Runtime__V1__ExecResponse r = RUNTIME__V1__EXEC_RESPONSE__INIT;

                r.url = url;
                cri_answer(c, &r.base);
        } else if (kind == STREAM_ATTACH) {
                Runtime__V1__AttachResponse r = RUNTIME__V1__ATTACH_RESPONSE__INIT;

                r.url = url;
                cri_answer(c, &r.base);
        } else {
                Runtime__V1__PortForwardResponse r = RUNTIME__V1__PORT_FORWARD_RESPONSE__INIT;

                r.url = url;
                cri_answer(c, &r.base);
        }
}

static struct cri_ctr *running_ctr(struct cri_server *s, struct cri_call *c, const char *id)
{
        struct cri_ctr *ct = cri_ctr_find(s, id);

        if (!ct)
                cri_failf(c, ENOENT, "Container \"%s\" not found", id);
        else if (ct->state != CRI_CTR_RUNNING)
                cri_failf(c, EBUSY, "Container %s is not running", ct->id);
        return ct && ct->state == CRI_CTR_RUNNING ? ct : NULL;
}

/* Exec: the process file (the container's config.json read, a file
 * written) is a worker's; the loop registers the URL and answers. */
struct stream_exec_job {
        struct cri_job job;
        char id[65];
        char *bundle;
        char **argv;
        size_t n_argv;
        struct stream_request *sr;
};

static void stream_exec_work(struct cri_job *j)
{
        struct stream_exec_job *sj = (struct stream_exec_job *) j;

        if (write_process(sj->id, sj->bundle, sj->argv, sj->n_argv, sj->sr->tty, j->srv->persist_dir,
                          &sj->sr->process_file, &j->err) < 0)
                return;
        monitor_exec_argv(&j->srv->mon, sj->id, sj->sr->process_file, &sj->sr->argv, &j->err);
}

static void stream_exec_done(struct cri_job *j)
{
        struct stream_exec_job *sj = (struct stream_exec_job *) j;

        if (j->err) {
                stream_request_free(sj->sr);
                cri_fail(j->call, TAKE_PTR(j->err));
        } else {
                answer_url(j->srv, j->call, sj->sr, STREAM_EXEC);
        }
        for (size_t i = 0; i < sj->n_argv; i++)
                free(sj->argv[i]);
        free(sj->argv);
        free(sj->bundle);
        free(sj);
}

CRI_HANDLER(exec, Runtime__V1__ExecRequest)
{
        struct cri_ctr *ct;
        struct stream_exec_job *sj;

        if (!req->n_cmd) {
                cri_failf(c, EINVAL, "Exec: cmd is required");
                return;
        }
        if (!req->stdin && !req->stdout && !req->stderr) {
                cri_failf(c, EINVAL, "Exec: one of stdin, stdout and stderr must be set");
                return;
        }
        if (req->tty && req->stderr) {
                cri_failf(c, EINVAL, "Exec: tty and stderr cannot both be set (a terminal has one output)");
                return;
        }
        if (!(ct = running_ctr(s, c, req->container_id)))
                return;
        sj = calloc(1, sizeof(*sj));
        if (sj) {
                sj->sr = calloc(1, sizeof(*sj->sr));
                sj->bundle = strdup(ct->bundle);
                sj->argv = calloc(req->n_cmd + 1, sizeof(char *));
        }
        for (size_t i = 0; sj && sj->argv && i < req->n_cmd; i++)
                if ((sj->argv[i] = strdup(req->cmd[i])))
                        sj->n_argv++;
        if (!sj || !sj->sr || !sj->bundle || sj->n_argv != req->n_cmd) {
                if (sj) {
                        for (size_t i = 0; i < sj->n_argv; i++)
                                free(sj->argv[i]);
                        free(sj->argv);
                        free(sj->bundle);
                        free(sj->sr);
                }
                free(sj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        memcpy(sj->id, ct->id, sizeof(sj->id));
        sj->sr->kind = STREAM_EXEC;
        memcpy(sj->sr->target, ct->id, sizeof(sj->sr->target));
        sj->sr->in = req->stdin;
        sj->sr->out = req->stdout;
        sj->sr->err = req->stderr;
        sj->sr->tty = req->tty;
        sj->sr->envp = monitor_exec_envp();
        sj->job.call = c;
        sj->job.run = stream_exec_work;
        sj->job.done = stream_exec_done;
        cri_queue(s, &sj->job);
}

CRI_HANDLER(attach, Runtime__V1__AttachRequest)
{
        struct cri_ctr *ct;
        struct stream_request *sr;
        bool tty;

        if (!req->stdin && !req->stdout && !req->stderr) {
                cri_failf(c, EINVAL, "Attach: one of stdin, stdout and stderr must be set");
                return;
        }
        if (!(ct = running_ctr(s, c, req->container_id)))
                return;
        tty = ct->config && ct->config->tty;
        sr = calloc(1, sizeof(*sr));
        if (!sr) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        sr->kind = STREAM_ATTACH;
        memcpy(sr->target, ct->id, sizeof(sr->target));
        sr->tty = tty;
        sr->stdin_once = ct->config && ct->config->stdin_once;
        if (asprintf(&sr->attach_socket, "%s/attach", ct->bundle) < 0 ||
            asprintf(&sr->ctl_path, "%s/ctl", ct->bundle) < 0) {
                sr->attach_socket = sr->ctl_path = NULL;
                stream_request_free(sr);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        /* The client opens the channels of what it asked for; what it sends
         * reaches the container only when that was created with stdin
         * (conmon has nowhere to put it otherwise). */
        sr->in = req->stdin;
        sr->out = req->stdout;
        sr->err = req->stderr && !tty;
        answer_url(s, c, sr, STREAM_ATTACH);
}

CRI_HANDLER(port_forward, Runtime__V1__PortForwardRequest)
{
        struct cri_pod *p = cri_pod_find(s, req->pod_sandbox_id);
        struct stream_request *sr;

        if (!p) {
                cri_failf(c, ENOENT, "Pod sandbox \"%s\" not found", req->pod_sandbox_id);
                return;
        }
        if (p->state != CRI_POD_READY) {
                cri_failf(c, EBUSY, "Pod sandbox %s is not ready", p->id);
                return;
        }
        for (size_t i = 0; i < req->n_port; i++)
                if (req->port[i] < 1 || req->port[i] > 65535) {
                        cri_failf(c, EINVAL, "PortForward: port %d is not 1-65535", req->port[i]);
                        return;
                }
        sr = calloc(1, sizeof(*sr));
        if (sr && req->n_port)
                sr->ports = calloc(req->n_port, sizeof(*sr->ports));
        if (!sr || (req->n_port && !sr->ports) || (p->ns.net && *p->ns.net && !(sr->netns_path = strdup(p->ns.net)))) {
                stream_request_free(sr);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        sr->kind = STREAM_PORTFORWARD;
        memcpy(sr->target, p->id, sizeof(sr->target));
        for (size_t i = 0; i < req->n_port; i++)
                sr->ports[sr->n_ports++] = (unsigned) req->port[i];
        answer_url(s, c, sr, STREAM_PORTFORWARD);
}
