"""The Proxmox double for the tests (and bench/proxmox-lifecycle): a
certificate, the HTTPS API double (tests/proxmox/pve_double.py) on a free
port, the fake pct, and one request to the API.  The double runs under
/usr/bin/python3 and is stopped by PID."""

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOUBLE = os.path.join(REPO, "tests", "proxmox", "pve_double.py")
FAKE_PCT = os.path.join(REPO, "tests", "proxmox", "fake_pct.py")
PY = "/usr/bin/python3"
TOKEN = "root@pam!pxcri=0f1e2d3c-aaaa-bbbb-cccc-123456789abc"
TOKEN_RO = "audit@pve!ro=11111111-2222-3333-4444-555555555555"
# Added to a suite's VMID range, so that two checkouts can run the Proxmox
# suites at once (the double's containers are real LXC ones named by VMID).
VMID_OFFSET = int(os.environ.get("PXT_VMID_OFFSET", "0"))


def make_cert(d, name):
    """A self-signed certificate for 127.0.0.1: (cert, key, SHA-256 fingerprint)."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + "-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    fp = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"], check=True,
                        capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    return cert, key, fp


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Double:
    """pve_double.py with its state in <d>/<name>-state."""

    def __init__(self, d, cert, key, name="pve1", token_ro=None):
        self.state = os.path.join(d, name + "-state")
        self.cert = cert
        port_file = os.path.join(d, name + ".port")
        argv = [PY, DOUBLE, "--state", self.state, "--cert", cert, "--key", key, "--token", TOKEN,
                "--port-file", port_file]
        if token_ro:
            argv += ["--token-ro", token_ro]
        self.proc = subprocess.Popen(argv)
        for _ in range(400):
            if os.path.exists(port_file):
                break
            time.sleep(0.025)
        with open(port_file) as f:
            self.port = int(f.read())
        self.host = "127.0.0.1:%d" % self.port

    def control(self, **faults):
        req = urllib.request.Request("https://%s/_control" % self.host, data=json.dumps(faults).encode())
        urllib.request.urlopen(req, context=ssl.create_default_context(cafile=self.cert), timeout=10).read()

    def stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)

    def state_json(self):
        with open(os.path.join(self.state, "state.json")) as f:
            return json.load(f)

    @property
    def lxcpath(self):
        return self.state_json()["lxcpath"]

    def storage(self, sid):
        return os.path.join(self.state, "storage", sid)

    def images(self, sid, vmid):
        return os.path.join(self.storage(sid), "images", str(vmid))


def api(env, method, path, params=None, body=None, ctype=None, token=TOKEN, timeout=60):
    """One request to env["double"]: (status, reason, answer)."""
    url = "https://%s/api2/json%s" % (env["double"].host, path)
    data = body
    if params and method in ("GET", "DELETE"):
        url += "?" + urllib.parse.urlencode(params)
    elif params:
        data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "PVEAPIToken=" + token)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=env["double"].cert),
                                    timeout=timeout) as r:
            return r.status, r.reason, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.reason, json.loads(e.read() or b"null")
