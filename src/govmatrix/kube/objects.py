"""A department of an estate becomes its Kubernetes objects, as plain data.

`department_objects` is pure and deterministic, like the renderer it builds on: the config
files come from `govmatrix.render` with target `kubernetes`, and the objects from the
estate. Rendered YAML (`govmatrix render --target kubernetes --out DIR`) and the Pulumi
program both use it; they differ only in where secret values come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from govmatrix.estate.federation import FederationGraph
from govmatrix.estate.federation import build as build_graph
from govmatrix.estate.schema import Department, Estate
from govmatrix.kube import (
    archive,
    backup,
    config,
    database,
    element,
    identity,
    ingress,
    monitoring,
    network,
    synapse,
    tls,
)
from govmatrix.kube.demo import EXPIRES_LABEL, Demo, seed_job
from govmatrix.kube.images import images
from govmatrix.kube.meta import SERVICE_ACCOUNT, labels, metadata, namespace_of, obj
from govmatrix.kube.secrets import external_secret, kube_secrets
from govmatrix.render import render, target_for
from govmatrix.render.context import Context, make_context

Obj = dict[str, Any]

SecretSource = Literal["external-secrets", "provided"]


@dataclass(frozen=True)
class Options:
    # "external-secrets": ExternalSecrets read every value from the platform's store (YAML).
    # "provided": the caller creates the Secrets of `kube_secrets` itself (Pulumi).
    secrets: SecretSource = "external-secrets"
    # PEM text of partner CA bundles, by partner id (the estate's `ca_bundle` files).
    partner_cas: Mapping[str, str] = field(default_factory=dict)
    demo: Demo | None = None


def _namespace(department: Department, demo: Demo | None) -> Obj:
    ns_labels = {
        **labels(department, "govmatrix", "namespace"),
        # Pod Security admission: every pod must meet the restricted profile.
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    if demo is not None:
        ns_labels[EXPIRES_LABEL] = demo.expires
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace_of(department), "labels": ns_labels},
    }


def _service_account(department: Department) -> Obj:
    return obj(
        "v1",
        "ServiceAccount",
        metadata(department, SERVICE_ACCOUNT, "govmatrix"),
        automountServiceAccountToken=False,
    )


def _context(estate: Estate, department: Department, graph: FederationGraph) -> Context:
    return make_context(estate, department, target_for("kubernetes", estate, department), graph)


def _tls_hosts(ctx: Context) -> list[str]:
    """The names the department's certificate covers: its server, and its sign-in portal."""
    if ctx.runs_identity_provider and ctx.portal_host is not None:
        return [ctx.host, ctx.portal_host]
    return [ctx.host]


def department_objects(
    estate: Estate,
    department: Department,
    options: Options | None = None,
    *,
    graph: FederationGraph | None = None,
) -> list[Obj]:
    """Every object of one department, namespace first."""
    options = options or Options()
    graph = graph or build_graph(estate)
    ctx = _context(estate, department, graph)
    rendered = render(estate, department, ctx.target, graph=graph)
    refs = images(estate, department)
    out = [
        _namespace(department, options.demo),
        _service_account(department),
        *network.objects(ctx, seed=options.demo is not None),
        config.config_map(department, rendered),
        *synapse.partner_cas(ctx, options.partner_cas),
        *tls.objects(department, _tls_hosts(ctx)),
    ]
    if options.secrets == "external-secrets":
        out += [external_secret(department, s) for s in kube_secrets(department)]
    out += [
        *database.objects(ctx, refs),
        *synapse.main(ctx, refs, rendered),
        *synapse.workers(ctx, refs, rendered),
        *element.objects(ctx, refs, rendered),
        *archive.objects(ctx, refs, rendered),
        *identity.objects(ctx, refs, rendered),
        *backup.objects(ctx, refs),
        *ingress.objects(ctx),
        *monitoring.objects(ctx),
    ]
    # Seeded users have passwords; under single sign-on people come from the directory.
    if options.demo is not None and ctx.sso is None:
        out.append(seed_job(ctx, refs, options.demo))
    return out


def estate_objects(
    estate: Estate, departments: list[Department], options: Options | None = None
) -> dict[str, list[Obj]]:
    graph = build_graph(estate)
    return {d.id: department_objects(estate, d, options, graph=graph) for d in departments}
