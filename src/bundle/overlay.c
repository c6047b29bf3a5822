/* overlayfs for the bundle rootfs: mount(2) when the options fit a page, the
 * new mount API's "lowerdir+" when they do not (see overlay.h). */
#include "bundle/overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "util/cleanup.h"

/* mount(2) copies at most a page of options. */
#define MOUNT_OPTIONS_MAX 4000

/* "lowerdir=<top>:...:<base>,upperdir=U,workdir=W", or NULL when it would not
 * fit one page (*ret stays NULL, no error). */
static int legacy_options(char *const *lower, size_t n, const char *upper, const char *work, char **ret,
                          struct pxe **err)
{
        size_t len = strlen("lowerdir=,upperdir=,workdir=") + strlen(upper) + strlen(work) + 1;
        _cleanup_free_ char *s = NULL;
        char *p;

        for (size_t i = 0; i < n; i++)
                len += strlen(lower[i]) + 1;
        if (len > MOUNT_OPTIONS_MAX)
                return 0;
        s = malloc(len);
        if (!s)
                return pxe_set(err, ENOMEM, "Out of memory");
        p = stpcpy(s, "lowerdir=");
        for (size_t i = 0; i < n; i++)
                p = stpcpy(stpcpy(p, i ? ":" : ""), lower[i]);
        sprintf(p, ",upperdir=%s,workdir=%s", upper, work);
        *ret = TAKE_PTR(s);
        return 0;
}

static int set_string(int fs, const char *key, const char *value, const char *target, struct pxe **err)
{
        if (fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0) == 0)
                return 0;
        if (errno == EINVAL && streq(key, "lowerdir+"))
                return pxe_set(err, E2BIG, "Mounting the overlay rootfs on %s: the layers' paths do not fit one page "
                               "of mount options and this kernel has no overlayfs \"lowerdir+\" (Linux 6.8)", target);
        return pxe_set_errno(err, errno, "Mounting the overlay rootfs on %s: %s=%s", target, key, value);
}

/* fsopen/fsconfig/fsmount/move_mount: one "lowerdir+" per layer. */
static int mount_api(const char *target, char *const *lower, size_t n, const char *upper, const char *work,
                     struct pxe **err)
{
        _cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
        _cleanup_close_ int mnt = -EBADF;

        if (fs < 0)
                return pxe_set_errno(err, errno, "Mounting the overlay rootfs on %s: fsopen", target);
        for (size_t i = 0; i < n; i++)
                if (set_string(fs, "lowerdir+", lower[i], target, err) < 0)
                        return -pxe_code(err, EIO);
        if (set_string(fs, "upperdir", upper, target, err) < 0 || set_string(fs, "workdir", work, target, err) < 0)
                return -pxe_code(err, EIO);
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return pxe_set_errno(err, errno, "Mounting the overlay rootfs on %s", target);
        mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
        if (mnt < 0)
                return pxe_set_errno(err, errno, "Mounting the overlay rootfs on %s: fsmount", target);
        if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return pxe_set_errno(err, errno, "Mounting the overlay rootfs on %s: move_mount", target);
        return 0;
}

int overlay_mount(const char *target, char *const *lower, size_t n_lower, const char *upper, const char *work,
                  struct pxe **err)
{
        _cleanup_free_ char *opts = NULL;

        if (n_lower > OVERLAY_MAX_LOWER)
                return pxe_set(err, E2BIG, "Mounting the overlay rootfs on %s: %zu layers, overlayfs stacks at most %d",
                               target, n_lower, OVERLAY_MAX_LOWER);
        if (legacy_options(lower, n_lower, upper, work, &opts, err) < 0)
                return -pxe_code(err, ENOMEM);
        if (!opts)
                return mount_api(target, lower, n_lower, upper, work, err);
        if (mount("overlay", target, "overlay", MS_NODEV, opts) < 0)
                return pxe_set_errno(err, errno, "Mounting the overlay rootfs on %s", target);
        return 0;
}
