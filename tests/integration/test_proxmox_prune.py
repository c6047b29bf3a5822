"""Removing the Proxmox templates of images no container uses:
`pxcri proxmox-prune [--image ID]` and `pxcri proxmox-templates` against the
Proxmox double, both transports.  The double and its helpers come from
test_proxmox_backend.py."""

import fcntl
import json
import os
import subprocess
import time

from conftest import unique
from pve_env import api
from test_proxmox_backend import (  # noqa: F401 (pve, ppx, reset, transport: fixtures)
    cts, mk, ppx, proxmox_cfg, pve, reset, templates_dir, transport, user_cts)


def new_image():
    return "sha256:" + os.urandom(32).hex()


def tdir(ppx):  # noqa: F811
    return os.path.join(ppx.root, "proxmox", "templates")


def records(ppx):  # noqa: F811
    """key -> record of the root's templates."""
    d = tdir(ppx)
    out = {}
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if f.endswith(".json") and not f.startswith("."):
            with open(os.path.join(d, f)) as fh:
                out[f[:-5]] = json.load(fh)
    return out


def key_of(ppx, image):  # noqa: F811
    keys = [k for k, r in records(ppx).items() if r.get("image") == image]
    assert len(keys) == 1, (image, records(ppx))
    return keys[0]


def files(pve):  # noqa: F811
    return {f for f in os.listdir(templates_dir(pve)) if f.startswith("pxcri-")}


def prune(ppx, *args):  # noqa: F811
    """proxmox-prune's lines: key -> (action, reason); asserts exit 0."""
    res = ppx("proxmox-prune", *args)
    assert res.returncode == 0, res.stderr
    out = {}
    for line in res.stdout.splitlines():
        key, action, reason = line.split(" ", 2)
        out[key] = (action, reason)
    return out


def prune_json(ppx, *args):  # noqa: F811
    res = ppx("proxmox-prune", "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def gone_eventually(pred, timeout=10):
    deadline = time.time() + timeout
    while not pred() and time.time() < deadline:
        time.sleep(0.2)
    return pred()


def start(ppx, workdir, image, cid=None):  # noqa: F811
    cid = cid or unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "120"], image=image), cid, check=True)
    return cid


def run_once(ppx, workdir, image, text="once"):  # noqa: F811
    """A container of image that runs and is gone: its template stays, unused."""
    res = ppx("run", "-b", mk(workdir, ["sh", "-c", "echo " + text], image=image), unique())
    assert res.returncode == 0, res.stderr
    assert res.stdout == text + "\n"


def test_prune_keeps_in_use_removes_unused_and_rebuilds(ppx, pve, workdir, transport):  # noqa: F811
    ppx.write_config(proxmox_cfg(pve, transport, storage="local-zfs"))
    img_a, img_b, img_c = new_image(), new_image(), new_image()
    a = start(ppx, workdir, img_a)
    b = start(ppx, workdir, img_b)
    key_a, key_b = key_of(ppx, img_a), key_of(ppx, img_b)
    rec_a, rec_b = records(ppx)[key_a], records(ppx)[key_b]
    ct_a, ct_b = rec_a["ct"]["unprivileged"], rec_b["ct"]["unprivileged"]
    file_a, file_b = "pxcri-%s.tar.zst" % key_a, "pxcri-%s.tar.zst" % key_b
    assert rec_a["file"] == file_a and {file_a, file_b} <= files(pve)

    listed = {t["key"]: t for t in json.loads(ppx("proxmox-templates", "--format", "json", check=True).stdout)}
    assert listed[key_a] == {"key": key_a, "image": img_a, "file": file_a, "ct": {"unprivileged": ct_a},
                             "linked": True, "containers": [a]}
    table = ppx("proxmox-templates", check=True).stdout.splitlines()
    assert table[0].split() == ["KEY", "IMAGE", "FILE", "TEMPLATE-CTS", "CONTAINERS"]
    assert [key_a, img_a, file_a, str(ct_a), a] in [line.split() for line in table[1:]]

    # In use: kept, nothing touched.
    assert prune(ppx, "--image", img_a) == {key_a: ("kept", "in use by 1 container: %s" % a)}
    assert key_a in records(ppx) and file_a in files(pve) and ct_a in cts(pve)

    # Its container deleted: the template container, the file and the record go.
    ppx("delete", "--force", a, check=True)
    assert prune(ppx, "--image", img_a) == {key_a: ("removed", "unused")}
    assert ct_a not in cts(pve)
    assert file_a not in files(pve)
    assert key_a not in records(ppx)
    assert not os.path.exists(os.path.join(tdir(ppx), key_a + ".lock"))
    # The other image's template is untouched, its container still runs.
    assert records(ppx)[key_b] == rec_b
    assert file_b in files(pve) and cts(pve)[ct_b]["config"]["template"] in (1, "1")
    assert ppx.state(b)["status"] == "running"
    assert prune(ppx, "--image", img_a) == {}  # nothing left of it

    # Without a filter: every unused one (img_c's), the used one kept.
    run_once(ppx, workdir, img_c)
    key_c = key_of(ppx, img_c)
    ct_c = records(ppx)[key_c]["ct"]["unprivileged"]
    out = prune_json(ppx)
    assert (out["removed"], out["kept"]) == (1, 1)
    by_key = {t["key"]: t for t in out["templates"]}
    assert by_key[key_c] == {"key": key_c, "image": img_c, "action": "removed", "why": "unused",
                             "reason": "unused", "containers": []}
    assert by_key[key_b]["action"] == "kept" and by_key[key_b]["why"] == "in-use"
    assert by_key[key_b]["containers"] == [b]
    assert ct_c not in cts(pve) and "pxcri-%s.tar.zst" % key_c not in files(pve)
    ppx("delete", "--force", b, check=True)
    assert prune(ppx) == {key_b: ("removed", "unused")}
    assert records(ppx) == {}
    assert not {file_a, file_b} & files(pve)
    assert not [v for v, ct in cts(pve).items() if v in (ct_a, ct_b, ct_c)]

    # A later create of the same image makes the template again and works.
    run_once(ppx, workdir, img_a, "again")
    rec = records(ppx)[key_a]
    assert rec["image"] == img_a and file_a in files(pve)
    assert cts(pve)[rec["ct"]["unprivileged"]]["config"]["template"] in (1, "1")
    assert user_cts(pve) == {}


def clone_outside(pve, transport, src):  # noqa: F811
    """A linked clone of template container src that pxcri did not make."""
    vmid = 3000 + int.from_bytes(os.urandom(2), "big") % 900
    env = dict(os.environ, PVE_DOUBLE_STATE=pve["double"].state)
    if transport == "pct":
        subprocess.run([pve["pct"], "clone", str(src), str(vmid), "--full", "0", "--hostname", "someone-else"],
                       env=env, check=True, capture_output=True)
    else:
        st, _, ans = api(pve, "POST", "/nodes/pve1/lxc/%d/clone" % src,
                         {"newid": str(vmid), "full": "0", "hostname": "someone-else"})
        assert st == 200, ans
        assert gone_eventually(lambda: vmid in cts(pve) and not cts(pve)[vmid].get("lock"))
    assert cts(pve)[vmid]["config"]["rootfs"].startswith("local-zfs:base-%d-disk-0/" % src)
    return vmid


def test_template_with_a_foreign_linked_clone_is_kept(ppx, pve, workdir, transport):  # noqa: F811
    ppx.write_config(proxmox_cfg(pve, transport, storage="local-zfs"))
    img_d, img_e = new_image(), new_image()
    run_once(ppx, workdir, img_d)
    run_once(ppx, workdir, img_e)
    key_d, key_e = key_of(ppx, img_d), key_of(ppx, img_e)
    ct_d = records(ppx)[key_d]["ct"]["unprivileged"]
    foreign = clone_outside(pve, transport, ct_d)

    out = prune(ppx)
    assert out[key_e] == ("removed", "unused")
    action, reason = out[key_d]
    assert action == "kept"
    assert "Destroying Proxmox container %d" % ct_d in reason and "linked clone" in reason, reason
    # Kept whole: the template container, the file, the record.
    assert cts(pve)[ct_d]["config"]["template"] in (1, "1")
    assert "pxcri-%s.tar.zst" % key_d in files(pve)
    assert records(ppx)[key_d]["ct"] == {"unprivileged": ct_d}
    assert records(ppx)[key_d]["image"] == img_d
    # Nothing else broken: the image still runs (cloned from the kept template), the foreign clone is intact.
    run_once(ppx, workdir, img_d, "still-works")
    assert records(ppx)[key_d]["ct"] == {"unprivileged": ct_d}
    assert foreign in cts(pve)

    # Once the foreign clone is gone, the template goes too.
    env = dict(os.environ, PVE_DOUBLE_STATE=pve["double"].state)
    subprocess.run([pve["pct"], "destroy", str(foreign)], env=env, check=True, capture_output=True)
    assert prune(ppx, "--image", img_d) == {key_d: ("removed", "unused")}
    assert ct_d not in cts(pve) and records(ppx) == {}


def test_older_record_without_image_and_busy_template(ppx, pve, workdir):  # noqa: F811
    ppx.write_config(proxmox_cfg(pve, storage="local"))  # no linked clones: full creates from the file
    img = new_image()
    run_once(ppx, workdir, img)
    key = key_of(ppx, img)
    path = os.path.join(tdir(ppx), key + ".json")
    rec = records(ppx)[key]
    assert rec["linked"] is False
    ct = rec["ct"]["unprivileged"]  # made before the storage refused the linked clone
    del rec["image"]
    with open(path, "w") as f:  # as pxcri before "image" wrote it
        json.dump(rec, f)
    assert prune(ppx, "--image", img) == {}  # does not match an image filter
    assert key in records(ppx)
    run_once(ppx, workdir, img)  # used again: the image is recorded
    assert records(ppx)[key]["image"] == img

    # A create of the image holds the key's lock: kept, busy.
    with open(os.path.join(tdir(ppx), key + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert prune(ppx, "--image", img) == {key: ("kept", "in use by a create of its image right now")}
    assert prune(ppx, "--image", img) == {key: ("removed", "unused")}
    assert "pxcri-%s.tar.zst" % key not in files(pve)
    assert ct not in cts(pve) and records(ppx) == {}


def test_exit_codes(ppx, pve, workdir):  # noqa: F811
    # Nothing recorded: a backend that is not available here is no error.
    ppx.write_config(proxmox_cfg(pve, pct_path="/nonexistent/pct"))
    res = ppx("proxmox-prune")
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    assert ppx("proxmox-templates", "-q", check=True).stdout == ""

    ppx.write_config(proxmox_cfg(pve))
    img = new_image()
    run_once(ppx, workdir, img)
    ppx.write_config(proxmox_cfg(pve, pct_path="/nonexistent/pct"))
    res = ppx("proxmox-prune")
    assert res.returncode == 1
    assert "Backend proxmox is not available" in res.stderr
    res = ppx("proxmox-prune", "--image", "")
    assert res.returncode == 1 and "--image needs an image ID" in res.stderr

    # Proxmox not answering: exit 1 naming the template, the template kept.
    ppx.write_config(proxmox_cfg(pve, "api", token_file=os.path.join(pve["dir"], "token-bad")))
    res = ppx("proxmox-prune", "--image", img)
    assert res.returncode == 1
    assert "Pruning Proxmox template %s" % key_of(ppx, img) in res.stderr and "401" in res.stderr
    assert key_of(ppx, img)
    ppx.write_config(proxmox_cfg(pve, "api"))
    key = key_of(ppx, img)
    assert prune(ppx, "--image", img) == {key: ("removed", "unused")}
