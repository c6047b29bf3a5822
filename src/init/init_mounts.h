/* Mounts pxcri-init makes for the proxmox backend before the process runs
 * (records of the process file, src/init/init.c):
 *   b<r|w><src>\t<dest>   bind src on dest (made if missing), read-only with r
 *   M<dest>\t<options>    a tmpfs on dest: flags (nosuid, nodev, noexec,
 *                         strictatime, relatime, noatime, ro, rw) and data
 *                         (mode=, size=, nr_inodes=, uid=, gid=)
 *   R                     the root read-only (OCI root.readonly), last */
#pragma once

#include <stddef.h>

struct init_mount {
        char kind; /* 'b', 'M' or 'R' */
        int read_only;
        const char *src, *dest, *options;
};

/* Split rec in place; -EINVAL if malformed. */
int init_mount_parse(char *rec, struct init_mount *m);

/* 0, or -errno with what failed in what ("bind /a on /b"). */
int init_mount(const struct init_mount *m, char *what, size_t size);

/* Where the proxmox backend has Proxmox mount the directories pxcri-init
 * binds from (PVE_MAP_STAGE_DIR in src/backend/proxmox/map.h). */
#define INIT_STAGE_DIR "/.pxcri/mnt"

/* After every mount: the stage m bound from (INIT_STAGE_DIR/<n>) detached,
 * so that the process never sees the directory a file was lent from (a
 * kubelet pod directory holds every volume of the pod).  0 for any other
 * mount, or -errno with what failed in what. */
int init_mount_detach_stage(const struct init_mount *m, char *what, size_t size);
