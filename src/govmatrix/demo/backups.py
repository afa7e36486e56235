"""The demo's backups: where each department's repositories and configs sit under the root.

The repositories go to `<root>/backups/<department>` unless the estate names a path; on a
real host they belong on other storage than the database, which the demo cannot offer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from govmatrix.backup import isolated_synapse
from govmatrix.backup.department import DepartmentBackup
from govmatrix.backup.drill import LiveDepartment
from govmatrix.backup.layout import BackupLayout
from govmatrix.demo.layout import Layout
from govmatrix.estate.schema import Department, Estate
from govmatrix.hsm.plan import plan as hsm_plan


def backup_layout(layout: Layout, estate: Estate, dept: Department) -> BackupLayout:
    t = layout.target(estate, dept)
    assert t.memory_dir is not None
    data, config = Path(t.data_dir), Path(t.config_dir)
    return BackupLayout(
        department=dept,
        stanza=dept.id,
        pgdata=layout.pgdata(dept.id),
        pg_socket=layout.pgsocket(dept.id),
        pg_port=t.database_port,
        config_file=config / "backup" / "pgbackrest.conf",
        memory_dir=Path(f"{t.memory_dir}.backup"),
        log_dir=layout.logs / "pgbackrest",
        repo_root=layout.root / "backups" / dept.id,
        sealed_dir=Path(t.secrets_dir),
        files=(
            data / "media_store",
            data / "archive-media",
            Path(t.secrets_dir),  # sealed keys and passphrases, service tokens
            config,  # rendered config, application-service registrations included
            Path(t.checkpoint_log_dir),
        ),
        media_store=data / "media_store",
    )


def department_backup(layout: Layout, estate: Estate, dept: Department) -> DepartmentBackup:
    return DepartmentBackup(
        backup_layout(layout, estate, dept), hsm_plan(dept, layout.target(estate, dept))
    )


def live_department(layout: Layout, estate: Estate, dept: Department) -> LiveDepartment:
    """How a restore drill reaches this demo department, read only."""
    from govmatrix.demo import postgres
    from govmatrix.demo.layout import DEMO_USER
    from govmatrix.demo.synapse_venv import synapse_python
    from govmatrix.demo.system import system_user_ids

    t = layout.target(estate, dept)
    assert t.memory_dir is not None
    python = synapse_python(dept.synapse.version, layout)
    owner = system_user_ids(DEMO_USER)

    def connect(dbname: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=str(layout.pgsocket(dept.id)),
            port=t.database_port,
            user=postgres.PG_USER,
            dbname=dbname,
            autocommit=True,
        )

    return LiveDepartment(
        connect=connect,
        homeserver_yaml=Path(t.config_dir) / "synapse" / "homeserver.yaml",
        media_store=Path(t.data_dir) / "media_store",
        secrets_dir=Path(t.secrets_dir),
        key_url=f"http://{t.synapse_address}:{t.synapse_port}/_matrix/key/v2/server",
        has_archive=dept.archive.enabled,
        start_synapse=lambda config: isolated_synapse.start(python, config, owner),
        synapse_owner=owner,
        memory_dir=Path(f"{t.memory_dir}.drill"),
    )
