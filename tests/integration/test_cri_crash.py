"""Crash safety of pxcrid: `kill -9` at a random moment while many pods and
containers are being created, started, stopped and removed at once, then a
restart.  After every restart each pod and container is either fully there
(listed; its process running, or its exit code known) or fully gone, and
`leftovers()` finds nothing else of it: no conmon, mount, pinned namespace,
veth, cgroup, IP in host-local's store, row in the state database, runtime
state or directory in the state dirs.

PXCRI_CRASH_RUNS sets the number of kill/restart rounds: 3 by default (what
`make check` and CI run), 20 for the figures in docs/reliability.md, 0 to skip
(the one kill point made certain at the end runs unless 0).  PXCRI_CRASH_SEED picks the kill
points; PXCRI_CRASH_PODS sets the client threads, each with a pod of 2
containers in flight (default 25: 50 containers created and removed at once)."""

import concurrent.futures
import glob
import ipaddress
import os
import random
import re
import signal
import subprocess
import threading
import time

import grpc
import pytest

from cri_env import Daemon, cmdlines, pb

RUNS = int(os.environ.get("PXCRI_CRASH_RUNS", "3"))
if RUNS <= 0:
    pytest.skip("PXCRI_CRASH_RUNS=0: no crash rounds", allow_module_level=True)
PODS = int(os.environ.get("PXCRI_CRASH_PODS", "25"))
SEED = int(os.environ.get("PXCRI_CRASH_SEED", str(int(time.time()))))
CREATED, RUNNING, EXITED = 0, 1, 2
READY = 0
ID = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def daemon(cri_registry):
    d = Daemon(cri_registry)
    d.busybox = "%s/pxt/busybox:1" % cri_registry.host
    d.img("PullImage", image=pb().ImageSpec(image=d.busybox))
    d.seen = set()  # every container ID that ever had a bundle: for the cgroup check
    yield d
    d.cleanup()


# ---- the checker ----

def listing(d):
    """What pxcrid lists: pods {id: (state, ip)}, containers {id: (status, pod ID)}."""
    pods = {}
    for p in d.rt("ListPodSandbox", deadline=20).items:
        ip = d.rt("PodSandboxStatus", pod_sandbox_id=p.id, deadline=20).status.network.ip
        pods[p.id] = (p.state, ip)
    ctrs = {}
    for c in d.rt("ListContainers", deadline=20).containers:
        ctrs[c.id] = (d.rt("ContainerStatus", container_id=c.id, deadline=20).status, c.pod_sandbox_id)
    return pods, ctrs


def conmons(d):
    """{container ID: pid} of the conmon processes of this daemon."""
    found = {}
    for pid, argv in cmdlines().items():
        if not argv[0].endswith("conmon") or "--exit-dir" not in argv or "-c" not in argv:
            continue
        if argv[argv.index("--exit-dir") + 1].startswith(d.dir + "/"):
            found[argv[argv.index("-c") + 1]] = pid
    return found


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [l.split()[4] for l in f if l.split()[4].startswith(path + "/")]


def ids_in(path):
    return set(os.listdir(path)) if os.path.isdir(path) else set()


def ipam_ips(d):
    """{ip: owner} of host-local's store."""
    out = {}
    for f in glob.glob(os.path.join(d.dir, "ipam", "*", "*")):
        name = os.path.basename(f)
        try:
            ipaddress.ip_address(name)
        except ValueError:
            continue
        with open(f) as fh:
            out[name] = fh.read().split()[0] if os.path.getsize(f) else ""
    return out


def db_rows(d):
    out = subprocess.run(["sqlite3", os.path.join(d.dir, "state", "pxcrid.db"),
                          "SELECT kind, id FROM objects"], capture_output=True, text=True, check=True).stdout
    return {tuple(l.split("|", 1)) for l in out.splitlines() if l}


def leftovers(d):
    """Everything that is neither fully there nor fully gone, as readable lines."""
    pods, ctrs = listing(d)
    ready = {p for p, (st, _) in pods.items() if st == READY}
    bad = []
    state, run = os.path.join(d.dir, "state"), os.path.join(d.dir, "run")
    # listed objects are whole
    cm = conmons(d)
    for cid, (st, pod) in ctrs.items():
        if pod not in pods:
            bad.append("container %s of an unlisted pod %s" % (cid, pod))
        if st.state == RUNNING and cid not in cm:
            bad.append("container %s is running without a conmon" % cid)
        elif st.state == EXITED and st.finished_at <= 0:
            bad.append("container %s exited without a known exit" % cid)
        elif st.state not in (CREATED, RUNNING, EXITED):
            bad.append("container %s is in state %d" % (cid, st.state))
        in_rt = any(os.path.isdir(os.path.join(d.cfg["runtime"]["root_path"], be, cid)) for be in ("crun", "runc"))
        if st.state != EXITED and in_rt and cid not in cm:
            bad.append("container %s is in the runtime without a conmon to record its exit" % cid)
        # A removal cut short may have taken the bundle of an exited container,
        # or of a created one in a stopped pod, already: the record stays until
        # a repeated remove finishes it.
        if (st.state != EXITED and pods.get(pod, (None,))[0] == READY
                and not os.path.isdir(os.path.join(state, "containers", cid))):
            bad.append("container %s has no bundle" % cid)
    for pid, (st, ip) in pods.items():
        if st == READY and (not ip or not os.path.exists(os.path.join(run, "ns", pid, "net"))):
            bad.append("ready pod %s has no IP or no network namespace" % pid)
    # nothing else
    for cid, pid in cm.items():
        if cid not in ctrs or ctrs[cid][0].state == EXITED:
            bad.append("conmon %d of %s container %s" % (pid, "an exited" if cid in ctrs else "an unlisted", cid))
    for m in mounts_under(d.dir):
        rel = os.path.relpath(m, d.dir).split("/")
        if rel[:2] == ["state", "containers"] and rel[2] in ctrs:
            continue
        if rel[:2] in (["run", "ns"], ["state", "pods"]) and rel[2] in ready:
            continue
        bad.append("mount %s" % m)
    for p in ids_in(os.path.join(run, "ns")):
        if p not in ready and os.listdir(os.path.join(run, "ns", p)):
            bad.append("pinned namespaces of %s pod %s" % ("a stopped" if p in pods else "an unlisted", p))
        elif p not in pods:
            bad.append("namespace directory of unlisted pod %s" % p)
    veths = subprocess.run(["ip", "-o", "link", "show", "master", d.bridge], capture_output=True,
                           text=True).stdout.splitlines()
    if len(veths) > len(ready):
        bad.append("%d veths on %s for %d ready pods" % (len(veths), d.bridge, len(ready)))
    ready_ips = {pods[p][1] for p in ready}
    for ip, owner in ipam_ips(d).items():
        if ip not in ready_ips:
            bad.append("IP %s of %s in host-local's store" % (ip, owner[:12]))
    for cid in d.seen - set(ctrs):
        for cg in glob.glob("/sys/fs/cgroup/*/pxcri-%s*" % cid) + glob.glob("/sys/fs/cgroup/*/*/pxcri-%s*" % cid):
            bad.append("cgroup %s" % cg)
    for kind, oid in db_rows(d):
        if (kind == "pod" and oid not in pods) or (kind == "container" and oid not in ctrs):
            bad.append("database row %s %s" % (kind, oid))
    for cid in ids_in(os.path.join(state, "containers")) - set(ctrs):
        bad.append("bundle directory %s" % cid)
    for pid in ids_in(os.path.join(state, "pods")) - set(pods):
        bad.append("pod directory %s" % pid)
    for be in ("crun", "runc"):
        for cid in ids_in(os.path.join(d.cfg["runtime"]["root_path"], be)) - set(ctrs):
            bad.append("%s state of container %s" % (be, cid))
    return bad, pods, ctrs


def settle(d, timeout=40):
    """The orphan cleanup runs in the background after a start: poll."""
    deadline = time.time() + timeout
    while True:
        bad, pods, ctrs = leftovers(d)
        if not bad or time.time() > deadline:
            return bad, pods, ctrs
        time.sleep(0.5)


# ---- the load ----

class Crashed(Exception):
    pass


def churn(d, rng, stop, errors, i):
    """Pods with two containers each, in random stages of their life, until the kill."""
    def call(method, **kw):
        if stop.is_set():
            raise Crashed()
        try:
            return d.rt(method, deadline=60, **kw)
        except grpc.RpcError as e:
            if stop.is_set() or e.code() == grpc.StatusCode.UNAVAILABLE:
                raise Crashed()
            errors.append("%s: %s %s" % (method, e.code(), e.details()))
            raise Crashed()

    try:
        n = 0
        while True:
            cfg = d.pod_config(name="crash-%d-%d" % (i, n))
            n += 1
            pod = call("RunPodSandbox", config=cfg).pod_sandbox_id
            ids = []
            for script in ("sleep 1000", "exit 3"):
                ccfg = d.ctr_config(d.busybox, command=["sh", "-c", script])
                ids.append(call("CreateContainer", pod_sandbox_id=pod, config=ccfg,
                                sandbox_config=cfg).container_id)
                if rng.random() < 0.8:
                    call("StartContainer", container_id=ids[-1])
            r = rng.random()
            if r < 0.3:
                continue  # keep this pod
            call("StopContainer", container_id=ids[0], timeout=0)
            if r < 0.5:
                call("RemoveContainer", container_id=ids[1])
                continue
            call("StopPodSandbox", pod_sandbox_id=pod)
            if r < 0.8:
                call("RemovePodSandbox", pod_sandbox_id=pod)
    except Crashed:
        return


def log_of(d, oid):
    with open(d.log_path) as f:
        return "".join(l for l in f if oid[:12] in l)[-6000:]


def remove_all(d):
    for p in d.rt("ListPodSandbox").items:
        for attempt in range(50):
            try:
                d.rt("StopPodSandbox", pod_sandbox_id=p.id)
                d.rt("RemovePodSandbox", pod_sandbox_id=p.id)
                break
            except grpc.RpcError as e:  # busy until the adoption after the restart ran
                if "try again" not in (e.details() or "") or attempt == 49:
                    m = re.search(r"[0-9a-f]{64}", e.details() or "")
                    raise AssertionError("Removing pod %s: %s\n%s" % (p.id, e.details(),
                                                                       log_of(d, m.group(0) if m else p.id)))
                time.sleep(0.2)


def test_kill_9_during_churn_leaves_nothing_half_made(daemon):
    rng = random.Random(SEED)
    print("PXCRI_CRASH_SEED=%d PXCRI_CRASH_RUNS=%d PXCRI_CRASH_PODS=%d" % (SEED, RUNS, PODS))
    summary = []
    for rnd in range(RUNS):
        stop, errors = threading.Event(), []
        delay = rng.uniform(0.3, 4.0)
        with concurrent.futures.ThreadPoolExecutor(PODS) as ex:
            futs = [ex.submit(churn, daemon, random.Random(rng.random()), stop, errors, i) for i in range(PODS)]
            time.sleep(delay)
            daemon.seen |= ids_in(os.path.join(daemon.dir, "state", "containers"))
            stop.set()  # first: a call failing from here on is the kill's doing
            daemon.proc.send_signal(signal.SIGKILL)
            for f in futs:
                f.result()
        assert errors == [], "round %d: calls failed before the kill: %s" % (rnd, errors)
        daemon.proc.wait()
        daemon.seen |= ids_in(os.path.join(daemon.dir, "state", "containers"))
        daemon.restart()
        bad, pods, ctrs = settle(daemon)
        assert bad == [], "round %d (kill after %.2f s, seed %d): %s\n%s" % (
            rnd, delay, SEED, "\n".join(bad), daemon.log())
        # What is there works: it can be stopped and removed, and then nothing is left.
        remove_all(daemon)
        bad, pods2, ctrs2 = settle(daemon)
        assert (pods2, ctrs2) == ({}, {}) and bad == [], "round %d, after removing all: %s" % (rnd, bad)
        summary.append("round %d: kill after %.2f s, %d pods / %d containers survived, clean"
                       % (rnd, delay, len(pods), len(ctrs)))
    print("\n".join(summary))


# ---- one kill point, made certain ----

@pytest.fixture
def slow_create(tmp_path):
    """A pxcri that takes 2 s before each `create` (the runtime call conmon
    makes in StartContainer), first leaving a mark that it is in it."""
    mark = tmp_path / "in-create"
    wrapper = tmp_path / "pxcri"
    real = os.path.abspath(os.environ.get("PXCRI_BIN", "build/pxcri"))
    wrapper.write_text("#!/bin/sh\nfor a; do if [ \"$a\" = create ]; then touch '%s'; sleep 2; break; fi; done\n"
                       "exec '%s' \"$@\"\n" % (mark, real))
    wrapper.chmod(0o755)
    for helper in ("pxcri-image", "pxcri-init"):  # found next to pxcri
        if os.path.exists(os.path.join(os.path.dirname(real), helper)):
            os.symlink(os.path.join(os.path.dirname(real), helper), tmp_path / helper)
    return str(wrapper), mark


def test_kill_9_while_the_runtime_creates(cri_registry, slow_create):
    """pxcrid dies while conmon's `pxcri create` of a StartContainer runs, and
    is back before that create ends: the runtime does not know the container
    yet when the restart asks it.  The create is waited for and undone (nobody
    would start it, its conmon is gone once it reports to a dead pxcrid): the
    container stays created, with nothing of the cut start left, and starts."""
    wrapper, mark = slow_create
    d = Daemon(cri_registry, extra={"cri": {"pxcri_path": wrapper}})
    try:
        d.busybox = "%s/pxt/busybox:1" % cri_registry.host
        d.img("PullImage", image=pb().ImageSpec(image=d.busybox))
        pod, pcfg = d.run_pod()
        cid = d.create(pod, pcfg, d.busybox, command=["sleep", "1000"])
        errors = []

        def start():
            try:
                d.rt("StartContainer", container_id=cid)
            except grpc.RpcError as e:
                errors.append(e.code())
        t = threading.Thread(target=start)
        t.start()
        deadline = time.time() + 20
        while not mark.exists() and time.time() < deadline:
            time.sleep(0.02)
        assert mark.exists(), d.log()
        assert cid in conmons(d)  # the start is in conmon's runtime call
        d.proc.send_signal(signal.SIGKILL)
        t.join()
        assert errors == [grpc.StatusCode.UNAVAILABLE]
        d.proc.wait()
        d.restart()
        deadline = time.time() + 20  # the cut create ends 2 s after it began
        while any(cid in a for a in runtime_creates()) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # what conmon does once its create ended
        d.seen = {cid}
        bad, pods, ctrs = settle(d)
        assert bad == [], "\n".join(bad) + "\n" + d.log()
        assert ctrs[cid][0].state == CREATED
        assert "interrupted start" in log_of(d, cid)
        d.rt("StartContainer", container_id=cid)
        assert d.rt("ExecSync", container_id=cid, cmd=["echo", "up"], timeout=10).stdout == b"up\n"
        remove_all(d)
        bad, pods, ctrs = settle(d)
        assert (pods, ctrs, bad) == ({}, {}, [])
    finally:
        d.cleanup()


def runtime_creates():
    """The command lines of every `pxcri create` running."""
    return [" ".join(a) for a in cmdlines().values() if "create" in a and any(x.endswith("pxcri") for x in a[:2])]
