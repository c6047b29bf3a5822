/* update for the proxmox backend: runc's flags or --resources, mapped as at
 * create (map.h) and set in the Proxmox config, which applies memory, swap
 * and CPU limits to a running container at once. */
#include <errno.h>

#include "backend/proxmox/map.h"
#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"

int pmx_update(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        _cleanup_pve_client_ struct pve_client *client = NULL;
        _cleanup_pve_params_ struct pve_params *params = NULL;
        json_auto_t *res = NULL;
        struct pmx_info info;
        int r;

        if ((r = backend_update_resources(b, c, &res, err)) < 0)
                return r;
        if ((r = pve_map_update(res, &params, err)) < 0)
                return pxe_wrap(err, "Container %s", c->id);
        if ((r = pmx_info(b, NULL, c->id, &info, err)) < 0)
                return r;
        if (info.status == PMX_STOPPED || info.status == PMX_CREATING)
                r = pxe_set(err, EINVAL, "cannot update container %s that is %s", c->id, pmx_status_name(info.status));
        else if (params->n_items > 0 && (r = pmx_client(b, &client, err)) == 0)
                r = pve_config_set(client, info.vmid, params->items, params->n_items, err);
        pmx_info_done(&info);
        if (r < 0)
                return r;
        *st = 0;
        return 0;
}
