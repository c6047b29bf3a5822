/* util/fs: directories, bounded reads, atomic and exclusive writes. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"

static int setup(void **state)
{
        *state = unit_mkdtemp();
        return 0;
}

static int teardown(void **state)
{
        unit_rm_rf(*state);
        free(*state);
        return 0;
}

static void test_mkdir_p_nested(void **state)
{
        char *p = unit_path(*state, "a/b/c");
        struct stat st;

        assert_int_equal(fs_mkdir_p(p, 0750, NULL), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        free(p);
}

static void test_mkdir_p_applies_mode(void **state)
{
        char *p = unit_path(*state, "m/n");
        mode_t old = umask(0);
        struct stat st;

        assert_int_equal(fs_mkdir_p(p, 0710, NULL), 0);
        umask(old);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0710);
        free(p);
}

static void test_mkdir_p_existing_is_fine(void **state)
{
        char *p = unit_path(*state, "x/y");

        assert_int_equal(fs_mkdir_p(p, 0700, NULL), 0);
        assert_int_equal(fs_mkdir_p(p, 0700, NULL), 0);
        assert_true(fs_dir_exists(p));
        free(p);
}

static void test_mkdir_p_trailing_slash(void **state)
{
        char *p = unit_path(*state, "t/u/");

        assert_int_equal(fs_mkdir_p(p, 0700, NULL), 0);
        assert_true(fs_dir_exists(p));
        free(p);
}

static void test_mkdir_p_file_in_the_way_of_a_parent(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *file = unit_path(*state, "f");
        char *p = unit_path(*state, "f/sub");

        unit_write(file, "x");
        assert_int_equal(fs_mkdir_p(p, 0700, &e), -ENOTDIR);
        assert_contains(e->msg, p);
        free(file);
        free(p);
}

/* Regression (found by this test, fixed): fs_mkdir_p() treats EEXIST from mkdir() of the last component as
 * success without checking that it is a directory, so it returns 0 when path
 * is a regular file.  Expected: -ENOTDIR (or -EEXIST) naming the path. */
static void test_mkdir_p_file_at_path_fails(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *p;

        p = unit_path(*state, "plain");
        unit_write(p, "x");
        assert_true(fs_mkdir_p(p, 0700, &e) < 0);
        assert_non_null(e);
        free(p);
}

static void test_read_file_content_and_length(void **state)
{
        char *p = unit_path(*state, "r"), *buf = NULL;
        size_t len = 0;

        unit_write(p, "hello\nworld");
        assert_int_equal(fs_read_file(p, 1024, &buf, &len, NULL), 0);
        assert_int_equal(len, 11);
        assert_string_equal(buf, "hello\nworld");
        free(buf);
        free(p);
}

static void test_read_file_keeps_nul_bytes(void **state)
{
        char *p = unit_path(*state, "bin"), *buf = NULL;
        const char data[] = { 'a', '\0', 'b' };
        size_t len = 0;

        assert_int_equal(fs_write_atomic(p, data, sizeof(data), 0600, NULL), 0);
        assert_int_equal(fs_read_file(p, 16, &buf, &len, NULL), 0);
        assert_int_equal(len, 3);
        assert_memory_equal(buf, data, 3);
        assert_int_equal(buf[3], '\0');
        free(buf);
        free(p);
}

static void test_read_file_empty(void **state)
{
        char *p = unit_path(*state, "empty"), *buf = NULL;
        size_t len = 99;

        unit_write(p, "");
        assert_int_equal(fs_read_file(p, 16, &buf, &len, NULL), 0);
        assert_int_equal(len, 0);
        assert_string_equal(buf, "");
        free(buf);
        free(p);
}

static void test_read_file_exactly_max_is_allowed(void **state)
{
        char *p = unit_path(*state, "max"), *buf = NULL;

        unit_write(p, "12345678");
        assert_int_equal(fs_read_file(p, 8, &buf, NULL, NULL), 0);
        assert_string_equal(buf, "12345678");
        free(buf);
        free(p);
}

static void test_read_file_over_max_is_efbig(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *p = unit_path(*state, "big"), *buf = (char *) "untouched";

        unit_write(p, "123456789");
        assert_int_equal(fs_read_file(p, 8, &buf, NULL, &e), -EFBIG);
        assert_contains(e->msg, p);
        assert_string_equal(buf, "untouched"); /* ret not written on failure */
        free(p);
}

/* Regression (found by this test, fixed): fs_read_file() sizes its first buffer from st_size and reads the
 * whole file before comparing with max, so a huge file costs its full size
 * in memory even when max is small (CONFIG_MAX_SIZE is 1 MiB, but
 * PXCRI_CONFIG may name anything).  Expected: -EFBIG from st_size up front,
 * and an initial buffer of at most max + 1 bytes. */
static void test_read_file_over_max_does_not_load_it(void **state)
{
        const off_t size = 256 << 20;
        char *p, *buf = NULL;
        struct rusage before, after;
        int fd;

        p = unit_path(*state, "sparse");
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0); /* sparse: no disk used */
        close(fd);
        getrusage(RUSAGE_SELF, &before);
        assert_int_equal(fs_read_file(p, 16, &buf, NULL, NULL), -EFBIG);
        getrusage(RUSAGE_SELF, &after);
        assert_true((after.ru_maxrss - before.ru_maxrss) * 1024L < size / 4);
        free(p);
}

static void test_read_file_directory_is_einval(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *buf = NULL;

        assert_int_equal(fs_read_file(*state, 1024, &buf, NULL, &e), -EINVAL);
        assert_contains(e->msg, "not a regular file");
        assert_null(buf);
}

static void test_read_file_missing_is_enoent(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *p = unit_path(*state, "missing"), *buf = NULL;

        assert_int_equal(fs_read_file(p, 1024, &buf, NULL, &e), -ENOENT);
        assert_int_equal(e->code, ENOENT);
        assert_contains(e->msg, p);
        assert_null(buf);
        free(p);
}

static void test_write_atomic_creates(void **state)
{
        char *p = unit_path(*state, "w"), *text;

        assert_int_equal(fs_write_atomic(p, "one", 3, 0600, NULL), 0);
        text = unit_read(p);
        assert_string_equal(text, "one");
        free(text);
        free(p);
}

static void test_write_atomic_replaces_content(void **state)
{
        char *p = unit_path(*state, "w"), *text;

        unit_write(p, "a much longer old content");
        assert_int_equal(fs_write_atomic(p, "new", 3, 0600, NULL), 0);
        text = unit_read(p);
        assert_string_equal(text, "new");
        free(text);
        free(p);
}

static void test_write_atomic_leaves_no_temp_files(void **state)
{
        char *p = unit_path(*state, "w");

        assert_int_equal(fs_write_atomic(p, "1", 1, 0600, NULL), 0);
        assert_int_equal(fs_write_atomic(p, "2", 1, 0600, NULL), 0);
        assert_int_equal(unit_count_entries(*state), 1);
        free(p);
}

static void test_write_atomic_sets_mode_despite_umask(void **state)
{
        char *p = unit_path(*state, "w");
        mode_t old = umask(077);
        struct stat st;

        assert_int_equal(fs_write_atomic(p, "x", 1, 0644, NULL), 0);
        umask(old);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        free(p);
}

static void test_write_atomic_replaces_mode_of_existing(void **state)
{
        char *p = unit_path(*state, "w");
        struct stat st;

        assert_int_equal(fs_write_atomic(p, "x", 1, 0644, NULL), 0);
        assert_int_equal(fs_write_atomic(p, "y", 1, 0600, NULL), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        free(p);
}

static void test_write_atomic_replaces_symlink_not_target(void **state)
{
        char *target = unit_path(*state, "target"), *link = unit_path(*state, "link"), *text;
        struct stat st;

        unit_write(target, "keep");
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(fs_write_atomic(link, "new", 3, 0600, NULL), 0);
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        text = unit_read(target);
        assert_string_equal(text, "keep");
        free(text);
        free(target);
        free(link);
}

static void test_write_atomic_missing_dir_fails(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *p = unit_path(*state, "nodir/w");

        assert_int_equal(fs_write_atomic(p, "x", 1, 0600, &e), -ENOENT);
        assert_non_null(e);
        assert_int_equal(unit_count_entries(*state), 0);
        free(p);
}

static void test_create_exclusive_writes_content_and_mode(void **state)
{
        char *p = unit_path(*state, "c"), *text;
        struct stat st;
        int fd;

        fd = fs_create_exclusive_locked(p, "data", 4, 0640, NULL);
        assert_true(fd >= 0);
        text = unit_read(p);
        assert_string_equal(text, "data");
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        close(fd);
        free(text);
        free(p);
}

static void test_create_exclusive_holds_lock(void **state)
{
        char *p = unit_path(*state, "c");
        int fd, other;

        fd = fs_create_exclusive_locked(p, "data", 4, 0600, NULL);
        assert_true(fd >= 0);
        other = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(other >= 0);
        assert_int_equal(flock(other, LOCK_SH | LOCK_NB), -1);
        assert_int_equal(errno, EWOULDBLOCK);
        close(fd);
        assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
        close(other);
        free(p);
}

static void test_create_exclusive_fd_is_cloexec(void **state)
{
        char *p = unit_path(*state, "c");
        int fd = fs_create_exclusive_locked(p, "d", 1, 0600, NULL);

        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        close(fd);
        free(p);
}

static void test_create_exclusive_existing_is_eexist(void **state)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *p = unit_path(*state, "c");

        unit_write(p, "old");
        assert_int_equal(fs_create_exclusive_locked(p, "new", 3, 0600, &e), -EEXIST);
        assert_int_equal(e->code, EEXIST);
        assert_contains(e->msg, p);
        free(p);
}

static void test_create_exclusive_existing_is_untouched(void **state)
{
        char *p = unit_path(*state, "c"), *text;

        unit_write(p, "old");
        assert_int_equal(fs_create_exclusive_locked(p, "new", 3, 0600, NULL), -EEXIST);
        text = unit_read(p);
        assert_string_equal(text, "old");
        assert_int_equal(unit_count_entries(*state), 1); /* no temp file left */
        free(text);
        free(p);
}

static void test_create_exclusive_leaves_no_temp_file(void **state)
{
        char *p = unit_path(*state, "c");
        int fd = fs_create_exclusive_locked(p, "d", 1, 0600, NULL);

        assert_true(fd >= 0);
        assert_int_equal(unit_count_entries(*state), 1);
        close(fd);
        free(p);
}

static void test_exists_does_not_follow_symlinks(void **state)
{
        char *link = unit_path(*state, "dangling");

        assert_int_equal(symlink("/nonexistent/pxcri", link), 0);
        assert_true(fs_exists(link));
        assert_false(fs_exists("/nonexistent/pxcri"));
        free(link);
}

static void test_dir_exists_follows_symlinks_and_rejects_files(void **state)
{
        char *link = unit_path(*state, "dirlink"), *file = unit_path(*state, "file");

        assert_int_equal(symlink(*state, link), 0);
        unit_write(file, "");
        assert_true(fs_dir_exists(link));
        assert_false(fs_dir_exists(file));
        assert_false(fs_dir_exists("/nonexistent/pxcri"));
        free(link);
        free(file);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_mkdir_p_nested),
                T(test_mkdir_p_applies_mode),
                T(test_mkdir_p_existing_is_fine),
                T(test_mkdir_p_trailing_slash),
                T(test_mkdir_p_file_in_the_way_of_a_parent),
                T(test_mkdir_p_file_at_path_fails),
                T(test_read_file_content_and_length),
                T(test_read_file_keeps_nul_bytes),
                T(test_read_file_empty),
                T(test_read_file_exactly_max_is_allowed),
                T(test_read_file_over_max_is_efbig),
                T(test_read_file_over_max_does_not_load_it),
                T(test_read_file_directory_is_einval),
                T(test_read_file_missing_is_enoent),
                T(test_write_atomic_creates),
                T(test_write_atomic_replaces_content),
                T(test_write_atomic_leaves_no_temp_files),
                T(test_write_atomic_sets_mode_despite_umask),
                T(test_write_atomic_replaces_mode_of_existing),
                T(test_write_atomic_replaces_symlink_not_target),
                T(test_write_atomic_missing_dir_fails),
                T(test_create_exclusive_writes_content_and_mode),
                T(test_create_exclusive_holds_lock),
                T(test_create_exclusive_fd_is_cloexec),
                T(test_create_exclusive_existing_is_eexist),
                T(test_create_exclusive_existing_is_untouched),
                T(test_create_exclusive_leaves_no_temp_file),
                T(test_exists_does_not_follow_symlinks),
                T(test_dir_exists_follows_symlinks_and_rejects_files),
        };

        return unit_run(tests);
}
