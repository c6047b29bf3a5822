/* Unpacking one image layer (a tar, plain, gzip or zstd) into a directory.
 *
 * The directory becomes an overlayfs lower layer, so whiteouts are converted
 * to overlayfs form while unpacking:
 *   dir/.wh.name       -> dir/name as a character device 0:0
 *   dir/.wh..wh..opq   -> xattr trusted.overlay.opaque="y" on dir
 *   .wh.x, then x/     -> x opaque (the whiteout hid the lower layers' x)
 * trusted.* xattrs from the layer itself are dropped.
 *
 * Safety: nothing is written outside the destination.  Every entry is checked
 * before it touches the disk (unpack_check_entry) and written fd-relative,
 * walking the parent directories one component at a time with O_NOFOLLOW, so
 * a symlink is never followed, not even one the layer itself created:
 *   - absolute names and names with a ".." component are refused;
 *   - a symlink's target is data and kept as it is, whatever it names: it is
 *     never followed here, and in the container the kernel resolves it inside
 *     the root ("/.." is "/");
 *   - a hardlink target is resolved the same way as a name, lexically and
 *     relative to the layer root: absolute or climbing above the root is
 *     refused, and the walk to it never follows a symlink;
 *   - an entry whose parent path is a symlink (a write through it) is refused;
 *   - block and character devices are refused unless allow_devices is set.
 * Errors name the entry: `Layer entry "../x": name leaves the layer directory`.
 *
 * Digests: the compressed stream and the uncompressed tar are hashed while
 * reading, in one pass.  A mismatch with expected_digest / expected_diff_id
 * fails the call with -EBADMSG after the (discardable) destination was
 * written; the caller unpacks into a temporary directory and removes it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/digest.h"
#include "util/err.h"

struct unpack_opts {
        bool allow_devices;           /* block/char device nodes from the tar */
        const char *expected_digest;  /* "sha256:..." of the blob as read, or NULL */
        const char *expected_diff_id; /* "sha256:..." of the uncompressed tar, or NULL */
};

struct unpack_result {
        char digest[DIGEST_STR_LEN + 1];  /* of the input as read */
        char diff_id[DIGEST_STR_LEN + 1]; /* of the uncompressed tar */
        uint64_t size;                    /* bytes written into regular files */
        uint64_t entries;
};

/* Unpack the layer read from blob_fd into the directory dest_dirfd.  res may
 * be NULL. */
int unpack_layer_fd(int blob_fd, int dest_dirfd, const struct unpack_opts *o, struct unpack_result *res,
                    struct pxe **err);

/* Same, by paths; dest_dir must exist. */
int unpack_layer(const char *blob_path, const char *dest_dir, const struct unpack_opts *o,
                 struct unpack_result *res, struct pxe **err);

/* One tar entry as far as the checks are concerned. */
struct unpack_entry {
        const char *path;     /* as in the archive */
        mode_t type;          /* S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO */
        const char *symlink;  /* target of a symlink, else NULL */
        const char *hardlink; /* target of a hardlink, else NULL */
};

enum unpack_action {
        UNPACK_SKIP,      /* the layer root itself ("./") */
        UNPACK_CREATE,    /* an ordinary entry */
        UNPACK_WHITEOUT,  /* .wh.<name> */
        UNPACK_OPAQUE,    /* .wh..wh..opq */
        UNPACK_ACTION_MAX,
        UNPACK_ACTION_INVALID = -1,
};

/* Normalise an archive name: "./a//b/" -> "a/b"; "" for the root.  Refuses
 * NULL, absolute names and ".." components.  out has room for strlen(name)+1. */
int unpack_clean_path(const char *name, char *out, struct pxe **err);

/* Resolve a hardlink target lexically from the layer root: "a/./b/../c" ->
 * "a/c"; "" for the root.  -EPERM for an absolute target or one whose ".."
 * climbs above the root.  out has room for strlen(target)+1. */
int unpack_link_target(const char *target, char *out);

/* Check an entry (pure: touches nothing).  Returns the action, or a negative
 * errno with err naming the entry. */
int unpack_check_entry(const struct unpack_entry *e, bool allow_devices, struct pxe **err);
