/* gRPC over HTTP/2 on a Unix socket: the server side pxcrid needs, and no more.
 *
 * Built on nghttp2 (framing, HPACK, flow control) and libuv (the loop); this
 * module is the only one that includes nghttp2.  What it does:
 *   - accepts connections on a Unix socket (rpc_server_listen), h2c with prior
 *     knowledge, as grpc-go (kubelet, crictl) and grpc C core/python speak it;
 *   - checks :method POST, :path, content-type application/grpc[+proto] itself
 *     (nghttp2's HTTP messaging checks are off: grpc-go sends the socket path
 *     as :authority, which they reject);
 *   - 5-byte length-prefixed messages (uncompressed only: a compressed
 *     message is answered UNIMPLEMENTED), at most max_message bytes
 *     (default 16 MiB, RESOURCE_EXHAUSTED past it, both directions);
 *   - unpacks the request with the method's protobuf-c descriptor
 *     (INVALID_ARGUMENT when it does not parse) and calls the handler;
 *   - answers with HEADERS, DATA, and trailers grpc-status / grpc-message
 *     (percent-encoded); errors without a message are trailers-only;
 *   - unknown methods: UNIMPLEMENTED naming the path;
 *   - grpc-timeout: a call not answered by its deadline is answered
 *     DEADLINE_EXCEEDED by this layer, marked cancelled, and the cancel
 *     callback runs; the handler's late answer is dropped;
 *   - a stream the client resets, or a connection that goes away, cancels
 *     its calls the same way;
 *   - shutdown: stop accepting, GOAWAY to every connection, wait for the calls
 *     in flight to be answered, close, then call done.
 *
 * Threading: everything here runs on the loop thread, including every
 * rpc_call_* function.  Handlers that need slow work hand it to a worker and
 * answer from the loop thread when it is done.
 *
 * Ownership of a call: the handler is given a call and must answer it exactly
 * once (rpc_call_reply, rpc_call_fail*, or rpc_call_finish after streaming),
 * even when it was cancelled meanwhile (the answer is then dropped); the call
 * and its request are freed after both the answer and the stream's close.
 */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/err.h"

enum rpc_code {
        RPC_OK = 0,
        RPC_CANCELLED = 1,
        RPC_UNKNOWN = 2,
        RPC_INVALID_ARGUMENT = 3,
        RPC_DEADLINE_EXCEEDED = 4,
        RPC_NOT_FOUND = 5,
        RPC_ALREADY_EXISTS = 6,
        RPC_PERMISSION_DENIED = 7,
        RPC_RESOURCE_EXHAUSTED = 8,
        RPC_FAILED_PRECONDITION = 9,
        RPC_ABORTED = 10,
        RPC_OUT_OF_RANGE = 11,
        RPC_UNIMPLEMENTED = 12,
        RPC_INTERNAL = 13,
        RPC_UNAVAILABLE = 14,
        RPC_DATA_LOSS = 15,
        RPC_UNAUTHENTICATED = 16,
};

#define RPC_MAX_MESSAGE_DEFAULT (16u * 1024 * 1024)

struct rpc_server;
struct rpc_call;

/* req is the unpacked request (owned by the call, valid until the call is
 * answered); userdata is the server's. */
typedef void (*rpc_handler_fn)(struct rpc_call *call, const ProtobufCMessage *req, void *userdata);

struct rpc_method {
        const char *path;                          /* "/runtime.v1.RuntimeService/Version" */
        const ProtobufCMessageDescriptor *request; /* descriptor to unpack the request */
        rpc_handler_fn handler;
};

struct rpc_server_opts {
        size_t max_message; /* 0: RPC_MAX_MESSAGE_DEFAULT */
};

/* methods must outlive the server. */
int rpc_server_new(uv_loop_t *loop, const struct rpc_method *methods, size_t n_methods,
                   const struct rpc_server_opts *opts, void *userdata, struct rpc_server **ret,
                   struct pxe **err);

/* Listen on a Unix socket at path: its directory is created 0700 when missing,
 * the socket is made 0660.  A live server already on path (a connect succeeds,
 * or the lock file path + ".lock" is held) is an error, -EADDRINUSE "Another
 * server is listening on PATH"; a stale socket file is replaced.  The lock is
 * held for the server's life. */
int rpc_server_listen(struct rpc_server *s, const char *path, struct pxe **err);

/* Stop accepting, send GOAWAY, let the calls in flight finish, close every
 * connection, unlink the socket, then call done(data) on the loop thread. */
void rpc_server_shutdown(struct rpc_server *s, void (*done)(void *data), void *data);

/* End every call still open now with code and message (the client sees them;
 * cancel callbacks run; handlers still answer, and those answers are dropped).
 * For a shutdown that must not wait on calls that never end by themselves,
 * such as event streams: call it after a grace period. */
void rpc_server_cancel_calls(struct rpc_server *s, enum rpc_code code, const char *message);

/* After shutdown's done (or when never listened). */
void rpc_server_free(struct rpc_server *s);

/* Handling time (request fully read -> answer queued) of the last calls of a
 * method, for benchmarks: median in microseconds over at most the last 1024
 * calls, and how many calls were seen.  -ENOENT for an unknown path. */
int rpc_server_method_stats(struct rpc_server *s, const char *path, double *ret_median_us,
                            uint64_t *ret_calls);

/* Unary answer: the message, then grpc-status 0.  Returns 0, or a negative
 * errno when the message could not be sent (over the cap: the client gets
 * RESOURCE_EXHAUSTED instead). */
int rpc_call_reply(struct rpc_call *c, const ProtobufCMessage *resp);

/* Server streaming: one more message; the call stays open. */
int rpc_call_send(struct rpc_call *c, const ProtobufCMessage *msg);

/* End the call with a status (RPC_OK after streaming). */
void rpc_call_finish(struct rpc_call *c, enum rpc_code code, const char *message);

void rpc_call_fail(struct rpc_call *c, enum rpc_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* End the call with a pxcri error: its code mapped by rpc_code_from_errno, its
 * message as grpc-message. */
void rpc_call_fail_pxe(struct rpc_call *c, const struct pxe *e);

/* ENOENT->NOT_FOUND, EINVAL->INVALID_ARGUMENT, EEXIST->ALREADY_EXISTS,
 * ETIMEDOUT->DEADLINE_EXCEEDED, ENOSYS/EOPNOTSUPP->UNIMPLEMENTED,
 * EBUSY/EAGAIN/ENOTDIR->FAILED_PRECONDITION, ECONNREFUSED/ECONNRESET->UNAVAILABLE...
 * (one table in rpc_status.c); others INTERNAL/UNKNOWN. */
enum rpc_code rpc_code_from_errno(int code);

const char *rpc_code_name(enum rpc_code code);

/* True once the client went away, reset the stream or the deadline passed. */
bool rpc_call_cancelled(const struct rpc_call *c);

/* The call's deadline in the loop's clock (uv_now(), milliseconds), or 0. */
uint64_t rpc_call_deadline(const struct rpc_call *c);

/* fn runs on the loop thread when the call is cancelled (at most once). */
void rpc_call_on_cancel(struct rpc_call *c, void (*fn)(struct rpc_call *c, void *data), void *data);

const char *rpc_call_path(const struct rpc_call *c);
