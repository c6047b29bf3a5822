/* The layer store: every layer unpacked once into its own directory,
 * shared by all images that use it.
 *
 *   <image_root>/layers/<diff_id hex>/        the unpacked layer (an overlay lowerdir)
 *   <image_root>/layers/.<hex>.lock           flock()ed while the layer is unpacked or removed
 *   <image_root>/layers/.tmp-<hex>-XXXXXX/    an unpack in progress
 *
 * Layers are keyed by their diff_id (the digest of the uncompressed tar, from
 * the image config's rootfs.diff_ids), so identical content is stored once
 * whatever its compression.  A layer appears only complete and verified: it
 * is unpacked into a temporary directory, checked against the expected
 * digests, and renamed into place.  Concurrent layers_ensure() calls for one
 * layer (threads or processes) unpack it once: the others wait on the lock
 * and find it done.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct layer_source {
        const char *blob_path; /* the layer blob (compressed or not) */
        const char *digest;    /* its digest, verified while reading; NULL: not checked */
        const char *diff_id;   /* required: digest of the uncompressed tar, verified */
};

/* "<image_root>/layers/<hex>" (malloc'ed), or NULL for an invalid diff_id. */
char *layers_path(const char *image_root, const char *diff_id);

/* Whether the layer is present. */
bool layers_has(const char *image_root, const char *diff_id);

/* Exclusive flock on <root>/layers/.<hex>.lock, the one lock of a layer's
 * directory; returns the fd (*ret_path, may be NULL, gets the lock's path). */
int layers_lock(const char *image_root, const char *diff_id, char **ret_path, struct pxe **err);

/* Unpack src unless present.  *ret_path (may be NULL) gets layers_path().
 * (layers_ensure.c: the one part of the store that links the unpacker.) */
int layers_ensure(const char *image_root, const struct layer_source *src, bool allow_devices, char **ret_path,
                  struct pxe **err);

/* Remove a layer (0 also when absent), under its lock. */
int layers_remove(const char *image_root, const char *diff_id, struct pxe **err);

/* diff_ids ("sha256:<hex>") of every stored layer. */
int layers_list(const char *image_root, char ***ret, size_t *ret_n, struct pxe **err);

/* Remove what interrupted unpacks left: .tmp-* directories and lock files of
 * layers that are not there.  Only under the exclusive store lock
 * (layers_lock_store), when no unpack can be running. */
int layers_clean(const char *image_root, struct pxe **err);

/* Remove a directory tree without following symlinks or crossing into other
 * mounts (0 also when absent).  Used for layers and bundles. */
int layers_rm_tree(const char *path, struct pxe **err);

void layers_strv_free(char **v, size_t n);

/* The store-wide lock: installs and bundle creation hold it shared (from the
 * first layer unpacked until the image record or bundle reference exists),
 * prune exclusive, so prune never removes a layer about to be referenced.
 * Returns the fd to close. */
int layers_lock_store(const char *image_root, bool exclusive, struct pxe **err);
