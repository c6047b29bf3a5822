/* Containers across records and backends: the lifecycle the CLI (and later
 * the CRI server) drive.  Each call finds or chooses the backend, keeps the
 * per-container record in step with it, and undoes its own side effects when
 * a step fails, so a failed create leaves nothing behind. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "backend/backend.h"
#include "config/config.h"
#include "state/record.h"
#include "util/err.h"

struct container_ctx {
        const struct config *cfg;
        struct backend_env env;
};

struct create_request {
        const char *id;
        const char *bundle;   /* absolute path of the bundle directory */
        const char *override; /* --runtime NAME, or NULL */
        bool run;             /* run instead of create */
        struct backend_call call;
};

/* Route, record and create (or run).  *ret_status: the backend's exit status
 * (for run: the container's).  On failure nothing stays recorded. */
int container_create(const struct container_ctx *x, const struct create_request *req, int *ret_status,
                     char **ret_backend_name, struct pxe **err);

/* The backend that holds container id; -ENOENT "container ... does not exist". */
int container_open(const struct container_ctx *x, const char *id, struct backend **ret, struct pxe **err);

/* Delete through the backend, then drop the record.  Missing containers are
 * fine with force (as runc). */
int container_delete(const struct container_ctx *x, const struct backend_call *call, bool force, int *ret_status,
                     struct pxe **err);

/* OCI state with "backend" added. */
int container_state(const struct container_ctx *x, const char *id, json_t **ret, struct pxe **err);

/* Every container in the root, from all backends, each with "backend". */
int container_list(const struct container_ctx *x, json_t **ret, struct pxe **err);

/* Read the annotations of a bundle's config.json for routing (also checks
 * that the bundle and its config exist and are valid JSON). */
int container_bundle_annotations(const char *bundle, json_t **ret_config, struct pxe **err);
