"""Offline tests of the streaming test client (kube_stream.py): its SPDY/3
framing (writer -> parser round trips, the header dictionary), and the bytes
containerd 1.6's CRI streaming server really sent (tests/fixtures/stream,
see its README), decoded by the client's parsers and replayed to the live
client classes by a one-shot server on 127.0.0.1.  No containerd needed."""

import base64
import hashlib
import os
import socket
import struct
import threading
import zlib

import pytest

import kube_stream as ks

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "stream")

EXIT3_MESSAGE = ("command terminated with non-zero exit code: error executing command "
                 "[sh -c echo out; echo err >&2; exit 3], exit code 3")
EXIT3_STATUS = {"metadata": {}, "status": "Failure", "message": EXIT3_MESSAGE,
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def body(raw):
    """The bytes after an HTTP head."""
    return raw[raw.index(b"\r\n\r\n") + 4:]


def split_frames(data):
    """Raw SPDY frames by their 8-byte headers alone (independent of FrameParser)."""
    out, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos + 4:pos + 8])
        end = pos + 8 + (length & 0xFFFFFF)
        assert end <= len(data), "truncated frame at %d" % pos
        out.append(data[pos:end])
        pos = end
    return out


# --------------------------------------------------------------------------
# SPDY framing

def test_dictionary_is_the_spdy3_table():
    d = ks.SPDY_DICTIONARY
    assert len(d) == 1423
    assert zlib.adler32(d) == 0xE3C6A7C2
    assert d.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert d.endswith(b"charset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    # the length-prefixed part: 65 names/values, then the plain tail
    pos, words = 0, []
    while d[pos:pos + 3] == b"\x00\x00\x00":
        (n,) = struct.unpack(">I", d[pos:pos + 4])
        words.append(d[pos + 4:pos + 4 + n])
        pos += 4 + n
    assert len(words) == 65 and words[-1] == b"origin" and b"HTTP/1.1" in words
    assert d[pos:].startswith(b"100101201202")


def test_containerd_header_blocks_use_this_dictionary():
    # zlib header of the first block containerd sent: FDICT set, dictionary id
    # = adler32 of the dictionary (so a mistyped byte would show here)
    frames = split_frames(body(fixture("spdy-exec-exit3.server.bin")))
    first = frames[0]
    assert first[:4] == b"\x80\x03\x00\x02"                     # SYN_REPLY, version 3
    cmf, flg = first[12], first[13]
    assert cmf & 0x0F == 8 and flg & 0x20 and (cmf * 256 + flg) % 31 == 0
    assert struct.unpack(">I", first[14:18])[0] == zlib.adler32(ks.SPDY_DICTIONARY)


def test_header_block_encoding():
    raw = ks.encode_header_block([("StreamType", "error"), ("port", 80), ("x", "a"), ("X", "b")])
    assert ks.decode_header_block(raw) == {"streamtype": ["error"], "port": ["80"], "x": ["a", "b"]}
    assert raw[:4] == b"\x00\x00\x00\x03"
    assert b"\x00\x00\x00\x03a\x00b" in raw                     # repeated name: NUL-joined values
    assert ks.decode_header_block(ks.encode_header_block({})) == {}
    with pytest.raises(ks.StreamError):
        ks.decode_header_block(raw[:-1])
    with pytest.raises(ks.StreamError):
        ks.decode_header_block(raw + b"\x00")


def all_frames(w):
    big = bytes(range(256)) * 400
    return [
        (w.syn_stream(1, [("streamtype", "error")]), dict(type="SYN_STREAM", stream_id=1, flags=0)),
        (w.syn_stream(3, {"streamtype": "data", "port": "8080", "requestid": "7"}, flags=ks.FLAG_FIN,
                      priority=5, associated_id=1),
         dict(type="SYN_STREAM", stream_id=3, flags=1, priority=5, associated_id=1)),
        (w.syn_reply(3, {}), dict(type="SYN_REPLY", stream_id=3, headers={})),
        (w.syn_reply(5, {"a": "b"}, flags=ks.FLAG_FIN), dict(type="SYN_REPLY", stream_id=5, flags=1)),
        (w.headers(5, {"trailer-ish": ["1", "2"]}), dict(type="HEADERS", stream_id=5,
                                                         headers={"trailer-ish": ["1", "2"]})),
        (w.data(3, b"hello"), dict(type="DATA", stream_id=3, flags=0, payload=b"hello")),
        (w.data(3, b"", ks.FLAG_FIN), dict(type="DATA", stream_id=3, flags=1, payload=b"")),
        (w.data(0x7FFFFFFF, big), dict(type="DATA", stream_id=0x7FFFFFFF, payload=big)),
        (w.rst_stream(7, ks.CANCEL), dict(type="RST_STREAM", stream_id=7, status=5)),
        (w.settings([(0, 4, 100), (1, 7, 65536)], flags=1),
         dict(type="SETTINGS", flags=1, settings=[(0, 4, 100), (1, 7, 65536)])),
        (w.ping(2), dict(type="PING", ping_id=2)),
        (w.goaway(9, 0), dict(type="GOAWAY", last_good_stream_id=9, status=0)),
        (w.window_update(3, 0x10000), dict(type="WINDOW_UPDATE", stream_id=3, delta=0x10000)),
        # later header blocks lean on the compression context of the earlier ones
        (w.syn_stream(9, [("streamtype", "error")]), dict(type="SYN_STREAM", stream_id=9,
                                                          headers={"streamtype": ["error"]})),
    ]


@pytest.mark.parametrize("chunk", [None, 1, 7, 4096])
def test_writer_parser_round_trip(chunk):
    cases = all_frames(ks.FrameWriter())
    wire = b"".join(raw for raw, _ in cases)
    p = ks.FrameParser()
    if chunk is None:
        got = p.feed(wire)
    else:
        got = []
        for i in range(0, len(wire), chunk):
            got += p.feed(wire[i:i + chunk])
    assert p.pending == 0
    assert len(got) == len(cases)
    for f, (raw, want) in zip(got, cases):
        for k, v in want.items():
            assert getattr(f, k) == v, (f, k)
        assert f.payload == raw[8:]
    assert got[1].headers == {"streamtype": ["data"], "port": ["8080"], "requestid": ["7"]}
    assert got[0].header("StreamType") == "error"


def test_header_compression_context_spans_the_connection():
    w = ks.FrameWriter()
    first = w.syn_stream(1, [("streamtype", "error")])
    second = w.syn_stream(3, [("streamtype", "error")])
    assert len(second) < len(first)          # no zlib header, back-reference into the window
    p = ks.FrameParser()
    assert p.feed(first + second)[1].headers == {"streamtype": ["error"]}
    with pytest.raises((zlib.error, ks.StreamError)):
        ks.FrameParser().feed(second)       # a fresh context cannot read it


def test_control_frame_layout():
    w = ks.FrameWriter()
    assert w.ping(1) == b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"
    assert w.rst_stream(3, 5) == b"\x80\x03\x00\x03\x00\x00\x00\x08\x00\x00\x00\x03\x00\x00\x00\x05"
    assert w.goaway(0, 0) == b"\x80\x03\x00\x07\x00\x00\x00\x08" + b"\x00" * 8
    assert w.data(5, b"ab", ks.FLAG_FIN) == b"\x00\x00\x00\x05\x01\x00\x00\x02ab"
    syn = w.syn_stream(1, [("streamtype", "stdin")], priority=0)
    assert syn[:5] == b"\x80\x03\x00\x01\x00" and syn[8:18] == b"\x00\x00\x00\x01" + b"\x00" * 6
    assert syn.endswith(b"\x00\x00\xff\xff")  # each header block ends with a sync flush
    with pytest.raises(ks.StreamError):
        ks.FrameParser().feed(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")  # SPDY/2


def test_session_state_answers_server_pings_and_refuses_pushes():
    w = ks.FrameWriter()
    st = ks.SpdySessionState()
    st.add_local_stream(1, [("streamtype", "error")])
    p = ks.FrameParser()
    replies = []
    for f in p.feed(w.ping(2) + w.ping(1) + w.syn_stream(2, {"x": "y"}) + w.syn_reply(1, {})
                    + w.data(1, b"abc") + w.rst_stream(1, ks.CANCEL)):
        replies += st.handle(f)
    assert replies == [("ping", (2,)), ("rst_stream", (2, ks.REFUSED_STREAM))]
    assert st.pongs == {1}
    s1 = st.streams[1]
    assert s1.replied and s1.data == b"abc" and s1.rst == ks.CANCEL and s1.ended


# --------------------------------------------------------------------------
# results

def test_status_exit_codes():
    assert ks.status_exit_code({"metadata": {}, "status": "Success"}) == 0
    assert ks.status_exit_code(EXIT3_STATUS) == 3
    assert ks.status_exit_code({"status": "Failure", "reason": "InternalError", "message": "x"}) is None
    ok = ks.StreamResult(b"", b"", "v4.channel.k8s.io", b'{"metadata":{},"status":"Success"}')
    assert ok.exit_code == 0 and ok.status == {"metadata": {}, "status": "Success"}
    assert ks.StreamResult(b"", b"", "v4.channel.k8s.io", b"").status is None
    assert ks.StreamResult(b"", b"", "v4.channel.k8s.io", b"").exit_code is None
    assert ks.StreamResult(b"", b"", "v3.channel.k8s.io", b"").exit_code == 0
    assert ks.StreamResult(b"", b"", "v2.channel.k8s.io", EXIT3_MESSAGE.encode()).exit_code is None
    # SPDY v1: the server resets the error stream right after set-up
    assert ks.StreamResult(b"", b"", "channel.k8s.io", b"").exit_code is None
    assert ks.StreamResult(b"", b"", "channel.k8s.io", b"", empty_is_success=True).exit_code == 0


# --------------------------------------------------------------------------
# containerd's bytes, decoded offline

def test_spdy_exec_capture_decodes():
    client, server = fixture("spdy-exec-exit3.client.bin"), fixture("spdy-exec-exit3.server.bin")
    res, cframes, sframes = ks.decode_spdy_remotecommand(client, server)
    assert res.protocol == "v4.channel.k8s.io"
    assert res.stdout == b"out\n"
    assert res.stderr == b"err\n"
    assert res.status == EXIT3_STATUS
    assert res.exit_code == 3
    assert res.error_text == res.error_bytes.decode() and "NonZeroExitCode" in res.error_text
    # what we sent: the upgrade, then error, stdout, stderr streams (odd ids from 1)
    head = client[:client.index(b"\r\n\r\n")].decode().split("\r\n")
    assert head[0].startswith("POST /exec/") and head[0].endswith(" HTTP/1.1")
    assert "Connection: Upgrade" in head and "Upgrade: SPDY/3.1" in head
    assert [h.split(": ")[1] for h in head if h.startswith("X-Stream-Protocol-Version")] == \
        list(ks.REMOTECOMMAND_PROTOCOLS)
    assert [(f.type, f.stream_id, f.header("streamtype")) for f in cframes] == \
        [("SYN_STREAM", 1, "error"), ("SYN_STREAM", 3, "stdout"), ("SYN_STREAM", 5, "stderr")]
    # what containerd sent (see the README; stdout and stderr interleave
    # differently from run to run, the rest is fixed)
    assert [(f.type, f.stream_id, f.flags) for f in sframes] == [
        ("SYN_REPLY", 1, 0), ("SYN_REPLY", 3, 0), ("SYN_REPLY", 5, 0),
        ("DATA", 3, 0), ("DATA", 3, 1), ("DATA", 5, 0), ("DATA", 5, 1),
        ("DATA", 1, 0), ("RST_STREAM", 1, 0), ("GOAWAY", None, 0)]
    assert all(f.headers == {} for f in sframes[:3])
    assert sframes[8].status == ks.CANCEL
    assert sframes[9].last_good_stream_id == 5 and sframes[9].status == 0   # last stream we opened


def test_spdy_exec_capture_parses_in_pieces():
    raw = body(fixture("spdy-exec-exit3.server.bin"))
    whole = ks.FrameParser().feed(raw)
    p, pieces = ks.FrameParser(), []
    for i in range(0, len(raw), 3):
        pieces += p.feed(raw[i:i + 3])
    assert [(f.type, f.stream_id, f.flags, f.payload, f.headers) for f in pieces] == \
        [(f.type, f.stream_id, f.flags, f.payload, f.headers) for f in whole]
    assert [f.payload for f in whole] == [r[8:] for r in split_frames(raw)]


def test_ws_exec_capture_decodes():
    res, messages = ks.decode_ws_remotecommand(fixture("ws-exec-exit3.server.bin"))
    assert res.protocol == "v4.channel.k8s.io"
    assert res.stdout == b"out\n" and res.stderr == b"err\n"
    assert res.status == EXIT3_STATUS and res.exit_code == 3
    assert messages[0] == (ks.OP_BINARY, b"\x01")          # the "connected" empty stdout message
    assert [(op, m[:1]) for op, m in messages] == [
        (2, b"\x01"), (2, b"\x01"), (2, b"\x02"), (2, b"\x03"), (8, b"\x03")]
    assert messages[-1] == (ks.OP_CLOSE, b"\x03\xe8")     # close 1000 after the status
    # our side: v5 offered first, v4 chosen; masked frames, only the close reply
    client = fixture("ws-exec-exit3.client.bin")
    assert b"Sec-WebSocket-Protocol: v5.channel.k8s.io,v4.channel.k8s.io\r\n" in client
    p = ks.WsFrameParser()
    assert p.feed(body(client)) == [(ks.OP_CLOSE, b"\x03\xe8")] and p.pending == 0


def test_spdy_portforward_capture_decodes():
    client, server = fixture("spdy-portforward.client.bin"), fixture("spdy-portforward.server.bin")
    assert b"X-Stream-Protocol-Version: portforward.k8s.io\r\n" in client
    head = ks.parse_http_head(server)
    assert head[0] == 101 and ("X-Stream-Protocol-Version", "portforward.k8s.io") in head[2]
    st = ks.SpdySessionState()
    for f in ks.FrameParser().feed(body(client)):
        if f.type == "SYN_STREAM":
            st.add_local_stream(f.stream_id, {k: v[0] for k, v in f.headers.items()})
    for f in ks.FrameParser().feed(head[3]):
        st.handle(f)
    pairs = {}
    for s in st.streams.values():
        pairs.setdefault(s.headers["requestid"], {})[s.type] = s
        assert s.headers["port"] in ("80", "81")
    assert sorted(pairs) == ["0", "1", "2"]
    for rid in ("0", "2"):
        assert pairs[rid]["data"].data.endswith(b"\r\n\r\nhello-from-httpd\n")
        assert pairs[rid]["data"].data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert pairs[rid]["error"].data == b"" and pairs[rid]["error"].fin
    err = bytes(pairs["1"]["error"].data)
    assert err.startswith(b"error forwarding port 81 to pod ") and b"connection refused" in err
    assert pairs["1"]["data"].data == b"" and pairs["1"]["data"].fin


# --------------------------------------------------------------------------
# containerd's bytes replayed to the live client classes

class Replay(threading.Thread):
    """A one-shot server on 127.0.0.1 that plays back a captured session:
    the captured HTTP head, then each captured frame, holding back a
    SYN_REPLY until the client has sent the SYN_STREAM it answers."""

    def __init__(self, server_bytes, close_at_end=True, ws=False):
        super().__init__(daemon=True)
        end = server_bytes.index(b"\r\n\r\n") + 4
        self.head, rest = server_bytes[:end], server_bytes[end:]
        self.ws = ws
        self.chunks = [rest] if ws else split_frames(rest)
        self.frames = [] if ws else ks.FrameParser().feed(rest)
        self.close_at_end = close_at_end
        self.received = bytearray()
        self.error = None
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.lsock.settimeout(10)
        self.url = "http://127.0.0.1:%d/replay/token" % self.lsock.getsockname()[1]

    def run(self):
        conn = None
        try:
            conn, _ = self.lsock.accept()
            conn.settimeout(10)
            while b"\r\n\r\n" not in self.received:
                d = conn.recv(65536)
                assert d, "client closed before its request"
                self.received += d
            head = self.head
            if self.ws:
                req = bytes(self.received).decode("latin-1")
                key = [h.split(":", 1)[1].strip() for h in req.split("\r\n")
                       if h.lower().startswith("sec-websocket-key:")][0]
                accept = base64.b64encode(hashlib.sha1(
                    (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
                lines = [b"Sec-WebSocket-Accept: " + accept if ln.startswith(b"Sec-WebSocket-Accept:")
                         else ln for ln in head.split(b"\r\n")]
                head = b"\r\n".join(lines)
            conn.sendall(head)
            parser = ks.FrameParser()
            seen = set()
            if not self.ws:
                for f in parser.feed(body(bytes(self.received))):
                    if f.type == "SYN_STREAM":
                        seen.add(f.stream_id)
            for i, raw in enumerate(self.chunks):
                f = self.frames[i] if self.frames else None
                while f is not None and f.type == "SYN_REPLY" and f.stream_id not in seen:
                    d = conn.recv(65536)
                    assert d, "client closed while stream %d was awaited" % f.stream_id
                    self.received += d
                    seen.update(g.stream_id for g in parser.feed(d) if g.type == "SYN_STREAM")
                conn.sendall(raw)
            if not self.close_at_end:
                while True:
                    d = conn.recv(65536)
                    if not d:
                        break
                    self.received += d
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            if conn is not None:
                conn.close()
            self.lsock.close()

    def finish(self):
        self.join(10)
        assert not self.is_alive()
        if self.error:
            raise self.error


def threads():
    return {t for t in threading.enumerate() if t.name in ("spdy-reader", "ws-reader")}


def test_replayed_spdy_exec_through_the_live_client():
    before = threads()
    r = Replay(fixture("spdy-exec-exit3.server.bin"))
    r.start()
    res = ks.spdy_exec(r.url, timeout=10)
    r.finish()
    assert (res.stdout, res.stderr, res.exit_code, res.status) == (b"out\n", b"err\n", 3, EXIT3_STATUS)
    assert threads() == before
    sent = ks.FrameParser().feed(body(bytes(r.received)))
    assert [(f.type, f.stream_id, f.header("streamtype")) for f in sent][:3] == \
        [("SYN_STREAM", 1, "error"), ("SYN_STREAM", 3, "stdout"), ("SYN_STREAM", 5, "stderr")]


def test_replayed_spdy_exec_read_until_and_frame_log():
    r = Replay(fixture("spdy-exec-exit3.server.bin"))
    r.start()
    with ks.SpdyRemoteCommand(r.url, timeout=10) as rc:
        assert rc.read_until(b"out", 5) == b"out\n"
        res = rc.wait(5)
        assert [(f.type, f.stream_id) for f in rc.frames][-2:] == [("RST_STREAM", 1), ("GOAWAY", None)]
        with pytest.raises(ks.StreamError):
            rc.read_until(b"never", 1)           # the session is over: no waiting
    r.finish()
    assert res.exit_code == 3


def test_replayed_spdy_portforward_through_the_live_client():
    before = threads()
    r = Replay(fixture("spdy-portforward.server.bin"), close_at_end=False)
    r.start()
    get = b"GET /index.html HTTP/1.0\r\n\r\n"
    with ks.SpdyPortForward(r.url, timeout=10) as pf:
        assert pf.protocol == "portforward.k8s.io"
        data, err = pf.request(80, get, half_close=True)
        assert data.endswith(b"hello-from-httpd\n") and err == b""
        data, err = pf.request(81, b"")
        assert data == b"" and b"connection refused" in err
        data, err = pf.request(80, get, half_close=True)
        assert data.endswith(b"hello-from-httpd\n") and err == b""
    r.finish()
    assert threads() == before
    sent = [f for f in ks.FrameParser().feed(body(bytes(r.received))) if f.type == "SYN_STREAM"]
    assert [(f.stream_id, f.header("streamtype"), f.header("port"), f.header("requestid")) for f in sent] == [
        (1, "error", "80", "0"), (3, "data", "80", "0"), (5, "error", "81", "1"), (7, "data", "81", "1"),
        (9, "error", "80", "2"), (11, "data", "80", "2")]


def test_replayed_ws_exec_through_the_live_client():
    pytest.importorskip("websocket")
    before = threads()
    r = Replay(fixture("ws-exec-exit3.server.bin"), ws=True, close_at_end=False)
    r.start()
    res = ks.ws_exec(r.url, timeout=10)
    r.finish()
    assert res.protocol == "v4.channel.k8s.io"
    assert (res.stdout, res.stderr, res.exit_code, res.status) == (b"out\n", b"err\n", 3, EXIT3_STATUS)
    assert threads() == before


def test_ws_frame_parser_matches_python3_websocket():
    websocket = pytest.importorskip("websocket")
    frames = [
        websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_BINARY, 1, b"\x01" + b"x" * 200),     # 126
        websocket.ABNF(0, 0, 0, 0, websocket.ABNF.OPCODE_BINARY, 1, b"\x02part1-"),           # fragment
        websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_CONT, 1, b"part2"),
        websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_BINARY, 0, b"\x03" + b"y" * 70000),  # 127
        websocket.ABNF(1, 0, 0, 0, websocket.ABNF.OPCODE_CLOSE, 1, b"\x03\xe8"),
    ]
    wire = b"".join(f.format() for f in frames)
    p = ks.WsFrameParser()
    got = []
    for i in range(0, len(wire), 1000):
        got += p.feed(wire[i:i + 1000])
    assert p.pending == 0
    assert got == [(2, b"\x01" + b"x" * 200), (2, b"\x02part1-part2"), (2, b"\x03" + b"y" * 70000),
                   (8, b"\x03\xe8")]


def test_ws_channel_codecs():
    assert ks.ws_encode("v4.channel.k8s.io", 0, b"hi") == (b"\x00hi", ks.OP_BINARY)
    assert ks.ws_encode("v4.base64.channel.k8s.io", 4, b"{}") == (b"4e30=", ks.OP_TEXT)
    assert ks.ws_decode("v4.base64.channel.k8s.io", b"1aGVsbG8=") == (1, b"hello")
    assert ks.ws_decode("v4.channel.k8s.io", b"\x02err") == (2, b"err")
    assert ks.ws_decode("v4.channel.k8s.io", b"") is None
