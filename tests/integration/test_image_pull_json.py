"""`pxcri image pull --json-stdin`: how pxcrid pulls — the request and its
credentials on stdin, a JSON answer with the error code on stdout."""

import json
import os
import subprocess
import tempfile

from conftest import PXCRI

PXCRI_IMAGE = os.path.join(os.path.dirname(PXCRI), "pxcri-image")


def pull(cfg, request):
    res = subprocess.run([PXCRI_IMAGE, "--config", cfg, "image", "pull", "--json-stdin"],
                         input=request, capture_output=True, text=True, timeout=120)
    return res.returncode, json.loads(res.stdout)


def config(tmp, registry):
    path = os.path.join(tmp, "config.json")
    with open(path, "w") as f:
        json.dump({"image": {"root": os.path.join(tmp, "images"),
                             "registries": {registry.host: {"insecure": True}}}}, f)
    return path


def test_pull_and_errors(cri_registry):
    with tempfile.TemporaryDirectory(prefix="pxt-pulljson-") as tmp:
        cfg = config(tmp, cri_registry)
        ref = "%s/pxt/busybox:1" % cri_registry.host
        rc, out = pull(cfg, json.dumps({"reference": ref}))
        assert rc == 0 and out["id"].startswith("sha256:") and len(out["id"]) == 71
        listed = subprocess.run([PXCRI_IMAGE, "--config", cfg, "image", "list", "-q"], capture_output=True,
                                text=True, check=True).stdout
        assert out["id"].split(":")[1][:12] in listed
        rc, out = pull(cfg, json.dumps({"reference": "%s/pxt/busybox:nope" % cri_registry.host}))
        assert rc == 1 and out["code"] == 2 and "busybox:nope" in out["message"]  # ENOENT
        rc, out = pull(cfg, "[1, 2]")
        assert rc == 1 and out["code"] == 22 and "not a JSON object" in out["message"]
        rc, out = pull(cfg, json.dumps({"auth": {"username": "u", "password": "secret-pw"}}))
        assert rc == 1 and out["code"] == 22 and '"reference" is missing' in out["message"]
        assert "secret-pw" not in json.dumps(out)
        res = subprocess.run([PXCRI_IMAGE, "--config", cfg, "image", "pull", "--json-stdin", ref],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 1 and "takes the reference on stdin" in res.stderr
