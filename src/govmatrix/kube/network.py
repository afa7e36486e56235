"""NetworkPolicies: deny by default, then allow exactly the department's own paths.

Federation travels the standard Matrix path: a peer's server name resolves to the ingress
controller (or, outside the cluster, to the peer's address blocks), so Synapse's only ways
out are the ingress controller, its own database, archive and Redis, DNS, and the address
blocks of the peers and partners it federates with. Synapse's federation allow-list stays
the authority on who may federate; these policies add isolation: no pod of one department
can open a connection to a pod of another, in either direction.
"""

from __future__ import annotations

from typing import Any

from govmatrix.kube import archive, backup, database, element, identity, synapse
from govmatrix.kube.meta import NAME_LABEL, metadata, obj, selector
from govmatrix.render.context import Context, runs_leaver_sync
from govmatrix.render.targets import KUBE_DATABASE_CLUSTER

Obj = dict[str, Any]

NS_NAME_LABEL = "kubernetes.io/metadata.name"
FEDERATION_PORTS = (443, 8448)
SEED_APP = "seed"
# CloudNativePG labels its instance pods with their cluster's name.
DATABASE_PODS = {database.CNPG_CLUSTER_LABEL: KUBE_DATABASE_CLUSTER}


def _ns(name: str) -> Obj:
    return {"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: name}}}


def _pods(match: dict[str, str]) -> Obj:
    return {"podSelector": {"matchLabels": match}}


def _ports(*ports: int | str, protocol: str = "TCP") -> list[Obj]:
    return [{"port": port, "protocol": protocol} for port in ports]


def _policy(
    ctx: Context,
    name: str,
    pods: dict[str, str],
    ingress: list[Obj] | None,
    egress: list[Obj] | None,
) -> Obj:
    """A policy for the pods labelled `pods` ({}: every pod of the namespace)."""
    types = []
    spec: Obj = {"podSelector": {"matchLabels": pods} if pods else {}}
    if ingress is not None:
        types.append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        types.append("Egress")
        spec["egress"] = egress
    spec["policyTypes"] = types
    return obj(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        metadata(ctx.department, name, "govmatrix", "network"),
        spec=spec,
    )


def _database_peer(ctx: Context) -> list[Obj]:
    """Egress rules to the department's own database, wherever it runs."""
    t = ctx.target
    settings = ctx.department.kubernetes
    if settings.database == "managed" and settings.managed_database is not None:
        blocks = [
            {"ipBlock": {"cidr": block}} for block in settings.managed_database.address_blocks
        ]
        return [{"to": blocks, "ports": _ports(t.database_port)}]
    return [{"to": [_pods(DATABASE_PODS)], "ports": _ports(t.database_port)}]


def _object_store(ctx: Context) -> list[Obj]:
    """Egress to the backup object store: its address blocks, on its endpoint's port."""
    repo = ctx.department.backup.repository
    return [
        {
            "to": [{"ipBlock": {"cidr": block}} for block in repo.address_blocks],
            "ports": _ports(backup.endpoint_port(repo)),
        }
    ]


def _federation_blocks(ctx: Context) -> list[Obj]:
    own = set(ctx.target.federation_ip_whitelist)
    blocks = [b for b in ctx.federation_ip_whitelist if b not in own]
    if not blocks:
        return []
    return [{"to": [{"ipBlock": {"cidr": b}} for b in blocks], "ports": _ports(*FEDERATION_PORTS)}]


def _directory(ctx: Context) -> list[Obj]:
    """Egress to the department's directory: its address blocks, on its URL's port."""
    directory = ctx.department.identity.directory
    # No blocks, no rule: a rule with an empty `to` would open every destination. (The
    # estate requires blocks for departments whose target is kubernetes.)
    if directory is None or not directory.address_blocks:
        return []
    return [
        {
            "to": [{"ipBlock": {"cidr": block}} for block in directory.address_blocks],
            "ports": _ports(identity.directory_port(directory.url)),
        }
    ]


def _issuer(ctx: Context) -> list[Obj]:
    """Synapse's egress to an external OpenID Connect issuer (the bundled portal is reached
    through the ingress controller, like a peer)."""
    settings = ctx.department.identity
    if settings.provider != "external" or ctx.sso is None:
        return []
    blocks = settings.issuer_address_blocks
    if not blocks:  # as for the directory: never an empty `to`
        return []
    return [{"to": [{"ipBlock": {"cidr": b}} for b in blocks], "ports": _ports(443)}]


def _synapse(ctx: Context) -> Obj:
    t = ctx.target
    settings = ctx.department.kubernetes
    synapse_pods = _pods({NAME_LABEL: synapse.APP})
    internal_clients = [_pods({NAME_LABEL: archive.APP}), _pods({NAME_LABEL: SEED_APP})]
    if runs_leaver_sync(ctx.department, t):
        internal_clients.append(_pods({NAME_LABEL: identity.SYNC_APP}))
    ingress = [
        # Client and federation listeners ("http" names the port on every process).
        {"from": [_ns(settings.ingress_namespace)], "ports": _ports("http")},
        # The department's own services: the archive, its enrolment, the demo seed job,
        # the leaver sync.
        {"from": internal_clients, "ports": _ports(t.internal_api_port)},
    ]
    egress = [
        {"to": [_ns(settings.ingress_namespace)], "ports": _ports(*FEDERATION_PORTS)},
        *_database_peer(ctx),
        *_federation_blocks(ctx),
        *_issuer(ctx),
    ]
    if ctx.department.archive.enabled:
        egress.append(
            {"to": [_pods(selector(archive.APP, "service"))], "ports": _ports(t.archive_port)}
        )
    if ctx.sizing.uses_workers:
        ingress.append({"from": [synapse_pods], "ports": _ports(t.replication_port)})
        egress.append({"to": [synapse_pods], "ports": _ports(t.replication_port)})
        egress.append({"to": [_pods({NAME_LABEL: "redis"})], "ports": _ports(t.redis_port)})
    if t.metrics_port:
        ingress.append(
            {"from": [_ns(settings.monitoring_namespace)], "ports": _ports(t.metrics_port)}
        )
    return _policy(ctx, "synapse", {NAME_LABEL: synapse.APP}, ingress, egress)


def _archive(ctx: Context) -> Obj:
    t = ctx.target
    ingress = [{"from": [_pods({NAME_LABEL: synapse.APP})], "ports": _ports(t.archive_port)}]
    egress = [
        {"to": [_pods(selector(synapse.APP, synapse.MAIN))], "ports": _ports(t.internal_api_port)},
        *_database_peer(ctx),
    ]
    return _policy(ctx, "archive", {NAME_LABEL: archive.APP}, ingress, egress)


def _portal(ctx: Context) -> Obj:
    settings = ctx.department.kubernetes
    ingress = [{"from": [_ns(settings.ingress_namespace)], "ports": _ports(ctx.portal_pod_port)}]
    return _policy(ctx, "identity", {NAME_LABEL: identity.APP}, ingress, _directory(ctx))


def _leaver_sync(ctx: Context) -> Obj:
    """The sync takes no connections; it reaches Synapse's internal listener, the directory,
    and (recording each leaver's reason) the archive's database."""
    t = ctx.target
    egress = [
        {"to": [_pods(selector(synapse.APP, synapse.MAIN))], "ports": _ports(t.internal_api_port)},
        *_directory(ctx),
    ]
    if ctx.department.archive.enabled:
        egress += _database_peer(ctx)
    return _policy(ctx, "identity-sync", {NAME_LABEL: identity.SYNC_APP}, [], egress)


def _postgresql(ctx: Context) -> Obj:
    t = ctx.target
    settings = ctx.department.kubernetes
    own = _pods(DATABASE_PODS)
    clients = [_pods({NAME_LABEL: synapse.APP}), _pods({NAME_LABEL: archive.APP})]
    if ctx.department.archive.enabled and runs_leaver_sync(ctx.department, t):
        clients.append(_pods({NAME_LABEL: identity.SYNC_APP}))
    ingress = [
        {"from": clients, "ports": _ports(t.database_port)},
        # Instances replicate from each other; the operator checks their status.
        {"from": [own], "ports": _ports(t.database_port, database.CNPG_STATUS_PORT)},
        {
            "from": [_ns(settings.cnpg_namespace)],
            "ports": _ports(t.database_port, database.CNPG_STATUS_PORT),
        },
    ]
    egress = [
        {"to": [own], "ports": _ports(t.database_port, database.CNPG_STATUS_PORT)},
        # The instance manager talks to the Kubernetes API.
        {
            "to": [{"ipBlock": {"cidr": block}} for block in settings.api_server_blocks],
            "ports": _ports(443, 6443),
        },
    ]
    if backup.enabled(ctx.department):
        # barman-cloud runs in the instance pods: WAL archiving and base backups.
        egress += _object_store(ctx)
    return _policy(ctx, "postgresql", DATABASE_PODS, ingress, egress)


def _backup(ctx: Context) -> Obj:
    """The restic pods take no connections and reach only the object store (and DNS)."""
    return _policy(ctx, "backup", {NAME_LABEL: backup.APP}, None, _object_store(ctx))


def objects(ctx: Context, *, seed: bool = False) -> list[Obj]:
    t = ctx.target
    settings = ctx.department.kubernetes
    dns = {
        **_ns(settings.dns_namespace),
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    out = [
        _policy(ctx, "default-deny", {}, [], []),
        _policy(
            ctx,
            "dns",
            {},
            None,
            [{"to": [dns], "ports": _ports(53, protocol="UDP") + _ports(53)}],
        ),
        _synapse(ctx),
        _policy(
            ctx,
            "element",
            {NAME_LABEL: element.APP},
            [{"from": [_ns(settings.ingress_namespace)], "ports": _ports(element.PORT)}],
            None,
        ),
    ]
    if ctx.sizing.uses_workers:
        out.append(
            _policy(
                ctx,
                "redis",
                {NAME_LABEL: "redis"},
                [{"from": [_pods({NAME_LABEL: synapse.APP})], "ports": _ports(t.redis_port)}],
                None,
            )
        )
    if ctx.department.archive.enabled:
        out.append(_archive(ctx))
    if ctx.runs_identity_provider:
        out.append(_portal(ctx))
    if runs_leaver_sync(ctx.department, t):
        out.append(_leaver_sync(ctx))
    if settings.database == "cnpg":
        out.append(_postgresql(ctx))
    if backup.enabled(ctx.department):
        out.append(_backup(ctx))
    if seed:
        out.append(
            _policy(
                ctx,
                "seed",
                {NAME_LABEL: SEED_APP},
                None,
                [
                    {
                        "to": [_pods(selector(synapse.APP, synapse.MAIN))],
                        "ports": _ports(t.internal_api_port),
                    }
                ],
            )
        )
    return out
