/* What Proxmox cannot mount, pxcri-init mounts inside the container before
 * the process starts (process records, src/init/init.c):
 *
 *   b<r|w><src>\t<dest>    bind mount.  A file (Proxmox mount points are
 *                          directories), or a destination under /dev (LXC's
 *                          tmpfs there hides mount points Proxmox made
 *                          before).  pxcri copies the source file into
 *                          <run>/binds/<n>, src is /.pxcri/run/binds/<n>: a
 *                          copy taken at create (docs/proxmox.md).
 *                          A directory under /dev (a pod's /dev/shm) is a
 *                          Proxmox mount point at /.pxcri/mnt/<n> first and
 *                          src is that: live, not a copy; so is a file of
 *                          a privileged CT, src /.pxcri/mnt/<n>/<name> in
 *                          its directory's mount point.  pxcri-init detaches
 *                          every /.pxcri/mnt/<n> once it bound from it.
 *   M<dest>\t<options>      a tmpfs (containerd's spec has one on /run).
 *   R                      the root read-only (root.readonly), after the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/proxmox/map.h"
#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define BIND_FILE_MAX (16u << 20)

static int append(char **records, size_t *len, const char *rec, struct pxe **err)
{
        size_t n = strlen(rec) + 1;
        char *nr = realloc(*records, *len + n);

        if (!nr)
                return pxe_set(err, ENOMEM, "Out of memory");
        memcpy(nr + *len, rec, n);
        *records = nr;
        *len += n;
        return 0;
}

int pmx_binds_records(const struct pve_params *params, char **records, size_t *len, struct pxe **err)
{
        for (size_t i = 0; i < params->n_init_binds; i++) {
                const struct pve_map_init_bind *ib = &params->init_binds[i];
                _cleanup_free_ char *rec = NULL;
                struct stat st;

                if (strchr(ib->dest, '\t'))
                        return pxe_set(err, EINVAL, "mount destination %s: a tab is not allowed", ib->dest);
                if (ib->staged) {
                        if (asprintf(&rec, "b%c" PVE_MAP_STAGE_DIR "/%u%s%s\t%s", ib->ro ? 'r' : 'w', ib->stage,
                                     ib->stage_name ? "/" : "", ib->stage_name ? ib->stage_name : "", ib->dest) < 0 ||
                            append(records, len, rec, err) < 0)
                                return pxe_set(err, ENOMEM, "Out of memory");
                        continue;
                }
                if (stat(ib->source, &st) < 0)
                        return pxe_set_errno(err, errno, "mount source %s", ib->source);
                if (!S_ISREG(st.st_mode))
                        return pxe_set(err, ENOSYS, "mount of %s on %s: the proxmox backend binds a directory under "
                                       "/dev only with the pct transport (through a Proxmox mount point with a host path)",
                                       ib->source, ib->dest);
                if (asprintf(&rec, "b%c" PMX_RUN_DIR "/binds/%zu\t%s", ib->ro ? 'r' : 'w', i, ib->dest) < 0 ||
                    append(records, len, rec, err) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        for (size_t i = 0; i < params->n_init_mounts; i++) {
                _cleanup_free_ char *rec = NULL;

                if (asprintf(&rec, "M%s\t%s", params->init_mounts[i].dest, params->init_mounts[i].options) < 0 ||
                    append(records, len, rec, err) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        /* Last: after it nothing more can be mounted on the root. */
        if (params->readonly_root && append(records, len, "R", err) < 0)
                return -ENOMEM;
        return 0;
}

int pmx_binds_copy(const char *run, const struct pve_params *params, uid_t owner, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL;
        size_t copies = 0;

        for (size_t i = 0; i < params->n_init_binds; i++)
                copies += !params->init_binds[i].staged;
        if (copies == 0)
                return 0;
        if (asprintf(&dir, "%s/binds", run) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_mkdir_p(dir, 0711, err) < 0)
                return -pxe_code(err, EIO);
        if (chown(dir, owner, owner) < 0)
                return pxe_set_errno(err, errno, "chown %s", dir);
        for (size_t i = 0; i < params->n_init_binds; i++) {
                _cleanup_free_ char *dst = NULL, *data = NULL;
                struct stat st;
                size_t n = 0;

                if (params->init_binds[i].staged)
                        continue;
                if (stat(params->init_binds[i].source, &st) < 0 ||
                    fs_read_file(params->init_binds[i].source, BIND_FILE_MAX, &data, &n, err) < 0)
                        return pxe_set_errno(err, errno ? errno : EIO, "Copying mount source %s",
                                             params->init_binds[i].source);
                if (asprintf(&dst, "%s/%zu", dir, i) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (fs_write_atomic(dst, data, n, st.st_mode & 0777, err) < 0)
                        return -pxe_code(err, EIO);
                if (chown(dst, owner, owner) < 0)
                        return pxe_set_errno(err, errno, "chown %s", dst);
        }
        return 0;
}
