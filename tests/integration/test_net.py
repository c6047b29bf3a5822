"""src/net/ on the real host: namespace pinning and the CNI plugins of
/usr/lib/cni (bridge, host-local, portmap), driven through net_tool
(tests/unit/net/net_tool.c), which prints JSON.

Needs root.  Uses the bridge pxtbr0, subnet 10.233.7.0/24 and host port
38233; all of it is removed after each test.  Sets net.ipv4.ip_forward=1
(a CNI bridge host needs it; it is left on)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import PXCRI

NET_TOOL = os.environ.get("PXCRI_NET_TOOL",
                          os.path.join(os.path.dirname(PXCRI), "tests", "unit", "net", "net_tool"))
CNI_BIN = "/usr/lib/cni"
BRIDGE = "pxtbr0"
SUBNET_PREFIX = "10.233.7."
HOST_PORT = 38233

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.path.exists(os.path.join(CNI_BIN, "bridge")), reason="no CNI plugins"),
]


def tool(*args, ok=True):
    res = subprocess.run([NET_TOOL] + [str(a) for a in args], capture_output=True, text=True, timeout=120)
    out = json.loads(res.stdout) if res.stdout.strip() else {}
    if ok:
        assert res.returncode == 0, "net_tool %s: %s %s" % (" ".join(map(str, args)), res.stdout, res.stderr)
    else:
        assert res.returncode == 1, "net_tool %s succeeded: %s" % (" ".join(map(str, args)), res.stdout)
    return out


def run(*argv, check=True, timeout=30):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=timeout)


def fstype(path):
    """The file system type of the mount at exactly path, or None."""
    res = run("findmnt", "-n", "-o", "FSTYPE", "--mountpoint", path, check=False)
    return res.stdout.strip() or None if res.returncode == 0 else None


def in_ns(net, *argv, check=True):
    return run("nsenter", "--net=" + net, *argv, check=check)


def bridge_ports():
    res = run("ip", "-o", "link", "show", "master", BRIDGE, check=False)
    return [l.split(":")[1].strip().split("@")[0] for l in res.stdout.splitlines()] if res.returncode == 0 else []


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="pxt-net-")
    yield d
    # A test that failed half-way may have left pins: never rm -rf over a mount.
    for name in os.listdir(d):
        subprocess.run([NET_TOOL, "unpin", os.path.join(d, name)], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


# ---- pinning ----

def test_pin_sets_up_namespaces_and_unpin_removes_them(tmp):
    d = os.path.join(tmp, "pod1")
    host_start = open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read().strip()
    paths = tool("pin", d, "--hostname", "pxt-pod-1",
                 "--sysctl", "net.ipv4.ip_unprivileged_port_start=0",
                 "--sysctl", "kernel.shmmni=1234")
    assert paths == {k: os.path.join(d, k) for k in ("net", "ipc", "uts")}
    for k in ("net", "ipc", "uts"):
        assert fstype(paths[k]) == "nsfs", k
    assert oct(os.stat(d).st_mode & 0o777) == "0o700"

    assert run("nsenter", "--uts=" + paths["uts"], "hostname").stdout.strip() == "pxt-pod-1"
    assert run("hostname").stdout.strip() != "pxt-pod-1"
    lo = in_ns(paths["net"], "ip", "-o", "link", "show", "lo").stdout
    assert ",UP" in lo, lo
    links = in_ns(paths["net"], "ip", "-o", "link", "show").stdout.splitlines()
    assert len(links) == 1, links
    assert in_ns(paths["net"], "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout.strip() == "0"
    assert open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read().strip() == host_start
    assert run("nsenter", "--ipc=" + paths["ipc"], "cat", "/proc/sys/kernel/shmmni").stdout.strip() == "1234"
    # Namespaces of their own, not the host's.
    for k in ("net", "ipc", "uts"):
        assert os.stat(paths[k]).st_ino != os.stat("/proc/self/ns/" + k).st_ino, k

    assert tool("unpin", d) == {}
    for k in ("net", "ipc", "uts"):
        assert fstype(paths[k]) is None
    assert not os.path.exists(d)
    assert tool("unpin", d) == {}


def test_pin_only_network(tmp):
    d = os.path.join(tmp, "pod2")
    paths = tool("pin", d, "--kinds", "net")
    assert paths == {"net": os.path.join(d, "net")}
    assert sorted(os.listdir(d)) == ["net"]
    assert fstype(paths["net"]) == "nsfs"
    tool("unpin", d)
    assert not os.path.exists(d)


def test_pin_refuses_sysctl_that_is_not_namespaced(tmp):
    d = os.path.join(tmp, "pod3")
    out = tool("pin", d, "--sysctl", "kernel.pid_max=4194304", ok=False)
    assert out["error"] == "Sysctl kernel.pid_max is not namespaced"
    assert out["code"] == 22
    out = tool("pin", d, "--kinds", "net,uts", "--sysctl", "kernel.shmmax=1000", ok=False)
    assert "needs the pod's own IPC namespace" in out["error"]
    assert not os.path.exists(d)


def test_pin_failure_in_the_child_leaves_nothing(tmp):
    d = os.path.join(tmp, "pod4")
    out = tool("pin", d, "--sysctl", "net.ipv4.pxt_no_such_sysctl=1", ok=False)
    assert out["error"] == ("Pinning namespaces in %s: Setting sysctl net.ipv4.pxt_no_such_sysctl=1: "
                            "No such file or directory" % d)
    assert not os.path.exists(d)
    assert run("findmnt", "-n", "-R", tmp, check=False).stdout.strip() == ""
    # An existing pin is not overwritten.
    tool("pin", d)
    out = tool("pin", d, ok=False)
    assert out["code"] == 17 and "Creating namespace file %s/net" % d in out["error"]
    assert fstype(os.path.join(d, "net")) == "nsfs"
    tool("unpin", d)


# ---- CNI ----

class Cni:
    def __init__(self, tmp):
        self.tmp = tmp
        self.ipam = os.path.join(tmp, "ipam")
        self.conf = os.path.join(tmp, "conf")
        os.makedirs(self.conf)
        self.pods = {}  # id -> (pin dir, extra del args)
        self.write_conf({"type": "host-local", "dataDir": self.ipam,
                         "ranges": [[{"subnet": SUBNET_PREFIX + "0/24"}]],
                         "routes": [{"dst": "0.0.0.0/0"}]})

    def write_conf(self, ipam, conf=None):
        conf = conf or self.conf
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "10-pxt.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "pxtnet", "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True, "ipam": ipam},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ]}, f)
        return conf

    def pin(self, name):
        d = os.path.join(self.tmp, name)
        return tool("pin", d, "--kinds", "net")["net"]

    def add(self, cid, net, *args, conf=None, ok=True):
        self.pods[cid] = (net, args)
        return tool("add", conf or self.conf, net, cid, *args, ok=ok)

    def delete(self, cid, prev=None):
        net, args = self.pods.pop(cid)
        extra = ["--prev", prev] if prev else []
        return tool("del", self.conf, net, cid, *args, *extra)

    def cleanup(self):
        for cid in list(self.pods):
            try:
                self.delete(cid)
            except AssertionError:
                pass
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


@pytest.fixture
def cni(tmp):
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")
    c = Cni(tmp)
    yield c
    c.cleanup()


def nat_rules_for(cid):
    return [l for l in run("iptables", "-t", "nat", "-S").stdout.splitlines() if 'id: \\"%s\\"' % cid in l]


def test_cni_add_two_pods_ping_and_del(cni):
    n1, n2 = cni.pin("p1"), cni.pin("p2")
    r1 = cni.add("pxt-net-p1", n1)
    r2 = cni.add("pxt-net-p2", n2)
    ip1, ip2 = r1["ips"][0], r2["ips"][0]
    assert len(r1["ips"]) == 1 and ip1.startswith(SUBNET_PREFIX) and "/" not in ip1
    assert ip2.startswith(SUBNET_PREFIX) and ip2 != ip1
    assert json.loads(r1["json"])["cniVersion"] == "1.0.0"
    assert ip1 + "/24" in in_ns(n1, "ip", "-o", "addr", "show", "eth0").stdout
    assert len(bridge_ports()) == 2
    assert os.path.exists(os.path.join(cni.ipam, "pxtnet", ip1))

    # Pod to pod over the bridge, and pod to gateway.
    for src, dst in ((n1, ip2), (n2, ip1), (n1, SUBNET_PREFIX + "1")):
        res = None
        for _ in range(3):
            res = in_ns(src, "busybox", "ping", "-c1", "-W2", dst, check=False)
            if res.returncode == 0:
                break
        assert res.returncode == 0, res.stdout + res.stderr

    cni.delete("pxt-net-p1", prev=r1["json"])
    assert not os.path.exists(os.path.join(cni.ipam, "pxtnet", ip1))
    assert os.path.exists(os.path.join(cni.ipam, "pxtnet", ip2))
    assert len(bridge_ports()) == 1
    assert in_ns(n1, "ip", "-o", "link", "show", "eth0", check=False).returncode != 0
    # DEL again (no result, nothing there) is no error.
    cni.pods["pxt-net-p1"] = (n1, ())
    cni.delete("pxt-net-p1")


SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(8)
print("ready", flush=True)
while True:
    c, a = s.accept()
    c.sendall(b"pxt-hello\n")
    c.close()
"""


def fetch(host, port):
    import socket
    with socket.create_connection((host, port), timeout=5) as c:
        return c.recv(100)


def test_cni_portmap_reaches_listener_in_pod(cni):
    net = cni.pin("pm")
    res = cni.add("pxt-net-pm", net, "--port", "%d:8080/tcp" % HOST_PORT)
    pod_ip = res["ips"][0]
    assert nat_rules_for("pxt-net-pm"), "portmap made no DNAT rule"
    srv = subprocess.Popen(["nsenter", "--net=" + net, sys.executable, "-c", SERVER],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        assert fetch(pod_ip, 8080) == b"pxt-hello\n"
        # The host port through the bridge's address (DNAT in OUTPUT) and
        # through localhost (portmap turns on route_localnet and SNAT).
        assert fetch(SUBNET_PREFIX + "1", HOST_PORT) == b"pxt-hello\n"
        assert fetch("127.0.0.1", HOST_PORT) == b"pxt-hello\n"

        cni.delete("pxt-net-pm", prev=res["json"])
        assert nat_rules_for("pxt-net-pm") == []
        with pytest.raises(OSError):
            fetch("127.0.0.1", HOST_PORT)
    finally:
        srv.kill()
        srv.wait()


def test_cni_failing_plugin_leaves_nothing(cni):
    net = cni.pin("bad")
    bad = cni.write_conf({"type": "host-local", "dataDir": cni.ipam}, os.path.join(cni.tmp, "badconf"))
    before = bridge_ports()
    out = cni.add("pxt-net-bad", net, conf=bad, ok=False)
    assert out["error"] == ("Adding pod pxt-net-bad to CNI network pxtnet: "
                            "CNI plugin bridge failed (ADD): no IP ranges specified")
    assert out["code"] == 5
    cni.pods.pop("pxt-net-bad")
    assert bridge_ports() == before
    links = in_ns(net, "ip", "-o", "link", "show").stdout.splitlines()
    assert len(links) == 1 and ": lo:" in links[0], links
    assert nat_rules_for("pxt-net-bad") == []


def test_cni_missing_plugin_and_no_config(cni, tmp):
    net = cni.pin("miss")
    conf = os.path.join(tmp, "missconf")
    os.makedirs(conf)
    out = tool("add", conf, net, "pxt-net-miss", ok=False)
    assert out["error"] == "No CNI network configuration in %s" % conf and out["code"] == 2
    with open(os.path.join(conf, "10.conf"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "m", "type": "pxt-no-such-plugin"}, f)
    out = tool("add", conf, net, "pxt-net-miss", "--bin-dir", CNI_BIN, ok=False)
    assert "CNI plugin pxt-no-such-plugin not found" in out["error"]


def test_shipped_conflist_loads():
    conf = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "etc", "cni")
    out = tool("load", conf)
    assert out["name"] == "pxcri" and out["cniVersion"] == "1.0.0"
    assert out["plugins"] == ["bridge", "portmap"]
    with open(out["source"]) as f:
        conf = json.load(f)
    assert conf["plugins"][0]["bridge"] == "pxcri0"
    assert conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] == "10.85.0.0/16"
