/* delete: through the backend, then the record. */
#include <errno.h>

#include "cli/cli.h"

enum {
        DELETE_OPT_FORCE,
};

const struct cli_opt cli_delete_opts[] = {
        [DELETE_OPT_FORCE] = { "force", 'f', false, false },
        { 0 },
};

int cmd_delete(struct cli *c, struct cli_args *a, struct pxe **err)
{
        struct backend_call call = {
                .id = a->pos[0],
                .args = a->pass,
                .n_args = a->n_pass,
                .force = a->values[DELETE_OPT_FORCE] != NULL,
        };
        int status = 0;

        if (container_delete(&c->ctx, &call, a->values[DELETE_OPT_FORCE] != NULL, &status, err) < 0) {
                /* "does not exist" already names the container */
                if (pxe_code(err, EIO) != ENOENT)
                        pxe_wrap(err, "Deleting container %s", call.id);
                return -pxe_code(err, EIO);
        }
        return status;
}
