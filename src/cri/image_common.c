/* Helpers shared by the ImageService and stats handlers: image records as
 * CRI Images, disk usage of a tree. */
#include "cri/image_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

/* Deeper trees are not walked further: a bound on open descriptors. */
#define DU_MAX_DEPTH 128

const char *cri_image_root(const struct cri_server *s)
{
        return s->cfg->image.root ? s->cfg->image.root : IMAGE_ROOT_DEFAULT;
}

Runtime__V1__UInt64Value *cri_u64(uint64_t v)
{
        Runtime__V1__UInt64Value *u = malloc(sizeof(*u));

        if (!u)
                return NULL;
        runtime__v1__uint64_value__init(u);
        u->value = v;
        return u;
}

static char **strv_dup(char *const *v, size_t n)
{
        char **d = calloc(n ? n : 1, sizeof(*d));

        for (size_t i = 0; d && i < n; i++)
                if (!(d[i] = strdup(v[i]))) {
                        while (i--)
                                free(d[i]);
                        free(d);
                        return NULL;
                }
        return d;
}

/* The image config's User, as containerd reports it: "uid[:gid]" gives uid,
 * a name gives username; the group part is dropped. */
static int image_user(Runtime__V1__Image *img, const char *config_json)
{
        json_t *cfg = config_json ? json_loads(config_json, 0, NULL) : NULL;
        const char *user = json_string_value(json_object_get(json_object_get(cfg, "config"), "User"));
        _cleanup_free_ char *name = user && *user ? strndup(user, strcspn(user, ":")) : NULL;
        char *end = NULL;
        long long uid;
        int r = 0;

        if (!name || !*name)
                goto out;
        errno = 0;
        uid = strtoll(name, &end, 10);
        if (*end == '\0' && errno == 0 && uid >= 0) {
                img->uid = malloc(sizeof(*img->uid));
                if (!img->uid) {
                        r = -ENOMEM;
                        goto out;
                }
                runtime__v1__int64_value__init(img->uid);
                img->uid->value = uid;
        } else
                img->username = TAKE_PTR(name);
out:
        json_decref(cfg);
        return r;
}

Runtime__V1__Image *cri_image_from_rec(const struct image_rec *r)
{
        Runtime__V1__Image *img = malloc(sizeof(*img));

        if (!img)
                return NULL;
        runtime__v1__image__init(img);
        img->spec = malloc(sizeof(*img->spec));
        if (img->spec)
                runtime__v1__image_spec__init(img->spec);
        img->id = strdup(r->id);
        img->repo_tags = strv_dup(r->repo_tags, r->n_repo_tags);
        img->repo_digests = strv_dup(r->repo_digests, r->n_repo_digests);
        if (!img->spec || !img->id || !img->repo_tags || !img->repo_digests || image_user(img, r->config) < 0 ||
            !(img->spec->image = strdup(r->id))) {
                protobuf_c_message_free_unpacked(&img->base, NULL);
                return NULL;
        }
        img->n_repo_tags = r->n_repo_tags;
        img->n_repo_digests = r->n_repo_digests;
        img->size = r->size;
        img->pinned = false;
        return img;
}

static int du_dir(int dfd, dev_t dev, unsigned depth, struct cri_du *acc, struct pxe **err);

static int du_entry(int dfd, const char *name, dev_t dev, unsigned depth, struct cri_du *acc, struct pxe **err)
{
        struct stat st;
        int fd;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Reading %s", name);
        acc->bytes += (uint64_t) st.st_blocks * 512;
        acc->inodes++;
        if (!S_ISDIR(st.st_mode) || st.st_dev != dev || depth >= DU_MAX_DEPTH)
                return 0;
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Opening directory %s", name);
        return du_dir(fd, dev, depth + 1, acc, err);
}

/* Takes fd. */
static int du_dir(int fd, dev_t dev, unsigned depth, struct cri_du *acc, struct pxe **err)
{
        DIR *d = fdopendir(fd);
        struct dirent *de;
        int r = 0;

        if (!d) {
                close(fd);
                return pxe_set_errno(err, errno, "Reading a directory");
        }
        while (r >= 0 && (de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = du_entry(dirfd(d), de->d_name, dev, depth, acc, err);
        }
        closedir(d);
        return r;
}

int cri_du_add(const char *path, struct cri_du *acc, struct pxe **err)
{
        struct stat st;
        int fd;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Reading %s", path);
        acc->bytes += (uint64_t) st.st_blocks * 512;
        acc->inodes++;
        if (!S_ISDIR(st.st_mode))
                return 0;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Opening %s", path);
        if (du_dir(fd, st.st_dev, 0, acc, err) < 0)
                return pxe_wrap(err, "Measuring disk usage of %s", path);
        return 0;
}

/* One connection per worker thread (libuv's threads live as long as the
 * process), for one image root: pxcrid has one. */
static __thread struct image_store *thread_store;
static __thread char *thread_store_root;

struct image_store *cri_thread_image_store(const char *root, struct pxe **err)
{
        if (thread_store && strcmp(thread_store_root, root) == 0)
                return thread_store;
        if (thread_store) {
                image_store_close(thread_store);
                free(thread_store_root);
                thread_store = NULL;
        }
        thread_store_root = strdup(root);
        if (!thread_store_root) {
                pxe_set(err, ENOMEM, "Out of memory");
                return NULL;
        }
        if (image_store_open(root, &thread_store, err) < 0) {
                free(thread_store_root);
                thread_store_root = NULL;
                return NULL;
        }
        return thread_store;
}
