"""A department's backup settings as one JSON file, for hosts that run govmatrix without
the estate (on-prem: the Ansible `backup` role writes it; systemd timers read it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from govmatrix.backup.layout import BackupLayout
from govmatrix.estate.schema import Department
from govmatrix.hsm.plan import HsmPlan

_PATHS = ("pgdata", "pg_socket", "config_file", "memory_dir", "log_dir", "repo_root", "sealed_dir")


def dump(
    layout: BackupLayout, hsm: HsmPlan | None, live: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`live`: how a restore drill on the host reaches the live department
    (govmatrix.backup.host_live.settings)."""
    return {
        "department": layout.department.model_dump(mode="json"),
        "stanza": layout.stanza,
        "pg_port": layout.pg_port,
        **{name: str(getattr(layout, name)) for name in _PATHS},
        "files": [str(p) for p in layout.files],
        "media_store": str(layout.media_store),
        "pgbackrest_conf": layout.pgbackrest_conf(),
        "hsm": hsm.to_dict() if hsm else None,
        "live": live,
    }


def load(path: Path) -> tuple[BackupLayout, HsmPlan | None]:
    data = json.loads(path.read_text())
    layout = BackupLayout(
        department=Department.model_validate(data["department"]),
        stanza=data["stanza"],
        pg_port=int(data["pg_port"]),
        **{name: Path(data[name]) for name in _PATHS},
        files=tuple(Path(p) for p in data["files"]),
        media_store=Path(data["media_store"]),
        rendered_conf=data["pgbackrest_conf"],
    )
    return layout, HsmPlan.from_dict(data["hsm"]) if data["hsm"] else None


def load_live(path: Path) -> dict[str, Any] | None:
    """The `live` part of a host's backup.json, or None (written without it)."""
    live = json.loads(path.read_text()).get("live")
    return live if isinstance(live, dict) else None
