#include "state/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/id.h"

#define RECORD_DIR "containers"
#define RECORD_SUFFIX ".json"
#define RECORD_MAX_SIZE (64u << 10)

static char *record_path(const char *root, const char *id)
{
        char *p = NULL;

        if (asprintf(&p, "%s/" RECORD_DIR "/%s" RECORD_SUFFIX, root, id) < 0)
                return NULL;
        return p;
}

int record_create(const char *root, const struct record *r, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
        json_t *j;
        int fd;

        if (id_check(r->id, err) < 0)
                return -EINVAL;
        if (asprintf(&dir, "%s/" RECORD_DIR, root) < 0 || !(path = record_path(root, r->id)))
                return pxe_set(err, ENOMEM, "Out of memory");
        if (fs_mkdir_p(dir, 0700, err) < 0)
                return -pxe_code(err, EIO);
        j = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "id", r->id, "backend", backend_id_to_name(r->backend),
                      "bundle", r->bundle, "created", r->created, "reason", r->reason);
        text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (!text)
                return pxe_set(err, ENOMEM, "Out of memory");
        fd = fs_create_exclusive_locked(path, text, strlen(text), 0600, err);
        if (fd == -EEXIST) {
                pxe_freep(err);
                return pxe_set(err, EEXIST, "container \"%s\" already exists", r->id);
        }
        return fd;
}

bool record_busy(const char *root, const char *id)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (!id_is_valid(id) || !(path = record_path(root, id)))
                return false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static int dup_field(json_t *j, const char *key, char **dst)
{
        const char *s = json_string_value(json_object_get(j, key));

        if (!s)
                return 0;
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

int record_load(const char *root, const char *id, struct record **ret, struct pxe **err)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_record_ struct record *r = NULL;
        json_error_t jerr;
        json_t *j;
        int rc;

        if (id_check(id, err) < 0)
                return -EINVAL;
        path = record_path(root, id);
        if (!path)
                return pxe_set(err, ENOMEM, "Out of memory");
        rc = fs_read_file(path, RECORD_MAX_SIZE, &text, NULL, NULL);
        if (rc == -ENOENT)
                return pxe_set(err, ENOENT, "container \"%s\" does not exist", id);
        if (rc < 0)
                return pxe_set_errno(err, -rc, "Reading the record of container \"%s\" (%s)", id, path);
        j = json_loads(text, 0, &jerr);
        if (!j)
                return pxe_set(err, EIO, "Record of container \"%s\" (%s) is corrupt: %s", id, path, jerr.text);
        r = calloc(1, sizeof(*r));
        rc = r ? 0 : -ENOMEM;
        if (rc == 0) {
                r->backend = backend_id_from_name(json_string_value(json_object_get(j, "backend")));
                if (dup_field(j, "id", &r->id) < 0 || dup_field(j, "bundle", &r->bundle) < 0 ||
                    dup_field(j, "created", &r->created) < 0 || dup_field(j, "reason", &r->reason) < 0)
                        rc = -ENOMEM;
        }
        json_decref(j);
        if (rc < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (r->backend == BACKEND_INVALID || !r->id || !streq(r->id, id))
                return pxe_set(err, EIO, "Record of container \"%s\" (%s) is corrupt: bad id or backend", id,
                               path);
        *ret = TAKE_PTR(r);
        return 0;
}

int record_remove(const char *root, const char *id, struct pxe **err)
{
        _cleanup_free_ char *path = NULL;

        if (id_check(id, err) < 0)
                return -EINVAL;
        path = record_path(root, id);
        if (!path)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (unlink(path) < 0 && errno != ENOENT)
                return pxe_set_errno(err, errno, "Removing %s", path);
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int record_list(const char *root, char ***ret_ids, size_t *ret_n, struct pxe **err)
{
        _cleanup_free_ char *dir = NULL;
        char **ids = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        DIR *d;

        if (asprintf(&dir, "%s/" RECORD_DIR, root) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        d = opendir(dir);
        if (!d && errno != ENOENT)
                return pxe_set_errno(err, errno, "Listing %s", dir);
        while (d && (de = readdir(d))) {
                size_t len = strlen(de->d_name), sl = strlen(RECORD_SUFFIX);
                char *id;

                if (len <= sl || !streq(de->d_name + len - sl, RECORD_SUFFIX))
                        continue;
                id = strndup(de->d_name, len - sl);
                if (!id || !id_is_valid(id)) {
                        free(id);
                        continue;
                }
                if (n == cap) {
                        char **g = realloc(ids, (cap = cap ? cap * 2 : 16) * sizeof(*ids));

                        if (!g) {
                                free(id);
                                break;
                        }
                        ids = g;
                }
                ids[n++] = id;
        }
        if (d)
                closedir(d);
        if (n)
                qsort(ids, n, sizeof(*ids), cmp_str);
        *ret_ids = ids;
        *ret_n = n;
        return 0;
}

void record_free(struct record *r)
{
        if (!r)
                return;
        free(r->id);
        free(r->bundle);
        free(r->created);
        free(r->reason);
        free(r);
}

void record_ids_free(char **ids, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
}
