"""`pxcri start` of a runc container takes runc's exec fifo itself in the
plain case (src/backend/oci/runc_start.c) and leaves everything else to
`runc start`: a wrapper in front of runc logs which runc commands ran."""

import json
import os
import signal
import stat
import time

import pytest

from conftest import unique, wait_status


COMMANDS = {"create", "start", "state", "kill", "delete", "exec", "pause", "resume", "ps", "list", "features",
            "--version", "update", "run"}


@pytest.fixture
def runc_log(px, workdir):
    log = os.path.join(workdir, "runc-calls")
    wrapper = os.path.join(workdir, "runc-wrapper")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "echo \"$*\" >> %s\n"
                "exec /usr/sbin/runc \"$@\"\n" % log)
    os.chmod(wrapper, stat.S_IRWXU)
    px.write_config({"backends": {"runc": {"path": wrapper}}})

    def calls():
        if not os.path.exists(log):
            return []
        with open(log) as f:
            return [next((w for w in line.split() if w in COMMANDS), "?") for line in f]
    return calls


def edit_config(bundle_dir, fn):
    path = os.path.join(bundle_dir, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    fn(cfg)
    with open(path, "w") as f:
        json.dump(cfg, f)


def test_plain_start_needs_no_runc(px, bundle, workdir, runc_log):
    b = bundle(["sh", "-c", "echo started > /tmp/mark; sleep 1000"])
    cid = unique()
    px("create", "--runtime", "runc", "-b", b, cid, check=True)
    assert runc_log() == ["create"]
    assert px.state(cid)["status"] == "created"
    px("start", cid, check=True)
    assert "start" not in runc_log(), runc_log()
    wait_status(px, cid, "running")
    # The process really runs (it wrote its mark), and runc agrees.
    res = px("exec", cid, "cat", "/tmp/mark", check=True)
    assert res.stdout.strip() == "started"
    assert not os.path.exists(os.path.join(px.root, "runc", cid, "exec.fifo"))
    # A second start is runc's to refuse, in its words.
    res = px("start", cid)
    assert res.returncode == 1 and "already running" in res.stderr, res.stderr
    assert runc_log().count("start") == 1


def test_a_poststart_hook_goes_through_runc(px, bundle, workdir, runc_log):
    mark = os.path.join(workdir, "hook-ran")
    b = bundle(["sleep", "1000"])
    edit_config(b, lambda c: c.setdefault("hooks", {}).update(
        {"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo yes > %s" % mark]}]}))
    cid = unique()
    px("create", "--runtime", "runc", "-b", b, cid, check=True)
    px("start", cid, check=True)
    wait_status(px, cid, "running")
    deadline = time.time() + 5
    while not os.path.exists(mark) and time.time() < deadline:
        time.sleep(0.02)
    assert os.path.exists(mark)
    assert runc_log().count("start") == 1, runc_log()


def test_a_paused_container_is_refused_by_runc_not_waited_on(px, bundle, runc_log):
    cid = unique()
    px("create", "--runtime", "runc", "-b", bundle(["sleep", "1000"]), cid, check=True)
    px("pause", cid, check=True)
    res = px("start", cid, timeout=20)
    assert res.returncode == 1 and "paused" in res.stderr, res.stderr
    assert runc_log().count("start") == 1, runc_log()
    px("resume", cid, check=True)
    px("start", cid, check=True)
    wait_status(px, cid, "running")


def test_a_dead_init_is_refused_by_runc_not_waited_on(px, bundle, runc_log):
    cid = unique()
    px("create", "--runtime", "runc", "-b", bundle(["sleep", "1000"]), cid, check=True)
    os.kill(px.state(cid)["pid"], signal.SIGKILL)
    res = px("start", cid, timeout=20)
    assert res.returncode == 1 and "stopped" in res.stderr, res.stderr
    assert runc_log().count("start") == 1, runc_log()
