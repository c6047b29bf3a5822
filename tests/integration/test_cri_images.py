"""pxcrid's ImageService (PullImage, ListImages, ImageStatus, RemoveImage,
ImageFsInfo) and the stats calls (ContainerStats, ListContainerStats,
PodSandboxStats, ListPodSandboxStats), through a real gRPC client against a
running daemon and local docker-registry instances (one open, one behind
basic auth)."""

import base64
import json
import os
import shutil
import stat
import tempfile
import time

import grpc
import pytest

import images
from cri_env import Daemon, pb
from registries import DockerRegistry

USER, PASSWORD = "pxt", "s3cret-pw"


@pytest.fixture(scope="module")
def auth_registry(cri_registry):
    work = tempfile.mkdtemp(prefix="pxt-reg-auth-")
    reg = DockerRegistry(work, "basic", htpasswd={USER: PASSWORD})
    reg.push(cri_registry.layout, images.go_arch(), "pxt/private:1", creds="%s:%s" % (USER, PASSWORD))
    yield reg
    reg.stop()
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def user_images(cri_registry):
    """pxt/uid:1 (config.User "1000:1000") and pxt/named:1 (config.User "pxt")."""
    work = tempfile.mkdtemp(prefix="pxt-layout-")
    layout = os.path.join(work, "layout")
    shutil.copytree(cri_registry.layout, layout, symlinks=True)
    src = "%s:%s" % (layout, images.go_arch())
    for tag, user in (("uid", "1000:1000"), ("named", "pxt")):
        images._run(["umoci", "config", "--image", src, "--tag", tag, "--config.user", user])
        cri_registry.push(layout, tag, "pxt/%s:1" % tag)
    shutil.rmtree(work, ignore_errors=True)
    return {"uid": "%s/pxt/uid:1" % cri_registry.host, "named": "%s/pxt/named:1" % cri_registry.host}


@pytest.fixture(scope="module")
def daemon(cri_registry, auth_registry):
    regs = {r.host: {"insecure": True} for r in (cri_registry, auth_registry)}
    d = Daemon(cri_registry, extra={"image": {"registries": regs}})
    yield d
    d.cleanup()


def ref_of(reg, repo="pxt/busybox", tag="1"):
    return "%s/%s:%s" % (reg.host, repo, tag)


def spec(image):
    return pb().ImageSpec(image=image)


def pull(d, ref, **auth):
    req = d.req("PullImage", image=spec(ref))
    if auth:
        req.auth.CopyFrom(pb().AuthConfig(**auth))
    return d.img("PullImage", req).image_ref


def status(d, ref, verbose=False):
    return d.img("ImageStatus", image=spec(ref), verbose=verbose)


def listed(d, ref=None):
    req = d.req("ListImages")
    if ref:
        req.filter.image.image = ref
    return d.img("ListImages", req).images


def rpc_error(fn, *args, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kw)
    return ei.value


# ---- PullImage, ListImages, ImageStatus ----

def test_pull_by_tag_lists_the_image(daemon, cri_registry):
    ref = ref_of(cri_registry)
    manifest_digest = cri_registry.manifest("pxt/busybox", "1")[0]
    image_id = pull(daemon, ref)
    assert image_id.startswith("sha256:") and len(image_id) == 71
    imgs = [i for i in listed(daemon) if i.id == image_id]
    assert len(imgs) == 1
    img = imgs[0]
    assert ref in img.repo_tags
    assert "%s/pxt/busybox@%s" % (cri_registry.host, manifest_digest) in img.repo_digests
    assert img.size > 100000  # busybox-static is about 1 MB
    assert img.spec.image == image_id
    assert not img.HasField("uid") and img.username == ""
    assert not img.pinned
    # Pulling again is answered with the same ID.
    assert pull(daemon, ref) == image_id


def test_pull_by_digest(daemon, cri_registry):
    digest = cri_registry.manifest("pxt/busybox", "1")[0]
    ref = "%s/pxt/busybox@%s" % (cri_registry.host, digest)
    image_id = pull(daemon, ref)
    assert image_id == pull(daemon, ref_of(cri_registry))
    img = status(daemon, ref).image
    assert img.id == image_id
    assert ref in img.repo_digests


def test_image_status_by_tag_id_and_digest(daemon, cri_registry):
    ref = ref_of(cri_registry)
    image_id = pull(daemon, ref)
    digest = cri_registry.manifest("pxt/busybox", "1")[0]
    for name in (ref, image_id, image_id[7:19], "%s/pxt/busybox@%s" % (cri_registry.host, digest)):
        resp = status(daemon, name)
        assert resp.HasField("image"), name
        assert resp.image.id == image_id, name
        assert ref in resp.image.repo_tags
        assert len(resp.info) == 0


def test_image_status_unknown_is_no_error(daemon, cri_registry):
    for name in (ref_of(cri_registry, "pxt/nothere"), "sha256:" + "0" * 64, "nothere:latest"):
        resp = status(daemon, name)
        assert not resp.HasField("image"), name


def test_image_status_verbose(daemon, cri_registry):
    ref = ref_of(cri_registry)
    image_id = pull(daemon, ref)
    resp = status(daemon, ref, verbose=True)
    info = json.loads(resp.info["info"])
    assert info["id"] == image_id
    assert ref in info["repo_tags"]


def test_image_status_empty_is_invalid(daemon):
    err = rpc_error(status, daemon, "")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "image" in err.details()


def test_list_images_filter(daemon, cri_registry):
    ref = ref_of(cri_registry)
    image_id = pull(daemon, ref)
    imgs = listed(daemon, ref)
    assert [i.id for i in imgs] == [image_id]
    assert listed(daemon, image_id)[0].id == image_id
    assert len(listed(daemon, ref_of(cri_registry, "pxt/nothere"))) == 0


def test_image_user(daemon, user_images):
    pull(daemon, user_images["uid"])
    img = status(daemon, user_images["uid"]).image
    assert img.HasField("uid") and img.uid.value == 1000
    assert img.username == ""
    pull(daemon, user_images["named"])
    img = status(daemon, user_images["named"]).image
    assert not img.HasField("uid")
    assert img.username == "pxt"


def test_pull_unknown_tag_is_not_found(daemon, cri_registry):
    ref = ref_of(cri_registry, tag="nosuchtag")
    err = rpc_error(pull, daemon, ref)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "pxt/busybox:nosuchtag" in err.details()
    assert not status(daemon, ref).HasField("image")


def test_pull_unreachable_registry_is_unavailable(daemon):
    # Nothing listens on port 1 of 127.0.0.1.
    err = rpc_error(pull, daemon, "127.0.0.1:1/pxt/busybox:1")
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
    assert "127.0.0.1:1" in err.details()


def test_pull_empty_reference_is_invalid(daemon):
    err = rpc_error(pull, daemon, "")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_pull_with_basic_auth(daemon, auth_registry):
    ref = ref_of(auth_registry, "pxt/private")
    err = rpc_error(pull, daemon, ref)
    assert err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
    assert "pxt/private" in err.details()
    err = rpc_error(pull, daemon, ref, username=USER, password="wrong-pw")
    assert err.code() in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
    assert "wrong-pw" not in err.details()
    image_id = pull(daemon, ref, username=USER, password=PASSWORD)
    assert status(daemon, ref).image.id == image_id
    # The same through `auth` (base64 "user:pass"), after removing the image.
    daemon.img("RemoveImage", image=spec(ref))
    assert not status(daemon, ref).HasField("image")
    creds = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    assert pull(daemon, ref, auth=creds, server_address=auth_registry.host) == image_id
    log = daemon.log()
    assert PASSWORD not in log and creds not in log and "wrong-pw" not in log


# ---- RemoveImage ----

def test_remove_by_tag_removes_the_image(daemon, cri_registry):
    layout = cri_registry.layout
    cri_registry.push(layout, images.go_arch(), "pxt/busybox:second")
    ref, second = ref_of(cri_registry), ref_of(cri_registry, tag="second")
    image_id = pull(daemon, ref)
    assert pull(daemon, second) == image_id
    assert set(status(daemon, image_id).image.repo_tags) >= {ref, second}
    # As containerd: the whole image goes, whichever of its names is given.
    daemon.img("RemoveImage", image=spec(second))
    for name in (ref, second, image_id):
        assert not status(daemon, name).HasField("image"), name
    assert image_id not in [i.id for i in listed(daemon)]
    # By ID.
    assert pull(daemon, ref) == image_id
    daemon.img("RemoveImage", image=spec(image_id))
    assert not status(daemon, ref).HasField("image")


def test_remove_unknown_is_ok(daemon, cri_registry):
    daemon.img("RemoveImage", image=spec(ref_of(cri_registry, "pxt/nothere")))
    daemon.img("RemoveImage", image=spec("sha256:" + "1" * 64))


def test_remove_empty_is_invalid(daemon):
    err = rpc_error(daemon.img, "RemoveImage", image=spec(""))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---- ImageFsInfo ----

def test_image_fs_info(daemon, cri_registry):
    pull(daemon, ref_of(cri_registry))
    before = time.time_ns()
    resp = daemon.img("ImageFsInfo")
    assert len(resp.image_filesystems) == 1
    fs = resp.image_filesystems[0]
    assert fs.fs_id.mountpoint == daemon.cfg["image"]["root"]
    assert fs.used_bytes.value > 500000  # blobs and the unpacked busybox layer
    assert fs.inodes_used.value > 10
    assert abs(fs.timestamp - before) < 60 * 10**9
    assert len(resp.container_filesystems) == 1
    cfs = resp.container_filesystems[0]
    assert cfs.fs_id.mountpoint == os.path.join(daemon.cfg["cri"]["state_dir"], "containers")
    assert cfs.inodes_used.value >= 1


def test_remove_image_frees_its_disk(daemon, cri_registry):
    """RemoveImage answers first; what no image uses any more goes right after
    (kubelet's image GC counts on ImageFsInfo going down).  Other images of this
    module share the busybox layer: the image's own config blob must go."""
    image_id = pull(daemon, ref_of(cri_registry))
    blob = os.path.join(daemon.cfg["image"]["root"], "blobs", "sha256", image_id.split(":")[1])
    assert os.path.exists(blob)
    used = daemon.img("ImageFsInfo").image_filesystems[0].used_bytes.value
    daemon.img("RemoveImage", image=spec(image_id))
    deadline = time.time() + 20
    while time.time() < deadline and os.path.exists(blob):
        time.sleep(0.1)
    assert not os.path.exists(blob)
    assert daemon.img("ImageFsInfo").image_filesystems[0].used_bytes.value < used


# ---- with containers ----

@pytest.fixture(scope="module")
def running(daemon, cri_registry):
    """A pod with one running container that burns some CPU, then sleeps."""
    ref = ref_of(cri_registry)
    pull(daemon, ref)
    pod_id, pod_cfg = daemon.run_pod(labels={"app": "pxt-stats"})
    cid = daemon.create(pod_id, pod_cfg, ref, labels={"tier": "pxt-stats"},
                        command=["sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; "
                                             "echo data > /written; exec sleep 1000"])
    daemon.rt("StartContainer", container_id=cid)
    daemon.wait_state(cid, pb().CONTAINER_RUNNING)
    yield {"pod": pod_id, "pod_cfg": pod_cfg, "ctr": cid, "ref": ref}


def wait_stats(daemon, cid, timeout=20):
    """ContainerStats once the busy loop has run and written its file."""
    deadline = time.time() + timeout
    while True:
        st = daemon.rt("ContainerStats", container_id=cid).stats
        if st.writable_layer.inodes_used.value >= 2 or time.time() > deadline:
            return st
        time.sleep(0.1)


def test_remove_image_in_use_is_refused(daemon, running):
    err = rpc_error(daemon.img, "RemoveImage", image=spec(running["ref"]))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert running["ctr"] in err.details()
    assert status(daemon, running["ref"]).HasField("image")


def test_container_stats(daemon, running):
    cid = running["ctr"]
    st = wait_stats(daemon, cid)
    assert st.attributes.id == cid
    assert st.attributes.metadata.name.startswith("ctr-")
    assert st.attributes.labels["tier"] == "pxt-stats"
    assert st.cpu.usage_core_nano_seconds.value > 0
    assert st.cpu.timestamp > 0
    assert st.memory.working_set_bytes.value > 0
    assert st.memory.usage_bytes.value >= st.memory.working_set_bytes.value
    assert st.writable_layer.fs_id.mountpoint.endswith("/upper")
    assert cid in st.writable_layer.fs_id.mountpoint
    assert st.writable_layer.used_bytes.value > 0
    # A prefix of the ID works as everywhere in the CRI.
    assert daemon.rt("ContainerStats", container_id=cid[:12]).stats.attributes.id == cid


def test_container_stats_unknown(daemon):
    err = rpc_error(daemon.rt, "ContainerStats", container_id="f" * 64)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = rpc_error(daemon.rt, "ContainerStats", container_id="")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_container_stats_filters(daemon, running):
    p = pb()
    cid, pod = running["ctr"], running["pod"]

    def ids(**f):
        return [s.attributes.id for s in
                daemon.rt("ListContainerStats", filter=p.ContainerStatsFilter(**f)).stats]

    assert cid in [s.attributes.id for s in daemon.rt("ListContainerStats").stats]
    assert ids(id=cid) == [cid]
    assert ids(pod_sandbox_id=pod) == [cid]
    assert ids(label_selector={"tier": "pxt-stats"}) == [cid]
    assert ids(label_selector={"tier": "other"}) == []
    assert ids(id="0" * 64) == []
    assert ids(pod_sandbox_id="0" * 64) == []


def test_pod_sandbox_stats(daemon, running):
    p = pb()
    cid, pod = running["ctr"], running["pod"]
    wait_stats(daemon, cid)
    st = daemon.rt("PodSandboxStats", pod_sandbox_id=pod).stats
    assert st.attributes.id == pod
    assert st.attributes.labels["app"] == "pxt-stats"
    assert st.attributes.metadata.namespace == "pxt"
    assert [c.attributes.id for c in st.linux.containers] == [cid]
    assert st.linux.cpu.usage_core_nano_seconds.value > 0
    assert st.linux.memory.working_set_bytes.value > 0
    assert st.linux.process.process_count.value >= 1
    listed_pods = daemon.rt("ListPodSandboxStats",
                            filter=p.PodSandboxStatsFilter(label_selector={"app": "pxt-stats"})).stats
    assert [s.attributes.id for s in listed_pods] == [pod]
    assert len(daemon.rt("ListPodSandboxStats", filter=p.PodSandboxStatsFilter(id="0" * 64)).stats) == 0
    err = rpc_error(daemon.rt, "PodSandboxStats", pod_sandbox_id="0" * 64)
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_stats_of_exited_container(daemon, running):
    pod, pod_cfg = running["pod"], running["pod_cfg"]
    cid = daemon.create(pod, pod_cfg, running["ref"], command=["sh", "-c", "exit 3"])
    daemon.rt("StartContainer", container_id=cid)
    daemon.wait_state(cid, pb().CONTAINER_EXITED)
    st = daemon.rt("ContainerStats", container_id=cid).stats
    assert st.attributes.id == cid
    assert not st.HasField("cpu")
    assert not st.HasField("memory")
    assert st.writable_layer.fs_id.mountpoint.endswith("/upper")
    pod_st = daemon.rt("PodSandboxStats", pod_sandbox_id=pod).stats
    assert sorted(c.attributes.id for c in pod_st.linux.containers) == sorted([cid, running["ctr"]])
    daemon.rt("RemoveContainer", container_id=cid)


def test_image_removable_once_containers_are_gone(daemon, running):
    # RemoveContainer removes a running container too (the CRI's contract).
    daemon.rt("RemoveContainer", container_id=running["ctr"])
    daemon.img("RemoveImage", image=spec(running["ref"]))
    assert not status(daemon, running["ref"]).HasField("image")


def test_device_nodes_only_when_the_config_allows(cri_registry):
    """A layer with a device node: PullImage refuses it by default (nothing
    listed), and unpacks it, node and all, with image.allow_devices."""
    work = tempfile.mkdtemp(prefix="pxt-devlayer-")
    try:
        layout = os.path.join(work, "layout")
        images.make_raw_oci_layout(layout, [images.tar_bytes([
            {"name": "dev", "type": "dir"},
            {"name": "dev/pxtnull", "type": "char", "devmajor": 1, "devminor": 3}])], tag="v1")
        cri_registry.push(layout, "v1", "pxt/devnode:1")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ref = "%s/pxt/devnode:1" % cri_registry.host
    for allow in (False, True):
        d = Daemon(cri_registry, extra={"image": {"allow_devices": True}} if allow else None)
        try:
            if not allow:
                with pytest.raises(grpc.RpcError) as e:
                    d.img("PullImage", image=pb().ImageSpec(image=ref))
                assert "device nodes are not allowed" in e.value.details(), e.value.details()
                assert len(d.img("ListImages").images) == 0
                continue
            d.img("PullImage", image=pb().ImageSpec(image=ref))
            assert len(d.img("ListImages").images) == 1
            nodes = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(d.cfg["image"]["root"], "layers"))
                     for f in fs if f == "pxtnull"]
            assert len(nodes) == 1, nodes
            st = os.lstat(nodes[0])
            assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
        finally:
            d.cleanup()
