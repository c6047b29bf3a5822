/* The answer side of a call: what handlers call (reply, send, finish, fail),
 * and how it reaches nghttp2: response HEADERS, DATA pulled by a data
 * provider from the call's queue of framed messages, then trailers; or one
 * trailers-only HEADERS frame when there is no message. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_private.h"
#include "util/cleanup.h"

#define NV_FLAGS_STATIC (NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE)
#define NV_STATIC(n, v) { (uint8_t *) (n), (uint8_t *) (v), sizeof(n) - 1, sizeof(v) - 1, NV_FLAGS_STATIC }

static const char *const status_values[] = { "0", "1", "2",  "3",  "4",  "5",  "6",  "7", "8",
                                             "9", "10", "11", "12", "13", "14", "15", "16" };

/* grpc-status and, when there is one, grpc-message into nv; returns how many. */
static size_t status_nv(const struct rpc_call *c, nghttp2_nv *nv)
{
        const char *code = (unsigned) c->code < ARRAY_SIZE(status_values) ? status_values[c->code] : "2";

        nv[0] = (nghttp2_nv) { (uint8_t *) "grpc-status", (uint8_t *) code, 11, strlen(code), NV_FLAGS_STATIC };
        if (!c->message)
                return 1;
        /* Copied by nghttp2: the call may be gone before the frame is. */
        nv[1] = (nghttp2_nv) { (uint8_t *) "grpc-message", (uint8_t *) c->message, 12, strlen(c->message),
                               NGHTTP2_NV_FLAG_NO_COPY_NAME };
        return 2;
}

static ssize_t read_data(nghttp2_session *h2, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user_data)
{
        struct rpc_call *c = src->ptr;
        size_t n = 0;

        while (n < length && c->out_head) {
                struct rpc_chunk *k = c->out_head;
                size_t take = k->len - k->off < length - n ? k->len - k->off : length - n;
                memcpy(buf + n, k->data + k->off, take);
                k->off += take;
                n += take;
                if (k->off == k->len) {
                        c->out_head = k->next;
                        if (!c->out_head)
                                c->out_tail = NULL;
                        free(k);
                }
        }
        if (!c->out_head && c->final) {
                nghttp2_nv nv[2];
                *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
                if (nghttp2_submit_trailer(h2, stream_id, nv, status_nv(c, nv)) != 0)
                        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                return (ssize_t) n;
        }
        if (n == 0) {
                c->deferred = true;
                return NGHTTP2_ERR_DEFERRED;
        }
        return (ssize_t) n;
}

void rpc_call_submit(struct rpc_call *c)
{
        static const nghttp2_nv head[] = {
                NV_STATIC(":status", "200"),
                NV_STATIC("content-type", "application/grpc"),
        };
        struct rpc_conn *conn = c->conn;
        nghttp2_nv nv[4];
        int r;

        if (c->final) {
                c->wire_done = true;
                if (c->timer_on)
                        uv_timer_stop(&c->timer);
        }
        if (!conn)
                return;
        if (c->timed) {
                c->timed = false;
                rpc_server_record(conn->srv, c->method_idx, uv_hrtime() - c->t_start);
        }
        if (c->headers_sent) {
                if (c->deferred) {
                        c->deferred = false;
                        nghttp2_session_resume_data(conn->h2, c->stream_id);
                }
                return;
        }
        c->headers_sent = true;
        memcpy(nv, head, sizeof(head));
        if (c->final && !c->out_head) {
                r = nghttp2_submit_response(conn->h2, c->stream_id, nv, 2 + status_nv(c, nv + 2), NULL);
        } else {
                nghttp2_data_provider dp = { .source.ptr = c, .read_callback = read_data };
                r = nghttp2_submit_response(conn->h2, c->stream_id, nv, 2, &dp);
        }
        if (r != 0)
                nghttp2_submit_rst_stream(conn->h2, NGHTTP2_FLAG_NONE, c->stream_id, NGHTTP2_INTERNAL_ERROR);
}

/* Frame msg (5-byte prefix, packed protobuf) onto the call's queue. */
static int queue_message(struct rpc_call *c, const ProtobufCMessage *msg, size_t max)
{
        size_t size = protobuf_c_message_get_packed_size(msg);
        struct rpc_chunk *k;

        if (size > max)
                return -EMSGSIZE;
        k = malloc(sizeof(*k) + 5 + size);
        if (!k)
                return -ENOMEM;
        k->next = NULL;
        k->len = 5 + size;
        k->off = 0;
        k->data[0] = 0;
        k->data[1] = (uint8_t) (size >> 24);
        k->data[2] = (uint8_t) (size >> 16);
        k->data[3] = (uint8_t) (size >> 8);
        k->data[4] = (uint8_t) size;
        protobuf_c_message_pack(msg, k->data + 5);
        if (c->out_tail)
                c->out_tail->next = k;
        else
                c->out_head = k;
        c->out_tail = k;
        return 0;
}

/* Queue msg; on failure end the call with the status the client should see. */
static int send_message(struct rpc_call *c, const ProtobufCMessage *msg)
{
        size_t max = c->conn ? c->conn->srv->max_message : RPC_MAX_MESSAGE_DEFAULT;
        char buf[128];
        int r;

        r = queue_message(c, msg, max);
        if (r == -EMSGSIZE) {
                snprintf(buf, sizeof(buf), "Response larger than max (%zu vs. %zu)",
                         protobuf_c_message_get_packed_size(msg), max);
                rpc_call_end(c, RPC_RESOURCE_EXHAUSTED, buf);
        } else if (r < 0) {
                rpc_call_end(c, RPC_RESOURCE_EXHAUSTED, "Out of memory for the response");
        }
        return r;
}

int rpc_call_reply(struct rpc_call *c, const ProtobufCMessage *resp)
{
        int r;

        if (!c->handler_owned)
                return -EALREADY;
        c->busy++;
        c->handler_owned = false;
        if (c->wire_done) {
                r = -ECANCELED;
        } else {
                r = send_message(c, resp);
                if (r == 0) {
                        c->final = true;
                        c->code = RPC_OK;
                        rpc_call_submit(c);
                }
                rpc_call_flush(c);
        }
        c->busy--;
        rpc_call_maybe_free(c);
        return r;
}

int rpc_call_send(struct rpc_call *c, const ProtobufCMessage *msg)
{
        int r;

        if (!c->handler_owned)
                return -EALREADY;
        if (c->wire_done)
                return -ECANCELED;
        c->busy++;
        r = send_message(c, msg);
        if (r == 0)
                rpc_call_submit(c);
        rpc_call_flush(c);
        c->busy--;
        return r;
}

void rpc_call_finish(struct rpc_call *c, enum rpc_code code, const char *message)
{
        if (!c->handler_owned)
                return;
        c->busy++;
        c->handler_owned = false;
        if (!c->wire_done) {
                rpc_call_end(c, code, message);
                rpc_call_flush(c);
        }
        c->busy--;
        rpc_call_maybe_free(c);
}

void rpc_call_fail(struct rpc_call *c, enum rpc_code code, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        rpc_call_finish(c, code, msg ? msg : rpc_code_name(code));
}

void rpc_call_fail_pxe(struct rpc_call *c, const struct pxe *e)
{
        if (!e) {
                rpc_call_finish(c, RPC_UNKNOWN, "Unknown error");
                return;
        }
        rpc_call_finish(c, rpc_code_from_errno(e->code), e->msg);
}

bool rpc_call_cancelled(const struct rpc_call *c)
{
        return c->cancelled;
}

uint64_t rpc_call_deadline(const struct rpc_call *c)
{
        return c->deadline;
}

void rpc_call_on_cancel(struct rpc_call *c, void (*fn)(struct rpc_call *c, void *data), void *data)
{
        c->on_cancel = fn;
        c->cancel_data = data;
        if (c->cancelled && fn) {
                /* Registered too late to be told: tell now (fn may answer the call). */
                c->on_cancel = NULL;
                c->busy++;
                fn(c, data);
                c->busy--;
                rpc_call_maybe_free(c);
        }
}

const char *rpc_call_path(const struct rpc_call *c)
{
        if (c->method)
                return c->method->path;
        return c->unknown_path ? c->unknown_path : "";
}
