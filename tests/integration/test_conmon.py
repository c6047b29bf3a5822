"""pxcri as the runtime of conmon, the monitor CRI-O uses.

conmon (Debian's 2.1.6) runs `pxcri --root R create --bundle B --pid-file P ID`,
holds the container's stdio, writes its output to the log file in the CRI
format (`<RFC3339Nano> <stdout|stderr> <P|F> <text>`) and its exit code to
<exit-dir>/<ID>; CRI-O then calls `pxcri start`.  Checked for every backend."""

import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import PXCRI, unique

if shutil.which("conmon") is None:
    pytest.skip("conmon is not installed", allow_module_level=True)

CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d (stdout|stderr) ([PF]) (.*)$")


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


@pytest.mark.parametrize("backend", ["crun", "runc", "lxc"])
def test_conmon_runs_pxcri(px, bundle, workdir, backend):
    cid = unique()
    cfg = os.path.join(workdir, "route.json")
    with open(cfg, "w") as f:
        f.write('{"container_config": {"default_container_type": "%s"}}' % backend)
    b = bundle(["sh", "-c", "echo out-line; echo err-line >&2; exit 5"])
    exit_dir = os.path.join(workdir, "exit")
    os.makedirs(exit_dir)
    log = os.path.join(workdir, "ctr.log")
    argv = ["conmon", "--sync", "--cid", cid, "--cuuid", str(uuid.uuid4()), "--name", cid,
            "--runtime", PXCRI, "--runtime-arg", "--root", "--runtime-arg", px.root,
            "--runtime-arg", "--config", "--runtime-arg", cfg,
            "--bundle", b, "--exit-dir", exit_dir, "--log-path", log,
            "--container-pidfile", os.path.join(workdir, "pid"),
            "--socket-dir-path", os.path.join(workdir, "sock")]
    os.makedirs(os.path.join(workdir, "sock"))
    mon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        px.config = cfg
        wait_for(lambda: px("state", cid).returncode == 0, what="the container to be created")
        st = px.state(cid)
        assert (st["status"], st["backend"]) == ("created", backend)
        px("start", cid, check=True)
        assert mon.wait(timeout=30) == 5  # with --sync, conmon exits with the container's code
        with open(os.path.join(exit_dir, cid)) as f:
            assert f.read().strip() == "5"
        with open(log) as f:
            lines = [CRI_LINE.match(line.rstrip("\n")) for line in f]
        assert all(lines), "not CRI log lines"
        got = sorted((m.group(1), m.group(2), m.group(3)) for m in lines)
        assert got == [("stderr", "F", "err-line"), ("stdout", "F", "out-line")]
        px("delete", cid, check=True)
        assert px("state", cid).returncode == 1
    finally:
        if mon.poll() is None:
            mon.kill()
            mon.wait()
