/* Registry manifests: OCI image manifest and index, Docker schema 2 manifest
 * and manifest list.  Parsing is strict about what pxcri relies on (digests,
 * sizes, media types) and lenient about the rest (annotations, unknown keys). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* Everything pxcri can use, for Accept headers. */
#define MANIFEST_ACCEPT MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST

/* Manifests larger than this are refused (containerd uses 4 MiB too). */
#define MANIFEST_MAX_SIZE (4u * 1024 * 1024)

enum manifest_kind {
        MANIFEST_IMAGE, /* OCI manifest or Docker schema 2 */
        MANIFEST_INDEX, /* OCI index or Docker manifest list */
        MANIFEST_KIND_MAX,
        MANIFEST_KIND_INVALID = -1,
};

struct image_platform {
        char *os;           /* "linux" */
        char *architecture; /* "amd64", "arm64", ... */
        char *variant;      /* "v8", or NULL */
};

struct descriptor {
        char *media_type;
        char *digest;
        uint64_t size;
        struct image_platform platform; /* index entries only; fields may be NULL */
};

struct manifest {
        enum manifest_kind kind;
        char *media_type;              /* the document's own type */
        struct descriptor config;      /* MANIFEST_IMAGE */
        struct descriptor *layers;     /* MANIFEST_IMAGE */
        size_t n_layers;
        struct descriptor *manifests;  /* MANIFEST_INDEX */
        size_t n_manifests;
};

/* Parse a manifest document.  content_type is the registry's Content-Type
 * (may be NULL or generic); the document's mediaType wins when present, and
 * the two must not contradict each other.  Docker schema 1 is refused. */
int manifest_parse(const char *data, size_t len, const char *content_type, struct manifest **ret,
                   struct pxe **err);
void manifest_free(struct manifest *m);

/* Whether a media type names a manifest/index pxcri understands. */
bool manifest_media_type_known(const char *mt);

/* Parse "os/arch[/variant]" ("linux/amd64", "linux/arm64/v8").  Normalises as
 * containerd does: aarch64 → arm64, x86_64/x86-64 → amd64, arm64 default
 * variant v8, arm default v7. */
int platform_parse(const char *s, struct image_platform *ret, struct pxe **err);
int platform_copy(const struct image_platform *src, struct image_platform *dst);
void platform_done(struct image_platform *p);
/* "linux/arm64/v8" (malloc'ed). */
char *platform_to_string(const struct image_platform *p);

/* Index entry for want: exact os/architecture, variant equal (missing variants
 * normalised as above); without an exact variant match, the best lower arm
 * variant.  NULL when none matches. */
const struct descriptor *manifest_select_platform(const struct manifest *index, const struct image_platform *want);

static inline void manifest_freep(struct manifest **m)
{
        manifest_free(*m);
}

#define _cleanup_manifest_ __attribute__((cleanup(manifest_freep)))
