#!/usr/bin/python3
"""A test double of the Proxmox VE REST API (/api2/json) over HTTPS.

Every request is checked against tests/fixtures/pve-api-lxc.json the way
Proxmox checks it (unknown parameter, bad format of net[n]/rootfs/mp[n],
missing required -> 400 "Parameter verification failed." with an errors map),
authenticated by its PVEAPIToken header (401 without a valid token, 403 for
the --token-ro token on anything beyond auditing), and answered in Proxmox's
shapes ({"data": ...}, UPIDs, task status and log).  Long operations become
tasks that end after a delay (asynchronously, see pve_model.State).

Containers are real LXC containers (see pve_model: storages `local` and
`local-zfs` as directories under the state, templates really extracted,
start runs lxc-start, status asks lxc-info); only the control plane is
simulated.  Not modelled: networks (lxc.net.0.type = empty), real storage
drivers, exec (the API has none; the fake pct has `pct exec`).

Endpoints: version, nodes, cluster/nextid, cluster/resources, lxc index,
create, config get/set, status/current and start|stop|shutdown|suspend|resume,
destroy, template, clone, feature, tasks status/log, storage content
(list, allocate, delete) and upload (multipart, vztmpl into
<state>/storage/<id>/template/cache/).

    pve_double.py --state DIR --cert C --key K --token 'root@pam!pxcri=S' [--port N] [--port-file F]

Faults (also at run time: POST /_control with a JSON object, no auth):
  task_delay  seconds a task runs (default 0.2)     fail_task  exitstatus of every task ("" = off)
  taken       VMIDs another node holds: hidden from nextid/resources, create fails
  down        true: close every connection without an answer (a dead host)
  bridges     the node's bridges (default ["vmbr0"]); a netN on another one fails start
Stop it by PID (SIGTERM): it stops its LXC containers (pve_model.cleanup_all)."""

import argparse
import hashlib
import json
import os
import re
import signal
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pve_model as pm  # noqa: E402

AUDIT = {"Sys.Audit", "VM.Audit", "Datastore.Audit"}


class Api:
    def __init__(self, args):
        self.schema = pm.Schema()
        self.state = pm.State(args.state, args.node)
        self.tokens = {args.token: "full"}
        if args.token_ro:
            self.tokens[args.token_ro] = "ro"

    def auth(self, header):
        if not header or not header.startswith("PVEAPIToken="):
            raise pm.PveError(401, "No ticket")
        tok = header[len("PVEAPIToken="):]
        if tok not in self.tokens:
            raise pm.PveError(401, "invalid token value!")
        return tok.split("=", 1)[0], self.tokens[tok]  # "USER@REALM!TOKENID", as in UPIDs

    @staticmethod
    def check_perm(method, info, params, level):
        """The audit-only token may read; anything else needs a privilege it
        lacks: the first non-audit one the schema names (its "check", or its
        description for create), as Proxmox reports it."""
        if level == "full" or method == "GET":
            return
        perm = json.dumps(info.get("permissions") or {})
        privs = [p for p in re.findall(r"(?:VM|Sys|Datastore)\.[A-Za-z.]+[A-Za-z]", perm) if p not in AUDIT]
        path = "/vms/" + params["vmid"] if "vmid" in params else "/nodes/" + params.get("node", "")
        raise pm.PveError(403, "Permission check failed (%s, %s)" % (path, privs[0] if privs else "Sys.Modify"))

    def handle(self, method, path, params, auth_header):
        user, level = self.auth(auth_header)
        tmpl, info, pathp = self.schema.match(method, path)
        allp = dict(params)
        allp.update(pathp)
        self.schema.validate(info, allp)
        self.check_perm(method, info, allp, level)
        with self.state as d:
            if "node" in pathp and pathp["node"] not in d["nodes"]:
                raise pm.PveError(500, "no such cluster node '%s'" % pathp["node"])
            return self.dispatch(method, tmpl, allp, user)

    def dispatch(self, method, tmpl, p, user):
        st = self.state
        d = st.d
        key = method + " " + tmpl
        if key == "GET /version":
            return {"version": "9.1.1", "release": "9.1", "repoid": "0fcd8e0b"}
        if key == "GET /nodes":
            return [{"node": n, "status": "online", "type": "node", "id": "node/" + n} for n in d["nodes"]]
        if key == "GET /cluster/nextid":
            return self.nextid(d, p)
        if key == "GET /cluster/resources":
            return [dict(pm.status_current(st, v), id="lxc/" + v, node=ct["node"])
                    for v, ct in sorted(d["cts"].items()) if p.get("type") in (None, "vm")]
        if key == "POST /nodes/{node}/lxc":
            return pm.op_create(st, p, user)
        if key == "GET /nodes/{node}/lxc":
            return [dict(pm.status_current(st, v), vmid=v) for v in sorted(d["cts"])]
        if key == "GET /nodes/{node}/lxc/{vmid}/config":
            return dict(pm.config_with_raw(st, p["vmid"], pm.get_ct(st, p["vmid"])["config"]),
                        digest="%040x" % abs(hash(json.dumps(pm.get_ct(st, p["vmid"])["config"], sort_keys=True))))
        if key == "PUT /nodes/{node}/lxc/{vmid}/config":
            pm.op_config_set(st, p["vmid"], p, user)
            return None
        if key == "GET /nodes/{node}/lxc/{vmid}/status/current":
            return pm.status_current(st, p["vmid"])
        if tmpl.startswith("/nodes/{node}/lxc/{vmid}/status/") and method == "POST":
            return pm.op_action(st, p["vmid"], tmpl.rsplit("/", 1)[1], user, p)
        if key == "GET /nodes/{node}/lxc/{vmid}/feature":
            return pm.feature(st, p["vmid"], p["feature"])
        if key == "DELETE /nodes/{node}/lxc/{vmid}":
            return pm.op_destroy(st, p["vmid"], p, user)
        if key == "POST /nodes/{node}/lxc/{vmid}/template":
            return pm.op_template(st, p["vmid"], user)
        if key == "POST /nodes/{node}/lxc/{vmid}/clone":
            return pm.op_clone(st, p["vmid"], p, user)
        if key == "GET /nodes/{node}/tasks/{upid}/status":
            return self.task(d, p["upid"])
        if key == "GET /nodes/{node}/tasks/{upid}/log":
            t = d["tasks"].get(p["upid"])
            if t is None:
                raise pm.PveError(500, "no such task")
            start, limit = int(p.get("start", 0)), int(p.get("limit", 50))
            return [{"n": i + 1, "t": line} for i, line in enumerate(t["log"])][start:start + limit]
        if key == "GET /nodes/{node}/storage/{storage}/content":
            return pm.storage_content(st, p["storage"], p.get("content"), p.get("vmid"))
        if key == "GET /nodes/{node}/storage/{storage}/content/{volume}":
            return pm.volume_info(st, p["storage"], p["volume"])
        if key == "DELETE /nodes/{node}/storage/{storage}/content/{volume}":
            return pm.delete_volume(st, p["storage"], p["volume"], user)
        if key == "POST /nodes/{node}/storage/{storage}/content":
            st.storage(p["storage"])
            volid = "%s:%s" % (p["storage"], p["filename"])
            if any(v["volid"] == volid for v in d.setdefault("volumes", [])):
                raise pm.PveError(500, "volume '%s' already exists" % volid)
            d["volumes"].append({"volid": volid, "content": "images", "vmid": p["vmid"],
                                 "format": p.get("format", "raw"), "size": p["size"]})
            return volid
        raise pm.PveError(501, "Method '%s /api2/json%s' not implemented by the double" % (method, tmpl))

    @staticmethod
    def nextid(d, p):
        used = {int(v) for v in d["cts"]}
        if "vmid" in p:
            if int(p["vmid"]) in used:
                raise pm.PveError(400, "Parameter verification failed.", {"vmid": "VM %s already exists" % p["vmid"]})
            return p["vmid"]
        n = 100
        while n in used:
            n += 1
        return str(n)  # Proxmox answers the number as a string

    @staticmethod
    def task(d, upid):
        t = d["tasks"].get(upid)
        if t is None:
            raise pm.PveError(500, "unable to parse worker upid '%s'" % upid)
        out = {k: t[k] for k in ("upid", "node", "pid", "pstart", "starttime", "type", "id", "user", "status")}
        if t["status"] == "stopped":
            out["exitstatus"] = t["exitstatus"]
        return out

    @staticmethod
    def multipart(body, ctype):
        """Fields of a multipart/form-data body: {name: str} for plain fields,
        {name: (filename, memoryview)} for files; binary-safe, no copies of
        the file data."""
        m = re.search(r'boundary="?([^";]+)"?', ctype)
        if not m:
            raise pm.PveError(400, "Parameter verification failed.", {"body": "no multipart boundary"})
        delim = b"--" + m.group(1).encode()
        view = memoryview(body)
        fields = {}
        pos = body.find(delim)
        while pos >= 0:
            pos += len(delim)
            if body[pos:pos + 2] == b"--":
                break
            head_end = body.find(b"\r\n\r\n", pos)
            if head_end < 0:
                break
            head = body[pos:head_end].decode(errors="replace")
            start = head_end + 4
            end = body.find(b"\r\n" + delim, start)
            if end < 0:
                break
            nm = re.search(r'\bname="([^"]*)"', head)
            fn = re.search(r'\bfilename="([^"]*)"', head)
            if nm:
                if fn:
                    fields[nm.group(1)] = (fn.group(1), view[start:end])
                else:
                    fields[nm.group(1)] = body[start:end].decode(errors="replace")
            pos = end + 2
        return fields

    def upload(self, path, body, auth_header, ctype):
        """POST /nodes/{node}/storage/{storage}/upload (multipart): stores the
        file in the storage's template/cache (content vztmpl) and answers a task."""
        user, level = self.auth(auth_header)
        tmpl, info, pathp = self.schema.match("POST", path)
        raw = self.multipart(body, ctype)
        data = None
        fields = {}
        for k, v in raw.items():
            if isinstance(v, tuple):
                # Proxmox's REST handler: the file part's name is "filename"
                fields["filename"] = fields.get("filename") or v[0]
                data = v[1]
            else:
                fields[k] = v
        allp = dict(fields, **pathp)
        self.schema.validate(info, allp)
        self.check_perm("POST", info, allp, level)
        if data is None:
            raise pm.PveError(500, "upload failed: no file data")
        with self.state as d:
            if "node" in pathp and pathp["node"] not in d["nodes"]:
                raise pm.PveError(500, "no such cluster node '%s'" % pathp["node"])
            if fields["content"] != "vztmpl":
                self.state.storage(pathp["storage"])
                raise pm.PveError(500, "storage '%s' does not support '%s' content" % (
                    pathp["storage"], fields["content"]))
            name = re.sub(r"[^-_.a-zA-Z0-9]", "_", os.path.basename(fields["filename"]))  # normalized
            dest = pm.template_file(self.state, pathp["storage"], name)
            if os.path.exists(dest):
                raise pm.PveError(500, "file '%s' already exists" % dest)
            algo = fields.get("checksum-algorithm")
            if algo and hashlib.new(algo, data).hexdigest() != fields.get("checksum", "").lower():
                # pve-storage checks the upload before it moves the file in place
                raise pm.PveError(500, "checksum mismatch: got '%s' != expected '%s'" % (
                    hashlib.new(algo, data).hexdigest(), fields.get("checksum")))
            tmp = dest + ".part"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, dest)
            volid = "%s:vztmpl/%s" % (pathp["storage"], name)
            return self.state.new_task("imgcopy", "", user, ["none", 0],
                                       ["starting file import from: %s" % fields["filename"],
                                        "target file: %s" % dest, "file size is: %d" % len(data),
                                        "upload of %s" % volid])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api = None

    def log_message(self, fmt, *args):
        if os.environ.get("PVE_DOUBLE_DEBUG"):
            sys.stderr.write("pve_double: " + fmt % args + "\n")

    def _faults(self):
        with self.api.state as d:
            return dict(d["faults"])

    def _answer(self, status, reason, obj):
        body = json.dumps(obj).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _serve(self, method):
        url = urllib.parse.urlsplit(self.path)
        body = self._body() if method in ("POST", "PUT") else b""
        if url.path == "/_control":
            with self.api.state as d:
                d["faults"].update(json.loads(body or b"{}"))
            return self._answer(200, "OK", {"data": None})
        if self._faults().get("down"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if not url.path.startswith("/api2/json/"):
            return self._answer(501, "Unsupported format", {"data": None})
        path = url.path[len("/api2/json"):].rstrip("/")  # decoded per component (Schema.match)
        auth = self.headers.get("Authorization")
        ctype = self.headers.get("Content-Type", "")
        try:
            if path.endswith("/upload") and method == "POST":
                data = self.api.upload(path, body, auth, ctype)
            else:
                params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                if ctype.startswith("application/json") and body:
                    params.update({k: str(v) for k, v in json.loads(body).items()})
                elif body:
                    params.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                data = self.api.handle(method, path, params, auth)
        except pm.PveError as e:
            out = {"data": None, "message": e.reason + "\n"}
            if e.errors:
                out["errors"] = e.errors
            return self._answer(e.status, e.reason, out)
        self._answer(200, "OK", {"data": data})

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_PUT(self):
        self._serve("PUT")

    def do_DELETE(self):
        self._serve("DELETE")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True, help="USER@REALM!TOKENID=SECRET with every privilege")
    ap.add_argument("--token-ro", help="a token with audit privileges only (403 otherwise)")
    ap.add_argument("--node", default="pve1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--task-delay", type=float)
    args = ap.parse_args()
    Handler.api = Api(args)
    if args.task_delay is not None:
        with Handler.api.state as d:
            d["faults"]["task_delay"] = args.task_delay
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(srv.server_address[1]))
        os.replace(args.port_file + ".tmp", args.port_file)
    def stop(*_a):
        pm.cleanup_all(args.state)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    srv.serve_forever()


if __name__ == "__main__":
    main()
