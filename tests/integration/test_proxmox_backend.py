"""The proxmox backend end to end: `pxcri` against the Proxmox double
(tests/proxmox/), whose containers are real LXC containers on this machine,
so pxcri-init and the user's process really run; only Proxmox's control
plane is simulated.  Both transports: the fake pct and the REST API."""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import images
from conftest import Pxcri, unique, wait_status
from pve_env import FAKE_PCT, TOKEN, VMID_OFFSET, Double, free_port, make_cert

LO, HI = 2000 + VMID_OFFSET, 2099 + VMID_OFFSET
IMAGE_ID = "sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def pve():
    d = tempfile.mkdtemp(prefix="pxt-pxb-")
    os.chmod(d, 0o711)  # the double's storage, reached by unprivileged containers
    cert, key, fp = make_cert(d, "pve")
    dbl = Double(d, cert, key)
    bindir = os.path.join(d, "bin")
    os.mkdir(bindir)
    os.symlink(FAKE_PCT, os.path.join(bindir, "pct"))
    for name, tok in (("token", TOKEN), ("token-bad", "root@pam!pxcri=wrong")):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(tok + "\n")
        os.chmod(path, 0o600)
    e = {"dir": d, "cert": cert, "fp": fp, "double": dbl, "pct": os.path.join(bindir, "pct")}
    try:
        yield e
    finally:
        dbl.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def reset(pve):
    pve["double"].control(task_delay=0.05, fail_task=None, taken=[], down=False)


def cts(pve):
    """The double's containers: vmid -> record (status, config).  `pct list`
    first: tasks end when the double next looks (pve_model.State)."""
    subprocess.run([pve["pct"], "list"], env=dict(os.environ, PVE_DOUBLE_STATE=pve["double"].state),
                   capture_output=True, check=True)
    with open(os.path.join(pve["double"].state, "state.json")) as f:
        return {int(k): v for k, v in json.load(f)["cts"].items()}


def templates_dir(pve):
    return os.path.join(pve["double"].state, "storage", "local", "template", "cache")


def user_cts(pve):
    return {k: v for k, v in cts(pve).items() if not v["config"].get("template")}


def proxmox_cfg(pve, transport="pct", storage="local-zfs", **over):
    p = {"transport": transport, "storage": storage, "template_storage": "local",
         "template_dir": templates_dir(pve), "run_root": os.path.join(pve["dir"], "run"),
         "vmid_range": [LO, HI], "timeout": 20,
         "config_dir": os.path.join(pve["double"].state, "etc-pve", "lxc")}
    if transport == "pct":
        p["pct_path"] = pve["pct"]
    else:
        p.update({"hosts": [pve["double"].host], "token_file": os.path.join(pve["dir"], "token"),
                  "tls": {"ca_file": pve["cert"]}})
    p.update(over)
    return {"backends": {"proxmox": p}}


class Ppx(Pxcri):
    """pxcri with the double's state in its environment (the fake pct reads it)."""

    def __init__(self, root, pve):
        super().__init__(root)
        self.env = dict(os.environ, PVE_DOUBLE_STATE=pve["double"].state)

    def __call__(self, *args, **kw):
        kw.setdefault("env", self.env)
        if "-b" in args:
            self.fit_transport(args[args.index("-b") + 1])
        return super().__call__(*args, **kw)

    def fit_transport(self, bundle):
        """The REST API cannot write the lxc.include that applies the OCI
        security fields of runc's default spec: with transport "api" they are
        refused (test_api_transport_refuses_security_fields), so its bundles
        go without them."""
        if not self.config or not os.path.isfile(os.path.join(bundle, "config.json")):
            return
        with open(self.config) as f:
            if json.load(f).get("backends", {}).get("proxmox", {}).get("transport") != "api":
                return
        path = os.path.join(bundle, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["process"].pop("noNewPrivileges", None)
        for k in ("maskedPaths", "readonlyPaths", "seccomp"):
            cfg.get("linux", {}).pop(k, None)
        with open(path, "w") as f:
            json.dump(cfg, f)

    def create_logged(self, cid, bundle, out):
        """create with stdout/stderr to files that outlive the call: the
        waiter relays the container's output there."""
        self.fit_transport(bundle)
        with open(out + ".out", "w") as o, open(out + ".err", "w") as e:
            return subprocess.run(self.argv("create", "-b", bundle, cid), stdout=o, stderr=e, env=self.env,
                                  timeout=60).returncode


@pytest.fixture(params=["pct", "api"])
def transport(request):
    return request.param


@pytest.fixture
def ppx(workdir, pve):
    os.chmod(workdir, 0o711)  # unprivileged containers (root = uid 100000) reach their run directory
    p = Ppx(os.path.join(workdir, "root"), pve)
    yield p
    for cid in p("list", "-q").stdout.split():
        p("delete", "--force", cid)


def mk(workdir, args, image=IMAGE_ID, env=None, cwd="/", terminal=False, **ann):
    a = {"pxcri.io/backend": "proxmox"}
    if image:
        a["io.pxcri.image-id"] = image
    a.update(ann)
    path = os.path.join(workdir, "bundle-" + unique())
    return images.make_bundle(path, args, annotations=a, env=env, cwd=cwd, terminal=terminal)


def run_dir(ppx, cid):
    """The container's run directory on this host (state.json names it)."""
    with open(os.path.join(ppx.root, "proxmox", cid, "state.json")) as f:
        return json.load(f)["run"]


def exit_file(ppx, cid):
    """Where the waiter records the exit code of a container whose process is
    the CT's PID 1: pxcri's own state directory, out of the CT's reach."""
    return os.path.join(ppx.root, "proxmox", cid, "exit")


def read(path):
    with open(path) as f:
        return f.read()


def wait_file(path, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise AssertionError("%s never appeared" % path)


def assert_nothing_left(ppx, pve, cid):
    assert cid not in ppx("list", "-q").stdout.split()
    assert not os.path.exists(os.path.join(ppx.root, "proxmox", cid))
    run_root = os.path.join(pve["dir"], "run")
    assert not [d for d in (os.listdir(run_root) if os.path.isdir(run_root) else []) if d.endswith("-" + cid)]
    assert ppx.records() == []
    deadline = time.time() + 10  # a destroy task may still run
    while user_cts(pve) and time.time() < deadline:
        time.sleep(0.2)
    assert user_cts(pve) == {}


def test_run_passes_output_and_exit_code(ppx, pve, workdir, transport):
    ppx.write_config(proxmox_cfg(pve, transport))
    cid = unique()
    b = mk(workdir, ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"])
    res = ppx("run", "-b", b, cid)
    assert res.returncode == 7, res.stderr
    assert res.stdout == "to-stdout\n"
    assert "to-stderr\n" in res.stderr
    assert_nothing_left(ppx, pve, cid)


def test_lifecycle(ppx, pve, workdir, transport):
    ppx.write_config(proxmox_cfg(pve, transport))
    cid = unique()
    b = mk(workdir, ["sh", "-c", "echo started; trap 'echo got-term; exit 42' TERM; while :; do sleep 0.1; done"])
    log = os.path.join(workdir, "ct")
    assert ppx.create_logged(cid, b, log) == 0, read(log + ".err")
    st = ppx.state(cid)
    assert st["status"] == "created"
    assert st["pid"] > 0
    vmid = st["annotations"]["pxcri.io/proxmox-vmid"]
    assert LO <= vmid <= HI
    ct = cts(pve)[vmid]
    assert ct["status"] == "running"  # pxcri-init waits for the start byte
    assert "pxcri" in ct["config"]["tags"]
    assert read(log + ".out") == ""  # nothing ran yet
    ppx("start", cid, check=True)
    assert ppx.state(cid)["status"] == "running"
    deadline = time.time() + 10
    while "started" not in read(log + ".out") and time.time() < deadline:
        time.sleep(0.05)
    assert read(log + ".out") == "started\n"
    if transport == "pct":
        res = ppx("exec", cid, "sh", "-c", "echo in-$(hostname); exit 3")
        assert res.returncode == 3
        assert res.stdout.strip() == "in-" + ct["config"]["hostname"]
    else:
        res = ppx("exec", cid, "true")
        assert res.returncode == 1
        assert "REST API has no exec" in res.stderr
    ppx("kill", cid, "TERM", check=True)
    wait_status(ppx, cid, "stopped", timeout=15)
    wait_file(exit_file(ppx, cid))
    assert read(exit_file(ppx, cid)).strip() == "42"  # the trap's exit, from the kernel's event
    deadline = time.time() + 10
    while "got-term" not in read(log + ".out") and time.time() < deadline:
        time.sleep(0.05)
    assert read(log + ".out") == "started\ngot-term\n"
    ppx("delete", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_delete_running_needs_force(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "60"]), cid, check=True)
    res = ppx("delete", cid)
    assert res.returncode == 1
    assert "running" in res.stderr
    assert len(user_cts(pve)) == 1
    ppx("delete", "--force", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_sigkill_gives_137(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "60"]), cid, check=True)
    ppx("kill", cid, "KILL", check=True)
    wait_status(ppx, cid, "stopped")
    wait_file(exit_file(ppx, cid))
    assert read(exit_file(ppx, cid)).strip() == "137"


def test_template_made_once_and_cloned_linked(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve, storage="local-zfs"))
    image = "sha256:" + os.urandom(32).hex()
    ids = [unique(), unique()]
    for cid in ids:
        ppx("run", "-d", "-b", mk(workdir, ["sleep", "60"], image=image), cid, check=True)
    tdir = os.path.join(ppx.root, "proxmox", "templates")
    recs = [json.load(open(os.path.join(tdir, f))) for f in os.listdir(tdir) if f.endswith(".json")]
    mine = [r for r in recs if "ct" in r]
    assert len(mine) == 1  # one template container for the image
    tvmid = mine[0]["ct"]["unprivileged"]
    assert cts(pve)[tvmid]["config"]["template"] in (1, "1")
    files = [f for f in os.listdir(templates_dir(pve)) if f.startswith("pxcri-")]
    users = user_cts(pve)
    assert len(users) == 2
    for ct in users.values():
        # a linked clone: its volume lives on the template's base volume
        assert ct["config"]["rootfs"].startswith("local-zfs:base-%d-disk-0/" % tvmid), (tvmid, mine, ct["config"]["rootfs"])
    before = len(files)
    for cid in ids:
        ppx("delete", "--force", cid, check=True)
    assert user_cts(pve) == {}
    assert len([f for f in os.listdir(templates_dir(pve)) if f.startswith("pxcri-")]) == before


def test_storage_without_linked_clones_creates_full(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve, storage="local"))
    image = "sha256:" + os.urandom(32).hex()
    for i in range(2):
        cid = unique()
        res = ppx("run", "-b", mk(workdir, ["sh", "-c", "echo full-%d" % i], image=image), cid)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "full-%d\n" % i
    rec = json.load(open(os.path.join(ppx.root, "proxmox", "templates",
                                      [f for f in os.listdir(os.path.join(ppx.root, "proxmox", "templates"))
                                       if f.endswith(".json")][0])))
    assert rec["linked"] is False
    assert user_cts(pve) == {}


def test_wrong_token_leaves_nothing(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve, "api", token_file=os.path.join(pve["dir"], "token-bad")))
    cid = unique()
    res = ppx("create", "-b", mk(workdir, ["true"]), cid)
    assert res.returncode == 1
    assert "401" in res.stderr or "invalid token" in res.stderr
    assert_nothing_left(ppx, pve, cid)


def test_fingerprint_mismatch_leaves_nothing(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve, "api", tls={"fingerprint": ":".join(["AB"] * 32)}))
    cid = unique()
    res = ppx("create", "-b", mk(workdir, ["true"]), cid)
    assert res.returncode == 1
    assert "fingerprint mismatch" in res.stderr
    assert_nothing_left(ppx, pve, cid)


def test_failover_to_second_host(ppx, pve, workdir):
    dead = "127.0.0.1:%d" % free_port()
    ppx.write_config(proxmox_cfg(pve, "api", hosts=[dead, pve["double"].host]))
    cid = unique()
    res = ppx("run", "-b", mk(workdir, ["sh", "-c", "echo via-second"]), cid)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "via-second\n"


def test_failed_task_leaves_nothing(ppx, pve, workdir, transport):
    ppx.write_config(proxmox_cfg(pve, transport, storage="local"))
    # the template exists first, so the failing task is the container's
    ppx("run", "-b", mk(workdir, ["true"]), unique(), check=True)
    pve["double"].control(fail_task="command 'lxc-usernsexec' failed: exit code 1")
    cid = unique()
    res = ppx("create", "-b", mk(workdir, ["true"]), cid)
    assert res.returncode == 1
    assert "lxc-usernsexec" in res.stderr
    pve["double"].control(fail_task=None)
    assert_nothing_left(ppx, pve, cid)


def test_vmid_collision_takes_the_next(ppx, pve, workdir, transport):
    ppx.write_config(proxmox_cfg(pve, transport, storage="local"))
    ppx("run", "-b", mk(workdir, ["true"]), unique(), check=True)
    used = set(cts(pve))
    free = [v for v in range(LO, HI) if v not in used]
    pve["double"].control(taken=free[:2])
    cid = unique()
    ppx("create", "-b", mk(workdir, ["sleep", "10"]), cid, check=True)
    assert ppx.state(cid)["annotations"]["pxcri.io/proxmox-vmid"] == free[2]


def test_timeout_is_an_error_and_cleans_up(ppx, pve, workdir, transport):
    ppx.write_config(proxmox_cfg(pve, transport, storage="local", timeout=2))
    ppx("run", "-b", mk(workdir, ["true"]), unique(), check=True)
    pve["double"].control(task_delay=3)
    cid = unique()
    res = ppx("create", "-b", mk(workdir, ["true"]), cid)
    assert res.returncode == 1
    assert ("still running after" if transport == "api" else "no result within 2 s") in res.stderr
    pve["double"].control(task_delay=0.05)
    assert_nothing_left(ppx, pve, cid)


def test_state_survives_pxcri_restart_and_names_the_vmid(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "60"]), cid, check=True)
    with open(os.path.join(ppx.root, "proxmox", cid, "state.json")) as f:
        saved = json.load(f)
    other = Ppx(ppx.root, pve)
    other.config = ppx.config
    st = other.state(cid)
    assert st["status"] == "running"
    assert st["annotations"]["pxcri.io/proxmox-vmid"] == saved["vmid"]
    assert cts(pve)[saved["vmid"]]["status"] == "running"


@pytest.mark.skipif(shutil.which("conmon") is None, reason="conmon is not installed")
def test_conmon_runs_a_proxmox_container(ppx, pve, workdir):
    """CRI-O's monitor drives pxcri: the waiter is the process conmon watches,
    holding its pipes; the output lands in conmon's CRI log, the exit code in
    its exit file."""
    import re
    import uuid
    cfg = ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    b = mk(workdir, ["sh", "-c", "echo out-line; echo err-line >&2; exit 5"])
    exit_dir, sock = os.path.join(workdir, "exit"), os.path.join(workdir, "sock")
    os.makedirs(exit_dir)
    os.makedirs(sock)
    log = os.path.join(workdir, "ctr.log")
    argv = ["conmon", "--sync", "--cid", cid, "--cuuid", str(uuid.uuid4()), "--name", cid,
            "--runtime", ppx.argv()[0], "--runtime-arg", "--root", "--runtime-arg", ppx.root,
            "--runtime-arg", "--config", "--runtime-arg", cfg, "--bundle", b, "--exit-dir", exit_dir,
            "--log-path", log, "--container-pidfile", os.path.join(workdir, "pid"), "--socket-dir-path", sock]
    mon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ppx.env)
    try:
        deadline = time.time() + 30
        # "creating" while conmon's `pxcri create` runs
        while (ppx("state", cid).returncode != 0 or ppx.state(cid)["status"] == "creating") and time.time() < deadline:
            time.sleep(0.1)
        assert ppx.state(cid)["status"] == "created"
        ppx("start", cid, check=True)
        assert mon.wait(timeout=30) == 5
        assert read(os.path.join(exit_dir, cid)).strip() == "5"
        lines = [re.match(r"^\S+ (stdout|stderr) ([PF]) (.*)$", line).groups()
                 for line in read(log).splitlines()]
        assert ("stdout", "F", "out-line") in lines
        assert ("stderr", "F", "err-line") in lines
    finally:
        if mon.poll() is None:
            mon.kill()
            mon.wait()
    ppx("delete", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_process_env_cwd_and_user_reach_the_process(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    b = mk(workdir, ["sh", "-c", "echo $GREETING; pwd; id -u"], env=["GREETING=hello-pve"], cwd="/tmp")
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["user"] = {"uid": 65534, "gid": 65534}
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    res = ppx("run", "-b", b, unique())
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["hello-pve", "/tmp", "65534"]


def test_template_container_removed_behind_our_back_is_made_again(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve, storage="local-zfs"))
    image = "sha256:" + os.urandom(32).hex()
    ppx("run", "-b", mk(workdir, ["true"], image=image), unique(), check=True)
    tdir = os.path.join(ppx.root, "proxmox", "templates")
    rec_path = [os.path.join(tdir, f) for f in os.listdir(tdir) if f.endswith(".json")][0]
    old = json.load(open(rec_path))["ct"]["unprivileged"]
    subprocess.run([pve["pct"], "destroy", str(old)], env=ppx.env, check=True, capture_output=True)
    assert old not in cts(pve)
    res = ppx("run", "-b", mk(workdir, ["sh", "-c", "echo again"], image=image), unique())
    assert res.returncode == 0, res.stderr
    assert res.stdout == "again\n"
    ppx("run", "-b", mk(workdir, ["true"], image=image), unique(), check=True)
    new = json.load(open(rec_path))["ct"]["unprivileged"]
    assert cts(pve)[new]["config"].get("template") in (1, "1")  # made again (the VMID may be reused)


@pytest.mark.parametrize("what", ["terminal", "no-args", "dev-dir", "tmpfs-option"])
def test_what_it_cannot_do_is_a_clear_error_and_leaves_nothing(ppx, pve, workdir, what):
    # A directory under /dev is a staged mount point with pct (test_cri_proxmox.py); the API cannot.
    ppx.write_config(proxmox_cfg(pve, "api" if what == "dev-dir" else "pct"))
    b = mk(workdir, ["true"], terminal=(what == "terminal"))
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    if what == "no-args":
        cfg["process"]["args"] = []
    if what == "dev-dir":  # a directory under /dev: hidden by LXC's tmpfs, no host path through the API
        cfg["mounts"].append({"destination": "/dev/shared", "type": "bind", "source": workdir, "options": ["rbind"]})
    if what == "tmpfs-option":
        cfg["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["exec"]})
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    cid = unique()
    res = ppx("create", "-b", b, cid)
    assert res.returncode == 1
    assert {"terminal": "process.terminal needs --console-socket",
            "no-args": "process.args",
            "dev-dir": "only with the pct transport",
            "tmpfs-option": 'option "exec" is not supported'}[what] in res.stderr
    assert_nothing_left(ppx, pve, cid)


@pytest.mark.parametrize("field", ["process.noNewPrivileges", "linux.maskedPaths", "linux.readonlyPaths",
                                   "linux.seccomp"])
def test_api_transport_refuses_security_fields(ppx, pve, workdir, field):
    """What only the lxc.include (pct) can apply is refused with the REST API,
    naming the field -- never run without it."""
    ppx.write_config(proxmox_cfg(pve, "api"))
    b = mk(workdir, ["true"])
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"].pop("noNewPrivileges")
    for k in ("maskedPaths", "readonlyPaths"):
        cfg["linux"].pop(k)
    section, key = field.split(".")
    cfg[section][key] = {"noNewPrivileges": True, "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
                         "seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}[key]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    cid = unique()
    res = subprocess.run(ppx.argv("create", "-b", b, cid), capture_output=True, text=True, env=ppx.env, timeout=60)
    assert res.returncode == 1
    assert field in res.stderr and 'transport "pct"' in res.stderr, res.stderr
    assert_nothing_left(ppx, pve, cid)


def test_file_binds_and_tmpfs_are_made_by_pxcri_init(ppx, pve, workdir):
    """What Proxmox cannot mount (a file like a pod's /etc/hosts, a tmpfs like
    containerd's /run): copied into the run directory and mounted inside."""
    ppx.write_config(proxmox_cfg(pve))
    hosts = os.path.join(workdir, "hosts")
    with open(hosts, "w") as f:
        f.write("10.9.8.7 pod-peer\n")
    os.chmod(hosts, 0o644)
    b = mk(workdir, ["sh", "-c", "cat /etc/hosts; echo x >> /etc/hosts || echo read-only; "
                                 "grep ' /run tmpfs ' /proc/mounts | cut -d' ' -f4; touch /run/ok && echo run-writable"])
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["mounts"] += [{"destination": "/etc/hosts", "type": "bind", "source": hosts, "options": ["rbind", "ro"]},
                      {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    res = ppx("run", "-b", b, unique())
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "10.9.8.7 pod-peer"
    assert "read-only" in lines
    assert any(line.startswith("rw,nosuid") and "size=65536k" in line for line in lines), lines
    assert lines[-1] == "run-writable"


def test_file_binds_of_a_privileged_ct_are_live(ppx, pve, workdir):
    """A privileged CT binds a file from its directory, lent as a Proxmox
    mount point and detached before the process runs: what the host writes
    is seen inside, what the process writes reaches the host's file (a pod's
    /dev/termination-log), and the directory's other files stay out of
    sight."""
    ppx.write_config(proxmox_cfg(pve))
    lent = os.path.join(workdir, "pod")
    os.mkdir(lent)
    hosts, term = os.path.join(lent, "hosts"), os.path.join(lent, "termination-log")
    with open(hosts, "w") as f:
        f.write("10.9.8.7 before\n")
    with open(term, "w") as f:
        pass
    with open(os.path.join(lent, "secret"), "w") as f:
        f.write("not for the container\n")
    b = mk(workdir, ["sh", "-c", "echo bye > /dev/termination-log; "
                                 "ls /.pxcri/mnt/*/secret 2>/dev/null || echo no-secret; "
                                 "grep -c ' /.pxcri/mnt/' /proc/mounts; "
                                 "while ! grep -q after /etc/hosts; do sleep 0.1; done; echo saw-after"],
           **{"pxcri.io/privileged": "true"})
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["mounts"] += [{"destination": "/etc/hosts", "type": "bind", "source": hosts, "options": ["rbind", "ro"]},
                      {"destination": "/dev/termination-log", "type": "bind", "source": term,
                       "options": ["rbind", "rw"]}]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    cid = unique()
    ppx.fit_transport(b)
    proc = subprocess.Popen(ppx.argv("run", "-b", b, cid), env=ppx.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while read(term) != "bye\n":
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the process's write never reached the host's file"
            time.sleep(0.1)
        vmid = ppx.state(cid)["annotations"]["pxcri.io/proxmox-vmid"]
        conf = cts(pve)[vmid]["config"]
        assert str(conf["unprivileged"]) == "0", conf
        assert any(str(v).startswith(lent + ",mp=/.pxcri/mnt/") for k, v in conf.items() if k.startswith("mp")), conf
        with open(hosts, "w") as f:  # in place, as kubelet writes it
            f.write("10.9.8.7 after\n")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines == ["no-secret", "0", "saw-after"], (out, err)
    assert "not for the container" in read(os.path.join(lent, "secret"))


def test_unknown_container_is_an_error(ppx, pve):
    ppx.write_config(proxmox_cfg(pve))
    for cmd in (["state", "nope"], ["start", "nope"], ["kill", "nope"], ["delete", "nope"]):
        res = ppx(*cmd)
        assert res.returncode == 1
        assert "nope" in res.stderr and "does not exist" in res.stderr


def test_update_sets_limits_on_the_running_container(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "60"]), cid, check=True)
    vmid = ppx.state(cid)["annotations"]["pxcri.io/proxmox-vmid"]
    ppx("update", "--memory", str(300 << 20), "--cpu-quota", "50000", "--cpu-period", "100000", cid, check=True)
    cfg = cts(pve)[vmid]["config"]
    assert (str(cfg["memory"]), str(cfg["cores"]), float(cfg["cpulimit"])) == ("300", "1", 0.5)
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        # applied to the running container's limiting cgroup, where Proxmox writes it
        with open("/sys/fs/cgroup/memory/lxc/%s/memory.limit_in_bytes" % vmid) as f:
            assert int(f.read()) == 300 << 20
    res = ppx("update", "--pids-limit", "10", cid)
    assert res.returncode == 1
    assert "pids" in res.stderr
    assert str(cts(pve)[vmid]["config"]["memory"]) == "300"


def test_container_cannot_make_pxcri_write_host_files(ppx, pve, workdir):
    """The run directory's entries are the container's: a ctl replaced by a
    symlink to a host file must not make `pxcri kill` write into that file."""
    ppx.write_config(proxmox_cfg(pve))
    victim = os.path.join(workdir, "victim")
    with open(victim, "w") as f:
        f.write("intact\n")
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sh", "-c", "rm /.pxcri/run/ctl; ln -s %s /.pxcri/run/ctl; "
                                                    "touch /.pxcri/run/swapped; sleep 30" % victim]), cid, check=True)
    wait_file(os.path.join(run_dir(ppx, cid), "swapped"))
    assert os.path.islink(os.path.join(run_dir(ppx, cid), "ctl"))
    # The process is the CT's PID 1: kill signals its pid, never through ctl.
    ppx("kill", cid, "KILL", check=True)
    wait_status(ppx, cid, "stopped", timeout=15)
    assert read(victim) == "intact\n"
    ppx("delete", "--force", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_api_run_directory_swapped_for_a_symlink_is_not_followed(ppx, pve, workdir):
    """With the API transport the run directory lies in the container's
    rootfs: a container that replaces /.pxcri by a symlink to a host
    directory gets no write of pxcri's there."""
    ppx.write_config(proxmox_cfg(pve, "api"))
    trap = os.path.join(workdir, "trap")
    os.makedirs(os.path.join(trap, "run"))
    os.mkfifo(os.path.join(trap, "run", "ctl"))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sh", "-c", "mv /.pxcri /.pxcri-old; ln -s %s /.pxcri; sleep 30" % trap]),
        cid, check=True)
    deadline = time.time() + 10
    link = os.path.join(run_dir(ppx, cid).split("//")[0], ".pxcri")
    while not os.path.islink(link) and time.time() < deadline:
        time.sleep(0.05)
    assert os.readlink(link) == trap
    fd = os.open(os.path.join(trap, "run", "ctl"), os.O_RDONLY | os.O_NONBLOCK)  # a reader: a write would land
    try:
        ppx("kill", cid, "KILL")
        assert os.read(fd, 16) == b""  # nothing written into the host's FIFO
    finally:
        os.close(fd)
    ppx("delete", "--force", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_ps_lists_the_container_processes_and_kill_all_reaches_them(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sh", "-c", "sleep 61 & sleep 62 & wait"]), cid, check=True)
    deadline = time.time() + 10
    pids, cmds = [], []

    def cmdline(p):
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                return f.read().split(b"\0")[0].decode()
        except OSError:
            return "(gone)"
    # Until both sleeps exec'd: a child caught in its fork or exec shows "sh" or nothing.
    while time.time() < deadline:
        pids = json.loads(ppx("ps", "--format", "json", cid, check=True).stdout)
        cmds = sorted(cmdline(p) for p in pids)
        if cmds == ["sh", "sleep", "sleep"]:
            break
        time.sleep(0.1)
    # sh (the CT's PID 1: pxcri-init exec'd it) and the two sleeps: host pids, as runc ps gives them
    assert cmds == ["sh", "sleep", "sleep"], cmds
    assert "PID" in ppx("ps", cid, check=True).stdout.splitlines()[0]
    ppx("kill", "--all", cid, "KILL", check=True)
    wait_status(ppx, cid, "stopped", timeout=15)
    assert all(not os.path.exists("/proc/%d" % p) for p in pids)


def test_the_process_is_pid_1_of_its_ct(ppx, pve, workdir):
    """pxcri-init execs the process in place: it is the CT's PID 1, signals
    reach it by its host pid, its exit status comes from the kernel."""
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    b = mk(workdir, ["sh", "-c", "trap 'echo got-usr1' USR1; echo pid-$$; while :; do sleep 0.1; done"])
    log = os.path.join(workdir, "ct")
    assert ppx.create_logged(cid, b, log) == 0, read(log + ".err")
    ppx("start", cid, check=True)
    res = ppx("exec", cid, "cat", "/proc/1/cmdline", check=True)
    assert res.stdout.split("\0")[:2] == ["sh", "-c"], res.stdout
    state = json.load(open(os.path.join(ppx.root, "proxmox", cid, "state.json")))
    assert state["in_place"] is True
    with open("/proc/%d/cmdline" % state["init"], "rb") as f:
        assert f.read().split(b"\0")[0] == b"sh"  # the recorded host pid is the process
    # A signal it has a handler for reaches it (by its host pid, not through ctl).
    ppx("kill", cid, "USR1", check=True)
    deadline = time.time() + 10
    while "got-usr1" not in read(log + ".out") and time.time() < deadline:
        time.sleep(0.05)
    assert read(log + ".out") == "pid-1\ngot-usr1\n"
    # One it has none for is ignored by the kernel, as for runc's PID 1.
    ppx("kill", cid, "TERM", check=True)
    time.sleep(0.5)
    assert ppx.state(cid)["status"] == "running"
    ppx("kill", cid, "KILL", check=True)
    wait_status(ppx, cid, "stopped", timeout=15)
    wait_file(exit_file(ppx, cid))
    assert read(exit_file(ppx, cid)).strip() == "137"
    ppx("delete", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_all_output_of_pid_1_comes_before_its_exact_exit_code(ppx, pve, workdir):
    """The waiter relays the out FIFO to its end once PID 1 is gone (more
    than a pipe buffer of it), then exits with the kernel's status."""
    ppx.write_config(proxmox_cfg(pve))
    b = mk(workdir, ["sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; exit 3"])
    res = ppx("run", "-b", b, unique(), timeout=60)
    assert res.returncode == 3, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2000 and lines[-1] == "line-1999"


def test_exec_into_a_pid_1_without_capabilities(ppx, pve, workdir):
    """critest's "dropping ALL capabilities": an exec (lxc-attach) gets the
    bounding set of the CT's PID 1, here empty, so pxcri-init --exec cannot
    set groups; it runs with fewer groups than asked, never other ones, and
    with the capabilities asked (none)."""
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    b = mk(workdir, ["sleep", "600"])
    edit_process(b, capabilities={k: [] for k in ("bounding", "effective", "permitted", "inheritable", "ambient")},
                 user={"uid": 0, "gid": 0, "additionalGids": [0, 10]})
    ppx("run", "-d", "-b", b, cid, check=True)
    res = ppx("exec", cid, "cat", "/proc/self/status")
    assert res.returncode == 0, res.stderr
    fields = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    assert set(fields["Groups"].split()) <= {"0", "10"}, fields["Groups"]
    ppx("delete", "--force", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_without_its_waiter_state_still_follows_pid_1(ppx, pve, workdir):
    """The waiter is the only listener for PID 1's exit status: killed, the
    container runs on and `pxcri state` (a new process, from state.json)
    follows the recorded pid; the status is then not known, and no code is
    made up for it."""
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "600"]), cid, check=True)
    waiter = ppx.state(cid)["pid"]
    os.kill(waiter, 9)
    deadline = time.time() + 10
    while os.path.exists("/proc/%d" % waiter) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert ppx.state(cid)["status"] == "running"
    ppx("kill", cid, "KILL", check=True)
    wait_status(ppx, cid, "stopped", timeout=15)
    assert not os.path.exists(exit_file(ppx, cid))
    ppx("delete", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def edit_process(bundle, **fields):
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["process"].update(fields)
    with open(path, "w") as f:
        json.dump(cfg, f)


def test_stdin_reaches_the_process_and_its_eof_ends_it(ppx, pve, workdir, transport):
    """pxcri's stdin (a pipe, as conmon's) is the process's: the waiter copies
    it into <run>/stdin and closes that at EOF, so `cat` ends by itself."""
    ppx.write_config(proxmox_cfg(pve, transport))
    b = mk(workdir, ["sh", "-c", "cat; echo cat-done-$?"])
    res = ppx("run", "-b", b, unique(), input="hello\nfrom stdin\n", timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hello\nfrom stdin\ncat-done-0\n"


def test_stdin_written_while_the_process_runs(ppx, pve, workdir):
    """create with a pipe as stdin, start, then write: the process reads each
    piece as it comes and sees EOF when the writer closes (stdin_once)."""
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    b = mk(workdir, ["sh", "-c", "while read l; do echo got-$l; done; echo eof"])
    log = os.path.join(workdir, "ct")
    r, w = os.pipe()
    with open(log + ".out", "w") as o, open(log + ".err", "w") as e:
        rc = subprocess.run(ppx.argv("create", "-b", b, cid), stdin=r, stdout=o, stderr=e, env=ppx.env,
                            timeout=60).returncode
    os.close(r)
    assert rc == 0, read(log + ".err")
    ppx("start", cid, check=True)
    os.write(w, b"one\n")
    deadline = time.time() + 15
    while "got-one" not in read(log + ".out") and time.time() < deadline:
        time.sleep(0.05)
    assert read(log + ".out") == "got-one\n"
    assert ppx.state(cid)["status"] == "running"  # still reading
    os.write(w, b"two\n")
    os.close(w)
    wait_status(ppx, cid, "stopped", timeout=15)
    wait_file(exit_file(ppx, cid))
    assert read(exit_file(ppx, cid)).strip() == "0"
    deadline = time.time() + 10
    while "eof" not in read(log + ".out") and time.time() < deadline:
        time.sleep(0.05)
    assert read(log + ".out") == "got-one\ngot-two\neof\n"


def test_without_stdin_the_process_reads_dev_null(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    b = mk(workdir, ["sh", "-c", "cat; readlink /proc/self/fd/0; ls /.pxcri/run"])
    res = ppx("run", "-b", b, unique())  # stdin /dev/null (conftest's default here)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[0] == "/dev/null"
    assert "stdin" not in res.stdout.split()


def test_rlimits_and_oom_score_adj_reach_the_process(ppx, pve, workdir, transport):
    ppx.write_config(proxmox_cfg(pve, transport))
    b = mk(workdir, ["sh", "-c", "grep -E 'open files|core file' /proc/self/limits; cat /proc/self/oom_score_adj"])
    edit_process(b, rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1111, "hard": 2222},
                             {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}], oomScoreAdj=567)
    res = ppx("run", "-b", b, unique())
    assert res.returncode == 0, res.stderr
    import re
    assert re.search(r"Max open files\s+1111\s+2222\s", res.stdout), res.stdout
    assert re.search(r"Max core file size\s+0\s+0\s", res.stdout), res.stdout
    assert res.stdout.splitlines()[-1] == "567"


def test_oom_score_adj_lowered_as_far_as_the_host_allows(ppx, pve, workdir):
    """pxcri started with oom_score_adj 300 (the CT's init inherits it through
    pct and lxc-start): 100 is set (down to the floor is allowed), -999 is
    below what root without CAP_SYS_RESOURCE may set and stays 300, as
    containerd's restrict_oom_score_adj, instead of failing."""
    can_lower = subprocess.run(["sh", "-c", "echo -999 > /proc/self/oom_score_adj"],
                               stderr=subprocess.DEVNULL).returncode == 0
    ppx.write_config(proxmox_cfg(pve))
    got = []
    for adj in (100, -999):
        b = mk(workdir, ["cat", "/proc/self/oom_score_adj"])
        edit_process(b, oomScoreAdj=adj)
        res = subprocess.run(["sh", "-c", 'echo 300 > /proc/self/oom_score_adj && exec "$@"', "sh"]
                             + ppx.argv("run", "-b", b, unique()), capture_output=True, text=True,
                             env=ppx.env, stdin=subprocess.DEVNULL, timeout=60)
        assert res.returncode == 0, res.stderr
        got.append(int(res.stdout))
    assert got == [100, -999 if can_lower else 300]


def test_rlimits_that_cannot_be_set_are_an_error_naming_the_field(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    b = mk(workdir, ["true"])
    edit_process(b, rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1 << 40, "hard": 1 << 40}])
    res = ppx("run", "-b", b, unique())
    assert res.returncode == 127
    assert "process.rlimits RLIMIT_NOFILE" in res.stderr
    edit_process(b, rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])
    res = ppx("run", "-b", b, unique())
    assert res.returncode != 0
    assert "process.rlimits[0]: unknown type RLIMIT_BOGUS" in res.stderr


def test_the_waiter_sleeps_while_the_container_runs(ppx, pve, workdir):
    """The waiter wakes for the run directory's changes, not for its own
    liveness checks of ctl (which it used to, spinning a CPU)."""
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "60"]), cid, check=True)
    pid = ppx.state(cid)["pid"]

    def cpu_ticks():
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    before = cpu_ticks()
    time.sleep(3)
    used = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK")
    assert used < 0.3, "the waiter used %.2f s of CPU in 3 s" % used
