"""README.md's quick tour, run as written, so that it cannot break again.

The tour's shell blocks are read from README.md (section "Quick tour") and
each command line runs in bash as the README shows it, with two changes only:
`pxcri` is the binary under test with a private --root, and the bundle
directory /tmp/b is a fresh temporary directory.  The lines that cannot run
here are listed in SKIPPED with the reason, and the test fails when the tour
gains a line that is neither run nor listed."""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import PXCRI

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")

# Lines of the tour that are not run, and why.
SKIPPED = {
    "make && make install": "BUILD: the test runs the pxcri under test ($PXCRI_BIN)",
    "pxcri image pull docker.io/library/busybox:latest": "NETWORK: pulls from docker.io",
    "pxcri bundle create --image busybox /tmp/bb -- echo hello": "NETWORK: needs the image pulled above",
    "pxcri run -b /tmp/bb bb1": "NETWORK: needs the bundle made from the pulled image",
    "pxcri bundle remove /tmp/bb": "NETWORK: removes the bundle made from the pulled image",
    "ctr run --rm --runc-binary /usr/local/bin/pxcri docker.io/library/busybox:latest t1 echo hi":
        "CONTAINERD and NETWORK: needs containerd and docker.io",
}


def tour_blocks():
    """The ```sh blocks of the "Quick tour" section, as lists of lines."""
    with open(README) as f:
        text = f.read()
    start = text.index("\n## Quick tour\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    return [b.splitlines() for b in re.findall(r"```sh\n(.*?)```", section, re.S)]


def command_of(line):
    """The line without its trailing comment (outside quotes), stripped."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] == " "):
            return line[:i].strip()
    return line.strip()


def run_bash(script, cwd):
    """Output through files, not pipes: a created container inherits
    pxcri's stdio (the runc contract) and would hold a pipe open."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        rc = subprocess.run(["bash", "-c", script], cwd=cwd, stdout=out, stderr=err,
                            stdin=subprocess.DEVNULL, timeout=120).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(script, rc, out.read(), err.read())


def test_tour_is_found():
    blocks = tour_blocks()
    assert len(blocks) >= 1 and any(command_of(l).startswith("pxcri create") for l in blocks[0])


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static is not installed")
@pytest.mark.skipif(not shutil.which("jq"), reason="jq is not installed")
def test_quick_tour_runs_as_written():
    work = tempfile.mkdtemp(prefix="pxt-tour-")
    root = os.path.join(work, "root")
    bundle = os.path.join(work, "b")
    prelude = 'set -eo pipefail; pxcri() { "%s" --root "%s" "$@"; }\n' % (PXCRI, root)
    ran, skipped = [], []
    try:
        for block in tour_blocks():
            for line in block:
                cmd = command_of(line)
                if not cmd:
                    continue
                if cmd in SKIPPED:
                    skipped.append(cmd)
                    continue
                script = re.sub(r"/tmp/b(?![\w])", bundle, cmd)
                assert "/tmp/" not in script.replace(work, ""), "unexpected path in tour line: " + line
                want = 3 if "exits with the container's code (3)" in line else 0
                res = run_bash(prelude + script, work)
                assert res.returncode == want, "README tour line failed: %s\n(exit %d)\n%s%s" % (
                    line, res.returncode, res.stdout, res.stderr)
                ran.append((cmd, res.stdout))
        assert sorted(skipped) == sorted(SKIPPED), "SKIPPED lists lines the tour no longer has"
        out = dict(ran)
        state = json.loads(out["pxcri state demo"])
        assert state["backend"] == "crun" and state["status"] == "created"
        assert out["pxcri exec demo sh -c 'echo hi'"] == "hi\n"
        assert "demo" in out["pxcri list"]
        assert any(c.startswith("pxcri run --runtime runc") for c, _ in ran)
        listed = subprocess.run([PXCRI, "--root", root, "list", "-q"], capture_output=True, text=True)
        assert listed.stdout.split() == ["x"] or listed.stdout.split() == []
    finally:
        for cid in ("demo", "x"):
            subprocess.run([PXCRI, "--root", root, "delete", "--force", cid], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
