/* RemoveImage: as containerd, the whole image goes whichever of its
 * references (ID, tag, digest) names it; an image that is not there is no
 * error.  An image a container's bundle holds is refused (FAILED_PRECONDITION)
 * naming the container. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "cri/cri.h"
#include "cri/image_common.h"
#include "image/blobstore.h"
#include "image/import.h"
#include "image/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

struct remove_job {
        struct cri_job job;
        char *root;
        char *ctr_dir;
        char *ref;
        char *removed; /* the ID removed; NULL: there was none */
};

/* "container <id>" for a bundle under the server's container dir, else the holder as is. */
static int refuse_in_use(struct remove_job *rj, const char *id, const char *holder, size_t n, struct pxe **err)
{
        size_t len = strlen(rj->ctr_dir);
        bool ctr = strncmp(holder, rj->ctr_dir, len) == 0 && holder[len] == '/' && !strchr(holder + len + 1, '/');

        return pxe_set(err, EBUSY, "Image %s is in use by %s%s%s", id, ctr ? "container " : "",
                       ctr ? holder + len + 1 : holder, n > 1 ? " and others" : "");
}

static int remove_image(struct remove_job *rj, struct image_store *st, struct pxe **err)
{
        _cleanup_image_rec_ struct image_rec *rec = NULL;
        char **holders = NULL;
        size_t n = 0;
        int r;

        r = image_store_get(st, rj->ref, &rec, err);
        if (r == -ENOENT) {
                pxe_freep(err);
                return 0;
        }
        if (r < 0)
                return r;
        /* A bundle deleted by hand must not keep the image forever. */
        if (bundle_drop_stale_refs(rj->root, rec->id, err) < 0 ||
            image_store_holders(st, rec->id, &holders, &n, err) < 0)
                return -pxe_code(err, EIO);
        r = n ? refuse_in_use(rj, rec->id, holders[0], n, err) : 0;
        for (size_t i = 0; i < n; i++)
                free(holders[i]);
        free(holders);
        if (r < 0)
                return r;
        if (image_store_remove(st, rec->id, false, err) < 0)
                return -pxe_code(err, EIO);
        rj->removed = strdup(rec->id);
        return 0;
}

static void remove_run(struct cri_job *j)
{
        struct remove_job *rj = (struct remove_job *) j;
        struct image_store *st;

        /* Containers removed a moment ago may still be letting go of their
         * bundles (RemoveContainer answers before that is done). */
        cri_removals_wait(j->srv, 10000);
        if (!image_store_present(rj->root))
                return; /* nothing was ever stored: nothing to remove */
        if (!(st = cri_thread_image_store(rj->root, &j->err)) || remove_image(rj, st, &j->err) < 0)
                pxe_wrap(&j->err, "Removing image %s", rj->ref);
}

/* What no image uses any more goes in the background after an answer, as
 * containerd's content GC: the prune waits for pulls in flight (the store's
 * lock), which RemoveImage must not.  One prune at a time; a removal during
 * one asks for another. */
struct prune_job {
        struct cri_job job;
        char *root;
        char **images;   /* removed image IDs: their Proxmox templates go too */
        size_t n_images;
        bool orphans;    /* also the templates of images no longer in the store */
};

/* Whether pxcri has made Proxmox templates in its root. */
static bool has_templates(const struct monitor_config *mc)
{
        _cleanup_free_ char *dir = NULL;

        return asprintf(&dir, "%s/proxmox/templates", mc->runtime_root) >= 0 && fs_exists(dir);
}

/* Images with Proxmox templates that the store no longer has: removed while
 * pxcrid was down, or whose prune failed (Proxmox unreachable then).  Looked
 * for once, at start-up; added to pj->images. */
static void orphan_template_images(struct prune_job *pj)
{
        const struct monitor_config *mc = &pj->job.srv->mon;
        struct image_store *st = NULL;
        struct pxe *e = NULL;
        char **v = NULL;
        size_t n = 0;

        if (monitor_proxmox_template_images(mc, &v, &n, &e) < 0 ||
            (image_store_present(pj->root) && image_store_open(pj->root, &st, &e) < 0)) {
                log_warn("Looking for Proxmox templates of removed images: %s", e->msg);
                pxe_free(e);
                monitor_strv_free(v);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                struct image_rec *rec = NULL;
                char **grown;

                if (st && image_store_get(st, v[i], &rec, NULL) != -ENOENT) {
                        image_rec_free(rec); /* there, or the store cannot say: kept */
                        continue;
                }
                if (!(grown = reallocarray(pj->images, pj->n_images + 1, sizeof(*grown))))
                        break;
                pj->images = grown;
                pj->images[pj->n_images++] = TAKE_PTR(v[i]);
        }
        if (st)
                image_store_close(st);
        monitor_strv_free(v);
}

/* The Proxmox templates made from removed images (`pxcri proxmox-prune`),
 * when pxcri has made any in its root. */
static void prune_templates(struct prune_job *pj)
{
        const struct monitor_config *mc = &pj->job.srv->mon;

        if (!has_templates(mc))
                return;
        if (pj->orphans)
                orphan_template_images(pj);
        for (size_t i = 0; i < pj->n_images; i++) {
                _cleanup_free_ char *report = NULL;
                struct pxe *e = NULL;

                if (monitor_proxmox_prune(mc, pj->images[i], &report, &e) < 0) {
                        log_warn("%s", e->msg);
                        pxe_free(e);
                        continue;
                }
                log_info("Proxmox templates of image %s: %.*s", pj->images[i],
                         report ? (int) strcspn(report, "\n") : 0, report ? report : "");
        }
}

static void prune_run(struct cri_job *j)
{
        struct prune_job *pj = (struct prune_job *) j;
        _cleanup_blobstore_ struct blobstore *bs = NULL;
        struct image_prune_report rep = { 0 };

        prune_templates(pj);
        if (blobstore_open(pj->root, &bs, &j->err) < 0 || image_prune(pj->root, bs, &rep, &j->err) < 0)
                return;
        log_debug("Pruned %zu layers and %zu blobs no image uses, %zu partial downloads", rep.layers_removed,
                  rep.blobs_removed, rep.partials_removed);
}

static void prune_done(struct cri_job *j)
{
        struct prune_job *pj = (struct prune_job *) j;
        struct cri_server *s = j->srv;

        if (j->err)
                log_warn("Removing unused layers and blobs: %s", j->err->msg);
        pxe_free(j->err);
        free(pj->root);
        for (size_t i = 0; i < pj->n_images; i++)
                free(pj->images[i]);
        free(pj->images);
        free(pj);
        s->prune_running = false;
        if (s->prune_again) {
                s->prune_again = false;
                cri_image_prune_queue(s);
        }
}

void cri_image_prune_queue(struct cri_server *s)
{
        struct prune_job *pj;

        if (s->prune_running) {
                s->prune_again = true;
                return;
        }
        pj = calloc(1, sizeof(*pj));
        if (!pj || !(pj->root = strdup(cri_image_root(s)))) {
                free(pj);
                return;
        }
        s->prune_running = true;
        pj->images = TAKE_PTR(s->removed_images);
        pj->n_images = s->n_removed_images;
        s->n_removed_images = 0;
        pj->orphans = s->prune_orphan_templates;
        s->prune_orphan_templates = false;
        pj->job.run = prune_run;
        pj->job.done = prune_done;
        cri_queue(s, &pj->job);
}

void cri_image_prune_orphan_templates(struct cri_server *s)
{
        if (!has_templates(&s->mon))
                return;
        s->prune_orphan_templates = true;
        cri_image_prune_queue(s);
}

static void remove_done(struct cri_job *j)
{
        struct remove_job *rj = (struct remove_job *) j;
        Runtime__V1__RemoveImageResponse resp = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;

        if (j->err)
                cri_fail(j->call, TAKE_PTR(j->err));
        else {
                if (rj->removed)
                        log_info("RemoveImage %s: removed %s", rj->ref, rj->removed);
                cri_answer(j->call, &resp.base);
                if (rj->removed) {
                        char **v = reallocarray(j->srv->removed_images, j->srv->n_removed_images + 1,
                                                sizeof(*v));

                        if (v) {
                                j->srv->removed_images = v;
                                v[j->srv->n_removed_images++] = TAKE_PTR(rj->removed);
                        }
                        cri_image_prune_queue(j->srv);
                }
        }
        free(rj->root);
        free(rj->ctr_dir);
        free(rj->ref);
        free(rj->removed);
        free(rj);
}

void cri_remove_image(struct cri_server *s, struct cri_call *c, const Runtime__V1__RemoveImageRequest *req)
{
        struct remove_job *rj;

        if (!req->image || !req->image->image || !*req->image->image) {
                cri_failf(c, EINVAL, "RemoveImage: image.image is empty");
                return;
        }
        rj = calloc(1, sizeof(*rj));
        if (!rj || !(rj->root = strdup(cri_image_root(s))) || !(rj->ctr_dir = strdup(s->ctr_dir)) ||
            !(rj->ref = strdup(req->image->image))) {
                if (rj) {
                        free(rj->root);
                        free(rj->ctr_dir);
                }
                free(rj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        rj->job.call = c;
        rj->job.run = remove_run;
        rj->job.done = remove_done;
        cri_queue(s, &rj->job);
}
