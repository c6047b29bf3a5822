/* Installing an image: its layers into the layer store, then its record into
 * the image store, in that order, so that an image is listed only once it is
 * complete.  Two sources:
 *   - an OCI image layout directory on disk (`pxcri image import`), every
 *     blob verified against its digest on the way;
 *   - a result of image_pull() (the blobs are in the blob store, verified).
 * Layers already unpacked are reused.  A failure leaves no record; layers it
 * unpacked stay (complete, verified, unreferenced) until `image prune`.
 */
#pragma once

#include <stdbool.h>

#include "image/pull.h"
#include "util/err.h"

struct image_import_request {
        const char *layout;   /* OCI layout directory (oci-layout, index.json, blobs/) */
        const char *ref_name; /* manifest in index.json by its org.opencontainers.image.ref.name;
                               * NULL: the only manifest */
        const char *name;     /* repo tag to record ("example.com/app:1"); NULL: the
                               * ref.name annotation when it is a full reference */
        const struct image_platform *platform; /* when the manifest is an index; NULL: linux/amd64 */
        bool allow_devices;   /* device nodes in layers */
};

/* *ret_id (may be NULL): the image ID (config digest). */
int image_import_layout(const char *image_root, const struct image_import_request *req, char **ret_id,
                        struct pxe **err);

/* Unpack and record a pulled image; blobs come from bs. */
int image_install_pulled(const char *image_root, struct blobstore *bs, const struct image_pull_result *res,
                         bool allow_devices, char **ret_id, struct pxe **err);

struct image_prune_report {
        size_t layers_removed;
        size_t blobs_removed;
        size_t partials_removed;
};

/* Remove layers and blobs no image record uses, and what interrupted pulls
 * left in the blob store's ingest/ (under the store-wide lock, exclusive).
 * bs may be NULL (layers only). */
int image_prune(const char *image_root, struct blobstore *bs, struct image_prune_report *ret, struct pxe **err);
