"""A pod through pxcrid with a real CRI client (python3-grpcio): run a pod,
a container in it, read its log, exec in it, stop and remove everything.
Usage: cri-demo.py unix:/run/pxcri/pxcri.sock IMAGE"""

import importlib
import os
import subprocess
import sys
import tempfile
import time
import uuid

import grpc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bindings():
    out = tempfile.mkdtemp(prefix="pxcri-pb-")
    subprocess.run(["protoc", "--proto_path", os.path.join(REPO, "proto"), "--python_out", out, "cri-api.proto"],
                   check=True)
    sys.path.insert(0, out)
    return importlib.import_module("cri_api_pb2")


def main():
    target, image = sys.argv[1], sys.argv[2]
    pb = bindings()
    ch = grpc.insecure_channel(target)

    def call(svc, method, req):
        resp = getattr(pb, method + "Response")
        return ch.unary_unary("/runtime.v1.%s/%s" % (svc, method), request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=resp.FromString)(req, timeout=60)

    rt = lambda m, r: call("RuntimeService", m, r)
    v = rt("Version", pb.VersionRequest())
    print("== %s %s (CRI %s)" % (v.runtime_name, v.runtime_version, v.runtime_api_version))
    logdir = "/var/log/pxcri/pods/demo-" + uuid.uuid4().hex[:8]
    pod_cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="demo", namespace="default",
                                                                 uid=uuid.uuid4().hex),
                                  hostname="pxcri-demo", log_directory=logdir)
    t = time.time()
    pod = rt("RunPodSandbox", pb.RunPodSandboxRequest(config=pod_cfg)).pod_sandbox_id
    st = rt("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
    print("== pod %s ready in %.0f ms, IP %s" % (pod[:12], (time.time() - t) * 1000, st.network.ip))
    cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="hello"), image=pb.ImageSpec(image=image),
                             command=["sh", "-c", "echo hello from $(hostname); echo to stderr >&2; "
                                      "ip -4 -o addr show eth0; sleep 1000"],
                             log_path="hello.log")
    cid = rt("CreateContainer", pb.CreateContainerRequest(pod_sandbox_id=pod, config=cfg,
                                                          sandbox_config=pod_cfg)).container_id
    rt("StartContainer", pb.StartContainerRequest(container_id=cid))
    st = rt("ContainerStatus", pb.ContainerStatusRequest(container_id=cid, verbose=True))
    print("== container %s: %s, routed: %s" % (cid[:12], pb.ContainerState.Name(st.status.state),
                                               st.info["info"]))
    time.sleep(0.5)
    print("== its log (%s), in the CRI format:" % st.status.log_path)
    with open(st.status.log_path) as f:
        sys.stdout.write("   " + "   ".join(f.readlines()))
    r = rt("ExecSync", pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo exec in $(hostname); exit 3"],
                                          timeout=10))
    print("== ExecSync: %r, exit code %d" % (r.stdout.decode(), r.exit_code))
    # kubectl exec's way: a URL from the Exec call, then SPDY/3.1 on pxcrid's streaming server.
    sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
    import kube_stream
    url = rt("Exec", pb.ExecRequest(container_id=cid, cmd=["sh", "-c", "read l; echo got $l; exit 4"],
                                    stdin=True, stdout=True, stderr=True)).url
    res = kube_stream.spdy_exec(url, stdin=b"hello\n")
    print("== Exec through %s (%s): %r, exit code %s" % (url.rsplit("/", 1)[0] + "/...", res.protocol,
                                                          res.stdout.decode(), res.exit_code))
    rt("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=2))
    st = rt("ContainerStatus", pb.ContainerStatusRequest(container_id=cid)).status
    print("== stopped: exit code %d, reason %s" % (st.exit_code, st.reason))
    rt("RemoveContainer", pb.RemoveContainerRequest(container_id=cid))
    rt("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod))
    rt("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
    left = len(rt("ListPodSandbox", pb.ListPodSandboxRequest()).items)
    print("== removed the container and the pod (%d pods left)" % left)


if __name__ == "__main__":
    main()
