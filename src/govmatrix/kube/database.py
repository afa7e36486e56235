"""PostgreSQL per department: a CloudNativePG `Cluster` (estate `database: cnpg`) or a
managed cloud database the department connects to (`database: managed`).

The CNPG cluster holds two databases: `synapse` (bootstrapped, collation C as Synapse
requires) and `archive` (a `Database` object owned by `archive_owner`). The archive's
service role may only SELECT and INSERT; the schema is applied by a Job as `archive_migrate`,
a member of the owner role (see govmatrix.kube.archive).

Backups attach here when the department has them (govmatrix.kube.backup): the Cluster's
`backup` section (continuous WAL archiving and base backups in the S3-compatible object
store, with a recovery window from the estate's retention), `archive_timeout` from the
estate, and a `ScheduledBackup` beside it for the estate's `full` schedule.
"""

from __future__ import annotations

from typing import Any

from govmatrix.archive.store import ARCHIVE_DB_ROLE, ARCHIVE_OWNER_ROLE
from govmatrix.kube import backup
from govmatrix.kube.images import Images
from govmatrix.kube.meta import labels, metadata, obj
from govmatrix.kube.secrets import (
    ARCHIVE_MIGRATE_ROLE,
    DB_ARCHIVE_SECRET,
    DB_MIGRATE_SECRET,
    DB_SYNAPSE_SECRET,
)
from govmatrix.kube.sizing import PROFILES
from govmatrix.render.context import Context
from govmatrix.render.targets import KUBE_DATABASE_CLUSTER

Obj = dict[str, Any]

CNPG_API = "postgresql.cnpg.io/v1"
# Labels CNPG puts on its instance pods (network policies select them).
CNPG_CLUSTER_LABEL = "cnpg.io/cluster"
CNPG_STATUS_PORT = 8000


def objects(ctx: Context, images: Images) -> list[Obj]:
    if ctx.department.kubernetes.database != "cnpg":
        return []
    out = [_cluster(ctx, images)]
    if backup.enabled(ctx.department):
        out.append(_scheduled_backup(ctx))
    if ctx.department.archive.enabled:
        out.append(_archive_database(ctx))
    return out


def _roles(ctx: Context) -> list[Obj]:
    if not ctx.department.archive.enabled:
        return []
    return [
        {"name": ARCHIVE_OWNER_ROLE, "ensure": "present", "login": False},
        {
            "name": ARCHIVE_DB_ROLE,
            "ensure": "present",
            "login": True,
            "passwordSecret": {"name": DB_ARCHIVE_SECRET},
        },
        {
            "name": ARCHIVE_MIGRATE_ROLE,
            "ensure": "present",
            "login": True,
            "inRoles": [ARCHIVE_OWNER_ROLE],
            "passwordSecret": {"name": DB_MIGRATE_SECRET},
        },
    ]


def _cluster(ctx: Context, images: Images) -> Obj:
    dept = ctx.department
    sizing = PROFILES[dept.synapse.profile]
    storage: Obj = {"size": dept.kubernetes.database_size}
    if dept.kubernetes.storage_class:
        storage["storageClass"] = dept.kubernetes.storage_class
    spec: Obj = {
        "instances": sizing.database_instances,
        "imageName": images.postgres,
        "primaryUpdateStrategy": "unsupervised",
        "enableSuperuserAccess": False,
        "storage": storage,
        "resources": sizing.database.spec(),
        "inheritedMetadata": {"labels": labels(dept, "postgresql")},
        "postgresql": {
            "parameters": {
                "max_connections": str(max(100, ctx.sizing.cp_max * 8)),
                "shared_buffers": "256MB",
                "log_min_duration_statement": "1000",
            }
        },
        "bootstrap": {
            "initdb": {
                "database": "synapse",
                "owner": "synapse",
                "secret": {"name": DB_SYNAPSE_SECRET},
                "encoding": "UTF8",
                "localeCollate": "C",
                "localeCType": "C",
            }
        },
    }
    if roles := _roles(ctx):
        spec["managed"] = {"roles": roles}
    if backup.enabled(dept):
        spec["backup"] = backup.cluster_backup(dept)
        # The longest a WAL segment waits before it is archived: the RPO under light load.
        spec["postgresql"]["parameters"]["archive_timeout"] = backup.archive_timeout(dept.backup)
    return obj(CNPG_API, "Cluster", metadata(dept, KUBE_DATABASE_CLUSTER, "postgresql"), spec=spec)


def _scheduled_backup(ctx: Context) -> Obj:
    """Full base backups on the estate's `full` schedule (WAL archiving runs all the time)."""
    return obj(
        CNPG_API,
        "ScheduledBackup",
        metadata(ctx.department, "db-full", "postgresql", "backup"),
        spec={
            "schedule": backup.cnpg_schedule(ctx.department.backup.full),
            "cluster": {"name": KUBE_DATABASE_CLUSTER},
            "method": "barmanObjectStore",
            "backupOwnerReference": "self",
            # A base backup at once: recovery needs one before the first scheduled run.
            "immediate": True,
        },
    )


def _archive_database(ctx: Context) -> Obj:
    return obj(
        CNPG_API,
        "Database",
        metadata(ctx.department, "archive", "postgresql"),
        spec={
            "name": "archive",
            "owner": ARCHIVE_OWNER_ROLE,
            "cluster": {"name": KUBE_DATABASE_CLUSTER},
            "ensure": "present",
            "encoding": "UTF8",
            "template": "template0",
        },
    )
