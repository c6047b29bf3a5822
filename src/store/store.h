/* pxcrid's state on disk: one SQLite database (WAL) of JSON documents by kind
 * and ID ("pod", "container").  The daemon writes a document at every
 * transition of the object, on its loop thread, so what it answers from
 * memory and what it finds after a restart (also after kill -9) agree.
 * synchronous=NORMAL: a committed write survives the process dying; a power
 * loss may take the last transitions back (they are reconciled with conmon's
 * exit files and the runtime's state on start). */
#pragma once

#include "util/err.h"

struct store;

int store_open(const char *path, struct store **ret, struct pxe **err);
void store_close(struct store *s);

int store_put(struct store *s, const char *kind, const char *id, const char *json, struct pxe **err);
/* Deleting what is not there is no error. */
int store_delete(struct store *s, const char *kind, const char *id, struct pxe **err);
/* fn for every document of kind, in insertion order; a negative return stops. */
int store_load(struct store *s, const char *kind, int (*fn)(const char *id, const char *json, void *data),
               void *data, struct pxe **err);

static inline void store_closep(struct store **s)
{
        store_close(*s);
}

#define _cleanup_store_ __attribute__((cleanup(store_closep)))
