"""Pod and container hardening every workload gets: non-root, no capabilities, no
privilege escalation, RuntimeDefault seccomp, read-only root file systems."""

from __future__ import annotations

from typing import Any

from govmatrix.kube.meta import SERVICE_ACCOUNT
from govmatrix.kube.sizing import Resources

Obj = dict[str, Any]

SECCOMP = {"type": "RuntimeDefault"}


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
        "imagePullPolicy": "IfNotPresent",
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
