"""The Proxmox VE model shared by the API double (pve_double.py) and the fake
pct (fake_pct.py): schema validation from tests/fixtures/pve-api-lxc.json and
the cluster state, kept as JSON in a state directory so both see one cluster.

Only the control plane is simulated: containers are real LXC containers on
this machine (liblxc tools: lxc-start, lxc-stop, lxc-info, lxc-attach,
lxc-freeze, lxc-unfreeze), so `start` really runs the container's init.

State layout (<state> is the state directory):
  state.json, state.lock        the cluster (flock'd); older states are upgraded
                                in place (new keys only)
  storage/local/                dir storage, content vztmpl,rootdir, no linked clones
    template/cache/<file>       CT templates (volid "local:vztmpl/<file>")
    images/<vmid>/vm-<vmid>-disk-<n>       volumes (directories; volid
                                           "local:<vmid>/vm-<vmid>-disk-<n>")
  storage/local-zfs/            zfspool storage, content rootdir, linked clones
    images/<vmid>/subvol-<vmid>-disk-<n>   volid "local-zfs:subvol-<vmid>-disk-<n>"
    images/<vmid>/base-<vmid>-disk-<n>     after `template`
    linked clone N of template T: images/N/subvol-N-disk-0, volid
    "local-zfs:base-T-disk-0/subvol-N-disk-0" (a cp -a --reflink=auto copy:
    the double has no real ZFS)
  lxcpath: <state>/lxc, or /run/pxt-pve-<hash> when that would be longer than
  48 characters (LXC's socket paths); recorded in state.json as "lxcpath",
  removed by cleanup_all().
  Unprivileged containers run as host uid 100000: the state directory and
  its parents (and bind-mount sources' parents) must be searchable by it
  (the storage directories are 0711); otherwise start fails saying which.
  <lxcpath>/<vmid>/config, <lxcpath>/<vmid>/lxc.log
  etc-pve/nodes/<node>/lxc/<vmid>.conf   each container's config in Proxmox's
                                file format (/etc/pve/lxc, written after every
                                change; etc-pve/lxc links to the node's), the
                                place for raw lxc.* keys as on a real node: the
                                ones pve-container accepts (valid_lxc_conf_keys:
                                lxc.include, lxc.mount.entry, lxc.cgroup*.*,
                                lxc.net.*, ...) are kept across changes, passed
                                to LXC at start and shown by GET config ("lxc")
                                and `pct config`; others (lxc.namespace.*) are
                                dropped with pve-container's warning.

Operations (the same for both front ends; real work is done when the request
is accepted, under the state lock, and the task ends after faults.task_delay):
  create    ostemplate "STORAGE:vztmpl/FILE" must exist (root@pam: an absolute
            path too); rootfs/mpN "STORAGE:SIZE" allocate volume directories;
            the archive is extracted with tar (compression by tar); with
            unprivileged=1 uids/gids are shifted by 100000.  A failed create
            leaves nothing.
  start     writes <lxcpath>/<vmid>/config and runs lxc-start -d:
            hostname -> lxc.uts.name, rootfs -> lxc.rootfs.path = dir:<volume>,
            entrypoint (default /sbin/init) -> lxc.init.cmd, env (NUL-separated)
            -> lxc.environment, mpN -> lxc.mount.entry bind (create=dir|file,
            ro), memory/swap -> lxc.cgroup.memory.{limit,memsw.limit}_in_bytes
            (v1 memory controller only), cpulimit/cpuunits -> the CFS quota
            (period 100 ms) and cpu.shares (v1) / cpu.max and cpu.weight (v2);
            `pct set` of memory, swap, cpulimit or cpuunits on a running CT
            writes the CT's limiting cgroup lxc/<vmid> at once, unprivileged=1 -> lxc.idmap u/g 0
            100000 65536, netN: the bridge must be in faults.bridges (default
            ["vmbr0"]) else the task fails; inside, lxc.net.0.type = empty (the
            double does not wire networks); no netN: no lxc.net keys (a network
            namespace of the container's own, unless a raw key shares one);
            the raw lxc.* keys of the config file last.  lxc-start failing fails the task
            with the tail of lxc.log.
  status    the real one: when the model says running, lxc-info -s is asked
            (once per container looked at); a container whose init exited is
            "stopped" from then on.
  stop      lxc-stop -k.   shutdown: lxc.signal.halt (SIGPWR) to init, the task
            waits up to `timeout` (60) for the container to stop, then kills it
            with forceStop=1 or fails.   suspend/resume: lxc-freeze/unfreeze
            (status stays "running", status/current says qmpstatus "paused").
  destroy   refused while running unless force (then lxc-stop -k); removes the
            volume directories, the LXC directory and the config.
  template  on local-zfs the volumes become base-<vmid>-disk-<n>.
  clone     a normal CT: always a full copy; a template: linked unless full=1;
            linked needs local-zfs ("Linked clone feature for 'VOLID' is not
            available" otherwise); full copies to `storage` if given.

Not modelled: networks (no veth, no bridge), real storage drivers (ZFS, LVM,
quotas, sizes), snapshots, backups, migration, HA, exec through the API (it
has none; the fake pct exec runs lxc-attach).

Python 3 standard library only (runs under /usr/bin/python3)."""

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_PATH = os.path.join(os.path.dirname(HERE), "fixtures", "pve-api-lxc.json")


class PveError(Exception):
    """An answer other than 200: status, reason (Proxmox's status line) and
    the errors map for 400s."""

    def __init__(self, status, reason, errors=None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.errors = errors


# ---- schema ----

_FORMATS = {
    "pve-node": r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?",
    "pve-storage-id": r"[a-z][a-z0-9\-_.]*[a-z0-9]",
    "pve-vmid": r"[1-9][0-9]{2,8}",
    "dns-name": r"([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?",
    "mac-addr": r"[a-fA-F0-9]{2}(:[a-fA-F0-9]{2}){5}",
    "ipv4": r"(\d{1,3}\.){3}\d{1,3}",
    "ipv6": r"[0-9a-fA-F:]+",
    "pve-ipv4-config": r"(dhcp|manual|(\d{1,3}\.){3}\d{1,3}/\d{1,2})",
    "pve-ipv6-config": r"(auto|dhcp|manual|[0-9a-fA-F:]+/\d{1,3})",
    "disk-size": r"\d+(\.\d+)?[KMGT]?",
    "pve-poolid": r"[A-Za-z0-9_\-]+",
    "pve-tag-list": r"[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*([;, ][a-zA-Z0-9_][a-zA-Z0-9_\-+.]*)*",
}


def _perl_re(p):
    # Perl's stringified regexes "(?^:...)" mean "(?:...)" here.
    return re.compile(p.replace("(?^:", "(?:") + r"\Z")


def _check_scalar(name, spec, value):
    """Reason the value is wrong, or None."""
    t = spec.get("type", "string")
    if t == "boolean":
        if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            return "type check ('boolean') failed - got '%s'" % value
        return None
    if t in ("integer", "number"):
        pat = r"-?\d+\Z" if t == "integer" else r"-?\d+(\.\d+)?\Z"
        if not re.match(pat, value):
            return "type check ('%s') failed - got '%s'" % (t, value)
        n = float(value)
        if "minimum" in spec and n < spec["minimum"]:
            return "value must have a minimum value of %s" % spec["minimum"]
        if "maximum" in spec and n > spec["maximum"]:
            return "value may have a maximum value of %s" % spec["maximum"]
        return None
    if "enum" in spec and value not in spec["enum"]:
        return "value '%s' does not have a value in the enumeration '%s'" % (value, ", ".join(spec["enum"]))
    if "maxLength" in spec and len(value) > spec["maxLength"]:
        return "value may only be %d characters long" % spec["maxLength"]
    if "pattern" in spec and not _perl_re(spec["pattern"]).match(value):
        return "value does not match the regex pattern"
    fmt = spec.get("format")
    if isinstance(fmt, dict):
        return _check_format(fmt, value)
    if isinstance(fmt, str) and fmt in _FORMATS and not re.match(_FORMATS[fmt] + r"\Z", value):
        return "value does not look like a valid %s" % fmt.replace("pve-", "")
    return None


def _check_format(fmt, value):
    """A comma-separated key=value property string (net[n], rootfs, mp[n]...)."""
    default_key = next((k for k, s in fmt.items() if s.get("default_key")), None)
    seen = {}
    for part in value.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
        elif default_key and default_key not in seen:
            k, v = default_key, part
        else:
            return "format error: missing key in comma-separated list property"
        k = {a: n for n, s in fmt.items() for a in [s.get("alias")] if a}.get(k, k)
        if k not in fmt:
            return "invalid format - %s: property is not defined in schema and the schema does not allow additional properties" % k
        if k in seen:
            return "invalid format - duplicate key in comma-separated list property: %s" % k
        why = _check_scalar(k, fmt[k], v)
        if why:
            return "invalid format - %s: %s" % (k, why)
        seen[k] = v
    for k, s in fmt.items():
        if not s.get("optional") and k not in seen and not s.get("alias"):
            return "invalid format - %s: property is missing and it is not optional" % k
    return None


class Schema:
    def __init__(self, path=SCHEMA_PATH):
        with open(path) as f:
            self.entries = json.load(f)
        self.routes = []
        for e in self.entries:
            rx = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", e["path"]) + "$"
            self.routes.append((re.compile(rx), e))

    def match(self, method, path):
        """(schema entry info for method, path params) or raise 501/404."""
        for rx, e in self.routes:
            m = rx.match(path)
            if m:
                if method not in e["info"]:
                    raise PveError(501, "Method '%s %s' not implemented" % (method, path))
                # path components are matched before they are decoded
                # (a volume id "local:vztmpl/x" comes as local%3Avztmpl%2Fx)
                return e["path"], e["info"][method], {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
        raise PveError(501, "Method '%s /api2/json%s' not implemented" % (method, path))

    @staticmethod
    def validate(info, params):
        """Proxmox's parameter verification: 400 with an errors map."""
        props = info.get("parameters", {}).get("properties", {})
        errors = {}
        indexed = {}
        for name in props:
            m = re.match(r"(\w+)\[n\]$", name)
            if m:
                indexed[m.group(1)] = props[name]
        for k, v in params.items():
            spec = props.get(k)
            if spec is None:
                m = re.match(r"([a-z]+)(\d+)$", k)
                if m and m.group(1) in indexed:
                    spec = indexed[m.group(1)]
            if spec is None:
                if not info.get("parameters", {}).get("additionalProperties"):
                    errors[k] = "property is not defined in schema and the schema does not allow additional properties"
                continue
            why = _check_scalar(k, spec, v)
            if why:
                errors[k] = why
        for k, spec in props.items():
            if not spec.get("optional") and "[n]" not in k and k not in params:
                errors[k] = "property is missing and it is not optional"
        if errors:
            raise PveError(400, "Parameter verification failed.", errors)


# ---- state ----

DEFAULT_STORAGES = {
    "local": {"type": "dir", "content": "vztmpl,rootdir", "linked_clone": False},
    "local-zfs": {"type": "zfspool", "content": "rootdir", "linked_clone": True},
}
DEFAULT_BRIDGES = ["vmbr0"]
UNPRIV_SHIFT = 100000
UNPRIV_COUNT = 65536
LXCPATH_MAX = 48


def upid(node, pid, starttime, ttype, vmid, user):
    return "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (node, pid, pid * 7 % 0xFFFFFF, starttime, ttype, vmid, user)


def default_lxcpath(directory):
    p = os.path.join(os.path.abspath(directory), "lxc")
    if len(p) <= LXCPATH_MAX:
        return p
    return "/run/pxt-pve-" + hashlib.sha1(os.path.realpath(directory).encode()).hexdigest()[:12]


class State:
    """The cluster, in <dir>/state.json under an flock; faults in the same file."""

    def __init__(self, directory, node="pve1"):
        self.dir = os.path.abspath(directory)
        self.path = os.path.join(self.dir, "state.json")
        self.lock_path = os.path.join(self.dir, "state.lock")
        self.node = node
        self._threads = threading.Lock()
        self._lock = None
        os.makedirs(self.dir, exist_ok=True)
        if not os.path.exists(self.path):
            self._write(self._empty())
        with self:
            pass  # upgrades an older state, makes the storage directories

    def _empty(self):
        return {"nodes": [self.node], "cts": {}, "tasks": {}, "next_pid": 4000,
                "faults": {"task_delay": 0.2, "fail_task": None, "taken": [], "down": False,
                           "bridges": list(DEFAULT_BRIDGES)}}

    def _upgrade(self, d):
        """New keys of the state, added to states written by older doubles."""
        d.setdefault("storages", json.loads(json.dumps(DEFAULT_STORAGES)))
        d["faults"].setdefault("bridges", list(DEFAULT_BRIDGES))
        d.setdefault("lxcpath", default_lxcpath(self.dir))
        if not os.path.isdir(self.conf_dir):
            os.makedirs(self.conf_dir)
            os.symlink(os.path.join("nodes", self.node, "lxc"), os.path.join(self.dir, "etc-pve", "lxc"))
        for sid in d["storages"]:
            p = self.storage_dir(sid)
            if not os.path.isdir(p):
                os.makedirs(os.path.join(p, "images"), mode=0o711)
                if "vztmpl" in d["storages"][sid]["content"]:
                    os.makedirs(os.path.join(p, "template", "cache"))
                for q in (os.path.join(self.dir, "storage"), p, os.path.join(p, "images")):
                    os.chmod(q, 0o711)  # unprivileged CTs (uid 100000) walk to their rootfs

    def _write(self, d):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f)
        os.replace(tmp, self.path)

    def __enter__(self):
        # The double's threads share this object: they take turns (the
        # thread lock) before taking the flock other processes respect.
        self._threads.acquire()
        try:
            self._lock = open(self.lock_path, "w")
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            with open(self.path) as f:
                self.d = json.load(f)
            self._upgrade(self.d)
            self._finish_tasks()
        except BaseException:
            if getattr(self, "_lock", None):
                self._lock.close()
            self._threads.release()
            raise
        return self.d

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                sync_conf_files(self)
                self._write(self.d)
        finally:
            self._lock.close()
            self._lock = None
            self._threads.release()

    # ---- paths ----

    def storage_dir(self, sid):
        return os.path.join(self.dir, "storage", sid)

    @property
    def conf_dir(self):
        """/etc/pve/nodes/<node>/lxc."""
        return os.path.join(self.dir, "etc-pve", "nodes", self.node, "lxc")

    def conf_path(self, vmid):
        return os.path.join(self.conf_dir, "%s.conf" % vmid)

    @property
    def lxcpath(self):
        return self.d["lxcpath"]

    def storage(self, sid):
        s = self.d["storages"].get(sid)
        if s is None:
            raise PveError(500, "storage '%s' does not exist" % sid)
        return s

    def volume_path(self, volid):
        """The directory of a container volume "STORAGE:[VMID/][base-T-disk-N/]NAME"."""
        sid, _, rest = volid.partition(":")
        name = rest.rsplit("/", 1)[-1]
        m = re.match(r"(?:vm|subvol|base)-(\d+)-disk-\d+$", name)
        if not m:
            raise PveError(500, "unable to parse volume name '%s'" % volid)
        return os.path.join(self.storage_dir(sid), "images", m.group(1), name)

    # Tasks end lazily at their end time: asynchronous for every client,
    # whichever process (double or fake pct) looks next.
    def _finish_tasks(self):
        now = time.time()
        for t in self.d["tasks"].values():
            if t["status"] != "running" or now < t["end"]:
                continue
            w = t.get("wait")
            if w and not t["fail"]:
                # shutdown: ends when the container has stopped, or at its deadline
                if lxc_state(self, w["vmid"]) != "STOPPED":
                    if now < w["deadline"]:
                        continue
                    if w["force"]:
                        lxc_stop_kill(self, w["vmid"])
                        t["log"].append("container did not stop in time, killed it")
                    else:
                        t["fail"] = "command 'lxc-stop -n %s --timeout %d --nokill' failed: exit code 1" % (
                            w["vmid"], w["timeout"])
            t["status"] = "stopped"
            if t["fail"]:
                t["exitstatus"] = t["fail"]
                t["log"].append("TASK ERROR: " + t["fail"])
                undo_effect(self, t["effect"])
            else:
                apply_effect(self, t["effect"])
                t["exitstatus"] = "OK"
                t["log"].append("TASK OK")

    def new_task(self, ttype, vmid, user, effect, log, fail=None, wait=None):
        d = self.d
        d["next_pid"] += 1
        now = int(time.time())
        u = upid(self.node, d["next_pid"], now, ttype, vmid, user)
        f = d["faults"]
        d["tasks"][u] = {"upid": u, "node": self.node, "pid": d["next_pid"], "pstart": d["next_pid"] * 7 % 0xFFFFFF,
                         "starttime": now, "type": ttype, "id": str(vmid), "user": user, "status": "running",
                         "end": time.time() + float(f.get("task_delay", 0)), "fail": fail or f.get("fail_task"),
                         "effect": effect, "log": list(log)}
        if wait:
            d["tasks"][u]["wait"] = wait
        return u


def undo_effect(st, eff):
    """A failed task: a half-created container is removed (with its volumes),
    others unlocked."""
    d = st.d
    vmid = str(eff[1])
    if eff[0] == "create":
        ct = d["cts"].pop(vmid, None)
        remove_ct_files(st, vmid, ct["config"] if ct else eff[2]["config"])
    elif vmid in d["cts"]:
        d["cts"][vmid].pop("lock", None)


def apply_effect(st, eff):
    d = st.d
    kind, vmid = eff[0], str(eff[1])
    ct = d["cts"].get(vmid)
    if kind == "create":
        d["cts"][vmid] = eff[2]
    elif ct is None:
        return
    elif kind == "status":
        ct["status"] = eff[2]
        ct.pop("lock", None)
        if eff[2] == "stopped":
            ct.pop("paused", None)
    elif kind == "pause":
        ct["paused"] = bool(eff[2])
    elif kind == "destroy":
        lxc_stop_kill(st, vmid)
        remove_ct_files(st, vmid, ct["config"])
        del d["cts"][vmid]
    elif kind == "template":
        to_base(st, vmid, ct["config"])
        ct["config"]["template"] = 1
        ct.pop("lock", None)


# ---- volumes ----

def _mount_keys(cfg):
    """rootfs, then mp0, mp1... (disk numbers follow this order)."""
    mps = sorted((k for k in cfg if re.match(r"^mp\d+$", k)), key=lambda k: int(k[2:]))
    return (["rootfs"] if "rootfs" in cfg else []) + mps


def _volumes(cfg):
    """(key, volid, rest) of the storage-backed rootfs and mpN of a config."""
    for k in _mount_keys(cfg):
        if True:
            vol, _, rest = str(cfg[k]).partition(",")
            vol = vol[len("volume="):] if vol.startswith("volume=") else vol
            if ":" in vol and not vol.startswith("/"):
                yield k, vol, rest


def _content_has(s, what):
    return what in s["content"].split(",")


def _vol_name(st, sid, vmid, n, prefix=None):
    s = st.storage(sid)
    if prefix is None:
        prefix = "subvol" if s["type"] == "zfspool" else "vm"
    name = "%s-%s-disk-%d" % (prefix, vmid, n)
    return name if s["type"] == "zfspool" else "%s/%s" % (vmid, name)


def _next_disk(st, vmid, cfg):
    used = set()
    for _k, vol, _r in _volumes(cfg):
        m = re.search(r"-disk-(\d+)$", vol)
        if m:
            used.add(int(m.group(1)))
    n = 0
    while n in used:
        n += 1
    return n


def allocate_volumes(st, vmid, cfg, keys=None):
    """rootfs/mpN given as "STORAGE:SIZE" become allocated volume
    directories (Proxmox's "volume=STORAGE:SIZE" allocation)."""
    for k in _mount_keys(cfg):
        if keys is not None and k not in keys:
            continue
        vol, _, rest = str(cfg[k]).partition(",")
        vol = vol[len("volume="):] if vol.startswith("volume=") else vol
        m = re.match(r"([a-z][a-z0-9\-_.]*):(\d+(\.\d+)?)$", vol)
        if not m:
            if ":" in vol and not vol.startswith("/"):
                sid = vol.split(":", 1)[0]
                st.storage(sid)
                if not os.path.isdir(st.volume_path(vol)):
                    raise PveError(500, "volume '%s' does not exist" % vol)
            continue
        sid, size = m.group(1), m.group(2)
        s = st.storage(sid)
        if not _content_has(s, "rootdir"):
            raise PveError(500, "storage '%s' does not support container directories" % sid)
        volid = "%s:%s" % (sid, _vol_name(st, sid, vmid, _next_disk(st, vmid, cfg)))
        os.makedirs(st.volume_path(volid))
        opts = [o for o in rest.split(",") if o and not o.startswith("size=")]
        cfg[k] = ",".join([volid] + opts + ["size=%sG" % size])


def remove_ct_files(st, vmid, cfg):
    """The volumes a container owns (images/<vmid> on every storage, never a
    template's base it is linked to) and its LXC directory."""
    for sid in st.d["storages"]:
        shutil.rmtree(os.path.join(st.storage_dir(sid), "images", str(vmid)), ignore_errors=True)
    shutil.rmtree(os.path.join(st.lxcpath, str(vmid)), ignore_errors=True)


def to_base(st, vmid, cfg):
    for k, vol, rest in list(_volumes(cfg)):
        sid = vol.split(":", 1)[0]
        s = st.d["storages"].get(sid)
        name = vol.split(":", 1)[1]
        if not s or s["type"] != "zfspool" or "/" in name or not name.startswith("subvol-"):
            continue
        base = "%s:%s" % (sid, "base-" + name[len("subvol-"):])
        os.rename(st.volume_path(vol), st.volume_path(base))
        cfg[k] = ",".join([base] + ([rest] if rest else []))


def run_cmd(argv, timeout=60, **kw):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, **kw)


def extract(archive, dest, unprivileged):
    """tar (compression detected by tar) into dest, shifting ids like
    Proxmox for unprivileged containers.  Error text or None."""
    r = run_cmd(["tar", "-xpf", archive, "--numeric-owner", "-C", dest], timeout=600)
    if r.returncode != 0:
        return "command 'tar xpf %s --numeric-owner -C %s' failed: exit code %d\n%s" % (
            archive, dest, r.returncode, "\n".join(r.stderr.strip().splitlines()[-5:]))
    if unprivileged:
        shift_ids(dest, UNPRIV_SHIFT)
    return None


def shift_ids(top, by):
    def one(p):
        s = os.lstat(p)
        os.lchown(p, s.st_uid + by, s.st_gid + by)
        if not os.path.islink(p) and s.st_mode & 0o7000:
            os.chmod(p, s.st_mode & 0o7777)  # chown clears setuid/setgid
    one(top)
    for root, dirs, files in os.walk(top):
        for n in dirs + files:
            one(os.path.join(root, n))


def is_true(v):
    return str(v).lower() in ("1", "true", "yes", "on")


# ---- LXC ----

def lxc_state(st, vmid):
    """RUNNING, STOPPED, FROZEN... from lxc-info (one call)."""
    if not os.path.exists(os.path.join(st.lxcpath, str(vmid), "config")):
        return "STOPPED"
    r = run_cmd(["lxc-info", "-n", str(vmid), "-P", st.lxcpath, "-s", "-H"], timeout=20)
    out = r.stdout.strip().split()
    return out[-1] if r.returncode == 0 and out else "STOPPED"


def lxc_init_pid(st, vmid):
    r = run_cmd(["lxc-info", "-n", str(vmid), "-P", st.lxcpath, "-p", "-H"], timeout=20)
    out = r.stdout.strip().split()
    return int(out[-1]) if r.returncode == 0 and out and out[-1].isdigit() else None


def lxc_stop_kill(st, vmid):
    state = lxc_state(st, vmid)
    if state == "STOPPED":
        return
    if state == "FROZEN":
        run_cmd(["lxc-unfreeze", "-n", str(vmid), "-P", st.lxcpath], timeout=20)
    run_cmd(["lxc-stop", "-n", str(vmid), "-P", st.lxcpath, "-k"], timeout=60)


def _memory_v1():
    return os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _cpu_v1():
    return os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")


CPU_PERIOD = 100000


def cpu_cgroup_items(cfg):
    """cpulimit and cpuunits as pve-container writes them into the CT's
    cgroup: a CFS quota of cpulimit periods of 100 ms, cpuunits as the
    shares (v1) or the weight (v2).  No cpulimit: no quota (v1: -1)."""
    limit = float(cfg.get("cpulimit", 0) or 0)
    quota = int(CPU_PERIOD * limit) if limit > 0 else None
    units = cfg.get("cpuunits")
    if _cpu_v1():
        items = [("cpu.cfs_period_us", CPU_PERIOD), ("cpu.cfs_quota_us", quota if quota else -1)]
        return items + ([("cpu.shares", int(units))] if units not in (None, "") else [])
    items = [("cpu.max", "%s %d" % (quota if quota else "max", CPU_PERIOD))]
    return items + ([("cpu.weight", int(units))] if units not in (None, "") else [])



# pve-container's PVE::LXC::Config valid_lxc_conf_keys (Proxmox VE 8/9): 1 is
# kept, a string is refused with that reason; lxc.cgroup.*, lxc.cgroup2.*,
# lxc.prlimit.* and lxc.net.* are allowed as prefixes; anything else is
# "unable to parse config" (dropped, with a warning).
VALID_LXC_KEYS = dict.fromkeys([
    "lxc.apparmor.profile", "lxc.apparmor.allow_incomplete", "lxc.apparmor.allow_nesting", "lxc.apparmor.raw",
    "lxc.selinux.context", "lxc.include", "lxc.arch", "lxc.uts.name", "lxc.signal.halt", "lxc.signal.reboot",
    "lxc.signal.stop", "lxc.init.cmd", "lxc.init.cwd", "lxc.pty.max", "lxc.console.logfile", "lxc.console.path",
    "lxc.tty.max", "lxc.devtty.dir", "lxc.hook.autodev", "lxc.autodev", "lxc.kmsg", "lxc.mount.fstab",
    "lxc.mount.entry", "lxc.mount.auto", "lxc.rootfs.mount", "lxc.cap.drop", "lxc.cap.keep",
    "lxc.seccomp.profile", "lxc.seccomp.notify.proxy", "lxc.seccomp.notify.cookie", "lxc.idmap",
    "lxc.hook.pre-start", "lxc.hook.pre-mount", "lxc.hook.mount", "lxc.hook.start", "lxc.hook.stop",
    "lxc.hook.post-stop", "lxc.hook.clone", "lxc.hook.destroy", "lxc.hook.version", "lxc.log.level",
    "lxc.log.file", "lxc.start.auto", "lxc.start.delay", "lxc.start.order", "lxc.group", "lxc.environment",
    "lxc.environment.runtime", "lxc.environment.hooks", "lxc.sysctl.fs.mqueue", "lxc.sysctl.kernel.msgmax",
    "lxc.sysctl.kernel.msgmnb", "lxc.sysctl.kernel.msgmni", "lxc.sysctl.kernel.sem", "lxc.sysctl.kernel.shmall",
    "lxc.sysctl.kernel.shmmax", "lxc.sysctl.kernel.shmmni", "lxc.sysctl.kernel.shm_rmid_forced"], 1)
VALID_LXC_KEYS["lxc.rootfs.path"] = "lxc.rootfs.path is auto generated from rootfs"
VALID_LXC_KEYS["lxc.rootfs.options"] = ('lxc.rootfs.options is not supported, please use mount point options in '
                                        'the "rootfs" key')
RAW_LXC_LINE = re.compile(r"^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$")


def lxc_key_validity(key):
    v = VALID_LXC_KEYS.get(key)
    if v is not None:
        return v
    return 1 if re.match(r"^lxc\.(cgroup2?|prlimit|net)\.", key) else 0


def read_raw_lxc(st, vmid):
    """The raw lxc.* keys of a container's config file: ([(key, value)],
    [warnings]) as pve-container's parse_pct_config (non-strict) gives them."""
    path = st.conf_path(vmid)
    keys, warnings = [], []
    if not os.path.exists(path):
        return keys, warnings
    with open(path) as f:
        for line in f.read().splitlines():
            if line.startswith("["):
                break
            m = RAW_LXC_LINE.match(line)
            if not m:
                continue
            v = lxc_key_validity(m.group(1))
            if v == 1:
                keys.append((m.group(1), m.group(3)))
            elif v:
                warnings.append("vm %s - %s: %s" % (vmid, m.group(1), v))
            else:
                warnings.append("vm %s - unable to parse config: %s" % (vmid, line))
    return keys, warnings


def write_conf_file(st, vmid, cfg, raw):
    """write_pct_config: the description as comments, keys sorted, raw keys last."""
    out = ["#" + ln for ln in str(cfg.get("description", "")).split("\n") if cfg.get("description")]
    for k in sorted(cfg):
        if k in ("description", "digest", "lxc"):
            continue
        out.append("%s: %s" % (k, str(cfg[k]).replace("\0", "\\0")))
    out += ["%s: %s" % kv for kv in raw]
    path = st.conf_path(vmid)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(tmp, path)


def sync_conf_files(st):
    """Every container's file after a change; raw keys read back first, so
    lines an admin (or pxcri) added stay, as Proxmox keeps them."""
    present = set()
    for vmid, ct in st.d["cts"].items():
        raw, _ = read_raw_lxc(st, vmid)
        write_conf_file(st, vmid, ct["config"], raw)
        present.add("%s.conf" % vmid)
    for name in os.listdir(st.conf_dir):
        if name.endswith(".conf") and name not in present:
            os.unlink(os.path.join(st.conf_dir, name))


def config_with_raw(st, vmid, cfg):
    """GET config: the config plus its raw keys ("lxc": [[key, value], ...])."""
    raw, _ = read_raw_lxc(st, vmid)
    return dict(cfg, lxc=[list(kv) for kv in raw]) if raw else dict(cfg)


LXC_COMMON_CONF = "/usr/share/lxc/config/common.conf"


def _common_conf(cfg):
    """pve-container's update_lxc_config includes LXC's <ostype>.common.conf
    (common.conf for unmanaged) in every CT: its capability drops (mac_admin
    mac_override sys_time sys_module sys_rawio), device allow list and
    seccomp profile; an unprivileged CT then includes userns.conf, which
    clears the drops and the device list again -- so the double includes it
    for privileged CTs only (the unprivileged ones' user namespace is what
    confines them here)."""
    if is_true(cfg.get("unprivileged", 0)) or not os.path.exists(LXC_COMMON_CONF):
        return []
    return ["lxc.include = %s" % LXC_COMMON_CONF]


def lxc_config(st, vmid, cfg):
    """The LXC config of a container, from its Proxmox config."""
    rootvol = str(cfg["rootfs"]).split(",")[0]
    rootvol = rootvol[len("volume="):] if rootvol.startswith("volume=") else rootvol
    rootfs = rootvol if rootvol.startswith("/") else st.volume_path(rootvol)
    lines = ["# generated by the Proxmox VE double (tests/proxmox/pve_model.py)",
             "lxc.uts.name = %s" % cfg.get("hostname", "CT%s" % vmid),
             "lxc.rootfs.path = dir:%s" % rootfs] + _common_conf(cfg) + [
             "lxc.init.cmd = %s" % cfg.get("entrypoint", "/sbin/init"),
             "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed",
             "lxc.autodev = 1", "lxc.tty.max = 0", "lxc.pty.max = 16", "lxc.console.path = none",
             "lxc.signal.halt = SIGPWR",
             # the cgroup layout pve-container writes (PVE::LXC::update_lxc_config)
             "lxc.cgroup.relative = 0", "lxc.cgroup.dir.monitor = lxc.monitor/%s" % vmid,
             "lxc.cgroup.dir.container = lxc/%s" % vmid, "lxc.cgroup.dir.container.inner = ns"]
    if any(re.match(r"^net\d+$", k) for k in cfg):
        lines += ["# networks are not wired by the double: a network namespace with lo only",
                  "lxc.net.0.type = empty"]
    if "ro=1" in str(cfg["rootfs"]).split(",")[1:]:
        lines.append("lxc.rootfs.options = ro")
    for kv in str(cfg.get("env", "")).split("\0"):
        if kv:
            lines.append("lxc.environment = %s" % kv)
    if is_true(cfg.get("unprivileged", 0)):
        lines += ["lxc.idmap = u 0 %d %d" % (UNPRIV_SHIFT, UNPRIV_COUNT),
                  "lxc.idmap = g 0 %d %d" % (UNPRIV_SHIFT, UNPRIV_COUNT)]
    if _memory_v1() and cfg.get("memory"):
        mem = int(cfg["memory"]) * 1048576
        lines.append("lxc.cgroup.memory.limit_in_bytes = %d" % mem)
        if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
            lines.append("lxc.cgroup.memory.memsw.limit_in_bytes = %d" % (mem + int(cfg.get("swap", 0)) * 1048576))
    if cfg.get("cpulimit") or cfg.get("cpuunits"):
        v = "cgroup" if _cpu_v1() else "cgroup2"
        lines += ["lxc.%s.%s = %s" % (v, key, value) for key, value in cpu_cgroup_items(cfg)]
    for k in sorted((k for k in cfg if re.match(r"^mp\d+$", k)), key=lambda k: int(k[2:])):
        parts = str(cfg[k]).split(",")
        vol = parts[0][len("volume="):] if parts[0].startswith("volume=") else parts[0]
        opts = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        src = vol if vol.startswith("/") else st.volume_path(vol)
        target = opts.get("mp", "").lstrip("/")
        kind = "dir" if os.path.isdir(src) else "file"
        flags = "bind,create=%s" % kind + (",ro" if is_true(opts.get("ro", 0)) else "")
        lines.append("lxc.mount.entry = %s %s none %s 0 0" % (src, target, flags))
    raw, _ = read_raw_lxc(st, vmid)
    lines += ["%s = %s" % kv for kv in raw]
    return "\n".join(lines) + "\n"


def _bridges(cfg):
    for k in sorted(cfg):
        if re.match(r"^net\d+$", k):
            for part in str(cfg[k]).split(","):
                if part.startswith("bridge="):
                    yield part[len("bridge="):]


def _unreachable_for_unprivileged(st, cfg):
    """LXC sets up an unprivileged CT as host uid 100000: the rootfs and bind
    sources must be reachable by it (a test's mkdtemp directory is 0700)."""
    for k in _mount_keys(cfg):
        vol = str(cfg[k]).split(",")[0]
        vol = vol[len("volume="):] if vol.startswith("volume=") else vol
        path = vol if vol.startswith("/") else st.volume_path(vol)
        d = os.path.dirname(os.path.realpath(path))
        while d != "/":
            s = os.stat(d)
            if not (s.st_mode & 0o001 or (s.st_uid == UNPRIV_SHIFT and s.st_mode & 0o100)):
                return ("unprivileged CT: '%s' is not searchable by host uid %d (needed for %s; chmod o+x)"
                        % (d, UNPRIV_SHIFT, k))
            d = os.path.dirname(d)
    return None


def _clear_stale_cgroups(vmid):
    """Empty cgroups named for vmid (lxc/<vmid>, lxc.monitor/<vmid>, as
    Proxmox's lxc.cgroup.dir.* name them) left by an earlier run: liblxc 5.0.2
    on this v1 hybrid host sometimes leaves them in a hierarchy or two
    (hugetlb, the named systemd one), and with fixed names lxc-start then
    fails.  A Proxmox node (cgroup v2) does not leave them; removed only when
    no process is inside."""
    roots = [os.path.join("/sys/fs/cgroup", h) for h in os.listdir("/sys/fs/cgroup")] + ["/sys/fs/cgroup"]
    for root in roots:
        for rel in ("lxc/%s" % vmid, "lxc.monitor/%s" % vmid):
            top = os.path.join(root, rel)
            if not os.path.isdir(top):
                continue
            for d, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(d)
                except OSError:
                    break  # a process is inside (or not ours): leave it


def lxc_start(st, vmid, cfg):
    """Error text (with the tail of the LXC log) or None."""
    for br in _bridges(cfg):
        if br not in st.d["faults"].get("bridges", DEFAULT_BRIDGES):
            return "bridge '%s' does not exist" % br
    allocate_volumes(st, vmid, cfg)
    if is_true(cfg.get("unprivileged", 0)):
        why = _unreachable_for_unprivileged(st, cfg)
        if why:
            return why
    cdir = os.path.join(st.lxcpath, str(vmid))
    os.makedirs(cdir, exist_ok=True)
    with open(os.path.join(cdir, "config"), "w") as f:
        f.write(lxc_config(st, vmid, cfg))
    log = os.path.join(cdir, "lxc.log")
    if os.path.exists(log):
        os.unlink(log)
    _clear_stale_cgroups(vmid)
    r = run_cmd(["lxc-start", "-n", str(vmid), "-P", st.lxcpath, "-d", "-o", log, "-l", "INFO"], timeout=60)
    if r.returncode == 0:
        return None
    if os.environ.get("PXT_DEBUG_LXC"):
        shutil.copy(log, "/tmp/pxt-lxc-debug.log")
        shutil.copy(os.path.join(cdir, "config"), "/tmp/pxt-lxc-debug.config")
    tail = []
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            lines = f.read().splitlines()
        # the tail of the log, its errors first (the end is mostly cleanup)
        tail = [ln for ln in lines if " ERROR " in ln][:10] + lines[-5:]
    return "\n".join(tail + [r.stderr.strip(), "startup for container '%s' failed" % vmid])


def real_status(st, vmid, ct):
    """The model's status, corrected by LXC when the model says running."""
    if ct["status"] == "running" and lxc_state(st, vmid) == "STOPPED":
        ct["status"] = "stopped"
        ct.pop("paused", None)
    return ct["status"]


def cleanup_all(state_dir):
    """Stops every LXC container of the double's state and removes a short
    lxcpath outside the state directory; the model marks them stopped."""
    st = State.__new__(State)
    st._threads = threading.Lock()
    st._lock = None
    st.dir = os.path.abspath(state_dir)
    st.path = os.path.join(st.dir, "state.json")
    st.lock_path = os.path.join(st.dir, "state.lock")
    st.node = "pve1"
    if not os.path.exists(st.path):
        return
    with open(st.path) as f:
        d = json.load(f)
    st.d = d
    lxcpath = d.get("lxcpath") or default_lxcpath(st.dir)
    if os.path.isdir(lxcpath):
        for name in os.listdir(lxcpath):
            if os.path.exists(os.path.join(lxcpath, name, "config")):
                try:
                    lxc_stop_kill(st, name)
                except (OSError, subprocess.SubprocessError):
                    pass
        if not lxcpath.startswith(st.dir + "/"):
            shutil.rmtree(lxcpath, ignore_errors=True)
    try:
        with st as d:
            for ct in d["cts"].values():
                ct["status"] = "stopped"
                ct.pop("paused", None)
    except (OSError, ValueError):
        pass


def ct_config_from_params(params, node):
    cfg = {k: v for k, v in params.items() if k not in ("node", "vmid", "ostemplate", "storage", "password",
                                                          "ssh-public-keys", "start", "force", "restore",
                                                          "unique", "pool", "ignore-unpack-errors")}
    storage = params.get("storage", "local")
    if "rootfs" not in cfg:
        cfg["rootfs"] = "%s:4" % storage
    cfg.setdefault("hostname", "CT%s" % params["vmid"])
    cfg.setdefault("arch", "amd64")
    cfg.setdefault("memory", 512)
    cfg.setdefault("swap", 512)
    cfg.setdefault("ostype", "debian")
    return cfg


# ---- operations, shared by both front ends ----

def _host_paths(params):
    """Mount points whose volume is a host path (bind or device mounts)."""
    for k, v in params.items():
        if re.match(r"^(rootfs|mp\d+)$", k):
            vol = str(v).split(",")[0]
            vol = vol[len("volume="):] if vol.startswith("volume=") else vol
            if vol.startswith("/"):
                yield k, vol


def check_host_paths_create(params, user):
    """pve-container's create: a bind or device mount point needs root@pam
    itself; an API token ("root@pam!id") is not root@pam, so never passes.
    Proxmox dies with this text, which the API answers as a 500."""
    if user != "root@pam" and any(_host_paths(params)):
        raise PveError(500, "Only root can pass arbitrary filesystem paths.")


def check_host_paths_update(params, user):
    """pve-container's config update refuses the same as a permission error."""
    for _k, _vol in _host_paths(params):
        if user != "root@pam":
            raise PveError(403, "Permission check failed (mount point type bind is only allowed for root@pam)")


def template_path(st, tmpl, user, vmid):
    """The file of an ostemplate: "STORAGE:vztmpl/FILE", or (root@pam) a path."""
    if tmpl.startswith("/"):
        if user != "root@pam":
            raise PveError(500, "Only root can pass arbitrary filesystem paths.")
        if not os.path.isfile(tmpl):
            raise PveError(500, "unable to create CT %s - template file '%s' does not exist" % (vmid, tmpl))
        return tmpl
    if not re.match(r"[a-z][a-z0-9\-_.]*:vztmpl/.+\.(tar|tar\.(gz|xz|zst|bz2))$", tmpl):
        raise PveError(500, "unable to create CT %s - invalid template '%s'" % (vmid, tmpl))
    sid, _, rest = tmpl.partition(":")
    s = st.storage(sid)
    if not _content_has(s, "vztmpl"):
        raise PveError(500, "storage '%s' does not support vztmpl content" % sid)
    path = os.path.join(st.storage_dir(sid), "template", "cache", rest[len("vztmpl/"):])
    if "/" in rest[len("vztmpl/"):] or not os.path.isfile(path):
        raise PveError(500, "volume '%s' does not exist" % tmpl)
    return path


def op_create(st, params, user):
    check_host_paths_create(params, user)
    d = st.d
    vmid = str(params["vmid"])
    if vmid in d["cts"] or int(vmid) in d["faults"].get("taken", []):
        raise PveError(500, "CT %s already exists on node '%s'" % (vmid, st.node))
    tmpl = params.get("ostemplate", "")
    archive = template_path(st, tmpl, user, vmid)
    cfg = ct_config_from_params(params, st.node)
    # Nothing of this CT may exist yet (leftovers of a crashed double).
    remove_ct_files(st, vmid, cfg)
    try:
        allocate_volumes(st, vmid, cfg)
    except PveError:
        remove_ct_files(st, vmid, cfg)
        raise
    log = ["extracting archive '%s'" % archive]
    fail = None
    if not d["faults"].get("fail_task"):
        rootdir = st.volume_path(cfg["rootfs"].split(",")[0])
        fail = extract(archive, rootdir, is_true(cfg.get("unprivileged", 0)))
        if fail:
            log.append(fail)
            fail = "unable to create CT %s - %s" % (vmid, fail.splitlines()[0])
            remove_ct_files(st, vmid, cfg)
        else:
            log.append("Total bytes read: %d" % os.path.getsize(archive))
    ct = {"status": "stopped", "lock": "create", "node": st.node, "config": cfg}
    ct_final = {"status": "stopped", "node": st.node, "config": cfg}
    d["cts"][vmid] = ct
    return st.new_task("vzcreate", vmid, user, ["create", vmid, ct_final], log, fail=fail)


def get_ct(st, vmid):
    ct = st.d["cts"].get(str(vmid))
    if ct is None:
        raise PveError(500, "Configuration file 'nodes/%s/lxc/%s.conf' does not exist" % (st.node, vmid))
    return ct


def op_action(st, vmid, action, user, params=None):
    params = params or {}
    vmid = str(vmid)
    ct = get_ct(st, vmid)
    if ct.get("lock") and action not in ("stop",):
        raise PveError(500, "CT is locked (%s)" % ct["lock"])
    status = real_status(st, vmid, ct)
    if action == "start" and status == "running":
        raise PveError(500, "CT %s already running" % vmid)
    if action in ("stop", "shutdown", "suspend", "resume") and status != "running":
        raise PveError(500, "CT %s not running" % vmid)
    if ct["config"].get("template") and action == "start":
        raise PveError(500, "CT %s is a template" % vmid)
    ttype = {"start": "vzstart", "stop": "vzstop", "shutdown": "vzshutdown", "suspend": "vzsuspend",
             "resume": "vzresume"}[action]
    effect = ["status", vmid, {"start": "running", "stop": "stopped", "shutdown": "stopped"}.get(action)]
    log = ["%s CT %s" % (action, vmid)]
    fail, wait = None, None
    if st.d["faults"].get("fail_task"):
        pass  # the task fails at its end: nothing really happens
    elif action == "start":
        fail = lxc_start(st, vmid, ct["config"])
        if fail:
            log += fail.splitlines()[:-1]
            fail = fail.splitlines()[-1]
    elif action == "stop":
        lxc_stop_kill(st, vmid)
    elif action == "shutdown":
        timeout = int(params.get("timeout", 60))
        pid = lxc_init_pid(st, vmid)
        if pid:
            if lxc_state(st, vmid) == "FROZEN":
                run_cmd(["lxc-unfreeze", "-n", vmid, "-P", st.lxcpath])
            try:
                os.kill(pid, signal.SIGPWR)  # lxc.signal.halt, as lxc-stop sends it
            except ProcessLookupError:
                pass
        wait = {"vmid": vmid, "deadline": time.time() + timeout, "timeout": timeout,
                "force": is_true(params.get("forceStop", 0))}
    elif action in ("suspend", "resume"):
        r = run_cmd(["lxc-freeze" if action == "suspend" else "lxc-unfreeze", "-n", vmid, "-P", st.lxcpath])
        if r.returncode != 0:
            fail = "command 'lxc-%s -n %s' failed: exit code %d" % (
                "freeze" if action == "suspend" else "unfreeze", vmid, r.returncode)
            log.append(r.stderr.strip())
        effect = ["pause", vmid, action == "suspend"]
    return st.new_task(ttype, vmid, user, effect, log, fail=fail, wait=wait)


def op_destroy(st, vmid, params, user):
    vmid = str(vmid)
    ct = get_ct(st, vmid)
    if ct.get("lock"):
        raise PveError(500, "CT is locked (%s)" % ct["lock"])
    if real_status(st, vmid, ct) == "running":
        if not is_true(params.get("force", 0)):
            raise PveError(500, "CT %s is running - destroy failed" % vmid)
        if not st.d["faults"].get("fail_task"):
            lxc_stop_kill(st, vmid)
            ct["status"] = "stopped"
    if ct["config"].get("template"):
        for other, oct in st.d["cts"].items():
            for _k, vol, _r in _volumes(oct["config"]):
                base = vol.split(":", 1)[1].split("/")[0]
                if other != vmid and re.match(r"base-%s-disk-\d+$" % vmid, base) and "/" in vol:
                    raise PveError(500, "base volume '%s' is still in use by linked cloned" % vol.split("/")[0])
    ct["lock"] = "destroyed"
    return st.new_task("vzdestroy", vmid, user, ["destroy", vmid], ["destroying CT %s" % vmid])


def op_template(st, vmid, user):
    vmid = str(vmid)
    ct = get_ct(st, vmid)
    if ct.get("lock"):
        raise PveError(500, "CT is locked (%s)" % ct["lock"])
    if real_status(st, vmid, ct) == "running":
        raise PveError(500, "CT %s is running - cannot convert to template" % vmid)
    if ct["config"].get("template"):
        raise PveError(500, "CT %s is already a template" % vmid)
    ct["lock"] = "template"
    return st.new_task("vztemplate", vmid, user, ["template", vmid], ["converting CT %s to template" % vmid])


def op_clone(st, vmid, params, user):
    vmid = str(vmid)
    src = get_ct(st, vmid)
    newid = str(params["newid"])
    if newid in st.d["cts"] or int(newid) in st.d["faults"].get("taken", []):
        raise PveError(500, "CT %s already exists on node '%s'" % (newid, st.node))
    if src.get("lock"):
        raise PveError(500, "CT is locked (%s)" % src["lock"])
    is_tmpl = bool(src["config"].get("template"))
    # "This is always done when you clone a normal CT. For CT templates, we
    # try to create a linked clone by default."
    full = True if not is_tmpl else is_true(params["full"]) if "full" in params else False
    if not full and params.get("storage"):
        raise PveError(500, "parameter 'storage' not allowed for linked clones")
    if params.get("target") and params["target"] != st.node:
        raise PveError(500, "clone to another node is not possible without shared storage")
    if not is_tmpl and real_status(st, vmid, src) == "running":
        raise PveError(500, "CT %s is running - cloning a running container needs snapshot support" % vmid)
    cfg = dict(src["config"])
    cfg.pop("template", None)
    if params.get("hostname"):
        cfg["hostname"] = params["hostname"]
    plan = []
    for k, vol, rest in _volumes(cfg):
        sid = vol.split(":", 1)[0]
        s = st.storage(sid)
        if not full and not s.get("linked_clone"):
            raise PveError(500, "Linked clone feature for '%s' is not available" % vol)
        tsid = params.get("storage") or sid if full else sid
        ts = st.storage(tsid)
        if not _content_has(ts, "rootdir"):
            raise PveError(500, "storage '%s' does not support container directories" % tsid)
        n = int(re.search(r"-disk-(\d+)$", vol).group(1))
        new = "%s:%s" % (tsid, _vol_name(st, tsid, newid, n))
        if not full:
            new = "%s:%s/%s" % (sid, vol.split(":", 1)[1], _vol_name(st, sid, newid, n))
        plan.append((k, vol, new, rest))
    remove_ct_files(st, newid, cfg)
    log = ["create %s clone of CT %s" % ("full" if full else "linked", vmid)]
    fail = None
    if not st.d["faults"].get("fail_task"):
        for k, vol, new, rest in plan:
            dst = st.volume_path(new)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            r = run_cmd(["cp", "-a", "--reflink=auto", st.volume_path(vol), dst], timeout=600)
            if r.returncode != 0:
                fail = "clone failed: command 'cp -a %s %s' failed: exit code %d" % (vol, new, r.returncode)
                log.append(r.stderr.strip())
                remove_ct_files(st, newid, cfg)
                break
            cfg[k] = ",".join([new] + ([rest] if rest else []))
            log.append("%s -> %s" % (vol, new))
    else:
        for k, vol, new, rest in plan:
            cfg[k] = ",".join([new] + ([rest] if rest else []))
    st.d["cts"][newid] = {"status": "stopped", "lock": "create", "node": st.node, "config": cfg}
    return st.new_task("vzclone", vmid, user,
                       ["create", newid, {"status": "stopped", "node": st.node, "config": cfg}], log, fail=fail)


def op_config_set(st, vmid, params, user):
    check_host_paths_update(params, user)
    ct = get_ct(st, vmid)
    if ct.get("lock"):
        raise PveError(500, "CT is locked (%s)" % ct["lock"])
    for k in params.get("delete", "").split(","):
        if k:
            ct["config"].pop(k.strip(), None)
    new = [k for k in params if k not in ("node", "vmid", "delete", "digest", "revert")]
    for k in new:
        ct["config"][k] = params[k]
    allocate_volumes(st, vmid, ct["config"], keys=[k for k in new if re.match(r"^mp\d+$", k)])
    if ct["status"] == "running" and _memory_v1() and ("memory" in new or "swap" in new):
        hotplug_memory(st, vmid, ct["config"])
    if ct["status"] == "running" and any(k in ("cpulimit", "cpuunits") for k in new + params.get("delete", "").split(",")):
        hotplug_cpu(st, vmid, ct["config"])


def hotplug_memory(st, vmid, cfg):
    """Proxmox applies memory and swap changes to a running container's
    cgroup at once (pct set on a running CT): so does the double."""
    mem = int(cfg.get("memory", 512)) * 1048576
    items = [("memory.limit_in_bytes", mem)]
    if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        memsw = ("memory.memsw.limit_in_bytes", mem + int(cfg.get("swap", 0)) * 1048576)
        # the kernel wants memsw >= memory at every step
        items = [memsw] + items if mem > int(_cgroup_get(st, vmid, "memory.limit_in_bytes") or 0) else items + [memsw]
    for key, value in items:
        _cgroup_set(vmid, key, value)


def hotplug_cpu(st, vmid, cfg):
    """cpulimit and cpuunits of a running container, at once (pve-container's
    hotplug: change_cpu_quota, change_cpu_shares)."""
    for key, value in cpu_cgroup_items(cfg):
        _cgroup_set(vmid, key, value)


def _limit_cgroup_file(vmid, key):
    """key of the CT's limiting cgroup, lxc/<vmid> -- where pve-container's
    PVE::CGroup writes, not the inner lxc/<vmid>/ns that `lxc-cgroup` and
    the CT's own processes see."""
    v1 = "/sys/fs/cgroup/%s/lxc/%s/%s" % (key.split(".")[0], vmid, key)
    return v1 if os.path.exists(v1) else "/sys/fs/cgroup/lxc/%s/%s" % (vmid, key)


def _cgroup_set(vmid, key, value):
    try:
        with open(_limit_cgroup_file(vmid, key), "w") as f:
            f.write(str(value))
    except OSError as e:
        raise PveError(500, "unable to modify cgroup %s of CT %s: %s" % (key, vmid, e.strerror))


def _cgroup_get(st, vmid, key):
    try:
        with open(_limit_cgroup_file(vmid, key)) as f:
            return f.read().strip()
    except OSError:
        return None


def feature(st, vmid, feat):
    ct = get_ct(st, vmid)
    ok = True
    for _k, vol, _r in _volumes(ct["config"]):
        s = st.storage(vol.split(":", 1)[0])
        name = vol.split(":", 1)[1].rsplit("/", 1)[-1]
        if feat == "clone":  # ZFS clones base volumes; dir storage has no linked clones of subvols
            ok = ok and s["type"] == "zfspool" and name.startswith("base-")
        elif feat == "snapshot":
            ok = ok and s["type"] == "zfspool" and not name.startswith("base-")
    return {"hasFeature": 1 if ok else 0, "nodes": [st.node]}


def status_current(st, vmid):
    ct = get_ct(st, vmid)
    status = real_status(st, str(vmid), ct)
    out = {"vmid": int(vmid), "status": status, "name": ct["config"].get("hostname"), "type": "lxc",
           "maxmem": int(ct["config"].get("memory", 512)) * 1048576, "uptime": 0, "cpus": 1}
    if ct.get("lock"):
        out["lock"] = ct["lock"]
    if ct["config"].get("template"):
        out["template"] = 1
    if status == "running" and ct.get("paused"):
        out["qmpstatus"] = "paused"
    return out


# ---- storage content ----

TEMPLATE_RE = r"[^/]+\.(tar|tar\.(gz|xz|zst|bz2))$"


def _tmpl_format(name):
    m = re.search(r"\.tar(?:\.(gz|xz|zst|bz2))?$", name)
    return {"gz": "tgz", "xz": "txz", "zst": "tzst", "bz2": "tbz2", None: "tar"}[m.group(1)] if m else "raw"


def template_file(st, sid, filename):
    s = st.storage(sid)
    if not _content_has(s, "vztmpl"):
        raise PveError(500, "storage '%s' does not support 'vztmpl' content" % sid)
    if not re.match(TEMPLATE_RE, filename):
        raise PveError(500, "wrong file extension")
    return os.path.join(st.storage_dir(sid), "template", "cache", filename)


def storage_content(st, sid, content=None, vmid=None):
    s = st.storage(sid)
    out = []
    cache = os.path.join(st.storage_dir(sid), "template", "cache")
    if _content_has(s, "vztmpl") and content in (None, "vztmpl") and vmid is None and os.path.isdir(cache):
        for name in sorted(os.listdir(cache)):
            p = os.path.join(cache, name)
            if os.path.isfile(p) and re.match(TEMPLATE_RE, name):
                out.append({"volid": "%s:vztmpl/%s" % (sid, name), "content": "vztmpl", "format": _tmpl_format(name),
                            "size": os.path.getsize(p), "ctime": int(os.path.getmtime(p))})
    if content in (None, "rootdir"):
        images = os.path.join(st.storage_dir(sid), "images")
        for owner in sorted(os.listdir(images)) if os.path.isdir(images) else []:
            if vmid not in (None, owner):
                continue
            for name in sorted(os.listdir(os.path.join(images, owner))):
                volid = "%s:%s" % (sid, name if s["type"] == "zfspool" else owner + "/" + name)
                out.append({"volid": volid, "content": "rootdir", "vmid": int(owner), "size": 0,
                            "format": "subvol" if s["type"] == "zfspool" else "raw"})
    out += [v for v in st.d.setdefault("volumes", []) if v["volid"].startswith(sid + ":")
            and content in (None, v["content"]) and vmid in (None, v.get("vmid"))]
    return out


def volume_info(st, sid, volume):
    """GET .../storage/{storage}/content/{volume}: the volume's path on the node
    (a template file, or a container volume's directory), as `pvesm path`."""
    volid = volume if ":" in volume else "%s:%s" % (sid, volume)
    rest = volid.split(":", 1)[1]
    if rest.startswith("vztmpl/"):
        path = template_file(st, sid, rest[len("vztmpl/"):])
        fmt = _tmpl_format(path)
    else:
        st.storage(sid)
        path = st.volume_path(volid)
        fmt = "subvol" if st.storage(sid)["type"] == "zfspool" else "raw"
    if not os.path.exists(path):
        raise PveError(500, "volume '%s' does not exist" % volid)
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    return {"path": path, "format": fmt, "size": size, "used": size}


def delete_volume(st, sid, volume, user):
    volid = volume if ":" in volume else "%s:%s" % (sid, volume)
    if not volid.startswith(sid + ":"):
        raise PveError(500, "volume '%s' is not on storage '%s'" % (volid, sid))
    rest = volid.split(":", 1)[1]
    if rest.startswith("vztmpl/"):
        p = template_file(st, sid, rest[len("vztmpl/"):])
        if not os.path.isfile(p):
            raise PveError(500, "volume '%s' does not exist" % volid)
        os.unlink(p)
    else:
        vols = st.d.setdefault("volumes", [])
        if not any(v["volid"] == volid for v in vols):
            raise PveError(500, "volume '%s' does not exist" % volid)
        st.d["volumes"] = [v for v in vols if v["volid"] != volid]
    return st.new_task("imgdel", "", user, ["none", 0], ["removed volume '%s'" % volid])
