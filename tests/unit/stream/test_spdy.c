/* stream/spdy: SPDY/3.1 frames through a writer codec and a separate reader
 * codec (the two ends of one connection), a header block compressed by
 * another zlib, partial input, and what a hostile peer can send. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "stream/spdy.h"
#include "util/cleanup.h"

/* Two SYN_STREAM header blocks in sequence from one Python zlib stream:
 *
 *   /usr/bin/python3 (3.11, zlib 1.2.13):
 *   z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=D)
 *   block(pairs) = >I count, then for each pair >I len, name, >I len, value
 *   z.compress(block([(b'streamtype', b'error'), (b'port', b'8080'), (b'requestid', b'0')])) + z.flush(zlib.Z_SYNC_FLUSH)
 *   z.compress(block([(b'streamtype', b'data'), (b'port', b'8080'), (b'requestid', b'0')])) + z.flush(zlib.Z_SYNC_FLUSH)
 *
 * D: the 1423 bytes of headerDictionary in moby/spdystream spdy/dictionary.go
 * (what client-go uses), not spdy.c's table, so a slip in either shows.
 * The names are lower case because that is how client-go's "streamType",
 * "requestID" go on the wire.  The second block is mostly back-references
 * into the first. */
static const uint8_t py_block1[] = {
        0x78, 0xbb, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0x25, 0x3a, 0x70, 0x3a, 0x2b, 0x29, 0x4a, 0x4d, 0xcc, 0x85,
        0x16, 0x25, 0xac, 0xa9, 0xa0, 0x80, 0x86, 0x14, 0xcb, 0x45, 0xe0, 0x1c, 0x60, 0x61, 0x60, 0x61, 0x00,
        0xa4, 0x39, 0x8b, 0x20, 0xd1, 0x98, 0x09, 0x4a, 0xde, 0x8c, 0x06, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
};
static const uint8_t py_block2[] = {
        0xc2, 0xaa, 0x19, 0x54, 0x0e, 0x25, 0x12, 0xd6, 0x0b, 0x00, 0x00, 0x00, 0xff, 0xff,
};

/* A byte buffer for crafting input. */
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
        if (n > 0)
                memcpy(b->p + b->len, data, n);
        b->len += n;
}

static void bytes_u32(struct bytes *b, uint32_t v)
{
        uint8_t p[4] = { v >> 24, v >> 16, v >> 8, v };

        bytes_add(b, p, 4);
}

static void bytes_str(struct bytes *b, const char *s)
{
        bytes_u32(b, (uint32_t) strlen(s));
        bytes_add(b, s, strlen(s));
}

static void bytes_free(struct bytes *b)
{
        free(b->p);
        *b = (struct bytes) {};
}

static void control_head(struct bytes *b, unsigned version, uint16_t type, uint8_t flags, uint32_t len)
{
        bytes_u32(b, 0x80000000u | version << 16 | type);
        bytes_u32(b, (uint32_t) flags << 24 | len);
}

/* A zlib stream primed with the SPDY dictionary, as a peer's compressor. */
static void peer_init(z_stream *z)
{
        size_t n = 0;
        const uint8_t *d = spdy_dictionary(&n);

        memset(z, 0, sizeof(*z));
        assert_int_equal(deflateInit(z, Z_DEFAULT_COMPRESSION), Z_OK);
        assert_int_equal(deflateSetDictionary(z, d, (uInt) n), Z_OK);
}

/* Compress raw (an uncompressed block, well-formed or not) and append it. */
static void peer_block(z_stream *z, struct bytes *out, const uint8_t *raw, size_t n)
{
        uint8_t chunk[4096];

        z->next_in = (Bytef *) raw;
        z->avail_in = (uInt) n;
        do {
                z->next_out = chunk;
                z->avail_out = sizeof(chunk);
                assert_true(deflate(z, Z_SYNC_FLUSH) != Z_STREAM_ERROR);
                bytes_add(out, chunk, sizeof(chunk) - z->avail_out);
        } while (z->avail_out == 0);
}

/* A SYN_STREAM on stream id (priority 1) around a compressed block. */
static void syn_stream_frame(struct bytes *f, uint32_t id, const uint8_t *compressed, size_t n)
{
        control_head(f, 3, SPDY_SYN_STREAM, 0, (uint32_t) (10 + n));
        bytes_u32(f, id);
        bytes_u32(f, 0);
        bytes_add(f, "\x20\x00", 2); /* priority 1, slot 0 */
        bytes_add(f, compressed, n);
}

/* A SYN_STREAM whose block, uncompressed, is raw. */
static void crafted_syn_stream(struct bytes *f, const uint8_t *raw, size_t n)
{
        _cleanup_(bytes_free) struct bytes z = {};
        z_stream peer;

        peer_init(&peer);
        peer_block(&peer, &z, raw, n);
        deflateEnd(&peer);
        syn_stream_frame(f, 1, z.p, z.len);
}

/* The size of the frame at p, from its header. */
static size_t frame_len(const uint8_t *p)
{
        return 8 + ((size_t) p[5] << 16 | (size_t) p[6] << 8 | p[7]);
}

static struct spdy_codec *codec(void)
{
        struct spdy_codec *c = NULL;

        assert_int_equal(spdy_codec_new(&c, NULL), 0);
        assert_non_null(c);
        return c;
}

/* Parse a whole frame at buf; it must take exactly want bytes. */
static void parse_ok(struct spdy_codec *c, const uint8_t *buf, size_t len, size_t want, struct spdy_frame *f)
{
        _cleanup_pxe_ struct pxe *e = NULL;
        ssize_t n = spdy_parse(c, buf, len, f, &e);

        if (n < 0)
                print_error("spdy_parse: %s\n", e ? e->msg : "(no message)");
        assert_int_equal(n, want);
        assert_null(e);
}

/* spdy_parse must refuse buf with -EPROTO and a message containing needle. */
static void parse_eproto(const uint8_t *buf, size_t len, const char *needle)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *c = codec();
        _cleanup_pxe_ struct pxe *e = NULL;
        struct spdy_frame f = {};

        assert_int_equal(spdy_parse(c, buf, len, &f, &e), -EPROTO);
        assert_non_null(e);
        assert_int_equal(e->code, EPROTO);
        assert_contains(e->msg, needle);
        assert_null(f.headers); /* untouched */
        assert_int_equal(f.type, 0);
}

static void assert_header(const struct spdy_frame *f, const char *name, const char *value)
{
        const char *v = spdy_header_get(f, name);

        if (!v)
                print_error("no header %s\n", name);
        assert_non_null(v);
        assert_string_equal(v, value);
}

static const struct spdy_header error_stream[] = {
        { (char *) "streamtype", (char *) "error", 5 },
        { (char *) "port", (char *) "8080", 4 },
        { (char *) "requestid", (char *) "0", 1 },
};

static void test_dictionary(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *w = codec();
        _cleanup_(spdy_out_free) struct spdy_out out = {};
        size_t n = 0;
        const uint8_t *d = spdy_dictionary(&n);
        const uint8_t *z;

        /* Adler-32 of the 1423 bytes of spdystream's headerDictionary,
         * computed by Python's zlib.adler32 over the Go table. */
        assert_int_equal(n, 1423);
        assert_int_equal(adler32(1, d, (uInt) n), 0xe3c6a7c2);
        assert_memory_equal(d, "\0\0\0\7options\0\0\0\4head", 19);
        assert_memory_equal(d + n - 8, "*,enq=0.", 8);

        /* Our compressor names the same dictionary in its zlib header. */
        assert_int_equal(spdy_write_syn_stream(w, &out, 1, 0, 0, 0, error_stream, 3), 0);
        z = out.data + 18;
        assert_int_equal(z[0] & 0x0f, 8);    /* deflate */
        assert_true(z[1] & 0x20);           /* FDICT */
        assert_int_equal((z[0] << 8 | z[1]) % 31, 0);
        assert_memory_equal(z + 2, "\xe3\xc6\xa7\xc2", 4);
}

static void test_round_trip(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *w = codec();
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(spdy_out_free) struct spdy_out out = {};
        static const struct spdy_header reply[] = { { (char *) ":status", (char *) "200", 3 } };
        struct spdy_frame f = {};
        size_t off = 0, mark;
        ssize_t n;

        assert_int_equal(spdy_write_syn_stream(w, &out, 1, 0, 3, SPDY_FLAG_FIN, error_stream, 3), 0);
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, reply, 1), 0);
        mark = out.len; /* a HEADERS frame is laid out as a SYN_REPLY */
        assert_int_equal(spdy_write_syn_reply(w, &out, 0x7fffffff, SPDY_FLAG_FIN, NULL, 0), 0);
        out.data[mark + 3] = SPDY_HEADERS;
        assert_int_equal(spdy_write_data(&out, 1, SPDY_FLAG_FIN, "hello", 5), 0);
        assert_int_equal(spdy_write_data(&out, 3, 0, NULL, 0), 0);
        assert_int_equal(spdy_write_rst_stream(&out, 5, SPDY_RST_CANCEL), 0);
        assert_int_equal(spdy_write_ping(&out, 0xfffffffe), 0);
        assert_int_equal(spdy_write_goaway(&out, 7, 2), 0);
        assert_int_equal(spdy_write_window_update(&out, 1, 0x7fffffff), 0);
        assert_int_equal(spdy_write_syn_stream(w, &out, 9, 1, 7, SPDY_FLAG_UNIDIRECTIONAL, error_stream, 2), 0);

        parse_ok(r, out.data, out.len, frame_len(out.data), &f);
        off += frame_len(out.data);
        assert_int_equal(f.type, SPDY_SYN_STREAM);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.stream_id, 1);
        assert_int_equal(f.assoc_id, 0);
        assert_int_equal(f.priority, 3);
        assert_int_equal(f.n_headers, 3);
        assert_string_equal(f.headers[0].name, "streamtype");
        assert_header(&f, "streamtype", "error");
        assert_header(&f, "port", "8080");
        assert_header(&f, "requestid", "0");
        assert_null(spdy_header_get(&f, "streamType"));
        spdy_frame_clear(&f);
        assert_null(f.headers);

        n = spdy_parse(r, out.data + off, out.len - off, &f, NULL);
        assert_true(n > 12);
        off += (size_t) n;
        assert_int_equal(f.type, SPDY_SYN_REPLY);
        assert_int_equal(f.stream_id, 1);
        assert_int_equal(f.n_headers, 1);
        assert_header(&f, ":status", "200");
        spdy_frame_clear(&f);

        n = spdy_parse(r, out.data + off, out.len - off, &f, NULL);
        assert_true(n > 12);
        off += (size_t) n;
        assert_int_equal(f.type, SPDY_HEADERS);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.stream_id, 0x7fffffff);
        assert_int_equal(f.n_headers, 0);
        spdy_frame_clear(&f);

        parse_ok(r, out.data + off, out.len - off, 13, &f);
        off += 13;
        assert_int_equal(f.type, SPDY_DATA);
        assert_int_equal(f.flags, SPDY_FLAG_FIN);
        assert_int_equal(f.stream_id, 1);
        assert_int_equal(f.len, 5);
        assert_memory_equal(f.data, "hello", 5);
        assert_ptr_equal(f.data, out.data + off - 5); /* points into the input */

        parse_ok(r, out.data + off, out.len - off, 8, &f);
        off += 8;
        assert_int_equal(f.type, SPDY_DATA);
        assert_int_equal(f.stream_id, 3);
        assert_int_equal(f.len, 0);

        parse_ok(r, out.data + off, out.len - off, 16, &f);
        off += 16;
        assert_int_equal(f.type, SPDY_RST_STREAM);
        assert_int_equal(f.stream_id, 5);
        assert_int_equal(f.status, SPDY_RST_CANCEL);

        parse_ok(r, out.data + off, out.len - off, 12, &f);
        off += 12;
        assert_int_equal(f.type, SPDY_PING);
        assert_int_equal(f.ping_id, 0xfffffffe);

        parse_ok(r, out.data + off, out.len - off, 16, &f);
        off += 16;
        assert_int_equal(f.type, SPDY_GOAWAY);
        assert_int_equal(f.last_good_id, 7);
        assert_int_equal(f.status, 2);

        parse_ok(r, out.data + off, out.len - off, 16, &f);
        off += 16;
        assert_int_equal(f.type, SPDY_WINDOW_UPDATE);
        assert_int_equal(f.stream_id, 1);
        assert_int_equal(f.delta, 0x7fffffff);

        n = spdy_parse(r, out.data + off, out.len - off, &f, NULL);
        assert_int_equal(n, out.len - off);
        assert_int_equal(f.type, SPDY_SYN_STREAM);
        assert_int_equal(f.flags, SPDY_FLAG_UNIDIRECTIONAL);
        assert_int_equal(f.stream_id, 9);
        assert_int_equal(f.assoc_id, 1);
        assert_int_equal(f.priority, 7);
        assert_int_equal(f.n_headers, 2);
        assert_header(&f, "port", "8080");
        spdy_frame_clear(&f);

        assert_int_equal(spdy_parse(r, out.data, 0, &f, NULL), 0);
}

/* Many blocks over the same two zlib streams, each parsed as it comes, and
 * values long enough to need more than one deflate block. */
static void test_blocks_in_sequence(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *w = codec();
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_free_ char *big = malloc(20000);
        struct spdy_out out = {};

        assert_non_null(big);
        for (size_t i = 0; i < 20000; i++)
                big[i] = (char) ('a' + (i * 7919) % 26);
        for (uint32_t id = 1; id < 200; id += 2) {
                char port[16];
                struct spdy_header h[] = {
                        { (char *) "streamtype", (char *) (id % 3 ? "stdout" : "stdin"), id % 3 ? 6 : 5 },
                        { (char *) "port", port, 0 },
                        { (char *) "x-big", big, id % 10 == 1 ? 20000 - id : id },
                };
                struct spdy_frame f = {};

                h[1].value_len = (size_t) snprintf(port, sizeof(port), "%u", 8000 + id);
                assert_int_equal(spdy_write_syn_stream(w, &out, id, 0, id % 8, 0, h, 3), 0);
                parse_ok(r, out.data, out.len, out.len, &f);
                assert_int_equal(f.stream_id, id);
                assert_int_equal(f.priority, id % 8);
                assert_header(&f, "streamtype", id % 3 ? "stdout" : "stdin");
                assert_header(&f, "port", port);
                assert_int_equal(f.headers[2].value_len, h[2].value_len);
                assert_memory_equal(f.headers[2].value, big, h[2].value_len);
                spdy_frame_clear(&f);
                out.len = 0; /* sent */
        }
        spdy_out_free(&out);
        assert_null(out.data);
        assert_int_equal(out.cap, 0);
}

static void test_python_blocks(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(bytes_free) struct bytes in = {};
        struct spdy_frame f = {};
        size_t first;

        syn_stream_frame(&in, 1, py_block1, sizeof(py_block1));
        first = in.len;
        syn_stream_frame(&in, 3, py_block2, sizeof(py_block2));

        parse_ok(r, in.p, in.len, first, &f);
        assert_int_equal(f.type, SPDY_SYN_STREAM);
        assert_int_equal(f.stream_id, 1);
        assert_int_equal(f.priority, 1);
        assert_int_equal(f.n_headers, 3);
        assert_header(&f, "streamtype", "error");
        assert_header(&f, "port", "8080");
        assert_header(&f, "requestid", "0");
        spdy_frame_clear(&f);

        parse_ok(r, in.p + first, in.len - first, in.len - first, &f);
        assert_int_equal(f.stream_id, 3);
        assert_header(&f, "streamtype", "data");
        assert_header(&f, "port", "8080");
        assert_header(&f, "requestid", "0");
        spdy_frame_clear(&f);
}

/* Every prefix of every frame needs more; the inflater is not touched until
 * the whole frame is there, so the second header block (which refers back
 * into the first) still decodes. */
static void test_partial(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *w = codec();
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(spdy_out_free) struct spdy_out out = {};
        size_t off = 0, frames = 0;

        assert_int_equal(spdy_write_syn_stream(w, &out, 1, 0, 0, 0, error_stream, 3), 0);
        assert_int_equal(spdy_write_syn_stream(w, &out, 3, 0, 0, 0, error_stream, 3), 0);
        assert_int_equal(spdy_write_syn_reply(w, &out, 3, 0, error_stream, 1), 0);
        assert_int_equal(spdy_write_data(&out, 1, 0, "abc", 3), 0);
        assert_int_equal(spdy_write_rst_stream(&out, 1, SPDY_RST_CANCEL), 0);
        assert_int_equal(spdy_write_ping(&out, 1), 0);
        assert_int_equal(spdy_write_goaway(&out, 3, 0), 0);
        assert_int_equal(spdy_write_window_update(&out, 3, 100), 0);
        while (off < out.len) {
                size_t len = frame_len(out.data + off);
                struct spdy_frame f = {};

                for (size_t k = 0; k < len; k++) {
                        _cleanup_pxe_ struct pxe *e = NULL;

                        assert_int_equal(spdy_parse(r, out.data + off, k, &f, &e), 0);
                        assert_null(e);
                        assert_int_equal(f.type, 0);
                }
                parse_ok(r, out.data + off, out.len - off, len, &f);
                if (f.type == SPDY_SYN_STREAM)
                        assert_header(&f, "requestid", "0");
                spdy_frame_clear(&f);
                off += len;
                frames++;
        }
        assert_int_equal(frames, 8);
}

static void test_bad_version(void **state)
{
        _cleanup_(bytes_free) struct bytes b = {};

        control_head(&b, 2, SPDY_PING, 0, 4);
        bytes_u32(&b, 1);
        parse_eproto(b.p, b.len, "version 2");
        b.len = 0;
        control_head(&b, 0x7fff, SPDY_PING, 0, 4);
        parse_eproto(b.p, b.len, "version 32767"); /* known from the header alone */
}

static void test_oversize(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(bytes_free) struct bytes b = {};
        _cleanup_free_ uint8_t *big = calloc(1, 8 + SPDY_FRAME_MAX);
        struct spdy_frame f = {};

        /* Refused from the 8-byte header, before the payload arrives. */
        control_head(&b, 3, SPDY_SYN_STREAM, 0, SPDY_FRAME_MAX + 1);
        parse_eproto(b.p, b.len, "limit");
        b.len = 0;
        bytes_u32(&b, 1);
        bytes_u32(&b, 0x00ffffff);
        parse_eproto(b.p, b.len, "limit");

        /* SPDY_FRAME_MAX itself is fine. */
        assert_non_null(big);
        big[3] = 1;
        big[5] = (uint8_t) (SPDY_FRAME_MAX >> 16);
        big[6] = (uint8_t) (SPDY_FRAME_MAX >> 8);
        big[7] = (uint8_t) SPDY_FRAME_MAX;
        parse_ok(r, big, 8 + SPDY_FRAME_MAX, 8 + SPDY_FRAME_MAX, &f);
        assert_int_equal(f.len, SPDY_FRAME_MAX);
}

static void test_header_count(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(bytes_free) struct bytes raw = {};
        _cleanup_(bytes_free) struct bytes frame = {};
        struct spdy_frame f = {};
        char name[16];

        /* SPDY_HEADERS_COUNT distinct names decode. */
        bytes_u32(&raw, SPDY_HEADERS_COUNT);
        for (int i = 0; i < SPDY_HEADERS_COUNT; i++) {
                snprintf(name, sizeof(name), "h%03d", i);
                bytes_str(&raw, name);
                bytes_str(&raw, "");
        }
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_ok(r, frame.p, frame.len, frame.len, &f);
        assert_int_equal(f.n_headers, SPDY_HEADERS_COUNT);
        assert_header(&f, "h255", "");
        assert_int_equal(f.headers[255].value_len, 0);
        spdy_frame_clear(&f);

        /* One more does not, whatever follows the count. */
        raw.p[3] = 1;
        raw.p[2] = 1; /* 257 */
        bytes_str(&raw, "h256");
        bytes_str(&raw, "");
        frame.len = 0;
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "257 pairs (limit 256)");

        /* A count the block cannot hold. */
        bytes_free(&raw);
        bytes_u32(&raw, 10);
        bytes_str(&raw, "a");
        bytes_str(&raw, "b");
        frame.len = 0;
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "10 pairs in 14 bytes");
}

static void test_lengths_past_block(void **state)
{
        _cleanup_(bytes_free) struct bytes raw = {};
        _cleanup_(bytes_free) struct bytes frame = {};

        /* Name length points past the block. */
        bytes_u32(&raw, 1);
        bytes_u32(&raw, 100);
        bytes_add(&raw, "portxxxx", 8);
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "name of 100 bytes, 8 left");

        /* So does a name length of 2^32 - 1. */
        bytes_free(&raw);
        bytes_u32(&raw, 1);
        bytes_u32(&raw, 0xffffffff);
        bytes_add(&raw, "portxxxx", 8);
        frame.len = 0;
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "name of 4294967295 bytes");

        /* The value length. */
        bytes_free(&raw);
        bytes_u32(&raw, 1);
        bytes_str(&raw, "port");
        bytes_u32(&raw, 5);
        bytes_add(&raw, "8080", 4);
        frame.len = 0;
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "value of 5 bytes, 4 left");

        /* The block ends where the second pair's value length would be. */
        bytes_free(&raw);
        bytes_u32(&raw, 2);
        bytes_str(&raw, "port");
        bytes_str(&raw, "8080");
        bytes_str(&raw, "a");
        bytes_add(&raw, "\0\0", 2);
        frame.len = 0;
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "ends before a value length");

        /* Bytes after the last pair. */
        bytes_free(&raw);
        bytes_u32(&raw, 1);
        bytes_str(&raw, "port");
        bytes_str(&raw, "8080");
        bytes_add(&raw, "\0\0\0\0", 4);
        frame.len = 0;
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "4 bytes after its 1 pairs");

        /* Shorter than its count. */
        frame.len = 0;
        crafted_syn_stream(&frame, (const uint8_t *) "\0\0", 2);
        parse_eproto(frame.p, frame.len, "block of 2 bytes");
}

static void test_zip_bomb(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(bytes_free) struct bytes raw = {};
        _cleanup_(bytes_free) struct bytes frame = {};
        _cleanup_free_ uint8_t *zeros = calloc(1, 16u << 20);
        struct spdy_frame f = {};
        size_t vlen = SPDY_HEADERS_MAX - 13; /* count, name length, "a", value length */

        assert_non_null(zeros);
        /* Exactly SPDY_HEADERS_MAX inflated: accepted. */
        bytes_u32(&raw, 1);
        bytes_str(&raw, "a");
        bytes_u32(&raw, (uint32_t) vlen);
        bytes_add(&raw, zeros, vlen);
        assert_int_equal(raw.len, SPDY_HEADERS_MAX);
        crafted_syn_stream(&frame, raw.p, raw.len);
        assert_true(frame.len < 1024);
        parse_ok(r, frame.p, frame.len, frame.len, &f);
        assert_int_equal(f.headers[0].value_len, vlen);
        spdy_frame_clear(&f);

        /* One byte more: refused. */
        raw.len = 0;
        bytes_u32(&raw, 1);
        bytes_str(&raw, "a");
        bytes_u32(&raw, (uint32_t) vlen + 1);
        bytes_add(&raw, zeros, vlen + 1);
        frame.len = 0;
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "inflates past 65536 bytes");

        /* 16 MiB of zeros in about 16 KiB: stops at the limit. */
        frame.len = 0;
        crafted_syn_stream(&frame, zeros, 16u << 20);
        assert_true(frame.len < 64 * 1024);
        parse_eproto(frame.p, frame.len, "inflates past");
}

static void test_bad_names(void **state)
{
        static const char *const bad[] = { "streamType", "two words", "tab\t", "caf\xc3\xa9", "del\x7f" };
        _cleanup_(bytes_free) struct bytes raw = {};
        _cleanup_(bytes_free) struct bytes frame = {};

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                raw.len = frame.len = 0;
                bytes_u32(&raw, 1);
                bytes_str(&raw, bad[i]);
                bytes_str(&raw, "v");
                crafted_syn_stream(&frame, raw.p, raw.len);
                parse_eproto(frame.p, frame.len, "not lower-case ASCII");
        }

        raw.len = frame.len = 0;
        bytes_u32(&raw, 1);
        bytes_str(&raw, "streamType");
        bytes_str(&raw, "v");
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "name \"stream\" has byte 0x54 at 6");

        raw.len = frame.len = 0;
        bytes_u32(&raw, 1);
        bytes_str(&raw, "");
        bytes_str(&raw, "v");
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "Empty SPDY header name");

        /* A NUL inside a name. */
        raw.len = frame.len = 0;
        bytes_u32(&raw, 1);
        bytes_u32(&raw, 3);
        bytes_add(&raw, "a\0b", 3);
        bytes_str(&raw, "v");
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "not lower-case ASCII");

        /* The same name twice (several values go in one, NUL-separated). */
        raw.len = frame.len = 0;
        bytes_u32(&raw, 2);
        bytes_str(&raw, "port");
        bytes_str(&raw, "1");
        bytes_str(&raw, "port");
        bytes_str(&raw, "2");
        crafted_syn_stream(&frame, raw.p, raw.len);
        parse_eproto(frame.p, frame.len, "\"port\" given twice");
}

static void test_bad_compression(void **state)
{
        _cleanup_(bytes_free) struct bytes frame = {};
        _cleanup_(bytes_free) struct bytes z = {};
        static const uint8_t other_dict[] = "not the SPDY dictionary";
        uint8_t buf[64];
        uLongf n;
        z_stream other;

        /* Not zlib at all. */
        syn_stream_frame(&frame, 1, (const uint8_t *) "\x12\x34garbage", 9);
        parse_eproto(frame.p, frame.len, "Inflating a SPDY header block");

        /* zlib with another dictionary. */
        memset(&other, 0, sizeof(other));
        assert_int_equal(deflateInit(&other, 6), Z_OK);
        assert_int_equal(deflateSetDictionary(&other, other_dict, sizeof(other_dict)), Z_OK);
        peer_block(&other, &z, (const uint8_t *) "\0\0\0\0", 4);
        deflateEnd(&other);
        frame.len = 0;
        syn_stream_frame(&frame, 1, z.p, z.len);
        parse_eproto(frame.p, frame.len, "unknown dictionary");

        /* A peer that finished its stream (Z_FINISH, no dictionary). */
        n = sizeof(buf);
        assert_int_equal(compress2(buf, &n, (const Bytef *) "\0\0\0\0", 4, 6), Z_OK);
        frame.len = 0;
        syn_stream_frame(&frame, 1, buf, n);
        parse_eproto(frame.p, frame.len, "stream ended");

        /* No block at all. */
        frame.len = 0;
        syn_stream_frame(&frame, 1, NULL, 0);
        parse_eproto(frame.p, frame.len, "without a header block");
}

static void test_unknown_control(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(bytes_free) struct bytes b = {};
        struct spdy_frame f = {};
        size_t off = 0;

        control_head(&b, 3, 10, 0xff, 12); /* CREDENTIAL (draft 3), unused here */
        bytes_add(&b, "\xff\xff\xff\xff\0\0\0\0\1\2\3\4", 12);
        control_head(&b, 3, SPDY_SETTINGS, 1, 12);
        bytes_u32(&b, 1);
        bytes_u32(&b, 0x01000007); /* persist, INITIAL_WINDOW_SIZE */
        bytes_u32(&b, 65536);
        control_head(&b, 3, 0xffff, 0, 0);
        control_head(&b, 3, SPDY_PING, 0, 4);
        bytes_u32(&b, 9);

        parse_ok(r, b.p, b.len, 20, &f);
        off += 20;
        assert_int_equal(f.type, 10);
        assert_int_equal(f.flags, 0);
        assert_int_equal(f.stream_id, 0);
        assert_int_equal(f.ping_id, 0);
        assert_null(f.data);
        parse_ok(r, b.p + off, b.len - off, 20, &f);
        off += 20;
        assert_int_equal(f.type, SPDY_SETTINGS);
        assert_int_equal(f.flags, 0);
        parse_ok(r, b.p + off, b.len - off, 8, &f);
        off += 8;
        assert_int_equal(f.type, 0xffff);
        parse_ok(r, b.p + off, b.len - off, 12, &f);
        assert_int_equal(f.type, SPDY_PING);
        assert_int_equal(f.ping_id, 9);

        /* Type 0 would come back looking like DATA on stream 0. */
        b.len = 0;
        control_head(&b, 3, 0, 0, 0);
        parse_eproto(b.p, b.len, "type 0");
}

static void test_fixed_lengths(void **state)
{
        static const struct {
                uint16_t type;
                uint32_t len;
        } bad[] = {
                { SPDY_RST_STREAM, 4 }, { SPDY_RST_STREAM, 12 }, { SPDY_PING, 8 }, { SPDY_PING, 0 },
                { SPDY_GOAWAY, 4 },     { SPDY_WINDOW_UPDATE, 4 }, { SPDY_SYN_STREAM, 9 }, { SPDY_SYN_REPLY, 3 },
                { SPDY_HEADERS, 0 },
        };
        uint8_t zero[16] = {};

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_(bytes_free) struct bytes b = {};

                control_head(&b, 3, bad[i].type, 0, bad[i].len);
                bytes_add(&b, zero, bad[i].len);
                parse_eproto(b.p, b.len, "bytes of payload");
        }
}

static void test_multi_value(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *w = codec();
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(spdy_out_free) struct spdy_out out = {};
        static const struct spdy_header h[] = {
                { (char *) "accept", (char *) "a\0bb\0ccc", 8 },
                { (char *) "empty", NULL, 0 },
        };
        struct spdy_frame f = {};

        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), 0);
        parse_ok(r, out.data, out.len, out.len, &f);
        assert_int_equal(f.n_headers, 2);
        assert_int_equal(f.headers[0].value_len, 8);
        assert_memory_equal(f.headers[0].value, "a\0bb\0ccc", 9); /* and the NUL after */
        assert_string_equal(spdy_header_get(&f, "accept"), "a"); /* the first value */
        assert_int_equal(f.headers[1].value_len, 0);
        assert_string_equal(spdy_header_get(&f, "empty"), "");
        assert_null(spdy_header_get(&f, "acc"));
        assert_null(spdy_header_get(NULL, "accept"));
        spdy_frame_clear(&f);
        spdy_frame_clear(NULL);
}

/* Refusals leave out and the compressor as they were. */
static void test_writer_errors(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *w = codec();
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        _cleanup_(spdy_out_free) struct spdy_out out = {};
        _cleanup_free_ struct spdy_header *many = calloc(SPDY_HEADERS_COUNT + 1, sizeof(*many));
        _cleanup_free_ char *names = malloc((SPDY_HEADERS_COUNT + 1) * 8);
        _cleanup_free_ char *big = calloc(1, SPDY_HEADERS_MAX);
        struct spdy_header h[2] = { { (char *) "port", (char *) "1", 1 }, { (char *) "port", (char *) "2", 1 } };
        struct spdy_frame f = {};
        uint8_t byte = 0;

        assert_non_null(many);
        assert_non_null(names);
        assert_non_null(big);
        assert_int_equal(spdy_write_ping(&out, 1), 0);
        assert_int_equal(out.len, 12);

        assert_int_equal(spdy_write_data(&out, 1, 0, &byte, SPDY_FRAME_MAX + 1), -EINVAL);
        assert_int_equal(spdy_write_data(&out, 0x80000001, 0, &byte, 1), -EINVAL);
        assert_int_equal(spdy_write_data(&out, 1, 0, NULL, 1), -EINVAL);
        assert_int_equal(spdy_write_rst_stream(&out, 0x80000001, 1), -EINVAL);
        assert_int_equal(spdy_write_goaway(&out, 0x80000000, 0), -EINVAL);
        assert_int_equal(spdy_write_window_update(&out, 0x80000001, 1), -EINVAL);
        assert_int_equal(spdy_write_window_update(&out, 1, 0x80000000), -EINVAL);
        assert_int_equal(spdy_write_syn_stream(w, &out, 0x80000001, 0, 0, 0, h, 1), -EINVAL);
        assert_int_equal(spdy_write_syn_stream(w, &out, 1, 0x80000000, 0, 0, h, 1), -EINVAL);
        assert_int_equal(spdy_write_syn_stream(w, &out, 1, 0, 8, 0, h, 1), -EINVAL);
        assert_int_equal(spdy_write_syn_reply(w, &out, 0xffffffff, 0, h, 1), -EINVAL);
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), -EINVAL); /* twice */
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, NULL, 1), -EINVAL);
        h[1].name = (char *) "Port";
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), -EINVAL);
        h[1].name = (char *) "";
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), -EINVAL);
        h[1].name = NULL;
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), -EINVAL);
        h[1] = (struct spdy_header) { (char *) "x", NULL, 3 };
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), -EINVAL);
        /* count 4, "port" "1" 13, "x" 9 + value: one byte over */
        h[1] = (struct spdy_header) { (char *) "x", big, SPDY_HEADERS_MAX - 25 };
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), -EINVAL);
        for (int i = 0; i <= SPDY_HEADERS_COUNT; i++) {
                snprintf(names + 8 * i, 8, "h%d", i);
                many[i] = (struct spdy_header) { names + 8 * i, (char *) "", 0 };
        }
        assert_int_equal(spdy_write_syn_stream(w, &out, 1, 0, 0, 0, many, SPDY_HEADERS_COUNT + 1), -EINVAL);
        assert_int_equal(out.len, 12);

        /* Nothing of that reached the compressor: the reader follows. */
        h[1].value_len--; /* exactly SPDY_HEADERS_MAX */
        assert_int_equal(spdy_write_syn_reply(w, &out, 1, 0, h, 2), 0);
        assert_int_equal(spdy_write_syn_stream(w, &out, 3, 0, 0, 0, many, SPDY_HEADERS_COUNT), 0);
        parse_ok(r, out.data, out.len, 12, &f);
        assert_int_equal(f.type, SPDY_PING);
        {
                size_t off = 12;
                ssize_t n = spdy_parse(r, out.data + off, out.len - off, &f, NULL);

                assert_true(n > 0);
                off += (size_t) n;
                assert_int_equal(f.n_headers, 2);
                assert_int_equal(f.headers[1].value_len, h[1].value_len);
                spdy_frame_clear(&f);
                parse_ok(r, out.data + off, out.len - off, out.len - off, &f);
                assert_int_equal(f.n_headers, SPDY_HEADERS_COUNT);
                assert_header(&f, "h255", "");
                spdy_frame_clear(&f);
        }
}

static void test_out_grows(void **state)
{
        _cleanup_(spdy_codec_freep) struct spdy_codec *r = codec();
        struct spdy_out out = {};
        struct spdy_frame f = {};

        for (uint32_t i = 1; i <= 1000; i++)
                assert_int_equal(spdy_write_ping(&out, i), 0);
        assert_int_equal(out.len, 12000);
        assert_true(out.cap >= out.len);
        assert_int_equal(out.cap & (out.cap - 1), 0); /* doubled from a power of two */
        for (uint32_t i = 1; i <= 1000; i++) {
                parse_ok(r, out.data + 12 * (i - 1), out.len - 12 * (i - 1), 12, &f);
                assert_int_equal(f.ping_id, i);
        }
        spdy_out_free(&out);
        assert_null(out.data);
        assert_int_equal(out.len, 0);
        spdy_out_free(&out);
        spdy_out_free(NULL);
        spdy_codec_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dictionary),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_blocks_in_sequence),
                cmocka_unit_test(test_python_blocks),
                cmocka_unit_test(test_partial),
                cmocka_unit_test(test_bad_version),
                cmocka_unit_test(test_oversize),
                cmocka_unit_test(test_header_count),
                cmocka_unit_test(test_lengths_past_block),
                cmocka_unit_test(test_zip_bomb),
                cmocka_unit_test(test_bad_names),
                cmocka_unit_test(test_bad_compression),
                cmocka_unit_test(test_unknown_control),
                cmocka_unit_test(test_fixed_lengths),
                cmocka_unit_test(test_multi_value),
                cmocka_unit_test(test_writer_errors),
                cmocka_unit_test(test_out_grows),
        };

        return unit_run(tests);
}
