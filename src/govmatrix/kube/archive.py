"""The compliance archive: its service, the schema migration Job and the enrolment Job.

The archive keeps records; its outside checkpoint log sits on a volume of its own, apart
from the database, so deleting the newest rows and checkpoints together is still caught.
"""

from __future__ import annotations

from typing import Any

from govmatrix.archive.store import ARCHIVE_DB_ROLE, ARCHIVE_OWNER_ROLE
from govmatrix.kube import config, security
from govmatrix.kube.images import Images
from govmatrix.kube.meta import labels, metadata, obj, selector, volume_claim
from govmatrix.kube.secrets import ARCHIVE_MIGRATE_ROLE, DB_MIGRATE_SECRET
from govmatrix.kube.security import UIDS
from govmatrix.kube.sizing import ARCHIVE, JOB
from govmatrix.render import RenderedFile, paths
from govmatrix.render.context import Context

Obj = dict[str, Any]

APP = "archive"
UID = UIDS["govmatrix"]
SECRET_FILES = {
    "archive_as_token": "archive_as_token",
    "archive_hs_token": "archive_hs_token",
    "archive_officer_token": "archive_officer_token",
    "archive_checkpoint_key": "archive_checkpoint.key",
}
# The enrolment Job also needs these (govmatrix archive enroll).
ENROL_SECRET_FILES = {
    **SECRET_FILES,
    "registration_shared_secret": "registration_shared_secret",
    "operator_password": "operator_password",
    "operator_as_token": "operator_as_token",
}


def objects(ctx: Context, images: Images, rendered: dict[str, RenderedFile]) -> list[Obj]:
    if not ctx.department.archive.enabled:
        return []
    files = config.select(rendered, "archive/")
    out = [
        *_volumes_claims(ctx),
        _deployment(ctx, images, files),
        obj(
            "v1",
            "Service",
            metadata(ctx.department, APP, APP),
            spec={
                "selector": selector(APP, "service"),
                "ports": [{"name": "http", "port": ctx.target.archive_port, "targetPort": "http"}],
            },
        ),
        _enrol_job(ctx, images, files),
    ]
    if ctx.department.kubernetes.database == "cnpg":
        out.append(_migrate_job(ctx, images))
    return out


def _volumes_claims(ctx: Context) -> list[Obj]:
    dept = ctx.department
    return [
        volume_claim(dept, "archive-media", APP, dept.kubernetes.media_size),
        volume_claim(dept, "archive-checkpoint-log", APP, "1Gi"),
    ]


def _config_command(ctx: Context, command: list[str]) -> list[str]:
    return [*command, "--config", ctx.paths.config(paths.ARCHIVE_CONFIG)]


def _pod(
    ctx: Context,
    images: Images,
    files: dict[str, RenderedFile],
    container: Obj,
    secret_files: dict[str, str],
    extra_volumes: list[Obj],
    component: str,
    **spec: Any,
) -> Obj:
    t = ctx.target
    container["volumeMounts"] = [
        {"name": "config", "mountPath": t.config_dir, "readOnly": True},
        {"name": "secret-files", "mountPath": t.secrets_dir, "readOnly": True},
        *container.get("volumeMounts", []),
    ]
    return {
        "metadata": {
            "labels": labels(ctx.department, APP, component),
            "annotations": config.config_hash(files),
        },
        "spec": security.pod_spec(
            UID,
            [container],
            [
                *config.config_volumes(files),
                config.secret_files_volume(secret_files),
                *extra_volumes,
            ],
            initContainers=[config.assemble_init(images.govmatrix, UID, t.config_dir)],
            **spec,
        ),
    }


def _deployment(ctx: Context, images: Images, files: dict[str, RenderedFile]) -> Obj:
    t = ctx.target
    container = security.container(
        "archive",
        images.govmatrix,
        UID,
        ARCHIVE,
        command=_config_command(ctx, ["govmatrix", "archive", "serve"]),
        ports=[{"name": "http", "containerPort": t.archive_port}],
        volumeMounts=[
            {"name": "media", "mountPath": f"{t.data_dir}/archive-media"},
            {"name": "checkpoint-log", "mountPath": t.checkpoint_log_dir},
        ],
        readinessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
        livenessProbe={"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 30},
    )
    template = _pod(
        ctx,
        images,
        files,
        container,
        SECRET_FILES,
        [
            {"name": "media", "persistentVolumeClaim": {"claimName": "archive-media"}},
            {
                "name": "checkpoint-log",
                "persistentVolumeClaim": {"claimName": "archive-checkpoint-log"},
            },
        ],
        "service",
    )
    return obj(
        "apps/v1",
        "Deployment",
        metadata(ctx.department, APP, APP, "service"),
        spec={
            "replicas": 1,
            # One writer of the hash chain, ever: never two pods at once.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(APP, "service")},
            "template": template,
        },
    )


def _job(ctx: Context, name: str, component: str, template: Obj) -> Obj:
    return obj(
        "batch/v1",
        "Job",
        metadata(ctx.department, name, APP, component),
        spec={"backoffLimit": 20, "ttlSecondsAfterFinished": 86400, "template": template},
    )


def _enrol_job(ctx: Context, images: Images, files: dict[str, RenderedFile]) -> Obj:
    """Makes the archive's Matrix user a server admin, once Synapse answers (idempotent)."""
    t = ctx.target
    container = security.container(
        "enroll",
        images.govmatrix,
        UID,
        JOB,
        command=[
            *_config_command(ctx, ["govmatrix", "archive", "enroll"]),
            "--shared-secret-file",
            f"{t.secrets_dir}/registration_shared_secret",
            "--operator-password-file",
            f"{t.secrets_dir}/operator_password",
            "--operator-service-token-file",
            f"{t.secrets_dir}/operator_as_token",
        ],
    )
    template = _pod(
        ctx, images, files, container, ENROL_SECRET_FILES, [], "enroll", restartPolicy="OnFailure"
    )
    return _job(ctx, "archive-enroll", "enroll", template)


def _migrate_job(ctx: Context, images: Images) -> Obj:
    """Applies the archive schema (idempotent) as a member of its owner role."""
    t = ctx.target
    env = [
        {"name": "PGHOST", "value": t.database_host},
        {"name": "PGPORT", "value": str(t.database_port)},
        {"name": "PGDATABASE", "value": "archive"},
        {"name": "PGUSER", "value": ARCHIVE_MIGRATE_ROLE},
        {"name": "PGSSLMODE", "value": "require"},
    ]
    container = security.container(
        "migrate",
        images.govmatrix,
        UID,
        JOB,
        command=[
            "govmatrix",
            "archive",
            "migrate",
            "--owner",
            ARCHIVE_OWNER_ROLE,
            "--app-role",
            ARCHIVE_DB_ROLE,
            "--password-file",
            "/db/password",
        ],
        env=env,
        volumeMounts=[{"name": "db", "mountPath": "/db", "readOnly": True}],
    )
    volumes = [
        {
            "name": "db",
            "secret": {
                "secretName": DB_MIGRATE_SECRET,
                "items": [{"key": "password", "path": "password"}],
                "defaultMode": 0o400,
            },
        }
    ]
    template = {
        "metadata": {"labels": labels(ctx.department, APP, "migrate")},
        "spec": security.pod_spec(UID, [container], volumes, restartPolicy="OnFailure"),
    }
    return _job(ctx, "archive-migrate", "migrate", template)
