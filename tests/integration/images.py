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


def make_oci_layout(layout, arches=None, cmd=None):
    """Build an OCI image layout at layout (must not exist) holding the
    busybox image once per architecture in arches (default: this machine's),
    each under the tag of its architecture name ("amd64", "arm64", ...).
    Every tag shares the one rootfs layer; only the config differs.  Push a
    tag with `skopeo copy oci:LAYOUT:TAG docker://...`."""
    arches = list(arches or [_go_arch()])
    cmd = list(cmd or ["sh"])
    work = tempfile.mkdtemp(prefix="pxcri-layout-")
    try:
        bundle = os.path.join(work, "bundle")
        _run(["umoci", "init", "--layout", layout])
        _run(["umoci", "new", "--image", layout + ":build"])
        _run(["umoci", "unpack", "--image", layout + ":build", bundle])
        rootfs = os.path.join(bundle, "rootfs")
        shutil.rmtree(rootfs)
        make_rootfs(rootfs)
        _run(["umoci", "repack", "--image", layout + ":build", bundle])
        for arch in arches:
            _run(["umoci", "config", "--image", layout + ":build", "--tag", arch,
                  "--os", "linux", "--architecture", arch,
                  "--config.env", DEFAULT_PATH, "--config.workingdir", "/",
                  "--clear", "config.entrypoint", "--clear", "config.cmd"]
                 + sum((["--config.cmd", c] for c in cmd), []))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return layout


def go_arch():
    """This machine's architecture as OCI names it (amd64, arm64, ...)."""
    return _go_arch()


# --- image store and bundle tests (tests/integration/test_bundle.py) ------

def make_layered_oci_layout(layout, tag, cmd=None, user=None, remove=(),
                            add=None, opaque=()):
    """umoci-built OCI layout at layout (must not exist) with image tag: the
    busybox rootfs as the base layer, then a second layer that deletes the
    paths in remove (whiteouts), replaces the directories in opaque with
    empty ones holding a file "new" (opaque whiteouts) and writes add
    ({path: text}).  cmd defaults to ["sh"]; user sets config.User."""
    cmd = list(cmd or ["sh"])
    work = tempfile.mkdtemp(prefix="pxcri-layered-")
    try:
        bundle = os.path.join(work, "bundle")
        _run(["umoci", "init", "--layout", layout])
        _run(["umoci", "new", "--image", layout + ":" + tag])
        _run(["umoci", "unpack", "--image", layout + ":" + tag, bundle])
        rootfs = os.path.join(bundle, "rootfs")
        shutil.rmtree(rootfs)
        make_rootfs(rootfs)
        _run(["umoci", "repack", "--image", layout + ":" + tag, bundle])
        # A fresh unpack, so that the next repack adds a layer on top.
        shutil.rmtree(bundle)
        _run(["umoci", "unpack", "--image", layout + ":" + tag, bundle])
        for rel in remove:
            p = os.path.join(rootfs, rel)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        for rel in opaque:
            p = os.path.join(rootfs, rel)
            shutil.rmtree(p)
            os.makedirs(p)
            with open(os.path.join(p, "new"), "w") as f:
                f.write("new\n")
        for rel, text in (add or {}).items():
            p = os.path.join(rootfs, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        _run(["umoci", "repack", "--image", layout + ":" + tag, bundle])
        argv = ["umoci", "config", "--image", layout + ":" + tag,
                "--os", "linux", "--architecture", _go_arch(),
                "--config.env", DEFAULT_PATH, "--config.workingdir", "/",
                "--clear", "config.entrypoint", "--clear", "config.cmd"]
        argv += sum((["--config.cmd", c] for c in cmd), [])
        if user:
            argv += ["--config.user", user]
        _run(argv)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return layout


def tar_bytes(entries):
    """An uncompressed PAX tar (bytes) of entries: dicts with name and optional
    type ("file", "dir", "symlink", "hardlink", "fifo", "char"), data (str or
    bytes), linkname, mode, uid, gid, mtime, devmajor, devminor, xattrs
    ({name: bytes}).  Any name goes: this is how hostile layers are made."""
    import io
    import tarfile
    kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE,
             "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
             "fifo": tarfile.FIFOTYPE, "char": tarfile.CHRTYPE}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = kinds[e.get("type", "file")]
            ti.mode = e.get("mode", 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
            ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
            ti.mtime = e.get("mtime", 1700000000)
            ti.linkname = e.get("linkname", "")
            ti.devmajor, ti.devminor = e.get("devmajor", 0), e.get("devminor", 0)
            for k, v in e.get("xattrs", {}).items():
                # Binary values go through surrogateescape (tarfile writes
                # hdrcharset=BINARY), as Go's archive/tar writes them.
                ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
            data = e.get("data", b"")
            data = data.encode() if isinstance(data, str) else data
            if ti.type == tarfile.REGTYPE:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def make_raw_oci_layout(layout, layers, tag="latest", cmd=None,
                        bad_diff_id=False, bad_digest=False, truncate=False):
    """OCI layout written by hand (no umoci): the image tag with one gzip
    layer per entry of layers (each a tar as bytes, see tar_bytes).
    bad_diff_id records a wrong rootfs.diff_ids entry for the last layer;
    bad_digest stores the last layer blob under a wrong digest (its file
    name keeps the digest the manifest names, the content differs);
    truncate cuts the last layer blob in half (its digest names the cut
    content's original).  Returns layout."""
    import gzip
    import hashlib

    def put(data):
        d = hashlib.sha256(data).hexdigest()
        os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return "sha256:" + d, len(data)

    descs, diff_ids = [], []
    for i, raw in enumerate(layers):
        blob = gzip.compress(raw, mtime=0)
        last = i == len(layers) - 1
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        digest, size = put(blob)
        if last and (bad_digest or truncate):
            path = os.path.join(layout, "blobs", "sha256", digest[7:])
            with open(path, "wb") as f:
                f.write(blob[:len(blob) // 2] if truncate
                        else gzip.compress(raw + b"\0" * 1024, mtime=0))
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": digest, "size": size})
    if bad_diff_id:
        diff_ids[-1] = "sha256:" + "0" * 64
    config = {"architecture": _go_arch(), "os": "linux",
              "config": {"Env": [DEFAULT_PATH], "Cmd": list(cmd or ["sh"])},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdigest, csize = put(json.dumps(config).encode())
    manifest = {"schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cdigest, "size": csize},
                "layers": descs}
    mdigest, msize = put(json.dumps(manifest).encode())
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": mdigest, "size": msize,
             "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    return layout


def rootfs_tar_bytes():
    """The busybox rootfs (make_rootfs) as an uncompressed tar, for
    make_raw_oci_layout's base layer."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.add(_pristine_rootfs(), arcname=".")
    return buf.getvalue()


def wrap_layout_in_index(layout, tag, platforms):
    """Replace the layout's manifest for tag by an image index listing that
    manifest once per (os, architecture) in platforms, as `skopeo copy --all`
    writes multi-platform images."""
    import hashlib
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    desc = next(m for m in top["manifests"]
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    entries = [dict({k: desc[k] for k in ("mediaType", "digest", "size")},
                    platform={"os": o, "architecture": a}) for o, a in platforms]
    data = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": entries}).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    desc.update({"mediaType": "application/vnd.oci.image.index.v1+json",
                 "digest": "sha256:" + digest, "size": len(data)})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(top, f)
    return layout
