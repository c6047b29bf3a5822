/* image prune: layers and blobs that no image record uses. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/digest.h"
#include "image/import.h"
#include "image/layers.h"
#include "image/store.h"
#include "util/cleanup.h"

static bool contains(char **v, size_t n, const char *s)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] && streq(v[i], s))
                        return true;
        return false;
}

static int prune_layers(const char *root, char **used, size_t n_used, size_t *removed, struct pxe **err)
{
        char **all = NULL;
        size_t n = 0;
        int r = 0;

        if (layers_list(root, &all, &n, err) < 0)
                return -pxe_code(err, EIO);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (contains(used, n_used, all[i]))
                        continue;
                r = layers_remove(root, all[i], err);
                if (r >= 0)
                        (*removed)++;
        }
        layers_strv_free(all, n);
        return r;
}

static int prune_blobs(struct blobstore *bs, char **used, size_t n_used, size_t *removed, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (asprintf(&dir, "%s/blobs/sha256", blobstore_root(bs)) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Opening %s", dir);
        while (r >= 0 && (de = readdir(d))) {
                char digest[sizeof(de->d_name) + 8];

                snprintf(digest, sizeof(digest), "sha256:%s", de->d_name);
                if (!digest_is_valid(digest) || contains(used, n_used, digest))
                        continue;
                r = blobstore_remove(bs, digest, err);
                if (r >= 0)
                        (*removed)++;
        }
        closedir(d);
        return r;
}

int image_prune(const char *image_root, struct blobstore *bs, struct image_prune_report *ret, struct pxe **err)
{
        _cleanup_close_ int lock = layers_lock_store(image_root, true, err);
        _cleanup_image_store_ struct image_store *s = NULL;
        struct image_prune_report rep = { 0 };
        char **diff_ids = NULL, **blobs = NULL;
        size_t n_diff_ids = 0, n_blobs = 0;
        int r;

        if (lock < 0)
                return lock;
        r = image_store_open(image_root, &s, err);
        if (r >= 0)
                r = image_store_used(s, &diff_ids, &n_diff_ids, &blobs, &n_blobs, err);
        if (r >= 0)
                r = prune_layers(image_root, diff_ids, n_diff_ids, &rep.layers_removed, err);
        if (r >= 0)
                r = layers_clean(image_root, err);
        if (r >= 0 && bs)
                r = prune_blobs(bs, blobs, n_blobs, &rep.blobs_removed, err);
        /* .partial files kept for resuming a pull: no pull runs now, and
         * one that comes later starts over. */
        if (r >= 0 && bs)
                r = blobstore_clean_ingest(bs, &rep.partials_removed, err);
        layers_strv_free(diff_ids, n_diff_ids);
        layers_strv_free(blobs, n_blobs);
        if (ret)
                *ret = rep;
        return r < 0 ? pxe_wrap(err, "Pruning %s", image_root) : 0;
}
