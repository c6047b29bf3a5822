#include "backend/backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

/* Which ops implement which backend; NULL: not part of this build yet. */
static const struct backend_ops *const backend_table[BACKEND_MAX] = {
        [BACKEND_CRUN] = &backend_oci_ops,
        [BACKEND_RUNC] = &backend_oci_ops,
        [BACKEND_LXC] = &backend_lxc_ops,
        [BACKEND_PROXMOX] = NULL,
};

int backend_unsupported(const struct backend *b, const char *what, struct pxe **err)
{
        return pxe_set(err, ENOSYS, "Backend %s cannot %s", b->name, what);
}

int backend_open(const struct config *cfg, const struct backend_env *env, enum backend_id id,
                 struct backend **ret, struct pxe **err)
{
        _cleanup_backend_ struct backend *b = NULL;
        const char *name = backend_id_to_name(id);

        if (id < 0 || id >= BACKEND_MAX)
                return pxe_set(err, EINVAL, "Unknown backend %d", (int) id);
        if (!backend_table[id])
                return pxe_set(err, ENOSYS, "Backend %s is not available: it is not implemented in this build of pxcri",
                               name);
        b = calloc(1, sizeof(*b));
        if (!b)
                return pxe_set(err, ENOMEM, "Out of memory");
        b->id = id;
        b->name = name;
        b->ops = backend_table[id];
        b->env = env;
        if (cfg->backends[id].path && !(b->path = strdup(cfg->backends[id].path)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (asprintf(&b->root, "%s/%s", env->root, name) < 0) {
                b->root = NULL;
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (b->ops->check) {
                int r = b->ops->check(b, err);

                if (r < 0) {
                        pxe_wrap(err, "Backend %s is not available", name);
                        return r;
                }
        }
        *ret = TAKE_PTR(b);
        return 0;
}

void backend_free(struct backend *b)
{
        if (!b)
                return;
        free(b->path);
        free(b->root);
        free(b);
}
