/* The server's state, shared by src/stream/ files. */
#pragma once

#include "stream/session.h"
#include "stream/tls.h"

struct stream_token {
        char token[33];           /* 32 hex digits: 128 bits */
        uint64_t expires_ms;      /* uv_now() */
        struct stream_request *req;
        struct stream_token *next;
};

struct stream_server {
        uv_loop_t *loop;
        uv_tcp_t listener;
        uv_timer_t sweep;         /* drops expired tokens */
        char *url;                /* http://host:port, or https:// */
        struct stream_tls_ctx *tls; /* NULL: plain text */
        char *run_dir;
        unsigned ttl_ms;
        struct stream_token *tokens;
        size_t n_tokens;
        struct stream_sess *sessions;
        size_t n_sessions;
        unsigned handles_open;    /* listener + sweep timer, for the free */
        bool shut;
};

/* The session is freed: off the server's list. */
void stream_server_forget(struct stream_server *srv, struct stream_sess *s);
/* Take the request registered under token (single use); NULL when unknown
 * or expired. */
struct stream_request *stream_token_take(struct stream_server *srv, const char *token);
/* (Re)start reading the client's connection (after a pause for a command
 * that did not keep up with its stdin). */
void stream_sess_read_start(struct stream_sess *s);
/* TLS: send the ciphertext the session's TLS state holds (handshake
 * messages, alerts, records); counted in s->queued like any write. */
int stream_sess_tls_flush(struct stream_sess *s);
