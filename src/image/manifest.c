#include "image/manifest.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "util/cleanup.h"

#define MANIFEST_MAX_ENTRIES 4096

static const char *const known_types[] = {
        MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST,
};

bool manifest_media_type_known(const char *mt)
{
        for (size_t i = 0; mt && i < ARRAY_SIZE(known_types); i++)
                if (streq(mt, known_types[i]))
                        return true;
        return false;
}

static bool is_index_type(const char *mt)
{
        return streq(mt, MT_OCI_INDEX) || streq(mt, MT_DOCKER_LIST);
}

static int dup_opt(json_t *obj, const char *key, char **dst)
{
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EINVAL;
        *dst = strdup(json_string_value(v));
        return *dst ? 0 : -ENOMEM;
}

static void descriptor_done(struct descriptor *d)
{
        free(d->media_type);
        free(d->digest);
        platform_done(&d->platform);
}

static int parse_platform(json_t *obj, struct image_platform *p, const char *what, struct pxe **err)
{
        json_t *pl = json_object_get(obj, "platform");

        if (!pl || json_is_null(pl))
                return 0;
        if (!json_is_object(pl) || dup_opt(pl, "os", &p->os) < 0 || dup_opt(pl, "architecture", &p->architecture) < 0 ||
            dup_opt(pl, "variant", &p->variant) < 0)
                return pxe_set(err, EBADMSG, "%s: invalid platform", what);
        return 0;
}

static int parse_descriptor(json_t *obj, struct descriptor *d, const char *what, struct pxe **err)
{
        json_t *size;

        if (!json_is_object(obj))
                return pxe_set(err, EBADMSG, "%s: expected an object", what);
        if (dup_opt(obj, "mediaType", &d->media_type) < 0 || !d->media_type)
                return pxe_set(err, EBADMSG, "%s: missing or invalid mediaType", what);
        if (dup_opt(obj, "digest", &d->digest) < 0 || !d->digest)
                return pxe_set(err, EBADMSG, "%s: missing or invalid digest", what);
        if (!digest_is_valid(d->digest))
                return pxe_set(err, EBADMSG, "%s: invalid digest \"%.80s\" (only sha256:<64 hex>)", what, d->digest);
        size = json_object_get(obj, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return pxe_set(err, EBADMSG, "%s: missing or invalid size", what);
        d->size = (uint64_t) json_integer_value(size);
        return parse_platform(obj, &d->platform, what, err);
}

static int parse_list(json_t *arr, const char *key, struct descriptor **ret, size_t *n, struct pxe **err)
{
        char what[64];
        size_t i;
        json_t *v;

        if (!json_is_array(arr))
                return pxe_set(err, EBADMSG, "Invalid manifest: \"%s\" is missing or not an array", key);
        if (json_array_size(arr) > MANIFEST_MAX_ENTRIES)
                return pxe_set(err, EBADMSG, "Invalid manifest: more than %d %s", MANIFEST_MAX_ENTRIES, key);
        *ret = calloc(json_array_size(arr) + 1, sizeof(**ret));
        if (!*ret)
                return pxe_set(err, ENOMEM, "Out of memory");
        json_array_foreach(arr, i, v) {
                *n = i + 1;
                snprintf(what, sizeof(what), "Invalid manifest: %s[%zu]", key, i);
                if (parse_descriptor(v, &(*ret)[i], what, err) < 0)
                        return -EBADMSG;
        }
        return 0;
}

/* Pick the document's media type: its mediaType field, else the
 * Content-Type, else guess from the shape (OCI allows mediaType to be absent). */
static int pick_media_type(json_t *root, const char *content_type, char **ret, struct pxe **err)
{
        json_t *mt = json_object_get(root, "mediaType");
        json_t *sv = json_object_get(root, "schemaVersion");
        const char *t = NULL;

        if (!json_is_integer(sv) || json_integer_value(sv) != 2)
                return pxe_set(err, EBADMSG, "Unsupported manifest: schemaVersion must be 2 (Docker schema 1 is not supported)");
        if (mt && !json_is_string(mt))
                return pxe_set(err, EBADMSG, "Invalid manifest: mediaType is not a string");
        if (mt)
                t = json_string_value(mt);
        else if (manifest_media_type_known(content_type))
                t = content_type;
        else
                t = json_object_get(root, "manifests") ? MT_OCI_INDEX : MT_OCI_MANIFEST;
        if (!manifest_media_type_known(t))
                return pxe_set(err, EBADMSG, "Unsupported manifest media type \"%.100s\"", t);
        if (mt && manifest_media_type_known(content_type) && is_index_type(t) != is_index_type(content_type))
                return pxe_set(err, EBADMSG, "Invalid manifest: mediaType %s contradicts Content-Type %s", t,
                               content_type);
        *ret = strdup(t);
        return *ret ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

static int parse_root(json_t *root, const char *content_type, struct manifest *m, struct pxe **err)
{
        if (!json_is_object(root))
                return pxe_set(err, EBADMSG, "Invalid manifest: not a JSON object");
        if (pick_media_type(root, content_type, &m->media_type, err) < 0)
                return -EBADMSG;
        if (is_index_type(m->media_type)) {
                m->kind = MANIFEST_INDEX;
                return parse_list(json_object_get(root, "manifests"), "manifests", &m->manifests, &m->n_manifests, err);
        }
        m->kind = MANIFEST_IMAGE;
        if (parse_descriptor(json_object_get(root, "config"), &m->config, "Invalid manifest: config", err) < 0)
                return -EBADMSG;
        return parse_list(json_object_get(root, "layers"), "layers", &m->layers, &m->n_layers, err);
}

int manifest_parse(const char *data, size_t len, const char *content_type, struct manifest **ret, struct pxe **err)
{
        struct manifest *m;
        json_error_t jerr;
        json_t *root;
        int rc;

        if (len > MANIFEST_MAX_SIZE)
                return pxe_set(err, EBADMSG, "Invalid manifest: larger than %u bytes", MANIFEST_MAX_SIZE);
        root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return pxe_set(err, EBADMSG, "Invalid manifest: not JSON (line %d, column %d: %s)", jerr.line,
                               jerr.column, jerr.text);
        m = calloc(1, sizeof(*m));
        if (!m) {
                json_decref(root);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        rc = parse_root(root, content_type, m, err);
        json_decref(root);
        if (rc < 0) {
                manifest_free(m);
                return rc;
        }
        *ret = m;
        return 0;
}

void manifest_free(struct manifest *m)
{
        if (!m)
                return;
        free(m->media_type);
        descriptor_done(&m->config);
        for (size_t i = 0; i < m->n_layers; i++)
                descriptor_done(&m->layers[i]);
        free(m->layers);
        for (size_t i = 0; i < m->n_manifests; i++)
                descriptor_done(&m->manifests[i]);
        free(m->manifests);
        free(m);
}
