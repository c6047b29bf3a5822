/* ListImages: every stored image, or the one a filter's reference resolves to. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/image_common.h"
#include "image/store.h"
#include "util/cleanup.h"

struct list_job {
        struct cri_job job;
        char *root;
        char *filter; /* NULL: all images */
        Runtime__V1__ListImagesResponse resp;
};

/* The records to list: one when filtered (none when the filter matches no image). */
static int list_records(struct image_store *st, const char *filter, struct image_rec ***ret, size_t *ret_n,
                        struct pxe **err)
{
        struct image_rec *one = NULL;
        int r;

        if (!filter)
                return image_store_list(st, ret, ret_n, err);
        r = image_store_get(st, filter, &one, err);
        if (r == -ENOENT) {
                pxe_freep(err);
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        *ret = malloc(sizeof(**ret));
        if (!*ret) {
                image_rec_free(one);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        (*ret)[0] = one;
        *ret_n = 1;
        return 0;
}

static void list_run(struct cri_job *j)
{
        struct list_job *lj = (struct list_job *) j;
        struct image_store *st;
        struct image_rec **v = NULL;
        size_t n = 0;

        if (!image_store_present(lj->root))
                return; /* nothing was ever stored: an empty list */
        if (!(st = cri_thread_image_store(lj->root, &j->err)) || list_records(st, lj->filter, &v, &n, &j->err) < 0) {
                pxe_wrap(&j->err, "Listing images");
                return;
        }
        lj->resp.images = calloc(n ? n : 1, sizeof(*lj->resp.images));
        for (size_t i = 0; lj->resp.images && i < n; i++) {
                lj->resp.images[i] = cri_image_from_rec(v[i]);
                if (!lj->resp.images[i])
                        break;
                lj->resp.n_images = i + 1;
        }
        if (lj->resp.n_images != n)
                pxe_set(&j->err, ENOMEM, "Out of memory listing images");
        image_rec_list_free(v, n);
}

static void list_done(struct cri_job *j)
{
        struct list_job *lj = (struct list_job *) j;

        if (j->err)
                cri_fail(j->call, TAKE_PTR(j->err));
        else
                cri_answer(j->call, &lj->resp.base);
        for (size_t i = 0; i < lj->resp.n_images; i++)
                protobuf_c_message_free_unpacked(&lj->resp.images[i]->base, NULL);
        free(lj->resp.images);
        free(lj->root);
        free(lj->filter);
        free(lj);
}

void cri_list_images(struct cri_server *s, struct cri_call *c, const Runtime__V1__ListImagesRequest *req)
{
        struct list_job *lj = calloc(1, sizeof(*lj));
        const char *filter = req->filter && req->filter->image && req->filter->image->image &&
                                             *req->filter->image->image
                                     ? req->filter->image->image
                                     : NULL;

        if (!lj || !(lj->root = strdup(cri_image_root(s))) || (filter && !(lj->filter = strdup(filter)))) {
                if (lj)
                        free(lj->root);
                free(lj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        runtime__v1__list_images_response__init(&lj->resp);
        lj->job.call = c;
        lj->job.run = list_run;
        lj->job.done = list_done;
        cri_queue(s, &lj->job);
}
