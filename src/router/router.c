#include "router/router.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"

/* Annotations that carry a container's names, its image and its runtime
 * handler, as containerd's CRI plugin and CRI-O set them. */
static const char *const name_keys[] = {
        "io.kubernetes.cri.container-name",
        "io.kubernetes.container.name",
        "io.kubernetes.cri.sandbox-name",
        "io.kubernetes.pod.name",
};
static const char *const image_keys[] = {
        "io.kubernetes.cri.image-name",
        "io.kubernetes.cri-o.ImageName",
        "org.opencontainers.image.ref.name",
};
static const char *const handler_keys[] = {
        "io.containerd.cri.runtime-handler",
        "io.kubernetes.cri-o.RuntimeHandler",
};

const char *annotation_get(const struct annotation *a, size_t n, const char *key)
{
        for (size_t i = 0; i < n; i++)
                if (streq(a[i].key, key))
                        return a[i].value;
        return NULL;
}

static const char *first_annotation(const struct route_input *in, const char *const *keys, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                const char *v = annotation_get(in->annotations, in->n_annotations, keys[i]);

                if (v && *v)
                        return v;
        }
        return NULL;
}

static bool match_name(const struct matcher *m, const struct route_input *in)
{
        if (matcher_match(m, in->id))
                return true;
        for (size_t i = 0; i < ARRAY_SIZE(name_keys); i++)
                if (matcher_match(m, annotation_get(in->annotations, in->n_annotations, name_keys[i])))
                        return true;
        return false;
}

/* "registry:5000/library/db:1" is tried as itself, "library/db:1" and "db:1". */
static bool match_image(const struct matcher *m, const char *image)
{
        const char *slash;

        if (!image)
                return false;
        if (matcher_match(m, image))
                return true;
        slash = strchr(image, '/');
        if (slash) {
                size_t head = (size_t) (slash - image);

                /* The first component is a registry host when it has a dot or a
                 * port, or is "localhost" (Docker's rule). */
                if (memchr(image, '.', head) || memchr(image, ':', head) ||
                    (head == 9 && strncmp(image, "localhost", 9) == 0)) {
                        image = slash + 1;
                        if (matcher_match(m, image))
                                return true;
                }
        }
        if (strncmp(image, "library/", 8) == 0 && matcher_match(m, image + 8))
                return true;
        return false;
}

static bool match_annotation(const struct route_rule *r, const struct route_input *in)
{
        const char *v = annotation_get(in->annotations, in->n_annotations, r->annotation_key);

        if (!v)
                return false;
        return !r->annotation_value.text || matcher_match(&r->annotation_value, v);
}

static bool rule_matches(const struct route_rule *r, const struct route_input *in, const char *image,
                         const char *handler)
{
        if (r->pattern.text && !match_name(&r->pattern, in))
                return false;
        if (r->image.text && !match_image(&r->image, image))
                return false;
        if (r->handler.text && !matcher_match(&r->handler, handler))
                return false;
        if (r->annotation_key && !match_annotation(r, in))
                return false;
        return true;
}

static void describe_rule(const struct route_rule *r, size_t i, char *buf, size_t size)
{
        const char *what = "pattern", *text = r->pattern.text;

        if (r->image.text)
                what = "image", text = r->image.text;
        else if (r->handler.text)
                what = "handler", text = r->handler.text;
        else if (r->annotation_key)
                what = "annotation", text = r->annotation_key;
        snprintf(buf, size, "runtime.routing[%zu] (%s %s)", i, what, text);
}

static int pick_named(const char *name, const char *why, struct route_result *ret, struct pxe **err)
{
        enum backend_id id = backend_id_from_name(name);

        if (id == BACKEND_INVALID)
                return pxe_set(err, EINVAL, "Unknown backend \"%s\" from %s (known: crun, runc, lxc, proxmox)",
                               name, why);
        ret->backend = id;
        snprintf(ret->reason, sizeof(ret->reason), "%s", why);
        return 0;
}

int router_pick(const struct config *c, const struct route_input *in, struct route_result *ret,
                struct pxe **err)
{
        const char *image = in->image ? in->image : first_annotation(in, image_keys, ARRAY_SIZE(image_keys));
        const char *handler = in->handler ? in->handler
                                          : first_annotation(in, handler_keys, ARRAY_SIZE(handler_keys));
        const char *named;

        if (in->override)
                return pick_named(in->override, "--runtime", ret, err);
        named = annotation_get(in->annotations, in->n_annotations, ROUTER_DECIDED_ANNOTATION);
        if (named)
                return pick_named(named, "pxcrid (" ROUTER_DECIDED_ANNOTATION ")", ret, err);
        for (size_t i = 0; i < c->n_rules; i++) {
                if (!rule_matches(&c->rules[i], in, image, handler))
                        continue;
                ret->backend = c->rules[i].runtime;
                describe_rule(&c->rules[i], i, ret->reason, sizeof(ret->reason));
                return 0;
        }
        named = annotation_get(in->annotations, in->n_annotations, ROUTER_BACKEND_ANNOTATION);
        if (named)
                return pick_named(named, "annotation " ROUTER_BACKEND_ANNOTATION, ret, err);
        for (size_t i = 0; i < c->n_crun_name_patterns; i++) {
                if (!match_name(&c->crun_name_patterns[i], in))
                        continue;
                ret->backend = BACKEND_CRUN;
                snprintf(ret->reason, sizeof(ret->reason), "container_config.crun_name_patterns (%s)",
                         c->crun_name_patterns[i].text);
                return 0;
        }
        ret->backend = c->default_backend;
        snprintf(ret->reason, sizeof(ret->reason), "container_config.default_container_type");
        return 0;
}
