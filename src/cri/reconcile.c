/* Exits and restarts: conmon records each container's exit in
 * <run_dir>/exits/<id>; pxcrid learns of it through inotify (uv_fs_event) on
 * that directory while it runs, and by reading the files when it starts, so
 * exits that happened while it was down are not lost.  What a crash left
 * half-made (a bundle or a pod directory without a record: a create in
 * flight) is cleaned away on start, never listed, and so are conmon's files
 * (exit, persist, attach) of containers nobody records. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "cri/cri.h"
#include "image/layers.h"
#include "net/cni.h"
#include "net/netns.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/id.h"
#include "util/log.h"

/* How long an interrupted start's runtime call may still take: what
 * StartContainer gives conmon. */
#define START_CALL_WAIT_S 240

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

void cri_ctr_apply_exit(struct cri_server *s, struct cri_ctr *c, const struct monitor_exit *e)
{
        const char *reason = e->oom_killed ? "OOMKilled" : e->code == 0 ? "Completed" : "Error";

        bool starting = c->busy && c->state == CRI_CTR_CREATED;

        if (c->state == CRI_CTR_EXITED)
                return;
        c->state = CRI_CTR_EXITED;
        c->exit_code = e->code;
        c->finished_ns = e->at_ns ? e->at_ns : cri_now_ns();
        if (!c->started_ns)
                c->started_ns = c->finished_ns;
        if (c->finished_ns < c->started_ns) /* the exit file's coarse mtime */
                c->finished_ns = c->started_ns;
        free(c->reason);
        c->reason = strdup(reason);
        cri_ctr_save(s, c);
        /* A command that ended before StartContainer's answer: STOPPED
         * follows the STARTED start_done sends. */
        if (starting)
                c->stopped_event_pending = true;
        else
                cri_events_emit(s, c, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
}

static void check_exit(struct cri_server *s, struct cri_ctr *c)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        struct monitor_exit ex = {};

        if (c->state == CRI_CTR_EXITED || c->state == CRI_CTR_CREATING)
                return;
        if (monitor_read_exit(&s->mon, c->id, &ex, &e) < 0) {
                if (e && e->code != ENOENT)
                        log_warn("Container %s: %s", c->id, e->msg);
                return;
        }
        cri_ctr_apply_exit(s, c, &ex);
}

static void on_exit_file(uv_fs_event_t *h, const char *name, int events, int status)
{
        struct cri_server *s = h->data;

        (void) events;
        if (status < 0 || !name)
                return;
        for (size_t i = 0; i < s->n_ctrs; i++)
                if (strcmp(s->ctrs[i]->id, name) == 0) {
                        check_exit(s, s->ctrs[i]);
                        return;
                }
}

int cri_exits_watch(struct cri_server *s, struct pxe **err)
{
        int r;

        uv_fs_event_init(s->loop, &s->exits_watch);
        s->exits_watch.data = s;
        r = uv_fs_event_start(&s->exits_watch, on_exit_file, s->exits_dir, 0);
        if (r < 0)
                return pxe_set(err, -r, "Watching %s: %s", s->exits_dir, uv_strerror(r));
        /* Exits that happened before the watch started. */
        for (size_t i = 0; i < s->n_ctrs; i++)
                check_exit(s, s->ctrs[i]);
        return 0;
}

/* ---- leftovers of creates that were in flight when pxcrid died ---- */

struct orphans_job {
        struct cri_job job;
        char **ctrs; /* bundle directories without a record */
        size_t n_ctrs;
        char **pods; /* pod IDs without a record: their dirs and pinned namespaces */
        size_t n_pods;
        char **starts; /* recorded CREATED, never recorded in the runtime (busy meanwhile) */
        size_t n_starts;
        json_t **states; /* per start: the runtime's state, NULL when it does not know it */
        struct cri_pod **stops; /* recorded pods whose network namespace is gone, busy */
        size_t n_stops;
        char **forgets; /* conmon's files (exit, persist, attach) of unknown containers */
        size_t n_forgets;
};

/* CNI DEL of a pod nobody recorded: RunPodSandbox may have died after the
 * ADD (veth, IP in the IPAM store, portmap chains).  Without the ADD's result
 * the plugins are given no prevResult, which their DEL accepts; a pod that
 * never got that far is no error either (DEL of what is gone). */
/* A pinned network namespace: a file with nsfs mounted on it.  A stop or an
 * unpin cut short leaves the plain file, which CNI plugins refuse to enter. */
static bool netns_usable(const char *path)
{
        struct statfs sf;

        return path && statfs(path, &sf) == 0 && sf.f_type == NSFS_MAGIC;
}

static void orphan_pod_network_down(struct cri_server *s, const char *id, const char *ns_dir)
{
        const struct cri_config *cc = &s->cfg->cri;
        _cleanup_pxe_ struct pxe *e = NULL;
        _cleanup_free_ char *netns = NULL;
        struct cni_net *net = NULL;
        struct cni_request r = { .container_id = id, .ifname = "eth0", .pod_cidr = s->pod_cidr,
                                 .timeout_s = cc->cni_plugin_timeout_s };

        if (asprintf(&netns, "%s/net", ns_dir) < 0)
                return;
        r.netns = netns_usable(netns) ? netns : "";
        if (cni_load(cc->cni_conf_dir, &net, &e) < 0) {
                log_warn("Removing the network of the half-made pod %s: %s", id, e->msg);
                return;
        }
        if (cni_del(net, (const char *const *) cc->cni_bin_dirs, cc->n_cni_bin_dirs, &r, NULL, &e) < 0)
                log_warn("Removing the network of the half-made pod %s: %s", id, e->msg);
        cni_net_free(net);
}

/* A bundle whose create died before its marker (written last) was: what
 * bundle_remove refuses to touch.  Its rootfs may be mounted already; its
 * image reference, if taken, is a stale one that prune drops. */
static int half_made_bundle_remove(const char *dir, struct pxe **err)
{
        _cleanup_free_ char *marker = NULL, *rootfs = NULL;

        if (asprintf(&marker, "%s/pxcri-bundle.json", dir) < 0 || asprintf(&rootfs, "%s/rootfs", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (access(marker, F_OK) == 0)
                return bundle_remove(dir, err);
        umount2(rootfs, MNT_DETACH | UMOUNT_NOFOLLOW);
        return layers_rm_tree(dir, err);
}

static char *bundle_of(struct cri_server *s, const char *id)
{
        char *path;

        return asprintf(&path, "%s/%s", s->ctr_dir, id) < 0 ? NULL : path;
}

/* A start died after `pxcri create`: the user's process has not run (the
 * runtime says "created") or its conmon is gone before recording an exit
 * (nothing would record it).  Take it out of the runtime, conmon first so that no exit is
 * recorded; the record stays created, and StartContainer makes it anew. */
static bool unadoptable(struct cri_server *s, const char *id, json_t *st)
{
        const char *status = json_string_value(json_object_get(st, "status"));
        _cleanup_free_ char *exit_file = NULL, *bundle = bundle_of(s, id);
        int pid = monitor_conmon_pid(bundle);

        if (!bundle || asprintf(&exit_file, "%s/%s", s->exits_dir, id) < 0)
                return false;
        if (status && strcmp(status, "stopped") == 0 && access(exit_file, F_OK) == 0)
                return false; /* ran and exited: the exit is known */
        if (pid > 0 && status && strcmp(status, "running") == 0)
                return false;
        if (pid > 0)
                kill(pid, SIGKILL);
        monitor_delete(&s->mon, id, true, NULL);
        cri_bundle_cgroup_remove(bundle);
        monitor_forget(&s->mon, id);
        log_info("Container %s: deleted from the runtime after an interrupted start (%s, conmon %s)", id,
                 status ? status : "unknown", pid > 0 ? "killed" : "gone");
        return true;
}

static void orphans_run(struct cri_job *j)
{
        struct orphans_job *o = (struct orphans_job *) j;
        struct cri_server *s = j->srv;

        for (size_t i = 0; i < o->n_ctrs; i++) {
                _cleanup_pxe_ struct pxe *e = NULL;
                _cleanup_free_ char *dir = NULL;

                monitor_delete(&s->mon, o->ctrs[i], true, NULL);
                if (asprintf(&dir, "%s/%s", s->ctr_dir, o->ctrs[i]) < 0)
                        continue;
                cri_bundle_cgroup_remove(dir);
                monitor_forget(&s->mon, o->ctrs[i]);
                if (half_made_bundle_remove(dir, &e) < 0)
                        log_warn("Removing the half-made container %s: %s", o->ctrs[i], e->msg);
                else
                        log_info("Removed the half-made container %s", o->ctrs[i]);
        }
        for (size_t i = 0; i < o->n_pods; i++) {
                _cleanup_pxe_ struct pxe *e = NULL;
                _cleanup_free_ char *ns = NULL, *dir = NULL;

                if (asprintf(&ns, "%s/%s", s->ns_dir, o->pods[i]) < 0 ||
                    asprintf(&dir, "%s/%s", s->pod_dir, o->pods[i]) < 0)
                        continue;
                orphan_pod_network_down(s, o->pods[i], ns);
                if (netns_unpin(ns, &e) < 0)
                        log_warn("Removing the half-made pod %s: %s", o->pods[i], e->msg);
                cri_pod_dir_remove(dir);
                log_info("Removed the half-made pod %s", o->pods[i]);
        }
        for (size_t i = 0; i < o->n_stops; i++) {
                _cleanup_pxe_ struct pxe *e = NULL;

                struct cri_pod *p = o->stops[i];

                if (cri_pod_network_down(s, p, &e) < 0 || netns_unpin(p->ns_dir, &e) < 0)
                        log_warn("Finishing the stop of pod %s: %s", p->id, e->msg);
                else if (p->shm_path && strcmp(p->shm_path, "/dev/shm") != 0) /* as StopPodSandbox does last */
                        umount2(p->shm_path, MNT_DETACH | UMOUNT_NOFOLLOW);
        }
        for (size_t i = 0; i < o->n_forgets; i++)
                monitor_forget(&s->mon, o->forgets[i]);
        for (size_t i = 0; i < o->n_starts; i++) {
                _cleanup_free_ char *bundle = bundle_of(s, o->starts[i]);

                /* Ask the runtime only once conmon's `pxcri create` (if the
                 * start died in it) has ended: a create still running is
                 * unknown to the runtime now and "created" a moment later. */
                if (bundle && monitor_runtime_call_wait(bundle, START_CALL_WAIT_S) < 0)
                        log_warn("Container %s: the runtime's create of an interrupted start did not end "
                                 "within %u s: killed", o->starts[i], START_CALL_WAIT_S);
                if (monitor_state(&s->mon, o->starts[i], &o->states[i], NULL) < 0) {
                        o->states[i] = NULL;
                        if (monitor_conmon_pid(bundle) > 0)
                                unadoptable(s, o->starts[i], NULL); /* its conmon has nothing to watch */
                } else if (unadoptable(s, o->starts[i], o->states[i])) {
                        json_decref(o->states[i]);
                        o->states[i] = NULL;
                }
        }
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* StartContainer died between `pxcri start` and recording it: the runtime
 * has the container running under its conmon (or it ran and conmon recorded
 * its exit), the record says created and not in the runtime.  Adopt what the
 * runtime reports, so that a stop or remove reaches conmon and the runtime
 * instead of leaving them behind. */
static void adopt_start(struct cri_server *s, const char *id, json_t *st)
{
        const char *status = json_string_value(json_object_get(st, "status"));
        struct cri_ctr *c = NULL;

        for (size_t i = 0; i < s->n_ctrs; i++)
                if (strcmp(s->ctrs[i]->id, id) == 0)
                        c = s->ctrs[i];
        if (!c)
                return;
        c->busy = false;
        if (!st)
                return;
        c->in_runtime = true;
        c->pid = (int) json_integer_value(json_object_get(st, "pid"));
        if (c->backend == BACKEND_PROXMOX) {
                json_int_t vmid = json_integer_value(
                        json_object_get(json_object_get(st, "annotations"), "pxcri.io/proxmox-vmid"));
                c->proxmox_vmid = vmid > 0 && vmid < INT32_MAX ? (int) vmid : 0;
        }
        if (c->state == CRI_CTR_CREATED && status && strcmp(status, "created") != 0) {
                c->state = CRI_CTR_RUNNING;
                c->started_ns = cri_now_ns();
        }
        log_info("Container %s: adopted from the runtime (%s) after an interrupted start", id,
                 status ? status : "unknown");
        cri_ctr_save(s, c);
        check_exit(s, c);
}

static void orphans_done(struct cri_job *j)
{
        struct orphans_job *o = (struct orphans_job *) j;

        for (size_t i = 0; i < o->n_starts; i++) { /* n_starts > 0: states is allocated */
                adopt_start(j->srv, o->starts[i], o->states[i]);
                json_decref(o->states[i]);
        }
        for (size_t i = 0; i < o->n_stops; i++) {
                o->stops[i]->busy = false;
                cri_pod_save(j->srv, o->stops[i]);
        }
        free(o->stops);
        free(o->states);
        strv_free(o->ctrs, o->n_ctrs);
        strv_free(o->pods, o->n_pods);
        strv_free(o->starts, o->n_starts);
        strv_free(o->forgets, o->n_forgets);
        free(o);
}

static bool known(struct cri_server *s, const char *id, bool pod)
{
        if (pod) {
                for (size_t i = 0; i < s->n_pods; i++)
                        if (strcmp(s->pods[i]->id, id) == 0)
                                return true;
                return false;
        }
        for (size_t i = 0; i < s->n_ctrs; i++)
                if (strcmp(s->ctrs[i]->id, id) == 0)
                        return true;
        return false;
}

static bool strv_has(char **v, size_t n, const char *x)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], x) == 0)
                        return true;
        return false;
}

/* Containers recorded as created but not in the runtime: a start may have
 * been in flight.  Busy until the job has asked the runtime. */
static void unrecorded_starts(struct cri_server *s, struct orphans_job *o)
{
        size_t n = 0;

        for (size_t i = 0; i < s->n_ctrs; i++)
                n += s->ctrs[i]->state == CRI_CTR_CREATED && !s->ctrs[i]->in_runtime;
        if (!n || !(o->starts = calloc(n, sizeof(char *))) || !(o->states = calloc(n, sizeof(json_t *))))
                return;
        for (size_t i = 0; i < s->n_ctrs; i++) {
                struct cri_ctr *c = s->ctrs[i];

                if (c->state != CRI_CTR_CREATED || c->in_runtime || !(o->starts[o->n_starts] = strdup(c->id)))
                        continue;
                c->busy = true;
                o->n_starts++;
        }
}

/* Entries of dir that are not known objects (read on the loop before serving,
 * so no create of this run can be among them). */
static void unknown_entries(struct cri_server *s, const char *dir, bool pod, char ***ret, size_t *ret_n)
{
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        while (d && (de = readdir(d))) {
                char **v;

                if (!id_is_valid(de->d_name) || known(s, de->d_name, pod) || strv_has(*ret, *ret_n, de->d_name))
                        continue;
                v = realloc(*ret, (*ret_n + 1) * sizeof(*v));
                if (!v)
                        return;
                *ret = v;
                if ((v[*ret_n] = strdup(de->d_name)))
                        (*ret_n)++;
        }
}

/* Recorded pods whose network namespace went with an interrupted stop: the
 * stop is finished by the job (busy meanwhile), its CNI DEL given no netns
 * (plugins then release the IP and their rules; the veth went with the
 * namespace) instead of failing on the plain file. */
static void lost_netns(struct cri_server *s, struct orphans_job *o)
{
        for (size_t i = 0; i < s->n_pods; i++) {
                struct cri_pod *p = s->pods[i];
                struct cri_pod **v;
                char *none;

                if (!p->ns.net || !*p->ns.net || netns_usable(p->ns.net))
                        continue;
                if (!(v = realloc(o->stops, (o->n_stops + 1) * sizeof(*v))) || !(none = strdup("")))
                        return;
                o->stops = v;
                log_info("Pod %s: its network namespace %s is gone (interrupted stop): stopping it", p->id, p->ns.net);
                free(p->ns.net);
                p->ns.net = none;
                p->busy = true;
                p->state = CRI_POD_NOTREADY;
                o->stops[o->n_stops++] = p;
        }
}

/* A RemovePodSandbox cut short removes bundles and the pod's directory before
 * it drops the records: a record whose bundle (or pod directory) is gone was
 * being removed.  Finish that: forget it now; what the runtime or CNI may still
 * hold of it goes with the orphans below (its ID joins their lists). */
static void finish_cut_removals(struct cri_server *s, struct orphans_job *o)
{
        for (size_t i = s->n_ctrs; i-- > 0;) {
                struct cri_ctr *c = s->ctrs[i];
                char **v;

                if (fs_dir_exists(c->bundle))
                        continue;
                log_info("Container %s: its bundle is gone (a removal was cut short): forgetting it", c->id);
                if ((v = realloc(o->ctrs, (o->n_ctrs + 1) * sizeof(*v))) && (v[o->n_ctrs] = strdup(c->id))) {
                        o->ctrs = v;
                        o->n_ctrs++;
                } else if (v) {
                        o->ctrs = v;
                }
                cri_ctr_forget(s, c);
                cri_ctr_drop(s, c);
        }
        for (size_t i = s->n_pods; i-- > 0;) {
                struct cri_pod *p = s->pods[i];
                char **v;

                if (fs_dir_exists(p->dir))
                        continue;
                log_info("Pod %s: its directory is gone (a removal was cut short): forgetting it", p->id);
                if ((v = realloc(o->pods, (o->n_pods + 1) * sizeof(*v))) && (v[o->n_pods] = strdup(p->id))) {
                        o->pods = v;
                        o->n_pods++;
                } else if (v) {
                        o->pods = v;
                }
                cri_pod_forget(s, p);
                cri_pod_drop(s, p);
        }
}

void cri_reconcile(struct cri_server *s)
{
        struct orphans_job *o = calloc(1, sizeof(*o));

        if (!o)
                return;
        finish_cut_removals(s, o);
        lost_netns(s, o);
        unknown_entries(s, s->ctr_dir, false, &o->ctrs, &o->n_ctrs);
        unknown_entries(s, s->pod_dir, true, &o->pods, &o->n_pods);
        unknown_entries(s, s->ns_dir, true, &o->pods, &o->n_pods);
        unknown_entries(s, s->exits_dir, false, &o->forgets, &o->n_forgets);
        unknown_entries(s, s->persist_dir, false, &o->forgets, &o->n_forgets);
        unknown_entries(s, s->socket_dir, false, &o->forgets, &o->n_forgets);
        unrecorded_starts(s, o);
        if (!o->n_ctrs && !o->n_pods && !o->n_starts && !o->n_stops && !o->n_forgets) {
                orphans_done(&o->job);
                return;
        }
        o->job.run = orphans_run;
        o->job.done = orphans_done;
        cri_queue(s, &o->job);
}
