"""Synapse: the main process as a StatefulSet (its media store on a volume of its own),
each worker of the sizing profile as a Deployment, Redis when there are workers, their
Services and disruption budgets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from govmatrix.kube import config, security, tls
from govmatrix.kube.assemble import TRUST_BUNDLE
from govmatrix.kube.images import Images
from govmatrix.kube.meta import labels, metadata, obj, selector
from govmatrix.kube.security import UIDS
from govmatrix.kube.sizing import PROFILES, REDIS, Resources
from govmatrix.render import RenderedFile, required_secrets
from govmatrix.render.context import Context
from govmatrix.render.sizing import Worker

Obj = dict[str, Any]

SYNAPSE_UID = UIDS["synapse"]
REDIS_UID = UIDS["redis"]
APP = "synapse"
MAIN = "main"
WORKERS_SERVICE = "synapse-workers"
PARTNER_CAS = "partner-cas"


def _synapse_files(files: dict[str, RenderedFile]) -> dict[str, RenderedFile]:
    return config.select(files, "synapse/")


# Secret files other processes read: the directory's password (the portal, the sync) and
# the operator service's token (deploy Jobs, the sync). Synapse never needs them.
NOT_SYNAPSE = frozenset({"ldap_bind_password", "operator_as_token"})


def _secret_files(ctx: Context) -> dict[str, str]:
    return {
        spec.name: spec.file
        for spec in required_secrets(ctx.department, ctx.target)
        if spec.file and spec.name not in NOT_SYNAPSE
    }


def _volumes(ctx: Context, files: dict[str, RenderedFile]) -> list[Obj]:
    volumes = [
        *config.config_volumes(files),
        config.secret_files_volume(_secret_files(ctx)),
        tls.ca_volume(),
        security.memory_dir("tmp", "64Mi"),
    ]
    if len(ctx.ca_files) > 1:
        volumes.append({"name": "partner-cas", "configMap": {"name": PARTNER_CAS}})
    return volumes


def _mounts(ctx: Context) -> list[Obj]:
    t = ctx.target
    mounts: list[Obj] = [
        {"name": "config", "mountPath": t.config_dir, "readOnly": True},
        {"name": "secret-files", "mountPath": t.secrets_dir, "readOnly": True},
        tls.ca_mount(t.ca_dir),
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if len(ctx.ca_files) > 1:
        mounts.append(
            {"name": "partner-cas", "mountPath": f"{t.ca_dir}/partners", "readOnly": True}
        )
    return mounts


def partner_cas(ctx: Context, bundles: Mapping[str, str]) -> list[Obj]:
    """The CA bundles of the partners this department federates with (PEM text, read from
    the estate's `ca_bundle` files by the caller)."""
    wanted: dict[str, str | None] = {
        p: bundles.get(p)
        for p in ctx.federation.partners
        if (partner := ctx.estate.partner(p)) is not None and partner.ca_bundle
    }
    if not wanted:
        return []
    missing = sorted(p for p, text in wanted.items() if text is None)
    if missing:
        raise ValueError(f"no CA bundle text given for partners: {', '.join(missing)}")
    data = {f"{p}.pem": text for p, text in sorted(wanted.items()) if text is not None}
    return [
        obj("v1", "ConfigMap", metadata(ctx.department, PARTNER_CAS, "govmatrix", "tls"), data=data)
    ]


def _probes(port: int) -> Obj:
    check = {"httpGet": {"path": "/health", "port": port}}
    return {
        "startupProbe": {**check, "periodSeconds": 5, "failureThreshold": 60},
        "readinessProbe": {**check, "periodSeconds": 10},
        "livenessProbe": {**check, "periodSeconds": 20, "failureThreshold": 6},
    }


def _process(
    ctx: Context,
    images: Images,
    files: dict[str, RenderedFile],
    name: str,
    args: list[str],
    ports: list[Obj],
    health_port: int,
    resources: Resources,
    extra_mounts: list[Obj],
) -> Obj:
    """The pod template of one Synapse process."""
    t = ctx.target
    # The bundled provider's certificate comes from the estate CA: Synapse's OpenID Connect
    # client (the platform's trust store) gets it added to the public CAs.
    trust_ca = ctx.paths.ca_cert if ctx.runs_identity_provider else None
    env = [{"name": "SSL_CERT_FILE", "value": f"{t.config_dir}/{TRUST_BUNDLE}"}] if trust_ca else []
    main = security.container(
        "synapse",
        images.synapse,
        SYNAPSE_UID,
        resources,
        command=["python", "-m", *args, "--no-secrets-in-config"],
        ports=ports,
        volumeMounts=_mounts(ctx) + extra_mounts,
        **({"env": env} if env else {}),
        **_probes(health_port),
    )
    return {
        "metadata": {
            "labels": labels(ctx.department, APP, name),
            "annotations": config.config_hash(files),
        },
        "spec": security.pod_spec(
            SYNAPSE_UID,
            [main],
            _volumes(ctx, files),
            initContainers=[
                config.assemble_init(images.govmatrix, SYNAPSE_UID, t.config_dir, trust_ca)
            ],
            terminationGracePeriodSeconds=60,
        ),
    }


def _config_arg(ctx: Context, relative: str) -> str:
    return f"--config-path={ctx.paths.config(relative)}"


def main(ctx: Context, images: Images, rendered: dict[str, RenderedFile]) -> list[Obj]:
    t = ctx.target
    dept = ctx.department
    files = _synapse_files(rendered)
    ports = [
        {"name": "http", "containerPort": t.synapse_port},
        {"name": "internal", "containerPort": t.internal_api_port},
    ]
    if ctx.sizing.uses_workers:
        ports.append({"name": "replication", "containerPort": t.replication_port})
    if t.metrics_port:
        ports.append({"name": "metrics", "containerPort": t.metrics_port})
    template = _process(
        ctx,
        images,
        files,
        MAIN,
        ["synapse.app.homeserver", _config_arg(ctx, "synapse/homeserver.yaml")],
        ports,
        t.synapse_port,
        PROFILES[dept.synapse.profile].synapse_main,
        [{"name": "media", "mountPath": t.data_dir}],
    )
    volume_claim: Obj = {
        "metadata": {"name": "media", "labels": labels(dept, APP, MAIN)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": dept.kubernetes.media_size}},
        },
    }
    if dept.kubernetes.storage_class:
        volume_claim["spec"]["storageClassName"] = dept.kubernetes.storage_class
    service_ports = [
        {"name": p["name"], "port": p["containerPort"], "targetPort": p["name"]} for p in ports
    ]
    return [
        obj(
            "apps/v1",
            "StatefulSet",
            metadata(dept, APP, APP, MAIN),
            spec={
                "serviceName": APP,
                "replicas": 1,
                "selector": {"matchLabels": selector(APP, MAIN)},
                "template": template,
                "volumeClaimTemplates": [volume_claim],
                "persistentVolumeClaimRetentionPolicy": {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                },
            },
        ),
        obj(
            "v1",
            "Service",
            metadata(dept, APP, APP, MAIN),
            spec={"selector": selector(APP, MAIN), "ports": service_ports},
        ),
        _budget(ctx, APP, selector(APP, MAIN)),
    ]


def _worker(ctx: Context, images: Images, files: dict[str, RenderedFile], worker: Worker) -> Obj:
    t = ctx.target
    dept = ctx.department
    port = t.worker_base_port + ctx.sizing.workers.index(worker)
    name = f"synapse-{worker.name}"
    template = _process(
        ctx,
        images,
        files,
        worker.role,
        [
            "synapse.app.generic_worker",
            _config_arg(ctx, "synapse/homeserver.yaml"),
            _config_arg(ctx, f"synapse/workers/{worker.name}.yaml"),
        ],
        [{"name": "http", "containerPort": port}],
        port,
        PROFILES[dept.synapse.profile].synapse_worker,
        [],
    )
    template["metadata"]["labels"]["govmatrix.io/worker"] = worker.name
    return obj(
        "apps/v1",
        "Deployment",
        metadata(dept, name, APP, worker.role),
        spec={
            "replicas": 1,
            # A worker name must run once: replace, never overlap.
            "strategy": {"type": "Recreate"},
            "selector": {
                "matchLabels": {**selector(APP, worker.role), "govmatrix.io/worker": worker.name}
            },
            "template": template,
        },
    )


def workers(ctx: Context, images: Images, rendered: dict[str, RenderedFile]) -> list[Obj]:
    if not ctx.sizing.uses_workers:
        return []
    dept = ctx.department
    files = _synapse_files(rendered)
    out = [_worker(ctx, images, files, worker) for worker in ctx.sizing.workers]
    if ctx.sizing.of_role("generic"):
        out.append(
            obj(
                "v1",
                "Service",
                metadata(dept, WORKERS_SERVICE, APP, "generic"),
                spec={
                    "selector": selector(APP, "generic"),
                    # Each worker listens on a port of its own; the name finds it.
                    "ports": [{"name": "http", "port": 8008, "targetPort": "http"}],
                },
            )
        )
        out.append(_budget(ctx, WORKERS_SERVICE, selector(APP, "generic")))
    out += redis(ctx, images)
    return out


def _budget(ctx: Context, name: str, match: dict[str, str]) -> Obj:
    # One replica each: a drain may take it, but never more than one process of a kind at once.
    return obj(
        "policy/v1",
        "PodDisruptionBudget",
        metadata(ctx.department, name, APP),
        spec={"maxUnavailable": 1, "selector": {"matchLabels": match}},
    )


def redis(ctx: Context, images: Images) -> list[Obj]:
    """Redis carries the replication streams between Synapse processes; nothing persists."""
    dept = ctx.department
    port = ctx.target.redis_port
    container = security.container(
        "redis",
        images.redis,
        REDIS_UID,
        REDIS,
        command=[
            "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ],
        ports=[{"name": "redis", "containerPort": port}],
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
        readinessProbe={"tcpSocket": {"port": port}, "periodSeconds": 10},
        livenessProbe={"tcpSocket": {"port": port}, "periodSeconds": 20},
    )
    name = ctx.target.redis_host
    return [
        obj(
            "apps/v1",
            "Deployment",
            metadata(dept, name, "redis"),
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector("redis")},
                "template": {
                    "metadata": {"labels": labels(dept, "redis")},
                    "spec": security.pod_spec(
                        REDIS_UID, [container], [security.memory_dir("data", "64Mi")]
                    ),
                },
            },
        ),
        obj(
            "v1",
            "Service",
            metadata(dept, name, "redis"),
            spec={
                "selector": selector("redis"),
                "ports": [{"name": "redis", "port": port, "targetPort": "redis"}],
            },
        ),
    ]
