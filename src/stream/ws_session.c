/* The WebSocket transport: kubelet's wsstream protocols (see ws.h) over
 * libwslay's event API, fed from the session's reads.
 *
 * wslay pulls input through recv_cb from the buffer input() was given and
 * pushes output through send_cb into one buffer that goes to the session in
 * a single write per flush.  Handlers are called from inside
 * wslay_event_recv(); what they send or close there waits until it returns
 * (in_recv), so wslay is never re-entered and the session is never closed
 * under its feet.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "stream/ws.h"
#include "util/cleanup.h"
#include "util/log.h"

/* Output buffers above this are given back after a flush. */
#define WS_BUF_KEEP (256u << 10)
/* The largest message we send (base64 makes it a third larger). */
#define WS_SEND_MAX (64u << 20)

struct ws_state {
        wslay_event_context_ptr ctx;
        const struct ws_proto *proto;
        const uint8_t *in;      /* input() bytes wslay has not pulled yet */
        size_t in_len;
        uint8_t *out;           /* frames wslay wrote, not yet given to the session */
        size_t out_len, out_cap;
        uint8_t *msg;           /* one outgoing message being built */
        size_t msg_cap;
        unsigned in_recv;       /* inside wslay_event_recv() */
        bool close_pending;     /* close once out of wslay_event_recv() */
        bool closed;            /* the session is closing: nothing more goes out */
        bool finished;
};

static struct ws_state *ws_of(struct stream_sess *s)
{
        return s->tstate;
}

static int buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
        uint8_t *p;
        size_t c;

        if (need <= *cap)
                return 0;
        c = *cap ? *cap : 4096;
        while (c < need)
                c *= 2;
        p = realloc(*buf, c);
        if (!p)
                return -ENOMEM;
        *buf = p;
        *cap = c;
        return 0;
}

static void buf_shrink(uint8_t **buf, size_t *cap)
{
        if (*cap <= WS_BUF_KEEP)
                return;
        free(*buf);
        *buf = NULL;
        *cap = 0;
}

/* ---- ending ---- */

static void ws_close(struct stream_sess *s)
{
        struct ws_state *st = ws_of(s);

        if (st->closed)
                return;
        if (st->in_recv) {
                st->close_pending = true;
                wslay_event_shutdown_read(st->ctx);
                return;
        }
        st->closed = true;
        if (!s->closing)
                stream_sess_close(s);
}

/* Hand what wslay has queued to the session (outside wslay_event_recv). */
static void ws_flush(struct stream_sess *s)
{
        struct ws_state *st = ws_of(s);
        int r, w = 0;

        if (st->in_recv || st->closed)
                return;
        if (s->closing) {
                /* Closed by the handler or the session: nothing more goes out. */
                st->closed = true;
                return;
        }
        r = wslay_event_send(st->ctx);
        if (st->out_len) {
                w = stream_sess_write(s, st->out, st->out_len);
                st->out_len = 0;
                buf_shrink(&st->out, &st->out_cap);
        }
        if (r < 0 || w < 0) {
                if (r < 0)
                        log_debug("WebSocket session for %s: sending failed: %d", s->req->target, r);
                ws_close(s);
        }
}

/* ---- wslay callbacks ---- */

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
        struct ws_state *st = ws_of(user);

        if (!st->in_len) {
                wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
                return -1;
        }
        if (len > st->in_len)
                len = st->in_len;
        memcpy(buf, st->in, len);
        st->in += len;
        st->in_len -= len;
        return (ssize_t) len;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
        struct ws_state *st = ws_of(user);

        if (buf_reserve(&st->out, &st->out_cap, st->out_len + len) < 0) {
                wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
                return -1;
        }
        memcpy(st->out + st->out_len, data, len);
        st->out_len += len;
        return (ssize_t) len;
}

/* The channels the client writes to; anything it sends on others is dropped. */
static bool chan_client_writes(const struct stream_chan *ch)
{
        return ch->type == SCH_STDIN || ch->type == SCH_RESIZE || ch->type == SCH_PF_DATA;
}

/* v5: the client will not write to the channel named in the payload again. */
static void ws_close_signal(struct stream_sess *s, const uint8_t *payload, size_t len)
{
        struct stream_chan *ch;

        if (len != 1) {
                log_debug("WebSocket session for %s: close signal of %zu bytes ignored", s->req->target, len);
                return;
        }
        ch = stream_chan_by_id(s, payload[0]);
        if (!ch || !chan_client_writes(ch) || ch->in_closed)
                return;
        ch->in_closed = true;
        if (s->h->eof)
                s->h->eof(s, ch);
}

static void ws_dispatch(struct stream_sess *s, const uint8_t *msg, size_t len)
{
        struct ws_state *st = ws_of(s);
        _cleanup_free_ uint8_t *decoded = NULL;
        const uint8_t *payload = msg + 1;
        size_t plen = len - 1;
        uint8_t id = msg[0];
        struct stream_chan *ch;

        if (st->proto->base64) {
                ssize_t n;

                id = (uint8_t) (id - '0');
                decoded = malloc(plen / 4 * 3 + 1);
                if (!decoded) {
                        ws_close(s);
                        return;
                }
                n = ws_base64_decode(payload, plen, decoded);
                if (n < 0) {
                        log_debug("WebSocket session for %s: bad base64 on channel %u ignored", s->req->target,
                                  id);
                        return;
                }
                payload = decoded;
                plen = (size_t) n;
        }
        if (id == WS_CLOSE_SIGNAL && s->proto == SPROTO_V5) {
                ws_close_signal(s, payload, plen);
                return;
        }
        /* As kubelet: data for a channel that is not there is dropped. */
        ch = stream_chan_by_id(s, id);
        if (!ch || !chan_client_writes(ch) || ch->in_closed || plen == 0)
                return;
        if (s->h->data)
                s->h->data(s, ch, payload, plen);
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
        struct stream_sess *s = user;
        struct ws_state *st = ws_of(s);

        /* Close frames, pings and pongs: wslay answers; input() closes. */
        if (arg->opcode != WSLAY_BINARY_FRAME && arg->opcode != WSLAY_TEXT_FRAME)
                return;
        if (st->closed || st->close_pending || s->closing || arg->msg_length == 0)
                return;
        ws_dispatch(s, arg->msg, arg->msg_length);
}

/* ---- the transport ---- */

static void ws_input(struct stream_sess *s, const uint8_t *buf, size_t n)
{
        struct ws_state *st = ws_of(s);
        int r;

        if (st->closed || s->closing)
                return;
        st->in = buf;
        st->in_len = n;
        st->in_recv++;
        r = wslay_event_recv(st->ctx);
        st->in_recv--;
        st->in = NULL;
        st->in_len = 0;
        if (r < 0)
                log_debug("WebSocket session for %s: receiving failed: %d", s->req->target, r);
        /* Pongs, the answer to a close, what handlers sent meanwhile. */
        ws_flush(s);
        /* A close frame, a protocol error or a message over WS_MSG_MAX
         * (wslay queued the close frame for those), or a handler's close. */
        if (r < 0 || st->close_pending || !wslay_event_get_read_enabled(st->ctx))
                ws_close(s);
}

/* Queue one message [channel][data] (base64: '0' + channel, then text). */
static int ws_queue(struct stream_sess *s, uint32_t id, const void *buf, size_t len)
{
        struct ws_state *st = ws_of(s);
        struct wslay_event_msg m;
        size_t n = len;
        int r;

        if (len > WS_SEND_MAX)
                return -EMSGSIZE;
        if (buf_reserve(&st->msg, &st->msg_cap, 1 + (len + 2) / 3 * 4 + 1) < 0)
                return -ENOMEM;
        if (st->proto->base64) {
                st->msg[0] = (uint8_t) ('0' + id);
                n = (size_t) EVP_EncodeBlock(st->msg + 1, buf, (int) len);
        } else {
                st->msg[0] = (uint8_t) id;
                if (len)
                        memcpy(st->msg + 1, buf, len);
        }
        m.opcode = st->proto->base64 ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME;
        m.msg = st->msg;
        m.msg_length = 1 + n;
        r = wslay_event_queue_msg(st->ctx, &m); /* copies */
        buf_shrink(&st->msg, &st->msg_cap);
        if (r == WSLAY_ERR_NOMEM)
                return -ENOMEM;
        return r < 0 ? -EPIPE : 0;
}

/* Port forwarding: the first message on each channel is its port. */
static int ws_queue_port(struct stream_sess *s, struct stream_chan *ch)
{
        uint8_t port[2] = { (uint8_t) (ch->port & 0xff), (uint8_t) (ch->port >> 8) };
        int r;

        r = ws_queue(s, ch->id, port, sizeof(port));
        if (r == 0)
                ch->ws_port_sent = true;
        return r;
}

static int ws_send(struct stream_sess *s, struct stream_chan *ch, const void *buf, size_t len)
{
        struct ws_state *st = ws_of(s);
        int r;

        if (st->closed || st->close_pending || st->finished || s->closing || ch->out_closed)
                return -EPIPE;
        if (s->proto == SPROTO_PORTFORWARD && !ch->ws_port_sent && (r = ws_queue_port(s, ch)) < 0)
                return r;
        r = ws_queue(s, ch->id, buf, len);
        if (r < 0)
                return r;
        ws_flush(s);
        return st->closed ? -EPIPE : 0;
}

/* No frame says "this channel ends": the client learns from the close. */
static void ws_close_chan(struct stream_sess *s, struct stream_chan *ch)
{
        ch->out_closed = true;
}

static void ws_reset_chan(struct stream_sess *s, struct stream_chan *ch)
{
        ch->out_closed = true;
        ch->in_closed = true;
}

static void ws_finish(struct stream_sess *s)
{
        struct ws_state *st = ws_of(s);

        if (st->finished || st->closed)
                return;
        st->finished = true;
        /* NO_MORE_MSG: a close is already queued (the client's, answered). */
        wslay_event_queue_close(st->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
        ws_flush(s);
        ws_close(s);
}

static void ws_state_free(struct ws_state *st)
{
        if (!st)
                return;
        if (st->ctx)
                wslay_event_context_free(st->ctx);
        free(st->out);
        free(st->msg);
        free(st);
}

static void ws_free(struct stream_sess *s)
{
        ws_state_free(ws_of(s));
        s->tstate = NULL;
}

static const struct stream_transport_ops ws_ops = {
        .input = ws_input,
        .send = ws_send,
        .close_chan = ws_close_chan,
        .reset_chan = ws_reset_chan,
        .finish = ws_finish,
        .free = ws_free,
};

/* ---- the handshake ---- */

static void strv_free(char **v)
{
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void strv_freep(char ***v)
{
        strv_free(*v);
}

/* An HTTP error answer instead of the upgrade (the handler is not set). */
static int ws_refuse(struct stream_sess *s, int code, const char *msg, bool version)
{
        _cleanup_free_ char *text = NULL;
        const char *reason = code == 400 ? "Bad Request" : "Internal Server Error";
        int n;

        n = asprintf(&text,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n%s\r\n%s\n",
                     code, reason, strlen(msg) + 1, version ? "Sec-WebSocket-Version: 13\r\n" : "", msg);
        if (n > 0)
                stream_sess_write(s, text, (size_t) n);
        stream_sess_close(s);
        return code == 400 ? -EPROTO : -ENOMEM;
}

/* RFC 6455 4.2.1: what an opening handshake must hold. */
static int ws_check_request(const struct stream_http *h, bool *bad_version, struct pxe **err)
{
        _cleanup_(strv_freep) char **upgrade = stream_http_header_list(h, "upgrade");
        _cleanup_(strv_freep) char **conn = stream_http_header_list(h, "connection");
        const char *version = stream_http_header(h, "sec-websocket-version");
        const char *key = stream_http_header(h, "sec-websocket-key");

        if (!upgrade || !conn)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (!h->method || !streq(h->method, "GET"))
                return pxe_set(err, EINVAL, "A WebSocket upgrade must be a GET request, not %s",
                               h->method ? h->method : "(none)");
        if (!ws_has_token(upgrade, "websocket"))
                return pxe_set(err, EINVAL, "The Upgrade header does not name websocket");
        if (!ws_has_token(conn, "upgrade"))
                return pxe_set(err, EINVAL, "The Connection header does not hold upgrade");
        if (!version || !streq(version, "13")) {
                *bad_version = true;
                return pxe_set(err, EINVAL, "Unsupported Sec-WebSocket-Version \"%s\": this server speaks 13",
                               version ? version : "");
        }
        if (!key || !ws_key_valid(key))
                return pxe_set(err, EINVAL, "Missing or malformed Sec-WebSocket-Key");
        return 0;
}

static int ws_choose(struct stream_sess *s, const struct stream_http *h, const struct ws_proto **ret,
                     struct pxe **err)
{
        _cleanup_(strv_freep) char **offered = stream_http_header_list(h, "sec-websocket-protocol");
        _cleanup_free_ char *list = NULL;
        size_t len = 0;
        FILE *f;

        if (!offered)
                return pxe_set(err, ENOMEM, "Out of memory");
        if (ws_choose_proto(s->req->kind, offered, ret) == 0)
                return 0;
        f = open_memstream(&list, &len);
        if (!f)
                return pxe_set(err, ENOMEM, "Out of memory");
        for (size_t i = 0; offered[i]; i++)
                fprintf(f, "%s%s", i ? ", " : "", offered[i]);
        fclose(f);
        return pxe_set(err, EINVAL, "None of the requested subprotocols (%s) is supported; supported: %s",
                       list ? list : "", ws_supported_protos(s->req->kind));
}

/* The ports to forward: the URL's, else the CRI request's. */
static int ws_ports(struct stream_sess *s, const struct stream_http *h, unsigned **ret, size_t *n, struct pxe **err)
{
        int r;

        r = ws_parse_ports(h->query, ret, n, err);
        if (r < 0 || *n)
                return r;
        if (!s->req->n_ports)
                return pxe_set(err, EINVAL, "Query parameter \"port\" is required");
        if (s->req->n_ports > WS_PORTS_MAX)
                return pxe_set(err, EINVAL, "More than %d ports", WS_PORTS_MAX);
        *ret = malloc(s->req->n_ports * sizeof(**ret));
        if (!*ret)
                return pxe_set(err, ENOMEM, "Out of memory");
        memcpy(*ret, s->req->ports, s->req->n_ports * sizeof(**ret));
        *n = s->req->n_ports;
        return 0;
}

static int ws_state_new(struct stream_sess *s, const struct ws_proto *proto, struct ws_state **ret)
{
        static const struct wslay_event_callbacks cbs = {
                .recv_callback = recv_cb,
                .send_callback = send_cb,
                .on_msg_recv_callback = msg_cb,
        };
        struct ws_state *st = calloc(1, sizeof(*st));

        if (!st)
                return -ENOMEM;
        st->proto = proto;
        if (wslay_event_context_server_init(&st->ctx, &cbs, s) != 0) {
                free(st);
                return -ENOMEM;
        }
        wslay_event_config_set_max_recv_msg_length(st->ctx, WS_MSG_MAX);
        *ret = st;
        return 0;
}

/* Exec and attach: the channels the request uses (kubelet's numbering). */
static int ws_remotecommand_chans(struct stream_sess *s)
{
        const struct stream_request *r = s->req;

        if ((r->in && !stream_chan_new(s, SCH_STDIN, SCH_STDIN)) ||
            (r->out && !stream_chan_new(s, SCH_STDOUT, SCH_STDOUT)) ||
            (r->err && !r->tty && !stream_chan_new(s, SCH_STDERR, SCH_STDERR)) ||
            !stream_chan_new(s, SCH_ERROR, SCH_ERROR) ||
            (r->tty && !stream_chan_new(s, SCH_RESIZE, SCH_RESIZE)))
                return -ENOMEM;
        return 0;
}

static int ws_portforward_chans(struct stream_sess *s, const unsigned *ports, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                struct stream_chan *data = stream_chan_new(s, SCH_PF_DATA, (uint32_t) (2 * i));
                struct stream_chan *error = data ? stream_chan_new(s, SCH_PF_ERROR, (uint32_t) (2 * i + 1)) : NULL;

                if (!error)
                        return -ENOMEM;
                data->port = error->port = ports[i];
        }
        return 0;
}

static int ws_answer_101(struct stream_sess *s, const struct stream_http *h, const struct ws_proto *proto)
{
        char accept[WS_ACCEPT_LEN + 1];
        _cleanup_free_ char *text = NULL;
        int n, r;

        r = ws_accept_key(stream_http_header(h, "sec-websocket-key"), accept);
        if (r < 0)
                return r;
        n = asprintf(&text,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     accept, proto->name ? "Sec-WebSocket-Protocol: " : "", proto->name ? proto->name : "",
                     proto->name ? "\r\n" : "");
        if (n < 0)
                return -ENOMEM;
        return stream_sess_write(s, text, (size_t) n);
}

/* What the client waits for before it writes: kubelet's empty message on
 * the lowest channel we write to, or each port on its two channels. */
static int ws_first_messages(struct stream_sess *s)
{
        const struct stream_request *r = s->req;
        int ret;

        if (s->proto != SPROTO_PORTFORWARD)
                return ws_queue(s, r->out ? SCH_STDOUT : (r->err && !r->tty) ? SCH_STDERR : SCH_ERROR, NULL, 0);
        for (struct stream_chan *ch = s->chans; ch; ch = ch->next)
                if ((ret = ws_queue_port(s, ch)) < 0)
                        return ret;
        return 0;
}

int ws_session_accept(struct stream_sess *s, const struct stream_http *h, const uint8_t *rest, size_t n)
{
        _cleanup_pxe_ struct pxe *err = NULL;
        _cleanup_free_ unsigned *ports = NULL;
        const struct stream_handler_ops *handler = s->h ? s->h : stream_handler_for(s->req->kind);
        const struct ws_proto *proto = NULL;
        struct ws_state *st = NULL;
        bool bad_version = false;
        size_t n_ports = 0;
        int r;

        /* Until start(), the handler has nothing to be told if this ends. */
        s->h = NULL;
        if ((r = ws_check_request(h, &bad_version, &err)) < 0 || (r = ws_choose(s, h, &proto, &err)) < 0 ||
            (s->req->kind == STREAM_PORTFORWARD && (r = ws_ports(s, h, &ports, &n_ports, &err)) < 0))
                return ws_refuse(s, r == -ENOMEM ? 500 : 400, err ? err->msg : "Bad WebSocket request",
                                 bad_version);
        if (ws_state_new(s, proto, &st) < 0)
                return ws_refuse(s, 500, "Out of memory", false);
        s->proto = proto->proto;
        s->t = &ws_ops;
        s->tstate = st;
        r = s->req->kind == STREAM_PORTFORWARD ? ws_portforward_chans(s, ports, n_ports) : ws_remotecommand_chans(s);
        if (r < 0)
                return ws_refuse(s, 500, "Out of memory", false);
        r = ws_answer_101(s, h, proto);
        if (r == 0)
                r = ws_first_messages(s);
        if (r == 0)
                ws_flush(s);
        if (r < 0 || st->closed) {
                ws_close(s);
                return r < 0 ? r : -EPIPE;
        }
        s->h = handler;
        if (s->h->start)
                s->h->start(s);
        if (n && !st->closed && !s->closing)
                ws_input(s, rest, n);
        return 0;
}
