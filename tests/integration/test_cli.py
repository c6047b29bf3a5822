"""The pxcri CLI with real crun and runc: the runc-compatible lifecycle,
routing, and the error paths that must leave nothing behind.

Every container runs a busybox-static bundle; each test has its own --root."""

import json
import os
import shutil
import signal
import subprocess

import pytest

from conftest import PXCRI, unique, wait_status
from cri_env import PXCRID

BACKENDS = ("crun", "runc")


def backend_dirs(px, cid):
    return [b for b in BACKENDS if os.path.isdir(os.path.join(px.root, b, cid))]


# --- routing -------------------------------------------------------------

def test_default_config_routes_to_crun(px, bundle):
    cid = unique()
    px("create", "--bundle", bundle(["sleep", "100"]), cid, check=True)
    assert px.state(cid)["backend"] == "crun"
    assert backend_dirs(px, cid) == ["crun"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_runtime_flag_overrides_rules(px, bundle, backend):
    cid = unique()
    px("create", "--runtime", backend, "-b", bundle(["sleep", "100"]), cid, check=True)
    st = px.state(cid)
    assert st["backend"] == backend
    assert st["status"] == "created"
    assert backend_dirs(px, cid) == [backend]


def test_name_pattern_rule(px, bundle):
    px.write_config({"runtime": {"routing": [
        {"pattern": "^(web|api)-[0-9]+$", "runtime": "runc"},
        {"pattern": "db-*", "runtime": "crun"}]},
        "container_config": {"default_container_type": "crun"}})
    b = bundle(["sleep", "100"])
    px("create", "-b", b, "web-12", check=True)
    px("create", "-b", b, "web-x", check=True)
    px("create", "-b", b, "db-main", check=True)
    assert px.state("web-12")["backend"] == "runc"
    assert px.state("web-x")["backend"] == "crun"
    assert px.state("db-main")["backend"] == "crun"


def test_image_annotation_rule(px, bundle):
    px.write_config({"runtime": {"routing": [{"image": "db-*", "runtime": "runc"}]}})
    cid, other = unique(), unique()
    px("create", "-b", bundle(["sleep", "100"], annotations={
        "io.kubernetes.cri.image-name": "docker.io/library/db-postgres:16"}), cid, check=True)
    px("create", "-b", bundle(["sleep", "100"], annotations={
        "org.opencontainers.image.ref.name": "docker.io/library/nginx:1"}), other, check=True)
    assert px.state(cid)["backend"] == "runc"
    assert px.state(other)["backend"] == "crun"


def test_annotation_rule_and_builtin_annotation(px, bundle):
    px.write_config({"runtime": {"routing": [
        {"annotation": "tier=data*", "runtime": "runc"}]}})
    a, b, c = unique(), unique(), unique()
    px("create", "-b", bundle(["sleep", "100"], annotations={"tier": "database"}), a, check=True)
    px("create", "-b", bundle(["sleep", "100"], annotations={"pxcri.io/backend": "runc"}), b,
       check=True)
    px("create", "-b", bundle(["sleep", "100"], annotations={"tier": "web"}), c, check=True)
    assert [px.state(x)["backend"] for x in (a, b, c)] == ["runc", "runc", "crun"]
    assert px.state(a)["annotations"] == {"tier": "database"}


def test_crun_name_patterns_then_default(px, bundle):
    px.write_config({"container_config": {"crun_name_patterns": ["kube-ovn-*"],
                                          "default_container_type": "runc"}})
    b = bundle(["sleep", "100"])
    px("create", "-b", b, "kube-ovn-cni", check=True)
    px("create", "-b", b, "plain", check=True)
    assert px.state("kube-ovn-cni")["backend"] == "crun"
    assert px.state("plain")["backend"] == "runc"


def test_unavailable_backend_is_an_error_not_a_fallback(px, bundle):
    # The built-in defaults send db-* images to proxmox, which cannot run
    # here: this host has no /usr/sbin/pct.
    cid = unique()
    res = px("create", "-b", bundle(["true"], annotations={
        "io.kubernetes.cri.image-name": "db-mysql:8"}), cid)
    assert res.returncode == 1
    assert "Backend proxmox is not available" in res.stderr
    assert "pct_path /usr/sbin/pct" in res.stderr
    assert "runtime.routing[1] (image db-*)" in res.stderr
    assert px.records() == []
    assert backend_dirs(px, cid) == []


def test_missing_backend_binary_names_it(px, bundle):
    px.write_config({"backends": {"runc": {"path": "/nonexistent/runc"}}})
    res = px("create", "--runtime", "runc", "-b", bundle(["true"]), unique())
    assert res.returncode == 1
    assert "Backend runc is not available" in res.stderr
    assert "/nonexistent/runc" in res.stderr
    assert px.records() == []


# --- lifecycle -----------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_create_start_kill_delete(px, bundle, backend):
    cid = unique()
    b = bundle(["sleep", "1000"])
    px("create", "--runtime", backend, "--bundle", b, cid, check=True)
    st = px.state(cid)
    assert (st["id"], st["status"], st["backend"], st["bundle"]) == (cid, "created", backend, b)
    assert st["pid"] > 0
    px("start", cid, check=True)
    wait_status(px, cid, "running")
    px("kill", cid, "KILL", check=True)
    wait_status(px, cid, "stopped")
    px("delete", cid, check=True)
    res = px("state", cid)
    assert res.returncode == 1
    assert 'container "%s" does not exist' % cid in res.stderr
    assert px.records() == []
    assert backend_dirs(px, cid) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_passes_output_and_exit_code(px, bundle, backend):
    cid = unique()
    res = px("run", "--runtime", backend, "-b", bundle(["sh", "-c", "echo hi; echo oops >&2; exit 7"]),
             cid)
    assert res.returncode == 7
    assert res.stdout == "hi\n"
    assert "oops" in res.stderr
    assert px.records() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_detach(px, bundle, backend):
    cid = unique()
    px("run", "--runtime", backend, "-d", "-b", bundle(["sleep", "1000"]), cid, check=True)
    assert px.state(cid)["status"] == "running"
    px("kill", cid, "9", check=True)
    wait_status(px, cid, "stopped")
    px("delete", cid, check=True)
    assert px.records() == []


def test_run_forwards_signals(px, bundle):
    cid = unique()
    b = bundle(["sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; "
                            "while :; do sleep 0.05; done"])
    p = subprocess.Popen(px.argv("run", "-b", b, cid), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 42
    assert "got-term" in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_exec_output_and_exit_code(px, bundle, backend):
    cid = unique()
    px("run", "--runtime", backend, "-d", "-b", bundle(["sleep", "1000"], env=["GREETING=hey"]), cid,
       check=True)
    res = px("exec", cid, "sh", "-c", 'echo "$GREETING $(hostname)"; exit 5')
    assert res.returncode == 5
    assert res.stdout == "hey pxcri\n"
    res = px("exec", "--env", "X=1", "--cwd", "/tmp", cid, "/bin/sh", "-c", 'echo "$X $(pwd)"')
    assert res.returncode == 0
    assert res.stdout == "1 /tmp\n"


def test_exec_with_process_file(px, bundle, workdir):
    cid = unique()
    px("run", "-d", "-b", bundle(["sleep", "1000"]), cid, check=True)
    proc = os.path.join(workdir, "process.json")
    with open(proc, "w") as f:
        json.dump({"args": ["sh", "-c", "id -u; exit 4"], "cwd": "/", "env": ["PATH=/bin"],
                   "user": {"uid": 1000, "gid": 1000}}, f)
    res = px("exec", "--process", proc, cid)
    assert (res.returncode, res.stdout) == (4, "1000\n")


@pytest.mark.parametrize("backend", BACKENDS)
def test_list_merges_backends(px, bundle, backend):
    a, b = unique(), unique()
    bun = bundle(["sleep", "1000"])
    px("create", "--runtime", "crun", "-b", bun, a, check=True)
    px("create", "--runtime", "runc", "-b", bun, b, check=True)
    listed = {c["id"]: c for c in json.loads(px("list", "--format", "json", check=True).stdout)}
    assert listed[a]["backend"] == "crun" and listed[b]["backend"] == "runc"
    assert listed[a]["status"] == "created"
    assert sorted(px("list", "-q", check=True).stdout.split()) == sorted([a, b])
    table = px("list", check=True).stdout.splitlines()
    assert "BACKEND" in table[0]
    row = [line for line in table if line.startswith(a)][0]
    assert "crun" in row.split()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ps_pause_resume(px, bundle, backend):
    cid = unique()
    px("run", "--runtime", backend, "-d", "-b", bundle(["sleep", "1000"]), cid, check=True)
    pids = json.loads(px("ps", "--format", "json", cid, check=True).stdout)
    assert px.state(cid)["pid"] in pids
    px("pause", cid, check=True)
    assert px.state(cid)["status"] == "paused"
    px("resume", cid, check=True)
    assert px.state(cid)["status"] == "running"


def host_cgroup_file(pid, controller, name):
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return "/sys/fs/cgroup/%s%s/%s" % (controller, path, name)
    raise AssertionError("no %s cgroup for %d" % (controller, pid))


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_resources(px, bundle, backend):
    cid = unique()
    px("run", "--runtime", backend, "-d", "-b", bundle(["sleep", "1000"]), cid, check=True)
    pids_max = host_cgroup_file(px.state(cid)["pid"], "pids", "pids.max")
    px("update", "--resources", "-", cid, input='{"pids": {"limit": 42}}', check=True)
    with open(pids_max) as f:
        assert f.read().strip() == "42"
    px("update", "--pids-limit", "17", cid, check=True)
    with open(pids_max) as f:
        assert f.read().strip() == "17"


def test_kill_all_and_signal_names(px, bundle):
    cid = unique()
    px("run", "-d", "-b", bundle(["sh", "-c", "trap 'exit 3' USR1; while :; do sleep 0.05; done"]), cid,
       check=True)
    px("kill", cid, "SIGUSR1", check=True)
    wait_status(px, cid, "stopped")
    res = px("kill", "--all", cid, "KILL")
    assert res.returncode != 0 or px.state(cid)["status"] == "stopped"


def test_stale_record_is_replaced(px, bundle):
    """A record whose backend state vanished (crash, reboot of /run) does not
    block the ID forever: delete clears it, and so does a new create."""
    cid = unique()
    b = bundle(["sleep", "1000"])
    px("create", "-b", b, cid, check=True)
    pid = px.state(cid)["pid"]
    os.kill(pid, signal.SIGKILL)
    subprocess.run(["crun", "--root", os.path.join(px.root, "crun"), "delete", "-f", cid], check=True)
    assert px.records() == [cid + ".json"]
    px("create", "-b", b, cid, check=True)
    assert px.state(cid)["status"] == "created"
    px("delete", "--force", cid, check=True)
    assert px.records() == []


def test_state_survives_a_new_config_default(px, bundle):
    """The routing decision is recorded: changing the default later does not
    move an existing container to another backend."""
    cid = unique()
    px("create", "--runtime", "runc", "-b", bundle(["sleep", "1000"]), cid, check=True)
    px.write_config({"container_config": {"default_container_type": "crun"}})
    assert px.state(cid)["backend"] == "runc"
    px("delete", "--force", cid, check=True)
    assert backend_dirs(px, cid) == []


# --- bad input -----------------------------------------------------------

@pytest.mark.parametrize("bad", ["../evil", "a/b", "", ".hidden", "-x", "x" * 129, "a b", "a\nb"])
def test_invalid_ids_are_refused(px, bundle, workdir, bad):
    b = bundle(["true"])
    for args in (["create", "-b", b, bad], ["run", "-b", b, bad], ["state", bad], ["delete", bad],
                 ["kill", bad], ["exec", bad, "true"]):
        res = px(*args)
        assert res.returncode == 1, args
        assert "ontainer ID" in res.stderr or "Unknown option" in res.stderr, res.stderr
    assert not os.path.exists(os.path.join(workdir, "evil"))
    assert px.records() == []


def test_missing_bundle(px, workdir):
    res = px("create", "-b", os.path.join(workdir, "nope"), unique())
    assert res.returncode == 1
    assert "nope" in res.stderr and "No such file or directory" in res.stderr
    assert px.records() == []


def test_missing_and_invalid_config_json(px, bundle):
    b = bundle(["true"])
    os.unlink(os.path.join(b, "config.json"))
    res = px("create", "-b", b, unique())
    assert res.returncode == 1 and "config.json" in res.stderr
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", ')
    res = px("create", "-b", b, unique())
    assert res.returncode == 1 and "invalid JSON" in res.stderr
    assert px.records() == []
    assert not os.path.exists(os.path.join(px.root, "crun"))


def test_existing_id(px, bundle):
    cid = unique()
    b = bundle(["sleep", "1000"])
    px("create", "-b", b, cid, check=True)
    pid = px.state(cid)["pid"]
    res = px("create", "--runtime", "runc", "-b", b, cid)
    assert res.returncode == 1
    assert 'container "%s" already exists' % cid in res.stderr
    st = px.state(cid)
    assert (st["backend"], st["pid"]) == ("crun", pid)


@pytest.mark.parametrize("cmd", [["state"], ["start"], ["kill"], ["delete"], ["pause"], ["resume"],
                                 ["ps"], ["update", "--pids-limit", "5"], ["exec", "--", "{id}", "true"]])
def test_unknown_container(px, cmd):
    cid = unique()
    args = [a.replace("{id}", cid) for a in cmd]
    if "{id}" not in cmd:
        args.append(cid)
    res = px(*args)
    assert res.returncode == 1
    assert 'container "%s" does not exist' % cid in res.stderr


def test_delete_force_of_unknown_container_succeeds(px):
    res = px("delete", "--force", unique())
    assert res.returncode == 0, res.stderr


def test_config_errors_name_the_key(px, bundle):
    b = bundle(["true"])
    px.write_config({"runtime": {"routing": [{"pattern": 5, "runtime": "crun"}]}})
    res = px("run", "-b", b, unique())
    assert res.returncode == 1 and "runtime.routing[0].pattern: expected a string" in res.stderr
    px.write_config({"container_config": {"default_container_type": "docker"}})
    res = px("run", "-b", b, unique())
    assert res.returncode == 1 and 'unknown backend "docker"' in res.stderr
    px.write_config("{not json")
    res = px("run", "-b", b, unique())
    assert res.returncode == 1 and "invalid JSON at line 1" in res.stderr
    assert px.records() == []


def test_unknown_config_keys_warn(px, bundle):
    px.write_config({"runtime": {"colour": "blue"}, "extra": 1})
    res = px("run", "-b", bundle(["true"]), unique())
    assert res.returncode == 0
    assert "unknown key runtime.colour" in res.stderr
    assert "unknown key extra" in res.stderr


def test_config_from_environment(px, bundle, workdir):
    cfg = os.path.join(workdir, "env-config.json")
    with open(cfg, "w") as f:
        json.dump({"container_config": {"default_container_type": "runc"}}, f)
    cid = unique()
    env = dict(os.environ, PXCRI_CONFIG=cfg)
    px("create", "-b", bundle(["sleep", "1000"]), cid, check=True, env=env)
    assert px.state(cid)["backend"] == "runc"
    env["PXCRI_CONFIG"] = os.path.join(workdir, "missing.json")
    res = px("state", cid, env=env)
    assert res.returncode == 1 and "missing.json" in res.stderr


def test_json_log_file(px, workdir):
    log = os.path.join(workdir, "log.json")
    cid = unique()
    res = subprocess.run([PXCRI, "--root", px.root, "--log", log, "--log-format", "json", "state", cid],
                         capture_output=True, text=True)
    assert res.returncode == 1
    with open(log) as f:
        records = [json.loads(line) for line in f]
    assert records[-1]["level"] == "error"
    assert records[-1]["msg"] == 'container "%s" does not exist' % cid
    assert records[-1]["time"].endswith("Z") and "T" in records[-1]["time"]
    assert os.stat(log).st_mode & 0o777 == 0o600


def test_global_flag_forms(px, bundle):
    cid = unique()
    b = bundle(["sleep", "1000"])
    subprocess.run([PXCRI, "--root=" + px.root, "--log-format=text", "create", "--bundle=" + b, cid],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert px.state(cid)["status"] == "created"
    res = subprocess.run([PXCRI, "--bogus", "list"], capture_output=True, text=True)
    assert res.returncode == 1 and "Unknown global option --bogus" in res.stderr
    res = subprocess.run([PXCRI, "--root", px.root, "create", "--no-such-flag", cid],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "Unknown option --no-such-flag" in res.stderr
    res = subprocess.run([PXCRI, "frobnicate"], capture_output=True, text=True)
    assert res.returncode == 1 and 'Unknown command "frobnicate"' in res.stderr


def test_relative_root_is_refused(bundle):
    res = subprocess.run([PXCRI, "--root", "relative/root", "list"], capture_output=True, text=True)
    assert res.returncode == 1 and "absolute" in res.stderr


# --- spec, features, version, help ---------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_spec_writes_a_runnable_config(px, workdir, backend):
    d = os.path.join(workdir, "specdir")
    os.makedirs(d)
    px("spec", "--runtime", backend, "--bundle", d, check=True)
    with open(os.path.join(d, "config.json")) as f:
        spec = json.load(f)
    assert spec["ociVersion"].startswith("1.")
    assert spec["root"]["path"] == "rootfs"


def test_features(px):
    f = json.loads(px("features", check=True).stdout)
    assert f["ociVersionMin"].startswith("1.")
    assert f["annotations"]["io.pxcri.backend"] == "crun"
    f = json.loads(px("features", "--runtime", "runc", check=True).stdout)
    assert f["annotations"]["io.pxcri.backend"] == "runc"
    assert "hooks" in f  # runc has a features command of its own


def test_version_lists_backends(px):
    out = px("version", check=True).stdout
    assert out.startswith("pxcri version ")
    assert "crun: crun version" in out and "runc: runc version" in out
    assert "lxc: liblxc " in out
    assert "proxmox: Backend proxmox is not available" in out
    assert px("--version", check=True).stdout == out


def test_help(px):
    res = px("--help", check=True)
    for cmd in ("create", "start", "state", "kill", "delete", "list", "run", "exec", "ps", "pause",
                "resume", "update", "spec", "features", "version"):
        assert "\n  %s " % cmd in res.stdout
    res = px("exec", "--help", check=True)
    assert "--process" in res.stdout and "--tty" in res.stdout


# --- foreground run keeps no record, yet stays reachable -------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_foreground_run_is_reachable_and_killable(px, bundle, backend):
    cid = unique()
    b = bundle(["sh", "-c", "echo up; exec sleep 1000"])
    p = subprocess.Popen(px.argv("run", "--runtime", backend, "-b", b, cid), stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline() == "up\n"
        st = px.state(cid)
        assert (st["status"], st["backend"]) == ("running", backend)
        assert px.records() == []
        assert cid in px("list", "-q", check=True).stdout.split()
        px("kill", cid, "KILL", check=True)
        assert p.wait(timeout=20) == 137
    finally:
        p.kill()
    assert px("state", cid).returncode == 1
    assert backend_dirs(px, cid) == []


def test_run_of_an_existing_id_is_refused(px, bundle):
    cid = unique()
    b = bundle(["sleep", "1000"])
    px("create", "--runtime", "runc", "-b", b, cid, check=True)
    res = px("run", "-b", b, cid)
    assert res.returncode == 1
    assert 'container "%s" already exists' % cid in res.stderr
    st = px.state(cid)
    assert (st["backend"], st["status"]) == ("runc", "created")
    assert backend_dirs(px, cid) == ["runc"]


def test_run_keep_then_delete(px, bundle):
    """runc's --keep (crun 1.8 has none) leaves the stopped container: it has
    no record, and is still found, inspected and deleted through pxcri."""
    cid = unique()
    res = px("run", "--runtime", "runc", "--keep", "-b", bundle(["sh", "-c", "exit 2"]), cid)
    assert res.returncode == 2
    st = px.state(cid)
    assert (st["backend"], st["status"]) == ("runc", "stopped")
    px("delete", cid, check=True)
    assert backend_dirs(px, cid) == []


def test_runtime_binary_needs_only_libc():
    """containerd and CRI-O start pxcri for every container operation: the
    libraries of the image commands (libarchive, SQLite, libcurl) and of the
    lxc backend (liblxc) must not load at its start (docs/architecture.md)."""
    out = subprocess.run(["readelf", "-d", PXCRI], capture_output=True, text=True, check=True).stdout
    needed = sorted(line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line)
    assert needed == ["libc.so.6"]


def test_daemon_does_not_link_the_unpacker():
    """pxcrid pulls through pxcri-image: libarchive (with libxml2, ICU and
    libstdc++ behind it, 2.2 MB of resident memory) has no business in it."""
    out = subprocess.run(["readelf", "-d", PXCRID], capture_output=True, text=True, check=True).stdout
    needed = [line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]
    assert "libsqlite3.so.0" in needed and not any(n.startswith("libarchive") for n in needed), needed


# --- signals and the runtimes' errors (issue 11) ----------------------------

KILL_BACKENDS = ("crun", "runc", "lxc")


@pytest.mark.parametrize("backend", KILL_BACKENDS)
def test_kill_signals_checked_by_pxcri(px, bundle, backend):
    """Every backend refuses the same signals, before it runs (crun 1.8 alone
    exits 0 for an unknown name), and takes RTMIN+n, which crun and runc do
    not know by name."""
    cid = unique()
    b = bundle(["sh", "-c", "trap 'exit 3' 37; while :; do sleep 0.05; done"])
    px("run", "-d", "--runtime", backend, "-b", b, cid, check=True)
    for bad in ("NOSUCHSIG", "SIGNOSUCH", "0", "65", "RTMIN+31", "9x"):
        res = px("kill", cid, bad)
        assert res.returncode == 1, (bad, res.stderr)
        assert res.stderr.startswith("pxcri: Signalling container %s: Unknown signal " % cid), res.stderr
        assert bad in res.stderr and "1 to 64)\n" in res.stderr and res.stderr.count("\n") == 1, res.stderr
    assert px.state(cid)["status"] == "running"
    px("kill", cid, "sigrtmin+3", check=True)  # 34 + 3 = 37, the trap above
    wait_status(px, cid, "stopped")
    px("delete", cid, check=True)
    assert px.records() == []


@pytest.mark.parametrize("backend", KILL_BACKENDS)
def test_start_and_kill_errors_name_the_container(px, bundle, backend):
    cid = unique()
    px("run", "-d", "--runtime", backend, "-b", bundle(["sleep", "1000"]), cid, check=True)
    res = px("start", cid)
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pxcri: Starting container %s on %s: " % (cid, backend)), \
        res.stderr
    assert "running" in lines[0] or "exec.fifo" in lines[0]
    px("kill", cid, "KILL", check=True)
    wait_status(px, cid, "stopped")
    res = px("kill", cid, "TERM")
    assert res.returncode == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pxcri: Signalling container %s on %s: " % (cid, backend)), \
        res.stderr
    # runc's words, which containerd's shim reads as "already finished"
    assert "container not running" in lines[0] or "No such process" in lines[0], lines[0]
    px("delete", cid, check=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_create_error_keeps_the_runtimes_cause(px, bundle, workdir, backend):
    """A bundle without its rootfs: the runtime's own text (on stderr, which
    the container would inherit) and pxcri's line that names the container."""
    cid = unique()
    b = bundle(["true"])
    shutil.rmtree(os.path.join(b, "rootfs"))
    res = px("create", "--runtime", backend, "-b", b, cid)
    assert res.returncode == 1
    last = res.stderr.splitlines()[-1]
    assert last.startswith("pxcri: Creating container %s on %s: " % (cid, backend)), res.stderr
    assert "rootfs" in last and ("No such file" in last or "no such file" in last), res.stderr
    assert px.records() == []
    # With --log (containerd's shim, conmon) the last error record is pxcri's, with the cause.
    log = os.path.join(workdir, "create-%s.log" % backend)
    res = px("--log", log, "--log-format", "json", "create", "--runtime", backend, "-b", b, cid)
    assert res.returncode == 1
    with open(log) as f:
        records = [json.loads(l) for l in f if l.strip()]
    errors = [r["msg"] for r in records if r.get("level") == "error"]
    assert errors[-1].startswith("Creating container %s on %s: " % (cid, backend)), errors
    assert "rootfs" in errors[-1]
    assert errors[-2] in errors[-1]  # the runtime's own record, kept whole as the cause


def test_spec_into_missing_directory(px, workdir):
    missing = os.path.join(workdir, "no-such-bundle")
    res = px("spec", "--bundle", missing)
    assert res.returncode == 1
    assert res.stderr == ("pxcri: Writing the spec: bundle directory %s does not exist (create it first)\n"
                          % missing)
    assert not os.path.exists(missing)


@pytest.mark.parametrize("args,want", [
    (["create", "-x", "c1"], "pxcri: Unknown option -x (see pxcri create --help)\n"),
    (["kill", "--bogus", "c1"], "pxcri: Unknown option --bogus (see pxcri kill --help)\n"),
    (["create"], "pxcri: Usage: pxcri create [OPTIONS] <container-id> (see pxcri create --help)\n"),
    (["image", "pull", "-x"], "pxcri: Unknown option -x (see pxcri image pull --help)\n"),
])
def test_usage_errors_have_one_prefix(px, args, want):
    res = px(*args)
    assert res.returncode == 1
    assert res.stderr == want
