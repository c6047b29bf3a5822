"""Faults of a real node against a real pxcrid (issue 14): a CNI plugin that
fails after the bridge plugin succeeded or that hangs, a registry that drops
the connection in the middle of a layer, an image store on a full file
system, conmon or the runtime failing at start, a log directory that cannot
be written, and a client whose deadline passes halfway through a call.

Each test asserts the gRPC status and message the caller gets, and then that
nothing is left behind: `leftovers()` enumerates processes naming the
daemon's directories (conmon, pxcri, crun, pxcri-image, CNI plugins), mounts
under them, pinned namespaces, veths on the test's bridge, addresses in
host-local's store, `pxcri-<id>` cgroups, rows in the state database, and
entries of the state and run directories and the runtime's root, keeping
only what a listed pod or container owns.

Bridges pxtbrf0..9 with 10.233.190.0/24..10.233.199.0/24 are this module's,
each claimed by a daemon with a lock file, so concurrent runs do not share
one.  The daemons run with cri.cni_plugin_timeout_s = 3.  What each fault
gives and leaves: docs/reliability.md, Faults."""

import fcntl
import glob
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import grpc
import pytest

import images
from cri_env import CNI_BIN, Daemon, cmdlines, pb
from registries import FakeRegistry, sha256

READY, NOTREADY = 0, 1
CREATED, RUNNING, EXITED = 0, 1, 2
SC = grpc.StatusCode
CNI_TIMEOUT_S = 3  # cri.cni_plugin_timeout_s of the daemons here

# ---- fake CNI plugins (python: the process names its file, so leftovers() finds it) ----

PLUGIN = r'''#!/usr/bin/python3
# A fake CNI plugin: records each call in the file the config's "log" names,
# then does what its "mode" says for the command.
import json, os, subprocess, sys, time
if sys.argv[1:] == ["--child"]:  # the grandchild of "hang+child"
    time.sleep(3600)
conf = json.load(sys.stdin)
cmd = os.environ.get("CNI_COMMAND", "")
with open(conf["log"], "a") as f:
    f.write("%s %s\n" % (cmd, os.environ.get("CNI_CONTAINERID", "")))
mode = conf.get("mode", {}).get(cmd, "pass")
if mode == "fail":
    print(json.dumps({"cniVersion": conf["cniVersion"], "code": 11,
                      "msg": "pxtfail refuses pod " + os.environ.get("CNI_CONTAINERID", "")[:12],
                      "details": "a fault injected by the test"}))
    sys.exit(1)
if mode == "hang+child":  # a plugin whose own child hangs with it
    subprocess.Popen([sys.executable, __file__, "--child"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mode = "hang"
if mode == "hang":
    time.sleep(3600)
if mode.startswith("sleep:"):
    time.sleep(float(mode[6:]))
if cmd == "ADD":
    print(json.dumps(conf.get("prevResult") or {"cniVersion": conf["cniVersion"]}))
elif cmd == "VERSION":
    print(json.dumps({"cniVersion": conf["cniVersion"], "supportedVersions": ["0.4.0", "1.0.0"]}))
'''


def claim_bridge_index():
    """The first of the indexes 0..9 no other FaultDaemon holds (in this
    run or a concurrent one): (index, the locked file to keep open)."""
    for i in range(10):
        f = open("/run/lock/pxt-faults-bridge-%d.lock" % i, "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return i, f
        except OSError:
            f.close()
    raise AssertionError("all of pxtbrf0..9 are in use")


class FaultDaemon(Daemon):
    """A pxcrid on bridge pxtbrf<idx> (10.233.190+idx.0/24, idx claimed from
    0..9) whose CNI plugins are looked up in a directory of fake plugins
    first, then the real ones; `chain` is inserted between bridge and portmap
    in the network list."""

    def __init__(self, registry, extra=None, chain=None):
        self.idx, self.idx_lock = claim_bridge_index()
        # ours now: one with this name is what a run that died left
        subprocess.run(["ip", "link", "del", "pxtbrf%d" % self.idx], capture_output=True)
        self.chain = list(chain or [])
        self.portmap = {}
        self.plugin_dir = tempfile.mkdtemp(prefix="pxt-cnibin-")
        with open(os.path.join(self.plugin_dir, "pxtfake"), "w") as f:
            f.write(PLUGIN)
        os.chmod(os.path.join(self.plugin_dir, "pxtfake"), 0o755)
        self.plugin_log = os.path.join(self.plugin_dir, "calls.log")
        cfg = {"cri": {"cni_bin_dirs": [self.plugin_dir, CNI_BIN], "cni_plugin_timeout_s": CNI_TIMEOUT_S}}
        for k, v in (extra or {}).items():
            cfg.setdefault(k, {}).update(v)
        self.seen = set()  # container IDs ever made: their cgroups must go
        super().__init__(registry, extra=cfg)
        self.busybox = "%s/pxt/busybox:1" % registry.host

    def write_cni(self):
        self.bridge = "pxtbrf%d" % self.idx
        self.subnet = "10.233.%d.0/24" % (190 + self.idx)
        plugins = [{"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                    "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                             "dataDir": os.path.join(self.dir, "ipam")}}]
        for p in self.chain:
            plugins.append(dict({"type": "pxtfake", "log": self.plugin_log}, **p))
        plugins.append(dict({"type": "portmap", "capabilities": {"portMappings": True}}, **self.portmap))
        with open(os.path.join(self.cni_dir, "10-pxt.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "pxt-faults", "plugins": plugins}, f)

    def set_chain(self, chain, portmap=None):
        self.chain = list(chain)
        self.portmap = dict(portmap or {})
        self.write_cni()

    def plugin_calls(self):
        if not os.path.exists(self.plugin_log):
            return []
        with open(self.plugin_log) as f:
            return [l.split() for l in f.read().splitlines()]

    def pull_busybox(self):
        self.img("PullImage", image=pb().ImageSpec(image=self.busybox))

    def create(self, pod_id, pod_cfg, image, **kw):
        cid = super().create(pod_id, pod_cfg, image, **kw)
        self.seen.add(cid)
        return cid

    def cleanup(self):
        try:
            super().cleanup()
        finally:
            shutil.rmtree(self.plugin_dir, ignore_errors=True)
            self.idx_lock.close()


@pytest.fixture(scope="module")
def cni_daemon(cri_registry):
    d = FaultDaemon(cri_registry)
    yield d
    d.cleanup()


# ---- the leak checker ----

def rpc_error(fn, *args, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kw)
    print("rpc error:", ei.value.code(), ei.value.details())  # shown with a failure
    return ei.value


def mounts():
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f]


def ls(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def ipam_ips(d):
    out = []
    for f in glob.glob(os.path.join(d.dir, "ipam", "*", "*")):
        try:
            ipaddress.ip_address(os.path.basename(f))
        except ValueError:
            continue
        out.append(os.path.basename(f))
    return out


def db_rows(d):
    out = subprocess.run(["sqlite3", os.path.join(d.dir, "state", "pxcrid.db"), "SELECT kind, id FROM objects"],
                         capture_output=True, text=True, check=True).stdout
    return {tuple(l.split("|", 1)) for l in out.splitlines() if l}


def leftovers(d):
    """What exists of the daemon's pods and containers beyond what it lists
    (a listed object may keep its own parts: conmon, bundle, namespaces...)."""
    pods = {p.id: p.state for p in d.rt("ListPodSandbox", deadline=10).items}
    ctrs = {c.id: c.state for c in d.rt("ListContainers", deadline=10).containers}
    ready = {p for p, st in pods.items() if st == READY}
    live = {c for c, st in ctrs.items() if st == RUNNING}
    d.seen |= set(ls(os.path.join(d.dir, "state", "containers")))
    bad = []
    roots = (d.dir + "/", d.plugin_dir + "/")
    for pid, argv in cmdlines().items():
        text = " ".join(argv)
        if pid in (os.getpid(), d.proc.pid) or not any(r in text for r in roots):
            continue
        if not any(c in text for c in live):
            bad.append("process %d: %s" % (pid, text[:300]))
    for m in mounts():
        if not m.startswith(d.dir + "/"):
            continue
        rel = os.path.relpath(m, d.dir).split("/")
        if rel[:2] == ["state", "containers"] and rel[2] in ctrs:
            continue
        if rel[:2] in (["run", "ns"], ["state", "pods"]) and rel[2] in ready:
            continue
        bad.append("mount %s" % m)
    owned = {"state/pods": pods, "run/ns": pods, "state/containers": ctrs, "run/exits": ctrs,
             "run/persist": ctrs, "run/attach": ctrs, "rt/crun": ctrs, "rt/runc": ctrs}
    for sub, objs in owned.items():
        for name in ls(os.path.join(d.dir, sub)):
            if name not in objs:
                bad.append("%s/%s" % (sub, name))
    for name in ls(os.path.join(d.dir, "run", "stream")):
        bad.append("run/stream/%s" % name)
    veths = subprocess.run(["ip", "-o", "link", "show", "master", d.bridge], capture_output=True,
                           text=True).stdout.splitlines()
    if len(veths) > len(ready):
        bad.append("%d veths on %s for %d ready pods: %s" % (len(veths), d.bridge, len(ready),
                                                             [v.split()[1] for v in veths]))
    ips = ipam_ips(d)
    if len(ips) > len(ready):
        bad.append("addresses %s in host-local's store for %d ready pods" % (ips, len(ready)))
    for cid in d.seen - set(ctrs):
        for cg in glob.glob("/sys/fs/cgroup/*/pxcri-%s*" % cid) + glob.glob("/sys/fs/cgroup/*/*/pxcri-%s*" % cid):
            bad.append("cgroup %s" % cg)
    for kind, oid in db_rows(d):
        if (kind == "pod" and oid not in pods) or (kind == "container" and oid not in ctrs):
            bad.append("database row %s %s" % (kind, oid))
    return bad


def settle(d, timeout=20):
    """Background removals and cancelled calls finish after the answer: poll."""
    deadline = time.time() + timeout
    while True:
        bad = leftovers(d)
        if not bad or time.time() > deadline:
            return bad
        time.sleep(0.2)


def remove_all(d):
    for p in d.rt("ListPodSandbox").items:
        d.rt("StopPodSandbox", pod_sandbox_id=p.id)
        d.rt("RemovePodSandbox", pod_sandbox_id=p.id)


def assert_clean(d):
    bad = settle(d)
    assert bad == [], "left behind:\n%s\n%s" % ("\n".join(bad), d.log())


def assert_all_gone(d):
    remove_all(d)
    assert len(d.rt("ListPodSandbox").items) == 0 and len(d.rt("ListContainers").containers) == 0
    assert_clean(d)
    assert db_rows(d) == set()


# ---- 1. CNI ADD fails after the bridge plugin succeeded ----

def test_cni_add_fails_after_bridge(cni_daemon):
    d = cni_daemon
    d.set_chain([{"mode": {"ADD": "fail"}}])
    try:
        e = rpc_error(d.run_pod)
    finally:
        d.set_chain([])
    assert e.code() == SC.INTERNAL, e.details()
    assert "CNI plugin pxtfake failed (ADD): pxtfail refuses pod" in e.details(), e.details()
    assert "a fault injected by the test" in e.details()
    pod = [c[1] for c in d.plugin_calls() if c[0] == "ADD"][-1]
    assert pod in e.details()  # it names the pod
    # the whole chain was DELeted: the fake first, then the bridge (veth, IP)
    assert [c for c in d.plugin_calls() if c[1] == pod] == [["ADD", pod], ["DEL", pod]]
    assert len(d.rt("ListPodSandbox").items) == 0
    assert_clean(d)
    assert ipam_ips(d) == []
    # the network works again for the next pod
    pid, _ = d.run_pod()
    assert d.rt("PodSandboxStatus", pod_sandbox_id=pid).status.network.ip
    assert_all_gone(d)


def test_portmap_fails_after_bridge(cni_daemon):
    """The real portmap plugin failing: its iptables rule names a match the
    kernel does not have (portmap's conditionsV4)."""
    d = cni_daemon
    p = pb()
    d.set_chain([], portmap={"conditionsV4": ["-m", "pxtnosuchmatch"]})
    try:
        cfg = d.pod_config(port_mappings=[p.PortMapping(protocol=p.TCP, container_port=80, host_port=18080)])
        e = rpc_error(d.run_pod, cfg)
    finally:
        d.set_chain([])
    assert e.code() == SC.INTERNAL, e.details()
    assert "CNI plugin portmap failed (ADD)" in e.details() and "pxtnosuchmatch" in e.details(), e.details()
    pod = re.search(r"Setting up the network of pod ([0-9a-f]{64})", e.details()).group(1)
    chain = re.search(r"-j (CNI-DN-[0-9a-f]+)", e.details()).group(1)  # portmap's chain of the pod
    assert len(d.rt("ListPodSandbox").items) == 0
    assert_clean(d)
    assert ipam_ips(d) == []
    # portmap's DEL ran too: neither its rules nor its chain of the pod stay
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True).stdout
    assert pod not in rules and chain not in rules


# ---- 2. a CNI plugin that hangs ----

@pytest.mark.parametrize("hang", ["ADD", "ADD+DEL", "ADD+child"])
def test_cni_plugin_hangs(cni_daemon, hang):
    """The plugin (and with ADD+child, a process it started) is killed at
    the deadline: every plugin runs in a process group of its own."""
    d = cni_daemon
    add = "hang+child" if hang == "ADD+child" else "hang"
    d.set_chain([{"mode": {"ADD": add, "DEL": "hang" if hang == "ADD+DEL" else "pass"}}])
    t0 = time.time()
    try:
        e = rpc_error(d.run_pod)
    finally:
        d.set_chain([])
    took = time.time() - t0
    assert e.code() == SC.DEADLINE_EXCEEDED, e.details()
    assert "CNI plugin pxtfake (ADD)" in e.details() and "did not finish within %d s" % CNI_TIMEOUT_S in e.details(), \
        e.details()
    # bounded: the ADD and the undo's DEL each get the plugin timeout
    assert took < CNI_TIMEOUT_S * 2 + 8, took
    assert len(d.rt("ListPodSandbox").items) == 0
    assert_clean(d)  # the plugin processes were killed, the bridge's veth and IP released
    assert ipam_ips(d) == []


def test_cni_plugin_hangs_in_stop(cni_daemon):
    """DEL hanging at StopPodSandbox: the stop fails (the other plugins'
    DELs ran), the pod keeps its record and namespaces for the retry, which
    kubelet makes, and which then finishes it."""
    d = cni_daemon
    d.set_chain([{"mode": {"DEL": "pass"}}])
    pod, _ = d.run_pod()
    d.set_chain([{"mode": {"DEL": "hang"}}])
    try:
        e = rpc_error(d.rt, "StopPodSandbox", pod_sandbox_id=pod)
        assert e.code() == SC.DEADLINE_EXCEEDED, e.details()
        assert "CNI plugin pxtfake (DEL) did not finish within %d s: killed" % CNI_TIMEOUT_S in e.details(), \
            e.details()
        assert pod in e.details()
        assert d.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == READY  # not stopped yet
        assert os.path.exists(os.path.join(d.dir, "run", "ns", pod, "net"))
        assert_clean(d)
    finally:
        d.set_chain([{"mode": {"DEL": "pass"}}])
    d.rt("StopPodSandbox", pod_sandbox_id=pod)
    assert d.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state == NOTREADY
    d.rt("RemovePodSandbox", pod_sandbox_id=pod)
    d.set_chain([])
    assert_all_gone(d)
    assert ipam_ips(d) == []


# ---- 3. the registry closes the connection in the middle of a layer ----

def layout_image(layout, tag):
    """(manifest media type, manifest bytes, {digest: bytes}, [layer digests]) of
    tag in an OCI layout."""
    def blob(digest):
        with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
            return f.read()
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    desc = next(m for m in index["manifests"]
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    body = blob(desc["digest"])
    m = json.loads(body)
    blobs = {m["config"]["digest"]: blob(m["config"]["digest"])}
    for l in m["layers"]:
        blobs[l["digest"]] = blob(l["digest"])
    return desc["mediaType"], body, blobs, [l["digest"] for l in m["layers"]]


def image_store(root):
    """What is in an image store, by kind."""
    return {
        "partials": [f for f in ls(os.path.join(root, "ingest")) if f.endswith(".partial")],
        "tmp": [f for f in ls(os.path.join(root, "layers")) if f.startswith(".tmp-")],
        "layers": [f for f in ls(os.path.join(root, "layers")) if not f.startswith(".")],
        "blobs": ls(os.path.join(root, "blobs", "sha256")),
    }


def image_rows(root):
    db = os.path.join(root, "images.db")
    if not os.path.exists(db):
        return ""
    return subprocess.run(["sqlite3", db, "SELECT id FROM images; SELECT name FROM tags"], capture_output=True,
                          text=True, check=True).stdout


def tiny_config(layer_tar):
    return json.dumps({"architecture": images.go_arch(), "os": "linux", "config": {"Cmd": ["true"]},
                       "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]}}).encode()


@pytest.fixture
def cutting_registry(cri_registry):
    """pxt/busybox:1 whose layer is cut halfway at every GET, and a whole pxt/busybox:tiny."""
    mt, body, blobs, layers = layout_image(cri_registry.layout, images.go_arch())
    reg = FakeRegistry("pxt/busybox", manifests={"1": (mt, body), sha256(body): (mt, body)}, blobs=blobs,
                       modes={layers[0]: "cut"})
    tiny = images.tar_bytes([{"name": "hello", "data": "hello\n"}])
    reg.add_image("tiny", tiny_config(tiny), [tiny])
    reg.layer = layers[0]
    yield reg
    reg.stop()


def test_registry_cuts_the_layer(cri_registry, cutting_registry):
    regs = {r.host: {"insecure": True} for r in (cri_registry, cutting_registry)}
    d = FaultDaemon(cri_registry, extra={"image": {"registries": regs}})
    try:
        root = d.cfg["image"]["root"]
        ref = "%s/pxt/busybox:1" % cutting_registry.host
        e = rpc_error(d.img, "PullImage", image=pb().ImageSpec(image=ref))
        assert e.code() == SC.UNAVAILABLE, e.details()  # ECONNRESET: kubelet retries
        assert ref in e.details() and cutting_registry.layer in e.details(), e.details()
        assert cutting_registry.count("GET", cutting_registry.layer) >= 1
        # not listed, nothing of the layer visible, nothing unpacked
        assert len(d.img("ListImages").images) == 0
        assert not d.img("ImageStatus", image=pb().ImageSpec(image=ref)).HasField("image")
        st = image_store(root)
        assert cutting_registry.layer[7:] not in st["blobs"]
        assert st["tmp"] == [] and st["layers"] == [], st
        assert image_rows(root).strip() == ""
        # only the cut blob's .partial stays, for the retry to resume; a second
        # failure keeps no more
        assert st["partials"] == [cutting_registry.layer[7:] + ".partial"], st
        rpc_error(d.img, "PullImage", image=pb().ImageSpec(image=ref))
        assert image_store(root)["partials"] == st["partials"]
        assert_clean(d)
        # nobody retries: the prune after the next RemoveImage takes it
        tiny = "%s/pxt/busybox:tiny" % cutting_registry.host
        d.img("PullImage", image=pb().ImageSpec(image=tiny))
        d.img("RemoveImage", image=pb().ImageSpec(image=tiny))
        deadline = time.time() + 10
        while image_store(root) != {"partials": [], "tmp": [], "layers": [], "blobs": []} and time.time() < deadline:
            time.sleep(0.1)
        assert image_store(root) == {"partials": [], "tmp": [], "layers": [], "blobs": []}
        # the same image from a good registry: complete, listed, nothing partial left
        good = "%s/pxt/busybox:1" % cri_registry.host
        image_id = d.img("PullImage", image=pb().ImageSpec(image=good)).image_ref
        assert [i.id for i in d.img("ListImages").images] == [image_id]
        st = image_store(root)
        assert st["partials"] == [] and st["tmp"] == [] and len(st["layers"]) == 1, st
        assert cutting_registry.layer[7:] in st["blobs"]
    finally:
        d.cleanup()


# ---- 4. the image store on a full file system ----

def random_layer_image(work, size):
    """An OCI layout (tag "big") with one gzip layer holding size random bytes."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        ti = tarfile.TarInfo("big.bin")
        data = os.urandom(size)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    layout = os.path.join(work, "layout-%d" % size)
    images.make_raw_oci_layout(layout, [raw], tag="big")
    return layout


@pytest.fixture
def full_store():
    """An 8 MiB tmpfs for the image store."""
    path = tempfile.mkdtemp(prefix="pxt-fullstore-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "pxt-fullstore", path], check=True)
    yield path
    subprocess.run(["umount", "-l", path], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def used_kib(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


@pytest.mark.parametrize("size_mib", [12, 5], ids=["download", "unpack"])
def test_image_store_full(cri_registry, full_store, size_mib):
    """12 MiB: the layer blob does not fit; 5 MiB: it fits, its unpacked copy does not."""
    work = tempfile.mkdtemp(prefix="pxt-big-")
    big = FakeRegistry("pxt/big")
    try:
        mt, body, blobs, layers = layout_image(random_layer_image(work, size_mib << 20), "big")
        big.manifests = {"1": (mt, body), sha256(body): (mt, body)}
        big.blobs = blobs
        regs = {r.host: {"insecure": True} for r in (cri_registry, big)}
        d = FaultDaemon(cri_registry, extra={"image": {"registries": regs, "root": full_store}})
        try:
            before = used_kib(full_store)
            ref = "%s/pxt/big:1" % big.host
            e = rpc_error(d.img, "PullImage", image=pb().ImageSpec(image=ref))
            assert e.code() == SC.RESOURCE_EXHAUSTED, e.details()
            assert "No space left on device" in e.details() and ref in e.details(), e.details()
            assert d.rt("Version", deadline=5).runtime_name == "pxcri"  # still serving
            assert len(d.img("ListImages").images) == 0
            assert image_rows(full_store).strip() == ""
            # nothing half-written, and what the failed pull wrote is given back
            deadline = time.time() + 15
            while True:
                st = image_store(full_store)
                if (st["partials"], st["tmp"], st["layers"], st["blobs"]) == ([], [], [], []) or time.time() > deadline:
                    break
                time.sleep(0.2)
            assert (st["partials"], st["tmp"], st["layers"], st["blobs"]) == ([], [], [], []), st
            assert used_kib(full_store) < before + 512, (before, used_kib(full_store))
            assert_clean(d)
            # the store still works for an image that fits
            d.pull_busybox()
            assert len(d.img("ListImages").images) == 1
            # and a store that is full to the last byte still answers
            fd = os.open(os.path.join(full_store, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while os.write(fd, b"\1" * 4096):
                    pass
            except OSError:
                pass
            os.close(fd)
            assert os.statvfs(full_store).f_bavail == 0
            try:
                assert [list(i.repo_tags) for i in d.img("ListImages").images] == [[d.busybox]]
                assert d.img("ImageStatus", image=pb().ImageSpec(image=d.busybox)).image.id
                assert d.img("ImageFsInfo").image_filesystems[0].used_bytes.value > 0
                e = rpc_error(d.img, "PullImage", image=pb().ImageSpec(image=ref))
                assert e.code() == SC.RESOURCE_EXHAUSTED, e.details()
                # Removing an image writes its record's removal first: with not
                # one byte left (tmpfs; ext4 keeps blocks for root) it is refused
                # as clearly, and the image stays whole.
                e = rpc_error(d.img, "RemoveImage", image=pb().ImageSpec(image=d.busybox))
                assert e.code() == SC.RESOURCE_EXHAUSTED and "disk is full" in e.details(), e.details()
                assert len(d.img("ListImages").images) == 1
            finally:
                os.unlink(os.path.join(full_store, "filler"))
            pod, pcfg = d.run_pod()
            cid = d.create(pod, pcfg, d.busybox, command=["true"])
            d.rt("StartContainer", container_id=cid)
            assert d.wait_state(cid, EXITED).exit_code == 0
            assert_all_gone(d)
        finally:
            d.cleanup()
    finally:
        big.stop()
        shutil.rmtree(work, ignore_errors=True)


# ---- 5. conmon fails to start ----

@pytest.fixture
def conmon_dir():
    path = tempfile.mkdtemp(prefix="pxt-conmon-")
    for name, text in (("exits-1", "echo 'pxt-conmon: refusing to monitor anything' >&2\nexit 1\n"),
                       ("exits-0", "exit 0\n")):  # "started", but never reports a pid
        with open(os.path.join(path, name), "w") as f:
            f.write("#!/bin/sh\n" + text)
        os.chmod(os.path.join(path, name), 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("kind", ["missing", "exits-1", "exits-0"])
def test_conmon_fails_to_start(cri_registry, conmon_dir, kind):
    conmon = os.path.join(conmon_dir, kind)
    d = FaultDaemon(cri_registry, extra={"cri": {"conmon_path": conmon}})
    try:
        d.pull_busybox()
        pod, pcfg = d.run_pod()
        cid = d.create(pod, pcfg, d.busybox, command=["sleep", "1000"])
        e = rpc_error(d.rt, "StartContainer", container_id=cid)
        assert e.code() == SC.INTERNAL, e.details()  # not NOT_FOUND: the container is there
        assert cid in e.details() and "conmon" in e.details(), e.details()
        if kind == "exits-1":
            assert "exit code 1" in e.details() and "refusing to monitor" in e.details(), e.details()
        elif kind == "exits-0":
            assert "conmon exited without reporting" in e.details(), e.details()
        else:
            assert conmon in e.details() and "No such file" in e.details(), e.details()
        st = d.status(cid)
        assert st.state in (CREATED, EXITED), st
        assert leftovers(d) == []  # nothing of the start stays (the bundle is the container's)
        d.rt("RemoveContainer", container_id=cid)
        assert cid not in [c.id for c in d.rt("ListContainers").containers]
        assert_clean(d)
        assert ls(os.path.join(d.dir, "state", "containers")) == []
        assert_all_gone(d)
    finally:
        d.cleanup()


# ---- 6. the runtime fails at start ----

@pytest.mark.parametrize("handler", ["crun", "runc"])
@pytest.mark.parametrize("case", ["command-not-found", "cwd-is-a-file"])
def test_runtime_fails_at_start(cni_daemon, case, handler):
    d = cni_daemon
    d.pull_busybox()
    pod, pcfg = d.run_pod(handler=handler)
    if case == "command-not-found":
        cid = d.create(pod, pcfg, d.busybox, command=["/no/such/pxt-binary"])
        want = "/no/such/pxt-binary"
    else:
        cid = d.create(pod, pcfg, d.busybox, command=["true"], working_dir="/bin/busybox")
        want = "/bin/busybox"
    e = rpc_error(d.rt, "StartContainer", container_id=cid)
    assert e.code() in (SC.INTERNAL, SC.NOT_FOUND, SC.INVALID_ARGUMENT), e.details()
    assert cid in e.details() and want in e.details(), e.details()
    st = d.status(cid)
    assert st.state in (CREATED, EXITED), st
    # kubelet removes it and tries again: nothing of the failed start stays
    d.rt("RemoveContainer", container_id=cid)
    assert_clean(d)
    assert ls(os.path.join(d.dir, "state", "containers")) == []
    # the pod is fine: a good container starts in it
    ok = d.create(pod, pcfg, d.busybox, command=["true"])
    d.rt("StartContainer", container_id=ok)
    assert d.wait_state(ok, EXITED).exit_code == 0
    assert_all_gone(d)


# ---- 7. a pod's log directory that cannot be written ----

@pytest.fixture
def log_dir():
    """A pod log directory, and a function that turns it read-only (a
    read-only bind mount of itself)."""
    path = tempfile.mkdtemp(prefix="pxt-rologs-")

    def make_read_only():
        subprocess.run(["mount", "--bind", path, path], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", path], check=True)
    yield path, make_read_only
    subprocess.run(["umount", "-l", path], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("when", ["before-create", "before-start"])
def test_log_directory_read_only(cni_daemon, log_dir, when):
    d = cni_daemon
    path, make_read_only = log_dir
    d.pull_busybox()
    pod, pcfg = d.run_pod(log_directory=path)
    cid = None
    if when == "before-create":
        make_read_only()
        e = rpc_error(d.create, pod, pcfg, d.busybox, command=["true"], log_path="c.log")
        assert len(d.rt("ListContainers").containers) == 0
    else:
        cid = d.create(pod, pcfg, d.busybox, command=["true"], log_path="c.log")
        make_read_only()
        e = rpc_error(d.rt, "StartContainer", container_id=cid)
        assert cid in e.details()
    assert e.code() == SC.INTERNAL, e.details()
    assert "Log directory %s cannot be written: Read-only file system" % path in e.details(), e.details()
    if cid:
        assert d.status(cid).state == CREATED  # nothing ran: kubelet may start it again or remove it
        d.rt("RemoveContainer", container_id=cid)
    assert_clean(d)
    assert os.listdir(path) == []
    assert_all_gone(d)


def test_log_directory_under_a_file(cni_daemon):
    d = cni_daemon
    d.pull_busybox()
    blocker = os.path.join(d.dir, "not-a-dir")
    with open(blocker, "w") as f:
        f.write("x")
    # the pod's own directory: RunPodSandbox makes it, and says which
    e = rpc_error(d.run_pod, log_directory=os.path.join(blocker, "logs"))
    assert e.code() == SC.FAILED_PRECONDITION, e.details()  # ENOTDIR
    assert os.path.join(blocker, "logs") in e.details() and "Not a directory" in e.details(), e.details()
    assert len(d.rt("ListPodSandbox").items) == 0
    assert_clean(d)
    # a container's log path below a file in a good pod directory
    pod, pcfg = d.run_pod()
    os.makedirs(pcfg.log_directory, exist_ok=True)
    with open(os.path.join(pcfg.log_directory, "sub"), "w") as f:
        f.write("x")
    e = rpc_error(d.create, pod, pcfg, d.busybox, command=["true"], log_path="sub/c.log")
    assert e.code() == SC.FAILED_PRECONDITION, e.details()
    assert os.path.join(pcfg.log_directory, "sub") + " exists and is not a directory" in e.details(), e.details()
    assert len(d.rt("ListContainers").containers) == 0
    assert_clean(d)
    os.unlink(blocker)
    assert_all_gone(d)


# ---- 8. the client's deadline passes halfway ----

def settled_one_way(d, listed, remove):
    """After a cancelled call: the object is fully there (listed, and then
    removable) or fully gone; either way nothing else stays."""
    assert_clean(d)
    if listed():
        remove()
        assert_clean(d)


def test_deadline_during_run_pod_sandbox(cni_daemon):
    d = cni_daemon
    d.set_chain([{"mode": {"ADD": "sleep:1.5"}}])
    try:
        cfg = d.pod_config()
        e = rpc_error(d.rt, "RunPodSandbox", config=cfg, deadline=0.5)
        assert e.code() == SC.DEADLINE_EXCEEDED, e.details()
        # the ADD finishes after the deadline, and pxcrid undoes it (DEL)
        pod = [c[1] for c in d.plugin_calls() if c[0] == "ADD"][-1]
        deadline = time.time() + 20
        while ["DEL", pod] not in d.plugin_calls() and time.time() < deadline:
            time.sleep(0.1)
        assert ["DEL", pod] in d.plugin_calls()
    finally:
        d.set_chain([])
    names = lambda: [p for p in d.rt("ListPodSandbox").items if p.metadata.name == cfg.metadata.name]
    assert_clean(d)
    assert names() == []  # nobody learnt of it: undone, as containerd does
    assert ipam_ips(d) == []
    # the same pod again (kubelet retries): no conflict with the cancelled one
    pid, _ = d.run_pod(cfg)
    assert d.rt("PodSandboxStatus", pod_sandbox_id=pid).status.state == READY
    assert_all_gone(d)


def test_deadline_during_pull_image(cri_registry):
    slow = FakeRegistry("pxt/busybox")
    mt, body, blobs, layers = layout_image(cri_registry.layout, images.go_arch())
    slow.manifests = {"1": (mt, body), sha256(body): (mt, body)}
    slow.blobs = blobs
    slow.modes = {layers[0]: "slow"}
    regs = {r.host: {"insecure": True} for r in (cri_registry, slow)}
    d = FaultDaemon(cri_registry, extra={"image": {"registries": regs}})
    try:
        root = d.cfg["image"]["root"]
        ref = "%s/pxt/busybox:1" % slow.host
        e = rpc_error(d.img, "PullImage", image=pb().ImageSpec(image=ref), deadline=0.4)
        assert e.code() == SC.DEADLINE_EXCEEDED, e.details()
        # the pull goes on (as containerd's): then the image is complete and listed
        deadline = time.time() + 20
        while not d.img("ListImages").images and time.time() < deadline:
            time.sleep(0.1)
        assert [list(i.repo_tags) for i in d.img("ListImages").images] == [[ref]]
        st = image_store(root)
        assert st["partials"] == [] and st["tmp"] == [], st
        assert_clean(d)
        d.img("RemoveImage", image=pb().ImageSpec(image=ref))
        assert len(d.img("ListImages").images) == 0
    finally:
        d.cleanup()
        slow.stop()


@pytest.fixture
def slow_conmon():
    path = tempfile.mkdtemp(prefix="pxt-slowconmon-")
    with open(os.path.join(path, "conmon"), "w") as f:
        f.write("#!/bin/sh\nsleep 1.5\nexec /usr/bin/conmon \"$@\"\n")
    os.chmod(os.path.join(path, "conmon"), 0o755)
    yield os.path.join(path, "conmon")
    shutil.rmtree(path, ignore_errors=True)


def test_deadline_during_start_container(cri_registry, slow_conmon):
    d = FaultDaemon(cri_registry, extra={"cri": {"conmon_path": slow_conmon}})
    try:
        d.pull_busybox()
        pod, pcfg = d.run_pod()
        cid = d.create(pod, pcfg, d.busybox, command=["sleep", "1000"])
        e = rpc_error(d.rt, "StartContainer", container_id=cid, deadline=0.5)
        assert e.code() == SC.DEADLINE_EXCEEDED, e.details()
        # the start finishes after the deadline: the container is running and
        # says so (kubelet sees it in its next list), or it is still created
        deadline = time.time() + 15
        while d.status(cid).state == CREATED and time.time() < deadline:
            time.sleep(0.1)
        st = d.status(cid)
        assert st.state == RUNNING, st
        assert_clean(d)
        r = d.rt("ExecSync", container_id=cid, cmd=["echo", "alive"], timeout=10)
        assert r.stdout == b"alive\n"
        d.rt("RemoveContainer", container_id=cid)
        assert_all_gone(d)
    finally:
        d.cleanup()


def test_deadline_during_create_container(cni_daemon):
    """A create whose answer nobody gets is undone (as containerd does)."""
    d = cni_daemon
    d.pull_busybox()
    pod, pcfg = d.run_pod()
    cfg = d.ctr_config(d.busybox, command=["true"])
    try:
        d.rt("CreateContainer", pod_sandbox_id=pod, config=cfg, sandbox_config=pcfg, deadline=0.001)
    except grpc.RpcError as e:
        assert e.code() == SC.DEADLINE_EXCEEDED, e.details()
    time.sleep(0.5)
    names = lambda: [c for c in d.rt("ListContainers").containers if c.metadata.name == cfg.metadata.name]
    settled_one_way(d, names, lambda: d.rt("RemoveContainer", container_id=names()[0].id))
    assert_all_gone(d)
