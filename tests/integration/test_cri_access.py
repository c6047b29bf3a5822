"""Who may talk to pxcrid, and what it gives away: the socket is 0660
root:root in a 0700 directory pxcrid creates, a real unprivileged user gets
permission denied, and registry credentials never reach pxcrid's log, its
state (database and files) or a process command line during a pull."""

import base64
import glob
import os
import shutil
import stat
import subprocess
import tempfile
import threading

import grpc
import pytest

import images
from cri_env import Daemon, pb
from registries import DockerRegistry

USER, PASSWORD = "pxtacc", "Acc3ss-s3cret-pw"
AUTH_B64 = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()

# Connects to argv[1]; prints the errno name or "connected".
CLIENT = """
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    print("connected")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
"""


def connect_as_nobody(path):
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "/usr/bin/python3", "-c", CLIENT, path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def open_dir():
    """A 0755 parent anyone may traverse: what keeps others out must be pxcrid's."""
    d = tempfile.mkdtemp(prefix="pxt-acc-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(open_dir, cri_registry):
    sock = os.path.join(open_dir, "run", "pxcri", "pxcri.sock")
    assert not os.path.exists(os.path.dirname(os.path.dirname(sock)))
    d = Daemon(cri_registry, extra={"cri": {"listen": sock}})
    yield d
    d.cleanup()


def test_harness_can_connect_as_nobody(open_dir):
    """The negative test below means something: nobody connects to an open socket."""
    import socket

    path = os.path.join(open_dir, "open.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    os.chmod(path, 0o666)
    try:
        assert connect_as_nobody(path) == "connected"
    finally:
        s.close()
        os.unlink(path)


def test_socket_mode_owner_and_directory(daemon):
    sock = daemon.sock
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, 0)
    dst = os.stat(os.path.dirname(sock))
    assert stat.S_IMODE(dst.st_mode) == 0o700, oct(dst.st_mode)
    assert (dst.st_uid, dst.st_gid) == (0, 0)
    # root gets in
    assert daemon.rt("Version").runtime_name


def test_unprivileged_user_denied(daemon):
    sock = daemon.sock
    sdir = os.path.dirname(sock)
    assert connect_as_nobody(sock) == "EACCES"
    # Even with the directory opened up, the socket's 0660 root:root keeps nobody out.
    os.chmod(sdir, 0o755)
    try:
        assert connect_as_nobody(sock) == "EACCES"
    finally:
        os.chmod(sdir, 0o700)
    assert daemon.rt("Version").runtime_name


@pytest.fixture(scope="module")
def auth_registry(cri_registry):
    work = tempfile.mkdtemp(prefix="pxt-reg-acc-")
    reg = DockerRegistry(work, "basic", htpasswd={USER: PASSWORD})
    reg.push(cri_registry.layout, images.go_arch(), "pxt/secret:1", creds="%s:%s" % (USER, PASSWORD))
    yield reg
    reg.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def auth_daemon(cri_registry, auth_registry):
    regs = {r.host: {"insecure": True} for r in (cri_registry, auth_registry)}
    d = Daemon(cri_registry, extra={"image": {"registries": regs}})
    yield d
    d.cleanup()


class CmdlineWatch(threading.Thread):
    """Reads every process's command line and environment until stopped."""

    def __init__(self, needles):
        super().__init__(daemon=True)
        self.needles = [n.encode() for n in needles]
        self.hits = []
        self.rounds = 0
        self.done = threading.Event()

    def run(self):
        me = str(os.getpid())
        while not self.done.is_set():
            for d in glob.glob("/proc/[0-9]*"):
                if d.endswith("/" + me):
                    continue
                for f in ("cmdline", "environ"):
                    try:
                        with open(os.path.join(d, f), "rb") as fh:
                            data = fh.read()
                    except OSError:
                        continue
                    if any(n in data for n in self.needles):
                        self.hits.append((d, f, data[:300]))
            self.rounds += 1


def grep_tree(root, needles):
    hits = []
    for dirpath, _, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            hits += [(p, x) for x in needles if x.encode() in data]
    return hits


def test_credentials_never_leak(auth_daemon, auth_registry):
    d = auth_daemon
    p = pb()
    ref = "%s/pxt/secret:1" % auth_registry.host
    needles = [PASSWORD, AUTH_B64]
    watch = CmdlineWatch(needles)
    watch.start()
    try:
        req = d.req("PullImage", image=p.ImageSpec(image=ref))
        req.auth.CopyFrom(p.AuthConfig(username=USER, password=PASSWORD))
        assert d.img("PullImage", req).image_ref
        d.img("RemoveImage", image=p.ImageSpec(image=ref))
        req = d.req("PullImage", image=p.ImageSpec(image=ref))
        req.auth.CopyFrom(p.AuthConfig(auth=AUTH_B64))
        assert d.img("PullImage", req).image_ref
        # A failed pull (wrong password) must not echo the password either.
        req = d.req("PullImage", image=p.ImageSpec(image=ref + "x"))
        req.auth.CopyFrom(p.AuthConfig(username=USER, password=PASSWORD + "-wrong"))
        with pytest.raises(grpc.RpcError) as e:
            d.img("PullImage", req)
        assert PASSWORD not in e.value.details()
    finally:
        watch.done.set()
        watch.join()
    assert watch.rounds > 0
    assert not watch.hits, watch.hits
    # The log (debug level) and every file of the daemon: database, state, images.
    assert os.path.getsize(d.log_path) > 0
    assert not grep_tree(d.dir, needles)
    dbs = [f for f in glob.glob(os.path.join(d.dir, "**", "*.db"), recursive=True)]
    assert dbs, "no state database found under %s" % d.dir
    for db in dbs:
        dump = subprocess.run(["sqlite3", db, ".dump"], capture_output=True, text=True, check=True).stdout
        assert "CREATE TABLE" in dump
        for n in needles:
            assert n not in dump, db
