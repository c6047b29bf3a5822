"""pxcrid's streaming server: Exec, Attach and PortForward URLs driven by an
independent client (kube_stream.py: SPDY/3.1 framing with zlib of its own,
WebSocket through Debian's python3-websocket), with real crun, conmon and a
pod network namespace; the bad-input cases end with pxcrid's descriptors
back at their baseline and nothing left in the container."""

import json
import os
import socket
import struct
import time
import urllib.parse

import grpc
import pytest

import kube_stream as ks
from cri_env import Daemon, pb

RUNNING, EXITED = 1, 2


@pytest.fixture(scope="module")
def pxcrid(cri_registry):
    # Short token lifetime so the expiry test does not wait a minute.
    d = Daemon(cri_registry, extra={"cri": {"stream_token_ttl_s": 2}})
    yield d
    d.cleanup()


@pytest.fixture(scope="module")
def pod(pxcrid, busybox):
    pid, cfg = pxcrid.run_pod()
    yield pid, cfg
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


def start(pxcrid, pod, image, script=None, **kw):
    if script is not None:
        kw["command"] = ["sh", "-c", script]
    cid = pxcrid.create(pod[0], pod[1], image, **kw)
    pxcrid.rt("StartContainer", container_id=cid)
    pxcrid.wait_state(cid, RUNNING)
    return cid


@pytest.fixture(scope="module")
def ctr(pxcrid, pod, busybox):
    """A running container with two HTTP servers on the pod's localhost."""
    return start(pxcrid, pod, busybox,
                 "echo hello-81 > /tmp/index.html; httpd -p 127.0.0.1:8081 -h /tmp; "
                 "httpd -f -p 127.0.0.1:80 -h /etc")


def exec_url(pxcrid, cid, cmd, stdin=False, stdout=True, stderr=True, tty=False):
    return pxcrid.rt("Exec", container_id=cid, cmd=cmd, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty).url


def fd_count(pxcrid):
    """pxcrid's descriptors, but for the image store's SQLite files: each
    worker thread keeps its own connection once it touched images (bounded by
    cri.workers), so their number depends on which thread ran a job."""
    return len([l for l in fd_list(pxcrid) if "/images/images.db" not in l])


def fd_list(pxcrid):
    d = "/proc/%d/fd" % pxcrid.proc.pid
    out = []
    for fd in sorted(os.listdir(d), key=int):
        try:
            out.append("%s -> %s" % (fd, os.readlink(os.path.join(d, fd))))
        except OSError:
            pass
    return out


class Fds(int):
    """A descriptor count that shows the descriptors when an assertion fails."""

    def __new__(cls, n, listing):
        o = super().__new__(cls, n)
        o.listing = listing
        return o

    def __repr__(self):
        return "%d (%s)" % (int(self), "; ".join(self.listing))


def settle_fds(pxcrid, baseline, timeout=10):
    deadline = time.time() + timeout
    n = fd_count(pxcrid)
    while n > baseline and time.time() < deadline:
        time.sleep(0.1)
        n = fd_count(pxcrid)
    return Fds(n, [l for l in fd_list(pxcrid) if "/images/images.db" not in l] if n > baseline else [])


def rss(pxcrid):
    with open("/proc/%d/status" % pxcrid.proc.pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def ps(pxcrid, cid):
    r = pxcrid.rt("ExecSync", container_id=cid, cmd=["ps", "-o", "args"], timeout=10)
    return r.stdout.decode()


def wait_gone(pxcrid, cid, pattern, timeout=10):
    deadline = time.time() + timeout
    out = ps(pxcrid, cid)
    while pattern in out and time.time() < deadline:
        time.sleep(0.1)
        out = ps(pxcrid, cid)
    return out


# ---- exec ----

def test_exec_url_has_host_and_token(pxcrid, ctr):
    url = exec_url(pxcrid, ctr, ["true"])
    u = urllib.parse.urlparse(url)
    assert u.scheme == "http" and u.hostname == "127.0.0.1" and u.port
    kind, token = u.path.strip("/").split("/")
    assert kind == "exec" and len(token) == 32 and int(token, 16) >= 0
    # Every URL is new (128 random bits).
    assert exec_url(pxcrid, ctr, ["true"]) != url


@pytest.mark.parametrize("transport", ["spdy", "ws-v5", "ws-v4"])
def test_exec_out_err_exit_code(pxcrid, ctr, transport):
    url = exec_url(pxcrid, ctr, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    if transport == "spdy":
        r = ks.spdy_exec(url)
        assert r.protocol == "v4.channel.k8s.io"
    else:
        proto = transport[3:] + ".channel.k8s.io"
        r = ks.ws_exec(url, protocols=[proto])
        assert r.protocol == proto
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3), r
    assert r.status["status"] == "Failure" and r.status["reason"] == "NonZeroExitCode"


@pytest.mark.parametrize("transport", ["spdy", "ws"])
def test_exec_exact_output(pxcrid, ctr, transport):
    url = exec_url(pxcrid, ctr, ["echo", "-n", "hello"])
    r = ks.spdy_exec(url) if transport == "spdy" else ks.ws_exec(url)
    assert (r.stdout, r.stderr, r.exit_code) == (b"hello", b"", 0), r
    assert r.status == {"metadata": {}, "status": "Success"}


def test_exec_runs_as_the_container(pxcrid, pod, busybox):
    p = pb()
    cid = start(pxcrid, pod, busybox, "sleep 1000", working_dir="/tmp",
                envs=[p.KeyValue(key="PXT", value=b"from-config")],
                linux=p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(
                    run_as_user=p.Int64Value(value=1234))))
    r = ks.spdy_exec(exec_url(pxcrid, cid, ["sh", "-c", 'echo "$PXT $(pwd) $(id -u)"']))
    assert r.stdout == b"from-config /tmp 1234\n"


@pytest.mark.parametrize("transport", ["spdy", "ws"])
def test_exec_stdin_forwarded_and_closed(pxcrid, ctr, transport):
    data = os.urandom(300000)
    url = exec_url(pxcrid, ctr, ["sh", "-c", "cat | md5sum; echo done >&2"], stdin=True)
    r = ks.spdy_exec(url, stdin=data) if transport == "spdy" else ks.ws_exec(url, stdin=data)
    import hashlib
    assert r.stdout.split()[0].decode() == hashlib.md5(data).hexdigest()
    assert r.stderr == b"done\n" and r.exit_code == 0


@pytest.mark.parametrize("transport", ["spdy", "ws"])
def test_exec_tty_resize(pxcrid, ctr, transport):
    url = exec_url(pxcrid, ctr, ["sh", "-c", "sleep 0.5; stty size; tty"], stdin=True, stderr=False, tty=True)
    cls = ks.SpdyRemoteCommand if transport == "spdy" else ks.WsRemoteCommand
    with cls(url, stdin=True, stderr=False, tty=True) as rc:
        rc.resize(123, 45)
        r = rc.wait(20)
    lines = r.stdout.replace(b"\r", b"").split(b"\n")
    assert lines[0] == b"45 123", r
    assert lines[1].startswith(b"/dev/pts/"), r
    assert r.exit_code == 0


def test_exec_tty_sees_a_later_resize_and_stdin(pxcrid, ctr):
    # Not an interactive shell: ash's line editing queries the cursor first.
    url = exec_url(pxcrid, ctr, ["sh", "-c", "read a; stty size; read b; stty size; echo $a$b; exit 4"],
                   stdin=True, stderr=False, tty=True)
    with ks.SpdyRemoteCommand(url, stdin=True, stderr=False, tty=True) as rc:
        rc.resize(80, 24)
        rc.send_stdin(b"one\n")
        rc.read_until(b"24 80")
        rc.resize(132, 50)
        rc.send_stdin(b"two\n")
        rc.read_until(b"onetwo")
        assert b"50 132" in rc.stdout
        r = rc.wait(20)
    assert r.exit_code == 4


@pytest.mark.parametrize("proto", ["v3.channel.k8s.io", "v2.channel.k8s.io"])
def test_exec_older_protocols_report_failure_as_text(pxcrid, ctr, proto):
    r = ks.spdy_exec(exec_url(pxcrid, ctr, ["sh", "-c", "echo x; exit 2"]), protocols=[proto])
    assert r.protocol == proto and r.stdout == b"x\n"
    assert "exit" in r.error_text and "2" in r.error_text
    ok = ks.spdy_exec(exec_url(pxcrid, ctr, ["true"]), protocols=[proto])
    assert ok.error_text == "" and ok.exit_code == 0


def test_exec_command_not_found(pxcrid, ctr):
    r = ks.spdy_exec(exec_url(pxcrid, ctr, ["/no/such/binary"]))
    assert r.exit_code not in (0, None) or (r.status and r.status["status"] == "Failure"), r


@pytest.mark.parametrize("handler", ["runc", "lxc"])
def test_exec_attach_on_other_backends(pxcrid, busybox, handler):
    """The same sessions on runc and on lxc (pxcri-init relays the terminal)."""
    pid, cfg = pxcrid.run_pod(handler=handler)
    try:
        cid = start(pxcrid, (pid, cfg), busybox, command=["sh"], stdin=True, stdin_once=True)
        info = json.loads(pxcrid.rt("ContainerStatus", container_id=cid, verbose=True).info["info"])
        assert info["backend"] == handler
        r = ks.spdy_exec(exec_url(pxcrid, cid, ["sh", "-c", "echo out; echo err >&2; exit 3"]))
        assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3), r
        url = exec_url(pxcrid, cid, ["sh", "-c", "sleep 0.3; stty size"], stdin=True, stderr=False, tty=True)
        r = ks.spdy_exec(url, tty=True, stdin=b"", stderr=False, resize=(77, 22))
        assert r.stdout.strip() == b"22 77" and r.exit_code == 0, r.error_text
        url = pxcrid.rt("Attach", container_id=cid, stdin=True, stdout=True, stderr=True).url
        with ks.SpdyRemoteCommand(url, stdin=True) as rc:
            rc.send_stdin(b"echo attached-%s\n" % handler.encode())
            rc.read_until(b"attached-" + handler.encode())
            rc.close_stdin()
            assert rc.wait(20).exit_code == 0
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


# ---- attach ----

@pytest.mark.parametrize("transport", ["spdy", "ws"])
def test_attach_reads_what_stdin_wrote(pxcrid, pod, busybox, transport):
    cid = start(pxcrid, pod, busybox, command=["sh"], stdin=True, stdin_once=True)
    url = pxcrid.rt("Attach", container_id=cid, stdin=True, stdout=True, stderr=True).url
    assert "/attach/" in url
    cls = ks.SpdyRemoteCommand if transport == "spdy" else ks.WsRemoteCommand
    with cls(url, stdin=True, stdout=True, stderr=True) as rc:
        rc.send_stdin(b"echo hello\n")
        assert rc.read_until(b"hello\n").endswith(b"hello\n")
        rc.send_stdin(b"echo to-err >&2\n")
        rc.read_until(b"to-err\n", stream="stderr")
        if rc.version >= 5 or transport == "spdy":
            # StdinOnce: closing stdin closes the container's; sh exits.
            rc.close_stdin()
            r = rc.wait(20)
            assert r.exit_code == 0, r
    if transport == "spdy":
        st = pxcrid.wait_state(cid, EXITED)
        assert st.exit_code == 0


def test_attach_tty_resize_through_conmon(pxcrid, pod, busybox):
    cid = start(pxcrid, pod, busybox, "read a; stty size; read b; exit 6", stdin=True, tty=True)
    url = pxcrid.rt("Attach", container_id=cid, stdin=True, stdout=True, tty=True).url
    with ks.SpdyRemoteCommand(url, stdin=True, stdout=True, stderr=False, tty=True) as rc:
        rc.resize(91, 33)
        time.sleep(0.3)
        rc.send_stdin(b"x\n")
        rc.read_until(b"33 91")
        rc.send_stdin(b"y\n")
        r = rc.wait(20)
    assert r.exit_code == 0  # attach ends with Success when the container ends
    assert pxcrid.wait_state(cid, EXITED).exit_code == 6


def test_attach_ends_when_the_container_exits(pxcrid, pod, busybox):
    cid = start(pxcrid, pod, busybox, "sleep 1; echo bye; exit 0")
    url = pxcrid.rt("Attach", container_id=cid, stdout=True, stderr=True).url
    r = ks.spdy_exec(url)
    assert b"bye\n" in r.stdout and r.exit_code == 0


# ---- port forward ----

HTTP_GET = b"GET /hostname HTTP/1.0\r\nHost: x\r\n\r\n"


def test_portforward_spdy_several_ports_and_connections(pxcrid, pod, ctr):
    url = pxcrid.rt("PortForward", pod_sandbox_id=pod[0], port=[80]).url
    assert "/portforward/" in url
    with ks.SpdyPortForward(url) as pf:
        pairs = [pf.open(80) for _ in range(3)] + [pf.open(8081)]
        for p in pairs[:3]:
            p.send(HTTP_GET)
        pairs[3].send(b"GET /index.html HTTP/1.0\r\n\r\n")
        answers = [p.read_all(10) for p in pairs]
        for a in answers[:3]:
            assert a.startswith(b"HTTP/1.") and b" 200 " in a.split(b"\r\n")[0], a
            assert a.endswith(pod[1].hostname.encode() + b"\n")
        assert answers[3].endswith(b"hello-81\n"), answers[3]
        assert all(p.error == b"" for p in pairs)


def test_portforward_port_nobody_listens_on(pxcrid, pod, ctr):
    url = pxcrid.rt("PortForward", pod_sandbox_id=pod[0], port=[80]).url
    with ks.SpdyPortForward(url) as pf:
        data, err = pf.request(9, b"x", timeout=10)
        assert data == b"" and b"connect" in err and b"9" in err, err
        # The session is still good.
        data, err = pf.request(80, HTTP_GET, timeout=10)
        assert b" 200 " in data and err == b""


def test_portforward_websocket(pxcrid, pod, ctr):
    url = pxcrid.rt("PortForward", pod_sandbox_id=pod[0], port=[80, 8081]).url
    with ks.WsPortForward(url + "?port=80&port=8081", [80, 8081]) as pf:
        pf.wait_ports(10)
        pf.send(0, HTTP_GET)
        pf.send(1, b"GET /index.html HTTP/1.0\r\n\r\n")
        a0 = pf.read_all(0, 10)
        a1 = pf.read_all(1, 10)
        assert b" 200 " in a0 and a0.endswith(pod[1].hostname.encode() + b"\n"), a0
        assert a1.endswith(b"hello-81\n"), a1


def test_portforward_host_network_pod(pxcrid, busybox):
    p = pb()
    cfg = pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(security_context=p.LinuxSandboxSecurityContext(
        namespace_options=p.NamespaceOption(network=p.NODE))))
    pid, cfg = pxcrid.run_pod(cfg)
    try:
        # A listener of the test's own on the host's loopback.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        url = pxcrid.rt("PortForward", pod_sandbox_id=pid, port=[port]).url
        with ks.SpdyPortForward(url) as pf:
            pair = pf.open(port)
            conn, _ = srv.accept()
            pair.send(b"ping")
            assert conn.recv(4) == b"ping"
            conn.sendall(b"pong")
            conn.close()
            assert pair.read_all(10) == b"pong"
        srv.close()
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


# ---- bad input ----

def raw_request(url, method="POST", headers=()):
    u = urllib.parse.urlparse(url)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    head = "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method, u.path, u.netloc,
                                                     "".join("%s: %s\r\n" % h for h in headers))
    s.sendall(head.encode())
    return read_to_eof(s)


def read_to_eof(s):
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def spdy_upgrade(url):
    """A raw socket after a SPDY/3.1 upgrade request (not waiting for the answer)."""
    u = urllib.parse.urlparse(url)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
               "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n" % u.path).encode())
    return s


def test_rpc_errors(pxcrid, pod, ctr):
    for method, fields, code in [
            ("Exec", dict(container_id="nope", cmd=["true"], stdout=True), grpc.StatusCode.NOT_FOUND),
            ("Attach", dict(container_id="nope", stdout=True), grpc.StatusCode.NOT_FOUND),
            ("PortForward", dict(pod_sandbox_id="nope", port=[80]), grpc.StatusCode.NOT_FOUND),
            ("Exec", dict(container_id=ctr, cmd=[], stdout=True), grpc.StatusCode.INVALID_ARGUMENT),
            ("Exec", dict(container_id=ctr, cmd=["true"]), grpc.StatusCode.INVALID_ARGUMENT),
            ("Exec", dict(container_id=ctr, cmd=["true"], stdout=True, stderr=True, tty=True),
             grpc.StatusCode.INVALID_ARGUMENT),
            ("PortForward", dict(pod_sandbox_id=pod[0], port=[70000]), grpc.StatusCode.INVALID_ARGUMENT)]:
        with pytest.raises(grpc.RpcError) as e:
            pxcrid.rt(method, **fields)
        assert e.value.code() == code, (method, fields, e.value)


def test_token_single_use_unknown_expired_and_wrong_kind(pxcrid, ctr):
    base = fd_count(pxcrid)
    url = exec_url(pxcrid, ctr, ["true"])
    assert ks.spdy_exec(url).exit_code == 0
    with pytest.raises(ks.UpgradeError) as e:
        ks.spdy_exec(url)
    assert e.value.status == 404
    u = urllib.parse.urlparse(url)
    with pytest.raises(ks.UpgradeError) as e:
        ks.spdy_exec("http://%s/exec/%s" % (u.netloc, "0" * 32))
    assert e.value.status == 404
    # An exec token on the attach path is no attach token.
    url = exec_url(pxcrid, ctr, ["true"])
    with pytest.raises(ks.UpgradeError) as e:
        ks.spdy_exec(url.replace("/exec/", "/attach/"))
    assert e.value.status == 404
    # Expired (this daemon's tokens live 2 s).
    url = exec_url(pxcrid, ctr, ["true"])
    time.sleep(2.5)
    with pytest.raises(ks.UpgradeError) as e:
        ks.spdy_exec(url)
    assert e.value.status == 404
    # Not an upgrade; garbage; nothing at all.
    url = exec_url(pxcrid, ctr, ["true"])
    assert raw_request(url).startswith(b"HTTP/1.1 400 ")
    assert raw_request(url.rsplit("/", 2)[0] + "/nothing/here").startswith(b"HTTP/1.1 404 ")
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(b"\x00\x01garbage\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400 ")
    s.close()
    assert settle_fds(pxcrid, base) <= base


def test_no_common_protocol(pxcrid, ctr):
    url = exec_url(pxcrid, ctr, ["true"])
    with pytest.raises(ks.UpgradeError) as e:
        ks.spdy_exec(url, protocols=["v9.channel.k8s.io"])
    assert e.value.status in (400, 403)


def test_client_disconnect_kills_the_command(pxcrid, ctr):
    base = fd_count(pxcrid)
    url = exec_url(pxcrid, ctr, ["sh", "-c", "echo started; exec sleep 997"])
    rc = ks.SpdyRemoteCommand(url)
    rc.read_until(b"started")
    assert "sleep 997" in ps(pxcrid, ctr)
    rc.close()
    assert "sleep 997" not in wait_gone(pxcrid, ctr, "sleep 997")
    assert settle_fds(pxcrid, base) <= base
    assert os.listdir(os.path.join(pxcrid.dir, "run", "stream")) == []


def test_client_that_never_reads(pxcrid, ctr):
    """`yes` floods a client that reads nothing: pxcrid's memory stays bounded
    (the output stops at the session's queue limit), and closing ends it all."""
    base = fd_count(pxcrid)
    rss0 = rss(pxcrid)
    url = exec_url(pxcrid, ctr, ["yes", "pxt-flood"])
    s = spdy_upgrade(url)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    w = ks.FrameWriter()
    for i, t in enumerate(["error", "stdout", "stderr"]):
        s.sendall(w.syn_stream(2 * i + 1, [("streamtype", t)]))
    time.sleep(3)
    rss_kb = rss(pxcrid)
    time.sleep(2)
    # The output stopped at the queue limit: nothing grows any more.
    assert rss(pxcrid) - rss_kb < 4 * 1024 and rss_kb - rss0 < 24 * 1024, (rss0, rss_kb, rss(pxcrid))
    assert "yes pxt-flood" in ps(pxcrid, ctr)
    s.close()
    assert "yes pxt-flood" not in wait_gone(pxcrid, ctr, "yes pxt-flood")
    assert settle_fds(pxcrid, base) <= base


def test_garbage_after_upgrade(pxcrid, ctr):
    base = fd_count(pxcrid)
    url = exec_url(pxcrid, ctr, ["sleep", "5"])
    s = spdy_upgrade(url)
    s.sendall(b"\x80\x07\x00\x01\x00\xff\xff\xff" + b"x" * 64)  # version 7, 16 MiB length
    assert read_to_eof(s).startswith(b"HTTP/1.1 101 ")
    assert settle_fds(pxcrid, base) <= base
    pxcrid.rt("Version")


def test_container_exits_mid_stream(pxcrid, pod, busybox):
    base = fd_count(pxcrid)
    cid = start(pxcrid, pod, busybox, "sleep 1000")
    url = exec_url(pxcrid, cid, ["sh", "-c", "echo in; exec sleep 1000"])
    with ks.SpdyRemoteCommand(url) as rc:
        rc.read_until(b"in")
        pxcrid.rt("StopContainer", container_id=cid, timeout=0)
        r = rc.wait(20)
    assert r.exit_code not in (0, None)
    pxcrid.rt("RemoveContainer", container_id=cid)
    assert settle_fds(pxcrid, base) <= base


def test_exec_in_a_stopped_container_is_refused(pxcrid, pod, busybox):
    cid = pxcrid.create(pod[0], pod[1], busybox, command=["true"])
    pxcrid.rt("StartContainer", container_id=cid)
    pxcrid.wait_state(cid, EXITED)
    with pytest.raises(grpc.RpcError) as e:
        exec_url(pxcrid, cid, ["true"])
    assert e.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE,
                              grpc.StatusCode.ABORTED)
