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
