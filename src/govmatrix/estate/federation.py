"""The federation graph: who may talk to whom, and which CAs each department trusts.

Federation is mutual: an edge between two departments exists only when both allow each
other. Partners sit outside the estate, so a department's entry for a partner is enough on
our side (the partner's own allow-list is theirs to keep).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from govmatrix.estate.schema import Estate


@dataclass(frozen=True)
class DepartmentFederation:
    department: str
    peers: tuple[str, ...]  # mutual department peers, sorted by id
    partners: tuple[str, ...]  # partner ids this department allows
    refused: tuple[str, ...]  # departments with no mutual edge
    whitelist: tuple[str, ...]  # server names for federation_domain_whitelist (self first)
    partner_ca_bundles: tuple[str, ...] = field(default=())  # partner CA references (file:...)


@dataclass(frozen=True)
class FederationGraph:
    edges: tuple[tuple[str, str], ...]  # mutual department pairs, each sorted, list sorted
    partner_edges: tuple[tuple[str, str], ...]  # (department, partner)
    departments: dict[str, DepartmentFederation]

    def allows(self, a: str, b: str) -> bool:
        fed = self.departments[a]
        return b in fed.peers or b in fed.partners


def build(estate: Estate) -> FederationGraph:
    by_id = {d.id: d for d in estate.departments}
    partners = {p.id: p for p in estate.partners}
    allow = {d.id: set(d.federation.allow) for d in estate.departments}
    edges = sorted(
        {tuple(sorted((a, b))) for a in allow for b in allow[a] if b in by_id and a in allow[b]}
    )
    partner_edges = sorted((a, p) for a in allow for p in allow[a] if p in partners)
    per_dept: dict[str, DepartmentFederation] = {}
    for dept in estate.departments:
        peers = tuple(sorted(b for b in allow[dept.id] if b in by_id and dept.id in allow[b]))
        allowed_partners = tuple(sorted(p for p in allow[dept.id] if p in partners))
        refused = tuple(sorted(set(by_id) - set(peers) - {dept.id}))
        whitelist = (
            dept.server_name,
            *sorted(by_id[p].server_name for p in peers),
            *sorted(partners[p].server_name for p in allowed_partners),
        )
        bundles = tuple(
            bundle for p in allowed_partners if (bundle := partners[p].ca_bundle) is not None
        )
        per_dept[dept.id] = DepartmentFederation(
            dept.id, peers, allowed_partners, refused, whitelist, bundles
        )
    return FederationGraph(tuple((a, b) for a, b in edges), tuple(partner_edges), per_dept)
