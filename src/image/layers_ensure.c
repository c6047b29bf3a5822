/* layers_ensure(): a layer unpacked into the layer store.  Apart from the
 * rest of the store (layers.c) so that a program that only lists and removes
 * layers -- pxcrid, whose pulls run in pxcri-image -- does not link the
 * unpacker and libarchive with it (2.2 MB of its resident memory: libarchive
 * brings libxml2, ICU and libstdc++). */
#include "image/layers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/digest.h"
#include "image/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"

static int unpack_into_tmp(const char *image_root, const struct layer_source *src, bool allow_devices,
                           const char *final, struct pxe **err)
{
        struct unpack_opts o = {
                .allow_devices = allow_devices,
                .expected_digest = src->digest,
                .expected_diff_id = src->diff_id,
        };
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (asprintf(&tmp, "%s/layers/.tmp-%s-XXXXXX", image_root, digest_hex(src->diff_id)) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!mkdtemp(tmp))
                return pxe_set_errno(err, errno, "Creating %s", tmp);
        if (chmod(tmp, 0755) < 0) {
                r = pxe_set_errno(err, errno, "chmod %s", tmp);
                goto fail;
        }
        r = unpack_layer(src->blob_path, tmp, &o, NULL, err);
        if (r < 0)
                goto fail;
        if (rename(tmp, final) < 0) {
                r = pxe_set_errno(err, errno, "Renaming %s to %s", tmp, final);
                goto fail;
        }
        return 0;
fail:
        layers_rm_tree(tmp, NULL);
        return r;
}

int layers_ensure(const char *image_root, const struct layer_source *src, bool allow_devices, char **ret_path,
                  struct pxe **err)
{
        _cleanup_free_ char *final = NULL;
        _cleanup_close_ int lock = -EBADF;
        int r;

        if (digest_check(src->diff_id, err) < 0)
                return pxe_wrap(err, "Layer diff_id");
        if (src->digest && digest_check(src->digest, err) < 0)
                return pxe_wrap(err, "Layer digest");
        final = layers_path(image_root, src->diff_id);
        if (!final)
                return pxe_set(err, ENOMEM, "Out of memory");
        lock = layers_lock(image_root, src->diff_id, NULL, err);
        if (lock < 0)
                return lock;
        if (!fs_dir_exists(final)) {
                r = unpack_into_tmp(image_root, src, allow_devices, final, err);
                if (r < 0)
                        return pxe_wrap(err, "Unpacking layer %s", src->digest ? src->digest : src->diff_id);
        }
        if (ret_path)
                *ret_path = TAKE_PTR(final);
        return 0;
}
