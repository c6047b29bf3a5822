#include "image/store.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/digest.h"
#include "image/ref.h"
#include "util/cleanup.h"
#include "util/fs.h"

struct image_store {
        sqlite3 *db;
        char *path;
};

static const char schema[] =
        "CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, manifest_digest TEXT, size INTEGER NOT NULL,"
        " created INTEGER NOT NULL, config TEXT NOT NULL, layers TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS tags(name TEXT PRIMARY KEY, image_id TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS repo_digests(name TEXT PRIMARY KEY, image_id TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS refs(holder TEXT PRIMARY KEY, image_id TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);"
        "CREATE INDEX IF NOT EXISTS repo_digests_image ON repo_digests(image_id);"
        "CREATE INDEX IF NOT EXISTS refs_image ON refs(image_id);";

/* A full disk is ENOSPC (RESOURCE_EXHAUSTED for a CRI caller), not EIO. */
static int db_code(sqlite3 *db)
{
        int rc = sqlite3_errcode(db);

        if (rc == SQLITE_FULL || ((rc & 0xff) == SQLITE_IOERR && sqlite3_system_errno(db) == ENOSPC))
                return ENOSPC;
        return EIO;
}

static int db_fail(struct image_store *s, const char *what, struct pxe **err)
{
        return pxe_set(err, db_code(s->db), "Image store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

bool image_store_present(const char *image_root)
{
        return fs_exists_fmt("%s/images.db", image_root) == 1;
}

static int exec_sql(struct image_store *s, const char *sql, struct pxe **err)
{
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
                return db_fail(s, sql, err);
        return 0;
}

/* Switching to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY
 * at once (no busy handler) when another process opens the same new
 * database at the same moment: retry for up to 10 s. */
static int exec_retry(struct image_store *s, const char *sql, struct pxe **err)
{
        for (int i = 0; i < 1000; i++) {
                int r = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

                if (r == SQLITE_OK)
                        return 0;
                if (r != SQLITE_BUSY && r != SQLITE_LOCKED)
                        break;
                usleep(10000);
        }
        return db_fail(s, sql, err);
}

int image_store_open(const char *image_root, struct image_store **ret, struct pxe **err)
{
        struct image_store *s;

        if (fs_mkdir_p(image_root, 0700, err) < 0)
                return -pxe_code(err, EIO);
        s = calloc(1, sizeof(*s));
        if (!s || asprintf(&s->path, "%s/images.db", image_root) < 0) {
                free(s);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK) {
                int r = db_fail(s, "opening", err);

                image_store_close(s);
                return r;
        }
        sqlite3_busy_timeout(s->db, 10000);
        if (exec_retry(s, "PRAGMA journal_mode=WAL", err) < 0 || exec_sql(s, "PRAGMA synchronous=NORMAL", err) < 0 ||
            exec_retry(s, schema, err) < 0) {
                image_store_close(s);
                return -pxe_code(err, EIO);
        }
        *ret = s;
        return 0;
}

void image_store_close(struct image_store *s)
{
        if (!s)
                return;
        sqlite3_close(s->db);
        free(s->path);
        free(s);
}

static void finalizep(sqlite3_stmt **st)
{
        sqlite3_finalize(*st);
}

#define _cleanup_stmt_ __attribute__((cleanup(finalizep)))

/* Prepare sql and bind the NULL-terminated text arguments. */
static int prepare(struct image_store *s, const char *sql, sqlite3_stmt **ret, struct pxe **err, ...)
{
        va_list ap;
        const char *arg;
        int i = 1;

        if (sqlite3_prepare_v2(s->db, sql, -1, ret, NULL) != SQLITE_OK)
                return db_fail(s, sql, err);
        va_start(ap, err);
        while ((arg = va_arg(ap, const char *)))
                sqlite3_bind_text(*ret, i++, arg, -1, SQLITE_TRANSIENT);
        va_end(ap);
        return 0;
}

/* Run a statement that returns no rows. */
static int run(struct image_store *s, const char *sql, struct pxe **err, const char *a, const char *b)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        if (prepare(s, sql, &st, err, a, b, NULL) < 0)
                return -EIO;
        if (sqlite3_step(st) != SQLITE_DONE)
                return db_fail(s, sql, err);
        return 0;
}

static char *layers_to_json(const struct image_rec *rec)
{
        json_t *a = json_array();
        char *s;

        for (size_t i = 0; a && i < rec->n_layers; i++) {
                const struct image_rec_layer *l = &rec->layers[i];

                json_array_append_new(a, json_pack("{s:s?, s:s, s:s?, s:I}", "digest", l->digest, "diff_id",
                                                   l->diff_id, "media_type", l->media_type, "size",
                                                   (json_int_t) l->size));
        }
        s = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        return s;
}

static int put_names(struct image_store *s, const char *table, char **names, size_t n, const char *id,
                     struct pxe **err)
{
        _cleanup_free_ char *sql = NULL;

        if (asprintf(&sql, "INSERT OR REPLACE INTO %s(name, image_id) VALUES(?1, ?2)", table) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; i < n; i++)
                if (run(s, sql, err, names[i], id) < 0)
                        return -EIO;
        return 0;
}

static int put_image(struct image_store *s, const struct image_rec *rec, struct pxe **err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *layers = layers_to_json(rec);
        const char *sql = "INSERT INTO images(id, manifest_digest, size, created, config, layers)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET"
                          " manifest_digest = excluded.manifest_digest, size = excluded.size,"
                          " config = excluded.config, layers = excluded.layers";

        if (!layers)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (prepare(s, sql, &st, err, rec->id, rec->manifest_digest, NULL) < 0)
                return -EIO;
        sqlite3_bind_int64(st, 3, (sqlite3_int64) rec->size);
        sqlite3_bind_int64(st, 4, rec->created ? rec->created : (sqlite3_int64) time(NULL));
        sqlite3_bind_text(st, 5, rec->config, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, layers, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
                return db_fail(s, "inserting an image", err);
        return 0;
}

int image_store_put(struct image_store *s, const struct image_rec *rec, struct pxe **err)
{
        if (digest_check(rec->id, err) < 0)
                return pxe_wrap(err, "Image ID");
        if (!rec->config)
                return pxe_set(err, EINVAL, "Image %s has no config", rec->id);
        if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
                return -EIO;
        if (put_image(s, rec, err) < 0 || put_names(s, "tags", rec->repo_tags, rec->n_repo_tags, rec->id, err) < 0 ||
            put_names(s, "repo_digests", rec->repo_digests, rec->n_repo_digests, rec->id, err) < 0 ||
            exec_sql(s, "COMMIT", err) < 0) {
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
                return pxe_wrap(err, "Recording image %s", rec->id);
        }
        return 0;
}

static int strv_push(char ***v, size_t *n, const char *str)
{
        char **nv = realloc(*v, (*n + 2) * sizeof(char *));

        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[*n] = strdup(str);
        if (!nv[*n])
                return -ENOMEM;
        nv[++*n] = NULL;
        return 0;
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}

/* Column 0 of every row of sql (bound to arg) appended to v. */
static int collect(struct image_store *s, const char *sql, const char *arg, char ***v, size_t *n, struct pxe **err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r;

        if (prepare(s, sql, &st, err, arg, NULL) < 0)
                return -EIO;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                const char *t = (const char *) sqlite3_column_text(st, 0);

                if (t && strv_push(v, n, t) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
        }
        if (r != SQLITE_DONE)
                return db_fail(s, sql, err);
        return 0;
}

static int parse_layers(const char *text, struct image_rec *rec)
{
        json_t *a = json_loads(text, 0, NULL), *l;
        size_t i;

        if (!json_is_array(a)) {
                json_decref(a);
                return -EBADMSG;
        }
        rec->layers = calloc(json_array_size(a) + 1, sizeof(*rec->layers));
        if (!rec->layers) {
                json_decref(a);
                return -ENOMEM;
        }
        json_array_foreach(a, i, l) {
                struct image_rec_layer *d = &rec->layers[rec->n_layers++];
                const char *dg = json_string_value(json_object_get(l, "digest"));
                const char *mt = json_string_value(json_object_get(l, "media_type"));

                d->digest = dg ? strdup(dg) : NULL;
                d->media_type = mt ? strdup(mt) : NULL;
                d->diff_id = strdup(json_string_value(json_object_get(l, "diff_id")) ?: "");
                d->size = (uint64_t) json_integer_value(json_object_get(l, "size"));
        }
        json_decref(a);
        return 0;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
        const char *t = (const char *) sqlite3_column_text(st, i);

        return t ? strdup(t) : NULL;
}

static int load(struct image_store *s, const char *id, struct image_rec **ret, struct pxe **err)
{
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_image_rec_ struct image_rec *rec = calloc(1, sizeof(*rec));
        int r;

        if (!rec)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (prepare(s, "SELECT id, manifest_digest, size, created, config, layers FROM images WHERE id = ?1", &st,
                    err, id, NULL) < 0)
                return -EIO;
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return pxe_set(err, ENOENT, "Image %s not found", id);
        if (r != SQLITE_ROW)
                return db_fail(s, "reading an image", err);
        rec->id = col_dup(st, 0);
        rec->config_digest = col_dup(st, 0);
        rec->manifest_digest = col_dup(st, 1);
        rec->size = (uint64_t) sqlite3_column_int64(st, 2);
        rec->created = sqlite3_column_int64(st, 3);
        rec->config = col_dup(st, 4);
        if (parse_layers((const char *) sqlite3_column_text(st, 5), rec) < 0)
                return pxe_set(err, EBADMSG, "Image %s: damaged layer list", id);
        if (collect(s, "SELECT name FROM tags WHERE image_id = ?1 ORDER BY name", id, &rec->repo_tags,
                    &rec->n_repo_tags, err) < 0 ||
            collect(s, "SELECT name FROM repo_digests WHERE image_id = ?1 ORDER BY name", id, &rec->repo_digests,
                    &rec->n_repo_digests, err) < 0)
                return -EIO;
        *ret = TAKE_PTR(rec);
        return 0;
}

/* The image ID a name resolves to through sql, or NULL. */
static int lookup_one(struct image_store *s, const char *sql, const char *arg, char **ret, struct pxe **err)
{
        char **v = NULL;
        size_t n = 0;

        if (collect(s, sql, arg, &v, &n, err) < 0)
                return -EIO;
        if (n > 1) {
                strv_free(v, n);
                return pxe_set(err, EINVAL, "Image ID prefix %s is ambiguous", arg);
        }
        *ret = n ? TAKE_PTR(v[0]) : NULL;
        strv_free(v, n);
        return 0;
}

static bool is_hex_prefix(const char *s)
{
        size_t n = strspn(s, "0123456789abcdef");

        return n >= 4 && n <= DIGEST_HEX_LEN && s[n] == '\0';
}

static int resolve_name(struct image_store *s, const char *name, char **ret, struct pxe **err)
{
        if (lookup_one(s, "SELECT image_id FROM tags WHERE name = ?1", name, ret, err) < 0)
                return -EIO;
        if (!*ret && lookup_one(s, "SELECT image_id FROM repo_digests WHERE name = ?1", name, ret, err) < 0)
                return -EIO;
        return 0;
}

static int resolve(struct image_store *s, const char *ref, char **ret, struct pxe **err)
{
        _cleanup_image_ref_ struct image_ref parsed = { 0 };
        _cleanup_free_ char *norm = NULL, *like = NULL;
        const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;

        *ret = NULL;
        if (digest_is_valid(ref))
                return lookup_one(s, "SELECT id FROM images WHERE id = ?1", ref, ret, err);
        if (resolve_name(s, ref, ret, err) < 0 || *ret)
                return *ret ? 0 : -EIO;
        if (is_hex_prefix(hex)) {
                if (asprintf(&like, "sha256:%s%%", hex) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (lookup_one(s, "SELECT id FROM images WHERE id LIKE ?1", like, ret, err) < 0 || *ret)
                        return *ret ? 0 : -EINVAL;
        }
        if (image_ref_parse(ref, &parsed, NULL) < 0 || !(norm = image_ref_string(&parsed)))
                return 0;
        return resolve_name(s, norm, ret, err);
}

int image_store_get(struct image_store *s, const char *ref, struct image_rec **ret, struct pxe **err)
{
        _cleanup_free_ char *id = NULL;

        if (resolve(s, ref, &id, err) < 0)
                return -pxe_code(err, EIO);
        if (!id)
                return pxe_set(err, ENOENT, "Image %s not found", ref);
        return load(s, id, ret, err);
}

int image_store_list(struct image_store *s, struct image_rec ***ret, size_t *ret_n, struct pxe **err)
{
        char **ids = NULL;
        struct image_rec **v;
        size_t n = 0, i;

        if (collect(s, "SELECT id FROM images ORDER BY created DESC, id", NULL, &ids, &n, err) < 0)
                return -EIO;
        v = calloc(n + 1, sizeof(*v));
        if (!v) {
                strv_free(ids, n);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        for (i = 0; i < n; i++)
                if (load(s, ids[i], &v[i], err) < 0)
                        break;
        strv_free(ids, n);
        if (i < n) {
                image_rec_list_free(v, i);
                return -pxe_code(err, EIO);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

int image_store_holders(struct image_store *s, const char *id, char ***ret, size_t *ret_n, struct pxe **err)
{
        *ret = NULL;
        *ret_n = 0;
        return collect(s, "SELECT holder FROM refs WHERE image_id = ?1 ORDER BY holder", id, ret, ret_n, err);
}

static int remove_rows(struct image_store *s, const char *id, struct pxe **err)
{
        if (run(s, "DELETE FROM refs WHERE image_id = ?1", err, id, NULL) < 0 ||
            run(s, "DELETE FROM tags WHERE image_id = ?1", err, id, NULL) < 0 ||
            run(s, "DELETE FROM repo_digests WHERE image_id = ?1", err, id, NULL) < 0 ||
            run(s, "DELETE FROM images WHERE id = ?1", err, id, NULL) < 0)
                return -EIO;
        return 0;
}

int image_store_remove(struct image_store *s, const char *id, bool force, struct pxe **err)
{
        char **holders = NULL;
        size_t n = 0;

        if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
                return -EIO;
        if (image_store_holders(s, id, &holders, &n, err) < 0)
                goto fail;
        if (n > 0 && !force) {
                pxe_set(err, EBUSY, "Image %s is in use by %s%s (remove that first, or use --force)", id, holders[0],
                        n > 1 ? " and others" : "");
                goto fail;
        }
        if (remove_rows(s, id, err) < 0 || exec_sql(s, "COMMIT", err) < 0)
                goto fail;
        strv_free(holders, n);
        return 0;
fail:
        strv_free(holders, n);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -pxe_code(err, EIO);
}

int image_store_untag(struct image_store *s, const char *ref, struct pxe **err)
{
        _cleanup_image_ref_ struct image_ref parsed = { 0 };
        _cleanup_free_ char *norm = NULL;

        if (run(s, "DELETE FROM tags WHERE name = ?1", err, ref, NULL) < 0)
                return -EIO;
        if (sqlite3_changes(s->db) > 0)
                return 1;
        if (image_ref_parse(ref, &parsed, NULL) < 0 || !(norm = image_ref_string(&parsed)))
                return 0;
        if (run(s, "DELETE FROM tags WHERE name = ?1", err, norm, NULL) < 0)
                return -EIO;
        return sqlite3_changes(s->db) > 0;
}

int image_store_ref_add(struct image_store *s, const char *holder, const char *id, struct pxe **err)
{
        _cleanup_free_ char *found = NULL;

        if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
                return -EIO;
        if (lookup_one(s, "SELECT id FROM images WHERE id = ?1", id, &found, err) < 0)
                goto fail;
        if (!found) {
                pxe_set(err, ENOENT, "Image %s not found", id);
                goto fail;
        }
        if (run(s, "INSERT OR REPLACE INTO refs(holder, image_id) VALUES(?1, ?2)", err, holder, id) < 0 ||
            exec_sql(s, "COMMIT", err) < 0)
                goto fail;
        return 0;
fail:
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -pxe_code(err, EIO);
}

int image_store_ref_drop(struct image_store *s, const char *holder, struct pxe **err)
{
        return run(s, "DELETE FROM refs WHERE holder = ?1", err, holder, NULL);
}

int image_store_used(struct image_store *s, char ***ret_diff_ids, size_t *ret_n_diff_ids, char ***ret_blobs,
                     size_t *ret_n_blobs, struct pxe **err)
{
        const char *layers_sql = "SELECT DISTINCT json_extract(l.value, '$.diff_id') FROM images, json_each(images.layers) l";
        const char *blobs_sql = "SELECT id FROM images UNION SELECT manifest_digest FROM images"
                                " WHERE manifest_digest IS NOT NULL UNION SELECT substr(name, instr(name, '@') + 1)"
                                " FROM repo_digests UNION SELECT json_extract(l.value, '$.digest')"
                                " FROM images, json_each(images.layers) l";
        char **d = NULL, **b = NULL;
        size_t nd = 0, nb = 0;

        if (collect(s, layers_sql, NULL, &d, &nd, err) < 0 || collect(s, blobs_sql, NULL, &b, &nb, err) < 0) {
                strv_free(d, nd);
                strv_free(b, nb);
                return -EIO;
        }
        *ret_diff_ids = d, *ret_n_diff_ids = nd;
        *ret_blobs = b, *ret_n_blobs = nb;
        return 0;
}
