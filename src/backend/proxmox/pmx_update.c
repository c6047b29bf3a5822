/* update for the proxmox backend: new resource limits as a config update. */
#include <errno.h>

#include "backend/proxmox/pmx_private.h"

int pmx_update(struct backend *b, const struct backend_call *c, int *st, struct pxe **err)
{
        return pxe_set(err, ENOSYS, "Backend proxmox cannot update container resources yet");
}
