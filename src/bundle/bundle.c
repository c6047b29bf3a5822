#include "bundle/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/overlay.h"
#include "image/layers.h"
#include "image/store.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define MARKER "pxcri-bundle.json"

/* Absolute form of dir (its parent must exist), without "." or ".." tricks. */
static int absolute_dir(const char *dir, char **ret, struct pxe **err)
{
        _cleanup_free_ char *copy = strdup(dir), *parent_real = NULL;
        char *slash, *base;

        if (!copy)
                return pxe_set(err, ENOMEM, "Out of memory");
        while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
                copy[strlen(copy) - 1] = '\0';
        slash = strrchr(copy, '/');
        base = slash ? slash + 1 : copy;
        if (!*base || streq(base, ".") || streq(base, ".."))
                return pxe_set(err, EINVAL, "Bundle directory \"%s\": give a directory name", dir);
        if (slash)
                *slash = '\0';
        parent_real = realpath(slash ? (*copy ? copy : "/") : ".", NULL);
        if (!parent_real)
                return pxe_set_errno(err, errno, "Bundle directory \"%s\": parent", dir);
        if (asprintf(ret, "%s/%s", streq(parent_real, "/") ? "" : parent_real, base) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (strpbrk(*ret, ",:"))
                return pxe_set(err, EINVAL, "Bundle directory \"%s\": ',' and ':' cannot be used in overlay mounts",
                               *ret);
        return 0;
}

/* Create dir (or accept an empty one) and upper/, work/, rootfs/ in it. */
static int make_dirs(const char *dir, struct pxe **err)
{
        static const char *const subdirs[] = { "upper", "work", "rootfs" };

        if (mkdir(dir, 0711) < 0) {
                if (errno != EEXIST)
                        return pxe_set_errno(err, errno, "Creating bundle %s", dir);
                if (rmdir(dir) < 0) /* empty: fine (rmdir + mkdir keeps it simple) */
                        return pxe_set(err, EEXIST, "Bundle directory %s exists and is not empty", dir);
                if (mkdir(dir, 0711) < 0)
                        return pxe_set_errno(err, errno, "Creating bundle %s", dir);
        }
        for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", dir, subdirs[i]) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (mkdir(p, 0755) < 0)
                        return pxe_set_errno(err, errno, "Creating %s", p);
        }
        return 0;
}

static void free_paths(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* The image's layer directories, top first (an image without layers: an
 * empty DIR/empty). */
static int lower_dirs(const char *image_root, const struct image_rec *img, const char *dir, char ***ret,
                      size_t *ret_n, struct pxe **err)
{
        size_t n = img->n_layers ? img->n_layers : 1;
        char **v = calloc(n, sizeof(*v));

        if (!v)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < img->n_layers; i++) {
                v[i] = layers_path(image_root, img->layers[img->n_layers - 1 - i].diff_id);
                if (!v[i]) {
                        free_paths(v, n);
                        return pxe_set(err, EINVAL, "Image %s: invalid diff_id %s", img->id,
                                       img->layers[img->n_layers - 1 - i].diff_id);
                }
                if (!fs_dir_exists(v[i])) {
                        free_paths(v, n);
                        return pxe_set(err, ENOENT, "Image %s: layer %s is missing (pull or import the image again)",
                                       img->id, img->layers[img->n_layers - 1 - i].diff_id);
                }
        }
        if (!img->n_layers && (asprintf(&v[0], "%s/empty", dir) < 0 || mkdir(v[0], 0755) < 0)) {
                free_paths(v, n);
                return pxe_set_errno(err, errno, "Creating %s/empty", dir);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int mount_rootfs(const char *image_root, const struct image_rec *img, const char *dir, struct pxe **err)
{
        _cleanup_free_ char *target = NULL, *upper = NULL, *work = NULL;
        char **lower = NULL;
        size_t n = 0;
        int r;

        if (strpbrk(image_root, ",:"))
                return pxe_set(err, EINVAL, "Image root %s: ',' and ':' cannot be used in overlay mounts", image_root);
        if (asprintf(&target, "%s/rootfs", dir) < 0 || asprintf(&upper, "%s/upper", dir) < 0 ||
            asprintf(&work, "%s/work", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (lower_dirs(image_root, img, dir, &lower, &n, err) < 0)
                return -pxe_code(err, EINVAL);
        r = overlay_mount(target, lower, n, upper, work, err);
        free_paths(lower, n);
        if (r < 0)
                return pxe_wrap(err, "Image %s (%zu layers)", img->id, img->n_layers);
        return 0;
}

static int write_marker(const char *dir, const char *image_root, const char *id, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *o = json_pack("{s:s, s:s}", "image_id", id, "image_root", image_root);

        text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        json_decref(o);
        if (!text || asprintf(&path, "%s/" MARKER, dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        /* No fsync: a bundle a crash left half-made is removed whole. */
        return fs_write_new(path, text, strlen(text), 0644, err);
}

static int write_spec(const struct bundle_request *req, const struct image_rec *img, const char *dir,
                      struct pxe **err)
{
        struct bundle_spec_request sr = req->spec;
        _cleanup_free_ char *rootfs = NULL, *path = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        json_t *spec = NULL;

        if (asprintf(&rootfs, "%s/rootfs", dir) < 0 || asprintf(&path, "%s/config.json", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return pxe_set_errno(err, errno, "Opening %s", rootfs);
        sr.image_config = img->config;
        sr.image_id = img->id;
        sr.image_name = img->n_repo_tags ? img->repo_tags[0] : req->image;
        sr.rootfs_fd = fd;
        if (bundle_spec_generate(&sr, &spec, err) < 0)
                return -pxe_code(err, EINVAL);
        if (req->customize && req->customize(spec, req->customize_data, err) < 0) {
                json_decref(spec);
                return -pxe_code(err, EINVAL);
        }
        /* Compact, as containerd and CRI-O write it: runtimes parse it, people
         * read it through `jq` (and the dump is a good part of a create). */
        text = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(spec);
        if (!text)
                return pxe_set(err, ENOMEM, "Out of memory");
        return fs_write_new(path, text, strlen(text), 0644, err);
}

static int create_in(const struct bundle_request *req, struct image_store *s, const struct image_rec *img,
                     const char *dir, struct pxe **err)
{
        _cleanup_free_ char *rootfs = NULL;
        bool mounted = false;
        int r;

        r = make_dirs(dir, err);
        if (r < 0) {
                if (r != -EEXIST) /* EEXIST: a directory that is not ours */
                        layers_rm_tree(dir, NULL);
                return r;
        }
        r = image_store_ref_add(s, dir, img->id, err);
        if (r >= 0)
                r = write_marker(dir, req->image_root, img->id, err);
        if (r >= 0)
                r = mount_rootfs(req->image_root, img, dir, err);
        mounted = r >= 0;
        if (r >= 0)
                r = write_spec(req, img, dir, err);
        if (r >= 0)
                return 0;
        if (mounted && asprintf(&rootfs, "%s/rootfs", dir) >= 0)
                umount2(rootfs, MNT_DETACH);
        layers_rm_tree(dir, NULL);
        image_store_ref_drop(s, dir, NULL);
        return r;
}

int bundle_create(const struct bundle_request *req, char **ret_image_id, struct pxe **err)
{
        _cleanup_image_store_ struct image_store *own = NULL;
        _cleanup_image_rec_ struct image_rec *img = NULL;
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int lock = -EBADF;
        struct image_store *s = req->store;

        if (absolute_dir(req->dir, &dir, err) < 0)
                return -pxe_code(err, EINVAL);
        lock = layers_lock_store(req->image_root, false, err);
        if (lock < 0)
                return lock;
        if (!s && image_store_open(req->image_root, &own, err) < 0)
                return -pxe_code(err, EIO);
        if (!s)
                s = own;
        if (image_store_get(s, req->image, &img, err) < 0)
                return -pxe_code(err, EIO);
        if (create_in(req, s, img, dir, err) < 0)
                return pxe_wrap(err, "Creating bundle %s from %s", dir, req->image);
        if (ret_image_id)
                *ret_image_id = TAKE_PTR(img->id);
        if (req->ret_image)
                *req->ret_image = TAKE_PTR(img);
        return 0;
}

static int read_marker(const char *dir, char **ret_root, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *o;
        const char *root;

        if (asprintf(&path, "%s/" MARKER, dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_read_file(path, 65536, &text, NULL, err) < 0)
                return pxe_wrap(err, "%s is not a bundle made by pxcri bundle create", dir);
        o = json_loads(text, 0, NULL);
        root = json_string_value(json_object_get(o, "image_root"));
        *ret_root = root ? strdup(root) : NULL;
        json_decref(o);
        if (!*ret_root)
                return pxe_set(err, EBADMSG, "%s: no image_root", path);
        return 0;
}

int bundle_remove(const char *dir_arg, struct pxe **err)
{
        _cleanup_image_store_ struct image_store *s = NULL;
        _cleanup_free_ char *dir = NULL, *root = NULL, *rootfs = NULL;

        if (absolute_dir(dir_arg, &dir, err) < 0 || read_marker(dir, &root, err) < 0)
                return -pxe_code(err, EINVAL);
        if (asprintf(&rootfs, "%s/rootfs", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (umount2(rootfs, UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
                return pxe_set_errno(err, errno, "Unmounting %s", rootfs);
        if (layers_rm_tree(dir, err) < 0)
                return -pxe_code(err, EIO);
        if (image_store_open(root, &s, err) < 0 || image_store_ref_drop(s, dir, err) < 0)
                return pxe_wrap(err, "Dropping the image reference of %s", dir);
        return 0;
}

int bundle_drop_stale_refs(const char *image_root, const char *id, struct pxe **err)
{
        _cleanup_image_store_ struct image_store *s = NULL;
        char **holders = NULL;
        size_t n = 0;
        int r;

        r = image_store_open(image_root, &s, err);
        if (r >= 0)
                r = image_store_holders(s, id, &holders, &n, err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *marker = NULL;

                if (holders[i][0] != '/')
                        continue;
                if (asprintf(&marker, "%s/" MARKER, holders[i]) < 0) {
                        r = pxe_set(err, ENOMEM, "Out of memory");
                        break;
                }
                if (!fs_exists(marker))
                        r = image_store_ref_drop(s, holders[i], err);
        }
        layers_strv_free(holders, n);
        return r < 0 ? r : 0;
}
