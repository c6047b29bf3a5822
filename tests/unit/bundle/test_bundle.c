/* bundle/bundle: the library path the CRI server uses (a plain struct, no
 * CLI): overlay rootfs, config.json, the image reference, rollback.  Needs
 * root (overlay mounts); skipped otherwise. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "image/layers.h"
#include "image/store.h"
#include "util/cleanup.h"

#define IMAGE_ID "sha256:bbbb000000000000000000000000000000000000000000000000000000000001"

struct fx {
        char *dir, *root, *layer;
        char diff_id[80];
};

/* A one-layer image whose layer directory is written by hand. */
static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        struct image_store *s = NULL;
        char *etc, *p, *tags[] = { (char *) "example.com/pxt/unit:v1" };
        struct image_rec_layer l = { .diff_id = f->diff_id };
        struct image_rec rec = {
                .id = (char *) IMAGE_ID, .repo_tags = tags, .n_repo_tags = 1, .layers = &l, .n_layers = 1,
                .config = (char *) "{\"config\":{\"Cmd\":[\"/bin/app\"],\"User\":\"pxt\"}}",
        };

        if (geteuid() != 0) {
                *state = f;
                return 0;
        }
        f->dir = unit_mkdtemp();
        f->root = unit_path(f->dir, "images");
        snprintf(f->diff_id, sizeof(f->diff_id), "sha256:%064d", 7);
        assert_int_equal(image_store_open(f->root, &s, NULL), 0);
        f->layer = layers_path(f->root, f->diff_id);
        etc = unit_path(f->layer, "etc");
        assert_int_equal(mkdir(p = unit_path(f->root, "layers"), 0700), 0);
        free(p);
        assert_int_equal(mkdir(f->layer, 0755), 0);
        assert_int_equal(mkdir(etc, 0755), 0);
        unit_write(p = unit_path(etc, "passwd"), "root:x:0:0::/:/bin/sh\npxt:x:1000:1000::/:/bin/sh\n");
        free(p);
        free(etc);
        assert_int_equal(image_store_put(s, &rec, NULL), 0);
        image_store_close(s);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        if (f->dir)
                unit_rm_rf(f->dir);
        free(f->dir);
        free(f->root);
        free(f->layer);
        free(f);
        return 0;
}

static struct bundle_request request(struct fx *f, const char *dir)
{
        return (struct bundle_request) { .image_root = f->root, .image = "example.com/pxt/unit:v1", .dir = dir };
}

static size_t holders(struct fx *f)
{
        struct image_store *s = NULL;
        char **v = NULL;
        size_t n = 0;

        assert_int_equal(image_store_open(f->root, &s, NULL), 0);
        assert_int_equal(image_store_holders(s, IMAGE_ID, &v, &n, NULL), 0);
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        image_store_close(s);
        return n;
}

static void test_create_and_remove(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dir = NULL, *cfg = NULL, *text = NULL, *seen = NULL, *id = NULL, *rootfs_passwd = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (geteuid() != 0)
                skip();
        dir = unit_path(f->dir, "b");
        req = request(f, dir);
        if (bundle_create(&req, &id, &err) < 0)
                fail_msg("%s", err->msg);
        assert_string_equal(id, IMAGE_ID);
        text = unit_read(cfg = unit_path(dir, "config.json"));
        assert_contains(text, "\"/bin/app\"");
        assert_contains(text, "\"uid\":1000"); /* compact JSON */
        assert_contains(text, "example.com/pxt/unit:v1");
        seen = unit_read(rootfs_passwd = unit_path(dir, "rootfs/etc/passwd")); /* through the overlay */
        assert_contains(seen, "pxt:x:1000");
        assert_int_equal(holders(f), 1);
        assert_int_equal(bundle_remove(dir, NULL), 0);
        assert_int_not_equal(access(dir, F_OK), 0);
        assert_int_equal(holders(f), 0);
        assert_int_equal(access(f->layer, F_OK), 0); /* the layer stays */
}

static void test_failure_leaves_nothing(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *dir = NULL;
        struct bundle_request req;
        _cleanup_pxe_ struct pxe *err = NULL, *e2 = NULL;

        if (geteuid() != 0)
                skip();
        dir = unit_path(f->dir, "bad");
        req = request(f, dir);
        req.spec.user = "nosuchuser";
        assert_int_equal(bundle_create(&req, NULL, &err), -ENOENT);
        assert_contains(err->msg, "nosuchuser");
        assert_int_not_equal(access(dir, F_OK), 0);
        assert_int_equal(holders(f), 0);
        req = request(f, dir);
        req.image = "example.com/pxt/other:v1";
        assert_int_equal(bundle_create(&req, NULL, &e2), -ENOENT);
        assert_int_not_equal(access(dir, F_OK), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_and_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_leaves_nothing, setup, teardown),
        };

        return unit_run(tests);
}
