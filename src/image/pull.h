/* Pulling an image from an OCI distribution registry into the blob store.
 *
 * The contract the image record store, unpack and the CLI/CRI code build on:
 *
 *   struct image_puller *p;          one per process (or per config), thread-safe
 *   image_puller_new(&cfg->image, &p, &err);
 *   struct image_pull_result *r;
 *   image_pull(p, "busybox", auth, NULL, &r, &err);   NULL platform: image.platform
 *   ... r->layers[i].digest -> blobstore_path(image_puller_blobstore(p), digest)
 *   image_pull_result_free(r);
 *
 * On success every blob named in the result (top-level manifest or index, the
 * platform manifest, the config, every layer) is in the blob store, verified by
 * size and SHA-256 digest.  Manifests are stored last, so a manifest in the
 * store means every blob it names is there too.  On failure nothing
 * unverified is visible in the store: partial downloads stay under
 * <root>/ingest/ and a retried pull resumes them.  Concurrent image_pull() calls (threads or processes) that need the
 * same blob download it once: the second waits for the first and finds it.
 *
 * image_pull() blocks (network I/O) — never call it on an event loop.
 * Error codes: EINVAL bad reference / bad platform string, ENOENT image, tag or
 * platform not found, EACCES authentication refused, EBADMSG a manifest or blob
 * that fails parsing or verification, EPROTO unexpected registry answer,
 * ECONNREFUSED/EHOSTUNREACH/ETIMEDOUT/ECONNRESET network, ELIBACC libcurl or
 * libcrypto cannot be loaded (they are dlopen()ed), ENOMEM.  The message names the
 * reference, registry and digest involved; secrets never appear in it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "image/auth.h"
#include "image/blobstore.h"
#include "image/manifest.h"
#include "util/err.h"

struct image_puller;

struct image_layer {
        char *digest;     /* "sha256:<64 hex>" of the blob as stored (compressed) */
        char *media_type; /* application/vnd.oci.image.layer.v1.tar+gzip, ...+zstd, ...tar,
                           * application/vnd.docker.image.rootfs.diff.tar.gzip */
        uint64_t size;    /* bytes, as in the manifest and verified */
};

struct image_pull_result {
        char *reference;         /* normalised as given: "docker.io/library/busybox:latest"
                                  * or "...busybox@sha256:..." */
        char *name;              /* repository: "docker.io/library/busybox" */
        char *tag;               /* "latest", or NULL when pulled by digest only */
        char *digest;            /* what the reference resolved to: the top-level manifest
                                  * or index digest (CRI repo digest = name@digest) */
        char *manifest_digest;   /* the platform's image manifest (== digest without an index) */
        char *manifest_media_type;
        char *config_digest;     /* image config blob; CRI's image ID */
        char *config_media_type;
        struct image_platform platform; /* of the chosen manifest (os, architecture, variant) */
        struct image_layer *layers;     /* base layer first, as in the manifest */
        size_t n_layers;
        uint64_t total_size;     /* sum of config and layer sizes (compressed, as stored) */
};

/* cfg is copied what is needed from it; it may be freed after.  Creates
 * cfg->root (blobs/, ingest/) if missing.  Calls curl_global_init once. */
int image_puller_new(const struct image_config *cfg, struct image_puller **ret, struct pxe **err);
void image_puller_free(struct image_puller *p);

/* The puller's blob store (owned by the puller; valid until image_puller_free). */
struct blobstore *image_puller_blobstore(struct image_puller *p);

/* Pull ref (any form `docker pull` accepts) with optional credentials (CRI
 * AuthConfig; NULL: anonymous) for
 * platform (NULL: cfg->platform, default linux/amd64).  *ret is set only on
 * success; free it with image_pull_result_free(). */
int image_pull(struct image_puller *p, const char *ref, const struct image_auth *auth,
               const struct image_platform *platform, struct image_pull_result **ret,
               struct pxe **err);

/* The result as a JSON object text (keys as the struct fields; sizes as
 * numbers), malloc'ed; used by tests and `pxcri image pull --json`. */
char *image_pull_result_to_json(const struct image_pull_result *r);

void image_pull_result_free(struct image_pull_result *r);

static inline void image_pull_result_freep(struct image_pull_result **r)
{
        image_pull_result_free(*r);
}

static inline void image_puller_freep(struct image_puller **p)
{
        image_puller_free(*p);
}

#define _cleanup_image_pull_result_ __attribute__((cleanup(image_pull_result_freep)))
#define _cleanup_image_puller_ __attribute__((cleanup(image_puller_freep)))
