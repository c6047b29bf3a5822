/* libFuzzer target: SPDY/3.1 frames (src/stream/spdy.c) as a client sends
 * them, parsed one after another with one codec (one zlib stream across the
 * input) until a frame is refused or incomplete.  Invariants: no crash or
 * leak; a refusal is EPROTO (or ENOMEM) with a message; "incomplete" sets
 * no error; a frame never takes more than it was given; header names are
 * valid and values NUL-terminated; a header frame written again by a second
 * codec parses back, through a third, to the same headers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stream/spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_headers(const struct spdy_frame *f)
{
        for (size_t i = 0; i < f->n_headers; i++) {
                const struct spdy_header *h = &f->headers[i];

                if (!h->name || !h->name[0] || !h->value || h->value[h->value_len] != '\0')
                        abort();
                for (const char *p = h->name; *p; p++)
                        if (*p <= ' ' || *p >= 0x7f || (*p >= 'A' && *p <= 'Z'))
                                abort();
                if (spdy_header_get(f, h->name) != h->value)
                        abort();
        }
}

static void same_headers(const struct spdy_frame *a, const struct spdy_frame *b)
{
        if (a->n_headers != b->n_headers)
                abort();
        for (size_t i = 0; i < a->n_headers; i++)
                if (strcmp(a->headers[i].name, b->headers[i].name) != 0 ||
                    a->headers[i].value_len != b->headers[i].value_len ||
                    memcmp(a->headers[i].value, b->headers[i].value, a->headers[i].value_len) != 0)
                        abort();
}

static int write_again(struct spdy_codec *w, struct spdy_out *out, const struct spdy_frame *f)
{
        switch (f->type) {
        case SPDY_SYN_STREAM:
                return spdy_write_syn_stream(w, out, f->stream_id, f->assoc_id, f->priority, f->flags, f->headers,
                                             f->n_headers);
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                return spdy_write_syn_reply(w, out, f->stream_id, f->flags, f->headers, f->n_headers);
        case SPDY_DATA:
                return spdy_write_data(out, f->stream_id, f->flags, f->data, f->len);
        case SPDY_RST_STREAM:
                return spdy_write_rst_stream(out, f->stream_id, f->status);
        case SPDY_PING:
                return spdy_write_ping(out, f->ping_id);
        case SPDY_GOAWAY:
                return spdy_write_goaway(out, f->last_good_id, f->status);
        case SPDY_WINDOW_UPDATE:
                return spdy_write_window_update(out, f->stream_id, f->delta);
        default:
                return 1;
        }
}

/* Write f again with w and read it back with r: both stay in step with
 * each other across the input, as the two ends of a connection. */
static void round_trip(struct spdy_codec *w, struct spdy_codec *r, const struct spdy_frame *f)
{
        struct spdy_out out = {};
        struct spdy_frame g = {};
        int k = write_again(w, &out, f);

        if (k == 1 || k == -ENOMEM)
                goto out;
        if (k < 0 || spdy_parse(r, out.data, out.len, &g, NULL) != (ssize_t) out.len)
                abort();
        if (g.stream_id != f->stream_id || g.assoc_id != f->assoc_id || g.priority != f->priority ||
            g.status != f->status || g.ping_id != f->ping_id || g.last_good_id != f->last_good_id ||
            g.delta != f->delta || g.len != f->len || (f->len && memcmp(g.data, f->data, f->len) != 0))
                abort();
        /* Control frames other than the header ones are written with no flags. */
        if ((f->type <= SPDY_SYN_REPLY || f->type == SPDY_HEADERS) ? g.flags != f->flags : g.flags != 0)
                abort();
        same_headers(f, &g);
        spdy_frame_clear(&g);
out:
        spdy_out_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct spdy_codec *c = NULL, *w = NULL, *r = NULL;
        size_t off = 0;

        if (spdy_codec_new(&c, NULL) < 0 || spdy_codec_new(&w, NULL) < 0 || spdy_codec_new(&r, NULL) < 0)
                goto out;
        while (off < size) {
                struct spdy_frame f = {};
                struct pxe *e = NULL;
                ssize_t n = spdy_parse(c, data + off, size - off, &f, &e);

                if (n < 0) {
                        if (!e || !e->msg || (e->code != EPROTO && e->code != ENOMEM) || n != -e->code)
                                abort();
                        pxe_free(e);
                        break;
                }
                if (e || f.n_headers > SPDY_HEADERS_COUNT)
                        abort();
                if (n == 0)
                        break;
                if ((size_t) n > size - off || (size_t) n < 8)
                        abort();
                if (f.type == SPDY_DATA && (f.data != data + off + 8 || f.len != (size_t) n - 8))
                        abort();
                check_headers(&f);
                round_trip(w, r, &f);
                spdy_frame_clear(&f);
                off += (size_t) n;
        }
out:
        spdy_codec_free(c);
        spdy_codec_free(w);
        spdy_codec_free(r);
        return 0;
}
