"""The package on a Proxmox VE 8 node, in a fresh Debian 12 root holding
stand-ins (conftest.standins) that copy the package relations of lxc-pve,
pve-container, pve-manager, proxmox-ve and the kernel's busybox: installing
pxcri removes none of them, and `make deps` refuses instead of removing.

The tests run in order on one root."""

import os
import subprocess

import pytest

from conftest import REPO, Root, sh

PROXMOX = ["lxc-pve", "pve-container", "pve-manager", "proxmox-ve", "proxmox-kernel-6.8.12-9-pve-signed", "busybox"]
REPO_DIR = "/opt/pve-standins"


def publish(root, debs):
    """The stand-ins as a trusted local repository in the root, like Proxmox's."""
    d = root.p(REPO_DIR)
    os.makedirs(d, exist_ok=True)
    for deb in debs:
        root.put(deb, REPO_DIR + "/")
    sh("dpkg-scanpackages . > Packages", cwd=d)
    with open(root.p("/etc/apt/sources.list.d/pve-standins.list"), "w") as f:
        f.write("deb [trusted=yes] file:%s ./\n" % REPO_DIR)
    root.apt("update")


@pytest.fixture(scope="module")
def pve(root_tar, standins):
    root = Root(root_tar, "pve")
    try:
        publish(root, [d for name, d in standins.items() if name != "lxc-pve-dev"])
        root.apt("install", "proxmox-ve")
        yield root
    finally:
        root.close()


def deps_command():
    """What `make deps` runs: scripts/deps with the Makefile's package lists."""
    line = sh(["make", "-s", "-n", "-C", REPO, "deps"]).stdout.strip().splitlines()[-1]
    assert "./scripts/deps " in line, line
    return line.split("./scripts/deps ", 1)[1]


def run_deps(root, env):
    root.put(os.path.join(REPO, "scripts", "deps"), "/tmp/deps")
    return root.run("sh /tmp/deps " + deps_command(), check=False, env=env)


def test_standins_are_installed(pve):
    have = pve.packages()
    for p in PROXMOX:
        assert p in have, p
    # lxc-pve takes the place of Debian's lxc and liblxc1.
    assert "lxc" not in have and "liblxc1" not in have


def test_debian_lxc_would_remove_proxmox(pve):
    """The hazard the stand-ins reproduce: Debian's lxc and liblxc1 conflict with
    lxc-pve, so apt would remove it and everything above it; for lxc-dev (which
    wants exactly Debian's versions) it finds no solution at all."""
    for p in ("lxc", "liblxc1"):
        out = pve.apt("-s", "install", p).stdout
        removed = {line.split()[1] for line in out.splitlines() if line.startswith("Remv ")}
        assert {"lxc-pve", "pve-container", "pve-manager", "proxmox-ve"} <= removed, out
    r = pve.apt("-s", "install", "lxc-dev", check=False)
    assert r.returncode != 0 and "lxc-pve : Conflicts: liblxc1" in r.stdout, r.stdout


def test_install_removes_nothing(pve, debs):
    before = pve.packages()
    r = pve.apt("install", pve.put(debs[0]))
    assert "REMOVED" not in r.stdout and "DOWNGRADED" not in r.stdout, r.stdout
    after = pve.packages()
    for p, v in before.items():
        assert p in after, "%s was removed:\n%s" % (p, r.stdout)
        assert subprocess.run(["dpkg", "--compare-versions", after[p], "ge", v]).returncode == 0, p
    assert "pxcri" in after
    # Recommends: liblxc1 | lxc-pve -- satisfied by lxc-pve's Provides.
    assert "liblxc1" not in after and "lxc" not in after


def test_pxcri_runs_without_liblxc(pve):
    """liblxc is only dlopen()ed: the stand-in lxc-pve has no liblxc.so.1, and
    pxcri runs, naming the one backend it cannot use."""
    out = pve.run("pxcri --version").stdout
    assert out.startswith("pxcri version "), out
    assert "crun: crun version" in out and "liblxc.so.1" in out, out


def test_default_cni_network_where_none(pve):
    """This root had no CNI configuration: postinst installed the default."""
    with open(pve.p("/etc/cni/net.d/10-pxcri-bridge.conflist")) as a, \
            open(os.path.join(REPO, "etc", "cni", "10-pxcri-bridge.conflist")) as b:
        assert a.read() == b.read()


def test_make_deps_refuses_to_remove(pve):
    before = pve.packages()
    r = run_deps(pve, {"DEPS_DRY_RUN": "1"})
    assert r.returncode != 0, r.stdout
    assert "nothing was changed" in r.stdout
    assert "lxc-dev conflicts with installed packages; it would take the removal of: " \
        "proxmox-ve pve-manager pve-container lxc-pve" in r.stdout, r.stdout
    assert "busybox-static would remove or downgrade: busybox" in r.stdout, r.stdout
    assert "lxc-pve-dev" in r.stdout  # what to do instead
    # lxc itself is not asked for: lxc-pve provides it.
    assert "\n  lxc " not in r.stdout and "Installing:" in r.stdout and " lxc " not in r.stdout.split("Installing:")[1].splitlines()[0]
    assert pve.packages() == before


def test_make_deps_takes_lxc_pve_dev(pve, standins):
    """With Proxmox's lxc-pve-dev on offer, make deps builds against it; with
    busybox's removal accepted (busybox-static replaces it) the plan removes
    nothing else."""
    publish(pve, [standins["lxc-pve-dev"]])
    r = run_deps(pve, {"DEPS_DRY_RUN": "1", "DEPS_ALLOW_REMOVE": "busybox"})
    assert r.returncode == 0, r.stdout
    plan = r.stdout.splitlines()[-1]
    assert plan.startswith("make deps: would install:"), r.stdout
    words = plan.split(":", 2)[2].split()
    assert "lxc-pve-dev" in words and "lxc-dev" not in words and "lxc" not in words, plan


def test_purge_removes_what_it_installed(pve):
    pve.apt("purge", "pxcri")
    assert not os.path.exists(pve.p("/etc/cni/net.d/10-pxcri-bridge.conflist"))
    for d in ("/etc/pxcri", "/var/lib/pxcri"):
        assert not os.path.exists(pve.p(d)), d
    have = pve.packages()
    for p in PROXMOX:
        assert p in have, p
