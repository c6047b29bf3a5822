"""Terminals on the proxmox backend, against the Proxmox double (real LXC
containers behind a fake pct and an HTTPS API): pxcri-init makes the pty
inside the container and sends its master out through the run directory,
pxcri relays it to --console-socket (runc's protocol), for the container's
process (create) and for exec --tty."""

import json
import os
import socket
import subprocess

import pytest

from conftest import unique, wait_status
from test_lxc import read_until, recv_pty
from test_proxmox_backend import (assert_nothing_left, mk, ppx, proxmox_cfg, pve, read, reset, run_dir, wait_file,  # noqa: F401
                                  transport)


def listener(workdir, name="console.sock"):
    path = os.path.join(workdir, name)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    return server, path


def test_create_with_terminal(ppx, pve, workdir, transport):
    ppx.write_config(proxmox_cfg(pve, transport))
    cid = unique()
    b = mk(workdir, ["sh"], terminal=True)
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["consoleSize"] = {"height": 33, "width": 111}
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    server, sock = listener(workdir)
    with server:
        res = ppx("create", "--console-socket", sock, "-b", b, cid)
        assert res.returncode == 0, res.stderr
        master = recv_pty(server)  # before create returned
    try:
        st = ppx.state(cid)
        assert st["status"] == "created"
        ppx("start", cid, check=True)
        os.write(master, b"echo hi-$((1+2))\n")
        assert b"hi-3" in read_until(master, b"hi-3")
        os.write(master, b"tty; stty size\n")
        out = read_until(master, b"33 111")
        assert b"/dev/pts/" in out and b"33 111" in out, out
        os.write(master, b"exit 4\n")
        wait_status(ppx, cid, "stopped", timeout=15)
    finally:
        os.close(master)
    if transport == "pct":
        run = run_dir(ppx, cid)
        # the shell is the CT's PID 1; the waiter records its exit code once the kernel said it
        wait_file(os.path.join(ppx.root, "proxmox", cid, "exit"))
        assert read(os.path.join(ppx.root, "proxmox", cid, "exit")).strip() == "4"
        assert read(os.path.join(run, "output.log")) == ""  # the output went to the pty
        assert not os.path.exists(os.path.join(run, "console.sock"))
    ppx("delete", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


def test_exec_with_terminal(ppx, pve, workdir):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "1000"]), cid, check=True)
    server, sock = listener(workdir, "exec.sock")
    with server:
        p = subprocess.Popen(ppx.argv("exec", "--tty", "--console-socket", sock, cid,
                                      "sh", "-c", "tty; read x; echo got-$x; exit 6"),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=ppx.env)
        try:
            master = recv_pty(server)
        except Exception:
            p.kill()
            raise AssertionError("no terminal: %s" % p.communicate()[1])
    try:
        assert b"/dev/pts/" in read_until(master, b"/dev/pts/")
        os.write(master, b"pong\n")
        assert b"got-pong" in read_until(master, b"got-pong")
        assert p.wait(timeout=30) == 6, p.stderr.read()
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
    assert [f for f in os.listdir(run_dir(ppx, cid)) if f.startswith("exec-")] == []
    # The container's own process goes on.
    assert ppx.state(cid)["status"] == "running"
    ppx("delete", "--force", cid, check=True)
    assert_nothing_left(ppx, pve, cid)


@pytest.mark.parametrize("terminal", [True, False])
def test_create_terminal_and_console_socket_go_together(ppx, pve, workdir, terminal):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    b = mk(workdir, ["true"], terminal=terminal)
    extra = [] if terminal else ["--console-socket", os.path.join(workdir, "console.sock")]
    res = ppx("create", *extra, "-b", b, cid)
    assert res.returncode == 1
    want = "process.terminal needs --console-socket" if terminal else "--console-socket needs process.terminal"
    assert want in res.stderr
    assert_nothing_left(ppx, pve, cid)


def test_create_with_unreachable_console_socket(ppx, pve, workdir):
    """pxcri-init sent the terminal, the relay fails: create fails and
    removes the container."""
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    res = ppx("create", "--console-socket", os.path.join(workdir, "missing.sock"),
              "-b", mk(workdir, ["true"], terminal=True), cid)
    assert res.returncode == 1
    assert "missing.sock" in res.stderr
    assert_nothing_left(ppx, pve, cid)


@pytest.mark.parametrize("how", ["tty-without-socket", "socket-without-tty"])
def test_exec_terminal_and_console_socket_go_together(ppx, pve, workdir, how):
    ppx.write_config(proxmox_cfg(pve))
    cid = unique()
    ppx("run", "-d", "-b", mk(workdir, ["sleep", "1000"]), cid, check=True)
    args = ["--tty"] if how == "tty-without-socket" else ["--console-socket", os.path.join(workdir, "x.sock")]
    res = ppx("exec", *args, cid, "true")
    assert res.returncode == 1
    assert ("exec with a terminal needs --console-socket" if how == "tty-without-socket"
            else "--console-socket needs exec --tty") in res.stderr
    ppx("delete", "--force", cid, check=True)
