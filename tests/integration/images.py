"""Rootfs, OCI bundle and OCI image helpers for pxcri's integration tests.

Plain Python (no pytest): every integration test needs a runnable container,
and building one from /bin/busybox (busybox-static) keeps the tests free of
network access and registries.

- make_rootfs(path): minimal busybox rootfs (copied from a cached pristine one).
- make_bundle(path, args, ...): OCI bundle (rootfs + config.json modelled on
  `runc spec`'s default) that runs under both `crun run` and `runc run`.
- make_oci_archive(path, ref_name, cmd=None): OCI image archive, built with
  umoci and skopeo, that `ctr images import` turns into image `ref_name`.
"""

import json
import os
import shutil
import subprocess
import tempfile

BUSYBOX = "/bin/busybox"

# Applets the tests rely on; make_rootfs links every applet busybox reports,
# and these in any case.
REQUIRED_APPLETS = (
    "sh", "echo", "true", "false", "cat", "sleep", "id", "hostname", "ls",
    "env", "pwd", "kill", "ps", "top", "wc", "grep", "mkdir", "touch",
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "pxt:x:1000:1000:pxcri test user:/home/pxt:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = (
    "root:x:0:\n"
    "tty:x:5:\n"
    "pxt:x:1000:\n"
    "nogroup:x:65534:\n"
)

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Same as runc's default spec (runc 1.1 `runc spec`).
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
]
READONLY_PATHS = [
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]
DEFAULT_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                 "mode=0620", "gid=5"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
]


def _run(cmd, **kw):
    """Run cmd, raising with its output on failure."""
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise RuntimeError("%s failed (%d):\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), res.returncode, res.stdout, res.stderr))
    return res.stdout


def _build_rootfs(path):
    """Populate an empty directory with the busybox rootfs."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys",
              "dev", "tmp", "root", "home/pxt", "var", "run"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    os.chown(os.path.join(path, "home/pxt"), 1000, 1000)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin/busybox"))
    listed = subprocess.run([BUSYBOX, "--list"], capture_output=True,
                            text=True).stdout.split()
    for applet in sorted(set(listed) | set(REQUIRED_APPLETS)):
        if applet == "busybox" or "/" in applet:
            continue
        os.symlink("busybox", os.path.join(path, "bin", applet))
    for name, text in (("passwd", PASSWD), ("group", GROUP),
                       ("hosts", "127.0.0.1 localhost\n"),
                       ("resolv.conf", ""), ("hostname", "pxt\n")):
        with open(os.path.join(path, "etc", name), "w") as f:
            f.write(text)


def _pristine_rootfs():
    """Return a cached pristine rootfs, building it once per busybox binary."""
    st = os.stat(BUSYBOX)
    cache = os.path.join(tempfile.gettempdir(),
                         "pxcri-rootfs-%d-%d" % (st.st_size, int(st.st_mtime)))
    if not os.path.isdir(cache):
        tmp = tempfile.mkdtemp(prefix=".pxcri-rootfs-",
                               dir=tempfile.gettempdir())
        _build_rootfs(tmp)
        try:
            os.rename(tmp, cache)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return cache


def make_rootfs(path):
    """Create a minimal busybox rootfs at path (must not exist yet)."""
    _run(["cp", "-a", _pristine_rootfs(), path])
    os.chmod(path, 0o755)  # the cache dir comes from mkdtemp (0700)
    return path


def make_config(args, *, annotations=None, env=None, cwd="/", terminal=False,
                hostname=None, readonly=False):
    """Return an OCI runtime config (dict) like runc's default spec."""
    caps = list(DEFAULT_CAPS)
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": [DEFAULT_PATH, "TERM=xterm"] + list(env or []),
            "cwd": cwd,
            "capabilities": {k: list(caps) for k in
                             ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": readonly},
        "hostname": hostname or "pxcri",
        "mounts": [dict(m) for m in DEFAULT_MOUNTS],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in
                           ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }
    if annotations:
        config["annotations"] = dict(annotations)
    return config


def make_bundle(path, args, *, annotations=None, env=None, cwd="/",
                terminal=False, hostname=None, readonly=False):
    """Create an OCI bundle at path running args; return the bundle dir.

    env is a list of extra "KEY=VALUE" strings (PATH is always set).
    """
    os.makedirs(path, exist_ok=True)
    make_rootfs(os.path.join(path, "rootfs"))
    config = make_config(args, annotations=annotations, env=env, cwd=cwd,
                         terminal=terminal, hostname=hostname,
                         readonly=readonly)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return path


def make_oci_archive(path, ref_name, cmd=None):
    """Build an OCI image archive of the busybox rootfs at path.

    `ctr images import ARCHIVE` then creates image ref_name (a full reference
    such as "docker.io/pxt/busybox:latest"), taken from the archive's
    org.opencontainers.image.ref.name annotation.  cmd defaults to ["sh"].
    """
    cmd = list(cmd or ["sh"])
    work = tempfile.mkdtemp(prefix="pxcri-image-")
    try:
        layout = os.path.join(work, "layout")
        bundle = os.path.join(work, "bundle")
        _run(["umoci", "init", "--layout", layout])
        _run(["umoci", "new", "--image", layout + ":build"])
        _run(["umoci", "unpack", "--image", layout + ":build",
              bundle])
        # umoci's unpacked rootfs is an empty directory: fill it.
        rootfs = os.path.join(bundle, "rootfs")
        shutil.rmtree(rootfs)
        make_rootfs(rootfs)
        _run(["umoci", "repack", "--image", layout + ":build", bundle])
        _run(["umoci", "config", "--image", layout + ":build",
              "--os", "linux", "--architecture", _go_arch(),
              "--config.env", DEFAULT_PATH, "--config.workingdir", "/",
              "--clear", "config.entrypoint", "--clear", "config.cmd"]
             + sum((["--config.cmd", c] for c in cmd), []))
        if os.path.exists(path):
            os.unlink(path)
        # skopeo writes the full reference into the index annotation
        # org.opencontainers.image.ref.name, which ctr uses as image name.
        _run(["skopeo", "copy", "oci:%s:build" % layout,
              "oci-archive:%s:%s" % (path, ref_name)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def _go_arch():
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
            "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}.get(
                machine, machine)
