/* Internals shared by the files of src/rpc/; nothing outside src/rpc/ (but its
 * unit test) includes this.
 *
 * Objects and who frees them:
 *   rpc_server  owns the listening pipe, the lock file and the connections;
 *   rpc_conn    one accepted socket and its nghttp2 session, freed in the
 *               pipe's close callback once every write has come back;
 *   rpc_call    one stream; freed when no one holds it: the stream is closed
 *               (or its connection gone), the handler has answered, and no
 *               callback of ours is running on it.
 */
#pragma once

#include <nghttp2/nghttp2.h>

#include "rpc/rpc.h"

#define RPC_STATS_RING 1024
#define RPC_READ_BUF (64u * 1024)
/* Writes in flight past this stop reading from the connection. */
#define RPC_WRITE_HIGH (4u * 1024 * 1024)
/* Requests up to this size are buffered inside the call, without a malloc. */
#define RPC_INLINE_IN 512

struct rpc_stats {
        uint64_t calls;
        uint64_t ns[RPC_STATS_RING];
};

struct rpc_server {
        uv_loop_t *loop;
        const struct rpc_method *methods;
        size_t n_methods;
        struct rpc_stats **stats; /* per method, allocated at its first call */
        size_t max_message;
        void *userdata;

        uv_pipe_t *listener; /* own allocation: its close may outlive the server */
        bool listening;
        bool listener_open;
        char *path;
        int lock_fd;

        struct rpc_conn *conns;
        bool shutting_down;
        void (*done)(void *data);
        void *done_data;
};

struct rpc_conn {
        struct rpc_server *srv;
        struct rpc_conn *prev, *next;
        uv_pipe_t pipe;
        nghttp2_session *h2;
        struct rpc_call *calls;

        unsigned in_h2;       /* depth of nghttp2 calls on the stack: no flush, no close */
        bool closing;         /* uv_close called */
        bool reading;
        bool goaway_sent;
        size_t write_bytes;   /* bytes handed to uv_write, not yet done */
        unsigned writes;

        uint8_t *obuf;        /* coalescing buffer for nghttp2_session_mem_send */
        size_t olen, ocap;
        uint8_t rbuf[RPC_READ_BUF];
};

struct rpc_chunk {
        struct rpc_chunk *next;
        size_t len, off;
        uint8_t data[];
};

struct rpc_call {
        struct rpc_conn *conn; /* NULL once the connection is gone */
        struct rpc_call *prev, *next;
        int32_t stream_id;
        const struct rpc_method *method;
        size_t method_idx;
        char *unknown_path; /* the :path when it names no method */

        /* Request headers, as seen. */
        bool hdr_post, hdr_path, hdr_grpc_ct, hdr_ct, hdr_identity, hdr_bad_timeout;
        uint64_t timeout_ms; /* 0: none */
        const char *http_status; /* not a gRPC request: this HTTP status answers it */

        /* Request body. */
        uint8_t *in;
        size_t in_len, in_cap;
        uint8_t in_inline[RPC_INLINE_IN];
        ProtobufCMessage *req;

        /* Answer. */
        struct rpc_chunk *out_head, *out_tail;
        bool headers_sent;  /* response HEADERS submitted (with the data provider) */
        bool final;         /* final status decided: trailers go after the queue */
        bool wire_done;     /* nothing more goes to the client */
        bool deferred;      /* data provider returned DEFERRED */
        enum rpc_code code;
        char *message;      /* percent-encoded grpc-message, or NULL */

        /* Life. */
        bool dispatched;    /* handler called */
        bool handler_owned; /* handler has not answered yet */
        bool stream_closed;
        bool cancelled;
        bool timer_on;
        unsigned busy;      /* our callbacks on the stack */
        uint64_t deadline;  /* uv_now() ms, or 0 */
        uint64_t t_start;   /* uv_hrtime() at end of request */
        bool timed;
        uv_timer_t timer;
        void (*on_cancel)(struct rpc_call *c, void *data);
        void *cancel_data;
};

/* rpc_status.c: pure helpers (unit-tested). */

/* grpc-timeout value ("1..8 digits" + H|M|S|m|u|n) -> milliseconds, rounded
 * up, at least 1.  -EINVAL when malformed. */
int rpc_timeout_parse(const char *v, size_t len, uint64_t *ret_ms);

/* Percent-encode a grpc-message: bytes outside 0x20..0x7e and '%' become
 * %XX.  Returns a new string, or NULL on allocation failure. */
char *rpc_percent_encode(const char *s);

/* Parse the 5-byte message prefix.  Returns 0 and fills the outputs when len
 * >= 5, -EAGAIN when more bytes are needed, -EINVAL for a flag byte other
 * than 0 or 1. */
int rpc_frame_parse(const uint8_t *buf, size_t len, bool *ret_compressed, uint32_t *ret_len);

/* Median of n values (n > 0); reorders v. */
uint64_t rpc_median(uint64_t *v, size_t n);

/* rpc_session.c */
int rpc_conn_start(struct rpc_server *s, struct rpc_conn *c);
void rpc_conn_flush(struct rpc_conn *c);
void rpc_conn_close(struct rpc_conn *c);
void rpc_conn_goaway(struct rpc_conn *c);

/* rpc_call.c: driven by the session's nghttp2 callbacks. */
struct rpc_call *rpc_call_new(struct rpc_conn *conn, int32_t stream_id);
void rpc_call_header(struct rpc_call *c, const uint8_t *name, size_t nlen, const uint8_t *value, size_t vlen);
void rpc_call_headers_done(struct rpc_call *c);
void rpc_call_data(struct rpc_call *c, const uint8_t *data, size_t len);
void rpc_call_request_done(struct rpc_call *c);
void rpc_call_stream_closed(struct rpc_call *c, uint32_t error_code);
void rpc_call_end_sent(struct rpc_call *c);
/* End the call with the layer's status and cancel it (rpc_server_cancel_calls). */
void rpc_call_abort(struct rpc_call *c, enum rpc_code code, const char *message);
/* The connection is going away: detach and cancel every call. */
void rpc_call_detach(struct rpc_call *c);

/* rpc_server.c */
void rpc_server_record(struct rpc_server *s, size_t method_idx, uint64_t ns);
void rpc_server_conn_gone(struct rpc_server *s, struct rpc_conn *c);

/* Shared by rpc_call.c (request side) and rpc_answer.c (answer side). */
void rpc_call_submit(struct rpc_call *c);
void rpc_call_maybe_free(struct rpc_call *c);
/* Flush the call's connection unless nghttp2 is on the stack (it is flushed after). */
void rpc_call_flush(struct rpc_call *c);
/* The layer's own final status (bad request, deadline); a no-op once answered. */
void rpc_call_end(struct rpc_call *c, enum rpc_code code, const char *message);
