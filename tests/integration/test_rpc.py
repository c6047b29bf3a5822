"""src/rpc/ (gRPC over nghttp2 + libuv) driven by independent clients:
Python grpcio (the gRPC C core), curl's HTTP/2 and raw sockets, against
rpc_testd, a small server built in tests/unit/rpc/.

RPC_TESTD may point at another rpc_testd (e.g. an ASan build); by default it
is found next to PXCRI_BIN's build dir.  The server's stderr is checked for
sanitizer reports when it exits."""

import concurrent.futures
import importlib
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

import pytest

try:
    import grpc
except ImportError:  # a non-Debian python3 first in PATH: use Debian's python3-grpcio
    sys.path.append("/usr/lib/python3/dist-packages")
    import grpc

from conftest import PXCRI, REPO

TESTD = os.environ.get("RPC_TESTD") or os.path.join(
    os.path.dirname(PXCRI), "tests", "unit", "rpc", "rpc_testd")
SVC = "/runtime.v1.RuntimeService/"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def pb():
    """The CRI proto's Python bindings, generated with protoc."""
    out = tempfile.mkdtemp(prefix="pxt-rpc-pb-")
    subprocess.run(["protoc", "--proto_path=" + os.path.join(REPO, "proto"), "--python_out=" + out,
                    os.path.join(REPO, "proto", "cri-api.proto")], check=True)
    sys.path.insert(0, out)
    try:
        yield importlib.import_module("cri_api_pb2")
    finally:
        sys.path.remove(out)


class RpcServer:
    def __init__(self, path, logdir):
        self.path = path
        self.terminated = False
        self.log = os.path.join(logdir, "testd-%d.log" % time.monotonic_ns())
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen([TESTD, path], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 10
        while not self.alive():
            assert self.proc.poll() is None, "rpc_testd exited: " + self.stderr()
            assert time.time() < deadline, "rpc_testd did not listen on " + path
            time.sleep(0.02)

    def alive(self):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def terminate(self):
        self.terminated = True
        self.proc.send_signal(signal.SIGTERM)

    def stderr(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        """SIGTERM; returns (exit code, stderr); fails on sanitizer reports."""
        if self.proc.poll() is None and not self.terminated:
            self.terminate()
        rc = self.proc.wait(timeout=30)
        err = self.stderr()
        assert "Sanitizer" not in err and "runtime error" not in err, err
        return rc, err


@pytest.fixture
def server(workdir):
    # A directory that does not exist yet: rpc_server_listen makes it 0700.
    s = RpcServer(os.path.join(workdir, "run", "pxcri", "rpc.sock"), workdir)
    yield s
    if s.proc.poll() is None:
        rc, err = s.stop()
        assert rc == 0, err


def channel(server, *options):
    # grpc-go (kubelet, crictl) send the socket path as :authority: do the same.
    opts = [("grpc.default_authority", server.path)] + list(options)
    return grpc.insecure_channel("unix:" + server.path, options=opts)


def method(ch, pb, name, req, resp, stream=False):
    make = ch.unary_stream if stream else ch.unary_unary
    return make(SVC + name, request_serializer=req.SerializeToString, response_deserializer=resp.FromString)


def version(ch, pb):
    return method(ch, pb, "Version", pb.VersionRequest, pb.VersionResponse)


def status(ch, pb):
    return method(ch, pb, "ContainerStatus", pb.ContainerStatusRequest, pb.ContainerStatusResponse)


def test_version_round_trip(server, pb):
    with channel(server) as ch:
        r = version(ch, pb)(pb.VersionRequest(version="0.1.0-test"), timeout=10)
    assert (r.version, r.runtime_name, r.runtime_version, r.runtime_api_version) == \
        ("0.1.0", "rpc-testd", "0.1.0-test", "v1")


def test_socket_and_directory_modes(server):
    assert stat.S_ISSOCK(os.stat(server.path).st_mode)
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o660
    assert stat.S_IMODE(os.stat(os.path.dirname(server.path)).st_mode) == 0o700
    assert os.path.exists(server.path + ".lock")


def test_many_sequential_and_concurrent_calls(server, pb):
    with channel(server) as ch:
        call = version(ch, pb)
        for i in range(300):
            assert call(pb.VersionRequest(version="s%d" % i), timeout=10).runtime_version == "s%d" % i
        futs = [call.future(pb.VersionRequest(version="c%d" % i), timeout=20) for i in range(300)]
        assert [f.result().runtime_version for f in futs] == ["c%d" % i for i in range(300)]
        # Async answers interleaved with sync ones on the same connection.
        slow = [status(ch, pb).future(pb.ContainerStatusRequest(container_id=str(i % 7)), timeout=20)
                for i in range(50)]
        assert [f.result().status.id for f in slow] == [str(i % 7) for i in range(50)]


def test_calls_on_several_channels(server, pb):
    chans = [channel(server) for _ in range(6)]
    try:
        def work(k):
            call = version(chans[k], pb)
            return [call(pb.VersionRequest(version="%d-%d" % (k, i)), timeout=20).runtime_version
                    for i in range(50)]
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            results = list(ex.map(work, range(6)))
        for k, res in enumerate(results):
            assert res == ["%d-%d" % (k, i) for i in range(50)]
    finally:
        for ch in chans:
            ch.close()


def test_unknown_method_is_unimplemented(server, pb):
    with channel(server) as ch:
        nope = ch.unary_unary(SVC + "NoSuchCall", request_serializer=pb.VersionRequest.SerializeToString,
                              response_deserializer=pb.VersionResponse.FromString)
        with pytest.raises(grpc.RpcError) as e:
            nope(pb.VersionRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert SVC + "NoSuchCall" in e.value.details()


def test_malformed_request_is_invalid_argument(server, pb):
    with channel(server) as ch:
        bad = ch.unary_unary(SVC + "Version", request_serializer=lambda _: b"\xff\xff\xff\xff\x0f",
                             response_deserializer=pb.VersionResponse.FromString)
        with pytest.raises(grpc.RpcError) as e:
            bad(None, timeout=10)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Version" in e.value.details()
        assert version(ch, pb)(pb.VersionRequest(version="after"), timeout=10).runtime_version == "after"


def test_not_found_message_is_percent_encoded(server, pb):
    with channel(server) as ch:
        with pytest.raises(grpc.RpcError) as e:
            status(ch, pb)(pb.ContainerStatusRequest(container_id="missing"), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == 'container "x" not found: 100% gone'


def test_deadline_exceeded_and_server_stays_healthy(server, pb):
    with channel(server) as ch:
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            status(ch, pb)(pb.ContainerStatusRequest(container_id="2000"), timeout=0.2)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - t0 < 1.5
        assert version(ch, pb)(pb.VersionRequest(version="ok"), timeout=10).runtime_version == "ok"
        # The handler's late answer (at 2 s) must be dropped without harm.
        time.sleep(2.0)
        assert version(ch, pb)(pb.VersionRequest(version="ok2"), timeout=10).runtime_version == "ok2"
    rc, err = server.stop()
    assert rc == 0, err
    assert "cancels=1" in err  # the server saw the deadline, not only the client


def test_client_cancel_of_slow_call(server, pb):
    with channel(server) as ch:
        fut = status(ch, pb).future(pb.ContainerStatusRequest(container_id="1500"), timeout=20)
        time.sleep(0.3)
        assert fut.cancel()
        assert fut.cancelled()
        assert version(ch, pb)(pb.VersionRequest(version="ok"), timeout=10).runtime_version == "ok"
    # A whole connection going away mid-call cancels it too.
    ch2 = channel(server)
    fut = status(ch2, pb).future(pb.ContainerStatusRequest(container_id="1500"), timeout=20)
    time.sleep(0.3)
    ch2.close()
    time.sleep(1.6)  # let the late answers fire
    rc, err = server.stop()
    assert rc == 0, err
    assert "cancels=2" in err


def test_server_streaming_three_messages(server, pb):
    with channel(server) as ch:
        events = method(ch, pb, "GetContainerEvents", pb.GetEventsRequest, pb.ContainerEventResponse,
                        stream=True)
        got = list(events(pb.GetEventsRequest(), timeout=10))
    assert [(m.container_id, m.created_at) for m in got] == [("c0", 1000), ("c1", 1001), ("c2", 1002)]


def test_request_over_16mib_is_resource_exhausted(server, pb):
    with channel(server, ("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)) as ch:
        with pytest.raises(grpc.RpcError) as e:
            version(ch, pb)(pb.VersionRequest(version="x" * (17 * MiB)), timeout=30)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Just under the cap is served.
        big = "y" * (16 * MiB - 64)
        assert version(ch, pb)(pb.VersionRequest(version=big), timeout=30).runtime_version == big
        assert version(ch, pb)(pb.VersionRequest(version="ok"), timeout=10).runtime_version == "ok"


def test_response_over_16mib_is_resource_exhausted(server, pb):
    with channel(server, ("grpc.max_receive_message_length", -1)) as ch:
        lc = method(ch, pb, "ListContainers", pb.ListContainersRequest, pb.ListContainersResponse)
        req = lambda n: pb.ListContainersRequest(filter=pb.ContainerFilter(id=str(n)))
        assert len(lc(req(30000), timeout=30).containers) == 30000  # ~6 MB, spans many frames
        with pytest.raises(grpc.RpcError) as e:
            lc(req(200000), timeout=30)  # ~40 MB
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in e.value.details()
        assert len(lc(req(3), timeout=10).containers) == 3


def test_second_server_on_same_socket_refuses(server, pb):
    res = subprocess.run([TESTD, server.path], capture_output=True, text=True, timeout=10)
    assert res.returncode != 0
    assert "Another server is listening on " + server.path in res.stderr
    with channel(server) as ch:
        assert version(ch, pb)(pb.VersionRequest(version="still"), timeout=10).runtime_version == "still"


def test_stale_socket_is_replaced(server, pb, workdir):
    server.proc.kill()  # no cleanup: socket file left behind, lock released by the kernel
    server.proc.wait()
    assert os.path.exists(server.path)
    again = RpcServer(server.path, workdir)
    try:
        with channel(again) as ch:
            assert version(ch, pb)(pb.VersionRequest(version="2nd"), timeout=10).runtime_version == "2nd"
    finally:
        rc, err = again.stop()
    assert rc == 0, err


def test_sigterm_lets_slow_call_finish(server, pb):
    with channel(server) as ch:
        fut = status(ch, pb).future(pb.ContainerStatusRequest(container_id="800"), timeout=20)
        time.sleep(0.2)
        server.terminate()
        assert fut.result().status.id == "800"
    rc, err = server.stop()
    assert rc == 0, err
    assert not os.path.exists(server.path)
    assert "stats " + SVC + "ContainerStatus calls=1 " in err


def test_sigterm_grace_period_ends_calls_that_outlast_it(server, pb):
    with channel(server) as ch:
        fut = status(ch, pb).future(pb.ContainerStatusRequest(container_id="3500"), timeout=20)
        time.sleep(0.2)
        t0 = time.monotonic()
        server.terminate()
        with pytest.raises(grpc.RpcError) as e:
            fut.result()
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert e.value.details() == "Server is shutting down"
        assert 1.5 < time.monotonic() - t0 < 3.3
    rc, err = server.stop()  # after the handler's late answer at 3.5 s, dropped
    assert rc == 0, err
    assert "cancels=1" in err


def raw_connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    return s


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """HPACK literal header field without indexing, no Huffman (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def test_garbage_and_half_prefaces_do_not_hurt(server, pb):
    for junk in [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 100, PREFACE[:10], PREFACE,
                 PREFACE + frame(4, 0, 0, b""), PREFACE + b"\xff" * 64, b""]:
        s = raw_connect(server.path)
        s.sendall(junk)
        s.close()
    # A request cut off after its headers and half a message.
    headers = b"".join(literal(k, v) for k, v in [
        (":method", "POST"), (":scheme", "http"), (":path", SVC + "Version"),
        (":authority", server.path), ("content-type", "application/grpc")])
    s = raw_connect(server.path)
    s.sendall(PREFACE + frame(4, 0, 0, b"") + frame(1, 4, 1, headers) + frame(0, 0, 1, b"\x00\x00\x00\x00\x10ab"))
    time.sleep(0.1)
    s.close()
    # A slow call whose connection goes away before the answer.
    body = pb.ContainerStatusRequest(container_id="300").SerializeToString()
    headers = b"".join(literal(k, v) for k, v in [
        (":method", "POST"), (":scheme", "http"), (":path", SVC + "ContainerStatus"),
        (":authority", server.path), ("content-type", "application/grpc")])
    s = raw_connect(server.path)
    s.sendall(PREFACE + frame(4, 0, 0, b"") + frame(1, 4, 1, headers) +
              frame(0, 1, 1, b"\x00" + struct.pack(">I", len(body)) + body))
    assert s.recv(9)  # the server speaks HTTP/2 back (its SETTINGS)
    s.close()
    time.sleep(0.5)
    with channel(server) as ch:
        assert version(ch, pb)(pb.VersionRequest(version="alive"), timeout=10).runtime_version == "alive"
    rc, err = server.stop()
    assert rc == 0, err


def curl(server, path, *args):
    """curl over HTTP/2 with prior knowledge; :authority is the socket path as grpc-go sends it."""
    res = subprocess.run(["curl", "-sv", "--http2-prior-knowledge", "--unix-socket", server.path,
                          "-H", "Host: " + server.path, "-o", "-", *args, "http://localhost" + path],
                         capture_output=True, timeout=20)
    return res.stdout, res.stderr.decode(errors="replace")


def test_authority_is_a_socket_path(server, pb, workdir):
    body = pb.VersionRequest(version="curl").SerializeToString()
    req = os.path.join(workdir, "req.bin")
    with open(req, "wb") as f:
        f.write(b"\x00" + struct.pack(">I", len(body)) + body)
    out, log = curl(server, SVC + "Version", "-H", "content-type: application/grpc",
                    "-H", "te: trailers", "--data-binary", "@" + req)
    assert "[:authority: %s]" % server.path in log
    assert "< grpc-status: 0" in log, log
    assert out[0] == 0 and struct.unpack(">I", out[1:5])[0] == len(out) - 5
    assert pb.VersionResponse.FromString(out[5:]).runtime_version == "curl"


def test_non_grpc_requests_get_http_errors(server, pb, workdir):
    _, log = curl(server, SVC + "Version")  # GET
    assert "< HTTP/2 405" in log, log
    _, log = curl(server, SVC + "Version", "-H", "content-type: text/plain", "--data-binary", "x")
    assert "< HTTP/2 415" in log, log
    # A compressed message cannot be read: UNIMPLEMENTED, trailers-only.
    req = os.path.join(workdir, "gz.bin")
    with open(req, "wb") as f:
        f.write(b"\x01\x00\x00\x00\x00")
    _, log = curl(server, SVC + "Version", "-H", "content-type: application/grpc+proto",
                  "-H", "grpc-encoding: gzip", "--data-binary", "@" + req)
    assert "< grpc-status: 12" in log, log
    with channel(server) as ch:
        assert version(ch, pb)(pb.VersionRequest(version="ok"), timeout=10).runtime_version == "ok"
