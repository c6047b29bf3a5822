#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/blobstore.h"
#include "unit.h"

#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ZERO "sha256:0000000000000000000000000000000000000000000000000000000000000000"

struct fixture {
        char *dir;
        struct blobstore *bs;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        f->dir = unit_mkdtemp();
        assert_int_equal(blobstore_open(f->dir, &f->bs, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        blobstore_free(f->bs);
        unit_rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

static size_t blobs_count(struct fixture *f)
{
        char *p = unit_path(f->dir, "blobs/sha256");
        size_t n = unit_count_entries(p);

        free(p);
        return n;
}

static void test_put_read_remove(void **state)
{
        struct fixture *f = *state;
        char *data = NULL, *path;
        size_t len = 0;

        assert_false(blobstore_has(f->bs, ABC));
        assert_int_equal(blobstore_put(f->bs, ABC, "abc", 3, NULL), 0);
        assert_true(blobstore_has(f->bs, ABC));
        assert_int_equal(blobstore_put(f->bs, ABC, "abc", 3, NULL), 0); /* idempotent */
        path = blobstore_path(f->bs, ABC);
        assert_non_null(path);
        assert_contains(path, "/blobs/sha256/" ABC_HEX);
        free(path);
        assert_int_equal(blobstore_read(f->bs, ABC, 100, &data, &len, NULL), 0);
        assert_int_equal(len, 3);
        assert_string_equal(data, "abc");
        free(data);
        assert_int_equal(blobstore_remove(f->bs, ABC, NULL), 0);
        assert_false(blobstore_has(f->bs, ABC));
        assert_int_equal(blobstore_remove(f->bs, ABC, NULL), 0);
        assert_null(blobstore_path(f->bs, "sha256:nope"));
}

static void test_refuses_bad_content(void **state)
{
        struct fixture *f = *state;
        struct pxe *e = NULL;
        char *ingest;

        assert_int_equal(blobstore_put(f->bs, ABC, "abd", 3, &e), -EBADMSG);
        assert_contains(e->msg, "failed verification");
        pxe_free(e);
        e = NULL;
        assert_int_equal(blobstore_put(f->bs, ABC, "abcd", 4, &e), -EBADMSG); /* size mismatch vs. digest */
        pxe_free(e);
        assert_false(blobstore_has(f->bs, ABC));
        assert_int_equal(blobs_count(f), 0);
        ingest = unit_path(f->dir, "ingest");
        assert_int_equal(unit_count_entries(ingest), 0);
        free(ingest);
}

static void test_truncated_and_too_large(void **state)
{
        struct fixture *f = *state;
        struct blob_ingest *in = NULL;
        struct pxe *e = NULL;

        assert_int_equal(blobstore_ingest_begin(f->bs, ABC, 3, &in, NULL), 0);
        assert_int_equal(blobstore_ingest_write(in, "ab", 2, NULL), 0);
        assert_int_equal(blobstore_ingest_commit(in, &e), -EBADMSG);
        assert_contains(e->msg, "truncated");
        pxe_free(e);
        e = NULL;
        blobstore_ingest_end(in, true);
        assert_false(blobstore_has(f->bs, ABC));

        assert_int_equal(blobstore_ingest_begin(f->bs, ABC, 3, &in, NULL), 0);
        assert_int_equal(in->offset, 0); /* a failed commit removed the partial */
        assert_int_equal(blobstore_ingest_write(in, "abcd", 4, &e), -EFBIG);
        pxe_free(e);
        blobstore_ingest_end(in, false);
        assert_int_equal(blobs_count(f), 0);
}

static void test_resume(void **state)
{
        struct fixture *f = *state;
        struct blob_ingest *in = NULL;
        char *partial;

        assert_int_equal(blobstore_ingest_begin(f->bs, ABC, 3, &in, NULL), 0);
        assert_int_equal(blobstore_ingest_write(in, "a", 1, NULL), 0);
        blobstore_ingest_end(in, true); /* interrupted */
        partial = unit_path(f->dir, "ingest/" ABC_HEX ".partial");
        assert_true(access(partial, F_OK) == 0);
        assert_false(blobstore_has(f->bs, ABC));

        assert_int_equal(blobstore_ingest_begin(f->bs, ABC, 3, &in, NULL), 0);
        assert_int_equal(in->offset, 1);
        assert_int_equal(blobstore_ingest_write(in, "bc", 2, NULL), 0);
        assert_int_equal(blobstore_ingest_commit(in, NULL), 0);
        blobstore_ingest_end(in, true);
        assert_true(blobstore_has(f->bs, ABC));
        assert_false(access(partial, F_OK) == 0);
        free(partial);
        assert_int_equal(blobstore_ingest_begin(f->bs, ABC, 3, &in, NULL), 1);
}

struct racer {
        struct blobstore *bs;
        int result;
        double waited;
};

static void *second(void *arg)
{
        struct racer *r = arg;
        struct blob_ingest *in = NULL;
        double t0 = unit_now();

        r->result = blobstore_ingest_begin(r->bs, ABC, 3, &in, NULL);
        r->waited = unit_now() - t0;
        if (r->result == 0)
                blobstore_ingest_end(in, false);
        return NULL;
}

/* What an interrupted ingest kept goes with blobstore_clean_ingest (prune's);
 * verified blobs stay. */
static void test_clean_ingest(void **state)
{
        struct fixture *f = *state;
        struct blob_ingest *in = NULL;
        char *ingest = unit_path(f->dir, "ingest");
        size_t removed = 99;

        assert_int_equal(blobstore_put(f->bs, ABC, "abc", 3, NULL), 0);
        assert_int_equal(blobstore_ingest_begin(f->bs, ZERO, 3, &in, NULL), 0);
        assert_int_equal(blobstore_ingest_write(in, "x", 1, NULL), 0);
        blobstore_ingest_end(in, true); /* interrupted: .partial and .lock kept */
        assert_int_equal(unit_count_entries(ingest), 2);
        assert_int_equal(blobstore_clean_ingest(f->bs, &removed, NULL), 0);
        assert_int_equal(removed, 1);
        assert_int_equal(unit_count_entries(ingest), 0);
        assert_true(blobstore_has(f->bs, ABC));
        free(ingest);
}

static void test_concurrent_once(void **state)
{
        struct fixture *f = *state;
        struct blob_ingest *in = NULL;
        struct racer r = { .bs = f->bs, .result = -1 };
        pthread_t th;

        assert_int_equal(blobstore_ingest_begin(f->bs, ABC, 3, &in, NULL), 0);
        assert_int_equal(pthread_create(&th, NULL, second, &r), 0);
        usleep(200 * 1000);
        assert_int_equal(blobstore_ingest_write(in, "abc", 3, NULL), 0);
        assert_int_equal(blobstore_ingest_commit(in, NULL), 0);
        blobstore_ingest_end(in, true);
        pthread_join(th, NULL);
        assert_int_equal(r.result, 1); /* waited, then found it */
        assert_true(r.waited >= 0.15);
}

static void test_bad_digest_arg(void **state)
{
        struct fixture *f = *state;
        struct blob_ingest *in = NULL;
        struct pxe *e = NULL;

        assert_int_equal(blobstore_ingest_begin(f->bs, "sha256:../../etc", 3, &in, &e), -EINVAL);
        pxe_free(e);
        assert_false(blobstore_has(f->bs, "sha256:../x"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_put_read_remove, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_bad_content, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_and_too_large, setup, teardown),
                cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clean_ingest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_digest_arg, setup, teardown),
        };

        return unit_run(tests);
}
