"""The package on plain Debian 12 (a fresh root with systemd and man-db, as a
default install has them, and a CNI network of its own): it installs, its
programs and its unit work, and an upgrade under a running pod keeps the pod;
then remove and purge.

pxcrid runs in the root as pxcrid.service's ExecStart says (conftest.Service:
this machine's PID 1 is no systemd), its pods on a bridge of this test
(pxpkgbr0, 10.236.1.0/24).  The tests run in order on one root."""

import glob
import json
import os
import subprocess
import time

import pytest

from conftest import Root, Service, sh, unit_service
from cri_client import Client

BRIDGE = "pxpkgbr0"
IMAGE = "localhost/pkgtest/busybox:1"
CNI = {
    "cniVersion": "1.0.0", "name": "pkgtest",
    "plugins": [{"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
                          "ranges": [[{"subnet": "10.236.1.0/24"}]]}}],
}


@pytest.fixture(scope="module")
def deb_root(root_tar):
    root = Root(root_tar, "debian")
    root.state = {}
    try:
        root.apt("update")
        root.apt("install", "--no-install-recommends", "systemd", "man-db")
        os.makedirs(root.p("/etc/cni/net.d"))
        with open(root.p("/etc/cni/net.d/05-pkgtest.conflist"), "w") as f:
            json.dump(CNI, f)
        yield root
    finally:
        svc = getattr(root, "service", None)
        if svc:
            svc.stop()
        root.close()
        subprocess.run(["ip", "link", "del", BRIDGE], stderr=subprocess.DEVNULL)
        # A test that failed half-way leaves its container's (empty) cgroups.
        cid = root.state.get("cid")
        for d in glob.glob("/sys/fs/cgroup/pxcri-%s" % cid) + glob.glob("/sys/fs/cgroup/*/pxcri-%s" % cid):
            try:
                os.rmdir(d)
            except OSError:
                pass


def image_layout(root):
    """A busybox image (busybox-static, umoci) imported into the root's store."""
    work = root.p("/tmp/img")
    os.makedirs(work, exist_ok=True)
    sh(f"""set -e; cd {work}
        umoci init --layout layout; umoci new --image layout:1
        umoci unpack --image layout:1 bundle >/dev/null
        mkdir -p bundle/rootfs/bin bundle/rootfs/tmp; cp /bin/busybox bundle/rootfs/bin/busybox
        for a in sh sleep echo cat hostname; do ln -sf busybox bundle/rootfs/bin/$a; done
        umoci repack --image layout:1 bundle
        umoci config --image layout:1 --config.env PATH=/bin --config.cmd sh --os linux --architecture amd64
        rm -rf bundle""")
    root.run("pxcri-image image import --name %s /tmp/img/layout:1" % IMAGE)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_install(deb_root, debs):
    r = deb_root.apt("install", deb_root.put(debs[0]))
    assert "REMOVED" not in r.stdout, r.stdout
    out = deb_root.run("pxcri --version").stdout
    assert out.startswith("pxcri version "), out
    # The installed layout: pxcri-init in /usr/libexec/pxcri, liblxc1 from Recommends.
    assert "lxc: liblxc " in out and "(/usr/libexec/pxcri/pxcri-init)" in out, out
    assert deb_root.run("pxcrid --help").stdout.startswith("Usage: pxcrid "), out
    for page in ("pxcri", "pxcri-image", "pxcrid"):
        deb_root.run("man -w " + page)
    conffiles = deb_root.run("dpkg-query -W -f='${Conffiles}' pxcri").stdout
    assert "/etc/pxcri/config.json" in conffiles and "/etc/default/pxcrid" in conffiles, conffiles
    # The packaged configuration is read without a warning.
    r = deb_root.run("pxcri --config /etc/pxcri/config.json list 2>&1 >/dev/null")
    assert r.stdout == "", r.stdout
    for f in ("/usr/share/doc/pxcri/examples/10-pxcri-kubelet.conf", "/usr/share/doc/pxcri/README.md.gz",
              "/usr/share/doc/pxcri/install.md.gz", "/etc/systemd/system/multi-user.target.wants/pxcrid.service"):
        assert os.path.lexists(deb_root.p(f)), f
    # The host had a CNI network: none was added.
    assert os.listdir(deb_root.p("/etc/cni/net.d")) == ["05-pkgtest.conflist"]


def test_unit(deb_root):
    r = deb_root.run("systemd-analyze verify /lib/systemd/system/pxcrid.service 2>&1")
    assert r.stdout == "", r.stdout
    keys = unit_service(deb_root)
    assert keys["KillMode"] == ["process"] and keys["Restart"] == ["on-failure"], keys
    assert keys["ExecStartPost"] == ["/usr/libexec/pxcri/pxcrid-ready $MAINPID"], keys


def test_pod_runs(deb_root):
    image_layout(deb_root)
    svc = deb_root.service = Service(deb_root)
    svc.start()
    cl = Client(deb_root.p("/run/pxcri/pxcri.sock"))
    pod, cid = cl.run_pod("up1", IMAGE, ["sleep", "100000"])
    state, info = cl.container_state(cid)
    assert cl.pod_state(pod) == "SANDBOX_READY" and state == "CONTAINER_RUNNING"
    assert cl.exec_sync(cid, ["echo", "before"]) == (0, "before\n")
    deb_root.state.update(pod=pod, cid=cid, pid=json.loads(info["info"])["pid"])
    cl.close()
    # An admin's change to the configuration, which the upgrade must keep.
    path = deb_root.p("/etc/pxcri/config.json")
    with open(path) as f:
        text = f.read().replace('"log_level": "info"', '"log_level": "debug"')
    with open(path, "w") as f:
        f.write(text)


def test_upgrade_keeps_the_pod(deb_root, debs):
    """apt install of a newer package under a running pxcrid; then the service's
    restart (KillMode=process: SIGTERM to pxcrid alone) from the new binary."""
    s, svc = deb_root.state, deb_root.service
    old = svc.proc.pid
    r = deb_root.apt("install", deb_root.put(debs[1]))
    assert "Unpacking pxcri (%s) over" % sh(["dpkg-deb", "-f", debs[1], "Version"]).stdout.strip() in r.stdout, r.stdout
    # dpkg replaced the binary under the running daemon, and kept the admin's file.
    assert os.readlink("/proc/%d/exe" % old).endswith("/usr/bin/pxcrid (deleted)")
    with open(deb_root.p("/etc/pxcri/config.json")) as f:
        assert '"log_level": "debug"' in f.read()
    svc.stop()
    assert alive(s["pid"]), "the container died with pxcrid"
    new = svc.start()
    assert new != old and os.readlink("/proc/%d/exe" % new) == deb_root.p("/usr/bin/pxcrid")
    cl = Client(deb_root.p("/run/pxcri/pxcri.sock"))
    state, info = cl.container_state(s["cid"])
    assert cl.pod_state(s["pod"]) == "SANDBOX_READY" and state == "CONTAINER_RUNNING"
    assert json.loads(info["info"])["pid"] == s["pid"]
    assert cl.exec_sync(s["cid"], ["echo", "after"]) == (0, "after\n")
    cl.close()


def test_remove_keeps_state(deb_root):
    """apt remove: the service stops (here: as systemd would stop it), the state
    and the configuration stay, and so do the containers (conmon holds them)."""
    deb_root.service.stop()
    deb_root.apt("remove", "pxcri")
    assert not os.path.exists(deb_root.p("/usr/bin/pxcrid"))
    for f in ("/etc/pxcri/config.json", "/var/lib/pxcri/cri/pxcrid.db", "/var/lib/pxcri/images"):
        assert os.path.exists(deb_root.p(f)), f
    assert alive(deb_root.state["pid"])


def test_purge_keeps_state_while_containers_exist(deb_root):
    r = deb_root.apt("purge", "pxcri")
    assert "purge keeps /etc/pxcri, /var/lib/pxcri and /run/pxcri" in r.stdout, r.stdout
    with open(deb_root.p("/etc/pxcri/config.json")) as f:
        assert '"log_level": "debug"' in f.read()  # put back as it was
    assert os.path.exists(deb_root.p("/var/lib/pxcri/cri/pxcrid.db"))
    assert alive(deb_root.state["pid"])


def test_purge_after_the_pods_are_gone(deb_root, debs):
    """Install again (the kept configuration stays), remove the pod through
    pxcrid, then purge: configuration and state are gone, the admin's CNI
    network stays."""
    deb_root.apt("install", deb_root.put(debs[1]))
    svc = deb_root.service
    svc.start()
    cl = Client(deb_root.p("/run/pxcri/pxcri.sock"))
    assert cl.container_state(deb_root.state["cid"])[0] == "CONTAINER_RUNNING"
    cl.remove_all()
    assert not cl.rt("ListPodSandbox").items and not cl.rt("ListContainers").containers
    cl.close()
    svc.stop()
    for _ in range(50):
        if not alive(deb_root.state["pid"]):
            break
        time.sleep(0.1)
    assert not alive(deb_root.state["pid"])
    deb_root.apt("purge", "pxcri")
    for d in ("/etc/pxcri", "/var/lib/pxcri", "/run/pxcri", "/var/log/pxcri"):
        assert not os.path.exists(deb_root.p(d)), d
    assert os.listdir(deb_root.p("/etc/cni/net.d")) == ["05-pkgtest.conflist"]
    assert "pxcri" not in deb_root.packages()
