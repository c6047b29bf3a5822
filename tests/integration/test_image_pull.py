"""image_pull() against real and fake registries, through the test driver
build/tests/unit/image/image-pull (PXCRI_IMAGE_PULL overrides the path).

Images are built from busybox-static with umoci and pushed with skopeo to
Debian's docker-registry on 127.0.0.1; hostile answers come from the fake
registry in registries.py.  Every server is stopped at the end."""

import base64
import hashlib
import json
import os
import subprocess
import tempfile
import shutil

import pytest

import images
import registries
from registries import DockerRegistry, FakeRegistry, TokenProxy, sha256

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = (os.path.dirname(os.environ["PXCRI_BIN"]) if os.environ.get("PXCRI_BIN")
         else os.path.join(REPO, "build"))
TOOL = os.environ.get("PXCRI_IMAGE_PULL", os.path.join(BUILD, "tests", "unit", "image", "image-pull"))
PXCRI = os.environ.get("PXCRI_BIN", os.path.join(BUILD, "pxcri"))

pytestmark = pytest.mark.skipif(not os.path.exists(registries.REGISTRY_BIN),
                                reason="docker-registry is not installed")


@pytest.fixture(scope="module")
def moddir():
    d = tempfile.mkdtemp(prefix="pxt-pull-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def layout(moddir):
    return images.make_oci_layout(os.path.join(moddir, "layout"), arches=["amd64", "arm64"])


@pytest.fixture(scope="module")
def registry(moddir, layout):
    """A plain registry with pxt/busybox:oci (OCI), :v2s2 (Docker schema 2),
    library/busybox:latest, and pxt/multi:latest (index of amd64 + arm64)."""
    reg = DockerRegistry(moddir)
    try:
        reg.push(layout, "amd64", "pxt/busybox:oci")
        reg.push(layout, "amd64", "pxt/busybox:v2s2", fmt="v2s2")
        reg.push(layout, "amd64", "library/busybox:latest")
        reg.push(layout, "amd64", "pxt/multi:amd64")
        reg.push(layout, "arm64", "pxt/multi:arm64")
        reg.index_digest = reg.put_index("pxt/multi", "latest", [
            ("amd64", "linux", "amd64", None), ("arm64", "linux", "arm64", "v8")])
        yield reg
    finally:
        reg.stop()


class Puller:
    def __init__(self, workdir):
        self.root = os.path.join(workdir, "images")
        self.cfg = os.path.join(workdir, "pull-config.json")

    def config(self, registries_cfg=None, **image):
        image = dict(image, root=self.root)
        if registries_cfg is not None:
            image["registries"] = registries_cfg
        with open(self.cfg, "w") as f:
            json.dump({"image": image}, f)

    def run(self, ref, *args, timeout=60):
        if not os.path.exists(self.cfg):
            self.config()
        return subprocess.run([TOOL, "--config", self.cfg, *args, ref], capture_output=True,
                              text=True, timeout=timeout)

    def start(self, ref, *args):
        return subprocess.Popen([TOOL, "--config", self.cfg, *args, ref], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def ok(self, ref, *args):
        res = self.run(ref, *args)
        assert res.returncode == 0, res.stderr
        r = json.loads(res.stdout)
        self.check_store()
        for d in [r["digest"], r["manifest_digest"], r["config_digest"]] + [l["digest"] for l in r["layers"]]:
            assert os.path.exists(self.blob(d)), d
        return r

    def fails(self, ref, *args, msg=None):
        res = self.run(ref, *args)
        assert res.returncode == 1, res.stdout + res.stderr
        if msg:
            assert msg in res.stderr, res.stderr
        self.check_store()
        return res.stderr

    def blob(self, digest):
        return os.path.join(self.root, "blobs", "sha256", digest.split(":", 1)[1])

    def blobs(self):
        d = os.path.join(self.root, "blobs", "sha256")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def partials(self):
        d = os.path.join(self.root, "ingest")
        return sorted(f for f in os.listdir(d) if f.endswith(".partial")) if os.path.isdir(d) else []

    def check_store(self):
        """Everything visible in blobs/ is complete and verified."""
        for name in self.blobs():
            with open(os.path.join(self.root, "blobs", "sha256", name), "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == name, name


def insecure(*hosts):
    return {h: {"insecure": True} for h in hosts}


@pytest.fixture
def puller(workdir):
    return Puller(workdir)


# ---- real registry ----

def test_oci_image(registry, puller):
    puller.config(insecure(registry.host))
    digest, mt, size, _ = registry.manifest("pxt/busybox", "oci")
    r = puller.ok(registry.host + "/pxt/busybox:oci")
    assert r["reference"] == registry.host + "/pxt/busybox:oci"
    assert r["name"] == registry.host + "/pxt/busybox"
    assert r["tag"] == "oci"
    assert r["digest"] == r["manifest_digest"] == digest
    assert r["manifest_media_type"] == registries.OCI_MANIFEST == mt
    assert r["config_media_type"] == "application/vnd.oci.image.config.v1+json"
    assert len(r["layers"]) == 1
    assert r["layers"][0]["media_type"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert r["total_size"] == sum(l["size"] for l in r["layers"]) + os.path.getsize(puller.blob(r["config_digest"]))
    assert r["platform"] == {"os": "linux", "architecture": "amd64", "variant": None}
    assert puller.partials() == []
    # pulled again: nothing to download, same answer
    assert puller.ok(registry.host + "/pxt/busybox:oci") == r


def test_docker_schema2_image(registry, puller):
    puller.config(insecure(registry.host))
    r = puller.ok(registry.host + "/pxt/busybox:v2s2")
    assert r["manifest_media_type"] == registries.DOCKER_MANIFEST
    assert r["config_media_type"] == "application/vnd.docker.container.image.v1+json"
    assert r["layers"][0]["media_type"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"


def test_by_digest(registry, puller):
    puller.config(insecure(registry.host))
    digest = registry.manifest("pxt/busybox", "oci")[0]
    r = puller.ok("%s/pxt/busybox@%s" % (registry.host, digest))
    assert r["tag"] is None
    assert r["digest"] == digest


def test_index_platform_selection(registry, puller):
    puller.config(insecure(registry.host))
    amd = registry.manifest("pxt/multi", "amd64")[0]
    arm = registry.manifest("pxt/multi", "arm64")[0]
    r = puller.ok(registry.host + "/pxt/multi")
    assert r["digest"] == registry.index_digest
    assert r["manifest_digest"] == amd
    assert r["platform"]["architecture"] == "amd64"
    r = puller.ok(registry.host + "/pxt/multi:latest", "--platform", "linux/arm64")
    assert r["manifest_digest"] == arm
    assert r["platform"] == {"os": "linux", "architecture": "arm64", "variant": "v8"}
    puller.fails(registry.host + "/pxt/multi", "--platform", "linux/s390x",
                 msg="No manifest for platform linux/s390x")
    # the configured platform is the default
    puller.config(insecure(registry.host), platform="linux/aarch64")
    assert puller.ok(registry.host + "/pxt/multi")["manifest_digest"] == arm


def test_accept_header_matters(registry):
    """Why Accept is sent: without it the registry does not serve an OCI manifest."""
    with pytest.raises(Exception):
        registry.request("GET", "/v2/pxt/busybox/manifests/oci")


def test_errors_named(registry, puller):
    puller.config(insecure(registry.host))
    puller.fails(registry.host + "/pxt/nothere:1", msg="not found")
    puller.fails("Bad/Ref:", msg="Invalid reference")
    puller.fails(registry.host + "/pxt/busybox:oci", "--platform", "linux", msg="Invalid platform")
    assert puller.blobs() == []


def plain_http_msg(host):
    return ('the registry %s answered plain HTTP: mark it insecure '
            '(image.registries."%s".insecure = true)' % (host, host))


def test_plain_http_needs_insecure(registry, puller):
    puller.config({})
    # https to a plain-http server: OpenSSL's "wrong version number" is translated
    err = puller.fails(registry.host + "/pxt/busybox:oci", msg=plain_http_msg(registry.host))
    assert "wrong version number" not in err
    puller.config({"docker.io": {"mirrors": ["http://" + registry.host]}})
    puller.fails("busybox", msg='plain HTTP to %s needs "insecure": true' % registry.host)
    assert puller.blobs() == []


def test_mirror_before_unreachable_host(registry, puller):
    cfg = insecure(registry.host)
    cfg["127.0.0.1:1"] = {"mirrors": ["http://" + registry.host]}
    puller.config(cfg)
    r = puller.ok("127.0.0.1:1/pxt/busybox:oci")
    assert r["name"] == "127.0.0.1:1/pxt/busybox"
    assert r["digest"] == registry.manifest("pxt/busybox", "oci")[0]
    # missing on the mirror: the host itself is tried, and is unreachable
    puller.fails("127.0.0.1:1/pxt/other:1", msg="127.0.0.1:1")


def test_docker_io_mirror(registry, puller):
    """The issue's example: docker.io names resolved at a local mirror."""
    cfg = insecure(registry.host)
    cfg["docker.io"] = {"mirrors": ["http://" + registry.host]}
    puller.config(cfg)
    r = puller.ok("busybox")
    assert r["reference"] == "docker.io/library/busybox:latest"
    assert r["digest"] == registry.manifest("library/busybox", "latest")[0]
    assert puller.ok("pxt/busybox:v2s2")["manifest_media_type"] == registries.DOCKER_MANIFEST


# ---- authentication ----

def test_basic_auth(workdir, layout, puller):
    reg = DockerRegistry(workdir, "basic", htpasswd={"pxt": "s3cret"})
    try:
        reg.push(layout, "amd64", "pxt/private:1", creds="pxt:s3cret")
        puller.config(insecure(reg.host))
        ref = reg.host + "/pxt/private:1"
        err = puller.fails(ref, msg="requires authentication")
        assert "s3cret" not in err
        err = puller.fails(ref, "--username", "pxt", "--password", "wrong", msg="access denied")
        assert "wrong" not in err
        puller.ok(ref, "--username", "pxt", "--password", "s3cret")
        shutil.rmtree(puller.root)
        puller.ok(ref, "--auth", base64.b64encode(b"pxt:s3cret").decode())
    finally:
        reg.stop()


@pytest.fixture
def token_registry(registry):
    proxy = TokenProxy(registry.host, user="pxt", password="tok3n-pw", identity_token="refresh-123")
    yield proxy
    proxy.stop()


def test_bearer_token(token_registry, puller):
    p = token_registry
    puller.config(insecure(p.host))
    ref = p.host + "/pxt/busybox:oci"
    err = puller.fails(ref, msg="refused anonymous access")
    err = puller.fails(ref, "--username", "pxt", "--password", "nope", msg="refused the credentials")
    assert "nope" not in err
    r = puller.ok(ref, "--username", "pxt", "--password", "tok3n-pw")
    assert len(r["layers"]) == 1
    assert p.count("GET", "/token?service=pxt-registry&scope=repository%3Apxt%2Fbusybox%3Apull") >= 1
    bearer = [h.get("Authorization", "") for m, path, h in p.requests if "/blobs/" in path]
    assert bearer and all(a.startswith("Bearer ") for a in bearer)


def test_identity_token(token_registry, puller):
    p = token_registry
    puller.config(insecure(p.host))
    puller.ok(p.host + "/pxt/busybox:v2s2", "--identity-token", "refresh-123")
    assert p.count("POST", "/token") >= 1
    puller.fails(p.host + "/pxt/busybox:oci", "--identity-token", "bad", msg="refused the credentials")


def test_registry_token(token_registry, puller):
    p = token_registry
    tok = "pre-issued-token"
    with p.lock:
        p.tokens.add(tok)
    puller.config(insecure(p.host))
    puller.ok(p.host + "/pxt/multi", "--registry-token", tok)
    assert p.count("GET", "/token") == 0 and p.count("POST", "/token") == 0


def test_credentials_never_sent_to_mirrors(registry, puller):
    mirror = TokenProxy(registry.host, user="pxt", password="pw")
    try:
        cfg = insecure(registry.host, mirror.host)
        cfg[registry.host]["mirrors"] = ["http://" + mirror.host]
        puller.config(cfg)
        # the mirror refuses anonymous tokens; the registry itself serves the image
        puller.ok(registry.host + "/pxt/busybox:oci", "--username", "pxt", "--password", "pw")
        assert mirror.count("GET", "/token") >= 1
        assert all("Authorization" not in h for _, _, h in mirror.requests)
    finally:
        mirror.stop()


def test_redirect_to_other_host_drops_authorization(registry, puller):
    blobs = FakeRegistry("pxt/busybox")
    digest, _, _, body = registry.manifest("pxt/busybox", "oci")
    m = json.loads(body)
    for d in [m["config"]] + m["layers"]:
        blobs.blobs[d["digest"]] = registry.request("GET", "/v2/pxt/busybox/blobs/" + d["digest"])[2]
    proxy = TokenProxy(registry.host, user="pxt", password="pw", redirect_blobs_to=blobs.host)
    try:
        puller.config(insecure(proxy.host, blobs.host))
        puller.ok(proxy.host + "/pxt/busybox:oci", "--username", "pxt", "--password", "pw")
        assert blobs.count("GET", "/blobs/") == 2
        assert all("Authorization" not in h for _, _, h in blobs.requests)
    finally:
        proxy.stop()
        blobs.stop()


# ---- hostile registries ----

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()


@pytest.fixture
def fake():
    f = FakeRegistry("pxt/fake")
    yield f
    f.stop()


def test_wrong_digest_refused(fake, puller):
    layer = os.urandom(300000)
    fake.add_image("t", CONFIG, [layer])
    fake.modes[sha256(layer)] = "wrong"
    puller.config(insecure(fake.host))
    puller.fails(fake.host + "/pxt/fake:t", msg="failed verification")
    assert sha256(layer)[7:] not in puller.blobs()
    assert puller.partials() == []
    # a manifest appears only with all of its blobs
    assert all(d[7:] not in puller.blobs() for d in fake.manifests if d.startswith("sha256:"))


def test_truncated_blob_refused(fake, puller):
    layer = os.urandom(200000)
    fake.add_image("t", CONFIG, [layer])
    fake.modes[sha256(layer)] = "short"
    puller.config(insecure(fake.host))
    puller.fails(fake.host + "/pxt/fake:t", msg="truncated")
    assert sha256(layer)[7:] not in puller.blobs()


def test_oversized_blob_refused(fake, puller):
    layer = os.urandom(1000)
    body = fake.add_image("t", CONFIG, [layer])
    m = json.loads(body)
    m["layers"][0]["size"] = 10
    body = json.dumps(m).encode()
    fake.manifests["t"] = (registries.OCI_MANIFEST, body)
    puller.config(insecure(fake.host))
    puller.fails(fake.host + "/pxt/fake:t", msg="larger than the 10 bytes")
    assert sha256(layer)[7:] not in puller.blobs()


def test_manifest_not_json_refused(fake, puller):
    fake.manifests["t"] = (registries.OCI_MANIFEST, b"<html>hello</html>")
    puller.config(insecure(fake.host))
    puller.fails(fake.host + "/pxt/fake:t", msg="not JSON")
    assert puller.blobs() == []


def test_manifest_digest_mismatch_refused(fake, puller):
    body = fake.add_image("t", CONFIG, [b"layer"])
    other = sha256(b"something else")
    fake.manifests[other] = (registries.OCI_MANIFEST, body)
    puller.config(insecure(fake.host))
    puller.fails("%s/pxt/fake@%s" % (fake.host, other), msg="failed verification")
    assert puller.blobs() == []


def test_lying_digest_header_refused(fake, puller):
    fake.add_image("t", CONFIG, [b"layer"])
    fake.modes["manifest:t"] = "lying-digest-header"
    puller.config(insecure(fake.host))
    puller.fails(fake.host + "/pxt/fake:t", msg="does not match its content")
    assert puller.blobs() == []


def test_interrupted_pull_resumes(fake, puller):
    layer = os.urandom(1 << 20)
    fake.add_image("t", CONFIG, [layer])
    fake.modes[sha256(layer)] = "cut-once"
    puller.config(insecure(fake.host))
    puller.fails(fake.host + "/pxt/fake:t")
    assert sha256(layer)[7:] not in puller.blobs()
    partial = os.path.join(puller.root, "ingest", sha256(layer)[7:] + ".partial")
    assert os.path.getsize(partial) == len(layer) // 2
    puller.ok(fake.host + "/pxt/fake:t")
    ranges = [h.get("Range") for m, p, h in fake.requests if sha256(layer) in p]
    assert ranges == [None, "bytes=%d-" % (len(layer) // 2)]
    assert puller.partials() == []


def test_concurrent_pulls_download_once(fake, puller):
    layers = [os.urandom(100000) for _ in range(3)]
    fake.add_image("t", CONFIG, layers)
    for l in layers:
        fake.modes[sha256(l)] = "slow"
    puller.config(insecure(fake.host))
    procs = [puller.start(fake.host + "/pxt/fake:t") for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert json.loads(outs[0][0]) == json.loads(outs[1][0])
    for l in layers:
        assert fake.count("GET", sha256(l)) == 1
    puller.check_store()


def test_repull_resolves_with_head(fake, puller):
    layer = os.urandom(1000)
    body = fake.add_image("t", CONFIG, [layer])
    puller.config(insecure(fake.host))
    first = puller.ok(fake.host + "/pxt/fake:t")
    assert puller.ok(fake.host + "/pxt/fake:t") == first
    assert fake.count("HEAD", "/manifests/t") == 2
    assert fake.count("GET", "/manifests/") == 1  # the second pull read it from the store
    assert fake.count("GET", "/blobs/") == 2
    # the tag moved: HEAD names an unknown digest, the new manifest is fetched
    fake.add_image("t", CONFIG, [layer, b"new layer"])
    assert puller.ok(fake.host + "/pxt/fake:t")["digest"] != first["digest"]
    assert fake.count("GET", "/manifests/") == 2
    assert sha256(body)[7:] in puller.blobs()


def test_layers_in_parallel(fake, puller):
    layers = [os.urandom(1000) for _ in range(4)]
    fake.add_image("t", CONFIG, layers)
    for l in layers:
        fake.modes[sha256(l)] = "slow"
    puller.config(insecure(fake.host), max_concurrent_downloads=4)
    t0 = __import__("time").monotonic()
    puller.ok(fake.host + "/pxt/fake:t")
    assert __import__("time").monotonic() - t0 < 3.0  # 4 x 1 s, at once


# ---- TLS ----

def test_tls_verified_by_default(workdir, layout, puller):
    reg = DockerRegistry(workdir, "tls", tls=True)
    try:
        reg.push(layout, "amd64", "pxt/tls:1")
        ref = reg.host + "/pxt/tls:1"
        puller.config({})
        puller.fails(ref, msg="SSL certificate problem")
        puller.config({reg.host: {"insecure": True}})  # plain HTTP, which a TLS server refuses
        puller.fails(ref, msg="HTTP 400")
        assert puller.blobs() == []
        puller.config({reg.host: {"ca_file": reg.cert}})
        puller.ok(ref)
        shutil.rmtree(puller.root)
        puller.config({reg.host: {"skip_verify": True}})
        puller.ok(ref)
    finally:
        reg.stop()


def test_plain_http_needs_insecure_cli(registry, puller):
    """The same through `pxcri image pull`, as a new user meets it."""
    puller.config({})
    res = subprocess.run([PXCRI, "--config", puller.cfg, "image", "pull", registry.host + "/pxt/busybox:oci"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1, res.stdout + res.stderr
    assert plain_http_msg(registry.host) in res.stderr, res.stderr
    assert res.stderr.count("pxcri:") == 1, res.stderr
