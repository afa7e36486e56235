"""Where an on-prem department's backups live on its host (Debian's PostgreSQL 15 cluster,
repositories under /var/backups, unsealed passphrases on /run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from govmatrix.backup import host_config, host_live
from govmatrix.backup.layout import BackupLayout
from govmatrix.backup.schedule import on_calendar
from govmatrix.estate.schema import Department
from govmatrix.estate.types import duration_seconds
from govmatrix.hsm.plan import plan as hsm_plan
from govmatrix.onprem import SYNAPSE_PYTHON, SYNAPSE_USER
from govmatrix.render import Target

PGDATA = Path("/var/lib/postgresql/15/main")
PG_SOCKET = Path("/var/run/postgresql")
REPOSITORIES = Path("/var/backups/govmatrix")


def layout(department: Department, target: Target) -> BackupLayout:
    data, config = Path(target.data_dir), Path(target.config_dir)
    assert target.memory_dir is not None
    return BackupLayout(
        department=department,
        stanza=department.id,
        pgdata=PGDATA,
        pg_socket=PG_SOCKET,
        pg_port=5432,
        config_file=config / "backup" / "pgbackrest.conf",
        memory_dir=Path(f"{target.memory_dir}.backup"),
        log_dir=Path("/var/log/govmatrix-backup") / department.id,
        repo_root=REPOSITORIES / department.id,
        sealed_dir=Path(target.secrets_dir),
        files=(
            data / "media_store",
            data / "archive-media",
            Path(target.secrets_dir),
            config,
            Path(target.checkpoint_log_dir),
        ),
        media_store=data / "media_store",
    )


def bundle_part(department: Department, target: Target) -> dict[str, Any] | None:
    """What the `backup` and `postgresql` roles need; None when backups are off."""
    backup = department.backup
    if not backup.enabled:
        return None
    where = layout(department, target)
    assert target.memory_dir is not None
    live = host_live.settings(
        config_dir=target.config_dir,
        secrets_dir=target.secrets_dir,
        media_store=str(where.media_store),
        database_host=target.database_host,
        database_port=target.database_port,
        synapse_url=f"http://{target.synapse_address}:{target.synapse_port}",
        memory_dir=f"{target.memory_dir}.drill",
        synapse_python=SYNAPSE_PYTHON,
        synapse_user=SYNAPSE_USER,
        archive=department.archive.enabled,
    )
    return {
        "config": host_config.dump(where, hsm_plan(department, target), live),
        "config_file": f"{target.config_dir}/backup/backup.json",
        "pgbackrest_conf": where.pgbackrest_conf(),
        "archive_command": where.archive_command() if backup.pitr else "",
        "archive_timeout": duration_seconds(backup.archive_timeout),
        "memory_dir": str(where.memory_dir),
        "log_dir": str(where.log_dir),
        "repo_root": str(where.repo_root),
        "timers": [
            {"kind": "full", "on_calendar": on_calendar(backup.full)},
            {"kind": "diff", "on_calendar": on_calendar(backup.diff)},
        ],
    }
