/* Crafted layer tarballs for the unpack tests, written with libarchive so
 * that hostile entries (absolute names, "..", escaping links) can be made. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct tar_entry {
        const char *path;
        mode_t type;          /* S_IFREG (default when 0), S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO */
        mode_t perm;          /* 0: 0644 (dirs 0755) */
        const char *data;     /* regular files */
        const char *link;     /* symlink target */
        const char *hardlink; /* hardlink target (type ignored) */
        uid_t uid;
        gid_t gid;
        dev_t rdev;
        const char *xattr;    /* "name=value" */
};

/* compression: NULL (plain tar), "gzip" or "zstd". */
void tar_build(const char *path, const struct tar_entry *e, size_t n, const char *compression);

/* "sha256:<hex>" of a file, into out (>= 72 bytes). */
void tar_digest_file(const char *path, char *out);
