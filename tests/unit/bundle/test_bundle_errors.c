/* bundle/: what bundle_create() refuses, and that a refusal leaves nothing
 * (no directory, mount or image reference): directory names overlay cannot
 * take, a directory in use, an image whose layer is gone from the store, an
 * image root overlay cannot name, more layers than one mount can list, a
 * customize step that fails; bundle_remove() and bundle_drop_stale_refs() on
 * what is not (or no longer) a bundle; image configs and /etc files the spec
 * cannot use.  The overlay tests need root; skipped otherwise. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "bundle/overlay.h"
#include "image/layers.h"
#include "image/store.h"
#include "util/cleanup.h"

#define IMAGE_ID "sha256:bbbb000000000000000000000000000000000000000000000000000000000002"
#define EMPTY_ID "sha256:bbbb000000000000000000000000000000000000000000000000000000000003"
#define DEEP_ID "sha256:bbbb000000000000000000000000000000000000000000000000000000000004"
#define IMAGE "example.com/pxt/errors:v1"
#define DEEP_LAYERS 48

struct fx {
        char *dir, *root;
        char diff_id[80];
};

static char *layer_dir(struct fx *f, const char *diff_id)
{
        char *p = layers_path(f->root, diff_id);

        assert_non_null(p);
        return p;
}

static void put(struct image_store *s, const char *id, const char *tag, struct image_rec_layer *l, size_t n)
{
        char *tags[] = { (char *) tag };
        struct image_rec rec = {
                .id = (char *) id, .repo_tags = tags, .n_repo_tags = 1, .layers = l, .n_layers = n,
                .config = (char *) "{\"config\":{\"Cmd\":[\"/bin/app\"]}}",
        };

        assert_int_equal(image_store_put(s, &rec, NULL), 0);
}

/* IMAGE: one layer; pxt/empty:v1: no layer; pxt/deep:v1: DEEP_LAYERS layers. */
static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        struct image_store *s = NULL;
        struct image_rec_layer one = { .diff_id = f->diff_id }, deep[DEEP_LAYERS];
        char deep_ids[DEEP_LAYERS][80], num[8];
        char *p, *p0 = NULL;

        *state = f;
        if (geteuid() != 0)
                return 0;
        f->dir = unit_mkdtemp();
        f->root = unit_path(f->dir, "images");
        snprintf(f->diff_id, sizeof(f->diff_id), "sha256:%064d", 8);
        assert_int_equal(image_store_open(f->root, &s, NULL), 0);
        assert_int_equal(mkdir(p = unit_path(f->root, "layers"), 0700), 0);
        free(p);
        assert_int_equal(mkdir(p = layer_dir(f, f->diff_id), 0755), 0);
        free(p);
        for (int i = 0; i < DEEP_LAYERS; i++) {
                snprintf(deep_ids[i], sizeof(deep_ids[i]), "sha256:%064d", 100 + i);
                deep[i] = (struct image_rec_layer) { .diff_id = deep_ids[i] };
                assert_int_equal(mkdir(p = layer_dir(f, deep_ids[i]), 0755), 0);
                free(p);
                p = layer_dir(f, deep_ids[i]);
                free(p0), p0 = unit_path(p, "layer");
                snprintf(num, sizeof(num), "%d", i);
                unit_write(p0, num);
                free(p);
        }
        free(p0);
        put(s, IMAGE_ID, IMAGE, &one, 1);
        put(s, EMPTY_ID, "example.com/pxt/empty:v1", NULL, 0);
        put(s, DEEP_ID, "example.com/pxt/deep:v1", deep, DEEP_LAYERS);
        image_store_close(s);
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        if (f->dir)
                unit_rm_rf(f->dir);
        free(f->dir);
        free(f->root);
        free(f);
        return 0;
}

static size_t holders(struct fx *f, const char *id)
{
        struct image_store *s = NULL;
        char **v = NULL;
        size_t n = 0;

        assert_int_equal(image_store_open(f->root, &s, NULL), 0);
        assert_int_equal(image_store_holders(s, id, &v, &n, NULL), 0);
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        image_store_close(s);
        return n;
}

/* Whether anything is mounted at or under path. */
static bool mounted_under(const char *path)
{
        _cleanup_free_ char *text = unit_read("/proc/self/mountinfo");

        return text && strstr(text, path);
}

/* bundle_create(image, dir) must fail with code and a message containing
 * needle, leaving no directory, mount or reference behind. */
static void create_fails(struct fx *f, const char *image, const char *dir, int code, const char *needle)
{
        struct bundle_request req = { .image_root = f->root, .image = image, .dir = dir };
        _cleanup_pxe_ struct pxe *err = NULL;

        assert_int_equal(bundle_create(&req, NULL, &err), -code);
        assert_contains(err->msg, needle);
        assert_int_not_equal(access(dir, F_OK), 0);
        assert_false(mounted_under(f->dir));
        assert_int_equal(holders(f, IMAGE_ID) + holders(f, EMPTY_ID) + holders(f, DEEP_ID), 0);
}

static void test_directory_names(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dotdot = NULL, *orphan = NULL, *comma = NULL, *slashes = NULL, *dir = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        dotdot = unit_path(f->dir, "sub/..");
        create_fails(f, IMAGE, dotdot, EINVAL, "give a directory name");
        orphan = unit_path(f->dir, "no-such-parent/b");
        create_fails(f, IMAGE, orphan, ENOENT, "\": parent");
        comma = unit_path(f->dir, "a,b");
        create_fails(f, IMAGE, comma, EINVAL, "',' and ':' cannot be used in overlay mounts");
        /* Trailing slashes are the same directory. */
        slashes = unit_path(f->dir, "b///");
        dir = unit_path(f->dir, "b");
        req = (struct bundle_request) { .image_root = f->root, .image = IMAGE, .dir = slashes };
        if (bundle_create(&req, NULL, &err) < 0)
                fail_msg("%s", err->msg);
        assert_int_equal(access(dir, F_OK), 0);
        assert_int_equal(bundle_remove(dir, NULL), 0);
        assert_int_equal(holders(f, IMAGE_ID), 0);
}

/* A directory with something in it is not taken over, nor removed. */
static void test_directory_in_use(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dir = NULL, *kept = NULL, *empty = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        dir = unit_path(f->dir, "used");
        kept = unit_path(dir, "data");
        assert_int_equal(mkdir(dir, 0755), 0);
        unit_write(kept, "mine");
        req = (struct bundle_request) { .image_root = f->root, .image = IMAGE, .dir = dir };
        assert_int_equal(bundle_create(&req, NULL, &err), -EEXIST);
        assert_contains(err->msg, "exists and is not empty");
        assert_int_equal(access(kept, F_OK), 0);
        assert_int_equal(holders(f, IMAGE_ID), 0);
        /* An empty one is. */
        empty = unit_path(f->dir, "empty-dir");
        assert_int_equal(mkdir(empty, 0755), 0);
        req.dir = empty;
        assert_int_equal(bundle_create(&req, NULL, NULL), 0);
        assert_int_equal(bundle_remove(empty, NULL), 0);
}

static void test_layer_gone(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dir = NULL, *layer = NULL;

        if (geteuid() != 0)
                skip();
        layer = layer_dir(f, f->diff_id);
        assert_int_equal(rmdir(layer), 0);
        dir = unit_path(f->dir, "b");
        create_fails(f, IMAGE, dir, ENOENT, "is missing (pull or import the image again)");
}

static void test_image_root_overlay_cannot_name(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *root = NULL, *dir = NULL;
        struct image_store *s = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        root = unit_path(f->dir, "img:root");
        assert_int_equal(image_store_open(root, &s, NULL), 0);
        put(s, EMPTY_ID, "example.com/pxt/empty:v1", NULL, 0);
        image_store_close(s);
        dir = unit_path(f->dir, "b");
        req = (struct bundle_request) { .image_root = root, .image = "example.com/pxt/empty:v1", .dir = dir };
        assert_int_equal(bundle_create(&req, NULL, &err), -EINVAL);
        assert_contains(err->msg, "Image root ");
        assert_contains(err->msg, "',' and ':' cannot be used in overlay mounts");
        assert_int_not_equal(access(dir, F_OK), 0);
        assert_false(mounted_under(f->dir));
}

/* An image without layers gets an empty lower directory. */
static void test_image_without_layers(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dir = NULL, *rootfs = NULL, *id = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        dir = unit_path(f->dir, "b");
        req = (struct bundle_request) { .image_root = f->root, .image = "example.com/pxt/empty:v1", .dir = dir };
        if (bundle_create(&req, &id, &err) < 0)
                fail_msg("%s", err->msg);
        assert_string_equal(id, EMPTY_ID);
        rootfs = unit_path(dir, "rootfs");
        assert_true(mounted_under(rootfs));
        assert_int_equal(unit_count_entries(rootfs), 0);
        assert_int_equal(bundle_remove(dir, NULL), 0);
        assert_false(mounted_under(f->dir));
        assert_int_equal(holders(f, EMPTY_ID), 0);
}

/* mount(2) copies a page of options, which 48 layer paths overflow: they go
 * to the kernel one by one (fsconfig "lowerdir+"), and the layers stack in
 * order (the top layer's file wins). */
static void test_more_layers_than_a_page(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dir = NULL, *rootfs = NULL, *top = NULL, *text = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        dir = unit_path(f->dir, "b");
        req = (struct bundle_request) { .image_root = f->root, .image = "example.com/pxt/deep:v1", .dir = dir };
        if (bundle_create(&req, NULL, &err) < 0)
                fail_msg("%s", err->msg);
        rootfs = unit_path(dir, "rootfs");
        assert_true(mounted_under(rootfs));
        top = unit_path(rootfs, "layer");
        text = unit_read(top);
        assert_string_equal(text, "47");
        assert_int_equal(bundle_remove(dir, NULL), 0);
        assert_false(mounted_under(f->dir));
}

/* More lower layers than overlayfs stacks: refused before any syscall. */
static void test_too_many_layers(void **state)
{
        struct fx *f = *state;
        char *lower[OVERLAY_MAX_LOWER + 1];
        _cleanup_free_ char *target = NULL;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        target = unit_path(f->dir, "never");
        for (size_t i = 0; i < ARRAY_SIZE(lower); i++)
                lower[i] = f->dir;
        assert_int_equal(overlay_mount(target, lower, ARRAY_SIZE(lower), f->dir, f->dir, &err), -E2BIG);
        assert_contains(err->msg, "501 layers, overlayfs stacks at most 500");
}

static int refuse(json_t *spec, void *data, struct pxe **err)
{
        bool *called = data;

        *called = json_is_object(json_object_get(spec, "process"));
        return pxe_set(err, EPERM, "pxt: refused by customize");
}

/* The customize step fails with the rootfs mounted: everything is undone. */
static void test_customize_fails(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dir = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL;
        bool called = false;

        if (geteuid() != 0)
                skip();
        dir = unit_path(f->dir, "b");
        req = (struct bundle_request) {
                .image_root = f->root, .image = IMAGE, .dir = dir, .customize = refuse, .customize_data = &called,
        };
        assert_int_equal(bundle_create(&req, NULL, &err), -EPERM);
        assert_true(called);
        assert_contains(err->msg, "pxt: refused by customize");
        assert_contains(err->msg, "Creating bundle ");
        assert_int_not_equal(access(dir, F_OK), 0);
        assert_false(mounted_under(f->dir));
        assert_int_equal(holders(f, IMAGE_ID), 0);
}

static void test_remove_refuses_what_is_not_a_bundle(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *plain = NULL, *kept = NULL, *fake = NULL, *marker = NULL;
        struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        plain = unit_path(f->dir, "plain");
        kept = unit_path(plain, "data");
        assert_int_equal(mkdir(plain, 0755), 0);
        unit_write(kept, "mine");
        assert_true(bundle_remove(plain, &err) < 0);
        assert_contains(err->msg, "is not a bundle made by pxcri bundle create");
        assert_int_equal(access(kept, F_OK), 0);
        pxe_free(err), err = NULL;
        fake = unit_path(f->dir, "fake");
        marker = unit_path(fake, "pxcri-bundle.json");
        assert_int_equal(mkdir(fake, 0755), 0);
        unit_write(marker, "{\"image_id\": \"" IMAGE_ID "\"}");
        assert_int_equal(bundle_remove(fake, &err), -EBADMSG);
        assert_contains(err->msg, "no image_root");
        assert_int_equal(access(marker, F_OK), 0);
        pxe_free(err);
}

/* A bundle directory removed by hand stops holding the image; holders that
 * are not paths (containers) stay. */
static void test_drop_stale_refs(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *gone = NULL, *live = NULL, *rootfs = NULL;
        struct bundle_request req;
        struct image_store *s = NULL;

        if (geteuid() != 0)
                skip();
        gone = unit_path(f->dir, "gone");
        live = unit_path(f->dir, "live");
        req = (struct bundle_request) { .image_root = f->root, .image = IMAGE, .dir = gone };
        assert_int_equal(bundle_create(&req, NULL, NULL), 0);
        req.dir = live;
        assert_int_equal(bundle_create(&req, NULL, NULL), 0);
        assert_int_equal(image_store_open(f->root, &s, NULL), 0);
        assert_int_equal(image_store_ref_add(s, "c0ffee", IMAGE_ID, NULL), 0);
        image_store_close(s);
        rootfs = unit_path(gone, "rootfs");
        assert_int_equal(umount2(rootfs, MNT_DETACH), 0);
        unit_rm_rf(gone);
        assert_int_equal(holders(f, IMAGE_ID), 3);
        assert_int_equal(bundle_drop_stale_refs(f->root, IMAGE_ID, NULL), 0);
        assert_int_equal(holders(f, IMAGE_ID), 2);
        assert_int_equal(bundle_remove(live, NULL), 0);
        assert_int_equal(holders(f, IMAGE_ID), 1);
}

/* ---- the spec from the image config (no root needed) ---- */

static char *generate_fails(const char *config, int rootfs_fd, const char *user)
{
        struct bundle_spec_request req = { .image_config = config, .rootfs_fd = rootfs_fd, .user = user };
        _cleanup_pxe_ struct pxe *err = NULL;
        json_t *spec = NULL;

        assert_true(bundle_spec_generate(&req, &spec, &err) < 0);
        assert_null(spec);
        return strdup(err->msg);
}

static void test_image_config_not_an_object(void **state)
{
        _cleanup_free_ char *a = generate_fails("[1, 2]", -1, NULL), *b = generate_fails("{\"config\":", -1, NULL),
                            *c = generate_fails(NULL, -1, NULL);

        assert_string_equal(a, "The image config is not a JSON object");
        assert_string_equal(b, "The image config is not a JSON object");
        assert_string_equal(c, "The image config is not a JSON object");
}

/* /etc/passwd must be a file of the image, not a directory or a FIFO. */
static void test_etc_files_that_are_not_files(void **state)
{
        _cleanup_free_ char *dir = unit_mkdtemp(), *etc = unit_path(dir, "etc"), *passwd = unit_path(etc, "passwd"),
                            *msg = NULL, *msg2 = NULL, *group = unit_path(etc, "group"), *msg3 = NULL;
        static const char cfg[] = "{\"config\":{\"Cmd\":[\"/bin/app\"]}}";
        int fd;

        assert_int_equal(mkdir(etc, 0755), 0);
        assert_int_equal(mkdir(passwd, 0755), 0);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        msg = generate_fails(cfg, fd, "pxt");
        assert_string_equal(msg, "The image's /etc/passwd is not a regular file of at most 4 MiB");
        assert_int_equal(rmdir(passwd), 0);
        assert_int_equal(mkfifo(passwd, 0644), 0);
        msg2 = generate_fails(cfg, fd, "pxt");
        assert_string_equal(msg2, "The image's /etc/passwd is not a regular file of at most 4 MiB");
        assert_int_equal(unlink(passwd), 0);
        unit_write(passwd, "pxt:x:1000:1000::/:/bin/sh\n");
        assert_int_equal(mkdir(group, 0755), 0);
        msg3 = generate_fails(cfg, fd, "pxt");
        assert_string_equal(msg3, "The image's /etc/group is not a regular file of at most 4 MiB");
        close(fd);
        unit_rm_rf(dir);
}

static void test_invalid_user_strings(void **state)
{
        static const char cfg[] = "{\"config\":{\"Cmd\":[\"/bin/app\"]}}";
        _cleanup_free_ char *a = generate_fails(cfg, -1, ":0"), *b = generate_fails(cfg, -1, "1000:");

        assert_string_equal(a, "Invalid user \":0\"");
        assert_string_equal(b, "Invalid user \"1000:\"");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_directory_names),
                T(test_directory_in_use),
                T(test_layer_gone),
                T(test_image_root_overlay_cannot_name),
                T(test_image_without_layers),
                T(test_more_layers_than_a_page),
                T(test_too_many_layers),
                T(test_customize_fails),
                T(test_remove_refuses_what_is_not_a_bundle),
                T(test_drop_stale_refs),
                cmocka_unit_test(test_image_config_not_an_object),
                cmocka_unit_test(test_etc_files_that_are_not_files),
                cmocka_unit_test(test_invalid_user_strings),
        };

        return unit_run(tests);
}
