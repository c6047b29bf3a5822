/* TLS for the streaming server over memory BIOs (tls.h).
 *
 * The context: TLS 1.2 or newer with OpenSSL's default ciphers, no
 * renegotiation, no session resumption (a streaming URL is used once, by one
 * connection, so there is nothing to resume and no ticket key to rotate).
 * The private key is read from a descriptor that was checked first: a
 * regular file owned by root that group and others cannot read. */
#include "stream/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "util/cleanup.h"

#define REASON_MAX 256

struct stream_tls_ctx {
        SSL_CTX *ctx;
};

struct stream_tls {
        SSL *ssl;
        BIO *in, *out;          /* owned by ssl */
        bool failed, notified;
        char why[REASON_MAX];
};

/* OpenSSL's reasons for the last failure, from its (per-thread) error
 * queue, which is left empty: "reason (detail): reason", without repeats. */
static void ssl_reason(char *buf, size_t size)
{
        char piece[REASON_MAX];
        const char *data;
        unsigned long e;
        size_t used = 0;
        int flags, n;

        buf[0] = '\0';
        while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags))) {
                const char *why = ERR_reason_error_string(e);
                bool extra = (flags & ERR_TXT_STRING) && data && *data;

                if (ERR_GET_REASON(e) == ERR_R_SYS_LIB) /* "system lib": the errno comes on its own */
                        continue;
                if (ERR_SYSTEM_ERROR(e))
                        snprintf(piece, sizeof(piece), "%s", strerror(ERR_GET_REASON(e)));
                else if (why)
                        snprintf(piece, sizeof(piece), "%s%s%s%s", why, extra ? " (" : "", extra ? data : "",
                                 extra ? ")" : "");
                else
                        snprintf(piece, sizeof(piece), "error %#lx", e);
                if (used >= size || strstr(buf, piece))
                        continue;
                n = snprintf(buf + used, size - used, "%s%s", used ? ": " : "", piece);
                if (n > 0)
                        used += (size_t) n;
        }
        if (!buf[0])
                snprintf(buf, size, "unknown OpenSSL error");
}

/* Never prompt on a terminal for a pass phrase: an encrypted key fails. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
        (void) buf;
        (void) size;
        (void) rwflag;
        (void) u;
        return 0;
}

static int load_key(SSL_CTX *ctx, const char *path, struct pxe **err)
{
        _cleanup_close_ int fd = -EBADF;
        char why[REASON_MAX];
        struct stat st;
        EVP_PKEY *pkey;
        BIO *bio;
        int ok;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return pxe_set_errno(err, errno, "cri.stream_tls_key %s", path);
        if (!S_ISREG(st.st_mode))
                return pxe_set(err, EINVAL, "cri.stream_tls_key %s: not a regular file", path);
        if (st.st_uid != 0)
                return pxe_set(err, EPERM, "cri.stream_tls_key %s: owned by uid %u; a private key must be owned "
                               "by root (chown root %s)", path, (unsigned) st.st_uid, path);
        if (st.st_mode & 077)
                return pxe_set(err, EPERM, "cri.stream_tls_key %s: mode %04o lets group or others read the "
                               "private key; it must be 0600 or stricter (chmod 600 %s)", path,
                               (unsigned) (st.st_mode & 07777), path);
        ERR_clear_error();
        bio = BIO_new_fd(fd, BIO_NOCLOSE);
        pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
        BIO_free(bio);
        if (!pkey) {
                ssl_reason(why, sizeof(why));
                return pxe_set(err, EINVAL, "cri.stream_tls_key %s: no unencrypted PEM private key: %s", path,
                               why);
        }
        ok = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
        EVP_PKEY_free(pkey);
        if (!ok) {
                ssl_reason(why, sizeof(why));
                return pxe_set(err, EINVAL, "cri.stream_tls_key %s does not go with the certificate: %s", path, why);
        }
        return 0;
}

/* Client certificates: required, and verified against ca. */
static int load_client_ca(SSL_CTX *ctx, const char *ca, struct pxe **err)
{
        STACK_OF(X509_NAME) *names;
        char why[REASON_MAX];

        ERR_clear_error();
        names = SSL_load_client_CA_file(ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
                sk_X509_NAME_pop_free(names, X509_NAME_free);
                ssl_reason(why, sizeof(why));
                return pxe_set(err, EINVAL, "cri.stream_tls_ca %s: no PEM certificates: %s", ca, why);
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        return 0;
}

int stream_tls_ctx_new(const char *cert, const char *key, const char *ca, struct stream_tls_ctx **ret,
                       struct pxe **err)
{
        struct stream_tls_ctx *c = calloc(1, sizeof(*c));
        char why[REASON_MAX];
        int r;

        if (!c)
                return pxe_set(err, ENOMEM, "Out of memory");
        ERR_clear_error();
        c->ctx = SSL_CTX_new(TLS_server_method());
        if (!c->ctx) {
                ssl_reason(why, sizeof(why));
                r = pxe_set(err, ENOMEM, "Streaming server: making the TLS context: %s", why);
                goto fail;
        }
        SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
        SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(c->ctx, 0);
        SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
        if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1) {
                ssl_reason(why, sizeof(why));
                r = pxe_set(err, EINVAL, "cri.stream_tls_cert %s: no usable PEM certificate: %s", cert, why);
                goto fail;
        }
        if ((r = load_key(c->ctx, key, err)) < 0 || (ca && (r = load_client_ca(c->ctx, ca, err)) < 0))
                goto fail;
        *ret = c;
        return 0;
fail:
        stream_tls_ctx_free(c);
        return r;
}

void stream_tls_ctx_free(struct stream_tls_ctx *c)
{
        if (!c)
                return;
        SSL_CTX_free(c->ctx);
        free(c);
}

struct stream_tls *stream_tls_new(struct stream_tls_ctx *c)
{
        struct stream_tls *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->ssl = SSL_new(c->ctx);
        t->in = BIO_new(BIO_s_mem());
        t->out = BIO_new(BIO_s_mem());
        if (!t->ssl || !t->in || !t->out) {
                SSL_free(t->ssl);
                BIO_free(t->in);
                BIO_free(t->out);
                free(t);
                ERR_clear_error();
                return NULL;
        }
        /* An empty BIO means "wait for more", not the end of the stream. */
        BIO_set_mem_eof_return(t->in, -1);
        BIO_set_mem_eof_return(t->out, -1);
        SSL_set_bio(t->ssl, t->in, t->out);
        SSL_set_accept_state(t->ssl);
        return t;
}

void stream_tls_free(struct stream_tls *t)
{
        if (!t)
                return;
        SSL_free(t->ssl);
        free(t);
}

int stream_tls_feed(struct stream_tls *t, const void *buf, size_t n)
{
        while (n > 0) {
                int chunk = n > INT_MAX ? INT_MAX : (int) n;
                int w = BIO_write(t->in, buf, chunk);

                if (w <= 0) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
                buf = (const char *) buf + w;
                n -= (size_t) w;
        }
        return 0;
}

static void record_failure(struct stream_tls *t, int code)
{
        long verify = SSL_get_verify_result(t->ssl);
        size_t used;

        t->failed = true;
        ssl_reason(t->why, sizeof(t->why));
        if (code == SSL_ERROR_SSL && verify != X509_V_OK) {
                used = strlen(t->why);
                snprintf(t->why + used, sizeof(t->why) - used, ": client certificate: %s",
                         X509_verify_cert_error_string(verify));
        }
}

ssize_t stream_tls_read(struct stream_tls *t, void *buf, size_t cap)
{
        int n, e;

        if (t->failed)
                return -EPROTO;
        ERR_clear_error();
        n = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int) cap);
        if (n > 0)
                return n;
        e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 0;
        if (e == SSL_ERROR_ZERO_RETURN)
                return -EPIPE;
        record_failure(t, e);
        return -EPROTO;
}

int stream_tls_write(struct stream_tls *t, const void *buf, size_t len)
{
        if (t->failed)
                return -EPROTO;
        ERR_clear_error();
        while (len > 0) {
                int n = SSL_write(t->ssl, buf, len > INT_MAX ? INT_MAX : (int) len);

                if (n <= 0) {
                        record_failure(t, SSL_get_error(t->ssl, n));
                        return -EPROTO;
                }
                buf = (const char *) buf + n;
                len -= (size_t) n;
        }
        return 0;
}

bool stream_tls_close_notify(struct stream_tls *t)
{
        if (t->failed || t->notified || !SSL_is_init_finished(t->ssl))
                return false;
        t->notified = true;
        ERR_clear_error();
        /* 0: ours is queued, the client's not seen yet (nor waited for). */
        SSL_shutdown(t->ssl);
        ERR_clear_error();
        return true;
}

size_t stream_tls_pending(const struct stream_tls *t)
{
        return BIO_ctrl_pending(t->out);
}

size_t stream_tls_take(struct stream_tls *t, void *buf, size_t n)
{
        int r = BIO_read(t->out, buf, n > INT_MAX ? INT_MAX : (int) n);

        return r > 0 ? (size_t) r : 0;
}

const char *stream_tls_error(const struct stream_tls *t)
{
        return t->why;
}
