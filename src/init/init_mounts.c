/* Mounts pxcri-init makes inside the container for the proxmox backend:
 * what Proxmox cannot (src/backend/proxmox/pmx_binds.c). */
#include "init_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int init_mount_parse(char *rec, struct init_mount *m)
{
        char *tab = strchr(rec, '\t');

        if (rec[0] == 'R' && rec[1] == '\0') {
                *m = (struct init_mount){ .kind = 'R', .dest = "/" };
                return 0;
        }
        if (!tab)
                return -EINVAL;
        *tab = '\0';
        if (rec[0] == 'b') {
                if ((rec[1] != 'r' && rec[1] != 'w') || rec[2] != '/' || tab[1] != '/')
                        return -EINVAL;
                *m = (struct init_mount){ .kind = 'b', .read_only = rec[1] == 'r', .src = rec + 2, .dest = tab + 1 };
                return 0;
        }
        if (rec[0] != 'M' || rec[1] != '/')
                return -EINVAL;
        *m = (struct init_mount){ .kind = 'M', .dest = rec + 1, .options = tab + 1 };
        return 0;
}

/* mkdir -p of path's parent directories. */
static int make_parents(const char *path)
{
        char buf[4096];

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

/* What to bind on: an empty file for a file, a directory for one. */
static int make_target(const char *dest, const struct stat *src)
{
        struct stat st;
        int fd;

        if (stat(dest, &st) == 0)
                return 0;
        if (errno != ENOENT || make_parents(dest) < 0)
                return -1;
        if (S_ISDIR(src->st_mode))
                return mkdir(dest, 0755) < 0 && errno != EEXIST ? -1 : 0;
        fd = open(dest, O_WRONLY | O_CREAT | O_NOCTTY | O_CLOEXEC, 0644);
        if (fd < 0)
                return -1;
        close(fd);
        return 0;
}

/* The flags a remount must keep: in a user namespace the kernel refuses
 * one that would clear those the mount was locked with. */
static unsigned long kept_flags(const char *path)
{
        static const struct { unsigned long st, ms; } map[] = {
                { ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
                { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME },
        };
        unsigned long flags = 0;
        struct statvfs sv;

        if (statvfs(path, &sv) < 0)
                return 0;
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if (sv.f_flag & map[i].st)
                        flags |= map[i].ms;
        return flags;
}


/* "nosuid,mode=755,size=64k" -> flags, and the rest as tmpfs's data. */
static int tmpfs_options(const char *opts, unsigned long *flags, char *data, size_t size)
{
        static const struct { const char *name; unsigned long ms; } known[] = {
                { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV },     { "noexec", MS_NOEXEC },
                { "strictatime", MS_STRICTATIME }, { "relatime", MS_RELATIME }, { "noatime", MS_NOATIME },
                { "ro", MS_RDONLY },     { "rw", 0 },
        };
        char buf[512];
        size_t used = 0;

        if (strlen(opts) >= sizeof(buf))
                return -E2BIG;
        strcpy(buf, opts);
        data[0] = '\0';
        for (char *o = strtok(buf, ","); o; o = strtok(NULL, ",")) {
                size_t k;

                for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
                        if (strcmp(o, known[k].name) == 0)
                                break;
                if (k < sizeof(known) / sizeof(known[0])) {
                        *flags |= known[k].ms;
                        continue;
                }
                if (!strchr(o, '=') || used + strlen(o) + 2 > size)
                        return -EINVAL;
                used += (size_t) snprintf(data + used, size - used, "%s%s", used ? "," : "", o);
        }
        return 0;
}

int init_mount(const struct init_mount *m, char *what, size_t size)
{
        struct stat st;

        if (m->kind == 'M') {
                unsigned long flags = 0;
                char data[512];
                int r;

                snprintf(what, size, "tmpfs on %s", m->dest);
                if ((r = tmpfs_options(m->options, &flags, data, sizeof(data))) < 0)
                        return r;
                if ((make_parents(m->dest) < 0 || (mkdir(m->dest, 0755) < 0 && errno != EEXIST)) ||
                    mount("tmpfs", m->dest, "tmpfs", flags, data) < 0)
                        return -errno;
                return 0;
        }
        if (m->kind == 'R') {
                /* After every other mount: their targets could still be made. */
                snprintf(what, size, "the root read-only");
                if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL) < 0)
                        return -errno;
                return 0;
        }
        snprintf(what, size, "bind %s on %s", m->src, m->dest);
        if (stat(m->src, &st) < 0 || make_target(m->dest, &st) < 0 || mount(m->src, m->dest, NULL, MS_BIND, NULL) < 0)
                return -errno;
        if (m->read_only &&
            mount(NULL, m->dest, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(m->dest), NULL) < 0)
                return -errno;
        return 0;
}

int init_mount_detach_stage(const struct init_mount *m, char *what, size_t size)
{
        const char *rest;
        char stage[64];
        size_t n;

        if (m->kind != 'b' || strncmp(m->src, INIT_STAGE_DIR "/", sizeof(INIT_STAGE_DIR)) != 0)
                return 0;
        rest = m->src + sizeof(INIT_STAGE_DIR);
        n = strcspn(rest, "/");
        if (n == 0 || n > 16)
                return -EINVAL;
        snprintf(stage, sizeof(stage), INIT_STAGE_DIR "/%.*s", (int) n, rest);
        snprintf(what, size, "detaching %s", stage);
        /* EINVAL: not a mount (any more) -- two binds from one stage. */
        if (umount2(stage, MNT_DETACH) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}
