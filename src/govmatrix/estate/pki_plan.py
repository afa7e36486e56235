"""What the estate's PKI must contain: one CA, and one federation/client certificate per
department. Pure: `govmatrix.pki` turns this plan into files."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from govmatrix.estate.schema import Department, Estate


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


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def portal_host(department: Department) -> str | None:
    """The host name of a bundled identity provider's sign-in portal: the estate's, or
    auth.<server name>. None for an external issuer, or a server named by address."""
    identity = department.identity
    if identity.provider != "bundled":
        return None
    return portal_host_of(department.server_name, identity.portal_host)


def portal_host_of(server_name: str, override: str | None) -> str | None:
    """portal_host from the estate's raw values (the checks run before the schema has)."""
    if override:
        return override
    host = _host(server_name)
    return None if _is_ip(host) else f"auth.{host}"


def provider_department(estate: Estate, department: Department) -> Department | None:
    """The estate department whose bundled provider `department` signs in at: its identity
    is external, with that provider's portal as the issuer (the estate checks that the
    provider lists it as a client)."""
    identity = department.identity
    if identity.provider != "external":
        return None
    return next(
        (
            other
            for other in estate.departments
            if (host := portal_host(other)) is not None and identity.issuer == f"https://{host}"
        ),
        None,
    )


def plan(estate: Estate) -> PkiPlan:
    certs = []
    for dept in estate.departments:
        host = _host(dept.server_name)
        dns: tuple[str, ...] = ()
        ips: tuple[str, ...] = ()
        if _is_ip(host):
            ips = (host,)
        else:
            dns = (host,)
        # One certificate serves the department's portal too (the same nginx, same address).
        portal = portal_host(dept)
        if portal is not None:
            dns += (portal,)
        certs.append(CertificatePlan(dept.id, host, dns, ips))
    return PkiPlan(f"{estate.estate.name} estate CA", tuple(certs))
