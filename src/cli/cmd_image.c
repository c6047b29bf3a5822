/* pxcri image pull|import|list|inspect|remove|prune: the image store for people. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "cli/cli.h"
#include "cli/sub.h"
#include "image/import.h"
#include "image/layers.h"
#include "image/pull.h"
#include "image/store.h"
#include "util/cleanup.h"

enum { PULL_OPT_PLATFORM, PULL_OPT_USERNAME, PULL_OPT_PASSWORD, PULL_OPT_CREDS, PULL_OPT_JSON_STDIN };
static const struct cli_opt pull_opts[] = {
        [PULL_OPT_PLATFORM] = { "platform", 0, true, true },
        [PULL_OPT_USERNAME] = { "username", 'u', true, true },
        [PULL_OPT_PASSWORD] = { "password", 'p', true, true },
        [PULL_OPT_CREDS] = { "creds", 0, true, true },
        [PULL_OPT_JSON_STDIN] = { "json-stdin", 0, false, true },
        { 0 },
};

enum { IMPORT_OPT_NAME, IMPORT_OPT_ALLOW_DEVICES, IMPORT_OPT_PLATFORM };
static const struct cli_opt import_opts[] = {
        [IMPORT_OPT_NAME] = { "name", 0, true, true },
        [IMPORT_OPT_ALLOW_DEVICES] = { "allow-devices", 0, false, true },
        [IMPORT_OPT_PLATFORM] = { "platform", 0, true, true },
        { 0 },
};

enum { LIST_OPT_FORMAT, LIST_OPT_QUIET };
static const struct cli_opt list_opts[] = {
        [LIST_OPT_FORMAT] = { "format", 'f', true, true },
        [LIST_OPT_QUIET] = { "quiet", 'q', false, true },
        { 0 },
};

enum { REMOVE_OPT_FORCE };
static const struct cli_opt remove_opts[] = {
        [REMOVE_OPT_FORCE] = { "force", 'f', false, true },
        { 0 },
};

static const char *image_root(struct cli *c)
{
        return c->cfg->image.root ? c->cfg->image.root : IMAGE_ROOT_DEFAULT;
}

static int parse_auth(struct cli_args *a, struct image_auth *auth, struct pxe **err)
{
        const char *creds = a->values[PULL_OPT_CREDS];

        if (creds) {
                const char *colon = strchr(creds, ':');

                if (!colon || a->values[PULL_OPT_USERNAME] || a->values[PULL_OPT_PASSWORD])
                        return pxe_set(err, EINVAL, "--creds takes USER:PASSWORD, and not with --username/--password");
                auth->username = strndup(creds, (size_t) (colon - creds));
                auth->password = strdup(colon + 1);
                return 0;
        }
        if (!a->values[PULL_OPT_USERNAME] != !a->values[PULL_OPT_PASSWORD])
                return pxe_set(err, EINVAL, "--username and --password go together");
        if (a->values[PULL_OPT_USERNAME]) {
                auth->username = strdup(a->values[PULL_OPT_USERNAME]);
                auth->password = strdup(a->values[PULL_OPT_PASSWORD]);
        }
        return 0;
}

static int pull_and_install(struct cli *c, struct cli_args *a, const struct image_auth *auth,
                            const struct image_platform *plat, struct pxe **err)
{
        _cleanup_image_puller_ struct image_puller *p = NULL;
        _cleanup_image_pull_result_ struct image_pull_result *res = NULL;
        _cleanup_free_ char *id = NULL;
        /* Held from the first blob to the record, so prune cannot take them away. */
        _cleanup_close_ int lock = layers_lock_store(image_root(c), false, err);

        if (lock < 0)
                return lock;
        if (image_puller_new(&c->cfg->image, &p, err) < 0 ||
            image_pull(p, a->pos[0], auth->username ? auth : NULL, plat, &res, err) < 0 ||
            image_install_pulled(image_root(c), image_puller_blobstore(p), res, c->cfg->image.allow_devices,
                                 &id, err) < 0)
                return -pxe_code(err, EIO);
        printf("%s\n", id);
        return 0;
}

static int sub_pull(struct cli *c, struct cli_args *a, struct pxe **err)
{
        struct image_auth auth = { 0 };
        struct image_platform plat = { 0 };
        int r;

        if (a->values[PULL_OPT_JSON_STDIN]) {
                if (a->n_pos)
                        return pxe_set(err, EINVAL, "image pull --json-stdin takes the reference on stdin, not \"%s\"",
                                       a->pos[0]);
                return cli_image_pull_json(c, err);
        }
        if (!a->n_pos)
                return pxe_set(err, EINVAL, "image pull needs an image reference");
        r = parse_auth(a, &auth, err);
        if (r >= 0 && a->values[PULL_OPT_PLATFORM])
                r = platform_parse(a->values[PULL_OPT_PLATFORM], &plat, err);
        if (r >= 0)
                r = pull_and_install(c, a, &auth, a->values[PULL_OPT_PLATFORM] ? &plat : NULL, err);
        free(auth.username);
        if (auth.password)
                explicit_bzero(auth.password, strlen(auth.password));
        free(auth.password);
        platform_done(&plat);
        return r < 0 ? r : 0;
}

/* LAYOUT or LAYOUT:REF-NAME (the part after the last ':' when LAYOUT itself
 * is not a directory). */
static int split_layout(const char *arg, char **ret_dir, char **ret_name, struct pxe **err)
{
        struct stat st;
        const char *colon = strrchr(arg, ':');

        *ret_name = NULL;
        if ((stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) || !colon || strchr(colon, '/'))
                *ret_dir = strdup(arg);
        else {
                *ret_dir = strndup(arg, (size_t) (colon - arg));
                *ret_name = strdup(colon + 1);
        }
        return *ret_dir ? 0 : pxe_set(err, ENOMEM, "Out of memory");
}

static int sub_import(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL, *name = NULL, *id = NULL;
        struct image_import_request req = {
                .name = a->values[IMPORT_OPT_NAME],
                .allow_devices = a->values[IMPORT_OPT_ALLOW_DEVICES] != NULL || c->cfg->image.allow_devices,
        };

        const char *pl = a->values[IMPORT_OPT_PLATFORM] ? a->values[IMPORT_OPT_PLATFORM]
                         : c->cfg->image.platform ? c->cfg->image.platform : IMAGE_PLATFORM_DEFAULT;
        struct image_platform plat = { 0 };
        int r;

        if (split_layout(a->pos[0], &dir, &name, err) < 0 || platform_parse(pl, &plat, err) < 0)
                return -pxe_code(err, EINVAL);
        req.layout = dir;
        req.ref_name = name;
        req.platform = &plat;
        r = image_import_layout(image_root(c), &req, &id, err);
        platform_done(&plat);
        if (r < 0)
                return -pxe_code(err, EIO);
        printf("%s\n", id);
        return 0;
}

static void human_size(uint64_t n, char *buf, size_t size)
{
        static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
        double v = (double) n;
        size_t u = 0;

        while (v >= 1000 && u + 1 < ARRAY_SIZE(units))
                v /= 1000, u++;
        snprintf(buf, size, u ? "%.1f%s" : "%.0f%s", v, units[u]);
}

static void print_table(struct image_rec **v, size_t n)
{
        printf("%-50s %-14s %-10s %s\n", "IMAGE", "IMAGE ID", "SIZE", "CREATED");
        for (size_t i = 0; i < n; i++) {
                char size[32], created[32];
                time_t t = (time_t) v[i]->created;
                struct tm tm;

                human_size(v[i]->size, size, sizeof(size));
                strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
                for (size_t k = 0; k < (v[i]->n_repo_tags ? v[i]->n_repo_tags : 1); k++)
                        printf("%-50s %-14.12s %-10s %s\n", v[i]->n_repo_tags ? v[i]->repo_tags[k] : "<none>",
                               v[i]->id + 7, size, created);
        }
}

static int print_json_list(struct image_rec **v, size_t n, struct pxe **err)
{
        json_t *a = json_array();
        int r;

        for (size_t i = 0; a && i < n; i++) {
                _cleanup_free_ char *s = image_rec_to_json(v[i]);
                json_t *o = s ? json_loads(s, 0, NULL) : NULL;

                json_object_del(o, "config"); /* inspect shows it */
                json_array_append_new(a, o ? o : json_null());
        }
        r = a ? cli_print_json(a, err) : pxe_set(err, ENOMEM, "Out of memory");
        json_decref(a);
        return r;
}

static int sub_list(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_image_store_ struct image_store *s = NULL;
        const char *fmt = a->values[LIST_OPT_FORMAT] ? a->values[LIST_OPT_FORMAT] : "table";
        struct image_rec **v = NULL;
        size_t n = 0;
        int r = 0;

        if (!streq(fmt, "table") && !streq(fmt, "json"))
                return pxe_set(err, EINVAL, "Unknown format \"%s\" (table or json)", fmt);
        if (image_store_open(image_root(c), &s, err) < 0 || image_store_list(s, &v, &n, err) < 0)
                return -pxe_code(err, EIO);
        if (a->values[LIST_OPT_QUIET])
                for (size_t i = 0; i < n; i++)
                        printf("%s\n", v[i]->id);
        else if (streq(fmt, "json"))
                r = print_json_list(v, n, err);
        else
                print_table(v, n);
        image_rec_list_free(v, n);
        return r;
}

static int sub_inspect(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_image_store_ struct image_store *s = NULL;
        _cleanup_image_rec_ struct image_rec *rec = NULL;
        _cleanup_free_ char *text = NULL;

        if (image_store_open(image_root(c), &s, err) < 0 || image_store_get(s, a->pos[0], &rec, err) < 0)
                return -pxe_code(err, EIO);
        text = image_rec_to_json(rec);
        if (!text)
                return pxe_set(err, ENOMEM, "Out of memory");
        printf("%s\n", text);
        return 0;
}

static int sub_remove(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_image_store_ struct image_store *s = NULL;

        if (image_store_open(image_root(c), &s, err) < 0)
                return -pxe_code(err, EIO);
        for (size_t i = 0; i < a->n_pos; i++) {
                _cleanup_image_rec_ struct image_rec *rec = NULL;

                int r;

                if (image_store_get(s, a->pos[i], &rec, err) < 0)
                        return -pxe_code(err, EIO);
                /* A tag of an image that has others: only the tag goes (as docker rmi). */
                r = rec->n_repo_tags > 1 ? image_store_untag(s, a->pos[i], err) : 0;
                if (r < 0)
                        return r;
                if (r > 0) {
                        printf("Untagged %s\n", a->pos[i]);
                        continue;
                }
                if (bundle_drop_stale_refs(image_root(c), rec->id, err) < 0 ||
                    image_store_remove(s, rec->id, a->values[REMOVE_OPT_FORCE] != NULL, err) < 0)
                        return -pxe_code(err, EIO);
                printf("%s\n", rec->id);
        }
        return 0;
}

static int sub_prune(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_blobstore_ struct blobstore *bs = NULL;
        struct image_prune_report rep;

        (void) a;
        if (blobstore_open(image_root(c), &bs, err) < 0 || image_prune(image_root(c), bs, &rep, err) < 0)
                return -pxe_code(err, EIO);
        printf("Removed %zu layers and %zu blobs\n", rep.layers_removed, rep.blobs_removed);
        return 0;
}

static const struct cli_sub image_subs[] = {
        { "pull", "[--platform OS/ARCH[/VARIANT]] [--username U --password P | --creds U:P] REF | --json-stdin",
          "Pull an image from a registry, unpack its layers and record it", pull_opts, 0, 1, sub_pull },
        { "import", "[--name NAME] [--platform OS/ARCH[/VARIANT]] [--allow-devices] OCI-LAYOUT-DIR[:REF-NAME]",
          "Import an image from an OCI image layout directory", import_opts, 1, 1, sub_import },
        { "list", "[--format table|json] [-q]", "List images", list_opts, 0, 0, sub_list },
        { "inspect", "REF", "Print an image's record and config as JSON", cli_no_opts, 1, 1, sub_inspect },
        { "remove", "[--force] REF...", "Remove images, or one tag of an image that has several (refused while a bundle uses the image, unless --force)",
          remove_opts, 1, -1, sub_remove },
        { "prune", "", "Remove layers and blobs that no image uses", cli_no_opts, 0, 0, sub_prune },
        { 0 },
};

int cmd_image(struct cli *c, struct cli_args *a, struct pxe **err)
{
        return cli_sub_dispatch(c, "image", image_subs, a, err);
}
