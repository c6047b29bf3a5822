/* Images -> Proxmox templates.
 *
 * A bundle's rootfs, with pxcri-init added at /.pxcri/init and an empty
 * /.pxcri/run, becomes pxcri-<key>.tar.zst in template_storage, once per key:
 * the image (the io.pxcri.image-id annotation `pxcri bundle create` writes)
 * and the pxcri-init inside, or -- for bundles from elsewhere -- the
 * tarball's own SHA-256.  With linked_clones, a template container made from
 * that file (unprivileged or not: Proxmox cannot change that after create)
 * is what later containers of the image are cloned from; a storage that
 * cannot clone linked turns that off for the key (full creates from then on).
 *
 * <root>/proxmox/templates/<key>.json  {"file", "image" (the image ID the key
 * was made from, when there was one), "ct": {"unprivileged": VMID,
 * "privileged": VMID}, "linked": false when refused}; <key>.lock serializes
 * the creates of one image and their removal (pmx_prune.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/proxmox/map.h"
#include "backend/proxmox/pmx_private.h"
#include "image/digest.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/spawn.h"

#define KEY_LEN 24 /* hex digits of the key in names */
#define TEMPLATE_ROOTFS_GIB "8"
#define RECORD_MAX (64u << 10)
#define TEMPLATE_HOSTNAME_FMT "pxcri-template-%.12s"

static const char *const tar_paths[] = { "/usr/bin/tar", "/bin/tar" };

static int sha256_file(const char *path, char out[DIGEST_STR_LEN + 1], struct pxe **err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct digest_ctx *d;
        char buf[1 << 16];
        ssize_t n;
        int r = 0;

        if (fd < 0)
                return pxe_set_errno(err, errno, "%s", path);
        if (!(d = digest_new()))
                return pxe_set(err, ELIBACC, "SHA-256 is not available (libcrypto)");
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                if (digest_update(d, buf, (size_t) n) < 0)
                        n = -1;
        if (n < 0 || digest_final(d, out) < 0)
                r = pxe_set_errno(err, n < 0 ? errno : EIO, "Hashing %s", path);
        digest_free(d);
        return r;
}

static int mkdirs_stage(const char *stage, const char *init, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL, *run = NULL, *dst = NULL, *data = NULL;
        size_t len = 0;

        if (asprintf(&dir, "%s/.pxcri", stage) < 0 || asprintf(&run, "%s/run", dir) < 0 ||
            asprintf(&dst, "%s/init", dir) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_mkdir_p(run, 0755, err) < 0)
                return -pxe_code(err, EIO);
        if (fs_read_file(init, 64u << 20, &data, &len, err) < 0 || fs_write_atomic(dst, data, len, 0755, err) < 0)
                return pxe_wrap(err, "Copying pxcri-init into the template");
        return 0;
}

static int skip_dots(const struct dirent *de)
{
        return !streq(de->d_name, ".") && !streq(de->d_name, "..") && !streq(de->d_name, ".pxcri");
}

/* tar --zstd of rootfs's entries plus the stage's .pxcri into out.  The
 * entries, not ".": the rootfs directory itself (made when the bundle was)
 * would put its own mtime into the tarball, and two bundles of one image
 * would make two templates. */
static int make_tarball(const char *rootfs, const char *stage, const char *out, struct pxe **err)
{
        _cleanup_free_ const char **argv = NULL;
        struct dirent **ents = NULL;
        struct spawn_result res = { 0 };
        const char *tar = NULL;
        size_t a = 0;
        int n, r;

        for (size_t i = 0; i < ARRAY_SIZE(tar_paths) && !tar; i++)
                if (access(tar_paths[i], X_OK) == 0)
                        tar = tar_paths[i];
        if (!tar)
                return pxe_set(err, ENOENT, "tar not found (it makes the Proxmox templates)");
        n = scandir(rootfs, &ents, skip_dots, alphasort);
        if (n < 0)
                return pxe_set_errno(err, errno, "Reading %s", rootfs);
        argv = calloc((size_t) n + 16, sizeof(*argv));
        if (!argv) {
                r = pxe_set(err, ENOMEM, "Out of memory");
                goto out;
        }
        argv[a++] = tar;
        argv[a++] = "--zstd";
        argv[a++] = "--numeric-owner";
        argv[a++] = "--sort=name";
        argv[a++] = "-cf";
        argv[a++] = out;
        argv[a++] = "-C";
        argv[a++] = stage;
        argv[a++] = ".pxcri";
        argv[a++] = "-C";
        argv[a++] = rootfs;
        argv[a++] = "--";
        for (int i = 0; i < n; i++)
                argv[a++] = ents[i]->d_name;
        argv[a] = NULL;
        {
                struct spawn_opts o = { .argv = argv, .capture_stderr = true, .null_stdin = true };

                r = spawn_run(&o, &res, err);
        }
        if (r == 0 && spawn_exit_code(res.status) != 0)
                r = pxe_set(err, EIO, "tar of %s failed: %.300s", rootfs, res.errout ? res.errout : "");
        spawn_result_done(&res);
out:
        for (int i = 0; i < n; i++)
                free(ents[i]);
        free(ents);
        return r;
}

static void rm_stage(const char *stage)
{
        char *p = NULL;

        if (asprintf(&p, "%s/.pxcri/init", stage) >= 0)
                unlink(p);
        free(p);
        if (asprintf(&p, "%s/.pxcri/run", stage) >= 0)
                rmdir(p);
        free(p);
        if (asprintf(&p, "%s/.pxcri", stage) >= 0)
                rmdir(p);
        free(p);
        rmdir(stage);
}

/* Build the tarball in dir; its path and SHA-256 out. */
static int build(struct backend *b, const char *dir, const char *rootfs, char **ret_path,
                 char sha[DIGEST_STR_LEN + 1], struct pxe **err)
{
        _cleanup_free_ char *stage = NULL, *out = NULL;
        int r;

        if (asprintf(&stage, "%s/stage.%d", dir, (int) getpid()) < 0 ||
            asprintf(&out, "%s/build.%d.tar.zst", dir, (int) getpid()) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = mkdirs_stage(stage, b->path, err);
        if (r == 0)
                r = make_tarball(rootfs, stage, out, err);
        rm_stage(stage);
        if (r == 0)
                r = sha256_file(out, sha, err);
        if (r < 0) {
                unlink(out);
                return pxe_wrap(err, "Making the Proxmox template of %s", rootfs);
        }
        *ret_path = TAKE_PTR(out);
        return 0;
}

static const char *config_image(const json_t *config)
{
        return json_string_value(json_object_get(json_object_get(config, "annotations"), PMX_IMAGE_ANNOTATION));
}

/* The key without building: the image and the pxcri-init that goes in. */
static int image_key(struct backend *b, const json_t *config, char key[65], struct pxe **err)
{
        const char *image = config_image(config);
        char init[DIGEST_STR_LEN + 1], both[DIGEST_STR_LEN + 1];
        _cleanup_free_ char *text = NULL;

        if (!image)
                return 0;
        if (sha256_file(b->path, init, err) < 0 || asprintf(&text, "%s\n%s\n", image, init) < 0)
                return -pxe_code(err, ENOMEM);
        if (digest_buffer(text, strlen(text), both) < 0)
                return pxe_set(err, ELIBACC, "SHA-256 is not available (libcrypto)");
        snprintf(key, 65, "%.*s", KEY_LEN, digest_hex(both));
        return 1;
}

static bool str_is(const json_t *v, const char *s)
{
        return json_is_string(v) && streq(json_string_value(v), s);
}

bool pmx_template_record_note(json_t *rec, const char *file, const char *image)
{
        bool changed = false;

        if (file && !str_is(json_object_get(rec, "file"), file)) {
                json_object_set_new(rec, "file", json_string(file));
                changed = true;
        }
        if (image && image[0] && !str_is(json_object_get(rec, "image"), image)) {
                json_object_set_new(rec, "image", json_string(image));
                changed = true;
        }
        return changed;
}

static int load_record(const char *path, json_t **ret)
{
        _cleanup_free_ char *text = NULL;

        *ret = NULL;
        if (fs_read_file(path, RECORD_MAX, &text, NULL, NULL) == 0)
                *ret = json_loads(text, 0, NULL);
        if (!json_is_object(*ret)) {
                json_decref(*ret);
                *ret = json_object();
        }
        return *ret ? 0 : -ENOMEM;
}

int pmx_template_record_save(const char *path, json_t *rec, struct pxe **err)
{
        _cleanup_free_ char *text = json_dumps(rec, JSON_COMPACT);

        if (!text)
                return pxe_set(err, ENOMEM, "Out of memory");
        return fs_write_atomic(path, text, strlen(text), 0600, err);
}

/* A template container from the file: create, then convert. */
static int make_template_ct(struct backend *b, struct pve_client *client, const char *volid, const char *key,
                            bool unprivileged, unsigned *ret, struct pxe **err)
{
        const struct proxmox_config *pc = &b->cfg->proxmox;
        _cleanup_free_ char *hostname = NULL, *rootfs = NULL, *desc = NULL;
        unsigned vmid = 0;
        char *upid = NULL;

        if (asprintf(&hostname, TEMPLATE_HOSTNAME_FMT, key) < 0 ||
            asprintf(&rootfs, "%s:" TEMPLATE_ROOTFS_GIB, pc->storage) < 0 ||
            asprintf(&desc, "pxcri template of %s (linked clones of it run containers of that image)", volid) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        const struct pve_kv p[] = {
                { "ostemplate", volid }, { "hostname", hostname },    { "rootfs", rootfs },
                { "ostype", "unmanaged" }, { "unprivileged", unprivileged ? "1" : "0" },
                { "memory", "64" },        { "tags", "pxcri-template" }, { "description", desc },
        };

        if (pve_create(client, &vmid, p, ARRAY_SIZE(p), &upid, err) < 0)
                return -pxe_code(err, EIO);
        if (pmx_task_wait(b, client, upid, err) < 0 || pve_template(client, vmid, &upid, err) < 0 ||
            pmx_task_wait(b, client, upid, err) < 0) {
                _cleanup_pxe_ struct pxe *e = NULL;

                if (pve_destroy(client, vmid, true, &upid, &e) < 0 || pmx_task_wait(b, client, upid, &e) < 0)
                        log_warn("Template container %u: %s (remove it in Proxmox by hand)", vmid, e->msg);
                return -pxe_code(err, EIO);
        }
        *ret = vmid;
        return 0;
}

int pmx_template_ct_ours(struct pve_client *client, unsigned vmid, const char *key, struct pxe **err)
{
        _cleanup_free_ char *want = NULL;
        json_auto_t *cfg = NULL;
        json_t *tmpl;
        const char *host;
        int r;

        if (asprintf(&want, TEMPLATE_HOSTNAME_FMT, key) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = pve_config_get(client, vmid, &cfg, err);
        if (r == -ENOENT) {
                pxe_freep(err);
                return 0;
        }
        if (r < 0)
                return r;
        host = json_string_value(json_object_get(cfg, "hostname"));
        tmpl = json_object_get(cfg, "template");
        return host && streq(host, want) &&
               ((json_is_integer(tmpl) && json_integer_value(tmpl) == 1) || str_is(tmpl, "1"));
}

/* The template container for unprivileged-ness u, made when missing. */
static int template_ct(struct backend *b, struct pve_client *client, json_t *rec, const char *record_path,
                       struct pmx_template *t, bool u, struct pxe **err)
{
        const char *which = u ? "unprivileged" : "privileged";
        json_t *cts = json_object_get(rec, "ct");
        json_int_t have = json_integer_value(json_object_get(cts, which));
        unsigned vmid = 0;

        if (json_is_false(json_object_get(rec, "linked")))
                return 0;
        /* Trusted without asking Proxmox (each question costs a pct start-up
         * on a real host): when it is gone the clone fails with ENOENT and
         * pmx_template_clone_failed() forgets it. */
        if (have > 0) {
                t->ct = (unsigned) have;
                return 0;
        }
        if (make_template_ct(b, client, t->volid, t->key, u, &vmid, err) < 0)
                return -pxe_code(err, EIO);
        if (!json_is_object(cts))
                json_object_set_new(rec, "ct", cts = json_object());
        json_object_set_new(cts, which, json_integer(vmid));
        if (pmx_template_record_save(record_path, rec, err) < 0)
                return -pxe_code(err, EIO);
        t->ct = vmid;
        return 0;
}

/* The file was made again (it was gone: removed by hand, or by a prune in
 * another pxcri root sharing template_storage).  Template containers the
 * record names are kept when they still are this key's; gone ones, or a
 * VMID that now holds something else, are forgotten. */
static void forget_stale_cts(struct pve_client *client, json_t *rec, const char *key)
{
        static const char *const which[] = { "unprivileged", "privileged" };
        json_t *cts = json_object_get(rec, "ct");

        for (size_t i = 0; i < ARRAY_SIZE(which); i++) {
                json_int_t vmid = json_integer_value(json_object_get(cts, which[i]));

                if (vmid > 0 && pmx_template_ct_ours(client, (unsigned) vmid, key, NULL) != 1)
                        json_object_del(cts, which[i]);
        }
}

int pmx_template_lock(const char *dir, const char *key, bool wait, int *ret_fd, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s.lock", dir, key) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (;;) {
                _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                struct stat held, now;

                if (fd >= 0 && flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) < 0) {
                        if (errno == EWOULDBLOCK && !wait)
                                return -EWOULDBLOCK;
                        return pxe_set_errno(err, errno, "Locking %s", path);
                }
                if (fd < 0 || fstat(fd, &held) < 0)
                        return pxe_set_errno(err, errno, "Locking %s", path);
                /* A prune that removed the template unlinks the lock file
                 * while holding it: a lock on that file locks nothing. */
                if (stat(path, &now) < 0) {
                        if (errno != ENOENT)
                                return pxe_set_errno(err, errno, "Locking %s", path);
                } else if (now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
                        *ret_fd = TAKE_FD(fd);
                        return 0;
                }
        }
}

int pmx_template_get(struct backend *b, struct pve_client *client, const char *bundle, const json_t *config,
                     bool unprivileged, int (*use)(void *data, const char *key, struct pxe **err), void *data,
                     struct pmx_template *t, struct pxe **err)
{
        const struct proxmox_config *pc = &b->cfg->proxmox;
        _cleanup_free_ char *dir = pmx_path(b, "templates", NULL), *rootfs = NULL, *built = NULL, *name = NULL,
                            *record_path = NULL;
        _cleanup_close_ int lock = -EBADF;
        json_auto_t *rec = NULL;
        char sha[DIGEST_STR_LEN + 1] = "";
        const char *root = json_string_value(json_object_get(json_object_get(config, "root"), "path"));
        bool exists = false;
        int r;

        *t = (struct pmx_template) { 0 };
        if (!dir || !root)
                return !dir ? pxe_set(err, ENOMEM, "Out of memory") : pxe_set(err, EINVAL, "root.path is missing");
        if (asprintf(&rootfs, "%s%s%s", root[0] == '/' ? "" : bundle, root[0] == '/' ? "" : "/", root) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_mkdir_p(dir, 0700, err) < 0)
                return -pxe_code(err, EIO);
        if ((r = image_key(b, config, t->key, err)) < 0)
                return r;
        if (r == 0) {
                /* No image named: the content is the key. */
                if (build(b, dir, rootfs, &built, sha, err) < 0)
                        return -pxe_code(err, EIO);
                snprintf(t->key, sizeof(t->key), "%.*s", KEY_LEN, digest_hex(sha));
        }
        if (pmx_template_lock(dir, t->key, true, &lock, err) < 0 ||
            asprintf(&name, PMX_TEMPLATE_FILE_FMT, t->key) < 0 ||
            asprintf(&t->volid, "%s:vztmpl/%s", pc->template_storage, name) < 0 ||
            asprintf(&record_path, "%s/%s.json", dir, t->key) < 0 || load_record(record_path, &rec) < 0) {
                r = pxe_code(err, 0) ? -pxe_code(err, EIO) : pxe_set(err, ENOMEM, "Out of memory");
                goto out;
        }
        if ((r = pve_template_exists(client, name, &exists, err)) < 0)
                goto out;
        if (!exists) {
                if (!built && (r = build(b, dir, rootfs, &built, sha, err)) < 0)
                        goto out;
                if ((r = pve_template_upload(client, built, name, digest_hex(sha), err)) < 0)
                        goto out;
                forget_stale_cts(client, rec, t->key);
        }
        /* Saved when made or used: prune --image finds the template by it. */
        if ((pmx_template_record_note(rec, name, config_image(config)) || !exists) &&
            (r = pmx_template_record_save(record_path, rec, err)) < 0)
                goto out;
        if (pc->linked_clones && (r = template_ct(b, client, rec, record_path, t, unprivileged, err)) < 0)
                goto out;
        if (use)
                r = use(data, t->key, err);
out:
        if (built)
                unlink(built);
        if (r < 0)
                pmx_template_done(t);
        return r;
}

void pmx_template_clone_failed(struct backend *b, const char *key, bool gone)
{
        _cleanup_free_ char *dir = pmx_path(b, "templates", NULL), *path = NULL;
        _cleanup_close_ int lock = -EBADF;
        json_auto_t *rec = NULL;

        /* A record a prune removed meanwhile stays removed. */
        if (!dir || asprintf(&path, "%s/%s.json", dir, key) < 0 ||
            pmx_template_lock(dir, key, true, &lock, NULL) < 0 || !fs_exists(path) || load_record(path, &rec) < 0)
                return;
        if (gone)
                json_object_del(rec, "ct"); /* made again by the next create */
        else
                json_object_set_new(rec, "linked", json_false());
        pmx_template_record_save(path, rec, NULL);
}

void pmx_template_done(struct pmx_template *t)
{
        free(t->volid);
        t->volid = NULL;
}
