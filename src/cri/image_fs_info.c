/* ImageFsInfo: disk used by images (blobs and unpacked layers under the image
 * root) and by containers' writable layers (the bundles under
 * <state_dir>/containers).  Measured by walking the trees in a worker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/image_common.h"
#include "util/cleanup.h"

struct fs_job {
        struct cri_job job;
        char *image_root;
        char *ctr_dir;
        struct cri_du images, ctrs;
        int64_t when;
};

static int du_under(const char *root, const char *sub, struct cri_du *acc, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", root, sub) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return cri_du_add(path, acc, err);
}

static void fs_run(struct cri_job *j)
{
        struct fs_job *fj = (struct fs_job *) j;

        fj->when = cri_now_ns();
        if (du_under(fj->image_root, "blobs", &fj->images, &j->err) < 0 ||
            du_under(fj->image_root, "layers", &fj->images, &j->err) < 0 ||
            cri_du_add(fj->ctr_dir, &fj->ctrs, &j->err) < 0)
                pxe_wrap(&j->err, "ImageFsInfo");
}

static void usage_fill(Runtime__V1__FilesystemUsage *u, Runtime__V1__FilesystemIdentifier *id,
                       Runtime__V1__UInt64Value *bytes, Runtime__V1__UInt64Value *inodes, const char *mountpoint,
                       const struct cri_du *du, int64_t when)
{
        runtime__v1__filesystem_usage__init(u);
        runtime__v1__filesystem_identifier__init(id);
        runtime__v1__uint64_value__init(bytes);
        runtime__v1__uint64_value__init(inodes);
        id->mountpoint = (char *) mountpoint;
        bytes->value = du->bytes;
        inodes->value = du->inodes;
        u->timestamp = when;
        u->fs_id = id;
        u->used_bytes = bytes;
        u->inodes_used = inodes;
}

static void fs_done(struct cri_job *j)
{
        struct fs_job *fj = (struct fs_job *) j;
        Runtime__V1__ImageFsInfoResponse resp = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;
        Runtime__V1__FilesystemUsage img, ctr, *imgv[1] = { &img }, *ctrv[1] = { &ctr };
        Runtime__V1__FilesystemIdentifier img_id, ctr_id;
        Runtime__V1__UInt64Value v[4];

        if (j->err)
                cri_fail(j->call, TAKE_PTR(j->err));
        else {
                usage_fill(&img, &img_id, &v[0], &v[1], fj->image_root, &fj->images, fj->when);
                usage_fill(&ctr, &ctr_id, &v[2], &v[3], fj->ctr_dir, &fj->ctrs, fj->when);
                resp.image_filesystems = imgv;
                resp.n_image_filesystems = 1;
                resp.container_filesystems = ctrv;
                resp.n_container_filesystems = 1;
                cri_answer(j->call, &resp.base);
        }
        free(fj->image_root);
        free(fj->ctr_dir);
        free(fj);
}

void cri_image_fs_info(struct cri_server *s, struct cri_call *c, const Runtime__V1__ImageFsInfoRequest *req)
{
        struct fs_job *fj = calloc(1, sizeof(*fj));

        (void) req;
        if (!fj || !(fj->image_root = strdup(cri_image_root(s))) || !(fj->ctr_dir = strdup(s->ctr_dir))) {
                if (fj)
                        free(fj->image_root);
                free(fj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        fj->job.call = c;
        fj->job.run = fs_run;
        fj->job.done = fs_done;
        cri_queue(s, &fj->job);
}
