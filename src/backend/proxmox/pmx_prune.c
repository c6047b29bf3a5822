/* Templates listed (pxcri proxmox-templates) and removed when no container
 * of pxcri's root uses them (pxcri proxmox-prune); the contract is in
 * proxmox.h.
 *
 * Removing one template, under its key's lock: each template container
 * that is still the key's is destroyed (a linked clone made outside pxcri
 * makes Proxmox refuse: that one, the file and the record are kept), then
 * the file, then the record and the lock file.  What is already gone counts
 * as removed.  A container that starts using the template takes the same
 * lock and records the key before releasing it (pmx_create.c), so a prune
 * either sees it or has finished before it looks.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/proxmox/pmx_private.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"

#define RECORD_MAX (64u << 10)
#define KEY_MAX 64
#define JSON_SUFFIX ".json"

static const char *const why_names[PMX_PRUNE_WHY_MAX] = {
        [PMX_PRUNE_UNUSED] = "unused",
        [PMX_PRUNE_IN_USE] = "in-use",
        [PMX_PRUNE_BUSY] = "busy",
        [PMX_PRUNE_REFUSED] = "refused",
};

const char *pmx_prune_why_to_string(enum pmx_prune_why w)
{
        return w >= 0 && w < PMX_PRUNE_WHY_MAX ? why_names[w] : "unknown";
}

bool pmx_template_key_ok(const char *key)
{
        size_t n = key ? strlen(key) : 0;

        if (n == 0 || n > KEY_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isdigit((unsigned char) key[i]) && !(key[i] >= 'a' && key[i] <= 'f'))
                        return false;
        return true;
}

static const char *without_algorithm(const char *image)
{
        return strncmp(image, "sha256:", 7) == 0 ? image + 7 : image;
}

bool pmx_image_matches(const char *recorded, const char *wanted)
{
        if (!recorded || !wanted)
                return false;
        recorded = without_algorithm(recorded);
        wanted = without_algorithm(wanted);
        return recorded[0] && streq(recorded, wanted);
}

bool pmx_prune_error_fatal(int code)
{
        switch (code) {
        case EHOSTUNREACH: /* every host down */
        case ECONNREFUSED:
        case EACCES:       /* 401: the token */
        case EPERM:        /* 403: a privilege the token lacks, for every template alike */
        case ETIMEDOUT:
        case EPROTO:       /* an answer that is not Proxmox's */
        case ELIBACC:      /* libcurl missing */
        case ENOMEM:
                return true;
        default:
                return false;
        }
}

static unsigned vmid_of(const json_t *v)
{
        json_int_t x = json_integer_value(v);

        return x > 0 && x < 1000000000 ? (unsigned) x : 0;
}

static void info_done(struct pmx_template_info *i)
{
        free(i->image);
        free(i->file);
        for (size_t k = 0; k < i->n_users; k++)
                free(i->users[k]);
        free(i->users);
}

int pmx_template_info_parse(const char *key, const json_t *rec, struct pmx_template_info *ret)
{
        const char *image = json_string_value(json_object_get(rec, "image"));
        const json_t *cts = json_object_get(rec, "ct");
        struct pmx_template_info i = {
                .ct_unprivileged = vmid_of(json_object_get(cts, "unprivileged")),
                .ct_privileged = vmid_of(json_object_get(cts, "privileged")),
                .linked = !json_is_false(json_object_get(rec, "linked")),
        };

        if (!pmx_template_key_ok(key))
                return -EINVAL;
        snprintf(i.key, sizeof(i.key), "%s", key);
        if ((image && image[0] && !(i.image = strdup(image))) || asprintf(&i.file, PMX_TEMPLATE_FILE_FMT, key) < 0) {
                free(i.image);
                return -ENOMEM;
        }
        *ret = i;
        return 0;
}

void pmx_templates_list_free(struct pmx_template_info *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                info_done(&v[i]);
        free(v);
}

static void strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int strv_add(char ***v, size_t *n, const char *s)
{
        char **nv = realloc(*v, (*n + 1) * sizeof(**v));

        if (!nv)
                return -ENOMEM;
        *v = nv;
        if (!(nv[*n] = strdup(s)))
                return -ENOMEM;
        (*n)++;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* ---- what is recorded, and who uses it ---- */

/* The containers of b's root and the template key each was made from
 * (key given: only its users), as parallel lists. */
struct users {
        char **keys, **ids;
        size_t n, n_ids;
};

static void users_done(struct users *u)
{
        strv_free(u->keys, u->n);
        strv_free(u->ids, u->n_ids);
        *u = (struct users) { 0 };
}

static int users_scan(struct backend *b, const char *key, struct users *u, struct pxe **err)
{
        DIR *d = opendir(b->root);
        struct dirent *de;
        int r = 0;

        if (!d)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Reading %s", b->root);
        while (r == 0 && (de = readdir(d))) {
                json_auto_t *st = NULL;
                const char *t;

                if (de->d_name[0] == '.' || streq(de->d_name, "templates") ||
                    backend_load_state(b, de->d_name, &st, NULL) < 0)
                        continue;
                t = json_string_value(json_object_get(st, "template"));
                if (t && (!key || streq(t, key)) &&
                    (strv_add(&u->keys, &u->n, t) < 0 || strv_add(&u->ids, &u->n_ids, de->d_name) < 0))
                        r = pxe_set(err, ENOMEM, "Out of memory");
        }
        closedir(d);
        return r;
}

/* The IDs of key's users, sorted, into *v (appended). */
static int users_of(const struct users *u, const char *key, char ***v, size_t *n)
{
        for (size_t i = 0; i < u->n && i < u->n_ids; i++)
                if (streq(u->keys[i], key) && strv_add(v, n, u->ids[i]) < 0)
                        return -ENOMEM;
        if (*n > 1)
                qsort(*v, *n, sizeof(**v), cmp_str);
        return 0;
}

static int is_record(const struct dirent *de)
{
        size_t n = strlen(de->d_name), s = strlen(JSON_SUFFIX);
        char key[KEY_MAX + 1];

        if (n <= s || n - s > KEY_MAX || !streq(de->d_name + n - s, JSON_SUFFIX))
                return 0;
        snprintf(key, sizeof(key), "%.*s", (int) (n - s), de->d_name);
        return pmx_template_key_ok(key);
}

/* The keys of dir's records, sorted; none when dir does not exist. */
static int record_keys(const char *dir, char ***ret, size_t *ret_n, struct pxe **err)
{
        struct dirent **ents = NULL;
        char **keys = NULL;
        size_t nk = 0;
        int n, r = 0;

        *ret = NULL;
        *ret_n = 0;
        n = scandir(dir, &ents, is_record, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : pxe_set_errno(err, errno, "Reading %s", dir);
        for (int i = 0; i < n; i++) {
                ents[i]->d_name[strlen(ents[i]->d_name) - strlen(JSON_SUFFIX)] = '\0';
                if (r == 0 && strv_add(&keys, &nk, ents[i]->d_name) < 0)
                        r = pxe_set(err, ENOMEM, "Out of memory");
                free(ents[i]);
        }
        free(ents);
        if (r < 0) {
                strv_free(keys, nk);
                return r;
        }
        *ret = keys;
        *ret_n = nk;
        return 0;
}

/* A record as a JSON object ({} when it is not one); -ENOENT when gone. */
static int read_record(const char *path, json_t **ret)
{
        _cleanup_free_ char *text = NULL;
        json_t *j;
        int r = fs_read_file(path, RECORD_MAX, &text, NULL, NULL);

        if (r < 0)
                return r == -ENOENT || !fs_exists(path) ? -ENOENT : r;
        j = json_loads(text, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                j = json_object();
        }
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

bool pmx_templates_recorded(const char *root)
{
        _cleanup_free_ char *dir = NULL;
        char **keys = NULL;
        size_t n = 0;

        if (asprintf(&dir, "%s/%s/templates", root, backend_id_to_name(BACKEND_PROXMOX)) < 0)
                return true; /* cannot tell: look properly */
        if (record_keys(dir, &keys, &n, NULL) < 0)
                return true;
        strv_free(keys, n);
        return n > 0;
}

int pmx_templates_list(struct backend *b, struct pmx_template_info **ret, size_t *ret_n, struct pxe **err)
{
        _cleanup_free_ char *dir = pmx_path(b, "templates", NULL);
        struct pmx_template_info *v = NULL;
        struct users u = { 0 };
        char **keys = NULL;
        size_t nk = 0, n = 0;
        int r;

        if (!dir)
                return pxe_set(err, ENOMEM, "Out of memory");
        if ((r = record_keys(dir, &keys, &nk, err)) < 0 || (r = users_scan(b, NULL, &u, err)) < 0)
                goto out;
        if (nk && !(v = calloc(nk, sizeof(*v)))) {
                r = pxe_set(err, ENOMEM, "Out of memory");
                goto out;
        }
        for (size_t i = 0; i < nk && r == 0; i++) {
                _cleanup_free_ char *path = NULL;
                json_auto_t *rec = NULL;

                if (asprintf(&path, "%s/%s" JSON_SUFFIX, dir, keys[i]) < 0)
                        r = pxe_set(err, ENOMEM, "Out of memory");
                else if (read_record(path, &rec) < 0)
                        continue; /* removed meanwhile */
                else if (pmx_template_info_parse(keys[i], rec, &v[n]) < 0 ||
                         users_of(&u, keys[i], &v[n].users, &v[n].n_users) < 0)
                        r = pxe_set(err, ENOMEM, "Out of memory");
                n += r == 0;
        }
out:
        strv_free(keys, nk);
        users_done(&u);
        if (r < 0) {
                pmx_templates_list_free(v, v ? nk : 0); /* calloc'ed: entries not reached are empty */
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- prune ---- */

struct prune {
        struct backend *b;
        const char *image;          /* NULL: every unused template */
        char *dir;                  /* <root>/proxmox/templates */
        struct pve_client *client;  /* opened when a template is to be removed */
        struct pmx_prune_result res;
};

static void entry_done(struct pmx_prune_entry *e)
{
        free(e->image);
        strv_free(e->users, e->n_users);
        free(e->detail);
}

void pmx_prune_result_done(struct pmx_prune_result *r)
{
        for (size_t i = 0; i < r->n_entries; i++)
                entry_done(&r->entries[i]);
        free(r->entries);
        *r = (struct pmx_prune_result) { 0 };
}

char *pmx_prune_reason(const struct pmx_prune_entry *e)
{
        char *s = NULL, *joined = NULL;
        size_t len = 0;
        FILE *f;

        switch (e->why) {
        case PMX_PRUNE_IN_USE:
                if (!(f = open_memstream(&joined, &len)))
                        return NULL;
                for (size_t i = 0; i < e->n_users; i++)
                        fprintf(f, "%s%s", i ? ", " : "", e->users[i]);
                if (fclose(f) != 0)
                        return NULL;
                if (asprintf(&s, "in use by %zu container%s: %s", e->n_users, e->n_users == 1 ? "" : "s", joined) < 0)
                        s = NULL;
                free(joined);
                return s;
        case PMX_PRUNE_BUSY:
                return strdup("in use by a create of its image right now");
        case PMX_PRUNE_REFUSED:
                return strdup(e->detail ? e->detail : "Proxmox refused");
        default:
                return strdup(pmx_prune_why_to_string(e->why));
        }
}

static int entry_add(struct prune *p, struct pmx_prune_entry *e)
{
        struct pmx_prune_entry *v = realloc(p->res.entries, (p->res.n_entries + 1) * sizeof(*v));

        if (!v) {
                entry_done(e);
                return -ENOMEM;
        }
        p->res.entries = v;
        v[p->res.n_entries++] = *e;
        if (e->why == PMX_PRUNE_UNUSED)
                p->res.n_removed++;
        else
                p->res.n_kept++;
        return 0;
}

/* A failure of Proxmox for this template: the prune's error when it cannot
 * go on (returns -code), else one more reason to keep it (returns 1). */
static int refused(struct pxe **e, char **detail, struct pxe **err)
{
        char *d = NULL;

        if (pmx_prune_error_fatal((*e)->code)) {
                int code = (*e)->code;

                *err = TAKE_PTR(*e);
                return -code;
        }
        if (asprintf(&d, "%s%s%s", *detail ? *detail : "", *detail ? "; " : "", (*e)->msg) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        free(*detail);
        *detail = d;
        return 1;
}

/* 0 destroyed (or gone, or no longer the key's: forgotten), 1 kept (detail), <0 the prune's error. */
static int destroy_ct(struct prune *p, unsigned vmid, const char *key, char **detail, struct pxe **err)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        char *upid = NULL;
        int r = pmx_template_ct_ours(p->client, vmid, key, &e);

        if (r == 0)
                log_debug("Template container %u of %s is gone or no longer pxcri's: forgotten", vmid, key);
        if (r == 0 || (r == 1 && pve_destroy(p->client, vmid, false, &upid, &e) == 0 &&
                       pmx_task_wait(p->b, p->client, upid, &e) == 0))
                return 0;
        if (e && e->code == ENOENT)
                return 0;
        if (!e)
                return pxe_set(err, EIO, "Template container %u: destroy failed", vmid);
        return refused(&e, detail, err);
}

/* Its containers, the file, the record (held: key's lock at lock_path). 0
 * removed, 1 kept (detail says why), <0 the prune's error. */
static int remove_template(struct prune *p, const char *key, json_t *rec, const char *rec_path,
                           const char *lock_path, char **detail, struct pxe **err)
{
        static const char *const which[] = { "unprivileged", "privileged" };
        _cleanup_pxe_ struct pxe *e = NULL;
        _cleanup_free_ char *file = NULL;
        json_t *cts = json_object_get(rec, "ct");
        bool kept = false;
        int r = 0;

        if (!p->client && pmx_client(p->b, &p->client, err) < 0)
                return -pxe_code(err, EIO);
        for (size_t i = 0; i < ARRAY_SIZE(which) && r >= 0; i++) {
                unsigned vmid = vmid_of(json_object_get(cts, which[i]));

                if (!vmid)
                        continue;
                r = destroy_ct(p, vmid, key, detail, err);
                if (r == 0)
                        json_object_del(cts, which[i]);
                kept |= r > 0;
        }
        if (r >= 0 && !kept) {
                /* The file named by the key: the record's "file" may be
                 * missing (made by another root sharing template_storage). */
                if (asprintf(&file, PMX_TEMPLATE_FILE_FMT, key) < 0)
                        return pxe_set(err, ENOMEM, "Out of memory");
                if (pve_template_delete(p->client, file, &e) < 0) {
                        r = refused(&e, detail, err);
                        kept |= r > 0;
                }
        }
        if (r >= 0 && !kept) {
                if (unlink(rec_path) < 0 && errno != ENOENT)
                        return pxe_set_errno(err, errno, "Removing %s", rec_path);
                unlink(lock_path); /* while held: see pmx_template_lock() */
                return 0;
        }
        /* Kept, or stopped: the record loses what is gone. */
        if (r < 0) {
                pmx_template_record_save(rec_path, rec, NULL);
                return r;
        }
        return pmx_template_record_save(rec_path, rec, err) < 0 ? -pxe_code(err, EIO) : 1;
}

static bool wanted(const struct prune *p, const json_t *rec)
{
        return !p->image || pmx_image_matches(json_string_value(json_object_get(rec, "image")), p->image);
}

/* Under key's lock: kept while this root's containers use it, else removed. */
static int decide(struct prune *p, const char *key, json_t *rec, const char *rec_path, const char *lock_path,
                  struct pmx_prune_entry *e, struct pxe **err)
{
        struct users u = { 0 };
        int r = users_scan(p->b, key, &u, err);

        if (r == 0 && u.n > 0) {
                e->why = PMX_PRUNE_IN_USE;
                r = users_of(&u, key, &e->users, &e->n_users) < 0 ? pxe_set(err, ENOMEM, "Out of memory") : 0;
        } else if (r == 0) {
                r = remove_template(p, key, rec, rec_path, lock_path, &e->detail, err);
                e->why = r > 0 ? PMX_PRUNE_REFUSED : PMX_PRUNE_UNUSED;
        }
        users_done(&u);
        return r < 0 ? r : 0;
}

/* One key: skipped when it is not the image asked for, else kept or removed. */
static int prune_key(struct prune *p, const char *key, struct pxe **err)
{
        _cleanup_free_ char *rec_path = NULL, *lock_path = NULL;
        _cleanup_close_ int lock = -EBADF;
        struct pmx_prune_entry e = { 0 };
        json_auto_t *rec = NULL;
        const char *image;
        int r;

        if (asprintf(&rec_path, "%s/%s" JSON_SUFFIX, p->dir, key) < 0 ||
            asprintf(&lock_path, "%s/%s.lock", p->dir, key) < 0)
                return pxe_set(err, ENOMEM, "Out of memory");
        /* Looked at before the lock: a create of another image holding its
         * key's lock through a long upload does not hold up prune --image. */
        if (read_record(rec_path, &rec) < 0 || !wanted(p, rec))
                return 0;
        snprintf(e.key, sizeof(e.key), "%s", key);
        r = pmx_template_lock(p->dir, key, false, &lock, err);
        if (r == -EWOULDBLOCK) {
                e.why = PMX_PRUNE_BUSY; /* rec: as read before */
                r = 0;
        } else if (r < 0) {
                return r;
        } else {
                json_decref(TAKE_PTR(rec));
                if ((r = read_record(rec_path, &rec)) < 0) {
                        unlink(lock_path); /* removed meanwhile: the lock file just made goes too */
                        return r == -ENOENT ? 0 : pxe_set_errno(err, -r, "Reading %s", rec_path);
                }
                if (!wanted(p, rec))
                        return 0;
                r = decide(p, key, rec, rec_path, lock_path, &e, err);
        }
        image = json_string_value(json_object_get(rec, "image"));
        if (r == 0 && image && !(e.image = strdup(image)))
                r = pxe_set(err, ENOMEM, "Out of memory");
        if (r < 0) {
                entry_done(&e);
                return pxe_wrap(err, "Pruning Proxmox template %s", key);
        }
        return entry_add(p, &e) < 0 ? pxe_set(err, ENOMEM, "Out of memory") : 0;
}

int pmx_templates_prune(struct backend *b, const char *image_id, struct pmx_prune_result *ret, struct pxe **err)
{
        struct prune p = { .b = b, .image = image_id };
        char **keys = NULL;
        size_t nk = 0;
        int r;

        if (image_id && !image_id[0])
                return pxe_set(err, EINVAL, "The image ID to prune templates of is empty");
        if (!(p.dir = pmx_path(b, "templates", NULL)))
                return pxe_set(err, ENOMEM, "Out of memory");
        r = record_keys(p.dir, &keys, &nk, err);
        for (size_t i = 0; i < nk && r == 0; i++)
                r = prune_key(&p, keys[i], err);
        strv_free(keys, nk);
        free(p.dir);
        pve_client_free(p.client);
        if (r < 0) {
                pmx_prune_result_done(&p.res);
                return r;
        }
        *ret = p.res;
        return 0;
}
