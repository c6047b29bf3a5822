/* Routing: which backend runs a container.
 *
 * Order (first that decides wins):
 *   1. an explicit override (CLI --runtime), or the decision pxcrid already
 *      made, written into config.json as the annotation io.pxcri.backend
 *      (pxcrid sets it on every container it creates and never passes a
 *      request's own value on),
 *   2. runtime.routing rules in file order; a rule matches when every
 *      condition it sets matches,
 *   3. the annotation pxcri.io/backend naming a backend,
 *   4. container_config.crun_name_patterns (-> crun),
 *   5. container_config.default_container_type.
 * Names a `pattern` is tried against: the ID, then the Kubernetes container and
 * pod names from the annotations.  Images are tried as written and with the
 * registry host and "library/" removed, so "db-*" matches
 * "docker.io/library/db-postgres:16".  The router does not check that the
 * backend it names is available: opening the backend does, and fails loudly.
 */
#pragma once

#include <stddef.h>

#include "config/config.h"
#include "util/err.h"

#define ROUTER_BACKEND_ANNOTATION "pxcri.io/backend"
#define ROUTER_DECIDED_ANNOTATION "io.pxcri.backend"
#define ROUTER_REASON_ANNOTATION "io.pxcri.route-reason"

struct annotation {
        const char *key;
        const char *value;
};

struct route_input {
        const char *id;
        const char *override;                /* --runtime NAME, or NULL */
        const char *handler;                 /* CRI runtime handler, or NULL: taken from annotations */
        const char *image;                   /* image reference, or NULL: taken from annotations */
        const struct annotation *annotations; /* may be NULL */
        size_t n_annotations;
};

struct route_result {
        enum backend_id backend;
        char reason[160]; /* "rule 2 (image db-*)", "default_container_type", ... */
};

int router_pick(const struct config *c, const struct route_input *in, struct route_result *ret,
                struct pxe **err);

/* The value of an annotation, or NULL. */
const char *annotation_get(const struct annotation *a, size_t n, const char *key);
