"""The three unpackers the differential tests compare, each giving the
image's root filesystem as a tree of entries (walk()):

- pxcri: `pxcri image import` then `pxcri bundle create` (the overlay of the
  layer directories the container sees);
- umoci: `umoci unpack` of the same OCI layout;
- containerd 1.6: a private daemon (own root, state and socket, CRI off),
  `ctr images import` of the layout as an archive, `ctr images mount`.

An entry is a dict: type (f d l p c b s), mode (permission bits with set-id
and sticky), uid, gid, size and sha256 (regular files), link (symlink
target), rdev (devices), xattrs (name -> hex value; security.selinux left
out), mtime (ns), links (the other paths of a hardlinked file)."""

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import time

TYPES = {stat.S_IFREG: "f", stat.S_IFDIR: "d", stat.S_IFLNK: "l", stat.S_IFIFO: "p",
         stat.S_IFCHR: "c", stat.S_IFBLK: "b", stat.S_IFSOCK: "s"}
IGNORED_XATTRS = ("security.selinux",)


def _xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        if n in IGNORED_XATTRS:
            continue
        out[n] = os.getxattr(path, n, follow_symlinks=False).hex()
    return out


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def walk(root):
    """path ("." for the root) -> entry, never following a symlink."""
    tree, inodes = {}, {}
    for dirpath, dirs, files in os.walk(root):
        rels = [(dirpath, ".")] if dirpath == root else []
        rels += [(os.path.join(dirpath, n), None) for n in sorted(dirs + files)]
        for path, rel in rels:
            rel = rel or os.path.relpath(path, root)
            st = os.lstat(path)
            e = {"type": TYPES[stat.S_IFMT(st.st_mode)], "mode": "%04o" % stat.S_IMODE(st.st_mode),
                 "uid": st.st_uid, "gid": st.st_gid, "xattrs": _xattrs(path), "mtime": st.st_mtime_ns}
            if e["type"] == "f":
                e["size"] = st.st_size
                e["sha256"] = _sha256(path)
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif e["type"] == "l":
                e["link"] = os.readlink(path)
                e["mode"] = "-"  # symlink permissions mean nothing on Linux
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif e["type"] in "cb":
                e["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            tree[rel] = e
    for paths in inodes.values():
        for p in paths:
            tree[p]["links"] = sorted(x for x in paths if x != p)
    return tree


def differences(mine, ref):
    """Sorted (path, field, "path: field mine != ref") of what differs; field
    "presence" for an entry one side lacks."""
    out = []
    for p in sorted(set(mine) | set(ref)):
        if p not in ref or p not in mine:
            out.append((p, "presence", "%s: %s" % (p, "only in pxcri" if p in mine else "missing in pxcri")))
            continue
        a, b = mine[p], ref[p]
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                out.append((p, k, "%s: %s %r != %r" % (p, k, a.get(k), b.get(k))))
    return out


def _run(argv, timeout=300, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


class Pxcri:
    """pxcri with a private state root and image root."""

    def __init__(self, binary, tmp):
        self.binary, self.tmp = binary, tmp
        self.root = os.path.join(tmp, "pxcri-root")
        self.config = os.path.join(tmp, "pxcri.json")
        with open(self.config, "w") as f:
            f.write('{"image": {"root": "%s"}}' % os.path.join(tmp, "pxcri-images"))

    def __call__(self, *args):
        return _run([self.binary, "--root", self.root, "--config", self.config] + list(args))

    def tree(self, layout, name, allow_devices=False):
        """(tree, None) or (None, the import's error)."""
        r = self(*(["image", "import", "--name", name] + (["--allow-devices"] if allow_devices else [])
                   + [layout]))
        if r.returncode != 0:
            return None, r.stderr.strip()
        bundle = os.path.join(self.tmp, "bundle-" + name.replace("/", "_").replace(":", "_"))
        r = self("bundle", "create", "--image", name, bundle)
        if r.returncode != 0:
            return None, r.stderr.strip()
        try:
            return walk(os.path.join(bundle, "rootfs")), None
        finally:
            r = self("bundle", "remove", bundle)
            assert r.returncode == 0, r.stderr
            self("image", "remove", name)


def umoci_tree(layout, tmp):
    bundle = tempfile.mkdtemp(prefix="umoci-", dir=tmp)
    os.rmdir(bundle)
    try:
        r = _run(["umoci", "unpack", "--image", layout + ":v1", bundle])
        if r.returncode != 0:
            return None, r.stderr.strip()
        return walk(os.path.join(bundle, "rootfs")), None
    finally:
        shutil.rmtree(bundle, ignore_errors=True)


class Containerd:
    """A private containerd 1.6 (overlayfs snapshotter) and its ctr."""

    NS = "pxt-unpack"

    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "containerd.sock")
        self.log = os.path.join(tmp, "containerd.log")
        self.proc = None

    def ctr(self, *args, timeout=300):
        return _run(["ctr", "-a", self.sock, "-n", self.NS] + list(args), timeout=timeout)

    def start(self):
        config = os.path.join(self.tmp, "containerd.toml")
        with open(config, "w") as f:
            f.write("""version = 2
root = "{t}/root"
state = "{t}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "{s}"
[ttrpc]
  address = "{s}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{t}/opt"
""".format(t=self.tmp, s=self.sock))
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["containerd", "--config", config], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while self.ctr("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not come up:\n" + self.log_tail())
            time.sleep(0.2)

    def log_tail(self, n=30):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def tree(self, archive, name):
        r = self.ctr("images", "import", "--snapshotter", "overlayfs", archive)
        if r.returncode != 0:
            return None, r.stderr.strip()
        target = tempfile.mkdtemp(prefix="ctr-mnt-", dir=self.tmp)
        try:
            r = self.ctr("images", "mount", "--snapshotter", "overlayfs", name, target)
            if r.returncode != 0:
                return None, r.stderr.strip()
            try:
                return walk(target), None
            finally:
                r = self.ctr("images", "unmount", "--rm", target)
                assert r.returncode == 0, r.stderr
        finally:
            os.rmdir(target)
            self.ctr("images", "rm", "--sync", name)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in sorted((m for m in mounts if m.startswith(self.tmp + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
