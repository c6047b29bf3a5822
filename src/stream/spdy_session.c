/* The SPDY/3.1 transport, as client-go's remotecommand and portforward
 * clients speak it (through moby/spdystream): the client opens one stream
 * per channel with a streamType header (and port + requestID for port
 * forwarding); we answer each with a SYN_REPLY at once, since the client
 * waits for it.  No flow control: spdystream does none, and the session's
 * own queue accounting (session.c) bounds what a slow client can cost. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/session.h"
#include "stream/spdy.h"
#include "util/log.h"

#define STREAMS_DEADLINE_MS 30000
#define DATA_CHUNK (32u << 10)
#define INPUT_MAX (SPDY_FRAME_MAX + 64)

struct spdy_state {
        struct spdy_codec *codec;
        uint8_t *in;
        size_t in_len, in_cap;
        uint32_t last_id;
        unsigned n_chans;
        bool started;
};

static int flush_out(struct stream_sess *s, struct spdy_out *o)
{
        int r = o->len ? stream_sess_write(s, o->data, o->len) : 0;

        spdy_out_free(o);
        return r;
}

static void protocol_error(struct stream_sess *s, const char *why)
{
        struct spdy_state *st = s->tstate;
        struct spdy_out o = { 0 };

        log_debug("SPDY session for %s: %s", s->req->target, why);
        if (spdy_write_goaway(&o, st->last_id, 1) == 0)
                flush_out(s, &o);
        else
                spdy_out_free(&o);
        stream_sess_close(s);
}

static void rst(struct stream_sess *s, uint32_t id, uint32_t status)
{
        struct spdy_out o = { 0 };

        if (spdy_write_rst_stream(&o, id, status) == 0)
                flush_out(s, &o);
        else
                spdy_out_free(&o);
}

static int reply(struct stream_sess *s, uint32_t id)
{
        struct spdy_state *st = s->tstate;
        struct spdy_out o = { 0 };
        int r = spdy_write_syn_reply(st->codec, &o, id, 0, NULL, 0);

        if (r < 0) {
                spdy_out_free(&o);
                return r;
        }
        return flush_out(s, &o);
}

static int remotecommand_type(const char *t, enum stream_ch *ret)
{
        static const struct {
                const char *name;
                enum stream_ch type;
        } types[] = {
                { "error", SCH_ERROR }, { "stdin", SCH_STDIN },   { "stdout", SCH_STDOUT },
                { "stderr", SCH_STDERR }, { "resize", SCH_RESIZE },
        };

        for (size_t i = 0; t && i < sizeof(types) / sizeof(types[0]); i++)
                if (strcmp(t, types[i].name) == 0) {
                        *ret = types[i].type;
                        return 0;
                }
        return -EINVAL;
}

static int parse_port(const char *v, unsigned *ret)
{
        char *end = NULL;
        unsigned long p;

        if (!v || !*v || *v < '0' || *v > '9')
                return -EINVAL;
        errno = 0;
        p = strtoul(v, &end, 10);
        if (errno || *end || p == 0 || p > 65535)
                return -EINVAL;
        *ret = (unsigned) p;
        return 0;
}

static void syn_remotecommand(struct stream_sess *s, const struct spdy_frame *f)
{
        struct spdy_state *st = s->tstate;
        struct stream_chan *ch;
        enum stream_ch type;

        if (remotecommand_type(spdy_header_get(f, "streamtype"), &type) < 0 || stream_chan_find(s, type)) {
                rst(s, f->stream_id, SPDY_RST_REFUSED_STREAM);
                return;
        }
        if (!(ch = stream_chan_new(s, type, f->stream_id))) {
                stream_sess_close(s);
                return;
        }
        if (f->flags & SPDY_FLAG_FIN)
                ch->in_closed = true;
        if (reply(s, f->stream_id) < 0)
                return;
        if (type != SCH_RESIZE)
                st->n_chans++;
        if (!st->started && st->n_chans >= stream_expected_chans(s->req)) {
                st->started = true;
                stream_sess_deadline(s, 0);
                s->h->start(s);
        }
}

static void syn_portforward(struct stream_sess *s, const struct spdy_frame *f)
{
        const char *type = spdy_header_get(f, "streamtype"), *rid = spdy_header_get(f, "requestid");
        struct stream_chan *ch, *other = NULL;
        enum stream_ch t;
        unsigned port;

        if (!type || (strcmp(type, "data") && strcmp(type, "error")) ||
            parse_port(spdy_header_get(f, "port"), &port) < 0 || (rid && strlen(rid) >= sizeof(ch->request_id))) {
                rst(s, f->stream_id, SPDY_RST_REFUSED_STREAM);
                return;
        }
        t = strcmp(type, "data") == 0 ? SCH_PF_DATA : SCH_PF_ERROR;
        for (struct stream_chan *c = s->chans; c; c = c->next)
                if (strcmp(c->request_id, rid ? rid : "") == 0 && c->port == port && !c->user) {
                        if (c->type == t) {
                                rst(s, f->stream_id, SPDY_RST_STREAM_IN_USE);
                                return;
                        }
                        other = c;
                }
        if (!(ch = stream_chan_new(s, t, f->stream_id))) {
                stream_sess_close(s);
                return;
        }
        ch->port = port;
        snprintf(ch->request_id, sizeof(ch->request_id), "%s", rid ? rid : "");
        if (f->flags & SPDY_FLAG_FIN)
                ch->in_closed = true;
        if (reply(s, f->stream_id) < 0)
                return;
        if (other)
                s->h->pair(s, t == SCH_PF_DATA ? ch : other, t == SCH_PF_DATA ? other : ch);
}

static void on_frame(struct stream_sess *s, const struct spdy_frame *f)
{
        struct spdy_state *st = s->tstate;
        struct stream_chan *ch;
        struct spdy_out o = { 0 };

        switch (f->type) {
        case SPDY_SYN_STREAM:
                if (f->stream_id % 2 == 0 || f->stream_id <= st->last_id) {
                        protocol_error(s, "bad stream id");
                        return;
                }
                st->last_id = f->stream_id;
                if (s->req->kind == STREAM_PORTFORWARD)
                        syn_portforward(s, f);
                else
                        syn_remotecommand(s, f);
                return;
        case SPDY_DATA:
                ch = stream_chan_by_id(s, f->stream_id);
                if (!ch || ch->in_closed) {
                        rst(s, f->stream_id, ch ? SPDY_RST_STREAM_ALREADY_CLOSED : SPDY_RST_INVALID_STREAM);
                        return;
                }
                if (f->len)
                        s->h->data(s, ch, f->data, f->len);
                if ((f->flags & SPDY_FLAG_FIN) && !s->closing && !ch->in_closed) {
                        ch->in_closed = true;
                        s->h->eof(s, ch);
                }
                return;
        case SPDY_RST_STREAM:
                ch = stream_chan_by_id(s, f->stream_id);
                if (ch && !ch->in_closed) {
                        ch->in_closed = ch->out_closed = true;
                        s->h->eof(s, ch);
                }
                return;
        case SPDY_PING:
                if (f->ping_id % 2 == 1 && spdy_write_ping(&o, f->ping_id) == 0)
                        flush_out(s, &o);
                spdy_out_free(&o);
                return;
        default: /* SETTINGS, WINDOW_UPDATE, HEADERS, GOAWAY (the TCP close follows) */
                return;
        }
}

static void spdy_input(struct stream_sess *s, const uint8_t *buf, size_t n)
{
        struct spdy_state *st = s->tstate;
        size_t off = 0;

        if (st->in_len + n > st->in_cap) {
                size_t cap = st->in_cap ? st->in_cap : 16384;
                uint8_t *p;

                while (cap < st->in_len + n)
                        cap *= 2;
                if (cap > INPUT_MAX)
                        cap = INPUT_MAX;
                if (st->in_len + n > cap || !(p = realloc(st->in, cap))) {
                        protocol_error(s, "frame too large");
                        return;
                }
                st->in = p;
                st->in_cap = cap;
        }
        memcpy(st->in + st->in_len, buf, n);
        st->in_len += n;
        while (!s->closing && off < st->in_len) {
                struct spdy_frame f;
                struct pxe *err = NULL;
                ssize_t used = spdy_parse(st->codec, st->in + off, st->in_len - off, &f, &err);

                if (used < 0) {
                        protocol_error(s, err ? err->msg : "bad frame");
                        pxe_free(err);
                        return;
                }
                if (used == 0)
                        break;
                on_frame(s, &f);
                spdy_frame_clear(&f);
                off += (size_t) used;
        }
        if (s->closing)
                return;
        memmove(st->in, st->in + off, st->in_len - off);
        st->in_len -= off;
}

static int spdy_send(struct stream_sess *s, struct stream_chan *ch, const void *buf, size_t len)
{
        const uint8_t *p = buf;
        struct spdy_out o = { 0 };
        int r = 0;

        if (ch->out_closed)
                return -EPIPE;
        while (len && r == 0) {
                size_t n = len < DATA_CHUNK ? len : DATA_CHUNK;

                r = spdy_write_data(&o, ch->id, 0, p, n);
                p += n;
                len -= n;
        }
        if (r < 0) {
                spdy_out_free(&o);
                return r;
        }
        return flush_out(s, &o);
}

static void spdy_close_chan(struct stream_sess *s, struct stream_chan *ch)
{
        struct spdy_out o = { 0 };

        if (ch->out_closed)
                return;
        ch->out_closed = true;
        if (spdy_write_data(&o, ch->id, SPDY_FLAG_FIN, NULL, 0) == 0)
                flush_out(s, &o);
        spdy_out_free(&o);
}

static void spdy_reset_chan(struct stream_sess *s, struct stream_chan *ch)
{
        if (ch->out_closed && ch->in_closed)
                return;
        ch->out_closed = ch->in_closed = true;
        rst(s, ch->id, SPDY_RST_CANCEL);
}

static void spdy_finish(struct stream_sess *s)
{
        struct spdy_state *st = s->tstate;
        struct spdy_out o = { 0 };

        if (!s->closing && spdy_write_goaway(&o, st->last_id, 0) == 0)
                flush_out(s, &o);
        spdy_out_free(&o);
        stream_sess_close(s);
}

static void spdy_free(struct stream_sess *s)
{
        struct spdy_state *st = s->tstate;

        if (!st)
                return;
        spdy_codec_free(st->codec);
        free(st->in);
        free(st);
        s->tstate = NULL;
}

static const struct stream_transport_ops spdy_ops = {
        .input = spdy_input,
        .send = spdy_send,
        .close_chan = spdy_close_chan,
        .reset_chan = spdy_reset_chan,
        .finish = spdy_finish,
        .free = spdy_free,
};

static const struct {
        const char *name;
        enum stream_proto proto;
} remotecommand_protocols[] = {
        { "v4.channel.k8s.io", SPROTO_V4 },
        { "v3.channel.k8s.io", SPROTO_V3 },
        { "v2.channel.k8s.io", SPROTO_V2 },
        { "channel.k8s.io", SPROTO_V1 },
};

/* The first protocol of the client's list that we speak (kubelet's rule);
 * no header at all means the original protocol. */
static const char *negotiate(struct stream_sess *s, const struct stream_http *h)
{
        char **offered = stream_http_header_list(h, "x-stream-protocol-version");
        const char *chosen = NULL;

        if (!offered || !offered[0]) {
                s->proto = s->req->kind == STREAM_PORTFORWARD ? SPROTO_PORTFORWARD : SPROTO_V1;
                chosen = "";
        }
        for (size_t i = 0; !chosen && offered && offered[i]; i++) {
                if (s->req->kind == STREAM_PORTFORWARD) {
                        if (strcmp(offered[i], "portforward.k8s.io") == 0) {
                                s->proto = SPROTO_PORTFORWARD;
                                chosen = "portforward.k8s.io";
                        }
                        continue;
                }
                for (size_t j = 0; j < sizeof(remotecommand_protocols) / sizeof(remotecommand_protocols[0]); j++)
                        if (strcmp(offered[i], remotecommand_protocols[j].name) == 0) {
                                s->proto = remotecommand_protocols[j].proto;
                                chosen = remotecommand_protocols[j].name;
                                break;
                        }
        }
        for (size_t i = 0; offered && offered[i]; i++)
                free(offered[i]);
        free(offered);
        return chosen;
}

int spdy_session_accept(struct stream_sess *s, const struct stream_http *h, const uint8_t *rest, size_t n)
{
        struct spdy_state *st;
        const char *proto = negotiate(s, h);
        char head[256];
        struct pxe *err = NULL;
        int len;

        if (!proto) {
                static const char forbidden[] = "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                                                "Connection: close\r\n\r\nunable to upgrade: no common "
                                                "X-Stream-Protocol-Version (server: v4.channel.k8s.io, "
                                                "v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io; "
                                                "portforward.k8s.io)\n";

                s->h = NULL;
                stream_sess_write(s, forbidden, sizeof(forbidden) - 1);
                stream_sess_close(s);
                return -EPROTO;
        }
        st = calloc(1, sizeof(*st));
        if (!st || spdy_codec_new(&st->codec, &err) < 0) {
                pxe_free(err);
                free(st);
                s->h = NULL;
                stream_sess_close(s);
                return -ENOMEM;
        }
        s->t = &spdy_ops;
        s->tstate = st;
        len = snprintf(head, sizeof(head),
                       "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n%s%s%s\r\n",
                       *proto ? "X-Stream-Protocol-Version: " : "", proto, *proto ? "\r\n" : "");
        stream_sess_write(s, head, (size_t) len);
        if (s->req->kind != STREAM_PORTFORWARD)
                stream_sess_deadline(s, STREAMS_DEADLINE_MS);
        if (n)
                spdy_input(s, rest, n);
        return 0;
}
