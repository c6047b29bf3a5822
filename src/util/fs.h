/* File helpers with the guarantees state needs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Create dir and its missing parents with mode (existing dirs are fine). */
int fs_mkdir_p(const char *path, mode_t mode, struct pxe **err);

/* Read a whole regular file (at most max bytes) into a NUL-terminated buffer. */
int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_len, struct pxe **err);

/* Replace path atomically: write a temp file in the same directory, fsync it,
 * rename it over path, fsync the directory.  Readers see the old or the new
 * content, never a mix; a crash leaves at most a stray ".tmp-" file. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct pxe **err);

/* Create path (it must not exist: -EEXIST) with data, without fsync: for
 * files in a directory that is thrown away whole when a crash leaves it
 * half-made (a bundle being created).  A failed write removes the file. */
int fs_write_new(const char *path, const void *data, size_t len, mode_t mode, struct pxe **err);

/* Like fs_write_atomic(), but fails with -EEXIST if path exists (link(2), not
 * rename).  On success returns an open O_CLOEXEC descriptor on the new file
 * holding an exclusive flock(), which the caller keeps while the object it
 * describes is being set up. */
int fs_create_exclusive_locked(const char *path, const void *data, size_t len, mode_t mode, struct pxe **err);

/* Whether path exists (any type, symlinks not followed). */
bool fs_exists(const char *path);

/* fs_exists() of a formatted path: 1, 0, or -ENOMEM. */
int fs_exists_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Remove path and everything below it, staying on its file system and not
 * following symlinks; what cannot be removed is logged (debug), not an error. */
void fs_rm_tree(const char *path);

/* Whether path is a directory (symlinks followed). */
bool fs_dir_exists(const char *path);
