/* libFuzzer target: the checks every layer tar entry passes before unpack
 * writes it (src/image/unpack_check.c).
 *
 * Input: "<type byte><path>\0<symlink target>\0<hardlink target>" (missing
 * parts: NULL).  Invariants: no crash or leak; every refusal has a message
 * naming the entry; an accepted entry's clean path is relative with no ".."
 * component, and resolving it or its hardlink target lexically never leaves
 * the root.  Symlink targets are data (any target is accepted, none empty). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const mode_t types[] = { S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, 0 };

/* Lexical walk of path from a directory at depth `depth`: depth stays >= 0. */
static void assert_stays_inside(const char *path, int depth)
{
        const char *p = path;

        while (*p) {
                const char *end = strchrnul(p, '/');
                size_t len = (size_t) (end - p);

                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        if (--depth < 0)
                                abort();
                } else if (len && !(len == 1 && p[0] == '.')) {
                        depth++;
                }
                p = *end ? end + 1 : end;
        }
}

static void check_accepted(const struct unpack_entry *e, bool create)
{
        char *clean = malloc(strlen(e->path) + 1);

        if (!clean || unpack_clean_path(e->path, clean, NULL) != 0)
                abort();
        if (clean[0] == '/' || strstr(clean, "//"))
                abort();
        assert_stays_inside(clean, 0);
        if (!create) {
                /* whiteouts: no link is made */
        } else if (e->hardlink) {
                char *t = malloc(strlen(e->hardlink) + 1);

                if (!t || e->hardlink[0] == '/' || unpack_link_target(e->hardlink, t) != 0)
                        abort();
                assert_stays_inside(e->hardlink, 0);
                assert_stays_inside(t, 0);
                if (t[0] == '/' || strstr(t, "//") || strstr(t, "/../") || strncmp(t, "../", 3) == 0)
                        abort();
                free(t);
        } else if (e->type == S_IFLNK && (!e->symlink || !e->symlink[0])) {
                abort(); /* any target is kept, but never an empty one */
        }
        free(clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *buf, *path, *link = NULL, *hard = NULL, *end;
        struct unpack_entry e;
        struct pxe *err = NULL;
        int r;

        if (size < 1)
                return 0;
        buf = calloc(1, size + 2);
        if (!buf)
                return 0;
        memcpy(buf, data + 1, size - 1);
        end = buf + size - 1;
        path = buf;
        if (path + strlen(path) < end)
                link = path + strlen(path) + 1;
        if (link && link + strlen(link) < end)
                hard = link + strlen(link) + 1;
        e = (struct unpack_entry) {
                .path = path,
                .type = types[data[0] % (sizeof(types) / sizeof(types[0]))],
                .symlink = link,
                .hardlink = hard && *hard ? hard : NULL,
        };
        r = unpack_check_entry(&e, data[0] & 0x80, &err);
        if (r < 0 && (!err || !err->msg))
                abort();
        if (r == UNPACK_CREATE || r == UNPACK_WHITEOUT || r == UNPACK_OPAQUE)
                check_accepted(&e, r == UNPACK_CREATE);
        pxe_free(err);
        free(buf);
        return 0;
}
