/* Image records: SQLite (WAL mode) at <image_root>/images.db.
 *
 *   images(id, manifest_digest, size, created, config, layers)
 *     id = the config digest ("sha256:..."), config = the image config JSON,
 *     layers = JSON array of {"digest","diff_id","media_type","size"}
 *   tags(name PRIMARY KEY, image_id)           "docker.io/library/busybox:latest"
 *   repo_digests(name PRIMARY KEY, image_id)   "docker.io/library/busybox@sha256:..."
 *   refs(holder PRIMARY KEY, image_id)         who uses an image: a bundle dir, a container
 *
 * An image is recorded only after all its layers are unpacked (the caller's
 * order), in one transaction, so a failed pull or import never lists a
 * partial image.  A tag names one image: putting an image with a tag moves
 * the tag.  The store is safe to use from several processes (SQLite locking,
 * busy timeout); one struct image_store per thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct image_store;

struct image_rec_layer {
        char *digest;     /* compressed blob digest */
        char *diff_id;    /* uncompressed digest, the layer store's key */
        char *media_type;
        uint64_t size;    /* compressed size */
};

struct image_rec {
        char *id;              /* config digest */
        char **repo_tags;
        size_t n_repo_tags;
        char **repo_digests;
        size_t n_repo_digests;
        uint64_t size;         /* bytes of config and layer blobs */
        int64_t created;       /* when recorded here (Unix seconds) */
        char *config;          /* image config JSON */
        char *config_digest;   /* == id */
        char *manifest_digest; /* may be NULL */
        struct image_rec_layer *layers; /* base first */
        size_t n_layers;
};

int image_store_open(const char *image_root, struct image_store **ret, struct pxe **err);

/* Whether the store has its database: a store nothing was ever put into has
 * none, and readers can answer "no images" without creating it (which a full
 * disk refuses). */
bool image_store_present(const char *image_root);
void image_store_close(struct image_store *s);

/* Insert or update rec (by id); its repo tags and digests are added (a tag
 * held by another image moves here). */
int image_store_put(struct image_store *s, const struct image_rec *rec, struct pxe **err);

/* Find an image by full ID, ID hex prefix (>= 4 digits, unique), tag or repo
 * digest (exact, then normalised through image_ref_parse: "busybox" finds
 * "docker.io/library/busybox:latest").  -ENOENT "Image X not found". */
int image_store_get(struct image_store *s, const char *ref, struct image_rec **ret, struct pxe **err);

/* All images, newest first. */
int image_store_list(struct image_store *s, struct image_rec ***ret, size_t *ret_n, struct pxe **err);

/* Holders of an image (bundle dirs, containers). */
int image_store_holders(struct image_store *s, const char *id, char ***ret, size_t *ret_n, struct pxe **err);

/* Remove an image record with its tags.  -EBUSY naming a holder when the
 * image is in use, unless force (then its references go too). */
int image_store_remove(struct image_store *s, const char *id, bool force, struct pxe **err);

/* Drop one tag (exact, or normalised through image_ref_parse).  Returns 1
 * when a tag was dropped, 0 when ref is not a tag. */
int image_store_untag(struct image_store *s, const char *ref, struct pxe **err);

/* Record / drop that holder uses image id.  add: -ENOENT for an unknown image. */
int image_store_ref_add(struct image_store *s, const char *holder, const char *id, struct pxe **err);
int image_store_ref_drop(struct image_store *s, const char *holder, struct pxe **err);

/* diff_ids and blob digests (layers, configs, manifests) still used by some
 * image: what prune keeps. */
int image_store_used(struct image_store *s, char ***ret_diff_ids, size_t *ret_n_diff_ids, char ***ret_blobs,
                     size_t *ret_n_blobs, struct pxe **err);

/* The record as JSON (for `pxcri image inspect` and the CRI ImageStatus). */
char *image_rec_to_json(const struct image_rec *r);

void image_rec_free(struct image_rec *r);
void image_rec_list_free(struct image_rec **v, size_t n);

static inline void image_rec_freep(struct image_rec **r)
{
        image_rec_free(*r);
}

static inline void image_store_closep(struct image_store **s)
{
        image_store_close(*s);
}

#define _cleanup_image_rec_ __attribute__((cleanup(image_rec_freep)))
#define _cleanup_image_store_ __attribute__((cleanup(image_store_closep)))
