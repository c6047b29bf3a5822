#include "util/fs.h"
#include "util/log.h"

#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

int fs_mkdir_p(const char *path, mode_t mode, struct pxe **err)
{
        _cleanup_free_ char *p = strdup(path);
        char *s;

        if (!p)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return pxe_set_errno(err, errno, "Creating directory %s", p);
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return pxe_set_errno(err, errno, "Creating directory %s", p);
        if (!fs_dir_exists(p))
                return pxe_set(err, ENOTDIR, "%s exists and is not a directory", p);
        return 0;
}

int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct pxe **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        struct stat st;

        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening %s", path);
        if (fstat(fd, &st) < 0)
                return pxe_set_errno(err, errno, "Reading %s", path);
        if (!S_ISREG(st.st_mode))
                return pxe_set(err, EINVAL, "%s is not a regular file", path);
        if ((size_t) st.st_size > max)
                return pxe_set(err, EFBIG, "%s is larger than %zu bytes", path, max);
        for (;;) {
                ssize_t n;

                if (len + 4096 + 1 > cap) {
                        size_t ncap = cap ? cap * 2 : (size_t) st.st_size + 4096 + 1;

                        if (ncap > max + 4096 + 1)
                                ncap = max + 4096 + 1;
                        char *b = realloc(buf, ncap);

                        if (!b)
                                return pxe_set(err, ENOMEM, "Out of memory reading %s", path);
                        buf = b;
                        cap = ncap;
                }
                n = read(fd, buf + len, cap - len - 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return pxe_set_errno(err, errno, "Reading %s", path);
                if (n == 0)
                        break;
                len += (size_t) n;
                if (len > max)
                        return pxe_set(err, EFBIG, "%s is larger than %zu bytes", path, max);
        }
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

static int dir_fsync(const char *path)
{
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int fd = -EBADF;

        if (!copy)
                return -ENOMEM;
        fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Write data to a fresh temp file next to path; returns its fd, name in tmp. */
static int write_temp(const char *path, const void *data, size_t len, mode_t mode, char **tmp,
                      struct pxe **err)
{
        _cleanup_close_ int fd = -EBADF;
        const char *p = data;

        if (asprintf(tmp, "%s.tmp-XXXXXX", path) < 0) {
                *tmp = NULL;
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        fd = mkostemp(*tmp, O_CLOEXEC);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Creating %s", *tmp);
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        goto fail;
                p += n;
                len -= (size_t) n;
        }
        if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
                goto fail;
        return TAKE_FD(fd);
fail:
        pxe_set_errno(err, errno, "Writing %s", *tmp);
        unlink(*tmp);
        return -pxe_code(err, EIO);
}

int fs_write_new(const char *path, const void *data, size_t len, mode_t mode, struct pxe **err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        const char *p = data;

        if (fd < 0)
                return pxe_set_errno(err, errno, "Creating %s", path);
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;

                        unlink(path);
                        return pxe_set_errno(err, e, "Writing %s", path);
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct pxe **err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = write_temp(path, data, len, mode, &tmp, err);

        if (fd < 0)
                return fd;
        if (rename(tmp, path) < 0) {
                int e = errno;

                unlink(tmp);
                return pxe_set_errno(err, e, "Renaming %s to %s", tmp, path);
        }
        dir_fsync(path);
        return 0;
}

int fs_create_exclusive_locked(const char *path, const void *data, size_t len, mode_t mode, struct pxe **err)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = write_temp(path, data, len, mode, &tmp, err);
        int e;

        if (fd < 0)
                return fd;
        /* Lock before the name appears, so nobody sees it unlocked. */
        if (flock(fd, LOCK_EX) < 0) {
                e = errno;
                unlink(tmp);
                return pxe_set_errno(err, e, "Locking %s", tmp);
        }
        if (link(tmp, path) < 0) {
                e = errno;
                unlink(tmp);
                if (e == EEXIST)
                        return pxe_set(err, EEXIST, "%s already exists", path);
                return pxe_set_errno(err, e, "Creating %s", path);
        }
        unlink(tmp);
        dir_fsync(path);
        return TAKE_FD(fd);
}

bool fs_exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

bool fs_dir_exists(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fs_exists_fmt(const char *fmt, ...)
{
        _cleanup_free_ char *p = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0) {
                p = NULL;
                return -ENOMEM;
        }
        return fs_exists(p);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void) st;
        (void) ftw;
        if ((flag == FTW_DP ? rmdir(p) : unlink(p)) < 0 && errno != ENOENT)
                log_debug("Removing %s: %m", p);
        return 0;
}

void fs_rm_tree(const char *path)
{
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
