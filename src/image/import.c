#include "image/import.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "image/layers.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/store.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define CONFIG_MAX_SIZE (8u * 1024 * 1024)
#define INDEX_MAX_SIZE (4u * 1024 * 1024)
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* What installing needs, whichever the source. */
struct install {
        const char *image_root;
        const char *config_digest;
        const char *config;
        const char *manifest_digest;
        const struct manifest *m;
        char **blob_paths; /* per layer */
        char *tag;         /* NULL: none */
        char *repo_digest; /* NULL: none */
        bool allow_devices;
};

static bool layer_type_ok(const char *mt)
{
        /* tar, tar+gzip, tar+zstd, Docker's tar.gzip, their nondistributable forms; not encrypted ones */
        return !mt || (strstr(mt, "tar") && !strstr(mt, "encrypted"));
}

/* rootfs.diff_ids of an image config, checked against the manifest's layers. */
static int config_diff_ids(const char *config, size_t n_layers, json_t **ret, struct pxe **err)
{
        json_t *c = json_loads(config, 0, NULL), *ids = json_object_get(json_object_get(c, "rootfs"), "diff_ids");
        size_t i;
        json_t *v;

        if (!json_is_array(ids)) {
                json_decref(c);
                return pxe_set(err, EBADMSG, "Image config has no rootfs.diff_ids");
        }
        if (json_array_size(ids) != n_layers) {
                json_decref(c);
                return pxe_set(err, EBADMSG, "Image config lists %zu diff_ids for %zu layers", json_array_size(ids),
                               n_layers);
        }
        json_array_foreach(ids, i, v) {
                if (!json_is_string(v) || digest_check(json_string_value(v), err) < 0) {
                        json_decref(c);
                        return pxe_wrap(err, "Image config rootfs.diff_ids[%zu]", i);
                }
        }
        json_incref(ids);
        json_decref(c);
        *ret = ids;
        return 0;
}

static int install_layers(const struct install *in, json_t *ids, struct image_rec *rec, struct pxe **err)
{
        rec->layers = calloc(in->m->n_layers + 1, sizeof(*rec->layers));
        if (!rec->layers)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < in->m->n_layers; i++) {
                const struct descriptor *d = &in->m->layers[i];
                struct layer_source src = {
                        .blob_path = in->blob_paths[i],
                        .digest = d->digest,
                        .diff_id = json_string_value(json_array_get(ids, i)),
                };

                if (!layer_type_ok(d->media_type))
                        return pxe_set(err, ENOTSUP, "Layer %s: unsupported media type %s", d->digest, d->media_type);
                if (layers_ensure(in->image_root, &src, in->allow_devices, NULL, err) < 0)
                        return -pxe_code(err, EIO);
                rec->layers[i] = (struct image_rec_layer) {
                        .digest = strdup(d->digest),
                        .diff_id = strdup(src.diff_id),
                        .media_type = d->media_type ? strdup(d->media_type) : NULL,
                        .size = d->size,
                };
                rec->n_layers++;
                rec->size += d->size;
        }
        return 0;
}

static int install(const struct install *in, char **ret_id, struct pxe **err)
{
        _cleanup_image_store_ struct image_store *s = NULL;
        struct image_rec rec = {
                .id = (char *) in->config_digest,
                .config = (char *) in->config,
                .manifest_digest = (char *) in->manifest_digest,
                .repo_tags = (char **) &in->tag,
                .n_repo_tags = in->tag ? 1 : 0,
                .repo_digests = (char **) &in->repo_digest,
                .n_repo_digests = in->repo_digest ? 1 : 0,
                .size = in->m->config.size,
        };
        _cleanup_close_ int lock = layers_lock_store(in->image_root, false, err);
        json_t *ids = NULL;
        int r;

        if (lock < 0)
                return lock;
        r = config_diff_ids(in->config, in->m->n_layers, &ids, err);
        if (r >= 0)
                r = install_layers(in, ids, &rec, err);
        if (r >= 0)
                r = image_store_open(in->image_root, &s, err);
        if (r >= 0)
                r = image_store_put(s, &rec, err);
        for (size_t i = 0; i < rec.n_layers; i++) {
                free(rec.layers[i].digest);
                free(rec.layers[i].diff_id);
                free(rec.layers[i].media_type);
        }
        free(rec.layers);
        json_decref(ids);
        if (r < 0)
                return r;
        if (ret_id && !(*ret_id = strdup(in->config_digest)))
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

/* Read <layout>/blobs/sha256/<hex> and verify it. */
static int layout_blob_path(const char *layout, const char *digest, char **ret, struct pxe **err)
{
        if (digest_check(digest, err) < 0)
                return -EINVAL;
        if (asprintf(ret, "%s/blobs/sha256/%s", layout, digest_hex(digest)) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        return 0;
}

static int layout_read(const char *layout, const char *digest, size_t max, char **ret, size_t *ret_len,
                       struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        char got[DIGEST_STR_LEN + 1];
        size_t len;

        if (layout_blob_path(layout, digest, &path, err) < 0 || fs_read_file(path, max, &data, &len, err) < 0)
                return -pxe_code(err, EIO);
        if (digest_buffer(data, len, got) < 0 || !streq(got, digest))
                return pxe_set(err, EBADMSG, "Blob %s: digest mismatch (content is %s)", digest, got);
        *ret = TAKE_PTR(data);
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* The manifest descriptor in index.json named ref_name (or the only one). */
static int layout_pick(const char *layout, const char *ref_name, char **ret_digest, char **ret_name,
                       struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *idx, *ms, *m, *pick = NULL;
        size_t i;
        int r = 0;

        if (asprintf(&path, "%s/index.json", layout) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_read_file(path, INDEX_MAX_SIZE, &text, NULL, err) < 0)
                return -pxe_code(err, EIO);
        idx = json_loads(text, 0, NULL);
        ms = json_object_get(idx, "manifests");
        json_array_foreach(ms, i, m) {
                const char *n = json_string_value(json_object_get(json_object_get(m, "annotations"),
                                                                  ANNOTATION_REF_NAME));

                if (ref_name ? (n && streq(n, ref_name)) : json_array_size(ms) == 1)
                        pick = m;
        }
        if (!pick)
                r = pxe_set(err, ENOENT, "%s: no manifest %s%s", path, ref_name ? "named " : "",
                            ref_name ? ref_name : "(give LAYOUT:NAME, the layout has several or none)");
        else if (!json_is_string(json_object_get(pick, "digest")))
                r = pxe_set(err, EBADMSG, "%s: manifest without a digest", path);
        if (r >= 0) {
                const char *n = json_string_value(json_object_get(json_object_get(pick, "annotations"),
                                                                  ANNOTATION_REF_NAME));

                *ret_digest = strdup(json_string_value(json_object_get(pick, "digest")));
                *ret_name = n ? strdup(n) : NULL;
        }
        json_decref(idx);
        return r;
}

/* The repo tag to record: the given name, else the annotation, normalised. */
static int tag_for(const char *name, const char *annotation, char **ret, struct pxe **err)
{
        _cleanup_image_ref_ struct image_ref ref = { 0 };
        const char *n = name ? name : annotation;

        *ret = NULL;
        if (!n)
                return 0;
        if (image_ref_parse(n, &ref, err) < 0)
                return pxe_wrap(err, "Image name");
        if (ref.digest)
                return pxe_set(err, EINVAL, "Image name %s: give a tag, not a digest", n);
        *ret = image_ref_string(&ref);
        return *ret ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

static int read_manifest(const char *layout, const char *digest, struct manifest **ret, struct pxe **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len;

        if (layout_read(layout, digest, MANIFEST_MAX_SIZE, &text, &len, err) < 0 ||
            manifest_parse(text, len, NULL, ret, err) < 0)
                return pxe_wrap(err, "Manifest %s", digest);
        return 0;
}

/* An index in the layout: the platform's manifest (one level, as skopeo --all writes). */
static int select_platform(const char *layout, const struct image_platform *want, struct manifest **m,
                           char **ret_digest, struct pxe **err)
{
        struct image_platform dflt = { .os = (char *) "linux", .architecture = (char *) "amd64" };
        const struct descriptor *d = manifest_select_platform(*m, want ? want : &dflt);
        _cleanup_free_ char *name = platform_to_string(want ? want : &dflt);
        struct manifest *chosen = NULL;

        if (!d)
                return pxe_set(err, ENOENT, "No manifest for platform %s in the index", name ? name : "?");
        if (!(*ret_digest = strdup(d->digest)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (read_manifest(layout, d->digest, &chosen, err) < 0)
                return -pxe_code(err, EBADMSG);
        manifest_free(*m);
        *m = chosen;
        if (chosen->kind != MANIFEST_IMAGE)
                return pxe_set(err, ENOTSUP, "Manifest %s for platform %s is an index", d->digest, name ? name : "?");
        return 0;
}

static int import_manifest(struct install *in, const char *layout, const struct image_platform *platform,
                           char **ret_id, struct pxe **err)
{
        _cleanup_free_ char *config = NULL, *chosen = NULL;
        _cleanup_manifest_ struct manifest *m = NULL;
        int r;

        if (read_manifest(layout, in->manifest_digest, &m, err) < 0)
                return -pxe_code(err, EBADMSG);
        if (m->kind == MANIFEST_INDEX) {
                if (select_platform(layout, platform, &m, &chosen, err) < 0)
                        return -pxe_code(err, ENOENT);
                in->manifest_digest = chosen;
        }
        if (layout_read(layout, m->config.digest, CONFIG_MAX_SIZE, &config, NULL, err) < 0)
                return pxe_wrap(err, "Image config");
        in->blob_paths = calloc(m->n_layers + 1, sizeof(char *));
        if (!in->blob_paths)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < m->n_layers; i++)
                if (layout_blob_path(layout, m->layers[i].digest, &in->blob_paths[i], err) < 0)
                        return pxe_wrap(err, "Layer %zu", i);
        in->m = m;
        in->config = config;
        in->config_digest = m->config.digest;
        r = install(in, ret_id, err);
        for (size_t i = 0; i < m->n_layers; i++)
                free(in->blob_paths[i]);
        free(in->blob_paths);
        in->blob_paths = NULL;
        in->m = NULL;
        return r;
}

int image_import_layout(const char *image_root, const struct image_import_request *req, char **ret_id,
                        struct pxe **err)
{
        _cleanup_free_ char *mdigest = NULL, *annotation = NULL, *tag = NULL;
        struct install in = { .image_root = image_root, .allow_devices = req->allow_devices };
        int r;

        r = layout_pick(req->layout, req->ref_name, &mdigest, &annotation, err);
        if (r >= 0)
                r = tag_for(req->name, annotation, &tag, err);
        if (r >= 0) {
                in.manifest_digest = mdigest;
                in.tag = tag;
                r = import_manifest(&in, req->layout, req->platform, ret_id, err);
        }
        if (r < 0)
                return pxe_wrap(err, "Importing %s", req->layout);
        return 0;
}

int image_install_pulled(const char *image_root, struct blobstore *bs, const struct image_pull_result *res,
                         bool allow_devices, char **ret_id, struct pxe **err)
{
        _cleanup_free_ char *config = NULL, *repo_digest = NULL, *tag = NULL;
        struct descriptor *layers = calloc(res->n_layers + 1, sizeof(*layers));
        struct manifest m = { .kind = MANIFEST_IMAGE, .layers = layers, .n_layers = res->n_layers };
        struct install in = {
                .image_root = image_root,
                .allow_devices = allow_devices,
                .config_digest = res->config_digest,
                .manifest_digest = res->manifest_digest,
                .m = &m,
        };
        uint64_t layer_sum = 0;
        int r = 0;

        in.blob_paths = calloc(res->n_layers + 1, sizeof(char *));
        if (!layers || !in.blob_paths)
                r = pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; r >= 0 && i < res->n_layers; i++) {
                layers[i] = (struct descriptor) { .media_type = res->layers[i].media_type,
                                                  .digest = res->layers[i].digest, .size = res->layers[i].size };
                layer_sum += res->layers[i].size;
                in.blob_paths[i] = blobstore_path(bs, res->layers[i].digest);
                if (!in.blob_paths[i])
                        r = pxe_set(err, EINVAL, "Layer %s: invalid digest", res->layers[i].digest);
        }
        m.config.size = res->total_size > layer_sum ? res->total_size - layer_sum : 0;
        if (r >= 0)
                r = blobstore_read(bs, res->config_digest, CONFIG_MAX_SIZE, &config, NULL, err);
        if (r >= 0 && res->tag && asprintf(&tag, "%s:%s", res->name, res->tag) < 0)
                r = pxe_set(err, ENOMEM, "Out of memory");
        if (r >= 0 && res->digest && asprintf(&repo_digest, "%s@%s", res->name, res->digest) < 0)
                r = pxe_set(err, ENOMEM, "Out of memory");
        if (r >= 0) {
                in.config = config;
                in.tag = tag;
                in.repo_digest = repo_digest;
                r = install(&in, ret_id, err);
        }
        for (size_t i = 0; in.blob_paths && i < res->n_layers; i++)
                free(in.blob_paths[i]);
        free(in.blob_paths);
        free(layers);
        if (r < 0)
                return pxe_wrap(err, "Installing %s", res->reference);
        return 0;
}
