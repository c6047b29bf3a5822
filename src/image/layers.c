#include "image/layers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/digest.h"
#include "util/cleanup.h"
#include "util/fs.h"

char *layers_path(const char *image_root, const char *diff_id)
{
        char *p = NULL;

        if (!digest_is_valid(diff_id))
                return NULL;
        if (asprintf(&p, "%s/layers/%s", image_root, digest_hex(diff_id)) < 0)
                return NULL;
        return p;
}

bool layers_has(const char *image_root, const char *diff_id)
{
        _cleanup_free_ char *p = layers_path(image_root, diff_id);

        return p && fs_dir_exists(p);
}

/* layers_remove() unlinks the lock file while holding it, so a waiter that
 * then gets the lock checks that its file is still the one at the path, and
 * retries if not. */
int layers_lock(const char *image_root, const char *diff_id, char **ret_path, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL;

        if (asprintf(&dir, "%s/layers", image_root) < 0 ||
            asprintf(&path, "%s/.%s.lock", dir, digest_hex(diff_id)) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_mkdir_p(dir, 0700, err) < 0)
                return -pxe_code(err, EIO);
        for (;;) {
                _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                struct stat a, b;

                if (fd < 0)
                        return pxe_set_errno(err, errno, "Opening %s", path);
                while (flock(fd, LOCK_EX) < 0)
                        if (errno != EINTR)
                                return pxe_set_errno(err, errno, "Locking %s", path);
                if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
                        if (ret_path)
                                *ret_path = TAKE_PTR(path);
                        return TAKE_FD(fd);
                }
        }
}

int layers_remove(const char *image_root, const char *diff_id, struct pxe **err)
{
        _cleanup_free_ char *path = layers_path(image_root, diff_id), *lock_path = NULL;
        _cleanup_close_ int lock = -EBADF;

        if (!path)
                return pxe_set(err, EINVAL, "Invalid layer diff_id \"%s\"", diff_id);
        lock = layers_lock(image_root, diff_id, &lock_path, err);
        if (lock < 0)
                return lock;
        if (layers_rm_tree(path, err) < 0)
                return -pxe_code(err, EIO);
        (void) unlink(lock_path); /* while held: see layers_lock() */
        return 0;
}

void layers_strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

static int push_layer(char ***v, size_t *n, const char *hex)
{
        char **nv = realloc(*v, (*n + 1) * sizeof(char *));

        if (!nv)
                return -ENOMEM;
        *v = nv;
        if (asprintf(&nv[*n], "sha256:%s", hex) < 0)
                return -ENOMEM;
        (*n)++;
        return 0;
}

int layers_list(const char *image_root, char ***ret, size_t *ret_n, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL;
        char **v = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *d;

        if (asprintf(&dir, "%s/layers", image_root) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        d = opendir(dir);
        if (!d && errno != ENOENT)
                return pxe_set_errno(err, errno, "Opening %s", dir);
        while (d && (de = readdir(d))) {
                char full[sizeof(de->d_name) + 8];

                snprintf(full, sizeof(full), "sha256:%s", de->d_name);
                if (digest_is_valid(full) && push_layer(&v, &n, de->d_name) < 0) {
                        closedir(d);
                        layers_strv_free(v, n);
                        return pxe_set(err, ENOMEM, "Out of memory");
                }
        }
        if (d)
                closedir(d);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ".<hex>.lock" -> "sha256:<hex>" in out, or false. */
static bool lock_name_digest(const char *name, char *out, size_t size)
{
        size_t n = strlen(name);

        if (name[0] != '.' || n != DIGEST_HEX_LEN + 6 || strcmp(name + n - 5, ".lock") != 0)
                return false;
        snprintf(out, size, "sha256:%.*s", DIGEST_HEX_LEN, name + 1);
        return digest_is_valid(out);
}

static int clean_entry(const char *image_root, const char *dir, const char *name, struct pxe **err)
{
        char digest[DIGEST_STR_LEN + 1];

        if (strncmp(name, ".tmp-", 5) == 0) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", dir, name) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                return layers_rm_tree(p, err);
        }
        if (lock_name_digest(name, digest, sizeof(digest)) && !layers_has(image_root, digest))
                return layers_remove(image_root, digest, err); /* unlinks the lock file */
        return 0;
}

int layers_clean(const char *image_root, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL;
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (asprintf(&dir, "%s/layers", image_root) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Opening %s", dir);
        while (r >= 0 && (de = readdir(d)))
                r = clean_entry(image_root, dir, de->d_name, err);
        closedir(d);
        return r;
}

static int rm_children(int dfd, dev_t dev, const char *path, struct pxe **err);

static int rm_entry(int dfd, const char *name, dev_t dev, const char *path, struct pxe **err)
{
        struct stat st;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Removing %s/%s", path, name);
        if (S_ISDIR(st.st_mode)) {
                int sub;

                if (st.st_dev != dev)
                        return pxe_set(err, EBUSY, "Removing %s: %s is a mount point", path, name);
                sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return pxe_set_errno(err, errno, "Removing %s/%s", path, name);
                if (rm_children(sub, dev, path, err) < 0)
                        return -pxe_code(err, EIO);
                if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                        return pxe_set_errno(err, errno, "Removing %s/%s", path, name);
                return 0;
        }
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return pxe_set_errno(err, errno, "Removing %s/%s", path, name);
        return 0;
}

/* Takes ownership of dfd. */
static int rm_children(int dfd, dev_t dev, const char *path, struct pxe **err)
{
        DIR *d = fdopendir(dfd);
        struct dirent *de;
        int r = 0;

        if (!d) {
                close(dfd);
                return pxe_set_errno(err, errno, "Removing %s", path);
        }
        while (r >= 0 && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = rm_entry(dirfd(d), de->d_name, dev, path, err);
        }
        closedir(d);
        return r;
}

int layers_rm_tree(const char *path, struct pxe **err)
{
        struct stat st;
        int fd;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Removing %s", path);
        if (!S_ISDIR(st.st_mode)) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return pxe_set_errno(err, errno, "Removing %s", path);
                return 0;
        }
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Removing %s", path);
        if (rm_children(fd, st.st_dev, path, err) < 0)
                return -pxe_code(err, EIO);
        if (rmdir(path) < 0 && errno != ENOENT)
                return pxe_set_errno(err, errno, "Removing %s", path);
        return 0;
}

int layers_lock_store(const char *image_root, bool exclusive, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (fs_mkdir_p(image_root, 0700, err) < 0)
                return -pxe_code(err, EIO);
        if (asprintf(&path, "%s/store.lock", image_root) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening %s", path);
        while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0)
                if (errno != EINTR)
                        return pxe_set_errno(err, errno, "Locking %s", path);
        return TAKE_FD(fd);
}
