/* Layer tar -> directory, fd-relative and never following a symlink (see
 * unpack.h).  Two libarchive readers run in one pass: `raw` decompresses the
 * blob (gzip, zstd, or none) and `tar` parses what raw produces; the read
 * callbacks hash both streams on the way. */
#include "image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/cleanup.h"

#define UNPACK_BUF (128 * 1024)

struct dir_time {
        char *path;
        struct timespec mtime;
};

struct unpacker {
        int in_fd;
        int root;
        bool allow_devices;
        struct archive *raw;
        struct archive *tar;
        struct digest_ctx *blob_hash;
        struct digest_ctx *tar_hash;
        bool raw_eof;
        char inbuf[UNPACK_BUF];
        char tarbuf[UNPACK_BUF];
        int read_errno;
        struct unpack_result res;
        struct dir_time *dirs; /* set again at the end: later entries change them */
        size_t n_dirs;
};

static la_ssize_t read_blob(struct archive *a, void *data, const void **buf)
{
        struct unpacker *u = data;
        ssize_t n;

        do
                n = read(u->in_fd, u->inbuf, sizeof(u->inbuf));
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                u->read_errno = errno;
                archive_set_error(a, errno, "Reading the layer blob");
                return -1;
        }
        digest_update(u->blob_hash, u->inbuf, (size_t) n);
        *buf = u->inbuf;
        return n;
}

static la_ssize_t read_tar(struct archive *a, void *data, const void **buf)
{
        struct unpacker *u = data;
        la_ssize_t n;

        if (u->raw_eof)
                return 0;
        n = archive_read_data(u->raw, u->tarbuf, sizeof(u->tarbuf));
        if (n < 0) {
                archive_set_error(a, archive_errno(u->raw), "%s", archive_error_string(u->raw));
                return -1;
        }
        if (n == 0)
                u->raw_eof = true;
        digest_update(u->tar_hash, u->tarbuf, (size_t) n);
        *buf = u->tarbuf;
        return n;
}

static int archive_fail(struct archive *a, const char *what, struct pxe **err)
{
        const char *s = archive_error_string(a);
        int code = archive_errno(a) > 0 ? archive_errno(a) : EBADMSG;

        return pxe_set(err, code, "%s: %s", what, s ? s : "unknown libarchive error");
}

static int unpacker_open(struct unpacker *u, struct pxe **err)
{
        struct archive_entry *e;

        u->blob_hash = digest_new();
        u->tar_hash = digest_new();
        u->raw = archive_read_new();
        u->tar = archive_read_new();
        if (!u->blob_hash || !u->tar_hash || !u->raw || !u->tar)
                return pxe_set(err, ENOMEM, "Out of memory");
        archive_read_support_filter_gzip(u->raw);
        archive_read_support_filter_zstd(u->raw);
        archive_read_support_format_raw(u->raw);
        if (archive_read_open(u->raw, u, NULL, read_blob, NULL) != ARCHIVE_OK)
                return archive_fail(u->raw, "Opening the layer", err);
        if (archive_read_next_header(u->raw, &e) != ARCHIVE_OK)
                return archive_fail(u->raw, "Reading the layer", err);
        archive_read_support_format_tar(u->tar);
        if (archive_read_open(u->tar, u, NULL, read_tar, NULL) != ARCHIVE_OK)
                return archive_fail(u->tar, "Reading the layer as tar", err);
        return 0;
}

static void unpacker_done(struct unpacker *u)
{
        if (u->tar)
                archive_read_free(u->tar);
        if (u->raw)
                archive_read_free(u->raw);
        digest_free(u->blob_hash);
        digest_free(u->tar_hash);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i].path);
        free(u->dirs);
}

/* Open the directory `rel` (a clean path) below root, never following a
 * symlink; missing components are created (0755) when `create`. */
static int open_dir_beneath(int root, const char *rel, bool create, const char *entry, struct pxe **err)
{
        _cleanup_free_ char *copy = strdup(rel);
        _cleanup_close_ int fd = -EBADF;
        char *save = NULL;

        if (!copy)
                return pxe_set(err, ENOMEM, "Out of memory");
        fd = fcntl(root, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\"", entry);
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                if (next < 0 && errno == ENOENT && create) {
                        if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
                                return pxe_set_errno(err, errno, "Layer entry \"%s\": creating %s", entry, c);
                        next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (next >= 0)
                                (void) fchmod(next, 0755);
                }
                if (next < 0 && (errno == ELOOP || errno == ENOTDIR))
                        return pxe_set(err, EPERM, "Layer entry \"%s\": writes through \"%s\", which is a symlink or not a directory",
                                       entry, c);
                if (next < 0)
                        return pxe_set_errno(err, errno, "Layer entry \"%s\": opening %s", entry, c);
                closep(&fd);
                fd = next;
        }
        return TAKE_FD(fd);
}

/* Split a clean path into its parent's fd and its last component. */
static int open_parent(int root, char *clean, bool create, const char *entry, const char **ret_base,
                       struct pxe **err)
{
        char *slash = strrchr(clean, '/');
        int fd;

        if (!slash) {
                *ret_base = clean;
                return open_dir_beneath(root, "", create, entry, err);
        }
        *slash = '\0';
        fd = open_dir_beneath(root, clean, create, entry, err);
        *slash = '/';
        *ret_base = slash + 1;
        return fd;
}

/* Make room for a new entry: an existing non-directory goes; an existing
 * directory stays when a directory replaces it, else it must be empty. */
static int remove_existing(int dir, const char *name, bool keep_dir, const char *entry, struct pxe **err)
{
        struct stat st;

        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Layer entry \"%s\"", entry);
        if (S_ISDIR(st.st_mode)) {
                if (keep_dir)
                        return 1;
                if (unlinkat(dir, name, AT_REMOVEDIR) < 0)
                        return pxe_set_errno(err, errno, "Layer entry \"%s\": replacing a directory", entry);
                return 0;
        }
        if (unlinkat(dir, name, 0) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": replacing", entry);
        return 0;
}

static int set_xattrs(int fd, struct archive_entry *ae, const char *entry, struct pxe **err)
{
        const char *name;
        const void *value;
        size_t size;

        archive_entry_xattr_reset(ae);
        while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
                /* trusted.* is the administrator's namespace, where overlayfs
                 * keeps its metadata (opaque, redirect): a layer must not set
                 * it (containerd drops it too). */
                if (strncmp(name, "trusted.", 8) == 0)
                        continue;
                if (fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP)
                        return pxe_set_errno(err, errno, "Layer entry \"%s\": setting xattr %s", entry, name);
        }
        return 0;
}

/* Ownership, mode (after chown, which clears set-id bits), xattrs, mtime. */
static int set_meta_fd(int fd, struct archive_entry *ae, const char *entry, struct pxe **err)
{
        struct timespec ts[2] = {
                { archive_entry_atime(ae), archive_entry_atime_nsec(ae) },
                { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) },
        };

        if (!archive_entry_atime_is_set(ae))
                ts[0] = ts[1];
        if (fchown(fd, (uid_t) archive_entry_uid(ae), (gid_t) archive_entry_gid(ae)) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": chown", entry);
        if (fchmod(fd, archive_entry_perm(ae) & 07777) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": chmod", entry);
        if (set_xattrs(fd, ae, entry, err) < 0)
                return -pxe_code(err, EIO);
        if (futimens(fd, ts) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": setting times", entry);
        return 0;
}

static int write_data(struct unpacker *u, int fd, struct archive_entry *ae, const char *entry, struct pxe **err)
{
        const void *buf;
        size_t size;
        la_int64_t off;
        int r;

        while ((r = archive_read_data_block(u->tar, &buf, &size, &off)) == ARCHIVE_OK) {
                const char *p = buf;

                while (size > 0) {
                        ssize_t w = pwrite(fd, p, size, off);

                        if (w < 0)
                                return pxe_set_errno(err, errno, "Layer entry \"%s\": writing", entry);
                        p += w, off += w, size -= (size_t) w;
                        u->res.size += (uint64_t) w;
                }
        }
        if (r != ARCHIVE_EOF)
                return archive_fail(u->tar, entry, err);
        if (ftruncate(fd, archive_entry_size(ae)) < 0) /* sparse tails */
                return pxe_set_errno(err, errno, "Layer entry \"%s\": truncating", entry);
        return 0;
}

static int make_file(struct unpacker *u, int dir, const char *base, struct archive_entry *ae, const char *entry,
                     struct pxe **err)
{
        _cleanup_close_ int fd = -EBADF;

        if (remove_existing(dir, base, false, entry, err) < 0)
                return -pxe_code(err, EIO);
        fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": creating", entry);
        if (write_data(u, fd, ae, entry, err) < 0)
                return -pxe_code(err, EIO);
        return set_meta_fd(fd, ae, entry, err);
}

static int remember_dir(struct unpacker *u, const char *clean, struct archive_entry *ae, struct pxe **err)
{
        struct dir_time *v = realloc(u->dirs, (u->n_dirs + 1) * sizeof(*v));

        if (!v)
                return pxe_set(err, ENOMEM, "Out of memory");
        u->dirs = v;
        v[u->n_dirs].path = strdup(clean);
        if (!v[u->n_dirs].path)
                return pxe_set(err, ENOMEM, "Out of memory");
        v[u->n_dirs++].mtime = (struct timespec) { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) };
        return 0;
}

static int restore_dir_times(struct unpacker *u, struct pxe **err)
{
        for (size_t i = 0; i < u->n_dirs; i++) {
                struct timespec ts[2] = { u->dirs[i].mtime, u->dirs[i].mtime };
                /* A directory a later entry replaced is simply skipped. */
                _cleanup_close_ int fd = open_dir_beneath(u->root, u->dirs[i].path, false, u->dirs[i].path, NULL);

                if (fd < 0)
                        continue;
                if (futimens(fd, ts) < 0)
                        return pxe_set_errno(err, errno, "Layer entry \"%s\": setting times", u->dirs[i].path);
        }
        return 0;
}

static bool is_whiteout(int dir, const char *name)
{
        struct stat st;

        return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

/* A directory that replaces a whiteout of the same layer (".wh.x", then "x/")
 * is opaque: the whiteout hid the lower layers' "x" (image-spec: a whiteout
 * applies to the lower layers), and the new "x" starts empty. */
static int make_dir(struct unpacker *u, int dir, const char *base, const char *clean, struct archive_entry *ae,
                    const char *entry, struct pxe **err)
{
        _cleanup_close_ int fd = -EBADF;
        bool over_whiteout = is_whiteout(dir, base);
        int r = remove_existing(dir, base, true, entry, err);

        if (r < 0 || remember_dir(u, clean, ae, err) < 0)
                return -pxe_code(err, EIO);
        if (r == 0 && mkdirat(dir, base, 0700) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": mkdir", entry);
        fd = openat(dir, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": opening", entry);
        if (set_meta_fd(fd, ae, entry, err) < 0)
                return -pxe_code(err, EIO);
        if (over_whiteout && fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": marking the directory opaque", entry);
        return 0;
}

/* Symlinks and device nodes: no fd to work on, so *at() with NOFOLLOW. */
static int set_meta_at(int dir, const char *base, struct archive_entry *ae, bool is_link, const char *entry,
                       struct pxe **err)
{
        struct timespec ts[2] = {
                { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) },
                { archive_entry_mtime(ae), archive_entry_mtime_nsec(ae) },
        };

        if (fchownat(dir, base, (uid_t) archive_entry_uid(ae), (gid_t) archive_entry_gid(ae),
                     AT_SYMLINK_NOFOLLOW) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": chown", entry);
        if (!is_link && fchmodat(dir, base, archive_entry_perm(ae) & 07777, 0) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": chmod", entry);
        if (utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": setting times", entry);
        return 0;
}

/* Each layer is unpacked on its own (layers are shared by diff_id), so a link
 * into a lower layer has nothing to link to here (docs/images.md). */
static int hardlink_missing(const char *entry, const char *target, struct pxe **err)
{
        return pxe_set(err, ENOENT, "Layer entry \"%s\": hardlink to \"%s\", which is not in this layer", entry,
                       target);
}

static int make_hardlink(struct unpacker *u, int dir, const char *base, struct archive_entry *ae,
                         const char *entry, struct pxe **err)
{
        const char *target = archive_entry_hardlink(ae), *tbase;
        _cleanup_free_ char *clean = malloc(strlen(target) + 1);
        _cleanup_close_ int tdir = -EBADF;
        _cleanup_pxe_ struct pxe *terr = NULL;

        if (!clean)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (unpack_link_target(target, clean) < 0)
                return pxe_set(err, EPERM, "Layer entry \"%s\": hardlink to \"%s\" leaves the layer directory", entry,
                               target);
        tdir = open_parent(u->root, clean, false, entry, &tbase, &terr);
        if (tdir == -ENOENT)
                return hardlink_missing(entry, target, err);
        if (tdir < 0) {
                if (err && !*err)
                        *err = TAKE_PTR(terr);
                return tdir;
        }
        if (remove_existing(dir, base, false, entry, err) < 0)
                return -pxe_code(err, EIO);
        /* No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself. */
        if (linkat(tdir, tbase, dir, base, 0) == 0)
                return 0;
        if (errno == ENOENT)
                return hardlink_missing(entry, target, err);
        return pxe_set_errno(err, errno, "Layer entry \"%s\": hardlink to \"%s\"", entry, target);
}

static int make_node(int dir, const char *base, struct archive_entry *ae, const char *entry, struct pxe **err)
{
        mode_t type = archive_entry_filetype(ae);

        if (remove_existing(dir, base, false, entry, err) < 0)
                return -pxe_code(err, EIO);
        if (type == AE_IFLNK) {
                if (symlinkat(archive_entry_symlink(ae), dir, base) < 0)
                        return pxe_set_errno(err, errno, "Layer entry \"%s\": symlink", entry);
                return set_meta_at(dir, base, ae, true, entry, err);
        }
        if (mknodat(dir, base, type | 0600, archive_entry_rdev(ae)) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": mknod", entry);
        return set_meta_at(dir, base, ae, false, entry, err);
}

static int make_whiteout(int dir, const char *base, bool opaque, const char *entry, struct pxe **err)
{
        const char *victim = base + strlen(".wh.");

        if (opaque) {
                if (fsetxattr(dir, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return pxe_set_errno(err, errno, "Layer entry \"%s\": marking the directory opaque", entry);
                return 0;
        }
        if (remove_existing(dir, victim, false, entry, err) < 0)
                return -pxe_code(err, EIO);
        if (mknodat(dir, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
                return pxe_set_errno(err, errno, "Layer entry \"%s\": creating the whiteout", entry);
        return 0;
}

static int unpack_entry(struct unpacker *u, struct archive_entry *ae, struct pxe **err)
{
        const char *path = archive_entry_pathname(ae), *base;
        struct unpack_entry e = {
                .path = path,
                .type = archive_entry_filetype(ae),
                .symlink = archive_entry_symlink(ae),
                .hardlink = archive_entry_hardlink(ae),
        };
        _cleanup_free_ char *clean = NULL;
        _cleanup_close_ int dir = -EBADF;
        int action = unpack_check_entry(&e, u->allow_devices, err);

        if (action < 0 || action == UNPACK_SKIP)
                return action < 0 ? action : 0;
        clean = malloc(strlen(path) + 1);
        if (!clean)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (unpack_clean_path(path, clean, err) < 0)
                return -pxe_code(err, EPERM);
        dir = open_parent(u->root, clean, true, path, &base, err);
        if (dir < 0)
                return dir;
        u->res.entries++;
        if (action == UNPACK_WHITEOUT || action == UNPACK_OPAQUE)
                return make_whiteout(dir, base, action == UNPACK_OPAQUE, path, err);
        if (e.hardlink)
                return make_hardlink(u, dir, base, ae, path, err);
        switch (e.type) {
        case S_IFREG:
                return make_file(u, dir, base, ae, path, err);
        case S_IFDIR:
                return make_dir(u, dir, base, clean, ae, path, err);
        default:
                return make_node(dir, base, ae, path, err);
        }
}

/* After the tar's end-of-archive blocks: hash what remains of both streams. */
static int drain(struct unpacker *u, struct pxe **err)
{
        la_ssize_t n;

        while (!u->raw_eof) {
                n = archive_read_data(u->raw, u->tarbuf, sizeof(u->tarbuf));
                if (n < 0)
                        return archive_fail(u->raw, "Reading the layer", err);
                if (n == 0)
                        u->raw_eof = true;
                digest_update(u->tar_hash, u->tarbuf, (size_t) n);
        }
        for (;;) {
                ssize_t r = read(u->in_fd, u->inbuf, sizeof(u->inbuf));

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return pxe_set_errno(err, errno, "Reading the layer blob");
                if (r == 0)
                        return 0;
                digest_update(u->blob_hash, u->inbuf, (size_t) r);
        }
}

static int verify(struct unpacker *u, const struct unpack_opts *o, struct pxe **err)
{
        if (digest_final(u->blob_hash, u->res.digest) < 0 || digest_final(u->tar_hash, u->res.diff_id) < 0)
                return pxe_set(err, EIO, "Computing the layer digests");
        if (o->expected_digest && !streq(o->expected_digest, u->res.digest))
                return pxe_set(err, EBADMSG, "Layer digest mismatch: expected %s, got %s", o->expected_digest,
                               u->res.digest);
        if (o->expected_diff_id && !streq(o->expected_diff_id, u->res.diff_id))
                return pxe_set(err, EBADMSG, "Layer diff_id mismatch: expected %s, got %s", o->expected_diff_id,
                               u->res.diff_id);
        return 0;
}

static int unpack_run(struct unpacker *u, const struct unpack_opts *o, struct pxe **err)
{
        struct archive_entry *ae;
        int r;

        if (unpacker_open(u, err) < 0)
                return -pxe_code(err, EBADMSG);
        while ((r = archive_read_next_header(u->tar, &ae)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
                if (unpack_entry(u, ae, err) < 0)
                        return -pxe_code(err, EIO);
        }
        if (r != ARCHIVE_EOF)
                return archive_fail(u->tar, "Reading the layer", err);
        if (drain(u, err) < 0 || restore_dir_times(u, err) < 0)
                return -pxe_code(err, EIO);
        return verify(u, o, err);
}

int unpack_layer_fd(int blob_fd, int dest_dirfd, const struct unpack_opts *o, struct unpack_result *res,
                    struct pxe **err)
{
        static const struct unpack_opts none = { 0 };
        struct unpacker *u = calloc(1, sizeof(*u));
        int r;

        if (!u)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!o)
                o = &none;
        u->in_fd = blob_fd;
        u->root = dest_dirfd;
        u->allow_devices = o->allow_devices;
        r = unpack_run(u, o, err);
        if (r >= 0 && res)
                *res = u->res;
        unpacker_done(u);
        free(u);
        return r < 0 ? r : 0;
}

int unpack_layer(const char *blob_path, const char *dest_dir, const struct unpack_opts *o,
                 struct unpack_result *res, struct pxe **err)
{
        _cleanup_close_ int in = open(blob_path, O_RDONLY | O_CLOEXEC);
        _cleanup_close_ int dest = -EBADF;

        if (in < 0)
                return pxe_set_errno(err, errno, "Opening layer %s", blob_path);
        dest = open(dest_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dest < 0)
                return pxe_set_errno(err, errno, "Opening %s", dest_dir);
        return unpack_layer_fd(in, dest, o, res, err);
}
