/* image/store: records, lookups, references, prune. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/import.h"
#include "image/layers.h"
#include "image/store.h"
#include "tarbuild.h"
#include "util/cleanup.h"

#define ID_A "sha256:aaaa1111000000000000000000000000000000000000000000000000000000a1"
#define ID_B "sha256:aaaa2222000000000000000000000000000000000000000000000000000000b2"
#define DIFF_1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"

struct fx {
        char *dir;
        struct image_store *s;
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));

        f->dir = unit_mkdtemp();
        assert_int_equal(image_store_open(f->dir, &f->s, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        image_store_close(f->s);
        unit_rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static void put(struct fx *f, const char *id, const char *tag, const char *repo_digest, const char *diff_id)
{
        char *tags[] = { (char *) tag }, *digests[] = { (char *) repo_digest };
        struct image_rec_layer l = { .digest = (char *) diff_id, .diff_id = (char *) diff_id, .size = 10 };
        struct image_rec rec = {
                .id = (char *) id,
                .repo_tags = tags,
                .n_repo_tags = tag ? 1 : 0,
                .repo_digests = digests,
                .n_repo_digests = repo_digest ? 1 : 0,
                .size = 42,
                .config = (char *) "{\"config\":{\"Cmd\":[\"sh\"]}}",
                .layers = &l,
                .n_layers = diff_id ? 1 : 0,
        };

        assert_int_equal(image_store_put(f->s, &rec, NULL), 0);
}

static void expect_found(struct fx *f, const char *ref, const char *id)
{
        _cleanup_image_rec_ struct image_rec *r = NULL;
        _cleanup_pxe_ struct pxe *err = NULL;

        if (image_store_get(f->s, ref, &r, &err) < 0)
                fail_msg("%s: %s", ref, err->msg);
        assert_string_equal(r->id, id);
}

static void test_lookups(void **state)
{
        struct fx *f = *state;
        _cleanup_pxe_ struct pxe *err = NULL, *amb = NULL;
        _cleanup_image_rec_ struct image_rec *r = NULL;

        put(f, ID_A, "docker.io/library/busybox:latest", "docker.io/library/busybox@" DIFF_1, DIFF_1);
        put(f, ID_B, "example.com/app:1", NULL, NULL);
        expect_found(f, ID_A, ID_A);
        expect_found(f, "aaaa1111", ID_A);
        expect_found(f, "sha256:aaaa2222", ID_B);
        expect_found(f, "docker.io/library/busybox:latest", ID_A);
        expect_found(f, "busybox", ID_A);
        expect_found(f, "library/busybox:latest", ID_A);
        expect_found(f, "docker.io/library/busybox@" DIFF_1, ID_A);
        expect_found(f, "example.com/app:1", ID_B);
        assert_int_equal(image_store_get(f->s, "aaaa", &r, &amb), -EINVAL);
        assert_contains(amb->msg, "ambiguous");
        assert_int_equal(image_store_get(f->s, "nothere", &r, &err), -ENOENT);
        assert_contains(err->msg, "Image nothere not found");
}

static void test_record_fields_and_tag_move(void **state)
{
        struct fx *f = *state;
        _cleanup_image_rec_ struct image_rec *a = NULL, *b = NULL;
        struct image_rec **v = NULL;
        size_t n = 0;

        put(f, ID_A, "x.io/app:1", NULL, DIFF_1);
        assert_int_equal(image_store_get(f->s, "x.io/app:1", &a, NULL), 0);
        assert_int_equal(a->size, 42);
        assert_int_equal(a->n_layers, 1);
        assert_string_equal(a->layers[0].diff_id, DIFF_1);
        assert_contains(a->config, "\"Cmd\"");
        put(f, ID_B, "x.io/app:1", NULL, NULL); /* the tag moves */
        assert_int_equal(image_store_get(f->s, "x.io/app:1", &b, NULL), 0);
        assert_string_equal(b->id, ID_B);
        assert_int_equal(image_store_list(f->s, &v, &n, NULL), 0);
        assert_int_equal(n, 2);
        image_rec_list_free(v, n);
}

static void test_in_use_refused_unless_forced(void **state)
{
        struct fx *f = *state;
        _cleanup_pxe_ struct pxe *err = NULL, *e2 = NULL;
        _cleanup_image_rec_ struct image_rec *r = NULL;

        put(f, ID_A, "x.io/app:1", NULL, NULL);
        assert_int_equal(image_store_ref_add(f->s, "/b/one", ID_A, NULL), 0);
        assert_int_equal(image_store_remove(f->s, ID_A, false, &err), -EBUSY);
        assert_contains(err->msg, "in use by /b/one");
        assert_int_equal(image_store_ref_drop(f->s, "/b/one", NULL), 0);
        assert_int_equal(image_store_ref_add(f->s, "/b/two", ID_A, NULL), 0);
        assert_int_equal(image_store_remove(f->s, ID_A, true, NULL), 0);
        assert_int_equal(image_store_get(f->s, "x.io/app:1", &r, NULL), -ENOENT);
        assert_int_equal(image_store_ref_add(f->s, "/b/three", ID_A, &e2), -ENOENT);
}

static void test_prune_keeps_used_layers(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e1[] = { { .path = "one", .data = "1" } }, e2[] = { { .path = "two", .data = "2" } };
        _cleanup_free_ char *t1 = unit_path(f->dir, "1.tar"), *t2 = unit_path(f->dir, "2.tar");
        char d1[80], d2[80];
        struct layer_source s1 = { .blob_path = t1, .diff_id = d1 }, s2 = { .blob_path = t2, .diff_id = d2 };
        struct image_prune_report rep;

        tar_build(t1, e1, 1, NULL);
        tar_build(t2, e2, 1, NULL);
        tar_digest_file(t1, d1);
        tar_digest_file(t2, d2);
        assert_int_equal(layers_ensure(f->dir, &s1, false, NULL, NULL), 0);
        assert_int_equal(layers_ensure(f->dir, &s2, false, NULL, NULL), 0);
        put(f, ID_A, "x.io/app:1", NULL, d1);
        assert_int_equal(image_prune(f->dir, NULL, &rep, NULL), 0);
        assert_int_equal(rep.layers_removed, 1);
        assert_true(layers_has(f->dir, d1));
        assert_false(layers_has(f->dir, d2));
        assert_int_equal(image_store_remove(f->s, ID_A, false, NULL), 0);
        assert_int_equal(image_prune(f->dir, NULL, &rep, NULL), 0);
        assert_int_equal(rep.layers_removed, 1);
        assert_false(layers_has(f->dir, d1));
}

static void test_untag(void **state)
{
        struct fx *f = *state;
        _cleanup_image_rec_ struct image_rec *r = NULL;

        put(f, ID_A, "docker.io/library/busybox:latest", NULL, NULL);
        put(f, ID_A, "x.io/app:1", NULL, NULL);
        assert_int_equal(image_store_untag(f->s, "busybox", NULL), 1);
        assert_int_equal(image_store_untag(f->s, "busybox", NULL), 0);
        assert_int_equal(image_store_untag(f->s, ID_A, NULL), 0);
        assert_int_equal(image_store_get(f->s, ID_A, &r, NULL), 0);
        assert_int_equal(r->n_repo_tags, 1);
        assert_string_equal(r->repo_tags[0], "x.io/app:1");
}

static void test_json(void **state)
{
        struct fx *f = *state;
        _cleanup_image_rec_ struct image_rec *r = NULL;
        _cleanup_free_ char *j = NULL;

        put(f, ID_A, "x.io/app:1", NULL, DIFF_1);
        assert_int_equal(image_store_get(f->s, ID_A, &r, NULL), 0);
        j = image_rec_to_json(r);
        assert_contains(j, "\"repo_tags\"");
        assert_contains(j, "x.io/app:1");
        assert_contains(j, DIFF_1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
                cmocka_unit_test_setup_teardown(test_record_fields_and_tag_move, setup, teardown),
                cmocka_unit_test_setup_teardown(test_in_use_refused_unless_forced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prune_keeps_used_layers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_untag, setup, teardown),
                cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        };

        return unit_run(tests);
}
