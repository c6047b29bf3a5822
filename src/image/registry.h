/* OCI distribution client for one repository (libcurl).
 *
 * Endpoints are tried in order: the mirrors configured for the reference's
 * registry host, then the host itself (registry-1.docker.io for docker.io).
 * Plain HTTP only to hosts with image.registries.<host>.insecure; TLS is
 * verified unless that host sets skip_verify; ca_file adds a CA bundle.
 * Authentication follows the registry's 401 challenge (Basic, or Bearer with a
 * token fetched from the realm: anonymously, with basic credentials, or with
 * an identity token as OAuth2 refresh token), once per request.  Credentials
 * go to the registry host itself (and its token realm), never to mirrors or to
 * other hosts a redirect leads to.
 *
 * A client may be used from several threads at once (one curl handle per
 * thread: registry_conn).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "image/auth.h"
#include "image/blobstore.h"
#include "util/err.h"

struct registry_client;
struct registry_conn; /* one curl handle; one per thread */

int registry_client_new(const struct image_config *cfg, const char *domain, const char *repo,
                        const struct image_auth *auth, struct registry_client **ret, struct pxe **err);
void registry_client_free(struct registry_client *c);

struct registry_conn *registry_conn_new(void);
void registry_conn_free(struct registry_conn *h);

struct registry_manifest {
        char *data;
        size_t len;
        char *content_type;
        char *digest; /* sha256 of data, checked against Docker-Content-Digest when sent */
};

/* GET /v2/<repo>/manifests/<ref> (tag or digest) with the Accept header for
 * every manifest type pxcri knows.  When ref is a digest the body must hash to
 * it.  -ENOENT when no endpoint has it. */
int registry_get_manifest(struct registry_client *c, struct registry_conn *h, const char *ref,
                          struct registry_manifest *ret, struct pxe **err);
void registry_manifest_done(struct registry_manifest *m);

/* HEAD /v2/<repo>/manifests/<ref>: the digest the registry names in
 * Docker-Content-Digest (unverified: only a hint that the manifest may
 * already be in the store; -EPROTO when the answer has none). */
int registry_head_manifest(struct registry_client *c, struct registry_conn *h, const char *ref, char **ret,
                           struct pxe **err);

/* GET /v2/<repo>/blobs/<digest> into in, resuming from in->offset with a
 * Range request; redirects followed.  The caller commits (verifies). */
int registry_fetch_blob(struct registry_client *c, struct registry_conn *h, const char *digest,
                        struct blob_ingest *in, struct pxe **err);

static inline void registry_client_freep(struct registry_client **c)
{
        registry_client_free(*c);
}

static inline void registry_conn_freep(struct registry_conn **h)
{
        registry_conn_free(*h);
}

#define _cleanup_registry_client_ __attribute__((cleanup(registry_client_freep)))
#define _cleanup_registry_conn_ __attribute__((cleanup(registry_conn_freep)))
