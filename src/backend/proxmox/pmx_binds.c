/* Bind mounts Proxmox cannot make: a file (Proxmox mount points are
 * directories) or a destination under /dev (LXC's tmpfs there hides mount
 * points Proxmox made before).  pxcri copies each source file into
 * <run>/binds/<n>, and pxcri-init binds /.pxcri/run/binds/<n> onto the
 * destination before the process starts (records "b<r|w><src>\t<dest>",
 * src/init/init.c).  A copy taken at create: later changes to the host file
 * do not reach the container (docs/proxmox.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/proxmox/map.h"
#include "backend/proxmox/pmx_private.h"

int pmx_binds_records(const struct pve_params *params, char **records, size_t *len, struct pxe **err)
{
        if (params->n_init_binds > 0)
                return pxe_set(err, ENOSYS, "mount of %s: the proxmox backend binds directories only (a file or a "
                               "mount under /dev is not supported yet)", params->init_binds[0].source);
        return 0;
}

int pmx_binds_copy(const char *run, const struct pve_params *params, uid_t owner, struct pxe **err)
{
        return 0;
}
