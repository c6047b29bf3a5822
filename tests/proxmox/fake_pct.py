#!/usr/bin/python3
"""A fake `pct` with real pct's arguments, output formats and exit codes,
over the same model and state as the API double (pve_model.py).

The state directory comes from $PVE_DOUBLE_STATE.  Tests install this file
(or a symlink to it) as an executable named `pct`.  Like real pct, long
operations run their task to the end before returning; a failed task or a
refused request prints the error on stderr and exits 255; a parameter error
prints Proxmox's "400 Parameter verification failed." and the errors.

    pct create VMID OSTEMPLATE [--opt value ...]    pct start|stop|suspend|resume|destroy|template VMID
    pct shutdown VMID [--timeout S] [--forceStop 1]    pct destroy VMID [--force 1] [--purge 1]
    pct status VMID    pct config VMID    pct list    pct set VMID --opt value
    pct clone VMID NEWID [--full 0|1] [--hostname H] [--storage S]    pct exec VMID -- CMD...

Containers are the double's real LXC containers (pve_model): OSTEMPLATE may
also be an absolute path to a tarball (pct runs as root@pam); status and list
ask LXC; `pct exec` runs the command in the container with
`lxc-attach -n VMID -P LXCPATH --clear-env -- CMD...`, stdio inherited, and
exits with the command's exit code ("CT VMID not running", 255, if stopped)."""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import pve_model as pm  # noqa: E402

USER = "root@pam"
PATHS = {
    "create": ("POST", "/nodes/{node}/lxc"),
    "start": ("POST", "/nodes/{node}/lxc/{vmid}/status/start"),
    "stop": ("POST", "/nodes/{node}/lxc/{vmid}/status/stop"),
    "shutdown": ("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown"),
    "suspend": ("POST", "/nodes/{node}/lxc/{vmid}/status/suspend"),
    "resume": ("POST", "/nodes/{node}/lxc/{vmid}/status/resume"),
    "destroy": ("DELETE", "/nodes/{node}/lxc/{vmid}"),
    "template": ("POST", "/nodes/{node}/lxc/{vmid}/template"),
    "clone": ("POST", "/nodes/{node}/lxc/{vmid}/clone"),
    "set": ("PUT", "/nodes/{node}/lxc/{vmid}/config"),
    "status": ("GET", "/nodes/{node}/lxc/{vmid}/status/current"),
    "config": ("GET", "/nodes/{node}/lxc/{vmid}/config"),
}
POSITIONAL = {"create": ["vmid", "ostemplate"], "clone": ["vmid", "newid"]}


def usage_error(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(255)


def parse(cmd, argv):
    params = {}
    names = POSITIONAL.get(cmd, ["vmid"])
    pos = list(argv)
    i = 0
    while i < len(pos):
        a = pos[i]
        if a.startswith("--"):
            if i + 1 >= len(pos) or pos[i + 1].startswith("--"):
                params[a[2:]] = "1"
                i += 1
            else:
                params[a[2:]] = pos[i + 1]
                i += 2
        elif names:
            params[names.pop(0)] = a
            i += 1
        else:
            usage_error("400 too many arguments\npct %s <vmid> [OPTIONS]" % cmd)
    if names:
        usage_error("400 not enough arguments\npct %s <%s> [OPTIONS]" % (cmd, names[0]))
    return params


def wait_task(st, u):
    while True:
        with st as d:
            t = d["tasks"][u]
            if t["status"] == "stopped":
                break
        time.sleep(0.05)
    for line in t["log"][:-1]:
        print(line)
    if t["exitstatus"] != "OK":
        sys.stderr.write(t["exitstatus"] + "\n")
        sys.exit(255)


def cmd_list(st):
    with st as d:
        print("%-10s %-10s %-12s %-20s" % ("VMID", "Status", "Lock", "Name"))
        for v in sorted(d["cts"], key=int):
            ct = d["cts"][v]
            print("%-10s %-10s %-12s %-20s" % (v, pm.real_status(st, v, ct), ct.get("lock", ""),
                                                ct["config"].get("hostname", "")))


def cmd_exec(st, argv):
    if "--" not in argv or argv.index("--") != 1:
        usage_error("400 not enough arguments\npct exec <vmid> [<extra-args>]")
    if len(argv) < 3:
        usage_error("400 not enough arguments\npct exec <vmid> [<extra-args>]")
    with st:
        ct = pm.get_ct(st, argv[0])
        if pm.real_status(st, argv[0], ct) != "running":
            raise pm.PveError(500, "CT %s not running" % argv[0])
        lxcpath = st.lxcpath
    sys.stdout.flush()
    sys.exit(subprocess.call(["lxc-attach", "-n", argv[0], "-P", lxcpath, "--clear-env", "--"] + argv[2:]))


def run(st, schema, cmd, argv):
    if cmd == "list":
        return cmd_list(st)
    if cmd == "exec":
        return cmd_exec(st, argv)
    if cmd not in PATHS:
        usage_error("ERROR: unknown command 'pct %s'" % cmd)
    method, path = PATHS[cmd]
    params = parse(cmd, argv)
    params["node"] = st.node
    _, info, _ = schema.match(method, path.replace("{node}", st.node).replace("{vmid}", params["vmid"]))
    schema.validate(info, params)
    with st:
        if cmd == "create":
            u = pm.op_create(st, params, USER)
        elif cmd in ("start", "stop", "shutdown", "suspend", "resume"):
            u = pm.op_action(st, params["vmid"], cmd, USER, params)
        elif cmd == "destroy":
            u = pm.op_destroy(st, params["vmid"], params, USER)
        elif cmd == "template":
            u = pm.op_template(st, params["vmid"], USER)
        elif cmd == "clone":
            u = pm.op_clone(st, params["vmid"], params, USER)
        elif cmd == "set":
            pm.op_config_set(st, params["vmid"], params, USER)
            return
        elif cmd == "status":
            print("status: %s" % pm.status_current(st, params["vmid"])["status"])
            return
        else:
            cfg = pm.get_ct(st, params["vmid"])["config"]
            for k in sorted(cfg):
                print("%s: %s" % (k, cfg[k]))
            for k, v in pm.read_raw_lxc(st, params["vmid"])[0]:
                print("%s: %s" % (k, v))
            return
    wait_task(st, u)


def main():
    if len(sys.argv) < 2:
        usage_error("ERROR: no command specified")
    state = os.environ.get("PVE_DOUBLE_STATE")
    if not state:
        usage_error("fake pct: PVE_DOUBLE_STATE is not set")
    st = pm.State(state, os.environ.get("PVE_DOUBLE_NODE", "pve1"))
    try:
        run(st, pm.Schema(), sys.argv[1], sys.argv[2:])
    except pm.PveError as e:
        msg = e.reason
        if e.status == 400:
            msg = "400 " + e.reason + "\n" + "".join("%s: %s\n" % kv for kv in sorted((e.errors or {}).items()))
        sys.stderr.write(msg.rstrip("\n") + "\n")
        sys.exit(255)


if __name__ == "__main__":
    main()
