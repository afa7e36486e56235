"""Pod and container hardening every workload gets: non-root, no capabilities, no
privilege escalation, RuntimeDefault seccomp, read-only root file systems."""

from __future__ import annotations

from typing import Any

from govmatrix.kube.meta import SERVICE_ACCOUNT
from govmatrix.kube.sizing import Resources

Obj = dict[str, Any]

SECCOMP = {"type": "RuntimeDefault"}

# Users the containers run as: above 10000, so they never match a user of the node. The
# images' files are world-readable and everything they write is a mounted volume, so the
# images' own users (991, 101, 999) are not needed.
UIDS = {
    "synapse": 10991,
    "element": 10101,
    "redis": 10999,
    "govmatrix": 10001,
    "identity": 10002,
}


def pod_security(uid: int) -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": SECCOMP,
    }


def container_security(uid: int) -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": SECCOMP,
    }


def container(
    name: str,
    image: str,
    uid: int,
    resources: Resources,
    **fields: Any,
) -> Obj:
    return {
        "name": name,
        "image": image,
        # Tags can move; Always makes the node check the (mirror) registry every start.
        "imagePullPolicy": "Always",
        "securityContext": container_security(uid),
        "resources": resources.spec(),
        **fields,
    }


def pod_spec(uid: int, containers: list[Obj], volumes: list[Obj], **fields: Any) -> Obj:
    """A pod that never sees the API server's token: none of our processes call the API."""
    return {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(uid),
        "containers": containers,
        "volumes": volumes,
        **fields,
    }


def memory_dir(name: str, size: str = "16Mi") -> Obj:
    """A tmpfs volume: filled secrets and scratch space never touch the node's disk."""
    return {"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": size}}
