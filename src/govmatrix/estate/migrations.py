"""Estate schema migrations: old estates are rewritten in code, never by hand.

When a field is renamed or moved, bump `SCHEMA_VERSION` in `schema.py` and register a function
here that turns a version-N document into version N+1. `govmatrix migrate` applies them in
order. Each function receives and returns plain data (the parsed YAML), and must be pure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from govmatrix.estate.schema import SCHEMA_VERSION

OLDEST_VERSION = 1

Migration = Callable[[dict[str, Any]], dict[str, Any]]

# MIGRATIONS[n] upgrades a version-n estate to version n+1.
MIGRATIONS: dict[int, Migration] = {}


def migrate(data: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """Upgrade `data` to the current schema version. Returns the data and the steps applied."""
    version = data.get("version")
    if not isinstance(version, int) or not OLDEST_VERSION <= version <= SCHEMA_VERSION:
        raise ValueError(
            f"cannot migrate from version {version!r}: this govmatrix knows versions "
            f"{OLDEST_VERSION} to {SCHEMA_VERSION}"
        )
    applied = []
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ValueError(f"no migration registered from version {version}")
        data = step(data)
        version += 1
        data["version"] = version
        applied.append(version)
    return data, applied


def check_registry() -> None:
    """Every version below the current one must have a migration (tested)."""
    missing = [v for v in range(OLDEST_VERSION, SCHEMA_VERSION) if v not in MIGRATIONS]
    if missing:
        raise AssertionError(f"versions without a migration: {missing}")
