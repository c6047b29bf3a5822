/* spec, features, version: questions about pxcri and its backends. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/fs.h"

enum {
        SPEC_OPT_RUNTIME,
        SPEC_OPT_BUNDLE,
        SPEC_OPT_ROOTLESS,
};

const struct cli_opt cli_spec_opts[] = {
        [SPEC_OPT_RUNTIME] = { "runtime", 0, true, true },
        [SPEC_OPT_BUNDLE] = { "bundle", 'b', true, false },
        [SPEC_OPT_ROOTLESS] = { "rootless", 0, false, false },
        { 0 },
};

enum {
        FEATURES_OPT_RUNTIME,
};

const struct cli_opt cli_features_opts[] = {
        [FEATURES_OPT_RUNTIME] = { "runtime", 0, true, true },
        { 0 },
};

/* --runtime NAME, else container_config.default_container_type. */
static int open_chosen(struct cli *c, const char *name, struct backend **ret, struct pxe **err)
{
        enum backend_id id = name ? backend_id_from_name(name) : c->cfg->default_backend;

        if (id == BACKEND_INVALID)
                return pxe_set(err, EINVAL, "Unknown backend \"%s\" (known: crun, runc, lxc, proxmox)", name);
        return backend_open(c->cfg, &c->ctx.env, id, ret, err);
}

int cmd_spec(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        struct backend_call call = { .args = a->pass, .n_args = a->n_pass };
        const char *dir = a->values[SPEC_OPT_BUNDLE];
        int status = 0;

        /* The runtimes say only "chdir `DIR` failed". */
        if (dir && !fs_dir_exists(dir))
                return pxe_set(err, ENOENT, "Writing the spec: bundle directory %s does not exist (create it first)",
                               dir);
        if (open_chosen(c, a->values[SPEC_OPT_RUNTIME], &b, err) < 0)
                return -pxe_code(err, EINVAL);
        if (backend_spec(b, &call, &status, err) < 0)
                return -pxe_code(err, EIO);
        return status;
}

int cmd_features(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        json_t *f = NULL, *ann;
        int r;

        if (open_chosen(c, a->values[FEATURES_OPT_RUNTIME], &b, err) < 0)
                return -pxe_code(err, EINVAL);
        if (backend_features(b, &f, err) < 0)
                return -pxe_code(err, EIO);
        ann = json_object_get(f, "annotations");
        if (!json_is_object(ann)) {
                ann = json_object();
                json_object_set_new(f, "annotations", ann);
        }
        json_object_set_new(ann, "io.pxcri.backend", json_string(b->name));
        json_object_set_new(ann, "io.pxcri.version", json_string(PXCRI_VERSION));
        r = cli_print_json(f, err);
        json_decref(f);
        return r;
}

int cmd_version(struct cli *c, struct cli_args *a, struct pxe **err)
{
        (void) a;
        (void) err;
        printf("pxcri version %s\nspec: %s\n", PXCRI_VERSION, PXCRI_OCI_VERSION);
        for (int id = 0; id < BACKEND_MAX; id++) {
                _cleanup_backend_ struct backend *b = NULL;
                _cleanup_free_ char *v = NULL;
                struct pxe *e = NULL;

                if (backend_open(c->cfg, &c->ctx.env, id, &b, &e) == 0 && backend_version(b, &v, &e) == 0)
                        printf("%s: %s (%s)\n", backend_id_to_name(id), v, b->path);
                else
                        printf("%s: %s\n", backend_id_to_name(id), e ? e->msg : "not available");
                pxe_free(e);
        }
        return 0;
}
