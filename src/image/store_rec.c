/* struct image_rec: freeing and the JSON form. */
#include <jansson.h>
#include <stdlib.h>

#include "image/store.h"

void image_rec_free(struct image_rec *r)
{
        if (!r)
                return;
        free(r->id);
        for (size_t i = 0; i < r->n_repo_tags; i++)
                free(r->repo_tags[i]);
        free(r->repo_tags);
        for (size_t i = 0; i < r->n_repo_digests; i++)
                free(r->repo_digests[i]);
        free(r->repo_digests);
        free(r->config);
        free(r->config_digest);
        free(r->manifest_digest);
        for (size_t i = 0; i < r->n_layers; i++) {
                free(r->layers[i].digest);
                free(r->layers[i].diff_id);
                free(r->layers[i].media_type);
        }
        free(r->layers);
        free(r);
}

void image_rec_list_free(struct image_rec **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                image_rec_free(v[i]);
        free(v);
}

static json_t *strv_json(char **v, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

char *image_rec_to_json(const struct image_rec *r)
{
        json_t *o, *layers = json_array(), *config = r->config ? json_loads(r->config, 0, NULL) : NULL;
        char *s;

        for (size_t i = 0; layers && i < r->n_layers; i++)
                json_array_append_new(layers, json_pack("{s:s?, s:s?, s:s?, s:I}", "digest", r->layers[i].digest,
                                                        "diff_id", r->layers[i].diff_id, "media_type",
                                                        r->layers[i].media_type, "size",
                                                        (json_int_t) r->layers[i].size));
        o = json_pack("{s:s, s:o, s:o, s:I, s:I, s:s?, s:o, s:o}", "id", r->id, "repo_tags",
                      strv_json(r->repo_tags, r->n_repo_tags), "repo_digests",
                      strv_json(r->repo_digests, r->n_repo_digests), "size", (json_int_t) r->size, "created",
                      (json_int_t) r->created, "manifest_digest", r->manifest_digest, "layers",
                      layers ? layers : json_array(), "config", config ? config : json_null());
        if (!o)
                return NULL;
        s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        return s;
}
