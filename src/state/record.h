/* Per-container records: which backend a container was routed to.
 *
 * <root>/containers/<id>.json, written atomically when the container is
 * created and removed when it is deleted, so that state, kill, exec, delete
 * reach the backend that created it -- also after pxcri or the machine's
 * runtime daemon restarted.  IDs are validated before they touch a path.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "util/err.h"

struct record {
        char *id;
        enum backend_id backend;
        char *bundle;  /* absolute path */
        char *created; /* RFC 3339 */
        char *reason;  /* why this backend: the routing rule that decided */
};

/* Write a new record; -EEXIST if one exists.  Returns a descriptor holding an
 * exclusive lock on the record while the container is being set up; closing
 * it releases the lock. */
int record_create(const char *root, const struct record *r, struct pxe **err);

/* Whether the record of id is locked by a create in progress. */
bool record_busy(const char *root, const char *id);

/* -ENOENT with "container "<id>" does not exist" when there is no record. */
int record_load(const char *root, const char *id, struct record **ret, struct pxe **err);

int record_remove(const char *root, const char *id, struct pxe **err);

/* IDs of all records, sorted. */
int record_list(const char *root, char ***ret_ids, size_t *ret_n, struct pxe **err);

void record_free(struct record *r);
void record_ids_free(char **ids, size_t n);

static inline void record_freep(struct record **r)
{
        record_free(*r);
}

#define _cleanup_record_ __attribute__((cleanup(record_freep)))
