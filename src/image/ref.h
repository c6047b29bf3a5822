/* Image references, parsed and normalised as Docker and containerd do
 * (github.com/distribution/reference, ParseDockerRef):
 *
 *   busybox                     -> docker.io/library/busybox:latest
 *   user/app:1.0                -> docker.io/user/app:1.0
 *   localhost:5000/app          -> localhost:5000/app:latest
 *   quay.io/a/b@sha256:<hex>    -> quay.io/a/b@sha256:<hex> (no tag added)
 *   index.docker.io/x           -> docker.io/library/x:latest
 *
 * The first path component is the registry host when it contains '.' or ':',
 * is "localhost", or has an upper-case letter; otherwise docker.io.  The
 * repository path must be lower case ([a-z0-9] with '.', '_', '__', '-'
 * separators), the tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, the digest
 * sha256:<64 hex>, the whole name at most 255 characters.
 */
#pragma once

#include "util/err.h"

#define REF_NAME_MAX 255
#define REF_TAG_MAX 128
#define REF_DEFAULT_DOMAIN "docker.io"
#define REF_DEFAULT_TAG "latest"

struct image_ref {
        char *domain; /* "docker.io", "localhost:5000", "[::1]:5000" */
        char *path;   /* "library/busybox" */
        char *tag;    /* "latest"; NULL when only a digest was given */
        char *digest; /* "sha256:..." or NULL */
};

/* Parse and normalise s.  -EINVAL with a message naming s and the rule broken. */
int image_ref_parse(const char *s, struct image_ref *ret, struct pxe **err);

/* "domain/path[:tag][@digest]" (malloc'ed). */
char *image_ref_string(const struct image_ref *r);

/* "domain/path" (malloc'ed). */
char *image_ref_name(const struct image_ref *r);

void image_ref_done(struct image_ref *r);

static inline void image_ref_donep(struct image_ref *r)
{
        image_ref_done(r);
}

#define _cleanup_image_ref_ __attribute__((cleanup(image_ref_donep)))
