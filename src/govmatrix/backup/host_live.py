"""How a restore drill on a host (on-prem) reaches the live department, read only.

The live databases are read as the services read them: their own roles, over the address
and port in their configuration, with their pgpass files (root reads those). The isolated
Synapse starts from the host's Synapse virtualenv as Synapse's system user. The Ansible
`backup` role writes these settings into the department's backup.json (`live`).
"""

from __future__ import annotations

import pwd
from pathlib import Path
from typing import Any

import psycopg

from govmatrix.archive.store import ARCHIVE_DB_ROLE
from govmatrix.backup import isolated_synapse
from govmatrix.backup.drill import LiveDepartment


def settings(
    *,
    config_dir: str,
    secrets_dir: str,
    media_store: str,
    database_host: str,
    database_port: int,
    synapse_url: str,
    memory_dir: str,
    synapse_python: str,
    synapse_user: str,
    archive: bool,
) -> dict[str, Any]:
    """The `live` part of a host's backup.json (plain data: written by the roles)."""
    database = {"host": database_host, "port": database_port}
    return {
        "homeserver_yaml": f"{config_dir}/synapse/homeserver.yaml",
        "secrets_dir": secrets_dir,
        "media_store": media_store,
        "databases": {
            "synapse": {
                **database,
                "user": "synapse",
                "passfile": f"{config_dir}/synapse/pgpass",
            },
            **(
                {
                    "archive": {
                        **database,
                        "user": ARCHIVE_DB_ROLE,
                        "passfile": f"{config_dir}/archive/pgpass",
                    }
                }
                if archive
                else {}
            ),
        },
        "key_url": f"{synapse_url}/_matrix/key/v2/server",
        "memory_dir": memory_dir,
        "synapse_python": synapse_python,
        "synapse_user": synapse_user,
    }


def live_department(live: dict[str, Any]) -> LiveDepartment:
    databases: dict[str, dict[str, Any]] = live["databases"]
    owner = pwd.getpwnam(live["synapse_user"])

    def connect(dbname: str) -> psycopg.Connection[Any]:
        args = databases[dbname]
        return psycopg.connect(
            host=args["host"],
            port=int(args["port"]),
            user=args["user"],
            passfile=args["passfile"],
            dbname=dbname,
            autocommit=True,
        )

    return LiveDepartment(
        connect=connect,
        homeserver_yaml=Path(live["homeserver_yaml"]),
        media_store=Path(live["media_store"]),
        secrets_dir=Path(live["secrets_dir"]),
        key_url=live["key_url"],
        has_archive="archive" in databases,
        start_synapse=lambda config: isolated_synapse.start(
            live["synapse_python"], config, (owner.pw_uid, owner.pw_gid)
        ),
        synapse_owner=(owner.pw_uid, owner.pw_gid),
        memory_dir=Path(live["memory_dir"]),
    )
