"""Layer shapes for the differential unpack tests (test_image_unpack_diff.py):
each corpus image is a list of layers, each layer a tar the test builds
itself — with Python's tarfile (PAX headers, xattrs, any name) or with GNU
tar (sparse files, GNU long names) — compressed with gzip, zstd or not at
all, written as an OCI image layout that pxcri, umoci and containerd all
read.

A layer is a dict: {"entries": [...], "compression": "gzip"|"zstd"|None}
or {"gnu_tar": fn(staging_dir), "format": "gnu"|"posix", ...}.  An entry is
a dict: name, type (file, dir, symlink, hardlink, fifo, char), data (bytes
or str), linkname, mode, uid, gid, mtime (int or float), xattrs {name:
bytes}, devmajor, devminor."""

import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import tarfile

import images

MTIME = 1700000000
MEDIA = {None: "application/vnd.oci.image.layer.v1.tar",
         "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
         "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}


def file_caps(permitted):
    """security.capability (VFS_CAP_REVISION_2, effective) for a capability mask."""
    return struct.pack("<IIIII", 0x02000001, permitted & 0xffffffff, 0, permitted >> 32, 0)


def tar_entries(entries):
    """An uncompressed PAX tar of entries (see the module docstring)."""
    return images.tar_bytes(entries)


def gnu_tar(build, fmt, tmp):
    """A tar made by GNU tar (-S: holes as sparse entries) from a staging
    directory that build(staging) fills."""
    staging = os.path.join(tmp, "staging-%d" % len(os.listdir(tmp)))
    os.makedirs(staging)
    build(staging)
    return subprocess.run(["tar", "--format=" + fmt, "-S", "--numeric-owner", "--xattrs",
                           "-C", staging, "-cf", "-", "."],
                          check=True, capture_output=True).stdout


def compress(raw, how):
    if how is None:
        return raw
    if how == "gzip":
        return gzip.compress(raw, mtime=0)
    return subprocess.run(["zstd", "-q", "-c"], input=raw, check=True, capture_output=True).stdout


def write_layout(layout, layers, tmp, ref_name="v1"):
    """OCI layout at layout with one image tagged ref_name; returns the
    index.json dict (the containerd archive reuses it with a full name)."""
    def put(data):
        d = hashlib.sha256(data).hexdigest()
        with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + d, "size": len(data)}

    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    descs, diff_ids = [], []
    for layer in layers:
        if "gnu_tar" in layer:
            raw = gnu_tar(layer["gnu_tar"], layer.get("format", "gnu"), tmp)
        else:
            raw = tar_entries(layer["entries"])
        how = layer.get("compression", "gzip")
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descs.append(dict(put(compress(raw, how)), mediaType=MEDIA[how]))
    config = {"architecture": images.go_arch(), "os": "linux",
              "config": {"Env": [images.DEFAULT_PATH], "Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cdesc = dict(put(json.dumps(config).encode()), mediaType="application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cdesc, "layers": descs}
    mdesc = dict(put(json.dumps(manifest).encode()), mediaType="application/vnd.oci.image.manifest.v1+json")
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index = {"schemaVersion": 2,
             "manifests": [dict(mdesc, annotations={"org.opencontainers.image.ref.name": ref_name})]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    return index


def oci_archive(layout, index, full_name, path):
    """The layout as a tar for `ctr images import`, named full_name."""
    index = json.loads(json.dumps(index))
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = full_name
    data = json.dumps(index).encode()
    with tarfile.open(path, "w") as t:
        for name in ("oci-layout", "blobs"):
            t.add(os.path.join(layout, name), arcname=name)
        ti = tarfile.TarInfo("index.json")
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    return path


# --- the shapes ------------------------------------------------------------

def _layer(entries, compression="gzip"):
    return {"entries": entries, "compression": compression}


def links():
    return [_layer([
        {"name": "etc/", "type": "dir"},
        {"name": "etc/passwd", "data": "root:x:0:0::/root:/bin/sh\n"},
        {"name": "lib/", "type": "dir"},
        {"name": "lib/libc.so", "data": "elf"},
        {"name": "usr/lib/up", "type": "symlink", "linkname": "../../../../../lib"},
        {"name": "usr/lib/root", "type": "symlink", "linkname": ".."},
        {"name": "abs", "type": "symlink", "linkname": "/etc/passwd"},
        {"name": "absdir", "type": "symlink", "linkname": "/lib"},
        {"name": "rel", "type": "symlink", "linkname": "etc/passwd"},
        {"name": "dangling", "type": "symlink", "linkname": "no/such/file"},
        {"name": "far", "type": "symlink", "linkname": "../" * 40 + "etc/shadow"},
        {"name": "hard1", "type": "hardlink", "linkname": "etc/passwd"},
        {"name": "etc/hard2", "type": "hardlink", "linkname": "etc/passwd"},
        {"name": "hardsym", "type": "hardlink", "linkname": "abs"},
        {"name": "hardup", "type": "hardlink", "linkname": "usr/lib/up"},
    ])]


def cross_layer_hardlink():
    return [_layer([{"name": "bin/", "type": "dir"}, {"name": "bin/tool", "data": "tool", "mode": 0o755}]),
            _layer([{"name": "bin/alias", "type": "hardlink", "linkname": "bin/tool"}])]


def whiteouts():
    return [
        _layer([{"name": d, "type": "dir"} for d in ("a/", "b/", "b/sub/", "c/", "keep/")]
               + [{"name": "a/f1", "data": "1"}, {"name": "a/f2", "data": "2"},
                  {"name": "b/sub/deep", "data": "deep"}, {"name": "c/old", "data": "old"},
                  {"name": "keep/k", "data": "k"}, {"name": "gone", "data": "g"}]),
        _layer([{"name": "a/", "type": "dir"}, {"name": "a/.wh.f1"},
                {"name": ".wh.b"}, {"name": ".wh.gone"},
                {"name": "c/", "type": "dir"}, {"name": "c/.wh..wh..opq"}, {"name": "c/new", "data": "new"},
                {"name": "keep/.wh.never-existed"}]),
        _layer([{"name": "b/", "type": "dir", "mode": 0o700}, {"name": "b/again", "data": "again"},
                {"name": "gone", "type": "symlink", "linkname": "keep/k"}]),
    ]


def whiteout_then_recreate():
    """A whiteout and an entry of the same name in one layer: the whiteout
    hides the lower layers' entry, the new entry stays (image-spec)."""
    return [
        _layer([{"name": "x/", "type": "dir"}, {"name": "x/old", "data": "old"},
                {"name": "y/", "type": "dir"}, {"name": "y/old", "data": "old"},
                {"name": "z", "data": "old"}]),
        _layer([{"name": ".wh.x"}, {"name": "x/", "type": "dir"}, {"name": "x/new", "data": "new"},
                {"name": ".wh.z"}, {"name": "z", "data": "new"}]),
    ]


def whiteout_then_child():
    """A whiteout, then an entry below the whited-out name without its
    directory entry: the parent is a whiteout, not a directory."""
    return [_layer([{"name": "y/", "type": "dir"}, {"name": "y/old", "data": "old"}]),
            _layer([{"name": ".wh.y"}, {"name": "y/new", "data": "new"}])]


def write_through_symlink():
    """A layer that writes below a symlink it planted itself."""
    return [_layer([{"name": "etc/", "type": "dir"}, {"name": "l", "type": "symlink", "linkname": "/etc"},
                    {"name": "l/planted", "data": "through the link"}])]


def replacements():
    return [
        _layer([{"name": "d/", "type": "dir"}, {"name": "d/inner", "data": "inner"},
                {"name": "f", "data": "file"}, {"name": "s", "type": "symlink", "linkname": "d"},
                {"name": "x/", "type": "dir"}, {"name": "x/y", "data": "y"}]),
        _layer([{"name": "d", "data": "now a file"},
                {"name": "f/", "type": "dir"}, {"name": "f/child", "data": "child"},
                {"name": "s/", "type": "dir", "mode": 0o750},
                {"name": "x", "type": "symlink", "linkname": "d"}]),
        _layer([{"name": "d/", "type": "dir"}, {"name": "d/back", "data": "a dir again"},
                {"name": "f", "data": "a file again"}]),
    ]


def modes_owners_xattrs():
    caps = file_caps(1 << 10 | 1 << 13)  # cap_net_bind_service, cap_net_raw
    return [_layer([
        {"name": "bin/", "type": "dir"},
        {"name": "bin/suid", "data": "s", "mode": 0o4755},
        {"name": "bin/sgid", "data": "g", "mode": 0o2755, "gid": 42},
        {"name": "bin/both", "data": "b", "mode": 0o6711, "uid": 1000, "gid": 1000},
        {"name": "bin/ping", "data": "ping", "mode": 0o755, "xattrs": {"security.capability": caps}},
        {"name": "bin/capsuid", "data": "cs", "mode": 0o4750, "uid": 70000,
         "xattrs": {"security.capability": caps}},
        {"name": "tmp/", "type": "dir", "mode": 0o1777},
        {"name": "sgiddir/", "type": "dir", "mode": 0o2775, "gid": 100},
        {"name": "none", "data": "n", "mode": 0o000},
        {"name": "all", "data": "a", "mode": 0o777},
        {"name": "big/", "type": "dir", "uid": 100000, "gid": 100000},
        {"name": "big/owned", "data": "o", "uid": 65536, "gid": 65537},
        {"name": "big/huge", "data": "h", "uid": 4000000, "gid": 3000000},
        {"name": "big/link", "type": "symlink", "linkname": "owned", "uid": 70001, "gid": 70002},
        {"name": "x/", "type": "dir", "xattrs": {"user.dir": b"on a dir"}},
        {"name": "x/user", "data": "u", "xattrs": {"user.one": b"1", "user.bin": b"\x00\xff\x01"}},
        {"name": "x/trusted", "data": "t", "xattrs": {"trusted.pxt": b"t"}},
        {"name": "x/forged", "data": "f", "xattrs": {"trusted.overlay.opaque": b"y"}},
    ])]


def names():
    long_dir = "/".join(["d%02d-" % i + "x" * 40 for i in range(8)])

    def gnu_long(staging):
        p = os.path.join(staging, "g" * 200)
        os.makedirs(p)
        with open(os.path.join(p, "n" * 180), "w") as f:
            f.write("gnu long name")
        os.symlink("t" * 150 + "/target", os.path.join(staging, "longlink"))
        os.link(os.path.join(p, "n" * 180), os.path.join(staging, "h" * 120))
        for root, dirs, files in os.walk(staging):
            for n in dirs + files:
                os.utime(os.path.join(root, n), (MTIME, MTIME), follow_symlinks=False)
        os.utime(staging, (MTIME, MTIME))

    return [
        _layer([{"name": long_dir + "/", "type": "dir"},
                {"name": long_dir + "/" + "f" * 250, "data": "pax long name"},
                {"name": "sym-long", "type": "symlink", "linkname": "l" * 300},
                {"name": "unicodé ☃/файл", "data": "utf-8"},
                {"name": "with space/and\ttab", "data": "ws"}]),
        {"gnu_tar": gnu_long, "format": "gnu", "compression": "gzip"},
    ]


def _sparse_files(staging):
    with open(os.path.join(staging, "holes"), "wb") as f:
        f.write(b"head")
        f.seek(1 << 20)
        f.write(b"middle")
        f.seek(8 << 20)
        f.write(b"tail")
    with open(os.path.join(staging, "tailhole"), "wb") as f:
        f.write(b"data")
        f.truncate(4 << 20)
    with open(os.path.join(staging, "allhole"), "wb") as f:
        f.truncate(2 << 20)
    for n in ("holes", "tailhole", "allhole"):
        os.utime(os.path.join(staging, n), (MTIME, MTIME))
    os.utime(staging, (MTIME, MTIME))


def sparse():
    def posix(staging):
        os.makedirs(os.path.join(staging, "posix"))
        _sparse_files(os.path.join(staging, "posix"))
        os.utime(staging, (MTIME, MTIME))

    return [{"gnu_tar": _sparse_files, "format": "gnu", "compression": "gzip"},
            {"gnu_tar": posix, "format": "posix", "compression": None}]


def specials():
    return [_layer([
        {"name": "./", "type": "dir", "mode": 0o750, "uid": 5, "gid": 6, "mtime": 1000000000},
        {"name": "run/", "type": "dir"},
        {"name": "run/fifo", "type": "fifo", "mode": 0o620, "uid": 5, "gid": 6},
        {"name": "empty", "data": ""},
        {"name": "emptydir/", "type": "dir", "mtime": 1234567890},
        {"name": "epoch", "data": "e", "mtime": 0},
        {"name": "frac", "data": "f", "mtime": 1600000000.5},
        {"name": "future", "data": "f", "mtime": 4102444800},
        {"name": "old-sym", "type": "symlink", "linkname": "epoch", "mtime": 86400},
        {"name": "dir-mtime/", "type": "dir", "mtime": 1111111111},
        {"name": "dir-mtime/child", "data": "c", "mtime": 1222222222},
    ])]


def compressions():
    return [_layer([{"name": "plain", "data": "p" * 1000}], None),
            _layer([{"name": "zstd", "data": "z" * 1000}, {"name": ".wh.plain"}], "zstd"),
            _layer([{"name": "gzip", "data": "g" * 1000}], "gzip")]


def many_layers(n=120):
    out = []
    for i in range(n):
        entries = [{"name": "layers/", "type": "dir"}, {"name": "layers/%03d" % i, "data": str(i)}]
        if i:
            entries.append({"name": "layers/.wh.%03d" % (i - 1)} if i % 10 == 0 else
                           {"name": "top", "data": "layer %d" % i})
        out.append(_layer(entries, (None, "gzip")[i % 2]))  # umoci 0.4.7 reads no zstd
    return out


def devices():
    return [_layer([{"name": "dev/", "type": "dir"},
                    {"name": "dev/null", "type": "char", "devmajor": 1, "devminor": 3, "mode": 0o666}])]


# Hostile or unusual names, one image each: pxcri refuses every one.
ESCAPES = {
    "dotdot-name": [{"name": "../escaped", "data": "x"}],
    "absolute-name": [{"name": "/abs/file", "data": "x"}],
    "dotdot-inside-name": [{"name": "a/", "type": "dir"}, {"name": "a/../b", "data": "x"}],
    "hardlink-dotdot": [{"name": "h", "type": "hardlink", "linkname": "../../../../etc/passwd"}],
    "hardlink-absolute": [{"name": "f", "data": "x"}, {"name": "h", "type": "hardlink", "linkname": "/f"}],
    "write-through-climbing-symlink": [{"name": "up", "type": "symlink", "linkname": "../../../../tmp"},
                                       {"name": "up/planted", "data": "x"}],
    "whiteout-dotdot": [{"name": "../.wh.escaped"}],
}


def escape(name):
    return [_layer([{"name": "ok", "data": "fine"}]), _layer(ESCAPES[name])]


CORPUS = {
    "links": links,
    "cross-layer-hardlink": cross_layer_hardlink,
    "whiteouts": whiteouts,
    "whiteout-then-recreate": whiteout_then_recreate,
    "whiteout-then-child": whiteout_then_child,
    "write-through-symlink": write_through_symlink,
    "replacements": replacements,
    "modes-owners-xattrs": modes_owners_xattrs,
    "names": names,
    "sparse": sparse,
    "specials": specials,
    "compressions": compressions,
    "many-layers": many_layers,
    "devices": devices,
}
