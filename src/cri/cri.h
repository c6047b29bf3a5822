/* The CRI server: pods and containers in memory, the handlers' shared helpers.
 *
 * Threading (STYLE.md, "In the daemon"): the tables below belong to the loop
 * thread.  A handler validates its request and looks things up on the loop,
 * hands slow work (runtime calls, CNI, pulls, the image store) to a worker
 * with cri_queue(), and applies the result on the loop in the job's done
 * callback, writing the change to the state database in the same step
 * (cri_pod_save / cri_ctr_save), so memory and disk never disagree.  A worker
 * reads only what its job copied or what cannot change while the object is
 * busy (an object with an operation in flight is marked busy; a second
 * operation on it waits for FAILED_PRECONDITION ... or is refused).
 *
 * Handlers never see gRPC: they get the decoded request and answer through
 * cri_answer() / cri_fail() (server.c maps pxe codes to gRPC statuses).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "cri-api.pb-c.h"
#include "monitor/monitor.h"
#include "net/netns.h"
#include "util/err.h"

struct cri_call; /* an RPC in flight (an rpc_call underneath) */
struct rpc_server;
struct stream_server;
struct store;

enum cri_pod_state {
        CRI_POD_CREATING, /* RunPodSandbox in flight: not listed */
        CRI_POD_READY,
        CRI_POD_NOTREADY,
};

struct cri_pod {
        char id[65];
        Runtime__V1__PodSandboxConfig *config; /* unpacked copy of the request's config */
        char *handler;
        enum cri_pod_state state;
        int64_t created_ns;
        char *dir;            /* <state_dir>/pods/<id>: hosts, resolv.conf, hostname, shm/ */
        char *ns_dir;         /* <run_dir>/ns/<id> */
        struct netns_paths ns;
        char *shm_path;       /* <dir>/shm when mounted (pod IPC), NULL otherwise */
        char *pidns_path;     /* the infra process's pid namespace (namespace mode POD) */
        int infra_pid;
        char **ips;
        size_t n_ips;
        char *cni_result;     /* kept for CNI DEL */
        bool network_ready;   /* CNI ADD done and not yet DELeted */
        bool busy;            /* a stop/remove in flight */
};

enum cri_ctr_state {
        CRI_CTR_CREATING = -1, /* CreateContainer in flight: not listed */
        CRI_CTR_CREATED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED,
        CRI_CTR_RUNNING = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING,
        CRI_CTR_EXITED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED,
        CRI_CTR_UNKNOWN = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN,
};

struct cri_ctr {
        char id[65];
        char pod_id[65];
        Runtime__V1__ContainerConfig *config; /* unpacked copy of the request's config */
        char *image_ref;      /* the image as the request named it */
        char *image_id;       /* config digest */
        char *image_name;     /* the tag it resolved to, or the reference */
        char *repo_digest;    /* name@sha256:..., or NULL */
        enum cri_ctr_state state;
        int64_t created_ns, started_ns, finished_ns;
        int exit_code;
        char *reason;         /* Completed, Error, OOMKilled */
        char *message;
        char *log_path;       /* absolute, or NULL */
        char *bundle;         /* <state_dir>/containers/<id> */
        enum backend_id backend;
        char *route_reason;
        char *cgroup_path;
        int stop_signal;      /* from the request or the image; 0: SIGTERM */
        int pid;
        int proxmox_vmid;     /* a Proxmox container's CT (its cgroup is /lxc/<vmid>); 0: none known */
        bool in_runtime;      /* `pxcri create` done (StartContainer does it) */
        bool busy;
        bool stopped_event_pending; /* exited before StartContainer answered: STOPPED after STARTED */
};

struct cri_server {
        uv_loop_t *loop;
        struct config *cfg;
        const char *config_path;     /* passed to pxcri --config; NULL: defaults */
        struct monitor_config mon;   /* strings point into the fields below or cfg */
        char *pxcri_path;
        char *pxcri_image_path;      /* pxcri-image, next to pxcri: pulls run in it */
        char *exits_dir, *persist_dir, *socket_dir, *ctr_dir, *pod_dir, *ns_dir;
        char *pod_cidr;              /* UpdateRuntimeConfig */
        int min_oom_score_adj;
        struct store *db;
        struct cri_pod **pods;
        size_t n_pods;
        struct cri_ctr **ctrs;
        size_t n_ctrs;
        uv_fs_event_t exits_watch;
        struct cri_call **event_subs; /* GetContainerEvents streams */
        size_t n_event_subs;
        unsigned jobs_in_flight;
        /* Containers whose runtime state and bundle are still being removed
         * after RemoveContainer answered (workers read it: atomic). */
        _Atomic int removals_in_flight;
        bool prune_running, prune_again; /* image store prune after RemoveImage (image_remove.c) */
        char **removed_images;       /* IDs whose Proxmox templates the next prune looks at */
        size_t n_removed_images;
        bool prune_orphan_templates; /* the next prune also looks for templates of images gone (start-up) */
        struct rpc_server *rpc;      /* for the handling-time figures in Status (set by the daemon) */
        struct stream_server *stream; /* exec/attach/port-forward URLs (src/stream/) */
        char *stream_dir;            /* <run_dir>/stream: console sockets, pid files of execs */
};

/* ---- answering (server.c) ---- */
void cri_answer(struct cri_call *c, const ProtobufCMessage *resp);
/* Consumes e (may be NULL: INTERNAL "unknown error"). */
void cri_fail(struct cri_call *c, struct pxe *e);
void cri_failf(struct cri_call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool cri_call_cancelled(struct cri_call *c);
/* want (seconds, 0: none) cut down to what is left of the call's deadline. */
unsigned cri_call_timeout_s(struct cri_server *s, struct cri_call *c, unsigned want);
/* {"<method>": {"calls": N, "median_us": X}, ...}: the rpc layer's handling
 * times (request read -> answer queued) of every method called so far. */
json_t *cri_rpc_stats(struct cri_server *s);
/* Events: send to every GetContainerEvents subscriber. */
void cri_events_emit(struct cri_server *s, const struct cri_ctr *c, Runtime__V1__ContainerEventType type);

/* Status messages of one pod / container (sandbox_status.c, container_status.c);
 * net->additional_ips is one allocation for the caller to free. */
void cri_pod_status_fill(struct cri_server *s, const struct cri_pod *p, Runtime__V1__PodSandboxStatus *st,
                         Runtime__V1__PodSandboxMetadata *md, Runtime__V1__PodSandboxNetworkStatus *net,
                         Runtime__V1__NamespaceOption *nso, Runtime__V1__LinuxPodSandboxStatus *lx,
                         Runtime__V1__Namespace *ns);
void cri_ctr_status_fill(const struct cri_ctr *c, Runtime__V1__ContainerStatus *st,
                         Runtime__V1__ContainerMetadata *md, Runtime__V1__ImageSpec *img);

/* ---- slow work (work.c) ---- */
struct cri_job {
        uv_work_t work;
        struct cri_server *srv;
        struct cri_call *call;
        struct pxe *err;                     /* set by run() */
        void (*run)(struct cri_job *j);      /* worker thread */
        void (*done)(struct cri_job *j);     /* loop thread; must free the job */
};

/* Embed struct cri_job as the first member of a job struct. */
void cri_queue(struct cri_server *s, struct cri_job *j);

/* ---- tables (state.c) ---- */
/* Exact ID or a unique prefix (>= 4 characters); NULL otherwise.  Objects in
 * CREATING state are not found. */
struct cri_pod *cri_pod_find(struct cri_server *s, const char *id);
struct cri_ctr *cri_ctr_find(struct cri_server *s, const char *id);
int cri_pod_add(struct cri_server *s, struct cri_pod *p);
int cri_ctr_add(struct cri_server *s, struct cri_ctr *c);
void cri_pod_drop(struct cri_server *s, struct cri_pod *p); /* unlinks and frees */
void cri_ctr_drop(struct cri_server *s, struct cri_ctr *c);
void cri_pod_free(struct cri_pod *p);
void cri_ctr_free(struct cri_ctr *c);
/* Persist (or forget) one object; failures are logged, never fatal to the call. */
void cri_pod_save(struct cri_server *s, const struct cri_pod *p);
void cri_ctr_save(struct cri_server *s, const struct cri_ctr *c);
void cri_pod_forget(struct cri_server *s, const struct cri_pod *p);
void cri_ctr_forget(struct cri_server *s, const struct cri_ctr *c);
/* Load pods and containers from the database (start-up). */
int cri_state_load(struct cri_server *s, struct pxe **err);
/* 64 hex digits from the kernel's CSPRNG. */
int cri_new_id(char out[65], struct pxe **err);
int64_t cri_now_ns(void);

/* Unmount <dir>/shm and remove a pod's directory (worker; sandbox_files.c). */
void cri_pod_dir_remove(const char *dir);

/* Stop (or remove) a pod in a job; c NULL: nobody to answer (sandbox_stop.c). */
void cri_pod_queue_teardown(struct cri_server *s, struct cri_call *c, struct cri_pod *p, bool remove);
/* CNI DEL of a pod (worker; sandbox_run.c): the pod must be busy. */
int cri_pod_network_down(struct cri_server *s, struct cri_pod *p, struct pxe **err);
/* Kill (if still running), delete from the runtime (when in_runtime), drop
 * conmon's files (exit, persist, attach) and remove the bundle of a container
 * (worker; container_stop.c).  What is gone already is fine.  ret_exit (may
 * be NULL) gets the exit conmon recorded before its file went, code -1 when
 * there was none. */
int cri_ctr_teardown(struct cri_server *s, const char *id, const char *bundle, bool in_runtime,
                     struct monitor_exit *ret_exit, struct pxe **err);
/* Remove the cgroups named in <bundle>/config.json (only pxcri-<id> ones),
 * killing what is left in them: a runtime create killed halfway leaves
 * cgroups its delete does not know (worker; container_stop.c). */
void cri_bundle_cgroup_remove(const char *bundle);
/* Wait (worker, at most timeout_ms) until no removal runs in the background:
 * their bundles still hold images. */
void cri_removals_wait(struct cri_server *s, unsigned timeout_ms);

/* The directory of a container's log file exists (made when missing) and
 * can be written: else an error naming it (worker; container_create.c). */
int cri_ctr_log_dir_ready(const char *log_path, struct pxe **err);

/* Signals (signal.c): "SIGTERM", "TERM", "15", "SIGRTMIN+3" / the CRI enum; 0 unknown. */
int cri_signal_from_name(const char *name);
int cri_signal_from_enum(int v);

/* Apply an exit recorded by conmon to c (loop): state, times, reason. */
void cri_ctr_apply_exit(struct cri_server *s, struct cri_ctr *c, const struct monitor_exit *e);
/* Start watching conmon's exit files (reconcile.c). */
int cri_exits_watch(struct cri_server *s, struct pxe **err);
/* After loading: reconcile every container with conmon's files and the runtime (reconcile.c). */
void cri_reconcile(struct cri_server *s);

/* ---- protobuf helpers (proto.c) ---- */
/* Deep copy of a message through pack/unpack. */
void *cri_msg_dup(const ProtobufCMessage *m);
char *cri_msg_to_b64(const ProtobufCMessage *m);
void *cri_msg_from_b64(const ProtobufCMessageDescriptor *d, const char *b64);
/* Every map<string,string> entry protobuf-c generates has this layout. */
struct cri_kv {
        ProtobufCMessage base;
        char *key;
        char *value;
};
#define CRI_KV(entries) ((struct cri_kv *const *) (entries))
/* Every (key, value) of want is in have. */
bool cri_labels_match(struct cri_kv *const *have, size_t n_have, struct cri_kv *const *want, size_t n_want);
/* Map entries of one message can be put in another message's map field as
 * they are: every entry type packs to the same bytes (key = 1, value = 2). */

/* ---- handlers: one file per CRI call or small group (src/cri/<area>.c) ---- */
#define CRI_HANDLER(name, Req) void cri_##name(struct cri_server *s, struct cri_call *c, const Req *req)
CRI_HANDLER(version, Runtime__V1__VersionRequest);
CRI_HANDLER(status, Runtime__V1__StatusRequest);
CRI_HANDLER(runtime_config, Runtime__V1__RuntimeConfigRequest);
CRI_HANDLER(update_runtime_config, Runtime__V1__UpdateRuntimeConfigRequest);
CRI_HANDLER(run_pod_sandbox, Runtime__V1__RunPodSandboxRequest);
CRI_HANDLER(stop_pod_sandbox, Runtime__V1__StopPodSandboxRequest);
CRI_HANDLER(remove_pod_sandbox, Runtime__V1__RemovePodSandboxRequest);
CRI_HANDLER(pod_sandbox_status, Runtime__V1__PodSandboxStatusRequest);
CRI_HANDLER(list_pod_sandbox, Runtime__V1__ListPodSandboxRequest);
CRI_HANDLER(create_container, Runtime__V1__CreateContainerRequest);
CRI_HANDLER(start_container, Runtime__V1__StartContainerRequest);
CRI_HANDLER(stop_container, Runtime__V1__StopContainerRequest);
CRI_HANDLER(remove_container, Runtime__V1__RemoveContainerRequest);
CRI_HANDLER(list_containers, Runtime__V1__ListContainersRequest);
CRI_HANDLER(container_status, Runtime__V1__ContainerStatusRequest);
CRI_HANDLER(update_container_resources, Runtime__V1__UpdateContainerResourcesRequest);
CRI_HANDLER(reopen_container_log, Runtime__V1__ReopenContainerLogRequest);
CRI_HANDLER(exec_sync, Runtime__V1__ExecSyncRequest);
CRI_HANDLER(exec, Runtime__V1__ExecRequest);
CRI_HANDLER(attach, Runtime__V1__AttachRequest);
CRI_HANDLER(port_forward, Runtime__V1__PortForwardRequest);
CRI_HANDLER(container_stats, Runtime__V1__ContainerStatsRequest);
CRI_HANDLER(list_container_stats, Runtime__V1__ListContainerStatsRequest);
CRI_HANDLER(pod_sandbox_stats, Runtime__V1__PodSandboxStatsRequest);
CRI_HANDLER(list_pod_sandbox_stats, Runtime__V1__ListPodSandboxStatsRequest);
CRI_HANDLER(get_container_events, Runtime__V1__GetEventsRequest);
CRI_HANDLER(list_images, Runtime__V1__ListImagesRequest);
CRI_HANDLER(image_status, Runtime__V1__ImageStatusRequest);
CRI_HANDLER(pull_image, Runtime__V1__PullImageRequest);
CRI_HANDLER(remove_image, Runtime__V1__RemoveImageRequest);
CRI_HANDLER(image_fs_info, Runtime__V1__ImageFsInfoRequest);

/* The server: state loaded, exit watch started (server.c).  The daemon
 * registers the methods with rpc through cri_methods(). */
int cri_server_init(struct cri_server *s, uv_loop_t *loop, struct config *cfg, const char *config_path,
                    struct pxe **err);
/* Shutting down: end the event streams, stop watching exits (loop still runs). */
void cri_server_stop(struct cri_server *s);
/* After the loop has ended: free everything. */
void cri_server_done(struct cri_server *s);
