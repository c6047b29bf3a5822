#include "image/pull.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "image/curl_api.h"
#include "image/ref.h"
#include "image/registry.h"
#include "util/cleanup.h"

#define CONFIG_BLOB_MAX (16u * 1024 * 1024)

struct image_puller {
        struct image_config cfg; /* deep copy */
        struct image_platform platform;
        struct blobstore *bs;
};

static char *dup0(const char *s)
{
        return s ? strdup(s) : NULL;
}

static int copy_registry(const struct image_registry_config *s, struct image_registry_config *d)
{
        d->host = dup0(s->host);
        d->ca_file = dup0(s->ca_file);
        d->insecure = s->insecure;
        d->skip_verify = s->skip_verify;
        d->mirrors = calloc(s->n_mirrors + 1, sizeof(*d->mirrors));
        if (!d->host || (s->ca_file && !d->ca_file) || !d->mirrors)
                return -ENOMEM;
        for (size_t j = 0; j < s->n_mirrors; j++) {
                d->mirrors[j] = strdup(s->mirrors[j]);
                if (!d->mirrors[j])
                        return -ENOMEM;
                d->n_mirrors = j + 1;
        }
        return 0;
}

static void config_copy_done(struct image_config *c)
{
        for (size_t i = 0; i < c->n_registries; i++) {
                struct image_registry_config *r = &c->registries[i];

                for (size_t j = 0; j < r->n_mirrors; j++)
                        free(r->mirrors[j]);
                free(r->mirrors);
                free(r->host);
                free(r->ca_file);
        }
        free(c->registries);
        free(c->root);
        free(c->platform);
}

static int config_copy(const struct image_config *s, struct image_config *d)
{
        *d = (struct image_config) { 0 };
        d->root = strdup(s->root ? s->root : IMAGE_ROOT_DEFAULT);
        d->platform = strdup(s->platform ? s->platform : IMAGE_PLATFORM_DEFAULT);
        d->max_concurrent_downloads = s->max_concurrent_downloads ? s->max_concurrent_downloads
                                                                  : IMAGE_MAX_CONCURRENT_DEFAULT;
        d->registries = calloc(s->n_registries + 1, sizeof(*d->registries));
        if (!d->root || !d->platform || !d->registries)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_registries; i++) {
                d->n_registries = i + 1;
                if (copy_registry(&s->registries[i], &d->registries[i]) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int image_puller_new(const struct image_config *cfg, struct image_puller **ret, struct pxe **err)
{
        _cleanup_image_puller_ struct image_puller *p = NULL;

        if (!curl_api_get(err))
                return -pxe_code(err, ELIBACC);
        p = calloc(1, sizeof(*p));
        if (!p)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (config_copy(cfg, &p->cfg) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (platform_parse(p->cfg.platform, &p->platform, err) < 0)
                return pxe_wrap(err, "image.platform");
        if (blobstore_open(p->cfg.root, &p->bs, err) < 0)
                return -pxe_code(err, EIO);
        *ret = TAKE_PTR(p);
        return 0;
}

void image_puller_free(struct image_puller *p)
{
        if (!p)
                return;
        config_copy_done(&p->cfg);
        platform_done(&p->platform);
        blobstore_free(p->bs);
        free(p);
}

struct blobstore *image_puller_blobstore(struct image_puller *p)
{
        return p->bs;
}

/* ---- blobs ---- */

/* Download one blob into the store unless it is there.  A transfer the
 * network interrupted keeps its .partial for the next attempt (until a prune);
 * content that fails verification is thrown away, and so is what a full disk
 * cut short (it holds space the node needs, and a retry needs room anyway). */
static int fetch_blob(struct blobstore *bs, struct registry_client *c, struct registry_conn *h, const char *digest,
                      uint64_t size, struct pxe **err)
{
        struct blob_ingest *in = NULL;
        int rc = blobstore_ingest_begin(bs, digest, size, &in, err);

        if (rc != 0)
                return rc < 0 ? rc : 0;
        rc = registry_fetch_blob(c, h, digest, in, err);
        if (rc == 0)
                rc = blobstore_ingest_commit(in, err);
        blobstore_ingest_end(in, rc != -EBADMSG && rc != -EFBIG && rc != -ENOSPC && rc != -EDQUOT);
        return rc;
}

struct job {
        const char *digest;
        uint64_t size;
};

struct pool {
        struct blobstore *bs;
        struct registry_client *c;
        const struct job *jobs;
        size_t n_jobs;
        size_t next;
        pthread_mutex_t lock;
        struct pxe *err; /* the first failure */
};

static void pool_work(struct pool *pl, struct registry_conn *h)
{
        for (;;) {
                struct pxe *e = NULL;
                const struct job *j;

                pthread_mutex_lock(&pl->lock);
                if (!h && !pl->err)
                        pxe_set(&pl->err, ENOMEM, "Out of memory");
                j = pl->err || pl->next >= pl->n_jobs ? NULL : &pl->jobs[pl->next++];
                pthread_mutex_unlock(&pl->lock);
                if (!j)
                        return;
                if (fetch_blob(pl->bs, pl->c, h, j->digest, j->size, &e) < 0) {
                        pxe_wrap(&e, "Pulling blob %s", j->digest);
                        pthread_mutex_lock(&pl->lock);
                        if (!pl->err)
                                pl->err = e;
                        else
                                pxe_free(e);
                        pthread_mutex_unlock(&pl->lock);
                }
        }
}

static void *pool_worker(void *arg)
{
        _cleanup_registry_conn_ struct registry_conn *h = registry_conn_new();

        pool_work(arg, h);
        return NULL;
}

/* Fetch the blobs with up to max parallel transfers (threads with a curl
 * handle each, so connections are reused within a thread; the calling thread
 * works too, on the connection that fetched the manifest). */
static int fetch_all(struct blobstore *bs, struct registry_client *c, struct registry_conn *h, const struct job *jobs,
                     size_t n, unsigned max, struct pxe **err)
{
        struct pool pl = { .bs = bs, .c = c, .jobs = jobs, .n_jobs = n };
        pthread_t th[64];
        size_t nth = n < max ? n : max, started = 0;

        if (nth > ARRAY_SIZE(th))
                nth = ARRAY_SIZE(th);
        pthread_mutex_init(&pl.lock, NULL);
        for (size_t i = 1; i < nth; i++)
                if (pthread_create(&th[started], NULL, pool_worker, &pl) == 0)
                        started++;
        pool_work(&pl, h);
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        pthread_mutex_destroy(&pl.lock);
        if (pl.err) {
                pxe_set(err, pl.err->code, "%s", pl.err->msg);
                pxe_free(pl.err);
                return -pxe_code(err, EIO);
        }
        return 0;
}

/* ---- manifests ---- */

struct pull {
        struct image_puller *p;
        struct image_ref ref;
        struct registry_client *c;
        struct registry_conn *h;
        struct image_platform want;
        struct registry_manifest raw_top;      /* what the reference resolved to */
        struct registry_manifest raw_manifest; /* the platform's manifest under an index */
        const char *top_digest;
        const char *manifest_digest;
        struct manifest *m; /* the image manifest */
        struct image_platform got;
};

/* A manifest by tag or digest: from the store when a digest is already
 * there, else from the registry; verified and parsed.  It is stored only
 * after every blob it names (store_manifests()), so a manifest in the store
 * means its image is complete. */
static int get_manifest(struct pull *pl, const char *ref, uint64_t want_size, struct manifest **ret,
                        struct registry_manifest *raw, struct pxe **err)
{
        _cleanup_free_ char *known = NULL;
        int rc;

        /* A tag: HEAD first (as containerd does); when the registry names a
         * manifest already stored, it is read from the store.  Registries
         * count manifest GETs against rate limits, HEADs not. */
        if (!digest_is_valid(ref) && registry_head_manifest(pl->c, pl->h, ref, &known, NULL) == 0 &&
            blobstore_has(pl->p->bs, known))
                ref = known;
        if (digest_is_valid(ref) && blobstore_has(pl->p->bs, ref)) {
                rc = blobstore_read(pl->p->bs, ref, MANIFEST_MAX_SIZE, &raw->data, &raw->len, err);
                if (rc == 0 && !(raw->digest = strdup(ref)))
                        rc = pxe_set(err, ENOMEM, "Out of memory");
        } else {
                rc = registry_get_manifest(pl->c, pl->h, ref, raw, err);
        }
        if (rc == 0 && want_size != UINT64_MAX && raw->len != want_size)
                rc = pxe_set(err, EBADMSG, "Manifest %s is %zu bytes, its descriptor says %llu", ref, raw->len,
                             (unsigned long long) want_size);
        if (rc == 0)
                rc = manifest_parse(raw->data, raw->len, raw->content_type, ret, err);
        return rc;
}

static int store_manifests(struct pull *pl, struct pxe **err)
{
        if (pl->raw_manifest.data &&
            blobstore_put(pl->p->bs, pl->raw_manifest.digest, pl->raw_manifest.data, pl->raw_manifest.len, err) < 0)
                return -pxe_code(err, EIO);
        if (blobstore_put(pl->p->bs, pl->raw_top.digest, pl->raw_top.data, pl->raw_top.len, err) < 0)
                return -pxe_code(err, EIO);
        return 0;
}

static int resolve(struct pull *pl, struct pxe **err)
{
        const char *ref = pl->ref.digest ? pl->ref.digest : pl->ref.tag;
        _cleanup_manifest_ struct manifest *top = NULL;
        const struct descriptor *d;
        _cleanup_free_ char *want = NULL;

        if (get_manifest(pl, ref, UINT64_MAX, &top, &pl->raw_top, err) < 0)
                return -pxe_code(err, EIO);
        pl->top_digest = pl->manifest_digest = pl->raw_top.digest;
        if (top->kind == MANIFEST_IMAGE) {
                pl->m = TAKE_PTR(top);
                return 0;
        }
        d = manifest_select_platform(top, &pl->want);
        want = platform_to_string(&pl->want);
        if (!d)
                return pxe_set(err, ENOENT, "No manifest for platform %s in index %s", want ? want : "?",
                               pl->top_digest);
        if (platform_copy(&d->platform, &pl->got) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (get_manifest(pl, d->digest, d->size, &pl->m, &pl->raw_manifest, err) < 0)
                return pxe_wrap(err, "Platform %s", want ? want : "?");
        pl->manifest_digest = pl->raw_manifest.digest;
        if (pl->m->kind != MANIFEST_IMAGE)
                return pxe_set(err, EBADMSG, "Manifest %s for platform %s is an index, not an image manifest",
                               pl->manifest_digest, want ? want : "?");
        return 0;
}

/* The config must be a JSON object; without an index its os/architecture
 * name the platform. */
static int read_config(struct pull *pl, struct pxe **err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        json_t *root, *v;
        int rc = 0;

        if (blobstore_read(pl->p->bs, pl->m->config.digest, CONFIG_BLOB_MAX, &data, &len, err) < 0)
                return pxe_wrap(err, "Image config");
        root = json_loadb(data, len, 0, NULL);
        if (!json_is_object(root)) {
                json_decref(root);
                return pxe_set(err, EBADMSG, "Image config %s is not a JSON object", pl->m->config.digest);
        }
        if (!pl->got.os) {
                v = json_object_get(root, "os");
                pl->got.os = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
                v = json_object_get(root, "architecture");
                pl->got.architecture = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
                v = json_object_get(root, "variant");
                pl->got.variant = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
        }
        json_decref(root);
        return rc;
}

static int fetch_blobs(struct pull *pl, struct pxe **err)
{
        const struct manifest *m = pl->m;
        _cleanup_free_ struct job *jobs = calloc(m->n_layers + 1, sizeof(*jobs));

        if (!jobs)
                return pxe_set(err, ENOMEM, "Out of memory");
        jobs[0] = (struct job) { m->config.digest, m->config.size };
        for (size_t i = 0; i < m->n_layers; i++)
                jobs[i + 1] = (struct job) { m->layers[i].digest, m->layers[i].size };
        return fetch_all(pl->p->bs, pl->c, pl->h, jobs, m->n_layers + 1, pl->p->cfg.max_concurrent_downloads, err);
}

/* ---- result ---- */

static int build_result(struct pull *pl, struct image_pull_result **ret)
{
        _cleanup_image_pull_result_ struct image_pull_result *r = calloc(1, sizeof(*r));
        const struct manifest *m = pl->m;

        if (!r)
                return -ENOMEM;
        r->reference = image_ref_string(&pl->ref);
        r->name = image_ref_name(&pl->ref);
        r->tag = dup0(pl->ref.tag);
        r->digest = dup0(pl->top_digest);
        r->manifest_digest = dup0(pl->manifest_digest);
        r->manifest_media_type = dup0(m->media_type);
        r->config_digest = dup0(m->config.digest);
        r->config_media_type = dup0(m->config.media_type);
        r->layers = calloc(m->n_layers + 1, sizeof(*r->layers));
        if (!r->reference || !r->name || (pl->ref.tag && !r->tag) || !r->digest || !r->manifest_digest ||
            !r->manifest_media_type || !r->config_digest || !r->config_media_type || !r->layers ||
            platform_copy(&pl->got, &r->platform) < 0)
                return -ENOMEM;
        r->total_size = m->config.size;
        for (size_t i = 0; i < m->n_layers; i++) {
                r->layers[i].digest = dup0(m->layers[i].digest);
                r->layers[i].media_type = dup0(m->layers[i].media_type);
                r->layers[i].size = m->layers[i].size;
                r->n_layers = i + 1;
                if (!r->layers[i].digest || !r->layers[i].media_type)
                        return -ENOMEM;
                r->total_size += m->layers[i].size;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

static void pull_done(struct pull *pl)
{
        image_ref_done(&pl->ref);
        registry_client_free(pl->c);
        registry_conn_free(pl->h);
        platform_done(&pl->want);
        platform_done(&pl->got);
        registry_manifest_done(&pl->raw_top);
        registry_manifest_done(&pl->raw_manifest);
        manifest_free(pl->m);
}

static int pull_run(struct pull *pl, const char *ref, const struct image_auth *auth,
                    const struct image_platform *platform, struct pxe **err)
{
        if (image_ref_parse(ref, &pl->ref, err) < 0)
                return -EINVAL;
        if (platform_copy(platform ? platform : &pl->p->platform, &pl->want) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!pl->want.os || !pl->want.architecture)
                return pxe_set(err, EINVAL, "Invalid platform: os and architecture are required");
        if (registry_client_new(&pl->p->cfg, pl->ref.domain, pl->ref.path, auth, &pl->c, err) < 0)
                return -pxe_code(err, EINVAL);
        pl->h = registry_conn_new();
        if (!pl->h)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (resolve(pl, err) < 0 || fetch_blobs(pl, err) < 0 || read_config(pl, err) < 0 ||
            store_manifests(pl, err) < 0)
                return -pxe_code(err, EIO);
        return 0;
}

int image_pull(struct image_puller *p, const char *ref, const struct image_auth *auth,
               const struct image_platform *platform, struct image_pull_result **ret, struct pxe **err)
{
        struct pull pl = { .p = p };
        int rc = pull_run(&pl, ref, auth, platform, err);

        if (rc == 0 && build_result(&pl, ret) < 0)
                rc = pxe_set(err, ENOMEM, "Out of memory");
        /* An invalid reference already names itself. */
        bool parsed = pl.ref.domain != NULL;

        pull_done(&pl);
        if (rc < 0)
                return parsed ? pxe_wrap(err, "Pulling image %s", ref) : rc;
        return 0;
}

void image_pull_result_free(struct image_pull_result *r)
{
        if (!r)
                return;
        free(r->reference);
        free(r->name);
        free(r->tag);
        free(r->digest);
        free(r->manifest_digest);
        free(r->manifest_media_type);
        free(r->config_digest);
        free(r->config_media_type);
        platform_done(&r->platform);
        for (size_t i = 0; i < r->n_layers; i++) {
                free(r->layers[i].digest);
                free(r->layers[i].media_type);
        }
        free(r->layers);
        free(r);
}

static json_t *str_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

char *image_pull_result_to_json(const struct image_pull_result *r)
{
        json_t *o = json_object(), *layers = json_array(), *pf = json_object();
        char *s;

        for (size_t i = 0; layers && i < r->n_layers; i++)
                json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "digest", r->layers[i].digest, "media_type",
                                                        r->layers[i].media_type, "size",
                                                        (json_int_t) r->layers[i].size));
        json_object_set_new(pf, "os", str_or_null(r->platform.os));
        json_object_set_new(pf, "architecture", str_or_null(r->platform.architecture));
        json_object_set_new(pf, "variant", str_or_null(r->platform.variant));
        json_object_set_new(o, "reference", str_or_null(r->reference));
        json_object_set_new(o, "name", str_or_null(r->name));
        json_object_set_new(o, "tag", str_or_null(r->tag));
        json_object_set_new(o, "digest", str_or_null(r->digest));
        json_object_set_new(o, "manifest_digest", str_or_null(r->manifest_digest));
        json_object_set_new(o, "manifest_media_type", str_or_null(r->manifest_media_type));
        json_object_set_new(o, "config_digest", str_or_null(r->config_digest));
        json_object_set_new(o, "config_media_type", str_or_null(r->config_media_type));
        json_object_set_new(o, "platform", pf);
        json_object_set_new(o, "layers", layers);
        json_object_set_new(o, "total_size", json_integer((json_int_t) r->total_size));
        s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        return s;
}
