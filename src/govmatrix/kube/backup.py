"""Backups on Kubernetes, from the department's `backup` settings.

- The database (`database: cnpg`): CloudNativePG's own mechanism. The Cluster archives WAL
  continuously to the object store (point-in-time recovery) and a `ScheduledBackup` takes
  the full base backups on the estate's `full` schedule; govmatrix.kube.database attaches
  both, with the helpers here.
- Files: a restic CronJob backs up the Synapse media volume and the rendered config (the
  ConfigMap, placeholders only) into a restic repository in the same store, on the estate's
  daily schedule. Its pod must share the node of the Synapse pod, because the media volume
  is ReadWriteOnce: a required pod affinity says so.

Backups are rendered only where they can work: `backup.enabled`, an `s3` repository, and
the store's `address_blocks` (the backup pods' only egress). The estate check refuses a
`target: kubernetes` department with backups on and anything less; other departments
rendered for Kubernetes (the demo stack) simply get no backup objects.

Signing keys and other generated values live in the department's Secret, that is in the
platform's secret store (or Pulumi's state), and are backed up with it; TLS keys stay with
cert-manager. Managed databases use their provider's point-in-time recovery.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from croniter import croniter

from govmatrix.estate.schema import BackupRepository, BackupSettings, Department
from govmatrix.estate.types import duration_seconds
from govmatrix.kube import security, synapse
from govmatrix.kube.images import Images
from govmatrix.kube.meta import CONFIG_MAP, labels, metadata, obj, selector
from govmatrix.kube.sizing import BACKUP
from govmatrix.render.context import Context

Obj = dict[str, Any]

APP = "backup"
COMPONENT = "restic"
CRONJOB = "backup-files"
UID = security.UIDS["synapse"]  # reads the media files Synapse wrote
# The StatefulSet's claim template `media`, for its only pod `synapse-0`.
MEDIA_CLAIM = f"media-{synapse.APP}-0"

# The Secret the backups read; CloudNativePG's s3Credentials name these keys.
SECRET = "backup"
ACCESS_KEY_ID = "ACCESS_KEY_ID"
SECRET_ACCESS_KEY = "ACCESS_SECRET_KEY"
REGION = "REGION"
RESTIC_PASSWORD = "RESTIC_PASSWORD"

SECRETS_MOUNT = "/backup-secrets"
MEDIA_MOUNT = "/backup/media"
CONFIG_MOUNT = "/backup/config"
# Fixed date the retention is measured from, so the objects stay deterministic.
_EPOCH = datetime(2025, 1, 1)


def enabled(department: Department) -> bool:
    """Whether the department gets backup objects on Kubernetes."""
    backup = department.backup
    repo = backup.repository
    return backup.enabled and repo.type == "s3" and bool(repo.bucket and repo.address_blocks)


def endpoint_url(repo: BackupRepository) -> str | None:
    """The store's URL with a scheme (https unless given), or None for AWS S3 itself."""
    if not repo.endpoint:
        return None
    url = repo.endpoint.rstrip("/")
    return url if "://" in url else f"https://{url}"


def endpoint_port(repo: BackupRepository) -> int:
    url = endpoint_url(repo)
    if url is None:
        return 443
    parts = urlsplit(url)
    return parts.port or (80 if parts.scheme == "http" else 443)


def destination_path(department: Department) -> str:
    """Where CloudNativePG writes base backups and WAL (barman adds the cluster's name)."""
    return f"s3://{department.backup.repository.bucket}/{department.id}/postgresql"


def restic_repository(department: Department) -> str:
    repo = department.backup.repository
    host = endpoint_url(repo) or "s3.amazonaws.com"
    return f"s3:{host}/{repo.bucket}/{department.id}/restic"


def cnpg_schedule(cron: str) -> str:
    """A 5-field cron (minute hour day month weekday) as CloudNativePG's 6-field one,
    whose first field is the second."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"'{cron}' is not a 5-field cron schedule")
    return " ".join(["0", *fields])


def files_schedule(backup: BackupSettings) -> str:
    """The restic CronJob's schedule: the `diff` schedule, joined with `full` when both run
    at the same time on different weekdays (the default: the files are backed up daily)."""
    diff, full = backup.diff.split(), backup.full.split()
    # Only where weekdays alone pick the days (day of month "*"), so the union is exact.
    if diff[:4] == full[:4] and diff[2] == "*" and diff[4] != full[4]:
        weekdays = "*" if "*" in (diff[4], full[4]) else f"{full[4]},{diff[4]}"
        return " ".join([*diff[:4], weekdays])
    return backup.diff


def longest_gap(cron: str) -> timedelta:
    """The longest time between two runs of `cron` over a year."""
    runs = croniter(cron, _EPOCH)
    previous = runs.get_next(datetime)
    longest = timedelta(0)
    # Bounded: a schedule running more than a few times a day shows its longest gap early.
    for _ in range(2000):
        current = runs.get_next(datetime)
        longest = max(longest, current - previous)
        previous = current
        if previous >= _EPOCH + timedelta(days=366):
            break
    return longest


def retention_days(backup: BackupSettings) -> int:
    """The recovery window the estate's retention keeps: `retention.full` full backups, as
    many times the longest gap between two of them."""
    gap = longest_gap(backup.full)
    return max(1, -(-(backup.retention.full * gap) // timedelta(days=1)))


def archive_timeout(backup: BackupSettings) -> str:
    return f"{duration_seconds(backup.archive_timeout)}s"


def _key(key: str) -> Obj:
    return {"name": SECRET, "key": key}


def cluster_backup(department: Department) -> Obj:
    """The Cluster's `spec.backup`: WAL archiving and base backups in the object store."""
    repo = department.backup.repository
    credentials: Obj = {
        "accessKeyId": _key(ACCESS_KEY_ID),
        "secretAccessKey": _key(SECRET_ACCESS_KEY),
    }
    if repo.region:
        credentials["region"] = _key(REGION)
    wal: Obj = {"compression": "gzip", "maxParallel": 2}
    data: Obj = {"compression": "gzip", "jobs": 2}
    if repo.server_side_encryption:
        wal["encryption"] = data["encryption"] = "AES256"
    store: Obj = {"destinationPath": destination_path(department)}
    if url := endpoint_url(repo):
        store["endpointURL"] = url
    store |= {"s3Credentials": credentials, "wal": wal, "data": data}
    return {
        "retentionPolicy": f"{retention_days(department.backup)}d",
        "barmanObjectStore": store,
    }


def _script(department: Department) -> str:
    """Initialise the repository once, back up, then forget what the window no longer needs.
    The S3 credentials are read from the mounted Secret, never put in the pod's env."""
    keep = f"{retention_days(department.backup)}d"
    host = shlex.quote(department.id)
    return "\n".join(
        [
            "set -eu",
            f'AWS_ACCESS_KEY_ID="$(cat {SECRETS_MOUNT}/{ACCESS_KEY_ID})"',
            f'AWS_SECRET_ACCESS_KEY="$(cat {SECRETS_MOUNT}/{SECRET_ACCESS_KEY})"',
            "export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY",
            "status=0",
            "restic cat config >/dev/null || status=$?",
            # 10: no repository there yet (restic 0.17 and later); anything else is an error.
            'if [ "$status" -eq 10 ]; then restic init; '
            'elif [ "$status" -ne 0 ]; then exit "$status"; fi',
            f"restic backup --host {host} --tag govmatrix {MEDIA_MOUNT} {CONFIG_MOUNT}",
            f"restic forget --host {host} --tag govmatrix --keep-within {keep} --prune",
            "",
        ]
    )


def _pod(ctx: Context, images: Images) -> Obj:
    dept = ctx.department
    repo = dept.backup.repository
    env = [
        {"name": "RESTIC_REPOSITORY", "value": restic_repository(dept)},
        {"name": "RESTIC_PASSWORD_FILE", "value": f"{SECRETS_MOUNT}/{RESTIC_PASSWORD}"},
        {"name": "RESTIC_CACHE_DIR", "value": "/cache"},
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "HOME", "value": "/tmp"},
    ]
    if repo.region:
        env.append({"name": "AWS_DEFAULT_REGION", "value": repo.region})
    container = security.container(
        "restic",
        images.restic,
        UID,
        BACKUP,
        command=["/bin/sh", "-c", _script(dept)],
        env=env,
        volumeMounts=[
            {"name": "media", "mountPath": MEDIA_MOUNT, "readOnly": True},
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            {"name": "secrets", "mountPath": SECRETS_MOUNT, "readOnly": True},
            {"name": "cache", "mountPath": "/cache"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    )
    volumes = [
        {"name": "media", "persistentVolumeClaim": {"claimName": MEDIA_CLAIM, "readOnly": True}},
        {"name": "config", "configMap": {"name": CONFIG_MAP}},
        {
            "name": "secrets",
            "secret": {
                "secretName": SECRET,
                "items": [
                    {"key": key, "path": key}
                    for key in (ACCESS_KEY_ID, SECRET_ACCESS_KEY, RESTIC_PASSWORD)
                ],
                "defaultMode": 0o400,
            },
        },
        # Scratch only: restic's index cache and its pack files in flight.
        {"name": "cache", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    ]
    # The media volume is ReadWriteOnce and the Synapse pod holds it: only a pod on the same
    # node can mount it too, so the backup pod goes where the Synapse pod is.
    affinity = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": selector(synapse.APP, synapse.MAIN)},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    return {
        "metadata": {"labels": labels(dept, APP, COMPONENT)},
        "spec": security.pod_spec(
            UID, [container], volumes, restartPolicy="OnFailure", affinity=affinity
        ),
    }


def objects(ctx: Context, images: Images) -> list[Obj]:
    """The restic CronJob for the files (the database's backups are on its Cluster)."""
    dept = ctx.department
    if not enabled(dept):
        return []
    return [
        obj(
            "batch/v1",
            "CronJob",
            metadata(dept, CRONJOB, APP, COMPONENT),
            spec={
                "schedule": files_schedule(dept.backup),
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels(dept, APP, COMPONENT)},
                    "spec": {
                        "backoffLimit": 2,
                        "activeDeadlineSeconds": 6 * 3600,
                        "template": _pod(ctx, images),
                    },
                },
            },
        )
    ]
