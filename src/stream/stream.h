/* The streaming server: the URLs the CRI Exec, Attach and PortForward calls
 * answer with, and the HTTP/1.1 server behind them (kubelet proxies
 * `kubectl exec`, `attach` and `port-forward` to it).
 *
 * A request is registered under a single-use token (128 bits from the
 * kernel's CSPRNG) that expires after ttl; the URL is
 * http://ADDRESS:PORT/{exec,attach,portforward}/TOKEN, https:// with TLS
 * (tls.h: OpenSSL over the same libuv connection).  A client upgrades to
 * SPDY/3.1 (channel.k8s.io v1-v4, portforward.k8s.io) or WebSocket
 * (v4/v5.channel.k8s.io; port forwarding with v4 framing).
 *
 * Nothing here knows the CRI: a request carries everything a session needs
 * (the `pxcri exec` command line, conmon's attach socket, the pod's network
 * namespace).  Loop thread only.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/err.h"

#define STREAM_TOKEN_TTL_MS_DEFAULT 60000

enum stream_kind {
        STREAM_EXEC,
        STREAM_ATTACH,
        STREAM_PORTFORWARD,
};

struct stream_request {
        enum stream_kind kind;
        char target[65];     /* container (exec, attach) or pod (port forward) id, for logs */
        bool in, out, err, tty;
        /* exec: the runtime's command line (`pxcri ... exec --process F ID`);
         * the server inserts `--pid-file P` and with tty `--console-socket S`
         * after "exec". */
        char **argv;
        char *const *envp;   /* not owned */
        char *process_file;  /* removed when the session ends */
        /* attach: conmon's attach socket and control FIFO */
        char *attach_socket;
        char *ctl_path;
        bool stdin_once;
        /* port forward: the pod's network namespace (NULL: the host's) */
        char *netns_path;
        unsigned *ports;     /* WebSocket port forwarding may also name them in the URL */
        size_t n_ports;
};

void stream_request_free(struct stream_request *r);

struct stream_server_opts {
        const char *address;    /* "127.0.0.1", "::1", "0.0.0.0" ... */
        unsigned port;          /* 0: an ephemeral port */
        unsigned token_ttl_ms;  /* 0: STREAM_TOKEN_TTL_MS_DEFAULT */
        const char *run_dir;    /* private directory for console sockets */
        /* TLS (both or neither): PEM certificate chain and private key (the
         * key file owned by root, mode 0600 or stricter); with tls_ca,
         * clients must present a certificate that chains to it. */
        const char *tls_cert, *tls_key, *tls_ca;
};

struct stream_server;

int stream_server_new(uv_loop_t *loop, const struct stream_server_opts *o, struct stream_server **ret,
                      struct pxe **err);
/* Register req (taken, also on failure) and return its URL (malloc'd). */
int stream_server_register(struct stream_server *s, struct stream_request *req, char **url, struct pxe **err);
/* The base URL, "http://127.0.0.1:43127" (https:// with TLS). */
const char *stream_server_url(const struct stream_server *s);
/* Stop listening and end every session (their processes are killed). */
void stream_server_shutdown(struct stream_server *s);
void stream_server_free(struct stream_server *s);

/* For tests and Status: open sessions and tokens. */
size_t stream_server_sessions(const struct stream_server *s);
size_t stream_server_tokens(const struct stream_server *s);
