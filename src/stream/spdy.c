/* SPDY/3.1 frames to and from byte buffers (spdy.h).  Layouts from the SPDY
 * Protocol Draft 3 (section 2.2 frames, 2.6 control frames) with the 3.1
 * GOAWAY and WINDOW_UPDATE.  Every length is checked against the bytes that
 * hold it before it is used; nothing is allocated by a size the peer chose
 * beyond SPDY_HEADERS_MAX. */
#define ZLIB_CONST
#include "stream/spdy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/cleanup.h"

#define SPDY_CONTROL_BIT 0x80000000u
#define SPDY_ID_MASK 0x7fffffffu
#define SPDY_LEN_MASK 0x00ffffffu
#define SPDY_HEAD 8                /* the common frame header */
#define SPDY_SYN_STREAM_HEAD 10    /* stream-id, assoc-id, priority, slot */

/* Our compressor: level 9 with a 2 KiB window and the least memory, as
 * Chromium's SPDY did.  Header blocks are small; the window still holds the
 * whole dictionary, and a peer inflating with any window of 2 KiB or more
 * reads it.  Our inflater takes any window (15 bits): the peer chooses. */
#define SPDY_DEFLATE_LEVEL 9
#define SPDY_DEFLATE_WBITS 11
#define SPDY_DEFLATE_MEMLEVEL 1
#define SPDY_SCRATCH_MIN 1024

/* The dictionary both zlib streams are primed with (SPDY Protocol Draft 3,
 * section 2.6.10.1): 65 length-prefixed names and values, then common value
 * text.  1423 bytes; its Adler-32 (the dictionary id in each stream's zlib
 * header) is 0xe3c6a7c2.  Every length prefix is a literal of its own so a
 * hex escape cannot swallow the letters after it. */
static const char spdy_dict[] =
        "\0\0\0\x07" "options"
        "\0\0\0\x04" "head"
        "\0\0\0\x04" "post"
        "\0\0\0\x03" "put"
        "\0\0\0\x06" "delete"
        "\0\0\0\x05" "trace"
        "\0\0\0\x06" "accept"
        "\0\0\0\x0e" "accept-charset"
        "\0\0\0\x0f" "accept-encoding"
        "\0\0\0\x0f" "accept-language"
        "\0\0\0\x0d" "accept-ranges"
        "\0\0\0\x03" "age"
        "\0\0\0\x05" "allow"
        "\0\0\0\x0d" "authorization"
        "\0\0\0\x0d" "cache-control"
        "\0\0\0\x0a" "connection"
        "\0\0\0\x0c" "content-base"
        "\0\0\0\x10" "content-encoding"
        "\0\0\0\x10" "content-language"
        "\0\0\0\x0e" "content-length"
        "\0\0\0\x10" "content-location"
        "\0\0\0\x0b" "content-md5"
        "\0\0\0\x0d" "content-range"
        "\0\0\0\x0c" "content-type"
        "\0\0\0\x04" "date"
        "\0\0\0\x04" "etag"
        "\0\0\0\x06" "expect"
        "\0\0\0\x07" "expires"
        "\0\0\0\x04" "from"
        "\0\0\0\x04" "host"
        "\0\0\0\x08" "if-match"
        "\0\0\0\x11" "if-modified-since"
        "\0\0\0\x0d" "if-none-match"
        "\0\0\0\x08" "if-range"
        "\0\0\0\x13" "if-unmodified-since"
        "\0\0\0\x0d" "last-modified"
        "\0\0\0\x08" "location"
        "\0\0\0\x0c" "max-forwards"
        "\0\0\0\x06" "pragma"
        "\0\0\0\x12" "proxy-authenticate"
        "\0\0\0\x13" "proxy-authorization"
        "\0\0\0\x05" "range"
        "\0\0\0\x07" "referer"
        "\0\0\0\x0b" "retry-after"
        "\0\0\0\x06" "server"
        "\0\0\0\x02" "te"
        "\0\0\0\x07" "trailer"
        "\0\0\0\x11" "transfer-encoding"
        "\0\0\0\x07" "upgrade"
        "\0\0\0\x0a" "user-agent"
        "\0\0\0\x04" "vary"
        "\0\0\0\x03" "via"
        "\0\0\0\x07" "warning"
        "\0\0\0\x10" "www-authenticate"
        "\0\0\0\x06" "method"
        "\0\0\0\x03" "get"
        "\0\0\0\x06" "status"
        "\0\0\0\x06" "200 OK"
        "\0\0\0\x07" "version"
        "\0\0\0\x08" "HTTP/1.1"
        "\0\0\0\x03" "url"
        "\0\0\0\x06" "public"
        "\0\0\0\x0a" "set-cookie"
        "\0\0\0\x0a" "keep-alive"
        "\0\0\0\x06" "origin"
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information"
        "204 No Content"
        "301 Moved Permanently"
        "400 Bad Request"
        "401 Unauthorized"
        "403 Forbidden"
        "404 Not Found"
        "500 Internal Server Error"
        "501 Not Implemented"
        "503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,"
        "text/plain,text/javascript,public"
        "private"
        "max-age="
        "gzip,deflate,sdch"
        "charset=utf-8"
        "charset=iso-8859-1,utf-,*,enq=0.";

#define SPDY_DICT_LEN (sizeof(spdy_dict) - 1) /* without the literal's NUL */

struct spdy_codec {
        z_stream tx, rx;
        bool tx_ready, rx_ready;
        bool tx_broken;   /* a header block went half into the compressor */
        uint8_t *scratch; /* the last inflated header block */
        size_t scratch_cap;
};

const uint8_t *spdy_dictionary(size_t *ret_len)
{
        if (ret_len)
                *ret_len = SPDY_DICT_LEN;
        return (const uint8_t *) spdy_dict;
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
        p[0] = v >> 24;
        p[1] = v >> 16;
        p[2] = v >> 8;
        p[3] = v;
}

void spdy_codec_free(struct spdy_codec *c)
{
        if (!c)
                return;
        if (c->tx_ready)
                deflateEnd(&c->tx);
        if (c->rx_ready)
                inflateEnd(&c->rx);
        free(c->scratch);
        free(c);
}

int spdy_codec_new(struct spdy_codec **ret, struct pxe **err)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *c = calloc(1, sizeof(*c));

        if (!c)
                return pxe_set(err, ENOMEM, "Allocating a SPDY codec");
        if (deflateInit2(&c->tx, SPDY_DEFLATE_LEVEL, Z_DEFLATED, SPDY_DEFLATE_WBITS, SPDY_DEFLATE_MEMLEVEL,
                         Z_DEFAULT_STRATEGY) != Z_OK)
                return pxe_set(err, ENOMEM, "Setting up the SPDY header compressor");
        c->tx_ready = true;
        if (deflateSetDictionary(&c->tx, (const Bytef *) spdy_dict, SPDY_DICT_LEN) != Z_OK)
                return pxe_set(err, ENOMEM, "Priming the SPDY header compressor");
        if (inflateInit(&c->rx) != Z_OK)
                return pxe_set(err, ENOMEM, "Setting up the SPDY header decompressor");
        c->rx_ready = true;
        *ret = TAKE_PTR(c);
        return 0;
}

/* Header names: non-empty, printable US-ASCII, no upper case (draft 3,
 * 2.6.10: "must be all lower case"; client-go and kubelet send lower case).
 * The offset of the first byte that may not be in a name, or n. */
static size_t name_bad_at(const uint8_t *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] >= 0x7f || (s[i] >= 'A' && s[i] <= 'Z'))
                        return i;
        return n;
}

static bool name_valid(const uint8_t *s, size_t n)
{
        return n > 0 && name_bad_at(s, n) == n;
}

void spdy_frame_clear(struct spdy_frame *f)
{
        if (!f)
                return;
        for (size_t i = 0; i < f->n_headers; i++) {
                free(f->headers[i].name);
                free(f->headers[i].value);
        }
        free(f->headers);
        memset(f, 0, sizeof(*f));
}

const char *spdy_header_get(const struct spdy_frame *f, const char *name)
{
        if (!f || !name)
                return NULL;
        for (size_t i = 0; i < f->n_headers; i++)
                if (streq(f->headers[i].name, name))
                        return f->headers[i].value;
        return NULL;
}

/* Inflate one whole header block into c->scratch, at most SPDY_HEADERS_MAX
 * bytes of it. */
static int inflate_block(struct spdy_codec *c, const uint8_t *in, size_t n, size_t *ret_len, struct pxe **err)
{
        z_stream *z = &c->rx;
        size_t used = 0;
        int zr;

        z->next_in = in;
        z->avail_in = (uInt) n; /* n <= SPDY_FRAME_MAX */
        for (;;) {
                if (used == c->scratch_cap) {
                        size_t cap = c->scratch_cap ? c->scratch_cap * 2 : SPDY_SCRATCH_MIN;
                        uint8_t *p;

                        if (used > SPDY_HEADERS_MAX)
                                return pxe_set(err, EPROTO, "SPDY header block inflates past %u bytes",
                                               SPDY_HEADERS_MAX);
                        if (cap > SPDY_HEADERS_MAX + 1)
                                cap = SPDY_HEADERS_MAX + 1; /* one byte over tells a bomb */
                        p = realloc(c->scratch, cap);
                        if (!p)
                                return pxe_set(err, ENOMEM, "Inflating a SPDY header block");
                        c->scratch = p;
                        c->scratch_cap = cap;
                }
                z->next_out = c->scratch + used;
                z->avail_out = (uInt) (c->scratch_cap - used);
                zr = inflate(z, Z_SYNC_FLUSH);
                used = (size_t) (z->next_out - c->scratch);
                if (zr == Z_NEED_DICT) {
                        if (inflateSetDictionary(z, (const Bytef *) spdy_dict, SPDY_DICT_LEN) != Z_OK)
                                return pxe_set(err, EPROTO, "SPDY header block with an unknown dictionary %#lx",
                                               (unsigned long) z->adler);
                        continue;
                }
                if (zr == Z_STREAM_END)
                        return pxe_set(err, EPROTO, "SPDY header compression stream ended");
                if (zr == Z_MEM_ERROR)
                        return pxe_set(err, ENOMEM, "Inflating a SPDY header block");
                if (zr != Z_OK && zr != Z_BUF_ERROR)
                        return pxe_set(err, EPROTO, "Inflating a SPDY header block: %s",
                                       z->msg ? z->msg : "zlib error");
                if (z->avail_in == 0 && z->avail_out > 0)
                        break;
                if (z->avail_out > 0) /* input left, room left, no progress */
                        return pxe_set(err, EPROTO, "Inflating a SPDY header block: stalled");
        }
        *ret_len = used;
        return 0;
}

/* A 32-bit length and the bytes it counts, all inside b[*off..n). */
static int take_string(const uint8_t *b, size_t n, size_t *off, const char *what, const uint8_t **ret,
                       size_t *ret_len, struct pxe **err)
{
        uint32_t l;

        if (n - *off < 4)
                return pxe_set(err, EPROTO, "SPDY header block ends before a %s length", what);
        l = get32(b + *off);
        *off += 4;
        if (l > n - *off)
                return pxe_set(err, EPROTO, "SPDY header %s of %u bytes, %zu left in the block", what, l, n - *off);
        *ret = b + *off;
        *ret_len = l;
        *off += l;
        return 0;
}

static int decode_pair(const uint8_t *b, size_t n, size_t *off, struct spdy_frame *f, struct pxe **err)
{
        struct spdy_header *h = &f->headers[f->n_headers];
        const uint8_t *name, *value;
        size_t nlen, vlen;
        int r;

        r = take_string(b, n, off, "name", &name, &nlen, err);
        if (r < 0)
                return r;
        if (nlen == 0)
                return pxe_set(err, EPROTO, "Empty SPDY header name");
        if (!name_valid(name, nlen)) {
                size_t bad = name_bad_at(name, nlen);

                /* Only the clean part goes into the message. */
                return pxe_set(err, EPROTO, "SPDY header name \"%.*s\" has byte %#04x at %zu: not lower-case ASCII",
                               (int) (bad > 64 ? 64 : bad), (const char *) name, name[bad], bad);
        }
        for (size_t i = 0; i < f->n_headers; i++)
                if (strlen(f->headers[i].name) == nlen && memcmp(f->headers[i].name, name, nlen) == 0)
                        return pxe_set(err, EPROTO, "SPDY header \"%s\" given twice", f->headers[i].name);
        r = take_string(b, n, off, "value", &value, &vlen, err);
        if (r < 0)
                return r;
        h->name = strndup((const char *) name, nlen);
        if (!h->name)
                return pxe_set(err, ENOMEM, "Decoding SPDY headers");
        f->n_headers++; /* from here spdy_frame_clear() frees it */
        h->value = malloc(vlen + 1);
        if (!h->value)
                return pxe_set(err, ENOMEM, "Decoding SPDY headers");
        if (vlen > 0)
                memcpy(h->value, value, vlen);
        h->value[vlen] = '\0';
        h->value_len = vlen;
        return 0;
}

/* count, then count (name, value) pairs, and nothing after them. */
static int decode_block(const uint8_t *b, size_t n, struct spdy_frame *f, struct pxe **err)
{
        size_t off = 4;
        uint32_t count;
        int r;

        if (n < 4)
                return pxe_set(err, EPROTO, "SPDY header block of %zu bytes", n);
        count = get32(b);
        if (count > SPDY_HEADERS_COUNT)
                return pxe_set(err, EPROTO, "SPDY header block of %u pairs (limit %u)", count, SPDY_HEADERS_COUNT);
        if ((size_t) count * 8 > n - off)
                return pxe_set(err, EPROTO, "SPDY header block of %u pairs in %zu bytes", count, n);
        if (count > 0) {
                f->headers = calloc(count, sizeof(*f->headers));
                if (!f->headers)
                        return pxe_set(err, ENOMEM, "Decoding SPDY headers");
        }
        for (uint32_t i = 0; i < count; i++) {
                r = decode_pair(b, n, &off, f, err);
                if (r < 0)
                        return r;
        }
        if (off != n)
                return pxe_set(err, EPROTO, "SPDY header block has %zu bytes after its %u pairs", n - off, count);
        return 0;
}

static int parse_headers(struct spdy_codec *c, const uint8_t *p, size_t n, struct spdy_frame *f, struct pxe **err)
{
        size_t len = 0;
        int r;

        if (n == 0)
                return pxe_set(err, EPROTO, "SPDY frame of type %u without a header block", f->type);
        r = inflate_block(c, p, n, &len, err);
        if (r < 0)
                return r;
        return decode_block(c->scratch, len, f, err);
}

static int bad_len(const struct spdy_frame *f, size_t n, struct pxe **err)
{
        return pxe_set(err, EPROTO, "SPDY control frame of type %u with %zu bytes of payload", f->type, n);
}

/* The payload of a control frame; header blocks are inflated here. */
static int parse_control(struct spdy_codec *c, uint16_t type, const uint8_t *p, size_t n, struct spdy_frame *f,
                         struct pxe **err)
{
        f->type = (enum spdy_type) type;
        switch (type) {
        case SPDY_SYN_STREAM:
                if (n < SPDY_SYN_STREAM_HEAD)
                        return bad_len(f, n, err);
                f->stream_id = get32(p) & SPDY_ID_MASK;
                f->assoc_id = get32(p + 4) & SPDY_ID_MASK;
                f->priority = p[8] >> 5;
                return parse_headers(c, p + SPDY_SYN_STREAM_HEAD, n - SPDY_SYN_STREAM_HEAD, f, err);
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                if (n < 4)
                        return bad_len(f, n, err);
                f->stream_id = get32(p) & SPDY_ID_MASK;
                return parse_headers(c, p + 4, n - 4, f, err);
        case SPDY_RST_STREAM:
                if (n != 8)
                        return bad_len(f, n, err);
                f->stream_id = get32(p) & SPDY_ID_MASK;
                f->status = get32(p + 4);
                return 0;
        case SPDY_PING:
                if (n != 4)
                        return bad_len(f, n, err);
                f->ping_id = get32(p);
                return 0;
        case SPDY_GOAWAY:
                if (n != 8)
                        return bad_len(f, n, err);
                f->last_good_id = get32(p) & SPDY_ID_MASK;
                f->status = get32(p + 4);
                return 0;
        case SPDY_WINDOW_UPDATE:
                if (n != 8)
                        return bad_len(f, n, err);
                f->stream_id = get32(p) & SPDY_ID_MASK;
                f->delta = get32(p + 4) & SPDY_ID_MASK;
                return 0;
        case 0:
                /* Would read as DATA on stream 0. */
                return pxe_set(err, EPROTO, "SPDY control frame of type 0");
        default:
                /* SETTINGS, CREDENTIAL, anything newer: only the type. */
                f->flags = 0;
                return 0;
        }
}

ssize_t spdy_parse(struct spdy_codec *c, const uint8_t *buf, size_t len, struct spdy_frame *f, struct pxe **err)
{
        struct spdy_frame fr = {};
        uint32_t w0, w1, plen;
        int r;

        if (len < SPDY_HEAD)
                return 0;
        w0 = get32(buf);
        w1 = get32(buf + 4);
        plen = w1 & SPDY_LEN_MASK;
        if (w0 & SPDY_CONTROL_BIT) {
                unsigned version = (w0 >> 16) & 0x7fff;

                if (version != SPDY_VERSION)
                        return pxe_set(err, EPROTO, "SPDY control frame of version %u, only %u is spoken", version,
                                       SPDY_VERSION);
        }
        if (plen > SPDY_FRAME_MAX)
                return pxe_set(err, EPROTO, "SPDY frame of %u bytes (limit %u)", plen, SPDY_FRAME_MAX);
        if (len - SPDY_HEAD < plen)
                return 0; /* nothing inflated before the whole frame is here */
        fr.flags = w1 >> 24;
        if (w0 & SPDY_CONTROL_BIT) {
                r = parse_control(c, w0 & 0xffff, buf + SPDY_HEAD, plen, &fr, err);
                if (r < 0) {
                        spdy_frame_clear(&fr);
                        return r;
                }
        } else {
                fr.type = SPDY_DATA;
                fr.stream_id = w0 & SPDY_ID_MASK;
                fr.data = buf + SPDY_HEAD;
                fr.len = plen;
        }
        *f = fr;
        return (ssize_t) (SPDY_HEAD + plen);
}

/* Room for need more bytes after out->len, doubling the capacity. */
static int out_reserve(struct spdy_out *out, size_t need)
{
        size_t cap = out->cap ? out->cap : 256;
        uint8_t *p;

        if (out->cap >= out->len && out->cap - out->len >= need)
                return 0;
        if (need > SIZE_MAX / 4 - out->len)
                return -ENOMEM;
        while (cap < out->len + need)
                cap *= 2;
        p = realloc(out->data, cap);
        if (!p)
                return -ENOMEM;
        out->data = p;
        out->cap = cap;
        return 0;
}

static void put_control_head(uint8_t *p, uint16_t type, uint8_t flags, uint32_t len)
{
        put32(p, SPDY_CONTROL_BIT | (uint32_t) SPDY_VERSION << 16 | type);
        put32(p + 4, (uint32_t) flags << 24 | len);
}

void spdy_out_free(struct spdy_out *out)
{
        if (!out)
                return;
        free(out->data);
        *out = (struct spdy_out) {};
}

int spdy_write_data(struct spdy_out *out, uint32_t stream_id, uint8_t flags, const void *data, size_t len)
{
        uint8_t *p;

        if (stream_id & ~SPDY_ID_MASK || len > SPDY_FRAME_MAX || (len > 0 && !data))
                return -EINVAL;
        if (out_reserve(out, SPDY_HEAD + len) < 0)
                return -ENOMEM;
        p = out->data + out->len;
        put32(p, stream_id);
        put32(p + 4, (uint32_t) flags << 24 | (uint32_t) len);
        if (len > 0)
                memcpy(p + SPDY_HEAD, data, len);
        out->len += SPDY_HEAD + len;
        return 0;
}

/* A control frame of one or two 32-bit words. */
static int write_words(struct spdy_out *out, uint16_t type, uint32_t a, uint32_t b, size_t words)
{
        uint8_t *p;

        if (out_reserve(out, SPDY_HEAD + 4 * words) < 0)
                return -ENOMEM;
        p = out->data + out->len;
        put_control_head(p, type, 0, 4 * words);
        put32(p + SPDY_HEAD, a);
        if (words > 1)
                put32(p + SPDY_HEAD + 4, b);
        out->len += SPDY_HEAD + 4 * words;
        return 0;
}

int spdy_write_rst_stream(struct spdy_out *out, uint32_t stream_id, uint32_t status)
{
        if (stream_id & ~SPDY_ID_MASK)
                return -EINVAL;
        return write_words(out, SPDY_RST_STREAM, stream_id, status, 2);
}

int spdy_write_ping(struct spdy_out *out, uint32_t id)
{
        return write_words(out, SPDY_PING, id, 0, 1);
}

int spdy_write_goaway(struct spdy_out *out, uint32_t last_good_id, uint32_t status)
{
        if (last_good_id & ~SPDY_ID_MASK)
                return -EINVAL;
        return write_words(out, SPDY_GOAWAY, last_good_id, status, 2);
}

int spdy_write_window_update(struct spdy_out *out, uint32_t stream_id, uint32_t delta)
{
        if (stream_id & ~SPDY_ID_MASK || delta & ~SPDY_ID_MASK)
                return -EINVAL;
        return write_words(out, SPDY_WINDOW_UPDATE, stream_id, delta, 2);
}

/* The uncompressed block, checked as the reader checks it: nothing goes
 * into the compressor unless the whole block can. */
static int build_block(const struct spdy_header *h, size_t n, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ uint8_t *b = NULL;
        size_t len = 4, off = 4;

        if (n > SPDY_HEADERS_COUNT || (n > 0 && !h))
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                size_t nlen = h[i].name ? strlen(h[i].name) : 0;

                if (!name_valid((const uint8_t *) h[i].name, nlen) || (h[i].value_len > 0 && !h[i].value))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (streq(h[j].name, h[i].name))
                                return -EINVAL;
                if (nlen > SPDY_HEADERS_MAX || h[i].value_len > SPDY_HEADERS_MAX)
                        return -EINVAL;
                len += 8 + nlen + h[i].value_len;
                if (len > SPDY_HEADERS_MAX)
                        return -EINVAL;
        }
        b = malloc(len);
        if (!b)
                return -ENOMEM;
        put32(b, (uint32_t) n);
        for (size_t i = 0; i < n; i++) {
                size_t nlen = strlen(h[i].name);

                put32(b + off, (uint32_t) nlen);
                memcpy(b + off + 4, h[i].name, nlen);
                off += 4 + nlen;
                put32(b + off, (uint32_t) h[i].value_len);
                if (h[i].value_len > 0)
                        memcpy(b + off + 4, h[i].value, h[i].value_len);
                off += 4 + h[i].value_len;
        }
        *ret = TAKE_PTR(b);
        *ret_len = len;
        return 0;
}

/* Compress block into out after start + head, flushed to a byte boundary;
 * returns the compressed size.  Once deflate() has taken input a failure
 * leaves the peer's inflater behind ours: the codec is marked broken. */
static ssize_t deflate_block(struct spdy_codec *c, struct spdy_out *out, size_t pos, const uint8_t *block,
                             size_t len)
{
        z_stream *z = &c->tx;
        size_t begin = pos;
        int zr;

        /* deflateBound() is for a finished stream; a sync flush adds at most
         * an empty stored block and the bits before it. */
        if (out_reserve(out, pos - out->len + deflateBound(z, len) + 16) < 0)
                return -ENOMEM;
        z->next_in = block;
        z->avail_in = (uInt) len; /* len <= SPDY_HEADERS_MAX */
        for (;;) {
                size_t room = out->cap - pos;

                z->next_out = out->data + pos;
                z->avail_out = room > UINT_MAX ? UINT_MAX : (uInt) room;
                zr = deflate(z, Z_SYNC_FLUSH);
                pos = (size_t) (z->next_out - out->data);
                if (zr != Z_OK && zr != Z_BUF_ERROR)
                        break;
                if (z->avail_out > 0) {
                        if (z->avail_in == 0)
                                return (ssize_t) (pos - begin); /* flushed */
                        break;
                }
                /* Out of room (not expected with the bound above). */
                if (out_reserve(out, pos - out->len + 64) < 0)
                        break;
        }
        c->tx_broken = true;
        return -ENOMEM;
}

static int write_header_frame(struct spdy_codec *c, struct spdy_out *out, uint16_t type, uint8_t flags,
                              const uint8_t *fixed, size_t fixed_len, const struct spdy_header *h, size_t n)
{
        _cleanup_free_ uint8_t *block = NULL;
        size_t len = 0, start = out->len;
        ssize_t z;
        int r;

        if (c->tx_broken)
                return -ENOMEM;
        r = build_block(h, n, &block, &len);
        if (r < 0)
                return r;
        z = deflate_block(c, out, start + SPDY_HEAD + fixed_len, block, len);
        if (z < 0)
                return (int) z;
        put_control_head(out->data + start, type, flags, (uint32_t) (fixed_len + (size_t) z));
        memcpy(out->data + start + SPDY_HEAD, fixed, fixed_len);
        out->len = start + SPDY_HEAD + fixed_len + (size_t) z;
        return 0;
}

int spdy_write_syn_stream(struct spdy_codec *c, struct spdy_out *out, uint32_t stream_id, uint32_t assoc_id,
                          uint8_t priority, uint8_t flags, const struct spdy_header *h, size_t n)
{
        uint8_t fixed[SPDY_SYN_STREAM_HEAD];

        if (stream_id & ~SPDY_ID_MASK || assoc_id & ~SPDY_ID_MASK || priority > 7)
                return -EINVAL;
        put32(fixed, stream_id);
        put32(fixed + 4, assoc_id);
        fixed[8] = priority << 5;
        fixed[9] = 0; /* credential slot: none */
        return write_header_frame(c, out, SPDY_SYN_STREAM, flags, fixed, sizeof(fixed), h, n);
}

int spdy_write_syn_reply(struct spdy_codec *c, struct spdy_out *out, uint32_t stream_id, uint8_t flags,
                         const struct spdy_header *h, size_t n)
{
        uint8_t fixed[4];

        if (stream_id & ~SPDY_ID_MASK)
                return -EINVAL;
        put32(fixed, stream_id);
        return write_header_frame(c, out, SPDY_SYN_REPLY, flags, fixed, sizeof(fixed), h, n);
}
