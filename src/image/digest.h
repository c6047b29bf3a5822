/* Content digests: "sha256:<64 lowercase hex>" and streaming SHA-256. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define DIGEST_SHA256_PREFIX "sha256:"
#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (sizeof(DIGEST_SHA256_PREFIX) - 1 + DIGEST_HEX_LEN) /* 71 */

/* Whether s is "sha256:" followed by exactly 64 lowercase hex digits. */
bool digest_is_valid(const char *s);

/* 0, or -EINVAL with a message naming s (sha512 and others: "unsupported algorithm"). */
int digest_check(const char *s, struct pxe **err);

/* The 64-hex part of a valid digest. */
static inline const char *digest_hex(const char *digest)
{
        return digest + sizeof(DIGEST_SHA256_PREFIX) - 1;
}

struct digest_ctx;

struct digest_ctx *digest_new(void);
int digest_update(struct digest_ctx *d, const void *data, size_t len);
/* Write "sha256:<hex>" into out (>= DIGEST_STR_LEN + 1 bytes); the context can
 * be updated further after (it finalises a copy). */
int digest_final(struct digest_ctx *d, char *out);
void digest_free(struct digest_ctx *d);

/* One-shot: "sha256:<hex>" of data into out. */
int digest_buffer(const void *data, size_t len, char *out);

static inline void digest_freep(struct digest_ctx **d)
{
        digest_free(*d);
}

#define _cleanup_digest_ __attribute__((cleanup(digest_freep)))
