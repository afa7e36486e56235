"""govmatrix's policy rules for Kubernetes stacks.

Each rule checks the resource properties the engine sees (Kubernetes' own camelCase shape).
They guard what the objects promise even when someone edits a stack by hand: no privileged
pods, no secret values in ConfigMaps, a default-deny NetworkPolicy in every namespace, and
limits on every container.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

WORKLOADS = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"

_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# `name: value` or `name=value` where the name says secret and the value is neither a path
# (Synapse's *_path settings) nor a govmatrix placeholder filled in at pod start.
_SECRET_SETTING = re.compile(
    # A key that ends in a secret's name (not "IDTokenSignAlg"), and its value on the same
    # line; a path, placeholder or estate reference is no value.
    r"""(?im)^\s*"?[\w.-]*(password|passwd|secret|secret_key|token|private_key)"?\s*[:=][ \t]*"""
    r"""(?!["']?(?:/|@@secret:|(?:file|env|vault):|null\b|true\b|false\b))["']?(\S{6,})"""
)
# A libpq passfile line (host:port:db:user:password) with a literal password.
_PGPASS = re.compile(r"(?m)^[^#\s:]+:\d+:[^:\s]+:[^:\s]+:(?!@@secret:)\S+$")


def _dig(props: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any] | None:
    node: Any = props
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, Mapping) else None


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    path = WORKLOADS.get(resource_type)
    return _dig(props, path) if path else None


def _containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _no_privileged_pods(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            report(f"{args.name}: the pod sets {host}", None)
    for container in _containers(spec):
        context = container.get("securityContext") or {}
        name = container.get("name", "?")
        if context.get("privileged"):
            report(f"{args.name}: container {name} is privileged", None)
        if context.get("allowPrivilegeEscalation", True):
            report(f"{args.name}: container {name} may escalate privileges", None)
        if (context.get("capabilities") or {}).get("add"):
            report(f"{args.name}: container {name} adds capabilities", None)


def _no_secret_values_in_config_maps(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != CONFIG_MAP:
        return
    for key, value in (args.props.get("data") or {}).items():
        text = str(value)
        if _PEM_KEY.search(text):
            report(f"{args.name}: '{key}' holds a private key; put it in a Secret", None)
        if match := _SECRET_SETTING.search(text):
            report(
                f"{args.name}: '{key}' sets {match.group(0).split()[0]} to a value; "
                "use a placeholder or a file in a Secret",
                None,
            )
        if _PGPASS.search(text):
            report(f"{args.name}: '{key}' holds a database password; use a placeholder", None)


def _containers_have_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for container in _containers(spec):
        limits = (container.get("resources") or {}).get("limits") or {}
        missing = [r for r in ("cpu", "memory") if r not in limits]
        if missing:
            report(
                f"{args.name}: container {container.get('name', '?')} has no "
                f"{' or '.join(missing)} limit",
                None,
            )


def is_default_deny(props: Mapping[str, Any]) -> bool:
    spec = props.get("spec") or {}
    selector = spec.get("podSelector") or {}
    return (
        not selector.get("matchLabels")
        and not selector.get("matchExpressions")
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def _namespaces_deny_by_default(args: StackValidationArgs, report: ReportViolation) -> None:
    guarded = {
        (r.props.get("metadata") or {}).get("namespace")
        for r in args.resources
        if r.resource_type == NETWORK_POLICY and is_default_deny(r.props)
    }
    for resource in args.resources:
        if resource.resource_type != NAMESPACE:
            continue
        name = (resource.props.get("metadata") or {}).get("name")
        if name not in guarded:
            report(f"namespace {name} has no default-deny NetworkPolicy (ingress and egress)", None)


POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="no-privileged-pods",
        description="No privileged containers, privilege escalation, added capabilities "
        "or host namespaces.",
        validate=_no_privileged_pods,
    ),
    ResourceValidationPolicy(
        name="no-secret-values-in-configmaps",
        description="ConfigMaps hold placeholders and paths, never secret values.",
        validate=_no_secret_values_in_config_maps,
    ),
    ResourceValidationPolicy(
        name="containers-have-limits",
        description="Every container, init containers included, has CPU and memory limits.",
        validate=_containers_have_limits,
    ),
    StackValidationPolicy(
        name="namespace-default-deny",
        description="Every namespace has a NetworkPolicy that denies all ingress and "
        "egress by default.",
        validate=_namespaces_deny_by_default,
    ),
]
