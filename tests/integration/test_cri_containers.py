"""pxcrid's containers: bundles from pulled images, conmon + pxcri on crun and
runc (and the routing to lxc), CRI logs, exit codes and reasons, stop
signals and timeouts, exec sync, events, errors kubelet relies on."""

import json
import os
import re
import socket
import subprocess
import threading
import time

import grpc
import pytest

from cri_env import Daemon, pb

CREATED, RUNNING, EXITED = 0, 1, 2
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) ([PF]) (.*)$")


@pytest.fixture
def pod(pxcrid, busybox):
    pid, cfg = pxcrid.run_pod()
    yield pid, cfg
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


def run(pxcrid, pod, busybox, script, **kw):
    cid = pxcrid.create(pod[0], pod[1], busybox, command=["sh", "-c", script], **kw)
    pxcrid.rt("StartContainer", container_id=cid)
    return cid


def log_lines(path, want=1, timeout=10):
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                lines = [l.rstrip("\n") for l in f]
            if len(lines) >= want:
                break
        time.sleep(0.05)
    return lines


def test_run_log_and_exit(pxcrid, pod, busybox):
    cid = run(pxcrid, pod, busybox, "echo out-1; echo err-1 >&2; printf partial; exit 7",
              labels={"l": "1"}, annotations={"a": "b ✓"})
    st = pxcrid.wait_state(cid, EXITED)
    assert st.exit_code == 7 and st.reason == "Error"
    assert st.finished_at >= st.started_at >= st.created_at > 0
    assert dict(st.labels) == {"l": "1"} and dict(st.annotations) == {"a": "b ✓"}
    assert st.image_id.startswith("sha256:") and st.image.image == busybox
    assert "@sha256:" in st.image_ref
    lines = log_lines(st.log_path, 3)
    parsed = sorted((m.group(2), m.group(3), m.group(4)) for m in map(CRI_LINE.match, lines))
    assert parsed == [("stderr", "F", "err-1"), ("stdout", "F", "out-1"), ("stdout", "P", "partial")]
    cid2 = run(pxcrid, pod, busybox, "exit 0")
    assert pxcrid.wait_state(cid2, EXITED).reason == "Completed"


def test_command_args_env_workdir(pxcrid, pod, busybox):
    p = pb()
    cid = run(pxcrid, pod, busybox, 'echo "$FOO|$(pwd)|$(id -u):$(id -g)|$(hostname)"; cat /etc/resolv.conf',
              envs=[p.KeyValue(key="FOO", value=b"bar baz")], working_dir="/tmp",
              linux=p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(
                  run_as_user=p.Int64Value(value=1234), run_as_group=p.Int64Value(value=55))))
    st = pxcrid.wait_state(cid, EXITED)
    text = "\n".join(CRI_LINE.match(l).group(4) for l in log_lines(st.log_path, 2))
    hostname = pod[1].hostname
    assert "bar baz|/tmp|1234:55|%s" % hostname in text, text
    assert "nameserver" in text or text.count("\n") >= 0


def test_exec_sync(pxcrid, pod, busybox):
    cid = run(pxcrid, pod, busybox, "sleep 1000")
    pxcrid.wait_state(cid, RUNNING)
    r = pxcrid.rt("ExecSync", container_id=cid, cmd=["sh", "-c", "echo o; echo e >&2; exit 4"], timeout=10)
    assert (r.stdout, r.stderr, r.exit_code) == (b"o\n", b"e\n", 4)
    # the container's network namespace is the pod's
    ip = pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pod[0]).status.network.ip
    r = pxcrid.rt("ExecSync", container_id=cid, cmd=["ip", "-o", "-4", "addr"], timeout=10)
    assert ip.encode() in r.stdout
    # the request's timeout, and the call's own deadline: either kills the process
    for kw in ({"timeout": 1}, {"deadline": 1}):
        t = time.time()
        with pytest.raises(grpc.RpcError) as e:
            pxcrid.rt("ExecSync", container_id=cid, cmd=["sleep", "77"], **kw)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.time() - t < 30
        # killed: gone, or a zombie of pid 1 (sleep does not reap)
        deadline = time.time() + 10
        while True:
            r = pxcrid.rt("ExecSync", container_id=cid, timeout=10, cmd=[
                "sh", "-c", "for p in /proc/[0-9]*; do [ $p = /proc/1 ] || cat $p/stat; echo; done"])
            live = [l for l in r.stdout.decode().splitlines() if "(sleep)" in l and l.split()[2] != "Z"]
            if not live or time.time() > deadline:
                break
            time.sleep(0.2)
        assert live == [], kw


def test_stop_signal_timeout_and_idempotence(pxcrid, pod, busybox):
    # pid 1 ignores TERM: killed after the timeout
    cid = run(pxcrid, pod, busybox, "trap '' TERM; while :; do sleep 0.1; done")
    pxcrid.wait_state(cid, RUNNING)
    t = time.time()
    pxcrid.rt("StopContainer", container_id=cid, timeout=1)
    st = pxcrid.status(cid)
    assert st.state == EXITED and st.exit_code == 137 and time.time() - t >= 0.9
    pxcrid.rt("StopContainer", container_id=cid, timeout=1)  # stopping a stopped container: no error
    # a handler that exits on TERM
    cid = run(pxcrid, pod, busybox, "trap 'exit 3' TERM; while :; do sleep 0.1; done")
    pxcrid.wait_state(cid, RUNNING)
    pxcrid.rt("StopContainer", container_id=cid, timeout=30)
    assert pxcrid.status(cid).exit_code == 3


def test_remove_running_container(pxcrid, pod, busybox):
    cid = run(pxcrid, pod, busybox, "sleep 1000")
    pxcrid.wait_state(cid, RUNNING)
    pxcrid.rt("RemoveContainer", container_id=cid)
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.status(cid)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    pxcrid.rt("RemoveContainer", container_id=cid)   # idempotent
    assert not os.path.exists(os.path.join(pxcrid.dir, "state", "containers", cid))


def test_list_containers_filters(pxcrid, pod, busybox):
    p = pb()
    a = pxcrid.create(pod[0], pod[1], busybox, command=["sleep", "100"], labels={"k": "v"})
    b = run(pxcrid, pod, busybox, "exit 0", labels={"k": "w"})
    pxcrid.wait_state(b, EXITED)
    ids = lambda f: sorted(c.id for c in pxcrid.rt("ListContainers", filter=f).containers)
    assert ids(p.ContainerFilter(pod_sandbox_id=pod[0])) == sorted([a, b])
    assert ids(p.ContainerFilter(pod_sandbox_id=pod[0], label_selector={"k": "v"})) == [a]
    assert ids(p.ContainerFilter(pod_sandbox_id=pod[0], state=p.ContainerStateValue(state=EXITED))) == [b]
    assert ids(p.ContainerFilter(id=a[:10])) == [a]
    assert pxcrid.status(a).state == CREATED


def test_create_errors(pxcrid, pod, busybox):
    p = pb()
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.create(pod[0], pod[1], "127.0.0.1:1/no/such:image")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND and "no/such:image" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.create("ffffffffffff", pod[1], busybox)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.rt("CreateContainer", pod_sandbox_id=pod[0], config=p.ContainerConfig(image=p.ImageSpec(image=busybox)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "metadata.name" in e.value.details()
    cid = pxcrid.create(pod[0], pod[1], busybox, name="dup", command=["true"])
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.create(pod[0], pod[1], busybox, name="dup", command=["true"])
    assert e.value.code() == grpc.StatusCode.ALREADY_EXISTS and cid in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.create(pod[0], pod[1], busybox, log_path="../escape.log")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for m in ("ContainerStatus", "StopContainer", "StartContainer"):
        with pytest.raises(grpc.RpcError) as e:
            pxcrid.rt(m, container_id="0000000000000000")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_create_in_stopped_pod(pxcrid, busybox):
    pid, cfg = pxcrid.run_pod()
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
    with pytest.raises(grpc.RpcError) as e:
        pxcrid.create(pid, cfg, busybox, command=["true"])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


def test_stop_pod_stops_its_containers(pxcrid, busybox):
    pid, cfg = pxcrid.run_pod()
    cid = pxcrid.create(pid, cfg, busybox, command=["sleep", "1000"])
    pxcrid.rt("StartContainer", container_id=cid)
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
    st = pxcrid.status(cid)
    assert st.state == EXITED and st.exit_code == 137
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)
    with pytest.raises(grpc.RpcError):
        pxcrid.status(cid)


@pytest.mark.parametrize("handler,backend", [("runc", "runc"), ("crun", "crun"), ("lxc", "lxc")])
def test_runtime_handler_routes(pxcrid, busybox, handler, backend):
    pid, cfg = pxcrid.run_pod(handler=handler)
    try:
        cid = pxcrid.create(pid, cfg, busybox, command=["sh", "-c", "echo on-%s" % backend])
        pxcrid.rt("StartContainer", container_id=cid)
        st = pxcrid.wait_state(cid, EXITED)
        info = json.loads(pxcrid.status(cid, verbose=True) and
                          pxcrid.rt("ContainerStatus", container_id=cid, verbose=True).info["info"])
        assert info["backend"] == backend and handler in info["route_reason"]
        assert os.path.isdir(os.path.join(pxcrid.cfg["runtime"]["root_path"], backend, cid))
        assert ("on-%s" % backend) in log_lines(st.log_path)[0]
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


def test_lxc_pod_sysctls_and_own_pid_namespace(pxcrid, busybox):
    """On lxc as on runc (critest's sysctl and ContainerPID specs): the pod's
    sysctls (an IPC and an mqueue key) read back in the container, whose
    /proc/sys is read-only, and with a pid namespace of its own the command
    is PID 1."""
    p = pb()
    cfg = pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(
        sysctls={"kernel.shm_rmid_forced": "1", "fs.mqueue.msg_max": "100"},
        security_context=p.LinuxSandboxSecurityContext(namespace_options=p.NamespaceOption(pid=p.CONTAINER))))
    pid, cfg = pxcrid.run_pod(cfg, handler="lxc")
    try:
        cid = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000")
        pxcrid.wait_state(cid, RUNNING)
        r = pxcrid.rt("ExecSync", container_id=cid, timeout=10,
                      cmd=["sh", "-c", "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/fs/mqueue/msg_max; "
                                       "tr '\\0' ' ' < /proc/1/cmdline; echo; "
                                       "echo 2 > /proc/sys/kernel/shm_rmid_forced || echo read-only"])
        assert r.exit_code == 0, r.stderr
        assert r.stdout.decode().splitlines() == ["1", "100", "sleep 100000 ", "read-only"]
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


def test_lxc_bidirectional_mount(pxcrid, busybox, tmp_path):
    """A Bidirectional volume on lxc (critest's 'rshared' spec): what the
    privileged container mounts below it shows on the host, what the host
    mounts shows in the container."""
    p = pb()
    src = str(tmp_path / "vol")
    os.makedirs(os.path.join(src, "inner"))
    os.makedirs(os.path.join(src, "fromhost"))
    subprocess.run(["mount", "--bind", src, src], check=True)
    subprocess.run(["mount", "--make-rshared", src], check=True)
    cfg = pxcrid.pod_config(linux=p.LinuxPodSandboxConfig(
        security_context=p.LinuxSandboxSecurityContext(privileged=True)))
    pid, cfg = pxcrid.run_pod(cfg, handler="lxc")
    try:
        cid = run(pxcrid, (pid, cfg), busybox, "exec sleep 100000",
                  mounts=[p.Mount(host_path=src, container_path="/vol",
                                  propagation=p.PROPAGATION_BIDIRECTIONAL)],
                  linux=p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(privileged=True)))
        pxcrid.wait_state(cid, RUNNING)
        assert pxcrid.status(cid).mounts[0].propagation == p.PROPAGATION_BIDIRECTIONAL
        r = pxcrid.rt("ExecSync", container_id=cid, timeout=10,
                      cmd=["sh", "-c", "mount -t tmpfs tmpfs /vol/inner && echo from-ctr > /vol/inner/f"])
        assert r.exit_code == 0, r.stderr
        with open(os.path.join(src, "inner", "f")) as f:
            assert f.read() == "from-ctr\n"
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", os.path.join(src, "fromhost")], check=True)
        with open(os.path.join(src, "fromhost", "f"), "w") as f:
            f.write("from-host\n")
        r = pxcrid.rt("ExecSync", container_id=cid, timeout=10, cmd=["cat", "/vol/fromhost/f"])
        assert (r.exit_code, r.stdout) == (0, b"from-host\n"), r.stderr
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)
        subprocess.run(["umount", "-R", "-l", src])


def test_annotation_routes_default_handler(pxcrid, pod, busybox):
    cid = pxcrid.create(pod[0], pod[1], busybox, command=["true"], annotations={"pxcri.io/backend": "runc"})
    info = json.loads(pxcrid.rt("ContainerStatus", container_id=cid, verbose=True).info["info"])
    assert info["backend"] == "runc" and "pxcri.io/backend" in info["route_reason"]


@pytest.mark.parametrize("allowed", [["pxcri.io/*", "^example\\.com/.*$"], None])
def test_pod_annotations_reach_containers_only_when_the_config_passes_them(cri_registry, allowed):
    """cri.pod_annotations (as containerd's pod_annotations): a pod annotation
    whose key matches reaches each container's config.json and its routing --
    so a Kubernetes user's pod annotation pxcri.io/backend picks the backend --
    under the container's own annotations and never over pxcrid's keys.
    Without the key a pod's annotations stay the pod's."""
    d = Daemon(cri_registry, extra={"cri": {"pod_annotations": allowed}} if allowed else None)
    try:
        image = "%s/pxt/busybox:1" % cri_registry.host
        d.img("PullImage", image=pb().ImageSpec(image=image))
        cfg = d.pod_config(annotations={"pxcri.io/backend": "runc", "example.com/team": "db", "other.io/x": "1",
                                        "io.pxcri.backend": "lxc", "io.kubernetes.cri.sandbox-name": "forged"})
        pid, cfg = d.run_pod(cfg)
        cid = d.create(pid, cfg, image, command=["true"])
        own = d.create(pid, cfg, image, command=["true"], annotations={"pxcri.io/backend": "crun"})

        def spec_annotations(c):
            with open(os.path.join(d.dir, "state", "containers", c, "config.json")) as f:
                return json.load(f)["annotations"]

        def backend(c):
            return json.loads(d.rt("ContainerStatus", container_id=c, verbose=True).info["info"])["backend"]
        a = spec_annotations(cid)
        assert "other.io/x" not in a
        assert a["io.kubernetes.cri.sandbox-name"] == cfg.metadata.name  # the CRI's keys stay the CRI's
        assert spec_annotations(own)["pxcri.io/backend"] == "crun" and backend(own) == "crun"
        if allowed:
            assert a["pxcri.io/backend"] == "runc" and a["example.com/team"] == "db"
            assert backend(cid) == "runc" and a["io.pxcri.backend"] == "runc"  # pxcrid's decision, not the pod's
            d.rt("StartContainer", container_id=cid)
            assert d.wait_state(cid, EXITED).exit_code == 0
            assert os.path.isdir(os.path.join(d.cfg["runtime"]["root_path"], "runc", cid))
        else:
            assert "pxcri.io/backend" not in a and "example.com/team" not in a
            assert backend(cid) == "crun" and a["io.pxcri.backend"] == "crun"
        # ContainerStatus echoes the container's own annotations exactly
        assert dict(d.status(cid).annotations) == {}
    finally:
        d.cleanup()


def test_events_stream(pxcrid, pod, busybox):
    got = []
    stream = pxcrid.stream("GetContainerEvents")

    def reader():
        try:
            for ev in stream:
                got.append((ev.container_id, ev.container_event_type))
        except grpc.RpcError:
            pass

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    cid = run(pxcrid, pod, busybox, "exit 0")
    pxcrid.wait_state(cid, EXITED)
    pxcrid.rt("RemoveContainer", container_id=cid)
    deadline = time.time() + 10
    while time.time() < deadline and len([g for g in got if g[0] == cid]) < 4:
        time.sleep(0.05)
    stream.cancel()
    types = [ty for c, ty in got if c == cid]
    assert types == [0, 1, 2, 3]  # CREATED, STARTED, STOPPED, DELETED


def test_reopen_log_and_update_resources(pxcrid, pod, busybox):
    p = pb()
    cid = run(pxcrid, pod, busybox, "i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.1; done")
    st = pxcrid.wait_state(cid, RUNNING)
    assert log_lines(st.log_path, 1)
    os.rename(st.log_path, st.log_path + ".1")
    pxcrid.rt("ReopenContainerLog", container_id=cid)
    assert log_lines(st.log_path, 2), "no lines in the reopened log"
    pxcrid.rt("UpdateContainerResources", container_id=cid,
              linux=p.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_shares=512))
    info = json.loads(pxcrid.rt("ContainerStatus", container_id=cid, verbose=True).info["info"])
    cg = "/sys/fs/cgroup/memory" + info["cgroupsPath"] + "/memory.limit_in_bytes"
    with open(cg) as f:
        assert int(f.read()) == 64 << 20
    assert pxcrid.status(cid).resources.linux.memory_limit_in_bytes == 64 << 20
    # What the runtime cannot take is INVALID_ARGUMENT naming the field, and changes nothing.
    for bad, field in ((p.LinuxContainerResources(hugepage_limits=[p.HugepageLimit(page_size="2M", limit=1)]),
                        "page_size"),
                       (p.LinuxContainerResources(cpu_shares=-5), "cpu_shares")):
        with pytest.raises(grpc.RpcError) as e:
            pxcrid.rt("UpdateContainerResources", container_id=cid, linux=bad)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in e.value.details()
    assert pxcrid.status(cid).resources.linux.memory_limit_in_bytes == 64 << 20


def test_pod_without_log_directory_logs_under_cri_log_dir(pxcrid, busybox):
    cfg = pxcrid.pod_config(log_directory="")
    pid, _ = pxcrid.run_pod(cfg)
    cid = pxcrid.create(pid, cfg, busybox, command=["echo", "no-dir"], log_path="c.log")
    pxcrid.rt("StartContainer", container_id=cid)
    st = pxcrid.wait_state(cid, EXITED)
    want = os.path.join(pxcrid.cfg["cri"]["log_dir"], pid, "c.log")
    assert st.log_path == want
    assert "no-dir" in log_lines(want)[0]
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)
    assert not os.path.exists(os.path.dirname(want))
