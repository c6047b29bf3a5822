"""pxcri as containerd's runtime binary, end to end.

Debian's containerd 1.6 runs containers through containerd-shim-runc-v2,
which invokes a runc-compatible binary (`ctr run --runc-binary PXCRI`) with
`--root ROOT/<namespace> --log BUNDLE/log.json --log-format json` and then
create, start, kill, delete, exec (and ps, pause, resume on request).
These tests start a private containerd (own root, state, socket; CRI
disabled), import a busybox image built by images.make_oci_archive, and
check, for every backend (crun, runc, lxc), that through pxcri:

- output and exit codes reach the ctr client (run --rm),
- signals from `ctr task kill` reach the container and its exit status
  reports them (137 for SIGKILL),
- `exec` into a running container works,
- each container is routed by its ID (PXCRI_CONFIG, inherited by the shim
  from containerd's environment) to the intended backend: `pxcri state`
  reports it, and the backend's own state dir under pxcri's root has it.

Needs root, containerd, ctr, crun, runc, umoci and skopeo.  PXCRI_BIN
overrides the binary under test (default: <repo>/build/pxcri).
"""

import glob
import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

import images

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PXCRI = os.environ.get("PXCRI_BIN", os.path.join(REPO, "build", "pxcri"))
IMAGE = "docker.io/pxt/busybox:latest"
NAMESPACE = "pxt"
BACKENDS = ("crun", "runc", "lxc")
TOOLS = ("containerd", "ctr", "containerd-shim-runc-v2", "crun", "runc",
         "umoci", "skopeo")

if os.geteuid() != 0:
    pytest.skip("containerd tests need root", allow_module_level=True)
_missing = [t for t in TOOLS if shutil.which(t) is None]
if _missing:
    pytest.skip("containerd tests need %s" % ", ".join(_missing),
                allow_module_level=True)
if not os.access(PXCRI, os.X_OK):
    pytest.skip("pxcri binary %s not found (build it, or set PXCRI_BIN)"
                % PXCRI, allow_module_level=True)


def _overlay_works(tmp):
    """Whether overlayfs can be mounted on tmp's filesystem."""
    d = {n: os.path.join(tmp, "ovl-" + n) for n in ("l", "u", "w", "m")}
    for p in d.values():
        os.makedirs(p)
    opts = "lowerdir=%(l)s,upperdir=%(u)s,workdir=%(w)s" % d
    ok = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts,
                         d["m"]], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", d["m"]], check=True)
    for p in d.values():
        shutil.rmtree(p, ignore_errors=True)
    return ok


def _mounts_under(path):
    """Mount points under path, deepest first."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == path or mnt.startswith(path + "/"):
                found.append(mnt)
    return sorted(found, key=len, reverse=True)


def _pids_mentioning(text):
    """PIDs of processes whose command line contains text (e.g. shims)."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(p))
    return pids


class Containerd:
    """A private containerd and a ctr client bound to it."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "containerd.sock")
        self.runc_root = os.path.join(tmp, "runc-root")
        self.fifo_dir = os.path.join(tmp, "fifo")
        self.log = os.path.join(tmp, "containerd.log")
        self.snapshotter = "overlayfs"
        self.proc = None
        # containerd 1.6 shims always put their sockets in /run/containerd/s.
        self.made_run_dir = not os.path.exists("/run/containerd")

    @property
    def pxcri_root(self):
        """The --root the runc shim passes to pxcri."""
        return os.path.join(self.runc_root, NAMESPACE)

    def ctr(self, *args, timeout=60):
        return subprocess.run(["ctr", "-a", self.sock, "-n", NAMESPACE]
                              + list(args), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def run_args(self, *extra):
        """Leading `ctr run` arguments that route the shim through pxcri."""
        return ["run", "--runc-binary", PXCRI, "--runc-root", self.runc_root,
                "--fifo-dir", self.fifo_dir,
                "--snapshotter", self.snapshotter] + list(extra)

    def task_status(self, cid):
        """STATUS column of `ctr task ls` for cid, or None if no task."""
        for line in self.ctr("task", "ls").stdout.splitlines()[1:]:
            cols = line.split()
            if cols and cols[0] == cid:
                return cols[-1]
        return None

    def wait_status(self, cid, want, timeout=20):
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.task_status(cid)
            if status == want:
                return status
            time.sleep(0.1)
        return status

    def log_tail(self, n=40):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def remove(self, cid):
        """Remove cid's task, container and snapshot, whatever state they are in."""
        if self.task_status(cid) not in (None, "STOPPED"):
            self.ctr("task", "kill", "-s", "SIGKILL", cid)
            self.wait_status(cid, "STOPPED", timeout=10)
        self.ctr("task", "delete", "--force", cid)
        self.ctr("container", "delete", cid)
        self.ctr("snapshots", "--snapshotter", self.snapshotter, "rm", cid)


def _write_config(tmp, ctrd):
    config = """\
version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{tmp}/opt"
""".format(tmp=tmp, sock=ctrd.sock)
    path = os.path.join(tmp, "containerd.toml")
    with open(path, "w") as f:
        f.write(config)
    return path


def _write_pxcri_config(tmp):
    config = {
        "runtime": {"routing": [
            {"pattern": "pxt-crun-*", "runtime": "crun"},
            {"pattern": "pxt-runc-*", "runtime": "runc"},
            {"pattern": "pxt-lxc-*", "runtime": "lxc"},
        ]},
        "container_config": {"default_container_type": "crun"},
    }
    path = os.path.join(tmp, "pxcri.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return path


def _stop(ctrd):
    """Remove leftovers, stop containerd and its shims, unmount, delete tmp."""
    if ctrd.proc is not None and ctrd.proc.poll() is None:
        for cid in ctrd.ctr("container", "ls", "-q").stdout.split():
            ctrd.remove(cid)
        ctrd.proc.send_signal(signal.SIGTERM)
        try:
            ctrd.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ctrd.proc.kill()
            ctrd.proc.wait()
    # Shims outlive containerd; ours carry our socket path on their argv.
    for pid in _pids_mentioning(ctrd.sock):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for mnt in _mounts_under(ctrd.tmp):
        subprocess.run(["umount", "-l", mnt], capture_output=True)
    shutil.rmtree(ctrd.tmp, ignore_errors=True)
    # liblxc's lock directories for the lxc backend's root.
    shutil.rmtree("/run/lxc/lock" + ctrd.tmp, ignore_errors=True)
    # ctr puts containers in cgroup /<namespace>/<id>; drop the empty parent.
    for cg in glob.glob("/sys/fs/cgroup/*/" + NAMESPACE) + \
            glob.glob("/sys/fs/cgroup/" + NAMESPACE):
        try:
            os.rmdir(cg)
        except OSError:
            pass
    if ctrd.made_run_dir:
        for d in ("/run/containerd/s", "/run/containerd"):
            try:
                os.rmdir(d)
            except OSError:
                pass


@pytest.fixture(scope="module")
def containerd():
    """A private containerd using PXCRI_CONFIG, with the test image imported."""
    tmp = tempfile.mkdtemp(prefix="pxcri-ctrd-")
    ctrd = Containerd(tmp)
    try:
        if not _overlay_works(tmp):
            ctrd.snapshotter = "native"
        env = dict(os.environ, PXCRI_CONFIG=_write_pxcri_config(tmp))
        with open(ctrd.log, "w") as log:
            ctrd.proc = subprocess.Popen(
                ["containerd", "--config", _write_config(tmp, ctrd)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while ctrd.ctr("version").returncode != 0:
            assert ctrd.proc.poll() is None, \
                "containerd exited:\n" + ctrd.log_tail()
            assert time.monotonic() < deadline, \
                "containerd did not come up:\n" + ctrd.log_tail()
            time.sleep(0.2)

        archive = images.make_oci_archive(os.path.join(tmp, "busybox.tar"),
                                          IMAGE)
        r = ctrd.ctr("images", "import", "--snapshotter", ctrd.snapshotter,
                     archive, timeout=120)
        assert r.returncode == 0, r.stderr
        assert IMAGE in ctrd.ctr("images", "ls", "-q").stdout.split()
        yield ctrd
    finally:
        _stop(ctrd)


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def new_id(containerd):
    """Factory of unique container IDs; removes the containers afterwards."""
    made = []

    def make(prefix):
        cid = "%s-%s" % (prefix, uuid.uuid4().hex[:10])
        made.append(cid)
        return cid

    yield make
    for cid in made:
        containerd.remove(cid)


def _run_detached(ctrd, cid, *cmd):
    r = ctrd.ctr(*ctrd.run_args("-d"), IMAGE, cid, *cmd)
    assert r.returncode == 0, r.stderr + ctrd.log_tail()
    assert ctrd.wait_status(cid, "RUNNING") == "RUNNING", ctrd.log_tail()


def _pxcri_state(ctrd, cid):
    r = subprocess.run([PXCRI, "--root", ctrd.pxcri_root, "state", cid],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_run_prints_output(containerd, backend, new_id):
    cid = new_id("pxt-%s" % backend)
    r = containerd.ctr(*containerd.run_args("--rm"), IMAGE, cid,
                       "echo", "hello-from-pxcri")
    assert r.returncode == 0, r.stderr + containerd.log_tail()
    assert "hello-from-pxcri" in r.stdout.splitlines()


def test_run_exit_code(containerd, backend, new_id):
    cid = new_id("pxt-%s" % backend)
    r = containerd.ctr(*containerd.run_args("--rm"), IMAGE, cid,
                       "sh", "-c", "exit 7")
    assert r.returncode == 7, r.stderr + containerd.log_tail()


def test_run_with_default_seccomp_profile(containerd, backend, new_id):
    """containerd's default seccomp profile (an allowlist with argument
    conditions) is applied: allowed calls work, unshare is refused."""
    cid = new_id("pxt-%s" % backend)
    r = containerd.ctr(*containerd.run_args("--rm", "--seccomp"), IMAGE, cid,
                       "sh", "-c", "echo seccomp-ok; unshare -U true || exit 9")
    assert "seccomp-ok" in r.stdout.splitlines(), r.stderr + containerd.log_tail()
    assert r.returncode == 9, r.stderr


def test_run_with_terminal(containerd, backend, new_id):
    """`ctr run -t`: the shim hands pxcri a console socket; the container's
    process gets a terminal of its own devpts."""
    cid = new_id("pxt-%s" % backend)
    master, slave = os.openpty()
    try:
        p = subprocess.Popen(["ctr", "-a", containerd.sock, "-n", NAMESPACE]
                             + containerd.run_args("--rm", "-t")
                             + [IMAGE, cid, "sh", "-c", "tty; exit 3"],
                             stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        out = b""
        while True:
            r, _, _ = select.select([master], [], [], 20)
            if not r:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        assert p.wait(timeout=20) == 3, out
        assert b"/dev/pts/0" in out, out
    finally:
        os.close(master)


def test_kill_detached(containerd, backend, new_id):
    """SIGKILL via `ctr task kill`; the task's exit status is 137."""
    cid = new_id("pxt-%s" % backend)
    _run_detached(containerd, cid, "sleep", "1000")
    r = containerd.ctr("task", "kill", "-s", "SIGKILL", cid)
    assert r.returncode == 0, r.stderr
    assert containerd.wait_status(cid, "STOPPED") == "STOPPED"
    # ctr 1.6 has no `task wait`; `task delete` reports the exit status.
    r = containerd.ctr("task", "delete", cid)
    assert r.returncode == 0, r.stderr
    assert re.search(r"exit code 137\b", r.stderr), r.stderr
    assert containerd.task_status(cid) is None
    r = containerd.ctr("container", "delete", cid)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(
        os.path.join(containerd.pxcri_root, "containers", cid + ".json"))


def test_kill_foreground_sigterm(containerd, backend, new_id):
    """SIGTERM reaches a trapping PID 1; `ctr run` returns its exit code."""
    cid = new_id("pxt-%s" % backend)
    script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done"
    proc = subprocess.Popen(
        ["ctr", "-a", containerd.sock, "-n", NAMESPACE]
        + containerd.run_args("--rm") + [IMAGE, cid, "sh", "-c", script],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        r = containerd.ctr("task", "kill", "-s", "SIGTERM", cid)
        assert r.returncode == 0, r.stderr
        assert proc.wait(timeout=20) == 42, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_exec(containerd, backend, new_id):
    cid = new_id("pxt-%s" % backend)
    _run_detached(containerd, cid, "sleep", "1000")
    r = containerd.ctr("task", "exec", "--exec-id", "e1",
                       "--fifo-dir", containerd.fifo_dir, cid,
                       "sh", "-c", "echo exec-$((6*7)); exit 3")
    assert r.returncode == 3, r.stderr + containerd.log_tail()
    assert "exec-42" in r.stdout.splitlines()


def test_routed_to_backend(containerd, backend, new_id):
    cid = new_id("pxt-%s" % backend)
    _run_detached(containerd, cid, "sleep", "1000")
    state = _pxcri_state(containerd, cid)
    assert state.get("backend") == backend, state
    assert state["id"] == cid
    assert state["status"] == "running"
    root = containerd.pxcri_root
    with open(os.path.join(root, "containers", cid + ".json")) as f:
        assert json.load(f)["backend"] == backend
    assert os.path.isdir(os.path.join(root, backend, cid))
    other = [b for b in BACKENDS if b != backend][0]
    assert not os.path.exists(os.path.join(root, other, cid))
    if backend == "lxc":
        # liblxc's own view, through pxcri's state: its init is running,
        # the process itself (pxcri-init became it, as PID 1).
        with open("/proc/%d/cmdline" % state["pid"], "rb") as f:
            assert f.read() == b"sleep\x001000\x00"
        return
    # The backend itself knows the container under pxcri's root.
    r = subprocess.run([backend, "--root", os.path.join(root, backend),
                        "state", cid], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "running"


def test_unmatched_id_uses_default_backend(containerd, new_id):
    """An ID no routing pattern matches goes to default_container_type."""
    cid = new_id("pxt-other")
    _run_detached(containerd, cid, "sleep", "1000")
    state = _pxcri_state(containerd, cid)
    assert state.get("backend") == "crun", state
    assert os.path.isdir(os.path.join(containerd.pxcri_root, "crun", cid))
