"""pxcrid's RuntimeService for pod sandboxes, through a real gRPC client:
pinned namespaces, CNI (bridge, host-local, portmap), DNS and hostname,
host network, status and list filters, errors kubelet relies on."""

import os
import socket
import subprocess
import time

import grpc
import pytest

from cri_env import Daemon, pb

READY = 0   # SANDBOX_READY
NOTREADY = 1


def code(excinfo):
    return excinfo.value.code()


def test_version(pxcrid):
    v = pxcrid.rt("Version", version="v1")
    assert (v.version, v.runtime_name, v.runtime_api_version) == ("0.1.0", "pxcri", "v1")
    assert v.runtime_version.count(".") == 2
    # kubelet asks the image service too
    assert pxcrid.img("Version").runtime_name == "pxcri"


def test_status_and_runtime_config(pxcrid):
    st = pxcrid.rt("Status", verbose=True)
    conds = {c.type: c.status for c in st.status.conditions}
    assert conds == {"RuntimeReady": True, "NetworkReady": True}
    handlers = {h.name for h in st.runtime_handlers}
    assert {"", "crun", "runc", "lxc", "proxmox"} <= handlers
    assert pxcrid.cni_dir in st.info["config"]
    rc = pxcrid.rt("RuntimeConfig")
    assert rc.linux.cgroup_driver == pb().CGROUPFS
    pxcrid.rt("UpdateRuntimeConfig", runtime_config=pb().RuntimeConfig(
        network_config=pb().NetworkConfig(pod_cidr="10.233.0.0/16")))
    assert '"pod_cidr":"10.233.0.0/16"' in pxcrid.rt("Status", verbose=True).info["config"]


def test_network_not_ready_without_cni_config(cri_registry):
    d = Daemon(cri_registry)
    try:
        os.unlink(os.path.join(d.cni_dir, "10-pxt.conflist"))
        st = d.rt("Status")
        net = [c for c in st.status.conditions if c.type == "NetworkReady"][0]
        assert not net.status and net.reason == "NetworkPluginNotReady"
        assert d.cni_dir in net.message
        with pytest.raises(grpc.RpcError) as e:
            d.run_pod()
        assert d.cni_dir in e.value.details()
        assert len(d.rt("ListPodSandbox").items) == 0   # nothing half-made is listed
        assert os.listdir(os.path.join(d.dir, "state", "pods")) == []
    finally:
        d.cleanup()


def test_pod_lifecycle(pxcrid):
    cfg = pxcrid.pod_config(labels={"app": "web", "tier": "a"}, annotations={"note": "ünïcode ✓"})
    pod, _ = pxcrid.run_pod(cfg)
    st = pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pod, verbose=True)
    assert st.status.state == READY
    assert st.status.metadata == cfg.metadata
    assert dict(st.status.labels) == {"app": "web", "tier": "a"}
    assert dict(st.status.annotations) == {"note": "ünïcode ✓"}
    ip = st.status.network.ip
    assert ip.startswith(pxcrid.subnet.rsplit(".", 1)[0] + ".")
    info = st.info["info"]
    netns = [p for p in info.split('"') if p.endswith("/net")][0]
    # the namespace is pinned by a bind mount, no process holds it
    out = subprocess.run(["nsenter", "--net=" + netns, "ip", "-o", "addr"], capture_output=True, text=True,
                         check=True).stdout
    assert ip in out and "lo" in out
    # a prefix of the ID works as containerd's and CRI-O's do
    assert pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pod[:12]).status.id == pod
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pod)
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pod)  # idempotent
    st = pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pod).status
    assert st.state == NOTREADY and st.network.ip == ""
    assert not os.path.exists(netns)
    # the IP went back to host-local
    ipam = os.path.join(pxcrid.dir, "ipam", "pxt-net")
    assert ip not in os.listdir(ipam)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pod)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pod)  # idempotent
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pod)
    assert code(e) == grpc.StatusCode.NOT_FOUND


def test_list_filters(pxcrid):
    a, _ = pxcrid.run_pod(labels={"grp": "f1", "x": "1"})
    b, _ = pxcrid.run_pod(labels={"grp": "f1", "x": "2"})
    try:
        p = pb()
        ids = lambda f: sorted(i.id for i in pxcrid.rt("ListPodSandbox", filter=f).items)
        assert ids(p.PodSandboxFilter(label_selector={"grp": "f1"})) == sorted([a, b])
        assert ids(p.PodSandboxFilter(label_selector={"grp": "f1", "x": "2"})) == [b]
        assert ids(p.PodSandboxFilter(id=a)) == [a]
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=b)
        ready = p.PodSandboxFilter(label_selector={"grp": "f1"}, state=p.PodSandboxStateValue(state=READY))
        assert ids(ready) == [a]
        notready = p.PodSandboxFilter(label_selector={"grp": "f1"}, state=p.PodSandboxStateValue(state=NOTREADY))
        assert ids(notready) == [b]
    finally:
        for i in (a, b):
            pxcrid.rt("StopPodSandbox", pod_sandbox_id=i)
            pxcrid.rt("RemovePodSandbox", pod_sandbox_id=i)


def test_bad_requests(pxcrid):
    p = pb()
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.rt("RunPodSandbox", config=p.PodSandboxConfig())
    assert code(e) == grpc.StatusCode.INVALID_ARGUMENT and "metadata.name" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.run_pod(handler="no-such-handler")
    assert code(e) == grpc.StatusCode.INVALID_ARGUMENT and "no-such-handler" in e.value.details()
    cfg = pxcrid.pod_config()
    pod, _ = pxcrid.run_pod(cfg)
    try:
        with pytest.raises(grpc.RpcError) as e:
            pxcrid.run_pod(cfg)
        assert code(e) == grpc.StatusCode.ALREADY_EXISTS and pod in e.value.details()
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pod)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pod)
    for m in ("StopPodSandbox", "PodSandboxStatus"):
        with pytest.raises(grpc.RpcError) as e:
            pxcrid.rt(m, pod_sandbox_id="0123456789abcdef")
        assert code(e) == grpc.StatusCode.NOT_FOUND
    # bytes that are no protobuf at all
    raw = pxcrid.channel.unary_unary("/runtime.v1.RuntimeService/RunPodSandbox",
                                     request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as e:
        raw(b"\xff\xff\xff\xff\x0f", timeout=10)
    assert code(e) == grpc.StatusCode.INVALID_ARGUMENT
    unknown = pxcrid.channel.unary_unary("/runtime.v1.RuntimeService/NoSuchCall",
                                         request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as e:
        unknown(b"", timeout=10)
    assert code(e) == grpc.StatusCode.UNIMPLEMENTED


def test_socket_is_root_only(pxcrid):
    st = os.stat(pxcrid.sock)
    assert st.st_mode & 0o777 == 0o660 and st.st_uid == 0 and st.st_gid == 0
    assert os.stat(os.path.dirname(pxcrid.sock)).st_mode & 0o777 in (0o700,) or \
        os.path.dirname(pxcrid.sock) == pxcrid.dir


def test_second_daemon_refuses_the_socket(pxcrid):
    res = subprocess.run([pxcrid.proc.args[0], "--config", pxcrid.config_path], capture_output=True, text=True,
                         timeout=20)
    assert res.returncode != 0
    assert "Another server is listening on " + pxcrid.sock in res.stderr
    assert pxcrid.rt("Version").runtime_name == "pxcri"   # the first one is unharmed


def test_unprivileged_ports(pxcrid, busybox):
    """cri.enable_unprivileged_ports (default on, as containerd 2): a non-root
    process binds port 80 in the pod; the pod's own sysctl wins."""
    p = pb()

    def bind80(sysctls):
        pid, cfg = pxcrid.run_pod(linux=p.LinuxPodSandboxConfig(sysctls=sysctls))
        try:
            cid = pxcrid.create(pid, cfg, busybox, command=["sleep", "100000"],
                                linux=p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(
                                    run_as_user=p.Int64Value(value=1000))))
            pxcrid.rt("StartContainer", container_id=cid)
            r = pxcrid.rt("ExecSync", container_id=cid, timeout=10,
                          cmd=["sh", "-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; "
                                           "nc -l -p 80 & sleep 0.5; kill $! && echo bound"])
            return r.stdout.decode().split()
        finally:
            pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
            pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)

    assert bind80({}) == ["0", "bound"]
    assert bind80({"net.ipv4.ip_unprivileged_port_start": "1024"})[0] == "1024"
    assert "bound" not in bind80({"net.ipv4.ip_unprivileged_port_start": "1024"})
