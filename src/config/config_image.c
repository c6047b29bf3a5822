/* The "image" section: image store root, platform, registries. */
#include "config/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_parse.h"
#include "util/cleanup.h"

static int parse_mirrors(struct ctx *x, json_t *arr, const char *key, struct image_registry_config *r,
                         struct pxe **err)
{
        char ekey[320];
        size_t i;
        json_t *v;

        if (!json_is_array(arr))
                return config_type_error(x, key, "an array of URLs", err);
        r->mirrors = calloc(json_array_size(arr) + 1, sizeof(*r->mirrors));
        if (!r->mirrors)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(arr, i, v) {
                const char *u;

                snprintf(ekey, sizeof(ekey), "%s[%zu]", key, i);
                if (config_get_string(x, v, ekey, &r->mirrors[i], err) < 0)
                        return -EINVAL;
                r->n_mirrors = i + 1;
                u = r->mirrors[i];
                if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
                        return pxe_set(err, EINVAL, "%s: %s: expected an http:// or https:// URL", x->origin, ekey);
        }
        return 0;
}

static int parse_registry(struct ctx *x, const char *host, json_t *obj, struct image_registry_config *r,
                          struct pxe **err)
{
        char key[256];
        const char *k;
        json_t *v;
        int rc = 0;

        snprintf(key, sizeof(key), "image.registries.%s", host);
        if (!json_is_object(obj))
                return config_type_error(x, key, "an object", err);
        r->host = strdup(host);
        if (!r->host)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_object_foreach(obj, k, v) {
                snprintf(key, sizeof(key), "image.registries.%s.%s", host, k);
                if (streq(k, "mirrors"))
                        rc = parse_mirrors(x, v, key, r, err);
                else if (streq(k, "insecure"))
                        rc = config_get_bool(x, v, key, &r->insecure, err);
                else if (streq(k, "skip_verify"))
                        rc = config_get_bool(x, v, key, &r->skip_verify, err);
                else if (streq(k, "ca_file")) {
                        rc = config_get_string(x, v, key, &r->ca_file, err);
                        if (rc == 0 && r->ca_file[0] != '/')
                                rc = pxe_set(err, EINVAL, "%s: %s: must be an absolute path", x->origin, key);
                } else
                        config_warn_key(x, "unknown key %s", key);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

void config_image_free(struct image_config *ic)
{
        for (size_t i = 0; i < ic->n_registries; i++) {
                struct image_registry_config *r = &ic->registries[i];

                for (size_t j = 0; j < r->n_mirrors; j++)
                        free(r->mirrors[j]);
                free(r->mirrors);
                free(r->host);
                free(r->ca_file);
        }
        free(ic->registries);
        ic->registries = NULL;
        ic->n_registries = 0;
}

static int parse_registries(struct ctx *x, json_t *obj, struct pxe **err)
{
        struct image_config *ic = &x->c->image;
        const char *k;
        json_t *v;

        if (!json_is_object(obj))
                return config_type_error(x, "image.registries", "an object (registry host -> settings)", err);
        config_image_free(ic);
        ic->registries = calloc(json_object_size(obj) + 1, sizeof(*ic->registries));
        if (!ic->registries)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_object_foreach(obj, k, v) {
                if (k[0] == '\0' || strchr(k, '/'))
                        return pxe_set(err, EINVAL, "%s: image.registries: \"%s\" is not a registry host[:port]",
                                       x->origin, k);
                if (parse_registry(x, k, v, &ic->registries[ic->n_registries++], err) < 0)
                        return -EINVAL;
        }
        return 0;
}

int config_image_parse(struct ctx *x, json_t *obj, struct pxe **err)
{
        struct image_config *ic = &x->c->image;
        const char *k;
        json_t *v;
        int rc = 0;

        if (!json_is_object(obj))
                return config_type_error(x, "image", "an object", err);
        json_object_foreach(obj, k, v) {
                if (streq(k, "root")) {
                        rc = config_get_string(x, v, "image.root", &ic->root, err);
                        if (rc == 0 && ic->root[0] != '/')
                                rc = pxe_set(err, EINVAL, "%s: image.root: must be an absolute path", x->origin);
                } else if (streq(k, "platform")) {
                        rc = config_get_string(x, v, "image.platform", &ic->platform, err);
                        if (rc == 0 && !strchr(ic->platform, '/'))
                                rc = pxe_set(err, EINVAL, "%s: image.platform: expected \"os/arch[/variant]\"",
                                             x->origin);
                } else if (streq(k, "registries")) {
                        rc = parse_registries(x, v, err);
                } else if (streq(k, "allow_devices")) {
                        rc = config_get_bool(x, v, "image.allow_devices", &ic->allow_devices, err);
                } else if (streq(k, "max_concurrent_downloads")) {
                        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 64)
                                rc = config_type_error(x, "image.max_concurrent_downloads", "an integer from 1 to 64", err);
                        else
                                ic->max_concurrent_downloads = (unsigned) json_integer_value(v);
                } else {
                        config_warn_key(x, "unknown key image.%s", k);
                }
                if (rc < 0)
                        return rc;
        }
        return 0;
}

const struct image_registry_config *image_config_registry(const struct image_config *ic, const char *host)
{
        for (size_t i = 0; ic && host && i < ic->n_registries; i++)
                if (streq(ic->registries[i].host, host))
                        return &ic->registries[i];
        return NULL;
}

int config_image_defaults(struct image_config *ic)
{
        ic->root = strdup(IMAGE_ROOT_DEFAULT);
        ic->platform = strdup(IMAGE_PLATFORM_DEFAULT);
        ic->max_concurrent_downloads = IMAGE_MAX_CONCURRENT_DEFAULT;
        return ic->root && ic->platform ? 0 : -ENOMEM;
}
