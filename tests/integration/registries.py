"""Registries for the image pull tests: Debian's docker-registry run as a
child process, and small in-process servers that speak the parts of the OCI
distribution API a test needs (a fake registry with hostile modes, a Bearer
token proxy).  Every server is stopped by the test that started it."""

import base64
import hashlib
import http.server
import json
import os
import secrets
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import images

REGISTRY_BIN = "/usr/bin/docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT_ALL = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST,
                        "application/vnd.docker.distribution.manifest.list.v2+json"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _wait_http(url, timeout=15):
    deadline = time.monotonic() + timeout
    ctx = ssl._create_unverified_context()
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1, context=ctx)
            return
        except urllib.error.HTTPError:
            return  # it answers (401 with auth)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not come up" % url)


class DockerRegistry:
    """/usr/bin/docker-registry serving from a temp dir on 127.0.0.1:<free port>."""

    def __init__(self, workdir, name="registry", htpasswd=None, tls=False):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        cfg = os.path.join(self.dir, "config.yml")
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", "    rootdirectory: %s/data" % self.dir,
                 "  delete:", "    enabled: true",
                 "http:", "  addr: %s" % self.host]
        self.scheme = "http"
        if tls:
            self.scheme = "https"
            self.cert = os.path.join(self.dir, "cert.pem")
            key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-keyout", key, "-out", self.cert, "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
            lines += ["  tls:", "    certificate: %s" % self.cert, "    key: %s" % key]
        if htpasswd:
            path = os.path.join(self.dir, "htpasswd")
            with open(path, "w") as f:
                for user, pw in htpasswd.items():
                    f.write(subprocess.run(["htpasswd", "-Bbn", user, pw], check=True,
                                           capture_output=True, text=True).stdout.strip() + "\n")
            lines += ["auth:", "  htpasswd:", "    realm: pxt", "    path: %s" % path]
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            _wait_http("%s://%s/v2/" % (self.scheme, self.host))
        except Exception:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()

    def push(self, layout, tag, dest, fmt=None, creds=None):
        """skopeo copy oci:LAYOUT:TAG docker://HOST/DEST (fmt "v2s2": Docker schema 2)."""
        argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        if fmt:
            argv += ["--format", fmt]
        if creds:
            argv += ["--dest-creds", creds]
        argv += ["oci:%s:%s" % (layout, tag), "docker://%s/%s" % (self.host, dest)]
        images._run(argv)

    def request(self, method, path, body=None, headers=None, creds=None):
        req = urllib.request.Request("%s://%s%s" % (self.scheme, self.host, path), data=body,
                                     method=method, headers=dict(headers or {}))
        if creds:
            req.add_header("Authorization", "Basic " + base64.b64encode(creds.encode()).decode())
        with urllib.request.urlopen(req, timeout=10, context=ssl._create_unverified_context()) as r:
            return r.status, dict(r.headers), r.read()

    def manifest(self, repo, ref):
        """(digest, media type, size, body) of a manifest."""
        _, hdrs, body = self.request("GET", "/v2/%s/manifests/%s" % (repo, ref),
                                     headers={"Accept": ACCEPT_ALL})
        return sha256(body), hdrs["Content-Type"], len(body), body

    def put_index(self, repo, tag, entries):
        """PUT an OCI index of entries [(ref, os, arch, variant)] as repo:tag; returns its digest."""
        manifests = []
        for ref, os_, arch, variant in entries:
            digest, mt, size, _ = self.manifest(repo, ref)
            platform = {"architecture": arch, "os": os_}
            if variant:
                platform["variant"] = variant
            manifests.append({"mediaType": mt, "digest": digest, "size": size, "platform": platform})
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                           "manifests": manifests}).encode()
        self.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                     headers={"Content-Type": OCI_INDEX})
        return sha256(body)


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1:<free port> in a thread."""

    def __init__(self, handler_cls):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.srv.daemon_threads = True
        self.srv.owner = self
        self.port = self.srv.server_address[1]
        self.host = "127.0.0.1:%d" % self.port
        self.lock = threading.Lock()
        self.requests = []  # (method, path, headers dict)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def record(self, handler):
        with self.lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers)))

    def count(self, method, path_part):
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and path_part in p)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class FakeRegistry(_Server):
    """Serves canned manifests and blobs for one repository.

    manifests: {tag or digest: (content type, bytes)}; blobs: {digest: bytes};
    modes: {digest: mode} with mode one of
      "wrong"         other bytes of the same length
      "short"         a complete answer with half the bytes
      "cut-once"      the first GET announces every byte and hangs up after half;
                      later GETs answer normally (honouring Range)
      "cut"           every GET does that (Range ignored)
      "slow"          wait 1 s before answering
    and {"manifest:<tag>": "lying-digest-header"}: a Docker-Content-Digest that
    does not match the manifest served.
    """

    def __init__(self, repo, manifests=None, blobs=None, modes=None):
        self.repo = repo
        self.manifests = dict(manifests or {})
        self.blobs = dict(blobs or {})
        self.modes = dict(modes or {})
        self.cut_done = set()
        super().__init__(_FakeHandler)

    def add_image(self, tag, config, layers, media_type=OCI_MANIFEST):
        """Add config and layer blobs and a manifest naming them; returns the manifest bytes."""
        def desc(mt, data):
            self.blobs[sha256(data)] = data
            return {"mediaType": mt, "digest": sha256(data), "size": len(data)}
        m = {"schemaVersion": 2, "mediaType": media_type,
             "config": desc("application/vnd.oci.image.config.v1+json", config),
             "layers": [desc("application/vnd.oci.image.layer.v1.tar", l) for l in layers]}
        body = json.dumps(m).encode()
        self.manifests[tag] = (media_type, body)
        self.manifests[sha256(body)] = (media_type, body)
        return body


class _FakeHandler(_Handler):
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        reg = self.server.owner
        reg.record(self)
        prefix = "/v2/%s/" % reg.repo
        if self.path == "/v2/":
            return self.send(200, b"{}")
        if self.path.startswith(prefix + "manifests/"):
            ref = self.path[len(prefix + "manifests/"):]
            if ref not in reg.manifests:
                return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            mt, body = reg.manifests[ref]
            digest = sha256(body)
            if reg.modes.get("manifest:" + ref) == "lying-digest-header":
                digest = sha256(b"not this manifest")
            return self.send(200, body, {"Content-Type": mt, "Docker-Content-Digest": digest})
        if self.path.startswith(prefix + "blobs/"):
            return self.blob(reg, self.path[len(prefix + "blobs/"):])
        self.send(404)

    def blob(self, reg, digest):
        if digest not in reg.blobs:
            return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        data = reg.blobs[digest]
        mode = reg.modes.get(digest)
        if mode == "slow":
            time.sleep(1)
        if mode == "wrong":
            return self.send(200, bytes(b ^ 0xff for b in data))
        if mode == "short":
            return self.send(200, data[:len(data) // 2])
        if mode == "cut" or (mode == "cut-once" and digest not in reg.cut_done):
            with reg.lock:
                reg.cut_done.add(digest)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            return self.send(206, data[start:],
                             {"Content-Range": "bytes %d-%d/%d" % (start, len(data) - 1, len(data))})
        self.send(200, data)


class TokenProxy(_Server):
    """A Bearer-token registry front: every /v2/ request needs
    `Authorization: Bearer <token>`; tokens come from /token (GET with Basic
    credentials user:password, or anonymous when anonymous=True; POST with
    grant_type=refresh_token and refresh_token=<identity token>).  Authorised
    requests are passed on to upstream (host:port); blob GETs may instead be
    redirected to redirect_blobs_to (host:port of another server)."""

    def __init__(self, upstream, user=None, password=None, identity_token=None, anonymous=False,
                 redirect_blobs_to=None):
        self.upstream = upstream
        self.user, self.password = user, password
        self.identity_token = identity_token
        self.anonymous = anonymous
        self.redirect_blobs_to = redirect_blobs_to
        self.tokens = set()
        super().__init__(_TokenHandler)

    def realm(self):
        return "http://%s/token" % self.host


class _TokenHandler(_Handler):
    def do_POST(self):
        p = self.server.owner
        p.record(self)
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if (self.path.startswith("/token") and form.get("grant_type") == ["refresh_token"]
                and p.identity_token and form.get("refresh_token") == [p.identity_token]):
            return self.token(p, "access_token")
        self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')

    def token(self, p, key="token"):
        tok = secrets.token_hex(16)
        with p.lock:
            p.tokens.add(tok)
        self.send(200, json.dumps({key: tok, "expires_in": 300}).encode(),
                  {"Content-Type": "application/json"})

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        p = self.server.owner
        p.record(self)
        if self.path.startswith("/token"):
            auth = self.headers.get("Authorization", "")
            want = "Basic " + base64.b64encode(("%s:%s" % (p.user, p.password)).encode()).decode()
            if (p.user and auth == want) or (p.anonymous and not auth):
                return self.token(p)
            return self.send(401, b'{"details":"bad credentials"}')
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in p.tokens:
            repo = self.path[4:].split("/manifests/")[0].split("/blobs/")[0]
            chal = 'Bearer realm="%s",service="pxt-registry",scope="repository:%s:pull"' % (
                p.realm(), repo)
            return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                             {"WWW-Authenticate": chal, "Content-Type": "application/json"})
        if p.redirect_blobs_to and "/blobs/" in self.path:
            return self.send(307, b"", {"Location": "http://%s%s" % (p.redirect_blobs_to, self.path)})
        self.forward(p)

    def forward(self, p):
        req = urllib.request.Request("http://%s%s" % (p.upstream, self.path), method=self.command)
        for h in ("Accept", "Range"):
            if self.headers.get(h):
                req.add_header(h, self.headers[h])
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, hdrs, body = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, body = e.code, e.headers, e.read()
        out = {k: hdrs[k] for k in ("Content-Type", "Docker-Content-Digest", "Content-Range") if hdrs.get(k)}
        self.send(status, body, out)
