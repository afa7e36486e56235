"""Names, labels and metadata shared by every object of a department's namespace."""

from __future__ import annotations

from typing import Any

from govmatrix.estate.schema import Department

Obj = dict[str, Any]

PART_OF = "govmatrix"
DEPARTMENT_LABEL = "govmatrix.io/department"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
CONFIG_HASH = "govmatrix.io/config-hash"

# One ConfigMap holds every rendered file; one Secret every generated value.
CONFIG_MAP = "govmatrix-config"
SECRETS = "govmatrix-secrets"
TLS_SECRET = "tls"
SERVICE_ACCOUNT = "govmatrix"


def namespace_of(department: Department) -> str:
    """The department id names its namespace (the estate refuses reserved names)."""
    return department.id


def labels(department: Department, name: str, component: str | None = None) -> dict[str, str]:
    out = {
        NAME_LABEL: name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/instance": department.id,
        "app.kubernetes.io/managed-by": PART_OF,
        DEPARTMENT_LABEL: department.id,
    }
    if component:
        out[COMPONENT_LABEL] = component
    return out


def selector(name: str, component: str | None = None) -> dict[str, str]:
    """Pod selector inside the namespace: the name, and the component when given."""
    out = {NAME_LABEL: name}
    if component:
        out[COMPONENT_LABEL] = component
    return out


def metadata(
    department: Department,
    name: str,
    app: str,
    component: str | None = None,
    *,
    annotations: dict[str, str] | None = None,
) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": namespace_of(department),
        "labels": labels(department, app, component),
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


def obj(api_version: str, kind: str, meta: Obj, **fields: Any) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **fields}


def volume_claim(department: Department, name: str, app: str, size: str) -> Obj:
    """A ReadWriteOnce claim on the department's storage class (the cluster's default if
    none)."""
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if department.kubernetes.storage_class:
        spec["storageClassName"] = department.kubernetes.storage_class
    return obj("v1", "PersistentVolumeClaim", metadata(department, name, app), spec=spec)
