"""Element Web from the official image, with the renderer's config.json, also serving the
department's `/.well-known/matrix/*` documents (rendered too)."""

from __future__ import annotations

from typing import Any

from govmatrix.kube import config, security
from govmatrix.kube.images import Images
from govmatrix.kube.meta import CONFIG_MAP, labels, metadata, obj, selector
from govmatrix.kube.security import UIDS
from govmatrix.kube.sizing import ELEMENT
from govmatrix.render import RenderedFile, paths
from govmatrix.render.context import Context

Obj = dict[str, Any]

APP = "element"
UID = UIDS["element"]
PORT = 8080


def objects(ctx: Context, images: Images, rendered: dict[str, RenderedFile]) -> list[Obj]:
    dept = ctx.department
    root = ctx.target.element_root
    files = {
        p: rendered[p]
        for p in (paths.ELEMENT_CONFIG, paths.WELLKNOWN_SERVER, paths.WELLKNOWN_CLIENT)
    }
    items = [
        {"key": config.key_of(paths.ELEMENT_CONFIG), "path": "config.json"},
        {"key": config.key_of(paths.WELLKNOWN_SERVER), "path": "server"},
        {"key": config.key_of(paths.WELLKNOWN_CLIENT), "path": "client"},
    ]
    container = security.container(
        "element",
        images.element,
        UID,
        ELEMENT,
        # The image's entrypoint templates its nginx config from this port at start.
        env=[{"name": "ELEMENT_WEB_PORT", "value": str(PORT)}],
        ports=[{"name": "http", "containerPort": PORT}],
        volumeMounts=[
            {"name": "rendered", "mountPath": f"{root}/config.json", "subPath": "config.json"},
            {"name": "wellknown", "mountPath": f"{root}/.well-known/matrix", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "nginx-conf", "mountPath": "/etc/nginx/conf.d"},
            {"name": "nginx-cache", "mountPath": "/var/cache/nginx"},
            {"name": "run", "mountPath": "/var/run"},
        ],
        readinessProbe={"httpGet": {"path": "/config.json", "port": PORT}, "periodSeconds": 10},
        livenessProbe={"httpGet": {"path": "/config.json", "port": PORT}, "periodSeconds": 30},
    )
    volumes = [
        {"name": "rendered", "configMap": {"name": CONFIG_MAP, "items": items[:1]}},
        {"name": "wellknown", "configMap": {"name": CONFIG_MAP, "items": items[1:]}},
        security.memory_dir("tmp"),
        security.memory_dir("nginx-conf", "1Mi"),
        security.memory_dir("nginx-cache", "64Mi"),
        security.memory_dir("run", "1Mi"),
    ]
    return [
        obj(
            "apps/v1",
            "Deployment",
            metadata(dept, APP, APP),
            spec={
                "replicas": 2,
                "selector": {"matchLabels": selector(APP)},
                "template": {
                    "metadata": {
                        "labels": labels(dept, APP),
                        "annotations": config.config_hash(files),
                    },
                    "spec": security.pod_spec(UID, [container], volumes),
                },
            },
        ),
        obj(
            "v1",
            "Service",
            metadata(dept, APP, APP),
            spec={
                "selector": selector(APP),
                "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
            },
        ),
        obj(
            "policy/v1",
            "PodDisruptionBudget",
            metadata(dept, APP, APP),
            spec={"minAvailable": 1, "selector": {"matchLabels": selector(APP)}},
        ),
    ]
