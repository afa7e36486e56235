"""An Ansible inventory built from the estate and an environment's hosts file.

Pure data, so the Ansible plugin (`plugins/inventory/govmatrix_estate.py`) stays a thin
adapter and this logic is tested without Ansible. Groups:

- `govmatrix`: every host;
- `department_<id>` (dashes become underscores): the hosts of one department, with the
  department's resolved estate settings as group variables;
- `govmatrix_<component>`: the hosts that run one component (common, postgresql, synapse,
  element_web, reverse_proxy, archive), which is what the playbooks target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govmatrix.estate import load_estate
from govmatrix.estate.federation import build as build_graph
from govmatrix.estate.schema import Estate
from govmatrix.onprem.placement import DepartmentPlacement, PlacementError, parse_hosts

CONFIG_KEYS = {"plugin", "estate", "pki_dir", "vars", "hosts"}


@dataclass
class Inventory:
    groups: dict[str, list[str]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, group: str, host: str) -> None:
        members = self.groups.setdefault(group, [])
        if host not in members:
            members.append(host)


def group_name(department_id: str) -> str:
    return "department_" + department_id.replace("-", "_")


def load(config: dict[str, Any], config_path: str) -> Inventory:
    """Read the estate the hosts file names and build the inventory. Raises EstateError
    (the CLI's messages) or PlacementError."""
    source = config_path
    extra = set(config) - CONFIG_KEYS
    if extra:
        raise PlacementError(
            source,
            [f"unknown keys {', '.join(sorted(extra))} (known: {', '.join(sorted(CONFIG_KEYS))})"],
        )
    if not isinstance(config.get("estate"), str):
        raise PlacementError(source, ["'estate' must name the estate file"])
    here = Path(config_path).resolve().parent
    estate_file = (here / config["estate"]).resolve()
    estate = load_estate(estate_file)
    pki_dir = (here / str(config.get("pki_dir", ".pki"))).resolve()
    common_vars = config.get("vars") or {}
    if not isinstance(common_vars, dict):
        raise PlacementError(source, ["'vars' must be a mapping"])
    placements = parse_hosts(config.get("hosts"), estate, source)
    return build(estate, placements, estate_file=estate_file, pki_dir=pki_dir, extra=common_vars)


def build(
    estate: Estate,
    placements: dict[str, DepartmentPlacement],
    *,
    estate_file: Path,
    pki_dir: Path,
    extra: dict[str, Any],
) -> Inventory:
    inventory = Inventory()
    graph = build_graph(estate)
    inventory.group_vars["govmatrix"] = {
        "govmatrix_estate_file": str(estate_file),
        "govmatrix_estate_name": estate.estate.name,
        "govmatrix_pki_dir": str(pki_dir),
        "govmatrix_element_version": estate.estate.artifacts.element_version,
        "govmatrix_artifact_mirror": _mirror(estate, estate_file),
        **extra,
    }
    for dept_id, placement in placements.items():
        dept = estate.department(dept_id)
        group = group_name(dept_id)
        app = placement.host_of("synapse")
        db = placement.host_of("postgresql")
        assert app is not None and db is not None  # parse_hosts guarantees both
        split = placement.database_split
        inventory.group_vars[group] = {
            "govmatrix_department": dept_id,
            "govmatrix_server_name": dept.server_name,
            "govmatrix_settings": dept.model_dump(mode="json"),
            "govmatrix_peers": list(graph.departments[dept_id].peers),
            # The host that holds the department's secrets (generated there, never here).
            "govmatrix_app_host": app.name,
            "govmatrix_database_host": db.name,
            "govmatrix_database_address": db.address if split else "127.0.0.1",
            "govmatrix_database_clients": [f"{app.address}/32"] if split else ["127.0.0.1/32"],
        }
        for host in placement.hosts:
            inventory.add("govmatrix", host.name)
            inventory.add(group, host.name)
            for component in host.components:
                inventory.add(f"govmatrix_{component}", host.name)
            inventory.host_vars[host.name] = {
                "govmatrix_components": list(host.components),
                **host.vars,
            }
    return inventory


def _mirror(estate: Estate, estate_file: Path) -> str:
    """The estate's artifact mirror as the controller sees it: a URL, or an absolute path."""
    mirror = estate.estate.artifacts.mirror
    if not mirror:
        return ""
    if mirror.startswith(("http://", "https://")):
        return mirror
    return str((estate_file.parent / mirror).resolve())
