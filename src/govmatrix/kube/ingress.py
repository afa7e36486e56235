"""The department's Ingress: client API, federation (on 443, as the rendered
`/.well-known/matrix/server` announces), the well-known documents and Element Web.
The admin API (`/_synapse/admin`) has no route: operators reach it inside the cluster."""

from __future__ import annotations

from typing import Any

from govmatrix.kube import element, synapse
from govmatrix.kube.meta import TLS_SECRET, metadata, obj
from govmatrix.render.context import Context

Obj = dict[str, Any]


def _path(prefix: str, service: str, port: int) -> Obj:
    return {
        "path": prefix,
        "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": port}}},
    }


def _routes(ctx: Context) -> list[Obj]:
    t = ctx.target
    main = (synapse.APP, t.synapse_port)
    # Generic workers take inbound federation; the main process keeps the client API and
    # the media repository (authenticated federation media included).
    federation = (synapse.WORKERS_SERVICE, 8008) if ctx.sizing.of_role("generic") else main
    return [
        _path("/_matrix/client", *main),
        _path("/_matrix/media", *main),
        _path("/_matrix/federation", *federation),
        _path("/_matrix/federation/v1/media", *main),
        _path("/_matrix/key", *federation),
        _path("/_synapse/client", *main),
        _path("/", element.APP, element.PORT),
    ]


def objects(ctx: Context) -> list[Obj]:
    dept = ctx.department
    annotations = {
        "nginx.ingress.kubernetes.io/proxy-body-size": dept.synapse.max_upload_size.lower(),
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "120",
    }
    # Browsers on other origins read the well-known documents; Synapse answers CORS for the
    # API itself, so only these paths get the controller's CORS headers.
    cors = {
        "nginx.ingress.kubernetes.io/enable-cors": "true",
        "nginx.ingress.kubernetes.io/cors-allow-methods": "GET, OPTIONS",
    }
    wellknown = _path("/.well-known/matrix", element.APP, element.PORT)
    return [
        _ingress(ctx, "matrix", annotations, _routes(ctx)),
        _ingress(ctx, "well-known", cors, [wellknown]),
    ]


def _ingress(ctx: Context, name: str, annotations: dict[str, str], paths: list[Obj]) -> Obj:
    dept = ctx.department
    return obj(
        "networking.k8s.io/v1",
        "Ingress",
        metadata(dept, name, "govmatrix", "ingress", annotations=annotations),
        spec={
            "ingressClassName": dept.kubernetes.ingress_class,
            "tls": [{"hosts": [ctx.host], "secretName": TLS_SECRET}],
            "rules": [{"host": ctx.host, "http": {"paths": paths}}],
        },
    )
