"""A minimal CRI client for the package tests (python3-grpcio): the calls a pod
with one container needs, bindings made by protoc from proto/cri-api.proto."""

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

import grpc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_pb = None


def pb():
    global _pb
    if _pb is None:
        out = tempfile.mkdtemp(prefix="pxcri-pkgtest-pb-")
        subprocess.run(["protoc", "--proto_path", os.path.join(REPO, "proto"), "--python_out", out,
                        "cri-api.proto"], check=True)
        sys.path.insert(0, out)
        try:
            _pb = importlib.import_module("cri_api_pb2")
        finally:
            sys.path.remove(out)
            shutil.rmtree(out, ignore_errors=True)
    return _pb


class Client:
    def __init__(self, sock):
        self.channel = grpc.insecure_channel("unix:" + sock)

    def close(self):
        self.channel.close()

    def rt(self, method, timeout=60, **fields):
        p = pb()
        call = self.channel.unary_unary("/runtime.v1.RuntimeService/" + method,
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=getattr(p, method + "Response").FromString)
        return call(getattr(p, method + "Request")(**fields), timeout=timeout)

    def run_pod(self, name, image, command):
        """A pod and a started container in it: (pod id, container id)."""
        p = pb()
        cfg = p.PodSandboxConfig(metadata=p.PodSandboxMetadata(name=name, namespace="pkgtest", uid=uuid.uuid4().hex),
                                 hostname=name, log_directory="/var/log/pxcri/pods/" + name)
        pod = self.rt("RunPodSandbox", config=cfg).pod_sandbox_id
        ccfg = p.ContainerConfig(metadata=p.ContainerMetadata(name="c"), image=p.ImageSpec(image=image),
                                 command=command, log_path="c.log")
        cid = self.rt("CreateContainer", pod_sandbox_id=pod, config=ccfg, sandbox_config=cfg).container_id
        self.rt("StartContainer", container_id=cid)
        return pod, cid

    def pod_state(self, pod):
        return pb().PodSandboxState.Name(self.rt("PodSandboxStatus", pod_sandbox_id=pod).status.state)

    def container_state(self, cid):
        st = self.rt("ContainerStatus", container_id=cid, verbose=True)
        return pb().ContainerState.Name(st.status.state), st.info

    def exec_sync(self, cid, cmd):
        r = self.rt("ExecSync", container_id=cid, cmd=cmd, timeout=10)
        return r.exit_code, r.stdout.decode()

    def remove_all(self):
        for pod in self.rt("ListPodSandbox").items:
            self.rt("StopPodSandbox", pod_sandbox_id=pod.id)
            self.rt("RemovePodSandbox", pod_sandbox_id=pod.id)
