"""Hostile requests against a real pxcrid: path traversal in IDs, names, log
and mount paths; absurd sizes; enum values the CRI does not define; missing
required fields.  Each is refused (INVALID_ARGUMENT naming the field, or
NOT_FOUND for an ID) or handled without harm, nothing is created outside the
daemon's directories, nothing is left behind, and the daemon stays healthy.

Names: containerd and CRI-O do not restrict metadata names beyond "set" (the
API server validates them as DNS labels); they never build paths from them.
pxcrid does the same: directories are named by the generated ID, so a name
with "/" or ".." is accepted and must create nothing outside."""

import os

import grpc
import pytest

from cri_env import pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
# An ID that names nothing: NOT_FOUND, or INVALID_ARGUMENT when it is empty.
BAD_ID = (grpc.StatusCode.NOT_FOUND, INVALID)


def tree(d):
    """Every directory, and every file but the daemon's own log and database,
    under the daemon's temp dir (images excluded: a pull may add blobs)."""
    out = set()
    for root, dirs, files in os.walk(d.dir):
        if root.startswith(os.path.join(d.dir, "images")):
            continue
        for n in dirs:
            out.add(os.path.join(root, n) + "/")
        for n in files:
            if n.startswith("pxcrid.log") or ".db" in n or n.endswith(".lock") or n.endswith(".sock"):
                continue
            out.add(os.path.join(root, n))
    return out


def counts(d):
    return len(d.rt("ListPodSandbox").items), len(d.rt("ListContainers").containers)


class Untouched:
    """Nothing new under the daemon's dir, no new pod or container, the daemon answers."""

    def __init__(self, d):
        self.d = d

    def __enter__(self):
        self.before = tree(self.d), counts(self.d)
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            after = tree(self.d), counts(self.d)
            assert after[0] == self.before[0], "left behind: %s" % sorted(after[0] ^ self.before[0])
            assert after[1] == self.before[1]
            assert self.d.rt("Version", deadline=5).runtime_name
        return False


def refused(fn, *args, code=INVALID, field=None, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*args, **kw)
    codes = code if isinstance(code, tuple) else (code,)
    assert e.value.code() in codes, e.value.details()
    if field:
        assert field in e.value.details(), e.value.details()
    return e.value.details()


@pytest.fixture
def pod(pxcrid, busybox):
    pid, cfg = pxcrid.run_pod()
    yield pid, cfg
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


@pytest.fixture
def canary(pxcrid):
    """A directory outside the state dirs, and IDs that point at it through '..'."""
    path = os.path.join(pxcrid.dir, "canary")
    os.makedirs(os.path.join(path, "rootfs"), exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        f.write("{}")
    ids = ["../" * 12 + path.lstrip("/"), "../canary", "../../canary", "a/b", "/", "..", ".", "../../etc"]
    yield path, ids
    assert os.path.isfile(os.path.join(path, "config.json")), "the canary was removed"
    assert os.path.isdir("/etc/ssl")


def test_traversal_in_pod_ids(pxcrid, busybox, canary):
    path, ids = canary
    with Untouched(pxcrid):
        for pid in ids + [""]:
            refused(pxcrid.rt, "PodSandboxStatus", pod_sandbox_id=pid, code=BAD_ID)
            refused(pxcrid.create, pid, pxcrid.pod_config(), busybox, code=BAD_ID)
            refused(pxcrid.rt, "PodSandboxStats", pod_sandbox_id=pid, code=BAD_ID)
            # Stop and Remove of an unknown pod are idempotent (kubelet retries them): OK or NOT_FOUND.
            for m in ("StopPodSandbox", "RemovePodSandbox"):
                try:
                    pxcrid.rt(m, pod_sandbox_id=pid)
                except grpc.RpcError as e:
                    assert e.code() in BAD_ID, e.details()
            assert os.path.isfile(os.path.join(path, "config.json"))


def test_traversal_in_container_ids(pxcrid, pod, busybox, canary):
    path, ids = canary
    cid = pxcrid.create(pod[0], pod[1], busybox, command=["true"])
    p = pb()
    with Untouched(pxcrid):
        for bad in ids + [""]:
            for m, kw in (("ContainerStatus", {}), ("StartContainer", {}), ("ReopenContainerLog", {}),
                          ("ContainerStats", {}), ("ExecSync", {"cmd": ["true"], "timeout": 2}),
                          ("UpdateContainerResources", {"linux": p.LinuxContainerResources(cpu_shares=2)})):
                refused(pxcrid.rt, m, container_id=bad, code=BAD_ID, **kw)
            for m in ("StopContainer", "RemoveContainer"):
                try:
                    pxcrid.rt(m, container_id=bad)
                except grpc.RpcError as e:
                    assert e.code() in BAD_ID, e.details()
            assert os.path.isdir(os.path.join(path, "rootfs"))
    # The real container is unharmed by all of it.
    assert pxcrid.status(cid).id == cid


def outside_marker(name):
    """Paths a name with '..' could have reached from the daemon's dirs or cwd."""
    return [p for p in (os.path.join("/", name), os.path.join("/tmp", name), os.path.join(os.getcwd(), name),
                        os.path.join("/var/log/pods", name))
            if os.path.exists(p)]


def test_names_with_slashes_create_nothing_outside(pxcrid, busybox):
    evil = "../../../../../../pxtevil"
    cfg = pxcrid.pod_config()
    cfg.metadata.name, cfg.metadata.namespace, cfg.metadata.uid = evil, "../../pxtevilns", "/pxtevil/uid"
    before = tree(pxcrid)
    pid = pxcrid.rt("RunPodSandbox", config=cfg).pod_sandbox_id
    try:
        cid = pxcrid.create(pid, cfg, busybox, name="../../../../pxtevilctr/x", command=["true"],
                            log_path="ctr.log")
        assert pxcrid.status(cid).metadata.name == "../../../../pxtevilctr/x"
        assert pxcrid.rt("PodSandboxStatus", pod_sandbox_id=pid).status.metadata.name == evil
        for n in ("pxtevil", "pxtevilns", "pxtevilctr"):
            assert not outside_marker(n), outside_marker(n)
        new = tree(pxcrid) - before
        # What the pod and container made is named by their IDs (or lives under the pod's log dir).
        for path in new:
            assert "pxtevil" not in path, path
            if path.startswith(os.path.join(pxcrid.dir, "ipam")):
                continue  # host-local's store: files named by IP, holding the ID
            assert pid in path or cid in path or path.startswith(cfg.log_directory), path
    finally:
        pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
        pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


@pytest.mark.parametrize("log_path", ["../x.log", "/tmp/pxt-abs.log", "a/../../x.log", "a/../../../../../etc/x"])
def test_container_log_path_escapes_refused(pxcrid, pod, busybox, log_path):
    with Untouched(pxcrid):
        refused(pxcrid.create, pod[0], pod[1], busybox, log_path=log_path, field="log_path")
    assert not os.path.exists("/tmp/pxt-abs.log")


@pytest.mark.parametrize("log_dir", ["relative/pxtlogs", "/tmp/../pxtlogs", "../pxtlogs"])
def test_pod_log_directory_escapes_refused(pxcrid, log_dir):
    with Untouched(pxcrid):
        refused(pxcrid.run_pod, log_directory=log_dir, field="log_directory")
    assert not os.path.exists(os.path.join(os.getcwd(), "relative")) and not os.path.exists("/pxtlogs")


@pytest.mark.parametrize("cpath,hpath,field", [
    ("data", "/tmp", "mounts[0].container_path"),
    ("/data/../../etc", "/tmp", "mounts[0].container_path"),
    ("", "/tmp", "mounts[0].container_path"),
    ("/data", "relative/pxtmnt", "mounts[0].host_path"),
    ("/data", "", "mounts[0].host_path"),
])
def test_mount_paths_refused(pxcrid, pod, busybox, cpath, hpath, field):
    p = pb()
    m = p.Mount(container_path=cpath, host_path=hpath)
    with Untouched(pxcrid):
        refused(pxcrid.create, pod[0], pod[1], busybox, mounts=[m], field=field)
    assert not os.path.exists(os.path.join(os.getcwd(), "relative"))


def test_unknown_enum_values_refused(pxcrid, pod, busybox):
    p = pb()
    with Untouched(pxcrid):
        refused(pxcrid.create, pod[0], pod[1], busybox,
                mounts=[p.Mount(container_path="/d", host_path="/tmp", propagation=99)],
                field="mounts[0].propagation")
        sc = p.LinuxContainerSecurityContext(namespace_options=p.NamespaceOption(pid=42))
        refused(pxcrid.create, pod[0], pod[1], busybox, linux=p.LinuxContainerConfig(security_context=sc),
                field="namespace_options.pid")
        cfg = pxcrid.pod_config()
        cfg.linux.security_context.namespace_options.network = 42
        refused(pxcrid.run_pod, cfg, field="namespace_options.network")
        cfg = pxcrid.pod_config()
        cfg.linux.security_context.namespace_options.ipc = -3
        refused(pxcrid.run_pod, cfg, field="namespace_options.ipc")
        cfg = pxcrid.pod_config(port_mappings=[p.PortMapping(protocol=9, container_port=80, host_port=0)])
        refused(pxcrid.run_pod, cfg, field="port_mappings[0].protocol")
        cfg = pxcrid.pod_config(port_mappings=[p.PortMapping(container_port=70000)])
        refused(pxcrid.run_pod, cfg, field="port_mappings[0]")


def test_pod_user_namespace_is_unimplemented_never_ignored(pxcrid, pod, busybox):
    """hostUsers: false must not run the pod with the node's users: refused;
    mode NODE (what kubelet sends for hostUsers: true) is the default."""
    p = pb()
    st = pxcrid.rt("Status", verbose=False)
    assert st.runtime_handlers and not any(h.features.user_namespaces for h in st.runtime_handlers)
    ids = [p.IDMapping(host_id=200000, container_id=0, length=65536)]
    with Untouched(pxcrid):
        cfg = pxcrid.pod_config()
        cfg.linux.security_context.namespace_options.userns_options.CopyFrom(
            p.UserNamespace(mode=p.POD, uids=ids, gids=ids))
        msg = refused(pxcrid.run_pod, cfg, code=grpc.StatusCode.UNIMPLEMENTED, field="userns_options")
        assert "not supported" in msg, msg
        cfg.linux.security_context.namespace_options.userns_options.mode = p.TARGET
        refused(pxcrid.run_pod, cfg, field="userns_options.mode")
        sc = p.LinuxContainerSecurityContext(namespace_options=p.NamespaceOption(
            userns_options=p.UserNamespace(mode=p.POD, uids=ids, gids=ids)))
        refused(pxcrid.create, pod[0], pod[1], busybox, linux=p.LinuxContainerConfig(security_context=sc),
                code=grpc.StatusCode.UNIMPLEMENTED, field="userns_options")
    cfg = pxcrid.pod_config()
    cfg.linux.security_context.namespace_options.userns_options.mode = p.NODE
    pid, _ = pxcrid.run_pod(cfg)
    pxcrid.rt("StopPodSandbox", pod_sandbox_id=pid)
    pxcrid.rt("RemovePodSandbox", pod_sandbox_id=pid)


def test_missing_required_fields(pxcrid, pod, busybox):
    p = pb()
    with Untouched(pxcrid):
        refused(pxcrid.rt, "RunPodSandbox", field="config")
        refused(pxcrid.rt, "RunPodSandbox", config=p.PodSandboxConfig(hostname="x"), field="metadata.name")
        refused(pxcrid.rt, "RunPodSandbox", config=p.PodSandboxConfig(metadata=p.PodSandboxMetadata(name="x")),
                field="metadata.namespace")
        refused(pxcrid.rt, "CreateContainer", pod_sandbox_id=pod[0], sandbox_config=pod[1], field="config")
        refused(pxcrid.rt, "CreateContainer", pod_sandbox_id=pod[0], sandbox_config=pod[1],
                config=p.ContainerConfig(image=p.ImageSpec(image=busybox)), field="metadata.name")
        refused(pxcrid.rt, "CreateContainer", pod_sandbox_id=pod[0], sandbox_config=pod[1],
                config=p.ContainerConfig(metadata=p.ContainerMetadata(name="x")), field="image.image")
        refused(pxcrid.img, "PullImage", field="image")
        refused(pxcrid.img, "ImageStatus", field="image")
        refused(pxcrid.img, "RemoveImage", field="image")
        refused(pxcrid.rt, "ExecSync", container_id="", code=BAD_ID)


def test_absurd_sizes(pxcrid, pod, busybox):
    p = pb()
    with Untouched(pxcrid):
        # ~15 MiB of environment: under the 16 MiB message cap, over what execve takes.
        envs = [p.KeyValue(key="K%06d" % i, value=b"v" * 120) for i in range(120000)]
        assert p.ContainerConfig(envs=envs).ByteSize() > 15 << 20
        refused(pxcrid.create, pod[0], pod[1], busybox, envs=envs, field="envs")
        refused(pxcrid.create, pod[0], pod[1], busybox,
                envs=[p.KeyValue(key="BIG", value=b"x" * (200 << 10))], field="envs[0]")
        mounts = [p.Mount(container_path="/m/%d" % i, host_path=os.path.join(pxcrid.dir, "m", str(i)))
                  for i in range(10000)]
        refused(pxcrid.create, pod[0], pod[1], busybox, mounts=mounts, field="mounts")
        # Over the message cap: refused by the rpc layer, the daemon goes on.
        refused(pxcrid.create, pod[0], pod[1], busybox, envs=envs + envs,
                code=grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert not os.path.exists(os.path.join(pxcrid.dir, "m"))
    # Still healthy: a normal container runs.
    cid = pxcrid.create(pod[0], pod[1], busybox, command=["true"])
    pxcrid.rt("StartContainer", container_id=cid)
    pxcrid.wait_state(cid, 2)
    assert pxcrid.status(cid).exit_code == 0
