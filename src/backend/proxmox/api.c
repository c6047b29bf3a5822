/* The REST API transport: https://HOST:PORT/api2/json with an API token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/proxmox/api_http.h"
#include "backend/proxmox/client_private.h"
#include "util/cleanup.h"

#define TASK_LOG_TAIL 5
#define TASK_POLL_MAX_MS 1000

static int call(struct pve_client *c, const char *method, const char *path, const struct pve_kv *p, size_t n,
                int timeout_ms, json_t **ret, struct pxe **err)
{
        struct api_request r = { .method = method, .path = path, .params = p, .n_params = n,
                                 .timeout_ms = timeout_ms };
        json_t *data = NULL;
        int rc;

        rc = api_http_request(c->api, c->cfg, c->token, &r, &data, err);
        if (rc < 0)
                return rc;
        if (ret)
                *ret = data;
        else
                json_decref(data);
        return 0;
}

/* "/nodes/<node>/lxc/<vmid><suffix>" */
static int ct_path(struct pve_client *c, unsigned vmid, const char *suffix, char **ret, struct pxe **err)
{
        const char *node;

        if (pve_node(c, &node, err) < 0)
                return -pxe_code(err, EIO);
        if (asprintf(ret, "/nodes/%s/lxc/%u%s", node, vmid, suffix) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int take_upid(json_t *data, char **ret_upid, struct pxe **err)
{
        _cleanup_free_ char *node = NULL;
        const char *s = json_string_value(data);
        int r = pve_upid_node(s, &node, err);

        if (r == 0 && ret_upid)
                r = (*ret_upid = strdup(s)) ? 0 : pxe_set(err, ENOMEM, "Out of memory");
        json_decref(data);
        return r;
}

static int json_uint(json_t *v, unsigned *ret)
{
        long long x;
        char *end;

        if (json_is_integer(v))
                x = json_integer_value(v);
        else if (json_is_string(v)) {
                errno = 0;
                x = strtoll(json_string_value(v), &end, 10);
                if (errno || *end || end == json_string_value(v))
                        return -EPROTO;
        } else
                return -EPROTO;
        if (x < 0 || x > 999999999)
                return -EPROTO;
        *ret = (unsigned) x;
        return 0;
}

static int api_open(struct pve_client *c, struct pxe **err)
{
        c->api = calloc(1, sizeof(*c->api));
        if (!c->api)
                return pxe_set(err, ENOMEM, "Out of memory");
        return api_http_open(c->api, c->cfg, err);
}

static void api_close(struct pve_client *c)
{
        if (c->api)
                api_http_close(c->api);
        free(c->api);
        c->api = NULL;
}

static int api_version(struct pve_client *c, char **ret, struct pxe **err)
{
        json_t *d = NULL;
        const char *v;
        int r = call(c, "GET", "/version", NULL, 0, 0, &d, err);

        if (r < 0)
                return r;
        v = json_string_value(json_object_get(d, "version"));
        r = v ? ((*ret = strdup(v)) ? 0 : -ENOMEM) : pxe_set(err, EPROTO, "GET /version: no version in the answer");
        json_decref(d);
        return r;
}

static int api_node(struct pve_client *c, char **ret, struct pxe **err)
{
        json_t *d = NULL, *n;
        size_t i;
        int r = call(c, "GET", "/nodes", NULL, 0, 0, &d, err);

        if (r < 0)
                return r;
        r = pxe_set(err, ENOENT, "GET /nodes: no node is online");
        json_array_foreach(d, i, n) {
                const char *name = json_string_value(json_object_get(n, "node"));
                const char *st = json_string_value(json_object_get(n, "status"));

                if (name && st && streq(st, "online")) {
                        pxe_freep(err);
                        r = (*ret = strdup(name)) ? 0 : pxe_set(err, ENOMEM, "Out of memory");
                        break;
                }
        }
        json_decref(d);
        return r;
}

static int api_used_vmids(struct pve_client *c, unsigned **ret, size_t *ret_n, struct pxe **err)
{
        static const struct pve_kv q[] = { { "type", "vm" } };
        json_t *d = NULL, *e;
        unsigned *v;
        size_t i, n = 0;
        int r = call(c, "GET", "/cluster/resources", q, 1, 0, &d, err);

        if (r < 0)
                return r;
        if (!json_is_array(d)) {
                json_decref(d);
                return pxe_set(err, EPROTO, "GET /cluster/resources: expected a list");
        }
        v = calloc(json_array_size(d) + 1, sizeof(*v));
        if (!v) {
                json_decref(d);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        json_array_foreach(d, i, e)
                if (json_uint(json_object_get(e, "vmid"), &v[n]) == 0)
                        n++;
        json_decref(d);
        *ret = v;
        *ret_n = n;
        return 0;
}

static int api_check_vmid(struct pve_client *c, unsigned vmid, struct pxe **err)
{
        char id[16];
        struct pve_kv q[] = { { "vmid", id } };

        snprintf(id, sizeof(id), "%u", vmid);
        return call(c, "GET", "/cluster/nextid", q, 1, 0, NULL, err);
}

static int api_create(struct pve_client *c, unsigned vmid, const struct pve_kv *p, size_t n, char **ret_upid,
                      struct pxe **err)
{
        _cleanup_free_ struct pve_kv *all = calloc(n + 1, sizeof(*all));
        _cleanup_free_ char *path = NULL;
        const char *node;
        char id[16];
        json_t *d = NULL;
        int r;

        if (!all)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (pve_node(c, &node, err) < 0 || asprintf(&path, "/nodes/%s/lxc", node) < 0)
                return -pxe_code(err, ENOMEM);
        snprintf(id, sizeof(id), "%u", vmid);
        all[0] = (struct pve_kv) { "vmid", id };
        memcpy(all + 1, p, n * sizeof(*p));
        r = call(c, "POST", path, all, n + 1, 0, &d, err);
        return r < 0 ? r : take_upid(d, ret_upid, err);
}

static void copy_str(json_t *v, char *dst, size_t size)
{
        snprintf(dst, size, "%s", json_is_string(v) ? json_string_value(v) : "");
}

static int api_status(struct pve_client *c, unsigned vmid, struct pve_status *ret, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        json_t *d = NULL, *t;
        int r;

        if (ct_path(c, vmid, "/status/current", &path, err) < 0)
                return -pxe_code(err, EIO);
        r = call(c, "GET", path, NULL, 0, 0, &d, err);
        if (r < 0)
                return r;
        copy_str(json_object_get(d, "status"), ret->status, sizeof(ret->status));
        copy_str(json_object_get(d, "lock"), ret->lock, sizeof(ret->lock));
        copy_str(json_object_get(d, "name"), ret->name, sizeof(ret->name));
        t = json_object_get(d, "template");
        ret->template_ = (json_is_integer(t) && json_integer_value(t)) ||
                         (json_is_string(t) && streq(json_string_value(t), "1"));
        json_decref(d);
        return ret->status[0] ? 0 : pxe_set(err, EPROTO, "GET %s: no status in the answer", path);
}

static int api_action(struct pve_client *c, unsigned vmid, enum pve_action a, char **ret_upid, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *suffix = NULL;
        json_t *d = NULL;
        int r;

        if (asprintf(&suffix, "/status/%s", pve_action_to_string(a)) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (ct_path(c, vmid, suffix, &path, err) < 0)
                return -pxe_code(err, EIO);
        r = call(c, "POST", path, NULL, 0, 0, &d, err);
        return r < 0 ? r : take_upid(d, ret_upid, err);
}

static int api_destroy(struct pve_client *c, unsigned vmid, bool force, char **ret_upid, struct pxe **err)
{
        static const struct pve_kv q[] = { { "force", "1" }, { "purge", "1" } };
        _cleanup_free_ char *path = NULL;
        json_t *d = NULL;
        int r;

        if (ct_path(c, vmid, "", &path, err) < 0)
                return -pxe_code(err, EIO);
        r = call(c, "DELETE", path, force ? q : q + 1, force ? 2 : 1, 0, &d, err);
        return r < 0 ? r : take_upid(d, ret_upid, err);
}

static int api_config_get(struct pve_client *c, unsigned vmid, json_t **ret, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        json_t *d = NULL;
        int r;

        if (ct_path(c, vmid, "/config", &path, err) < 0)
                return -pxe_code(err, EIO);
        r = call(c, "GET", path, NULL, 0, 0, &d, err);
        if (r < 0)
                return r;
        if (!json_is_object(d)) {
                json_decref(d);
                return pxe_set(err, EPROTO, "GET %s: expected an object", path);
        }
        *ret = d;
        return 0;
}

static int api_config_set(struct pve_client *c, unsigned vmid, const struct pve_kv *p, size_t n, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;

        if (ct_path(c, vmid, "/config", &path, err) < 0)
                return -pxe_code(err, EIO);
        return call(c, "PUT", path, p, n, 0, NULL, err);
}

/* The last lines of a task's log, "; "-joined, for the error message. */
static void task_log_tail(struct pve_client *c, const char *tpath, char *out, size_t size)
{
        static const struct pve_kv q[] = { { "start", "0" }, { "limit", "1000" } };
        _cleanup_free_ char *path = NULL;
        json_t *d = NULL;
        size_t n, used = 0;

        out[0] = '\0';
        if (asprintf(&path, "%s/log", tpath) < 0 || call(c, "GET", path, q, 2, 0, &d, NULL) < 0)
                return;
        n = json_is_array(d) ? json_array_size(d) : 0;
        for (size_t i = n > TASK_LOG_TAIL ? n - TASK_LOG_TAIL : 0; i < n && used < size; i++) {
                const char *t = json_string_value(json_object_get(json_array_get(d, i), "t"));
                int w = snprintf(out + used, size - used, "%s%s", used ? "; " : "", t ? t : "");

                used += w > 0 ? (size_t) w : 0;
        }
        json_decref(d);
}

static int task_done(struct pve_client *c, const char *upid, const char *tpath, json_t *d, struct pxe **err)
{
        const char *exit = json_string_value(json_object_get(d, "exitstatus"));
        char tail[512];

        if (exit && streq(exit, "OK"))
                return 0;
        task_log_tail(c, tpath, tail, sizeof(tail));
        return pxe_set(err, EIO, "Task %s failed: %s%s%s", upid, exit ? exit : "no exit status",
                       tail[0] ? "; log: " : "", tail);
}

static int api_task_wait(struct pve_client *c, const char *upid, int timeout_ms, struct pxe **err)
{
        _cleanup_free_ char *node = NULL, *tpath = NULL, *spath = NULL;
        long long deadline = pve_now_ms() + timeout_ms;
        int poll_ms = 50;
        char *esc;

        if (pve_upid_node(upid, &node, err) < 0)
                return -EPROTO;
        esc = c->api->curl->easy_escape(c->api->h, upid, 0);
        if (!esc || asprintf(&tpath, "/nodes/%s/tasks/%s", node, esc) < 0 ||
            asprintf(&spath, "%s/status", tpath) < 0) {
                c->api->curl->free(esc);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        c->api->curl->free(esc);
        for (;;) {
                long long left = deadline - pve_now_ms();
                json_t *d = NULL;
                const char *st;
                int r;

                if (left <= 0)
                        return pxe_set(err, ETIMEDOUT, "Task %s still running after %d ms", upid, timeout_ms);
                r = call(c, "GET", spath, NULL, 0, left < c->cfg->timeout * 1000LL ? (int) left : 0, &d, err);
                if (r < 0)
                        return pxe_wrap(err, "Waiting for task %s", upid);
                st = json_string_value(json_object_get(d, "status"));
                if (st && streq(st, "stopped")) {
                        r = task_done(c, upid, tpath, d, err);
                        json_decref(d);
                        return r;
                }
                json_decref(d);
                left = deadline - pve_now_ms();
                nanosleep(&(struct timespec) { .tv_nsec = (poll_ms < left ? poll_ms : left > 0 ? left : 0) * 1000000L },
                          NULL);
                poll_ms = poll_ms * 2 < TASK_POLL_MAX_MS ? poll_ms * 2 : TASK_POLL_MAX_MS;
        }
}

static int api_template(struct pve_client *c, unsigned vmid, char **ret_upid, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        json_t *d = NULL;
        int r;

        if (ct_path(c, vmid, "/template", &path, err) < 0)
                return -pxe_code(err, EIO);
        r = call(c, "POST", path, NULL, 0, 0, &d, err);
        if (r < 0)
                return r;
        /* Proxmox answers null (it converts in the request) or a UPID. */
        if (json_is_null(d) || !d) {
                json_decref(d);
                if (ret_upid)
                        *ret_upid = NULL;
                return 0;
        }
        return take_upid(d, ret_upid, err);
}

static int api_clone(struct pve_client *c, unsigned src, unsigned newid, const struct pve_kv *p, size_t n,
                     char **ret_upid, struct pxe **err)
{
        _cleanup_free_ struct pve_kv *all = calloc(n + 1, sizeof(*all));
        _cleanup_free_ char *path = NULL;
        char id[16];
        json_t *d = NULL;
        int r;

        if (!all)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (ct_path(c, src, "/clone", &path, err) < 0)
                return -pxe_code(err, EIO);
        snprintf(id, sizeof(id), "%u", newid);
        all[0] = (struct pve_kv) { "newid", id };
        memcpy(all + 1, p, n * sizeof(*p));
        r = call(c, "POST", path, all, n + 1, 0, &d, err);
        return r < 0 ? r : take_upid(d, ret_upid, err);
}

/* "/nodes/<node>/storage/<storage><suffix>" */
static int storage_path(struct pve_client *c, const char *storage, const char *suffix, char **ret, struct pxe **err)
{
        const char *node;

        if (pve_node(c, &node, err) < 0)
                return -pxe_code(err, EIO);
        if (asprintf(ret, "/nodes/%s/storage/%s%s", node, storage, suffix) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int api_template_exists(struct pve_client *c, const char *name, bool *ret, struct pxe **err)
{
        static const struct pve_kv q[] = { { "content", "vztmpl" } };
        _cleanup_free_ char *path = NULL, *volid = NULL;
        json_t *d = NULL, *e;
        size_t i;
        int r;

        if (storage_path(c, c->cfg->template_storage, "/content", &path, err) < 0)
                return -pxe_code(err, EIO);
        if (asprintf(&volid, "%s:vztmpl/%s", c->cfg->template_storage, name) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = call(c, "GET", path, q, 1, 0, &d, err);
        if (r < 0)
                return r;
        *ret = false;
        json_array_foreach(d, i, e) {
                const char *v = json_string_value(json_object_get(e, "volid"));

                if (v && streq(v, volid))
                        *ret = true;
        }
        json_decref(d);
        return 0;
}

/* A task the caller does not see: waited for here, ten request timeouts at most. */
static int wait_answer_task(struct pve_client *c, json_t *d, struct pxe **err)
{
        _cleanup_free_ char *upid = NULL;

        if (!d || json_is_null(d)) {
                json_decref(d);
                return 0;
        }
        if (take_upid(d, &upid, err) < 0)
                return -EPROTO;
        return api_task_wait(c, upid, (int) c->cfg->timeout * 10000, err);
}

static int api_template_upload(struct pve_client *c, const char *file, const char *name, const char *sha256_hex,
                               struct pxe **err)
{
        struct pve_kv p[] = { { "content", "vztmpl" }, { "checksum-algorithm", "sha256" }, { "checksum", sha256_hex } };
        _cleanup_free_ char *path = NULL;
        struct api_request rq = { .method = "POST", .params = p, .n_params = sha256_hex ? 3 : 1,
                                  .timeout_ms = (int) c->cfg->timeout * 10000, .upload_path = file,
                                  .upload_name = name };
        json_t *d = NULL;

        if (storage_path(c, c->cfg->template_storage, "/upload", &path, err) < 0)
                return -pxe_code(err, EIO);
        rq.path = path;
        if (api_http_request(c->api, c->cfg, c->token, &rq, &d, err) < 0)
                return -pxe_code(err, EIO);
        return wait_answer_task(c, d, err);
}

static int escaped_volume_path(struct pve_client *c, const char *storage, const char *volid, char **ret,
                               struct pxe **err)
{
        _cleanup_free_ char *suffix = NULL;
        char *esc = c->api->curl->easy_escape(c->api->h, volid, 0);
        int r;

        if (!esc || asprintf(&suffix, "/content/%s", esc) < 0) {
                c->api->curl->free(esc);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        c->api->curl->free(esc);
        r = storage_path(c, storage, suffix, ret, err);
        return r;
}

/* DELETE .../storage/<s>/content/<s>:vztmpl/<name>: Proxmox answers the
 * imgdel task's UPID (or null). */
static int api_template_delete(struct pve_client *c, const char *name, struct pxe **err)
{
        const char *storage = c->cfg->template_storage;
        _cleanup_free_ char *volid = NULL, *path = NULL;
        json_t *d = NULL;
        int r;

        if (asprintf(&volid, "%s:vztmpl/%s", storage, name) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (escaped_volume_path(c, storage, volid, &path, err) < 0)
                return -pxe_code(err, EIO);
        if ((r = call(c, "DELETE", path, NULL, 0, 0, &d, err)) < 0)
                return r;
        return wait_answer_task(c, d, err);
}

static int api_volume_path(struct pve_client *c, const char *volid, char **ret, struct pxe **err)
{
        _cleanup_free_ char *storage = strndup(volid, strcspn(volid, ":")), *path = NULL;
        json_t *d = NULL;
        const char *p;
        int r;

        if (!storage)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!volid[strlen(storage)])
                return pxe_set(err, EINVAL, "\"%s\" is not a volume ID (STORAGE:NAME)", volid);
        if (escaped_volume_path(c, storage, volid, &path, err) < 0)
                return -pxe_code(err, EIO);
        if ((r = call(c, "GET", path, NULL, 0, 0, &d, err)) < 0)
                return r;
        p = json_string_value(json_object_get(d, "path"));
        r = p && p[0] == '/' ? ((*ret = strdup(p)) ? 0 : pxe_set(err, ENOMEM, "Out of memory"))
                             : pxe_set(err, EPROTO, "GET %s: no path in the answer", path);
        json_decref(d);
        return r;
}

const struct pve_transport_ops pve_transport_api = {
        .name = "api",
        .open = api_open,
        .close = api_close,
        .version = api_version,
        .node = api_node,
        .used_vmids = api_used_vmids,
        .check_vmid = api_check_vmid,
        .create = api_create,
        .status = api_status,
        .action = api_action,
        .destroy = api_destroy,
        .config_get = api_config_get,
        .config_set = api_config_set,
        .task_wait = api_task_wait,
        .template_ = api_template,
        .clone = api_clone,
        .template_exists = api_template_exists,
        .template_upload = api_template_upload,
        .template_delete = api_template_delete,
        .volume_path = api_volume_path,
};
