"""pxcrid as a daemon: restarts (SIGTERM and kill -9) keep containers and
state, many pods at once leave nothing behind, pods reach each other over the
bridge, host ports reach pods."""

import concurrent.futures
import glob
import os
import signal
import socket
import subprocess
import time

import grpc
import pytest

from cri_env import Daemon, pb

RUNNING, EXITED = 1, 2


@pytest.fixture
def daemon(cri_registry):
    d = Daemon(cri_registry)
    d.busybox = "%s/pxt/busybox:1" % cri_registry.host
    d.img("PullImage", image=pb().ImageSpec(image=d.busybox))
    yield d
    d.cleanup()


def start(d, pod, script, **kw):
    cid = d.create(pod[0], pod[1], d.busybox, command=["sh", "-c", script], **kw)
    d.rt("StartContainer", container_id=cid)
    return cid


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_restart_keeps_everything(daemon, sig):
    pod = daemon.run_pod()
    long = start(daemon, pod, "sleep 1000")
    short = start(daemon, pod, "read x < /dev/null; sleep 1; exit 9")
    daemon.wait_state(long, RUNNING)
    stopped_pod = daemon.run_pod()
    daemon.rt("StopPodSandbox", pod_sandbox_id=stopped_pod[0])
    daemon.close()
    assert daemon.stop(sig) == (0 if sig == signal.SIGTERM else -9)
    time.sleep(1.5)  # `short` exits while pxcrid is down
    daemon.restart()
    pods = {p.id: p.state for p in daemon.rt("ListPodSandbox").items}
    assert pods == {pod[0]: 0, stopped_pod[0]: 1}
    assert daemon.status(long).state == RUNNING
    st = daemon.wait_state(short, EXITED, timeout=10)
    assert st.exit_code == 9 and st.reason == "Error"
    r = daemon.rt("ExecSync", container_id=long, cmd=["echo", "still-here"], timeout=10)
    assert r.stdout == b"still-here\n"
    daemon.rt("StopContainer", container_id=long, timeout=1)
    assert daemon.status(long).state == EXITED


def test_half_made_create_is_cleaned_on_start(daemon):
    """A bundle without a record (pxcrid died in CreateContainer) is removed, never listed."""
    pod = daemon.run_pod()
    cid = daemon.create(pod[0], pod[1], daemon.busybox, command=["true"])
    daemon.close()
    daemon.stop(signal.SIGKILL)
    # make the state database forget the container: as if pxcrid died before recording it
    subprocess.run(["sqlite3", os.path.join(daemon.dir, "state", "pxcrid.db"),
                    "DELETE FROM objects WHERE id = '%s'" % cid], check=True)
    daemon.restart()
    assert cid not in [c.id for c in daemon.rt("ListContainers").containers]
    deadline = time.time() + 10
    bundle = os.path.join(daemon.dir, "state", "containers", cid)
    while time.time() < deadline and os.path.exists(bundle):
        time.sleep(0.1)
    assert not os.path.exists(bundle)


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(path)]


def test_fifty_pods_concurrently_and_nothing_left(daemon):
    n = 50

    def one(i):
        pod = daemon.run_pod(name="many-%d" % i)
        cid = start(daemon, pod, "sleep 1000")
        return pod, cid

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        made = list(ex.map(one, range(n)))
    ips = {daemon.rt("PodSandboxStatus", pod_sandbox_id=p[0]).status.network.ip for p, _ in made}
    assert len(ips) == n
    assert len(daemon.rt("ListContainers").containers) == n

    def gone(item):
        pod, cid = item
        daemon.rt("StopPodSandbox", pod_sandbox_id=pod[0])
        daemon.rt("RemovePodSandbox", pod_sandbox_id=pod[0])

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(gone, made))
    assert len(daemon.rt("ListPodSandbox").items) == 0
    assert len(daemon.rt("ListContainers").containers) == 0
    assert mounts_under(daemon.dir) == []
    assert os.listdir(os.path.join(daemon.dir, "state", "containers")) == []
    assert os.listdir(os.path.join(daemon.dir, "state", "pods")) == []
    assert os.listdir(os.path.join(daemon.dir, "run", "ns")) == []
    veths = subprocess.run(["ip", "-o", "link", "show", "master", daemon.bridge], capture_output=True,
                           text=True).stdout
    assert veths.strip() == ""
    cgroups = glob.glob("/sys/fs/cgroup/memory/pxcri-*")
    assert not [c for c in cgroups if os.path.basename(c)[6:] in {cid for _, cid in made}]
    rt = os.path.join(daemon.cfg["runtime"]["root_path"], "crun")
    assert not os.path.isdir(rt) or os.listdir(rt) == []


def test_pod_to_pod_over_the_bridge(daemon):
    a = daemon.run_pod()
    b = daemon.run_pod()
    ca = start(daemon, a, "sleep 1000")
    daemon.wait_state(ca, RUNNING)
    ip_b = daemon.rt("PodSandboxStatus", pod_sandbox_id=b[0]).status.network.ip
    r = daemon.rt("ExecSync", container_id=ca, cmd=["ping", "-c", "1", "-W", "3", ip_b], timeout=20)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert b"1 packets received" in r.stdout


def test_host_port_reaches_the_pod(daemon):
    p = pb()
    port = 20000 + os.getpid() % 10000
    pod = daemon.run_pod(port_mappings=[p.PortMapping(protocol=p.TCP, container_port=8080, host_port=port)])
    cid = start(daemon, pod, "echo served-by-pod > /tmp/x; while :; do nc -l -p 8080 < /tmp/x; done")
    daemon.wait_state(cid, RUNNING)
    gw = daemon.subnet.rsplit(".", 1)[0] + ".1"  # the host's address on the bridge
    deadline = time.time() + 15
    got = b""
    while time.time() < deadline and b"served-by-pod" not in got:
        try:
            with socket.create_connection((gw, port), timeout=2) as s:
                got = s.recv(100)
        except OSError:
            time.sleep(0.2)
    assert b"served-by-pod" in got


def test_removal_cut_short_is_finished_on_start(daemon):
    """RemovePodSandbox removes bundles before it drops records: a kill -9 in between
    leaves records without bundles, which the next start forgets (never lists)."""
    pod = daemon.run_pod()
    cid = daemon.create(pod[0], pod[1], daemon.busybox, command=["true"])
    daemon.close()
    daemon.stop(signal.SIGKILL)
    bundle = os.path.join(daemon.dir, "state", "containers", cid)
    subprocess.run(["umount", "-l", os.path.join(bundle, "rootfs")], check=True)
    subprocess.run(["rm", "-rf", bundle], check=True)
    daemon.restart()
    assert cid not in [c.id for c in daemon.rt("ListContainers").containers]
    assert [p.id for p in daemon.rt("ListPodSandbox").items] == [pod[0]]
    rows = subprocess.run(["sqlite3", os.path.join(daemon.dir, "state", "pxcrid.db"),
                           "SELECT id FROM objects WHERE kind = 'container'"], capture_output=True, text=True,
                          check=True).stdout
    assert cid not in rows
    daemon.rt("StopPodSandbox", pod_sandbox_id=pod[0])
    daemon.rt("RemovePodSandbox", pod_sandbox_id=pod[0])
