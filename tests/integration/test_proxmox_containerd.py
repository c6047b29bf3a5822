"""containerd drives the proxmox backend: `ctr run --runc-binary pxcri` for a
container routed to proxmox becomes a container of the Proxmox double (real
LXC), and output, exit codes, signals and exec reach ctr through the waiter
(the --pid-file process containerd's shim watches).  The private containerd
and its helpers come from test_containerd.py, the double from
test_proxmox_backend.py."""

import json
import os
import subprocess
import tempfile
import time

import pytest

import test_containerd as tc
from test_containerd import IMAGE, Containerd, _stop, _write_config
from test_proxmox_backend import proxmox_cfg, pve, user_cts  # noqa: F401 (pve: fixture)

import images


@pytest.fixture(scope="module")
def ctrd(pve):  # noqa: F811
    tmp = tempfile.mkdtemp(prefix="pxcri-ctrd-pve-")
    os.chmod(tmp, 0o711)  # unprivileged containers reach their run directory below it
    c = Containerd(tmp)
    try:
        if not tc._overlay_works(tmp):
            c.snapshotter = "native"
        cfg = proxmox_cfg(pve)
        cfg["runtime"] = {"routing": [{"pattern": "pxt-pve-*", "runtime": "proxmox"}]}
        path = os.path.join(tmp, "pxcri.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ, PXCRI_CONFIG=path, PVE_DOUBLE_STATE=pve["double"].state)
        c.env = env
        with open(c.log, "w") as log:
            c.proc = subprocess.Popen(["containerd", "--config", _write_config(tmp, c)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while c.ctr("version").returncode != 0:
            assert c.proc.poll() is None and time.monotonic() < deadline, c.log_tail()
            time.sleep(0.2)
        archive = images.make_oci_archive(os.path.join(tmp, "busybox.tar"), IMAGE)
        r = c.ctr("images", "import", "--snapshotter", c.snapshotter, archive, timeout=120)
        assert r.returncode == 0, r.stderr
        yield c
    finally:
        _stop(c)


@pytest.fixture
def cid(ctrd, pve):  # noqa: F811
    name = "pxt-pve-" + os.urandom(5).hex()
    yield name
    ctrd.remove(name)


def test_ctr_run_output_and_exit_code(ctrd, pve, cid):  # noqa: F811
    r = ctrd.ctr(*ctrd.run_args("--rm"), IMAGE, cid, "sh", "-c", "echo hello-from-proxmox; exit 7")
    assert r.returncode == 7, r.stderr + ctrd.log_tail()
    assert "hello-from-proxmox" in r.stdout.splitlines()


def test_ctr_kill_exec_and_delete(ctrd, pve, cid):  # noqa: F811
    r = ctrd.ctr(*ctrd.run_args("-d"), IMAGE, cid, "sh", "-c", "trap 'exit 42' TERM; while :; do sleep 0.1; done")
    assert r.returncode == 0, r.stderr + ctrd.log_tail()
    assert ctrd.wait_status(cid, "RUNNING") == "RUNNING", ctrd.log_tail()
    st = json.loads(subprocess.run([tc.PXCRI, "--root", ctrd.pxcri_root, "state", cid], capture_output=True,
                                   text=True, check=True, env=ctrd.env).stdout)
    assert st["backend"] == "proxmox" and st["annotations"]["pxcri.io/proxmox-vmid"] > 0
    r = ctrd.ctr("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr + ctrd.log_tail()
    r = ctrd.ctr("task", "kill", "-s", "SIGTERM", cid)
    assert r.returncode == 0, r.stderr
    assert ctrd.wait_status(cid, "STOPPED") == "STOPPED", ctrd.log_tail()
    ls = ctrd.ctr("task", "ls").stdout
    assert any(line.split()[0] == cid for line in ls.splitlines()[1:])
    ctrd.remove(cid)
    deadline = time.time() + 10
    while user_cts(pve) and time.time() < deadline:
        time.sleep(0.2)
    assert user_cts(pve) == {}
