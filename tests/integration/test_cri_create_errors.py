"""CreateContainer's refusals and edges, through a real pxcrid and gRPC
client (issue 15): malformed requests, images that are missing or broken
(a layer gone from the store, image configs with the wrong JSON types, an
unknown user), a pod that is not ready, a pid namespace whose target is not
running, unknown handlers and backends, and a runtime that fails at create.

Every refusal is checked for the gRPC code, a message that names the field
or the object, and that nothing was left: no container listed, no bundle
directory, no mount under the daemon's directory.

Daemons of this module use bridges pxtbrv0..9 with 10.233.200.0/24 ..
10.233.209.0/24."""

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
from registries import FakeRegistry, sha256

SC = grpc.StatusCode
CREATED, RUNNING, EXITED = 0, 1, 2
TARGET = 3  # NamespaceMode.TARGET

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


class VDaemon(Daemon):
    """A Daemon on this module's bridge pxtbrv<n>, 10.233.(200+n).0/24."""

    def __init__(self, n, extra=None):
        self._vbridge = "pxtbrv%d" % n
        super().__init__(None, extra, bridge_index=200 + n)

    def write_cni(self):
        self.bridge = self._vbridge
        super().write_cni()


def registries(*regs):
    return {"image": {"registries": {r.host: {"insecure": True} for r in regs}}}


def image_config(layers, **config):
    """An image config (bytes) over layers (uncompressed tars)."""
    return json.dumps({"architecture": images.go_arch(), "os": "linux",
                       "config": dict({"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}, **config),
                       "rootfs": {"type": "layers", "diff_ids": [sha256(l) for l in layers]}}).encode()


# An extra layer of its own, so that removing it from the store touches no
# other image.
GONE_LAYER = images.tar_bytes([{"name": "gone", "type": "dir"}, {"name": "gone/file", "data": "x"}])


@pytest.fixture(scope="module")
def bad_registry():
    """pxt/bad: images whose configs are valid JSON of the wrong shape, and
    ordinary ones with an image STOPSIGNAL, an unknown user, a layer of
    their own."""
    base = images.rootfs_tar_bytes()
    reg = FakeRegistry("pxt/bad")
    reg.add_image("entrypoint-string", image_config([base], Entrypoint="sh", Cmd=["-c", "true"]), [base])
    reg.add_image("cmd-numbers", image_config([base], Cmd=["sh", 7]), [base])
    reg.add_image("env-object", image_config([base], Env={"A": "1"}, Cmd=["true"]), [base])
    reg.add_image("user-unknown", image_config([base], User="nosuchuser", Cmd=["true"]), [base])
    reg.add_image("group-unknown", image_config([base], User="0:nosuchgroup", Cmd=["true"]), [base])
    reg.add_image("no-command", image_config([base]), [base])
    reg.add_image("stop-usr1", image_config([base], StopSignal="SIGUSR1", Cmd=["sh"]), [base])
    reg.add_image("gone-layer", image_config([base, GONE_LAYER], Cmd=["true"]), [base, GONE_LAYER])
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def d(cri_registry, bad_registry):
    daemon = VDaemon(0, registries(cri_registry, bad_registry))
    yield daemon
    daemon.cleanup()


@pytest.fixture(scope="module")
def busybox(d, cri_registry):
    ref = "%s/pxt/busybox:1" % cri_registry.host
    d.img("PullImage", image=pb().ImageSpec(image=ref))
    return ref


def bad(d, bad_registry, tag):
    ref = "%s/pxt/bad:%s" % (bad_registry.host, tag)
    d.img("PullImage", image=pb().ImageSpec(image=ref))
    return ref


@pytest.fixture
def pod(d, busybox):
    pid, cfg = d.run_pod()
    yield pid, cfg
    d.rt("StopPodSandbox", pod_sandbox_id=pid)
    d.rt("RemovePodSandbox", pod_sandbox_id=pid)


def leftovers(d):
    """Container directories, mounts and list entries no listed container owns."""
    listed = {c.id for c in d.rt("ListContainers").containers}
    ctr_dir = os.path.join(d.cfg["cri"]["state_dir"], "containers")
    dirs = set(os.listdir(ctr_dir)) if os.path.isdir(ctr_dir) else set()
    with open("/proc/self/mountinfo") as f:
        mounts = [l.split()[4] for l in f if l.split()[4].startswith(ctr_dir + "/")]
    return sorted(dirs - listed) + [m for m in mounts if m[len(ctr_dir) + 1:].split("/")[0] not in listed]


def no_leftovers(d, timeout=30):
    """RemoveContainer answers before its background job removed the
    bundle: wait for it."""
    deadline = time.time() + timeout
    while leftovers(d) and time.time() < deadline:
        time.sleep(0.1)
    return leftovers(d) == []


def new_leftovers(d, before):
    """What leftovers() finds that was not there before (an earlier test's
    removals may still be running)."""
    return sorted(set(leftovers(d)) - set(before))


def refused(d, pod, code, needle, image, **kw):
    """CreateContainer must fail with code and a message containing needle,
    creating nothing."""
    before = {c.id for c in d.rt("ListContainers").containers}
    left = leftovers(d)
    with pytest.raises(grpc.RpcError) as e:
        d.create(pod[0], pod[1], image, **kw)
    assert e.value.code() == code, e.value.details()
    assert needle in e.value.details()
    assert {c.id for c in d.rt("ListContainers").containers} == before
    assert new_leftovers(d, left) == []
    return e.value.details()


def sc(**kw):
    p = pb()
    return p.LinuxContainerConfig(security_context=p.LinuxContainerSecurityContext(**kw))


def log_text(d, cid, want, timeout=10):
    path = d.status(cid).log_path
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if want in text:
                break
        time.sleep(0.05)
    return text


# --- malformed requests ------------------------------------------------------

def _malformed():
    p = pb()
    big = "x" * (128 * 1024)
    return {
        "no-image": (dict(image=""), "config.image.image is required"),
        "pid-mode-unknown": (dict(linux=sc(namespace_options=p.NamespaceOption(pid=9))),
                             "namespace_options.pid: unknown namespace mode 9"),
        "network-mode-unknown": (dict(linux=sc(namespace_options=p.NamespaceOption(network=7))),
                                 "namespace_options.network: unknown namespace mode 7"),
        "log-path-absolute": (dict(log_path="/etc/pxt.log"), "config.log_path \"/etc/pxt.log\""),
        "arg-too-long": (dict(command=["sh", big]), "config.command[1] is 131072 bytes"),
        "args-too-many": (dict(command=["true"], args=["y" * 100000] * 22), "exceed 2097152 bytes (args[20])"),
        "envs-too-many": (dict(command=["true"], envs=[p.KeyValue(key="K%d" % i, value=b"v" * 100000)
                                                       for i in range(22)]), "exceed 2097152 bytes (envs[20])"),
        "mounts-too-many": (dict(mounts=[p.Mount(container_path="/m%d" % i, host_path="/tmp")
                                         for i in range(1025)]), "config.mounts: 1025 mounts, at most 1024"),
        "devices-too-many": (dict(devices=[p.Device(container_path="/dev/d%d" % i, host_path="/dev/null")
                                           for i in range(1025)]), "config.devices: 1025 devices, at most 1024"),
        "mount-relative-target": (dict(mounts=[p.Mount(container_path="data", host_path="/tmp")]),
                                  "mounts[0].container_path \"data\" must be absolute"),
        "mount-dotdot-target": (dict(mounts=[p.Mount(container_path="/a/../../etc", host_path="/tmp")]),
                                "must not contain \"..\""),
        "mount-relative-source": (dict(mounts=[p.Mount(container_path="/data", host_path="tmp")]),
                                  "mounts[0].host_path \"tmp\" must be absolute"),
        "mount-image-volume": (dict(mounts=[p.Mount(container_path="/data", image=p.ImageSpec(image="busybox"))]),
                               "mounts[0].image: image volumes are not supported"),
        "mount-id-mapped": (dict(mounts=[p.Mount(container_path="/data", host_path="/tmp",
                                                 uidMappings=[p.IDMapping(host_id=1000, container_id=0, length=1)])]),
                            "mounts[0]: id-mapped mounts are not supported"),
        "mount-propagation-unknown": (dict(mounts=[p.Mount(container_path="/data", host_path="/tmp", propagation=9)]),
                                      "mounts[0].propagation: unknown value 9"),
        "mount-rro-not-readonly": (dict(mounts=[p.Mount(container_path="/data", host_path="/tmp",
                                                        recursive_read_only=True)]),
                                   "recursive_read_only needs readonly and private propagation"),
        "run-as-group-alone": (dict(linux=sc(run_as_group=p.Int64Value(value=10))),
                               "run_as_group needs run_as_user or run_as_username"),
    }


@pytest.mark.parametrize("case", [
    "no-image", "pid-mode-unknown", "network-mode-unknown", "log-path-absolute", "arg-too-long",
    "args-too-many", "envs-too-many", "mounts-too-many", "devices-too-many", "mount-relative-target",
    "mount-dotdot-target", "mount-relative-source", "mount-image-volume", "mount-id-mapped",
    "mount-propagation-unknown", "mount-rro-not-readonly", "run-as-group-alone"])
def test_malformed_request_is_invalid_argument(d, pod, busybox, case):
    kw, needle = _malformed()[case]
    image = kw.pop("image", busybox)
    msg = refused(d, pod, SC.INVALID_ARGUMENT, needle, image, **kw)
    assert msg.startswith("CreateContainer"), msg


def test_request_without_config_is_invalid_argument(d, pod):
    left = leftovers(d)
    with pytest.raises(grpc.RpcError) as e:
        d.rt("CreateContainer", pod_sandbox_id=pod[0], sandbox_config=pod[1])
    assert e.value.code() == SC.INVALID_ARGUMENT and "config is required" in e.value.details()
    assert new_leftovers(d, left) == []


def _bad_spec(workdir):
    """Requests that pass validation and fail when the spec is made."""
    p = pb()
    no_default = os.path.join(workdir, "no-default.json")
    no_action = os.path.join(workdir, "no-action.json")
    not_json = os.path.join(workdir, "not-json.json")
    with open(no_default, "w") as f:
        json.dump({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}, f)
    with open(no_action, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]}, f)
    with open(not_json, "w") as f:
        f.write("{\"defaultAction\": ")
    local = p.SecurityProfile.Localhost
    return {
        "user-name-with-colon": (dict(linux=sc(run_as_username="app:staff")),
                                 "security_context.run_as_username \"app:staff\" contains ':'"),
        "group-out-of-range": (dict(linux=sc(run_as_user=p.Int64Value(value=0),
                                             run_as_group=p.Int64Value(value=1 << 32))),
                               "security_context.run_as_group 4294967296 is out of range"),
        "group-out-of-range-with-name": (dict(linux=sc(run_as_username="root",
                                                       run_as_group=p.Int64Value(value=-1))),
                                         "security_context.run_as_group -1 is out of range"),
        "user-out-of-range": (dict(linux=sc(run_as_user=p.Int64Value(value=-5))),
                              "security_context.run_as_user -5 is out of range"),
        "cpu-shares-negative": (dict(linux=p.LinuxContainerConfig(
            resources=p.LinuxContainerResources(cpu_shares=-2))), "must not be negative"),
        "memory-negative": (dict(linux=p.LinuxContainerConfig(
            resources=p.LinuxContainerResources(memory_limit_in_bytes=-1))),
            "linux.resources.memory_limit_in_bytes -1 is negative"),
        "seccomp-type-unknown": (dict(linux=sc(seccomp=p.SecurityProfile(profile_type=7))),
                                 "security_context.seccomp.profile_type: unknown value 7"),
        "seccomp-relative": (dict(linux=sc(seccomp=p.SecurityProfile(profile_type=local,
                                                                     localhost_ref="profiles/x.json"))),
                             "must be an absolute path"),
        "seccomp-missing": (dict(linux=sc(seccomp=p.SecurityProfile(profile_type=local,
                                                                    localhost_ref="/nonexistent/pxt.json"))),
                            "security_context.seccomp.localhost_ref"),
        "seccomp-not-json": (dict(linux=sc(seccomp=p.SecurityProfile(profile_type=local, localhost_ref=not_json))),
                             "seccomp profile %s" % not_json),
        "seccomp-no-default-action": (dict(linux=sc(seccomp=p.SecurityProfile(profile_type=local,
                                                                              localhost_ref=no_default))),
                                      "has no valid defaultAction"),
        "seccomp-rule-without-action": (dict(linux=sc(seccomp=p.SecurityProfile(profile_type=local,
                                                                                localhost_ref=no_action))),
                                        "syscalls[0] has no action"),
        "seccomp-deprecated-path-unknown": (dict(linux=sc(seccomp_profile_path="my-profile")),
                                            "is not runtime/default, unconfined or localhost/<path>"),
        "device-relative": (dict(devices=[p.Device(container_path="/dev/x", host_path="dev/null",
                                                   permissions="rwm")]),
                            "devices[0].host_path \"dev/null\" must be absolute"),
        "device-missing": (dict(devices=[p.Device(container_path="/dev/x", host_path="/dev/pxt-no-such-device",
                                                  permissions="rwm")]),
                           "devices[0].host_path \"/dev/pxt-no-such-device\""),
        "device-not-a-device": (dict(devices=[p.Device(container_path="/dev/x", host_path="/etc/hostname")]),
                                "devices[0].host_path \"/etc/hostname\" is not a device"),
        "device-permissions": (dict(devices=[p.Device(container_path="/dev/x", host_path="/dev/null",
                                                      permissions="rwx")]),
                               "devices[0].permissions \"rwx\": only r, w and m are allowed"),
        "volume-under-a-file": (dict(mounts=[p.Mount(container_path="/data", host_path="/etc/hostname/data")]),
                                "mounts[0].host_path \"/etc/hostname/data\""),
        "volume-cannot-be-made": (dict(mounts=[p.Mount(container_path="/data", host_path="/proc/pxt-volume/data")]),
                                  "mounts[0].host_path"),
        "env-without-key": (dict(command=["true"], envs=[p.KeyValue(key="", value=b"x")]),
                            "Invalid environment entry \"=x\" (KEY=VALUE)"),
    }


# What is not there is NOT_FOUND; a path under a file is ENOTDIR:
# FAILED_PRECONDITION (the host's files must change first).
NOT_INVALID = {"seccomp-missing": SC.NOT_FOUND, "device-missing": SC.NOT_FOUND,
               "volume-cannot-be-made": SC.NOT_FOUND, "volume-under-a-file": SC.FAILED_PRECONDITION}


@pytest.mark.parametrize("case", [
    "user-name-with-colon", "group-out-of-range", "group-out-of-range-with-name", "user-out-of-range",
    "cpu-shares-negative",
    "memory-negative", "seccomp-type-unknown", "seccomp-relative", "seccomp-missing", "seccomp-not-json",
    "seccomp-no-default-action", "seccomp-rule-without-action", "seccomp-deprecated-path-unknown",
    "device-relative", "device-missing", "device-not-a-device", "device-permissions", "volume-under-a-file",
    "volume-cannot-be-made", "env-without-key"])
def test_request_the_spec_cannot_take(d, pod, busybox, workdir, case):
    kw, needle = _bad_spec(workdir)[case]
    before = {c.id for c in d.rt("ListContainers").containers}
    left = leftovers(d)
    with pytest.raises(grpc.RpcError) as e:
        d.create(pod[0], pod[1], busybox, **kw)
    want = NOT_INVALID.get(case, SC.INVALID_ARGUMENT)
    assert want is None or e.value.code() == want, e.value
    assert needle in e.value.details(), e.value.details()
    assert {c.id for c in d.rt("ListContainers").containers} == before
    assert new_leftovers(d, left) == []


# --- images missing or broken --------------------------------------------------

def test_image_never_pulled_is_not_found(d, pod, bad_registry):
    ref = "%s/pxt/bad:never-pulled" % bad_registry.host
    msg = refused(d, pod, SC.NOT_FOUND, "is not present (pull it first)", ref, command=["true"])
    assert ref in msg


def test_image_removed_is_not_found(d, pod, bad_registry):
    ref = bad(d, bad_registry, "no-command")
    d.img("RemoveImage", image=pb().ImageSpec(image=ref))
    refused(d, pod, SC.NOT_FOUND, "\"%s\" is not present (pull it first)" % ref, ref, command=["true"])


def test_image_layer_missing_from_the_store(d, pod, bad_registry):
    """The store lists the image, a layer directory is gone (removed by hand,
    a disk restored without it): the error names the layer and says what to do."""
    ref = bad(d, bad_registry, "gone-layer")
    layer = os.path.join(d.cfg["image"]["root"], "layers", sha256(GONE_LAYER)[7:])
    assert os.path.isdir(layer)
    shutil.rmtree(layer)
    msg = refused(d, pod, SC.NOT_FOUND, "layer %s is missing (pull or import the image again)" % sha256(GONE_LAYER),
                  ref)
    assert "not present" not in msg
    # Pulling again brings the layer back, and the container runs.
    d.img("PullImage", image=pb().ImageSpec(image=ref))
    assert os.path.isdir(layer)
    cid = d.create(pod[0], pod[1], ref, command=["ls", "/gone"])
    d.rt("StartContainer", container_id=cid)
    assert d.wait_state(cid, EXITED).exit_code == 0


@pytest.mark.parametrize("tag,needle", [
    ("entrypoint-string", "Image config: Entrypoint is not an array"),
    ("cmd-numbers", "Image config: Cmd[1] is not a string"),
    ("env-object", "Image config: Env is not an array"),
    ("no-command", "No command: the image has no Entrypoint or Cmd and none was given"),
])
def test_image_config_of_the_wrong_shape(d, pod, bad_registry, tag, needle):
    ref = bad(d, bad_registry, tag)
    refused(d, pod, SC.INVALID_ARGUMENT, needle, ref)


def test_request_command_replaces_a_broken_entrypoint(d, pod, bad_registry):
    """CRI's command replaces the image's Entrypoint: a string where an array
    belongs does not matter then."""
    ref = bad(d, bad_registry, "entrypoint-string")
    cid = d.create(pod[0], pod[1], ref, command=["sh", "-c", "echo replaced"])
    d.rt("StartContainer", container_id=cid)
    assert d.wait_state(cid, EXITED).exit_code == 0
    assert "replaced" in log_text(d, cid, "replaced")


@pytest.mark.parametrize("tag,needle", [
    ("user-unknown", "User \"nosuchuser\" not found in the image's /etc/passwd"),
    ("group-unknown", "Group \"nosuchgroup\" not found in the image's /etc/group"),
])
def test_image_user_unknown(d, pod, bad_registry, tag, needle):
    """The image is there; its USER is not in its /etc/passwd (or group):
    the message says so, and does not claim the image is missing."""
    ref = bad(d, bad_registry, tag)
    msg = refused(d, pod, SC.NOT_FOUND, needle, ref)
    assert "not present" not in msg and "pull it first" not in msg, msg


def test_request_user_unknown(d, pod, busybox):
    msg = refused(d, pod, SC.NOT_FOUND, "User \"ghost\" not found", busybox, command=["true"],
                  linux=sc(run_as_username="ghost"))
    assert "pull it first" not in msg, msg


def test_create_by_image_id_reports_the_tag(d, pod, busybox):
    """kubelet creates containers by the image ID PullImage returned."""
    st = d.img("ImageStatus", image=pb().ImageSpec(image=busybox)).image
    cid = d.create(pod[0], pod[1], st.id, command=["true"])
    cs = d.status(cid)
    assert cs.image_id == st.id
    assert cs.image.image == busybox
    assert "@sha256:" in cs.image_ref


def test_image_stop_signal_is_used(d, pod, bad_registry):
    """An image's STOPSIGNAL stops the container when the request gives none."""
    ref = bad(d, bad_registry, "stop-usr1")
    cid = d.create(pod[0], pod[1], ref, command=[
        "sh", "-c", "trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.1; done"])
    d.rt("StartContainer", container_id=cid)
    assert "ready" in log_text(d, cid, "ready")
    t0 = time.time()
    d.rt("StopContainer", container_id=cid, timeout=30)
    st = d.status(cid)
    assert st.state == EXITED and st.exit_code == 0, st
    assert time.time() - t0 < 20
    assert "got-usr1" in log_text(d, cid, "got-usr1")


def test_readonly_rootfs(d, pod, busybox):
    cid = d.create(pod[0], pod[1], busybox, linux=sc(readonly_rootfs=True),
                   command=["sh", "-c", "touch /pxt-file || echo refused; touch /tmp/x && echo tmp-ok"])
    d.rt("StartContainer", container_id=cid)
    d.wait_state(cid, EXITED)
    text = log_text(d, cid, "refused")
    assert "Read-only file system" in text and "refused" in text


def test_device_directory(d, pod, busybox):
    """A directory as a device's host_path: every device in it."""
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("no /dev/net/tun")
    p = pb()
    cid = d.create(pod[0], pod[1], busybox, command=["sh", "-c", "test -c /dev/net/tun && echo tun-ok"],
                   devices=[p.Device(container_path="/dev/net", host_path="/dev/net", permissions="rw")])
    d.rt("StartContainer", container_id=cid)
    assert d.wait_state(cid, EXITED).exit_code == 0
    assert "tun-ok" in log_text(d, cid, "tun-ok")


# --- pods and namespaces -------------------------------------------------------

def test_pod_not_ready(d, busybox):
    pid, cfg = d.run_pod()
    d.rt("StopPodSandbox", pod_sandbox_id=pid)
    try:
        msg = refused(d, (pid, cfg), SC.FAILED_PRECONDITION, "is not ready", busybox, command=["true"])
        assert pid in msg
    finally:
        d.rt("RemovePodSandbox", pod_sandbox_id=pid)
    refused(d, (pid, cfg), SC.NOT_FOUND, "Pod sandbox \"%s\" not found" % pid, busybox, command=["true"])


def test_pid_namespace_target(d, pod, busybox):
    """namespace_options.pid = TARGET: the target must be running; then the
    new container sees the target's processes."""
    p = pb()
    target = d.create(pod[0], pod[1], busybox, command=["sleep", "3141"])
    ns = sc(namespace_options=p.NamespaceOption(pid=TARGET, target_id=target))
    refused(d, pod, SC.NOT_FOUND, "the target container \"%s\" of the pid namespace is not running" % target,
            busybox, command=["ps"], linux=ns)
    refused(d, pod, SC.NOT_FOUND, "the target container \"nope\" of the pid namespace is not running", busybox,
            command=["ps"], linux=sc(namespace_options=p.NamespaceOption(pid=TARGET, target_id="nope")))
    d.rt("StartContainer", container_id=target)
    d.wait_state(target, RUNNING)
    cid = d.create(pod[0], pod[1], busybox, command=["ps", "-o", "args"], linux=ns)
    d.rt("StartContainer", container_id=cid)
    assert d.wait_state(cid, EXITED).exit_code == 0
    assert "sleep 3141" in log_text(d, cid, "sleep 3141")


def test_unknown_runtime_handler(d, busybox):
    before = {p.id for p in d.rt("ListPodSandbox").items}
    with pytest.raises(grpc.RpcError) as e:
        d.run_pod(handler="pxt-no-such-handler")
    assert e.value.code() == SC.INVALID_ARGUMENT
    assert "runtime_handler \"pxt-no-such-handler\" is not configured (cri.runtime_handlers)" in e.value.details()
    assert {p.id for p in d.rt("ListPodSandbox").items} == before


def test_unknown_backend_by_annotation(d, pod, busybox):
    refused(d, pod, SC.INVALID_ARGUMENT, "Unknown backend \"pxt-nope\" from annotation pxcri.io/backend", busybox,
            command=["true"], annotations={"pxcri.io/backend": "pxt-nope"})


def test_client_cannot_set_the_decided_backend(d, pod, busybox):
    """io.pxcri.backend is pxcrid's own record of the routing decision: a
    request that carries it is routed by the rules all the same."""
    cid = d.create(pod[0], pod[1], busybox, command=["true"], annotations={"io.pxcri.backend": "pxt-nope"})
    info = json.loads(d.rt("ContainerStatus", container_id=cid, verbose=True).info["info"])
    assert info["backend"] == "crun"
    assert "default_container_type" in info["route_reason"]


# --- the runtime fails at create -----------------------------------------------

FAILING_RUNTIME = """#!/bin/sh
# runc that refuses every create: the message must reach the CRI client.
for a in "$@"; do
  if [ "$a" = create ]; then echo "pxt-runtime: refusing to create (no such device)" >&2; exit 1; fi
done
exec /usr/sbin/runc "$@"
"""


@pytest.fixture(scope="module")
def failing(cri_registry):
    tmp = tempfile.mkdtemp(prefix="pxt-rtfail-")
    script = os.path.join(tmp, "runc")
    with open(script, "w") as f:
        f.write(FAILING_RUNTIME)
    os.chmod(script, stat.S_IRWXU)
    daemon = VDaemon(1, dict(registries(cri_registry), backends={"runc": {"path": script}}))
    ref = "%s/pxt/busybox:1" % cri_registry.host
    daemon.img("PullImage", image=pb().ImageSpec(image=ref))
    yield daemon, ref
    daemon.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


def test_runtime_fails_at_create(failing):
    """runc exits 1 at create: StartContainer (where pxcrid runs the
    runtime's create under conmon) fails with runc's own message, the
    container is not running, and removing it leaves nothing."""
    d, ref = failing
    pid, cfg = d.run_pod(handler="runc")
    try:
        cid = d.create(pid, cfg, ref, command=["sleep", "100"])
        with pytest.raises(grpc.RpcError) as e:
            d.rt("StartContainer", container_id=cid)
        assert "refusing to create (no such device)" in e.value.details(), e.value.details()
        assert cid in e.value.details()
        assert d.status(cid).state != RUNNING
        d.rt("RemoveContainer", container_id=cid)
        assert no_leftovers(d), leftovers(d)
        runc_root = os.path.join(d.cfg["runtime"]["root_path"], "runc")
        assert not os.path.isdir(runc_root) or os.listdir(runc_root) == []
    finally:
        d.rt("StopPodSandbox", pod_sandbox_id=pid)
        d.rt("RemovePodSandbox", pod_sandbox_id=pid)
    # crun, on the same daemon, is not affected.
    pid, cfg = d.run_pod(handler="crun")
    try:
        ok = d.create(pid, cfg, ref, command=["true"])
        d.rt("StartContainer", container_id=ok)
        assert d.wait_state(ok, EXITED).exit_code == 0
    finally:
        d.rt("StopPodSandbox", pod_sandbox_id=pid)
        d.rt("RemovePodSandbox", pod_sandbox_id=pid)
