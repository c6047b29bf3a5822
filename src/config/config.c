#include "config/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "config/config_parse.h"

#define CONFIG_MAX_SIZE (1u << 20)

static const char *const backend_names[BACKEND_MAX] = {
        [BACKEND_CRUN] = "crun",
        [BACKEND_RUNC] = "runc",
        [BACKEND_LXC] = "lxc",
        [BACKEND_PROXMOX] = "proxmox",
};

enum backend_id backend_id_from_name(const char *name)
{
        for (int i = 0; name && i < BACKEND_MAX; i++)
                if (streq(name, backend_names[i]))
                        return i;
        return BACKEND_INVALID;
}

const char *backend_id_to_name(enum backend_id id)
{
        return id >= 0 && id < BACKEND_MAX ? backend_names[id] : "unknown";
}

void config_warn_key(struct ctx *x, const char *fmt, ...)
{
        char *msg = NULL, *line = NULL, **w;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg || asprintf(&line, "%s: %s", x->origin, msg) < 0)
                line = NULL;
        free(msg);
        if (!line)
                return;
        w = realloc(x->c->warnings, (x->c->n_warnings + 1) * sizeof(*w));
        if (!w) {
                free(line);
                return;
        }
        w[x->c->n_warnings++] = line;
        x->c->warnings = w;
}

int config_type_error(struct ctx *x, const char *key, const char *want, struct pxe **err)
{
        return pxe_set(err, EINVAL, "%s: %s: expected %s", x->origin, key, want);
}

int config_get_string(struct ctx *x, json_t *v, const char *key, char **dst, struct pxe **err)
{
        char *s;

        if (!json_is_string(v))
                return config_type_error(x, key, "a string", err);
        s = strdup(json_string_value(v));
        if (!s)
                return pxe_set(err, ENOMEM, "Out of memory");
        free(*dst);
        *dst = s;
        return 0;
}

int config_get_bool(struct ctx *x, json_t *v, const char *key, bool *dst, struct pxe **err)
{
        if (!json_is_boolean(v))
                return config_type_error(x, key, "true or false", err);
        *dst = json_is_true(v);
        return 0;
}

int config_get_uint(struct ctx *x, json_t *v, const char *key, unsigned lo, unsigned hi, unsigned *dst,
                    struct pxe **err)
{
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
                return pxe_set(err, EINVAL, "%s: %s: expected an integer from %u to %u", x->origin, key, lo, hi);
        *dst = (unsigned) json_integer_value(v);
        return 0;
}

int config_get_abs_path(struct ctx *x, json_t *v, const char *key, char **dst, struct pxe **err)
{
        if (config_get_string(x, v, key, dst, err) < 0)
                return -EINVAL;
        if ((*dst)[0] != '/')
                return pxe_set(err, EINVAL, "%s: %s: must be an absolute path", x->origin, key);
        return 0;
}

static int get_backend(struct ctx *x, json_t *v, const char *key, enum backend_id *dst, struct pxe **err)
{
        enum backend_id id;

        if (!json_is_string(v))
                return config_type_error(x, key, "a string", err);
        id = backend_id_from_name(json_string_value(v));
        if (id == BACKEND_INVALID)
                return pxe_set(err, EINVAL, "%s: %s: unknown backend \"%s\" (known: crun, runc, lxc, proxmox)",
                               x->origin, key, json_string_value(v));
        *dst = id;
        return 0;
}

static int get_matcher(struct ctx *x, json_t *v, const char *key, struct matcher *m, struct pxe **err)
{
        struct pxe *e = NULL;

        if (!json_is_string(v))
                return config_type_error(x, key, "a string", err);
        matcher_done(m);
        if (matcher_compile(m, json_string_value(v), &e) < 0) {
                int code = e->code;

                pxe_set(err, code, "%s: %s: %s", x->origin, key, e->msg);
                pxe_free(e);
                return -code;
        }
        return 0;
}

static int parse_annotation_rule(struct ctx *x, json_t *v, const char *key, struct route_rule *r,
                                 struct pxe **err)
{
        const char *s, *eq;

        if (!json_is_string(v))
                return config_type_error(x, key, "a string \"key=value\" or \"key\"", err);
        s = json_string_value(v);
        eq = strchr(s, '=');
        if (s[0] == '\0' || eq == s)
                return pxe_set(err, EINVAL, "%s: %s: annotation key is empty", x->origin, key);
        r->annotation_key = eq ? strndup(s, (size_t) (eq - s)) : strdup(s);
        if (!r->annotation_key)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (eq && eq[1] == '\0')
                return pxe_set(err, EINVAL, "%s: %s: annotation value after '=' is empty", x->origin, key);
        if (eq) {
                json_t *val = json_string(eq + 1);
                int rc = get_matcher(x, val, key, &r->annotation_value, err);

                json_decref(val);
                return rc;
        }
        return 0;
}

static void rule_done(struct route_rule *r)
{
        matcher_done(&r->pattern);
        matcher_done(&r->image);
        matcher_done(&r->handler);
        matcher_done(&r->annotation_value);
        free(r->annotation_key);
        r->annotation_key = NULL;
}

static void rules_free(struct config *c)
{
        for (size_t i = 0; i < c->n_rules; i++)
                rule_done(&c->rules[i]);
        free(c->rules);
        c->rules = NULL;
        c->n_rules = 0;
}

static int parse_rule(struct ctx *x, json_t *obj, size_t idx, struct route_rule *r, struct pxe **err)
{
        bool has_runtime = false, has_condition = false;
        const char *k;
        json_t *v;
        char key[96];
        int rc = 0;

        if (!json_is_object(obj)) {
                snprintf(key, sizeof(key), "runtime.routing[%zu]", idx);
                return config_type_error(x, key, "an object", err);
        }
        json_object_foreach(obj, k, v) {
                snprintf(key, sizeof(key), "runtime.routing[%zu].%s", idx, k);
                if (streq(k, "runtime")) {
                        rc = get_backend(x, v, key, &r->runtime, err);
                        has_runtime = true;
                } else if (streq(k, "pattern")) {
                        rc = get_matcher(x, v, key, &r->pattern, err);
                        has_condition = true;
                } else if (streq(k, "image")) {
                        rc = get_matcher(x, v, key, &r->image, err);
                        has_condition = true;
                } else if (streq(k, "handler")) {
                        rc = get_matcher(x, v, key, &r->handler, err);
                        has_condition = true;
                } else if (streq(k, "annotation")) {
                        rc = parse_annotation_rule(x, v, key, r, err);
                        has_condition = true;
                } else {
                        config_warn_key(x, "unknown key %s", key);
                }
                if (rc < 0)
                        return rc;
        }
        if (!has_runtime)
                return pxe_set(err, EINVAL, "%s: runtime.routing[%zu]: missing \"runtime\"", x->origin, idx);
        if (!has_condition)
                return pxe_set(err, EINVAL,
                               "%s: runtime.routing[%zu]: needs one of \"pattern\", \"image\", \"annotation\", \"handler\"",
                               x->origin, idx);
        return 0;
}

static int parse_routing(struct ctx *x, json_t *arr, struct pxe **err)
{
        struct config *c = x->c;
        size_t i;
        json_t *v;

        if (!json_is_array(arr))
                return config_type_error(x, "runtime.routing", "an array", err);
        rules_free(c);
        c->rules = calloc(json_array_size(arr) + 1, sizeof(*c->rules));
        if (!c->rules)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(arr, i, v) {
                c->n_rules = i + 1;
                if (parse_rule(x, v, i, &c->rules[i], err) < 0)
                        return -EINVAL;
        }
        return 0;
}

static int parse_runtime(struct ctx *x, json_t *obj, struct pxe **err)
{
        const char *k;
        json_t *v;
        int rc = 0;

        if (!json_is_object(obj))
                return config_type_error(x, "runtime", "an object", err);
        json_object_foreach(obj, k, v) {
                if (streq(k, "root_path")) {
                        rc = config_get_string(x, v, "runtime.root_path", &x->c->root_path, err);
                        if (rc == 0 && x->c->root_path[0] != '/')
                                rc = pxe_set(err, EINVAL, "%s: runtime.root_path: must be an absolute path",
                                             x->origin);
                } else if (streq(k, "log_level")) {
                        enum log_level l = json_is_string(v) ? log_level_from_string(json_string_value(v))
                                                             : LOG_LEVEL_INVALID;
                        if (l == LOG_LEVEL_INVALID)
                                rc = config_type_error(x, "runtime.log_level", "one of debug, info, warning, error", err);
                        else
                                x->c->log_level = l;
                } else if (streq(k, "routing")) {
                        rc = parse_routing(x, v, err);
                } else {
                        config_warn_key(x, "unknown key runtime.%s", k);
                }
                if (rc < 0)
                        return rc;
        }
        return 0;
}

void config_matchers_free(struct matcher *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                matcher_done(&v[i]);
        free(v);
}

int config_get_matchers(struct ctx *x, json_t *arr, const char *key, struct matcher **v, size_t *n,
                        struct pxe **err)
{
        char k[96];
        size_t i;
        json_t *e;

        if (!json_is_array(arr))
                return config_type_error(x, key, "an array of strings", err);
        config_matchers_free(*v, *n);
        *n = 0;
        *v = calloc(json_array_size(arr) + 1, sizeof(**v));
        if (!*v)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(arr, i, e) {
                snprintf(k, sizeof(k), "%s[%zu]", key, i);
                if (get_matcher(x, e, k, &(*v)[i], err) < 0)
                        return -EINVAL;
                *n = i + 1;
        }
        return 0;
}

static int parse_container_config(struct ctx *x, json_t *obj, struct pxe **err)
{
        const char *k;
        json_t *v;
        int rc = 0;

        if (!json_is_object(obj))
                return config_type_error(x, "container_config", "an object", err);
        json_object_foreach(obj, k, v) {
                if (streq(k, "crun_name_patterns"))
                        rc = config_get_matchers(x, v, "container_config.crun_name_patterns",
                                                 &x->c->crun_name_patterns, &x->c->n_crun_name_patterns, err);
                else if (streq(k, "default_container_type"))
                        rc = get_backend(x, v, "container_config.default_container_type",
                                         &x->c->default_backend, err);
                else
                        config_warn_key(x, "unknown key container_config.%s", k);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int parse_backend(struct ctx *x, enum backend_id id, json_t *obj, struct pxe **err)
{
        struct backend_config *b = &x->c->backends[id];
        const char *name = backend_id_to_name(id);
        char key[96];
        const char *k;
        json_t *v;

        snprintf(key, sizeof(key), "backends.%s", name);
        if (!json_is_object(obj))
                return config_type_error(x, key, "an object", err);
        json_object_foreach(obj, k, v) {
                snprintf(key, sizeof(key), "backends.%s.%s", name, k);
                if (streq(k, "path") && (id == BACKEND_CRUN || id == BACKEND_RUNC)) {
                        if (config_get_string(x, v, key, &b->path, err) < 0)
                                return -EINVAL;
                        if (b->path[0] != '/')
                                return pxe_set(err, EINVAL, "%s: %s: must be an absolute path", x->origin, key);
                } else {
                        config_warn_key(x, "unknown key %s", key);
                }
        }
        return 0;
}

static int parse_backends(struct ctx *x, json_t *obj, struct pxe **err)
{
        const char *k;
        json_t *v;

        if (!json_is_object(obj))
                return config_type_error(x, "backends", "an object", err);
        json_object_foreach(obj, k, v) {
                enum backend_id id = backend_id_from_name(k);

                if (id == BACKEND_INVALID) {
                        config_warn_key(x, "unknown key backends.%s (known backends: crun, runc, lxc, proxmox)", k);
                        continue;
                }
                if (id == BACKEND_PROXMOX ? config_proxmox_parse(x, v, err) < 0 : parse_backend(x, id, v, err) < 0)
                        return -EINVAL;
        }
        return 0;
}

static int apply_json(struct config *c, const char *text, const char *origin, struct pxe **err)
{
        struct ctx x = { .c = c, .origin = origin };
        json_error_t jerr;
        json_t *root, *v;
        const char *k;
        int rc = 0;

        root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return pxe_set(err, EINVAL, "%s: invalid JSON at line %d, column %d: %s", origin, jerr.line,
                               jerr.column, jerr.text);
        if (!json_is_object(root)) {
                json_decref(root);
                return pxe_set(err, EINVAL, "%s: expected a JSON object at the top level", origin);
        }
        /* The legacy "proxmox" section first: backends.proxmox wins over it. */
        v = json_object_get(root, "proxmox");
        if (v && config_proxmox_parse_legacy(&x, v, err) < 0) {
                json_decref(root);
                return -EINVAL;
        }
        json_object_foreach(root, k, v) {
                if (streq(k, "proxmox"))
                        continue;
                if (streq(k, "runtime"))
                        rc = parse_runtime(&x, v, err);
                else if (streq(k, "container_config"))
                        rc = parse_container_config(&x, v, err);
                else if (streq(k, "backends"))
                        rc = parse_backends(&x, v, err);
                else if (streq(k, "image"))
                        rc = config_image_parse(&x, v, err);
                else if (streq(k, "cri"))
                        rc = config_cri_parse(&x, v, err);
                else
                        config_warn_key(&x, "unknown key %s", k);
                if (rc < 0)
                        break;
        }
        json_decref(root);
        return rc;
}

static struct config *config_new_default(struct pxe **err)
{
        struct config *c = calloc(1, sizeof(*c));

        if (!c) {
                pxe_set(err, ENOMEM, "Out of memory");
                return NULL;
        }
        c->default_backend = BACKEND_CRUN;
        c->log_level = LOG_LEVEL_INFO;
        if (config_image_defaults(&c->image) < 0 || config_proxmox_defaults(&c->proxmox) < 0 ||
            config_cri_defaults(&c->cri) < 0) {
                pxe_set(err, ENOMEM, "Out of memory");
                config_free(c);
                return NULL;
        }
        if (apply_json(c, config_default_json, "built-in defaults", err) < 0) {
                config_free(c);
                return NULL;
        }
        return c;
}

int config_parse(const char *text, const char *origin, struct config **ret, struct pxe **err)
{
        struct config *c = config_new_default(err);
        int r;

        if (!c)
                return -pxe_code(err, EINVAL);
        c->source = strdup(origin);
        r = c->source ? apply_json(c, text, origin, err) : pxe_set(err, ENOMEM, "Out of memory");
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int config_load(const char *path, struct config **ret, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;
        const char *env = getenv("PXCRI_CONFIG");
        int r;

        if (!path && env && *env)
                path = env;
        if (!path && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
                path = CONFIG_DEFAULT_PATH;
        if (!path) {
                struct config *c = config_new_default(err);

                if (!c)
                        return -pxe_code(err, EINVAL);
                c->source = strdup("built-in defaults");
                *ret = c;
                return 0;
        }
        r = fs_read_file(path, CONFIG_MAX_SIZE, &text, NULL, err);
        if (r < 0) {
                pxe_wrap(err, "Loading configuration");
                return r;
        }
        return config_parse(text, path, ret, err);
}

void config_free(struct config *c)
{
        if (!c)
                return;
        rules_free(c);
        config_matchers_free(c->crun_name_patterns, c->n_crun_name_patterns);
        for (int i = 0; i < BACKEND_MAX; i++)
                free(c->backends[i].path);
        config_image_free(&c->image);
        config_proxmox_free(&c->proxmox);
        config_cri_free(&c->cri);
        free(c->image.root);
        free(c->image.platform);
        for (size_t i = 0; i < c->n_warnings; i++)
                free(c->warnings[i]);
        free(c->warnings);
        free(c->root_path);
        free(c->source);
        free(c);
}
