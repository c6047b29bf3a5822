"""The Proxmox VE model shared by the API double (pve_double.py) and the fake
pct (fake_pct.py): schema validation from tests/fixtures/pve-api-lxc.json and
the cluster state, kept as JSON in a state directory so both see one cluster.

Python 3 standard library only (runs under /usr/bin/python3)."""

import fcntl
import json
import os
import re
import time

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
                return e["path"], e["info"][method], m.groupdict()
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

def upid(node, pid, starttime, ttype, vmid, user):
    return "UPID:%s:%08X:%08X:%08X:%s:%s:%s:" % (node, pid, pid * 7 % 0xFFFFFF, starttime, ttype, vmid, user)


class State:
    """The cluster, in <dir>/state.json under an flock; faults in the same file."""

    def __init__(self, directory, node="pve1"):
        self.dir = directory
        self.path = os.path.join(directory, "state.json")
        self.lock_path = os.path.join(directory, "state.lock")
        self.node = node
        os.makedirs(directory, exist_ok=True)
        if not os.path.exists(self.path):
            self._write(self._empty())

    def _empty(self):
        return {"nodes": [self.node], "cts": {}, "tasks": {}, "next_pid": 4000,
                "faults": {"task_delay": 0.2, "fail_task": None, "taken": [], "down": False}}

    def _write(self, d):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f)
        os.replace(tmp, self.path)

    def __enter__(self):
        self._lock = open(self.lock_path, "w")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        with open(self.path) as f:
            self.d = json.load(f)
        self._finish_tasks()
        return self.d

    def __exit__(self, *exc):
        if exc[0] is None:
            self._write(self.d)
        self._lock.close()

    # Tasks end lazily at their end time: asynchronous for every client,
    # whichever process (double or fake pct) looks next.
    def _finish_tasks(self):
        now = time.time()
        for t in self.d["tasks"].values():
            if t["status"] == "running" and now >= t["end"]:
                t["status"] = "stopped"
                if t["fail"]:
                    t["exitstatus"] = t["fail"]
                    t["log"].append("TASK ERROR: " + t["fail"])
                    undo_effect(self.d, t["effect"])
                else:
                    apply_effect(self.d, t["effect"])
                    t["exitstatus"] = "OK"
                    t["log"].append("TASK OK")

    def new_task(self, ttype, vmid, user, effect, log):
        d = self.d
        d["next_pid"] += 1
        now = int(time.time())
        u = upid(self.node, d["next_pid"], now, ttype, vmid, user)
        f = d["faults"]
        d["tasks"][u] = {"upid": u, "node": self.node, "pid": d["next_pid"], "pstart": d["next_pid"] * 7 % 0xFFFFFF,
                         "starttime": now, "type": ttype, "id": str(vmid), "user": user, "status": "running",
                         "end": time.time() + float(f.get("task_delay", 0)), "fail": f.get("fail_task"),
                         "effect": effect, "log": list(log)}
        return u


def undo_effect(d, eff):
    """A failed task: a half-created container is removed, others unlocked."""
    vmid = str(eff[1])
    if eff[0] == "create":
        d["cts"].pop(vmid, None)
    elif vmid in d["cts"]:
        d["cts"][vmid].pop("lock", None)


def apply_effect(d, eff):
    kind, vmid = eff[0], str(eff[1])
    ct = d["cts"].get(vmid)
    if kind == "create":
        d["cts"][vmid] = eff[2]
    elif ct is None:
        return
    elif kind == "status":
        ct["status"] = eff[2]
        ct.pop("lock", None)
    elif kind == "destroy":
        del d["cts"][vmid]
    elif kind == "template":
        ct["config"]["template"] = 1
        ct.pop("lock", None)


def ct_config_from_params(params, node):
    cfg = {k: v for k, v in params.items() if k not in ("node", "vmid", "ostemplate", "storage", "password",
                                                          "ssh-public-keys", "start", "force", "restore",
                                                          "unique", "pool", "ignore-unpack-errors")}
    storage = params.get("storage", "local")
    if "rootfs" in cfg:
        vol = cfg["rootfs"].split(",")[0]
        m = re.match(r"([a-z][a-z0-9\-_.]*):(\d+(\.\d+)?)$", vol)
        if m:
            cfg["rootfs"] = "%s:vm-%s-disk-0,size=%sG" % (m.group(1), params["vmid"], m.group(2))
    else:
        cfg["rootfs"] = "%s:vm-%s-disk-0,size=4G" % (storage, params["vmid"])
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


def op_create(st, params, user):
    check_host_paths_create(params, user)
    d = st.d
    vmid = str(params["vmid"])
    if vmid in d["cts"] or int(vmid) in d["faults"].get("taken", []):
        raise PveError(500, "CT %s already exists on node '%s'" % (vmid, st.node))
    tmpl = params.get("ostemplate", "")
    if not re.match(r"[a-z][a-z0-9\-_.]*:vztmpl/.+\.(tar|tar\.(gz|xz|zst|bz2))$", tmpl):
        raise PveError(500, "unable to create CT %s - invalid template '%s'" % (vmid, tmpl))
    ct = {"status": "stopped", "lock": "create", "node": st.node, "config": ct_config_from_params(params, st.node)}
    ct_final = {"status": "stopped", "node": st.node, "config": ct["config"]}
    d["cts"][vmid] = ct
    return st.new_task("vzcreate", vmid, user, ["create", vmid, ct_final],
                       ["extracting archive '%s'" % tmpl, "Total bytes read: 1048576"])


def get_ct(st, vmid):
    ct = st.d["cts"].get(str(vmid))
    if ct is None:
        raise PveError(500, "Configuration file 'nodes/%s/lxc/%s.conf' does not exist" % (st.node, vmid))
    return ct


def op_action(st, vmid, action, user):
    ct = get_ct(st, vmid)
    if ct.get("lock") and action not in ("stop",):
        raise PveError(500, "CT is locked (%s)" % ct["lock"])
    target = {"start": "running", "stop": "stopped", "shutdown": "stopped", "suspend": "running",
              "resume": "running"}[action]
    if action == "start" and ct["status"] == "running":
        raise PveError(500, "CT %s already running" % vmid)
    if action in ("stop", "shutdown", "suspend") and ct["status"] != "running":
        raise PveError(500, "CT %s not running" % vmid)
    if ct["config"].get("template") and action == "start":
        raise PveError(500, "CT %s is a template" % vmid)
    ttype = {"start": "vzstart", "stop": "vzstop", "shutdown": "vzshutdown", "suspend": "vzsuspend",
             "resume": "vzresume"}[action]
    return st.new_task(ttype, vmid, user, ["status", vmid, target], ["%s CT %s" % (action, vmid)])


def op_destroy(st, vmid, params, user):
    ct = get_ct(st, vmid)
    if ct["status"] == "running" and params.get("force") not in ("1", "true"):
        raise PveError(500, "CT %s is running - destroy failed" % vmid)
    if ct.get("lock"):
        raise PveError(500, "CT is locked (%s)" % ct["lock"])
    ct["lock"] = "destroyed"
    return st.new_task("vzdestroy", vmid, user, ["destroy", vmid], ["destroying CT %s" % vmid])


def op_template(st, vmid, user):
    ct = get_ct(st, vmid)
    if ct["status"] == "running":
        raise PveError(500, "CT %s is running - cannot convert to template" % vmid)
    ct["lock"] = "template"
    return st.new_task("vztemplate", vmid, user, ["template", vmid], ["converting CT %s to template" % vmid])


def op_clone(st, vmid, params, user):
    src = get_ct(st, vmid)
    newid = str(params["newid"])
    if newid in st.d["cts"] or int(newid) in st.d["faults"].get("taken", []):
        raise PveError(500, "CT %s already exists on node '%s'" % (newid, st.node))
    cfg = dict(src["config"])
    cfg.pop("template", None)
    if params.get("hostname"):
        cfg["hostname"] = params["hostname"]
    st.d["cts"][newid] = {"status": "stopped", "lock": "create", "node": st.node, "config": cfg}
    return st.new_task("vzclone", vmid, user,
                       ["create", newid, {"status": "stopped", "node": st.node, "config": cfg}],
                       ["create full clone of CT %s" % vmid])


def op_config_set(st, vmid, params, user):
    check_host_paths_update(params, user)
    ct = get_ct(st, vmid)
    if ct.get("lock"):
        raise PveError(500, "CT is locked (%s)" % ct["lock"])
    for k in params.get("delete", "").split(","):
        if k:
            ct["config"].pop(k.strip(), None)
    for k, v in params.items():
        if k not in ("node", "vmid", "delete", "digest", "revert"):
            ct["config"][k] = v


def status_current(st, vmid):
    ct = get_ct(st, vmid)
    out = {"vmid": int(vmid), "status": ct["status"], "name": ct["config"].get("hostname"), "type": "lxc",
           "maxmem": int(ct["config"].get("memory", 512)) * 1048576, "uptime": 0, "cpus": 1}
    if ct.get("lock"):
        out["lock"] = ct["lock"]
    if ct["config"].get("template"):
        out["template"] = 1
    return out
