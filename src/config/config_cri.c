/* The "cri" section: how pxcrid listens, where it keeps its state, CNI,
 * conmon and the RuntimeClass handlers. */
#include "config/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_parse.h"
#include "util/cleanup.h"

static char **strv_dup(const char *const *v, size_t n)
{
        char **r = calloc(n + 1, sizeof(*r));

        for (size_t i = 0; r && i < n; i++) {
                r[i] = strdup(v[i]);
                if (!r[i]) {
                        for (size_t j = 0; j < i; j++)
                                free(r[j]);
                        free(r);
                        return NULL;
                }
        }
        return r;
}

/* v is NULL-terminated (calloc'ed one longer): an entry set just before a
 * parse error is freed too. */
static void strv_free(char **v, size_t n)
{
        (void) n;
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static void handlers_free(struct cri_config *cc)
{
        for (size_t i = 0; i < cc->n_handlers; i++)
                free(cc->handlers[i].name);
        free(cc->handlers);
        cc->handlers = NULL;
        cc->n_handlers = 0;
}

/* Every backend's name is a handler of that backend; "" routes by the rules. */
static int handlers_default(struct cri_config *cc)
{
        cc->handlers = calloc(BACKEND_MAX + 1, sizeof(*cc->handlers));
        if (!cc->handlers)
                return -ENOMEM;
        cc->handlers[0].name = strdup("");
        cc->handlers[0].backend = BACKEND_INVALID;
        cc->n_handlers = 1;
        if (!cc->handlers[0].name)
                return -ENOMEM;
        for (int id = 0; id < BACKEND_MAX; id++) {
                struct cri_handler_config *h = &cc->handlers[cc->n_handlers];

                h->name = strdup(backend_id_to_name(id));
                h->backend = id;
                if (!h->name)
                        return -ENOMEM;
                cc->n_handlers++;
        }
        return 0;
}

int config_cri_defaults(struct cri_config *cc)
{
        static const char *const bins[] = { "/usr/lib/cni", "/opt/cni/bin" };

        memset(cc, 0, sizeof(*cc));
        cc->listen = strdup(CRI_LISTEN_DEFAULT);
        cc->state_dir = strdup(CRI_STATE_DIR_DEFAULT);
        cc->run_dir = strdup(CRI_RUN_DIR_DEFAULT);
        cc->log_dir = strdup(CRI_LOG_DIR_DEFAULT);
        cc->cni_conf_dir = strdup(CRI_CNI_CONF_DIR_DEFAULT);
        cc->cni_bin_dirs = strv_dup(bins, ARRAY_SIZE(bins));
        cc->n_cni_bin_dirs = ARRAY_SIZE(bins);
        cc->stream_address = strdup("127.0.0.1");
        cc->conmon_path = strdup(CRI_CONMON_PATH_DEFAULT);
        cc->cgroup_driver = CGROUP_DRIVER_CGROUPFS;
        cc->workers = CRI_WORKERS_DEFAULT;
        cc->max_message_mib = 16;
        cc->stream_token_ttl_s = 60;
        cc->enable_unprivileged_ports = true;
        cc->cni_plugin_timeout_s = 60;
        if (!cc->listen || !cc->state_dir || !cc->run_dir || !cc->log_dir || !cc->cni_conf_dir ||
            !cc->cni_bin_dirs || !cc->stream_address || !cc->conmon_path)
                return -ENOMEM;
        return handlers_default(cc);
}

void config_cri_free(struct cri_config *cc)
{
        free(cc->listen);
        free(cc->state_dir);
        free(cc->run_dir);
        free(cc->log_dir);
        free(cc->cni_conf_dir);
        strv_free(cc->cni_bin_dirs, cc->n_cni_bin_dirs);
        free(cc->stream_address);
        free(cc->stream_tls_cert);
        free(cc->stream_tls_key);
        free(cc->stream_tls_ca);
        handlers_free(cc);
        free(cc->conmon_path);
        free(cc->pxcri_path);
        config_matchers_free(cc->pod_annotations, cc->n_pod_annotations);
}

const struct cri_handler_config *cri_config_handler(const struct cri_config *cc, const char *name)
{
        for (size_t i = 0; i < cc->n_handlers; i++)
                if (streq(cc->handlers[i].name, name ? name : ""))
                        return &cc->handlers[i];
        return NULL;
}

static int parse_bin_dirs(struct ctx *x, json_t *v, struct pxe **err)
{
        struct cri_config *cc = &x->c->cri;
        char key[64];
        size_t i;
        json_t *e;

        if (!json_is_array(v))
                return config_type_error(x, "cri.cni_bin_dirs", "an array of absolute paths", err);
        strv_free(cc->cni_bin_dirs, cc->n_cni_bin_dirs);
        cc->n_cni_bin_dirs = 0;
        cc->cni_bin_dirs = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!cc->cni_bin_dirs)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(v, i, e) {
                snprintf(key, sizeof(key), "cri.cni_bin_dirs[%zu]", i);
                if (config_get_abs_path(x, e, key, &cc->cni_bin_dirs[i], err) < 0)
                        return -EINVAL;
                cc->n_cni_bin_dirs = i + 1;
        }
        return 0;
}

/* {"handler": "backend" | null}: the handlers are replaced by the object's;
 * null (or "") routes the handler's containers by the rules. */
static int parse_handlers(struct ctx *x, json_t *v, struct pxe **err)
{
        struct cri_config *cc = &x->c->cri;
        const char *k;
        json_t *e;

        if (!json_is_object(v))
                return config_type_error(x, "cri.runtime_handlers", "an object of handler -> backend", err);
        handlers_free(cc);
        cc->handlers = calloc(json_object_size(v) + 1, sizeof(*cc->handlers));
        if (!cc->handlers)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_object_foreach(v, k, e) {
                struct cri_handler_config *h = &cc->handlers[cc->n_handlers];
                const char *b = json_is_string(e) ? json_string_value(e) : NULL;

                if (!json_is_null(e) && !b)
                        return pxe_set(err, EINVAL, "%s: cri.runtime_handlers.%s: expected a backend name or null",
                                       x->origin, k);
                h->backend = b && *b ? backend_id_from_name(b) : BACKEND_INVALID;
                if (b && *b && h->backend == BACKEND_INVALID)
                        return pxe_set(err, EINVAL,
                                       "%s: cri.runtime_handlers.%s: unknown backend \"%s\" (known: crun, runc, lxc, proxmox)",
                                       x->origin, k, b);
                h->name = strdup(k);
                if (!h->name)
                        return pxe_set(err, ENOMEM, "Out of memory");
                cc->n_handlers++;
        }
        return 0;
}

static int parse_cgroup_driver(struct ctx *x, json_t *v, struct pxe **err)
{
        const char *s = json_string_value(v);

        if (s && streq(s, "cgroupfs"))
                x->c->cri.cgroup_driver = CGROUP_DRIVER_CGROUPFS;
        else if (s && streq(s, "systemd"))
                x->c->cri.cgroup_driver = CGROUP_DRIVER_SYSTEMD;
        else
                return config_type_error(x, "cri.cgroup_driver", "\"cgroupfs\" or \"systemd\"", err);
        return 0;
}

static int parse_key(struct ctx *x, const char *k, json_t *v, struct pxe **err)
{
        struct cri_config *cc = &x->c->cri;
        static const struct {
                const char *key;
                size_t offset;
        } paths[] = {
                { "listen", offsetof(struct cri_config, listen) },
                { "state_dir", offsetof(struct cri_config, state_dir) },
                { "run_dir", offsetof(struct cri_config, run_dir) },
                { "log_dir", offsetof(struct cri_config, log_dir) },
                { "cni_conf_dir", offsetof(struct cri_config, cni_conf_dir) },
                { "conmon_path", offsetof(struct cri_config, conmon_path) },
                { "pxcri_path", offsetof(struct cri_config, pxcri_path) },
                { "stream_tls_cert", offsetof(struct cri_config, stream_tls_cert) },
                { "stream_tls_key", offsetof(struct cri_config, stream_tls_key) },
                { "stream_tls_ca", offsetof(struct cri_config, stream_tls_ca) },
        };
        char key[96];

        snprintf(key, sizeof(key), "cri.%s", k);
        for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
                if (streq(k, paths[i].key))
                        return config_get_abs_path(x, v, key, (char **) ((char *) cc + paths[i].offset), err);
        if (streq(k, "cni_bin_dirs"))
                return parse_bin_dirs(x, v, err);
        if (streq(k, "runtime_handlers"))
                return parse_handlers(x, v, err);
        if (streq(k, "pod_annotations"))
                return config_get_matchers(x, v, key, &cc->pod_annotations, &cc->n_pod_annotations, err);
        if (streq(k, "cgroup_driver"))
                return parse_cgroup_driver(x, v, err);
        if (streq(k, "stream_address"))
                return config_get_string(x, v, key, &cc->stream_address, err);
        if (streq(k, "stream_port"))
                return config_get_uint(x, v, key, 0, 65535, &cc->stream_port, err);
        if (streq(k, "enable_unprivileged_ports"))
                return config_get_bool(x, v, key, &cc->enable_unprivileged_ports, err);
        if (streq(k, "stream_token_ttl_s"))
                return config_get_uint(x, v, key, 1, 3600, &cc->stream_token_ttl_s, err);
        if (streq(k, "cni_plugin_timeout_s"))
                return config_get_uint(x, v, key, 1, 3600, &cc->cni_plugin_timeout_s, err);
        if (streq(k, "workers"))
                return config_get_uint(x, v, key, 1, 128, &cc->workers, err);
        if (streq(k, "max_message_mib"))
                return config_get_uint(x, v, key, 1, 256, &cc->max_message_mib, err);
        config_warn_key(x, "unknown key %s", key);
        return 0;
}

/* The streaming server's TLS takes a certificate and its key together. */
static int check_stream_tls(struct ctx *x, struct pxe **err)
{
        const struct cri_config *cc = &x->c->cri;

        if (cc->stream_tls_cert && !cc->stream_tls_key)
                return pxe_set(err, EINVAL, "%s: cri.stream_tls_cert is set without cri.stream_tls_key: "
                               "TLS for the streaming server needs both", x->origin);
        if (cc->stream_tls_key && !cc->stream_tls_cert)
                return pxe_set(err, EINVAL, "%s: cri.stream_tls_key is set without cri.stream_tls_cert: "
                               "TLS for the streaming server needs both", x->origin);
        if (cc->stream_tls_ca && !cc->stream_tls_cert)
                return pxe_set(err, EINVAL, "%s: cri.stream_tls_ca (client certificates) needs "
                               "cri.stream_tls_cert and cri.stream_tls_key", x->origin);
        return 0;
}

int config_cri_parse(struct ctx *x, json_t *obj, struct pxe **err)
{
        const char *k;
        json_t *v;

        if (!json_is_object(obj))
                return config_type_error(x, "cri", "an object", err);
        json_object_foreach(obj, k, v)
                if (parse_key(x, k, v, err) < 0)
                        return -EINVAL;
        return check_stream_tls(x, err);
}
