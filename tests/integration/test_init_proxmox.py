"""pxcri-init's dir mode (the Proxmox backend's container init) and --exec
without a terminal, run directly on the host as an ordinary child process
with a temporary DIR and busybox-static commands.

PXCRI_INIT_BIN selects the binary (default build/src/init/pxcri-init)."""

import base64
import errno
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import REPO

INIT = os.environ.get("PXCRI_INIT_BIN", os.path.join(REPO, "build", "src", "init", "pxcri-init"))
BUSYBOX = "/bin/busybox"
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) ")

if not os.path.exists(INIT):
    pytest.skip("no pxcri-init at %s" % INIT, allow_module_level=True)
if not os.path.exists(BUSYBOX):
    pytest.skip("needs busybox-static", allow_module_level=True)


def records(script, cwd=None, uid=None, gid=None, groups=()):
    """The process file for `busybox sh -c script`."""
    recs = ["a" + BUSYBOX, "ash", "a-c", "a" + script, "ePATH=/bin:/usr/bin"]
    if cwd is not None:
        recs.append("c" + cwd)
    if uid is not None:
        recs.append("u%d" % uid)
    if gid is not None:
        recs.append("g%d" % gid)
    recs += ["G%d" % g for g in groups]
    return b"".join(r.encode() + b"\0" for r in recs)


class Init:
    """pxcri-init --dir DIR, with DIR/ctl made as the host makes it."""

    def __init__(self, d, script=None, args=(), ctl=True, process=None, **kw):
        self.dir = d
        self.ctl = os.path.join(d, "ctl")
        if ctl:
            os.mkfifo(self.ctl, 0o600)
        if script is not None:
            with open(os.path.join(d, "process"), "wb") as f:
                f.write(records(script, **kw))
        self.proc = subprocess.Popen([INIT, "--dir", d] + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def send(self, byte):
        """Write one ctl byte; ENXIO means pxcri-init has not opened ctl
        yet (or is gone), so retry while it runs."""
        end = time.monotonic() + 10
        while True:
            try:
                fd = os.open(self.ctl, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno != errno.ENXIO or self.proc.poll() is not None or time.monotonic() > end:
                    raise
                time.sleep(0.01)
        try:
            os.write(fd, bytes([byte]))
        finally:
            os.close(fd)

    def wait(self, timeout=20):
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
        return rc

    def ready(self):
        """Wait until pxcri-init handles signals: it opens output.log after
        it blocked them."""
        assert wait_for(lambda: os.path.exists(os.path.join(self.dir, "output.log")))

    def exit_code(self):
        with open(os.path.join(self.dir, "exit")) as f:
            return int(f.read())

    def log(self):
        """[(stream, tag, content)], checking every line's format."""
        out = []
        with open(os.path.join(self.dir, "output.log"), "rb") as f:
            data = f.read().decode()
        assert data == "" or data.endswith("\n")
        for line in data.splitlines():
            m = CRI_LINE.match(line)
            assert m, "not a CRI log line: %r" % line[:100]
            out.append((m.group(1), m.group(2), line[m.end():]))
        return out


def lines(log, stream):
    return [c for s, t, c in log if s == stream]


@pytest.fixture
def d(workdir):
    d = os.path.join(workdir, "run")
    os.mkdir(d)
    return d


def wait_for(pred, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def test_cri_log_and_exit_code(d):
    init = Init(d, "echo out1; echo err1 >&2; echo out2; printf tail; exit 7")
    init.send(0)
    assert init.wait() == 7
    assert init.exit_code() == 7
    log = init.log()
    assert [(s, t, c) for s, t, c in log if s == "stdout"] == [
        ("stdout", "F", "out1"), ("stdout", "F", "out2"), ("stdout", "P", "tail")]
    assert [(s, t, c) for s, t, c in log if s == "stderr"] == [("stderr", "F", "err1")]


def test_long_line_split(d):
    init = Init(d, "%s head -c 40000 /dev/zero | %s tr '\\0' x; echo; echo next" % (BUSYBOX, BUSYBOX))
    init.send(0)
    assert init.wait() == 0
    log = init.log()
    assert [t for s, t, c in log] == ["P", "P", "F", "F"]
    assert [len(c) for s, t, c in log] == [16384, 16384, 40000 - 2 * 16384, 4]
    assert "".join(c for s, t, c in log[:3]) == "x" * 40000
    assert log[3] == ("stdout", "F", "next")


def test_waits_for_start_byte(d):
    marker = os.path.join(d, "marker")
    init = Init(d, "touch %s" % marker)
    time.sleep(0.5)
    assert not os.path.exists(marker)
    assert init.proc.poll() is None
    init.send(0)
    assert init.wait() == 0
    assert os.path.exists(marker)
    assert init.exit_code() == 0


def test_signal_byte_after_start(d):
    marker = os.path.join(d, "marker")
    init = Init(d, "touch %s; while :; do sleep 0.1; done" % marker)
    init.send(0)
    assert wait_for(lambda: os.path.exists(marker))
    assert not os.path.exists(os.path.join(d, "exit"))
    init.send(9)
    assert init.wait() == 137
    assert init.exit_code() == 137


def test_signal_byte_before_start(d):
    marker = os.path.join(d, "marker")
    init = Init(d, "touch %s" % marker)
    time.sleep(0.2)
    init.send(15)
    assert init.wait() == 143
    assert init.exit_code() == 143
    assert not os.path.exists(marker)


def test_sigterm_before_start(d):
    marker = os.path.join(d, "marker")
    init = Init(d, "touch %s" % marker)
    init.ready()
    init.proc.send_signal(signal.SIGTERM)
    assert init.wait() == 143
    assert init.exit_code() == 143
    assert not os.path.exists(marker)


def test_sigterm_forwarded(d):
    marker = os.path.join(d, "marker")
    init = Init(d, 'trap "exit 42" TERM; touch %s; while :; do sleep 0.1; done' % marker)
    init.send(0)
    assert wait_for(lambda: os.path.exists(marker))
    init.proc.send_signal(signal.SIGTERM)
    assert init.wait() == 42
    assert init.exit_code() == 42


def test_ctl_gone_with_init(d):
    """The host's liveness check: opening ctl for writing fails with ENXIO
    once pxcri-init is gone."""
    init = Init(d, "exit 0")
    init.send(0)
    assert init.wait() == 0
    with pytest.raises(OSError) as e:
        os.open(init.ctl, os.O_WRONLY | os.O_NONBLOCK)
    assert e.value.errno == errno.ENXIO


def test_exit_only_after_complete_log(workdir, d):
    # One process writing fast and exiting at once: when it is reaped, its
    # pipe still holds up to 64 KiB of the 200 KiB.
    want = ["line%d %s" % (i, "x" * 100) for i in range(2000)]
    src = os.path.join(workdir, "lines.txt")
    with open(src, "w") as f:
        f.write("".join(w + "\n" for w in want))
    init = Init(d, "exec %s cat %s" % (BUSYBOX, src))
    init.send(0)
    exit_path = os.path.join(d, "exit")
    assert wait_for(lambda: os.path.exists(exit_path), timeout=30)
    # Read the log the moment exit appears, before pxcri-init is reaped.
    assert lines(init.log(), "stdout") == want
    assert init.wait() == 0


def test_grandchild_holding_pipe(d):
    """A background grandchild keeps stdout open: pxcri-init still ends."""
    init = Init(d, "echo before; %s sleep 30 & echo after; exit 3" % BUSYBOX)
    init.send(0)
    t = time.monotonic()
    assert init.wait() == 3
    assert time.monotonic() - t < 10
    assert lines(init.log(), "stdout") == ["before", "after"]


def test_no_wait(d):
    init = Init(d, "echo started; exit 5", args=["--no-wait"])
    assert init.wait() == 5
    assert lines(init.log(), "stdout") == ["started"]


def test_no_wait_without_ctl_and_process_b64(d):
    b64 = base64.b64encode(records("echo from-b64; exit 4")).decode()
    init = Init(d, ctl=False, args=["--no-wait", "--process-b64", b64])
    assert not os.path.exists(os.path.join(d, "process"))
    assert init.wait() == 4
    assert init.exit_code() == 4
    assert lines(init.log(), "stdout") == ["from-b64"]


def test_process_b64_with_ctl(d):
    marker = os.path.join(d, "marker")
    # Lengths 0..2 mod 3 exercise every padding.
    for pad in ("", "x", "xx"):
        b64 = base64.b64encode(records("touch %s; echo %s; exit 6" % (marker, pad or "-"))).decode()
        sub = os.path.join(d, "p%d" % len(pad))
        os.mkdir(sub)
        init = Init(sub, args=["--process-b64", b64])
        time.sleep(0.2)
        assert not os.path.exists(marker)
        init.send(0)
        assert init.wait() == 6
        assert lines(init.log(), "stdout") == [pad or "-"]
        os.unlink(marker)


def test_invalid_b64(d):
    init = Init(d, args=["--no-wait", "--process-b64", "!!!!"])
    assert init.wait() == 127


def test_wait_without_ctl_fails(d):
    init = Init(d, "exit 0", ctl=False)
    assert init.wait() == 127


@pytest.mark.skipif(os.geteuid() != 0, reason="changing identity needs root")
def test_identity(d):
    init = Init(d, "id", uid=65534, gid=65534, groups=[65534, 4242], args=["--no-wait"])
    assert init.wait() == 0
    out = lines(init.log(), "stdout")
    assert len(out) == 1
    assert re.match(r"uid=65534\b", out[0]) and re.search(r" gid=65534\b", out[0]), out[0]
    groups = re.search(r"groups=(\S+)", out[0]).group(1)
    assert re.search(r"\b4242\b", groups), out[0]
    assert not re.search(r"\b0\(", groups), out[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="changing identity needs root")
def test_uid_alone_drops_groups(d):
    init = Init(d, "id -G; id -u", uid=65534, args=["--no-wait"])
    assert init.wait() == 0
    # No "G": supplementary groups cleared, the gid stays ours (root's).
    assert lines(init.log(), "stdout") == ["0", "65534"]


def test_cwd(d):
    wd = os.path.join(d, "wd")
    os.mkdir(wd)
    init = Init(d, "pwd", cwd=wd, args=["--no-wait"])
    assert init.wait() == 0
    assert lines(init.log(), "stdout") == [wd]


def test_bad_cwd(d):
    init = Init(d, "echo ran", cwd="/nonexistent-pxcri", args=["--no-wait"])
    assert init.wait() == 127
    assert init.exit_code() == 127
    log = init.log()
    assert lines(log, "stdout") == []
    assert lines(log, "stderr") == ["pxcri-init: chdir /nonexistent-pxcri: No such file or directory"]


def test_exec_without_terminal(workdir):
    base = os.path.join(workdir, "exec-1")
    wd = os.path.join(workdir, "wd")
    os.mkdir(wd)
    with open(base + ".process", "wb") as f:
        f.write(records("read x; echo got $x; pwd; echo oops >&2; exit 9", cwd=wd))
    res = subprocess.run([INIT, "--exec", base], input="hello\n", capture_output=True, text=True, timeout=20)
    assert res.returncode == 9
    assert res.stdout == "got hello\n%s\n" % wd
    assert res.stderr == "oops\n"
    assert not os.path.exists(base + ".sock")


# ---- "b" records: bind mounts pxcri-init makes before the start ----

def bind_init(d, script, binds):
    """pxcri-init in a private mount namespace (unshare -m), so that its
    mounts never reach the host; binds: [(mode, src, dest)]."""
    with open(os.path.join(d, "process"), "wb") as f:
        f.write(records(script))
        for mode, src, dest in binds:
            f.write(("b%s%s\t%s" % (mode, src, dest)).encode() + b"\0")
    return subprocess.Popen(["unshare", "-m", "--propagation", "private", INIT, "--dir", d, "--no-wait"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc, d):
    """pxcri-init's code, the exit file's and the log."""
    try:
        rc = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    init = Init.__new__(Init)
    init.dir = d
    return rc, init.exit_code(), init.log()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@needs_root
def test_bind_file_read_write_and_missing_parents(workdir, d):
    src = os.path.join(d, "hosts")
    with open(src, "w") as f:
        f.write("10.0.0.7 pod\n")
    dest = os.path.join(workdir, "root", "etc", "hosts")
    proc = bind_init(d, "cat %s; echo more >> %s && echo wrote" % (dest, dest), [("w", src, dest)])
    rc, code, log = finish(proc, d)
    assert (rc, code) == (0, 0), log
    assert lines(log, "stdout") == ["10.0.0.7 pod", "wrote"]
    # The write went through the bind to the source; on the host (another
    # mount namespace) dest is the empty file pxcri-init made.
    with open(src) as f:
        assert f.read() == "10.0.0.7 pod\nmore\n"
    assert os.path.getsize(dest) == 0


@needs_root
def test_bind_read_only_file_and_directory(workdir, d):
    src = os.path.join(d, "resolv.conf")
    with open(src, "w") as f:
        f.write("nameserver 10.0.0.10\n")
    srcdir = os.path.join(d, "secrets")
    os.mkdir(srcdir)
    with open(os.path.join(srcdir, "token"), "w") as f:
        f.write("t0k3n\n")
    dest = os.path.join(workdir, "root", "etc", "resolv.conf")
    destdir = os.path.join(workdir, "root", "var", "run", "secrets")
    script = ("cat %s %s/token; echo x >> %s || echo file-ro; touch %s/new || echo dir-ro"
              % (dest, destdir, dest, destdir))
    proc = bind_init(d, script, [("r", src, dest), ("r", srcdir, destdir)])
    rc, code, log = finish(proc, d)
    assert (rc, code) == (0, 0), log
    assert lines(log, "stdout") == ["nameserver 10.0.0.10", "t0k3n", "file-ro", "dir-ro"]
    assert os.path.isdir(destdir) and os.listdir(destdir) == []
    with open(src) as f:
        assert f.read() == "nameserver 10.0.0.10\n"
    assert not os.path.exists(os.path.join(srcdir, "new"))


@needs_root
def test_bind_missing_source(workdir, d):
    src = os.path.join(d, "binds", "0")
    dest = os.path.join(workdir, "root", "etc", "hosts")
    marker = os.path.join(workdir, "ran")
    proc = bind_init(d, "touch %s" % marker, [("r", src, dest)])
    rc, code, log = finish(proc, d)
    assert (rc, code) == (127, 127)
    assert lines(log, "stderr") == ["pxcri-init: bind %s on %s: No such file or directory" % (src, dest)]
    assert lines(log, "stdout") == []
    assert not os.path.exists(marker)


def test_bind_record_invalid(d):
    with open(os.path.join(d, "process"), "wb") as f:
        f.write(records("exit 0") + b"bx/a\t/b\0")
    proc = subprocess.Popen([INIT, "--dir", d, "--no-wait"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.wait(20) == 127
    proc.stderr.close()
    # Before the log is open: the reason is in init.err, the code in exit.
    with open(os.path.join(d, "init.err")) as f:
        assert f.read() == "pxcri-init: invalid bind record: Invalid argument\n"
    with open(os.path.join(d, "exit")) as f:
        assert f.read() == "127\n"
    assert not os.path.exists(os.path.join(d, "output.log"))


def with_records(d, script, extra):
    with open(os.path.join(d, "process"), "wb") as f:
        f.write(records(script) + b"".join(r.encode() + b"\0" for r in extra))


def open_stdin_writer(d, init):
    """The waiter's side: DIR/stdin for writing, once pxcri-init holds the
    read end (ENXIO until then)."""
    end = time.monotonic() + 10
    while True:
        try:
            return os.open(os.path.join(d, "stdin"), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO or init.proc.poll() is not None or time.monotonic() > end:
                raise
            time.sleep(0.01)


def test_stdin_fifo_is_the_process_stdin_and_eof_ends_it(d):
    """"i": pxcri-init opens DIR/stdin before ctl; what the host writes before
    the start waits in the FIFO; closing the write end is the process's EOF."""
    os.mkfifo(os.path.join(d, "stdin"), 0o600)
    with_records(d, "while read l; do echo got-$l; done; echo eof; readlink /proc/self/fd/0 >&2", ["i"])
    init = Init(d)
    w = open_stdin_writer(d, init)
    os.write(w, b"before-start\n")
    init.send(0)
    os.write(w, b"after-start\n")
    os.close(w)
    assert init.wait() == 0
    log = init.log()
    assert lines(log, "stdout") == ["got-before-start", "got-after-start", "eof"]
    assert lines(log, "stderr") == [os.path.join(d, "stdin")]


def test_without_i_record_stdin_is_dev_null(d):
    init = Init(d, "cat; readlink /proc/self/fd/0")
    init.send(0)
    assert init.wait() == 0
    assert lines(init.log(), "stdout") == ["/dev/null"]


def test_rlimit_and_oom_records(d):
    with_records(d, "grep 'open files' /proc/self/limits; cat /proc/self/oom_score_adj",
                 ["l%d 123 456 RLIMIT_NOFILE" % 7, "o432"])
    init = Init(d)
    init.send(0)
    assert init.wait() == 0
    out = lines(init.log(), "stdout")
    assert out[0].split()[3:5] == ["123", "456"], out
    assert out[1] == "432"


def test_rlimit_refused_names_the_field(d):
    with_records(d, "true", ["l7 %d %d RLIMIT_NOFILE" % (1 << 40, 1 << 40)])
    init = Init(d)
    init.send(0)
    assert init.wait() == 127
    assert any("process.rlimits RLIMIT_NOFILE: setrlimit" in c for c in lines(init.log(), "stderr"))


def test_partial_line_goes_out_while_the_process_runs(d):
    """A prompt or `echo -n` without its newline reaches the log as a "P"
    record once the stream is quiet (100 ms), not only when the process ends:
    an attached client sees it (critest's attach: `echo -n hello`)."""
    init = Init(d, "printf prompt; sleep 3; echo rest")
    init.send(0)
    assert wait_for(lambda: os.path.exists(os.path.join(d, "output.log")) and
                    ("stdout", "P", "prompt") in init.log(), timeout=2)
    assert init.proc.poll() is None
    assert init.wait() == 0
    assert init.log() == [("stdout", "P", "prompt"), ("stdout", "F", "rest")]
