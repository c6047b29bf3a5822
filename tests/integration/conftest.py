"""Shared fixtures for pxcri's integration tests: the binary under test, a
private state root per test, config files and bundles."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

import images

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PXCRI = os.environ.get("PXCRI_BIN", os.path.join(REPO, "build", "pxcri"))


class Pxcri:
    """Runs build/pxcri with a private --root (and optional --config)."""

    def __init__(self, root, config=None):
        self.root = root
        self.config = config

    def argv(self, *args, config=True):
        argv = [PXCRI, "--root", self.root]
        if config and self.config:
            argv += ["--config", self.config]
        return argv + list(args)

    def __call__(self, *args, check=False, timeout=60, input=None, env=None):
        """Run pxcri; returns CompletedProcess with text stdout/stderr.

        Output goes through files, not pipes: a created container inherits
        pxcri's stdio (the runc contract) and would hold a pipe open."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            rc = subprocess.run(self.argv(*args), stdout=out, stderr=err, text=True,
                                timeout=timeout, input=input, env=env).returncode
            out.seek(0)
            err.seek(0)
            res = subprocess.CompletedProcess(args, rc, out.read(), err.read())
        if check and res.returncode != 0:
            raise AssertionError("pxcri %s failed (%d): %s" %
                                 (" ".join(args), res.returncode, res.stderr))
        return res

    def state(self, cid):
        return json.loads(self("state", cid, check=True).stdout)

    def records(self):
        d = os.path.join(self.root, "containers")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def write_config(self, cfg):
        path = os.path.join(self.root + "-cfg.json")
        with open(path, "w") as f:
            f.write(cfg if isinstance(cfg, str) else json.dumps(cfg))
        self.config = path
        return path


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="pxt-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def px(workdir):
    """pxcri with a private root; every container left behind is removed."""
    p = Pxcri(os.path.join(workdir, "root"))
    yield p
    res = p("list", "-q")
    for cid in res.stdout.split():
        p("kill", cid, "KILL")
        p("delete", "--force", cid)


@pytest.fixture
def bundle(workdir):
    """Factory: bundle(args, **make_bundle kwargs) -> bundle dir."""
    def make(args, **kw):
        path = os.path.join(workdir, "bundle-" + uuid.uuid4().hex[:8])
        return images.make_bundle(path, args, **kw)
    return make


def wait_status(px, cid, want, timeout=10):
    """Poll `pxcri state` until the container reaches status want."""
    deadline = time.time() + timeout
    st = None
    while time.time() < deadline:
        st = px.state(cid)["status"]
        if st == want:
            return
        time.sleep(0.02)
    raise AssertionError("%s never reached %s (last %s)" % (cid, want, st))


def unique(prefix="pxt"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def pytest_configure(config):
    # The CRI fixtures (tests/integration/cri_env.py) are shared by every CRI test module.
    config.pluginmanager.import_plugin("cri_env")
