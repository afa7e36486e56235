"""The one renderer: a department of an estate, on a target, becomes its config files.

`render(estate, department, target)` is pure and deterministic: the same inputs give the
same bytes. Every target (demo, Ansible, Pulumi) deploys exactly what it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from govmatrix.estate.federation import FederationGraph
from govmatrix.estate.federation import build as build_graph
from govmatrix.estate.schema import Department, Estate
from govmatrix.hsm.plan import uses_hsm
from govmatrix.render import components
from govmatrix.render.context import (
    Context,
    make_context,
    runs_identity_provider,
    runs_leaver_sync,
    uses_sso,
)
from govmatrix.render.secrets import PLACEHOLDER_RE, SecretSpec, department_secrets
from govmatrix.render.sizing import PROFILES
from govmatrix.render.targets import TARGET_KINDS, Target, TargetKind, target_for

__all__ = [
    "TARGET_KINDS",
    "RenderedFile",
    "Target",
    "TargetKind",
    "render",
    "render_all",
    "required_secrets",
    "target_for",
]


@dataclass(frozen=True)
class RenderedFile:
    text: str
    secret: bool = False  # holds secret placeholders: fill at deploy time, write 0600

    @property
    def mode(self) -> int:
        return 0o600 if self.secret else 0o644

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(PLACEHOLDER_RE.findall(self.text))


def render(
    estate: Estate,
    department: Department,
    target: Target,
    *,
    graph: FederationGraph | None = None,
) -> dict[str, RenderedFile]:
    """All config files of one department, keyed by path relative to the config dir."""
    ctx = make_context(estate, department, target, graph or build_graph(estate))
    files: dict[str, RenderedFile] = {}
    for path, text, secret in _components(ctx):
        files[path] = RenderedFile(text, secret)
    return dict(sorted(files.items()))


def _components(ctx: Context) -> Iterator[tuple[str, str, bool]]:
    yield from components.synapse(ctx)
    yield from components.element(ctx)
    if ctx.target.kind == "kubernetes":  # the ingress controller does nginx's job there
        yield from components.wellknown(ctx)
    else:
        yield from components.nginx(ctx)
    if ctx.department.archive.enabled:
        yield from components.archive(ctx)
    if runs_leaver_sync(ctx.department, ctx.target):
        yield from components.identity(ctx)
    if ctx.runs_identity_provider:
        yield from components.identity_provider(ctx)


def render_all(
    estate: Estate, kind: TargetKind, *, root: str | None = None
) -> dict[str, dict[str, RenderedFile]]:
    """Every department of the estate on its standard `kind` layout."""
    graph = build_graph(estate)
    return {
        dept.id: render(estate, dept, target_for(kind, estate, dept, root=root), graph=graph)
        for dept in estate.departments
    }


def required_secrets(
    department: Department, target: Target | None = None
) -> tuple[SecretSpec, ...]:
    """The secrets a target generates or fetches. With the HSM in use (a `target` that
    drives one), the signing key and the archive checkpoint key are not among them: the
    first is sealed by the HSM, the second lives in it."""
    identity = department.identity
    directory = identity.directory
    provider = target is not None and runs_identity_provider(department, target)
    bind_password = directory.bind_password if directory is not None else "generate"
    return department_secrets(
        workers=PROFILES[department.synapse.profile].uses_workers,
        archive=department.archive.enabled,
        hsm=target is not None and uses_hsm(department, target),
        # Read by the sync and the provider: generated, or copied from the estate's reference
        # (a cluster cannot read a file on the operator's machine at run time).
        directory_password=(target is not None and runs_leaver_sync(department, target))
        or provider,
        directory_password_ref=None if bind_password == "generate" else bind_password,
        sso_client_secret=target is not None and uses_sso(department, target),
        sso_client_secret_ref=(identity.client_secret if identity.provider == "external" else None),
        identity_provider=provider,
        provider_client_secrets=tuple(
            (client.secret_name, client.client_secret)
            for client in (identity.clients if identity.provider == "bundled" else ())
        ),
    )
