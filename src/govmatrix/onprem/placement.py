"""Which real host runs which part of which department: the hosts file of an environment.

The estate says what each department is; the hosts file (`inventories/<env>/
hosts.govmatrix.yml`) says where it runs. A department runs on one host, or with its
database on a host of its own. The other components talk to each other over loopback,
so they share a host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from govmatrix.estate.schema import Estate

COMPONENTS = ("common", "postgresql", "synapse", "element_web", "reverse_proxy", "archive")
# Synapse, nginx and the archive reach each other on 127.0.0.1: they must share a host.
COLOCATED = ("synapse", "element_web", "reverse_proxy", "archive")


class PlacementError(ValueError):
    """The hosts file does not fit the estate. Carries every problem, not only the first."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


@dataclass(frozen=True)
class HostPlacement:
    name: str
    department: str
    components: tuple[str, ...]
    vars: dict[str, Any] = field(default_factory=dict)
    network_address: str | None = None  # `address:` in the hosts file

    @property
    def address(self) -> str:
        """Where the department's other hosts reach this one: `address`, else ansible_host,
        else the inventory name."""
        return self.network_address or str(self.vars.get("ansible_host", self.name))


@dataclass(frozen=True)
class DepartmentPlacement:
    department: str
    hosts: tuple[HostPlacement, ...]

    def host_of(self, component: str) -> HostPlacement | None:
        return next((h for h in self.hosts if component in h.components), None)

    @property
    def database_split(self) -> bool:
        db, app = self.host_of("postgresql"), self.host_of("synapse")
        return db is not None and app is not None and db.name != app.name


def _components(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None or value == "all":
        return COMPONENTS
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        problems.append(f"{where}.components: expected 'all' or a list of component names")
        return ()
    unknown = [c for c in value if c not in COMPONENTS]
    if unknown:
        problems.append(
            f"{where}.components: unknown {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(COMPONENTS)})"
        )
    # common hardens every host, whatever else it runs.
    return tuple(c for c in COMPONENTS if c in value or c == "common")


def parse_hosts(hosts: Any, estate: Estate, source: str) -> dict[str, DepartmentPlacement]:
    """Check the `hosts:` mapping against the estate; return each department's placement."""
    problems: list[str] = []
    if not isinstance(hosts, dict) or not hosts:
        raise PlacementError(source, ["'hosts' must map host names to {department: ID}"])
    by_department: dict[str, list[HostPlacement]] = {}
    known = {d.id: d for d in estate.departments}
    for name, spec in hosts.items():
        where = f"hosts.{name}"
        if not isinstance(spec, dict):
            problems.append(f"{where}: expected a mapping with 'department'")
            continue
        extra = set(spec) - {"department", "components", "vars", "address"}
        if extra:
            problems.append(f"{where}: unknown keys {', '.join(sorted(extra))}")
        dept_id = spec.get("department")
        if dept_id not in known:
            problems.append(
                f"{where}.department: {dept_id!r} is not a department of the estate "
                f"(known: {', '.join(known)})"
            )
            continue
        if known[dept_id].target != "onprem":
            problems.append(
                f"{where}.department: '{dept_id}' has target '{known[dept_id].target}' "
                "in the estate; Ansible deploys only target 'onprem'"
            )
            continue
        host_vars = spec.get("vars") or {}
        if not isinstance(host_vars, dict):
            problems.append(f"{where}.vars: expected a mapping")
            host_vars = {}
        components = _components(spec.get("components"), where, problems)
        if not known[dept_id].archive.enabled:
            components = tuple(c for c in components if c != "archive")
        address = spec.get("address")
        if address is not None and not _is_ip(address):
            problems.append(f"{where}.address: {address!r} is not an IP address")
            address = None
        by_department.setdefault(dept_id, []).append(
            HostPlacement(str(name), dept_id, components, dict(host_vars), address)
        )
    for dept_id, placed in by_department.items():
        problems += _check_department(dept_id, placed, archive=known[dept_id].archive.enabled)
    if problems:
        raise PlacementError(source, problems)
    return {d: DepartmentPlacement(d, tuple(h)) for d, h in by_department.items()}


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _check_department(dept_id: str, placed: list[HostPlacement], *, archive: bool) -> list[str]:
    problems = []
    needed = [c for c in COMPONENTS if c != "archive" or archive]
    for component in needed:
        holders = [h.name for h in placed if component in h.components]
        if component == "common":
            continue
        if not holders:
            problems.append(f"department '{dept_id}': no host runs '{component}'")
        elif len(holders) > 1:
            problems.append(
                f"department '{dept_id}': '{component}' is placed on {', '.join(holders)}; "
                "each component runs on one host"
            )
    app_hosts = {h.name for h in placed for c in COLOCATED if c in h.components}
    db = next((h for h in placed if "postgresql" in h.components), None)
    if db is not None and db.name not in app_hosts and not _is_ip(db.address):
        problems.append(
            f"department '{dept_id}': the database host {db.name} runs apart, so it needs an "
            "IP address (set 'address', or ansible_host) for PostgreSQL and the firewall"
        )
    split = db is not None and db.name not in app_hosts
    for host in placed:
        if split and host.name in app_hosts and not _is_ip(host.address):
            problems.append(
                f"department '{dept_id}': {host.name} reaches a separate database host, "
                "so it needs an IP address (set 'address', or ansible_host)"
            )
    if len(app_hosts) > 1:
        problems.append(
            f"department '{dept_id}': {', '.join(COLOCATED)} must share one host "
            f"(they talk over loopback), but are spread over {', '.join(sorted(app_hosts))}; "
            "only postgresql may run on a host of its own"
        )
    return problems
