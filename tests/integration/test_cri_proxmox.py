"""Proxmox pods through pxcrid: containers of the Proxmox double (real LXC
behind a faithful API and pct) in pods whose network, IPC and UTS namespaces
pxcrid pinned; driven by python3-grpcio like kubelet."""

import glob
import json
import signal
import os
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.request

import grpc
import pytest

import images
from cri_env import PXCRI, Daemon, pb
from pve_env import FAKE_PCT, PY, TOKEN, VMID_OFFSET, Double, make_cert

RUNNING, EXITED = 1, 2
LO, HI = 4100 + VMID_OFFSET, 4199 + VMID_OFFSET


@pytest.fixture(scope="module")
def pve():
    d = tempfile.mkdtemp(prefix="pxt-cpv-")
    os.chmod(d, 0o711)  # the double's storage, reached by unprivileged containers
    cert, key, _ = make_cert(d, "pve")
    dbl = Double(d, cert, key)
    bindir = os.path.join(d, "bin")
    os.mkdir(bindir)
    # pxcrid runs pxcri with an environment of its own: the fake pct learns
    # where the double's state is from its wrapper.
    pct = os.path.join(bindir, "pct")
    with open(pct, "w") as f:
        debug = "PXT_DEBUG_LXC=1 " if os.environ.get("PXT_DEBUG_LXC") else ""
        f.write("#!/bin/sh\n%sPVE_DOUBLE_STATE='%s' exec %s %s \"$@\"\n" % (debug, dbl.state, PY, FAKE_PCT))
    os.chmod(pct, 0o755)
    tok = os.path.join(d, "token")
    with open(tok, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tok, 0o600)
    e = {"dir": d, "cert": cert, "double": dbl, "pct": pct, "token": tok}
    try:
        yield e
    finally:
        dbl.stop()
        shutil.rmtree(d, ignore_errors=True)


def proxmox_backend(pve, transport="pct"):
    p = {"transport": transport, "storage": "local-zfs", "template_storage": "local",
         "template_dir": os.path.join(pve["double"].state, "storage", "local", "template", "cache"),
         "run_root": os.path.join(pve["dir"], "run"), "vmid_range": [LO, HI], "timeout": 30,
         "config_dir": os.path.join(pve["double"].state, "etc-pve", "lxc")}
    if transport == "pct":
        p["pct_path"] = pve["pct"]
    else:
        p.update({"hosts": [pve["double"].host], "token_file": pve["token"], "tls": {"ca_file": pve["cert"]}})
    return p


@pytest.fixture(scope="module")
def pxcrid(cri_registry, pve):
    d = Daemon(cri_registry, extra={"backends": {"proxmox": proxmox_backend(pve)},
                                    "runtime": {"routing": [{"image": "db-*", "runtime": "proxmox"}]}},
               bridge_index=140)
    os.chmod(d.dir, 0o711)  # unprivileged CTs (host uid 100000) walk to the pod's files
    yield d
    d.cleanup()


@pytest.fixture(scope="module")
def db_image(pxcrid, cri_registry, busybox):
    """The busybox image again under a name the routing rule sends to Proxmox."""
    cri_registry.push(cri_registry.layout, images.go_arch(), "db-busybox:1")
    ref = "%s/db-busybox:1" % cri_registry.host
    pxcrid.img("PullImage", image=pb().ImageSpec(image=ref))
    return ref


def cts(pve):
    """The double's containers: vmid -> config."""
    subprocess.run([pve["pct"], "list"], capture_output=True, check=True)
    with open(os.path.join(pve["double"].state, "state.json")) as f:
        return {int(k): v for k, v in json.load(f)["cts"].items()}


def http_get(url, timeout=20):
    deadline = time.time() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5).read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def run(pxcrid, pod, image, script, **kw):
    cid = pxcrid.create(pod[0], pod[1], image, command=["sh", "-c", script], **kw)
    pxcrid.rt("StartContainer", container_id=cid, deadline=120)
    return cid


def test_proxmox_pod_runs_in_the_pods_network(pxcrid, busybox, pve):
    pid, cfg = pxcrid.run_pod(handler="proxmox")
    try:
        st = pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pid).status
        ip = st.network.ip
        assert ip.startswith("10.233.")
        cid = run(pxcrid, (pid, cfg), busybox,
                  "echo hello-pve; hostname; ip -4 -o addr; echo pve > /tmp/index.html; "
                  "exec httpd -f -p 80 -h /tmp")
        st = pxcrid.wait_state(cid, RUNNING, timeout=60)
        info = json.loads(pxcrid.rt("ContainerStatus", container_id=cid, verbose=True).info["info"])
        assert info["backend"] == "proxmox", info
        time.sleep(1)
        with open(st.log_path) as f:
            log = f.read()
        assert "hello-pve" in log and ip in log, log
        # Port 80: the pod lets any user bind low ports (cri.enable_unprivileged_ports),
        # also root of the unprivileged Proxmox container (host uid 100000).
        assert http_get("http://%s/index.html" % ip) == b"pve\n"
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def vmid_of(pxcrid, cid, pve=None):
    """The VMID of a container: pxcri's state of it (its annotation)."""
    info = json.loads(pxcrid.rt("ContainerStatus", container_id=cid, verbose=True).info["info"])
    assert info["backend"] == "proxmox", info
    r = subprocess.run([PXCRI, "--config", pxcrid.config_path, "state", cid], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return int(json.loads(r.stdout)["annotations"]["pxcri.io/proxmox-vmid"])


def wait_gone(pve, vmid, timeout=30):
    """RemoveContainer answers before the runtime's delete ran (background)."""
    deadline = time.time() + timeout
    while vmid in cts(pve):
        if time.time() > deadline:
            return False
        time.sleep(0.3)
    return True


def exec_sync(pxcrid, cid, *cmd):
    return pxcrid.rt("ExecSync", container_id=cid, cmd=list(cmd), timeout=30, deadline=60)


def test_mixed_pod_over_localhost_and_from_another_pod(pxcrid, busybox, db_image, pve):
    """A crun sidecar and a db-* container on Proxmox in one pod: one network
    (localhost between them), one hostname; the pod IP serves other pods."""
    pid, cfg = pxcrid.run_pod()
    other, ocfg = pxcrid.run_pod()
    try:
        ip = pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pid).status.network.ip
        db = run(pxcrid, (pid, cfg), db_image, "echo db > /tmp/index.html; exec httpd -f -p 8080 -h /tmp")
        side = run(pxcrid, (pid, cfg), busybox, "sleep 100000")
        vmid = vmid_of(pxcrid, db)
        conf = cts(pve)[vmid]["config"]
        assert not any(k.startswith("net") for k in conf), conf  # no network of its own
        # The same network namespace: the sidecar reaches the Proxmox container on localhost.
        deadline = time.time() + 20
        while True:
            r = exec_sync(pxcrid, side, "wget", "-qO-", "http://127.0.0.1:8080/index.html")
            if r.exit_code == 0 or time.time() > deadline:
                break
            time.sleep(0.3)
        assert r.stdout == b"db\n", r
        # One UTS namespace: the pod's hostname in both.
        assert exec_sync(pxcrid, db, "hostname").stdout == exec_sync(pxcrid, side, "hostname").stdout == \
            (cfg.hostname + "\n").encode()
        # Another pod (crun) reaches it at the pod IP.
        client = run(pxcrid, (other, ocfg), busybox, "sleep 100000")
        r = exec_sync(pxcrid, client, "wget", "-qO-", "http://%s:8080/index.html" % ip)
        assert r.stdout == b"db\n", r
        # What an admin sees in Proxmox: names the pod and container.
        assert cfg.metadata.name in str(conf.get("description", "")) + str(conf.get("tags", "")), conf
    finally:
        for p in (pid, other):
            pxcrid.rt("StopPodSandbox", pod_sandbox_id=p, deadline=120)
            pxcrid.rt("RemovePodSandbox", pod_sandbox_id=p, deadline=120)
    assert wait_gone(pve, vmid), "the Proxmox container outlived its pod"


def test_logs_exec_exit_code_stop_remove(pxcrid, pod_pve, busybox, pve):
    cid = run(pxcrid, pod_pve, busybox, "echo out-line; echo err-line >&2; exec sleep 100000")
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    vmid = vmid_of(pxcrid, cid)
    r = exec_sync(pxcrid, cid, "sh", "-c", "echo in-ct; exit 3")
    assert (r.stdout, r.exit_code) == (b"in-ct\n", 3), r.stderr
    pxcrid.rt("StopContainer", container_id=cid, timeout=2, deadline=120)
    st = pxcrid.wait_state(cid, EXITED, timeout=60)
    assert st.exit_code in (137, 143), st
    with open(st.log_path) as f:
        log = f.read()
    assert " stdout F out-line" in log and " stderr F err-line" in log, log
    pxcrid.rt("RemoveContainer", container_id=cid, deadline=120)
    assert wait_gone(pve, vmid)
    cid = run(pxcrid, pod_pve, busybox, "exit 7")
    assert pxcrid.wait_state(cid, EXITED, timeout=60).exit_code == 7


def test_the_containers_command_is_pid_1_of_its_ct(pxcrid, pod_pve, busybox, pve):
    """critest's ContainerPID: pxcri-init execs the command in place, so it is
    /proc/1 of the CT; its exit status, which only lxc-start (its parent) can
    wait() for, comes from the kernel's proc connector, exactly."""
    cid = run(pxcrid, pod_pve, busybox, "echo pid-$$; exec sleep 271828")
    st = pxcrid.wait_state(cid, RUNNING, timeout=60)
    r = exec_sync(pxcrid, cid, "cat", "/proc/1/cmdline")
    assert r.stdout.split(b"\0")[:2] == [b"sleep", b"271828"], r
    # pxcri ps: the CT's init on the host is the command itself
    r = subprocess.run([PXCRI, "--config", pxcrid.config_path, "ps", "--format", "json", cid], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    cmds = [open("/proc/%d/cmdline" % q, "rb").read().split(b"\0")[0] for q in json.loads(r.stdout)]
    assert cmds == [b"sleep"], cmds
    # exec still works next to it
    r = exec_sync(pxcrid, cid, "sh", "-c", "echo exec-ok; exit 5")
    assert (r.stdout, r.exit_code) == (b"exec-ok\n", 5), r
    # SIGTERM: PID 1 without a handler ignores it (as with runc); the SIGKILL after the grace period ends it
    pxcrid.rt("StopContainer", container_id=cid, timeout=2, deadline=120)
    st = pxcrid.wait_state(cid, EXITED, timeout=60)
    assert st.exit_code == 137, st
    with open(st.log_path) as f:
        assert " stdout F pid-1" in f.read()
    cid = run(pxcrid, pod_pve, busybox, "echo bye >&2; exit 7")
    st = pxcrid.wait_state(cid, EXITED, timeout=60)
    assert st.exit_code == 7, st
    with open(st.log_path) as f:
        assert " stderr F bye" in f.read()


@pytest.fixture
def pod_pve(pxcrid, busybox):
    pid, cfg = pxcrid.run_pod(handler="proxmox")
    yield pid, cfg
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def test_directory_mount_is_live_and_shm_is_the_pods(pxcrid, pod_pve, busybox, pve):
    """A configMap-like directory: a file changed on the host after the start
    is seen inside; /dev/shm is the pod's (a file a crun sibling writes)."""
    src = tempfile.mkdtemp(prefix="pxt-cfgmap-", dir=pxcrid.dir)
    os.chmod(src, 0o755)
    with open(os.path.join(src, "key"), "w") as f:
        f.write("v1")
    p = pb()
    cid = run(pxcrid, pod_pve, busybox, "sleep 100000",
              mounts=[p.Mount(container_path="/config", host_path=src, readonly=True)])
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    assert exec_sync(pxcrid, cid, "cat", "/config/key").stdout == b"v1"
    with open(os.path.join(src, "key.new"), "w") as f:
        f.write("v2")
    os.rename(os.path.join(src, "key.new"), os.path.join(src, "key"))
    assert exec_sync(pxcrid, cid, "cat", "/config/key").stdout == b"v2"
    r = exec_sync(pxcrid, cid, "sh", "-c", "echo x > /config/w")
    assert r.exit_code != 0  # read-only
    assert exec_sync(pxcrid, cid, "sh", "-c", "echo shared > /dev/shm/pxt && cat /dev/shm/pxt").stdout == b"shared\n"
    shm = os.path.join(pxcrid.dir, "state", "pods", pod_pve[0], "shm", "pxt")
    with open(shm) as f:
        assert f.read() == "shared\n"


def test_termination_log_and_hosts_are_live_files(pxcrid, pod_pve, busybox, pve):
    """kubelet's file mounts: what the process writes into
    /dev/termination-log is kubelet's file once it exited (the termination
    message), and the pod's /etc/hosts is pxcrid's file, not a copy."""
    d = tempfile.mkdtemp(prefix="pxt-term-", dir=pxcrid.dir)
    term = os.path.join(d, "termination-log")
    open(term, "w").close()
    p = pb()
    cid = run(pxcrid, pod_pve, busybox, "grep -c . /etc/hosts > /dev/null && echo 'bye: 42' > /dev/termination-log; exit 3",
              mounts=[p.Mount(container_path="/dev/termination-log", host_path=term)])
    assert pxcrid.wait_state(cid, EXITED, timeout=60).exit_code == 3
    with open(term) as f:
        assert f.read() == "bye: 42\n"


def test_restart_finds_proxmox_containers(pxcrid, pod_pve, busybox, pve):
    cid = run(pxcrid, pod_pve, busybox, "sleep 100000")
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    vmid = vmid_of(pxcrid, cid)
    pxcrid.restart(signal.SIGKILL)
    assert pxcrid.status(cid).state == RUNNING
    assert exec_sync(pxcrid, cid, "echo", "alive").stdout == b"alive\n"
    assert cts(pve)[vmid]["status"] == "running"


def test_api_transport_refuses_pod_network(cri_registry, pve, busybox):
    d = Daemon(cri_registry, extra={"backends": {"proxmox": proxmox_backend(pve, "api")}}, bridge_index=141)
    try:
        pid, cfg = d.run_pod(handler="proxmox")
        d.img("PullImage", image=pb().ImageSpec(image=busybox))
        with pytest.raises(grpc.RpcError) as e:
            d.create(pid, cfg, busybox, command=["true"])
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "transport" in e.value.details() and "pct" in e.value.details()
        assert len(d.rt("ListContainers").containers) == 0
    finally:
        d.cleanup()


def test_streaming_exec_through_pct(pxcrid, pod_pve, busybox):
    """kubectl exec into a Proxmox container: the streaming server runs pxcri
    exec, which is `pct exec` on the node (with a terminal: pxcri-init's pty)."""
    import kube_stream as ks

    cid = run(pxcrid, pod_pve, busybox, "sleep 100000")
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    url = pxcrid.rt("Exec", container_id=cid, cmd=["sh", "-c", "echo out; echo err >&2; exit 3"], stdout=True,
                    stderr=True).url
    r = ks.spdy_exec(url, timeout=60)
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 3), r
    url = pxcrid.rt("Exec", container_id=cid, cmd=["sh", "-c", "sleep 0.5; stty size"], stdin=True, stdout=True,
                    tty=True).url
    r = ks.spdy_exec(url, tty=True, stdin=b"", stderr=False, resize=(101, 27), timeout=60)
    assert r.stdout.strip() == b"27 101" and r.exit_code == 0, r



def test_readonly_rootfs_on_a_linked_clone(pxcrid, pod_pve, busybox, pve):
    """root.readonly: pxcri-init remounts / read-only after its mounts (a
    directory mount at a path the image lacks is still made), on a clone."""
    p = pb()
    src = tempfile.mkdtemp(prefix="pxt-ro-", dir=pxcrid.dir)
    os.chmod(src, 0o777)  # root of the unprivileged container is host uid 100000
    cid = run(pxcrid, pod_pve, busybox, "sleep 100000",
              mounts=[p.Mount(container_path="/new/dir", host_path=src)],
              linux=p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(readonly_rootfs=True)))
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    r = exec_sync(pxcrid, cid, "touch", "/pxt-file")
    assert r.exit_code != 0 and b"Read-only file system" in r.stderr, r
    assert exec_sync(pxcrid, cid, "touch", "/new/dir/ok").exit_code == 0  # the volume stays writable
    assert os.path.exists(os.path.join(src, "ok"))
    assert "ro=1" not in cts(pve)[vmid_of(pxcrid, cid)]["config"]["rootfs"]


def test_host_network_pod(pxcrid, busybox, pve):
    """hostNetwork: the Proxmox container shares the host's network (no net0)."""
    p = pb()
    cfg = pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(security_context=p.LinuxSandboxSecurityContext(
        namespace_options=p.NamespaceOption(network=p.NODE, pid=p.CONTAINER))))  # as kubelet sends it
    pid, cfg = pxcrid.run_pod(cfg, handler="proxmox")
    try:
        cid = run(pxcrid, (pid, cfg), busybox, "sleep 100000")
        pxcrid.wait_state(cid, RUNNING, timeout=60)
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            host = f.read()
        # The host's network namespace: the host's interfaces and sysctls.
        r = exec_sync(pxcrid, cid, "cat", "/proc/sys/net/ipv4/ip_forward")
        assert r.stdout.decode() == host
        links = exec_sync(pxcrid, cid, "ip", "-o", "link").stdout.decode()
        idx = {n: int(open("/sys/class/net/%s/ifindex" % n).read()) for n in os.listdir("/sys/class/net")}
        first = min((i, n) for n, i in idx.items() if n != "lo")[1]  # the host's oldest interface
        assert ": %s:" % first in links, links
        assert not any(k.startswith("net") for k in cts(pve)[vmid_of(pxcrid, cid)]["config"])
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def _ct_cgroup_file(vmid, controller, name):
    """A file of the CT's cgroup where Proxmox puts it (/lxc/<vmid>), v1 or v2."""
    v1 = "/sys/fs/cgroup/%s/lxc/%d/%s" % (controller, vmid, name)
    return v1 if os.path.exists(v1) else "/sys/fs/cgroup/lxc/%d/%s" % (vmid, name)


def test_stats_come_from_the_cts_cgroup(pxcrid, pod_pve, busybox, pve):
    """ContainerStats of a Proxmox container: cpu and memory of the CT's
    cgroup (/lxc/<vmid>, as pve-container names it): the CPU a busy loop
    burnt and the 24 MiB it put in the pod's /dev/shm; still there after a
    kill -9 of pxcrid; none once it exited."""
    cid = run(pxcrid, pod_pve, busybox,
              "dd if=/dev/zero of=/dev/shm/pxt-fill bs=1M count=24 2>/dev/null; i=0; "
              "while [ $i -lt 150000 ]; do i=$((i+1)); done; touch /tmp/busy-done; exec sleep 100000")
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    vmid = vmid_of(pxcrid, cid)
    deadline = time.time() + 60
    while exec_sync(pxcrid, cid, "test", "-e", "/tmp/busy-done").exit_code != 0:
        assert time.time() < deadline, "the busy loop never finished"
        time.sleep(0.5)
    for restarted in (False, True):
        if restarted:
            pxcrid.restart(signal.SIGKILL)
        st = pxcrid.rt("ContainerStats", container_id=cid).stats
        assert st.attributes.id == cid
        assert st.cpu.usage_core_nano_seconds.value > 50 * 10 ** 6, st  # the loop's CPU, not an empty cgroup
        assert st.memory.working_set_bytes.value >= 24 << 20, st
        with open(_ct_cgroup_file(vmid, "cpuacct", "cpuacct.usage")
                  if os.path.exists("/sys/fs/cgroup/cpuacct") else _ct_cgroup_file(vmid, "cpu", "cpu.stat")) as f:
            text = f.read()
        host_ns = int(text) if text.strip().isdigit() else int(text.split()[1]) * 1000
        # the same counter, read a moment later by us
        assert st.cpu.usage_core_nano_seconds.value <= host_ns < st.cpu.usage_core_nano_seconds.value + 10 ** 9
        listed = {s.attributes.id: s for s in pxcrid.rt("ListContainerStats").stats}
        assert listed[cid].cpu.usage_core_nano_seconds.value >= st.cpu.usage_core_nano_seconds.value
    pxcrid.rt("StopContainer", container_id=cid, timeout=2, deadline=120)
    pxcrid.wait_state(cid, EXITED, timeout=60)
    st = pxcrid.rt("ContainerStats", container_id=cid).stats
    assert not st.HasField("cpu") and not st.HasField("memory"), st
    pxcrid.rt("RemoveContainer", container_id=cid, deadline=120)
    assert wait_gone(pve, vmid)


def _ct_cgroup(vmid, controller, name):
    with open(_ct_cgroup_file(vmid, controller, name)) as f:
        return f.read().strip()


def test_resources_reach_the_ct_and_follow_updates(pxcrid, pod_pve, busybox, pve):
    """The CRI's memory limit, CPU quota and shares become the CT's memory,
    cpulimit and cpuunits (what the admin sees in Proxmox), which Proxmox
    applies to the CT's cgroup; UpdateContainerResources changes both on the
    running CT; what Proxmox cannot set is refused naming the field."""
    p = pb()
    res = p.LinuxContainerResources(memory_limit_in_bytes=256 << 20, cpu_period=100000, cpu_quota=150000,
                                    cpu_shares=512)
    cid = run(pxcrid, pod_pve, busybox, "exec sleep 100000", linux=p.LinuxContainerConfig(resources=res))
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    vmid = vmid_of(pxcrid, cid)
    conf = cts(pve)[vmid]["config"]
    assert (str(conf["memory"]), str(conf["cores"]), float(conf["cpulimit"])) == ("256", "2", 1.5), conf
    assert int(conf["cpuunits"]) == 1 + (512 - 2) * 9999 // 262142, conf  # cgroup v2's weight of 512 shares
    v1 = os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        assert int(_ct_cgroup(vmid, "memory", "memory.limit_in_bytes")) == 256 << 20
    quota = _ct_cgroup(vmid, "cpu", "cpu.cfs_quota_us" if v1 else "cpu.max")
    assert quota.split()[0] == "150000", quota

    pxcrid.rt("UpdateContainerResources", container_id=cid,
              linux=p.LinuxContainerResources(memory_limit_in_bytes=300 << 20, cpu_period=100000, cpu_quota=50000,
                                              cpu_shares=1024))
    conf = cts(pve)[vmid]["config"]
    assert (str(conf["memory"]), float(conf["cpulimit"])) == ("300", 0.5), conf
    assert int(conf["cpuunits"]) == 1 + (1024 - 2) * 9999 // 262142, conf
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        assert int(_ct_cgroup(vmid, "memory", "memory.limit_in_bytes")) == 300 << 20
    quota = _ct_cgroup(vmid, "cpu", "cpu.cfs_quota_us" if v1 else "cpu.max")
    assert quota.split()[0] == "50000", quota
    assert pxcrid.status(cid).resources.linux.memory_limit_in_bytes == 300 << 20
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.rt("UpdateContainerResources", container_id=cid,
                  linux=p.LinuxContainerResources(memory_limit_in_bytes=300 << 20, cpuset_cpus="0"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value.details()
    assert "linux.resources.cpu.cpus: Proxmox cannot set it" in e.value.details(), e.value.details()
    assert str(cts(pve)[vmid]["config"]["memory"]) == "300"


def test_exec_sync_deadline_kills_the_command_in_the_ct(pxcrid, pod_pve, busybox, pve):
    """ExecSync's timeout reaches the process inside the CT (pct exec alone
    cannot signal it): DEADLINE_EXCEEDED at the deadline, the command (the
    shell) gone and its next step never run.  As with crun and containerd,
    the kill is the exec's process's: a child it forked (sleep) is not
    followed."""
    cid = run(pxcrid, pod_pve, busybox, "exec sleep 100000")
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    t = time.time()
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.rt("ExecSync", container_id=cid, cmd=["sh", "-c", "sleep 7; touch /tmp/late"], timeout=2,
                  deadline=60)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value
    assert time.time() - t < 6.5, "answered only when the command ended"
    ps = exec_sync(pxcrid, cid, "sh", "-c", "for p in /proc/[0-9]*; do cat $p/cmdline | tr '\\0' ' '; echo; done")
    assert b"touch /tmp/late" not in ps.stdout, ps.stdout
    time.sleep(7 - (time.time() - t) + 0.5)
    assert exec_sync(pxcrid, cid, "test", "-e", "/tmp/late").exit_code == 1  # never ran on
    # the exec's files went with it
    run_dir = os.path.join(pve["dir"], "run")
    assert not [f for _, _, fs in os.walk(run_dir) for f in fs if f.startswith("exec-")]


def _status_field(text, name):
    return next(l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith(name + ":"))


def test_security_context_is_applied_in_the_ct(pxcrid, pod_pve, busybox, pve):
    """noNewPrivileges, capabilities (drop ALL, add one), masked and read-only
    paths reach the Proxmox container: read back from inside it, for the
    process and for an exec."""
    p = pb()
    sc = p.LinuxContainerSecurityContext(
        no_new_privs=True, capabilities=p.Capability(drop_capabilities=["ALL"], add_capabilities=["NET_BIND_SERVICE"]),
        masked_paths=["/etc/group", "/usr"], readonly_paths=["/tmp"])
    cid = run(pxcrid, pod_pve, busybox, "grep -E '^(NoNewPrivs|CapEff|CapBnd):' /proc/self/status; exec sleep 100000",
              linux=p.LinuxContainerConfig(security_context=sc))
    st = pxcrid.wait_state(cid, RUNNING, timeout=60)
    status = exec_sync(pxcrid, cid, "cat", "/proc/self/status").stdout.decode()
    assert _status_field(status, "NoNewPrivs") == "1", status
    assert _status_field(status, "CapEff") == "%016x" % (1 << 10), status  # NET_BIND_SERVICE only
    assert _status_field(status, "CapBnd") == "%016x" % (1 << 10), status
    time.sleep(0.5)
    with open(st.log_path) as f:
        log = f.read()
    assert "NoNewPrivs:\t1" in log and "CapEff:\t%016x" % (1 << 10) in log, log  # the process itself
    # Masked: a file reads empty, a directory is an empty read-only tmpfs.
    assert exec_sync(pxcrid, cid, "cat", "/etc/group").stdout == b""
    assert exec_sync(pxcrid, cid, "ls", "-A", "/usr").stdout == b""
    r = exec_sync(pxcrid, cid, "touch", "/tmp/pxt")
    assert r.exit_code != 0 and b"Read-only file system" in r.stderr, r
    conf = open(os.path.join(pve["double"].state, "etc-pve", "lxc", "%d.conf" % vmid_of(pxcrid, cid))).read()
    assert "lxc.include:" in conf, conf


def test_seccomp_profiles_reach_the_ct(pxcrid, pod_pve, busybox, pve):
    """RuntimeDefault and a Localhost profile: lxc.seccomp.profile through the
    include, the OCI profile with Proxmox's own rules merged in."""
    p = pb()
    cid = run(pxcrid, pod_pve, busybox, "exec sleep 100000", linux=p.LinuxContainerConfig(
        security_context=p.LinuxContainerSecurityContext(seccomp=p.SecurityProfile(profile_type=p.SecurityProfile.RuntimeDefault))))
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    status = exec_sync(pxcrid, cid, "cat", "/proc/self/status").stdout.decode()
    assert _status_field(status, "Seccomp") == "2", status
    r = exec_sync(pxcrid, cid, "unshare", "-U", "true")  # RuntimeDefault: no user namespaces without SYS_ADMIN
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr, r
    prof = os.path.join(pxcrid.dir, "pxt-seccomp.json")
    with open(prof, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["symlink", "symlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}, f)
    cid2 = run(pxcrid, pod_pve, busybox, "exec sleep 100000", linux=p.LinuxContainerConfig(
        security_context=p.LinuxContainerSecurityContext(seccomp=p.SecurityProfile(
            profile_type=p.SecurityProfile.Localhost, localhost_ref=prof))))
    pxcrid.wait_state(cid2, RUNNING, timeout=60)
    r = exec_sync(pxcrid, cid2, "ln", "-s", "x", "/tmp/pxt-link")
    assert r.exit_code != 0 and b"Operation not permitted" in r.stderr, r
    assert exec_sync(pxcrid, cid2, "touch", "/tmp/pxt-file").exit_code == 0
    # Proxmox's own rules stay (common.seccomp's; keyctl is ENOSYS only in an
    # unprivileged CT, and a pod's CT is privileged).
    with open(os.path.join(pxcrid.dir, "rt", "proxmox", cid2, "seccomp")) as f:
        text = f.read()
    assert "symlinkat errno 1" in text and "kexec_load errno 1" in text and "keyctl" not in text, text


def _pod_with_pid(pxcrid, mode):
    p = pb()
    cfg = pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(security_context=p.LinuxSandboxSecurityContext(
        namespace_options=p.NamespaceOption(pid=mode))))
    return pxcrid.run_pod(cfg, handler="proxmox")


def test_pod_pid_namespace_is_shared_with_the_ct(pxcrid, busybox, pve):
    """PodPID: two Proxmox containers of a pod see each other's processes
    (lxc.namespace.share.pid through the include; /proc from inside the pod's
    PID namespace, which an unprivileged CT cannot mount itself)."""
    p = pb()
    pid, cfg = _pod_with_pid(pxcrid, p.POD)
    try:
        pidns = p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(
            namespace_options=p.NamespaceOption(pid=p.POD)))
        a = run(pxcrid, (pid, cfg), busybox, "exec sleep 424242", linux=pidns)
        b = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000", linux=pidns)
        for c in (a, b):
            pxcrid.wait_state(c, RUNNING, timeout=60)
        r = exec_sync(pxcrid, b, "ps", "-o", "pid,args")
        assert b"sleep 424242" in r.stdout, r
        # pxcri ps (and kill --all) of one CT: its own processes, by its cgroup, not the pod's.
        r = subprocess.run([PXCRI, "--config", pxcrid.config_path, "ps", "--format", "json", b], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        cmds = [open("/proc/%d/cmdline" % q, "rb").read() for q in json.loads(r.stdout)]
        assert b"sleep\0" + b"100000\0" in cmds and not any(b"424242" in c for c in cmds), cmds
        # A PID namespace that is not the CT's own: pxcri-init is not its pid 1.
        assert exec_sync(pxcrid, b, "cat", "/proc/1/cmdline").stdout.split(b"\0")[0] != b"/.pxcri/init"
        # The host keeps no procfs mount of the pod behind.
        with open("/proc/self/mountinfo") as f:
            assert b + ".proc" not in f.read()
        pxcrid.rt("StopContainer", container_id=a, timeout=2, deadline=120)
        assert pxcrid.wait_state(a, EXITED, timeout=60).exit_code in (137, 143)
        assert b"sleep 424242" not in exec_sync(pxcrid, b, "ps", "-o", "pid,args").stdout
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def test_host_pid_ct_sees_the_hosts_processes(pxcrid, busybox, pve):
    """hostPID: the CT joins the host's PID namespace."""
    p = pb()
    pid, cfg = _pod_with_pid(pxcrid, p.NODE)
    marker = subprocess.Popen(["sleep", "373737"])
    try:
        cid = run(pxcrid, (pid, cfg), busybox, "exec sleep 3131313", linux=p.LinuxContainerConfig(
            security_context=p.LinuxContainerSecurityContext(namespace_options=p.NamespaceOption(pid=p.NODE))))
        pxcrid.wait_state(cid, RUNNING, timeout=60)
        r = exec_sync(pxcrid, cid, "cat", "/proc/%d/cmdline" % marker.pid)
        assert r.stdout == b"sleep\0" + b"373737\0", r
        vmid = vmid_of(pxcrid, cid)
        pxcrid.rt("StopContainer", container_id=cid, timeout=2, deadline=120)
        pxcrid.rt("RemoveContainer", container_id=cid, deadline=120)
        assert wait_gone(pve, vmid)
        # Nothing of it outlives it in the host's PID namespace (pxcri-init
        # ends what is left; a forced delete kills the CT's cgroup).
        left = subprocess.run(["pgrep", "-f", "^sleep 3131313$"], capture_output=True, text=True)
        assert left.stdout == "", left.stdout
    finally:
        marker.kill()
        marker.wait()
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def test_host_ipc_ct_sees_the_hosts_shared_memory(pxcrid, busybox, pve):
    """hostIPC: the CT joins the host's IPC namespace (a segment made on the
    host is listed inside), never silently one of its own."""
    p = pb()
    cfg = pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(security_context=p.LinuxSandboxSecurityContext(
        namespace_options=p.NamespaceOption(ipc=p.NODE))))
    pid, cfg = pxcrid.run_pod(cfg, handler="proxmox")
    seg = subprocess.run(["ipcmk", "-M", "4096"], capture_output=True, text=True, check=True).stdout.split()[-1]
    try:
        cid = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000")
        pxcrid.wait_state(cid, RUNNING, timeout=60)
        r = exec_sync(pxcrid, cid, "cat", "/proc/sysvipc/shm")
        assert seg in [l.split()[1] for l in r.stdout.decode().splitlines()[1:]], (seg, r)
    finally:
        subprocess.run(["ipcrm", "-m", seg])
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def test_what_a_ct_cannot_honour_is_refused_by_create_naming_the_field(pxcrid, pod_pve, busybox, pve):
    """Never run without a setting the user asked for: a seccomp profile that
    restricts mount (pxcri-init mounts under it) and a privileged container
    fail CreateContainer with FAILED_PRECONDITION naming the field, and no
    Proxmox container is made."""
    p = pb()
    prof = os.path.join(pxcrid.dir, "pxt-no-mount.json")
    with open(prof, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}, f)
    before = set(cts(pve))
    cases = {
        "linux.seccomp": (pod_pve, p.LinuxContainerSecurityContext(seccomp=p.SecurityProfile(
            profile_type=p.SecurityProfile.Localhost, localhost_ref=prof))),
    }
    for field, (pod, sc) in cases.items():
        with pytest.raises(grpc.RpcError) as e:
            pxcrid.create(pod[0], pod[1], busybox, command=["true"],
                          linux=p.LinuxContainerConfig(security_context=sc))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value
        assert field in e.value.details(), e.value.details()
    assert set(cts(pve)) == before


def test_attach_reaches_the_ct_and_stdin_once_ends_it(pxcrid, pod_pve, busybox, pve):
    """critest's attach on Proxmox: conmon's stdin pipe (stdin: true) is the
    waiter's, which copies it into the CT's run directory, where the
    process's stdin is; closing the attach's stdin (stdin_once) ends sh."""
    import kube_stream as ks

    cid = pxcrid.create(pod_pve[0], pod_pve[1], busybox, command=["sh"], stdin=True, stdin_once=True)
    pxcrid.rt("StartContainer", container_id=cid, deadline=120)
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    url = pxcrid.rt("Attach", container_id=cid, stdin=True, stdout=True, stderr=True).url
    with ks.SpdyRemoteCommand(url, stdin=True, stdout=True, stderr=True) as rc:
        # critest's attach: output without a newline must come through too
        rc.send_stdin(b"echo -n prompt-$((1+1))\n")
        assert rc.read_until(b"prompt-2", timeout=30).endswith(b"prompt-2")
        rc.send_stdin(b"echo; echo hello-$((6*7))\n")
        assert rc.read_until(b"hello-42\n", timeout=30).endswith(b"hello-42\n")
        rc.send_stdin(b"echo to-err >&2\n")
        rc.read_until(b"to-err\n", stream="stderr", timeout=30)
        rc.close_stdin()
        assert rc.wait(30).exit_code == 0
    st = pxcrid.wait_state(cid, EXITED, timeout=60)
    assert st.exit_code == 0, st
    with open(st.log_path) as f:
        log = f.read()
    assert " stdout P prompt-2" in log and " stdout F hello-42" in log and " stderr F to-err" in log, log


def test_stdin_without_attach_is_read_by_the_process(pxcrid, pod_pve, busybox, pve):
    """stdin: true without stdin_once: the process reads an attach's input
    and keeps running when that attach goes (cat waits for more)."""
    import kube_stream as ks

    cid = run(pxcrid, pod_pve, busybox, "cat", stdin=True)
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    url = pxcrid.rt("Attach", container_id=cid, stdin=True, stdout=True).url
    with ks.SpdyRemoteCommand(url, stdin=True, stdout=True, stderr=False) as rc:
        rc.send_stdin(b"via-cat\n")
        rc.read_until(b"via-cat\n", timeout=30)
    time.sleep(1)
    assert pxcrid.status(cid).state == RUNNING
    pxcrid.rt("StopContainer", container_id=cid, timeout=2, deadline=120)
    st = pxcrid.wait_state(cid, EXITED, timeout=60)
    with open(st.log_path) as f:
        assert " stdout F via-cat" in f.read()


def test_oom_score_adj_reaches_the_ct(pxcrid, pod_pve, busybox, pve):
    p = pb()
    cid = run(pxcrid, pod_pve, busybox, "cat /proc/self/oom_score_adj; grep 'open files' /proc/self/limits",
              linux=p.LinuxContainerConfig(resources=p.LinuxContainerResources(oom_score_adj=654)))
    st = pxcrid.wait_state(cid, EXITED, timeout=60)
    assert st.exit_code == 0, st
    with open(st.log_path) as f:
        log = f.read()
    assert " stdout F 654" in log, log


# ---- a pod without a user namespace: root is the node's root, confined as on crun ----

def _caps(status):
    return {k: _status_field(status, k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Seccomp")}


def _sc(**kw):
    p = pb()
    caps = kw.pop("add", None)
    if caps:
        kw["capabilities"] = p.Capability(add_capabilities=caps)
    return p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(**kw))


def test_pod_ct_is_privileged_and_root_reads_0700_host_files(pxcrid, pod_pve, busybox, pve):
    """A pod's CT is unprivileged=0: its root is the node's root, so a
    hostPath directory of mode 0700 and a file of mode 0400 (a secret with
    defaultMode 0400), both root's, are readable -- as on crun."""
    p = pb()
    src = tempfile.mkdtemp(prefix="pxt-0700-", dir=pxcrid.dir)
    with open(os.path.join(src, "secret"), "w") as f:
        f.write("s3cret\n")
    os.chmod(os.path.join(src, "secret"), 0o400)
    os.chmod(src, 0o700)
    cid = run(pxcrid, pod_pve, busybox, "exec sleep 100000",
              mounts=[p.Mount(container_path="/vol", host_path=src, readonly=True)])
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    assert str(cts(pve)[vmid_of(pxcrid, cid)]["config"]["unprivileged"]) == "0"
    r = exec_sync(pxcrid, cid, "cat", "/vol/secret")
    assert (r.exit_code, r.stdout) == (0, b"s3cret\n"), r
    assert exec_sync(pxcrid, cid, "ls", "/vol").stdout == b"secret\n"


def test_default_caps_are_the_cris_not_proxmoxs(pxcrid, pod_pve, busybox, pve):
    """The CT's init keeps nearly all of root's capabilities (Proxmox's
    privileged defaults); the process and an exec get exactly the CRI's
    default set -- the same sets as the same container on crun, and the
    same seccomp state (Unconfined: no filter, not Proxmox's profile)."""
    cid = run(pxcrid, pod_pve, busybox, "exec sleep 100000")
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    pid, cfg = pxcrid.run_pod()
    try:
        ref = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000")
        pxcrid.wait_state(ref, RUNNING, timeout=30)
        want = _caps(exec_sync(pxcrid, ref, "cat", "/proc/self/status").stdout.decode())
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)
    got = _caps(exec_sync(pxcrid, cid, "cat", "/proc/self/status").stdout.decode())
    assert got == want, (got, want)
    assert int(got["CapBnd"], 16) & (1 << 21) == 0, got  # no SYS_ADMIN


def test_sethostname_in_the_pod_uts_namespace_needs_sys_admin(pxcrid, busybox, pve):
    """The pod's UTS namespace belongs to the node's user namespace: with
    SYS_ADMIN the CT's root may rename it (seen by the pod's other CT),
    without it not."""
    pid, cfg = pxcrid.run_pod(handler="proxmox")
    try:
        plain = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000")
        admin = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000", linux=_sc(add=["SYS_ADMIN"]))
        for c in (plain, admin):
            pxcrid.wait_state(c, RUNNING, timeout=60)
        r = exec_sync(pxcrid, plain, "hostname", "pxt-plain")
        assert r.exit_code != 0, r
        r = exec_sync(pxcrid, admin, "hostname", "pxt-renamed")
        assert r.exit_code == 0, r
        assert exec_sync(pxcrid, plain, "hostname").stdout == b"pxt-renamed\n"
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def test_net_admin_adds_a_link_in_the_pod_network(pxcrid, busybox, pve):
    """NET_ADMIN over the pod's network namespace (the node's user
    namespace owns it): a bridge added by one CT is the pod's; without the
    capability the kernel refuses."""
    pid, cfg = pxcrid.run_pod(handler="proxmox")
    try:
        plain = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000")
        admin = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000", linux=_sc(add=["NET_ADMIN"]))
        for c in (plain, admin):
            pxcrid.wait_state(c, RUNNING, timeout=60)
        r = exec_sync(pxcrid, plain, "ip", "link", "add", "pxtbr1", "type", "bridge")
        assert r.exit_code != 0, r
        r = exec_sync(pxcrid, admin, "ip", "link", "add", "pxtbr0", "type", "bridge")
        assert r.exit_code == 0, r
        r = exec_sync(pxcrid, plain, "ip", "link", "show", "pxtbr0")
        assert r.exit_code == 0 and b"pxtbr0" in r.stdout, r
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def test_privileged_container_has_all_caps_and_host_devices(pxcrid, busybox, pve):
    """privileged: every capability (Proxmox's drops cleared), no seccomp
    filter, the host's device nodes usable, /sys writable -- as crun gives
    one; the pod's non-privileged CT has none of it."""
    p = pb()
    pid, cfg = pxcrid.run_pod(pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(
        security_context=p.LinuxSandboxSecurityContext(privileged=True))), handler="proxmox")
    try:
        priv = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000", linux=_sc(privileged=True))
        plain = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000")
        for c in (priv, plain):
            pxcrid.wait_state(c, RUNNING, timeout=60)
        with open("/proc/self/status") as f:  # all the node has (pxcrid's bounding set)
            full = _status_field(f.read(), "CapBnd")
        assert int(full, 16) & (1 << 25)  # SYS_TIME: one Proxmox's common.conf drops
        status = exec_sync(pxcrid, priv, "cat", "/proc/self/status").stdout.decode()
        assert _status_field(status, "CapEff") == full and _status_field(status, "CapBnd") == full, status
        assert _status_field(status, "Seccomp") == "0", status
        r = exec_sync(pxcrid, priv, "dd", "if=/dev/kmsg", "of=/dev/null", "bs=8192", "count=1")
        assert r.exit_code == 0, r  # a host device, allowed by the devices cgroup
        assert exec_sync(pxcrid, priv, "test", "-c", "/dev/loop-control").exit_code == 0
        mounts = exec_sync(pxcrid, priv, "cat", "/proc/mounts").stdout.decode()
        assert any(l.split()[1] == "/sys" and "rw" in l.split()[3].split(",") for l in mounts.splitlines()), mounts
        r = exec_sync(pxcrid, plain, "test", "-e", "/dev/kmsg")
        assert r.exit_code != 0, r
        status = exec_sync(pxcrid, plain, "cat", "/proc/self/status").stdout.decode()
        assert _status_field(status, "CapBnd") != full, status
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)


def test_mount_propagation_rslave_and_rshared(pxcrid, busybox, pve):
    """HOST_TO_CONTAINER (rslave): a mount made on the node under the
    volume later is seen in the CT; BIDIRECTIONAL (rshared, a privileged
    container): a mount the CT makes there is seen on the node too."""
    p = pb()
    src = tempfile.mkdtemp(prefix="pxt-prop-", dir=pxcrid.dir)
    subprocess.run(["mount", "--bind", src, src], check=True)
    subprocess.run(["mount", "--make-rshared", src], check=True)
    pid, cfg = pxcrid.run_pod(pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(
        security_context=p.LinuxSandboxSecurityContext(privileged=True))), handler="proxmox")
    try:
        slave = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000", mounts=[p.Mount(
            container_path="/mnt/vol", host_path=src, propagation=p.PROPAGATION_HOST_TO_CONTAINER)])
        shared = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000", linux=_sc(privileged=True), mounts=[p.Mount(
            container_path="/mnt/vol", host_path=src, propagation=p.PROPAGATION_BIDIRECTIONAL)])
        for c in (slave, shared):
            pxcrid.wait_state(c, RUNNING, timeout=60)
        os.mkdir(os.path.join(src, "from-host"))
        subprocess.run(["mount", "-t", "tmpfs", "pxt-host", os.path.join(src, "from-host")], check=True)
        with open(os.path.join(src, "from-host", "marker"), "w") as f:
            f.write("host\n")
        for c in (slave, shared):
            r = exec_sync(pxcrid, c, "cat", "/mnt/vol/from-host/marker")
            assert r.stdout == b"host\n", (c, r)
        r = exec_sync(pxcrid, shared, "sh", "-c", "mkdir -p /mnt/vol/from-ct && mount -t tmpfs pxt-ct /mnt/vol/from-ct "
                      "&& echo ct > /mnt/vol/from-ct/marker")
        assert r.exit_code == 0, r
        deadline = time.time() + 5
        while not os.path.exists(os.path.join(src, "from-ct", "marker")) and time.time() < deadline:
            time.sleep(0.2)
        with open(os.path.join(src, "from-ct", "marker")) as f:
            assert f.read() == "ct\n"
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid, deadline=120)
        subprocess.run(["umount", "-R", "-l", src])


def test_user_annotations_do_not_choose_privilege(pxcrid, pod_pve, busybox, pve):
    """pxcri.io/privileged and pxcri.io/privileged-container are pxcrid's:
    a request's annotations neither make the CT unprivileged nor unconfine a
    non-privileged container."""
    cid = run(pxcrid, pod_pve, busybox, "exec sleep 100000",
              annotations={"pxcri.io/privileged": "false", "pxcri.io/privileged-container": "true"})
    pxcrid.wait_state(cid, RUNNING, timeout=60)
    assert str(cts(pve)[vmid_of(pxcrid, cid)]["config"]["unprivileged"]) == "0"
    with open(os.path.join(pxcrid.dir, "rt", "proxmox", cid, "namespaces.conf")) as f:
        assert "unconfined" not in f.read()
    status = exec_sync(pxcrid, cid, "cat", "/proc/self/status").stdout.decode()
    assert int(_status_field(status, "CapBnd"), 16) & (1 << 21) == 0, status


def test_unprivileged_pods_key_keeps_every_ct_unprivileged(cri_registry, pve):
    """backends.proxmox.unprivileged_pods: every CT unprivileged=1 (root is
    host uid 100000), a user's pxcri.io/privileged=true changes nothing, a
    privileged container is refused naming the key."""
    p = pb()
    d = Daemon(cri_registry, extra={"backends": {"proxmox": dict(proxmox_backend(pve), unprivileged_pods=True)}})
    os.chmod(d.dir, 0o711)
    try:
        ref = "%s/pxt/busybox:1" % cri_registry.host
        d.img("PullImage", image=p.ImageSpec(image=ref))
        pid, cfg = d.run_pod(handler="proxmox")
        cid = run(d, (pid, cfg), ref, "exec sleep 100000", annotations={"pxcri.io/privileged": "true"})
        d.wait_state(cid, RUNNING, timeout=60)
        assert str(cts(pve)[vmid_of(d, cid)]["config"]["unprivileged"]) == "1"
        r = exec_sync(d, cid, "id", "-u")
        assert r.stdout == b"0\n", r
        ps = subprocess.run(["pgrep", "-f", "-u", "100000", "^sleep 100000$"], capture_output=True, text=True)
        assert ps.stdout.strip(), "the CT's root is not host uid 100000"
        ppid, pcfg = d.run_pod(d.pod_config(linux=p.LinuxPodSandboxConfig(
            security_context=p.LinuxSandboxSecurityContext(privileged=True))), handler="proxmox")
        with pytest.raises(grpc.RpcError) as e:
            d.create(ppid, pcfg, ref, command=["true"], linux=_sc(privileged=True))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value
        assert "unprivileged_pods" in e.value.details(), e.value.details()
        for q in (pid, ppid):
            d.rt("StopPodSandbox", pod_sandbox_id=q, deadline=120)
            d.rt("RemovePodSandbox", pod_sandbox_id=q, deadline=120)
        deadline = time.time() + 30
        while subprocess.run([PXCRI, "--config", d.config_path, "list", "-q"], capture_output=True,
                             text=True).stdout.strip() and time.time() < deadline:
            time.sleep(0.5)
    finally:
        # This root's own template container: gone before the last test
        # counts the double's templates (a prune would take the shared file).
        for rec in glob.glob(os.path.join(d.dir, "**", "proxmox", "templates", "*.json"), recursive=True):
            with open(rec) as f:
                for vmid in json.load(f).get("ct", {}).values():
                    subprocess.run([pve["pct"], "destroy", str(vmid)], capture_output=True)
        d.cleanup()


def templates_pruned(pxcrid, pve, tdir, templates):
    """Wait for the background prune: the template files and containers go."""
    deadline = time.time() + 60
    while any(f.startswith("pxcri-") for f in os.listdir(tdir)) and time.time() < deadline:
        time.sleep(0.5)
    assert not any(f.startswith("pxcri-") for f in os.listdir(tdir)), os.listdir(tdir)
    assert not set(templates) & set(cts(pve)), "template containers left"
    assert "Proxmox templates of image" in pxcrid.log()


def test_remove_image_removes_its_proxmox_template(pxcrid, busybox, pve):
    """Last in this module: RemoveImage takes the image's Proxmox template (file
    and template container) once no container uses it (pxcri proxmox-prune)."""
    for p in pxcrid.rt("ListPodSandbox").items:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=p.id, deadline=120)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=p.id, deadline=120)
    tdir = os.path.join(pve["double"].state, "storage", "local", "template", "cache")
    assert any(f.startswith("pxcri-") for f in os.listdir(tdir))
    templates = [v for v, ct in cts(pve).items() if str(ct["config"].get("template")) == "1"]
    assert templates
    deadline = time.time() + 60
    while True:  # RemoveImage waits for removals in the background, up to 10 s
        try:
            pxcrid.img("RemoveImage", image=pb().ImageSpec(image=busybox))
            break
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and time.time() < deadline, e
            time.sleep(1)
    templates_pruned(pxcrid, pve, tdir, templates)


def test_templates_of_images_removed_while_pxcrid_was_down_go_at_its_start(pxcrid, busybox, pve):
    """After the test above: an image removed with pxcri's CLI while pxcrid is
    down leaves its Proxmox template behind; pxcrid's start-up finds the
    templates whose image the store no longer has and prunes them."""
    pxcrid.img("PullImage", image=pb().ImageSpec(image=busybox))  # the test above removed it
    pod = pxcrid.run_pod(handler="proxmox")
    cid = run(pxcrid, pod, busybox, "exit 0")
    assert pxcrid.wait_state(cid, EXITED, timeout=60).exit_code == 0
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pod[0], deadline=120)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pod[0], deadline=120)
    tdir = os.path.join(pve["double"].state, "storage", "local", "template", "cache")
    assert any(f.startswith("pxcri-") for f in os.listdir(tdir))
    templates = [v for v, ct in cts(pve).items() if str(ct["config"].get("template")) == "1"]
    assert templates
    pxcrid.close()
    assert pxcrid.stop() == 0
    r = subprocess.run([PXCRI, "--config", pxcrid.config_path, "image", "remove", busybox],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert any(f.startswith("pxcri-") for f in os.listdir(tdir))  # the CLI leaves the template
    pxcrid.channel = grpc.insecure_channel("unix:" + pxcrid.sock)
    pxcrid.start()
    templates_pruned(pxcrid, pve, tdir, templates)
