/* WebSocket streaming: the parts of the handshake and of Kubernetes' channel
 * protocols that need no connection (ws.c), and the transport that serves an
 * upgraded connection with libwslay (ws_session.c).
 *
 * The channel protocols (kubelet's wsstream): every message starts with one
 * byte, the channel number; the rest is the channel's data.  With the
 * base64.* variants the message is text, the channel is '0' + number and the
 * data is base64.  v5.channel.k8s.io adds one message the client sends: on
 * channel 255, one byte naming a channel the client will not write to again.
 * Port forwarding (v4 framing) has channels 2i (data) and 2i+1 (error) for
 * the i-th port; the server's first message on each is the port, 2 bytes
 * little-endian.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stream/session.h"
#include "util/err.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_ACCEPT_LEN 28               /* base64 of a SHA-1 */
#define WS_MSG_MAX (1u << 20)          /* the largest message a client may send */
#define WS_CLOSE_SIGNAL 255            /* v5: "I closed channel <next byte>" */
/* Ports of one port-forwarding request: channel numbers up to 199, which
 * fit a byte even as base64's '0' + number. */
#define WS_PORTS_MAX 100

/* A subprotocol the server speaks. */
struct ws_proto {
        const char *name;     /* NULL: the client named none */
        enum stream_proto proto;
        bool base64;
};

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + WS_GUID)),
 * NUL-terminated.  0, or -EIO when libcrypto fails. */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* Whether key is what RFC 6455 asks for: the base64 of 16 bytes. */
bool ws_key_valid(const char *key);

/* Whether a header's values (stream_http_header_list: NULL-terminated, each
 * possibly a comma-separated list) hold token, in any case: "upgrade" in
 * Connection, "websocket" in Upgrade. */
bool ws_has_token(char *const *values, const char *token);

/* The subprotocol for a request of kind k among those the client offered
 * (Sec-WebSocket-Protocol values, NULL-terminated; NULL or empty: none
 * offered, which gets the binary framing kubelet gives it), in the server's
 * order of preference.  -ENOPROTOOPT when none of the offered ones is
 * spoken. */
int ws_choose_proto(enum stream_kind k, char *const *offered, const struct ws_proto **ret);

/* The subprotocols for kind k, comma-separated, best first (for errors). */
const char *ws_supported_protos(enum stream_kind k);

/* The ports a port-forwarding URL's query names: every `port` parameter, each
 * a comma-separated list of 1..65535.  *ret is NULL with *n_ret 0 when there
 * is none.  -EINVAL for a malformed query, an empty or bad port or more than
 * WS_PORTS_MAX of them (err says which); -ENOMEM. */
int ws_parse_ports(const char *query, unsigned **ret, size_t *n_ret, struct pxe **err);

/* Decode standard base64 (padded, no whitespace) into out, which holds at
 * least n / 4 * 3 bytes.  The decoded length, or -EINVAL. */
ssize_t ws_base64_decode(const uint8_t *in, size_t n, uint8_t *out);
