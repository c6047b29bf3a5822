/* PullImage: fetch an image from its registry, unpack its layers, record it.
 * Answers the image ID (config digest), as containerd does. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cri/cri.h"
#include "cri/image_common.h"
#include "image/import.h"
#include "image/layers.h"
#include "image/pull.h"
#include "util/cleanup.h"
#include "util/log.h"

struct pull_job {
        struct cri_job job;
        const struct image_config *cfg; /* the server's: read-only while it runs */
        char *root;
        char *ref;
        struct image_auth auth;
        bool has_auth;
        char *id;
};

static void secret_free(char *p)
{
        if (!p)
                return;
        explicit_bzero(p, strlen(p));
        free(p);
}

static void auth_done(struct image_auth *a)
{
        free(a->username);
        secret_free(a->password);
        secret_free(a->auth);
        free(a->server_address);
        secret_free(a->identity_token);
        secret_free(a->registry_token);
}

/* An empty proto3 string is an absent field. */
static int dup_field(char **dst, const char *src)
{
        if (!src || !*src)
                return 0;
        *dst = strdup(src);
        return *dst ? 1 : -ENOMEM;
}

static int auth_copy(const Runtime__V1__AuthConfig *a, struct image_auth *ret, bool *ret_has)
{
        int r[6];

        *ret_has = false;
        if (!a)
                return 0;
        r[0] = dup_field(&ret->username, a->username);
        r[1] = dup_field(&ret->password, a->password);
        r[2] = dup_field(&ret->auth, a->auth);
        r[3] = dup_field(&ret->server_address, a->server_address);
        r[4] = dup_field(&ret->identity_token, a->identity_token);
        r[5] = dup_field(&ret->registry_token, a->registry_token);
        for (size_t i = 0; i < 6; i++)
                if (r[i] < 0)
                        return -ENOMEM;
        *ret_has = !auth_is_empty(ret);
        return 0;
}

static void pull_run(struct cri_job *j)
{
        struct pull_job *pj = (struct pull_job *) j;
        _cleanup_image_puller_ struct image_puller *p = NULL;
        _cleanup_image_pull_result_ struct image_pull_result *res = NULL;
        /* Held from the first blob to the record, so a prune cannot take them away. */
        _cleanup_close_ int lock = layers_lock_store(pj->root, false, &j->err);

        if (lock < 0 || image_puller_new(pj->cfg, &p, &j->err) < 0) {
                pxe_wrap(&j->err, "Pulling image %s", pj->ref);
                return;
        }
        /* image_pull's messages already start with "Pulling image <ref>". */
        if (image_pull(p, pj->ref, pj->has_auth ? &pj->auth : NULL, NULL, &res, &j->err) < 0)
                return;
        if (image_install_pulled(pj->root, image_puller_blobstore(p), res, &pj->id, &j->err) < 0)
                pxe_wrap(&j->err, "Installing image %s", pj->ref);
}

static void pull_done(struct cri_job *j)
{
        struct pull_job *pj = (struct pull_job *) j;
        Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;

        if (j->err) {
                log_info("PullImage %s failed: %s", pj->ref, j->err->msg);
                cri_fail(j->call, TAKE_PTR(j->err));
        } else {
                log_info("PullImage %s: %s", pj->ref, pj->id);
                resp.image_ref = pj->id;
                cri_answer(j->call, &resp.base);
        }
        auth_done(&pj->auth);
        free(pj->root);
        free(pj->ref);
        free(pj->id);
        free(pj);
}

void cri_pull_image(struct cri_server *s, struct cri_call *c, const Runtime__V1__PullImageRequest *req)
{
        struct pull_job *pj;

        if (!req->image || !req->image->image || !*req->image->image) {
                cri_failf(c, EINVAL, "PullImage: image.image is empty");
                return;
        }
        pj = calloc(1, sizeof(*pj));
        if (!pj) {
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        pj->cfg = &s->cfg->image;
        pj->root = strdup(cri_image_root(s));
        pj->ref = strdup(req->image->image);
        if (!pj->root || !pj->ref || auth_copy(req->auth, &pj->auth, &pj->has_auth) < 0) {
                auth_done(&pj->auth);
                free(pj->root);
                free(pj->ref);
                free(pj);
                cri_failf(c, ENOMEM, "Out of memory");
                return;
        }
        pj->job.call = c;
        pj->job.run = pull_run;
        pj->job.done = pull_done;
        cri_queue(s, &pj->job);
}
