#!/usr/bin/env python3
"""Seeds for fuzz_cri_methods and fuzz_rpc_frames (tests/fuzz/corpus/<name>/).

Usage: protoc --python_out=DIR -Iproto proto/cri-api.proto; PYTHONPATH=DIR python3 tests/fuzz/gen_seeds.py
"""
import os
import struct

import cri_api_pb2 as api

HERE = os.path.dirname(os.path.abspath(__file__))

# Same order as cri_methods in src/cri/server.c (and requests[] in fuzz_cri_methods.c).
NAMES = ["VersionRequest", "StatusRequest", "RuntimeConfigRequest", "UpdateRuntimeConfigRequest",
         "RunPodSandboxRequest", "StopPodSandboxRequest", "RemovePodSandboxRequest",
         "PodSandboxStatusRequest", "ListPodSandboxRequest", "CreateContainerRequest",
         "StartContainerRequest", "StopContainerRequest", "RemoveContainerRequest",
         "ListContainersRequest", "ContainerStatusRequest", "UpdateContainerResourcesRequest",
         "ReopenContainerLogRequest", "ExecSyncRequest", "ExecRequest", "AttachRequest",
         "PortForwardRequest", "ContainerStatsRequest", "ListContainerStatsRequest",
         "PodSandboxStatsRequest", "ListPodSandboxStatsRequest", "GetEventsRequest",
         "ListImagesRequest", "ImageStatusRequest", "PullImageRequest", "RemoveImageRequest",
         "ImageFsInfoRequest"]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pod_config():
    c = api.PodSandboxConfig()
    c.metadata.name, c.metadata.namespace, c.metadata.uid = "p", "default", "u1"
    c.log_directory = "/var/log/pods/x"
    c.hostname = "p"
    pm = c.port_mappings.add()
    pm.protocol, pm.container_port, pm.host_port = 1, 80, 8080
    c.linux.security_context.namespace_options.network = 2
    return c


def container_config():
    c = api.ContainerConfig()
    c.metadata.name = "c"
    c.image.image = "busybox"
    c.command.extend(["sh", "-c"])
    c.args.append("echo hi")
    e = c.envs.add()
    e.key, e.value = "A", b"b"
    m = c.mounts.add()
    m.container_path, m.host_path, m.propagation = "/data", "/tmp/x", 1
    c.log_path = "c/0.log"
    c.linux.resources.memory_limit_in_bytes = 1 << 26
    c.linux.resources.cpu_shares = 512
    c.linux.security_context.run_as_user.value = 1000
    c.linux.security_context.namespace_options.pid = 1
    return c


def methods():
    for i, n in enumerate(NAMES):
        m = getattr(api, n)()
        if n == "RunPodSandboxRequest":
            m.config.CopyFrom(pod_config())
        elif n == "CreateContainerRequest":
            m.pod_sandbox_id = "a" * 64
            m.config.CopyFrom(container_config())
            m.sandbox_config.CopyFrom(pod_config())
        elif n == "UpdateContainerResourcesRequest":
            m.container_id = "a" * 64
            m.linux.cpu_quota, m.linux.cpu_period = 50000, 100000
        elif n == "ExecSyncRequest":
            m.container_id, m.timeout = "x", 3
            m.cmd.extend(["ls", "/"])
        elif n == "PullImageRequest":
            m.image.image = "localhost:5000/busybox:latest"
            m.auth.username, m.auth.password = "u", "p"
        elif hasattr(m, "container_id"):
            m.container_id = "0123abc"
        elif hasattr(m, "pod_sandbox_id"):
            m.pod_sandbox_id = "0123abc"
        write("cri_methods", "%02d-%s" % (i, n), bytes([i]) + m.SerializeToString())


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_literal(name, value):
    # Literal header field without indexing, new name, no Huffman.
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value


def request(sid, path, body, timeout=None, end=True):
    hdrs = (hpack_literal(b":method", b"POST") + hpack_literal(b":scheme", b"http") +
            hpack_literal(b":path", path) + hpack_literal(b":authority", b"/run/x.sock") +
            hpack_literal(b"content-type", b"application/grpc") + hpack_literal(b"te", b"trailers"))
    if timeout:
        hdrs += hpack_literal(b"grpc-timeout", timeout)
    msg = b"\x00" + struct.pack(">I", len(body)) + body
    return frame(1, 4, sid, hdrs) + frame(0, 1 if end else 0, sid, msg)


def frames():
    settings = frame(4, 0, 0, b"")
    ver = api.VersionRequest(version="v1").SerializeToString()
    pod = api.RunPodSandboxRequest(config=pod_config()).SerializeToString()
    # byte 0: read size (0 = all), byte 1 bit 0: the target sends the preface
    write("rpc_frames", "echo", b"\x00\x01" + settings + request(1, b"/f.F/Echo", ver))
    write("rpc_frames", "fail-stream", b"\x00\x01" + settings + request(1, b"/f.F/Fail", ver) +
          request(3, b"/f.F/Stream", ver))
    write("rpc_frames", "later-rst", b"\x07\x01" + settings + request(1, b"/f.F/Later", ver, b"10m") +
          frame(3, 0, 1, struct.pack(">I", 8)))
    write("rpc_frames", "unknown-big", b"\x00\x01" + settings + request(1, b"/f.F/Nope", ver) +
          request(3, b"/f.F/Pod", pod + b"\x00" * 5000))
    write("rpc_frames", "partial-goaway", b"\x03\x01" + settings + request(1, b"/f.F/Later", ver, end=False) +
          frame(6, 0, 0, b"12345678") + frame(7, 0, 0, struct.pack(">II", 1, 0)))


if __name__ == "__main__":
    methods()
    frames()
