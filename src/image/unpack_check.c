/* The checks every tar entry passes before it touches the disk (pure
 * functions: the fuzz target tests/fuzz/fuzz_tar.c drives them). */
#include "image/unpack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/cleanup.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

int unpack_clean_path(const char *name, char *out, struct pxe **err)
{
        const char *p;
        size_t n = 0;

        if (!name)
                return pxe_set(err, EINVAL, "Layer entry without a (readable) name");
        if (name[0] == '/')
                return pxe_set(err, EPERM, "Layer entry \"%s\": absolute name", name);
        for (p = name; *p;) {
                const char *end = strchrnul(p, '/');
                size_t len = (size_t) (end - p);

                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return pxe_set(err, EPERM, "Layer entry \"%s\": name leaves the layer directory", name);
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p = *end ? end + 1 : end;
        }
        out[n] = '\0';
        return 0;
}

int unpack_link_target(const char *target, char *out)
{
        size_t n = 0;

        if (target[0] == '/')
                return -EPERM;
        for (const char *p = target; *p;) {
                const char *end = strchrnul(p, '/');
                size_t len = (size_t) (end - p);

                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        if (n == 0)
                                return -EPERM;
                        while (n > 0 && out[n - 1] != '/')
                                n--;
                        if (n > 0)
                                n--; /* the slash before the dropped component */
                } else if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (n > 0)
                                out[n++] = '/';
                        memcpy(out + n, p, len);
                        n += len;
                }
                p = *end ? end + 1 : end;
        }
        out[n] = '\0';
        return 0;
}

/* A symlink's target is data: nothing follows it while unpacking (every write
 * walks its parents with O_NOFOLLOW), and in the container the kernel resolves
 * it inside the root ("/.." is "/"), so any target is kept as it is. */
static int check_links(const struct unpack_entry *e, const char *clean, struct pxe **err)
{
        if (e->hardlink) {
                _cleanup_free_ char *t = malloc(strlen(e->hardlink) + 1);

                if (!t)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (unpack_link_target(e->hardlink, t) < 0)
                        return pxe_set(err, EPERM, "Layer entry \"%s\": hardlink to \"%s\" leaves the layer directory",
                                       e->path, e->hardlink);
                if (!t[0] || streq(t, clean))
                        return pxe_set(err, EINVAL, "Layer entry \"%s\": hardlink to \"%s\" is not a file",
                                       e->path, e->hardlink);
                return 0;
        }
        if (e->type == S_IFLNK && (!e->symlink || !e->symlink[0]))
                return pxe_set(err, EINVAL, "Layer entry \"%s\": symlink without a target", e->path);
        return 0;
}

static int check_type(const struct unpack_entry *e, bool allow_devices, struct pxe **err)
{
        switch (e->type) {
        case S_IFREG:
        case S_IFDIR:
        case S_IFLNK:
        case S_IFIFO:
                return 0;
        case S_IFCHR:
        case S_IFBLK:
                if (allow_devices)
                        return 0;
                return pxe_set(err, EPERM, "Layer entry \"%s\": device nodes are not allowed", e->path);
        default:
                return pxe_set(err, EINVAL, "Layer entry \"%s\": unsupported file type 0%o", e->path,
                               (unsigned) e->type);
        }
}

int unpack_check_entry(const struct unpack_entry *e, bool allow_devices, struct pxe **err)
{
        _cleanup_free_ char *clean = NULL;
        const char *base;
        int r;

        if (!e->path)
                return pxe_set(err, EINVAL, "Layer entry without a (readable) name");
        clean = malloc(strlen(e->path) + 1);
        if (!clean)
                return pxe_set(err, ENOMEM, "Out of memory");
        r = unpack_clean_path(e->path, clean, err);
        if (r < 0)
                return r;
        if (!clean[0])
                return e->type == S_IFDIR && !e->hardlink ? UNPACK_SKIP
                                                          : pxe_set(err, EINVAL, "Layer entry \"%s\": the layer root must be a directory", e->path);
        base = strrchr(clean, '/');
        base = base ? base + 1 : clean;
        if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0) {
                const char *victim = base + strlen(WHITEOUT_PREFIX);

                if (streq(base, WHITEOUT_OPAQUE))
                        return UNPACK_OPAQUE;
                if (!victim[0] || streq(victim, ".") || streq(victim, "..") ||
                    strncmp(victim, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
                        return pxe_set(err, EINVAL, "Layer entry \"%s\": invalid whiteout", e->path);
                return UNPACK_WHITEOUT;
        }
        r = e->hardlink ? 0 : check_type(e, allow_devices, err); /* hardlinks come with type 0 */
        if (r < 0)
                return r;
        r = check_links(e, clean, err);
        if (r < 0)
                return r;
        return UNPACK_CREATE;
}
