"""PostgreSQL per department: a CloudNativePG `Cluster` (estate `database: cnpg`) or a
managed cloud database the department connects to (`database: managed`).

The CNPG cluster holds two databases: `synapse` (bootstrapped, collation C as Synapse
requires) and `archive` (a `Database` object owned by `archive_owner`). The archive's
service role may only SELECT and INSERT; the schema is applied by a Job as `archive_migrate`,
a member of the owner role (see govmatrix.kube.archive).

Backups belong to the HSM and backups work: they attach here, as the Cluster's `backup`
section (WAL archiving to an object store) and a `ScheduledBackup` beside it, both derived
from the department's `backup` settings like everything else.
"""

from __future__ import annotations

from typing import Any

from govmatrix.archive.store import ARCHIVE_DB_ROLE, ARCHIVE_OWNER_ROLE
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
    return obj(CNPG_API, "Cluster", metadata(dept, KUBE_DATABASE_CLUSTER, "postgresql"), spec=spec)


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
