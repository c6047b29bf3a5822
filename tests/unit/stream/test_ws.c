/* stream/ws: the handshake helpers (accept key, subprotocol choice, port
 * lists, base64), then the WebSocket transport itself on a real session
 * (session.c) over a socketpair and a uv loop, with a fake handler: the 101
 * or 400, the channels and first messages, input split anywhere, the v5
 * close signal, base64 framing, the close handshake and the limits. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/server_int.h"
#include "stream/ws.h"
#include "util/cleanup.h"

/* ---- the helpers ---- */

static void test_accept_key(void **state)
{
        char out[WS_ACCEPT_LEN + 1];

        /* RFC 6455 section 1.3 */
        assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
        assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        /* RFC 6455 section 4.2.2's second example is the same key; another from Python's
         * base64(sha1(key + GUID)): */
        assert_int_equal(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", out), 0);
        assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

static void test_key_valid(void **state)
{
        static const char *const bad[] = {
                "", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===", "dGhlIHNhbXBsZSBub25jZ===",
                "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25j*Q==", " dGhlIHNhbXBsZSBub25jZQ=",
                "dGhlIHNhbXBsZSBub25jZQ=A", "dGhlIHNhbXBsZSBub25jZQAA", /* 18 bytes */
        };

        assert_true(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_true(ws_key_valid("x3JJHMbDL1EzLkh9GBhXDw=="));
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_false(ws_key_valid(bad[i]));
}

static void test_base64(void **state)
{
        static const struct {
                const char *in, *out;
                size_t n;
        } good[] = {
                { "", "", 0 }, { "aGk=", "hi", 2 }, { "aGk/", "hi?", 3 }, { "YQ==", "a", 1 }, { "b3V0", "out", 3 },
                { "AAECAw==", "\0\1\2\3", 4 },
        };
        static const char *const bad[] = { "a", "aGk", "aG=k", "a===", "====", "aGk*", "aGk=aGk=", "aG k",
                                           "aGk=\n" };
        uint8_t out[64];

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                assert_int_equal(ws_base64_decode((const uint8_t *) good[i].in, strlen(good[i].in), out), good[i].n);
                assert_memory_equal(out, good[i].out, good[i].n);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(ws_base64_decode((const uint8_t *) bad[i], strlen(bad[i]), out), -EINVAL);
}

static void test_has_token(void **state)
{
        char *a[] = { "keep-alive", "Upgrade", NULL };
        char *b[] = { "keep-alive, UPGRADE ", NULL };
        char *c[] = { "keep-alive", "upgrades", "x-upgrade", NULL };
        char *d[] = { NULL };
        char *e[] = { " , ,upgrade", NULL };

        assert_true(ws_has_token(a, "upgrade"));
        assert_true(ws_has_token(b, "upgrade"));
        assert_false(ws_has_token(c, "upgrade"));
        assert_false(ws_has_token(d, "upgrade"));
        assert_false(ws_has_token(NULL, "upgrade"));
        assert_true(ws_has_token(e, "upgrade"));
}

static const struct ws_proto *choose(enum stream_kind k, char **offered)
{
        const struct ws_proto *p = NULL;

        assert_int_equal(ws_choose_proto(k, offered, &p), 0);
        assert_non_null(p);
        return p;
}

static void test_choose_proto(void **state)
{
        char *all[] = { "channel.k8s.io", "v2.channel.k8s.io", "v3.channel.k8s.io, v4.channel.k8s.io",
                        "v5.channel.k8s.io", NULL };
        char *old[] = { "base64.channel.k8s.io", "channel.k8s.io", NULL };
        char *b64[] = { "v4.base64.channel.k8s.io", "base64.channel.k8s.io", NULL };
        char *v4both[] = { "v4.base64.channel.k8s.io, v4.channel.k8s.io", NULL };
        char *v3[] = { "v3.channel.k8s.io", NULL };
        char *unknown[] = { "v9.channel.k8s.io", "SPDY/3.1", "V5.CHANNEL.K8S.IO", NULL };
        char *v5only[] = { "v5.channel.k8s.io", NULL };
        char *empty[] = { NULL };
        const struct ws_proto *p = NULL;

        /* The server's preference, not the client's order. */
        p = choose(STREAM_EXEC, all);
        assert_string_equal(p->name, "v5.channel.k8s.io");
        assert_int_equal(p->proto, SPROTO_V5);
        assert_false(p->base64);
        p = choose(STREAM_ATTACH, old);
        assert_string_equal(p->name, "channel.k8s.io");
        assert_int_equal(p->proto, SPROTO_V1);
        p = choose(STREAM_EXEC, b64);
        assert_string_equal(p->name, "v4.base64.channel.k8s.io");
        assert_int_equal(p->proto, SPROTO_V4);
        assert_true(p->base64);
        p = choose(STREAM_EXEC, v4both);
        assert_string_equal(p->name, "v4.channel.k8s.io");
        assert_false(p->base64);
        p = choose(STREAM_EXEC, v3);
        assert_int_equal(p->proto, SPROTO_V3);
        /* None offered: kubelet's binary framing, no Sec-WebSocket-Protocol. */
        p = choose(STREAM_EXEC, empty);
        assert_null(p->name);
        assert_int_equal(p->proto, SPROTO_V1);
        p = choose(STREAM_EXEC, NULL);
        assert_null(p->name);
        p = choose(STREAM_PORTFORWARD, empty);
        assert_null(p->name);
        assert_int_equal(p->proto, SPROTO_PORTFORWARD);
        /* Names are case-sensitive tokens. */
        p = NULL;
        assert_int_equal(ws_choose_proto(STREAM_EXEC, unknown, &p), -ENOPROTOOPT);
        assert_null(p);
        /* Port forwarding speaks v4 framing only. */
        p = choose(STREAM_PORTFORWARD, all);
        assert_string_equal(p->name, "v4.channel.k8s.io");
        assert_int_equal(p->proto, SPROTO_PORTFORWARD);
        p = choose(STREAM_PORTFORWARD, b64);
        assert_true(p->base64);
        assert_int_equal(ws_choose_proto(STREAM_PORTFORWARD, v5only, &p), -ENOPROTOOPT);
        assert_int_equal(ws_choose_proto(STREAM_PORTFORWARD, old, &p), -ENOPROTOOPT);
        assert_contains(ws_supported_protos(STREAM_EXEC), "v5.channel.k8s.io");
        assert_contains(ws_supported_protos(STREAM_PORTFORWARD), "v4.channel.k8s.io");
}

static void test_ports(void **state)
{
        static const struct {
                const char *query;
                size_t n;
                unsigned ports[4];
        } good[] = {
                { "port=80", 1, { 80 } },
                { "port=80,443&port=8080", 3, { 80, 443, 8080 } },
                { "?a=b&port=1&c&&port=65535", 2, { 1, 65535 } },
                { "port=22%2C2222", 2, { 22, 2222 } },
                { "%70ort=0080", 1, { 80 } },
                { "ports=0&xport=1&a=port%3D5", 0, {} },
                { "", 0, {} },
        };
        static const struct {
                const char *query, *msg;
        } bad[] = {
                { "port=", "cannot be empty" },
                { "port", "cannot be empty" },
                { "port=0", "\"0\"" },
                { "port=65536", "\"65536\"" },
                { "port=99999999999999999999999", "is not a number" },
                { "port=80,", "\"\" in \"80,\"" },
                { "port=,80", "is not a number" },
                { "port=80,,81", "is not a number" },
                { "port=8a", "\"8a\"" },
                { "port=-1", "\"-1\"" },
                { "port=%2B80", "\"+80\"" },
                { "port=+80", "\" 80\"" }, /* + is a space */
                { "port=80 ", "1 to 65535" },
                { "port=%2080", "\" 80\"" },
                { "port=80%", "Malformed URL query" },
                { "port=%zz", "Malformed URL query" },
                { "port=8%000", "Malformed URL query" },
        };
        _cleanup_free_ char *many = NULL;
        size_t len = 0;
        FILE *f;

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                _cleanup_free_ unsigned *ports = NULL;
                size_t n = 99;

                assert_int_equal(ws_parse_ports(good[i].query, &ports, &n, NULL), 0);
                assert_int_equal(n, good[i].n);
                if (n)
                        assert_memory_equal(ports, good[i].ports, n * sizeof(unsigned));
                else
                        assert_null(ports);
        }
        {
                unsigned *ports = NULL;
                size_t n = 99;

                assert_int_equal(ws_parse_ports(NULL, &ports, &n, NULL), 0);
                assert_int_equal(n, 0);
                assert_null(ports);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_pxe_ struct pxe *err = NULL;
                unsigned *ports = (unsigned *) &len;
                size_t n = 99;

                assert_int_equal(ws_parse_ports(bad[i].query, &ports, &n, &err), -EINVAL);
                assert_non_null(err);
                assert_contains(err->msg, bad[i].msg);
                assert_ptr_equal(ports, &len); /* untouched on failure */
                assert_int_equal(n, 99);
        }
        /* WS_PORTS_MAX fit, one more does not. */
        f = open_memstream(&many, &len);
        assert_non_null(f);
        fprintf(f, "port=1");
        for (int i = 2; i <= WS_PORTS_MAX; i++)
                fprintf(f, ",%d", i);
        fclose(f);
        {
                _cleanup_free_ unsigned *ports = NULL;
                _cleanup_free_ char *more = NULL;
                _cleanup_pxe_ struct pxe *err = NULL;
                size_t n = 0;

                assert_int_equal(ws_parse_ports(many, &ports, &n, NULL), 0);
                assert_int_equal(n, WS_PORTS_MAX);
                assert_int_equal(ports[WS_PORTS_MAX - 1], WS_PORTS_MAX);
                assert_true(asprintf(&more, "%s&port=7", many) > 0);
                assert_int_equal(ws_parse_ports(more, &ports, &n, &err), -EINVAL);
                assert_contains(err->msg, "More than 100 ports");
        }
}

/* ---- the transport over a real session ---- */

/* RFC 6455 opcodes */
enum { OP_CONT = 0x0, OP_TEXT = 0x1, OP_BIN = 0x2, OP_CLOSE = 0x8, OP_PING = 0x9, OP_PONG = 0xa };

struct bytes {
        uint8_t *p;
        size_t len, cap;
};

static void bytes_add(struct bytes *b, const void *data, size_t n)
{
        if (b->len + n > b->cap) {
                b->cap = (b->len + n) * 2 + 64;
                b->p = realloc(b->p, b->cap);
                assert_non_null(b->p);
        }
        if (n)
                memcpy(b->p + b->len, data, n);
        b->len += n;
}

static void bytes_free(struct bytes *b)
{
        free(b->p);
        *b = (struct bytes) {};
}

/* A client frame: masked unless told otherwise. */
static void frame_add(struct bytes *b, bool fin, uint8_t op, const void *payload, size_t n, bool mask)
{
        static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
        uint8_t h[14];
        size_t hl = 2;

        h[0] = (uint8_t) ((fin ? 0x80 : 0) | op);
        if (n < 126) {
                h[1] = (uint8_t) n;
        } else if (n < 65536) {
                h[1] = 126;
                h[2] = (uint8_t) (n >> 8);
                h[3] = (uint8_t) n;
                hl = 4;
        } else {
                h[1] = 127;
                for (int i = 0; i < 8; i++)
                        h[2 + i] = (uint8_t) ((uint64_t) n >> (56 - 8 * i));
                hl = 10;
        }
        if (mask) {
                h[1] |= 0x80;
                memcpy(h + hl, key, 4);
                hl += 4;
        }
        bytes_add(b, h, hl);
        for (size_t i = 0; i < n; i++) {
                uint8_t c = ((const uint8_t *) payload)[i] ^ (mask ? key[i % 4] : 0);

                bytes_add(b, &c, 1);
        }
}

/* A binary message [channel][text]. */
static void msg_add(struct bytes *b, uint8_t ch, const char *text)
{
        _cleanup_free_ uint8_t *m = malloc(1 + strlen(text));

        m[0] = ch;
        memcpy(m + 1, text, strlen(text));
        frame_add(b, true, OP_BIN, m, 1 + strlen(text), true);
}

struct fake {
        uv_loop_t loop;
        struct stream_server srv;
        struct stream_sess *s;
        int fd;                 /* the client's end */
        struct bytes rx;        /* what the client received */
        size_t rx_off;          /* taken so far */
        bool rx_eof;
        char log[4096];         /* what the handler saw: "start;0:abc;eof 0;gone;" */
        int gone;
        bool finish_on_data;    /* the handler finishes inside data() */
        bool finish_on_start;   /* ... inside start() */
};

static void log_add(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_add(struct fake *f, const char *fmt, ...)
{
        size_t n = strlen(f->log);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(f->log + n, sizeof(f->log) - n, fmt, ap);
        va_end(ap);
}

static void h_start(struct stream_sess *s)
{
        struct fake *f = s->hstate;

        log_add(f, "start;");
        if (f->finish_on_start) {
                assert_int_equal(s->t->send(s, stream_chan_by_id(s, SCH_ERROR), "failed", 6), 0);
                s->t->finish(s);
        }
}

static void h_data(struct stream_sess *s, struct stream_chan *ch, const uint8_t *buf, size_t len)
{
        struct fake *f = s->hstate;

        log_add(f, "%u:%.*s;", ch->id, (int) len, (const char *) buf);
        if (f->finish_on_data)
                s->t->finish(s);
}

static void h_eof(struct stream_sess *s, struct stream_chan *ch)
{
        log_add(s->hstate, "eof %u;", ch->id);
}

static void h_gone(struct stream_sess *s)
{
        struct fake *f = s->hstate;

        f->gone++;
        log_add(f, "gone;");
        stream_sess_release(s);
}

static const struct stream_handler_ops fake_ops = {
        .start = h_start,
        .data = h_data,
        .eof = h_eof,
        .gone = h_gone,
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
        b->base = malloc(hint);
        b->len = b->base ? hint : 0;
}

/* server.c's read callback once upgraded */
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
        struct stream_sess *s = st->data;

        if (n < 0)
                stream_sess_input_ended(s);
        else if (n > 0 && !s->closing)
                s->t->input(s, (const uint8_t *) b->base, (size_t) n);
        free(b->base);
}

static void pump(struct fake *f)
{
        uint8_t buf[65536];

        for (int i = 0; i < 20; i++) {
                ssize_t n;

                uv_run(&f->loop, UV_RUN_NOWAIT);
                while ((n = read(f->fd, buf, sizeof(buf))) > 0)
                        bytes_add(&f->rx, buf, (size_t) n);
                if (n == 0)
                        f->rx_eof = true;
        }
}

static void client_write(struct fake *f, const void *data, size_t n)
{
        const uint8_t *p = data;

        while (n) {
                ssize_t w = write(f->fd, p, n);

                if (w < 0) {
                        assert_int_equal(errno, EAGAIN);
                        pump(f);
                        continue;
                }
                p += w;
                n -= (size_t) w;
        }
        pump(f);
}

static void client_send(struct fake *f, struct bytes *b)
{
        client_write(f, b->p, b->len);
        bytes_free(b);
}

static void fake_init(struct fake *f, enum stream_kind kind, const char *flags)
{
        int sv[2];

        memset(f, 0, sizeof(*f));
        assert_int_equal(uv_loop_init(&f->loop), 0);
        f->srv.loop = &f->loop;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        f->fd = sv[1];
        f->s = calloc(1, sizeof(*f->s));
        assert_non_null(f->s);
        f->s->srv = &f->srv;
        assert_int_equal(uv_tcp_init(&f->loop, &f->s->tcp), 0);
        assert_int_equal(uv_tcp_open(&f->s->tcp, sv[0]), 0);
        assert_int_equal(uv_timer_init(&f->loop, &f->s->timer), 0);
        f->s->tcp.data = f->s->timer.data = f->s;
        f->s->req = calloc(1, sizeof(*f->s->req));
        assert_non_null(f->s->req);
        f->s->req->kind = kind;
        strcpy(f->s->req->target, "test");
        f->s->req->in = strchr(flags, 'i');
        f->s->req->out = strchr(flags, 'o');
        f->s->req->err = strchr(flags, 'e');
        f->s->req->tty = strchr(flags, 't');
        /* As server.c hands over. */
        f->s->h = &fake_ops;
        f->s->hstate = f;
        f->s->upgraded = true;
        f->s->websocket = true;
        assert_int_equal(uv_read_start((uv_stream_t *) &f->s->tcp, on_alloc, on_read), 0);
}

/* headers: name, value, ..., NULL (names lower case, as server.c gives them) */
static int fake_accept(struct fake *f, const char *method, char *query, const char *const *headers,
                       const uint8_t *rest, size_t n)
{
        char *names[32], *values[32];
        struct stream_http h = { .method = (char *) method, .path = "/x/token", .query = query,
                                 .names = names, .values = values };
        int r;

        for (size_t i = 0; headers[2 * i]; i++) {
                names[i] = (char *) headers[2 * i];
                values[i] = (char *) headers[2 * i + 1];
                h.n_headers++;
        }
        r = ws_session_accept(f->s, &h, rest, n);
        pump(f);
        return r;
}

#define STD_HEADERS                                                                                            \
        "host", "127.0.0.1", "upgrade", "websocket", "connection", "Upgrade", "sec-websocket-version", "13", \
                "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="

/* The HTTP answer head (and body, by Content-Length): taken off rx. */
static char *http_answer(struct fake *f)
{
        uint8_t *end;
        char *head, *cl;
        size_t hl;

        pump(f);
        end = memmem(f->rx.p, f->rx.len, "\r\n\r\n", 4);
        assert_non_null(end);
        hl = (size_t) (end + 4 - f->rx.p);
        head = strndup((char *) f->rx.p, hl);
        assert_non_null(head);
        f->rx_off = hl;
        cl = strcasestr(head, "Content-Length: ");
        if (cl) {
                size_t body = strtoul(cl + 16, NULL, 10);

                assert_true(f->rx.len >= hl + body);
                head = realloc(head, hl + body + 1);
                memcpy(head + hl, f->rx.p + hl, body);
                head[hl + body] = '\0';
                f->rx_off += body;
        }
        return head;
}

/* The next frame from the server, which must be a whole one, FIN and unmasked. */
static void frame_next(struct fake *f, uint8_t *op, const uint8_t **payload, size_t *n)
{
        const uint8_t *b;
        size_t avail, hl = 2;
        uint64_t len;

        pump(f);
        b = f->rx.p + f->rx_off;
        avail = f->rx.len - f->rx_off;
        assert_true(avail >= 2);
        assert_true(b[0] & 0x80);
        assert_false(b[1] & 0x80);
        len = b[1] & 0x7f;
        if (len == 126) {
                assert_true(avail >= 4);
                len = (uint64_t) b[2] << 8 | b[3];
                hl = 4;
        } else if (len == 127) {
                assert_true(avail >= 10);
                len = 0;
                for (int i = 0; i < 8; i++)
                        len = len << 8 | b[2 + i];
                hl = 10;
        }
        assert_true(avail >= hl + len);
        *op = b[0] & 0x0f;
        *payload = b + hl;
        *n = (size_t) len;
        f->rx_off += hl + (size_t) len;
}

static void expect_frame(struct fake *f, uint8_t op, const void *payload, size_t n)
{
        const uint8_t *p;
        size_t len;
        uint8_t o;

        frame_next(f, &o, &p, &len);
        assert_int_equal(o, op);
        assert_int_equal(len, n);
        if (n)
                assert_memory_equal(p, payload, n);
}

static void expect_nothing(struct fake *f)
{
        pump(f);
        assert_int_equal(f->rx.len, f->rx_off);
}

static void expect_close(struct fake *f, uint16_t code)
{
        uint8_t c[2] = { (uint8_t) (code >> 8), (uint8_t) code };

        expect_frame(f, OP_CLOSE, c, 2);
        pump(f);
        assert_true(f->rx_eof);
        assert_int_equal(f->gone, 1);
}

/* Close the client's end (if the server did not) and let everything be freed. */
static void fake_end(struct fake *f)
{
        close(f->fd);
        for (int i = 0; i < 1000 && uv_run(&f->loop, UV_RUN_NOWAIT); i++)
                ;
        assert_int_equal(uv_loop_close(&f->loop), 0);
        bytes_free(&f->rx);
}

static void test_exec_v5(void **state)
{
        static const char *const headers[] = { STD_HEADERS, "sec-websocket-protocol",
                                               "v4.channel.k8s.io, v5.channel.k8s.io", "sec-websocket-protocol",
                                               "channel.k8s.io", NULL };
        _cleanup_free_ char *head = NULL;
        struct bytes b = {}, rest = {};
        struct fake f;
        uint8_t close_signal[2] = { WS_CLOSE_SIGNAL, 0 };
        size_t cut;

        fake_init(&f, STREAM_EXEC, "ioe");
        /* The first message comes with the request; the second is cut. */
        msg_add(&rest, 0, "a");
        cut = rest.len;
        msg_add(&rest, 0, "bc");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, rest.p, cut + 3), 0);
        head = http_answer(&f);
        assert_contains(head, "HTTP/1.1 101 Switching Protocols\r\n");
        assert_contains(head, "\r\nUpgrade: websocket\r\n");
        assert_contains(head, "\r\nConnection: Upgrade\r\n");
        assert_contains(head, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n");
        assert_contains(head, "\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n");
        assert_int_equal(f.s->proto, SPROTO_V5);
        /* The channels kubelet opens: no stderr with a tty, resize only with one. */
        assert_non_null(stream_chan_by_id(f.s, 0));
        assert_non_null(stream_chan_by_id(f.s, 1));
        assert_non_null(stream_chan_by_id(f.s, 2));
        assert_int_equal(stream_chan_by_id(f.s, 3)->type, SCH_ERROR);
        assert_null(stream_chan_by_id(f.s, 4));
        /* "Connected": an empty message on stdout. */
        expect_frame(&f, OP_BIN, "\1", 1);
        assert_string_equal(f.log, "start;0:a;");
        /* The rest of the cut message, a byte at a time. */
        for (size_t i = cut + 3; i < rest.len; i++)
                client_write(&f, rest.p + i, 1);
        bytes_free(&rest);
        assert_string_equal(f.log, "start;0:a;0:bc;");
        /* Dropped: a channel not there, one the client does not write, an empty message. */
        msg_add(&b, 4, "{}");
        msg_add(&b, 1, "x");
        msg_add(&b, 3, "x");
        msg_add(&b, 9, "x");
        msg_add(&b, 0, "");
        frame_add(&b, true, OP_BIN, "", 0, true);
        /* A message in two fragments, a ping between them; a text message. */
        frame_add(&b, false, OP_BIN, "\0d", 2, true);
        frame_add(&b, true, OP_PING, "p", 1, true);
        frame_add(&b, true, OP_CONT, "ef", 2, true);
        frame_add(&b, true, OP_TEXT, "\0g", 2, true);
        client_send(&f, &b);
        assert_string_equal(f.log, "start;0:a;0:bc;0:def;0:g;");
        expect_frame(&f, OP_PONG, "p", 1);
        /* Output. */
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 1), "out", 3), 0);
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 2), "err", 3), 0);
        expect_frame(&f, OP_BIN, "\1out", 4);
        expect_frame(&f, OP_BIN, "\2err", 4);
        /* v5: stdin closed; what follows on it is dropped; a second signal, a
         * signal for a channel the client does not write or of a bad length. */
        frame_add(&b, true, OP_BIN, close_signal, 2, true);
        msg_add(&b, 0, "late");
        frame_add(&b, true, OP_BIN, close_signal, 2, true);
        frame_add(&b, true, OP_BIN, "\xff\1", 2, true);
        frame_add(&b, true, OP_BIN, "\xff\0\0", 3, true);
        client_send(&f, &b);
        assert_string_equal(f.log, "start;0:a;0:bc;0:def;0:g;eof 0;");
        assert_true(stream_chan_by_id(f.s, 0)->in_closed);
        /* The end: our side closes, the close frame and then EOF. */
        f.s->t->close_chan(f.s, stream_chan_by_id(f.s, 1));
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 1), "x", 1), -EPIPE);
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 3), "{}", 2), 0);
        expect_frame(&f, OP_BIN, "\3{}", 3);
        f.s->t->finish(f.s);
        expect_close(&f, 1000);
        expect_nothing(&f);
        assert_string_equal(f.log, "start;0:a;0:bc;0:def;0:g;eof 0;gone;");
        fake_end(&f);
}

static void test_exec_tty_v4(void **state)
{
        static const char *const headers[] = { STD_HEADERS, "sec-websocket-protocol", "v4.channel.k8s.io", NULL };
        _cleanup_free_ char *head = NULL;
        struct bytes b = {};
        struct fake f;

        fake_init(&f, STREAM_EXEC, "ioet");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        head = http_answer(&f);
        assert_contains(head, "\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n");
        assert_int_equal(f.s->proto, SPROTO_V4);
        assert_null(stream_chan_by_id(f.s, 2));
        assert_int_equal(stream_chan_by_id(f.s, 4)->type, SCH_RESIZE);
        expect_frame(&f, OP_BIN, "\1", 1);
        /* Before v5, channel 255 is no signal: dropped. */
        frame_add(&b, true, OP_BIN, "\xff\0", 2, true);
        msg_add(&b, 4, "{\"Width\":80,\"Height\":24}");
        msg_add(&b, 2, "x");
        client_send(&f, &b);
        assert_string_equal(f.log, "start;4:{\"Width\":80,\"Height\":24};");
        assert_false(stream_chan_by_id(f.s, 0)->in_closed);
        /* The client goes away: gone, no answer. */
        close(f.fd);
        f.fd = -1;
        for (int i = 0; i < 20; i++)
                uv_run(&f.loop, UV_RUN_NOWAIT);
        assert_int_equal(f.gone, 1);
        fake_end(&f);
}

static void test_exec_no_output(void **state)
{
        static const char *const headers[] = { STD_HEADERS, NULL };
        _cleanup_free_ char *head = NULL;
        struct fake f;

        /* No subprotocol named: binary v1 framing, none in the answer; no
         * stdout or stderr: "connected" goes on the error channel. */
        fake_init(&f, STREAM_ATTACH, "i");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        head = http_answer(&f);
        assert_contains(head, "HTTP/1.1 101 ");
        assert_null(strcasestr(head, "Sec-WebSocket-Protocol"));
        assert_int_equal(f.s->proto, SPROTO_V1);
        assert_null(stream_chan_by_id(f.s, 1));
        assert_null(stream_chan_by_id(f.s, 2));
        expect_frame(&f, OP_BIN, "\3", 1);
        fake_end(&f);
        assert_int_equal(f.gone, 1);
}

static void test_refused(void **state)
{
        static const struct {
                enum stream_kind kind;
                const char *method;
                const char *query;
                const char *const headers[14];
                const char *body;
        } cases[] = {
                { STREAM_EXEC, "POST", NULL, { STD_HEADERS, NULL }, "must be a GET request, not POST" },
                { STREAM_EXEC, "GET", NULL,
                  { "upgrade", "websocket", "connection", "keep-alive", "sec-websocket-version", "13",
                    "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==", NULL },
                  "Connection header" },
                { STREAM_EXEC, "GET", NULL,
                  { "upgrade", "h2c", "connection", "upgrade", "sec-websocket-version", "13", "sec-websocket-key",
                    "dGhlIHNhbXBsZSBub25jZQ==", NULL },
                  "Upgrade header" },
                { STREAM_EXEC, "GET", NULL,
                  { "upgrade", "websocket", "connection", "upgrade", "sec-websocket-version", "8",
                    "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==", NULL },
                  "Unsupported Sec-WebSocket-Version \"8\"" },
                { STREAM_EXEC, "GET", NULL,
                  { "upgrade", "websocket", "connection", "upgrade", "sec-websocket-key",
                    "dGhlIHNhbXBsZSBub25jZQ==", NULL },
                  "Unsupported Sec-WebSocket-Version \"\"" },
                { STREAM_EXEC, "GET", NULL,
                  { "upgrade", "websocket", "connection", "upgrade", "sec-websocket-version", "13", NULL },
                  "Sec-WebSocket-Key" },
                { STREAM_EXEC, "GET", NULL,
                  { "upgrade", "websocket", "connection", "upgrade", "sec-websocket-version", "13",
                    "sec-websocket-key", "short", NULL },
                  "Sec-WebSocket-Key" },
                { STREAM_EXEC, "GET", NULL,
                  { STD_HEADERS, "sec-websocket-protocol", "v9.channel.k8s.io, x", NULL },
                  "None of the requested subprotocols (v9.channel.k8s.io, x) is supported; supported: "
                  "v5.channel.k8s.io, v4.channel.k8s.io" },
                { STREAM_PORTFORWARD, "GET", NULL,
                  { STD_HEADERS, "sec-websocket-protocol", "v5.channel.k8s.io", NULL },
                  "supported: v4.channel.k8s.io" },
                { STREAM_PORTFORWARD, "GET", "port=0", { STD_HEADERS, NULL }, "Port \"0\" in \"0\"" },
                { STREAM_PORTFORWARD, "GET", "port=80&port=", { STD_HEADERS, NULL }, "cannot be empty" },
                { STREAM_PORTFORWARD, "GET", "x=1", { STD_HEADERS, NULL }, "Query parameter \"port\" is required" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *head = NULL, *query = cases[i].query ? strdup(cases[i].query) : NULL;
                struct fake f;

                fake_init(&f, cases[i].kind, "oe");
                assert_int_equal(fake_accept(&f, cases[i].method, query, cases[i].headers, NULL, 0), -EPROTO);
                head = http_answer(&f);
                assert_contains(head, "HTTP/1.1 400 Bad Request\r\n");
                assert_contains(head, "\r\nContent-Type: text/plain; charset=utf-8\r\n");
                assert_contains(head, "\r\nConnection: close\r\n");
                assert_contains(head, cases[i].body);
                if (strstr(cases[i].body, "Version"))
                        assert_contains(head, "\r\nSec-WebSocket-Version: 13\r\n");
                else
                        assert_null(strstr(head, "Sec-WebSocket-Version"));
                assert_true(f.rx_eof);
                /* The handler never started, so it is not told it is gone. */
                assert_string_equal(f.log, "");
                fake_end(&f);
        }
}

static void test_portforward(void **state)
{
        static const char *const headers[] = { STD_HEADERS, "sec-websocket-protocol", "v4.channel.k8s.io", NULL };
        _cleanup_free_ char *head = NULL, *query = strdup("port=80&port=8080,443");
        struct bytes b = {};
        struct fake f;

        fake_init(&f, STREAM_PORTFORWARD, "");
        /* The URL's ports win over the CRI request's. */
        f.s->req->ports = calloc(1, sizeof(unsigned));
        f.s->req->ports[0] = 22;
        f.s->req->n_ports = 1;
        assert_int_equal(fake_accept(&f, "GET", query, headers, NULL, 0), 0);
        head = http_answer(&f);
        assert_contains(head, "\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n");
        assert_int_equal(f.s->proto, SPROTO_PORTFORWARD);
        for (uint32_t i = 0; i < 6; i++) {
                struct stream_chan *ch = stream_chan_by_id(f.s, i);

                assert_non_null(ch);
                assert_int_equal(ch->type, i % 2 ? SCH_PF_ERROR : SCH_PF_DATA);
                assert_int_equal(ch->port, ((unsigned[]) { 80, 8080, 443 })[i / 2]);
                assert_true(ch->ws_port_sent);
        }
        assert_null(stream_chan_by_id(f.s, 6));
        /* Each channel's port, little-endian, before anything else. */
        expect_frame(&f, OP_BIN, "\0\x50\0", 3);
        expect_frame(&f, OP_BIN, "\1\x50\0", 3);
        expect_frame(&f, OP_BIN, "\2\x90\x1f", 3);
        expect_frame(&f, OP_BIN, "\3\x90\x1f", 3);
        expect_frame(&f, OP_BIN, "\4\xbb\1", 3);
        expect_frame(&f, OP_BIN, "\5\xbb\1", 3);
        assert_string_equal(f.log, "start;");
        /* Data channels only. */
        msg_add(&b, 2, "GET /");
        msg_add(&b, 3, "x");
        msg_add(&b, 6, "x");
        client_send(&f, &b);
        assert_string_equal(f.log, "start;2:GET /;");
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 2), "200", 3), 0);
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 5), "refused", 7), 0);
        expect_frame(&f, OP_BIN, "\2" "200", 4);
        expect_frame(&f, OP_BIN, "\5refused", 8);
        /* A reset channel takes nothing more. */
        f.s->t->reset_chan(f.s, stream_chan_by_id(f.s, 0));
        msg_add(&b, 0, "x");
        client_send(&f, &b);
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 0), "x", 1), -EPIPE);
        assert_string_equal(f.log, "start;2:GET /;");
        f.s->t->finish(f.s);
        expect_close(&f, 1000);
        fake_end(&f);
}

static void test_portforward_request_ports(void **state)
{
        static const char *const headers[] = { STD_HEADERS, NULL };
        _cleanup_free_ char *head = NULL;
        struct fake f;

        fake_init(&f, STREAM_PORTFORWARD, "");
        f.s->req->ports = calloc(1, sizeof(unsigned));
        f.s->req->ports[0] = 22;
        f.s->req->n_ports = 1;
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        head = http_answer(&f);
        assert_contains(head, "HTTP/1.1 101 ");
        expect_frame(&f, OP_BIN, "\0\x16\0", 3);
        expect_frame(&f, OP_BIN, "\1\x16\0", 3);
        assert_null(stream_chan_by_id(f.s, 2));
        fake_end(&f);
}

static void test_base64_framing(void **state)
{
        static const char *const headers[] = { STD_HEADERS, "sec-websocket-protocol", "v4.base64.channel.k8s.io",
                                               NULL };
        _cleanup_free_ char *head = NULL;
        struct bytes b = {};
        struct fake f;

        fake_init(&f, STREAM_EXEC, "io");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        head = http_answer(&f);
        assert_contains(head, "\r\nSec-WebSocket-Protocol: v4.base64.channel.k8s.io\r\n");
        assert_int_equal(f.s->proto, SPROTO_V4);
        expect_frame(&f, OP_TEXT, "1", 1);
        frame_add(&b, true, OP_TEXT, "0aGk=", 5, true);
        frame_add(&b, true, OP_TEXT, "0aG", 3, true);     /* bad base64: dropped */
        frame_add(&b, true, OP_TEXT, "0", 1, true);       /* empty */
        frame_add(&b, true, OP_BIN, "0b3V0", 5, true); /* binary is read the same */
        frame_add(&b, true, OP_TEXT, "1b3V0", 5, true);   /* stdout: not the client's */
        client_send(&f, &b);
        assert_string_equal(f.log, "start;0:hi;0:out;");
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 1), "out", 3), 0);
        assert_int_equal(f.s->t->send(f.s, stream_chan_by_id(f.s, 3), "\xff\0", 2), 0);
        expect_frame(&f, OP_TEXT, "1b3V0", 5);
        expect_frame(&f, OP_TEXT, "3/wA=", 5);
        fake_end(&f);
}

static void test_client_close(void **state)
{
        static const char *const headers[] = { STD_HEADERS, NULL };
        struct bytes b = {};
        struct fake f;

        fake_init(&f, STREAM_EXEC, "io");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        free(http_answer(&f));
        expect_frame(&f, OP_BIN, "\1", 1);
        /* Data and the close in one read: the data is served, the close answered. */
        msg_add(&b, 0, "x");
        frame_add(&b, true, OP_CLOSE, "\x03\xe9" "bye", 5, true);
        msg_add(&b, 0, "after");
        client_send(&f, &b);
        /* wslay answers with the client's code and reason. */
        expect_frame(&f, OP_CLOSE, "\x03\xe9" "bye", 5);
        pump(&f);
        assert_true(f.rx_eof);
        assert_string_equal(f.log, "start;0:x;gone;");
        fake_end(&f);
}

static void test_finish_in_callback(void **state)
{
        static const char *const headers[] = { STD_HEADERS, NULL };
        struct bytes b = {};
        struct fake f;

        fake_init(&f, STREAM_EXEC, "io");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        free(http_answer(&f));
        expect_frame(&f, OP_BIN, "\1", 1);
        /* The handler finishes inside data(): what follows in the same read is not served. */
        f.finish_on_data = true;
        msg_add(&b, 0, "one");
        msg_add(&b, 0, "two");
        client_send(&f, &b);
        expect_close(&f, 1000);
        assert_string_equal(f.log, "start;0:one;gone;");
        fake_end(&f);

        /* Finished inside start(): the input that came with the request is not served. */
        fake_init(&f, STREAM_EXEC, "io");
        f.finish_on_start = true;
        msg_add(&b, 0, "one");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, b.p, b.len), 0);
        bytes_free(&b);
        free(http_answer(&f));
        expect_frame(&f, OP_BIN, "\1", 1);
        expect_frame(&f, OP_BIN, "\3failed", 7);
        expect_close(&f, 1000);
        assert_string_equal(f.log, "start;gone;");
        fake_end(&f);
}

static void test_too_big(void **state)
{
        static const char *const headers[] = { STD_HEADERS, NULL };
        struct bytes b = {};
        struct fake f;
        uint8_t *big = calloc(1, WS_MSG_MAX + 1);

        assert_non_null(big);
        fake_init(&f, STREAM_EXEC, "io");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        free(http_answer(&f));
        expect_frame(&f, OP_BIN, "\1", 1);
        /* WS_MSG_MAX is served... */
        frame_add(&b, true, OP_BIN, big, WS_MSG_MAX, true);
        client_send(&f, &b);
        assert_string_equal(f.log, "start;0:;"); /* channel 0, then NULs */
        assert_int_equal(f.gone, 0);
        /* ... one byte more is refused from its header on. */
        frame_add(&b, true, OP_BIN, big, WS_MSG_MAX + 1, true);
        client_write(&f, b.p, 64);
        bytes_free(&b);
        free(big);
        expect_close(&f, 1009);
        fake_end(&f);
}

static void test_protocol_error(void **state)
{
        static const char *const headers[] = { STD_HEADERS, NULL };
        struct bytes b = {};
        struct fake f;

        fake_init(&f, STREAM_EXEC, "io");
        assert_int_equal(fake_accept(&f, "GET", NULL, headers, NULL, 0), 0);
        free(http_answer(&f));
        expect_frame(&f, OP_BIN, "\1", 1);
        /* A client's frame must be masked. */
        frame_add(&b, true, OP_BIN, "\0x", 2, false);
        client_send(&f, &b);
        expect_close(&f, 1002);
        assert_string_equal(f.log, "start;gone;");
        fake_end(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accept_key),
                cmocka_unit_test(test_key_valid),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_has_token),
                cmocka_unit_test(test_choose_proto),
                cmocka_unit_test(test_ports),
                cmocka_unit_test(test_exec_v5),
                cmocka_unit_test(test_exec_tty_v4),
                cmocka_unit_test(test_exec_no_output),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_portforward),
                cmocka_unit_test(test_portforward_request_ports),
                cmocka_unit_test(test_base64_framing),
                cmocka_unit_test(test_client_close),
                cmocka_unit_test(test_finish_in_callback),
                cmocka_unit_test(test_too_big),
                cmocka_unit_test(test_protocol_error),
        };

        /* A client that went away must not kill the test (pxcrid ignores SIGPIPE too). */
        signal(SIGPIPE, SIG_IGN);
        return unit_run(tests);
}
