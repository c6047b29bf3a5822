/* CreateContainer: the OCI bundle from the stored image and the request
 * (bundle/ + cri/spec/: overlay rootfs, config.json).  The runtime's create
 * waits for StartContainer, as containerd splits the work (measured both
 * ways in docs/benchmarks.md: this split makes each call cheaper than
 * containerd's).  The backend is decided here (handler -> routing rules ->
 * default) and written into config.json (io.pxcri.backend), so pxcri
 * records the same one. */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/proxmox/map.h"
#include "bundle/bundle.h"
#include "cri/image_common.h"
#include "cri/sandbox.h"
#include "cri/spec/container_spec.h"
#include "image/store.h"
#include "router/router.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

struct create_job {
        struct cri_job job;
        struct cri_ctr *ctr;            /* CREATING: the worker fills it, nobody else touches it */
        const Runtime__V1__ContainerConfig *cc; /* the request's, valid until the answer */
        Runtime__V1__PodSandboxConfig *pod_config; /* copy */
        struct cri_sandbox_info sb;     /* strings owned below */
        char *pod_dir, *netns, *ipcns, *utsns, *pidns, *shm, *target_pidns;
        struct cri_spec_opts opts;
        char *image_root;
};

static void create_job_free(struct create_job *cj)
{
        if (cj->pod_config)
                protobuf_c_message_free_unpacked(&cj->pod_config->base, NULL);
        free(cj->pod_dir);
        free(cj->netns);
        free(cj->ipcns);
        free(cj->utsns);
        free(cj->pidns);
        free(cj->shm);
        free(cj->target_pidns);
        free(cj->image_root);
        free((char *) cj->sb.hosts_path);
        free((char *) cj->sb.resolv_path);
        free((char *) cj->sb.hostname_path);
        free((char *) cj->sb.hostname);
        free(cj);
}

/* A container routed to Proxmox: the backend's own mapping of the spec
 * (pure: it only stats bind sources), so that what a Proxmox container
 * cannot honour is refused here naming the field -- FAILED_PRECONDITION
 * (the request is valid, this runtime cannot run it), INVALID_ARGUMENT for
 * a malformed field -- rather than by `pxcri create` at the start.  The
 * transport is pct here (with api ctr_new() refused already). */
static int proxmox_check(json_t *spec, const struct cri_ctr *c, const struct proxmox_config *pc, struct pxe **err)
{
        struct pve_map_request req = { .id = c->id, .bundle = c->bundle, .storage = pc->storage, .bridge = pc->bridge,
                                       .init_dir = PVE_MAP_INIT_DIR, .seccomp_path = "seccomp",
                                       .init_path = "pxcri-init", .setup_path = "setup",
                                       .privileged = !pc->unprivileged_pods };
        struct pve_params *p = NULL;

        if (pve_map_bundle(spec, &req, &p, err) < 0) {
                if ((*err)->code == ENOTSUP)
                        (*err)->code = EBUSY;
                return -(*err)->code;
        }
        pve_params_free(p);
        return 0;
}

/* Kubernetes semantics: a pod without a user namespace has container root
 * == node root, confined by the CRI's capabilities, seccomp, masked paths
 * -- so a privileged Proxmox container (unprivileged=0), unless the admin
 * keeps every container unprivileged (backends.proxmox.unprivileged_pods),
 * where privileged CRI containers cannot be honoured.  The annotations the
 * backend reads are pxcrid's alone: a request's own (CRI annotations reach
 * the spec) are replaced. */
static int proxmox_privilege(json_t *spec, json_t *ann, const Runtime__V1__ContainerConfig *cc,
                             const struct proxmox_config *pc, struct pxe **err)
{
        bool unconfined = !json_is_object(json_object_get(json_object_get(spec, "linux"), "seccomp"));

        bool privileged = cc->linux && cc->linux->security_context && cc->linux->security_context->privileged;

        if (privileged && pc->unprivileged_pods)
                return pxe_set(err, EBUSY,
                               "privileged: a privileged container needs a privileged Proxmox container, and "
                               "backends.proxmox.unprivileged_pods makes every one unprivileged; run it on crun "
                               "(a RuntimeClass or runtime.routing rule) or turn the key off");
        json_object_set_new(ann, PVE_MAP_ANN_PRIVILEGED, json_string(pc->unprivileged_pods ? "false" : "true"));
        if (privileged)
                json_object_set_new(ann, PVE_MAP_ANN_PRIVILEGED_CTR, json_string("true"));
        else
                json_object_del(ann, PVE_MAP_ANN_PRIVILEGED_CTR);
        /* No profile in the spec: the CRI's Unconfined (or privileged). */
        if (unconfined)
                json_object_set_new(ann, PVE_MAP_ANN_SECCOMP_UNCONFINED, json_string("true"));
        else
                json_object_del(ann, PVE_MAP_ANN_SECCOMP_UNCONFINED);
        return 0;
}

/* Edits the spec bundle_create() generated: the CRI request, then the
 * routing decision and what the server keeps of the spec. */
static int customize(json_t *spec, void *data, struct pxe **err)
{
        struct create_job *cj = data;
        struct cri_ctr *c = cj->ctr;
        json_t *ann, *sig;
        const char *cg;

        if (cri_spec_apply(spec, c->id, cj->cc, &cj->sb, &cj->opts, err) < 0)
                return pxe_wrap(err, "Container %s", cj->cc->metadata->name);
        ann = json_object_get(spec, "annotations");
        if (!ann) {
                ann = json_object();
                json_object_set_new(spec, "annotations", ann);
        }
        json_object_set_new(ann, ROUTER_DECIDED_ANNOTATION, json_string(backend_id_to_name(c->backend)));
        json_object_set_new(ann, ROUTER_REASON_ANNOTATION, json_string(c->route_reason));
        cg = json_string_value(json_object_get(json_object_get(spec, "linux"), "cgroupsPath"));
        if (cg && !(c->cgroup_path = strdup(cg)))
                return pxe_set(err, ENOMEM, "Out of memory");
        sig = json_object_get(ann, "org.opencontainers.image.stopSignal");
        if (!c->stop_signal && sig)
                c->stop_signal = cri_signal_from_name(json_string_value(sig));
        if (c->backend == BACKEND_PROXMOX && (proxmox_privilege(spec, ann, cj->cc, &cj->job.srv->cfg->proxmox, err) < 0 ||
                                              proxmox_check(spec, c, &cj->job.srv->cfg->proxmox, err) < 0))
                return pxe_wrap(err, "Container %s on Proxmox", cj->cc->metadata->name);
        return 0;
}

static int env_list(const Runtime__V1__ContainerConfig *cc, char ***ret)
{
        char **v = calloc(cc->n_envs + 1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < cc->n_envs; i++)
                /* value is bytes in the proto (the same wire format as string). */
                if (asprintf(&v[i], "%s=%.*s", cc->envs[i]->key, (int) cc->envs[i]->value.len,
                             cc->envs[i]->value.data ? (const char *) cc->envs[i]->value.data : "") < 0) {
                        v[i] = NULL;
                        *ret = v;
                        return -ENOMEM;
                }
        *ret = v;
        return 0;
}

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

/* The tag (or digest) the image is known by, for ContainerStatus. */
static void image_names(struct create_job *cj, const struct image_rec *rec)
{
        struct cri_ctr *c = cj->ctr;

        for (size_t i = 0; i < rec->n_repo_tags && !c->image_name; i++)
                if (strcmp(rec->repo_tags[i], c->image_ref) == 0 || strstr(rec->repo_tags[i], c->image_ref))
                        c->image_name = strdup(rec->repo_tags[i]);
        if (!c->image_name && rec->n_repo_tags)
                c->image_name = strdup(rec->repo_tags[0]);
        if (rec->n_repo_digests)
                c->repo_digest = strdup(rec->repo_digests[0]);
}

static int make_bundle(struct create_job *cj, struct pxe **err)
{
        const Runtime__V1__ContainerConfig *cc = cj->cc;
        struct cri_ctr *c = cj->ctr;
        _cleanup_image_rec_ struct image_rec *rec = NULL;
        _cleanup_free_ char *user = NULL;
        struct image_store *store;
        char **env = NULL;
        int r;

        if (cri_spec_user(cc, &user, err) < 0)
                return -EINVAL;
        store = cri_thread_image_store(cj->image_root, err);
        if (!store)
                return -pxe_code(err, EIO);
        if (env_list(cc, &env) < 0) {
                strv_free(env);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        struct bundle_request br = {
                .image_root = cj->image_root,
                .image = cc->image->image,
                .dir = c->bundle,
                .spec = {
                        .command = (const char *const *) cc->command,
                        .n_command = cc->n_command,
                        .args = (const char *const *) cc->args,
                        .n_args = cc->n_args,
                        .args_set = cc->n_args > 0,
                        .env = (const char *const *) env,
                        .n_env = cc->n_envs,
                        .user = user,
                        .cwd = cc->working_dir && *cc->working_dir ? cc->working_dir : NULL,
                        .hostname = cj->sb.hostname,
                        .terminal = cc->tty,
                        .readonly_rootfs = cc->linux && cc->linux->security_context &&
                                           cc->linux->security_context->readonly_rootfs,
                },
                .customize = customize,
                .customize_data = cj,
                .store = store,
                .ret_image = &rec,
        };
        r = bundle_create(&br, &c->image_id, err);
        if (r >= 0)
                image_names(cj, rec);
        strv_free(env);
        /* Only the store's "Image X not found": a user missing from the
         * image's /etc/passwd is ENOENT "not found" too. */
        if (r < 0 && pxe_code(err, 0) == ENOENT && strncmp((*err)->msg, "Image ", 6) == 0 &&
            strstr((*err)->msg, "not found"))
                pxe_wrap(err, "Image \"%s\" is not present (pull it first)", cc->image->image);
        return r;
}

int cri_ctr_log_dir_ready(const char *log_path, struct pxe **err)
{
        _cleanup_free_ char *dir = strdup(log_path);

        if (!dir)
                return pxe_set(err, ENOMEM, "Out of memory");
        /* kubelet made it already: one stat instead of a walk */
        if (!fs_dir_exists(dirname(dir)) && fs_mkdir_p(dir, 0755, err) < 0)
                return pxe_wrap(err, "Log directory");
        /* conmon opens the log only after it forked, and its error names no
         * path: a read-only directory is found here (root gets EROFS). */
        if (access(dir, W_OK) < 0)
                return pxe_set_errno(err, errno, "Log directory %s cannot be written", dir);
        return 0;
}

static void create_work(struct cri_job *j)
{
        struct create_job *cj = (struct create_job *) j;
        struct cri_ctr *c = cj->ctr;
        int64_t t0 = cri_now_ns();

        if (c->log_path && cri_ctr_log_dir_ready(c->log_path, &j->err) < 0) {
                pxe_wrap(&j->err, "Creating container %s", cj->cc->metadata->name);
                return;
        }
        if (make_bundle(cj, &j->err) < 0)
                return;
        log_debug("Container %s: bundle made in %.1f ms (routed to %s)", c->id, (double) (cri_now_ns() - t0) / 1e6,
                  backend_id_to_name(c->backend));
}

/* A create nobody will learn of (the call's deadline passed or the client
 * went away while it ran): undo it, as containerd does. */
struct abandon_job {
        struct cri_job job;
        struct cri_ctr *ctr; /* CREATING: not listed, nobody else touches it */
};

static void abandon_work(struct cri_job *j)
{
        struct abandon_job *aj = (struct abandon_job *) j;

        cri_ctr_teardown(j->srv, aj->ctr->id, aj->ctr->bundle, aj->ctr->in_runtime, NULL, &j->err);
}

static void abandon_done(struct cri_job *j)
{
        struct abandon_job *aj = (struct abandon_job *) j;

        if (j->err)
                log_warn("Removing the abandoned container %s: %s", aj->ctr->id, j->err->msg);
        pxe_free(j->err);
        cri_ctr_drop(j->srv, aj->ctr);
        free(aj);
}

static void abandon(struct cri_server *s, struct cri_ctr *c)
{
        struct abandon_job *aj = calloc(1, sizeof(*aj));

        if (!aj) {
                cri_ctr_drop(s, c);
                return;
        }
        aj->ctr = c;
        aj->job.run = abandon_work;
        aj->job.done = abandon_done;
        cri_queue(s, &aj->job);
}

static void create_done(struct cri_job *j)
{
        struct create_job *cj = (struct create_job *) j;
        struct cri_ctr *c = cj->ctr;
        Runtime__V1__CreateContainerResponse r = RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;

        if (j->err) {
                cri_ctr_drop(j->srv, c);
                cri_fail(j->call, TAKE_PTR(j->err));
        } else if (cri_call_cancelled(j->call)) {
                abandon(j->srv, c);
                cri_failf(j->call, ECANCELED, "CreateContainer was cancelled");
        } else {
                c->state = CRI_CTR_CREATED;
                cri_ctr_save(j->srv, c);
                cri_events_emit(j->srv, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
                r.container_id = c->id;
                cri_answer(j->call, &r.base);
        }
        create_job_free(cj);
}

static int validate(struct cri_server *s, const Runtime__V1__CreateContainerRequest *req, struct cri_pod **ret,
                    struct pxe **err)
{
        const Runtime__V1__ContainerConfig *cc = req->config;
        struct cri_pod *p;

        if (cri_spec_validate_container(cc, err) < 0)
                return -EINVAL;
        if (cc->linux && cc->linux->security_context && cc->linux->security_context->run_as_group &&
            !cc->linux->security_context->run_as_user &&
            !(cc->linux->security_context->run_as_username && *cc->linux->security_context->run_as_username))
                return pxe_set(err, EINVAL,
                               "CreateContainer: config.linux.security_context.run_as_group needs run_as_user or run_as_username");
        p = cri_pod_find(s, req->pod_sandbox_id);
        if (!p)
                return pxe_set(err, ENOENT, "Pod sandbox \"%s\" not found", req->pod_sandbox_id);
        if (p->state != CRI_POD_READY || p->busy)
                return pxe_set(err, EBUSY, "Pod sandbox %s is not ready: containers cannot be created in it", p->id);
        for (size_t i = 0; i < s->n_ctrs; i++) {
                const struct cri_ctr *o = s->ctrs[i];

                if (strcmp(o->pod_id, p->id) == 0 && strcmp(o->config->metadata->name, cc->metadata->name) == 0 &&
                    o->config->metadata->attempt == cc->metadata->attempt)
                        return pxe_set(err, EEXIST, "Container \"%s\" (attempt %u) already exists in pod %s: %s",
                                       cc->metadata->name, cc->metadata->attempt, p->id, o->id);
        }
        *ret = p;
        return 0;
}

/* handler -> rules (annotations, image, name) -> default. */
static int route(struct cri_server *s, const struct cri_pod *p, struct cri_ctr *c, struct pxe **err)
{
        const Runtime__V1__ContainerConfig *cc = c->config;
        const struct cri_config *crc = &s->cfg->cri;
        const struct cri_handler_config *h = cri_config_handler(crc, p->handler);
        const Runtime__V1__PodSandboxConfig *pc = p->config;
        _cleanup_free_ struct annotation *ann = calloc(cc->n_annotations + pc->n_annotations + 2, sizeof(*ann));
        struct route_result rr = {};
        size_t n = 0;

        if (h && h->backend != BACKEND_INVALID) {
                c->backend = h->backend;
                return asprintf(&c->route_reason, "runtime handler %s", h->name) < 0 ? -ENOMEM : 0;
        }
        if (!ann)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < cc->n_annotations; i++)
                if (strcmp(cc->annotations[i]->key, ROUTER_DECIDED_ANNOTATION) != 0)
                        ann[n++] = (struct annotation) { cc->annotations[i]->key, cc->annotations[i]->value };
        for (size_t i = 0; i < pc->n_annotations; i++) /* those the spec gets too, under the container's */
                if (cri_spec_pod_annotation_passes(crc->pod_annotations, crc->n_pod_annotations, pc->annotations[i]->key) &&
                    !annotation_get(ann, n, pc->annotations[i]->key))
                        ann[n++] = (struct annotation) { pc->annotations[i]->key, pc->annotations[i]->value };
        ann[n++] = (struct annotation) { "io.kubernetes.cri.container-name", cc->metadata->name };
        ann[n++] = (struct annotation) { "io.kubernetes.cri.sandbox-name", p->config->metadata->name };
        struct route_input in = { .id = c->id, .image = cc->image->image, .annotations = ann, .n_annotations = n };
        if (router_pick(s->cfg, &in, &rr, err) < 0)
                return -EINVAL;
        c->backend = rr.backend;
        c->route_reason = strdup(rr.reason);
        return c->route_reason ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

static int pod_path(char **ret, const struct cri_pod *p, const char *name)
{
        return asprintf(ret, "%s/%s", p->dir, name) < 0 ? -ENOMEM : 0;
}

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

static char *read_hostname(const struct cri_pod *p)
{
        _cleanup_free_ char *path = NULL;
        char *text = NULL;

        if (pod_path(&path, p, "hostname") < 0 || fs_read_file(path, 4096, &text, NULL, NULL) < 0)
                return strdup(p->config->metadata->name);
        text[strcspn(text, "\n")] = '\0';
        return text;
}

/* What the worker needs of the pod, copied: the pod may change meanwhile. */
static int job_sandbox(struct cri_server *s, struct create_job *cj, const struct cri_pod *p, struct pxe **err)
{
        const Runtime__V1__NamespaceOption *o =
                cj->cc->linux && cj->cc->linux->security_context ? cj->cc->linux->security_context->namespace_options
                                                                 : NULL;
        const Runtime__V1__PodSandboxMetadata *md = p->config->metadata;

        cj->pod_config = cri_msg_dup(&p->config->base);
        cj->netns = dup_or_null(p->ns.net);
        cj->ipcns = dup_or_null(p->ns.ipc);
        cj->utsns = dup_or_null(p->ns.uts);
        cj->pidns = dup_or_null(p->pidns_path);
        cj->shm = dup_or_null(p->shm_path);
        cj->image_root = strdup(s->cfg->image.root);
        if (!cj->pod_config || !cj->image_root || pod_path((char **) &cj->sb.hosts_path, p, "hosts") < 0 ||
            pod_path((char **) &cj->sb.resolv_path, p, "resolv.conf") < 0 ||
            pod_path((char **) &cj->sb.hostname_path, p, "hostname") < 0 || !(cj->sb.hostname = read_hostname(p)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (o && o->pid == RUNTIME__V1__NAMESPACE_MODE__TARGET) {
                struct cri_ctr *t = cri_ctr_find(s, o->target_id);

                if (!t || t->state != CRI_CTR_RUNNING || t->pid <= 0)
                        return pxe_set(err, ENOENT, "CreateContainer: the target container \"%s\" of the pid namespace is not running",
                                       o->target_id);
                if (asprintf(&cj->target_pidns, "/proc/%d/ns/pid", t->pid) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        cj->sb = (struct cri_sandbox_info) {
                .id = p->id,
                .name = md->name,
                .namespace_ = md->namespace_,
                .uid = md->uid,
                .netns_path = cj->netns,
                .ipcns_path = cj->ipcns,
                .utsns_path = cj->utsns,
                .pidns_path = cj->pidns,
                .hostname = cj->sb.hostname,
                .hosts_path = cj->sb.hosts_path,
                .resolv_path = cj->sb.resolv_path,
                .hostname_path = cj->sb.hostname_path,
                .shm_path = cj->shm,
                .cgroup_parent = cj->pod_config->linux ? cj->pod_config->linux->cgroup_parent : NULL,
                .config = cj->pod_config,
        };
        cj->opts = (struct cri_spec_opts) {
                .systemd_cgroup = s->cfg->cri.cgroup_driver == CGROUP_DRIVER_SYSTEMD,
                .min_oom_score_adj = s->min_oom_score_adj,
                .target_pidns = cj->target_pidns,
                .pod_annotations = s->cfg->cri.pod_annotations,
                .n_pod_annotations = s->cfg->cri.n_pod_annotations,
        };
        return 0;
}

static int ctr_new(struct cri_server *s, const Runtime__V1__CreateContainerRequest *req, const struct cri_pod *p,
                   struct cri_ctr **ret, struct pxe **err)
{
        const Runtime__V1__ContainerConfig *cc = req->config;
        const char *log_dir = p->config->log_directory;
        _cleanup_free_ char *default_dir = NULL;
        struct cri_ctr *c = calloc(1, sizeof(*c));
        int r;

        *ret = c;
        if (!c || cri_new_id(c->id, err) < 0)
                return c ? -EIO : pxe_set(err, ENOMEM, "Out of memory");
        memcpy(c->pod_id, p->id, sizeof(c->pod_id));
        c->state = CRI_CTR_CREATING;
        c->created_ns = cri_now_ns();
        c->stop_signal = cri_signal_from_enum(cc->stop_signal);
        if (!(c->config = cri_msg_dup(&cc->base)))
                return pxe_set(err, EINVAL, "CreateContainer: config cannot be kept (it does not survive re-encoding)");
        if (!(c->image_ref = strdup(cc->image->image)) ||
            asprintf(&c->bundle, "%s/%s", s->ctr_dir, c->id) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (cc->log_path && *cc->log_path) {
                if (cc->log_path[0] == '/' || strstr(cc->log_path, ".."))
                        return pxe_set(err, EINVAL, "CreateContainer: config.log_path \"%s\" must be relative to the pod's log_directory, without \"..\"",
                                       cc->log_path);
                /* A pod without a log directory (crictl's) logs under cri.log_dir/<pod>. */
                if ((!log_dir || !*log_dir) && asprintf(&default_dir, "%s/%s", s->cfg->cri.log_dir, p->id) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (asprintf(&c->log_path, "%s/%s", default_dir ? default_dir : log_dir, cc->log_path) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        if ((r = route(s, p, c, err)) < 0)
                return r;
        /* A Proxmox container joins the pod's network (its namespace, or
         * the host's for hostNetwork) through raw LXC keys in its config
         * file on the node (src/backend/proxmox/pmx_namespaces.c): the REST
         * API cannot write those.  Never a network of its own instead. */
        if (c->backend == BACKEND_PROXMOX && s->cfg->proxmox.transport == PROXMOX_TRANSPORT_API)
                return pxe_set(err, EBUSY,
                               "CreateContainer: container %s is routed to Proxmox (%s), but joining the pod's "
                               "network (%s) needs backends.proxmox.transport \"pct\" (pxcri on the Proxmox "
                               "node): the REST API cannot set the raw LXC keys for it. Use the pct transport, or "
                               "route this container elsewhere",
                               cc->metadata ? cc->metadata->name : c->id, c->route_reason,
                               p->ns.net && *p->ns.net ? "its network namespace" : "the host's network");
        return 0;
}

CRI_HANDLER(create_container, Runtime__V1__CreateContainerRequest)
{
        struct pxe *e = NULL;
        struct create_job *cj = NULL;
        struct cri_ctr *ct = NULL;
        struct cri_pod *p = NULL;

        if (validate(s, req, &p, &e) < 0 || ctr_new(s, req, p, &ct, &e) < 0)
                goto fail;
        cj = calloc(1, sizeof(*cj));
        if (!cj) {
                pxe_set(&e, ENOMEM, "Out of memory");
                goto fail;
        }
        cj->cc = req->config;
        cj->ctr = ct;
        if (job_sandbox(s, cj, p, &e) < 0 || cri_ctr_add(s, ct) < 0)
                goto fail;
        cj->job.call = c;
        cj->job.run = create_work;
        cj->job.done = create_done;
        cri_queue(s, &cj->job);
        return;
fail:
        cri_ctr_free(ct);
        if (cj)
                create_job_free(cj);
        cri_fail(c, e ? e : (pxe_set(&e, ENOMEM, "Out of memory"), e));
}
