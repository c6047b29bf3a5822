#include "tarbuild.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "unit.h"
#include "image/digest.h"

static void add(struct archive *a, const struct tar_entry *e)
{
        struct archive_entry *ae = archive_entry_new();
        mode_t type = e->type ? e->type : S_IFREG;
        size_t len = e->data ? strlen(e->data) : 0;

        archive_entry_set_pathname(ae, e->path);
        archive_entry_set_uid(ae, e->uid);
        archive_entry_set_gid(ae, e->gid);
        archive_entry_set_mtime(ae, 1700000000, 0);
        if (e->hardlink) {
                archive_entry_set_filetype(ae, AE_IFREG);
                archive_entry_set_hardlink(ae, e->hardlink);
                archive_entry_set_size(ae, 0);
        } else {
                archive_entry_set_filetype(ae, type);
                archive_entry_set_size(ae, type == S_IFREG ? (la_int64_t) len : 0);
        }
        archive_entry_set_perm(ae, e->perm ? e->perm : (type == S_IFDIR ? 0755 : 0644));
        if (e->link)
                archive_entry_set_symlink(ae, e->link);
        if (e->rdev)
                archive_entry_set_rdev(ae, e->rdev);
        if (e->xattr) {
                const char *eq = strchr(e->xattr, '=');
                char *name = strndup(e->xattr, (size_t) (eq - e->xattr));

                archive_entry_xattr_add_entry(ae, name, eq + 1, strlen(eq + 1));
                free(name);
        }
        assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
        if (!e->hardlink && type == S_IFREG && len)
                assert_int_equal(archive_write_data(a, e->data, len), (la_ssize_t) len);
        archive_entry_free(ae);
}

void tar_build(const char *path, const struct tar_entry *e, size_t n, const char *compression)
{
        struct archive *a = archive_write_new();

        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
        if (compression && strcmp(compression, "gzip") == 0)
                assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        else if (compression && strcmp(compression, "zstd") == 0)
                assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++)
                add(a, &e[i]);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

void tar_digest_file(const char *path, char *out)
{
        FILE *f = fopen(path, "rb");
        struct digest_ctx *d = digest_new();
        char buf[65536];
        size_t n;

        assert_non_null(f);
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                digest_update(d, buf, n);
        fclose(f);
        assert_int_equal(digest_final(d, out), 0);
        digest_free(d);
}
