"""TLS from the estate CA through cert-manager, so Kubernetes departments and on-prem or
demo departments trust each other over federation.

Without a ClusterIssuer in the estate, each department gets a namespaced CA `Issuer` over
the secret `estate-ca` (the estate CA's certificate and key, from `govmatrix pki`).
"""

from __future__ import annotations

from typing import Any

from govmatrix.estate.schema import Department
from govmatrix.kube.meta import TLS_SECRET, metadata, obj
from govmatrix.kube.secrets import ESTATE_CA_SECRET

Obj = dict[str, Any]

ISSUER = "estate-ca"
CA_VOLUME = "estate-ca"


def ca_volume() -> Obj:
    """The estate CA, as cert-manager copies it next to the department's certificate."""
    items = [{"key": "ca.crt", "path": "ca.crt"}]
    return {"name": CA_VOLUME, "secret": {"secretName": TLS_SECRET, "items": items}}


def ca_mount(ca_dir: str) -> Obj:
    return {"name": CA_VOLUME, "mountPath": ca_dir, "readOnly": True}


def issuer_ref(department: Department) -> Obj:
    if department.kubernetes.cluster_issuer:
        return {
            "name": department.kubernetes.cluster_issuer,
            "kind": "ClusterIssuer",
            "group": "cert-manager.io",
        }
    return {"name": ISSUER, "kind": "Issuer", "group": "cert-manager.io"}


def objects(department: Department, hosts: list[str]) -> list[Obj]:
    out = []
    if department.kubernetes.cluster_issuer is None:
        out.append(
            obj(
                "cert-manager.io/v1",
                "Issuer",
                metadata(department, ISSUER, "govmatrix", "tls"),
                spec={"ca": {"secretName": ESTATE_CA_SECRET}},
            )
        )
    out.append(
        obj(
            "cert-manager.io/v1",
            "Certificate",
            metadata(department, TLS_SECRET, "govmatrix", "tls"),
            spec={
                "secretName": TLS_SECRET,
                "commonName": hosts[0],
                "dnsNames": hosts,
                "duration": "2160h",
                "renewBefore": "720h",
                "privateKey": {
                    "algorithm": "ECDSA",
                    "size": 256,
                    "rotationPolicy": "Always",
                },
                "usages": ["digital signature", "key encipherment", "server auth"],
                "issuerRef": issuer_ref(department),
            },
        )
    )
    return out
