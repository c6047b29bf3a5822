#include "image/blobstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"

struct blobstore {
        char *root;
        char *blobs; /* <root>/blobs/sha256 */
        char *ingest;
};

int blobstore_open(const char *root, struct blobstore **ret, struct pxe **err)
{
        struct blobstore *bs = calloc(1, sizeof(*bs));

        if (!bs)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!(bs->root = strdup(root)) || asprintf(&bs->blobs, "%s/blobs/sha256", root) < 0 ||
            asprintf(&bs->ingest, "%s/ingest", root) < 0) {
                bs->blobs = bs->ingest = NULL;
                blobstore_free(bs);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (fs_mkdir_p(bs->blobs, 0755, err) < 0 || fs_mkdir_p(bs->ingest, 0700, err) < 0) {
                blobstore_free(bs);
                return pxe_wrap(err, "Opening blob store %s", root);
        }
        *ret = bs;
        return 0;
}

void blobstore_free(struct blobstore *bs)
{
        if (!bs)
                return;
        free(bs->root);
        free(bs->blobs);
        free(bs->ingest);
        free(bs);
}

const char *blobstore_root(const struct blobstore *bs)
{
        return bs->root;
}

char *blobstore_path(const struct blobstore *bs, const char *digest)
{
        char *p = NULL;

        if (!digest_is_valid(digest) || asprintf(&p, "%s/%s", bs->blobs, digest_hex(digest)) < 0)
                return NULL;
        return p;
}

bool blobstore_has(struct blobstore *bs, const char *digest)
{
        _cleanup_free_ char *p = blobstore_path(bs, digest);
        struct stat st;

        return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int blobstore_read(struct blobstore *bs, const char *digest, size_t max, char **ret, size_t *ret_len,
                   struct pxe **err)
{
        _cleanup_free_ char *p = NULL, *data = NULL;
        char got[DIGEST_STR_LEN + 1];
        size_t len = 0;

        if (digest_check(digest, err) < 0)
                return -EINVAL;
        p = blobstore_path(bs, digest);
        if (!p)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_read_file(p, max, &data, &len, err) < 0)
                return pxe_wrap(err, "Reading blob %s", digest);
        if (digest_buffer(data, len, got) < 0)
                return pxe_set(err, EIO, "Hashing blob %s", digest);
        if (!streq(got, digest))
                return pxe_set(err, EBADMSG, "Blob %s is corrupt in the store (content hashes to %s)", digest, got);
        *ret = TAKE_PTR(data);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int blobstore_remove(struct blobstore *bs, const char *digest, struct pxe **err)
{
        _cleanup_free_ char *p = NULL;

        if (digest_check(digest, err) < 0)
                return -EINVAL;
        p = blobstore_path(bs, digest);
        if (!p)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (unlink(p) < 0 && errno != ENOENT)
                return pxe_set_errno(err, errno, "Removing blob %s", digest);
        return 0;
}

/* Lock <ingest>/<hex>.lock; retry when the file we locked was unlinked
 * meanwhile (its holder finished), so two holders never coexist. */
static int lock_digest(struct blobstore *bs, const char *digest, struct pxe **err)
{
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s.lock", bs->ingest, digest_hex(digest)) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (;;) {
                _cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                struct stat a, b;

                if (fd < 0)
                        return pxe_set_errno(err, errno, "Opening %s", p);
                while (flock(fd, LOCK_EX) < 0)
                        if (errno != EINTR)
                                return pxe_set_errno(err, errno, "Locking %s", p);
                if (fstat(fd, &a) < 0)
                        return pxe_set_errno(err, errno, "Locking %s", p);
                if (stat(p, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
                        return TAKE_FD(fd);
        }
}

static char *ingest_path(const struct blob_ingest *in, const char *suffix)
{
        char *p = NULL;

        if (asprintf(&p, "%s/%s.%s", in->bs->ingest, digest_hex(in->digest), suffix) < 0)
                return NULL;
        return p;
}

/* Hash what an earlier, interrupted download left in the .partial. */
static int rehash_partial(struct blob_ingest *in, struct pxe **err)
{
        char buf[65536];
        struct stat st;
        ssize_t n;

        if (fstat(in->fd, &st) < 0)
                return pxe_set_errno(err, errno, "Reading partial blob %s", in->digest);
        if (in->expected_size != UINT64_MAX && (uint64_t) st.st_size > in->expected_size)
                return blobstore_ingest_reset(in, err);
        while ((n = read(in->fd, buf, sizeof(buf))) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return pxe_set_errno(err, errno, "Reading partial blob %s", in->digest);
                if (digest_update(in->hash, buf, (size_t) n) < 0)
                        return pxe_set(err, EIO, "Hashing partial blob %s", in->digest);
                in->offset += (uint64_t) n;
        }
        return 0;
}

static int ingest_open(struct blob_ingest *in, struct pxe **err)
{
        _cleanup_free_ char *p = ingest_path(in, "partial");

        if (!p)
                return pxe_set(err, ENOMEM, "Out of memory");
        in->fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (in->fd < 0)
                return pxe_set_errno(err, errno, "Opening %s", p);
        in->hash = digest_new();
        if (!in->hash)
                return pxe_set(err, ENOMEM, "Out of memory");
        return rehash_partial(in, err);
}

int blobstore_ingest_begin(struct blobstore *bs, const char *digest, uint64_t expected_size,
                           struct blob_ingest **ret, struct pxe **err)
{
        struct blob_ingest *in;
        int lock_fd;

        if (digest_check(digest, err) < 0)
                return -EINVAL;
        if (blobstore_has(bs, digest))
                return 1;
        lock_fd = lock_digest(bs, digest, err);
        if (lock_fd < 0)
                return pxe_wrap(err, "Ingesting blob %s", digest);
        if (blobstore_has(bs, digest)) {
                close(lock_fd); /* another pull stored it while we waited */
                return 1;
        }
        in = calloc(1, sizeof(*in));
        if (!in || !(in->digest = strdup(digest))) {
                free(in);
                close(lock_fd);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        in->bs = bs;
        in->expected_size = expected_size;
        in->lock_fd = lock_fd;
        in->fd = -EBADF;
        if (ingest_open(in, err) < 0) {
                blobstore_ingest_end(in, false);
                return pxe_wrap(err, "Ingesting blob %s", digest);
        }
        *ret = in;
        return 0;
}

int blobstore_ingest_write(struct blob_ingest *in, const void *data, size_t len, struct pxe **err)
{
        const char *p = data;

        if (in->expected_size != UINT64_MAX && in->offset + len > in->expected_size)
                return pxe_set(err, EFBIG, "Blob %s is larger than the %llu bytes its descriptor says", in->digest,
                               (unsigned long long) in->expected_size);
        if (digest_update(in->hash, data, len) < 0)
                return pxe_set(err, EIO, "Hashing blob %s", in->digest);
        while (len > 0) {
                ssize_t n = write(in->fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return pxe_set_errno(err, errno, "Writing blob %s", in->digest);
                p += n;
                len -= (size_t) n;
                in->offset += (uint64_t) n;
        }
        return 0;
}

int blobstore_ingest_reset(struct blob_ingest *in, struct pxe **err)
{
        digest_free(in->hash);
        in->hash = digest_new();
        if (!in->hash)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (ftruncate(in->fd, 0) < 0 || lseek(in->fd, 0, SEEK_SET) < 0)
                return pxe_set_errno(err, errno, "Truncating partial blob %s", in->digest);
        in->offset = 0;
        return 0;
}

static int verify(struct blob_ingest *in, struct pxe **err)
{
        char got[DIGEST_STR_LEN + 1];

        if (in->expected_size != UINT64_MAX && in->offset != in->expected_size)
                return pxe_set(err, EBADMSG, "Blob %s is truncated: got %llu of %llu bytes", in->digest,
                               (unsigned long long) in->offset, (unsigned long long) in->expected_size);
        if (digest_final(in->hash, got) < 0)
                return pxe_set(err, EIO, "Hashing blob %s", in->digest);
        if (!streq(got, in->digest))
                return pxe_set(err, EBADMSG, "Blob %s failed verification: its content hashes to %s", in->digest, got);
        return 0;
}

static int fsync_dir(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        return fd >= 0 && fsync(fd) == 0 ? 0 : -errno;
}

int blobstore_ingest_commit(struct blob_ingest *in, struct pxe **err)
{
        _cleanup_free_ char *partial = ingest_path(in, "partial");
        _cleanup_free_ char *dst = blobstore_path(in->bs, in->digest);
        int rc;

        if (!partial || !dst)
                return pxe_set(err, ENOMEM, "Out of memory");
        in->done = true;
        rc = verify(in, err);
        if (rc < 0) {
                unlink(partial);
                return rc;
        }
        if (fchmod(in->fd, 0444) < 0 || fsync(in->fd) < 0)
                return pxe_set_errno(err, errno, "Syncing blob %s", in->digest);
        if (rename(partial, dst) < 0)
                return pxe_set_errno(err, errno, "Storing blob %s", in->digest);
        fsync_dir(in->bs->blobs);
        return 0;
}

void blobstore_ingest_end(struct blob_ingest *in, bool keep)
{
        if (!in)
                return;
        if (in->done || !keep) {
                _cleanup_free_ char *partial = ingest_path(in, "partial");
                _cleanup_free_ char *lock = ingest_path(in, "lock");

                if (partial && !in->done)
                        unlink(partial);
                /* Unlinked while held: waiters notice (lock_digest) and retry. */
                if (lock)
                        unlink(lock);
        }
        if (in->fd >= 0)
                close(in->fd);
        if (in->lock_fd >= 0)
                close(in->lock_fd);
        digest_free(in->hash);
        free(in->digest);
        free(in);
}

int blobstore_clean_ingest(struct blobstore *bs, size_t *ret_removed, struct pxe **err)
{
        DIR *d = opendir(bs->ingest);
        struct dirent *de;
        size_t removed = 0;
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Opening %s", bs->ingest);
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                bool partial = n > 8 && streq(de->d_name + n - 8, ".partial");

                if (!partial && !(n > 5 && streq(de->d_name + n - 5, ".lock")))
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
                        r = pxe_set_errno(err, errno, "Removing %s/%s", bs->ingest, de->d_name);
                        break;
                }
                removed += partial;
        }
        closedir(d);
        if (ret_removed)
                *ret_removed = removed;
        return r;
}

int blobstore_put(struct blobstore *bs, const char *digest, const void *data, size_t len, struct pxe **err)
{
        struct blob_ingest *in = NULL;
        int rc = blobstore_ingest_begin(bs, digest, len, &in, err);

        if (rc != 0)
                return rc < 0 ? rc : 0;
        rc = blobstore_ingest_reset(in, err);
        if (rc == 0)
                rc = blobstore_ingest_write(in, data, len, err);
        if (rc == 0)
                rc = blobstore_ingest_commit(in, err);
        blobstore_ingest_end(in, false);
        return rc;
}
