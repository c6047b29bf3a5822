/* OCI bundles from stored images: what `pxcri run -b DIR` (and the CRI
 * server's CreateContainer) runs.
 *
 *   DIR/config.json          from the image config and the request (bundle/spec.h)
 *   DIR/rootfs/              overlayfs: lowerdir = the image's layers (layer store),
 *                            upperdir = DIR/upper, workdir = DIR/work
 *   DIR/upper/, DIR/work/    the container's own changes
 *   DIR/pxcri-bundle.json    {"image_id","image_root"}: marks DIR as made by pxcri
 *
 * The bundle is recorded as a holder of the image in the image store, so
 * `image remove` refuses the image while the bundle exists.  A failed create
 * leaves nothing: no mount, no directory, no reference.
 */
#pragma once

#include <jansson.h>

#include "bundle/spec.h"
#include "image/store.h"
#include "util/err.h"

struct bundle_request {
        const char *image_root; /* the image store's root */
        const char *image;      /* reference, ID or ID prefix */
        const char *dir;        /* the bundle directory: must not exist, or be empty */
        /* Process, user, annotations ... as for bundle_spec_generate(); image_config,
         * image_name, image_id and rootfs_fd are filled in by bundle_create(). */
        struct bundle_spec_request spec;
        /* Edits the generated spec before it is written, with the rootfs
         * mounted (pxcrid: the CRI request's mounts, namespaces, resources);
         * NULL: none.  A failure fails the create, which then leaves nothing. */
        int (*customize)(json_t *spec, void *data, struct pxe **err);
        void *customize_data;
        /* An open image store of image_root to use (a daemon keeps one per
         * thread); NULL: bundle_create() opens its own. */
        struct image_store *store;
        /* Set (may be NULL): the image's record on success, for the caller
         * to free with image_rec_free(). */
        struct image_rec **ret_image;
};

/* *ret_image_id (may be NULL): the image's ID. */
int bundle_create(const struct bundle_request *req, char **ret_image_id, struct pxe **err);

/* Unmount DIR/rootfs, remove DIR, drop the image reference.  Refuses a
 * directory without pxcri-bundle.json.  -EBUSY while the rootfs is in use. */
int bundle_remove(const char *dir, struct pxe **err);

/* Drop the image references of bundles that no longer exist (a bundle
 * directory removed by hand), so they do not keep image id in use.  Holders
 * that are not absolute paths (containers) are left alone. */
int bundle_drop_stale_refs(const char *image_root, const char *id, struct pxe **err);
