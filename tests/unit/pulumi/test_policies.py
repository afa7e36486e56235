"""The policy pack's rules, called directly (constructing a PolicyPack starts a server):
clean on every resource the program makes for both example estates, and each rule catches
what it names."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs, StackValidationPolicy

from tests.unit.pulumi.mocks import ROOT, Recorded, Run

sys.path.insert(0, str(ROOT / "pulumi" / "policy"))
import govmatrix_policies

pytestmark = pytest.mark.unit

POLICY = {p.name: p for p in govmatrix_policies.POLICIES}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def _args(resource_type: str, props: dict[str, Any], name: str = "x") -> ResourceValidationArgs:
    """The fields the rules read; the engine's options are not needed here."""
    return SimpleNamespace(resource_type=resource_type, props=props, name=name, urn=f"urn:{name}")  # type: ignore[return-value]


def _violations(policy_name: str, resource_type: str, props: dict[str, Any]) -> list[str]:
    found: list[str] = []
    POLICY[policy_name].validate(_args(resource_type, props), lambda m, urn=None: found.append(m))  # type: ignore[misc, union-attr]
    return found


def _stack_violations(resources: list[Recorded]) -> list[str]:
    policy = POLICY["namespace-default-deny"]
    assert isinstance(policy, StackValidationPolicy)
    found: list[str] = []
    items = [SimpleNamespace(resource_type=r.typ, props=r.inputs) for r in resources]
    policy.validate(SimpleNamespace(resources=items), lambda m, urn=None: found.append(m))  # type: ignore[arg-type, misc]
    return found


def _deployment(container: dict[str, Any], **pod: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [container], **pod}}}}


GOOD = {
    "name": "c",
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    "securityContext": {"allowPrivilegeEscalation": False},
}


def test_the_program_passes_every_rule(demo_run: Run, uk_run: Run) -> None:
    checked = 0
    for run in (demo_run, uk_run):
        for resource in run.mocks.resources:
            for name in (
                "no-privileged-pods",
                "no-secret-values-in-configmaps",
                "containers-have-limits",
            ):
                assert not _violations(name, resource.typ, resource.inputs), (resource.name, name)
                checked += 1
        assert not _stack_violations(run.mocks.resources)
    assert checked > 1000


@pytest.mark.parametrize(
    ("container", "pod", "expected"),
    [
        (
            {**GOOD, "securityContext": {"privileged": True, "allowPrivilegeEscalation": False}},
            {},
            "is privileged",
        ),
        ({**GOOD, "securityContext": {}}, {}, "may escalate"),
        (
            {
                **GOOD,
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"add": ["NET_ADMIN"]},
                },
            },
            {},
            "adds capabilities",
        ),
        (GOOD, {"hostNetwork": True}, "hostNetwork"),
    ],
)
def test_privileged_pods_are_refused(container: dict, pod: dict, expected: str) -> None:
    found = _violations("no-privileged-pods", DEPLOYMENT, _deployment(container, **pod))
    assert any(expected in m for m in found), found
    assert not _violations("no-privileged-pods", DEPLOYMENT, _deployment(GOOD))


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        (
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
            True,
        ),
        ("-----BEGIN EC PRIVATE KEY-----\n", True),
        ("database:\n  password: hunter2hunter2\n", True),
        ('as_token: "6f1c2b0d9e8a7f6e"\n', True),
        ("db-rw:5432:synapse:synapse:s3cr3tpassword\n", True),
        ("db-rw:5432:synapse:synapse:@@secret:database_password@@\n", False),
        ('as_token: "@@secret:archive_as_token@@"\n', False),
        ('macaroon_secret_key_path: "/secrets/macaroon_secret_key"\n', False),
        ("redaction_retention_period: null\nenable_registration: false\n", False),
        ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", False),
        ('macaroon_secret_key: "0123456789abcdef"\n', True),
        ('  "managerPassword": "hunter2hunter2",\n', True),
        ('  "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",\n', False),
        ("password_config:\n  enabled: false\n", False),
        ('  bind_password: "file:/secrets/ldap_bind_password"\n', False),
    ],
)
def test_secret_values_in_config_maps_are_refused(text: str, bad: bool) -> None:
    found = _violations(
        "no-secret-values-in-configmaps", "kubernetes:core/v1:ConfigMap", {"data": {"f": text}}
    )
    assert bool(found) is bad, found


def test_containers_without_limits_are_refused() -> None:
    no_limits = {**GOOD, "resources": {"requests": {"cpu": "1"}}}
    assert _violations("containers-have-limits", DEPLOYMENT, _deployment(no_limits))
    init_only = _deployment(
        GOOD, initContainers=[{"name": "init", "resources": {"limits": {"cpu": "1"}}}]
    )
    assert any(
        "no memory limit" in m for m in _violations("containers-have-limits", DEPLOYMENT, init_only)
    )
    assert not _violations("containers-have-limits", DEPLOYMENT, _deployment(GOOD))


def _ns(name: str) -> Recorded:
    return Recorded("kubernetes:core/v1:Namespace", name, {"metadata": {"name": name}}, None)


def _netpol(namespace: str, spec: dict) -> Recorded:
    return Recorded(
        govmatrix_policies.NETWORK_POLICY,
        "p",
        {"metadata": {"namespace": namespace}, "spec": spec},
        None,
    )


def test_namespaces_without_default_deny_are_refused() -> None:
    deny = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert not _stack_violations([_ns("a"), _netpol("a", deny)])
    assert _stack_violations([_ns("a"), _netpol("b", deny)])
    assert _stack_violations([_ns("a"), _netpol("a", {**deny, "policyTypes": ["Ingress"]})])
    assert _stack_violations(
        [_ns("a"), _netpol("a", {**deny, "podSelector": {"matchLabels": {"x": "y"}}})]
    )
    assert _stack_violations([_ns("a"), _netpol("a", {**deny, "ingress": [{}]})])
