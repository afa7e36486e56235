"""Prometheus ServiceMonitors, when the estate asks for them (`kubernetes.service_monitor`)."""

from __future__ import annotations

from typing import Any

from govmatrix.kube import synapse
from govmatrix.kube.meta import metadata, obj, selector
from govmatrix.render.context import Context

Obj = dict[str, Any]


def objects(ctx: Context) -> list[Obj]:
    if not ctx.target.metrics_port:
        return []
    return [
        obj(
            "monitoring.coreos.com/v1",
            "ServiceMonitor",
            metadata(ctx.department, synapse.APP, synapse.APP, synapse.MAIN),
            spec={
                "selector": {"matchLabels": selector(synapse.APP, synapse.MAIN)},
                "endpoints": [{"port": "metrics", "path": "/_synapse/metrics", "interval": "30s"}],
            },
        )
    ]
