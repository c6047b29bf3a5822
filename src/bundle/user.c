/* User strings of image configs resolved through the image's own /etc/passwd
 * and /etc/group, read with openat2(RESOLVE_IN_ROOT) so that a symlink in the
 * image (/etc/passwd -> /host/...) resolves inside the image, never on the host. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bundle/spec.h"
#include "util/cleanup.h"

#define ETC_FILE_MAX (4u * 1024 * 1024)

/* Read rootfs/<rel> into memory; *ret NULL (and 0) when the file is missing. */
static int read_in_root(int rootfs_fd, const char *rel, char **ret, struct pxe **err)
{
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        *ret = NULL;
        if (rootfs_fd < 0)
                return 0;
        fd = (int) syscall(SYS_openat2, rootfs_fd, rel, &how, sizeof(how));
        if (fd < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Opening the image's /%s", rel);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t) st.st_size > ETC_FILE_MAX)
                return pxe_set(err, EINVAL, "The image's /%s is not a regular file of at most 4 MiB", rel);
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return pxe_set(err, ENOMEM, "Out of memory");
        while (len < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t) st.st_size - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return pxe_set_errno(err, errno, "Reading the image's /%s", rel);
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

static bool parse_id(const char *s, unsigned long *ret)
{
        char *end;

        if (!s || !*s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        *ret = strtoul(s, &end, 10);
        return errno == 0 && *end == '\0' && *ret <= UINT_MAX - 1;
}

/* Find the line whose field `key_field` equals key; fills fields[0..n). */
static bool find_line(char *text, const char *key, int key_field, char **fields, int n)
{
        char *save = NULL;

        for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                char *p = line;
                int i;

                for (i = 0; i < n; i++)
                        fields[i] = strsep(&p, ":");
                /* strsep() cuts only this line; strtok_r() is already past it */
                if (fields[n - 1] && fields[key_field] && streq(fields[key_field], key))
                        return true;
        }
        return false;
}

struct passwd_entry {
        bool found;
        char *name;
        unsigned long uid, gid;
};

static int lookup_passwd(const char *passwd, const char *key, bool by_uid, struct passwd_entry *ret)
{
        _cleanup_free_ char *copy = passwd ? strdup(passwd) : NULL;
        char *f[4];

        *ret = (struct passwd_entry) { 0 };
        if (!passwd)
                return 0;
        if (!copy)
                return -ENOMEM;
        if (!find_line(copy, key, by_uid ? 2 : 0, f, 4) || !parse_id(f[2], &ret->uid) || !parse_id(f[3], &ret->gid))
                return 0;
        ret->name = strdup(f[0]);
        ret->found = ret->name != NULL;
        return ret->name ? 0 : -ENOMEM;
}

static int lookup_group(const char *group, const char *name, unsigned long *ret)
{
        _cleanup_free_ char *copy = group ? strdup(group) : NULL;
        char *f[4];

        if (!copy)
                return group ? -ENOMEM : -ENOENT;
        if (!find_line(copy, name, 0, f, 4) || !parse_id(f[2], ret))
                return -ENOENT;
        return 0;
}

/* Groups that list user as a member, besides the primary gid. */
static int supplementary(const char *group, const char *user, gid_t primary, struct bundle_user *u)
{
        _cleanup_free_ char *copy = group ? strdup(group) : NULL;
        char *save = NULL;

        if (!group || !user)
                return 0;
        if (!copy)
                return -ENOMEM;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *p = line, *f[4], *m;
                unsigned long gid;

                for (int i = 0; i < 4; i++)
                        f[i] = strsep(&p, ":");
                if (!f[3] || !parse_id(f[2], &gid) || gid == primary)
                        continue;
                while ((m = strsep(&f[3], ",")))
                        if (streq(m, user)) {
                                gid_t *v = realloc(u->additional_gids, (u->n_additional_gids + 1) * sizeof(gid_t));

                                if (!v)
                                        return -ENOMEM;
                                u->additional_gids = v;
                                v[u->n_additional_gids++] = (gid_t) gid;
                                break;
                        }
        }
        return 0;
}

static int resolve_uid(const char *passwd, const char *name, struct passwd_entry *pw, unsigned long *uid,
                       struct pxe **err)
{
        bool numeric = parse_id(name, uid);

        if (lookup_passwd(passwd, name, numeric, pw) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (numeric)
                return 0;
        if (!pw->found)
                return pxe_set(err, ENOENT, "User \"%s\" not found in the image's /etc/passwd", name);
        *uid = pw->uid;
        return 0;
}

int bundle_spec_resolve_user(int rootfs_fd, const char *user, struct bundle_user *ret, struct pxe **err)
{
        _cleanup_free_ char *passwd = NULL, *group = NULL, *copy = strdup(user && *user ? user : "0");
        struct passwd_entry pw = { 0 };
        struct bundle_user u = { 0 };
        unsigned long uid, gid = 0;
        char *gname;
        int r;

        if (!copy)
                return pxe_set(err, ENOMEM, "Out of memory");
        gname = strchr(copy, ':');
        if (gname)
                *gname++ = '\0';
        if (!*copy || (gname && !*gname))
                return pxe_set(err, EINVAL, "Invalid user \"%s\"", user);
        if (read_in_root(rootfs_fd, "etc/passwd", &passwd, err) < 0 ||
            read_in_root(rootfs_fd, "etc/group", &group, err) < 0)
                return -pxe_code(err, EIO);
        r = resolve_uid(passwd, copy, &pw, &uid, err);
        if (r >= 0 && gname && !parse_id(gname, &gid) && lookup_group(group, gname, &gid) < 0)
                r = pxe_set(err, ENOENT, "Group \"%s\" not found in the image's /etc/group", gname);
        if (r >= 0 && !gname && pw.found)
                gid = pw.gid;
        if (r >= 0 && supplementary(group, pw.name, (gid_t) gid, &u) < 0)
                r = pxe_set(err, ENOMEM, "Out of memory");
        free(pw.name);
        if (r < 0) {
                bundle_user_done(&u);
                return r;
        }
        u.uid = (uid_t) uid;
        u.gid = (gid_t) gid;
        *ret = u;
        return 0;
}

void bundle_user_done(struct bundle_user *u)
{
        free(u->additional_gids);
        u->additional_gids = NULL;
        u->n_additional_gids = 0;
}
