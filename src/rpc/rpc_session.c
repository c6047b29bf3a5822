/* One HTTP/2 connection: an nghttp2 session fed from libuv reads, whose
 * output is drained with nghttp2_session_mem_send into uv writes.  Nothing
 * here blocks; frames nghttp2 produces inside its callbacks go out at the
 * next flush, which runs after every read and after every answer given
 * outside nghttp2's callbacks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_private.h"
#include "util/cleanup.h"
#include "util/log.h"

/* Flush output in uv_write()s of about this size. */
#define RPC_COALESCE (64u * 1024)

struct rpc_write {
        uv_write_t req;
        struct rpc_conn *conn;
        size_t len;
        uint8_t data[];
};

static struct rpc_call *stream_call(nghttp2_session *h2, int32_t stream_id)
{
        return nghttp2_session_get_stream_user_data(h2, stream_id);
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
        struct rpc_conn *c = user_data;
        struct rpc_call *call;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        call = rpc_call_new(c, frame->hd.stream_id);
        if (!call)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, call);
        return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *user_data)
{
        struct rpc_call *call;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        call = stream_call(h2, frame->hd.stream_id);
        if (call)
                rpc_call_header(call, name, nlen, value, vlen);
        return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
        struct rpc_call *call;

        if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
                return 0;
        call = stream_call(h2, frame->hd.stream_id);
        if (!call)
                return 0;
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
                rpc_call_headers_done(call);
        /* The call may have been answered above; request_done checks. */
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                rpc_call_request_done(call);
        return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data,
                         size_t len, void *user_data)
{
        struct rpc_call *call = stream_call(h2, stream_id);

        if (call)
                rpc_call_data(call, data, len);
        return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
        struct rpc_call *call;

        if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
                return 0;
        call = stream_call(h2, frame->hd.stream_id);
        if (call)
                rpc_call_end_sent(call);
        return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code, void *user_data)
{
        struct rpc_call *call = stream_call(h2, stream_id);

        if (call) {
                nghttp2_session_set_stream_user_data(h2, stream_id, NULL);
                rpc_call_stream_closed(call, error_code);
        }
        return 0;
}

static nghttp2_session_callbacks *callbacks_get(void)
{
        /* Built once: the loop thread is the only user. */
        static nghttp2_session_callbacks *cbs;

        if (cbs || nghttp2_session_callbacks_new(&cbs) != 0)
                return cbs;
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        return cbs;
}

static nghttp2_option *options_get(void)
{
        static nghttp2_option *opt;

        if (opt || nghttp2_option_new(&opt) != 0)
                return opt;
        /* grpc-go sends the socket path as :authority; we check what gRPC needs ourselves. */
        nghttp2_option_set_no_http_messaging(opt, 1);
        return opt;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
        struct rpc_conn *c = h->data;

        buf->base = (char *) c->rbuf;
        buf->len = sizeof(c->rbuf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
        struct rpc_conn *c = stream->data;
        ssize_t r;

        if (nread == 0)
                return;
        if (nread < 0) {
                if (nread != UV_EOF)
                        log_debug("Reading a gRPC connection: %s", uv_strerror((int) nread));
                rpc_conn_close(c);
                return;
        }
        c->in_h2++;
        r = nghttp2_session_mem_recv(c->h2, (const uint8_t *) buf->base, (size_t) nread);
        c->in_h2--;
        if (r < 0) {
                /* Bad input: nghttp2 has queued a GOAWAY where it could; send it, then close. */
                log_debug("Bad HTTP/2 input on a gRPC connection: %s", nghttp2_strerror((int) r));
                rpc_conn_flush(c);
                rpc_conn_close(c);
                return;
        }
        rpc_conn_flush(c);
}

int rpc_conn_start(struct rpc_server *s, struct rpc_conn *c)
{
        const nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1024 },
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20 },
                { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64u * 1024 },
        };
        nghttp2_session_callbacks *cbs = callbacks_get();
        nghttp2_option *opt = options_get();

        if (!cbs || !opt || nghttp2_session_server_new2(&c->h2, cbs, c, opt) != 0)
                return -ENOMEM;
        if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, ARRAY_SIZE(settings)) != 0)
                return -ENOMEM;
        /* A roomy connection window: large messages must not stall on WINDOW_UPDATEs. */
        nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16 << 20);
        if (s->shutting_down)
                rpc_conn_goaway(c);
        if (uv_read_start((uv_stream_t *) &c->pipe, on_alloc, on_read) < 0)
                return -EIO;
        c->reading = true;
        rpc_conn_flush(c);
        return 0;
}

static void conn_maybe_done(struct rpc_conn *c)
{
        if (c->closing || c->writes || c->in_h2)
                return;
        if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
                rpc_conn_close(c);
}

static void on_write(uv_write_t *req, int status)
{
        struct rpc_write *w = req->data;
        struct rpc_conn *c = w->conn;

        c->writes--;
        c->write_bytes -= w->len;
        free(w);
        if (c->closing)
                return;
        if (status < 0) {
                log_debug("Writing a gRPC connection: %s", uv_strerror(status));
                rpc_conn_close(c);
                return;
        }
        if (!c->reading && c->write_bytes < RPC_WRITE_HIGH / 2 &&
            uv_read_start((uv_stream_t *) &c->pipe, on_alloc, on_read) == 0)
                c->reading = true;
        rpc_conn_flush(c);
}

/* Hand c->obuf to the socket: what uv_try_write cannot take now is copied
 * into a queued write. */
static int conn_write_out(struct rpc_conn *c)
{
        struct rpc_write *w;
        size_t off = 0;
        uv_buf_t b;
        int r;

        if (!c->writes) {
                b = uv_buf_init((char *) c->obuf, (unsigned) c->olen);
                r = uv_try_write((uv_stream_t *) &c->pipe, &b, 1);
                if (r >= 0)
                        off = (size_t) r;
                else if (r != UV_EAGAIN)
                        return r;
        }
        if (off == c->olen) {
                c->olen = 0;
                return 0;
        }
        w = malloc(sizeof(*w) + c->olen - off);
        if (!w)
                return UV_ENOMEM;
        w->conn = c;
        w->len = c->olen - off;
        w->req.data = w;
        memcpy(w->data, c->obuf + off, w->len);
        c->olen = 0;
        b = uv_buf_init((char *) w->data, (unsigned) w->len);
        r = uv_write(&w->req, (uv_stream_t *) &c->pipe, &b, 1, on_write);
        if (r < 0) {
                free(w);
                return r;
        }
        c->writes++;
        c->write_bytes += w->len;
        return 0;
}

static int obuf_append(struct rpc_conn *c, const uint8_t *data, size_t len)
{
        if (c->olen + len > c->ocap) {
                size_t cap = c->ocap ? c->ocap : RPC_COALESCE;
                while (cap < c->olen + len)
                        cap *= 2;
                uint8_t *p = realloc(c->obuf, cap);
                if (!p)
                        return -ENOMEM;
                c->obuf = p;
                c->ocap = cap;
        }
        memcpy(c->obuf + c->olen, data, len);
        c->olen += len;
        return 0;
}

void rpc_conn_flush(struct rpc_conn *c)
{
        const uint8_t *data;
        ssize_t n;

        if (c->closing || c->in_h2)
                return;
        while (c->write_bytes < RPC_WRITE_HIGH) {
                c->in_h2++;
                n = nghttp2_session_mem_send(c->h2, &data);
                c->in_h2--;
                if (n < 0) {
                        log_debug("Preparing HTTP/2 output: %s", nghttp2_strerror((int) n));
                        rpc_conn_close(c);
                        return;
                }
                if (n > 0 && obuf_append(c, data, (size_t) n) < 0) {
                        rpc_conn_close(c);
                        return;
                }
                if (c->olen && (n == 0 || c->olen >= RPC_COALESCE) && conn_write_out(c) < 0) {
                        rpc_conn_close(c);
                        return;
                }
                if (n == 0)
                        break;
        }
        if (c->reading && c->write_bytes >= RPC_WRITE_HIGH) {
                /* The peer does not read: stop taking requests until it does. */
                uv_read_stop((uv_stream_t *) &c->pipe);
                c->reading = false;
        }
        conn_maybe_done(c);
}

void rpc_conn_goaway(struct rpc_conn *c)
{
        if (c->closing || c->goaway_sent)
                return;
        c->goaway_sent = true;
        /* Streams the client opened before it sees this are still served. */
        nghttp2_submit_shutdown_notice(c->h2);
        nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                              NGHTTP2_NO_ERROR, NULL, 0);
        rpc_conn_flush(c);
}

static void on_conn_closed(uv_handle_t *h)
{
        struct rpc_conn *c = h->data;

        rpc_server_conn_gone(c->srv, c);
        free(c->obuf);
        free(c);
}

void rpc_conn_close(struct rpc_conn *c)
{
        struct rpc_call *call, *next;

        if (c->closing)
                return;
        c->closing = true;
        for (call = c->calls; call; call = next) {
                next = call->next;
                rpc_call_detach(call);
        }
        c->calls = NULL;
        if (c->h2) {
                nghttp2_session_del(c->h2);
                c->h2 = NULL;
        }
        uv_close((uv_handle_t *) &c->pipe, on_conn_closed);
}
