/* ImageStatus: one image by reference, ID or digest.  An image that is not
 * there is no error: the answer just has no image (the CRI's contract). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/image_common.h"
#include "image/store.h"
#include "util/cleanup.h"

struct status_job {
        struct cri_job job;
        char *root;
        char *ref;
        bool verbose;
        Runtime__V1__ImageStatusResponse resp;
        Runtime__V1__ImageStatusResponse__InfoEntry info;
        Runtime__V1__ImageStatusResponse__InfoEntry *infov[1];
};

static void status_run(struct cri_job *j)
{
        struct status_job *sj = (struct status_job *) j;
        _cleanup_image_rec_ struct image_rec *rec = NULL;
        struct image_store *st;
        int r;

        if (!image_store_present(sj->root))
                return; /* nothing was ever stored */
        if (!(st = cri_thread_image_store(sj->root, &j->err))) {
                pxe_wrap(&j->err, "Image status of %s", sj->ref);
                return;
        }
        r = image_store_get(st, sj->ref, &rec, &j->err);
        if (r == -ENOENT) {
                pxe_freep(&j->err);
                return;
        }
        if (r < 0)
                return;
        sj->resp.image = cri_image_from_rec(rec);
        if (!sj->resp.image) {
                pxe_set(&j->err, ENOMEM, "Out of memory");
                return;
        }
        if (!sj->verbose)
                return;
        /* As containerd: verbose info is one "info" key holding JSON. */
        sj->info.value = image_rec_to_json(rec);
        if (!sj->info.value) {
                pxe_set(&j->err, ENOMEM, "Out of memory");
                return;
        }
        sj->info.key = (char *) "info";
        sj->infov[0] = &sj->info;
        sj->resp.info = sj->infov;
        sj->resp.n_info = 1;
}

static void status_done(struct cri_job *j)
{
        struct status_job *sj = (struct status_job *) j;

        if (j->err)
                cri_fail(j->call, TAKE_PTR(j->err));
        else
                cri_answer(j->call, &sj->resp.base);
        if (sj->resp.image)
                protobuf_c_message_free_unpacked(&sj->resp.image->base, NULL);
        if (sj->info.value != protobuf_c_empty_string)
                free(sj->info.value);
        free(sj->root);
        free(sj->ref);
        free(sj);
}

void cri_image_status(struct cri_server *s, struct cri_call *c, const Runtime__V1__ImageStatusRequest *req)
{
        struct status_job *sj;

        if (!req->image || !req->image->image || !*req->image->image) {
                cri_failf(c, EINVAL, "ImageStatus: image.image is empty");
                return;
        }
        sj = calloc(1, sizeof(*sj));
        if (!sj || !(sj->root = strdup(cri_image_root(s))) || !(sj->ref = strdup(req->image->image))) {
                if (sj)
                        free(sj->root);
                free(sj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        runtime__v1__image_status_response__init(&sj->resp);
        runtime__v1__image_status_response__info_entry__init(&sj->info);
        sj->verbose = req->verbose;
        sj->job.call = c;
        sj->job.run = status_run;
        sj->job.done = status_done;
        cri_queue(s, &sj->job);
}
