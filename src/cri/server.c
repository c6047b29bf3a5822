/* Glue between the rpc layer and the handlers: the method table, answers,
 * event streams; the server's start-up (directories, database, state). */
#include "cri/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cri/cri.h"
#include "cri/image_common.h"
#include "stream/stream.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

#define CALL(c) ((struct rpc_call *) (c))

void cri_answer(struct cri_call *c, const ProtobufCMessage *resp)
{
        rpc_call_reply(CALL(c), resp);
}

void cri_fail(struct cri_call *c, struct pxe *e)
{
        if (!e) {
                rpc_call_fail(CALL(c), RPC_INTERNAL, "Unknown error");
                return;
        }
        rpc_call_fail_pxe(CALL(c), e);
        pxe_free(e);
}

void cri_failf(struct cri_call *c, int code, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        rpc_call_fail(CALL(c), rpc_code_from_errno(code), "%s", msg ? msg : "Out of memory");
}

bool cri_call_cancelled(struct cri_call *c)
{
        return rpc_call_cancelled(CALL(c));
}

unsigned cri_call_timeout_s(struct cri_server *s, struct cri_call *c, unsigned want)
{
        uint64_t deadline = rpc_call_deadline(CALL(c)), now = uv_now(s->loop), left_s;

        if (!deadline)
                return want;
        left_s = deadline > now ? (deadline - now + 999) / 1000 : 1;
        return want && want < left_s ? want : (unsigned) left_s;
}

json_t *cri_rpc_stats(struct cri_server *s)
{
        json_t *o = json_object();

        for (size_t i = 0; s->rpc && i < cri_n_methods; i++) {
                double median = 0;
                uint64_t calls = 0;
                const char *name = strrchr(cri_methods[i].path, '/') + 1;

                if (rpc_server_method_stats(s->rpc, cri_methods[i].path, &median, &calls) < 0 || !calls)
                        continue;
                if (strstr(cri_methods[i].path, "ImageService/Version"))
                        continue; /* the same handler as RuntimeService/Version */
                json_object_set_new(o, name, json_pack("{s:I, s:f}", "calls", (json_int_t) calls, "median_us", median));
        }
        return o;
}

/* ---- GetContainerEvents ---- */

static void events_unsubscribe(struct cri_server *s, struct cri_call *c)
{
        for (size_t i = 0; i < s->n_event_subs; i++)
                if (s->event_subs[i] == c) {
                        s->event_subs[i] = s->event_subs[--s->n_event_subs];
                        return;
                }
}

static void events_cancelled(struct rpc_call *rc, void *data)
{
        struct cri_server *s = data;

        events_unsubscribe(s, (struct cri_call *) rc);
        rpc_call_finish(rc, RPC_CANCELLED, "Cancelled");
}

void cri_get_container_events(struct cri_server *s, struct cri_call *c, const Runtime__V1__GetEventsRequest *req)
{
        struct cri_call **v = realloc(s->event_subs, (s->n_event_subs + 1) * sizeof(*v));

        (void) req;
        if (!v) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        v[s->n_event_subs++] = c;
        s->event_subs = v;
        rpc_call_on_cancel(CALL(c), events_cancelled, s);
}

/* Streams end when the server shuts down. */
static void events_close_all(struct cri_server *s)
{
        while (s->n_event_subs) {
                struct cri_call *c = s->event_subs[--s->n_event_subs];

                rpc_call_finish(CALL(c), RPC_OK, NULL);
        }
}

void cri_events_emit(struct cri_server *s, const struct cri_ctr *c, Runtime__V1__ContainerEventType type)
{
        Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
        Runtime__V1__PodSandboxStatus ps = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
        Runtime__V1__PodSandboxMetadata pmd = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
        Runtime__V1__PodSandboxNetworkStatus net = RUNTIME__V1__POD_SANDBOX_NETWORK_STATUS__INIT;
        Runtime__V1__NamespaceOption nso = RUNTIME__V1__NAMESPACE_OPTION__INIT;
        Runtime__V1__LinuxPodSandboxStatus lx = RUNTIME__V1__LINUX_POD_SANDBOX_STATUS__INIT;
        Runtime__V1__Namespace ns = RUNTIME__V1__NAMESPACE__INIT;
        Runtime__V1__ContainerStatus cs = RUNTIME__V1__CONTAINER_STATUS__INIT;
        Runtime__V1__ContainerMetadata cmd = RUNTIME__V1__CONTAINER_METADATA__INIT;
        Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ContainerStatus *csv[1] = { &cs };
        struct cri_pod *p;

        if (!s->n_event_subs)
                return;
        p = cri_pod_find(s, c->pod_id);
        ev.container_id = (char *) c->id;
        ev.container_event_type = type;
        ev.created_at = cri_now_ns();
        if (p) {
                cri_pod_status_fill(s, p, &ps, &pmd, &net, &nso, &lx, &ns);
                ev.pod_sandbox_status = &ps;
        }
        if (type != RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT) {
                cri_ctr_status_fill(c, &cs, &cmd, &img);
                ev.containers_statuses = csv;
                ev.n_containers_statuses = 1;
        }
        for (size_t i = 0; i < s->n_event_subs; i++)
                rpc_call_send(CALL(s->event_subs[i]), &ev.base);
        free(net.additional_ips);
}

/* ---- the method table ---- */

#define M(svc, name, fn, Req)                                                                    \
        {                                                                                       \
                "/runtime.v1." svc "/" name, &runtime__v1__##Req##__descriptor,                 \
                        (rpc_handler_fn) dispatch_##fn                                           \
        }
#define DISPATCH(fn, Req)                                                                       \
        static void dispatch_##fn(struct rpc_call *rc, const ProtobufCMessage *m, void *data)   \
        {                                                                                       \
                cri_##fn(data, (struct cri_call *) rc, (const Req *) m);                        \
        }

DISPATCH(version, Runtime__V1__VersionRequest)
DISPATCH(status, Runtime__V1__StatusRequest)
DISPATCH(runtime_config, Runtime__V1__RuntimeConfigRequest)
DISPATCH(update_runtime_config, Runtime__V1__UpdateRuntimeConfigRequest)
DISPATCH(run_pod_sandbox, Runtime__V1__RunPodSandboxRequest)
DISPATCH(stop_pod_sandbox, Runtime__V1__StopPodSandboxRequest)
DISPATCH(remove_pod_sandbox, Runtime__V1__RemovePodSandboxRequest)
DISPATCH(pod_sandbox_status, Runtime__V1__PodSandboxStatusRequest)
DISPATCH(list_pod_sandbox, Runtime__V1__ListPodSandboxRequest)
DISPATCH(create_container, Runtime__V1__CreateContainerRequest)
DISPATCH(start_container, Runtime__V1__StartContainerRequest)
DISPATCH(stop_container, Runtime__V1__StopContainerRequest)
DISPATCH(remove_container, Runtime__V1__RemoveContainerRequest)
DISPATCH(list_containers, Runtime__V1__ListContainersRequest)
DISPATCH(container_status, Runtime__V1__ContainerStatusRequest)
DISPATCH(update_container_resources, Runtime__V1__UpdateContainerResourcesRequest)
DISPATCH(reopen_container_log, Runtime__V1__ReopenContainerLogRequest)
DISPATCH(exec_sync, Runtime__V1__ExecSyncRequest)
DISPATCH(exec, Runtime__V1__ExecRequest)
DISPATCH(attach, Runtime__V1__AttachRequest)
DISPATCH(port_forward, Runtime__V1__PortForwardRequest)
DISPATCH(container_stats, Runtime__V1__ContainerStatsRequest)
DISPATCH(list_container_stats, Runtime__V1__ListContainerStatsRequest)
DISPATCH(pod_sandbox_stats, Runtime__V1__PodSandboxStatsRequest)
DISPATCH(list_pod_sandbox_stats, Runtime__V1__ListPodSandboxStatsRequest)
DISPATCH(get_container_events, Runtime__V1__GetEventsRequest)
DISPATCH(list_images, Runtime__V1__ListImagesRequest)
DISPATCH(image_status, Runtime__V1__ImageStatusRequest)
DISPATCH(pull_image, Runtime__V1__PullImageRequest)
DISPATCH(remove_image, Runtime__V1__RemoveImageRequest)
DISPATCH(image_fs_info, Runtime__V1__ImageFsInfoRequest)

#define R(name, fn, req) M("RuntimeService", name, fn, req)
#define I(name, fn, req) M("ImageService", name, fn, req)

const struct rpc_method cri_methods[] = {
        R("Version", version, version_request),
        R("Status", status, status_request),
        R("RuntimeConfig", runtime_config, runtime_config_request),
        R("UpdateRuntimeConfig", update_runtime_config, update_runtime_config_request),
        R("RunPodSandbox", run_pod_sandbox, run_pod_sandbox_request),
        R("StopPodSandbox", stop_pod_sandbox, stop_pod_sandbox_request),
        R("RemovePodSandbox", remove_pod_sandbox, remove_pod_sandbox_request),
        R("PodSandboxStatus", pod_sandbox_status, pod_sandbox_status_request),
        R("ListPodSandbox", list_pod_sandbox, list_pod_sandbox_request),
        R("CreateContainer", create_container, create_container_request),
        R("StartContainer", start_container, start_container_request),
        R("StopContainer", stop_container, stop_container_request),
        R("RemoveContainer", remove_container, remove_container_request),
        R("ListContainers", list_containers, list_containers_request),
        R("ContainerStatus", container_status, container_status_request),
        R("UpdateContainerResources", update_container_resources, update_container_resources_request),
        R("ReopenContainerLog", reopen_container_log, reopen_container_log_request),
        R("ExecSync", exec_sync, exec_sync_request),
        R("Exec", exec, exec_request),
        R("Attach", attach, attach_request),
        R("PortForward", port_forward, port_forward_request),
        R("ContainerStats", container_stats, container_stats_request),
        R("ListContainerStats", list_container_stats, list_container_stats_request),
        R("PodSandboxStats", pod_sandbox_stats, pod_sandbox_stats_request),
        R("ListPodSandboxStats", list_pod_sandbox_stats, list_pod_sandbox_stats_request),
        R("GetContainerEvents", get_container_events, get_events_request),
        I("ListImages", list_images, list_images_request),
        I("ImageStatus", image_status, image_status_request),
        I("PullImage", pull_image, pull_image_request),
        I("RemoveImage", remove_image, remove_image_request),
        I("ImageFsInfo", image_fs_info, image_fs_info_request),
        /* kubelet asks the same questions of one socket for both services. */
        M("ImageService", "Version", version, version_request),
};

const size_t cri_n_methods = sizeof(cri_methods) / sizeof(cri_methods[0]);

/* ---- start-up ---- */

static int path_join(char **ret, const char *a, const char *b, struct pxe **err)
{
        if (asprintf(ret, "%s/%s", a, b) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

/* pxcri-image is installed next to pxcri (pxcri execs it too). */
static int find_pxcri_image(struct cri_server *s, struct pxe **err)
{
        _cleanup_free_ char *dir = strdup(s->pxcri_path);
        char *slash = dir ? strrchr(dir, '/') : NULL;

        if (!slash)
                return pxe_set(err, ENOMEM, "Out of memory");
        *slash = '\0';
        if (path_join(&s->pxcri_image_path, dir, "pxcri-image", err) < 0)
                return -ENOMEM;
        if (access(s->pxcri_image_path, X_OK) < 0)
                return pxe_set_errno(err, errno, "The image program %s (installed next to pxcri)", s->pxcri_image_path);
        return 0;
}

/* The pxcri binary: configured, or next to pxcrid. */
static int find_pxcri(struct cri_server *s, struct pxe **err)
{
        char self[4096];
        ssize_t n;
        char *slash;

        if (s->cfg->cri.pxcri_path) {
                s->pxcri_path = strdup(s->cfg->cri.pxcri_path);
                return s->pxcri_path ? 0 : pxe_set(err, ENOMEM, "Out of memory");
        }
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n < 0)
                return pxe_set_errno(err, errno, "Finding pxcrid's own path");
        self[n] = '\0';
        slash = strrchr(self, '/');
        *slash = '\0';
        if (path_join(&s->pxcri_path, self, "pxcri", err) < 0)
                return -ENOMEM;
        if (access(s->pxcri_path, X_OK) < 0)
                return pxe_set_errno(err, errno, "The pxcri binary %s (set cri.pxcri_path)", s->pxcri_path);
        return 0;
}

/* oom_score_adj below 0 needs CAP_SYS_RESOURCE: probe what this host allows. */
static int probe_min_oom_score_adj(void)
{
        _cleanup_fclose_ FILE *f = fopen("/proc/self/oom_score_adj", "r+");
        int cur = 0;

        if (!f || fscanf(f, "%d", &cur) != 1)
                return 0;
        rewind(f);
        if (fprintf(f, "%d", -999) < 0 || fflush(f) != 0)
                return cur;
        rewind(f);
        fprintf(f, "%d", cur);
        fflush(f);
        return -999;
}

static int make_dirs(struct cri_server *s, struct pxe **err)
{
        const struct cri_config *cc = &s->cfg->cri;

        if (path_join(&s->ctr_dir, cc->state_dir, "containers", err) < 0 ||
            path_join(&s->pod_dir, cc->state_dir, "pods", err) < 0 ||
            path_join(&s->exits_dir, cc->run_dir, "exits", err) < 0 ||
            path_join(&s->persist_dir, cc->run_dir, "persist", err) < 0 ||
            path_join(&s->socket_dir, cc->run_dir, "attach", err) < 0 ||
            path_join(&s->ns_dir, cc->run_dir, "ns", err) < 0 ||
            path_join(&s->stream_dir, cc->run_dir, "stream", err) < 0)
                return -ENOMEM;
        /* Traversable (not listable): unprivileged Proxmox containers open
         * pod files below it as their own root; what is secret in it has
         * its own mode (the database 0600). */
        if (fs_mkdir_p(cc->state_dir, 0711, err) < 0)
                return -pxe_code(err, EIO);
        if (chmod(cc->state_dir, 0711) < 0)
                return pxe_set_errno(err, errno, "chmod %s", cc->state_dir);
        if (fs_mkdir_p(s->ctr_dir, 0711, err) < 0 || fs_mkdir_p(s->pod_dir, 0711, err) < 0 ||
            fs_mkdir_p(s->exits_dir, 0700, err) < 0 ||
            fs_mkdir_p(s->persist_dir, 0700, err) < 0 || fs_mkdir_p(s->socket_dir, 0700, err) < 0 ||
            fs_mkdir_p(s->ns_dir, 0711, err) < 0 || fs_mkdir_p(s->stream_dir, 0700, err) < 0)
                return -pxe_code(err, EIO);
        return 0;
}

int cri_server_init(struct cri_server *s, uv_loop_t *loop, struct config *cfg, const char *config_path,
                    struct pxe **err)
{
        _cleanup_free_ char *db = NULL;

        s->loop = loop;
        s->cfg = cfg;
        s->config_path = config_path;
        if (find_pxcri(s, err) < 0 || find_pxcri_image(s, err) < 0 || make_dirs(s, err) < 0)
                return -pxe_code(err, EIO);
        s->min_oom_score_adj = probe_min_oom_score_adj();
        s->mon = (struct monitor_config) {
                .conmon_path = cfg->cri.conmon_path,
                .runtime_path = s->pxcri_path,
                .runtime_root = cfg->root_path,
                .runtime_config = config_path,
                .exits_dir = s->exits_dir,
                .persist_dir = s->persist_dir,
                .socket_dir = s->socket_dir,
                .log_level = log_get_level() == LOG_LEVEL_DEBUG ? "debug" : "error",
                .systemd_cgroup = cfg->cri.cgroup_driver == CGROUP_DRIVER_SYSTEMD,
        };
        if (path_join(&db, cfg->cri.state_dir, "pxcrid.db", err) < 0 || store_open(db, &s->db, err) < 0 ||
            cri_state_load(s, err) < 0)
                return -pxe_code(err, EIO);
        cri_reconcile(s);
        cri_image_prune_orphan_templates(s);
        if (stream_server_new(loop,
                              &(struct stream_server_opts) { .address = cfg->cri.stream_address,
                                                             .port = cfg->cri.stream_port,
                                                             .token_ttl_ms = cfg->cri.stream_token_ttl_s * 1000,
                                                             .run_dir = s->stream_dir,
                                                             .tls_cert = cfg->cri.stream_tls_cert,
                                                             .tls_key = cfg->cri.stream_tls_key,
                                                             .tls_ca = cfg->cri.stream_tls_ca },
                              &s->stream, err) < 0)
                return -pxe_code(err, EIO);
        log_info("Streaming server on %s", stream_server_url(s->stream));
        return cri_exits_watch(s, err);
}

void cri_server_stop(struct cri_server *s)
{
        events_close_all(s);
        stream_server_shutdown(s->stream);
        if (s->exits_watch.type == UV_FS_EVENT && !uv_is_closing((uv_handle_t *) &s->exits_watch))
                uv_close((uv_handle_t *) &s->exits_watch, NULL);
}

void cri_server_done(struct cri_server *s)
{
        for (size_t i = 0; i < s->n_pods; i++)
                cri_pod_free(s->pods[i]);
        free(s->pods);
        for (size_t i = 0; i < s->n_ctrs; i++)
                cri_ctr_free(s->ctrs[i]);
        free(s->ctrs);
        free(s->event_subs);
        store_close(s->db);
        free(s->pxcri_path);
        free(s->pxcri_image_path);
        free(s->exits_dir);
        free(s->persist_dir);
        free(s->socket_dir);
        free(s->ctr_dir);
        free(s->pod_dir);
        free(s->ns_dir);
        free(s->stream_dir);
        for (size_t i = 0; i < s->n_removed_images; i++)
                free(s->removed_images[i]);
        free(s->removed_images);
        stream_server_free(s->stream);
        free(s->pod_cidr);
}
