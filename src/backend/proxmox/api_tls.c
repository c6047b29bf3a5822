/* Certificate fingerprint pinning for the Proxmox API.
 *
 * What is pinned: the SHA-256 of the server's leaf certificate in DER form,
 * the fingerprint Proxmox shows (Node -> Certificates) and `openssl x509
 * -noout -fingerprint -sha256` prints.  libcurl's CURLOPT_PINNEDPUBLICKEY
 * pins the public key instead, so the check is done here: a verify callback
 * installed into libcurl's OpenSSL context (CURLOPT_SSL_CTX_FUNCTION) compares
 * the leaf certificate during the handshake, so a mismatch aborts it before
 * any request -- and the API token -- is sent.  Chain and host name are not
 * checked when a fingerprint is pinned (self-signed Proxmox certificates are
 * the reason to pin).  libssl and libcrypto are those libcurl already loaded
 * (dlopen of the same sonames). */
#include "backend/proxmox/api_tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"

#define LIBSSL_SONAME "libssl.so.3"
#define LIBCRYPTO_SONAME "libcrypto.so.3"
#define SSL_VERIFY_PEER_ 0x01

typedef void X509;
typedef void X509_STORE_CTX;
typedef void EVP_MD;
typedef void SSL_CTX;

static struct {
        void (*set_cert_verify_callback)(SSL_CTX *ctx, int (*cb)(X509_STORE_CTX *, void *), void *arg);
        void (*set_verify)(SSL_CTX *ctx, int mode, void *cb);
        X509 *(*get0_cert)(X509_STORE_CTX *s);
        int (*digest)(const X509 *x, const EVP_MD *md, unsigned char *out, unsigned *len);
        const EVP_MD *(*sha256)(void);
        bool ok;
} ossl;
static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;

static void ossl_load(void)
{
        void *ssl = dlopen(LIBSSL_SONAME, RTLD_NOW | RTLD_LOCAL);
        void *crypto = dlopen(LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);

        if (!ssl || !crypto)
                return;
        *(void **) &ossl.set_cert_verify_callback = dlsym(ssl, "SSL_CTX_set_cert_verify_callback");
        *(void **) &ossl.set_verify = dlsym(ssl, "SSL_CTX_set_verify");
        *(void **) &ossl.get0_cert = dlsym(crypto, "X509_STORE_CTX_get0_cert");
        *(void **) &ossl.digest = dlsym(crypto, "X509_digest");
        *(void **) &ossl.sha256 = dlsym(crypto, "EVP_sha256");
        ossl.ok = ossl.set_cert_verify_callback && ossl.set_verify && ossl.get0_cert && ossl.digest && ossl.sha256;
}

int api_pin_parse(const char *text, struct api_pin *pin, struct pxe **err)
{
        size_t n = 0;

        memset(pin, 0, sizeof(*pin));
        for (const char *p = text; *p; p++) {
                unsigned v;

                if (*p == ':')
                        continue;
                if (n >= 64 || sscanf(p, "%1x", &v) != 1)
                        return pxe_set(err, EINVAL, "backends.proxmox.tls.fingerprint: expected 64 hex digits");
                pin->want[n / 2] = (unsigned char) (pin->want[n / 2] << 4 | v);
                n++;
        }
        if (n != 64)
                return pxe_set(err, EINVAL, "backends.proxmox.tls.fingerprint: expected 64 hex digits");
        pin->enabled = true;
        return 0;
}

void api_pin_format(const unsigned char *md, char *out, size_t size)
{
        size_t used = 0;

        out[0] = '\0';
        for (int i = 0; i < 32 && used + 4 <= size; i++)
                used += (size_t) snprintf(out + used, size - used, "%s%02X", i ? ":" : "", md[i]);
}

static int verify_cb(X509_STORE_CTX *store, void *arg)
{
        struct api_pin *pin = arg;
        X509 *leaf = ossl.get0_cert(store);
        unsigned len = 0;

        pin->checked = true;
        if (!leaf || !ossl.digest(leaf, ossl.sha256(), pin->got, &len) || len != 32) {
                pin->mismatch = true;
                return 0;
        }
        pin->mismatch = memcmp(pin->got, pin->want, 32) != 0;
        return pin->mismatch ? 0 : 1;
}

/* CURLOPT_SSL_CTX_FUNCTION: runs for every new TLS connection. */
static CURLcode ssl_ctx_cb(CURL *curl, void *ctx, void *arg)
{
        ossl.set_verify(ctx, SSL_VERIFY_PEER_, NULL);
        ossl.set_cert_verify_callback(ctx, verify_cb, arg);
        return CURLE_OK;
}

int api_pin_install(const struct curl_api *api, CURL *h, struct api_pin *pin, struct pxe **err)
{
        pthread_once(&ossl_once, ossl_load);
        if (!ossl.ok)
                return pxe_set(err, ELIBACC, "TLS fingerprint pinning needs %s and %s", LIBSSL_SONAME, LIBCRYPTO_SONAME);
        pin->checked = pin->mismatch = false;
        /* The pin replaces chain and name verification (see above). */
        api->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        api->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        api->easy_setopt(h, CURLOPT_SSL_CTX_DATA, pin);
        if (api->easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK)
                return pxe_set(err, ENOTSUP, "TLS fingerprint pinning needs libcurl built with OpenSSL");
        return 0;
}
