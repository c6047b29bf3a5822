"""Images into the store, OCI bundles from them, and those bundles run under
crun: `pxcri image import|pull|list|inspect|remove|prune`, `pxcri bundle
create|remove`, `pxcri run -b`.  Hostile layers are refused with nothing
written outside the layer store and no image listed."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

import images
import registries
from conftest import unique

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root")


@pytest.fixture(scope="module")
def layered():
    """umoci-built image: busybox base layer, then a layer that deletes
    /bin/hostname and home/pxt and writes /etc/motd; runs as pxt."""
    d = tempfile.mkdtemp(prefix="pxt-layered-")
    images.make_layered_oci_layout(
        os.path.join(d, "layout"), "v1", user="pxt",
        cmd=["sh", "-c", "id -u; id -g; cat /etc/motd; "
             "test -e /bin/hostname && echo hostname-present || echo hostname-gone; "
             "test -e /home/pxt && echo home-present || echo home-gone"],
        remove=["bin/hostname", "home/pxt"], add={"etc/motd": "hello from layer 2\n"})
    yield os.path.join(d, "layout")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def base_tar():
    return images.rootfs_tar_bytes()


@pytest.fixture
def ipx(px, workdir):
    """pxcri with a private state root and a private image root."""
    px.image_root = os.path.join(workdir, "images")
    px.write_config({"image": {"root": px.image_root}})
    yield px
    for d in os.listdir(workdir):
        if os.path.exists(os.path.join(workdir, d, "pxcri-bundle.json")):
            px("bundle", "remove", os.path.join(workdir, d))


def layer_dirs(px):
    d = os.path.join(px.image_root, "layers")
    return sorted(x for x in os.listdir(d) if not x.startswith(".")) if os.path.isdir(d) else []


def import_ok(px, layout, name):
    res = px("image", "import", "--name", name, layout + ":v1", check=True)
    return res.stdout.strip()


def run_bundle(px, bdir):
    return px("run", "-b", bdir, unique(), timeout=60)


def test_import_bundle_run_as_image_user_with_whiteouts(ipx, layered, workdir):
    image_id = import_ok(ipx, layered, "example.com/pxt/layered:v1")
    assert image_id.startswith("sha256:")
    assert len(layer_dirs(ipx)) == 2
    b = os.path.join(workdir, "b1")
    assert ipx("bundle", "create", "--image", "example.com/pxt/layered:v1", b, check=True).stdout.strip() == b
    res = run_bundle(ipx, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["1000", "1000", "hello", "from", "layer", "2", "hostname-gone", "home-gone"]
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    ann = cfg["annotations"]
    assert ann["io.kubernetes.cri.image-name"] == "example.com/pxt/layered:v1"
    assert ann["org.opencontainers.image.ref.name"] == "example.com/pxt/layered:v1"
    assert ann["io.pxcri.image-id"] == image_id
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"


def test_args_user_env_overrides(ipx, layered, workdir):
    import_ok(ipx, layered, "example.com/pxt/layered:v1")
    b = os.path.join(workdir, "b2")
    ipx("bundle", "create", "--image", "example.com/pxt/layered:v1", "--user", "0:0", "--env", "GREETING=hi",
        "--name", "boxname", b, "--args", "sh", "-c", "echo $GREETING $(id -u) $(hostname)", check=True)
    res = run_bundle(ipx, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "hi 0 boxname"


def test_unknown_user_refused_leaves_nothing(ipx, layered, workdir):
    import_ok(ipx, layered, "example.com/pxt/layered:v1")
    b = os.path.join(workdir, "b3")
    res = ipx("bundle", "create", "--image", "example.com/pxt/layered:v1", "--user", "nosuchuser", b)
    assert res.returncode == 1
    assert 'User "nosuchuser" not found' in res.stderr
    assert not os.path.exists(b)
    assert ipx("image", "remove", "example.com/pxt/layered:v1").returncode == 0  # no reference left


def test_opaque_directory_hides_lower_content(ipx, base_tar, workdir):
    layout = os.path.join(workdir, "opaque-layout")
    images.make_raw_oci_layout(layout, [
        base_tar,
        images.tar_bytes([{"name": "opt", "type": "dir"}, {"name": "opt/old", "data": "old"}]),
        images.tar_bytes([{"name": "opt", "type": "dir"}, {"name": "opt/.wh..wh..opq"},
                          {"name": "opt/new", "data": "new"}]),
    ], tag="v1", cmd=["ls", "/opt"])
    import_ok(ipx, layout, "example.com/pxt/opaque:v1")
    b = os.path.join(workdir, "b4")
    ipx("bundle", "create", "--image", "example.com/pxt/opaque:v1", b, check=True)
    res = run_bundle(ipx, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["new"]


def test_symlink_above_the_root_is_kept_and_clamped_in_the_container(ipx, base_tar, workdir):
    """`usr/lib/up -> ../../../../../lib` (as in real images): imported as it
    is; in the container ".." of "/" is "/", so it names /lib."""
    layout = os.path.join(workdir, "up-layout")
    images.make_raw_oci_layout(layout, [
        base_tar,
        images.tar_bytes([{"name": "lib/marker", "data": "in-lib\n"},
                          {"name": "usr/lib/up", "type": "symlink", "linkname": "../../../../../lib"}]),
    ], tag="v1", cmd=["cat", "/usr/lib/up/marker"])
    import_ok(ipx, layout, "example.com/pxt/up:v1")
    links = [os.path.join(ipx.image_root, "layers", d, "usr/lib/up") for d in layer_dirs(ipx)]
    assert [os.readlink(p) for p in links if os.path.islink(p)] == ["../../../../../lib"]
    b = os.path.join(workdir, "b-up")
    ipx("bundle", "create", "--image", "example.com/pxt/up:v1", b, check=True)
    res = run_bundle(ipx, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "in-lib\n"


def test_image_with_more_layers_than_one_mount_page_runs(ipx, base_tar, workdir):
    """80 layers do not fit one page of overlay options (about 41 do): the
    rootfs is mounted layer by layer (fsconfig lowerdir+) and runs, with the
    layers stacked in order."""
    layers = [base_tar] + [images.tar_bytes([{"name": "stack/%02d" % i, "data": str(i)},
                                             {"name": "top", "data": "layer %d\n" % i}]) for i in range(79)]
    layout = os.path.join(workdir, "deep-layout")
    images.make_raw_oci_layout(layout, layers, tag="v1", cmd=["sh", "-c", "cat /top; ls /stack | wc -l"])
    import_ok(ipx, layout, "example.com/pxt/deep:v1")
    b = os.path.join(workdir, "b-deep")
    ipx("bundle", "create", "--image", "example.com/pxt/deep:v1", b, check=True)
    res = run_bundle(ipx, b)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["layer", "78", "79"]


def test_import_selects_platform_from_index(ipx, base_tar, workdir):
    layout = os.path.join(workdir, "multi")
    images.make_raw_oci_layout(layout, [base_tar], tag="v1", cmd=["echo", "from-index"])
    images.wrap_layout_in_index(layout, "v1", [("linux", images.go_arch()), ("linux", "s390x")])
    res = ipx("image", "import", "--platform", "linux/riscv64", "--name", "example.com/pxt/multi:v1",
              layout + ":v1")
    assert res.returncode == 1 and "No manifest for platform linux/riscv64" in res.stderr
    ipx("image", "import", "--platform", "linux/" + images.go_arch(), "--name", "example.com/pxt/multi:v1",
        layout + ":v1", check=True)
    b = os.path.join(workdir, "b-multi")
    ipx("bundle", "create", "--image", "example.com/pxt/multi:v1", b, check=True)
    res = run_bundle(ipx, b)
    assert res.returncode == 0 and res.stdout.strip() == "from-index", res.stderr


def test_list_inspect_by_name_and_prefix(ipx, layered):
    image_id = import_ok(ipx, layered, "example.com/pxt/layered:v1")
    listed = json.loads(ipx("image", "list", "--format", "json", check=True).stdout)
    assert [i["id"] for i in listed] == [image_id]
    assert listed[0]["repo_tags"] == ["example.com/pxt/layered:v1"]
    assert ipx("image", "list", "-q", check=True).stdout.split() == [image_id]
    table = ipx("image", "list", check=True).stdout
    assert "example.com/pxt/layered:v1" in table and image_id[7:19] in table
    doc = json.loads(ipx("image", "inspect", image_id[7:19], check=True).stdout)
    assert doc["config"]["config"]["User"] == "pxt"
    assert len(doc["layers"]) == 2
    res = ipx("image", "inspect", "example.com/pxt/nothere:v1")
    assert res.returncode == 1 and "not found" in res.stderr


def test_remove_refuses_in_use_then_prune(ipx, layered, workdir):
    import_ok(ipx, layered, "example.com/pxt/layered:v1")
    b = os.path.join(workdir, "b5")
    ipx("bundle", "create", "--image", "example.com/pxt/layered:v1", b, check=True)
    res = ipx("image", "remove", "example.com/pxt/layered:v1")
    assert res.returncode == 1
    assert "in use by %s" % b in res.stderr
    assert "Removed 0 layers" in ipx("image", "prune", check=True).stdout
    ipx("bundle", "remove", b, check=True)
    assert not os.path.exists(b)
    assert not [m for m in open("/proc/mounts") if b in m]
    ipx("image", "remove", "example.com/pxt/layered:v1", check=True)
    assert ipx("image", "list", "-q", check=True).stdout == ""
    assert len(layer_dirs(ipx)) == 2
    assert "Removed 2 layers" in ipx("image", "prune", check=True).stdout
    assert layer_dirs(ipx) == []


def test_bundle_deleted_by_hand_does_not_pin_the_image(ipx, layered, workdir):
    import_ok(ipx, layered, "example.com/pxt/layered:v1")
    b = os.path.join(workdir, "b-gone")
    ipx("bundle", "create", "--image", "example.com/pxt/layered:v1", b, check=True)
    subprocess.run(["umount", os.path.join(b, "rootfs")], check=True)
    shutil.rmtree(b)
    ipx("image", "remove", "example.com/pxt/layered:v1", check=True)


def test_force_remove_in_use(ipx, layered, workdir):
    import_ok(ipx, layered, "example.com/pxt/layered:v1")
    b = os.path.join(workdir, "b6")
    ipx("bundle", "create", "--image", "example.com/pxt/layered:v1", b, check=True)
    ipx("image", "remove", "--force", "example.com/pxt/layered:v1", check=True)
    assert ipx("image", "list", "-q", check=True).stdout == ""


def test_concurrent_imports_of_one_image(ipx, layered):
    procs = [subprocess.Popen(ipx.argv("image", "import", "--name", "example.com/pxt/c:v1", layered + ":v1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    assert len({o[0].strip() for o in outs}) == 1
    assert len(ipx("image", "list", "-q", check=True).stdout.split()) == 1
    assert len(layer_dirs(ipx)) == 2


def test_layers_shared_between_images(ipx, layered, workdir):
    import_ok(ipx, layered, "example.com/pxt/a:v1")
    import_ok(ipx, layered, "example.com/pxt/b:v1")
    assert len(layer_dirs(ipx)) == 2


def test_remove_one_tag_of_several(ipx, layered):
    image_id = import_ok(ipx, layered, "example.com/pxt/a:v1")
    import_ok(ipx, layered, "example.com/pxt/b:v1")
    assert ipx("image", "remove", "example.com/pxt/a:v1", check=True).stdout.startswith("Untagged")
    listed = json.loads(ipx("image", "list", "--format", "json", check=True).stdout)
    assert [(i["id"], i["repo_tags"]) for i in listed] == [(image_id, ["example.com/pxt/b:v1"])]
    assert ipx("image", "remove", "example.com/pxt/b:v1", check=True).stdout.strip() == image_id
    assert ipx("image", "list", "-q", check=True).stdout == ""


def test_bundle_remove_refuses_foreign_directory(ipx, workdir):
    d = os.path.join(workdir, "not-a-bundle")
    os.makedirs(d)
    with open(os.path.join(d, "keep"), "w") as f:
        f.write("keep")
    res = ipx("bundle", "remove", d)
    assert res.returncode == 1
    assert "not a bundle made by pxcri" in res.stderr
    assert os.path.exists(os.path.join(d, "keep"))


def test_bundle_into_nonempty_dir_refused(ipx, layered, workdir):
    import_ok(ipx, layered, "example.com/pxt/layered:v1")
    d = os.path.join(workdir, "full")
    os.makedirs(d)
    open(os.path.join(d, "x"), "w").close()
    res = ipx("bundle", "create", "--image", "example.com/pxt/layered:v1", d)
    assert res.returncode == 1 and "not empty" in res.stderr
    assert os.listdir(d) == ["x"]


# --- hostile layers --------------------------------------------------------

def hostile_cases(outside):
    return {
        "dotdot": ([{"name": "../escaped", "data": "x"}], '"../escaped"'),
        "absolute": ([{"name": outside + "/abs", "data": "x"}], "absolute name"),
        "climbing-symlink-then-write": ([{"name": "up", "type": "symlink", "linkname": "../../../../" + outside},
                                         {"name": "up/planted", "data": "owned"}],
                                        '"up/planted": writes through "up"'),
        "symlink-chain-then-write": ([{"name": "one", "type": "symlink", "linkname": "two"},
                                      {"name": "two", "type": "symlink", "linkname": outside},
                                      {"name": "one/planted", "data": "owned"}],
                                     '"one/planted": writes through "one"'),
        "hardlink-through-symlink": ([{"name": "l", "type": "symlink", "linkname": "../../../../etc"},
                                      {"name": "h", "type": "hardlink", "linkname": "l/passwd"}],
                                     '"h": writes through "l"'),
        "symlink-then-write": ([{"name": "evil", "type": "symlink", "linkname": outside},
                                {"name": "evil/planted", "data": "owned"}],
                               '"evil/planted": writes through "evil"'),
        "hardlink-escape": ([{"name": "h", "type": "hardlink", "linkname": "../../../../etc/passwd"}],
                            'hardlink to "../../../../etc/passwd"'),
        "hardlink-absolute": ([{"name": "h", "type": "hardlink", "linkname": "/etc/passwd"}],
                              'hardlink to "/etc/passwd"'),
        "device": ([{"name": "dev/sda", "type": "char", "devmajor": 8, "devminor": 0}],
                   "device nodes are not allowed"),
    }


@pytest.mark.parametrize("case", sorted(hostile_cases("/x")))
def test_hostile_layer_refused(ipx, workdir, case):
    outside = os.path.join(workdir, "outside")
    os.makedirs(outside)
    entries, msg = hostile_cases(outside)[case]
    layout = os.path.join(workdir, "hostile")
    images.make_raw_oci_layout(layout, [images.tar_bytes([{"name": "ok", "data": "fine"}]),
                                        images.tar_bytes(entries)], tag="v1")
    ipx("image", "list", check=True)  # creates the image root
    before = sorted(os.listdir(workdir))
    res = ipx("image", "import", "--name", "example.com/pxt/hostile:v1", layout + ":v1")
    assert res.returncode == 1
    assert msg in res.stderr, res.stderr
    assert os.listdir(outside) == []
    assert not os.path.exists(os.path.join(workdir, "escaped"))
    assert sorted(os.listdir(workdir)) == before
    assert ipx("image", "list", "-q", check=True).stdout == ""
    # Only the good first layer is in the store (complete, unreferenced) ...
    assert len(layer_dirs(ipx)) == 1
    assert not [x for x in os.listdir(os.path.join(ipx.image_root, "layers")) if x.startswith(".tmp-")]
    # ... and prune takes it, with the lock files.
    assert "Removed 1 layers" in ipx("image", "prune", check=True).stdout
    assert os.listdir(os.path.join(ipx.image_root, "layers")) == []


@pytest.mark.parametrize("kind,msg", [("bad_diff_id", "diff_id mismatch"),
                                      ("bad_digest", "Layer digest mismatch"),
                                      ("truncate", "Unpacking layer")])
def test_corrupt_layer_refused(ipx, workdir, kind, msg):
    layout = os.path.join(workdir, "corrupt")
    data = images.tar_bytes([{"name": "f%d" % i, "data": os.urandom(512).hex()} for i in range(64)])
    images.make_raw_oci_layout(layout, [data], tag="v1", **{kind: True})
    res = ipx("image", "import", "--name", "example.com/pxt/corrupt:v1", layout + ":v1")
    assert res.returncode == 1
    assert msg in res.stderr, res.stderr
    assert ipx("image", "list", "-q", check=True).stdout == ""
    assert layer_dirs(ipx) == []
    assert not [x for x in os.listdir(os.path.join(ipx.image_root, "layers")) if x.startswith(".tmp-")]


# --- pull from a registry ---------------------------------------------------

@pytest.mark.skipif(not os.path.exists(registries.REGISTRY_BIN), reason="docker-registry is not installed")
def test_pull_bundle_run(ipx, layered, workdir):
    reg = registries.DockerRegistry(workdir)
    try:
        reg.push(layered, "v1", "pxt/layered:v1")
        ipx.write_config({"image": {"root": ipx.image_root,
                                    "registries": {reg.host: {"insecure": True}}}})
        ref = "%s/pxt/layered:v1" % reg.host
        image_id = ipx("image", "pull", ref, check=True).stdout.strip()
        listed = json.loads(ipx("image", "list", "--format", "json", check=True).stdout)
        assert listed[0]["id"] == image_id
        assert listed[0]["repo_tags"] == [ref]
        assert listed[0]["repo_digests"][0].startswith("%s/pxt/layered@sha256:" % reg.host)
        b = os.path.join(workdir, "pulled")
        ipx("bundle", "create", "--image", ref, b, check=True)
        res = run_bundle(ipx, b)
        assert res.returncode == 0, res.stderr
        assert res.stdout.split()[:2] == ["1000", "1000"]
        assert "hostname-gone" in res.stdout
    finally:
        reg.stop()


@pytest.mark.skipif(not os.path.exists(registries.REGISTRY_BIN), reason="docker-registry is not installed")
def test_pull_with_credentials(ipx, layered, workdir):
    reg = registries.DockerRegistry(workdir, "basic", htpasswd={"pxt": "s3cret"})
    try:
        reg.push(layered, "v1", "pxt/private:v1", creds="pxt:s3cret")
        ipx.write_config({"image": {"root": ipx.image_root,
                                    "registries": {reg.host: {"insecure": True}}}})
        ref = "%s/pxt/private:v1" % reg.host
        res = ipx("image", "pull", ref)
        assert res.returncode == 1 and "requires authentication" in res.stderr, res.stderr
        res = ipx("image", "pull", "--username", "pxt", "--password", "wrong", ref)
        assert res.returncode == 1 and "wrong" not in res.stderr
        res = ipx("image", "pull", "--username", "pxt", ref)
        assert res.returncode == 1 and "--username and --password go together" in res.stderr
        assert ipx("image", "list", "-q", check=True).stdout == ""
        ipx("image", "pull", "--creds", "pxt:s3cret", ref, check=True)
        assert len(ipx("image", "list", "-q", check=True).stdout.split()) == 1
        assert "Removed 0 layers and 0 blobs" in ipx("image", "prune", check=True).stdout
        ipx("image", "remove", ref, check=True)
        # manifest, config and two layer blobs; two layer directories
        assert "Removed 2 layers and 4 blobs" in ipx("image", "prune", check=True).stdout
        assert os.listdir(os.path.join(ipx.image_root, "blobs", "sha256")) == []
    finally:
        reg.stop()
