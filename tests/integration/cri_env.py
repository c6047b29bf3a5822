"""pxcrid under test: the daemon with a private configuration and state, a
real gRPC client (python3-grpcio, bindings from proto/cri-api.proto made by
protoc at test time), CNI with a bridge of its own (prefix pxt), and a local
docker-registry holding a busybox image built with umoci.

Fixtures (import them into a test module, or use them through conftest.py):
  cri_registry  session: DockerRegistry with pxt/busybox:1 (Cmd ["sh"])
  pxcrid        module:  a running daemon; .rt(method, req), .img(method, req)
  busybox       module:  the busybox reference, pulled into the daemon's store
"""

import fcntl
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import grpc
import pytest

import images
from conftest import PXCRI
from registries import DockerRegistry

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PXCRID = os.environ.get("PXCRID_BIN", os.path.join(os.path.dirname(PXCRI), "pxcrid"))
CNI_BIN = "/usr/lib/cni"

_pb = None


def pb():
    """The generated cri_api_pb2 module."""
    global _pb
    if _pb is None:
        out = tempfile.mkdtemp(prefix="pxt-pb-")
        subprocess.run(["protoc", "--proto_path", os.path.join(REPO, "proto"), "--python_out", out,
                        "cri-api.proto"], check=True)
        sys.path.insert(0, out)
        _pb = importlib.import_module("cri_api_pb2")
    return _pb


RESPONSE = {"GetContainerEvents": "ContainerEventResponse"}
REQUEST = {"GetContainerEvents": "GetEventsRequest"}


def cmdlines():
    """{pid: argv} of every process with a command line."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[0]:
            out[int(pid)] = argv
    return out


class Client:
    """Calls RuntimeService and ImageService methods by name."""

    def __init__(self, sock, options=None):
        self.sock = sock
        self.channel = grpc.insecure_channel("unix:" + sock, options=options or [])

    def close(self):
        self.channel.close()

    def _stub(self, service, method, stream=False):
        p = pb()
        resp = getattr(p, RESPONSE.get(method, method + "Response"))
        mk = self.channel.unary_stream if stream else self.channel.unary_unary
        return mk("/runtime.v1.%s/%s" % (service, method),
                  request_serializer=lambda m: m.SerializeToString(),
                  response_deserializer=resp.FromString)

    def req(self, method, **fields):
        return getattr(pb(), REQUEST.get(method, method + "Request"))(**fields)

    # `deadline` is the gRPC deadline in seconds; every other keyword is a
    # field of the request (ExecSync's and StopContainer's `timeout` too).
    def rt(self, method, req=None, deadline=60, **fields):
        return self._stub("RuntimeService", method)(req or self.req(method, **fields), timeout=deadline)

    def img(self, method, req=None, deadline=120, **fields):
        return self._stub("ImageService", method)(req or self.req(method, **fields), timeout=deadline)

    def stream(self, method, req=None, deadline=None, **fields):
        return self._stub("RuntimeService", method, stream=True)(req or self.req(method, **fields),
                                                                 timeout=deadline)


# Indices 140-141 and 200-209 are taken by name in some tests (bridge_index=).
_bridges = iter(list(range(10, 140)) + list(range(150, 200)) + list(range(210, 250)))
_bridge_locks = {}


def _lock_bridge(n, wait):
    if n in _bridge_locks:  # this process holds it already
        return True
    fd = os.open("/run/lock/pxt-bridge-%d.lock" % n, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return False
    _bridge_locks[n] = fd
    return True


def _claim_bridge():
    """The next bridge index no other test process holds: an flock per index
    under /run/lock, kept until this process exits, so two suites running at
    once never share a bridge name or a subnet."""
    os.makedirs("/run/lock", exist_ok=True)
    for n in _bridges:
        if _lock_bridge(n, False):
            return n
    raise RuntimeError("no free pxtbr index left")


class Daemon(Client):
    """One pxcrid with everything under a temp dir."""

    def __init__(self, registry=None, extra=None, bridge_index=None):
        self.dir = tempfile.mkdtemp(prefix="pxt-cri-")
        if bridge_index is None:
            n = _claim_bridge()
        else:
            n = bridge_index
            os.makedirs("/run/lock", exist_ok=True)
            _lock_bridge(n, True)  # a concurrent suite using the same fixed index: wait
        self.bridge = "pxtbr%d" % n
        self.subnet = "10.233.%d.0/24" % n
        self.cni_dir = os.path.join(self.dir, "cni")
        os.makedirs(self.cni_dir)
        self.write_cni()
        self.cfg = {
            "runtime": {"root_path": os.path.join(self.dir, "rt")},
            "image": {"root": os.path.join(self.dir, "images")},
            "cri": {
                "listen": os.path.join(self.dir, "pxcri.sock"),
                "state_dir": os.path.join(self.dir, "state"),
                "run_dir": os.path.join(self.dir, "run"),
                "log_dir": os.path.join(self.dir, "logs"),
                "cni_conf_dir": self.cni_dir,
                "cni_bin_dirs": [CNI_BIN],
                # the pxcri under test, also when pxcrid comes from another build (ASan)
                "pxcri_path": os.path.abspath(PXCRI),
            },
        }
        if registry:
            self.cfg["image"]["registries"] = {registry.host: {"insecure": True}}
        for k, v in (extra or {}).items():
            self.cfg.setdefault(k, {}).update(v)
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(self.cfg, f)
        self.log_path = os.path.join(self.dir, "pxcrid.log")
        self.proc = None
        super().__init__(self.cfg["cri"]["listen"])
        self.start()

    def write_cni(self):
        conf = {
            "cniVersion": "1.0.0", "name": "pxt-net",
            "plugins": [
                {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                          "dataDir": os.path.join(self.dir, "ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        with open(os.path.join(self.cni_dir, "10-pxt.conflist"), "w") as f:
            json.dump(conf, f)

    def start(self, wait=True):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([PXCRID, "--config", self.config_path, "--log-level", "debug"],
                                     stdout=log, stderr=log)
        log.close()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("pxcrid exited %d: %s" % (self.proc.returncode, self.log()))
            try:
                self.rt("Version", deadline=2)
                return
            except grpc.RpcError as e:
                last = e
                time.sleep(0.05)
        raise AssertionError("pxcrid did not answer: %s\n%s" % (last, self.log()))

    def log(self):
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Under ASan/UBSan (PXCRID_BIN from a sanitizer build) a report fails the test.
        with open(self.log_path) as f:
            text = f.read()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                raise AssertionError("pxcrid sanitizer report:\n" + text[text.index(marker) - 200:][:6000])
        return self.proc.returncode

    def restart(self, sig=signal.SIGTERM):
        self.close()
        self.stop(sig)
        self.channel = grpc.insecure_channel("unix:" + self.sock)
        self.start()

    def cleanup(self):
        try:
            if self.proc.poll() is None:
                for p in self.rt("ListPodSandbox").items:
                    try:
                        self.rt("StopPodSandbox", pod_sandbox_id=p.id)
                        self.rt("RemovePodSandbox", pod_sandbox_id=p.id)
                    except grpc.RpcError:
                        pass
        finally:
            self.close()
            self.stop()
            # Whatever a failed test left: containers, mounts, the bridge.
            root = self.cfg["runtime"]["root_path"]
            for be in ("crun", "runc"):
                d = os.path.join(root, be)
                if os.path.isdir(d):
                    for cid in os.listdir(d):
                        subprocess.run([PXCRI, "--root", root, "delete", "--force", cid],
                                       capture_output=True)
            with open("/proc/self/mountinfo") as f:
                mounts = [l.split()[4] for l in f]
            for m in sorted((m for m in mounts if m.startswith(self.dir)), key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- helpers for tests ---

    def pod_config(self, name=None, **kw):
        p = pb()
        name = name or "pod-" + uuid.uuid4().hex[:8]
        cfg = p.PodSandboxConfig(
            metadata=p.PodSandboxMetadata(name=name, namespace="pxt", uid=uuid.uuid4().hex, attempt=0),
            hostname=kw.pop("hostname", name),
            log_directory=kw.pop("log_directory", os.path.join(self.dir, "logs", name)),
            **kw)
        return cfg

    def run_pod(self, cfg=None, handler="", **kw):
        cfg = cfg or self.pod_config(**kw)
        return self.rt("RunPodSandbox", config=cfg, runtime_handler=handler).pod_sandbox_id, cfg

    def ctr_config(self, image, name=None, command=None, args=None, **kw):
        p = pb()
        name = name or "ctr-" + uuid.uuid4().hex[:6]
        return p.ContainerConfig(metadata=p.ContainerMetadata(name=name), image=p.ImageSpec(image=image),
                                 command=command or [], args=args or [], log_path=kw.pop("log_path", name + ".log"),
                                 **kw)

    def create(self, pod_id, pod_cfg, image, **kw):
        cfg = self.ctr_config(image, **kw)
        return self.rt("CreateContainer", pod_sandbox_id=pod_id, config=cfg, sandbox_config=pod_cfg).container_id

    def status(self, cid, verbose=False):
        return self.rt("ContainerStatus", container_id=cid, verbose=verbose).status

    def wait_state(self, cid, state, timeout=20):
        deadline = time.time() + timeout
        st = None
        while time.time() < deadline:
            st = self.status(cid)
            if st.state == state:
                return st
            time.sleep(0.05)
        raise AssertionError("container %s never reached state %s (last %s)" % (cid, state, st))


@pytest.fixture(scope="session")
def cri_registry():
    work = tempfile.mkdtemp(prefix="pxt-reg-")
    reg = DockerRegistry(work)
    layout = os.path.join(work, "layout")
    images.make_oci_layout(layout, cmd=["sh"])
    reg.push(layout, images.go_arch(), "pxt/busybox:1")
    reg.layout = layout
    yield reg
    reg.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def pxcrid(cri_registry):
    d = Daemon(cri_registry)
    yield d
    d.cleanup()


@pytest.fixture(scope="module")
def busybox(pxcrid, cri_registry):
    ref = "%s/pxt/busybox:1" % cri_registry.host
    p = pb()
    pxcrid.img("PullImage", image=p.ImageSpec(image=ref))
    return ref
