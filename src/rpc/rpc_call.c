/* One gRPC call on one HTTP/2 stream: request headers and body, the handler,
 * the answer (HEADERS, DATA through a pull-based data provider fed from a
 * per-call queue, trailers), deadlines and cancellation. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_private.h"
#include "util/cleanup.h"
#include "util/log.h"

struct rpc_call *rpc_call_new(struct rpc_conn *conn, int32_t stream_id)
{
        struct rpc_call *c = malloc(sizeof(*c));

        if (!c)
                return NULL;
        /* The inline buffer need not be zeroed: ~500 bytes less to clear per call. */
        memset(c, 0, offsetof(struct rpc_call, in_inline));
        memset(&c->req, 0, sizeof(*c) - offsetof(struct rpc_call, req));
        c->conn = conn;
        c->stream_id = stream_id;
        c->hdr_identity = true;
        c->in = c->in_inline;
        c->in_cap = sizeof(c->in_inline);
        c->next = conn->calls;
        if (conn->calls)
                conn->calls->prev = c;
        conn->calls = c;
        return c;
}

static void on_timer_closed(uv_handle_t *h)
{
        free(h->data);
}

static void call_free(struct rpc_call *c)
{
        struct rpc_chunk *k, *next;

        if (c->req)
                protobuf_c_message_free_unpacked(c->req, NULL);
        if (c->in != c->in_inline)
                free(c->in);
        for (k = c->out_head; k; k = next) {
                next = k->next;
                free(k);
        }
        free(c->unknown_path);
        free(c->message);
        if (c->timer_on) {
                c->timer.data = c;
                uv_close((uv_handle_t *) &c->timer, on_timer_closed);
                return;
        }
        free(c);
}

void rpc_call_maybe_free(struct rpc_call *c)
{
        if (!c->busy && !c->handler_owned && c->stream_closed)
                call_free(c);
}

void rpc_call_flush(struct rpc_call *c)
{
        if (c->conn && !c->conn->in_h2)
                rpc_conn_flush(c->conn);
}

static void call_cancel(struct rpc_call *c)
{
        if (c->cancelled)
                return;
        c->cancelled = true;
        if (c->timer_on)
                uv_timer_stop(&c->timer);
        if (c->on_cancel) {
                c->busy++;
                c->on_cancel(c, c->cancel_data);
                c->busy--;
        }
}

static bool header_is(const uint8_t *name, size_t nlen, const char *want)
{
        return nlen == strlen(want) && memcmp(name, want, nlen) == 0;
}

static void lookup_method(struct rpc_call *c, const uint8_t *v, size_t vlen)
{
        const struct rpc_server *s = c->conn->srv;

        for (size_t i = 0; i < s->n_methods; i++) {
                const char *p = s->methods[i].path;
                /* v is not NUL-terminated and may hold a NUL: compare lengths first. */
                if (strlen(p) == vlen && memcmp(p, v, vlen) == 0) {
                        c->method = &s->methods[i];
                        c->method_idx = i;
                        return;
                }
        }
        free(c->unknown_path);
        c->unknown_path = strndup((const char *) v, vlen);
}

void rpc_call_header(struct rpc_call *c, const uint8_t *name, size_t nlen, const uint8_t *v, size_t vlen)
{
        if (header_is(name, nlen, ":method")) {
                c->hdr_post = vlen == 4 && memcmp(v, "POST", 4) == 0;
        } else if (header_is(name, nlen, ":path")) {
                c->hdr_path = true;
                lookup_method(c, v, vlen);
        } else if (header_is(name, nlen, "content-type")) {
                /* application/grpc, application/grpc+proto, application/grpc;... */
                c->hdr_ct = true;
                c->hdr_grpc_ct = vlen >= 16 && memcmp(v, "application/grpc", 16) == 0 &&
                                 (vlen == 16 || v[16] == '+' || v[16] == ';');
        } else if (header_is(name, nlen, "grpc-timeout")) {
                if (rpc_timeout_parse((const char *) v, vlen, &c->timeout_ms) < 0)
                        c->hdr_bad_timeout = true;
        } else if (header_is(name, nlen, "grpc-encoding")) {
                c->hdr_identity = vlen == 8 && memcmp(v, "identity", 8) == 0;
        }
}

/* An answer that is not gRPC: the request was not a gRPC call at all. */
static void http_error(struct rpc_call *c, const char *status)
{
        nghttp2_nv nv[] = { { (uint8_t *) ":status", (uint8_t *) status, 7, strlen(status),
                              NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE } };

        c->wire_done = true;
        c->final = true;
        nghttp2_submit_response(c->conn->h2, c->stream_id, nv, 1, NULL);
}

/* The layer's own answer (bad request, deadline): the handler, if any, still
 * owns the call and its later answer is dropped. */
void rpc_call_end(struct rpc_call *c, enum rpc_code code, const char *message)
{
        if (c->wire_done)
                return;
        c->final = true;
        c->code = code;
        free(c->message);
        c->message = message && *message ? rpc_percent_encode(message) : NULL;
        rpc_call_submit(c);
}

static void call_endf(struct rpc_call *c, enum rpc_code code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void call_endf(struct rpc_call *c, enum rpc_code code, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        rpc_call_end(c, code, msg ? msg : rpc_code_name(code));
}

static void on_deadline(uv_timer_t *t)
{
        struct rpc_call *c = t->data;

        c->busy++;
        rpc_call_end(c, RPC_DEADLINE_EXCEEDED, "Deadline exceeded");
        rpc_call_flush(c);
        call_cancel(c);
        c->busy--;
        rpc_call_maybe_free(c);
}

void rpc_call_headers_done(struct rpc_call *c)
{
        /* Not gRPC: answered once the request is in (curl loses an answer
         * that overtakes its upload). */
        if (!c->hdr_post)
                c->http_status = "405";
        else if (!c->hdr_ct || !c->hdr_grpc_ct)
                c->http_status = "415";
        else if (!c->hdr_path)
                c->http_status = "400";
        if (c->http_status)
                return;
        if (!c->method)
                return call_endf(c, RPC_UNIMPLEMENTED, "Unknown method %s",
                                 c->unknown_path ? c->unknown_path : "");
        if (c->hdr_bad_timeout)
                return rpc_call_end(c, RPC_INVALID_ARGUMENT, "Malformed grpc-timeout header");
        if (c->timeout_ms) {
                uv_loop_t *loop = c->conn->srv->loop;
                c->deadline = uv_now(loop) + c->timeout_ms;
                uv_timer_init(loop, &c->timer);
                c->timer.data = c;
                c->timer_on = true;
                uv_timer_start(&c->timer, on_deadline, c->timeout_ms, 0);
        }
}

static int in_reserve(struct rpc_call *c, size_t need)
{
        size_t cap;
        uint8_t *p;

        if (need <= c->in_cap)
                return 0;
        cap = c->in_cap * 2 > need ? c->in_cap * 2 : need;
        if (c->in == c->in_inline) {
                p = malloc(cap);
                if (p)
                        memcpy(p, c->in, c->in_len);
        } else {
                p = realloc(c->in, cap);
        }
        if (!p)
                return -ENOMEM;
        c->in = p;
        c->in_cap = cap;
        return 0;
}

void rpc_call_data(struct rpc_call *c, const uint8_t *data, size_t len)
{
        size_t max = c->conn->srv->max_message;
        bool compressed;
        uint32_t mlen;
        size_t need;

        if (c->wire_done || c->dispatched || c->http_status)
                return;
        need = c->in_len + len;
        if (c->in_len < 5 && need >= 5) {
                /* The prefix completes: size the buffer for the whole message at once. */
                uint8_t hdr[5];
                memcpy(hdr, c->in, c->in_len);
                memcpy(hdr + c->in_len, data, 5 - c->in_len);
                if (rpc_frame_parse(hdr, 5, &compressed, &mlen) < 0)
                        return rpc_call_end(c, RPC_INTERNAL, "Bad message prefix");
                if (mlen > max)
                        return call_endf(c, RPC_RESOURCE_EXHAUSTED,
                                         "Received message larger than max (%u vs. %zu)", mlen, max);
                if (need < 5 + (size_t) mlen)
                        need = 5 + (size_t) mlen;
        }
        if (c->in_len + len > max + 5)
                return call_endf(c, RPC_RESOURCE_EXHAUSTED, "Received more than %zu bytes of messages", max);
        if (in_reserve(c, need) < 0)
                return rpc_call_end(c, RPC_RESOURCE_EXHAUSTED, "Out of memory for the request");
        memcpy(c->in + c->in_len, data, len);
        c->in_len += len;
}

static void call_dispatch(struct rpc_call *c)
{
        struct rpc_server *s = c->conn->srv;

        c->dispatched = true;
        c->handler_owned = true;
        c->busy++;
        c->method->handler(c, c->req, s->userdata);
        c->busy--;
        rpc_call_maybe_free(c);
}

void rpc_call_request_done(struct rpc_call *c)
{
        bool compressed;
        uint32_t mlen;

        if (c->wire_done || c->dispatched)
                return;
        if (c->http_status)
                return http_error(c, c->http_status);
        if (!c->method) /* request headers never completed */
                return rpc_call_end(c, RPC_INTERNAL, "Incomplete request");
        c->t_start = uv_hrtime();
        c->timed = true;
        if (rpc_frame_parse(c->in, c->in_len, &compressed, &mlen) < 0)
                return call_endf(c, RPC_INVALID_ARGUMENT, "No request message for %s", c->method->path);
        if (compressed)
                return rpc_call_end(c, RPC_UNIMPLEMENTED, c->hdr_identity ? "Compressed message without grpc-encoding" :
                                                      "Compressed messages are not supported");
        if ((size_t) mlen + 5 != c->in_len)
                return call_endf(c, RPC_INVALID_ARGUMENT, "Expected exactly one request message for %s",
                                 c->method->path);
        c->req = protobuf_c_message_unpack(c->method->request, NULL, mlen, c->in + 5);
        if (c->in != c->in_inline) {
                free(c->in);
                c->in = c->in_inline;
        }
        c->in_len = 0;
        if (!c->req)
                return call_endf(c, RPC_INVALID_ARGUMENT, "Cannot parse the request of %s", c->method->path);
        call_dispatch(c);
}

static void unlink_from_conn(struct rpc_call *c)
{
        struct rpc_conn *conn = c->conn;

        if (c->prev)
                c->prev->next = c->next;
        else if (conn->calls == c)
                conn->calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        c->conn = NULL;
}

/* The stream is gone: a call not yet answered is cancelled. */
static void stream_gone(struct rpc_call *c)
{
        c->stream_closed = true;
        c->busy++;
        if (!c->wire_done) {
                c->wire_done = true;
                call_cancel(c);
        } else if (c->timer_on) {
                uv_timer_stop(&c->timer);
        }
        c->busy--;
        rpc_call_maybe_free(c);
}

void rpc_call_stream_closed(struct rpc_call *c, uint32_t error_code)
{
        unlink_from_conn(c);
        stream_gone(c);
}

void rpc_call_detach(struct rpc_call *c)
{
        /* The connection resets its list itself. */
        c->prev = c->next = NULL;
        c->conn = NULL;
        stream_gone(c);
}

void rpc_call_abort(struct rpc_call *c, enum rpc_code code, const char *message)
{
        if (c->wire_done)
                return;
        c->busy++;
        rpc_call_end(c, code, message);
        call_cancel(c);
        c->busy--;
}

void rpc_call_end_sent(struct rpc_call *c)
{
        nghttp2_session *h2 = c->conn->h2;

        /* Answered before the client finished sending (an error, or a too
         * large request): tell it to stop, as gRPC servers do. */
        if (!nghttp2_session_get_stream_remote_close(h2, c->stream_id))
                nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_NO_ERROR);
}
