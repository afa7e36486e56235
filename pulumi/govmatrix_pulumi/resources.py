"""govmatrix.kube's plain objects as Pulumi Kubernetes resources.

Built-in kinds use the SDK's typed classes, so Pulumi awaits them properly (rollouts, Job
completion); custom resources (CloudNativePG, cert-manager, ServiceMonitor) go through
`CustomResource`. Nested fields stay in the Kubernetes camelCase they are written in, which
the SDK passes through unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

Obj = dict[str, Any]

_TYPED: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("batch/v1", "CronJob"): k8s.batch.v1.CronJob,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def logical_name(department: str, item: Obj) -> str:
    """Unique in the stack: the department, the kind and the object's name."""
    return f"{department}-{item['kind'].lower()}-{item['metadata']['name']}"


def create(department: str, item: Obj, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    api_version, kind = item["apiVersion"], item["kind"]
    fields = {k: v for k, v in item.items() if k not in ("apiVersion", "kind")}
    name = logical_name(department, item)
    typed = _TYPED.get((api_version, kind))
    if typed is not None:
        return typed(name, opts=opts, **{_snake(k): v for k, v in fields.items()})
    unknown = set(fields) - {"metadata", "spec"}
    if unknown:
        raise ValueError(f"{kind} {item['metadata']['name']}: unexpected fields {sorted(unknown)}")
    return k8s.apiextensions.CustomResource(
        name,
        api_version=api_version,
        kind=kind,
        metadata=fields["metadata"],
        spec=fields.get("spec"),
        opts=opts,
    )
