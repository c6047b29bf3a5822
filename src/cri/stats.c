/* ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats.
 *
 * The loop picks the containers (and pods) the request names and copies
 * what a worker needs: cgroup path, writable layer directory.  The worker
 * reads the cgroup files and measures the writable layers; the loop then
 * builds the answer from the objects still in the tables (one removed in the
 * meantime is left out; asked for by ID, it is NOT_FOUND), borrowing their
 * metadata, labels and annotations from the stored configs.
 *
 * A container that is not live (exited, unknown) or whose cgroup is gone
 * has attributes and writable layer but no cpu or memory.  usage_nano_cores is left unset: kubelet
 * computes it from successive usage_core_nano_seconds when it is missing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/image_common.h"
#include "monitor/cgstats.h"
#include "util/cleanup.h"
#include "util/log.h"

enum stats_kind { STATS_CTR, STATS_CTR_LIST, STATS_POD, STATS_POD_LIST };

struct stat_item {
        char id[65];
        char pod_id[65];  /* containers: their pod; pods: "" */
        bool is_pod;
        char *cgroup;     /* OCI cgroupsPath; NULL: none to read */
        char *upper;      /* writable layer directory; NULL: none */
        bool have_cg, have_du;
        struct cgroup_stats cg;
        struct cri_du du;
};

struct stats_job {
        struct cri_job job;
        enum stats_kind kind;
        char *want;       /* the ID asked for (STATS_CTR, STATS_POD) */
        struct stat_item *items;
        size_t n_items;
        int64_t when;
};

/* ---- picking (loop) ---- */

static int item_add(struct stats_job *sj, const char *id, const char *pod_id, const char *cgroup,
                    const char *bundle)
{
        struct stat_item *v = realloc(sj->items, (sj->n_items + 1) * sizeof(*v));
        struct stat_item *it;

        if (!v)
                return -ENOMEM;
        sj->items = v;
        it = &v[sj->n_items];
        *it = (struct stat_item) { .is_pod = pod_id == NULL };
        snprintf(it->id, sizeof(it->id), "%s", id);
        snprintf(it->pod_id, sizeof(it->pod_id), "%s", pod_id ? pod_id : "");
        sj->n_items++;
        if (cgroup && *cgroup && !(it->cgroup = strdup(cgroup)))
                return -ENOMEM;
        if (bundle && asprintf(&it->upper, "%s/upper", bundle) < 0) {
                it->upper = NULL;
                return -ENOMEM;
        }
        return 0;
}

/* An exited container's cgroup may linger until the runtime deletes it: its
 * numbers describe a past run, so only live containers report cpu and memory. */
static int ctr_item_add(struct stats_job *sj, const struct cri_ctr *c)
{
        bool live = c->state == CRI_CTR_CREATED || c->state == CRI_CTR_RUNNING;
        char ct[32];

        /* A Proxmox CT lives in the cgroup Proxmox gives it (lxc.cgroup.dir.
         * container = lxc/<vmid>), its root on Proxmox storage: no writable
         * layer of ours to measure. */
        if (c->backend == BACKEND_PROXMOX) {
                snprintf(ct, sizeof(ct), "/lxc/%d", c->proxmox_vmid);
                return item_add(sj, c->id, c->pod_id, live && c->proxmox_vmid > 0 ? ct : NULL, NULL);
        }
        return item_add(sj, c->id, c->pod_id, live ? c->cgroup_path : NULL, c->bundle);
}

/* The pod's own cgroup when it can be read directly: a cgroupfs parent.
 * (A systemd slice name would need expanding; the containers' sum serves.) */
static const char *pod_cgroup(const struct cri_server *s, const struct cri_pod *p)
{
        const char *parent = p->config && p->config->linux ? p->config->linux->cgroup_parent : NULL;

        if (!parent || !*parent || s->cfg->cri.cgroup_driver != CGROUP_DRIVER_CGROUPFS)
                return NULL;
        return parent;
}

static int pod_items_add(struct cri_server *s, struct stats_job *sj, const struct cri_pod *p)
{
        if (item_add(sj, p->id, NULL, pod_cgroup(s, p), NULL) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_ctrs; i++) {
                const struct cri_ctr *c = s->ctrs[i];

                if (c->state != CRI_CTR_CREATING && streq(c->pod_id, p->id) && ctr_item_add(sj, c) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static bool ctr_matches(struct cri_server *s, const struct cri_ctr *c, const Runtime__V1__ContainerStatsFilter *f)
{
        const struct cri_pod *p;

        if (c->state == CRI_CTR_CREATING)
                return false;
        if (!f)
                return true;
        if (f->id && *f->id && cri_ctr_find(s, f->id) != c)
                return false;
        if (f->pod_sandbox_id && *f->pod_sandbox_id) {
                p = cri_pod_find(s, f->pod_sandbox_id);
                if (!p || !streq(p->id, c->pod_id))
                        return false;
        }
        return cri_labels_match(CRI_KV(c->config->labels), c->config->n_labels, CRI_KV(f->label_selector),
                                f->n_label_selector);
}

static bool pod_matches(struct cri_server *s, const struct cri_pod *p, const Runtime__V1__PodSandboxStatsFilter *f)
{
        if (p->state == CRI_POD_CREATING)
                return false;
        if (!f)
                return true;
        if (f->id && *f->id && cri_pod_find(s, f->id) != p)
                return false;
        return cri_labels_match(CRI_KV(p->config->labels), p->config->n_labels, CRI_KV(f->label_selector),
                                f->n_label_selector);
}

/* ---- measuring (worker) ---- */

static void item_measure(struct stat_item *it)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        int r;

        if (it->cgroup) {
                r = cgroup_stats_read(it->cgroup, &it->cg, &e);
                it->have_cg = r >= 0;
                if (r < 0 && r != -ENOENT)
                        log_debug("Stats of %s: %s", it->id, e ? e->msg : "unknown error");
                pxe_freep(&e);
        }
        if (it->upper) {
                r = cri_du_add(it->upper, &it->du, &e);
                it->have_du = r >= 0;
                if (r < 0)
                        log_debug("Writable layer of %s: %s", it->id, e ? e->msg : "unknown error");
        }
}

static void stats_run(struct cri_job *j)
{
        struct stats_job *sj = (struct stats_job *) j;

        sj->when = cri_now_ns();
        for (size_t i = 0; i < sj->n_items; i++)
                item_measure(&sj->items[i]);
}

/* ---- building (loop) ---- */

static Runtime__V1__CpuUsage *cpu_new(const struct cgroup_stats *cg, int64_t when)
{
        Runtime__V1__CpuUsage *u = malloc(sizeof(*u));

        if (!u)
                return NULL;
        runtime__v1__cpu_usage__init(u);
        u->timestamp = when;
        u->usage_core_nano_seconds = cri_u64(cg->cpu_usage_ns);
        if (!u->usage_core_nano_seconds) {
                free(u);
                return NULL;
        }
        return u;
}

static Runtime__V1__MemoryUsage *memory_new(const struct cgroup_stats *cg, bool with_available, int64_t when)
{
        Runtime__V1__MemoryUsage *u = malloc(sizeof(*u));

        if (!u)
                return NULL;
        runtime__v1__memory_usage__init(u);
        u->timestamp = when;
        u->working_set_bytes = cri_u64(cg->memory_working_set);
        u->usage_bytes = cri_u64(cg->memory_usage);
        u->rss_bytes = cri_u64(cg->memory_rss);
        u->page_faults = cri_u64(cg->memory_page_faults);
        u->major_page_faults = cri_u64(cg->memory_major_faults);
        if (with_available)
                u->available_bytes = cri_u64(cg->memory_available);
        if (!u->working_set_bytes || !u->usage_bytes || !u->rss_bytes || !u->page_faults ||
            !u->major_page_faults || (with_available && !u->available_bytes)) {
                protobuf_c_message_free_unpacked(&u->base, NULL);
                return NULL;
        }
        return u;
}

static Runtime__V1__FilesystemUsage *fs_usage_new(const char *mountpoint, const struct cri_du *du, int64_t when)
{
        Runtime__V1__FilesystemUsage *u = malloc(sizeof(*u));

        if (!u)
                return NULL;
        runtime__v1__filesystem_usage__init(u);
        u->timestamp = when;
        u->fs_id = malloc(sizeof(*u->fs_id));
        if (u->fs_id) {
                runtime__v1__filesystem_identifier__init(u->fs_id);
                u->fs_id->mountpoint = strdup(mountpoint);
        }
        u->used_bytes = cri_u64(du->bytes);
        u->inodes_used = cri_u64(du->inodes);
        if (!u->fs_id || !u->fs_id->mountpoint || !u->used_bytes || !u->inodes_used) {
                protobuf_c_message_free_unpacked(&u->base, NULL);
                return NULL;
        }
        return u;
}

/* Frees a ContainerStats built by ctr_stats_new(), minus what it borrowed. */
static void ctr_stats_free(Runtime__V1__ContainerStats *st)
{
        if (!st)
                return;
        if (st->attributes) {
                st->attributes->metadata = NULL;
                st->attributes->labels = NULL;
                st->attributes->n_labels = 0;
                st->attributes->annotations = NULL;
                st->attributes->n_annotations = 0;
        }
        protobuf_c_message_free_unpacked(&st->base, NULL);
}

static Runtime__V1__ContainerStats *ctr_stats_new(const struct cri_ctr *c, const struct stat_item *it, int64_t when)
{
        Runtime__V1__ContainerStats *st = calloc(1, sizeof(*st));
        Runtime__V1__ContainerAttributes *a;
        bool ok;

        if (!st)
                return NULL;
        runtime__v1__container_stats__init(st);
        a = st->attributes = malloc(sizeof(*a));
        if (!a) {
                free(st);
                return NULL;
        }
        runtime__v1__container_attributes__init(a);
        a->id = strdup(c->id);
        a->metadata = c->config->metadata;
        a->labels = (Runtime__V1__ContainerAttributes__LabelsEntry **) c->config->labels;
        a->n_labels = c->config->n_labels;
        a->annotations = (Runtime__V1__ContainerAttributes__AnnotationsEntry **) c->config->annotations;
        a->n_annotations = c->config->n_annotations;
        ok = a->id != NULL;
        if (it->have_cg) {
                st->cpu = cpu_new(&it->cg, when);
                st->memory = memory_new(&it->cg, true, when);
                ok = ok && st->cpu && st->memory;
        }
        if (it->have_du) {
                st->writable_layer = fs_usage_new(it->upper, &it->du, when);
                ok = ok && st->writable_layer;
        }
        if (!ok) {
                ctr_stats_free(st);
                return NULL;
        }
        return st;
}

static const struct stat_item *item_of(const struct stats_job *sj, const char *id, bool is_pod)
{
        for (size_t i = 0; i < sj->n_items; i++)
                if (sj->items[i].is_pod == is_pod && streq(sj->items[i].id, id))
                        return &sj->items[i];
        return NULL;
}

/* The pod's usage: its own cgroup when read, else the sum of its containers'. */
static bool pod_usage(const struct stats_job *sj, const struct stat_item *pit, struct cgroup_stats *ret,
                      bool *ret_own)
{
        bool any = false;

        *ret = (struct cgroup_stats) { 0 };
        *ret_own = pit->have_cg;
        if (pit->have_cg) {
                *ret = pit->cg;
                return true;
        }
        for (size_t i = 0; i < sj->n_items; i++) {
                const struct stat_item *it = &sj->items[i];

                if (it->is_pod || !it->have_cg || !streq(it->pod_id, pit->id))
                        continue;
                any = true;
                ret->cpu_usage_ns += it->cg.cpu_usage_ns;
                ret->memory_usage += it->cg.memory_usage;
                ret->memory_working_set += it->cg.memory_working_set;
                ret->memory_rss += it->cg.memory_rss;
                ret->memory_page_faults += it->cg.memory_page_faults;
                ret->memory_major_faults += it->cg.memory_major_faults;
                ret->pids += it->cg.pids;
        }
        return any;
}

static void pod_stats_free(Runtime__V1__PodSandboxStats *st)
{
        if (!st)
                return;
        if (st->linux) {
                for (size_t i = 0; i < st->linux->n_containers; i++)
                        ctr_stats_free(st->linux->containers[i]);
                free(st->linux->containers);
                st->linux->containers = NULL;
                st->linux->n_containers = 0;
        }
        if (st->attributes) {
                st->attributes->metadata = NULL;
                st->attributes->labels = NULL;
                st->attributes->n_labels = 0;
                st->attributes->annotations = NULL;
                st->attributes->n_annotations = 0;
        }
        protobuf_c_message_free_unpacked(&st->base, NULL);
}

static int pod_attributes(Runtime__V1__PodSandboxStats *st, const struct cri_pod *p)
{
        Runtime__V1__PodSandboxAttributes *a = malloc(sizeof(*a));

        if (!a)
                return -ENOMEM;
        runtime__v1__pod_sandbox_attributes__init(a);
        st->attributes = a;
        a->metadata = p->config->metadata;
        a->labels = (Runtime__V1__PodSandboxAttributes__LabelsEntry **) p->config->labels;
        a->n_labels = p->config->n_labels;
        a->annotations = (Runtime__V1__PodSandboxAttributes__AnnotationsEntry **) p->config->annotations;
        a->n_annotations = p->config->n_annotations;
        a->id = strdup(p->id);
        return a->id ? 0 : -ENOMEM;
}

static int pod_linux_usage(Runtime__V1__LinuxPodSandboxStats *lx, const struct stats_job *sj,
                           const struct stat_item *pit)
{
        struct cgroup_stats cg;
        bool own;

        if (!pod_usage(sj, pit, &cg, &own))
                return 0;
        lx->cpu = cpu_new(&cg, sj->when);
        lx->memory = memory_new(&cg, own, sj->when);
        lx->process = malloc(sizeof(*lx->process));
        if (lx->process) {
                runtime__v1__process_usage__init(lx->process);
                lx->process->timestamp = sj->when;
                lx->process->process_count = cri_u64(cg.pids);
        }
        return lx->cpu && lx->memory && lx->process && lx->process->process_count ? 0 : -ENOMEM;
}

static int pod_containers(Runtime__V1__LinuxPodSandboxStats *lx, struct cri_server *s, const struct stats_job *sj,
                          const struct cri_pod *p)
{
        lx->containers = calloc(sj->n_items ? sj->n_items : 1, sizeof(*lx->containers));
        if (!lx->containers)
                return -ENOMEM;
        for (size_t i = 0; i < sj->n_items; i++) {
                const struct stat_item *it = &sj->items[i];
                const struct cri_ctr *c;

                if (it->is_pod || !streq(it->pod_id, p->id))
                        continue;
                c = cri_ctr_find(s, it->id);
                if (!c)
                        continue;
                lx->containers[lx->n_containers] = ctr_stats_new(c, it, sj->when);
                if (!lx->containers[lx->n_containers])
                        return -ENOMEM;
                lx->n_containers++;
        }
        return 0;
}

static Runtime__V1__PodSandboxStats *pod_stats_new(struct cri_server *s, const struct cri_pod *p,
                                                   const struct stats_job *sj)
{
        Runtime__V1__PodSandboxStats *st = malloc(sizeof(*st));
        const struct stat_item *pit = item_of(sj, p->id, true);

        if (!st)
                return NULL;
        runtime__v1__pod_sandbox_stats__init(st);
        if (pod_attributes(st, p) < 0 || !pit || !(st->linux = malloc(sizeof(*st->linux))))
                goto fail;
        runtime__v1__linux_pod_sandbox_stats__init(st->linux);
        if (pod_linux_usage(st->linux, sj, pit) < 0 || pod_containers(st->linux, s, sj, p) < 0)
                goto fail;
        return st;
fail:
        pod_stats_free(st);
        return NULL;
}

/* ---- answering (loop) ---- */

static void answer_ctr(struct stats_job *sj)
{
        struct cri_server *s = sj->job.srv;
        Runtime__V1__ContainerStatsResponse resp = RUNTIME__V1__CONTAINER_STATS_RESPONSE__INIT;
        const struct cri_ctr *c = cri_ctr_find(s, sj->want);

        if (!c || sj->n_items != 1 || !streq(c->id, sj->items[0].id)) {
                cri_failf(sj->job.call, ENOENT, "Container %s not found", sj->want);
                return;
        }
        resp.stats = ctr_stats_new(c, &sj->items[0], sj->when);
        if (!resp.stats) {
                cri_failf(sj->job.call, ENOMEM, "Out of memory for the stats of container %s", c->id);
                return;
        }
        cri_answer(sj->job.call, &resp.base);
        ctr_stats_free(resp.stats);
}

static void answer_ctr_list(struct stats_job *sj)
{
        struct cri_server *s = sj->job.srv;
        Runtime__V1__ListContainerStatsResponse resp = RUNTIME__V1__LIST_CONTAINER_STATS_RESPONSE__INIT;
        bool oom = false;

        resp.stats = calloc(sj->n_items ? sj->n_items : 1, sizeof(*resp.stats));
        oom = !resp.stats;
        for (size_t i = 0; !oom && i < sj->n_items; i++) {
                const struct cri_ctr *c = cri_ctr_find(s, sj->items[i].id);

                if (!c) /* removed while measured */
                        continue;
                resp.stats[resp.n_stats] = ctr_stats_new(c, &sj->items[i], sj->when);
                oom = !resp.stats[resp.n_stats];
                if (!oom)
                        resp.n_stats++;
        }
        if (oom)
                cri_failf(sj->job.call, ENOMEM, "Out of memory for container stats");
        else
                cri_answer(sj->job.call, &resp.base);
        for (size_t i = 0; i < resp.n_stats; i++)
                ctr_stats_free(resp.stats[i]);
        free(resp.stats);
}

static void answer_pod(struct stats_job *sj)
{
        struct cri_server *s = sj->job.srv;
        Runtime__V1__PodSandboxStatsResponse resp = RUNTIME__V1__POD_SANDBOX_STATS_RESPONSE__INIT;
        const struct cri_pod *p = cri_pod_find(s, sj->want);

        if (!p || !item_of(sj, p->id, true)) {
                cri_failf(sj->job.call, ENOENT, "Pod sandbox %s not found", sj->want);
                return;
        }
        resp.stats = pod_stats_new(s, p, sj);
        if (!resp.stats) {
                cri_failf(sj->job.call, ENOMEM, "Out of memory for the stats of pod %s", p->id);
                return;
        }
        cri_answer(sj->job.call, &resp.base);
        pod_stats_free(resp.stats);
}

static void answer_pod_list(struct stats_job *sj)
{
        struct cri_server *s = sj->job.srv;
        Runtime__V1__ListPodSandboxStatsResponse resp = RUNTIME__V1__LIST_POD_SANDBOX_STATS_RESPONSE__INIT;
        bool oom;

        resp.stats = calloc(sj->n_items ? sj->n_items : 1, sizeof(*resp.stats));
        oom = !resp.stats;
        for (size_t i = 0; !oom && i < sj->n_items; i++) {
                const struct cri_pod *p = sj->items[i].is_pod ? cri_pod_find(s, sj->items[i].id) : NULL;

                if (!p)
                        continue;
                resp.stats[resp.n_stats] = pod_stats_new(s, p, sj);
                oom = !resp.stats[resp.n_stats];
                if (!oom)
                        resp.n_stats++;
        }
        if (oom)
                cri_failf(sj->job.call, ENOMEM, "Out of memory for pod stats");
        else
                cri_answer(sj->job.call, &resp.base);
        for (size_t i = 0; i < resp.n_stats; i++)
                pod_stats_free(resp.stats[i]);
        free(resp.stats);
}

static void stats_job_free(struct stats_job *sj)
{
        for (size_t i = 0; i < sj->n_items; i++) {
                free(sj->items[i].cgroup);
                free(sj->items[i].upper);
        }
        free(sj->items);
        free(sj->want);
        free(sj);
}

static void stats_done(struct cri_job *j)
{
        struct stats_job *sj = (struct stats_job *) j;

        switch (sj->kind) {
        case STATS_CTR: answer_ctr(sj); break;
        case STATS_CTR_LIST: answer_ctr_list(sj); break;
        case STATS_POD: answer_pod(sj); break;
        case STATS_POD_LIST: answer_pod_list(sj); break;
        }
        stats_job_free(sj);
}

static struct stats_job *stats_job_new(struct cri_call *c, enum stats_kind kind, const char *want)
{
        struct stats_job *sj = calloc(1, sizeof(*sj));

        if (!sj || (want && !(sj->want = strdup(want)))) {
                free(sj);
                cri_failf(c, ENOMEM, "Out of memory");
                return NULL;
        }
        sj->kind = kind;
        sj->job.call = c;
        sj->job.run = stats_run;
        sj->job.done = stats_done;
        return sj;
}

/* Queue sj, or answer out of memory when picking failed (r < 0). */
static void stats_queue(struct cri_server *s, struct stats_job *sj, int r)
{
        if (r < 0) {
                cri_failf(sj->job.call, ENOMEM, "Out of memory");
                stats_job_free(sj);
                return;
        }
        cri_queue(s, &sj->job);
}

/* ---- handlers ---- */

void cri_container_stats(struct cri_server *s, struct cri_call *c, const Runtime__V1__ContainerStatsRequest *req)
{
        const struct cri_ctr *ctr;
        struct stats_job *sj;

        if (!req->container_id || !*req->container_id) {
                cri_failf(c, EINVAL, "ContainerStats: container_id is empty");
                return;
        }
        ctr = cri_ctr_find(s, req->container_id);
        if (!ctr) {
                cri_failf(c, ENOENT, "Container %s not found", req->container_id);
                return;
        }
        sj = stats_job_new(c, STATS_CTR, req->container_id);
        if (sj)
                stats_queue(s, sj, ctr_item_add(sj, ctr));
}

void cri_list_container_stats(struct cri_server *s, struct cri_call *c,
                              const Runtime__V1__ListContainerStatsRequest *req)
{
        struct stats_job *sj = stats_job_new(c, STATS_CTR_LIST, NULL);
        int r = 0;

        if (!sj)
                return;
        for (size_t i = 0; r >= 0 && i < s->n_ctrs; i++)
                if (ctr_matches(s, s->ctrs[i], req->filter))
                        r = ctr_item_add(sj, s->ctrs[i]);
        stats_queue(s, sj, r);
}

void cri_pod_sandbox_stats(struct cri_server *s, struct cri_call *c, const Runtime__V1__PodSandboxStatsRequest *req)
{
        const struct cri_pod *p;
        struct stats_job *sj;

        if (!req->pod_sandbox_id || !*req->pod_sandbox_id) {
                cri_failf(c, EINVAL, "PodSandboxStats: pod_sandbox_id is empty");
                return;
        }
        p = cri_pod_find(s, req->pod_sandbox_id);
        if (!p) {
                cri_failf(c, ENOENT, "Pod sandbox %s not found", req->pod_sandbox_id);
                return;
        }
        sj = stats_job_new(c, STATS_POD, req->pod_sandbox_id);
        if (sj)
                stats_queue(s, sj, pod_items_add(s, sj, p));
}

void cri_list_pod_sandbox_stats(struct cri_server *s, struct cri_call *c,
                                const Runtime__V1__ListPodSandboxStatsRequest *req)
{
        struct stats_job *sj = stats_job_new(c, STATS_POD_LIST, NULL);
        int r = 0;

        if (!sj)
                return;
        for (size_t i = 0; r >= 0 && i < s->n_pods; i++)
                if (pod_matches(s, s->pods[i], req->filter))
                        r = pod_items_add(s, sj, s->pods[i]);
        stats_queue(s, sj, r);
}
