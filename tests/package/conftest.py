"""Fixtures of the package tests (make check-package, docs/install.md):

  debs       session: (the package, the same package as version +pkgtest1), from
             $PXCRI_DEB / $PXCRI_DEB_NEW, else built by scripts/build-deb
  root_tar   session: a Debian 12 root (debootstrap minbase), cached as a tarball
  standins   session: equivs packages that copy Proxmox VE 8's package relations
  Root       a fresh chroot unpacked from root_tar under /var/tmp, with /proc,
             /sys, /dev and a /run tmpfs, apt's downloads cached across runs;
             close() ends what runs in it, unmounts and deletes it
"""

import glob
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("PXCRI_TEST_CACHE", "/var/cache/pxcri-test")
APT_OPTS = ["-q", "-y", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]


def sh(cmd, check=True, **kw):
    """Run a shell command on the host; the CompletedProcess (text)."""
    r = subprocess.run(cmd, shell=isinstance(cmd, str), text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s" % (cmd, r.returncode, r.stdout[-4000:]))
    return r


class Root:
    """A Debian 12 chroot for one group of tests."""

    def __init__(self, tarball, name):
        self.dir = tempfile.mkdtemp(prefix="pxcri-pkgtest-%s." % name, dir="/var/tmp")
        self.path = os.path.join(self.dir, "root")
        self.mounted = False
        os.mkdir(self.path)
        sh(["tar", "-C", self.path, "-xf", tarball])
        self._mount()
        shutil.copy("/etc/resolv.conf", self.p("/etc/resolv.conf"))

    def p(self, path):
        """The host's path of a path inside the root."""
        return os.path.join(self.path, path.lstrip("/"))

    def _mount(self):
        r, archives = self.path, os.path.join(CACHE, "apt-archives")
        os.makedirs(os.path.join(archives, "partial"), exist_ok=True)
        # The root is a mount point of its own, so that crun's pivot_root works
        # in it; /sys and /dev are slaves, so that unmounting them here never
        # reaches the host's.
        sh(f"""set -e
            mount --bind {r} {r}; mount --make-private {r}; mount -t proc proc {r}/proc
            mount --rbind /sys {r}/sys; mount --make-rslave {r}/sys
            mount --rbind /dev {r}/dev; mount --make-rslave {r}/dev
            mount -t tmpfs -o mode=0755 tmpfs {r}/run
            mount --bind {archives} {r}/var/cache/apt/archives""")
        self.mounted = True

    def run(self, cmd, check=True, env=None, timeout=900):
        """A shell command in the root (chroot), with a clean environment."""
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive",
             "HOME": "/root"}
        e.update(env or {})
        args = ["chroot", self.path, "/usr/bin/env", "-i"] + ["%s=%s" % kv for kv in e.items()] + ["sh", "-c", cmd]
        r = subprocess.run(args, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("in %s: %s: exit %d\n%s" % (self.path, cmd, r.returncode, r.stdout[-6000:]))
        return r

    def apt(self, *args, check=True, env=None):
        return self.run(" ".join(["apt-get"] + APT_OPTS + [shlex.quote(a) for a in args]), check=check, env=env)

    def put(self, src, dst="/tmp"):
        """Copy a host file into the root; its path inside the root."""
        inside = os.path.join(dst, os.path.basename(src)) if dst.endswith("/") or dst == "/tmp" else dst
        os.makedirs(os.path.dirname(self.p(inside)), exist_ok=True)
        shutil.copy(src, self.p(inside))
        return inside

    def packages(self):
        """Installed packages: {name: version}."""
        out = self.run("dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\n'").stdout
        return {f[1]: f[2] for f in (line.split("\t") for line in out.splitlines()) if f[0].startswith("ii")}

    def pids(self):
        """Processes whose root is this root or below it (containers' too)."""
        found = []
        for d in glob.glob("/proc/[0-9]*"):
            try:
                root = os.readlink(d + "/root")
            except OSError:
                continue
            if root == self.path or root.startswith(self.path + "/"):
                found.append(int(os.path.basename(d)))
        return found

    def close(self):
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        if self.mounted:
            if sh(["umount", "-R", self.path], check=False).returncode != 0:
                sh(["umount", "-R", "-l", self.path], check=False)
            self.mounted = False
        if os.environ.get("PXCRI_TEST_KEEP"):
            print("kept", self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


def _version_of(deb):
    return sh(["dpkg-deb", "-f", deb, "Version"]).stdout.strip()


def bump(deb, suffix="+pkgtest1"):
    """The same package with version VERSION+pkgtest1, next to it: an upgrade
    of it (dpkg replaces every file and runs the upgrade's maintainer scripts)."""
    version = _version_of(deb) + suffix
    out = os.path.join(os.path.dirname(deb), "pxcri_%s_%s.deb" % (version, sh(["dpkg-deb", "-f", deb, "Architecture"]).stdout.strip()))
    work = tempfile.mkdtemp(prefix="pxcri-pkgtest-bump.")
    try:
        sh(["dpkg-deb", "-R", deb, work + "/x"])
        ctl = work + "/x/DEBIAN/control"
        with open(ctl) as f:
            text = re.sub(r"(?m)^Version: .*$", "Version: " + version, f.read())
        with open(ctl, "w") as f:
            f.write(text)
        sh(["dpkg-deb", "--root-owner-group", "-Zxz", "-b", work + "/x", out])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


@pytest.fixture(scope="session")
def debs(tmp_path_factory):
    deb = os.environ.get("PXCRI_DEB")
    if not deb:
        out = str(tmp_path_factory.mktemp("debs"))
        deb = sh([os.path.join(REPO, "scripts", "build-deb"), out]).stdout.strip().splitlines()[-1]
    new = os.environ.get("PXCRI_DEB_NEW") or bump(deb)
    assert _version_of(new) != _version_of(deb)
    sh(["dpkg", "--compare-versions", _version_of(new), "gt", _version_of(deb)])
    return deb, new


@pytest.fixture(scope="session")
def root_tar():
    return sh([os.path.join(HERE, "mkroot"), CACHE]).stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def standins():
    """{package name: .deb} of the stand-ins, built once per content of standins/."""
    ctls = sorted(glob.glob(os.path.join(HERE, "standins", "*.ctl")))
    h = hashlib.sha256()
    for c in ctls:
        with open(c, "rb") as f:
            h.update(f.read())
    out = os.path.join(CACHE, "standins-" + h.hexdigest()[:16])
    if not os.path.isdir(out):
        tmp = tempfile.mkdtemp(prefix="standins.", dir=CACHE)
        for c in ctls:
            sh(["equivs-build", c], cwd=tmp)
        for junk in glob.glob(tmp + "/*.buildinfo") + glob.glob(tmp + "/*.changes"):
            os.unlink(junk)
        os.rename(tmp, out)
    return {os.path.basename(d).split("_")[0]: d for d in glob.glob(out + "/*.deb")}


def unit_service(root, unit="/lib/systemd/system/pxcrid.service"):
    """The [Service] keys of the installed unit: {key: [values]}."""
    keys, section = {}, None
    with open(root.p(unit)) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                keys.setdefault(k, []).append(v)
    return keys


class Service:
    """pxcrid.service's ExecStart and ExecStartPost run by hand, as systemd would
    (this machine's PID 1 is no systemd): EnvironmentFile read, $VAR expanded
    and split, $MAINPID given to ExecStartPost.  stop() is KillMode=process:
    SIGTERM to the main process only."""

    def __init__(self, root):
        self.root = root
        self.keys = unit_service(root)
        self.proc = None

    def _env(self):
        env = {}
        for spec in self.keys.get("EnvironmentFile", []):
            path = spec.lstrip("-")
            if not os.path.exists(self.root.p(path)):
                assert spec.startswith("-"), "EnvironmentFile %s is missing" % path
                continue
            with open(self.root.p(path)) as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#") and "=" in line:
                        k, v = line.split("=", 1)
                        env[k] = v.strip().strip('"').strip("'")
        return env

    def _argv(self, line, env):
        argv = []
        for word in line.split():
            m = re.fullmatch(r"\$\{?(\w+)\}?", word)
            argv += env.get(m.group(1), "").split() if m else [word]
        return argv

    def start(self, log="/var/log/pxcri/pxcrid.log"):
        env = self._env()
        (start,) = self.keys["ExecStart"]
        argv = self._argv(start, env)
        os.makedirs(os.path.dirname(self.root.p(log)), exist_ok=True)
        with open(self.root.p(log), "a") as out:
            self.proc = subprocess.Popen(["chroot", self.root.path] + argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        env["MAINPID"] = str(self.proc.pid)
        for post in self.keys.get("ExecStartPost", []):
            r = self.root.run(" ".join(shlex.quote(a) for a in self._argv(post, env)), check=False)
            assert r.returncode == 0, "ExecStartPost %s: %s\n%s" % (post, r.stdout, self.log(log))
        return self.proc.pid

    def log(self, log="/var/log/pxcri/pxcrid.log"):
        with open(self.root.p(log)) as f:
            return f.read()[-3000:]

    def stop(self, timeout=45):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        self.proc = None
