"""Every object of both example estates validates against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict: unknown fields are errors) for Kubernetes 1.31 and 1.35.

kubernetes-validate has no schemas for custom resources, so CloudNativePG, cert-manager,
prometheus-operator and external-secrets objects are checked against the CRD schemas
copied from upstream into tests/kube_schemas/ (SOURCES.md names each commit), with
unknown fields refused as the API server's strict field validation would."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[1] / "kube_schemas"
KUBERNETES_VERSIONS = ("1.31", "1.35")
CRD_GROUPS = (
    "postgresql.cnpg.io/",
    "cert-manager.io/",
    "monitoring.coreos.com/",
    "external-secrets.io/",
)

Objects = dict[str, dict[str, list[dict]]]


def _strict(node: Any) -> Any:
    """Refuse unknown fields wherever the schema lists properties and does not say to keep
    unknown ones (what `kubectl apply --validate=strict` does)."""
    if isinstance(node, dict):
        node = {key: _strict(value) for key, value in node.items()}
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
        return node
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


@cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    group, version = api_version.split("/")
    path = SCHEMAS / f"{group}_{version}_{kind}.json"
    assert path.is_file(), f"no CRD schema for {api_version} {kind}: add it to {SCHEMAS}"
    schema = _strict(json.loads(path.read_text()))
    # metadata is the API server's, not the CRD's: check it as an object only.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def _is_crd(item: dict) -> bool:
    return item["apiVersion"].startswith(CRD_GROUPS)


def _objects(kube_objects: Objects) -> list[tuple[str, dict]]:
    return [
        (f"{estate}/{dept}/{item['kind']}/{item['metadata']['name']}", item)
        for estate, departments in kube_objects.items()
        for dept, items in departments.items()
        for item in items
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_built_in_kinds_validate_strictly(version: str, kube_objects: Objects) -> None:
    checked = 0
    for where, item in _objects(kube_objects):
        if _is_crd(item):
            continue
        try:
            kubernetes_validate.validate(copy.deepcopy(item), version, strict=True)
        except jsonschema.ValidationError as exc:  # kubernetes-validate raises a subclass or this
            pytest.fail(
                f"{where} is invalid for Kubernetes {version}: {exc.message} at {list(exc.path)}"
            )
        checked += 1
    assert checked > 600


def test_custom_resources_validate_against_their_crds(kube_objects: Objects) -> None:
    kinds = set()
    for where, item in _objects(kube_objects):
        if not _is_crd(item):
            continue
        errors = sorted(_crd_validator(item["apiVersion"], item["kind"]).iter_errors(item), key=str)
        assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}"
        kinds.add(item["kind"])
    assert kinds == {
        "Cluster",
        "Database",
        "ScheduledBackup",
        "Certificate",
        "Issuer",
        "ServiceMonitor",
        "ExternalSecret",
    }


def test_the_crd_check_can_fail() -> None:
    """A wrong field and an unknown field are both caught (the schemas are not empty)."""
    certificate = _crd_validator("cert-manager.io/v1", "Certificate")
    good = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "x"},
        "spec": {"secretName": "tls", "issuerRef": {"name": "ca"}, "dnsNames": ["a.test"]},
    }
    assert not list(certificate.iter_errors(good))
    assert list(certificate.iter_errors({**good, "spec": {**good["spec"], "dnsNames": "a.test"}}))
    assert list(certificate.iter_errors({**good, "spec": {**good["spec"], "dnsName": ["a.test"]}}))
    cluster = _crd_validator("postgresql.cnpg.io/v1", "Cluster")
    assert list(
        cluster.iter_errors(
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "Cluster",
                "metadata": {},
                "spec": {"instances": "three"},
            }
        )
    )


def test_kubernetes_validate_can_fail() -> None:
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"prots": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.35", strict=True)
