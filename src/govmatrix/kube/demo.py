"""Evaluator departments on a cluster (Pulumi's demo stack): an expiry label on the
namespace, and a post-deploy Job that creates the seeded users once Synapse answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from govmatrix.kube import security
from govmatrix.kube.images import Images
from govmatrix.kube.meta import SECRETS, labels, metadata, obj
from govmatrix.kube.network import SEED_APP
from govmatrix.kube.security import UIDS
from govmatrix.kube.sizing import JOB
from govmatrix.render.context import Context

Obj = dict[str, Any]

EXPIRES_LABEL = "govmatrix.io/expires"
USERS_SECRET = "demo-users"
UID = UIDS["govmatrix"]


@dataclass(frozen=True)
class Demo:
    expires: str  # YYYY-MM-DD: when the evaluation ends and the stack should go
    users: tuple[str, ...] = ("alice", "bob")


def seed_job(ctx: Context, images: Images, demo: Demo) -> Obj:
    t = ctx.target
    url = f"http://{t.synapse_host}:{t.internal_api_port}"
    container = security.container(
        "seed",
        images.govmatrix,
        UID,
        JOB,
        command=[
            "govmatrix",
            "kube",
            "seed-users",
            "--homeserver",
            url,
            "--server-name",
            ctx.department.server_name,
            "--shared-secret-file",
            "/secrets/registration_shared_secret",
            "--operator-password-file",
            "/secrets/operator_password",
            "--operator-service-token-file",
            "/secrets/operator_as_token",
            "--users-dir",
            "/users",
        ],
        volumeMounts=[
            {"name": "secrets", "mountPath": "/secrets", "readOnly": True},
            {"name": "users", "mountPath": "/users", "readOnly": True},
        ],
    )
    volumes = [
        {
            "name": "secrets",
            "secret": {
                "secretName": SECRETS,
                "defaultMode": 0o400,
                "items": [
                    {"key": "registration_shared_secret", "path": "registration_shared_secret"},
                    {"key": "operator_password", "path": "operator_password"},
                    {"key": "operator_as_token", "path": "operator_as_token"},
                ],
            },
        },
        {"name": "users", "secret": {"secretName": USERS_SECRET, "defaultMode": 0o400}},
    ]
    return obj(
        "batch/v1",
        "Job",
        metadata(ctx.department, "seed-users", SEED_APP),
        spec={
            "backoffLimit": 30,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels(ctx.department, SEED_APP)},
                "spec": security.pod_spec(UID, [container], volumes, restartPolicy="OnFailure"),
            },
        },
    )
