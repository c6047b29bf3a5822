"""The Proxmox VE double itself (tests/proxmox/): containers backed by real
LXC on this machine, through both front ends (the REST API over HTTPS and
the fake pct).

A tiny template is built here (busybox-static and a few applet links, packed
with tar --zstd).  Needs root and the liblxc tools; every container a test
makes is stopped and destroyed by a finalizer, and the double stops what is
left when it gets SIGTERM."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from pve_env import FAKE_PCT, Double, api, make_cert

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "echo", "sleep", "cat", "id", "ps", "hostname", "env", "ls", "true"]
TMPL = "pxt-busybox_1.0_amd64.tar.zst"
TMPL_VOLID = "local:vztmpl/" + TMPL
DEFAULT_FAULTS = {"task_delay": 0.1, "fail_task": None, "taken": [], "down": False, "bridges": ["vmbr0"]}

# The entrypoint: writes what it sees into the bind-mounted /.pxcri/run, then
# sleeps $1 seconds (exec: the sleep is the container's init).
RUN_SH = """#!/bin/sh
echo hi > /.pxcri/run/out
env > /.pxcri/run/env
hostname > /.pxcri/run/hostname
id -u > /.pxcri/run/uid
exec sleep "$1"
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("lxc-start") or not os.path.exists(BUSYBOX),
                                reason="needs root, the liblxc tools and busybox-static")


def build_template(d, path):
    root = os.path.join(d, "tmpl-rootfs")
    for sub in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "run", ".pxcri/run"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy2(BUSYBOX, os.path.join(root, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(root, "bin", a))
    for name, text in (("run.sh", RUN_SH), ("sbin/init", "#!/bin/sh\nexec sleep 3600\n")):
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(root, name), 0o755)
    with open(os.path.join(root, "etc", "marker"), "w") as f:
        f.write("from the template\n")
    subprocess.run(["tar", "--zstd", "--numeric-owner", "-cf", path, "-C", root, "."], check=True)


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="pxt-dbl-")
    os.chmod(d, 0o711)  # unprivileged containers (host uid 100000) walk to their rootfs
    cert, key, _ = make_cert(d, "pve")
    tarball = os.path.join(d, TMPL)
    build_template(d, tarball)
    dbl = Double(d, cert, key)
    shutil.copy(tarball, os.path.join(dbl.storage("local"), "template", "cache", TMPL))
    bindir = os.path.join(d, "bin")
    os.mkdir(bindir)
    os.symlink(FAKE_PCT, os.path.join(bindir, "pct"))
    try:
        yield {"dir": d, "double": dbl, "pct": os.path.join(bindir, "pct"), "tarball": tarball}
    finally:
        lxcpath = dbl.lxcpath
        dbl.stop()
        left = [n for n in (os.listdir(lxcpath) if os.path.isdir(lxcpath) else [])
                if subprocess.run(["lxc-info", "-n", n, "-P", lxcpath, "-s", "-H"], capture_output=True,
                                  text=True).stdout.strip() not in ("", "STOPPED")]
        shutil.rmtree(d, ignore_errors=True)
        assert not left, "the double left running containers: %s" % left
        if not lxcpath.startswith(d):
            assert not os.path.exists(lxcpath)


_next = [2000]


@pytest.fixture
def cts(env):
    """new_vmid() hands out VMIDs; each is stopped and destroyed at the end."""
    used = []
    env["double"].control(**DEFAULT_FAULTS)

    def new_vmid():
        _next[0] += 1
        used.append(_next[0])
        return _next[0]
    yield new_vmid
    dbl = env["double"]
    dbl.control(**DEFAULT_FAULTS)
    for vmid in reversed(used):
        subprocess.run(["lxc-stop", "-n", str(vmid), "-P", dbl.lxcpath, "-k"], capture_output=True)
        pct(env, "destroy", str(vmid), "--force", "1", "--purge", "1")


# ---- front ends ----

def pct(env, *args, check=False, stdin=None):
    res = subprocess.run([env["pct"]] + list(args), capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PVE_DOUBLE_STATE=env["double"].state), stdin=stdin)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def api_task(env, method, path, params=None, **kw):
    """A request answered by a task, run to its end: (exitstatus, log text);
    a refused request raises AssertionError with its reason."""
    st, reason, ans = api(env, method, path, params, **kw)
    if st != 200:
        return None, reason
    upid = ans["data"]
    q = urllib.parse.quote(upid, safe="")
    for _ in range(1200):
        t = api(env, "GET", "/nodes/pve1/tasks/%s/status" % q)[2]["data"]
        if t["status"] == "stopped":
            log = api(env, "GET", "/nodes/pve1/tasks/%s/log" % q, {"limit": 1000})[2]["data"]
            return t["exitstatus"], "\n".join(line["t"] for line in log)
        time.sleep(0.05)
    raise AssertionError("task %s did not end" % upid)


class Rest:
    name = "api"

    def __init__(self, env):
        self.env = env

    def create(self, vmid, ostemplate=TMPL_VOLID, **params):
        return api_task(self.env, "POST", "/nodes/pve1/lxc", dict(params, vmid=str(vmid), ostemplate=ostemplate))

    def action(self, vmid, action, **params):
        return api_task(self.env, "POST", "/nodes/pve1/lxc/%s/status/%s" % (vmid, action), params or None)

    def status(self, vmid):
        st, reason, ans = api(self.env, "GET", "/nodes/pve1/lxc/%s/status/current" % vmid)
        return ans["data"]["status"] if st == 200 else reason

    def destroy(self, vmid, **params):
        return api_task(self.env, "DELETE", "/nodes/pve1/lxc/%s" % vmid, params or None)

    def template(self, vmid):
        return api_task(self.env, "POST", "/nodes/pve1/lxc/%s/template" % vmid)

    def clone(self, vmid, newid, **params):
        return api_task(self.env, "POST", "/nodes/pve1/lxc/%s/clone" % vmid, dict(params, newid=str(newid)))

    def config(self, vmid):
        return api(self.env, "GET", "/nodes/pve1/lxc/%s/config" % vmid)[2]["data"]


class Pct:
    name = "pct"

    def __init__(self, env):
        self.env = env

    @staticmethod
    def _opts(params):
        return [x for k, v in params.items() for x in ("--" + k, str(v))]

    def _task(self, *args):
        res = pct(self.env, *args)
        return ("OK" if res.returncode == 0 else res.stderr.strip()), res.stdout + res.stderr

    def create(self, vmid, ostemplate=TMPL_VOLID, **params):
        return self._task("create", str(vmid), ostemplate, *self._opts(params))

    def action(self, vmid, action, **params):
        return self._task(action, str(vmid), *self._opts(params))

    def status(self, vmid):
        res = pct(self.env, "status", str(vmid))
        return res.stdout.split(":", 1)[1].strip() if res.returncode == 0 else res.stderr

    def destroy(self, vmid, **params):
        return self._task("destroy", str(vmid), *self._opts(params))

    def template(self, vmid):
        return self._task("template", str(vmid))

    def clone(self, vmid, newid, **params):
        return self._task("clone", str(vmid), str(newid), *self._opts(params))

    def config(self, vmid):
        out = pct(self.env, "config", str(vmid), check=True).stdout
        return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


@pytest.fixture(params=[Rest, Pct], ids=["api", "pct"])
def fe(request, env):
    return request.param(env)


def ok(result):
    exitstatus, log = result
    assert exitstatus == "OK", log
    return log


def wait_status(fe, vmid, want, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        s = fe.status(vmid)
        if s == want or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


def rootfs_dir(dbl, cfg):
    vol = cfg["rootfs"].split(",")[0]
    sid, name = vol.split(":", 1)
    name = name.rsplit("/", 1)[-1]
    return os.path.join(dbl.storage(sid), "images", name.split("-")[1], name)


def init_pid(dbl, vmid):
    out = subprocess.run(["lxc-info", "-n", str(vmid), "-P", dbl.lxcpath, "-p", "-H"], capture_output=True,
                         text=True).stdout.strip()
    return int(out) if out.isdigit() else None


def read(path):
    with open(path) as f:
        return f.read()


def nothing_left(dbl, vmid):
    assert not os.path.exists(os.path.join(dbl.state, "storage", "local", "images", str(vmid)))
    assert not os.path.exists(os.path.join(dbl.state, "storage", "local-zfs", "images", str(vmid)))
    assert not os.path.exists(os.path.join(dbl.lxcpath, str(vmid)))
    assert str(vmid) not in dbl.state_json()["cts"]


# ---- tests ----

def test_create_start_runs_entrypoint(env, cts, fe, tmp_path):
    """create extracts the template; start runs the entrypoint in a real
    container whose /.pxcri/run is a storage volume (API: a token may not
    bind host paths) or a host directory (pct, root@pam); env is passed."""
    dbl, vmid = env["double"], cts()
    params = {"hostname": "pxt-%s" % fe.name, "rootfs": "local-zfs:1", "entrypoint": "/bin/sh /run.sh 30",
              "net0": "name=eth0,bridge=vmbr0,ip=dhcp", "memory": 128}
    if fe.name == "api":
        params.update(mp0="local:1,mp=/.pxcri/run", env="FOO=bar\0BAZ=two words")
    else:
        params.update(mp0="%s,mp=/.pxcri/run" % tmp_path, env="FOO=bar")
    log = ok(fe.create(vmid, **params))
    assert "extracting archive" in log
    cfg = fe.config(vmid)
    root = rootfs_dir(dbl, cfg)
    assert root.endswith("/images/%d/subvol-%d-disk-0" % (vmid, vmid))
    assert read(os.path.join(root, "etc", "marker")) == "from the template\n"
    assert os.stat(os.path.join(root, "bin", "busybox")).st_uid == 0
    if fe.name == "api":
        assert cfg["mp0"].startswith("local:%d/vm-%d-disk-1," % (vmid, vmid))
        run = os.path.join(dbl.images("local", vmid), "vm-%d-disk-1" % vmid)
    else:
        run = str(tmp_path)
    assert os.path.isdir(run) and not os.listdir(run)
    assert fe.status(vmid) == "stopped"
    ok(fe.action(vmid, "start"))
    assert fe.status(vmid) == "running"
    for _ in range(100):
        if os.path.exists(os.path.join(run, "uid")):
            break
        time.sleep(0.05)
    assert read(os.path.join(run, "out")) == "hi\n"
    assert read(os.path.join(run, "hostname")) == "pxt-%s\n" % fe.name
    envs = read(os.path.join(run, "env")).splitlines()
    assert "FOO=bar" in envs
    if fe.name == "api":
        assert "BAZ=two words" in envs
    conf = read(os.path.join(dbl.lxcpath, str(vmid), "config"))
    assert "lxc.net.0.type = empty" in conf and "lxc.cgroup.memory.limit_in_bytes = 134217728" in conf
    # a second start is refused
    exitstatus, msg = fe.action(vmid, "start")
    assert exitstatus != "OK" and "already running" in msg
    ok(fe.action(vmid, "stop"))
    assert fe.status(vmid) == "stopped"
    assert init_pid(dbl, vmid) is None
    ok(fe.destroy(vmid))
    nothing_left(dbl, vmid)


def test_status_follows_the_container(env, cts, fe):
    """An init that exits stops the container: every status view says so."""
    dbl, vmid = env["double"], cts()
    ok(fe.create(vmid, hostname="short", entrypoint="/bin/sleep 2", rootfs="local:1"))
    ok(fe.action(vmid, "start"))
    assert fe.status(vmid) == "running"
    assert wait_status(fe, vmid, "stopped") == "stopped"
    res = [r for r in api(env, "GET", "/cluster/resources")[2]["data"] if r["vmid"] == vmid]
    assert res[0]["status"] == "stopped"
    listed = [r for r in api(env, "GET", "/nodes/pve1/lxc")[2]["data"] if int(r["vmid"]) == vmid]
    assert listed[0]["status"] == "stopped"
    line = [ln.split() for ln in pct(env, "list", check=True).stdout.splitlines() if ln.startswith(str(vmid))]
    assert line[0][1] == "stopped"
    # it can start again
    ok(fe.action(vmid, "start"))
    assert fe.status(vmid) == "running"
    ok(fe.destroy(vmid, force=1))
    nothing_left(dbl, vmid)


def test_pct_exec_runs_inside(env, cts):
    vmid = cts()
    ok(Pct(env).create(vmid, hostname="inside", rootfs="local:1"))  # /sbin/init: sleep 3600
    res = pct(env, "exec", str(vmid), "--", "hostname")
    assert res.returncode == 255 and "CT %d not running" % vmid in res.stderr
    ok(Pct(env).action(vmid, "start"))
    res = pct(env, "exec", str(vmid), "--", "hostname", check=True)
    assert res.stdout == "inside\n"
    res = pct(env, "exec", str(vmid), "--", "cat", "/etc/marker", check=True)
    assert res.stdout == "from the template\n"
    res = pct(env, "exec", str(vmid), "--", "sh", "-c", "cat; echo err >&2; exit 3", stdin=None)
    assert res.returncode == 3 and res.stderr == "err\n"
    p = subprocess.run([env["pct"], "exec", str(vmid), "--", "cat"], input="piped\n", capture_output=True, text=True,
                       env=dict(os.environ, PVE_DOUBLE_STATE=env["double"].state), timeout=60)
    assert p.returncode == 0 and p.stdout == "piped\n"
    # the process list inside shows the container's own init as PID 1
    res = pct(env, "exec", str(vmid), "--", "cat", "/proc/1/cmdline", check=True)
    assert res.stdout.replace("\0", " ").startswith("sleep 3600")


def test_shutdown_and_suspend(env, cts, fe):
    dbl, vmid = env["double"], cts()
    ok(fe.create(vmid, rootfs="local-zfs:1"))
    ok(fe.action(vmid, "start"))
    ok(fe.action(vmid, "suspend"))
    st, _, ans = api(env, "GET", "/nodes/pve1/lxc/%d/status/current" % vmid)
    assert ans["data"]["status"] == "running" and ans["data"].get("qmpstatus") == "paused"
    assert subprocess.run(["lxc-info", "-n", str(vmid), "-P", dbl.lxcpath, "-s", "-H"], capture_output=True,
                          text=True).stdout.strip() == "FROZEN"
    ok(fe.action(vmid, "resume"))
    assert "qmpstatus" not in api(env, "GET", "/nodes/pve1/lxc/%d/status/current" % vmid)[2]["data"]
    # sh ignores SIGPWR as PID 1: without forceStop the shutdown times out
    exitstatus, log = fe.action(vmid, "shutdown", timeout=1)
    assert exitstatus != "OK" and "lxc-stop" in exitstatus + log
    assert fe.status(vmid) == "running"
    t0 = time.monotonic()
    ok(fe.action(vmid, "shutdown", timeout=1, forceStop=1))
    assert time.monotonic() - t0 < 20
    assert fe.status(vmid) == "stopped" and init_pid(dbl, vmid) is None


def test_unprivileged(env, cts, fe, tmp_path):
    dbl, vmid = env["double"], cts()
    params = {"rootfs": "local-zfs:1", "unprivileged": 1, "entrypoint": "/bin/sh /run.sh 30"}
    if fe.name == "api":
        params["mp0"] = "local-zfs:1,mp=/.pxcri/run"
    else:
        # a host directory the container's root (host uid 100000) can reach
        tmp_path = os.path.join(env["dir"], "run-%d" % vmid)
        os.mkdir(tmp_path)
        os.chown(tmp_path, 100000, 100000)
        params["mp0"] = "%s,mp=/.pxcri/run" % tmp_path
    ok(fe.create(vmid, **params))
    cfg = fe.config(vmid)
    root = rootfs_dir(dbl, cfg)
    for p in (root, os.path.join(root, "bin", "busybox"), os.path.join(root, "etc", "marker")):
        s = os.lstat(p)
        assert (s.st_uid, s.st_gid) == (100000, 100000), p
    assert os.lstat(os.path.join(root, "bin", "sh")).st_uid == 100000  # symlinks too
    if fe.name == "api":
        run = os.path.join(dbl.images("local-zfs", vmid), "subvol-%d-disk-1" % vmid)
        os.chown(run, 100000, 100000)
    else:
        run = str(tmp_path)
    ok(fe.action(vmid, "start"))
    pid = init_pid(dbl, vmid)
    assert pid
    uids = [ln.split()[1:] for ln in read("/proc/%d/status" % pid).splitlines() if ln.startswith("Uid:")][0]
    assert uids == ["100000"] * 4
    for _ in range(100):
        if os.path.exists(os.path.join(run, "uid")):
            break
        time.sleep(0.05)
    assert read(os.path.join(run, "uid")) == "0\n"  # root inside
    assert os.stat(os.path.join(run, "uid")).st_uid == 100000


def test_template_and_linked_clone_on_zfs(env, cts):
    dbl, t, c = env["double"], cts(), cts()
    rest = Rest(env)
    ok(rest.create(t, hostname="base", rootfs="local-zfs:1", entrypoint="/bin/sh /run.sh 30",
                   mp0="local-zfs:1,mp=/.pxcri/run"))
    assert api(env, "GET", "/nodes/pve1/lxc/%d/feature" % t, {"feature": "clone"})[2]["data"]["hasFeature"] == 0
    ok(rest.template(t))
    cfg = rest.config(t)
    assert cfg["template"] == 1 and cfg["rootfs"].startswith("local-zfs:base-%d-disk-0," % t)
    assert cfg["mp0"].startswith("local-zfs:base-%d-disk-1," % t)
    assert os.path.isdir(os.path.join(dbl.images("local-zfs", t), "base-%d-disk-0" % t))
    assert not os.path.exists(os.path.join(dbl.images("local-zfs", t), "subvol-%d-disk-0" % t))
    assert api(env, "GET", "/nodes/pve1/lxc/%d/feature" % t, {"feature": "clone"})[2]["data"]["hasFeature"] == 1
    exitstatus, msg = rest.action(t, "start")
    assert exitstatus is None and "is a template" in msg
    exitstatus, msg = rest.clone(t, c, storage="local")
    assert exitstatus is None and "not allowed for linked clones" in msg
    log = ok(rest.clone(t, c, hostname="linked"))
    assert "linked clone" in log
    cfg = rest.config(c)
    assert "template" not in cfg and cfg["hostname"] == "linked" and cfg["entrypoint"] == "/bin/sh /run.sh 30"
    assert cfg["rootfs"].startswith("local-zfs:base-%d-disk-0/subvol-%d-disk-0," % (t, c))
    root = os.path.join(dbl.images("local-zfs", c), "subvol-%d-disk-0" % c)
    assert read(os.path.join(root, "etc", "marker")) == "from the template\n"
    ok(rest.action(c, "start"))
    run = os.path.join(dbl.images("local-zfs", c), "subvol-%d-disk-1" % c)
    for _ in range(100):
        if os.path.exists(os.path.join(run, "hostname")):
            break
        time.sleep(0.05)
    assert read(os.path.join(run, "hostname")) == "linked\n"
    exitstatus, msg = rest.destroy(t)
    assert exitstatus is None and "still in use by linked clone" in msg
    ok(rest.destroy(c, force=1))
    nothing_left(dbl, c)
    assert os.path.isdir(os.path.join(dbl.images("local-zfs", t), "base-%d-disk-0" % t))  # the base stays


def test_clone_on_local(env, cts):
    dbl, t, c, f = env["double"], cts(), cts(), cts()
    p = Pct(env)
    ok(p.create(t, rootfs="local:1", hostname="tmpl"))
    # a normal CT is always copied in full, even when asked for a linked clone
    ok(p.clone(t, f, full=0, hostname="copy0"))
    assert p.config(f)["rootfs"].startswith("local:%d/vm-%d-disk-0," % (f, f))
    ok(p.destroy(f))
    ok(p.template(t))
    assert p.config(t)["rootfs"].startswith("local:%d/vm-%d-disk-0," % (t, t))  # dir storage: no base volume
    for args in ({}, {"full": 0}):
        exitstatus, msg = p.clone(t, c, **args)
        want = "Linked clone feature for 'local:%d/vm-%d-disk-0' is not available" % (t, t)
        assert exitstatus != "OK" and want in msg
        assert "does not exist" in p.status(c)
        nothing_left(dbl, c)
    ok(p.clone(t, c, full=1, hostname="full1"))
    cfg = p.config(c)
    assert cfg["rootfs"].startswith("local:%d/vm-%d-disk-0," % (c, c)) and cfg["hostname"] == "full1"
    root = os.path.join(dbl.images("local", c), "vm-%d-disk-0" % c)
    assert read(os.path.join(root, "etc", "marker")) == "from the template\n"
    ok(p.action(c, "start"))
    assert pct(env, "exec", str(c), "--", "hostname", check=True).stdout == "full1\n"
    # full clone to another storage
    ok(p.action(c, "stop"))
    ok(p.destroy(c))
    ok(Rest(env).clone(t, c, full=1, storage="local-zfs"))
    assert Rest(env).config(c)["rootfs"].startswith("local-zfs:subvol-%d-disk-0," % c)
    assert os.path.isfile(os.path.join(dbl.images("local-zfs", c), "subvol-%d-disk-0" % c, "etc", "marker"))


def test_upload_list_delete_template(env, cts):
    dbl = env["double"]
    data = os.urandom(24 << 20) + b"\r\n--pxtb\r\n\0binary tail"
    boundary = "pxtb0123456789"
    name = "uploaded-%d.tar.zst" % os.getpid()
    body = b"".join([
        b"--%s\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nvztmpl\r\n" % boundary.encode(),
        b"--%s\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"%s\"\r\n" % (
            boundary.encode(), name.encode()),
        b"Content-Type: application/octet-stream\r\n\r\n", data, b"\r\n--%s--\r\n" % boundary.encode()])
    ctype = "multipart/form-data; boundary=" + boundary
    ok(api_task(env, "POST", "/nodes/pve1/storage/local/upload", body=body, ctype=ctype))
    path = os.path.join(dbl.storage("local"), "template", "cache", name)
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    vols = {v["volid"]: v for v in api(env, "GET", "/nodes/pve1/storage/local/content",
                                       {"content": "vztmpl"})[2]["data"]}
    assert vols["local:vztmpl/" + name]["size"] == len(data)
    assert vols["local:vztmpl/" + name]["format"] == "tzst" and vols[TMPL_VOLID]["content"] == "vztmpl"
    st, reason, _ = api(env, "POST", "/nodes/pve1/storage/local/upload", body=body, ctype=ctype)
    assert st == 500 and "already exists" in reason
    st, reason, _ = api(env, "POST", "/nodes/pve1/storage/local-zfs/upload", body=body, ctype=ctype)
    assert st == 500 and "does not support 'vztmpl' content" in reason
    st, reason, _ = api(env, "GET", "/nodes/pve1/storage/nfs1/content")
    assert st == 500 and "storage 'nfs1' does not exist" in reason
    volid = urllib.parse.quote("local:vztmpl/" + name, safe="")
    ok(api_task(env, "DELETE", "/nodes/pve1/storage/local/content/" + volid))
    assert not os.path.exists(path)
    st, reason, _ = api(env, "DELETE", "/nodes/pve1/storage/local/content/" + volid)
    assert st == 500 and "does not exist" in reason


def test_uploaded_template_creates(env, cts):
    """An uploaded tarball is usable as ostemplate right away."""
    with open(env["tarball"], "rb") as f:
        data = f.read()
    boundary = "b0undary"
    name = "up-%d.tar.zst" % os.getpid()
    body = (b"--b0undary\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nvztmpl\r\n"
            b"--b0undary\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"" + name.encode() +
            b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--b0undary--\r\n")
    ok(api_task(env, "POST", "/nodes/pve1/storage/local/upload", body=body,
                ctype="multipart/form-data; boundary=" + boundary))
    vmid = cts()
    ok(Rest(env).create(vmid, ostemplate="local:vztmpl/" + name, rootfs="local:1"))
    assert os.path.isfile(os.path.join(env["double"].images("local", vmid), "vm-%d-disk-0" % vmid, "run.sh"))


def test_create_refusals_leave_nothing(env, cts, fe):
    dbl, vmid = env["double"], cts()
    bad = os.path.join(dbl.storage("local"), "template", "cache", "bad-%s.tar.zst" % fe.name)
    with open(bad, "wb") as f:
        f.write(b"this is not a tarball\n" * 100)
    exitstatus, log = fe.create(vmid, ostemplate="local:vztmpl/" + os.path.basename(bad), rootfs="local-zfs:1",
                                mp0="local:1,mp=/data")
    assert exitstatus not in (None, "OK") and "unable to create CT %d" % vmid in exitstatus
    nothing_left(dbl, vmid)
    assert "does not exist" in fe.status(vmid)
    cases = [({"ostemplate": "local:vztmpl/missing.tar.zst"}, "volume 'local:vztmpl/missing.tar.zst' does not exist"),
             ({"rootfs": "nfs9:1"}, "storage 'nfs9' does not exist"),
             ({"ostemplate": "local-zfs:vztmpl/" + TMPL}, "does not support vztmpl content"),
             ({"rootfs": "local-zfs:1", "mp0": "nfs9:1,mp=/x"}, "storage 'nfs9' does not exist")]
    for over, msg in cases:
        exitstatus, out = fe.create(vmid, **over)
        assert exitstatus != "OK" and msg in (exitstatus or out), (over, exitstatus, out)
        nothing_left(dbl, vmid)
    # a failing task (fault) after extraction leaves nothing either
    dbl.control(fail_task="unable to create CT - no space left on device")
    exitstatus, _ = fe.create(vmid, rootfs="local-zfs:1")
    assert "no space left" in exitstatus
    nothing_left(dbl, vmid)


def test_start_needs_the_bridge(env, cts, fe):
    dbl, vmid = env["double"], cts()
    ok(fe.create(vmid, rootfs="local:1", net0="name=eth0,bridge=vmbr9,ip=dhcp"))
    exitstatus, log = fe.action(vmid, "start")
    assert exitstatus != "OK" and "bridge 'vmbr9' does not exist" in exitstatus
    assert fe.status(vmid) == "stopped" and init_pid(dbl, vmid) is None
    dbl.control(bridges=["vmbr0", "vmbr9"])
    ok(fe.action(vmid, "start"))
    assert fe.status(vmid) == "running"


def test_start_failure_shows_lxc_log(env, cts, fe):
    vmid = cts()
    ok(fe.create(vmid, rootfs="local:1", entrypoint="/no/such/init"))
    exitstatus, log = fe.action(vmid, "start")
    assert exitstatus != "OK" and "startup for container '%d' failed" % vmid in exitstatus + log
    assert "lxc" in log.lower() and fe.status(vmid) == "stopped"


def test_destroy(env, cts, fe):
    dbl, vmid = env["double"], cts()
    ok(fe.create(vmid, rootfs="local-zfs:1", mp0="local:1,mp=/data"))
    ok(fe.action(vmid, "start"))
    assert os.path.isdir(os.path.join(dbl.lxcpath, str(vmid)))
    exitstatus, msg = fe.destroy(vmid)
    assert exitstatus != "OK" and "is running" in (exitstatus or msg)
    ok(fe.destroy(vmid, force=1, purge=1))
    nothing_left(dbl, vmid)
    assert "does not exist" in fe.status(vmid)


def test_storage_content_lists_volumes(env, cts):
    vmid = cts()
    ok(Rest(env).create(vmid, rootfs="local-zfs:1"))
    vols = api(env, "GET", "/nodes/pve1/storage/local-zfs/content", {"vmid": str(vmid)})[2]["data"]
    assert [v["volid"] for v in vols] == ["local-zfs:subvol-%d-disk-0" % vmid]
    st, _, ans = api(env, "GET", "/nodes/pve1/storage/local/content", {"content": "vztmpl"})
    assert TMPL_VOLID in [v["volid"] for v in ans["data"]]


def test_ostemplate_path_needs_root_pam(env, cts):
    vmid = cts()
    exitstatus, msg = Rest(env).create(vmid, ostemplate=env["tarball"], rootfs="local:1")
    assert exitstatus is None and "Only root can pass arbitrary filesystem paths" in msg
    ok(Pct(env).create(vmid, ostemplate=env["tarball"], rootfs="local:1"))
    assert os.path.isfile(os.path.join(env["double"].images("local", vmid), "vm-%d-disk-0" % vmid, "run.sh"))


def test_long_state_dir_and_cleanup_on_sigterm(env):
    """A state directory too long for LXC's paths gets a short lxcpath under
    /run; SIGTERM stops the double's containers and removes it."""
    d = os.path.join(env["dir"], "a-rather-long-directory-name-for-the-state-of-a-second-double")
    os.makedirs(d)
    os.chmod(d, 0o711)
    cert = env["double"].cert
    dbl = Double(d, cert, cert.replace(".pem", "-key.pem"))
    try:
        lxcpath = dbl.lxcpath
        assert lxcpath.startswith("/run/pxt-pve-") and len(lxcpath) < 30
        shutil.copy(env["tarball"], os.path.join(dbl.storage("local"), "template", "cache", TMPL))
        other = dict(env, double=dbl)
        for vmid in (3001, 3002):
            ok(Pct(other).create(vmid, rootfs="local:1"))
            ok(Pct(other).action(vmid, "start"))
        assert os.path.isfile(os.path.join(lxcpath, "3001", "config"))
        pids = [init_pid(dbl, v) for v in (3001, 3002)]
        assert all(pids)
    finally:
        dbl.stop()
    assert not os.path.exists(lxcpath)
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or "zombie" in read("/proc/%d/status" % pid).lower()
    assert all(ct["status"] == "stopped" for ct in dbl.state_json()["cts"].values())


def test_concurrent_requests(env, cts):
    """The double's threads and fake pct processes share the state (flock)."""
    import threading
    vmids = [cts() for _ in range(6)]
    errors = []

    def life(vmid, fe):
        try:
            ok(fe.create(vmid, rootfs="local-zfs:1", hostname="c%d" % vmid))
            ok(fe.action(vmid, "start"))
            assert fe.status(vmid) == "running"
            ok(fe.destroy(vmid, force=1))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("%d: %r" % (vmid, e))
    threads = [threading.Thread(target=life, args=(v, (Rest if i % 2 else Pct)(env))) for i, v in enumerate(vmids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    for vmid in vmids:
        nothing_left(env["double"], vmid)


def test_unprivileged_needs_a_reachable_rootfs(env, cts, tmp_path):
    """pytest's tmp_path is 0700: the start fails with a clear reason."""
    vmid = cts()
    ok(Pct(env).create(vmid, rootfs="local:1", unprivileged=1, mp0="%s,mp=/data" % tmp_path))
    exitstatus, _ = Pct(env).action(vmid, "start")
    assert "is not searchable by host uid 100000" in exitstatus and "mp0" in exitstatus


def test_config_file_and_raw_lxc_keys(env, cts, tmp_path):
    """/etc/pve/lxc/<vmid>.conf: Proxmox's file format, written after every
    change; raw lxc.* keys added by hand stay across API changes, reach LXC at
    start and show in GET config and pct config -- the ones pve-container
    accepts; lxc.namespace.* is dropped as pve-container drops it."""
    dbl, vmid = env["double"], cts()
    ok(Pct(env).create(vmid, hostname="rawkeys", rootfs="local-zfs:1", entrypoint="/bin/sh /run.sh 30",
                       description="line one\nline two"))
    conf = os.path.join(dbl.state, "etc-pve", "lxc", "%d.conf" % vmid)
    text = read(conf)
    assert text.startswith("#line one\n#line two\n") and "\nhostname: rawkeys\n" in text, text
    include = tmp_path / "inc.conf"
    include.write_text("lxc.environment = FROM_INCLUDE=1\n")
    with open(conf, "a") as f:
        f.write("lxc.include: %s\nlxc.namespace.share.net = /proc/1/ns/net\nlxc.rootfs.path: /x\n" % include)
    pct(env, "set", str(vmid), "--memory", "256", check=True)
    text = read(conf)
    assert "lxc.include: %s\n" % include in text and "\nmemory: 256\n" in text, text
    assert "lxc.namespace" not in text and "lxc.rootfs.path" not in text, text
    st, _, ans = api(env, "GET", "/nodes/pve1/lxc/%d/config" % vmid)
    assert st == 200 and ans["data"]["lxc"] == [["lxc.include", str(include)]]
    assert "lxc.include: %s" % include in pct(env, "config", str(vmid), check=True).stdout
    run = tmp_path / "run"
    run.mkdir()
    pct(env, "set", str(vmid), "--mp0", "%s,mp=/.pxcri/run" % run, check=True)
    ok(Pct(env).action(vmid, "start"))
    lxc_conf = read(os.path.join(dbl.lxcpath, str(vmid), "config"))
    assert lxc_conf.rstrip().endswith("lxc.include = %s" % include), lxc_conf
    assert "lxc.net." not in lxc_conf  # no netN: no network keys at all
    for _ in range(100):
        if os.path.exists(run / "env"):
            break
        time.sleep(0.05)
    assert "FROM_INCLUDE=1" in read(run / "env").splitlines()
    ok(Pct(env).action(vmid, "stop"))
    ok(Pct(env).destroy(vmid))
    assert not os.path.exists(conf)
