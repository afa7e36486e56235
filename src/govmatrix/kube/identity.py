"""Identity on a cluster: the bundled provider's portal, and the leaver sync's CronJob.

The portal's pod runs the same LemonLDAP::NG FastCGI server, with the same rendered
configuration, as the demo's supervisor and the on-prem unit, from the govmatrix identity
image (container/Containerfile.identity: Debian's LemonLDAP::NG and nginx). nginx in the
pod serves the portal's static files and passes the rest to the FastCGI server over the
pod's loopback; the ingress controller terminates TLS for `auth.<server name>`.

One replica: LemonLDAP::NG keeps its sessions (and the authorization codes it hands
Synapse) in the pod's memory, so a second replica would lose half the logins. A short
outage during a rollout only delays sign-ins; people already signed in to Matrix keep
their sessions.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from govmatrix.estate.types import duration_seconds
from govmatrix.identity import portal
from govmatrix.kube import config, security, tls
from govmatrix.kube.images import Images
from govmatrix.kube.meta import SECRETS, TLS_SECRET, labels, metadata, obj, selector, volume_claim
from govmatrix.kube.security import UIDS
from govmatrix.kube.sizing import INIT, JOB, PORTAL, PORTAL_NGINX
from govmatrix.render import RenderedFile, paths
from govmatrix.render.context import Context, runs_leaver_sync

Obj = dict[str, Any]

APP = "identity"
SYNC_APP = "identity-sync"
UID = UIDS["identity"]
SYNC_UID = UIDS["govmatrix"]
REPORTS_CLAIM = "identity-reports"
FASTCGI_PID = "/tmp/llng-fastcgi.pid"


def directory_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (636 if parts.scheme == "ldaps" else 389)


def objects(ctx: Context, images: Images, rendered: dict[str, RenderedFile]) -> list[Obj]:
    out: list[Obj] = []
    if ctx.runs_identity_provider:
        out += _portal(ctx, images, rendered)
    if runs_leaver_sync(ctx.department, ctx.target):
        out += _sync(ctx, images, rendered)
    return out


def _portal_files(rendered: dict[str, RenderedFile]) -> dict[str, RenderedFile]:
    wanted = (
        paths.IDENTITY_PROVIDER_INI,
        paths.IDENTITY_PROVIDER_CONF,
        paths.IDENTITY_PORTAL_NGINX,
    )
    return {path: rendered[path] for path in wanted}


def _portal(ctx: Context, images: Images, rendered: dict[str, RenderedFile]) -> list[Obj]:
    t = ctx.target
    dept = ctx.department
    files = _portal_files(rendered)
    config_mount = {"name": "config", "mountPath": t.config_dir, "readOnly": True}
    tmp_mount = {"name": "tmp", "mountPath": "/tmp"}
    # The estate CA verifies an ldaps:// directory.
    ca_volume, ca_mount = tls.ca_volume(), tls.ca_mount(t.ca_dir)
    fastcgi = security.container(
        "portal",
        images.identity,
        UID,
        PORTAL,
        command=portal.fastcgi_command(f"127.0.0.1:{t.identity_port}", FASTCGI_PID),
        env=[
            {"name": name, "value": value}
            for name, value in portal.environment(
                ctx.paths.config(paths.IDENTITY_PROVIDER_INI)
            ).items()
        ],
        volumeMounts=[
            config_mount,
            tmp_mount,
            ca_mount,
            {"name": "state", "mountPath": ctx.identity_state_dir},
        ],
        readinessProbe={"tcpSocket": {"port": t.identity_port}, "periodSeconds": 10},
        livenessProbe={"tcpSocket": {"port": t.identity_port}, "periodSeconds": 30},
    )
    # The login page exercises nginx, the FastCGI server and the portal's configuration.
    login_page = {
        "httpGet": {
            "path": "/",
            "port": "http",
            "httpHeaders": [{"name": "Host", "value": ctx.portal_host}],
        }
    }
    nginx = security.container(
        "nginx",
        images.identity,
        UID,
        PORTAL_NGINX,
        command=[
            "nginx",
            "-c",
            ctx.paths.config(paths.IDENTITY_PORTAL_NGINX),
            "-g",
            "daemon off;",
        ],
        ports=[{"name": "http", "containerPort": ctx.portal_pod_port}],
        volumeMounts=[config_mount, tmp_mount],
        readinessProbe={**login_page, "periodSeconds": 10},
        livenessProbe={**login_page, "periodSeconds": 30, "failureThreshold": 4},
    )
    volumes = [
        *config.config_volumes(files),
        security.memory_dir("tmp", "64Mi"),
        security.memory_dir("state", "64Mi"),
        ca_volume,
    ]
    template = {
        "metadata": {
            "labels": labels(dept, APP, "portal"),
            "annotations": config.config_hash(files),
        },
        "spec": security.pod_spec(
            UID,
            [fastcgi, nginx],
            volumes,
            initContainers=[
                config.assemble_init(images.govmatrix, UID, t.config_dir),
                security.container(
                    "state-dirs",
                    images.identity,
                    UID,
                    INIT,
                    command=[
                        "mkdir",
                        "-p",
                        *(f"{ctx.identity_state_dir}/{d}" for d in portal.STATE_DIRS),
                    ],
                    volumeMounts=[{"name": "state", "mountPath": ctx.identity_state_dir}],
                ),
            ],
        ),
    }
    return [
        obj(
            "apps/v1",
            "Deployment",
            metadata(dept, APP, APP, "portal"),
            spec={
                # Sessions live in the pod (module docstring): one replica, replaced whole.
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector(APP, "portal")},
                "template": template,
            },
        ),
        obj(
            "v1",
            "Service",
            metadata(dept, APP, APP, "portal"),
            spec={
                "selector": selector(APP, "portal"),
                "ports": [{"name": "http", "port": ctx.portal_pod_port, "targetPort": "http"}],
            },
        ),
        _ingress(ctx),
    ]


def _ingress(ctx: Context) -> Obj:
    dept = ctx.department
    host = ctx.portal_host
    assert host is not None  # runs_identity_provider needs a portal host
    backend = {"service": {"name": APP, "port": {"number": ctx.portal_pod_port}}}
    return obj(
        "networking.k8s.io/v1",
        "Ingress",
        metadata(
            dept,
            APP,
            APP,
            "ingress",
            annotations={"nginx.ingress.kubernetes.io/proxy-body-size": "1m"},
        ),
        spec={
            "ingressClassName": dept.kubernetes.ingress_class,
            "tls": [{"hosts": [host], "secretName": TLS_SECRET}],
            "rules": [
                {
                    "host": host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ],
        },
    )


def cron_schedule(interval: str) -> str:
    """The estate's sync interval as a cron schedule, which runs at fixed wall-clock times:
    only intervals that divide an hour or a day evenly keep their spacing."""
    seconds = duration_seconds(interval)
    minutes, rest = divmod(seconds, 60)
    if rest == 0 and 0 < minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    hours, rest = divmod(seconds, 3600)
    if rest == 0 and 0 < hours <= 24 and 24 % hours == 0:
        return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"
    raise ValueError(
        f"identity.sync_interval {interval}: a CronJob runs at fixed times, so on Kubernetes "
        "give a number of minutes that divides an hour (5m, 15m, 30m) or of hours that "
        "divides a day (1h, 2h, 6h, 24h)"
    )


def _sync_files(ctx: Context, rendered: dict[str, RenderedFile]) -> dict[str, RenderedFile]:
    wanted = [paths.IDENTITY_SYNC]
    if ctx.department.archive.enabled:  # the sync records each leaver's reason there
        wanted += [paths.ARCHIVE_CONFIG, paths.ARCHIVE_PGPASS]
    return {path: rendered[path] for path in wanted}


# Secret files the sync reads, by key of the department's Secret: the sync.yaml names them.
SYNC_SECRET_FILES = {
    "operator_as_token": "operator_as_token",
    "registration_shared_secret": "registration_shared_secret",
    "operator_password": ".operator_password",
    "ldap_bind_password": "ldap_bind_password",
}


def _sync(ctx: Context, images: Images, rendered: dict[str, RenderedFile]) -> list[Obj]:
    t = ctx.target
    dept = ctx.department
    files = _sync_files(ctx, rendered)
    reports = f"{t.data_dir}/identity-reports"
    # The estate CA verifies an ldaps:// directory.
    ca_volume, ca_mount = tls.ca_volume(), tls.ca_mount(t.ca_dir)
    container = security.container(
        "sync",
        images.govmatrix,
        SYNC_UID,
        JOB,
        command=[
            "govmatrix",
            "identity",
            "sync",
            "--config",
            ctx.paths.config(paths.IDENTITY_SYNC),
        ],
        volumeMounts=[
            {"name": "config", "mountPath": t.config_dir, "readOnly": True},
            {"name": "secret-files", "mountPath": t.secrets_dir, "readOnly": True},
            {"name": "reports", "mountPath": reports},
            ca_mount,
        ],
    )
    volumes = [
        *config.config_volumes(files),
        {
            "name": "secret-files",
            "secret": {
                "secretName": SECRETS,
                "defaultMode": 0o400,
                "items": [{"key": k, "path": p} for k, p in sorted(SYNC_SECRET_FILES.items())],
            },
        },
        {"name": "reports", "persistentVolumeClaim": {"claimName": REPORTS_CLAIM}},
        ca_volume,
    ]
    pod = {
        "metadata": {"labels": labels(dept, SYNC_APP, "sync")},
        "spec": security.pod_spec(
            SYNC_UID,
            [container],
            volumes,
            initContainers=[config.assemble_init(images.govmatrix, SYNC_UID, t.config_dir)],
            # A refused run (exit 2) is an answer, not a fault: no retry in a loop.
            restartPolicy="Never",
        ),
    }
    return [
        volume_claim(dept, REPORTS_CLAIM, SYNC_APP, "1Gi"),
        obj(
            "batch/v1",
            "CronJob",
            metadata(dept, SYNC_APP, SYNC_APP, "sync"),
            spec={
                "schedule": cron_schedule(dept.identity.sync_interval),
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 300,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {
                    "metadata": {"labels": labels(dept, SYNC_APP, "sync")},
                    "spec": {
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": 1800,
                        "ttlSecondsAfterFinished": 86400,
                        "template": pod,
                    },
                },
            },
        ),
    ]
