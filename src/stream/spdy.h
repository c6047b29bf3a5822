/* SPDY/3.1 framing: the frames Kubernetes' streaming protocols use (client-go
 * and kubelet speak it through moby/spdystream), parsed from and written to
 * byte buffers.  No I/O, no sessions: src/stream/spdy_session.c drives it.
 *
 * Header blocks are zlib streams, one per direction for the whole connection,
 * primed with the SPDY/3 dictionary; a codec holds both contexts, so one codec
 * belongs to one connection (and one side of it).  Header names are lower
 * case on the wire; a value may hold several values separated by NUL bytes.
 *
 * Limits (a hostile peer gets -EPROTO, never an allocation it chose): a frame
 * of more than SPDY_FRAME_MAX bytes of payload, a header block that inflates
 * to more than SPDY_HEADERS_MAX bytes or holds more than SPDY_HEADERS_COUNT
 * pairs, a name or value longer than the block.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

#define SPDY_VERSION 3
#define SPDY_FRAME_MAX (1u << 20)       /* payload bytes of one frame we accept */
#define SPDY_HEADERS_MAX (64u << 10)    /* inflated header block */
#define SPDY_HEADERS_COUNT 256

enum spdy_type {
        SPDY_DATA = 0,
        SPDY_SYN_STREAM = 1,
        SPDY_SYN_REPLY = 2,
        SPDY_RST_STREAM = 3,
        SPDY_SETTINGS = 4,
        SPDY_PING = 6,
        SPDY_GOAWAY = 7,
        SPDY_HEADERS = 8,
        SPDY_WINDOW_UPDATE = 9,
};

#define SPDY_FLAG_FIN 0x01
#define SPDY_FLAG_UNIDIRECTIONAL 0x02

/* RST_STREAM status codes */
enum spdy_rst {
        SPDY_RST_PROTOCOL_ERROR = 1,
        SPDY_RST_INVALID_STREAM = 2,
        SPDY_RST_REFUSED_STREAM = 3,
        SPDY_RST_UNSUPPORTED_VERSION = 4,
        SPDY_RST_CANCEL = 5,
        SPDY_RST_INTERNAL_ERROR = 6,
        SPDY_RST_FLOW_CONTROL_ERROR = 7,
        SPDY_RST_STREAM_IN_USE = 8,
        SPDY_RST_STREAM_ALREADY_CLOSED = 9,
};

struct spdy_header {
        char *name;   /* NUL-terminated, lower case */
        char *value;  /* NUL-terminated after value_len bytes; may hold NULs */
        size_t value_len;
};

struct spdy_frame {
        enum spdy_type type;   /* an unknown control type is skipped by spdy_parse */
        uint8_t flags;
        uint32_t stream_id;    /* DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE */
        uint32_t assoc_id;     /* SYN_STREAM */
        uint8_t priority;      /* SYN_STREAM, 0..7 */
        uint32_t status;       /* RST_STREAM, GOAWAY */
        uint32_t ping_id;      /* PING */
        uint32_t last_good_id; /* GOAWAY */
        uint32_t delta;        /* WINDOW_UPDATE */
        const uint8_t *data;   /* DATA payload: points into the parsed buffer */
        size_t len;
        struct spdy_header *headers; /* SYN_STREAM, SYN_REPLY, HEADERS: owned */
        size_t n_headers;
};

/* A growable output buffer the writers append to. */
struct spdy_out {
        uint8_t *data;
        size_t len, cap;
};

struct spdy_codec;

int spdy_codec_new(struct spdy_codec **ret, struct pxe **err);
void spdy_codec_free(struct spdy_codec *c);

static inline void spdy_codec_freep(struct spdy_codec **c)
{
        spdy_codec_free(*c);
}

/* The SPDY/3 header compression dictionary (1423 bytes, Adler-32
 * 0xe3c6a7c2), for tests and tools that compress header blocks themselves. */
const uint8_t *spdy_dictionary(size_t *ret_len);

/* Parse the frame at the start of buf.  Returns the bytes it takes (> 0) with
 * *f filled, 0 when buf does not yet hold a whole frame (nothing consumed),
 * or -EPROTO (bad version, a frame over the limits, a header block that does
 * not inflate or decode) with err set.  A control frame of a type this codec
 * does not know (or SETTINGS, whose contents nobody here needs) comes back
 * with its type and nothing else decoded.  Release with spdy_frame_clear().
 *
 * Also -EPROTO: a control frame of type 0, a fixed-size control frame
 * (RST_STREAM, PING, GOAWAY, WINDOW_UPDATE) of another length, a SYN_STREAM,
 * SYN_REPLY or HEADERS without a header block, a block with bytes after its
 * last pair, a name given twice, a name that is empty or not lower-case
 * printable ASCII.  -ENOMEM when memory runs out.  Stream ids of 0 and RST
 * status 0 are not checked here: the session answers them.  *f is written
 * only when a frame is returned; after -EPROTO the inflater may be mid-block,
 * so the connection cannot go on. */
ssize_t spdy_parse(struct spdy_codec *c, const uint8_t *buf, size_t len, struct spdy_frame *f, struct pxe **err);
void spdy_frame_clear(struct spdy_frame *f);

/* The first value of header name (lower case), or NULL. */
const char *spdy_header_get(const struct spdy_frame *f, const char *name);

/* Writers: append one whole frame to out.  0, or -ENOMEM / -EINVAL (a data
 * frame over SPDY_FRAME_MAX, a stream id with the top bit set).
 *
 * The header writers also give -EINVAL for what spdy_parse() would refuse
 * (a priority over 7, more than SPDY_HEADERS_COUNT pairs, a block over
 * SPDY_HEADERS_MAX, an invalid or repeated name, a NULL value with
 * value_len > 0), checked before anything reaches the compressor, so the
 * codec stays usable.  On any error out is left as it was.  Should the
 * compressor ever fail halfway (it cannot run out of room as sized), the
 * codec refuses further header frames with -ENOMEM. */
int spdy_write_data(struct spdy_out *out, uint32_t stream_id, uint8_t flags, const void *data, size_t len);
int spdy_write_syn_stream(struct spdy_codec *c, struct spdy_out *out, uint32_t stream_id, uint32_t assoc_id,
                          uint8_t priority, uint8_t flags, const struct spdy_header *h, size_t n);
int spdy_write_syn_reply(struct spdy_codec *c, struct spdy_out *out, uint32_t stream_id, uint8_t flags,
                         const struct spdy_header *h, size_t n);
int spdy_write_rst_stream(struct spdy_out *out, uint32_t stream_id, uint32_t status);
int spdy_write_ping(struct spdy_out *out, uint32_t id);
int spdy_write_goaway(struct spdy_out *out, uint32_t last_good_id, uint32_t status);
int spdy_write_window_update(struct spdy_out *out, uint32_t stream_id, uint32_t delta);

void spdy_out_free(struct spdy_out *out);
