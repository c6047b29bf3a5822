"""The Proxmox client (src/backend/proxmox/) through both transports against
the double (tests/proxmox/): the REST API over HTTPS, and the fake pct.

Drives build/tests/unit/proxmox/pve-client (PXCRI_PVE_CLIENT overrides the
path).  The double runs under /usr/bin/python3 with a self-signed certificate
made here with the openssl CLI; it is stopped by PID at the end."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from pve_env import FAKE_PCT, REPO, TOKEN, TOKEN_RO, Double, api, free_port, make_cert  # noqa: F401

TOOL = os.environ.get("PXCRI_PVE_CLIENT", os.path.join(REPO, "build", "tests", "unit", "proxmox", "pve-client"))
LO, HI = 1000, 1099
TEMPLATE = "ostemplate=local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
NET0 = "net0=name=eth0,bridge=vmbr0,ip=dhcp"
DEFAULT_FAULTS = {"task_delay": 0.1, "fail_task": None, "taken": [], "down": False}

pytestmark = pytest.mark.skipif(not os.path.exists(TOOL), reason="pve-client is not built")


def install_template(state, name=TEMPLATE.split("/", 1)[1]):
    """The double's containers are real LXC: its `local` storage gets a tiny
    template (busybox-static; /sbin/init sleeps) under the name the tests use."""
    root = tempfile.mkdtemp(prefix="pxt-tmpl-")
    try:
        for sub in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp"):
            os.mkdir(os.path.join(root, sub))
        shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for applet in ("sh", "sleep"):
            os.symlink("busybox", os.path.join(root, "bin", applet))
        with open(os.path.join(root, "sbin", "init"), "w") as f:
            f.write("#!/bin/sh\nexec sleep 3600\n")
        os.chmod(os.path.join(root, "sbin", "init"), 0o755)
        subprocess.run(["tar", "--zstd", "--numeric-owner", "-cf",
                        os.path.join(state, "storage", "local", "template", "cache", name), "-C", root, "."],
                       check=True)
    finally:
        shutil.rmtree(root)


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="pxt-pve-")
    cert, key, fp = make_cert(d, "pve")
    _, _, other_fp = make_cert(d, "other")
    dbl = Double(d, cert, key, token_ro=TOKEN_RO)
    install_template(dbl.state)
    bindir = os.path.join(d, "bin")
    os.mkdir(bindir)
    os.symlink(FAKE_PCT, os.path.join(bindir, "pct"))
    for name, tok in (("token", TOKEN), ("token-ro", TOKEN_RO), ("token-bad", "root@pam!pxcri=wrong")):
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(tok + "\n")
        os.chmod(path, 0o600)
    e = {"dir": d, "cert": cert, "fp": fp, "other_fp": other_fp, "double": dbl, "pct": os.path.join(bindir, "pct")}
    try:
        yield e
    finally:
        dbl.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def reset(env):
    env["double"].control(**DEFAULT_FAULTS)


def api_cfg(env, **over):
    p = {"transport": "api", "hosts": [env["double"].host], "token_file": os.path.join(env["dir"], "token"),
         "tls": {"ca_file": env["cert"]}, "vmid_range": [LO, HI], "timeout": 10}
    p.update(over)
    return p


def pct_cfg(env, **over):
    p = {"transport": "pct", "pct_path": env["pct"], "vmid_range": [LO, HI], "timeout": 10}
    p.update(over)
    return p


def run(env, proxmox, *args, task_timeout_ms=20000):
    cfg = os.path.join(env["dir"], "config.json")
    with open(cfg, "w") as f:
        json.dump({"backends": {"proxmox": proxmox}}, f)
    environ = dict(os.environ, PVE_DOUBLE_STATE=env["double"].state)
    return subprocess.run([TOOL, "--config", cfg, "--task-timeout-ms", str(task_timeout_ms)] + list(args),
                          capture_output=True, text=True, timeout=60, env=environ)


def facts(out):
    return [tuple(line.split(" ", 1)) for line in out.splitlines() if " " in line]


def ok(res):
    assert res.returncode == 0, res.stderr
    return res


TRANSPORTS = [api_cfg, pct_cfg]


@pytest.mark.parametrize("cfg", TRANSPORTS, ids=["api", "pct"])
def test_lifecycle(env, cfg):
    res = ok(run(env, cfg(env), "lifecycle", TEMPLATE, NET0, "rootfs=local-zfs:4", "hostname=pxt1", "memory=256"))
    f = facts(res.stdout)
    vmid = int(dict(f)["vmid"])
    assert LO <= vmid <= HI
    assert [v for k, v in f if k == "status"] == ["stopped", "running", "stopped"]
    assert ("name", "pxt1") in f and ("lifecycle", "ok") in f
    upids = [v for k, v in f if k == "upid"]
    if cfg is api_cfg:  # create, start, stop, destroy: each a task polled to its end
        assert len(upids) == 4 and all(u.startswith("UPID:pve1:") for u in upids)
    else:
        assert upids == []  # pct waits for its tasks itself
    res = run(env, cfg(env), "status", str(vmid))
    assert res.returncode == 1 and "does not exist" in res.stderr


@pytest.mark.parametrize("cfg", TRANSPORTS, ids=["api", "pct"])
def test_config_get_set(env, cfg):
    vmid = dict(facts(ok(run(env, cfg(env), "create", TEMPLATE, "hostname=cfg1")).stdout))["vmid"]
    ok(run(env, cfg(env), "set", vmid, "memory=1024", "cores=2"))
    conf = json.loads(dict(facts(ok(run(env, cfg(env), "config", vmid)).stdout))["config"])
    assert str(conf["memory"]) == "1024" and str(conf["cores"]) == "2" and conf["hostname"] == "cfg1"
    res = run(env, cfg(env), "set", vmid, "memory=lots")
    assert res.returncode == 1 and "memory" in res.stderr and "integer" in res.stderr
    ok(run(env, cfg(env), "destroy", vmid))


def test_failover_to_second_host(env):
    hosts = ["127.0.0.1:%d" % free_port(), env["double"].host]
    res = ok(run(env, api_cfg(env, hosts=hosts), "lifecycle", TEMPLATE))
    assert "lifecycle ok" in res.stdout


def test_failover_past_host_that_drops_connections(env):
    d = env["dir"]
    cert = env["cert"]
    dead = Double(d, cert, cert.replace(".pem", "-key.pem"), name="dead")
    try:
        dead.control(down=True)
        res = ok(run(env, api_cfg(env, hosts=[dead.host, env["double"].host]), "version"))
        assert "version 9.1.1" in res.stdout
    finally:
        dead.stop()


def test_failover_past_hung_host_is_remembered(env):
    # The first host takes connections and never answers; with node set the
    # first request is the create POST, which moves on because it was never sent.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        hosts = ["127.0.0.1:%d" % s.getsockname()[1], env["double"].host]
        t0 = time.monotonic()
        res = ok(run(env, api_cfg(env, hosts=hosts, timeout=1, node="pve1"), "lifecycle", TEMPLATE))
        assert "lifecycle ok" in res.stdout
        # ~12 requests of 1 s timeout each: had every request tried the hung
        # host first this would take 12 s or more (a wide margin for load).
        assert time.monotonic() - t0 < 9
    finally:
        s.close()


def test_post_not_resent_after_dropped_connection(env):
    # The first host read the create and dropped the connection: it may have
    # acted on it, so the create is not sent to the second host.
    d = env["dir"]
    dead = Double(d, env["cert"], env["cert"].replace(".pem", "-key.pem"), name="dead2")
    try:
        dead.control(down=True)
        cfg = api_cfg(env, hosts=[dead.host, env["double"].host], node="pve1")
        res = run(env, cfg, "create", "--vmid", "1098", TEMPLATE)
        assert res.returncode == 1 and "POST /nodes/pve1/lxc" in res.stderr and dead.host in res.stderr
        assert env["double"].host not in res.stderr
        assert "does not exist" in run(env, api_cfg(env), "status", "1098").stderr
    finally:
        dead.stop()


def test_all_hosts_down(env):
    hosts = ["127.0.0.1:%d" % free_port(), "127.0.0.1:%d" % free_port()]
    res = run(env, api_cfg(env, hosts=hosts), "version")
    assert res.returncode == 1
    assert "no Proxmox API host answered" in res.stderr
    assert hosts[0] in res.stderr and hosts[1] in res.stderr and "connect" in res.stderr.lower()


def test_request_timeout(env):
    # A host that takes the connection and never answers.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        host = "127.0.0.1:%d" % s.getsockname()[1]
        t0 = time.monotonic()
        res = run(env, api_cfg(env, hosts=[host], timeout=1), "version")
        assert res.returncode == 1 and "no answer within 1000 ms" in res.stderr
        assert time.monotonic() - t0 < 10
    finally:
        s.close()


def test_wrong_token(env):
    res = run(env, api_cfg(env, token_file=os.path.join(env["dir"], "token-bad")), "version")
    assert res.returncode == 1
    assert "HTTP 401" in res.stderr and "authentication failed" in res.stderr
    assert "wrong" not in res.stderr  # the secret is never shown


def test_missing_privilege(env):
    res = run(env, api_cfg(env, token_file=os.path.join(env["dir"], "token-ro")), "create", TEMPLATE)
    assert res.returncode == 1
    assert "HTTP 403 Permission check failed" in res.stderr and "VM.Allocate" in res.stderr


def test_token_file_mode_refused(env):
    path = os.path.join(env["dir"], "token-open")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(path, 0o644)
    res = run(env, api_cfg(env, token_file=path), "version")
    assert res.returncode == 1 and "mode 0644" in res.stderr and "0600" in res.stderr


def test_tls_fingerprint_pinned(env):
    res = ok(run(env, api_cfg(env, tls={"fingerprint": env["fp"]}), "version"))
    assert "version 9.1.1" in res.stdout


def test_tls_fingerprint_mismatch_refused(env):
    res = run(env, api_cfg(env, tls={"fingerprint": env["other_fp"]}), "version")
    assert res.returncode == 1
    assert "fingerprint mismatch" in res.stderr and env["fp"] in res.stderr


def test_tls_verified_by_default(env):
    res = run(env, api_cfg(env, tls={}), "version")  # system CAs do not know the double's cert
    assert res.returncode == 1 and "TLS certificate not verified" in res.stderr


def test_tls_verify_false_warns(env):
    res = ok(run(env, api_cfg(env, tls={"verify": False}), "version"))
    assert "version 9.1.1" in res.stdout and "NOT verified" in res.stderr


@pytest.mark.parametrize("cfg", TRANSPORTS, ids=["api", "pct"])
def test_failed_task(env, cfg):
    env["double"].control(fail_task="unable to create CT - no space left on device")
    res = run(env, cfg(env), "create", TEMPLATE)
    assert res.returncode == 1
    assert "no space left on device" in res.stderr
    if cfg is api_cfg:
        assert "Task UPID:pve1:" in res.stderr and "failed" in res.stderr and "log:" in res.stderr


def test_slow_task_deadline_api(env):
    env["double"].control(task_delay=30)
    t0 = time.monotonic()
    res = run(env, api_cfg(env), "create", TEMPLATE, task_timeout_ms=700)
    assert res.returncode == 1 and "still running after 700 ms" in res.stderr
    assert time.monotonic() - t0 < 15  # the task itself takes 30 s


def test_slow_task_deadline_pct(env):
    env["double"].control(task_delay=30)
    t0 = time.monotonic()
    res = run(env, pct_cfg(env, timeout=1), "create", TEMPLATE)
    assert res.returncode == 1 and "no result within 1 s" in res.stderr
    assert time.monotonic() - t0 < 15  # the task itself takes 30 s


@pytest.mark.parametrize("cfg", TRANSPORTS, ids=["api", "pct"])
def test_vmid_collision_retried(env, cfg):
    first = int(dict(facts(ok(run(env, cfg(env), "nextid")).stdout))["vmid"])
    env["double"].control(taken=[first, first + 1])  # held by "another node": invisible until create
    res = ok(run(env, cfg(env), "create", TEMPLATE))
    vmid = int(dict(facts(res.stdout))["vmid"])
    assert vmid == first + 2
    ok(run(env, cfg(env), "destroy", str(vmid)))


@pytest.mark.parametrize("cfg", TRANSPORTS, ids=["api", "pct"])
@pytest.mark.parametrize("bad,param", [("bogus=1", "bogus"), ("net0=name=eth0,bridge=vm/br0", "net0"),
                                       ("rootfs=local-lvm:4,mountoptions=exec", "rootfs"),
                                       ("features=nesting=maybe", "features")])
def test_double_validates_requests(env, cfg, bad, param):
    res = run(env, cfg(env), "create", TEMPLATE, bad)
    assert res.returncode == 1
    assert "400" in res.stderr and "Parameter verification failed" in res.stderr
    assert param + ": " in res.stderr


def test_bind_mount_needs_root_pam(env, tmp_path):
    """Proxmox lets only root@pam itself pass host paths (bind mount points):
    an API token never can, pct on the host (root@pam) can."""
    mp = "mp0=%s,mp=/.pxcri" % tmp_path
    res = run(env, api_cfg(env), "create", TEMPLATE, mp)
    assert res.returncode == 1 and "Only root can pass arbitrary filesystem paths" in res.stderr
    res = ok(run(env, pct_cfg(env), "create", TEMPLATE, mp))
    vmid = dict(facts(res.stdout))["vmid"]
    ok(run(env, pct_cfg(env), "destroy", vmid))


def test_missing_required_parameter(env):
    res = run(env, api_cfg(env), "create", "hostname=x")
    assert res.returncode == 1 and "ostemplate: property is missing" in res.stderr


def test_vmid_range_exhausted(env):
    res = run(env, api_cfg(env, vmid_range=[1099, 1099]), "create", TEMPLATE)
    vmid = dict(facts(res.stdout)).get("vmid")
    res2 = run(env, api_cfg(env, vmid_range=[1099, 1099]), "create", TEMPLATE)
    assert res2.returncode == 1 and "No free VMID" in res2.stderr
    if vmid:
        ok(run(env, api_cfg(env), "destroy", vmid))


# ---- the double itself: endpoints the client does not use yet ----

def wait_task(env, upid):
    for _ in range(100):
        st, _, ans = api(env, "GET", "/nodes/pve1/tasks/%s/status" % urllib.parse.quote(upid))
        assert st == 200
        if ans["data"]["status"] == "stopped":
            return ans["data"]["exitstatus"]
        time.sleep(0.05)
    raise AssertionError("task did not end")


def test_double_template_clone_and_storage(env):
    st, _, ans = api(env, "POST", "/nodes/pve1/lxc", {"vmid": "1090", "ostemplate": TEMPLATE.split("=", 1)[1]})
    assert st == 200 and wait_task(env, ans["data"]) == "OK"
    st, _, ans = api(env, "POST", "/nodes/pve1/lxc/1090/template")
    assert st == 200 and wait_task(env, ans["data"]) == "OK"
    st, reason, _ = api(env, "POST", "/nodes/pve1/lxc/1090/status/start")
    assert st == 500 and "is a template" in reason
    # a template on dir storage (`local`) has no linked clones: a full one
    st, reason, _ = api(env, "POST", "/nodes/pve1/lxc/1090/clone", {"newid": "1091"})
    assert st == 500 and "Linked clone feature" in reason
    st, _, ans = api(env, "POST", "/nodes/pve1/lxc/1090/clone", {"newid": "1091", "hostname": "clone1", "full": "1"})
    assert st == 200 and ":vzclone:1090:" in ans["data"] and wait_task(env, ans["data"]) == "OK"
    assert api(env, "GET", "/nodes/pve1/lxc/1091/config")[2]["data"]["hostname"] == "clone1"
    boundary = "pxtboundary"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\nvztmpl\r\n"
            "--%s\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"img.tar.zst\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\nDATA\r\n--%s--\r\n" % (boundary, boundary, boundary)).encode()
    st, _, ans = api(env, "POST", "/nodes/pve1/storage/local/upload", body=body,
                     ctype="multipart/form-data; boundary=" + boundary)
    assert st == 200 and wait_task(env, ans["data"]) == "OK"
    vols = api(env, "GET", "/nodes/pve1/storage/local/content", {"content": "vztmpl"})[2]["data"]
    assert "local:vztmpl/img.tar.zst" in [v["volid"] for v in vols]
    for vmid in ("1091", "1090"):
        st, _, ans = api(env, "DELETE", "/nodes/pve1/lxc/" + vmid)
        assert st == 200 and wait_task(env, ans["data"]) == "OK"


def test_double_auth_and_unknown_paths(env):
    st, reason, ans = api(env, "GET", "/version", token=None)
    assert st == 401 and ans["data"] is None
    st, reason, _ = api(env, "GET", "/nodes/pve1/qemu")
    assert st == 501
    st, reason, ans = api(env, "GET", "/nodes/pve1/lxc/99/status/current")
    assert st == 400 and "vmid" in ans["errors"]
    st, reason, ans = api(env, "GET", "/nodes/pve9/lxc")
    assert st == 500 and "pve9" in reason
