#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

struct store {
        sqlite3 *db;
        sqlite3_stmt *put;
        sqlite3_stmt *del;
        sqlite3_stmt *load;
        char *path;
};

static int db_error(struct store *s, const char *what, struct pxe **err)
{
        return pxe_set(err, EIO, "State database %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st, struct pxe **err)
{
        if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
                return db_error(s, "preparing a statement", err);
        return 0;
}

int store_open(const char *path, struct store **ret, struct pxe **err)
{
        static const char schema[] =
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "CREATE TABLE IF NOT EXISTS objects ("
                "  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
                "  PRIMARY KEY (kind, id));";
        struct store *s = calloc(1, sizeof(*s));

        int fd;

        if (!s || !(s->path = strdup(path))) {
                free(s);
                return pxe_set(err, ENOMEM, "Out of memory");
        }
        /* Requests (with their env) are kept here: the file is root's only,
         * and SQLite gives its -wal and -shm files the same mode. */
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || fchmod(fd, 0600) < 0) {
                int r = pxe_set_errno(err, errno, "Opening the state database %s", path);

                if (fd >= 0)
                        close(fd);
                free(s->path);
                free(s);
                return r;
        }
        close(fd);
        if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK) {
                int r = db_error(s, "opening", err);

                store_close(s);
                return r;
        }
        sqlite3_busy_timeout(s->db, 5000);
        if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
            prepare(s, "INSERT OR REPLACE INTO objects (kind, id, doc) VALUES (?1, ?2, ?3)", &s->put, err) < 0 ||
            prepare(s, "DELETE FROM objects WHERE kind = ?1 AND id = ?2", &s->del, err) < 0 ||
            prepare(s, "SELECT id, doc FROM objects WHERE kind = ?1 ORDER BY rowid", &s->load, err) < 0) {
                int r = pxe_code(err, 0) ? -pxe_code(err, EIO) : db_error(s, "creating the schema", err);

                store_close(s);
                return r;
        }
        *ret = s;
        return 0;
}

void store_close(struct store *s)
{
        if (!s)
                return;
        sqlite3_finalize(s->put);
        sqlite3_finalize(s->del);
        sqlite3_finalize(s->load);
        sqlite3_close(s->db);
        free(s->path);
        free(s);
}

static int step_done(struct store *s, sqlite3_stmt *st, const char *what, struct pxe **err)
{
        int rc = sqlite3_step(st);

        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
                return db_error(s, what, err);
        return 0;
}

int store_put(struct store *s, const char *kind, const char *id, const char *json, struct pxe **err)
{
        sqlite3_bind_text(s->put, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->put, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->put, 3, json, -1, SQLITE_STATIC);
        return step_done(s, s->put, "writing", err);
}

int store_delete(struct store *s, const char *kind, const char *id, struct pxe **err)
{
        sqlite3_bind_text(s->del, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->del, 2, id, -1, SQLITE_STATIC);
        return step_done(s, s->del, "deleting", err);
}

int store_load(struct store *s, const char *kind, int (*fn)(const char *id, const char *json, void *data),
               void *data, struct pxe **err)
{
        int rc, r = 0;

        sqlite3_bind_text(s->load, 1, kind, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(s->load)) == SQLITE_ROW) {
                r = fn((const char *) sqlite3_column_text(s->load, 0), (const char *) sqlite3_column_text(s->load, 1),
                       data);
                if (r < 0)
                        break;
        }
        sqlite3_reset(s->load);
        sqlite3_clear_bindings(s->load);
        if (r < 0)
                return r;
        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return db_error(s, "reading", err);
        return 0;
}
