/* update for the lxc backend: runc's flags or --resources, translated like
 * linux.resources at create and applied with liblxc's set_cgroup_item. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/lxc/lxc_private.h"
#include "backend/lxc/translate.h"
#include "util/cleanup.h"
#include "util/fs.h"

static int apply_items(struct lxc_container *ct, struct lxc_spec *s, struct pxe **err)
{
        for (size_t i = 0; i < s->n_items; i++) {
                const char *k = s->items[i].key;
                const char *item = strncmp(k, "lxc.cgroup2.", 12) == 0 ? k + 12 : k + 11;

                if (!ct->set_cgroup_item(ct, item, s->items[i].value))
                        return pxe_set(err, EIO, "Setting %s = %s for container %s failed", item, s->items[i].value,
                                       ct->name);
        }
        return 0;
}

int lxcb_update(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_lxc_ struct lxc_container *ct = NULL;
        struct lxc_spec s = { .umask = -1 };
        struct lxc_translate_opts o = { .cgroup_v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 };
        json_auto_t *res = NULL, *lin = NULL;
        int r;

        if ((r = backend_update_resources(b, c, &res, err)) < 0 || (r = lxcb_open(b, c->id, &ct, err)) < 0)
                return r;
        lin = json_pack("{s:O}", "resources", res);
        r = lin ? lxc_translate_resources(lin, &o, &s, err) : -ENOMEM;
        if (r == 0)
                r = apply_items(ct, &s, err);
        for (size_t i = 0; i < s.n_items; i++) {
                free(s.items[i].key);
                free(s.items[i].value);
        }
        free(s.items);
        *st = 0;
        return r;
}
