"""src/monitor/: containers under conmon with pxcri as the runtime, driven
through the monitor API (build-dir tests/unit/monitor/monitor_tool prints
each call's result as JSON): create/start, the CRI log, exit codes, stop
with escalation, exec-sync with its timeout, log reopening, failed creates,
cgroup stats; crun and runc backends."""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import PXCRI, unique

if shutil.which("conmon") is None:
    pytest.skip("conmon is not installed", allow_module_level=True)

TOOL = os.path.join(os.path.dirname(PXCRI), "tests", "unit", "monitor", "monitor_tool")
LOG_LINE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d (stdout|stderr) ([PF]) (.*)$"


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def log_lines(path):
    import re
    with open(path) as f:
        ms = [re.match(LOG_LINE, line.rstrip("\n")) for line in f]
    assert all(ms), "not CRI log lines"
    return [(m.group(1), m.group(3)) for m in ms]


class Mon:
    """One monitor_config (state dir, pxcri root, config) over the tool."""

    def __init__(self, px, workdir, backend):
        self.state = os.path.join(workdir, "mon")
        self.px = px
        self.px.write_config({"container_config": {"default_container_type": backend}})
        self.ids = []

    def __call__(self, *args, ok=True, timeout=60):
        res = subprocess.run([TOOL, self.state, PXCRI, self.px.root, self.px.config] +
                             [str(a) for a in args], capture_output=True, text=True,
                             timeout=timeout)
        out = json.loads(res.stdout)
        if ok:
            assert res.returncode == 0 and "error" not in out, out
        return out

    def create(self, bundle, cid=None):
        cid = cid or unique()
        self.ids.append(cid)
        log = os.path.join(os.path.dirname(bundle), cid + ".log")
        with open(os.path.join(bundle, "config.json")) as f:
            cfg = json.load(f)
        cfg["linux"]["cgroupsPath"] = "/pxt-monitor/" + cid
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        out = self("create", cid, bundle, log)
        return cid, log, out

    def run(self, bundle):
        cid, log, out = self.create(bundle)
        self("start", cid)
        return cid, log

    def cleanup(self):
        for cid in self.ids:
            self.px("kill", cid, "KILL")
            self.px("delete", "--force", cid)
            for d in os.listdir("/sys/fs/cgroup"):
                p = os.path.join("/sys/fs/cgroup", d, "pxt-monitor", cid)
                if os.path.isdir(p):
                    try:
                        os.rmdir(p)
                    except OSError:
                        pass


@pytest.fixture(scope="module", autouse=True)
def parent_cgroups():
    yield
    for d in os.listdir("/sys/fs/cgroup"):
        p = os.path.join("/sys/fs/cgroup", d, "pxt-monitor")
        if os.path.isdir(p) and not os.path.islink(os.path.join("/sys/fs/cgroup", d)):
            try:
                os.rmdir(p)
            except OSError:
                pass


@pytest.fixture(params=["crun", "runc"])
def mon(request, px, workdir):
    m = Mon(px, workdir, request.param)
    yield m
    m.cleanup()


def test_create_start_log_and_exit_code(mon, bundle):
    b = bundle(["sh", "-c", "echo out-line; echo err-line >&2; exit 3"])
    cid, log, created = mon.create(b)
    st = mon("state", cid)["state"]
    assert st["status"] == "created" and st["pid"] == created["pid"]
    os.kill(created["pid"], 0)
    assert mon("alive", b)["alive"] is True
    assert mon("exit", cid, ok=False)["errno"] == 2  # not yet
    mon("start", cid)
    wait_for(lambda: "exit" in mon("exit", cid, ok=False), what="the exit file")
    ex = mon("exit", cid)["exit"]
    assert ex["code"] == 3 and not ex["oom_killed"]
    assert abs(ex["at_ns"] / 1e9 - time.time()) < 60
    assert sorted(log_lines(log)) == [("stderr", "err-line"), ("stdout", "out-line")]
    wait_for(lambda: not mon("alive", b)["alive"], what="conmon to exit")
    mon("delete", cid)
    assert mon("state", cid, ok=False)["errno"] == 2


def test_stop_escalates_to_kill(mon, bundle):
    # sleep as pid 1 ignores SIGTERM: stop waits its timeout, then SIGKILLs.
    cid, _ = mon.run(bundle(["sleep", "1000"]))
    t0 = time.time()
    ex = mon("stop", cid, 15, 1)["exit"]
    assert ex["code"] == 137
    assert 0.9 < time.time() - t0 < 12
    # Stopping again: already exited, same answer.
    assert mon("stop", cid, 15, 1)["exit"]["code"] == 137


def test_stop_with_trap_exits_cleanly(mon, bundle):
    cid, log = mon.run(bundle(["sh", "-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"]))
    wait_for(lambda: os.path.exists(log) and ("stdout", "ready") in log_lines(log), what="ready")
    t0 = time.time()
    assert mon("stop", cid, 15, 30)["exit"]["code"] == 0
    assert time.time() - t0 < 10


def test_stop_of_unknown_container_is_success(mon):
    assert mon("stop", "pxt-never-there", 15, 1)["exit"]["code"] == -1


def test_exec_sync_output_and_timeout(mon, bundle):
    cid, _ = mon.run(bundle(["sleep", "1000"]))
    out = mon("exec", cid, 10, 0, "sh", "-c", "echo hi; echo there >&2; exit 7")
    assert (out["exit_code"], out["out"], out["err"]) == (7, "hi\n", "there\n")
    # max_output caps what is kept, the rest is drained.
    out = mon("exec", cid, 10, 100, "sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; echo done >&2")
    assert (out["exit_code"], out["out"], out["err"]) == (0, "x" * 100, "done\n")
    t0 = time.time()
    out = mon("exec", cid, 1, 0, "sh", "-c", "echo partial; exec sleep 100", ok=False)
    assert out["errno"] == 110 and "timed out after 1 s" in out["error"]
    assert out["out"] == "partial\n"
    assert time.time() - t0 < 10
    cmds = [line.split(None, 2)[2] for line in mon("exec", cid, 10, 0, "ps")["out"].splitlines()[1:]]
    assert "sleep 100" not in cmds and "sleep 1000" in cmds
    out = mon("exec", "pxt-nope", 10, 0, "true", ok=False)
    assert out["errno"] == 2


def test_reopen_log(mon, bundle):
    b = bundle(["sh", "-c", "while :; do echo tick; sleep 0.1; done"])
    cid, log = mon.run(b)
    wait_for(lambda: os.path.exists(log) and log_lines(log), what="first lines")
    os.rename(log, log + ".1")
    mon("reopen", b)
    wait_for(lambda: os.path.exists(log) and log_lines(log), what="lines in the new log")
    assert all(line == ("stdout", "tick") for line in log_lines(log))
    mon("stop", cid, 9, 5)
    wait_for(lambda: not mon("alive", b)["alive"], what="conmon to exit")
    assert mon("reopen", b, ok=False)["errno"] == 2


def test_failed_create_reports_runtime_message(mon, bundle):
    b = bundle(["/no/such/binary"])
    cid = unique()
    mon.ids.append(cid)
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["cwd"] = "/no/such/dir"
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    out = mon("create", cid, b, os.path.join(b, "x.log"), ok=False)
    assert out["errno"] == 5 and cid in out["error"]
    assert "no/such" in out["error"], out["error"]
    assert mon.px("state", cid).returncode == 1
    assert mon.px("list", "-q").stdout.split() == []


def test_stats_of_running_container(mon, bundle):
    b = bundle(["sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo busy; sleep 1000"])
    cid, log = mon.run(b)
    wait_for(lambda: os.path.exists(log) and ("stdout", "busy") in log_lines(log), what="the busy loop")
    s = mon("stats", "/pxt-monitor/" + cid)["stats"]
    assert s["cpu_usage_ns"] > 10_000_000
    assert s["memory_usage"] > 0 and s["memory_working_set"] > 0
    assert s["pids"] >= 1
    assert mon("stats", "/pxt-monitor/pxt-gone", ok=False)["errno"] == 2
