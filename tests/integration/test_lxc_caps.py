"""Capabilities on the lxc backend as on crun: the five sets of
process.capabilities, for root and for a non-root user, read back from
/proc/self/status in the container; the same for `exec`.  And hostPID
containers (no pid namespace of their own) stop on TERM and KILL.

Needs root, liblxc and crun; PXCRI_BIN selects the binary."""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import unique, wait_status

if os.geteuid() != 0:
    pytest.skip("lxc tests need root", allow_module_level=True)

BACKENDS = ["lxc", "crun"]
NUMBERS = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
           "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21, "CAP_AUDIT_WRITE": 29}
STATUS_FIELDS = {"CapBnd": "bounding", "CapEff": "effective", "CapPrm": "permitted",
                 "CapInh": "inheritable", "CapAmb": "ambient"}
READ_CAPS = ["sh", "-c", "id -u; grep ^Cap /proc/self/status"]


@pytest.fixture(autouse=True)
def lxc_lock_dirs(workdir):
    yield
    shutil.rmtree("/run/lxc/lock" + workdir, ignore_errors=True)


def mask(names):
    m = 0
    for n in names:
        m |= 1 << NUMBERS[n]
    return m


def parse_status(out):
    """id -u and the Cap* lines -> (uid, {set name: mask})."""
    lines = out.split("\n")
    sets = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            sets[STATUS_FIELDS[key]] = int(value.strip(), 16)
    return int(lines[0]), sets


def with_caps(bundle_dir, uid, caps, args=None):
    path = os.path.join(bundle_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["process"]["user"] = {"uid": uid, "gid": uid}
    config["process"]["capabilities"] = caps
    if args:
        config["process"]["args"] = args
    with open(path, "w") as f:
        json.dump(config, f)
    return bundle_dir


def run_caps(px, bundle, backend, uid, caps):
    b = with_caps(bundle(READ_CAPS), uid, caps)
    res = px("run", "--runtime", backend, "-b", b, unique())
    assert res.returncode == 0, (backend, res.stderr)
    return parse_status(res.stdout)


NET = ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]
BOUNDING = NET + ["CAP_KILL", "CAP_CHOWN"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_root_user_gets_its_capabilities(px, bundle, backend):
    """uid 1000 with the network capabilities in every set (ambient keeps
    them across the exec): exactly those, bounding as asked."""
    caps = {"bounding": BOUNDING, "effective": NET, "permitted": NET, "inheritable": NET, "ambient": NET}
    uid, got = run_caps(px, bundle, backend, 1000, caps)
    assert uid == 1000
    assert got == {k: mask(v) for k, v in caps.items()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_root_user_without_ambient_loses_them_at_exec(px, bundle, backend):
    """The kernel's rule, as on runc: without ambient or file capabilities a
    non-root process's permitted and effective sets are empty after exec."""
    caps = {"bounding": BOUNDING, "effective": NET, "permitted": NET, "inheritable": NET}
    uid, got = run_caps(px, bundle, backend, 1000, caps)
    assert uid == 1000
    assert got == {"bounding": mask(BOUNDING), "effective": 0, "permitted": 0, "inheritable": mask(NET),
                   "ambient": 0}


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_root_user_without_setuid_in_bounding(px, bundle, backend):
    """The bounding set need not hold what the switch to the user needs (the
    pause container's case: Kubernetes' defaults minus everything)."""
    caps = {"bounding": ["CAP_NET_RAW"], "effective": ["CAP_NET_RAW"], "permitted": ["CAP_NET_RAW"],
            "inheritable": ["CAP_NET_RAW"], "ambient": ["CAP_NET_RAW"]}
    uid, got = run_caps(px, bundle, backend, 65535, caps)
    assert uid == 65535
    assert got == {k: mask(v) for k, v in caps.items()}


@pytest.mark.parametrize("backend", BACKENDS)
def test_root_gets_the_sets_asked(px, bundle, backend):
    """Root with fewer effective and permitted capabilities than its
    bounding set: those, as crun gives them (the bundle has
    noNewPrivileges, so the exec gives root no more than it had)."""
    caps = {"bounding": BOUNDING, "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_NET_RAW"], "ambient": []}
    uid, got = run_caps(px, bundle, backend, 0, caps)
    assert uid == 0
    assert got == {k: mask(v) for k, v in caps.items()}


def test_non_root_capabilities_same_on_lxc_and_crun(px, bundle):
    caps = {"bounding": BOUNDING, "effective": NET, "permitted": NET, "inheritable": ["CAP_NET_RAW"],
            "ambient": ["CAP_NET_RAW"]}
    assert run_caps(px, bundle, "lxc", 1000, caps) == run_caps(px, bundle, "crun", 1000, caps)


def test_non_root_capability_is_usable(px, bundle):
    """CAP_NET_BIND_SERVICE lets uid 1000 bind port 80 (busybox nc)."""
    caps = {"bounding": BOUNDING, "effective": NET, "permitted": NET, "inheritable": NET, "ambient": NET}
    script = "nc -l -p 80 -w 1 </dev/null & sleep 0.3; kill $! && echo bound"
    for backend, ambient, want in (("lxc", NET, "bound\n"), ("lxc", [], "")):
        b = with_caps(bundle(["sh", "-c", script]), 1000, dict(caps, ambient=ambient))
        res = px("run", "--runtime", backend, "-b", b, unique())
        assert res.stdout == want, (ambient, res.stderr)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exec_gets_the_process_capabilities(px, bundle, workdir, backend):
    """exec --process with a non-root user and capabilities of the
    container's bounding set."""
    cid = unique()
    b = with_caps(bundle(["sleep", "1000"]), 0, {"bounding": BOUNDING, "effective": BOUNDING,
                                                  "permitted": BOUNDING})
    px("run", "--runtime", backend, "-d", "-b", b, cid, check=True)
    caps = {"bounding": NET, "effective": NET, "permitted": NET, "inheritable": NET, "ambient": NET}
    proc = os.path.join(workdir, "process.json")
    with open(proc, "w") as f:
        json.dump({"args": READ_CAPS, "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 1000, "gid": 1000},
                   "capabilities": caps}, f)
    res = px("exec", "--process", proc, cid)
    assert res.returncode == 0, res.stderr
    assert parse_status(res.stdout) == (1000, {k: mask(v) for k, v in caps.items()})
    # The container's own process keeps its sets.
    res = px("exec", cid, *READ_CAPS)
    assert res.returncode == 0, res.stderr
    assert parse_status(res.stdout)[1]["bounding"] == mask(BOUNDING)


def test_exec_outside_the_bounding_set_is_an_error(px, bundle, workdir):
    cid = unique()
    b = with_caps(bundle(["sleep", "1000"]), 0, {"bounding": NET, "effective": NET, "permitted": NET})
    px("run", "--runtime", "lxc", "-d", "-b", b, cid, check=True)
    proc = os.path.join(workdir, "process.json")
    with open(proc, "w") as f:
        json.dump({"args": ["true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 1000, "gid": 1000},
                   "capabilities": {"bounding": ["CAP_SYS_ADMIN"], "ambient": ["CAP_SYS_ADMIN"]}}, f)
    res = px("exec", "--process", proc, cid)
    assert res.returncode == 1
    assert "process.capabilities" in res.stderr and "bounding set" in res.stderr


# --- hostPID: no pid namespace of its own ---------------------------------

def host_pid(bundle_dir):
    path = os.path.join(bundle_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    ns = config["linux"]["namespaces"]
    config["linux"]["namespaces"] = [n for n in ns if n["type"] != "pid"]
    with open(path, "w") as f:
        json.dump(config, f)
    return bundle_dir


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def descendants(pid):
    """pid's descendants, from /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in os.listdir("/proc/%d/task" % p) if os.path.isdir("/proc/%d/task" % p) else []:
            try:
                with open("/proc/%d/task/%s/children" % (p, task)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                kids = []
            found += kids
            todo += kids
    return found


def start_host_pid(px, bundle, workdir, script):
    """create + start through a subreaper with --pid-file, as containerd's
    shim does; returns (cid, the waiter's Popen, the container's processes)."""
    cid = unique()
    b = host_pid(bundle(["sh", "-c", script]))
    pidfile = os.path.join(workdir, cid + ".pid")
    px("create", "--runtime", "lxc", "--pid-file", pidfile, "-b", b, cid, check=True)
    px("start", cid, check=True)
    init = px.state(cid)["pid"]
    deadline = time.time() + 10
    while len(descendants(init)) < 2 and time.time() < deadline:
        time.sleep(0.02)
    procs = descendants(init)
    assert len(procs) >= 2, procs
    with open(pidfile) as f:
        waiter = int(f.read())
    return cid, waiter, [init] + procs


def wait_exit_file(px, cid, timeout=20):
    path = os.path.join(px.root, "lxc", cid, "run", "exit")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read())
        time.sleep(0.02)
    return None


@pytest.mark.parametrize("sig,code", [("TERM", 143), ("KILL", 137)])
def test_host_pid_container_stops(px, bundle, workdir, sig, code):
    """The process (a shell with a child) gets the signal, the container is
    stopped with its status, and nothing of it is left: no process, and
    delete removes it."""
    cid, waiter, procs = start_host_pid(px, bundle, workdir, "sleep 1000 & wait")
    px("kill", cid, sig, check=True)
    wait_status(px, cid, "stopped")
    assert wait_exit_file(px, cid) == code
    px("delete", cid, check=True)
    deadline = time.time() + 10
    while any(alive(p) for p in procs + [waiter]) and time.time() < deadline:
        time.sleep(0.05)
    assert [p for p in procs + [waiter] if alive(p)] == []
    assert not os.path.exists(os.path.join(px.root, "lxc", cid))


def test_host_pid_kill_all_then_delete(px, bundle, workdir):
    """containerd's way for a container without its own pid namespace: kill
    --all KILL reaches every process of the container, not the host's."""
    cid, waiter, procs = start_host_pid(px, bundle, workdir, "trap : TERM; sleep 1000 & wait; wait")
    px("kill", "--all", cid, "KILL", check=True)
    wait_status(px, cid, "stopped")
    deadline = time.time() + 10
    while any(alive(p) for p in procs) and time.time() < deadline:
        time.sleep(0.05)
    assert [p for p in procs if alive(p)] == []
    px("delete", cid, check=True)
    assert not os.path.exists(os.path.join(px.root, "lxc", cid))


def test_host_pid_delete_force_leaves_nothing(px, bundle, workdir):
    cid, waiter, procs = start_host_pid(px, bundle, workdir, "trap : TERM; sleep 1000 & wait; wait")
    px("delete", "--force", cid, check=True)
    deadline = time.time() + 10
    while any(alive(p) for p in procs + [waiter]) and time.time() < deadline:
        time.sleep(0.05)
    assert [p for p in procs + [waiter] if alive(p)] == []
    assert not os.path.exists(os.path.join(px.root, "lxc", cid))
