"""What the estate's PKI must contain: one CA, and one federation/client certificate per
department. Pure: `govmatrix.pki` turns this plan into files."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from govmatrix.estate.schema import Estate


@dataclass(frozen=True)
class CertificatePlan:
    department: str
    common_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


@dataclass(frozen=True)
class PkiPlan:
    ca_common_name: str
    certificates: tuple[CertificatePlan, ...]


def _host(server_name: str) -> str:
    if server_name.startswith("["):
        return server_name[1 : server_name.index("]")]
    return server_name.split(":")[0]


def plan(estate: Estate) -> PkiPlan:
    certs = []
    for dept in estate.departments:
        host = _host(dept.server_name)
        try:
            ipaddress.ip_address(host)
            dns: tuple[str, ...] = ()
            ips: tuple[str, ...] = (host,)
        except ValueError:
            dns, ips = (host,), ()
        certs.append(CertificatePlan(dept.id, host, dns, ips))
    return PkiPlan(f"{estate.estate.name} estate CA", tuple(certs))
