/* image/layers: unpacked once, atomically, concurrently; removal that never follows links. */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/layers.h"
#include "tarbuild.h"
#include "util/cleanup.h"

struct fx {
        char *dir, *root, *tar;
        char diff_id[80], digest[80];
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        const struct tar_entry e[] = { { .path = "etc/hostname", .data = "layer\n" } };
        char *plain;

        f->dir = unit_mkdtemp();
        f->root = unit_path(f->dir, "images");
        f->tar = unit_path(f->dir, "layer.tar.gz");
        plain = unit_path(f->dir, "layer.tar");
        tar_build(plain, e, ARRAY_SIZE(e), NULL);
        tar_digest_file(plain, f->diff_id);
        tar_build(f->tar, e, ARRAY_SIZE(e), "gzip");
        tar_digest_file(f->tar, f->digest);
        free(plain);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        unit_rm_rf(f->dir);
        free(f->dir);
        free(f->root);
        free(f->tar);
        free(f);
        return 0;
}

static void test_ensure_once(void **state)
{
        struct fx *f = *state;
        struct layer_source src = { .blob_path = f->tar, .digest = f->digest, .diff_id = f->diff_id };
        _cleanup_free_ char *path = NULL, *file = NULL, *text = NULL;
        struct stat a, b;

        assert_false(layers_has(f->root, f->diff_id));
        assert_int_equal(layers_ensure(f->root, &src, false, &path, NULL), 0);
        assert_true(layers_has(f->root, f->diff_id));
        assert_non_null(strstr(path, f->diff_id + 7));
        file = unit_path(path, "etc/hostname");
        text = unit_read(file);
        assert_string_equal(text, "layer\n");
        assert_int_equal(stat(file, &a), 0);
        src.blob_path = "/nonexistent"; /* present: not read again */
        assert_int_equal(layers_ensure(f->root, &src, false, NULL, NULL), 0);
        assert_int_equal(stat(file, &b), 0);
        assert_int_equal(a.st_ino, b.st_ino);
}

static void test_bad_digest_leaves_nothing(void **state)
{
        struct fx *f = *state;
        struct layer_source src = { .blob_path = f->tar, .digest = f->digest, .diff_id = f->diff_id };
        _cleanup_pxe_ struct pxe *err = NULL;
        _cleanup_free_ char *layers = unit_path(f->root, "layers");
        char wrong[80];

        snprintf(wrong, sizeof(wrong), "sha256:%064d", 1);
        src.digest = wrong;
        assert_int_equal(layers_ensure(f->root, &src, false, NULL, &err), -EBADMSG);
        assert_contains(err->msg, "Unpacking layer");
        assert_false(layers_has(f->root, f->diff_id));
        assert_int_equal(unit_count_entries(layers), 1); /* the lock file only */
}

struct race {
        struct fx *f;
        int rc;
};

static void *race_thread(void *arg)
{
        struct race *r = arg;
        struct layer_source src = { .blob_path = r->f->tar, .digest = r->f->digest, .diff_id = r->f->diff_id };

        r->rc = layers_ensure(r->f->root, &src, false, NULL, NULL);
        return NULL;
}

static void test_concurrent_ensure(void **state)
{
        struct fx *f = *state;
        struct race r[6];
        pthread_t t[6];
        _cleanup_free_ char *layers = unit_path(f->root, "layers");

        for (int i = 0; i < 6; i++) {
                r[i] = (struct race) { .f = f, .rc = -1 };
                assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
        }
        for (int i = 0; i < 6; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(r[i].rc, 0);
        }
        assert_int_equal(unit_count_entries(layers), 2); /* the layer and its lock */
}

static void test_list_and_remove(void **state)
{
        struct fx *f = *state;
        struct layer_source src = { .blob_path = f->tar, .digest = f->digest, .diff_id = f->diff_id };
        char **v = NULL;
        size_t n = 0;

        assert_int_equal(layers_ensure(f->root, &src, false, NULL, NULL), 0);
        assert_int_equal(layers_list(f->root, &v, &n, NULL), 0);
        assert_int_equal(n, 1);
        assert_string_equal(v[0], f->diff_id);
        layers_strv_free(v, n);
        assert_int_equal(layers_remove(f->root, f->diff_id, NULL), 0);
        assert_false(layers_has(f->root, f->diff_id));
        assert_int_equal(layers_remove(f->root, f->diff_id, NULL), 0);
}

static void test_clean_leftovers(void **state)
{
        struct fx *f = *state;
        struct layer_source src = { .blob_path = f->tar, .digest = f->digest, .diff_id = f->diff_id };
        _cleanup_free_ char *layers = unit_path(f->root, "layers"), *tmp = unit_path(layers, ".tmp-x-123456"),
                            *stale = unit_path(layers, "." "0000000000000000000000000000000000000000000000000000000000000000" ".lock"),
                            *in_tmp = unit_path(tmp, "file");

        assert_int_equal(layers_ensure(f->root, &src, false, NULL, NULL), 0);
        assert_int_equal(mkdir(tmp, 0700), 0);
        unit_write(in_tmp, "partial");
        unit_write(stale, "");
        assert_int_equal(unit_count_entries(layers), 4);
        assert_int_equal(layers_clean(f->root, NULL), 0);
        assert_int_equal(unit_count_entries(layers), 2); /* the layer and its lock */
        assert_true(layers_has(f->root, f->diff_id));
}

static void test_rm_tree_does_not_follow_symlinks(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *victim = unit_path(f->dir, "victim"), *keep = unit_path(victim, "keep");
        _cleanup_free_ char *tree = unit_path(f->dir, "tree"), *sub = unit_path(tree, "sub"),
                            *link = unit_path(sub, "link");

        assert_int_equal(mkdir(victim, 0755), 0);
        unit_write(keep, "keep");
        assert_int_equal(mkdir(tree, 0755), 0);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(symlink(victim, link), 0);
        assert_int_equal(layers_rm_tree(tree, NULL), 0);
        assert_int_not_equal(access(tree, F_OK), 0);
        assert_int_equal(access(keep, F_OK), 0);
        assert_int_equal(layers_rm_tree(tree, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_ensure_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_digest_leaves_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_ensure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_and_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clean_leftovers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rm_tree_does_not_follow_symlinks, setup, teardown),
        };

        return unit_run(tests);
}
