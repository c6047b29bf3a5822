"""Test client for the Kubernetes streaming protocols a CRI streaming server
speaks: exec / attach (remotecommand) and port-forward, over SPDY/3.1 and over
WebSocket.  Written from the protocols' public descriptions (the SPDY/3 draft,
RFC 6455, Kubernetes' remotecommand and portforward protocols) and checked
against containerd 1.6's CRI streaming server; it is independent of the server
under test.  Stdlib + zlib + Debian's python3-websocket (1.2.3) only.

SPDY/3.1 (own framing)
  SpdyRemoteCommand(url, *, stdin=False, stdout=True, stderr=True, tty=False,
                    protocols=REMOTECOMMAND_PROTOCOLS, timeout=30)
      .protocol .frames .stdout .stderr .error_bytes
      .send_stdin(data) .close_stdin() .resize(width, height)
      .read_until(substring, timeout=None, stream="stdout") -> bytes
      .wait(timeout=None) -> StreamResult    .result() -> StreamResult   .close()
  spdy_exec(url, *, stdin=None, stdout=True, stderr=True, tty=False, resize=None,
            protocols=REMOTECOMMAND_PROTOCOLS, timeout=30) -> StreamResult
  SpdyPortForward(url, timeout=30)
      .request(port, payload, read_until_close=True, timeout=None) -> (data, error)
      .open(port, timeout=None) -> SpdyPortForwardPair
            .send(data) .close_write() .recv(timeout=None) -> bytes (b"" at end)
            .read_all(timeout=None) -> bytes .error -> bytes .wait_error(timeout) .close()
      .frames .close()
WebSocket (python3-websocket)
  WsRemoteCommand(url, *, stdin=False, stdout=True, stderr=True, tty=False,
                  protocols=WS_REMOTECOMMAND_PROTOCOLS, timeout=30)
      same methods as SpdyRemoteCommand; .frames holds (opcode, payload) messages
  ws_exec(url, ...) -> StreamResult
  WsPortForward(url, ports, protocol="v4.channel.k8s.io", timeout=30)
      .send(i, data) .recv(i, timeout=None) .read_all(i, timeout=None) .errors(i) .close()
TLS: every class and *_exec function takes https:// URLs (and ssl_context=, an
  ssl.SSLContext; None: ssl.create_default_context(), the system's trust store).
  tls_context(cafile, certfile=None, keyfile=None) -> a verifying SSLContext.
Offline decoding of captured bytes (tests/fixtures/stream)
  decode_spdy_remotecommand(client_bytes, server_bytes) -> StreamResult
  decode_ws_remotecommand(server_bytes) -> StreamResult

Protocol notes (what a server must do for client-go, and what this client does):
- SPDY: POST <path> with Connection: Upgrade, Upgrade: SPDY/3.1 and one
  X-Stream-Protocol-Version header per offered protocol; the server answers 101
  with the chosen one in X-Stream-Protocol-Version.  The client opens streams
  with odd ids from 1, one at a time, each SYN_STREAM carrying a `streamtype`
  header, and waits for its SYN_REPLY before opening the next (client-go's
  CreateStream does the same).  The error stream is created first, then stdin,
  stdout, stderr (not with tty), resize (tty, v3+).  Header names on the wire
  are lowercase (Go's framer rejects others).  Header blocks are zlib streams
  with the SPDY/3 dictionary, one compression context per direction for the
  whole connection, each block ended with a sync flush.
- The exec/attach result comes on the error stream: v4 writes a JSON
  metav1.Status, also for success ({"metadata":{},"status":"Success"}); v1-v3
  write nothing on success and the plain error text otherwise.  A session is
  over when the error stream and stdout/stderr have ended (FIN, RST_STREAM or
  the connection's end); containerd ends it with RST_STREAM on every stream,
  then GOAWAY, then closes the TCP connection.
- No SPDY flow control: Go's spdystream sends no WINDOW_UPDATE and ignores it.
- WebSocket: the first byte of each binary message is the channel (0 stdin,
  1 stdout, 2 stderr, 3 error, 4 resize).  Servers send an empty message on the
  lowest writable channel first.  Only v5.channel.k8s.io can close stdin
  (message 255, 0 = CLOSE of channel 0); v4 cannot: close_stdin() raises
  StdinCloseUnsupported there.  The session ends with the server closing the
  WebSocket after writing the status.
- WebSocket port-forward: channel 2i is the data and 2i+1 the error channel of
  the i-th port; the server's first message on each carries the port as
  uint16 little endian.

Seen with containerd 1.6.20 (Debian 12), the reference this was checked on:
- WebSocket subprotocols: v4.channel.k8s.io, v4.base64.channel.k8s.io,
  channel.k8s.io, base64.channel.k8s.io (and none); v5 is refused with 403.
  *base64* variants are decoded here too.  Options come from the CRI request
  behind the token (no query parameters needed; ports too for port-forward).
  Tokens are single use (404 on reuse).
- SPDY v1 (channel.k8s.io) resets the error stream right after set-up, so the
  exit status is lost; v2/v3 send plain text, v4 the Status JSON.
- An exec ends: stdout/stderr FIN, the Status on the error stream, RST_STREAM
  CANCEL on it (never a FIN), GOAWAY, TCP close.  Attach ends the same way
  when the container's stdio closes, with status Success whatever the exit
  code.  Closing the client does not kill the exec'd process.
- The error text of a refused port-forward arrives after the data stream's
  FIN: wait for the error stream's own end.  containerd waits up to 1 s for
  the client->pod direction after the pod closed its side (half_close=True
  avoids that on SPDY; WebSocket cannot half-close).
- spdystream dispatches frames to 5 workers by stream id % 5 and blocks a
  worker on DATA for a stream nobody reads: after data was sent on a refused
  port-forward pair, later streams with that id % 5 never get a SYN_REPLY.
- WebSocket exec with tty and without stdin loses stdout (containerd gives the
  process a stdin that is at EOF at once); ask for stdin with tty.
"""

import base64
import json
import select
import socket
import ssl
import struct
import threading
import time
import urllib.parse
import zlib

try:
    import websocket
except ImportError:     # python3-websocket missing: SPDY and the offline decoders still work
    websocket = None

__all__ = [
    "SPDY_DICTIONARY", "REMOTECOMMAND_PROTOCOLS", "WS_REMOTECOMMAND_PROTOCOLS",
    "PORTFORWARD_PROTOCOL", "StreamError", "StreamTimeout", "UpgradeError",
    "StdinCloseUnsupported", "Frame", "FrameParser", "FrameWriter",
    "encode_header_block", "decode_header_block", "StreamResult",
    "SpdyConnection", "SpdyRemoteCommand", "spdy_exec", "SpdyPortForward",
    "SpdyPortForwardPair", "WsRemoteCommand", "ws_exec", "WsPortForward",
    "WsFrameParser", "decode_spdy_remotecommand", "decode_ws_remotecommand",
    "parse_http_head", "tls_context", "TlsSocket",
]

REMOTECOMMAND_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io",
                           "channel.k8s.io")
WS_REMOTECOMMAND_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORTFORWARD_PROTOCOL = "portforward.k8s.io"

# --------------------------------------------------------------------------
# SPDY/3 framing

SPDY_VERSION = 3

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9
TYPE_NAMES = {SYN_STREAM: "SYN_STREAM", SYN_REPLY: "SYN_REPLY", RST_STREAM: "RST_STREAM",
              SETTINGS: "SETTINGS", PING: "PING", GOAWAY: "GOAWAY", HEADERS: "HEADERS",
              WINDOW_UPDATE: "WINDOW_UPDATE"}

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
UNSUPPORTED_VERSION = 4
CANCEL = 5
INTERNAL_ERROR = 6
FLOW_CONTROL_ERROR = 7
STREAM_IN_USE = 8
STREAM_ALREADY_CLOSED = 9
RST_NAMES = {1: "PROTOCOL_ERROR", 2: "INVALID_STREAM", 3: "REFUSED_STREAM",
             4: "UNSUPPORTED_VERSION", 5: "CANCEL", 6: "INTERNAL_ERROR",
             7: "FLOW_CONTROL_ERROR", 8: "STREAM_IN_USE", 9: "STREAM_ALREADY_CLOSED",
             10: "INVALID_CREDENTIALS", 11: "FRAME_TOO_LARGE"}

MAX_DATA = 0xFFFFFF   # 24-bit length field
DATA_CHUNK = 32 * 1024

# The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00,
# section 2.6.10.1): 1423 bytes, adler32 0xe3c6a7c2.  The first part is a
# list of 32-bit big-endian length-prefixed header names and values.
SPDY_DICTIONARY = (
    b"\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post"
    b"\x00\x00\x00\x03put\x00\x00\x00\x06delete\x00\x00\x00\x05trace"
    b"\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-charset"
    b"\x00\x00\x00\x0faccept-encoding\x00\x00\x00\x0faccept-language"
    b"\x00\x00\x00\x0daccept-ranges\x00\x00\x00\x03age\x00\x00\x00\x05allow"
    b"\x00\x00\x00\x0dauthorization\x00\x00\x00\x0dcache-control"
    b"\x00\x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base"
    b"\x00\x00\x00\x10content-encoding\x00\x00\x00\x10content-language"
    b"\x00\x00\x00\x0econtent-length\x00\x00\x00\x10content-location"
    b"\x00\x00\x00\x0bcontent-md5\x00\x00\x00\x0dcontent-range"
    b"\x00\x00\x00\x0ccontent-type\x00\x00\x00\x04date\x00\x00\x00\x04etag"
    b"\x00\x00\x00\x06expect\x00\x00\x00\x07expires\x00\x00\x00\x04from"
    b"\x00\x00\x00\x04host\x00\x00\x00\x08if-match\x00\x00\x00\x11if-modified-since"
    b"\x00\x00\x00\x0dif-none-match\x00\x00\x00\x08if-range"
    b"\x00\x00\x00\x13if-unmodified-since\x00\x00\x00\x0dlast-modified"
    b"\x00\x00\x00\x08location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma"
    b"\x00\x00\x00\x12proxy-authenticate\x00\x00\x00\x13proxy-authorization"
    b"\x00\x00\x00\x05range\x00\x00\x00\x07referer\x00\x00\x00\x0bretry-after"
    b"\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07trailer"
    b"\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade"
    b"\x00\x00\x00\x0auser-agent\x00\x00\x00\x04vary\x00\x00\x00\x03via"
    b"\x00\x00\x00\x07warning\x00\x00\x00\x10www-authenticate"
    b"\x00\x00\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status"
    b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version\x00\x00\x00\x08HTTP/1.1"
    b"\x00\x00\x00\x03url\x00\x00\x00\x06public\x00\x00\x00\x0aset-cookie"
    b"\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin"
    b"100101201202205206300302303304305306307402405406407408409410411412413414"
    b"415416417502504505203 Non-Authoritative Information204 No Content"
    b"301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden"
    b"404 Not Found500 Internal Server Error501 Not Implemented"
    b"503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec"
    b" 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,"
    b"image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,"
    b"text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
    b"charset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


class StreamError(Exception):
    """A protocol or session failure."""


class StreamTimeout(StreamError, TimeoutError):
    """A wait ran out of time; .partial holds what had arrived."""

    def __init__(self, msg, partial=b""):
        super().__init__(msg)
        self.partial = partial


class UpgradeError(StreamError):
    """The server did not switch protocols."""

    def __init__(self, status, reason, headers, body):
        super().__init__("upgrade refused: %s %s: %r" % (status, reason, body[:500]))
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class StdinCloseUnsupported(StreamError):
    """The negotiated WebSocket protocol (before v5) cannot signal stdin EOF."""


def encode_header_block(headers):
    """Uncompressed SPDY/3 name/value block.  headers: dict or (name, value)
    pairs; names are lowercased, repeated names joined with NUL (SPDY allows
    each name once per block)."""
    items = headers.items() if hasattr(headers, "items") else headers
    merged = {}
    for name, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        merged.setdefault(name.lower(), []).extend(str(v) for v in values)
    out = [struct.pack(">I", len(merged))]
    for name, values in merged.items():
        n = name.encode()
        v = "\x00".join(values).encode()
        out.append(struct.pack(">I", len(n)) + n + struct.pack(">I", len(v)) + v)
    return b"".join(out)


def decode_header_block(raw):
    """Parse an uncompressed name/value block -> {name: [values]}."""
    if len(raw) < 4:
        raise StreamError("header block too short")
    (count,), pos = struct.unpack_from(">I", raw), 4
    headers = {}
    for _ in range(count):
        if pos + 4 > len(raw):
            raise StreamError("truncated header block")
        (n,) = struct.unpack_from(">I", raw, pos)
        name = raw[pos + 4:pos + 4 + n].decode("latin-1")
        pos += 4 + n
        if pos + 4 > len(raw):
            raise StreamError("truncated header block")
        (n,) = struct.unpack_from(">I", raw, pos)
        value = raw[pos + 4:pos + 4 + n].decode("latin-1")
        pos += 4 + n
        if pos > len(raw):
            raise StreamError("truncated header block")
        headers.setdefault(name, []).extend(value.split("\x00"))
    if pos != len(raw):
        raise StreamError("%d stray bytes after header block" % (len(raw) - pos))
    return headers


class Frame:
    """One SPDY frame.  type: "DATA" or the control frame's name; payload: the
    bytes after the 8-byte frame header (header blocks still compressed)."""

    __slots__ = ("type", "stream_id", "flags", "payload", "headers", "status", "ping_id",
                 "last_good_stream_id", "delta", "settings", "associated_id", "priority",
                 "version", "type_code")

    def __init__(self, type, stream_id, flags, payload, **kw):
        self.type, self.stream_id, self.flags, self.payload = type, stream_id, flags, payload
        for k in self.__slots__[4:]:
            setattr(self, k, kw.get(k))

    @property
    def fin(self):
        return bool(self.flags & FLAG_FIN)

    def header(self, name, default=None):
        v = (self.headers or {}).get(name.lower())
        return v[0] if v else default

    def __repr__(self):
        extra = ""
        if self.headers is not None:
            extra = " %r" % self.headers
        elif self.type == "DATA":
            extra = " %r" % self.payload[:64]
        elif self.status is not None:
            extra = " status=%d" % self.status
        return "<%s sid=%s flags=%#x len=%d%s>" % (self.type, self.stream_id, self.flags,
                                                   len(self.payload), extra)


class FrameParser:
    """Incremental SPDY/3 frame parser for one direction of one connection (it
    owns that direction's header decompression context)."""

    def __init__(self):
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=SPDY_DICTIONARY)

    def feed(self, data):
        """Add bytes; return the list of frames now complete."""
        self._buf += data
        out = []
        while len(self._buf) >= 8:
            w1, w2 = struct.unpack_from(">II", self._buf)
            length, flags = w2 & 0xFFFFFF, w2 >> 24
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if w1 & 0x80000000:
                out.append(self._control((w1 >> 16) & 0x7FFF, w1 & 0xFFFF, flags, payload))
            else:
                out.append(Frame("DATA", w1 & 0x7FFFFFFF, flags, payload))
        return out

    @property
    def pending(self):
        return len(self._buf)

    def _headers(self, block):
        raw = self._inflate.decompress(block)
        if self._inflate.unconsumed_tail:
            raise StreamError("header block not fully inflated")
        return decode_header_block(raw)

    def _control(self, version, code, flags, p):
        if version != SPDY_VERSION:
            raise StreamError("SPDY version %d frame" % version)
        name = TYPE_NAMES.get(code, "UNKNOWN_%d" % code)
        kw = dict(version=version, type_code=code)

        def need(n):
            if len(p) < n:
                raise StreamError("%s frame too short (%d bytes)" % (name, len(p)))

        sid = None
        if code == SYN_STREAM:
            need(10)
            sid, assoc = struct.unpack_from(">II", p)
            sid &= 0x7FFFFFFF
            kw.update(associated_id=assoc & 0x7FFFFFFF, priority=p[8] >> 5,
                      headers=self._headers(p[10:]))
        elif code in (SYN_REPLY, HEADERS):
            need(4)
            sid = struct.unpack_from(">I", p)[0] & 0x7FFFFFFF
            kw["headers"] = self._headers(p[4:])
        elif code == RST_STREAM:
            need(8)
            sid, status = struct.unpack_from(">II", p)
            sid &= 0x7FFFFFFF
            kw["status"] = status
        elif code == SETTINGS:
            need(4)
            (n,) = struct.unpack_from(">I", p)
            need(4 + 8 * n)
            settings = []
            for i in range(n):
                idf, value = struct.unpack_from(">II", p, 4 + 8 * i)
                settings.append((idf >> 24, idf & 0xFFFFFF, value))
            kw["settings"] = settings
        elif code == PING:
            need(4)
            kw["ping_id"] = struct.unpack_from(">I", p)[0]
        elif code == GOAWAY:
            need(8)
            last, status = struct.unpack_from(">II", p)
            kw.update(last_good_stream_id=last & 0x7FFFFFFF, status=status)
        elif code == WINDOW_UPDATE:
            need(8)
            sid, delta = struct.unpack_from(">II", p)
            sid &= 0x7FFFFFFF
            kw["delta"] = delta & 0x7FFFFFFF
        return Frame(name, sid, flags, p, **kw)


class FrameWriter:
    """Builds SPDY/3 frames for one direction of one connection (it owns that
    direction's header compression context: frames with header blocks must go
    on the wire in the order they were built)."""

    def __init__(self, level=zlib.Z_DEFAULT_COMPRESSION):
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         SPDY_DICTIONARY)

    def header_block(self, headers):
        raw = encode_header_block(headers)
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def control(code, flags, body):
        if len(body) > MAX_DATA:
            raise StreamError("control frame too large")
        return struct.pack(">HHI", 0x8000 | SPDY_VERSION, code, (flags << 24) | len(body)) + body

    def syn_stream(self, stream_id, headers, flags=0, priority=0, associated_id=0):
        body = struct.pack(">IIBB", stream_id & 0x7FFFFFFF, associated_id & 0x7FFFFFFF,
                           (priority & 7) << 5, 0) + self.header_block(headers)
        return self.control(SYN_STREAM, flags, body)

    def syn_reply(self, stream_id, headers, flags=0):
        return self.control(SYN_REPLY, flags, struct.pack(">I", stream_id) + self.header_block(headers))

    def headers(self, stream_id, headers, flags=0):
        return self.control(HEADERS, flags, struct.pack(">I", stream_id) + self.header_block(headers))

    def rst_stream(self, stream_id, status):
        return self.control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def settings(self, entries, flags=0):
        body = struct.pack(">I", len(entries)) + b"".join(
            struct.pack(">II", (f << 24) | i, v) for f, i, v in entries)
        return self.control(SETTINGS, flags, body)

    def ping(self, ping_id):
        return self.control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_good_stream_id=0, status=0):
        return self.control(GOAWAY, 0, struct.pack(">II", last_good_stream_id, status))

    def window_update(self, stream_id, delta):
        return self.control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta))

    @staticmethod
    def data(stream_id, data=b"", flags=0):
        if len(data) > MAX_DATA:
            raise StreamError("data frame too large")
        return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + bytes(data)


def parse_http_head(buf):
    """(status, reason, [(name, value)], rest) from bytes holding a complete
    HTTP/1.1 response head; None when the head is not complete yet."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise StreamError("bad HTTP status line %r" % lines[0])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, bytes(buf[end + 4:])


def _header(headers, name, default=None):
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return default


# --------------------------------------------------------------------------
# SPDY session state (no I/O: used live by SpdyConnection and offline by
# decode_spdy_remotecommand)

class SpdyStream:
    def __init__(self, conn, session, stream_id, headers):
        self.conn = conn                # SpdyConnection (None offline)
        self.session = session          # SpdySessionState
        self.id = stream_id
        self.headers = headers          # what we sent, {name: value}
        self.replied = False
        self.reply_headers = None
        self.data = bytearray()         # everything received
        self.read_pos = 0               # for recv()
        self.fin = False                # remote FIN
        self.rst = None                 # RST_STREAM status, from either side
        self.local_fin = False

    @property
    def type(self):
        return self.headers.get("streamtype")

    @property
    def ended(self):
        """No more data will come from the peer."""
        return self.fin or self.rst is not None or self.session.eof

    # I/O through the owning connection
    def write(self, data):
        self.conn.send_data(self, data)

    def close_write(self):
        self.conn.send_data(self, b"", fin=True)

    def reset(self, status=CANCEL):
        self.conn.reset_stream(self, status)

    def __repr__(self):
        return "<SpdyStream %d %s replied=%s fin=%s rst=%s len=%d>" % (
            self.id, self.type, self.replied, self.fin, self.rst, len(self.data))


class SpdySessionState:
    """Frame handling of the client side of a SPDY/3.1 session: which streams
    exist, what each got.  handle() returns the frames to send in answer
    (PING echoes, refusals of server-pushed streams) as (kind, args) tuples."""

    def __init__(self, conn=None):
        self.conn = conn
        self.streams = {}
        self.frames = []
        self.goaway = None
        self.eof = False
        self.eof_error = None
        self.pongs = set()

    def add_local_stream(self, stream_id, headers):
        st = SpdyStream(self.conn, self, stream_id, {k.lower(): v for k, v in dict(headers).items()})
        self.streams[stream_id] = st
        return st

    def handle(self, f):
        self.frames.append(f)
        replies = []
        st = self.streams.get(f.stream_id) if f.stream_id is not None else None
        if f.type == "DATA":
            if st is not None:
                st.data += f.payload
                if f.fin:
                    st.fin = True
        elif f.type == "SYN_REPLY":
            if st is not None:
                st.replied = True
                st.reply_headers = f.headers
                if f.fin:
                    st.fin = True
        elif f.type == "HEADERS":
            if st is not None:
                for k, v in f.headers.items():
                    (st.reply_headers or {}).setdefault(k, []).extend(v)
                if f.fin:
                    st.fin = True
        elif f.type == "RST_STREAM":
            if st is not None:
                st.rst = f.status
        elif f.type == "SYN_STREAM":
            # servers do not push streams in these protocols: refuse
            replies.append(("rst_stream", (f.stream_id, REFUSED_STREAM)))
        elif f.type == "PING":
            if f.ping_id % 2 == 0:      # server-initiated (even): echo it
                replies.append(("ping", (f.ping_id,)))
            else:                       # answer to one of ours
                self.pongs.add(f.ping_id)
        elif f.type == "GOAWAY":
            self.goaway = (f.last_good_stream_id, f.status)
        # SETTINGS, WINDOW_UPDATE: recorded, no flow control here
        return replies

    def by_type(self, stream_type):
        for st in self.streams.values():
            if st.type == stream_type:
                return st
        return None


# --------------------------------------------------------------------------
# TLS (https:// URLs)

def tls_context(cafile=None, certfile=None, keyfile=None):
    """A client SSLContext that verifies the server (certificate chain and host
    name or IP address): against cafile, or the system's trust store; with
    certfile, a client certificate."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


class TlsSocket:
    """A TLS connection that a reader thread and writer threads can share.
    OpenSSL does not allow two threads in one SSL object at once, so every TLS
    call runs non-blocking under a lock and the waiting (select, honouring the
    socket timeout) is done outside it.  The handshake happens here; its
    failures (ssl.SSLCertVerificationError, ...) propagate."""

    def __init__(self, raw, ssl_context, hostname, timeout):
        self._lock = threading.Lock()
        self._timeout = timeout
        raw.settimeout(timeout)
        self._ssl = ssl_context.wrap_socket(raw, server_hostname=hostname)
        self._ssl.setblocking(False)

    def fileno(self):
        return self._ssl.fileno()

    def gettimeout(self):
        return self._timeout

    def settimeout(self, timeout):
        self._timeout = timeout

    def pending(self):
        with self._lock:
            return self._ssl.pending()

    def version(self):
        return self._ssl.version()

    def _call(self, fn, *args):
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            with self._lock:
                try:
                    return fn(*args)
                except ssl.SSLWantReadError:
                    rd, wr = [self], []
                except ssl.SSLWantWriteError:
                    rd, wr = [], [self]
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise socket.timeout("timed out")
            r, w, _ = select.select(rd, wr, [], left)
            if not r and not w:
                raise socket.timeout("timed out")

    def recv(self, n, flags=0):
        return self._call(self._ssl.recv, n)

    def send(self, data, flags=0):
        # one record at a time; after SSLWantWriteError the same bytes again
        return self._call(self._ssl.send, memoryview(data)[:16384])

    def sendall(self, data, flags=0):
        view = memoryview(bytes(data))
        while view:
            view = view[self.send(view):]

    def shutdown(self, how):
        # TCP only (SSLSocket.shutdown would also drop the TLS state under a reader)
        socket.socket.shutdown(self._ssl, how)

    def close(self):
        self._ssl.close()


def _connect(u, timeout, ssl_context=None):
    """A TCP connection to the host of u (urlsplit result), with TLS for
    https/wss: verified with ssl_context, ssl.create_default_context() when None."""
    tls = u.scheme in ("https", "wss")
    raw = socket.create_connection((u.hostname, u.port or (443 if tls else 80)), timeout=timeout)
    # As client-go: small frames go out at once, not after a delayed ACK (~40 ms).
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not tls:
        return raw
    try:
        return TlsSocket(raw, ssl_context or ssl.create_default_context(), u.hostname, timeout)
    except BaseException:
        raw.close()
        raise


# --------------------------------------------------------------------------
# SPDY connection (HTTP/1.1 upgrade + reader thread)

class SpdyConnection:
    """A client SPDY/3.1 connection made by an HTTP/1.1 upgrade of url."""

    def __init__(self, url, protocols, timeout=30, extra_headers=(), ssl_context=None):
        self.timeout = timeout
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise StreamError("only http:// and https:// URLs are supported, not %r" % url)
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.cond = threading.Condition()
        self.wlock = threading.Lock()
        self.state = SpdySessionState(self)
        self.frames = self.state.frames
        self.parser = FrameParser()
        self.writer = FrameWriter()
        self.raw_in = bytearray()     # every byte the server sent (HTTP head included)
        self.raw_out = bytearray()    # every byte we sent
        self.next_id = 1
        self.next_ping = 1
        self._closed = False
        self._thread = None
        self.sock = _connect(u, timeout, ssl_context)
        try:
            lines = ["POST %s HTTP/1.1" % path, "Host: %s" % u.netloc,
                     "User-Agent: pxcri-kube-stream/1", "Content-Length: 0",
                     "Connection: Upgrade", "Upgrade: SPDY/3.1"]
            lines += ["X-Stream-Protocol-Version: %s" % p for p in protocols]
            lines += ["%s: %s" % kv for kv in extra_headers]
            self._sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            status, reason, headers, rest = self._read_head()
            self.response_headers = headers
            if status != 101:
                raise UpgradeError(status, reason, headers, self._read_body(headers, rest))
            self.protocol = _header(headers, "X-Stream-Protocol-Version", "")
            self._thread = threading.Thread(target=self._reader, args=(rest,),
                                            name="spdy-reader", daemon=True)
            self._thread.start()
        except BaseException:
            self.sock.close()
            raise

    # -- HTTP part
    def _read_head(self):
        deadline = time.monotonic() + self.timeout
        buf = bytearray()
        while True:
            head = parse_http_head(buf)
            if head:
                return head
            if len(buf) > 65536:
                raise StreamError("HTTP response head too large")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                raise StreamTimeout("no HTTP response in %ss" % self.timeout, bytes(buf))
            if not d:
                raise StreamError("connection closed before the HTTP response: %r" % bytes(buf))
            buf += d
            self.raw_in += d

    def _read_body(self, headers, rest):
        body = bytearray(rest)
        want = _header(headers, "Content-Length")
        deadline = time.monotonic() + min(self.timeout, 5)
        while (want is None or len(body) < int(want)) and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, OSError):
                break
            if not d:
                break
            body += d
            self.raw_in += d
        return bytes(body)

    # -- frames in
    def _reader(self, rest):
        try:
            if rest:
                self._dispatch(rest)
            while not self._closed:
                try:
                    # TLS: a record may already be read and decrypted in part
                    r = self.sock.pending() if isinstance(self.sock, TlsSocket) else 0
                    r = r or select.select([self.sock], [], [], 0.2)[0]
                except (OSError, ValueError):
                    break
                if not r:
                    continue
                try:
                    d = self.sock.recv(65536)
                except (socket.timeout, BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    self._set_eof(e)
                    return
                if not d:
                    break
                self.raw_in += d
                self._dispatch(d)
        except Exception as e:  # protocol error: the session is over
            self._set_eof(e)
            return
        self._set_eof(None)

    def _dispatch(self, data):
        for f in self.parser.feed(data):
            with self.cond:
                replies = self.state.handle(f)
                self.cond.notify_all()
            for kind, args in replies:
                try:
                    self._send_frame(lambda w, k=kind, a=args: getattr(w, k)(*a))
                except (OSError, StreamError):
                    pass

    def _set_eof(self, err):
        with self.cond:
            if not self.state.eof:
                self.state.eof = True
                self.state.eof_error = err
            self.cond.notify_all()

    # -- frames out
    def _sendall(self, data):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)
        self.raw_out += data

    def _send_frame(self, build):
        with self.wlock:
            if self._closed and self.sock.fileno() < 0:
                raise StreamError("connection closed")
            self._sendall(build(self.writer))

    def create_stream(self, headers, timeout=None, fin=False):
        """Send SYN_STREAM (next odd id) and wait for its SYN_REPLY."""
        with self.wlock:
            if self.state.eof or self.state.goaway:
                raise StreamError("connection is going away: eof=%s goaway=%s" % (
                    self.state.eof, self.state.goaway))
            sid = self.next_id
            self.next_id += 2
            with self.cond:
                st = self.state.add_local_stream(sid, headers)
            self._sendall(self.writer.syn_stream(sid, headers, flags=FLAG_FIN if fin else 0))
            st.local_fin = fin
        if not self.wait_for(lambda: st.replied or st.rst is not None or self.state.eof, timeout):
            raise StreamTimeout("no SYN_REPLY for stream %d (%s) in %ss" % (
                sid, dict(headers), timeout or self.timeout))
        if not st.replied:
            raise StreamError("stream %d (%s) refused: rst=%s eof=%s %s" % (
                sid, dict(headers), RST_NAMES.get(st.rst, st.rst), self.state.eof,
                self.state.eof_error or ""))
        return st

    def send_data(self, st, data, fin=False):
        if st.local_fin:
            raise StreamError("stream %d already half-closed" % st.id)
        data = bytes(data)
        chunks = [data[i:i + DATA_CHUNK] for i in range(0, len(data), DATA_CHUNK)] or [b""]
        for i, c in enumerate(chunks):
            last = i == len(chunks) - 1
            self._send_frame(lambda w, c=c, f=(FLAG_FIN if fin and last else 0): w.data(st.id, c, f))
        if fin:
            st.local_fin = True

    def reset_stream(self, st, status=CANCEL):
        if st.rst is None:
            st.rst = status
            st.local_fin = True
            self._send_frame(lambda w: w.rst_stream(st.id, status))

    def ping(self, timeout=None):
        """Send a PING and wait for its echo; returns the round trip in seconds."""
        with self.wlock:
            pid = self.next_ping
            self.next_ping += 2
            t0 = time.monotonic()
            self._sendall(self.writer.ping(pid))
        if not self.wait_for(lambda: pid in self.state.pongs or self.state.eof, timeout):
            raise StreamTimeout("no PING reply")
        if pid not in self.state.pongs:
            raise StreamError("connection ended before the PING reply")
        return time.monotonic() - t0

    def wait_for(self, pred, timeout=None):
        """Wait (on frame arrival) until pred() holds; False on timeout."""
        timeout = self.timeout if timeout is None else timeout
        with self.cond:
            return self.cond.wait_for(pred, timeout)

    @property
    def eof(self):
        return self.state.eof

    def close(self):
        """Reset the streams not fully closed and send GOAWAY (as client-go's
        Close does) unless the server already went away; close the socket and
        end the reader thread."""
        if self._closed:
            return
        if not self.state.eof and not self.state.goaway:
            try:
                for st in list(self.state.streams.values()):
                    if st.rst is None and not (st.ended and st.local_fin):
                        self.reset_stream(st, CANCEL)
                self._send_frame(lambda w: w.goaway(0, 0))
            except (OSError, StreamError):
                pass
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self.sock.close()
        self._set_eof(None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# remotecommand (exec / attach)

class StreamResult:
    """What a remotecommand session produced."""

    def __init__(self, stdout, stderr, protocol, error_bytes, error_ended=True, empty_is_success=None):
        self.stdout = bytes(stdout)
        self.stderr = bytes(stderr)
        self.protocol = protocol
        self.error_bytes = bytes(error_bytes)
        self.error_text = self.error_bytes.decode("utf-8", "replace")
        self.status = None
        self.exit_code = None
        version = _remotecommand_version(protocol)
        if version >= 4 and self.error_bytes.strip():
            try:
                self.status = json.loads(self.error_bytes)
            except ValueError:
                raise StreamError("error stream is not a JSON Status: %r" % self.error_bytes)
            self.exit_code = status_exit_code(self.status)
        elif version < 4 and error_ended and not self.error_bytes:
            # before v4 success is an empty error stream, a failure its plain
            # text.  But SPDY v1 (channel.k8s.io) servers reset the error
            # stream as soon as the streams are set up: nothing is known there.
            if empty_is_success if empty_is_success is not None else version >= 2:
                self.exit_code = 0

    def __repr__(self):
        return "StreamResult(protocol=%r, exit_code=%r, stdout=%r, stderr=%r, error=%r)" % (
            self.protocol, self.exit_code, self.stdout[:200], self.stderr[:200], self.error_text[:300])


def status_exit_code(status):
    """metav1.Status -> 0 (Success), the ExitCode cause (NonZeroExitCode), else None."""
    if not isinstance(status, dict):
        return None
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode" or cause.get("type") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    return None
    return None


class _RemoteCommandBase:
    """Shared waiting logic; subclasses provide _out(name), _ended(name), _all_done()."""

    timeout = 30

    @property
    def stdout(self):
        return self._out("stdout")

    @property
    def stderr(self):
        return self._out("stderr")

    @property
    def error_bytes(self):
        return self._out("error")

    def read_until(self, substring, timeout=None, stream="stdout"):
        """Wait until `substring` shows in stdout (or `stream`); return all of
        that stream so far.  Raises StreamTimeout on timeout, StreamError when
        the session ends without it."""
        timeout = self.timeout if timeout is None else timeout
        ok = self._wait(lambda: substring in self._out(stream) or self._session_over(), timeout)
        got = self._out(stream)
        if substring in got:
            return got
        if ok:
            raise StreamError("session ended before %r showed on %s: %r (error %r)" % (
                substring, stream, got[-500:], self.error_bytes[-500:]))
        raise StreamTimeout("%r did not show on %s in %ss; got %r" % (substring, stream, timeout,
                                                                     got[-500:]), got)

    def wait(self, timeout=None):
        """Wait for the session's end (error stream and output streams done);
        return the StreamResult."""
        timeout = self.timeout if timeout is None else timeout
        if not self._wait(self._all_done, timeout):
            raise StreamTimeout("session not over in %ss: stdout %r stderr %r error %r" % (
                timeout, self.stdout[-300:], self.stderr[-300:], self.error_bytes[-300:]), self.stdout)
        return self.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SpdyRemoteCommand(_RemoteCommandBase):
    """An exec or attach session over SPDY/3.1, like client-go's remotecommand
    executor."""

    def __init__(self, url, *, stdin=False, stdout=True, stderr=True, tty=False,
                 protocols=REMOTECOMMAND_PROTOCOLS, timeout=30, ssl_context=None):
        self.timeout = timeout
        self.tty = tty
        self.conn = SpdyConnection(url, protocols, timeout, ssl_context=ssl_context)
        self.protocol = self.conn.protocol
        self.frames = self.conn.frames
        self.version = _remotecommand_version(self.protocol)
        self.streams = {}
        try:
            wanted = ["error"]
            if stdin:
                wanted.append("stdin")
            if stdout:
                wanted.append("stdout")
            if stderr and not tty:
                wanted.append("stderr")
            if tty and self.version >= 3:
                wanted.append("resize")
            for t in wanted:
                self.streams[t] = self.conn.create_stream([("streamtype", t)], timeout)
        except BaseException:
            self.conn.close()
            raise

    def _out(self, name):
        st = self.streams.get(name)
        return bytes(st.data) if st is not None else b""

    def _wait(self, pred, timeout):
        return self.conn.wait_for(pred, timeout)

    def _session_over(self):
        return self.conn.eof or self._all_done()

    def _all_done(self):
        return all(self.streams[t].ended for t in ("error", "stdout", "stderr") if t in self.streams)

    def send_stdin(self, data):
        st = self.streams.get("stdin")
        if st is None:
            raise StreamError("no stdin stream (stdin=False)")
        st.write(data)

    def close_stdin(self):
        """DATA with FIN on the stdin stream (EOF for the process)."""
        st = self.streams.get("stdin")
        if st is None:
            raise StreamError("no stdin stream (stdin=False)")
        if not st.local_fin:
            st.close_write()
        return True

    def resize(self, width, height):
        st = self.streams.get("resize")
        if st is None:
            raise StreamError("no resize stream (needs tty and protocol v3+; have %r)" % self.protocol)
        st.write(json.dumps({"Width": int(width), "Height": int(height)}).encode() + b"\n")

    def result(self):
        err = self.streams["error"]
        return StreamResult(self.stdout, self.stderr, self.protocol, err.data, err.ended)

    def close(self):
        self.conn.close()


def _remotecommand_version(protocol):
    for v in (5, 4, 3, 2):
        if protocol.startswith("v%d." % v):
            return v
    return 1


def spdy_exec(url, *, stdin=None, stdout=True, stderr=True, tty=False, resize=None,
              protocols=REMOTECOMMAND_PROTOCOLS, timeout=30, ssl_context=None):
    """Run a whole exec/attach session: optional resize, stdin sent then
    closed, wait for the end.  Returns a StreamResult."""
    return _whole_session(SpdyRemoteCommand(url, stdin=stdin is not None, stdout=stdout, stderr=stderr, tty=tty,
                                            protocols=protocols, timeout=timeout, ssl_context=ssl_context),
                          stdin, resize, timeout)


def _whole_session(rc, stdin, resize, timeout):
    """Optional resize, stdin sent then closed (where the protocol can), the
    end waited for; the session closed whatever happens."""
    try:
        if resize:
            rc.resize(*resize)
        if stdin is not None:
            if stdin:
                rc.send_stdin(stdin)
            if getattr(rc, "can_close_stdin", True):
                rc.close_stdin()
        return rc.wait(timeout)
    finally:
        rc.close()


def _switched(server_bytes):
    """The headers and what follows of a captured 101 answer; StreamError or
    UpgradeError otherwise."""
    head = parse_http_head(server_bytes)
    if head is None:
        raise StreamError("no HTTP response head in the server bytes")
    status, reason, headers, rest = head
    if status != 101:
        raise UpgradeError(status, reason, headers, rest)
    return headers, rest


def decode_spdy_remotecommand(client_bytes, server_bytes):
    """Offline: decode a captured SPDY exec/attach session (both directions,
    HTTP heads included) into a StreamResult, with the same frame parser and
    session state as the live client.  Returns (result, client_frames,
    server_frames)."""
    req_end = client_bytes.find(b"\r\n\r\n")
    if req_end < 0:
        raise StreamError("no HTTP request head in the client bytes")
    headers, rest = _switched(server_bytes)
    protocol = _header(headers, "X-Stream-Protocol-Version", "")
    state = SpdySessionState()
    client_frames = FrameParser().feed(client_bytes[req_end + 4:])
    for f in client_frames:
        if f.type == "SYN_STREAM":
            state.add_local_stream(f.stream_id, {k: v[0] for k, v in f.headers.items()})
    parser = FrameParser()
    server_frames = parser.feed(rest)
    if parser.pending:
        raise StreamError("%d bytes of an incomplete frame at the end" % parser.pending)
    for f in server_frames:
        state.handle(f)
    state.eof = True
    out = {t: (state.by_type(t).data if state.by_type(t) else b"") for t in ("stdout", "stderr", "error")}
    err = state.by_type("error")
    ended = err is not None and (err.fin or err.rst is not None)
    return (StreamResult(out["stdout"], out["stderr"], protocol, out["error"], ended),
            client_frames, server_frames)


# --------------------------------------------------------------------------
# SPDY port-forward

class SpdyPortForwardPair:
    """One forwarded connection: a data stream and an error stream."""

    def __init__(self, pf, port, request_id, data, error):
        self.pf, self.port, self.request_id = pf, port, request_id
        self.data_stream, self.error_stream = data, error

    def send(self, data):
        self.data_stream.write(data)

    def close_write(self):
        if not self.data_stream.local_fin:
            self.data_stream.close_write()

    def recv(self, timeout=None):
        """Data that arrived since the last recv (waits for some); b"" once the
        server closed the data stream.  StreamTimeout when nothing came."""
        st = self.data_stream
        if not self.pf.conn.wait_for(lambda: len(st.data) > st.read_pos or st.ended, timeout):
            raise StreamTimeout("no data from port %d" % self.port)
        with self.pf.conn.cond:
            out = bytes(st.data[st.read_pos:])
            st.read_pos = len(st.data)
        return out

    def read_all(self, timeout=None):
        """Wait until the server ends the data stream (FIN/RST) or the timeout;
        return everything not yet recv()d, no exception on timeout."""
        st = self.data_stream
        self.pf.conn.wait_for(lambda: st.ended, timeout)
        with self.pf.conn.cond:
            out = bytes(st.data[st.read_pos:])
            st.read_pos = len(st.data)
        return out

    @property
    def ended(self):
        return self.data_stream.ended

    @property
    def error(self):
        return bytes(self.error_stream.data)

    def wait_error(self, timeout=None):
        """Wait for the server to end the error stream; return its content."""
        self.pf.conn.wait_for(lambda: self.error_stream.ended, timeout)
        return self.error

    def close(self):
        """Half-close our side and reset whatever the server has not ended."""
        try:
            if not self.data_stream.local_fin and not self.data_stream.ended:
                self.data_stream.close_write()
            for st in (self.data_stream, self.error_stream):
                if not st.ended:
                    st.reset(CANCEL)
        except (OSError, StreamError):
            pass


class SpdyPortForward:
    """A port-forward session (portforward.k8s.io) over SPDY/3.1."""

    def __init__(self, url, timeout=30, ssl_context=None):
        self.timeout = timeout
        self.conn = SpdyConnection(url, [PORTFORWARD_PROTOCOL], timeout, ssl_context=ssl_context)
        self.protocol = self.conn.protocol
        self.frames = self.conn.frames
        self._request_id = 0
        self._lock = threading.Lock()

    def open(self, port, timeout=None):
        """Create the error then the data stream of a new request id (as
        client-go does); our side of the error stream is closed at once."""
        with self._lock:
            rid = self._request_id
            self._request_id += 1
        base = [("port", str(port)), ("requestid", str(rid))]
        err = self.conn.create_stream([("streamtype", "error")] + base, timeout)
        err.close_write()
        data = self.conn.create_stream([("streamtype", "data")] + base, timeout)
        return SpdyPortForwardPair(self, port, rid, data, err)

    def request(self, port, payload, read_until_close=True, timeout=None, half_close=False):
        """Open a pair, send payload, read the answer until the server closes
        the data stream (or the timeout; with read_until_close=False until the
        first data).  half_close: FIN our side of the data stream after the
        payload (containerd otherwise waits 1 s for that direction to end
        once the pod closed its side).  Returns (data, error stream content)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        pair = self.open(port, timeout)
        try:
            if payload:
                pair.send(payload)
            if half_close:
                pair.close_write()
            if read_until_close:
                data = pair.read_all(timeout)
            else:
                try:
                    data = pair.recv(timeout)
                except StreamTimeout:
                    data = b""
            error = pair.wait_error(max(0.0, min(2.0, deadline - time.monotonic())))
            return data, error
        finally:
            pair.close()

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# WebSocket

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CHANNEL_NAMES = {STDIN: "stdin", STDOUT: "stdout", STDERR: "stderr", ERROR: "error", RESIZE: "resize"}
CLOSE_SIGNAL = 255       # v5: message [255, channel] closes that channel


def ws_url(url):
    u = urllib.parse.urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}[u.scheme]
    return urllib.parse.urlunsplit((scheme,) + tuple(u[1:]))


class _RecordingSocket:
    """A socket proxy keeping every byte received and sent."""

    def __init__(self, sock):
        self._sock = sock
        self.raw_in = bytearray()
        self.raw_out = bytearray()

    def recv(self, n, *a):
        d = self._sock.recv(n, *a)
        self.raw_in += d
        return d

    def send(self, data, *a):
        n = self._sock.send(data, *a)
        self.raw_out += bytes(data[:n])
        return n

    def sendall(self, data, *a):
        self._sock.sendall(data, *a)
        self.raw_out += bytes(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class WsFrameParser:
    """RFC 6455 frame parser for captured bytes (offline); joins fragmented
    messages.  feed() -> [(opcode, payload)] of complete messages and control
    frames."""

    def __init__(self):
        self._buf = bytearray()
        self._frag_op = None
        self._frag = bytearray()

    def feed(self, data):
        self._buf += data
        out = []
        while True:
            b = self._buf
            if len(b) < 2:
                break
            fin, op, masked, n = b[0] & 0x80, b[0] & 0x0F, b[1] & 0x80, b[1] & 0x7F
            pos = 2
            if n == 126:
                if len(b) < 4:
                    break
                n, pos = struct.unpack_from(">H", b, 2)[0], 4
            elif n == 127:
                if len(b) < 10:
                    break
                n, pos = struct.unpack_from(">Q", b, 2)[0], 10
            mask = None
            if masked:
                if len(b) < pos + 4:
                    break
                mask, pos = bytes(b[pos:pos + 4]), pos + 4
            if len(b) < pos + n:
                break
            payload = bytes(b[pos:pos + n])
            del b[:pos + n]
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            if op >= 8:
                out.append((op, payload))
            elif op == 0:
                self._frag += payload
                if fin:
                    out.append((self._frag_op, bytes(self._frag)))
                    self._frag_op, self._frag = None, bytearray()
            elif fin:
                out.append((op, payload))
            else:
                self._frag_op, self._frag = op, bytearray(payload)
        return out

    @property
    def pending(self):
        return len(self._buf)


class _WsConnection:
    """python3-websocket connection + reader thread; on_message(opcode, data)
    is called under self.cond for every data message."""

    def __init__(self, url, protocols, timeout, on_message, headers=(), ssl_context=None):
        self.timeout = timeout
        self.cond = threading.Condition()
        self.frames = []            # (opcode, payload) of every frame/message received
        self.closed = False         # the server's close frame or EOF seen
        self.close_code = None
        self.eof_error = None
        self._stop = False
        self._on_message = on_message
        if websocket is None:
            raise StreamError("python3-websocket is not installed")
        raw = _connect(urllib.parse.urlsplit(url), timeout, ssl_context)
        self.sock = _RecordingSocket(raw)
        try:
            # our own socket: no proxy lookup from the environment, and TLS
            # by _connect (python3-websocket's sslopt does not apply)
            self.ws = websocket.create_connection(ws_url(url), subprotocols=list(protocols),
                                                  header=list(headers), socket=self.sock,
                                                  timeout=timeout)
        except websocket.WebSocketBadStatusException as e:
            raw.close()
            head = parse_http_head(self.sock.raw_in) or (e.status_code, "", [], b"")
            raise UpgradeError(e.status_code, head[1], list((e.resp_headers or {}).items()),
                               head[3]) from e
        except BaseException:
            raw.close()
            raise
        self.protocol = self.ws.getsubprotocol() or ""
        self._thread = threading.Thread(target=self._reader, name="ws-reader", daemon=True)
        self._thread.start()

    @property
    def raw_in(self):
        return self.sock.raw_in

    def _reader(self):
        err = None
        while not self._stop:
            try:
                op, frame = self.ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                continue
            except Exception as e:  # closed connection, protocol error
                err = e
                break
            data = frame.data if frame is not None else b""
            if isinstance(data, str):
                data = data.encode()
            with self.cond:
                self.frames.append((op, data))
                if op == OP_CLOSE:
                    self.close_code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else None
                    self.closed = True
                elif op in (OP_BINARY, OP_TEXT):
                    try:
                        self._on_message(op, data)
                    except StreamError as e:
                        self.eof_error = e
                self.cond.notify_all()
            if op == OP_CLOSE:
                break
        with self.cond:
            self.closed = True
            if self.eof_error is None and not self._stop and not isinstance(
                    err, websocket.WebSocketConnectionClosedException):
                self.eof_error = err
            self.cond.notify_all()

    def send(self, channel, payload):
        if self.closed:
            raise StreamError("WebSocket closed")
        data, opcode = ws_encode(self.protocol, channel, payload)
        self.ws.send(data, opcode=opcode)

    def send_raw(self, data, opcode=OP_BINARY):
        if self.closed:
            raise StreamError("WebSocket closed")
        self.ws.send(bytes(data), opcode=opcode)

    def wait_for(self, pred, timeout=None):
        timeout = self.timeout if timeout is None else timeout
        with self.cond:
            return self.cond.wait_for(pred, timeout)

    def close(self):
        if self._stop:
            return
        self._stop = True
        if not self.closed:
            try:
                self.ws.send_close()
            except Exception:
                pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(10)
        try:
            self.ws.shutdown()
        except Exception:
            pass
        self.sock.close()
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def ws_decode(protocol, data):
    """(channel, payload) of a channel-protocol message; None for an empty one.
    *base64.channel.k8s.io: the channel is an ASCII digit, the payload base64."""
    if not data:
        return None
    if "base64" in protocol:
        return data[0] - ord("0"), base64.b64decode(data[1:])
    return data[0], data[1:]


def ws_encode(protocol, channel, payload):
    if "base64" in protocol:
        return bytes([ord("0") + channel]) + base64.b64encode(payload), OP_TEXT
    return bytes([channel]) + bytes(payload), OP_BINARY


class _WsChannelState:
    """Demultiplexing of remotecommand channel messages (live and offline)."""

    def __init__(self, protocol=""):
        self.protocol = protocol
        self.out = {name: bytearray() for name in CHANNEL_NAMES.values()}
        self.messages = []          # (channel, payload)

    def on_message(self, op, data):
        m = ws_decode(self.protocol, data)
        if m is None:
            return
        ch, payload = m
        self.messages.append((ch, payload))
        name = CHANNEL_NAMES.get(ch)
        if name is not None:
            self.out[name] += payload


class WsRemoteCommand(_RemoteCommandBase):
    """An exec or attach session over WebSocket (v5/v4.channel.k8s.io).
    The stdin/stdout/stderr/tty options only decide what this client does: a
    CRI streaming server takes them from the CRI request behind the URL, so no
    query parameters are added."""

    def __init__(self, url, *, stdin=False, stdout=True, stderr=True, tty=False,
                 protocols=WS_REMOTECOMMAND_PROTOCOLS, timeout=30, ssl_context=None):
        self.timeout = timeout
        self.opts = dict(stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
        self.chan = _WsChannelState()
        self.conn = _WsConnection(url, protocols, timeout, self.chan.on_message, ssl_context=ssl_context)
        self.protocol = self.chan.protocol = self.conn.protocol
        self.frames = self.conn.frames
        self.version = _remotecommand_version(self.protocol)
        self._stdin_closed = False

    @property
    def can_close_stdin(self):
        return self.version >= 5

    def _out(self, name):
        with self.conn.cond:
            return bytes(self.chan.out[name])

    def _wait(self, pred, timeout):
        return self.conn.wait_for(pred, timeout)

    def _session_over(self):
        return self.conn.closed

    def _all_done(self):
        return self.conn.closed

    def send_stdin(self, data):
        if not self.opts["stdin"]:
            raise StreamError("stdin=False")
        if self._stdin_closed:
            raise StreamError("stdin already closed")
        self.conn.send(STDIN, data)

    def close_stdin(self):
        """v5: the CLOSE signal for channel 0.  v4 and older have none: raises
        StdinCloseUnsupported (the process only sees EOF when the session ends)."""
        if not self.can_close_stdin:
            raise StdinCloseUnsupported("%r cannot close stdin (only v5.channel.k8s.io can)" % self.protocol)
        if not self._stdin_closed:
            self.conn.send_raw(bytes([CLOSE_SIGNAL, STDIN]))
            self._stdin_closed = True
        return True

    def resize(self, width, height):
        self.conn.send(RESIZE, json.dumps({"Width": int(width), "Height": int(height)}).encode())

    def result(self):
        return StreamResult(self.stdout, self.stderr, self.protocol, self.error_bytes, self.conn.closed,
                            empty_is_success=True)

    def close(self):
        self.conn.close()


def ws_exec(url, *, stdin=None, stdout=True, stderr=True, tty=False, resize=None,
            protocols=WS_REMOTECOMMAND_PROTOCOLS, timeout=30, ssl_context=None):
    """Run a whole exec/attach session over WebSocket.  stdin is sent, then
    closed when the protocol can (v5); on v4 the process gets no EOF."""
    return _whole_session(WsRemoteCommand(url, stdin=stdin is not None, stdout=stdout, stderr=stderr, tty=tty,
                                          protocols=protocols, timeout=timeout, ssl_context=ssl_context),
                          stdin, resize, timeout)


def decode_ws_remotecommand(server_bytes):
    """Offline: decode the bytes a server sent on a WebSocket exec/attach
    connection (HTTP 101 head included).  Returns (result, messages) with
    messages the (opcode, payload) list."""
    headers, rest = _switched(server_bytes)
    protocol = _header(headers, "Sec-WebSocket-Protocol", "")
    parser = WsFrameParser()
    messages = parser.feed(rest)
    if parser.pending:
        raise StreamError("%d bytes of an incomplete frame at the end" % parser.pending)
    chan = _WsChannelState(protocol)
    closed = False
    for op, data in messages:
        if op in (OP_TEXT, OP_BINARY):
            chan.on_message(op, data)
        elif op == OP_CLOSE:
            closed = True
    return (StreamResult(chan.out["stdout"], chan.out["stderr"], protocol, chan.out["error"], closed,
                         empty_is_success=True), messages)


class WsPortForward:
    """Port-forward over WebSocket (v4.channel.k8s.io): channel 2i carries the
    data and 2i+1 the errors of ports[i]; the server's first message on each
    channel is the port, uint16 little endian (checked and stripped).  A CRI
    server takes the ports from the CRI request, so they must match it."""

    def __init__(self, url, ports, protocol="v4.channel.k8s.io", timeout=30, ssl_context=None):
        self.timeout = timeout
        self.ports = [int(p) for p in ports]
        n = len(self.ports)
        self.data = [bytearray() for _ in range(n)]
        self.err = [bytearray() for _ in range(n)]
        self.read_pos = [0] * n
        self.port_seen = [[False, False] for _ in range(n)]
        self._protocol = protocol
        self.conn = _WsConnection(url, [protocol], timeout, self._on_message, ssl_context=ssl_context)
        self.protocol = self.conn.protocol
        self.frames = self.conn.frames

    def _on_message(self, op, data):
        m = ws_decode(self.conn.protocol if hasattr(self, "conn") else self._protocol, data)
        if m is None:
            return
        ch, payload = m
        i, is_err = divmod(ch, 2)
        if i >= len(self.ports):
            raise StreamError("message on channel %d: only %d ports" % (ch, len(self.ports)))
        if not self.port_seen[i][is_err]:
            if len(payload) < 2:
                raise StreamError("first message on channel %d too short: %r" % (ch, payload))
            port = struct.unpack("<H", payload[:2])[0]
            if port != self.ports[i]:
                raise StreamError("channel %d announces port %d, expected %d" % (ch, port, self.ports[i]))
            self.port_seen[i][is_err] = True
            payload = payload[2:]
        (self.err if is_err else self.data)[i] += payload

    def _check(self):
        if isinstance(self.conn.eof_error, StreamError):
            raise self.conn.eof_error

    def wait_ports(self, timeout=None):
        """Wait for the port announcement on every channel."""
        ok = self.conn.wait_for(lambda: all(a and b for a, b in self.port_seen) or self.conn.closed, timeout)
        self._check()
        if not all(a and b for a, b in self.port_seen):
            raise StreamTimeout("port announcements missing: %r" % self.port_seen) if not ok else \
                StreamError("connection closed before the port announcements")

    def send(self, i, data):
        self.conn.send(2 * i, data)

    def recv(self, i, timeout=None):
        """New data of port i (waits for some); b"" once the connection closed."""
        if not self.conn.wait_for(lambda: len(self.data[i]) > self.read_pos[i] or self.conn.closed, timeout):
            raise StreamTimeout("no data for port %d" % self.ports[i])
        self._check()
        with self.conn.cond:
            out = bytes(self.data[i][self.read_pos[i]:])
            self.read_pos[i] = len(self.data[i])
        return out

    def read_all(self, i, timeout=None):
        """Wait for the connection's end (or the timeout); return the data of
        port i not yet recv()d."""
        self.conn.wait_for(lambda: self.conn.closed, timeout)
        self._check()
        with self.conn.cond:
            out = bytes(self.data[i][self.read_pos[i]:])
            self.read_pos[i] = len(self.data[i])
        return out

    def errors(self, i):
        with self.conn.cond:
            return bytes(self.err[i])

    @property
    def closed(self):
        return self.conn.closed

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
