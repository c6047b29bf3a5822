"""The lxc backend with real LXC containers (liblxc, pxcri-init) on
busybox-static bundles: the runc-compatible lifecycle, the translated OCI
fields that matter, and that nothing is left behind -- also when a create
fails halfway.

Needs root and liblxc; PXCRI_BIN selects the binary (its build tree has
src/init/pxcri-init)."""

import ctypes
import glob
import json
import os
import select
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import PXCRI, unique, wait_status

if os.geteuid() != 0:
    pytest.skip("lxc tests need root", allow_module_level=True)


@pytest.fixture(autouse=True)
def lxc_lock_dirs(workdir):
    """liblxc's lock directories under the test's root, after px's own
    teardown (the lock files are the backend's to remove, the directories
    liblxc shares between containers are not)."""
    yield
    shutil.rmtree("/run/lxc/lock" + workdir, ignore_errors=True)


def edit(bundle_dir, fn):
    """Change a bundle's config.json through fn(config)."""
    path = os.path.join(bundle_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    fn(config)
    with open(path, "w") as f:
        json.dump(config, f)
    return bundle_dir


def lxc_bundle(bundle, args, **kw):
    return bundle(args, **kw)


def leftovers(px, cid):
    """Everything of cid that could leak on the host."""
    found = []
    for p in (os.path.join(px.root, "lxc", cid),
              os.path.join(px.root, "containers", cid + ".json")):
        if os.path.exists(p):
            found.append(p)
    found += glob.glob("/run/lxc/lock%s/lxc/.%s" % (px.root, cid))
    found += [p for p in glob.glob("/sys/fs/cgroup/*/*") +
              glob.glob("/sys/fs/cgroup/*/*/*") if p.endswith("." + cid)
              or p.endswith("/" + cid)]
    with open("/proc/self/mountinfo") as f:
        found += [l for l in f if ("/lxc/%s/" % cid) in l]
    return found


def wait_exit_file(px, cid, timeout=10):
    """The exit code in run/exit: pxcri-init's record, or (the process was
    PID 1) the waiter's, written as liblxc's monitor returns."""
    path = os.path.join(px.root, "lxc", cid, "run", "exit")
    deadline = time.time() + timeout
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    with open(path) as f:
        return int(f.read())


def run(px, b, cid=None, *extra):
    return px("run", "--runtime", "lxc", *extra, "-b", b, cid or unique())


# --- output, exit code, lifecycle ------------------------------------------

def test_run_output_and_exit_code(px, bundle):
    cid = unique()
    res = run(px, bundle(["sh", "-c", "echo hi; echo oops >&2; exit 7"]), cid)
    assert res.returncode == 7, res.stderr
    assert res.stdout == "hi\n"
    assert "oops" in res.stderr
    assert px.records() == []
    assert leftovers(px, cid) == []


def test_installed_layout_finds_its_init(px, bundle, workdir):
    """pxcri in <prefix>/bin finds pxcri-init in <prefix>/libexec/pxcri (the
    package's layout, anywhere: not only the configured install path)."""
    prefix = os.path.join(workdir, "usr")
    os.makedirs(os.path.join(prefix, "bin"))
    os.makedirs(os.path.join(prefix, "libexec", "pxcri"))
    exe = os.path.join(prefix, "bin", "pxcri")
    shutil.copy2(PXCRI, exe)
    init = os.path.join(os.path.dirname(PXCRI), "src", "init", "pxcri-init")
    if os.path.exists("/usr/libexec/pxcri/pxcri-init"):
        pytest.skip("pxcri-init installed on this host: it would be found anyway")
    b = bundle(["sh", "-c", "echo from-init"])
    cid = unique()
    res = subprocess.run([exe, "--root", px.root, "run", "--runtime", "lxc", "-b", b, cid],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "pxcri-init not found" in res.stderr, res
    shutil.copy2(init, os.path.join(prefix, "libexec", "pxcri", "pxcri-init"))
    res = subprocess.run([exe, "--root", px.root, "run", "--runtime", "lxc", "-b", b, cid],
                         capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout) == (0, "from-init\n"), res
    assert leftovers(px, cid) == []
    # named without "bin/..": --version shows the path
    ver = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    assert "(%s)" % os.path.join(os.path.realpath(prefix), "libexec", "pxcri", "pxcri-init") in ver, ver


def test_join_namespaces_through_the_task_pid(px, bundle, workdir):
    """containerd joins a pod's containers to /proc/<sandbox task pid>/ns/*;
    a task on lxc has its waiter (in the host's namespaces) as that pid: the
    namespaces joined are its container's, not the host's."""
    sandbox, app = unique(), unique()
    pidfile = os.path.join(workdir, "sandbox.pid")
    b = bundle(["sleep", "1000"])
    px("create", "--runtime", "lxc", "-b", b, "--pid-file", pidfile, sandbox, check=True)
    px("start", sandbox, check=True)
    with open(pidfile) as f:
        task_pid = int(f.read())
    init = px.state(sandbox)["pid"]
    assert init != task_pid  # the waiter, as the shim sees it
    want = {t: os.readlink("/proc/%d/ns/%s" % (init, t)) for t in ("net", "uts", "ipc")}
    assert want["net"] != os.readlink("/proc/self/ns/net")
    b2 = bundle(["sh", "-c", "for n in net uts ipc; do readlink /proc/self/ns/$n; done"])

    def join(c):
        for ns in c["linux"]["namespaces"]:
            if ns["type"] in ("network", "uts", "ipc"):
                ns["path"] = "/proc/%d/ns/%s" % (task_pid, {"network": "net"}.get(ns["type"], ns["type"]))
        c.pop("hostname", None)
    edit(b2, join)
    res = run(px, b2, app)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [want["net"], want["uts"], want["ipc"]], (res.stdout, want)
    px("kill", sandbox, "KILL")
    px("delete", "--force", sandbox, check=True)


def test_create_start_kill_delete(px, bundle):
    cid = unique()
    b = bundle(["sleep", "1000"])
    px("create", "--runtime", "lxc", "--bundle", b, cid, check=True)
    st = px.state(cid)
    assert (st["id"], st["status"], st["backend"], st["bundle"]) == (cid, "created", "lxc", b)
    assert st["pid"] > 0
    # The process has not run: pxcri-init waits on the FIFO.
    with open("/proc/%d/cmdline" % st["pid"], "rb") as f:
        assert f.read().startswith(b"/dev/.pxcri-init")
    px("start", cid, check=True)
    assert px.state(cid)["status"] == "running"
    res = px("start", cid)
    assert res.returncode == 1 and "running" in res.stderr
    res = px("delete", cid)
    assert res.returncode == 1 and "not stopped" in res.stderr
    px("kill", cid, "KILL", check=True)
    wait_status(px, cid, "stopped")
    px("delete", cid, check=True)
    res = px("state", cid)
    assert res.returncode == 1
    assert 'container "%s" does not exist' % cid in res.stderr
    assert px.records() == []
    assert leftovers(px, cid) == []


def test_process_is_pid_1(px, bundle):
    """As runc (and what critest's ContainerPID spec reads): in a pid namespace
    of its own, the process is PID 1 -- pxcri-init execs it in place -- and
    state's pid is the process.  Its exit code still reaches run/exit and the
    --pid-file process (here: run's exit code)."""
    cid = unique()
    run(px, bundle(["sleep", "1000"]), cid, "-d").check_returncode()
    res = px("exec", cid, "cat", "/proc/1/cmdline")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "sleep\x001000\x00"
    with open("/proc/%d/cmdline" % px.state(cid)["pid"], "rb") as f:
        assert f.read() == b"sleep\x001000\x00"
    px("kill", cid, "KILL", check=True)
    wait_status(px, cid, "stopped")
    assert wait_exit_file(px, cid) == 137
    px("delete", cid, check=True)
    assert leftovers(px, cid) == []
    for code in (0, 3):
        assert run(px, bundle(["sh", "-c", "exit %d" % code])).returncode == code


def test_start_returns_once_the_process_runs(px, bundle, workdir):
    """start returns (and poststart runs) after the startContainer hooks,
    once the process is exec'd, as the runtime spec orders it: a signal sent
    after start reaches the process itself."""
    cid = unique()
    out = os.path.join(workdir, "poststart")
    b = bundle(["sleep", "1000"])
    script = ("import json, sys; pid = json.load(sys.stdin)['pid']; "
              "open(sys.argv[1], 'wb').write(open('/proc/%d/cmdline' % pid, 'rb').read())")
    edit(b, lambda c: c.update(hooks={
        "startContainer": [{"path": "/bin/sleep", "args": ["sleep", "1"]}],
        "poststart": [{"path": sys.executable, "args": ["python3", "-c", script, out]}]}))
    px("create", "--runtime", "lxc", "-b", b, cid, check=True)
    t0 = time.time()
    px("start", cid, check=True)
    assert time.time() - t0 >= 1
    with open(out, "rb") as f:
        assert f.read() == b"sleep\x001000\x00"
    px("delete", "--force", cid, check=True)
    assert leftovers(px, cid) == []


def test_kill_waits_for_the_handler_of_a_starting_process(px, bundle):
    """A PID 1 gets only the signals it handles; right after start it may not
    have installed its handler yet (here 50 ms in): kill gives it up to
    100 ms, so TERM is not dropped (and a stop not left to its timeout)."""
    cid = unique()
    b = bundle(["sh", "-c", "sleep 0.05; trap 'exit 42' TERM; while :; do sleep 0.01; done"])
    run(px, b, cid, "-d").check_returncode()
    px("kill", cid, "TERM", check=True)
    wait_status(px, cid, "stopped")
    assert wait_exit_file(px, cid) == 42
    px("delete", cid, check=True)


def test_signal_during_start_is_not_lost(px, bundle):
    """A signal sent while start runs -- after pxcri-init's start byte, before
    the process's exec, here during a startContainer hook -- must not vanish
    on the way to a PID 1 without a handler: pxcri-init catches it until the
    exec and ends the container with it."""
    cid = unique()
    b = bundle(["sleep", "1000"])
    edit(b, lambda c: c.update(hooks={"startContainer": [{"path": "/bin/sleep", "args": ["sleep", "1"]}]}))
    px("create", "--runtime", "lxc", "-b", b, cid, check=True)
    start = subprocess.Popen(px.argv("start", cid), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fifo = os.path.join(px.root, "lxc", cid, "run", "fifo")
    deadline = time.time() + 10
    while os.path.exists(fifo) and time.time() < deadline:
        time.sleep(0.01)
    px("kill", cid, "TERM", check=True)
    assert start.wait(timeout=20) == 0, start.stderr.read()
    wait_status(px, cid, "stopped")
    assert wait_exit_file(px, cid) == 143
    px("delete", cid, check=True)
    assert leftovers(px, cid) == []


def test_delete_created_without_force(px, bundle):
    """As runc: a container whose process never started goes without --force."""
    cid = unique()
    px("create", "--runtime", "lxc", "-b", bundle(["sleep", "1000"]), cid, check=True)
    px("delete", cid, check=True)
    assert leftovers(px, cid) == []


def test_signal_ends_a_created_container(px, bundle):
    """As runc: TERM to a created container ends it (exit 143) before its
    process ran."""
    cid = unique()
    px("create", "--runtime", "lxc", "-b", bundle(["sh", "-c", "echo ran"]), cid, check=True)
    px("kill", cid, "TERM", check=True)
    wait_status(px, cid, "stopped")
    with open(os.path.join(px.root, "lxc", cid, "run", "exit")) as f:
        assert f.read().strip() == "143"
    assert px("start", cid).returncode == 1
    px("delete", cid, check=True)
    assert leftovers(px, cid) == []


def test_sigterm_reaches_the_process(px, bundle):
    cid = unique()
    b = bundle(["sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.05; done"])
    p = subprocess.Popen(px.argv("run", "--runtime", "lxc", "-b", b, cid),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while px("state", cid).returncode != 0 and time.time() < deadline:
        time.sleep(0.02)
    wait_status(px, cid, "running")
    time.sleep(0.1)  # the trap is set
    px("kill", cid, "TERM", check=True)
    assert p.wait(timeout=20) == 42, p.stderr.read()
    assert leftovers(px, cid) == []


def test_kill_all_reaches_every_process(px, bundle):
    """kill --all: every process of the container's pid namespace; plain kill
    only the process (which ignores TERM here)."""
    cid = unique()
    b = bundle(["sh", "-c", "trap : TERM; sleep 1000 & while kill -0 $! 2>/dev/null; do sleep 0.05; done; "
                            "echo sleep-ended; exit 3"])
    p = subprocess.Popen(px.argv("run", "--runtime", "lxc", "-b", b, cid),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 10
    while time.time() < deadline and len(json.loads(px("ps", "--format", "json", cid).stdout or "[]")) < 3:
        time.sleep(0.02)
    px("kill", cid, "TERM", check=True)
    time.sleep(0.2)
    assert p.poll() is None
    px("kill", "--all", cid, "TERM", check=True)
    assert p.wait(timeout=20) == 3
    assert p.stdout.read() == "sleep-ended\n"


def test_run_forwards_signals(px, bundle):
    cid = unique()
    b = bundle(["sh", "-c", "trap 'echo got-term; exit 43' TERM; echo ready; "
                            "while :; do sleep 0.05; done"])
    p = subprocess.Popen(px.argv("run", "--runtime", "lxc", "-b", b, cid),
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 43
    assert "got-term" in out


def test_pid_file_process_is_the_runc_contract(px, bundle, workdir):
    """--pid-file names a descendant of the caller that lives as long as the
    container, carries its output and exits with its exit code."""
    cid = unique()
    b = bundle(["sh", "-c", "read x; echo got-$x; exit 5"])
    out = os.path.join(workdir, "out")
    script = r"""
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER, as containerd's shim
argv, pidfile, out = sys.argv[1:-2], sys.argv[-2], sys.argv[-1]
r, w = os.pipe()
with open(out, "w") as o:
    subprocess.run(argv[:-1] + ["create", "--runtime", "lxc", "--pid-file", pidfile,
                                "-b", argv[-1], "%s"], stdin=r, stdout=o, check=True)
os.close(r)
pid = int(open(pidfile).read())
subprocess.run(argv[:-1] + ["start", "%s"], check=True)
os.write(w, b"ping\n")
os.close(w)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
""" % (cid, cid)
    res = subprocess.run([sys.executable, "-c", script] + px.argv() + [b, os.path.join(workdir, "pid"), out],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "5"
    with open(out) as f:
        assert f.read() == "got-ping\n"
    assert px.state(cid)["status"] == "stopped"
    px("delete", cid, check=True)
    assert leftovers(px, cid) == []


# --- translated fields -----------------------------------------------------

def test_env_cwd_user_hostname(px, bundle):
    b = bundle(["sh", "-c", 'echo "$GREETING $(pwd) $(id -u):$(id -g):$(id -G) $(hostname)"'],
               env=["GREETING=hey"], cwd="/tmp", hostname="lxc-host")

    def user(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5]}
        c["process"]["capabilities"] = {"bounding": c["process"]["capabilities"]["bounding"]}
    res = run(px, edit(b, user))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hey /tmp 1000:1000:1000 5 lxc-host\n"


def test_env_is_exactly_the_spec(px, bundle):
    res = run(px, bundle(["env"], env=["A=1"]))
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == sorted(
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "A=1"])


def test_bind_mount_and_readonly_root(px, bundle, workdir):
    src = os.path.join(workdir, "shared")
    os.makedirs(src)
    with open(os.path.join(src, "in"), "w") as f:
        f.write("from-host\n")
    b = bundle(["sh", "-c", "cat /data/in; echo from-ct > /data/out; touch /x 2>/dev/null || echo ro"],
               readonly=True)
    edit(b, lambda c: c["mounts"].append(
        {"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "rw"]}))
    res = run(px, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "from-host\nro\n"
    with open(os.path.join(src, "out")) as f:
        assert f.read() == "from-ct\n"


def test_masked_and_readonly_paths(px, bundle):
    res = run(px, bundle(["sh", "-c", "cat /proc/kcore | wc -c; echo 1 > /proc/sys/kernel/ns_last_pid "
                                      "2>/dev/null || echo ro"]))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "0\nro\n"


def test_memory_limit_is_enforced(px, bundle):
    cid = unique()
    b = bundle(["sh", "-c", "head -c 1000000 /dev/zero | tail > /dev/null && echo small-ok; "
                            "head -c 200000000 /dev/zero | tail > /dev/null; echo survived $?"])

    def limit(c):
        c["linux"]["resources"]["memory"] = {"limit": 33554432, "swap": 33554432}
    res = run(px, edit(b, limit), cid)
    lines = res.stdout.splitlines()
    assert lines[0] == "small-ok", res.stderr
    # tail holds the one 200 MB "line": the cgroup's OOM killer ends it --
    # or, when a second OOM kill comes before tail's memory is freed, the
    # container's init, and with it the container.
    assert lines[1:] == ["survived 137"] or (lines[1:] == [] and res.returncode == 137), (res.stdout, res.stderr)


def test_pids_limit_is_enforced(px, bundle):
    b = bundle(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait; echo done"])
    edit(b, lambda c: c["linux"]["resources"].update(pids={"limit": 4}))
    res = run(px, b)
    assert "can't fork" in res.stderr or "Resource temporarily unavailable" in res.stderr, res.stderr


def host_cgroup_file(ctl, cid, name):
    """A v1 cgroup file of cid's container, as LXC names its cgroup."""
    with open("/sys/fs/cgroup/%s/lxc.payload.%s/%s" % (ctl, cid, name)) as fh:
        return fh.read().strip()


def whole_disk():
    """major, minor of a real block device (a disk, not loop or zram)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "zram", "ram")):
            with open("/sys/block/%s/dev" % name) as fh:
                return tuple(int(n) for n in fh.read().split(":"))
    pytest.skip("no block device in /sys/block")


def test_block_io_throttle_and_weight(px, bundle):
    if not os.path.isdir("/sys/fs/cgroup/blkio"):
        pytest.skip("no cgroup v1 blkio hierarchy")
    cid = unique()
    major, minor = whole_disk()
    # blkio.weight only exists with BFQ or CFQ on the kernel.
    has_weight = os.path.exists("/sys/fs/cgroup/blkio/blkio.weight")

    def block_io(c):
        bio = {"throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
               "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 120}]}
        if has_weight:
            bio["weight"] = 300
        c["linux"]["resources"]["blockIO"] = bio
    run(px, edit(bundle(["sleep", "1000"]), block_io), cid, "-d").check_returncode()
    disk = "%d:%d" % (major, minor)
    assert host_cgroup_file("blkio", cid, "blkio.throttle.read_bps_device") == disk + " 1048576"
    assert host_cgroup_file("blkio", cid, "blkio.throttle.write_iops_device") == disk + " 120"
    if has_weight:
        assert host_cgroup_file("blkio", cid, "blkio.weight") == "300"


def test_hugepage_limit(px, bundle):
    if not os.path.exists("/sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes"):
        pytest.skip("no cgroup v1 hugetlb hierarchy with 2MB pages")
    cid = unique()
    b = edit(bundle(["sleep", "1000"]), lambda c: c["linux"]["resources"].update(
        hugepageLimits=[{"pageSize": "2MB", "limit": 4194304}]))
    run(px, b, cid, "-d").check_returncode()
    assert host_cgroup_file("hugetlb", cid, "hugetlb.2MB.limit_in_bytes") == "4194304"


def test_bad_hugepage_size_is_an_error(px, bundle):
    cid = unique()
    b = edit(bundle(["true"]), lambda c: c["linux"]["resources"].update(
        hugepageLimits=[{"pageSize": "2MB/../x", "limit": 4194304}]))
    res = px("create", "--runtime", "lxc", "-b", b, cid)
    assert res.returncode == 1 and "linux.resources.hugepageLimits[0]" in res.stderr
    assert leftovers(px, cid) == []


def test_join_network_namespace(px, bundle):
    pod = unique()
    run(px, bundle(["sleep", "1000"]), pod, "-d").check_returncode()
    pid = px.state(pod)["pid"]
    netns = os.readlink("/proc/%d/ns/net" % pid)
    assert netns != os.readlink("/proc/self/ns/net")

    def join(c):
        c["linux"]["namespaces"] = [
            {"type": "network", "path": "/proc/%d/ns/net" % pid} if n["type"] == "network" else n
            for n in c["linux"]["namespaces"]]
    res = run(px, edit(bundle(["readlink", "/proc/self/ns/net"]), join))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == netns


def test_seccomp_profile_is_enforced(px, bundle):
    b = bundle(["sh", "-c", "mkdir /tmp/a || echo denied; ls -d /tmp/a 2>/dev/null; echo ok"])
    edit(b, lambda c: c["linux"].update(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    res = run(px, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "denied\nok\n"
    assert "Operation not permitted" in res.stderr


def test_unsupported_field_is_an_error_that_names_it(px, bundle):
    cid = unique()
    b = edit(bundle(["true"]), lambda c: c["linux"].update(
        seccomp={"defaultAction": "SCMP_ACT_NOTIFY"}))
    res = px("create", "--runtime", "lxc", "-b", b, cid)
    assert res.returncode == 1
    assert "linux.seccomp.defaultAction" in res.stderr
    assert leftovers(px, cid) == []
    res = px("create", "--runtime", "lxc", "-b", bundle(["true"], terminal=True), cid)
    assert res.returncode == 1 and "process.terminal needs --console-socket" in res.stderr
    assert leftovers(px, cid) == []


def recv_pty(server):
    """Accept one connection on a console socket; the pty master it carries."""
    server.settimeout(20)
    conn, _ = server.accept()
    with conn:
        msg, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    assert msg.startswith(b"/dev/pts/") and len(fds) == 1
    return fds[0]


def read_until(fd, want, timeout=10):
    out = b""
    deadline = time.time() + timeout
    while want not in out and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out


def test_terminal_through_console_socket(px, bundle, workdir):
    cid = unique()
    sock_path = os.path.join(workdir, "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    b = bundle(["sh", "-c", "tty; stty size; read x; echo got-$x; exec sh -c 'echo pgid-ok; exit 6'"],
               terminal=True)
    edit(b, lambda c: c["process"].update(consoleSize={"height": 33, "width": 111}))
    px("create", "--runtime", "lxc", "--console-socket", sock_path, "-b", b, cid, check=True)
    master = recv_pty(server)
    server.close()
    try:
        px("start", cid, check=True)
        assert b"33 111" in read_until(master, b"33 111")
        os.write(master, b"ping\n")
        out = read_until(master, b"pgid-ok")
        assert b"got-ping" in out and b"pgid-ok" in out
        wait_status(px, cid, "stopped")
    finally:
        os.close(master)
    assert wait_exit_file(px, cid) == 6
    px("delete", cid, check=True)
    assert leftovers(px, cid) == []


def test_create_failing_after_start_leaves_nothing_behind(px, bundle, workdir):
    """The container runs, then create fails: the console socket to hand
    the terminal to is not there."""
    cid = unique()
    res = px("create", "--runtime", "lxc", "--console-socket", os.path.join(workdir, "missing.sock"),
             "-b", bundle(["true"], terminal=True), cid)
    assert res.returncode == 1
    assert "missing.sock" in res.stderr
    assert px.records() == []
    assert leftovers(px, cid) == []


def test_exec_with_terminal(px, bundle, workdir):
    cid = unique()
    run(px, bundle(["sleep", "1000"]), cid, "-d").check_returncode()
    sock_path = os.path.join(workdir, "exec.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(1)
    p = subprocess.Popen(px.argv("exec", "--tty", "--console-socket", sock_path, cid,
                                 "sh", "-c", "tty; read x; echo got-$x; exit 4"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    master = recv_pty(server)
    server.close()
    try:
        assert b"/dev/pts/" in read_until(master, b"/dev/pts/")
        os.write(master, b"pong\n")
        assert b"got-pong" in read_until(master, b"got-pong")
        assert p.wait(timeout=20) == 4, p.stderr.read()
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
    assert [f for f in os.listdir(os.path.join(px.root, "lxc", cid, "run")) if f.startswith("exec-")] == []


def test_failed_create_leaves_nothing_behind(px, bundle):
    """liblxc fails halfway, after cgroups, namespaces and mounts exist: a
    sysctl the kernel does not have is applied last."""
    cid = unique()
    b = bundle(["true"])
    edit(b, lambda c: c["linux"].update(sysctl={"kernel.pxcri_no_such_sysctl": "1"}))
    res = px("create", "--runtime", "lxc", "-b", b, cid)
    assert res.returncode == 1
    assert "liblxc could not start container %s" % cid in res.stderr
    assert "linux.sysctl.kernel.pxcri_no_such_sysctl" in res.stderr
    assert px.records() == []
    assert leftovers(px, cid) == []
    assert px("list", "-q").stdout == ""


def test_sysctls_with_read_only_proc_sys(px, bundle):
    """linux.sysctl is applied in the container's namespaces although
    linux.readonlyPaths makes /proc/sys read-only (critest's sysctl specs):
    an IPC-namespace key, a network-namespace key, the host's untouched."""
    keys = {"kernel.shm_rmid_forced": "/proc/sys/kernel/shm_rmid_forced",
            "fs.mqueue.msg_max": "/proc/sys/fs/mqueue/msg_max",
            "net.ipv4.ip_unprivileged_port_start": "/proc/sys/net/ipv4/ip_unprivileged_port_start"}
    host = {}
    for k, path in keys.items():
        with open(path) as f:
            host[k] = f.read().strip()
    want = {"kernel.shm_rmid_forced": "0" if host["kernel.shm_rmid_forced"] == "1" else "1",
            "fs.mqueue.msg_max": "77", "net.ipv4.ip_unprivileged_port_start": "123"}
    b = bundle(["cat"] + list(keys.values()))
    assert "/proc/sys" in json.load(open(os.path.join(b, "config.json")))["linux"]["readonlyPaths"]
    edit(b, lambda c: c["linux"].update(sysctl=want))
    res = run(px, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [want[k] for k in keys]
    for k, path in keys.items():
        with open(path) as f:
            assert f.read().strip() == host[k], k


def mount_shared(path):
    subprocess.run(["mount", "--bind", path, path], check=True)
    subprocess.run(["mount", "--make-rshared", path], check=True)


def test_shared_bind_propagates_both_ways(px, bundle, workdir):
    """A bind with rshared propagation (a CRI Bidirectional mount): a mount
    the container makes below it appears on the host and one the host makes
    appears in the container (critest's 'rshared' spec)."""
    cid = unique()
    src = os.path.join(workdir, "vol")
    os.makedirs(os.path.join(src, "inner"))
    os.makedirs(os.path.join(src, "fromhost"))
    mount_shared(src)
    try:
        b = bundle(["sleep", "1000"])

        def shared(c):
            c["mounts"].append({"destination": "/mnt/vol", "type": "bind", "source": src,
                                "options": ["rbind", "rshared", "rw"]})
            c["mounts"].append({"destination": "/mnt/ro", "type": "bind", "source": src,
                                "options": ["bind", "shared", "ro", "nodev"]})
            c["linux"]["rootfsPropagation"] = "rshared"
            del c["process"]["capabilities"]  # all of root's: mount(8) inside
        edit(b, shared)
        run(px, b, cid, "-d").check_returncode()
        res = px("exec", cid, "sh", "-c", "mount -t tmpfs tmpfs /mnt/vol/inner && echo from-ctr > /mnt/vol/inner/f")
        assert res.returncode == 0, res.stderr
        with open(os.path.join(src, "inner", "f")) as f:
            assert f.read() == "from-ctr\n"
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", os.path.join(src, "fromhost")], check=True)
        with open(os.path.join(src, "fromhost", "f"), "w") as f:
            f.write("from-host\n")
        res = px("exec", cid, "cat", "/mnt/vol/fromhost/f")
        assert (res.returncode, res.stdout) == (0, "from-host\n"), res.stderr
        res = px("exec", cid, "sh", "-c", "grep ' /mnt/ro ' /proc/self/mountinfo; touch /mnt/ro/x")
        assert res.returncode != 0 and " ro,nodev" in res.stdout, res.stdout + res.stderr
        assert not os.path.exists(os.path.join(src, "x"))
        px("delete", "--force", cid, check=True)
        assert leftovers(px, cid) == []
    finally:
        subprocess.run(["umount", "-R", "-l", src])


# --- OCI hooks (run by pxcri) ----------------------------------------------

def hook(log, kind, script='printf "%s %s\\n" "$0" "$(cat)" >> "$LOG"', timeout=10):
    """A hook that appends its kind and the state it reads on stdin to log."""
    return {"path": "/bin/sh", "args": ["sh", "-c", script, kind], "env": ["LOG=" + log],
            "timeout": timeout}


def hook_log(log):
    with open(log) as f:
        return [(l.split(" ", 1)[0], json.loads(l.split(" ", 1)[1])) for l in f]


def test_hooks_run_in_order_with_the_state(px, bundle, workdir):
    cid = unique()
    log = os.path.join(workdir, "hooks.log")
    b = bundle(["sleep", "1000"])
    kinds = ("createRuntime", "prestart", "poststart", "poststop")
    edit(b, lambda c: c.update(hooks={k: [hook(log, k)] for k in kinds},
                               annotations={"org.example.a": "b"}))
    px("create", "--runtime", "lxc", "-b", b, cid, check=True)
    pid = px.state(cid)["pid"]
    assert [k for k, _ in hook_log(log)] == ["createRuntime", "prestart"]
    px("start", cid, check=True)
    px("kill", cid, "KILL", check=True)
    wait_status(px, cid, "stopped")
    px("delete", cid, check=True)
    got = hook_log(log)
    assert [k for k, _ in got] == list(kinds)
    want = {"createRuntime": ("created", pid), "prestart": ("created", pid),
            "poststart": ("running", pid), "poststop": ("stopped", None)}
    for kind, st in got:
        assert (st["id"], st["bundle"], st["ociVersion"]) == (cid, b, "1.0.2")
        assert st["annotations"] == {"org.example.a": "b"}
        assert (st["status"], st.get("pid")) == want[kind], kind
    assert leftovers(px, cid) == []


def test_hooks_with_run(px, bundle, workdir):
    log = os.path.join(workdir, "hooks.log")
    b = bundle(["true"])
    edit(b, lambda c: c.update(hooks={k: [hook(log, k)] for k in ("prestart", "poststop")}))
    res = run(px, b)
    assert res.returncode == 0, res.stderr
    assert [k for k, _ in hook_log(log)] == ["prestart", "poststop"]


def test_failing_prestart_hook_fails_create_and_leaves_nothing(px, bundle, workdir):
    cid = unique()
    log = os.path.join(workdir, "hooks.log")
    b = bundle(["sleep", "1000"])
    edit(b, lambda c: c.update(hooks={
        "createRuntime": [hook(log, "createRuntime")],
        "prestart": [hook(log, "prestart", "echo no way >&2; exit 3")],
        "poststart": [hook(log, "poststart")]}))
    res = px("create", "--runtime", "lxc", "-b", b, cid)
    assert res.returncode == 1
    assert "hooks.prestart[0]" in res.stderr and "exit code 3" in res.stderr
    assert "no way" in res.stderr
    assert [k for k, _ in hook_log(log)] == ["createRuntime"]
    assert px.records() == []
    assert leftovers(px, cid) == []


def test_hook_timeout_kills_it_and_fails_create(px, bundle, workdir):
    cid = unique()
    b = bundle(["true"])
    edit(b, lambda c: c.update(hooks={"createRuntime": [
        hook(os.path.join(workdir, "x"), "createRuntime", "exec sleep 100", timeout=1)]}))
    t0 = time.monotonic()
    res = px("create", "--runtime", "lxc", "-b", b, cid)
    assert res.returncode == 1
    assert time.monotonic() - t0 < 20
    assert "hooks.createRuntime[0]" in res.stderr and "did not finish" in res.stderr
    assert leftovers(px, cid) == []


def test_failing_poststart_and_poststop_hooks_only_warn(px, bundle, workdir):
    cid = unique()
    b = bundle(["true"])
    edit(b, lambda c: c.update(hooks={k: [hook(workdir, k, "exit 1")] for k in ("poststart", "poststop")}))
    res = run(px, b, cid)
    assert res.returncode == 0, res.stderr
    assert "hooks.poststart[0]" in res.stderr and "hooks.poststop[0]" in res.stderr
    assert leftovers(px, cid) == []


def test_start_container_hook_runs_inside_before_the_process(px, bundle, workdir):
    cid = unique()
    b = bundle(["sh", "-c", "cat /tmp/start.json; echo; echo $HOOKVAR"])
    edit(b, lambda c: c.update(hooks={"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/start.json; echo $HOOKVAR > /tmp/env"],
         "env": ["HOOKVAR=in"], "timeout": 10}]}))
    res = run(px, b, cid)
    assert res.returncode == 0, res.stderr
    state = json.loads(res.stdout.splitlines()[0])
    assert (state["id"], state["status"]) == (cid, "created") and state["pid"] > 0
    with open(os.path.join(b, "rootfs/tmp/env")) as f:
        assert f.read() == "in\n"
    assert leftovers(px, cid) == []


def test_failing_start_container_hook_stops_the_container(px, bundle):
    cid = unique()
    b = bundle(["sh", "-c", "echo process ran"])
    edit(b, lambda c: c.update(hooks={"startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "exit 2"]}]}))
    res = run(px, b, cid)
    assert res.returncode == 127
    assert "process ran" not in res.stdout
    assert "hooks.startContainer (/bin/sh): failed" in res.stderr
    b = bundle(["sh", "-c", "echo process ran"])
    edit(b, lambda c: c.update(hooks={"startContainer": [
        {"path": "/bin/sleep", "args": ["sleep", "100"], "timeout": 1}]}))
    res = run(px, b, cid)
    assert res.returncode == 127 and "did not finish in time" in res.stderr
    assert leftovers(px, cid) == []


def test_create_container_hook_runs_in_the_container_mount_namespace(px, bundle, workdir):
    cid = unique()
    log = os.path.join(workdir, "hooks.log")
    b = bundle(["sleep", "1000"])
    script = ('printf "%s %s\\n" "$0" "$(cat)" >> "$LOG"; readlink /proc/self/ns/mnt > "$LOG.mnt"; '
              'echo "$HOOKVAR" > "$LOG.env"')
    edit(b, lambda c: c.update(hooks={"createContainer": [dict(hook(log, "createContainer", script),
                                                               env=["LOG=" + log, "HOOKVAR=cc"])],
                                      "createRuntime": [hook(log, "createRuntime")]},
                               annotations={"org.example.a": "b"}))
    px("create", "--runtime", "lxc", "-b", b, cid, check=True)
    pid = px.state(cid)["pid"]
    got = hook_log(log)
    # LXC's mount hook runs while liblxc sets the container up: before
    # createRuntime, which pxcri runs once the container is created.
    assert [k for k, _ in got] == ["createContainer", "createRuntime"]
    st = got[0][1]
    assert (st["id"], st["bundle"], st["status"], st["pid"]) == (cid, b, "creating", pid)
    assert st["annotations"] == {"org.example.a": "b"}
    with open(log + ".mnt") as f:
        assert f.read().strip() == os.readlink("/proc/%d/ns/mnt" % pid) != os.readlink("/proc/self/ns/mnt")
    with open(log + ".env") as f:
        assert f.read() == "cc\n"
    px("delete", "--force", cid, check=True)
    assert leftovers(px, cid) == []


@pytest.mark.parametrize("script,timeout,why", [("exit 3", 10, "failed"),
                                                ("exec sleep 100", 1, "did not finish in time")])
def test_failing_create_container_hook_fails_create_and_leaves_nothing(px, bundle, workdir, script, timeout, why):
    cid = unique()
    log = os.path.join(workdir, "hooks.log")
    b = bundle(["true"])
    edit(b, lambda c: c.update(hooks={"createContainer": [hook(log, "createContainer", script, timeout)],
                                      "createRuntime": [hook(log, "createRuntime")]}))
    t0 = time.monotonic()
    res = px("create", "--runtime", "lxc", "-b", b, cid)
    assert res.returncode == 1, res.stderr
    assert time.monotonic() - t0 < 20
    assert "hooks.createContainer (/bin/sh): " + why in res.stderr
    assert not os.path.exists(log)  # createRuntime did not run
    assert px.records() == []
    assert leftovers(px, cid) == []


# --- --preserve-fds ---------------------------------------------------------

def px_with_fds(px, path, *args):
    """pxcri with descriptor 3 reading path and 4 open on it too."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        rc = subprocess.run(["/bin/sh", "-c", 'exec "$@" 3<"$0" 4<"$0"', path] + px.argv(*args),
                            stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, rc, out.read(), err.read())


# Reads descriptor 3 and tells whether 4 (not preserved) reached it.
READ_FD3 = 'cat <&3; if [ -e /proc/self/fd/4 ]; then echo leaked 4; fi'


@pytest.fixture
def fd_file(workdir):
    path = os.path.join(workdir, "fd3.txt")
    with open(path, "w") as f:
        f.write("through fd 3\n")
    return path


def test_run_preserve_fds(px, bundle, fd_file):
    cid = unique()
    res = px_with_fds(px, fd_file, "run", "--runtime", "lxc", "--preserve-fds", "1", "-b",
                      bundle(["sh", "-c", READ_FD3]), cid)
    assert (res.returncode, res.stdout) == (0, "through fd 3\n"), res.stderr
    assert leftovers(px, cid) == []
    # Without the flag nothing beyond stdio arrives.
    res = px_with_fds(px, fd_file, "run", "--runtime", "lxc", "-b",
                      bundle(["sh", "-c", "cat <&3 || echo no 3; " + READ_FD3]), cid)
    assert res.stdout.startswith("no 3\n") and "leaked" not in res.stdout


def test_create_start_preserve_fds(px, bundle, fd_file, workdir):
    cid = unique()
    out = os.path.join(workdir, "out.txt")
    b = bundle(["sh", "-c", "{ " + READ_FD3 + "; } > /out/out.txt"])
    edit(b, lambda c: c["mounts"].append({"destination": "/out", "type": "bind", "source": workdir,
                                          "options": ["rbind", "rw"]}))
    res = px_with_fds(px, fd_file, "create", "--runtime", "lxc", "--preserve-fds=1", "-b", b, cid)
    assert res.returncode == 0, res.stderr
    px("start", cid, check=True)
    wait_status(px, cid, "stopped")
    with open(out) as f:
        assert f.read() == "through fd 3\n"
    px("delete", cid, check=True)


def test_exec_preserve_fds(px, bundle, fd_file):
    cid = unique()
    run(px, bundle(["sleep", "1000"]), cid, "-d").check_returncode()
    res = px_with_fds(px, fd_file, "exec", "--preserve-fds", "1", cid, "sh", "-c", READ_FD3)
    assert (res.returncode, res.stdout) == (0, "through fd 3\n"), res.stderr
    res = px_with_fds(px, fd_file, "exec", cid, "sh", "-c", "cat <&3 || echo no 3")
    assert res.stdout == "no 3\n"


# --- exec, ps, pause, update ------------------------------------------------

def test_exec_output_exit_code_and_options(px, bundle, workdir):
    cid = unique()
    run(px, bundle(["sleep", "1000"], env=["GREETING=hey"]), cid, "-d").check_returncode()
    res = px("exec", cid, "sh", "-c", 'echo "$GREETING $(hostname)"; exit 5')
    assert (res.returncode, res.stdout) == (5, "hey pxcri\n"), res.stderr
    res = px("exec", "--env", "X=1", "--cwd", "/tmp", "--user", "1000:1000", cid,
             "sh", "-c", 'echo "$X $(pwd) $(id -u)"')
    assert (res.returncode, res.stdout) == (0, "1 /tmp 1000\n"), res.stderr
    proc = os.path.join(workdir, "process.json")
    with open(proc, "w") as f:
        json.dump({"args": ["sh", "-c", "id -u; exit 4"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 1000, "gid": 1000}}, f)
    res = px("exec", "--process", proc, cid)
    assert (res.returncode, res.stdout) == (4, "1000\n")
    with open(proc, "w") as f:
        json.dump({"args": ["true"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
                   "capabilities": {"bounding": ["CAP_SYS_ADMIN"]}}, f)
    res = px("exec", "--process", proc, cid)
    assert res.returncode == 1 and "process.capabilities" in res.stderr
    res = px("exec", "--cap", "CAP_SYS_ADMIN", cid, "true")
    assert res.returncode == 1 and "exec --cap" in res.stderr


def test_exec_additional_gids(px, bundle, workdir):
    cid = unique()
    run(px, bundle(["sleep", "1000"]), cid, "-d").check_returncode()
    res = px("exec", "--additional-gids", "10", "-g", "20,30", "--user", "1000:1000", cid, "id", "-G")
    assert (res.returncode, res.stdout) == (0, "1000 10 20 30\n"), res.stderr
    res = px("exec", "--additional-gids=40", cid, "id", "-G")
    assert (res.returncode, res.stdout) == (0, "0 40\n"), res.stderr
    proc = os.path.join(workdir, "process.json")
    with open(proc, "w") as f:
        json.dump({"args": ["id", "-G"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}}, f)
    res = px("exec", "--process", proc, cid)
    assert (res.returncode, res.stdout) == (0, "1000 5 6\n"), res.stderr
    res = px("exec", "-g", "x", cid, "true")
    assert res.returncode == 1 and "--additional-gids" in res.stderr
    # Without any, the process has none (not pxcri's).
    res = px("exec", cid, "id", "-G")
    assert (res.returncode, res.stdout) == (0, "0\n"), res.stderr


def test_ps_pause_resume(px, bundle):
    cid = unique()
    run(px, bundle(["sleep", "1000"]), cid, "-d").check_returncode()
    pids = json.loads(px("ps", "--format", "json", cid, check=True).stdout)
    # The process is the pid namespace's init: the only one.
    assert pids == [px.state(cid)["pid"]]
    px("pause", cid, check=True)
    assert px.state(cid)["status"] == "paused"
    px("resume", cid, check=True)
    assert px.state(cid)["status"] == "running"


def test_update_memory(px, bundle):
    cid = unique()
    run(px, bundle(["sleep", "1000"]), cid, "-d").check_returncode()
    px("update", "--memory", "50331648", "--pids-limit", "7", cid, check=True)
    # The container's cgroup, as LXC names it on a cgroup v1 host.
    for ctl, f, want in (("memory", "memory.limit_in_bytes", "50331648"), ("pids", "pids.max", "7")):
        with open("/sys/fs/cgroup/%s/lxc.payload.%s/%s" % (ctl, cid, f)) as fh:
            assert fh.read().strip() == want


def test_features_lists_the_hooks(px):
    f = json.loads(px("features", "--runtime", "lxc", check=True).stdout)
    assert f["hooks"] == ["createRuntime", "createContainer", "prestart", "startContainer", "poststart",
                          "poststop"]
    assert "seccomp" in f["linux"]


def test_version_names_liblxc(px):
    out = px("version", check=True).stdout
    assert "lxc: liblxc 5." in out
