/* pxcri bundle create|remove: OCI bundles from stored images. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle.h"
#include "cli/cli.h"
#include "cli/sub.h"
#include "util/cleanup.h"

enum {
        CREATE_OPT_IMAGE,
        CREATE_OPT_NAME,
        CREATE_OPT_USER,
        CREATE_OPT_ENV,
        CREATE_OPT_CWD,
        CREATE_OPT_ENTRYPOINT,
        CREATE_OPT_ANNOTATION,
        CREATE_OPT_TTY,
        CREATE_OPT_READ_ONLY,
        CREATE_OPT_NO_SECCOMP,
};

static const struct cli_opt create_opts[] = {
        [CREATE_OPT_IMAGE] = { "image", 'i', true, false },
        [CREATE_OPT_NAME] = { "name", 0, true, false },
        [CREATE_OPT_USER] = { "user", 'u', true, false },
        [CREATE_OPT_ENV] = { "env", 'e', true, false },
        [CREATE_OPT_CWD] = { "cwd", 0, true, false },
        [CREATE_OPT_ENTRYPOINT] = { "entrypoint", 0, true, false },
        [CREATE_OPT_ANNOTATION] = { "annotation", 'a', true, false },
        [CREATE_OPT_TTY] = { "tty", 't', false, false },
        [CREATE_OPT_READ_ONLY] = { "read-only", 0, false, false },
        [CREATE_OPT_NO_SECCOMP] = { "no-seccomp", 0, false, false },
        { 0 },
};

/* Every value of a repeatable option, in order, from the parsed tokens. */
static int repeated(const struct cli_args *a, const struct cli_opt *o, const char ***ret, size_t *ret_n)
{
        size_t len = strlen(o->name), n = 0;
        const char **v = calloc(a->n_pass + 1, sizeof(char *));

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_pass; i++) {
                const char *t = a->pass[i], *name = t[0] == '-' ? t + (t[1] == '-' ? 2 : 1) : NULL;

                if (streq(t, "--"))
                        break; /* the process's arguments */
                if (!name)
                        continue;
                if (strncmp(name, o->name, len) == 0 && name[len] == '=')
                        v[n++] = name + len + 1;
                else if ((streq(name, o->name) || (o->short_name && name[0] == o->short_name && !name[1])) &&
                         i + 1 < a->n_pass)
                        v[n++] = a->pass[++i];
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int parse_annotations(const char **kv, size_t n, struct annotation **ret, struct pxe **err)
{
        struct annotation *v = calloc(n + 1, sizeof(*v));

        if (!v)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < n; i++) {
                char *eq = strchr(kv[i], '=');

                if (!eq || eq == kv[i]) {
                        for (size_t k = 0; k < i; k++)
                                free((char *) v[k].key);
                        free(v);
                        return pxe_set(err, EINVAL, "Invalid annotation \"%s\" (KEY=VALUE)", kv[i]);
                }
                v[i].key = strndup(kv[i], (size_t) (eq - kv[i]));
                v[i].value = eq + 1;
        }
        *ret = v;
        return 0;
}

static int do_create(struct cli *c, struct cli_args *a, struct bundle_request *req, struct pxe **err)
{
        _cleanup_free_ char *id = NULL;

        if (!req->image)
                return pxe_set(err, EINVAL, "pxcri bundle create: --image REF is required");
        if (bundle_create(req, &id, err) < 0)
                return -pxe_code(err, EIO);
        printf("%s\n", req->dir);
        return 0;
}

static int sub_create(struct cli *c, struct cli_args *a, struct pxe **err)
{
        _cleanup_free_ const char **env = NULL, **ann = NULL;
        _cleanup_free_ struct annotation *annotations = NULL;
        const char *entrypoint = a->values[CREATE_OPT_ENTRYPOINT];
        size_t n_env = 0, n_ann = 0;
        struct bundle_request req = {
                .image_root = c->cfg->image.root ? c->cfg->image.root : IMAGE_ROOT_DEFAULT,
                .image = a->values[CREATE_OPT_IMAGE],
                .dir = a->pos[0],
                .spec = {
                        .command = entrypoint ? &entrypoint : NULL,
                        .n_command = entrypoint ? 1 : 0,
                        .args = (const char *const *) a->pos + 1,
                        .n_args = a->n_pos - 1,
                        .args_set = a->n_pos > 1,
                        .user = a->values[CREATE_OPT_USER],
                        .cwd = a->values[CREATE_OPT_CWD],
                        .hostname = a->values[CREATE_OPT_NAME],
                        .terminal = a->values[CREATE_OPT_TTY] != NULL,
                        .readonly_rootfs = a->values[CREATE_OPT_READ_ONLY] != NULL,
                        .no_seccomp = a->values[CREATE_OPT_NO_SECCOMP] != NULL,
                },
        };
        int r;

        if (repeated(a, &create_opts[CREATE_OPT_ENV], &env, &n_env) < 0 ||
            repeated(a, &create_opts[CREATE_OPT_ANNOTATION], &ann, &n_ann) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (parse_annotations(ann, n_ann, &annotations, err) < 0)
                return -EINVAL;
        req.spec.env = env;
        req.spec.n_env = n_env;
        req.spec.annotations = annotations;
        req.spec.n_annotations = n_ann;
        r = do_create(c, a, &req, err);
        for (size_t i = 0; i < n_ann; i++)
                free((char *) annotations[i].key);
        return r;
}

static int sub_remove(struct cli *c, struct cli_args *a, struct pxe **err)
{
        (void) c;
        for (size_t i = 0; i < a->n_pos; i++)
                if (bundle_remove(a->pos[i], err) < 0)
                        return -pxe_code(err, EIO);
        return 0;
}

static const struct cli_sub bundle_subs[] = {
        { "create",
          "--image REF [--name N] [--user U] [--env K=V]... [--cwd D] [--entrypoint E] [--annotation K=V]... "
          "[--tty] [--read-only] [--no-seccomp] DIR [--args|-- ARG...]",
          "Create an OCI bundle (overlay rootfs + config.json) from a stored image; ARGs replace the image's Cmd",
          create_opts, 1, -1, sub_create },
        { "remove", "DIR...", "Unmount and remove bundles made by bundle create", cli_no_opts, 1, -1, sub_remove },
        { 0 },
};

int cmd_bundle(struct cli *c, struct cli_args *a, struct pxe **err)
{
        /* `--args` is `--`: everything after it is the process's arguments. */
        for (size_t i = 0; i < a->n_pos; i++) {
                if (streq(a->pos[i], "--"))
                        break;
                if (streq(a->pos[i], "--args")) {
                        a->pos[i] = (char *) "--";
                        break;
                }
        }
        return cli_sub_dispatch(c, "bundle", bundle_subs, a, err);
}
