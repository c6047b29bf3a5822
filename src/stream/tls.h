/* TLS for the streaming server (cri.stream_tls_cert, cri.stream_tls_key,
 * cri.stream_tls_ca): one OpenSSL context with the server's certificate and
 * key, and per connection an OpenSSL session over memory BIOs.  libuv owns
 * the socket: the session moves the bytes it read into the TLS session
 * (stream_tls_feed), reads the plain text out (stream_tls_read, which also
 * drives the handshake) and sends whatever ciphertext the TLS session
 * produced (stream_tls_pending/stream_tls_take) after every call.
 *
 * Nothing else in src/stream/ includes OpenSSL.  Loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

struct stream_tls_ctx;
struct stream_tls;

/* Load the PEM certificate chain and key (and with ca, require client
 * certificates that chain to it).  The key file must be owned by root and
 * not readable by group or others.  TLS 1.2 or newer. */
int stream_tls_ctx_new(const char *cert, const char *key, const char *ca, struct stream_tls_ctx **ret,
                       struct pxe **err);
void stream_tls_ctx_free(struct stream_tls_ctx *c);

/* A server-side session for one connection; NULL on ENOMEM. */
struct stream_tls *stream_tls_new(struct stream_tls_ctx *c);
void stream_tls_free(struct stream_tls *t);

/* Ciphertext read from the client.  0, or -ENOMEM. */
int stream_tls_feed(struct stream_tls *t, const void *buf, size_t n);
/* Advance the handshake and decrypt what was fed: the number of plain bytes
 * put in buf (> 0), 0 when more input is needed, -EPIPE once the client sent
 * its close_notify, -EPROTO when the handshake or a record failed
 * (stream_tls_error() says why; the session is dead).  Call until it
 * returns <= 0. */
ssize_t stream_tls_read(struct stream_tls *t, void *buf, size_t cap);
/* Encrypt len bytes (after the handshake); 0 or -EPROTO. */
int stream_tls_write(struct stream_tls *t, const void *buf, size_t len);
/* Queue our close_notify: true if it was queued now (once, and only on a
 * session whose handshake completed and that did not fail). */
bool stream_tls_close_notify(struct stream_tls *t);
/* Ciphertext (records, alerts) waiting to be sent, and taking up to n of it. */
size_t stream_tls_pending(const struct stream_tls *t);
size_t stream_tls_take(struct stream_tls *t, void *buf, size_t n);
/* Why the session failed ("" if it did not). */
const char *stream_tls_error(const struct stream_tls *t);
