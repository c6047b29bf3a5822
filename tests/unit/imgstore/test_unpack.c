/* image/unpack: crafted layers, friendly and hostile. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/unpack.h"
#include "tarbuild.h"
#include "util/cleanup.h"

/* state: a scratch dir with "dest/" (the layer) and room for tarballs beside it. */
struct fx {
        char *dir;
        char *dest;
        char *tar;
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));

        f->dir = unit_mkdtemp();
        f->dest = unit_path(f->dir, "dest");
        f->tar = unit_path(f->dir, "layer.tar");
        assert_int_equal(mkdir(f->dest, 0755), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        unit_rm_rf(f->dir);
        free(f->dir);
        free(f->dest);
        free(f->tar);
        free(f);
        return 0;
}

static int unpack(struct fx *f, const struct unpack_opts *o, struct unpack_result *res, struct pxe **err)
{
        return unpack_layer(f->tar, f->dest, o, res, err);
}

static char *dest_path(struct fx *f, const char *rel)
{
        return unit_path(f->dest, rel);
}

static void test_regular_entries(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = {
                { .path = "./", .type = S_IFDIR },
                { .path = "etc/", .type = S_IFDIR, .perm = 0750, .uid = 0, .gid = 5 },
                { .path = "etc/motd", .data = "hello\n", .perm = 0640, .uid = 1000, .gid = 1000 },
                { .path = "usr/bin/tool", .data = "#!/bin/sh\n", .perm = 04755 },
                { .path = "bin/sh", .type = S_IFLNK, .link = "/usr/bin/tool" },
                { .path = "lib/rel", .type = S_IFLNK, .link = "../etc/motd" },
                { .path = "etc/motd.hard", .hardlink = "etc/motd" },
                { .path = "run/fifo", .type = S_IFIFO, .perm = 0600 },
                { .path = "etc/x", .data = "x", .xattr = "user.pxcri=yes" },
        };
        struct unpack_result res;
        struct stat st, st2;
        char *p, buf[16] = "";

        _cleanup_pxe_ struct pxe *err = NULL;

        tar_build(f->tar, e, ARRAY_SIZE(e), NULL);
        if (unpack(f, NULL, &res, &err) < 0)
                fail_msg("%s", err->msg);
        assert_int_equal(res.entries, ARRAY_SIZE(e) - 1);
        p = dest_path(f, "etc/motd");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1000);
        assert_int_equal(st.st_mtime, 1700000000);
        free(p);
        p = dest_path(f, "etc");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_gid, 5);
        assert_int_equal(st.st_mtime, 1700000000); /* restored after etc/motd and etc/x went in */
        free(p);
        p = dest_path(f, "usr/bin/tool");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 04755);
        free(p);
        p = dest_path(f, "bin/sh");
        assert_int_equal(readlink(p, buf, sizeof(buf) - 1), 13);
        assert_string_equal(buf, "/usr/bin/tool");
        free(p);
        p = dest_path(f, "etc/motd.hard");
        assert_int_equal(lstat(p, &st2), 0);
        free(p);
        p = dest_path(f, "etc/motd");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_ino, st2.st_ino);
        free(p);
        p = dest_path(f, "run/fifo");
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISFIFO(st.st_mode));
        free(p);
        p = dest_path(f, "etc/x");
        memset(buf, 0, sizeof(buf));
        assert_int_equal(getxattr(p, "user.pxcri", buf, sizeof(buf)), 3);
        assert_string_equal(buf, "yes");
        free(p);
}

static void test_compressions_same_diff_id(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = { { .path = "a", .data = "alpha" }, { .path = "d/b", .data = "beta" } };
        const char *comp[] = { NULL, "gzip", "zstd" };
        char plain[80], blob[80];

        tar_build(f->tar, e, ARRAY_SIZE(e), NULL);
        tar_digest_file(f->tar, plain);
        for (size_t i = 0; i < ARRAY_SIZE(comp); i++) {
                struct unpack_opts o = { .expected_diff_id = plain };
                struct unpack_result res;

                tar_build(f->tar, e, ARRAY_SIZE(e), comp[i]);
                tar_digest_file(f->tar, blob);
                o.expected_digest = blob;
                unit_rm_rf(f->dest);
                assert_int_equal(mkdir(f->dest, 0755), 0);
                assert_int_equal(unpack(f, &o, &res, NULL), 0);
                assert_string_equal(res.diff_id, plain);
                assert_string_equal(res.digest, blob);
        }
}

/* Unpack must fail naming `entry`, and nothing may appear beside dest. */
static void expect_refused(struct fx *f, const struct tar_entry *e, size_t n, const char *entry, int code)
{
        _cleanup_pxe_ struct pxe *err = NULL;
        size_t before;

        tar_build(f->tar, e, n, NULL);
        before = unit_count_entries(f->dir);
        unpack(f, NULL, NULL, &err);
        assert_non_null(err);
        if (err->code != code)
                fail_msg("code %d, want %d: %s", err->code, code, err->msg);
        assert_contains(err->msg, entry);
        assert_int_equal(unit_count_entries(f->dir), before);
}

static void test_dotdot_refused(void **state)
{
        const struct tar_entry e[] = { { .path = "ok", .data = "1" }, { .path = "../x", .data = "evil" } };

        expect_refused(*state, e, ARRAY_SIZE(e), "\"../x\"", EPERM);
}

static void test_dotdot_inside_refused(void **state)
{
        const struct tar_entry e[] = { { .path = "a/../../x", .data = "evil" } };

        expect_refused(*state, e, ARRAY_SIZE(e), "a/../../x", EPERM);
}

static void test_absolute_refused(void **state)
{
        const struct tar_entry e[] = { { .path = "/abs", .data = "evil" } };

        expect_refused(*state, e, ARRAY_SIZE(e), "\"/abs\": absolute", EPERM);
}

/* A symlink's target is data: every target is created as it is. */
static void test_symlinks_any_target_kept(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = {
                { .path = "usr/lib/up", .type = S_IFLNK, .link = "../../../../../lib" },
                { .path = "abs", .type = S_IFLNK, .link = "/etc/passwd" },
                { .path = "a/out", .type = S_IFLNK, .link = "../../outside" },
                { .path = "root", .type = S_IFLNK, .link = ".." },
                { .path = "dangling", .type = S_IFLNK, .link = "no/such/thing" },
        };
        _cleanup_pxe_ struct pxe *err = NULL;

        tar_build(f->tar, e, ARRAY_SIZE(e), NULL);
        if (unpack(f, NULL, NULL, &err) < 0)
                fail_msg("%s", err->msg);
        for (size_t i = 0; i < ARRAY_SIZE(e); i++) {
                _cleanup_free_ char *p = dest_path(f, e[i].path);
                char buf[64] = "";
                struct stat st;

                assert_int_equal(lstat(p, &st), 0);
                assert_true(S_ISLNK(st.st_mode));
                assert_int_equal(readlink(p, buf, sizeof(buf) - 1), (ssize_t) strlen(e[i].link));
                assert_string_equal(buf, e[i].link);
        }
        assert_int_equal(unit_count_entries(f->dir), 2); /* dest and layer.tar: nothing beside */
}

static void test_write_through_symlink_refused(void **state)
{
        struct fx *f = *state;
        char *outside = unit_path(f->dir, "outside"), *planted = unit_path(outside, "planted");
        const struct tar_entry e[] = {
                { .path = "evil", .type = S_IFLNK, .link = outside },
                { .path = "evil/planted", .data = "owned" },
        };

        assert_int_equal(mkdir(outside, 0755), 0);
        expect_refused(f, e, ARRAY_SIZE(e), "\"evil/planted\": writes through \"evil\"", EPERM);
        assert_int_equal(unit_count_entries(outside), 0);
        free(planted);
        free(outside);
}

static void test_write_through_relative_symlink_refused(void **state)
{
        const struct tar_entry e[] = {
                { .path = "sub/", .type = S_IFDIR },
                { .path = "link", .type = S_IFLNK, .link = "sub" },
                { .path = "link/file", .data = "x" },
        };

        expect_refused(*state, e, ARRAY_SIZE(e), "\"link/file\"", EPERM);
}

/* Symlinks planted by the layer that climb out of it or point at an absolute
 * directory outside: a write through them, direct or through a chain of
 * symlinks, is refused and nothing appears outside. */
static void test_write_through_escaping_symlinks_refused(void **state)
{
        struct fx *f = *state;
        char *outside = unit_path(f->dir, "outside");
        const struct tar_entry climb[] = {
                { .path = "a/up", .type = S_IFLNK, .link = "../../outside" },
                { .path = "a/up/planted", .data = "owned" },
        };
        const struct tar_entry chain[] = {
                { .path = "one", .type = S_IFLNK, .link = "two" },
                { .path = "two", .type = S_IFLNK, .link = outside },
                { .path = "one/planted", .data = "owned" },
        };
        const struct tar_entry deep[] = {
                { .path = "d/", .type = S_IFDIR },
                { .path = "d/l", .type = S_IFLNK, .link = "../../../../../../.." },
                { .path = "d/l/tmp/planted", .data = "owned" },
        };
        const struct tar_entry dir_after[] = {
                { .path = "x", .type = S_IFLNK, .link = outside },
                { .path = "x/sub/", .type = S_IFDIR },
        };

        assert_int_equal(mkdir(outside, 0755), 0);
        expect_refused(f, climb, ARRAY_SIZE(climb), "\"a/up/planted\": writes through \"up\"", EPERM);
        expect_refused(f, chain, ARRAY_SIZE(chain), "\"one/planted\": writes through \"one\"", EPERM);
        expect_refused(f, deep, ARRAY_SIZE(deep), "\"d/l/tmp/planted\": writes through \"l\"", EPERM);
        expect_refused(f, dir_after, ARRAY_SIZE(dir_after), "\"x/sub/\": writes through \"x\"", EPERM);
        assert_int_equal(unit_count_entries(outside), 0);
        free(outside);
}

static void test_hardlink_outside_refused(void **state)
{
        const struct tar_entry a[] = { { .path = "h", .hardlink = "../../etc/passwd" } };
        const struct tar_entry b[] = { { .path = "h", .hardlink = "/etc/passwd" } };
        const struct tar_entry c[] = { { .path = "d/", .type = S_IFDIR }, { .path = "h", .hardlink = "d/../../x" } };

        expect_refused(*state, a, ARRAY_SIZE(a), "hardlink to \"../../etc/passwd\" leaves", EPERM);
        expect_refused(*state, b, ARRAY_SIZE(b), "hardlink to \"/etc/passwd\" leaves", EPERM);
        expect_refused(*state, c, ARRAY_SIZE(c), "hardlink to \"d/../../x\" leaves", EPERM);
}

static void test_hardlink_through_symlink_refused(void **state)
{
        struct fx *f = *state;
        char *outside = unit_path(f->dir, "outside"), *victim = unit_path(outside, "victim");
        const struct tar_entry abs[] = {
                { .path = "etcl", .type = S_IFLNK, .link = outside },
                { .path = "h", .hardlink = "etcl/victim" },
        };
        const struct tar_entry climb[] = {
                { .path = "a/up", .type = S_IFLNK, .link = "../../outside" },
                { .path = "h", .hardlink = "a/up/victim" },
        };
        struct stat st;

        assert_int_equal(mkdir(outside, 0755), 0);
        unit_write(victim, "secret");
        expect_refused(f, abs, ARRAY_SIZE(abs), "\"h\": writes through \"etcl\"", EPERM);
        expect_refused(f, climb, ARRAY_SIZE(climb), "\"h\": writes through \"up\"", EPERM);
        assert_int_equal(stat(victim, &st), 0);
        assert_int_equal(st.st_nlink, 1);
        free(victim);
        free(outside);
}

/* Hardlink targets resolve like names: "." and ".." that stay inside are
 * fine, a link to a symlink links the symlink itself. */
static void test_hardlinks_resolved_in_layer(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = {
                { .path = "d/f", .data = "data" },
                { .path = "d/l", .type = S_IFLNK, .link = "../../../../etc/shadow" },
                { .path = "h1", .hardlink = "./d/../d/f" },
                { .path = "h2", .hardlink = "d/l" },
        };
        _cleanup_free_ char *f1 = dest_path(f, "d/f"), *h1 = dest_path(f, "h1");
        _cleanup_free_ char *l = dest_path(f, "d/l"), *h2 = dest_path(f, "h2");
        struct stat a, b;
        _cleanup_pxe_ struct pxe *err = NULL;

        tar_build(f->tar, e, ARRAY_SIZE(e), NULL);
        if (unpack(f, NULL, NULL, &err) < 0)
                fail_msg("%s", err->msg);
        assert_int_equal(lstat(f1, &a), 0);
        assert_int_equal(lstat(h1, &b), 0);
        assert_int_equal(a.st_ino, b.st_ino);
        assert_int_equal(lstat(l, &a), 0);
        assert_int_equal(lstat(h2, &b), 0);
        assert_true(S_ISLNK(b.st_mode));
        assert_int_equal(a.st_ino, b.st_ino);
}

/* Each layer is unpacked on its own: a link to a file of a lower layer has
 * nothing to link to (docs/images.md, differences). */
static void test_hardlink_to_missing_target(void **state)
{
        const struct tar_entry e[] = { { .path = "h", .hardlink = "lower/file" } };

        expect_refused(*state, e, ARRAY_SIZE(e), "\"h\": hardlink to \"lower/file\", which is not in this layer", ENOENT);
}

/* A whiteout deletes in the layer only: never through a symlink, never above. */
static void test_whiteout_cannot_delete_outside(void **state)
{
        struct fx *f = *state;
        char *outside = unit_path(f->dir, "outside"), *victim = unit_path(outside, "victim");
        const struct tar_entry up[] = { { .path = "../.wh.outside", .data = "" } };
        const struct tar_entry through[] = {
                { .path = "l", .type = S_IFLNK, .link = outside },
                { .path = "l/.wh.victim", .data = "" },
        };
        const struct tar_entry climb[] = {
                { .path = "a/l", .type = S_IFLNK, .link = "../../outside" },
                { .path = "a/l/.wh..wh..opq", .data = "" },
        };
        struct stat st;

        assert_int_equal(mkdir(outside, 0755), 0);
        unit_write(victim, "keep");
        expect_refused(f, up, ARRAY_SIZE(up), "\"../.wh.outside\": name leaves", EPERM);
        expect_refused(f, through, ARRAY_SIZE(through), "\"l/.wh.victim\": writes through \"l\"", EPERM);
        expect_refused(f, climb, ARRAY_SIZE(climb), "\"a/l/.wh..wh..opq\": writes through \"l\"", EPERM);
        assert_int_equal(stat(victim, &st), 0);
        free(victim);
        free(outside);
}

static void test_devices_refused_unless_allowed(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = { { .path = "dev/null", .type = S_IFCHR, .rdev = makedev(1, 3), .perm = 0666 } };
        struct unpack_opts o = { .allow_devices = true };
        struct stat st;
        char *p = dest_path(f, "dev/null");

        expect_refused(f, e, ARRAY_SIZE(e), "\"dev/null\": device nodes are not allowed", EPERM);
        assert_int_equal(unpack(f, &o, NULL, NULL), 0);
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(1, 3));
        free(p);
}

static void test_whiteouts(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = {
                { .path = "etc/.wh.motd", .data = "" },
                { .path = "opt/", .type = S_IFDIR },
                { .path = "opt/.wh..wh..opq", .data = "" },
                { .path = "opt/new", .data = "n" },
        };
        char *wh = dest_path(f, "etc/motd"), *marker = dest_path(f, "etc/.wh.motd"), *opt = dest_path(f, "opt");
        char buf[4] = "";
        struct stat st;

        tar_build(f->tar, e, ARRAY_SIZE(e), NULL);
        assert_int_equal(unpack(f, NULL, NULL, NULL), 0);
        assert_int_equal(lstat(wh, &st), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(0, 0));
        assert_int_not_equal(lstat(marker, &st), 0);
        assert_int_equal(getxattr(opt, "trusted.overlay.opaque", buf, sizeof(buf)), 1);
        assert_int_equal(buf[0], 'y');
        free(wh);
        free(marker);
        free(opt);
}

/* ".wh.x" then "x/" in one layer: the whiteout hid the lower "x", so the new
 * directory is opaque; ".wh.z" then "z": a plain file replaces the whiteout. */
static void test_whiteout_then_recreate(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = {
                { .path = ".wh.x", .data = "" }, { .path = "x/", .type = S_IFDIR }, { .path = "x/new", .data = "n" },
                { .path = ".wh.z", .data = "" }, { .path = "z", .data = "z" },
                { .path = "plain/", .type = S_IFDIR },
        };
        _cleanup_free_ char *x = dest_path(f, "x"), *z = dest_path(f, "z"), *plain = dest_path(f, "plain");
        char buf[4] = "";
        struct stat st;

        tar_build(f->tar, e, ARRAY_SIZE(e), NULL);
        assert_int_equal(unpack(f, NULL, NULL, NULL), 0);
        assert_int_equal(lstat(x, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(getxattr(x, "trusted.overlay.opaque", buf, sizeof(buf)), 1);
        assert_int_equal(buf[0], 'y');
        assert_int_equal(lstat(z, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_true(getxattr(plain, "trusted.overlay.opaque", buf, sizeof(buf)) < 0);
}

static void test_forged_overlay_xattr_dropped(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = {
                { .path = "d/", .type = S_IFDIR, .xattr = "trusted.overlay.opaque=y" },
                { .path = "t", .data = "t", .xattr = "trusted.pxt=t" },
                { .path = "u", .data = "u", .xattr = "user.pxt=u" },
        };
        _cleanup_free_ char *d = dest_path(f, "d"), *t = dest_path(f, "t"), *u = dest_path(f, "u");
        char buf[4];

        tar_build(f->tar, e, ARRAY_SIZE(e), NULL);
        assert_int_equal(unpack(f, NULL, NULL, NULL), 0);
        assert_true(getxattr(d, "trusted.overlay.opaque", buf, sizeof(buf)) < 0);
        assert_true(getxattr(t, "trusted.pxt", buf, sizeof(buf)) < 0); /* all of trusted.*, as containerd */
        assert_int_equal(getxattr(u, "user.pxt", buf, sizeof(buf)), 1);
}

static void test_wrong_digests_refused(void **state)
{
        struct fx *f = *state;
        const struct tar_entry e[] = { { .path = "a", .data = "alpha" } };
        const char *bad = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        struct unpack_opts o1 = { .expected_digest = bad }, o2 = { .expected_diff_id = bad };
        _cleanup_pxe_ struct pxe *e1 = NULL, *e2 = NULL;

        tar_build(f->tar, e, ARRAY_SIZE(e), "gzip");
        assert_int_equal(unpack(f, &o1, NULL, &e1), -EBADMSG);
        assert_contains(e1->msg, "Layer digest mismatch");
        assert_int_equal(unpack(f, &o2, NULL, &e2), -EBADMSG);
        assert_contains(e2->msg, "diff_id mismatch");
}

static void test_truncated_blob_refused(void **state)
{
        struct fx *f = *state;
        struct tar_entry e[] = { { .path = "big", .data = NULL } };
        char *data = malloc(200001);
        struct stat st;
        _cleanup_pxe_ struct pxe *err = NULL;

        for (int i = 0; i < 200000; i++)
                data[i] = (char) ('a' + (i * 7919) % 26);
        data[200000] = '\0';
        e[0].data = data;
        tar_build(f->tar, e, ARRAY_SIZE(e), "gzip");
        assert_int_equal(stat(f->tar, &st), 0);
        assert_int_equal(truncate(f->tar, st.st_size / 2), 0);
        assert_true(unpack(f, NULL, NULL, &err) < 0);
        assert_non_null(err);
        free(data);
}

static void test_garbage_refused(void **state)
{
        struct fx *f = *state;
        _cleanup_pxe_ struct pxe *err = NULL;

        unit_write(f->tar, "this is not a tar archive at all, not even close...............");
        assert_true(unpack(f, NULL, NULL, &err) < 0);
        assert_non_null(err);
}

static void test_check_entry_pure(void **state)
{
        struct unpack_entry e = { .path = "./", .type = S_IFDIR };
        char out[64];

        (void) state;
        assert_int_equal(unpack_check_entry(&e, false, NULL), UNPACK_SKIP);
        e = (struct unpack_entry) { .path = "a/.wh.b", .type = S_IFREG };
        assert_int_equal(unpack_check_entry(&e, false, NULL), UNPACK_WHITEOUT);
        e = (struct unpack_entry) { .path = "a/.wh..wh..opq", .type = S_IFREG };
        assert_int_equal(unpack_check_entry(&e, false, NULL), UNPACK_OPAQUE);
        e = (struct unpack_entry) { .path = "a/.wh..", .type = S_IFREG };
        assert_int_equal(unpack_check_entry(&e, false, NULL), -EINVAL);
        e = (struct unpack_entry) { .path = "a/b/l", .type = S_IFLNK, .symlink = "../../c" };
        assert_int_equal(unpack_check_entry(&e, false, NULL), UNPACK_CREATE);
        e.symlink = "../../../../../c"; /* data: "/.." is "/" in the container */
        assert_int_equal(unpack_check_entry(&e, false, NULL), UNPACK_CREATE);
        e.symlink = "/abs";
        assert_int_equal(unpack_check_entry(&e, false, NULL), UNPACK_CREATE);
        e.symlink = "";
        assert_int_equal(unpack_check_entry(&e, false, NULL), -EINVAL);
        e = (struct unpack_entry) { .path = "a/h", .type = S_IFREG, .hardlink = "x/../y" };
        assert_int_equal(unpack_check_entry(&e, false, NULL), UNPACK_CREATE);
        e.hardlink = "x/../../y";
        assert_int_equal(unpack_check_entry(&e, false, NULL), -EPERM);
        e.hardlink = "/y";
        assert_int_equal(unpack_check_entry(&e, false, NULL), -EPERM);
        e.hardlink = "x/..";
        assert_int_equal(unpack_check_entry(&e, false, NULL), -EINVAL);
        e.hardlink = "./a/h";
        assert_int_equal(unpack_check_entry(&e, false, NULL), -EINVAL);
        assert_int_equal(unpack_link_target("a/./b/../../c/", out), 0);
        assert_string_equal(out, "c");
        assert_int_equal(unpack_link_target("a/b/../../..", out), -EPERM);
        assert_int_equal(unpack_clean_path(".//a/./b//", out, NULL), 0);
        assert_string_equal(out, "a/b");
        assert_int_equal(unpack_clean_path("a/..", out, NULL), -EPERM);
        assert_int_equal(unpack_clean_path("..a/b..", out, NULL), 0);
        assert_string_equal(out, "..a/b..");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check_entry_pure),
                cmocka_unit_test_setup_teardown(test_regular_entries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compressions_same_diff_id, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dotdot_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dotdot_inside_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_absolute_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinks_any_target_kept, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_through_symlink_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_through_relative_symlink_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_outside_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_through_escaping_symlinks_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_through_symlink_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlinks_resolved_in_layer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hardlink_to_missing_target, setup, teardown),
                cmocka_unit_test_setup_teardown(test_whiteout_cannot_delete_outside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_devices_refused_unless_allowed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_whiteouts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_whiteout_then_recreate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forged_overlay_xattr_dropped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_digests_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_blob_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_garbage_refused, setup, teardown),
        };

        return unit_run(tests);
}
