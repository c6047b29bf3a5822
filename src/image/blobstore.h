/* Content-addressed blob store.
 *
 *   <root>/blobs/sha256/<hex>       verified blobs, read-only (0444), never partial
 *   <root>/ingest/<hex>.partial     a download in progress (resumable)
 *   <root>/ingest/<hex>.lock        flock()ed by whoever ingests <hex>
 *
 * A blob becomes visible only after its size and SHA-256 were verified: it is
 * written to ingest/, fsync'ed and renamed into blobs/.  Ingesting takes an
 * exclusive flock per digest, so two pulls (threads or processes) of the same
 * blob download it once; the second waits, then finds the blob in place.
 * Ingests run under the store-wide lock held shared (layers_lock_store), so
 * whoever holds it exclusive (prune) may clean ingest/ away.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image/digest.h"
#include "util/err.h"

struct blobstore;

/* Open (creating blobs/sha256 and ingest/ under root as needed). */
int blobstore_open(const char *root, struct blobstore **ret, struct pxe **err);
void blobstore_free(struct blobstore *bs);
const char *blobstore_root(const struct blobstore *bs);

/* Whether the verified blob is present.  digest must be valid. */
bool blobstore_has(struct blobstore *bs, const char *digest);

/* "<root>/blobs/sha256/<hex>" (malloc'ed), or NULL for an invalid digest / ENOMEM. */
char *blobstore_path(const struct blobstore *bs, const char *digest);

/* Read a whole blob (at most max bytes) into memory, NUL-terminated.  It is
 * re-verified against its digest (small blobs: manifests, configs). */
int blobstore_read(struct blobstore *bs, const char *digest, size_t max, char **ret, size_t *ret_len,
                   struct pxe **err);

/* Remove a blob (0 also when absent). */
int blobstore_remove(struct blobstore *bs, const char *digest, struct pxe **err);

/* Store a blob held in memory (verified against digest and size). */
int blobstore_put(struct blobstore *bs, const char *digest, const void *data, size_t len, struct pxe **err);

/* An ingest in progress: the holder owns the per-digest lock. */
struct blob_ingest {
        struct blobstore *bs;
        char *digest;
        uint64_t expected_size; /* UINT64_MAX: unknown */
        int lock_fd;
        int fd;                 /* the .partial, opened for appending */
        uint64_t offset;        /* bytes already in the .partial (resume from here) */
        struct digest_ctx *hash;/* fed with the bytes 0..offset already */
        bool done;
};

/* Begin ingesting digest.  Blocks while another ingest of the same digest runs.
 * Returns 1 when the blob is already present (nothing to do; *ret untouched),
 * 0 with *ret set up to append from ret->offset (an existing, valid-looking
 * .partial is kept and re-hashed, so a retried download resumes), negative on
 * error.  expected_size UINT64_MAX when unknown. */
int blobstore_ingest_begin(struct blobstore *bs, const char *digest, uint64_t expected_size,
                           struct blob_ingest **ret, struct pxe **err);

/* Append bytes (hashing them).  -EFBIG past expected_size. */
int blobstore_ingest_write(struct blob_ingest *in, const void *data, size_t len, struct pxe **err);

/* Drop what was written and start from 0 (server ignored a Range request). */
int blobstore_ingest_reset(struct blob_ingest *in, struct pxe **err);

/* Verify size and digest, fsync, rename into blobs/.  On a mismatch the partial
 * is deleted and -EBADMSG returned.  The ingest is finished either way. */
int blobstore_ingest_commit(struct blob_ingest *in, struct pxe **err);

/* Release the lock and free.  Without a commit the .partial stays for resuming
 * (keep=true) or is deleted (keep=false). */
void blobstore_ingest_end(struct blob_ingest *in, bool keep);

/* Remove what ended ingests left in ingest/ (.partial files kept for resuming,
 * lock files); *ret_removed (may be NULL) counts the partials.  Only under the
 * store-wide lock held exclusive, when no ingest can be running. */
int blobstore_clean_ingest(struct blobstore *bs, size_t *ret_removed, struct pxe **err);

static inline void blobstore_freep(struct blobstore **bs)
{
        blobstore_free(*bs);
}

#define _cleanup_blobstore_ __attribute__((cleanup(blobstore_freep)))
