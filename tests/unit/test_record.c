/* state/record: per-container records under <root>/containers. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/record.h"
#include "util/fs.h"

struct fixture {
        char *base; /* scratch dir; root is <base>/root so escapes land in base */
        char *root;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        f->base = unit_mkdtemp();
        f->root = unit_path(f->base, "root");
        assert_int_equal(mkdir(f->root, 0700), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        unit_rm_rf(f->base);
        free(f->root);
        free(f->base);
        free(f);
        return 0;
}

static struct record sample(const char *id)
{
        return (struct record) {
                .id = (char *) id,
                .backend = BACKEND_PROXMOX,
                .bundle = (char *) "/run/bundles/x",
                .created = (char *) "2026-11-22T12:00:00.000000000Z",
                .reason = (char *) "runtime.routing[1] (image db-*)",
        };
}

static void create_closed(const char *root, const char *id)
{
        struct record r = sample(id);
        int fd = record_create(root, &r, NULL);

        assert_true(fd >= 0);
        close(fd);
}

static void test_create_load_roundtrip(void **state)
{
        struct fixture *f = *state;
        _cleanup_record_ struct record *got = NULL;

        create_closed(f->root, "c1");
        assert_int_equal(record_load(f->root, "c1", &got, NULL), 0);
        assert_string_equal(got->id, "c1");
        assert_int_equal(got->backend, BACKEND_PROXMOX);
        assert_string_equal(got->bundle, "/run/bundles/x");
        assert_string_equal(got->created, "2026-11-22T12:00:00.000000000Z");
        assert_string_equal(got->reason, "runtime.routing[1] (image db-*)");
}

static void test_create_without_optional_fields(void **state)
{
        struct fixture *f = *state;
        struct record r = { .id = (char *) "bare", .backend = BACKEND_CRUN };
        _cleanup_record_ struct record *got = NULL;
        int fd = record_create(f->root, &r, NULL);

        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(record_load(f->root, "bare", &got, NULL), 0);
        assert_int_equal(got->backend, BACKEND_CRUN);
        assert_null(got->bundle);
        assert_null(got->reason);
}

static void test_create_writes_private_files(void **state)
{
        struct fixture *f = *state;
        char *dir = unit_path(f->root, "containers"), *file = unit_path(dir, "c1.json");
        struct stat st;

        create_closed(f->root, "c1");
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        free(file);
        free(dir);
}

static void test_create_makes_missing_root(void **state)
{
        struct fixture *f = *state;
        char *root = unit_path(f->base, "new/root");
        _cleanup_record_ struct record *got = NULL;

        create_closed(root, "c1");
        assert_int_equal(record_load(root, "c1", &got, NULL), 0);
        free(root);
}

static void test_remove_then_load_is_enoent(void **state)
{
        struct fixture *f = *state;
        struct record *got = NULL;

        create_closed(f->root, "c1");
        assert_int_equal(record_remove(f->root, "c1", NULL), 0);
        assert_int_equal(record_load(f->root, "c1", &got, NULL), -ENOENT);
        assert_null(got);
}

static void test_remove_missing_is_fine(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(record_remove(f->root, "never", NULL), 0);
}

static void test_second_create_is_eexist(void **state)
{
        struct fixture *f = *state;
        _cleanup_pxe_ struct pxe *e = NULL;
        struct record r = sample("x");

        create_closed(f->root, "x");
        assert_int_equal(record_create(f->root, &r, &e), -EEXIST);
        assert_int_equal(e->code, EEXIST);
        assert_string_equal(e->msg, "container \"x\" already exists");
}

static void test_second_create_keeps_first_record(void **state)
{
        struct fixture *f = *state;
        struct record r = sample("x");
        _cleanup_record_ struct record *got = NULL;
        _cleanup_pxe_ struct pxe *e = NULL;

        create_closed(f->root, "x");
        r.backend = BACKEND_RUNC;
        r.bundle = (char *) "/other";
        assert_int_equal(record_create(f->root, &r, &e), -EEXIST);
        assert_int_equal(record_load(f->root, "x", &got, NULL), 0);
        assert_int_equal(got->backend, BACKEND_PROXMOX);
        assert_string_equal(got->bundle, "/run/bundles/x");
}

/* Regression (found by this test, fixed): record_create() calls pxe_freep(err) on -EEXIST, which dereferences
 * err, so callers passing err == NULL crash (record.c:50; container.c:105,
 * 195 and 212 do the same).  Expected: -EEXIST.  Fix: make pxe_freep()
 * accept NULL, as STYLE.md asks of destructors. */
static void test_second_create_without_err(void **state)
{
        struct fixture *f = *state;
        struct record r = sample("x");

        create_closed(f->root, "x");
        assert_int_equal(record_create(f->root, &r, NULL), -EEXIST);
}

static void test_busy_while_create_fd_open(void **state)
{
        struct fixture *f = *state;
        struct record r = sample("c1");
        int fd = record_create(f->root, &r, NULL);

        assert_true(fd >= 0);
        assert_true(record_busy(f->root, "c1"));
        close(fd);
        assert_false(record_busy(f->root, "c1"));
}

static void test_busy_false_without_record(void **state)
{
        struct fixture *f = *state;

        assert_false(record_busy(f->root, "nothing"));
}

static void test_load_while_busy_still_reads(void **state)
{
        struct fixture *f = *state;
        struct record r = sample("c1");
        _cleanup_record_ struct record *got = NULL;
        int fd = record_create(f->root, &r, NULL);

        assert_true(fd >= 0);
        assert_int_equal(record_load(f->root, "c1", &got, NULL), 0);
        close(fd);
}

/* Regression (found by this test, fixed): record_busy() builds a path from id without id_check(), so
 * "../name" opens and flocks files outside <root>/containers (record.h:
 * "IDs are validated before they touch a path").  Expected: false for an
 * invalid ID.  Fix: `if (!id_is_valid(id)) return false;` first. */
static void test_busy_refuses_invalid_id(void **state)
{
        struct fixture *f = *state;
        char *outside;
        int fd;

        outside = unit_path(f->root, "evil.json");
        create_closed(f->root, "other"); /* containers/ exists, so ".." resolves */
        unit_write(outside, "{}");
        fd = open(outside, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(flock(fd, LOCK_EX), 0);
        assert_false(record_busy(f->root, "../evil"));
        close(fd);
        free(outside);
}

static void test_load_missing_is_enoent(void **state)
{
        struct fixture *f = *state;
        _cleanup_pxe_ struct pxe *e = NULL;
        struct record *got = NULL;

        assert_int_equal(record_load(f->root, "nope", &got, &e), -ENOENT);
        assert_int_equal(e->code, ENOENT);
        assert_string_equal(e->msg, "container \"nope\" does not exist");
        assert_null(got);
}

static void write_record_file(struct fixture *f, const char *id, const char *text)
{
        char *dir = unit_path(f->root, "containers"), *name = NULL, *p;

        mkdir(dir, 0700);
        assert_true(asprintf(&name, "%s.json", id) > 0);
        p = unit_path(dir, name);
        unit_write(p, text);
        free(p);
        free(name);
        free(dir);
}

static void expect_corrupt(struct fixture *f, const char *text)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        struct record *got = NULL;

        write_record_file(f, "c1", text);
        assert_int_equal(record_load(f->root, "c1", &got, &e), -EIO);
        assert_null(got);
        assert_contains(e->msg, "\"c1\"");
        assert_contains(e->msg, "corrupt");
}

static void test_load_corrupt_json(void **state)
{
        expect_corrupt(*state, "{\"id\": \"c1\", \"backend\": ");
}

static void test_load_wrong_id_in_record(void **state)
{
        expect_corrupt(*state, "{\"id\": \"c2\", \"backend\": \"crun\"}");
}

static void test_load_unknown_backend_in_record(void **state)
{
        expect_corrupt(*state, "{\"id\": \"c1\", \"backend\": \"docker\"}");
}

static void test_load_record_without_backend(void **state)
{
        expect_corrupt(*state, "{\"id\": \"c1\"}");
}

static void test_create_invalid_id_touches_nothing(void **state)
{
        struct fixture *f = *state;
        _cleanup_pxe_ struct pxe *e = NULL;
        struct record r = sample("../evil");

        assert_int_equal(record_create(f->root, &r, &e), -EINVAL);
        assert_contains(e->msg, "../evil");
        assert_int_equal(unit_count_entries(f->root), 0); /* not even containers/ */
        assert_int_equal(unit_count_entries(f->base), 1); /* only root/ */
}

static void test_create_id_with_slash_refused(void **state)
{
        struct fixture *f = *state;
        struct record r = sample("a/b");

        assert_int_equal(record_create(f->root, &r, NULL), -EINVAL);
        assert_int_equal(unit_count_entries(f->root), 0);
}

static void test_load_invalid_id_refused(void **state)
{
        struct fixture *f = *state;
        char *outside = unit_path(f->root, "x.json");
        struct record *got = NULL;

        /* A well-formed record where "../x" would lead from containers/. */
        create_closed(f->root, "other");
        unit_write(outside, "{\"id\": \"../x\", \"backend\": \"crun\"}");
        assert_int_equal(record_load(f->root, "../x", &got, NULL), -EINVAL);
        assert_null(got);
        free(outside);
}

static void test_remove_invalid_id_refused(void **state)
{
        struct fixture *f = *state;
        char *outside = unit_path(f->root, "x.json");

        create_closed(f->root, "other"); /* containers/ exists, so ".." resolves */
        unit_write(outside, "{}");
        assert_int_equal(record_remove(f->root, "../x", NULL), -EINVAL);
        assert_true(fs_exists(outside));
        free(outside);
}

static void test_list_sorted(void **state)
{
        struct fixture *f = *state;
        char **ids = NULL;
        size_t n = 0;

        create_closed(f->root, "b");
        create_closed(f->root, "c2");
        create_closed(f->root, "a");
        create_closed(f->root, "c10");
        assert_int_equal(record_list(f->root, &ids, &n, NULL), 0);
        assert_int_equal(n, 4);
        assert_string_equal(ids[0], "a");
        assert_string_equal(ids[1], "b");
        assert_string_equal(ids[2], "c10");
        assert_string_equal(ids[3], "c2");
        record_ids_free(ids, n);
}

static void test_list_ignores_temp_and_junk(void **state)
{
        struct fixture *f = *state;
        char **ids = NULL;
        size_t n = 0;

        static const char *const junk[] = {
                "half.json.tmp-XyZ123", /* what a crashed fs_write_atomic() leaves */
                "README", ".json", "-bad.json", ".hidden.json", "x.txt", "a b.json",
        };
        char *dir = unit_path(f->root, "containers");

        create_closed(f->root, "real");
        for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
                char *p = unit_path(dir, junk[i]);

                unit_write(p, "{}");
                free(p);
        }
        free(dir);
        assert_int_equal(record_list(f->root, &ids, &n, NULL), 0);
        assert_int_equal(n, 1);
        assert_string_equal(ids[0], "real");
        record_ids_free(ids, n);
}

static void test_list_without_containers_dir_is_empty(void **state)
{
        struct fixture *f = *state;
        char **ids = (char **) &ids;
        size_t n = 99;

        assert_int_equal(record_list(f->root, &ids, &n, NULL), 0);
        assert_int_equal(n, 0);
        record_ids_free(ids, n);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_create_load_roundtrip),
                T(test_create_without_optional_fields),
                T(test_create_writes_private_files),
                T(test_create_makes_missing_root),
                T(test_remove_then_load_is_enoent),
                T(test_remove_missing_is_fine),
                T(test_second_create_is_eexist),
                T(test_second_create_keeps_first_record),
                T(test_second_create_without_err),
                T(test_busy_while_create_fd_open),
                T(test_busy_false_without_record),
                T(test_load_while_busy_still_reads),
                T(test_busy_refuses_invalid_id),
                T(test_load_missing_is_enoent),
                T(test_load_corrupt_json),
                T(test_load_wrong_id_in_record),
                T(test_load_unknown_backend_in_record),
                T(test_load_record_without_backend),
                T(test_create_invalid_id_touches_nothing),
                T(test_create_id_with_slash_refused),
                T(test_load_invalid_id_refused),
                T(test_remove_invalid_id_refused),
                T(test_list_sorted),
                T(test_list_ignores_temp_and_junk),
                T(test_list_without_containers_dir_is_empty),
        };

        return unit_run(tests);
}
