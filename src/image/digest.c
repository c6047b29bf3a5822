#include "image/digest.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's SHA-256 (SHA-NI / AVX2 code paths) from libcrypto, dlopen()ed on
 * first use like libcurl (curl_api.h): commands that never hash do not load it. */
#define LIBCRYPTO_SONAME "libcrypto.so.3"

static struct {
        EVP_MD_CTX *(*ctx_new)(void);
        void (*ctx_free)(EVP_MD_CTX *c);
        int (*init)(EVP_MD_CTX *c, const EVP_MD *t, ENGINE *e);
        int (*update)(EVP_MD_CTX *c, const void *d, size_t n);
        int (*final)(EVP_MD_CTX *c, unsigned char *md, unsigned *n);
        int (*copy)(EVP_MD_CTX *out, const EVP_MD_CTX *in);
        const EVP_MD *(*sha256)(void);
        int (*digest)(const void *d, size_t n, unsigned char *md, unsigned *len, const EVP_MD *t, ENGINE *e);
} evp;
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;
static bool evp_ok;

static void evp_load(void)
{
        void *h = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);

        if (!h)
                return;
        *(void **) &evp.ctx_new = dlsym(h, "EVP_MD_CTX_new");
        *(void **) &evp.ctx_free = dlsym(h, "EVP_MD_CTX_free");
        *(void **) &evp.init = dlsym(h, "EVP_DigestInit_ex");
        *(void **) &evp.update = dlsym(h, "EVP_DigestUpdate");
        *(void **) &evp.final = dlsym(h, "EVP_DigestFinal_ex");
        *(void **) &evp.copy = dlsym(h, "EVP_MD_CTX_copy_ex");
        *(void **) &evp.sha256 = dlsym(h, "EVP_sha256");
        *(void **) &evp.digest = dlsym(h, "EVP_Digest");
        evp_ok = evp.ctx_new && evp.ctx_free && evp.init && evp.update && evp.final && evp.copy && evp.sha256 &&
                 evp.digest;
}

static bool evp_get(void)
{
        pthread_once(&evp_once, evp_load);
        return evp_ok;
}

struct digest_ctx {
        EVP_MD_CTX *md;
};

bool digest_is_valid(const char *s)
{
        size_t plen = sizeof(DIGEST_SHA256_PREFIX) - 1;

        if (!s || strncmp(s, DIGEST_SHA256_PREFIX, plen) != 0)
                return false;
        s += plen;
        for (size_t i = 0; i < DIGEST_HEX_LEN; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return s[DIGEST_HEX_LEN] == '\0';
}

int digest_check(const char *s, struct pxe **err)
{
        const char *colon;

        if (digest_is_valid(s))
                return 0;
        if (!s)
                return pxe_set(err, EINVAL, "Missing digest");
        colon = strchr(s, ':');
        if (colon && strncmp(s, DIGEST_SHA256_PREFIX, sizeof(DIGEST_SHA256_PREFIX) - 1) != 0)
                return pxe_set(err, EINVAL, "Invalid digest \"%.80s\": unsupported algorithm (only sha256)", s);
        return pxe_set(err, EINVAL, "Invalid digest \"%.80s\": expected sha256: and 64 lowercase hex digits", s);
}

struct digest_ctx *digest_new(void)
{
        struct digest_ctx *d = evp_get() ? calloc(1, sizeof(*d)) : NULL;

        if (!d)
                return NULL;
        d->md = evp.ctx_new();
        if (!d->md || evp.init(d->md, evp.sha256(), NULL) != 1) {
                digest_free(d);
                return NULL;
        }
        return d;
}

int digest_update(struct digest_ctx *d, const void *data, size_t len)
{
        if (len == 0)
                return 0;
        return evp.update(d->md, data, len) == 1 ? 0 : -EIO;
}

static void to_hex(const unsigned char *md, unsigned n, char *out)
{
        static const char hex[] = "0123456789abcdef";

        memcpy(out, DIGEST_SHA256_PREFIX, sizeof(DIGEST_SHA256_PREFIX) - 1);
        out += sizeof(DIGEST_SHA256_PREFIX) - 1;
        for (unsigned i = 0; i < n; i++) {
                out[2 * i] = hex[md[i] >> 4];
                out[2 * i + 1] = hex[md[i] & 15];
        }
        out[2 * n] = '\0';
}

int digest_final(struct digest_ctx *d, char *out)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_MD_CTX *copy = evp.ctx_new();
        int ok;

        if (!copy)
                return -ENOMEM;
        ok = evp.copy(copy, d->md) == 1 && evp.final(copy, md, &n) == 1 && n == 32;
        evp.ctx_free(copy);
        if (!ok)
                return -EIO;
        to_hex(md, n, out);
        return 0;
}

void digest_free(struct digest_ctx *d)
{
        if (!d)
                return;
        if (d->md)
                evp.ctx_free(d->md);
        free(d);
}

int digest_buffer(const void *data, size_t len, char *out)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (!evp_get() || evp.digest(data, len, md, &n, evp.sha256(), NULL) != 1 || n != 32)
                return -EIO;
        to_hex(md, n, out);
        return 0;
}
