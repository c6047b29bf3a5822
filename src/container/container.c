#include "container/container.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "router/router.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/id.h"
#include "util/log.h"

#define BUNDLE_CONFIG_MAX (8u << 20)

int container_bundle_annotations(const char *bundle, json_t **ret_config, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_error_t jerr;
        json_t *j;
        int r;

        if (!fs_dir_exists(bundle))
                return pxe_set(err, ENOENT, "Bundle %s does not exist or is not a directory", bundle);
        if (asprintf(&path, "%s/config.json", bundle) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = fs_read_file(path, BUNDLE_CONFIG_MAX, &text, NULL, err);
        if (r < 0) {
                pxe_wrap(err, "Reading the bundle's configuration");
                return r;
        }
        j = json_loads(text, 0, &jerr);
        if (!j)
                return pxe_set(err, EINVAL, "%s: invalid JSON at line %d, column %d: %s", path, jerr.line,
                               jerr.column, jerr.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return pxe_set(err, EINVAL, "%s: expected a JSON object", path);
        }
        *ret_config = j;
        return 0;
}

/* Borrowed views of the string annotations of an OCI config. */
static struct annotation *annotations_of(json_t *config, size_t *ret_n)
{
        json_t *obj = json_object_get(config, "annotations"), *v;
        struct annotation *a;
        const char *k;
        size_t n = 0;

        *ret_n = 0;
        if (!json_is_object(obj) || json_object_size(obj) == 0)
                return NULL;
        a = calloc(json_object_size(obj), sizeof(*a));
        if (!a)
                return NULL;
        json_object_foreach(obj, k, v) {
                if (!json_is_string(v))
                        continue;
                a[n].key = k;
                a[n++].value = json_string_value(v);
        }
        *ret_n = n;
        return a;
}

static void now_rfc3339(char *buf, size_t size)
{
        log_format_time(buf, size);
}

/* A record whose backend no longer knows the container, and that no create
 * holds, is left over from a crash: it may be replaced. */
static bool record_is_stale(const struct container_ctx *x, const char *id)
{
        _cleanup_record_ struct record *old = NULL;
        _cleanup_backend_ struct backend *b = NULL;

        if (record_busy(x->env.root, id))
                return false;
        if (record_load(x->env.root, id, &old, NULL) < 0)
                return false;
        if (backend_open(x->cfg, &x->env, old->backend, &b, NULL) < 0)
                return false;
        return !backend_exists(b, id);
}

static int record_new(const struct container_ctx *x, const struct create_request *req,
                      const struct route_result *route, struct pxe **err)
{
        char created[48];
        struct record rec = {
                .id = (char *) req->id,
                .backend = route->backend,
                .bundle = (char *) req->bundle,
                .created = created,
                .reason = (char *) route->reason,
        };
        int fd;

        now_rfc3339(created, sizeof(created));
        fd = record_create(x->env.root, &rec, err);
        if (fd == -EEXIST && record_is_stale(x, req->id)) {
                pxe_freep(err);
                if (record_remove(x->env.root, req->id, err) < 0)
                        return -pxe_code(err, EIO);
                fd = record_create(x->env.root, &rec, err);
        }
        return fd;
}

/* Whether a backend under this root holds id (its state dir exists). */
static int find_backend_holding(const struct container_ctx *x, const char *id, enum backend_id *ret)
{
        for (int i = 0; i < BACKEND_MAX; i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s/%s", x->env.root, backend_id_to_name(i), id) < 0)
                        return -ENOMEM;
                if (fs_exists(p)) {
                        *ret = i;
                        return 1;
                }
        }
        return 0;
}

/* A foreground run keeps no record: the process becomes the runtime, and
 * while it runs the backend's own state dir under the root says where the
 * container is (container_open() looks there).  So it only has to make sure
 * the ID is free everywhere. */
static int run_foreground(const struct container_ctx *x, const struct create_request *req, struct backend *b,
                          int *ret_status, struct pxe **err)
{
        enum backend_id holder;

        if (fs_exists_fmt("%s/containers/%s.json", x->env.root, req->id) > 0 && !record_is_stale(x, req->id))
                return pxe_set(err, EEXIST, "container \"%s\" already exists", req->id);
        if (find_backend_holding(x, req->id, &holder) > 0)
                return pxe_set(err, EEXIST, "container \"%s\" already exists", req->id);
        return backend_run(b, &req->call, ret_status, err);
}

int container_create(const struct container_ctx *x, const struct create_request *req, int *ret_status,
                     char **ret_backend_name, struct pxe **err)
{
        json_auto_t *config = NULL;
        _cleanup_free_ struct annotation *ann = NULL;
        _cleanup_backend_ struct backend *b = NULL;
        _cleanup_close_ int lock_fd = -EBADF;
        struct route_input in = { .id = req->id, .override = req->override };
        struct route_result route;
        int r;

        if (id_check(req->id, err) < 0)
                return -EINVAL;
        if (container_bundle_annotations(req->bundle, &config, err) < 0)
                return -pxe_code(err, EINVAL);
        ann = annotations_of(config, &in.n_annotations);
        in.annotations = ann;
        if (router_pick(x->cfg, &in, &route, err) < 0)
                return -pxe_code(err, EINVAL);
        log_debug("Container %s goes to %s: %s", req->id, backend_id_to_name(route.backend), route.reason);
        r = backend_open(x->cfg, &x->env, route.backend, &b, err);
        if (r < 0) {
                pxe_wrap(err, "Container %s was routed by %s", req->id, route.reason);
                return r;
        }
        if (ret_backend_name)
                *ret_backend_name = strdup(b->name);
        if (req->run && !req->call.detach)
                return run_foreground(x, req, b, ret_status, err);

        lock_fd = record_new(x, req, &route, err);
        if (lock_fd < 0)
                return lock_fd;

        r = req->run ? backend_run(b, &req->call, ret_status, err) : backend_create(b, &req->call, ret_status, err);
        /* Keep the record exactly as long as the backend holds the container:
         * a failed create leaves nothing behind. */
        if (!backend_exists(b, req->id))
                record_remove(x->env.root, req->id, NULL);
        return r;
}

int container_open(const struct container_ctx *x, const char *id, struct backend **ret, struct pxe **err)
{
        _cleanup_record_ struct record *rec = NULL;
        enum backend_id holder;
        int r;

        r = record_load(x->env.root, id, &rec, err);
        if (r == -ENOENT && find_backend_holding(x, id, &holder) > 0) {
                /* No record: a foreground run, or a container made by the
                 * runtime itself under our root.  Its state dir tells. */
                pxe_freep(err);
                return backend_open(x->cfg, &x->env, holder, ret, err);
        }
        if (r < 0)
                return r;
        return backend_open(x->cfg, &x->env, rec->backend, ret, err);
}

int container_delete(const struct container_ctx *x, const struct backend_call *call, bool force, int *ret_status,
                     struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        int r;

        r = container_open(x, call->id, &b, err);
        if (r == -ENOENT && force) {
                /* As runc: deleting what is not there, by force, succeeds. */
                pxe_freep(err);
                *ret_status = 0;
                return 0;
        }
        if (r < 0)
                return r;
        if (!backend_exists(b, call->id)) {
                /* The backend lost it (reboot, crash, manual cleanup): only the
                 * record is left, and removing it is the whole delete. */
                *ret_status = 0;
                return record_remove(x->env.root, call->id, err);
        }
        r = backend_delete(b, call, ret_status, err);
        if (r < 0)
                return r;
        if (!backend_exists(b, call->id))
                return record_remove(x->env.root, call->id, err);
        return 0;
}

int container_state(const struct container_ctx *x, const char *id, json_t **ret, struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        json_t *st = NULL;

        if (container_open(x, id, &b, err) < 0)
                return -pxe_code(err, ENOENT);
        if (!backend_exists(b, id))
                return pxe_set(err, ENOENT, "container \"%s\" does not exist", id);
        if (backend_state(b, id, &st, err) < 0)
                return -pxe_code(err, EIO);
        json_object_set_new(st, "backend", json_string(b->name));
        *ret = st;
        return 0;
}

/* Add the entries of one backend's list to out, each tagged with the backend. */
static void list_backend(struct backend *b, json_t *out, struct pxe **err)
{
        json_auto_t *arr = NULL;
        size_t i;
        json_t *v;

        if (backend_list(b, &arr, err) < 0)
                return;
        json_array_foreach(arr, i, v) {
                if (!json_is_object(v))
                        continue;
                json_object_set_new(v, "backend", json_string(b->name));
                json_array_append(out, v);
        }
}

int container_list(const struct container_ctx *x, json_t **ret, struct pxe **err)
{
        json_t *out = json_array();

        if (!out)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (int id = 0; id < BACKEND_MAX; id++) {
                _cleanup_backend_ struct backend *b = NULL;
                _cleanup_free_ char *root = NULL;
                struct pxe *e = NULL;

                if (asprintf(&root, "%s/%s", x->env.root, backend_id_to_name(id)) < 0 || !fs_dir_exists(root))
                        continue;
                if (backend_open(x->cfg, &x->env, id, &b, &e) == 0)
                        list_backend(b, out, &e);
                if (e) {
                        /* One broken backend must not hide the others. */
                        log_warn("%s", e->msg);
                        pxe_free(e);
                }
        }
        *ret = out;
        return 0;
}
